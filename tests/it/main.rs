//! Latchkey's integration tests, in one test binary: real servers over HTTP on loopback, on
//! SQLite and PostgreSQL, and the real `latchkey` binary. Each module is one suite (the shared
//! harness is the `latchkey_tests` library, `tests/src/`); nextest names a test
//! `it::<module>::<test>`, e.g. `cargo nextest run -p latchkey-tests -E 'test(/^ldap::/)'`.

mod admin_api;
mod api_keys;
mod bad_input;
mod cli;
mod clients;
mod data_files;
mod db_outage;
mod deploy;
mod dev_endpoints;
mod fetch_api_key;
mod garbage;
mod hardening;
mod ldap;
mod lifecycle;
mod multi_instance;
mod observability;
mod openapi;
mod pages;
mod portal;
mod rate_limits;
mod reset;
mod server_settings;
mod soak;
