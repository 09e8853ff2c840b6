//! The LDAP backend against real, private slapd servers (`latchkey_tests::slapd`), over HTTP and
//! through the `latchkey` binary:
//!
//! - [`login`]: search-then-bind and DN templates, mappings, hostile input;
//! - [`access`]: provisioning, deactivation, groups and access rules;
//! - [`connection`]: TLS, timeouts, outages; [`failover`]: a bad first server;
//! - [`limits`]: password policy, login limits and timing;
//! - [`links`]: accounts and the entries they are linked to; [`cli`]: `ldap sync`,
//!   `ldap query`, `config check --connect`; [`check`]: the checks that catch configuration
//!   mistakes, at the command line, at start and in `/readyz`.

mod access;
mod check;
mod cli;
mod connection;
mod failover;
mod limits;
mod links;
mod login;
