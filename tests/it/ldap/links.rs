//! Accounts and the directory entries they are linked to, against a private slapd, over HTTP
//! and the real `latchkey` binary: a login never hands an account to another entry (not when
//! the linked entry moved out of the people base, not when it is gone); `ldap relink` and
//! `ldap sync` move it only once the old entry is gone from the directory; sync reactivates only
//! what it deactivated; group and access-rule changes reach existing keys through sync.

use std::process::Output;
use std::time::Duration;

use latchkey_tests::ldap_world::{CliConfig, CliWorld, get_with_key, sqlite_world, text};
use latchkey_tests::slapd::{self, BASE_DN, PEOPLE_DN, Slapd};
use latchkey_tests::{Client, Reply, eventually};

/// The answer to an entry refused an account linked to another entry.
const LINKED_ELSEWHERE: &str = "Your directory entry's name or email cannot be used for an account here; contact your administrator";
const DISABLED_OU: &str = "ou=disabled,dc=example,dc=org";

/// Moves Hamlet's entry to [`DISABLED_OU`] (created first), out of the people base; returns its
/// new DN.
fn move_hamlet_to_disabled(d: &Slapd) -> String {
    d.add_ldif(&format!(
        "dn: {DISABLED_OU}\nobjectClass: organizationalUnit\nou: disabled\n"
    ))
    .unwrap();
    d.move_entry(slapd::HAMLET.dn, "uid=hamlet", DISABLED_OU)
        .unwrap();
    format!("uid=hamlet,{DISABLED_OU}")
}

/// A person entry under the people base.
fn person_ldif(uid: &str, mail: &str, password: &str) -> String {
    format!(
        "dn: uid={uid},{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: New {uid}\n\
         sn: {uid}\nmail: {mail}\nuserPassword: {password}\n"
    )
}

/// Adds the imposter: an entry with another username and Hamlet's address (a reused or
/// duplicated mail).
fn add_imposter(d: &Slapd) {
    d.add_ldif(&person_ldif("imposter", "hamlet@zulip.com", "lpw-imposter"))
        .unwrap();
}

/// The imposter's login with the right password.
async fn imposter_login(c: &Client) -> Reply {
    c.fetch_api_key("zulip", "imposter", "lpw-imposter").await
}

/// Asserts the refusal of an entry whose account is linked to another entry.
#[track_caller]
fn assert_linked_elsewhere(r: &Reply) {
    r.assert_error(401, "AUTHENTICATION_FAILED", LINKED_ELSEWHERE);
}

/// `latchkey ldap relink hamlet@zulip.com --realm zulip`, and `more` arguments.
fn relink_hamlet(w: &CliWorld, more: &[&str]) -> Output {
    let mut args = vec!["ldap", "relink", "hamlet@zulip.com", "--realm", "zulip"];
    args.extend_from_slice(more);
    w.latchkey(&args)
}

/// The audit rows of realm `zulip` with this event type, newest first.
async fn audit_rows(w: &CliWorld, event: &str) -> Vec<auth_store::AuditEntry> {
    w.audit()
        .await
        .into_iter()
        .filter(|e| e.event_type == event)
        .collect()
}

/// Repeats `GET /users/me` with the key until its status is `status` (the server learns of
/// changes through the invalidation log), for at most five seconds.
async fn me_until(w: &CliWorld, email: &str, key: &str, status: u16) -> Reply {
    let c = w.client();
    eventually(
        Duration::from_secs(5),
        || get_with_key(&c, "zulip", "/api/v1/users/me", email, key),
        |r: &Reply| r.status == status,
    )
    .await
}

/// Issue 8.9: Hamlet's entry moves to `ou=disabled` and a new entry with his email appears
/// under people. The new entry's login is refused (and audited), his key stays his; `ldap
/// relink` and `ldap sync` refuse to move the account while the old entry exists anywhere in
/// the naming context; once it is deleted, `ldap relink` moves it and the new entry logs in to
/// the same account with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_moved_out_of_the_people_base_keeps_its_account() {
    let w = CliWorld::start(CliConfig::default(), &[]).await;
    let c = w.client();
    let first = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    first.assert_success();
    let key = first.body["api_key"].as_str().unwrap().to_owned();
    let hamlet = w.user("hamlet@zulip.com").await;
    let old_uuid = w.slapd.entry_uuid(slapd::HAMLET.dn).unwrap();
    assert_eq!(hamlet.external_id.as_deref(), Some(old_uuid.as_str()));

    let moved_dn = move_hamlet_to_disabled(&w.slapd);
    assert_eq!(w.slapd.entry_uuid(&moved_dn).unwrap(), old_uuid);
    w.slapd
        .add_ldif(&person_ldif("hamlet", "hamlet@zulip.com", "lpw-new-hamlet"))
        .unwrap();

    // The new entry is refused, as an entry linked elsewhere is.
    assert_linked_elsewhere(&c.fetch_api_key("zulip", "hamlet", "lpw-new-hamlet").await);
    // The refusal is audited, naming both entries.
    let refusals = audit_rows(&w, "user_directory_link_refused").await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    let r = &refusals[0];
    assert_eq!(r.modified_user_id, Some(hamlet.id));
    assert_eq!(r.source, "ldap");
    assert_eq!(r.detail["linked_id"], old_uuid.as_str());
    assert_eq!(r.detail["linked_entry_exists"], true);
    assert_eq!(r.detail["linked_entry"], moved_dn.as_str());
    assert_eq!(
        r.detail["claimant_entry"],
        format!("uid=hamlet,{PEOPLE_DN}")
    );
    // The old key still belongs to the old account, unchanged.
    let me = me_until(&w, "hamlet@zulip.com", &key, 200).await;
    me.assert_success();
    assert_eq!(me.body["user_id"], hamlet.id.0);
    let after = w.user("hamlet@zulip.com").await;
    assert_eq!(after.external_id.as_deref(), Some(old_uuid.as_str()));
    assert!(after.is_active);

    // The administrator's relink refuses while the old entry exists in the naming context.
    let out = relink_hamlet(&w, &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("still exists"), "{t}");
    assert!(t.contains(&moved_dn), "{t}");
    // So does sync: it reports the claim and relinks nothing.
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("refused: hamlet@zulip.com"), "{t}");
    let after = w.user("hamlet@zulip.com").await;
    assert_eq!(after.external_id.as_deref(), Some(old_uuid.as_str()));

    // Once the old entry is gone, the administrator relinks (a dry run first).
    w.slapd.delete_dn(&moved_dn).unwrap();
    let new_uuid = w.slapd.entry_uuid(slapd::HAMLET.dn).unwrap();
    let out = relink_hamlet(&w, &["--dry-run"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&old_uuid) && t.contains(&new_uuid), "{t}");
    assert!(t.contains("nothing changed"), "{t}");
    let out = relink_hamlet(&w, &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("relinked"), "{t}");
    let after = w.user("hamlet@zulip.com").await;
    assert_eq!(after.external_id.as_deref(), Some(new_uuid.as_str()));
    let relinks = audit_rows(&w, "user_external_id_changed").await;
    let relink = relinks
        .iter()
        .find(|e| e.source == "cli")
        .expect("the relink is audited under the CLI");
    assert_eq!(relink.detail["old"], old_uuid.as_str());
    assert_eq!(relink.detail["external_id"], new_uuid.as_str());
    // The new entry now logs in to the same account, with the same key.
    let r = c.fetch_api_key("zulip", "hamlet", "lpw-new-hamlet").await;
    r.assert_success();
    assert_eq!(r.body["user_id"], hamlet.id.0);
    assert_eq!(r.body["api_key"], key.as_str());
    // Nothing left to do.
    let out = relink_hamlet(&w, &[]);
    assert!(text(&out).contains("already linked"), "{}", text(&out));
}

/// An entry with another username and Hamlet's address (a reused or duplicated mail): refused
/// while Hamlet's entry exists; still refused at login once it is deleted (a login never
/// relinks); `ldap sync` relinks it then (audited), and the new entry logs in to the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_entry_is_relinked_by_sync_never_by_a_login() {
    let w = CliWorld::start(
        CliConfig {
            mapping: "email_attr = \"mail\"",
            ..CliConfig::default()
        },
        &[&slapd::HAMLET],
    )
    .await;
    let c = w.client();
    let hamlet = w.user("hamlet@zulip.com").await;
    add_imposter(&w.slapd);
    let r = imposter_login(&c).await;
    assert_linked_elsewhere(&r);
    assert!(r.body["api_key"].is_null());
    w.slapd.delete_dn(slapd::HAMLET.dn).unwrap();
    let r = imposter_login(&c).await;
    assert_linked_elsewhere(&r);
    let refusals = audit_rows(&w, "user_directory_link_refused").await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert_eq!(refusals[0].detail["linked_entry_exists"], false);
    assert_eq!(refusals[1].detail["linked_entry_exists"], true);

    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("relinked to the entry"), "{t}");
    let new_uuid = w
        .slapd
        .entry_uuid(&format!("uid=imposter,{PEOPLE_DN}"))
        .unwrap();
    let after = w.user("hamlet@zulip.com").await;
    assert_eq!(after.external_id.as_deref(), Some(new_uuid.as_str()));
    assert!(
        audit_rows(&w, "user_external_id_changed")
            .await
            .iter()
            .any(|e| e.source == "ldap-sync" && e.detail["external_id"] == new_uuid.as_str()),
        "the relink is audited under ldap-sync"
    );
    let r = imposter_login(&c).await;
    r.assert_success();
    assert_eq!(r.body["user_id"], hamlet.id.0);
}

/// The same with direct bind (a DN template and no search base): the naming context is found
/// from the template's parent, and `ldap relink` finds the new entry by its email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_hold_with_a_dn_template() {
    let w = CliWorld::start(
        CliConfig {
            base: "",
            mapping: "email_attr = \"mail\"",
            ldap: "user_dn_template = \"uid={user},ou=people,dc=example,dc=org\"",
            ..CliConfig::default()
        },
        &[&slapd::HAMLET],
    )
    .await;
    let c = w.client();
    let hamlet = w.user("hamlet@zulip.com").await;
    let moved_dn = move_hamlet_to_disabled(&w.slapd);
    add_imposter(&w.slapd);
    assert_linked_elsewhere(&imposter_login(&c).await);
    let out = relink_hamlet(&w, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("still exists"), "{}", text(&out));
    w.slapd.delete_dn(&moved_dn).unwrap();
    assert_linked_elsewhere(&imposter_login(&c).await);
    let out = relink_hamlet(&w, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let r = imposter_login(&c).await;
    r.assert_success();
    assert_eq!(r.body["user_id"], hamlet.id.0);
}

/// With an id attribute that not every entry carries: an entry without one cannot take a
/// linked account at login, before or after the linked entry is gone; `ldap relink` then
/// unlinks the account so that the new entry (which has no id to link) logs in to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_without_an_id_takes_a_linked_account_only_through_relink() {
    let w = CliWorld::start(
        CliConfig {
            mapping: "email_attr = \"mail\"",
            ldap: "attributes.unique_id = \"employeeNumber\"",
            ..CliConfig::default()
        },
        &[],
    )
    .await;
    w.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: employeeNumber\nemployeeNumber: 1001\n",
            slapd::HAMLET.dn
        ))
        .unwrap();
    let c = w.client();
    let first = c
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    first.assert_success();
    let hamlet = w.user("hamlet@zulip.com").await;
    assert_eq!(hamlet.external_id.as_deref(), Some("1001"));
    add_imposter(&w.slapd);
    assert_linked_elsewhere(&imposter_login(&c).await);
    let out = relink_hamlet(&w, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    w.slapd.delete_dn(slapd::HAMLET.dn).unwrap();
    assert_linked_elsewhere(&imposter_login(&c).await);
    let out = relink_hamlet(&w, &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("no directory id"), "{t}");
    assert_eq!(w.user("hamlet@zulip.com").await.external_id, None);
    let r = imposter_login(&c).await;
    r.assert_success();
    assert_eq!(r.body["user_id"], first.body["user_id"]);
    assert_eq!(r.body["api_key"], first.body["api_key"]);
}

/// The naming context is read from the root DSE unless `ldap.link_search_base` says where to
/// look: a base that does not hold the moved entry makes it gone (the administrator's choice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_search_base_overrides_the_naming_context() {
    let w = sqlite_world(|s, _| {
        s.ldap.link_search_base = Some(PEOPLE_DN.into());
    })
    .await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    move_hamlet_to_disabled(&w.slapd);
    w.slapd
        .add_ldif(&person_ldif("hamlet", "hamlet@zulip.com", "lpw-new-hamlet"))
        .unwrap();
    // Refused either way at login; the audit says the linked entry was not found there.
    assert_linked_elsewhere(&c.fetch_api_key("zulip", "hamlet", "lpw-new-hamlet").await);
    let rows = w.audit().await;
    let refusal = rows
        .iter()
        .find(|e| e.event_type == "user_directory_link_refused")
        .expect("audited");
    assert_eq!(refusal.detail["linked_entry_exists"], false);
    // And the base must exist: a wrong one is an error (503), never "gone".
    drop(w);
    let w = sqlite_world(|s, _| {
        s.ldap.link_search_base = Some(format!("ou=nowhere,{BASE_DN}"));
    })
    .await;
    let c = w.client();
    c.fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();
    w.slapd.delete_dn(slapd::HAMLET.dn).unwrap();
    w.slapd
        .add_ldif(&person_ldif("hamlet", "hamlet@zulip.com", "lpw-new-hamlet"))
        .unwrap();
    let r = c.fetch_api_key("zulip", "hamlet", "lpw-new-hamlet").await;
    assert_eq!(r.status, 503, "{}", r.raw);
}

/// Issue 12.2: an administrator deactivates Aaron, who never left the directory; `ldap sync`
/// (with `deactivate_non_matching`) leaves him deactivated and says who did it. Sync still
/// reactivates the people it deactivated itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_never_undoes_an_administrators_deactivation() {
    let w = CliWorld::start(
        CliConfig {
            sync: "deactivate_non_matching = true",
            ..CliConfig::default()
        },
        &[
            &slapd::HAMLET,
            &slapd::AARON,
            &slapd::JOSE,
            &slapd::CORDELIA,
        ],
    )
    .await;
    let out = w.latchkey(&["user", "deactivate", "aaron@zulip.com", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("back in the directory"), "{t}");
    assert!(
        !w.active("aaron@zulip.com").await,
        "sync reactivated aaron: {t}"
    );
    assert!(
        t.contains("kept deactivated") && t.contains("aaron@zulip.com (deactivated by cli)"),
        "{t}"
    );
    let out = w.latchkey(&["user", "list", "--realm", "zulip"]);
    let t = text(&out);
    let line = t
        .lines()
        .find(|l| l.contains("aaron@zulip.com"))
        .unwrap_or_default();
    assert!(line.contains("deactivated by cli"), "{t}");

    // Jose leaves the directory: sync deactivates him (forced: one of four is over 10%), with
    // the reason, and reactivates him when he is back.
    w.slapd.delete_dn(slapd::JOSE.dn).unwrap();
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!w.active("jose@zulip.com").await);
    let out = w.latchkey(&["user", "list", "--realm", "zulip"]);
    assert!(
        text(&out).contains("deactivated by ldap-sync: not in the directory"),
        "{}",
        text(&out)
    );
    w.slapd.restore_seed_entry(slapd::JOSE.dn).unwrap();
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("jose@zulip.com: "), "{t}");
    assert!(t.contains("back in the directory"), "{t}");
    assert!(w.active("jose@zulip.com").await);
    assert!(!w.active("aaron@zulip.com").await);

    // The audit log has who and why; a reason given at the command line is kept.
    let rows = audit_rows(&w, "user_deactivated").await;
    let aaron = w.user("aaron@zulip.com").await;
    assert!(
        rows.iter()
            .any(|e| e.modified_user_id == Some(aaron.id) && e.source == "cli"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|e| e.source == "ldap-sync" && e.detail["reason"] == "not in the directory"),
        "{rows:?}"
    );
    let out = w.latchkey(&["user", "reactivate", "aaron@zulip.com", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.latchkey(&[
        "user",
        "deactivate",
        "aaron@zulip.com",
        "--realm",
        "zulip",
        "--reason",
        "on leave",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(
        t.contains("aaron@zulip.com (deactivated by cli: on leave)"),
        "{t}"
    );
    assert!(!w.active("aaron@zulip.com").await);
    assert_eq!(
        audit_rows(&w, "user_deactivated").await[0].detail["reason"],
        "on leave"
    );
}

/// Issue 12.3: Hamlet joins the deny group; his key keeps working until `ldap sync`, which
/// deactivates him (under the same guard as other deactivations); out of the group again, the
/// next sync reactivates him and the same key works. The same for leaving the required group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_reach_existing_keys_through_sync() {
    let groups = format!(
        "require_group = \"{}\"\ndeny_group = \"{}\"",
        slapd::STAFF_GROUP_DN,
        slapd::BANNED_GROUP_DN
    );
    let w = CliWorld::start(
        CliConfig {
            ldap: &groups,
            ..CliConfig::default()
        },
        &[&slapd::HAMLET, &slapd::AARON, &slapd::JOSE],
    )
    .await;
    let hamlet = w.user("hamlet@zulip.com").await;
    let key = w.server.key_of(&hamlet).await;
    me_until(&w, "hamlet@zulip.com", &key, 200)
        .await
        .assert_success();
    let group_change = |op: &str, group: &str, dn: &str| {
        format!("dn: {group}\nchangetype: modify\n{op}: member\nmember: {dn}\n")
    };
    w.slapd
        .modify(&group_change(
            "add",
            slapd::BANNED_GROUP_DN,
            slapd::HAMLET.dn,
        ))
        .unwrap();
    // One of three is more than the allowed 10%: the run stops and changes nothing...
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("STOPPED") && t.contains("in deny group"), "{t}");
    assert!(w.active("hamlet@zulip.com").await);
    // ...until forced.
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip", "--force"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("hamlet@zulip.com: in deny group"), "{t}");
    let r = me_until(&w, "hamlet@zulip.com", &key, 401).await;
    assert_eq!(r.status, 401, "{}", r.raw);
    let c = w.client();
    let r = get_with_key(&c, "zulip", "/api/v1/auth/verify", "hamlet@zulip.com", &key).await;
    assert_eq!(r.status, 401, "{}", r.raw);
    let rows = audit_rows(&w, "user_deactivated").await;
    assert!(
        rows.iter().any(|e| e.modified_user_id == Some(hamlet.id)
            && e.source == "ldap-sync"
            && e.detail["reason"] == "in deny group"),
        "{rows:?}"
    );
    let out = w.latchkey(&["user", "list", "--realm", "zulip"]);
    assert!(
        text(&out).contains("deactivated by ldap-sync: in deny group"),
        "{}",
        text(&out)
    );

    // Out of the group: the next sync reactivates him, and the same key works again.
    w.slapd
        .modify(&group_change(
            "delete",
            slapd::BANNED_GROUP_DN,
            slapd::HAMLET.dn,
        ))
        .unwrap();
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("was: in deny group"), "{t}");
    me_until(&w, "hamlet@zulip.com", &key, 200)
        .await
        .assert_success();

    // Leaving the required group counts the same way.
    w.slapd
        .modify(&group_change(
            "delete",
            slapd::STAFF_GROUP_DN,
            slapd::AARON.dn,
        ))
        .unwrap();
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip", "--force"]);
    let t = text(&out);
    assert!(t.contains("aaron@zulip.com: left required group"), "{t}");
    assert!(!w.active("aaron@zulip.com").await);
    w.slapd
        .modify(&group_change("add", slapd::STAFF_GROUP_DN, slapd::AARON.dn))
        .unwrap();
    let out = w.latchkey(&["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(w.active("aaron@zulip.com").await);
}
