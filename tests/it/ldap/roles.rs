//! Roles from directory groups (`[ldap.role_by_group]`, Zulip's `AUTH_LDAP_USER_FLAGS_BY_GROUP`):
//! set at login and by `latchkey ldap sync`, audited with the group as the reason, never taking
//! the owner role from a realm's last owner; the group DNs checked by `config check --connect`.

use auth_core::Role;
use auth_store::Actor;
use latchkey_tests::Client;
use latchkey_tests::ldap_world::{CliConfig, CliWorld, get_with_key, latchkey, text};
use latchkey_tests::slapd::{self, SeedUser};

const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=org";
const OWNERS: &str = "cn=owners,ou=groups,dc=example,dc=org";

/// `GET /api/v1/users/me` after a directory login: the role Zulip's API reports (the login's
/// directory update drops this instance's cached copy, so a changed role shows at once).
async fn api_role_after_login(c: &Client, who: &SeedUser) -> i64 {
    let r = c.fetch_api_key("zulip", who.uid, who.password).await;
    r.assert_success();
    let email = r.body["email"].as_str().expect("email").to_owned();
    let key = r.body["api_key"].as_str().expect("api_key").to_owned();
    let me = get_with_key(c, "zulip", "/api/v1/users/me", &email, &key).await;
    assert_eq!(me.status, 200, "{}", me.raw);
    me.body["role"].as_i64().expect("role")
}

/// The account's role (Zulip's number) in the database after a directory login.
async fn login_role(w: &CliWorld, who: &SeedUser) -> i64 {
    w.client()
        .fetch_api_key("zulip", who.uid, who.password)
        .await
        .assert_success();
    let email = format!("{}@zulip.com", who.uid);
    i64::from(w.user(&email).await.role.as_i32())
}

/// A group of names with these members (a groupOfNames needs one).
fn group(dn: &str, members: &[&str]) -> String {
    let cn = dn
        .split(',')
        .next()
        .and_then(|rdn| rdn.strip_prefix("cn="))
        .expect("a cn= group DN");
    let mut ldif = format!("dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        ldif.push_str(&format!("member: {m}\n"));
    }
    ldif
}

fn change_member(w: &CliWorld, group: &str, op: &str, member: &str) {
    w.slapd
        .modify(&format!(
            "dn: {group}\nchangetype: modify\n{op}: member\nmember: {member}\n"
        ))
        .expect("ldapmodify");
}

/// `user_role_changed` rows for `email`'s account from `source`, newest first, as
/// `(new role, reason)`.
async fn role_changes(w: &CliWorld, email: &str, source: &str) -> Vec<(String, String)> {
    let id = w.user(email).await.id;
    w.audit()
        .await
        .into_iter()
        .filter(|e| {
            e.event_type == "user_role_changed"
                && e.source == source
                && e.modified_user_id == Some(id)
        })
        .map(|e| {
            (
                e.detail["role"].as_str().unwrap_or_default().to_owned(),
                e.detail["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_follow_groups_at_login_and_sync_and_keep_the_last_owner() {
    let roles =
        format!("role_by_group.owner = \"{OWNERS}\"\nrole_by_group.administrator = \"{ADMINS}\"\n");
    let w = CliWorld::start(
        CliConfig {
            ldap: &roles,
            ..CliConfig::default()
        },
        &[],
    )
    .await;
    w.slapd
        .add_ldif(&group(ADMINS, &[slapd::HAMLET.dn, slapd::JOSE.dn]))
        .unwrap();
    w.slapd
        .add_ldif(&group(OWNERS, &[slapd::AARON.dn, slapd::NOMAIL.dn]))
        .unwrap();
    let c = w.client();
    let hamlet = "hamlet@zulip.com";

    // A first login creates the account with the group's role; a person in no group is a member.
    assert_eq!(api_role_after_login(&c, &slapd::HAMLET).await, 200);
    assert_eq!(api_role_after_login(&c, &slapd::AARON).await, 100);
    assert_eq!(api_role_after_login(&c, &slapd::CORDELIA).await, 400);
    let changes = role_changes(&w, hamlet, "ldap").await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "admin");
    assert!(
        changes[0].1.contains(ADMINS),
        "the group is the reason: {changes:?}"
    );

    // Out of the group: the next login makes him a member, audited.
    change_member(&w, ADMINS, "delete", slapd::HAMLET.dn);
    assert_eq!(api_role_after_login(&c, &slapd::HAMLET).await, 400);
    assert_eq!(i64::from(w.user(hamlet).await.role.as_i32()), 400);
    let changes = role_changes(&w, hamlet, "ldap").await;
    assert_eq!(changes[0].0, "member", "{changes:?}");
    assert!(
        changes[0].1.contains("none of the role groups"),
        "{changes:?}"
    );

    // A role the mapping does not name is the administrators' to give: kept at login.
    w.server
        .admin
        .store
        .set_role(w.user(hamlet).await.id, Role::Moderator, Actor::cli())
        .await
        .unwrap();
    assert_eq!(login_role(&w, &slapd::HAMLET).await, 300);

    // `ldap sync` applies the same rule: back in the group, an administrator (the directory wins
    // over the moderator role set by hand); out again, a member. Each change under ldap-sync.
    change_member(&w, ADMINS, "add", slapd::HAMLET.dn);
    let out = latchkey(&w.config, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("role moderator → admin"),
        "{}",
        text(&out)
    );
    assert_eq!(w.user(hamlet).await.role, Role::Administrator);
    change_member(&w, ADMINS, "delete", slapd::HAMLET.dn);
    let out = latchkey(&w.config, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.user(hamlet).await.role, Role::Member);
    let synced: Vec<String> = role_changes(&w, hamlet, "ldap-sync")
        .await
        .into_iter()
        .map(|(role, _)| role)
        .collect();
    assert_eq!(synced, ["member", "admin"]);

    // Aaron, the realm's only owner, leaves the owners group: neither a login nor a sync takes
    // the role (the refusal is audited and reported); the realm keeps its owner.
    change_member(&w, OWNERS, "delete", slapd::AARON.dn);
    assert_eq!(login_role(&w, &slapd::AARON).await, 100);
    let out = latchkey(&w.config, &["ldap", "sync", "--realm", "zulip"]);
    assert!(
        text(&out).contains("the account is the realm's last active owner"),
        "{}",
        text(&out)
    );
    assert_eq!(w.user("aaron@zulip.com").await.role, Role::Owner);
    let aaron = w.user("aaron@zulip.com").await.id;
    let refusals: Vec<_> = w
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_type == "user_role_change_refused" && e.modified_user_id == Some(aaron))
        .collect();
    assert_eq!(refusals.len(), 2, "one for the login, one for the sync");
    assert!(refusals.iter().any(|e| e.source == "ldap"));
    assert!(refusals.iter().any(|e| e.source == "ldap-sync"));
    assert_eq!(refusals[0].detail["role"], "member");

    // Once another owner exists, the directory's rule applies to Aaron too.
    change_member(&w, OWNERS, "add", slapd::CORDELIA.dn);
    assert_eq!(login_role(&w, &slapd::CORDELIA).await, 100);
    assert_eq!(login_role(&w, &slapd::AARON).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_finds_a_missing_role_group() {
    let roles = format!(
        "role_by_group.moderator = \"cn=nosuch,{}\"\nrole_by_group.guest = \"{}\"\n",
        slapd::GROUPS_DN,
        slapd::STAFF_GROUP_DN
    );
    let w = CliWorld::start(
        CliConfig {
            ldap: &roles,
            ..CliConfig::default()
        },
        &[],
    )
    .await;
    let out = latchkey(&w.config, &["config", "check", "--connect"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "ldap.role_by_group.moderator cn=nosuch,{} does not exist",
            slapd::GROUPS_DN
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "ldap.role_by_group.guest {} exists",
            slapd::STAFF_GROUP_DN
        )),
        "{t}"
    );
    // Staff are guests: `ldap query` names the group that decides.
    let out = latchkey(&w.config, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "role group:      {} (guest)",
            slapd::STAFF_GROUP_DN
        )),
        "{t}"
    );
}
