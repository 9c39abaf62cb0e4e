-- 0004_response_reports (PostgreSQL): the same indexes as the SQLite migration
-- 0006_response_reports (see there for why), with the columns SQLite keeps
-- implicitly (rowid) spelled out so that they cover the report's queries.
-- A partial index is used when the query's WHERE implies the index's predicate
-- (https://www.postgresql.org/docs/15/indexes-partial.html).
CREATE INDEX incidents_created ON incidents (created_ms, service_id, number);
CREATE INDEX timeline_response ON timeline (incident, kind, at_ms, id, actor, channel)
  WHERE kind IN ('acknowledged', 'escalated');
CREATE INDEX outbox_page ON outbox (incident, person, method, created_ms, state, updated_ms, kind)
  WHERE kind = 'page';
