//! The pages (docs/web.md): log in, log out and the signed-in start page, over plain HTTP with
//! a cookie jar (`http.rs`: headers, CSRF, redirects, sessions) and in a headless Chromium
//! (`browser.rs`: what a person does, keyboard-only use, screenshots); Settings → Account &
//! privacy (`settings.rs`) and Settings → Your bots (`bots.rs`) over HTTP, and in Chromium
//! (`settings_browser.rs`); password reset
//! (`reset.rs` over HTTP, `reset_browser.rs` in Chromium, both with real mail); idle sessions
//! (`idle.rs`); the organization pages for owners and administrators (`organization.rs`:
//! gating and methods; `organization_users.rs`: users and their actions;
//! `organization_log.rs`: bots, audit log and CSV, rate-limit blocks, two instances;
//! `organization_browser.rs` in Chromium).

mod bots;
mod browser;
mod http;
mod idle;
mod organization;
mod organization_browser;
mod organization_log;
mod organization_users;
mod reset;
mod reset_browser;
mod settings;
mod settings_browser;
