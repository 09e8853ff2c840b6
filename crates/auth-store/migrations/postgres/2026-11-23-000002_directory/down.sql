DROP INDEX users_realm_external_id_idx;
ALTER TABLE users DROP COLUMN external_id;
ALTER TABLE realms DROP COLUMN ldap_auto_create;
