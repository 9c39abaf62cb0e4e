-- 0002_cluster (PostgreSQL only): what several baton instances sharing one
-- database need besides cluster_lease (docs/architecture.md, "High availability").
--  * instances: one row per running instance, its heartbeat (the lease keeper
--    writes last_seen_ms from the database server's clock every renewal), for
--    GET /api/v1/cluster.
--  * inbox: alerts and commands taken by an instance that does not own the
--    engine, committed before their sender hears 2xx; the owner applies each
--    row and deletes it in the same transaction as its effects (exactly once),
--    woken by NOTIFY baton_inbox
--    (https://www.postgresql.org/docs/15/sql-notify.html).
-- Timestamps here are the database server's clock (clock_timestamp()), so that
-- instances with skewed clocks agree.

CREATE TABLE instances (
  id           TEXT    PRIMARY KEY,
  address      TEXT    NOT NULL,
  started_ms   BIGINT  NOT NULL,
  last_seen_ms BIGINT  NOT NULL
);

CREATE TABLE inbox (
  id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- consumption order
  kind       TEXT    NOT NULL CHECK (kind IN ('alert', 'command')),
  payload    TEXT    NOT NULL,  -- JSON, see storage/inbox.hpp
  origin     TEXT    NOT NULL,  -- instance id that took it
  created_ms BIGINT  NOT NULL
);
