//! Diesel table definitions, shared by both backends. The migrations under `migrations/sqlite`
//! and `migrations/postgres` create exactly these columns with each database's own DDL.

diesel::table! {
    realms (id) {
        id -> BigInt,
        subdomain -> Text,
        name -> Text,
        description -> Text,
        deactivated -> Bool,
        email_auth_enabled -> Bool,
        ldap_auth_enabled -> Bool,
        dev_auth_enabled -> Bool,
        created_at -> BigInt,
        ldap_auto_create -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        realm_id -> BigInt,
        delivery_email -> Text,
        email_key -> Text,
        full_name -> Text,
        password_hash -> Nullable<Text>,
        role -> Integer,
        is_active -> Bool,
        bot_type -> Nullable<Integer>,
        bot_owner_id -> Nullable<BigInt>,
        password_reset_needed -> Bool,
        created_at -> BigInt,
        external_id -> Nullable<Text>,
        deactivated_by -> Nullable<Text>,
        deactivation_reason -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (user_id) {
        user_id -> BigInt,
        digest -> Text,
        sealed -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        realm_id -> Nullable<BigInt>,
        event_type -> Text,
        acting_user_id -> Nullable<BigInt>,
        modified_user_id -> Nullable<BigInt>,
        source -> Text,
        detail -> Text,
        event_time -> BigInt,
    }
}

diesel::joinable!(users -> realms (realm_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    realms,
    users,
    api_keys,
    audit_log,
    server_meta,
    invalidations,
    sessions
);

diesel::table! {
    server_meta (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    invalidations (seq) {
        seq -> BigInt,
        kind -> Text,
        target -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    password_reset_tokens (digest) {
        digest -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(password_reset_tokens, users);

diesel::table! {
    sessions (id_digest) {
        id_digest -> Text,
        user_id -> BigInt,
        csrf_secret -> Text,
        method -> Text,
        persistent -> Bool,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        elevated_until -> Nullable<BigInt>,
        portal_domain -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));

diesel::table! {
    realm_ldap (realm_id) {
        realm_id -> BigInt,
        settings -> Text,
        bind_password -> Nullable<Binary>,
        updated_at -> BigInt,
    }
}

diesel::joinable!(realm_ldap -> realms (realm_id));
diesel::allow_tables_to_appear_in_same_query!(realm_ldap, realms);
