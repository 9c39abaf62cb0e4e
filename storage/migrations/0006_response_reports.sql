-- Response analytics (docs/reports.md): GET /api/v1/reports/response reads the
-- incidents created in a time range, their first acknowledgement and their
-- escalations from the timeline, and their pages from the outbox. These
-- indexes keep that to three range scans for a year of history:
--  * incidents by creation time (the service filter is checked in the index);
--  * a partial, covering index of the timeline's acknowledged and escalated
--    events (a few percent of the timeline) by incident;
--  * a partial, covering index of the outbox's pages by incident.
-- A partial index is used when the query repeats its WHERE term
-- (https://www.sqlite.org/partialindex.html); storage/reports_sql.hpp does.
CREATE INDEX incidents_created ON incidents (created_ms, service_id);
CREATE INDEX timeline_response ON timeline (incident, kind, at_ms, actor, channel)
  WHERE kind IN ('acknowledged', 'escalated');
CREATE INDEX outbox_page ON outbox (incident, person, method, created_ms, state, updated_ms, kind)
  WHERE kind = 'page';
