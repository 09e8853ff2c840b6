//! `POST /api/v1/fetch_api_key` with the Email backend: the spec's §12.1 cases and Latchkey's
//! decisions (account state only after the password), on SQLite and PostgreSQL.

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

both_dbs!(
    success_returns_key_email_and_user_id,
    extra_parameters_are_reported,
    non_email_username_is_refused,
    wrong_password_and_unknown_user,
    unknown_subdomain_precedes_email_check,
    password_auth_disabled,
    deactivated_user_only_after_password,
    deactivated_realm_only_after_password,
    other_organization_only_after_password,
    empty_password_never_authenticates,
    missing_parameters,
    get_is_method_not_allowed,
    query_string_and_multipart_are_accepted,
    password_reset_required,
    login_is_audited,
);

async fn success_returns_key_email_and_user_id(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_success();
    let key = f.server.key_of(&f.hamlet).await;
    assert_eq!(r.body["api_key"], key.as_str());
    assert_eq!(r.body["email"], "hamlet@zulip.com");
    assert_eq!(r.body["user_id"], f.hamlet.id.0);
    assert!(r.body.get("ignored_parameters_unsupported").is_none());
    assert_eq!(key.len(), 32);
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(r.headers.get("www-authenticate").is_none());
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["cache-control"], "no-store");
    // The key is not rotated by logging in again; the email is matched case-insensitively and
    // the delivery email comes back as stored.
    let again = f
        .client()
        .fetch_api_key("zulip", "HAMLET@Zulip.com", PW)
        .await;
    again.assert_success();
    assert_eq!(again.body["api_key"], key.as_str());
    assert_eq!(again.body["email"], "hamlet@zulip.com");
    // Different users have different keys.
    let c = f
        .client()
        .fetch_api_key("zulip", "cordelia@zulip.com", PW)
        .await;
    assert_ne!(c.body["api_key"], r.body["api_key"]);
}

async fn extra_parameters_are_reported(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .post_form(
            "zulip",
            "/api/v1/fetch_api_key",
            &[
                ("username", "hamlet@zulip.com"),
                ("password", PW),
                ("foo", "1"),
                ("client", "test suite"),
                ("bar", "2"),
            ],
        )
        .await;
    r.assert_success();
    assert_eq!(
        r.body["ignored_parameters_unsupported"],
        serde_json::json!(["bar", "foo"])
    );
}

async fn non_email_username_is_refused(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f.client().fetch_api_key("zulip", "hamlet", PW).await;
    r.assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
    let r = f.client().fetch_api_key("zulip", "", PW).await;
    r.assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
}

async fn wrong_password_and_unknown_user(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let wrong = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "not-it")
        .await;
    wrong.assert_bad_credentials();
    assert!(wrong.headers.get("www-authenticate").is_none());
    let unknown = f
        .client()
        .fetch_api_key("zulip", "nobody@zulip.com", PW)
        .await;
    unknown.assert_bad_credentials();
    // Identical bodies: nothing tells the two apart.
    assert_eq!(wrong.raw, unknown.raw);
}

async fn unknown_subdomain_precedes_email_check(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f.client().fetch_api_key("nope", "hamlet", PW).await;
    r.assert_error(404, "NONEXISTENT_SUBDOMAIN", "Invalid subdomain");
    // No realm at the root domain in this fixture.
    let r = f.client().fetch_api_key("", "hamlet@zulip.com", PW).await;
    r.assert_error(404, "NONEXISTENT_SUBDOMAIN", "Invalid subdomain");
}

async fn password_auth_disabled(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.set_methods(&f.zulip, false, false).await;
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_error(
        401,
        "PASSWORD_AUTH_DISABLED",
        "Password authentication is disabled in this organization",
    );
    // LDAP switched on in the realm does not help when the server has no LDAP backend.
    f.set_methods(&f.zulip, false, true).await;
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_error(
        401,
        "PASSWORD_AUTH_DISABLED",
        "Password authentication is disabled in this organization",
    );
}

async fn deactivated_user_only_after_password(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "wrong")
        .await;
    r.assert_bad_credentials();
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, true, Actor::cli())
        .await
        .unwrap();
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
}

async fn deactivated_realm_only_after_password(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.server
        .admin
        .store
        .set_realm_deactivated(f.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_error(
        401,
        "REALM_DEACTIVATED",
        "This organization has been deactivated",
    );
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "wrong")
        .await;
    r.assert_bad_credentials();
    let r = f
        .client()
        .fetch_api_key("zulip", "nobody@zulip.com", PW)
        .await;
    r.assert_bad_credentials();
    // Other realms are unaffected.
    f.client()
        .fetch_api_key("lear", "othello@lear.com", PW)
        .await
        .assert_success();
}

async fn other_organization_only_after_password(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .fetch_api_key("zulip", "othello@lear.com", PW)
        .await;
    r.assert_error(404, "NONEXISTENT_SUBDOMAIN", "Invalid subdomain");
    let r = f
        .client()
        .fetch_api_key("zulip", "othello@lear.com", "wrong")
        .await;
    r.assert_bad_credentials();
    // The same address may exist in several realms, each with its own password and key.
    let o2 = f
        .server
        .create_user(
            &f.zulip,
            "othello@lear.com",
            Some("zulip-side-Pw9x"),
            Role::Member,
        )
        .await;
    let r = f
        .client()
        .fetch_api_key("zulip", "othello@lear.com", "zulip-side-Pw9x")
        .await;
    r.assert_success();
    assert_eq!(r.body["user_id"], o2.id.0);
    let r2 = f
        .client()
        .fetch_api_key("lear", "othello@lear.com", PW)
        .await;
    r2.assert_success();
    assert_eq!(r2.body["user_id"], f.othello.id.0);
    assert_ne!(r.body["api_key"], r2.body["api_key"]);
}

async fn empty_password_never_authenticates(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "")
        .await;
    r.assert_bad_credentials();
    // An account with no usable password cannot be entered with an empty one either.
    f.server
        .create_user(&f.zulip, "nopw@zulip.com", None, Role::Member)
        .await;
    let r = f
        .client()
        .fetch_api_key("zulip", "nopw@zulip.com", "")
        .await;
    r.assert_bad_credentials();
    let r = f
        .client()
        .fetch_api_key("zulip", "nopw@zulip.com", "anything")
        .await;
    r.assert_bad_credentials();
}

async fn missing_parameters(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let r = c
        .post_form("zulip", "/api/v1/fetch_api_key", &[("password", PW)])
        .await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
    assert_eq!(r.body["var_name"], "username");
    let r = c
        .post_form(
            "zulip",
            "/api/v1/fetch_api_key",
            &[("username", "hamlet@zulip.com")],
        )
        .await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'password' argument",
    );
    assert_eq!(r.body["var_name"], "password");
    let r = c.post_form("zulip", "/api/v1/fetch_api_key", &[]).await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
    // Parameters are checked before the realm.
    let r = c.post_form("nope", "/api/v1/fetch_api_key", &[]).await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
}

async fn get_is_method_not_allowed(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let r =
            latchkey_tests::Client::send(c.request(method, "zulip", "/api/v1/fetch_api_key")).await;
        assert_eq!(r.status, 405, "{}", r.raw);
        assert_eq!(
            r.body,
            serde_json::json!({"result":"error","msg":"Method Not Allowed","allowed_methods":["POST"]})
        );
    }
}

async fn query_string_and_multipart_are_accepted(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let r = latchkey_tests::Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .query(&[("username", "hamlet@zulip.com"), ("password", PW)]),
    )
    .await;
    r.assert_success();
    // Body wins over the query string.
    let r = latchkey_tests::Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .query(&[("password", "wrong")])
            .form(&[("username", "hamlet@zulip.com"), ("password", PW)]),
    )
    .await;
    r.assert_success();
    let boundary = "XyZlatchkeyBoundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nhamlet@zulip.com\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{PW}\r\n--{boundary}--\r\n"
    );
    let r = latchkey_tests::Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body),
    )
    .await;
    r.assert_success();
    assert_eq!(r.body["user_id"], f.hamlet.id.0);
}

async fn password_reset_required(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.server
        .admin
        .store
        .set_password_reset_needed(f.hamlet.id, true, Actor::cli())
        .await
        .unwrap();
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await;
    r.assert_error(
        401,
        "PASSWORD_RESET_REQUIRED",
        "Your password has been disabled and needs to be reset",
    );
    let r = f
        .client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "wrong")
        .await;
    r.assert_bad_credentials();
    // Setting a new password lifts it.
    let hash = f
        .server
        .admin
        .hasher
        .hash(&auth_core::Password::new("n3w-Secret-pw"))
        .await
        .unwrap();
    f.server
        .admin
        .store
        .set_password(f.hamlet.id, Some(hash), Actor::cli())
        .await
        .unwrap();
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "n3w-Secret-pw")
        .await
        .assert_success();
}

async fn login_is_audited(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", "wrong-pw")
        .await;
    let entries = f
        .server
        .admin
        .store
        .audit_entries(Some(f.zulip.id), 10)
        .await
        .unwrap();
    let failed = &entries[0];
    assert_eq!(failed.event_type, "user_login_failed");
    assert_eq!(failed.modified_user_id, Some(f.hamlet.id));
    assert_eq!(failed.detail["reason"], "bad_credentials");
    let ok = &entries[1];
    assert_eq!(ok.event_type, "user_logged_in");
    assert_eq!(ok.acting_user_id, Some(f.hamlet.id));
    assert_eq!(ok.detail["backend"], "email");
    // Never the password or the key.
    let key = f.server.key_of(&f.hamlet).await;
    for e in &entries {
        let text = e.detail.to_string();
        assert!(
            !text.contains(PW) && !text.contains("wrong-pw") && !text.contains(&key),
            "{text}"
        );
    }
}
