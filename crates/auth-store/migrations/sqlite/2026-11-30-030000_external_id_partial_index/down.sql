DROP INDEX users_realm_external_id_idx;
CREATE UNIQUE INDEX users_realm_external_id_idx ON users (realm_id, external_id);
