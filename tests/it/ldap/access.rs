//! Who may log in: provisioning switched off per realm, deactivated accounts and disabled
//! directory entries, required and denied groups of every kind (member, memberUid, uniqueMember,
//! memberOf), organization membership and per-realm access rules; every refusal after the
//! password only.

use std::time::Duration;

use auth_core::Role;
use auth_store::Actor;
use latchkey::Settings;
use latchkey_tests::ldap_world::{LdapWorld, sqlite_world};
use latchkey_tests::slapd;

use super::Outcome::{NotAllowed, Success};
use super::{Login, check_logins};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_can_be_switched_off_per_realm() {
    let w = sqlite_world(|_, _| {}).await;
    let c = w.client();
    w.server
        .admin
        .store
        .set_realm_ldap_auto_create(w.zulip.id, false, Actor::cli())
        .await
        .unwrap();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    r.assert_error(
        401,
        "AUTHENTICATION_FAILED",
        "You have no account in this organization; ask an administrator to create one",
    );
    // An administrator creates the account; the directory password then works.
    w.server
        .create_user(&w.zulip, "hamlet@zulip.com", None, Role::Member)
        .await;
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_account_and_disabled_directory_entry() {
    let w = sqlite_world(|s, _| {
        s.ldap.attributes.deactivated = Some(slapd::DISABLED_ATTR.0.into());
        s.ldap.attributes.deactivated_values = vec![slapd::DISABLED_ATTR.1.into()];
    })
    .await;
    let c = w.client();
    c.fetch_api_key("zulip", "disabled", slapd::DISABLED.password)
        .await
        .assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    // Never before the password is proven.
    c.fetch_api_key("zulip", "disabled", "wrong")
        .await
        .assert_bad_credentials();
    let r = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    r.assert_success();
    let id = auth_core::UserId(r.body["user_id"].as_i64().unwrap());
    w.server
        .admin
        .store
        .set_user_active(id, false, Actor::cli())
        .await
        .unwrap();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_error(401, "USER_DEACTIVATED", "Account is deactivated");
    c.fetch_api_key("zulip", "hamlet", "wrong")
        .await
        .assert_bad_credentials();
    w.server
        .admin
        .store
        .set_realm_deactivated(w.zulip.id, true, Actor::cli())
        .await
        .unwrap();
    latchkey_tests::eventually(
        Duration::from_secs(3),
        || c.fetch_api_key("zulip", "aaron", slapd::AARON.password),
        |r: &latchkey_tests::Reply| r.body["code"] == "REALM_DEACTIVATED",
    )
    .await
    .assert_error(
        401,
        "REALM_DEACTIVATED",
        "This organization has been deactivated",
    );
}

/// A world with access rules, and the logins (each with the right password) it must answer so.
struct Rules {
    name: &'static str,
    rules: fn(&mut Settings),
    /// The rule reads `memberOf`, which only slapd's memberof overlay maintains.
    needs_memberof: bool,
    logins: &'static [Login],
}

/// `require_group` staff and `deny_group` banned, by `member`.
const STAFF_NOT_BANNED: Rules = Rules {
    name: "require staff, deny banned (member)",
    rules: |s| {
        s.ldap.require_group = Some(slapd::STAFF_GROUP_DN.into());
        s.ldap.deny_group = Some(slapd::BANNED_GROUP_DN.into());
    },
    needs_memberof: false,
    logins: &[
        ("zulip", &slapd::HAMLET, Success),
        ("zulip", &slapd::CORDELIA, NotAllowed),
        ("zulip", &slapd::NOMAIL, NotAllowed),
    ],
};

/// The other ways a group lists its members.
const OTHER_GROUP_KINDS: [Rules; 3] = [
    Rules {
        name: "require posix (posixGroup memberUid)",
        rules: |s| {
            s.ldap.require_group = Some(slapd::POSIX_GROUP_DN.into());
            s.ldap.group_membership = auth_ldap::GroupMembership::MemberUid;
        },
        needs_memberof: false,
        logins: &[
            ("zulip", &slapd::AARON, Success),
            ("zulip", &slapd::HAMLET, NotAllowed),
        ],
    },
    Rules {
        name: "require uniq (groupOfUniqueNames uniqueMember)",
        rules: |s| {
            s.ldap.require_group = Some(slapd::UNIQ_GROUP_DN.into());
            s.ldap.group_membership = auth_ldap::GroupMembership::UniqueMember;
        },
        needs_memberof: false,
        logins: &[
            ("zulip", &slapd::HAMLET, Success),
            ("zulip", &slapd::AARON, NotAllowed),
        ],
    },
    Rules {
        // memberOf on the person (OpenLDAP's memberof overlay, as Active Directory has it).
        name: "deny banned (memberOf on the person)",
        rules: |s| {
            s.ldap.deny_group = Some(slapd::BANNED_GROUP_DN.into());
            s.ldap.group_membership = auth_ldap::GroupMembership::MemberOf;
        },
        needs_memberof: true,
        logins: &[
            ("zulip", &slapd::HAMLET, Success),
            ("zulip", &slapd::CORDELIA, NotAllowed),
        ],
    },
];

/// Starts the world of `case` and checks its logins (skipped, and said so, when the case needs
/// the memberof overlay and this slapd has none); the world stays up for more checks.
async fn admits_and_refuses(case: &Rules) -> LdapWorld {
    let w = sqlite_world(|s, _| (case.rules)(s)).await;
    if case.needs_memberof && !w.slapd.has_memberof() {
        eprintln!("{}: skipped, this slapd has no memberof overlay", case.name);
        return w;
    }
    check_logins(&w.client(), case.name, case.logins).await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_deny_groups() {
    let w = admits_and_refuses(&STAFF_NOT_BANNED).await;
    let c = w.client();
    // Group refusals come only after the password.
    c.fetch_api_key("zulip", "cordelia", "wrong")
        .await
        .assert_bad_credentials();
    c.fetch_api_key("zulip", "nobody-here", "wrong")
        .await
        .assert_bad_credentials();
    // The audit log (only an administrator reads it) says which rule refused, and tells an
    // unknown name from a wrong password; answers never do.
    let audit = w.server.admin.store.audit_entries(None, 20).await.unwrap();
    let failed: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e.event_type == "user_login_failed")
        .map(|e| &e.detail)
        .collect();
    let of = |name: &str, reason: &str| {
        failed
            .iter()
            .find(|d| d["username"] == name && d["reason"] == reason)
            .copied()
            .unwrap_or_else(|| panic!("no {reason} row for {name}: {failed:?}"))
    };
    let why = of("cordelia", "not_allowed_in_realm")["why"]
        .as_str()
        .unwrap_or("");
    assert!(why.contains("required group"), "{why}");
    assert_eq!(of("cordelia", "bad_credentials")["realm"], "zulip");
    of("nobody-here", "no_such_person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_group_kinds() {
    for case in &OTHER_GROUP_KINDS {
        admits_and_refuses(case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_membership_and_realm_access_rules() {
    admits_and_refuses(&Rules {
        name: "departmentNumber zulip; lear: sn = Lear",
        rules: |s| {
            s.ldap.attributes.org_membership = Some(slapd::DEPARTMENT_ATTR.into());
            let mut rule = std::collections::BTreeMap::new();
            rule.insert("sn".to_string(), "Lear".to_string());
            s.ldap.realm_access.insert("lear".into(), vec![rule]);
        },
        needs_memberof: false,
        logins: &[
            // departmentNumber: zulip.
            ("zulip", &slapd::HAMLET, Success),
            ("zulip", &slapd::CORDELIA, NotAllowed),
            ("zulip", &slapd::NOMAIL, NotAllowed),
            // lear's rule: sn = Lear admits Cordelia, not Hamlet.
            ("lear", &slapd::CORDELIA, Success),
            ("lear", &slapd::HAMLET, NotAllowed),
        ],
    })
    .await;
}
