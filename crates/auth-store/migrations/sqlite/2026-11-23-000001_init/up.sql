-- Latchkey schema, SQLite flavour. Keep in step with ../../postgres and src/schema.rs.
CREATE TABLE realms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subdomain TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    deactivated BOOLEAN NOT NULL DEFAULT 0,
    email_auth_enabled BOOLEAN NOT NULL DEFAULT 1,
    ldap_auth_enabled BOOLEAN NOT NULL DEFAULT 1,
    dev_auth_enabled BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    realm_id BIGINT NOT NULL REFERENCES realms (id),
    delivery_email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    full_name TEXT NOT NULL,
    password_hash TEXT,
    role INTEGER NOT NULL DEFAULT 400,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    bot_type INTEGER,
    bot_owner_id BIGINT REFERENCES users (id),
    password_reset_needed BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (realm_id, email_key)
);
CREATE INDEX users_email_key_idx ON users (email_key);
CREATE INDEX users_bot_owner_idx ON users (bot_owner_id);

CREATE TABLE api_keys (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    digest TEXT NOT NULL UNIQUE,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    realm_id BIGINT REFERENCES realms (id),
    event_type TEXT NOT NULL,
    acting_user_id BIGINT,
    modified_user_id BIGINT,
    source TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    event_time BIGINT NOT NULL
);
CREATE INDEX audit_log_realm_time_idx ON audit_log (realm_id, event_time);
CREATE INDEX audit_log_modified_user_idx ON audit_log (modified_user_id);

-- Server-wide facts, such as the fingerprint of the server secret the keys were sealed with.
CREATE TABLE server_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
