-- Changes that make cached identities stale (a new key, a deactivation, a renamed email), in
-- order, so every instance can drop what it cached. Written in the same transaction as the
-- change (with a NOTIFY on latchkey_invalidate); pruned after an hour.
CREATE TABLE invalidations (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    target BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
