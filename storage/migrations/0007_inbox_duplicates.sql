-- 0007_inbox_duplicates: the open incidents' (service, dedup key), as in
-- PostgreSQL migration 0005. There an instance that does not own the engine
-- checks a repeated trigger against it (docs/architecture.md, "Duplicates on
-- an instance that does not own the engine"); SQLite runs one instance, and the
-- index keeps the two schemas the same (tests/storage/pg_store_test.cpp).
CREATE INDEX incidents_open_dedup ON incidents (service_id, dedup_key) WHERE state <> 'resolved';
