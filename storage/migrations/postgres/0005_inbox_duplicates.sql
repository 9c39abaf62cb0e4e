-- 0005_inbox_duplicates (PostgreSQL): an instance that does not own the engine
-- answers a repeated trigger of an open incident with one read instead of an
-- inbox row (storage/store.hpp, InboxEntry::probe_*). This index makes that
-- read a lookup among the open incidents, however many there are.
CREATE INDEX incidents_open_dedup ON incidents (service_id, dedup_key) WHERE state <> 'resolved';
