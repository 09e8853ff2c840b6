//! LDAP logins against a private slapd (search as the service account, one bind as the person,
//! account lookup) through the whole HTTP path, with `backends = ["ldap"]` and
//! `["email", "ldap"]` at bcrypt cost 12; and the references against the same slapd: raw ldap3
//! (reused and new connections) and django-auth-ldap's `authenticate()`.

use anyhow::{Context, Result, anyhow};
use latchkey_tests::DbKind;
use latchkey_tests::slapd::{self, Slapd};

use crate::reference::{self, Connections};
use crate::report::{Report, at_least};
use crate::server::{BenchServer, HOST, ServerConfig, ldap_section};
use crate::stats::{Stats, fmt_rate, ratio};
use crate::wrk::{Load, Wrk};

const PERSON: (&str, &str) = (slapd::HAMLET.uid, slapd::HAMLET.password);

fn ldap_server(d: &Slapd, backends: &'static [&'static str]) -> Result<BenchServer> {
    BenchServer::start(&ServerConfig {
        backends,
        ldap: Some(ldap_section(&d.uri())),
        ..ServerConfig::email(DbKind::Sqlite, 12)
    })?
    .ok_or_else(|| anyhow!("SQLite is always available"))
}

/// The three login rows of one server: success from 8 connections, then a wrong password and
/// an unknown user from 1.
fn logins(wrk: &Wrk, s: &BenchServer, tag: &str, fail_secs: u32) -> Result<[Stats; 3]> {
    let login = |user: &str, pw: &str| {
        Load::post_form(
            s.url("/api/v1/fetch_api_key"),
            HOST,
            &[("username", user), ("password", pw)],
        )
    };
    wrk.run("warm-up", &login(PERSON.0, PERSON.1)?.conns(8, 2).want(200))?;
    Ok([
        wrk.run(
            &format!("LDAP (SQLite), {tag}: fetch_api_key success, 8 connections"),
            &login(PERSON.0, PERSON.1)?.conns(8, 8).want(200),
        )?,
        wrk.run(
            &format!("LDAP (SQLite), {tag}: wrong password, 1 connection"),
            &login(PERSON.0, "wrong")?.conns(1, fail_secs).want(401),
        )?,
        wrk.run(
            &format!("LDAP (SQLite), {tag}: unknown user, 1 connection"),
            &login("nobody-at-all", "wrong")?
                .conns(1, fail_secs)
                .want(401),
        )?,
    ])
}

pub fn run(rt: &tokio::runtime::Runtime, wrk: &Wrk, report: &mut Report) -> Result<Option<String>> {
    let d = Slapd::start().context("starting slapd")?;
    let uri = d.uri();

    let raw_reused = rt.block_on(reference::raw_ldap3(
        &uri,
        Connections::Reused,
        2,
        6,
        PERSON,
    ))?;
    let raw_new = rt.block_on(reference::raw_ldap3(&uri, Connections::New, 2, 6, PERSON))?;
    let django = reference::django_auth_ldap(&uri, 2, 8, PERSON);

    let s = ldap_server(&d, &["ldap"])?;
    let [ok, wrong, unknown] = logins(wrk, &s, "backends = [ldap]", 5)?;
    s.stop();
    // Zulip's usual order, Email first, at bcrypt cost 12: a directory person's login must not
    // pay for bcrypt (the chain pads only failures).
    let s = ldap_server(&d, &["email", "ldap"])?;
    let [both_ok, both_wrong, both_unknown] = logins(wrk, &s, "backends = [email, ldap]", 6)?;
    s.stop();
    drop(d);

    let (django, versions) = match django {
        Ok((stats, versions)) => (stats, Some(versions)),
        Err(e) => {
            report.skipped("The django-auth-ldap reference", &e);
            (
                Stats::missing("django-auth-ldap `authenticate()`, 2 processes"),
                None,
            )
        }
    };

    report.table(
        "LDAP (OpenLDAP on loopback, bcrypt cost 12)",
        &[&ok, &wrong, &unknown, &both_ok, &both_wrong, &both_unknown],
        "",
    );
    report.table(
        "LDAP references (same slapd, same person, same run)",
        &[&raw_reused, &raw_new, &django],
        "The raw ldap3 rows do what a Latchkey login does on the wire (a subtree search for \
         `(uid=hamlet)` as the service account, then a simple bind as the entry found) and \
         nothing else: no HTTP, no database, no audit row. django-auth-ldap runs Django's \
         `authenticate()` with `LDAPBackend` (new connection per login, service bind, search, \
         person bind, user row updated in an in-memory SQLite database), as Zulip's LDAP login \
         does.",
    );

    let behind = ratio(both_ok.rate(), ok.rate());
    report.target(
        "LDAP login, `backends = [\"email\", \"ldap\"]` at bcrypt cost 12, vs `[\"ldap\"]` alone (8 connections each)",
        "≥ 0.90",
        format!(
            "{} vs {} logins/s",
            fmt_rate(both_ok.rate()),
            fmt_rate(ok.rate())
        ),
        format!("{behind:.2}"),
        at_least(behind, 0.90),
    );
    let vs_raw = ratio(ok.rate(), raw_reused.rate());
    report.target(
        "LDAP logins (`[\"ldap\"]`, 8 connections) vs raw ldap3 search + bind on reused connections (2 tasks)",
        "≥ 0.90",
        format!(
            "{} vs {} logins/s",
            fmt_rate(ok.rate()),
            fmt_rate(raw_reused.rate())
        ),
        format!("{vs_raw:.2}"),
        at_least(vs_raw, 0.90),
    );
    let vs_django = ratio(ok.rate(), django.rate());
    report.target(
        "LDAP logins (`[\"ldap\"]`, 8 connections) vs django-auth-ldap `authenticate()` (2 processes)",
        "≥ 7×",
        format!(
            "{} vs {} logins/s",
            fmt_rate(ok.rate()),
            fmt_rate(django.rate())
        ),
        format!("{vs_django:.1}×"),
        if django.requests > 0 {
            at_least(vs_django, 7.0)
        } else {
            None
        },
    );
    let lower = ok.p99_ms < raw_reused.p99_ms && ok.p99_ms < django.p99_ms;
    report.target(
        "LDAP login p99 vs raw ldap3 (reused) p99 and django-auth-ldap p99",
        "lower than both",
        format!(
            "{:.2} ms vs {:.2} ms and {:.2} ms",
            ok.p99_ms, raw_reused.p99_ms, django.p99_ms
        ),
        format!(
            "{:.2} / {:.2}",
            ratio(ok.p99_ms, raw_reused.p99_ms),
            ratio(ok.p99_ms, django.p99_ms)
        ),
        Some(lower && django.requests > 0),
    );
    report.target(
        "Raw ldap3 with a new connection per login (2 tasks), for reference",
        "(reported)",
        format!(
            "{} logins/s, p99 {:.2} ms (reused: {} logins/s)",
            fmt_rate(raw_new.rate()),
            raw_new.p99_ms,
            fmt_rate(raw_reused.rate())
        ),
        format!("{:.2}", ratio(raw_new.rate(), raw_reused.rate())),
        None,
    );
    report.ratios.push(format!(
        "LDAP behind Email: its failures still cost one verification: unknown user p50 / wrong password p50 = **{:.2}** ({:.1} ms / {:.1} ms).",
        ratio(both_unknown.p50_ms, both_wrong.p50_ms),
        both_unknown.p50_ms,
        both_wrong.p50_ms
    ));
    report.ratios.push(format!(
        "LDAP alone: an unknown user p50 / a wrong password p50 = **{:.2}** ({:.2} ms / {:.2} ms): the padding hides the skipped bind.",
        ratio(unknown.p50_ms, wrong.p50_ms),
        unknown.p50_ms,
        wrong.p50_ms
    ));
    Ok(versions)
}
