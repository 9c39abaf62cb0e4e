-- After a failed commit (disk full, I/O error, a file-size limit), baton stops
-- taking changes and probes the disk with one small write transaction until it
-- succeeds; only then does it rebuild its state from what is committed and
-- answer /readyz with 200 again. One row, rewritten by each probe.
CREATE TABLE write_probe (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  at_ms INTEGER NOT NULL
);
