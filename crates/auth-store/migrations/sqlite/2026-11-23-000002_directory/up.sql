-- Directory (LDAP) support: accounts remember the directory's immutable id; realms choose
-- whether a first directory login creates an account.
ALTER TABLE realms ADD COLUMN ldap_auto_create BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_realm_external_id_idx ON users (realm_id, external_id);
