//! Password reset below the pages: the service (`request_reset`, `check_reset_token`,
//! `reset_password`) driven through the fixture's admin state, mail through a real SMTP server
//! (aiosmtpd) or lettre's file transport, on SQLite and PostgreSQL.
//!
//! The worker handles requests one at a time in order, so a request for Hamlet queued last is a
//! barrier: once his mail arrived, every earlier request was decided.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use auth_core::{Password, Role};
use auth_service::Client;
use auth_service::reset::ResetError;
use auth_store::{Actor, NewUser};
use latchkey::Settings;
use latchkey::config::{MailSecurity, MailTransport};
use latchkey_tests::smtp::{Received, SmtpSink};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs};

const ZULIP: &str = "zulip.example.test";
const NEW_PW: &str = "Tq8-vanilla-Orbit";
const WAIT: Duration = Duration::from_secs(20);

fn client(host: &str) -> Client<'_> {
    Client { ip: None, host }
}

fn from_ip(ip: &str) -> Client<'static> {
    let ip: IpAddr = ip.parse().unwrap();
    Client {
        ip: Some(ip),
        host: ZULIP,
    }
}

/// Sends mail to the sink over unencrypted loopback SMTP.
fn smtp_to(sink: &SmtpSink, s: &mut Settings) {
    s.mail.transport = MailTransport::Smtp;
    s.mail.host = "127.0.0.1".into();
    s.mail.port = sink.port;
    s.mail.security = MailSecurity::None;
    s.mail.from = "Latchkey <noreply@example.test>".into();
}

async fn world(kind: DbKind, customize: impl FnOnce(&mut Settings)) -> Option<(Fixture, SmtpSink)> {
    let sink = SmtpSink::start().expect("start aiosmtpd");
    let f = Fixture::with(kind, |s| {
        smtp_to(&sink, s);
        customize(s);
    })
    .await?;
    Some((f, sink))
}

/// Requests a reset and waits for the `n`-th message to arrive.
async fn request_and_wait(f: &Fixture, sink: &SmtpSink, email: &str, n: usize) -> Vec<Received> {
    f.server
        .admin
        .request_reset(client(ZULIP), email)
        .await
        .unwrap();
    let got = sink.wait_for(n, WAIT).await;
    assert!(got.len() >= n, "expected {n} messages, got {got:?}");
    got
}

async fn valid(f: &Fixture, token: &str) -> bool {
    f.server
        .admin
        .check_reset_token(ZULIP, token)
        .await
        .unwrap()
        .is_some()
}

async fn audit_events(f: &Fixture) -> Vec<String> {
    f.server
        .admin
        .store
        .audit_entries(None, 200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn a_real_account_gets_one_working_link(kind: DbKind) {
    let Some((f, sink)) = world(kind, |_| {}).await else {
        return;
    };
    let got = request_and_wait(&f, &sink, "Hamlet@Zulip.com ", 1).await;
    let mail = &got[0];
    assert_eq!(mail.to, vec!["hamlet@zulip.com"]);
    assert_eq!(mail.subject, "Password reset request for Zulip Dev");
    assert!(mail.from.contains("noreply@example.test"), "{}", mail.from);
    assert!(
        mail.body
            .contains("account hamlet@zulip.com on http://zulip.example.test")
    );
    let link = mail.reset_link().unwrap();
    assert!(
        link.starts_with("http://zulip.example.test/accounts/password/reset/"),
        "{link}"
    );
    let token = mail.reset_token().unwrap();
    assert_eq!(token.len(), 64);
    let (user, realm) = f
        .server
        .admin
        .check_reset_token(ZULIP, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((user.id, realm.id), (f.hamlet.id, f.zulip.id));
    // Not on another realm's host.
    let other = f
        .server
        .admin
        .check_reset_token("lear.example.test", &token)
        .await;
    assert!(other.unwrap().is_none());

    let weak = f
        .server
        .admin
        .reset_password(ZULIP, &token, &Password::new("hamlet"))
        .await;
    assert!(matches!(weak, Err(ResetError::WeakPassword(_))), "{weak:?}");
    assert!(
        valid(&f, &token).await,
        "a refused password leaves the link working"
    );

    let changed = f
        .server
        .admin
        .reset_password(ZULIP, &token, &Password::new(NEW_PW))
        .await
        .unwrap();
    assert_eq!(changed.id, f.hamlet.id);
    let c = f.client();
    c.fetch_api_key("zulip", "hamlet@zulip.com", NEW_PW)
        .await
        .assert_success();
    c.fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_bad_credentials();

    // Used once.
    assert!(!valid(&f, &token).await);
    let again = f
        .server
        .admin
        .reset_password(ZULIP, &token, &Password::new("Another-Pw-91z"))
        .await;
    assert!(matches!(again, Err(ResetError::InvalidLink)), "{again:?}");
    let events = audit_events(&f).await;
    for e in [
        "password_reset_requested",
        "password_reset_done",
        "user_password_changed",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
    assert_eq!(sink.messages().len(), 1);
}

async fn a_newer_request_kills_the_older_token(kind: DbKind) {
    let Some((f, sink)) = world(kind, |_| {}).await else {
        return;
    };
    let first = request_and_wait(&f, &sink, "hamlet@zulip.com", 1).await[0]
        .reset_token()
        .unwrap();
    assert!(valid(&f, &first).await);
    let got = request_and_wait(&f, &sink, "hamlet@zulip.com", 2).await;
    let second = got[1].reset_token().unwrap();
    assert_ne!(first, second);
    assert!(!valid(&f, &first).await, "the older link died");
    assert!(valid(&f, &second).await);
}

async fn a_password_change_kills_the_token(kind: DbKind) {
    let Some((f, sink)) = world(kind, |_| {}).await else {
        return;
    };
    let token = request_and_wait(&f, &sink, "hamlet@zulip.com", 1).await[0]
        .reset_token()
        .unwrap();
    let admin = &f.server.admin;
    let hash = admin.hasher.hash(&Password::new(NEW_PW)).await.unwrap();
    admin
        .store
        .set_password(f.hamlet.id, Some(hash), Actor::cli())
        .await
        .unwrap();
    assert!(!valid(&f, &token).await);
    let r = admin
        .reset_password(ZULIP, &token, &Password::new("Another-Pw-91z"))
        .await;
    assert!(matches!(r, Err(ResetError::InvalidLink)), "{r:?}");
}

/// Moves every token's expiry into the past, as an hour passing would.
fn expire_tokens(f: &Fixture) {
    use diesel::{Connection, RunQueryDsl};
    let sql = "UPDATE password_reset_tokens SET expires_at = 1";
    match f.db.kind() {
        DbKind::Sqlite => {
            let path = f.db.url().trim_start_matches("sqlite://").to_owned();
            let mut c = diesel::SqliteConnection::establish(&path).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
        DbKind::Postgres => {
            let mut c = diesel::PgConnection::establish(&f.db.url()).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
    }
}

async fn an_expired_token_is_refused(kind: DbKind) {
    let Some((f, sink)) = world(kind, |_| {}).await else {
        return;
    };
    let token = request_and_wait(&f, &sink, "hamlet@zulip.com", 1).await[0]
        .reset_token()
        .unwrap();
    assert!(valid(&f, &token).await);
    expire_tokens(&f);
    assert!(!valid(&f, &token).await);
    let r = f
        .server
        .admin
        .reset_password(ZULIP, &token, &Password::new(NEW_PW))
        .await;
    assert!(matches!(r, Err(ResetError::InvalidLink)), "{r:?}");
    // Made-up and malformed tokens are simply invalid.
    assert!(!valid(&f, &"0".repeat(64)).await);
    assert!(!valid(&f, "../../etc").await);
}

/// An account linked to a directory entry (as LDAP logins and sync create them).
pub(crate) async fn directory_user(f: &Fixture, email: &str) {
    let admin = &f.server.admin;
    let hash = admin.hasher.hash(&Password::new(PW)).await.unwrap();
    admin
        .store
        .create_user(
            NewUser {
                realm_id: f.zulip.id,
                delivery_email: email.into(),
                full_name: "Directory Person".into(),
                password_hash: Some(hash),
                role: Role::Member,
                bot_type: None,
                bot_owner_id: None,
                external_id: Some("5f0c-entry-uuid".into()),
            },
            admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
}

/// Requests for addresses that must get nothing, then Hamlet's (the barrier).
async fn request_the_unresettable(f: &Fixture) {
    let admin = &f.server.admin;
    admin
        .store
        .set_user_active(f.cordelia.id, false, Actor::cli())
        .await
        .unwrap();
    directory_user(f, "dir@zulip.com").await;
    for email in [
        "nobody@zulip.com",
        "cordelia@zulip.com",
        "othello@lear.com",
        "dir@zulip.com",
    ] {
        admin.request_reset(client(ZULIP), email).await.unwrap();
    }
    // A realm without the Email method sends nothing, even to its own people.
    f.set_methods(&f.lear, false, true).await;
    admin
        .request_reset(client("lear.example.test"), "othello@lear.com")
        .await
        .unwrap();
}

async fn addresses_without_a_resettable_account_get_nothing(kind: DbKind) {
    let Some((f, sink)) = world(kind, |_| {}).await else {
        return;
    };
    request_the_unresettable(&f).await;
    let got = request_and_wait(&f, &sink, "hamlet@zulip.com", 1).await;
    let to: Vec<&[String]> = got.iter().map(|m| m.to.as_slice()).collect();
    assert_eq!(to, vec![["hamlet@zulip.com".to_owned()]], "{got:?}");
    // Only the real account has a reset row.
    let requested = f
        .server
        .admin
        .store
        .audit_entries(None, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "password_reset_requested")
        .count();
    assert_eq!(requested, 1);
}

async fn notify_unknown_mails_a_notice(kind: DbKind) {
    let Some((f, sink)) = world(kind, |s| s.reset.notify_unknown = true).await else {
        return;
    };
    request_the_unresettable(&f).await;
    let got = request_and_wait(&f, &sink, "hamlet@zulip.com", 4).await;
    let to: Vec<&str> = got.iter().map(|m| m.to[0].as_str()).collect();
    // The directory's person and the realm without Email get nothing even so.
    assert_eq!(
        to,
        [
            "nobody@zulip.com",
            "cordelia@zulip.com",
            "othello@lear.com",
            "hamlet@zulip.com"
        ]
    );
    assert!(
        got[0]
            .body
            .contains("You do not have an account in that organization.")
    );
    assert!(got[0].reset_link().is_none());
    assert!(
        got[1].body.contains("it has been deactivated"),
        "{}",
        got[1].body
    );
    assert!(
        got[2].body.contains("You do have active accounts"),
        "{}",
        got[2].body
    );
    assert!(
        got[2].body.contains("http://lear.example.test"),
        "{}",
        got[2].body
    );
    assert!(got[3].reset_link().is_some());
}

async fn the_answer_does_not_wait_for_the_mail(kind: DbKind) {
    let delay = Duration::from_secs(2);
    let sink = SmtpSink::with_delay(delay).expect("start aiosmtpd");
    let Some(f) = Fixture::with(kind, |s| smtp_to(&sink, s)).await else {
        return;
    };
    let started = Instant::now();
    f.server
        .admin
        .request_reset(client(ZULIP), "hamlet@zulip.com")
        .await
        .unwrap();
    let answered = started.elapsed();
    let got = sink.wait_for(1, WAIT).await;
    let mailed = started.elapsed();
    assert_eq!(got.len(), 1);
    assert!(mailed >= delay, "the relay delays each message");
    assert!(
        answered * 4 < mailed,
        "answered after {answered:?}, mail arrived after {mailed:?}"
    );
}

async fn requests_are_limited_per_address_and_per_ip(kind: DbKind) {
    let Some((f, sink)) = world(kind, |s| {
        s.rate_limits.password_reset_by_ip = "3600:3".parse().unwrap();
    })
    .await
    else {
        return;
    };
    f.server
        .create_user(&f.zulip, "iago@zulip.com", Some(PW), Role::Member)
        .await;
    let admin = &f.server.admin;
    let ask = |ip: &'static str, email: &'static str| async move {
        admin.request_reset(from_ip(ip), email).await.unwrap();
    };
    // Zulip's default by address: 2 an hour, so Hamlet's third is dropped (and, refused by
    // address, not counted against the IP).
    for _ in 0..3 {
        ask("192.0.2.1", "hamlet@zulip.com").await;
    }
    // The IP's third request passes; its fourth is dropped.
    ask("192.0.2.1", "cordelia@zulip.com").await;
    ask("192.0.2.1", "iago@zulip.com").await;
    // The same address from another IP passes (its second within the hour): the barrier.
    ask("192.0.2.2", "iago@zulip.com").await;
    let got = sink.wait_for(4, WAIT).await;
    let to: Vec<&str> = got.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(
        to,
        [
            "hamlet@zulip.com",
            "hamlet@zulip.com",
            "cordelia@zulip.com",
            "iago@zulip.com"
        ]
    );
}

async fn the_file_transport_writes_eml_files(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let dir = f.db.dir().join("mail");
    f.server
        .admin
        .request_reset(client(ZULIP), "hamlet@zulip.com")
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        match found {
            Some(p) => break p,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            None => panic!("no .eml file in {}", dir.display()),
        }
    };
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("To: hamlet@zulip.com"), "{text}");
    assert!(
        text.contains("Subject: Password reset request for Zulip Dev"),
        "{text}"
    );
    // Quoted-printable soft line breaks aside, the link is there.
    let unfolded = text.replace("=\r\n", "");
    assert!(
        unfolded.contains("http://zulip.example.test/accounts/password/reset/"),
        "{text}"
    );
}

async fn bad_hosts_and_addresses_are_refused_at_once(kind: DbKind) {
    let Some((f, _sink)) = world(kind, |_| {}).await else {
        return;
    };
    let admin = &f.server.admin;
    let r = admin.request_reset(client(ZULIP), "not-an-address").await;
    assert_eq!(r.unwrap_err().to_string(), "Enter a valid email address.");
    let r = admin
        .request_reset(client("nowhere.example.test"), "hamlet@zulip.com")
        .await;
    assert!(
        matches!(r, Err(auth_service::ServiceError::NoSuchRealm)),
        "{r:?}"
    );
}

both_dbs!(
    a_real_account_gets_one_working_link,
    a_newer_request_kills_the_older_token,
    a_password_change_kills_the_token,
    an_expired_token_is_refused,
    addresses_without_a_resettable_account_get_nothing,
    notify_unknown_mails_a_notice,
    the_answer_does_not_wait_for_the_mail,
    requests_are_limited_per_address_and_per_ip,
    the_file_transport_writes_eml_files,
    bad_hosts_and_addresses_are_refused_at_once,
);
