-- Web sessions (docs/web.md). The row is keyed by the SHA-256 of the cookie value (hex), so the
-- database never holds a usable cookie. Times are microseconds since the epoch.
CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_secret TEXT NOT NULL,
    method TEXT NOT NULL,
    persistent BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    elevated_until BIGINT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
