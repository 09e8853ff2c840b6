//! The administrator's commands on SQLite and PostgreSQL: `migrate`, `init` (a 0600 secret),
//! realms, users and bots (creation, read-outs and JSON, passwords from a file or stdin,
//! deactivation, roles, keys), `audit` and `limits`; each change writes its audit row under the
//! CLI, and no password reaches the audit log.

use std::os::unix::fs::PermissionsExt;

use latchkey_tests::{DbKind, TestDb};

use super::{fails, latchkey, latchkey_with_stdin, ok};

#[test]
fn admin_commands_change_state_and_write_audit_rows() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(db) = TestDb::new(kind) else {
            continue;
        };
        let dir = db.dir();
        let text = ok(&latchkey(&dir, &db, &["migrate"]));
        assert!(text.contains("applied"), "{text}");
        let text = ok(&latchkey(&dir, &db, &["migrate"]));
        assert!(text.contains("up to date"), "{text}");
        let text = ok(&latchkey(&dir, &db, &["init"]));
        assert!(text.contains("root realm"), "{text}");
        let secret = dir.join("data/secret.key");
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // init is idempotent.
        ok(&latchkey(&dir, &db, &["init"]));

        ok(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "zulip", "--name", "Zulip"],
        ));
        let err = fails(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "zulip", "--name", "Again"],
        ));
        assert!(err.contains("already exists"), "{err}");
        let err = fails(&latchkey(
            &dir,
            &db,
            &["realm", "create", "--subdomain", "Bad_Name", "--name", "X"],
        ));
        assert!(err.contains("lower-case"), "{err}");
        let list = ok(&latchkey(&dir, &db, &["realm", "list"]));
        assert!(list.contains("zulip") && list.contains("(root)"), "{list}");
        // Development is off and LDAP not configured on this server: neither is listed as a
        // working method.
        let line = list.lines().find(|l| l.contains("zulip")).unwrap();
        assert!(
            line.contains(" email (switched on, unavailable here: ldap,dev)"),
            "{line}"
        );

        std::fs::write(dir.join("pw"), "f657gdGGk9\n").unwrap();
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "hamlet@zulip.com",
                "--full-name",
                "Hamlet",
                "--password-file",
                "pw",
            ],
        ));
        // Read-outs and JSON for administrators.
        let shown: serde_json::Value = serde_json::from_str(&ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "show",
                "hamlet@zulip.com",
                "--realm",
                "zulip",
                "--json",
            ],
        )))
        .unwrap();
        assert_eq!(shown["role"], "member");
        assert_eq!(shown["password_set"], true);
        assert_eq!(shown["bot"], false);
        let realm: serde_json::Value = serde_json::from_str(&ok(&latchkey(
            &dir,
            &db,
            &["realm", "show", "zulip", "--json"],
        )))
        .unwrap();
        assert_eq!(realm["methods"], serde_json::json!(["email"]));
        assert_eq!(realm["people_active"], 1);
        let realms = ok(&latchkey(&dir, &db, &["realm", "list", "--json"]));
        assert_eq!(realms.lines().count(), 2, "{realms}");
        for line in realms.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        // Bots, through the path the API uses.
        let made = ok(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "create",
                "--realm",
                "zulip",
                "--owner",
                "hamlet@zulip.com",
                "--full-name",
                "Helper Bot",
                "--short-name",
                "helper",
            ],
        ));
        assert!(made.contains("helper-bot@zulip.example.test"), "{made}");
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "create",
                "--realm",
                "zulip",
                "--owner",
                "hamlet@zulip.com",
                "--full-name",
                "Helper Bot",
                "--short-name",
                "helper",
            ],
        ));
        assert!(err.contains("Username already in use"), "{err}");
        let bots = |extra: &[&str]| {
            let mut args = vec!["bot", "list", "--realm", "zulip", "--json"];
            args.extend_from_slice(extra);
            ok(&latchkey(&dir, &db, &args)).lines().count()
        };
        assert_eq!(bots(&[]), 1);
        assert_eq!(bots(&["--owner", "hamlet@zulip.com"]), 1);
        ok(&latchkey(
            &dir,
            &db,
            &[
                "bot",
                "deactivate",
                "helper-bot@zulip.example.test",
                "--realm",
                "zulip",
            ],
        ));
        assert_eq!(bots(&[]), 0);
        assert_eq!(bots(&["--all"]), 1);
        let users = ok(&latchkey(
            &dir,
            &db,
            &["user", "list", "--realm", "zulip", "--json"],
        ));
        assert_eq!(users.lines().count(), 2, "{users}");

        // No password source and no terminal: a clear refusal, nothing created.
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
            ],
        ));
        assert!(err.contains("--password-file"), "{err}");
        // A weak password is refused.
        let err = fails(&latchkey_with_stdin(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
                "--password-stdin",
            ],
            Some("123\n"),
        ));
        assert!(err.contains("password refused"), "{err}");
        ok(&latchkey_with_stdin(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "iago@zulip.com",
                "--full-name",
                "Iago",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("Iago-Str0ng-pass\n"),
        ));
        let err = fails(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "create",
                "--realm",
                "zulip",
                "--email",
                "not-an-email",
                "--full-name",
                "X",
                "--no-password",
            ],
        ));
        assert!(err.contains("not a valid email"), "{err}");
        let users = ok(&latchkey(&dir, &db, &["user", "list", "--realm", "zulip"]));
        assert!(
            users.contains("hamlet@zulip.com") && users.contains("admin"),
            "{users}"
        );

        ok(&latchkey(
            &dir,
            &db,
            &["user", "deactivate", "--realm", "zulip", "hamlet@zulip.com"],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &["user", "reactivate", "--realm", "zulip", "hamlet@zulip.com"],
        ));
        std::fs::write(dir.join("pw2"), "An0ther-g00d-one\n").unwrap();
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "set-password",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
                "--password-file",
                "pw2",
            ],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "require-password-reset",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
            ],
        ));
        ok(&latchkey(&dir, &db, &["realm", "deactivate", "zulip"]));
        ok(&latchkey(&dir, &db, &["realm", "reactivate", "zulip"]));
        ok(&latchkey(
            &dir,
            &db,
            &["realm", "set-auth", "zulip", "--ldap", "false"],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "regenerate-key",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
            ],
        ));
        ok(&latchkey(
            &dir,
            &db,
            &[
                "user",
                "set-role",
                "--realm",
                "zulip",
                "hamlet@zulip.com",
                "admin",
            ],
        ));
        let users = ok(&latchkey(&dir, &db, &["user", "list", "--realm", "zulip"]));
        assert!(
            users
                .lines()
                .any(|l| l.contains("hamlet@zulip.com") && l.contains("admin")),
            "{users}"
        );
        let err = fails(&latchkey(
            &dir,
            &db,
            &["user", "deactivate", "--realm", "zulip", "ghost@zulip.com"],
        ));
        assert!(err.contains("no user"), "{err}");

        let pruned = ok(&latchkey(
            &dir,
            &db,
            &["audit", "prune", "--older-than", "30d"],
        ));
        assert!(pruned.contains("deleted 0 audit entries"), "{pruned}");
        let cleared = ok(&latchkey(
            &dir,
            &db,
            &["limits", "clear", "Hamlet@Zulip.com"],
        ));
        assert!(cleared.contains("cleared the failed logins"), "{cleared}");
        let audit = ok(&latchkey(
            &dir,
            &db,
            &["audit", "list", "--json", "--limit", "100"],
        ));
        let events: Vec<serde_json::Value> = audit
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        for expected in [
            "database_migrated",
            "realm_created",
            "user_created",
            "user_deactivated",
            "user_reactivated",
            "user_password_changed",
            "realm_deactivated",
            "realm_reactivated",
            "realm_authentication_methods_changed",
            "user_api_key_changed",
            "user_role_changed",
            "login_limit_cleared",
            "audit_pruned",
        ] {
            assert!(
                types.contains(&expected),
                "{expected} missing from {types:?}"
            );
        }
        // Two people and one bot.
        assert_eq!(types.iter().filter(|t| **t == "user_created").count(), 3);
        assert_eq!(types.iter().filter(|t| **t == "realm_created").count(), 2);
        assert!(events.iter().all(|e| e["source"] == "cli"));
        assert!(
            !audit.contains("f657gdGGk9") && !audit.contains("An0ther"),
            "{audit}"
        );
    }
}
