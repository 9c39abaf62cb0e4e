-- 0001_init: the first schema.
-- Why: baton must survive a restart in the middle of an escalation. Everything
-- the engine needs to resume (open incidents with their escalation and contact
-- state and the policy snapshot, the pending outbox, runtime overrides) is
-- stored here; the rest (timeline, alerts, chat messages) is history for `show`.
-- Timestamps are integer epoch milliseconds bound by the caller from its clock;
-- SQL never reads the clock. Lists and the policy snapshot are JSON text.
-- Foreign keys are DEFERRABLE so one group commit may insert rows in any order.

CREATE TABLE incidents (
  number                  INTEGER PRIMARY KEY,
  service_id              TEXT    NOT NULL,
  dedup_key               TEXT    NOT NULL,
  state                   TEXT    NOT NULL CHECK (state IN ('triggered', 'acknowledged', 'resolved')),
  summary                 TEXT    NOT NULL,
  source_name             TEXT    NOT NULL,
  severity                TEXT    NOT NULL,
  created_by              TEXT    NOT NULL,
  created_ms              INTEGER NOT NULL,
  updated_ms              INTEGER NOT NULL,
  acked_ms                INTEGER,
  resolved_ms             INTEGER,
  owner                   TEXT    NOT NULL,
  details_json            TEXT    NOT NULL,
  alert_count             INTEGER NOT NULL,
  group_alert_keys        TEXT    NOT NULL,  -- JSON array of strings
  policy_json             TEXT,              -- JSON PolicySnapshot; NULL when none
  esc_step                INTEGER NOT NULL,
  esc_round               INTEGER NOT NULL,
  esc_active              INTEGER NOT NULL,
  esc_deadline_ms         INTEGER NOT NULL,
  contact_person          TEXT    NOT NULL,
  contact_page_started_ms INTEGER NOT NULL,
  contact_next_rule       INTEGER NOT NULL,
  contact_chain           TEXT    NOT NULL,  -- JSON [{"method","delay"}]
  contact_next_at_ms      INTEGER NOT NULL,
  notified                TEXT    NOT NULL   -- JSON [[person, method]]
);
-- Listing by state, newest first, with a number cursor.
CREATE INDEX incidents_state_number ON incidents (state, number);
-- Start-up loads only open incidents; they are few among many resolved ones.
CREATE INDEX incidents_open ON incidents (number) WHERE state <> 'resolved';

-- Alerts that changed something. `incident` is the first number the engine call
-- touched (Effects carry no per-alert number), NULL when it touched none.
CREATE TABLE alerts (
  id          INTEGER PRIMARY KEY,
  incident    INTEGER REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  received_ms INTEGER,
  source      TEXT    NOT NULL,
  action      TEXT    NOT NULL,
  dedup_key   TEXT    NOT NULL,
  summary     TEXT    NOT NULL,
  payload     TEXT    NOT NULL  -- JSON: the rest of the normalized alert
);
CREATE INDEX alerts_incident ON alerts (incident);

-- Append-only history; id gives the insertion order among equal times.
CREATE TABLE timeline (
  id       INTEGER PRIMARY KEY,
  incident INTEGER REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  at_ms    INTEGER NOT NULL,
  kind     TEXT    NOT NULL,
  actor    TEXT    NOT NULL,
  channel  TEXT    NOT NULL,
  message  TEXT    NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident, at_ms, id);

-- Notification intents until delivered; id is the engine's notification id.
-- idempotency_key is UNIQUE: a second intent with the same key is a bug.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  incident        INTEGER REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  person          TEXT    NOT NULL,
  method          TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  step            INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL,
  idempotency_key TEXT    NOT NULL UNIQUE,
  state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  last_error      TEXT    NOT NULL,
  updated_ms      INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';
CREATE INDEX outbox_incident ON outbox (incident, id);

-- Pending timers, derived from each incident snapshot (kind: 'escalation' or
-- 'contact'), so tools can see the next wake-up without decoding incidents.
CREATE TABLE timers (
  incident INTEGER NOT NULL REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  kind     TEXT    NOT NULL,
  due_ms   INTEGER NOT NULL,
  PRIMARY KEY (incident, kind)
) WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_ms);

-- Overrides added at run time (the config file has its own).
CREATE TABLE overrides (
  id          INTEGER PRIMARY KEY,
  schedule_id TEXT    NOT NULL,
  person      TEXT    NOT NULL,
  start_ms    INTEGER NOT NULL,
  end_ms      INTEGER NOT NULL CHECK (end_ms > start_ms),
  created_ms  INTEGER
);

-- Chat messages that represent an incident, so later updates edit them in place.
CREATE TABLE chat_messages (
  incident        INTEGER NOT NULL REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
  channel_kind    TEXT    NOT NULL,
  conversation_id TEXT    NOT NULL,
  message_id      TEXT    NOT NULL,
  person          TEXT    NOT NULL,
  created_ms      INTEGER NOT NULL,
  PRIMARY KEY (incident, channel_kind, conversation_id, message_id)
);

-- Single-use tokens (signed action links): a second use is refused.
CREATE TABLE used_tokens (
  token_id TEXT    PRIMARY KEY,
  used_ms  INTEGER NOT NULL
) WITHOUT ROWID;
