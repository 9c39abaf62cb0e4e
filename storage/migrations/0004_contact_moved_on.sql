-- Fallback at the first failure: the first failed attempt of a page moves the
-- person's contact chain to the next method at once while the failed method
-- retries. The pages whose failure already moved the chain are kept, so that a
-- retry's failure (or the final one, even after a restart) does not move it again.
-- Comma-separated notification ids.
ALTER TABLE incidents ADD COLUMN contact_moved_on TEXT NOT NULL DEFAULT '';
