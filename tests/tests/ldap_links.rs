//! Accounts and the directory, against a private slapd, over HTTP and the real `latchkey`
//! binary: `ldap sync` reactivates only what it deactivated.

use latchkey_tests::ldap_world::{CliConfig, CliWorld, text};
use latchkey_tests::slapd;

/// The audit rows of realm `zulip` with this event type, newest first.
async fn audit_rows(w: &CliWorld, event: &str) -> Vec<auth_store::AuditEntry> {
    w.server
        .admin
        .store
        .audit_entries(Some(w.zulip.id), 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == event)
        .collect()
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
