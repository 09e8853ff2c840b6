-- Password-reset tokens (docs/reset.md). Only the SHA-256 of the 256-bit token (hex) is kept, so
-- the database never holds a usable link. At most one per user: issuing one deletes the older;
-- a password change by any path deletes them all. Times are microseconds since the epoch;
-- `used_at` is set by the one request that consumes the token.
CREATE TABLE password_reset_tokens (
    digest TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);
