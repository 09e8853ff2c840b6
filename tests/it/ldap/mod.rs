//! The LDAP backend against real, private slapd servers (`latchkey_tests::slapd`), over HTTP and
//! through the `latchkey` binary:
//!
//! - [`login`]: search-then-bind and DN templates, mappings, hostile input;
//! - [`access`]: provisioning, deactivation, groups and access rules;
//! - [`connection`]: TLS, timeouts, outages; [`failover`]: a bad first server;
//! - [`limits`]: password policy, login limits and timing;
//! - [`links`]: accounts and the entries they are linked to; [`cli`]: `ldap sync`,
//!   `ldap query`, `config check --connect`; [`check`]: the checks that catch configuration
//!   mistakes, at the command line, at start and in `/readyz`;
//! - [`roles`]: roles from directory groups at login and sync;
//! - [`realm_config`]: a realm's own directory settings set at run time (service and CLI, two
//!   instances) and the administrator's tools (connection test by steps, person test, sync);
//!   [`directory_page`]: the same on Organization → Directory, over HTTP and in Chromium.
//!
//! What the suites share lives here: login tables ([`Login`], [`Outcome`], [`check_logins`]).

use latchkey_tests::slapd::SeedUser;
use latchkey_tests::{Client, Reply};

mod access;
mod check;
mod cli;
mod connection;
mod directory_page;
mod failover;
mod limits;
mod links;
mod login;
mod realm_config;
mod roles;

/// Zulip's answer to a person a group or an access rule keeps out of the realm.
const NOT_ALLOWED: &str = "Your account is not allowed to log in to this organization";

/// What a login must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 200, `result: success`.
    Success,
    /// 401 `AUTHENTICATION_FAILED`, [`NOT_ALLOWED`]: refused by a group or access rule.
    NotAllowed,
    /// 503 `AUTHENTICATION_BACKEND_UNAVAILABLE`: the directory could not be used.
    Unavailable,
}

impl Outcome {
    /// Checks `r` against the outcome; `what` (the case, the login) leads every failure message.
    #[track_caller]
    fn check(self, r: &Reply, what: &str) {
        let (status, result) = match self {
            Outcome::Success => (200, "success"),
            Outcome::NotAllowed => (401, "error"),
            Outcome::Unavailable => (503, "error"),
        };
        assert_eq!(
            r.status, status,
            "{what}: expected {self:?}; body: {}",
            r.raw
        );
        assert_eq!(r.body["result"], result, "{what}: {}", r.raw);
        match self {
            Outcome::Success => assert_eq!(r.body["msg"], "", "{what}: {}", r.raw),
            Outcome::NotAllowed => {
                assert_eq!(r.body["code"], "AUTHENTICATION_FAILED", "{what}: {}", r.raw);
                assert_eq!(r.body["msg"], NOT_ALLOWED, "{what}: {}", r.raw);
            }
            Outcome::Unavailable => {
                assert_eq!(
                    r.body["code"], "AUTHENTICATION_BACKEND_UNAVAILABLE",
                    "{what}: {}",
                    r.raw
                );
            }
        }
    }
}

/// One row of a login table: a seed person logs in to a realm with the right password.
type Login = (&'static str, &'static SeedUser, Outcome);

/// Runs the logins in order; a failure names `case` and the row.
async fn check_logins(c: &Client, case: &str, logins: &[Login]) {
    for &(realm, who, outcome) in logins {
        let r = c.fetch_api_key(realm, who.uid, who.password).await;
        outcome.check(&r, &format!("{case}: {} in {realm}", who.uid));
    }
}
