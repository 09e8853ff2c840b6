//! `latchkey ldap sync`, `latchkey ldap query` and `latchkey config check --connect` against a
//! private slapd, with accounts created by real logins.

use latchkey_tests::ldap_world::{CliConfig, CliWorld, latchkey, text};
use latchkey_tests::slapd;

/// The accounts of [`sync_updates_deactivates_reactivates_and_refuses_to_guess`].
const EVERYONE: [&str; 4] = [
    "hamlet@zulip.com",
    "aaron@zulip.com",
    "jose@zulip.com",
    "cordelia@zulip.com",
];

/// Asserts that each of these accounts is active (a failure names the first one that is not).
async fn assert_all_active(w: &CliWorld, emails: &[&str]) {
    for email in emails {
        assert!(w.active(email).await, "{email} is deactivated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_updates_deactivates_reactivates_and_refuses_to_guess() {
    let mut s = CliWorld::start(
        CliConfig::default(),
        &[
            &slapd::HAMLET,
            &slapd::AARON,
            &slapd::JOSE,
            &slapd::CORDELIA,
        ],
    )
    .await;
    let cfg = s.config.clone();

    // A changed name: shown by a dry run, applied by a run.
    s.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: cn\ncn: Aaron the Elder\n",
            slapd::AARON.dn
        ))
        .unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("would change aaron@zulip.com: full name"),
        "{}",
        text(&out)
    );
    let aaron = s.user("aaron@zulip.com").await;
    assert_eq!(aaron.full_name, "Aaron Smith", "a dry run changes nothing");
    let out = latchkey(&cfg, &["ldap", "sync"]);
    assert!(out.status.success(), "{}", text(&out));
    let aaron = s.user("aaron@zulip.com").await;
    assert_eq!(aaron.full_name, "Aaron the Elder");

    // Hamlet leaves the directory. Without deactivate_non_matching he is kept, and said so.
    s.slapd.delete_dn(slapd::HAMLET.dn).unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not in the directory (kept"),
        "{}",
        text(&out)
    );
    assert!(s.active("hamlet@zulip.com").await);

    // With it, one of four active people is more than 10%: the run stops, changing nothing.
    s.reconfigure(CliConfig {
        sync: "deactivate_non_matching = true",
        ..CliConfig::default()
    });
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("STOPPED"), "{}", text(&out));
    assert!(s.active("hamlet@zulip.com").await);
    // --force applies it.
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!s.active("hamlet@zulip.com").await);
    let r = s
        .server
        .client()
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await;
    assert_eq!(r.status, 401);

    // Hamlet comes back (a new entry, a new entryUUID): reactivated and relinked.
    s.slapd.restore_seed_entry(slapd::HAMLET.dn).unwrap();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("back in the directory"),
        "{}",
        text(&out)
    );
    assert!(s.active("hamlet@zulip.com").await);
    s.server
        .client()
        .fetch_api_key("zulip", "hamlet", slapd::HAMLET.password)
        .await
        .assert_success();

    // The directory is down: the run fails, nobody is deactivated.
    s.slapd.stop();
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was changed"), "{}", text(&out));
    assert_all_active(&s, &EVERYONE).await;
    s.slapd.restart().unwrap();

    // A search base that lists nobody is an outage or a mistake, never "everyone left".
    s.reconfigure(CliConfig {
        base: slapd::SERVICES_DN,
        sync: "deactivate_non_matching = true",
        ..CliConfig::default()
    });
    let out = latchkey(&cfg, &["ldap", "sync", "--realm", "zulip", "--force"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("listed nobody"), "{}", text(&out));
    assert_all_active(&s, &EVERYONE).await;

    // Every change the sync made is in the audit log, under ldap-sync.
    let audit = s.audit().await;
    for event in [
        "user_full_name_changed",
        "user_deactivated",
        "user_reactivated",
        "user_external_id_changed",
    ] {
        assert!(
            audit
                .iter()
                .any(|e| e.event_type == event && e.source == "ldap-sync"),
            "{event} missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_connection_check() {
    let deny = format!("deny_group = \"{}\"", slapd::BANNED_GROUP_DN);
    let mut s = CliWorld::start(
        CliConfig {
            ldap: &deny,
            ..CliConfig::default()
        },
        &[&slapd::HAMLET],
    )
    .await;
    let cfg = s.config.clone();
    let out = latchkey(&cfg, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(slapd::HAMLET.dn), "{t}");
    assert!(t.contains("hamlet@zulip.com"), "{t}");
    assert!(t.contains("King Hamlet"), "{t}");
    assert!(t.contains("not a member"), "{t}");
    assert!(t.contains("allowed with the right password"), "{t}");
    if s.slapd.has_memberof() {
        assert!(t.contains(slapd::STAFF_GROUP_DN), "{t}");
    }
    let out = latchkey(&cfg, &["ldap", "query", "cordelia", "--realm", "zulip"]);
    let t = text(&out);
    // The rule that refused is named, and the command fails as the login would.
    assert!(
        t.contains("refused (NotAllowedInRealm: a member of the deny group"),
        "{t}"
    );
    assert!(t.contains(slapd::BANNED_GROUP_DN), "{t}");
    assert!(!out.status.success(), "{t}");
    let out = latchkey(&cfg, &["ldap", "query", "nobody", "--realm", "zulip"]);
    assert!(text(&out).contains("no such user"), "{}", text(&out));
    assert!(!out.status.success());
    // Never the bind password.
    assert!(!t.contains(slapd::SERVICE_PASSWORD));
    // Hamlet's entry renamed away and a new "hamlet" entry added: the account stays with the
    // entry it is linked to, as a login would decide.
    s.slapd.rename(slapd::HAMLET.dn, "uid=hamlet-old").unwrap();
    s.slapd
        .add_ldif(&format!(
            "dn: uid=hamlet,{}\nobjectClass: inetOrgPerson\nuid: hamlet\ncn: New Hamlet\n\
             sn: Hamlet\nuserPassword: lpw-new-hamlet\n",
            slapd::PEOPLE_DN
        ))
        .unwrap();
    let out = latchkey(&cfg, &["ldap", "query", "hamlet", "--realm", "zulip"]);
    let t = text(&out);
    assert!(
        t.contains("refused (the account belongs to another directory entry)"),
        "{t}"
    );
    assert!(!out.status.success(), "{t}");
    s.server
        .client()
        .fetch_api_key("zulip", "hamlet", "lpw-new-hamlet")
        .await
        .assert_error(
            401,
            "AUTHENTICATION_FAILED",
            "Your directory entry's name or email cannot be used for an account here; contact your administrator",
        );

    let out = latchkey(&cfg, &["config", "check", "--connect"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ldap: connected"), "{t}");
    assert!(
        t.contains(&format!(
            "linked entries are looked up under {}",
            slapd::BASE_DN
        )),
        "{t}"
    );
    assert!(
        !t.contains(slapd::SERVICE_PASSWORD),
        "the bind password is masked: {t}"
    );
    s.slapd.stop();
    let out = latchkey(&cfg, &["config", "check", "--connect"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ldap:"), "{}", text(&out));
}
