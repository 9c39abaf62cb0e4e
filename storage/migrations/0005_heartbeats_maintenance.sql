-- Heartbeats and maintenance windows (README, "Heartbeats" and "Maintenance
-- windows"; engine/heartbeats.hpp, engine/maintenance.hpp).
--
-- An incident opened while its service is in maintenance is held: recorded,
-- nobody paged, until `suppressed_until`, when its escalation starts. The hold
-- is stored with the incident so that it survives a restart and a cluster
-- takeover; a held incident has a 'maintenance' row in timers.
ALTER TABLE incidents ADD COLUMN suppressed_until_ms INTEGER;
ALTER TABLE incidents ADD COLUMN suppressed_reason TEXT NOT NULL DEFAULT '';

-- One row per heartbeat baton has seen configured, so that its deadline
-- survives a restart: it counts from `since_ms` (the last beat, when it was
-- first seen, or a manual resolve of its incident). `incident` is its open
-- "no heartbeat" incident, if any.
CREATE TABLE heartbeats (
  service_id    TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  first_seen_ms INTEGER NOT NULL,
  last_beat_ms  INTEGER,
  since_ms      INTEGER NOT NULL,
  incident      INTEGER REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  PRIMARY KEY (service_id, name)
) WITHOUT ROWID;

-- One-off maintenance windows set through the API or chat (the weekly ones are
-- in the configuration). Kept after they end, as a record; `ended_ms` is set
-- when one is ended early.
CREATE TABLE maintenance_windows (
  id         INTEGER PRIMARY KEY,
  service_id TEXT    NOT NULL,
  start_ms   INTEGER NOT NULL,
  end_ms     INTEGER NOT NULL CHECK (end_ms > start_ms),
  reason     TEXT    NOT NULL,
  created_by TEXT    NOT NULL,
  ended_ms   INTEGER,
  ended_by   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX maintenance_windows_service ON maintenance_windows (service_id, end_ms);
