-- The unique index on (realm_id, external_id) becomes partial: only directory accounts have an
-- external id. As a full index its leading column matched every lookup by realm, and a plan
-- made while the table was small (PostgreSQL's cached generic plan for a prepared statement)
-- could read a login by email through it, visiting every account of the realm each time.
DROP INDEX users_realm_external_id_idx;
CREATE UNIQUE INDEX users_realm_external_id_idx ON users (realm_id, external_id)
    WHERE external_id IS NOT NULL;
