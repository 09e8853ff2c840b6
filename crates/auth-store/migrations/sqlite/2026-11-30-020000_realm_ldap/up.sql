-- A realm's own LDAP directory (docs/ldap.md, "Per-organization directories"): the `[ldap]`
-- settings as JSON (no secret among them) and the service account's password sealed with the
-- server secret (XChaCha20-Poly1305, bound to the realm), NULL when there is none. A realm
-- without a row uses the server-wide `[ldap]`. `updated_at` is microseconds since the epoch.
CREATE TABLE realm_ldap (
    realm_id BIGINT PRIMARY KEY NOT NULL REFERENCES realms (id),
    settings TEXT NOT NULL,
    bind_password BLOB,
    updated_at BIGINT NOT NULL
);
