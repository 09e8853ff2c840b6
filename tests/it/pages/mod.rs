//! The pages (docs/web.md): log in, log out and the signed-in start page, over plain HTTP with
//! a cookie jar (`http.rs`: headers, CSRF, redirects, sessions) and in a headless Chromium
//! (`browser.rs`: what a person does, keyboard-only use, screenshots); Settings → Account &
//! privacy (`settings.rs`) and Settings → Your bots (`bots.rs`) over HTTP, and in Chromium
//! (`settings_browser.rs`); password reset
//! (`reset.rs` over HTTP, `reset_browser.rs` in Chromium, both with real mail); idle sessions
//! (`idle.rs`).

mod bots;
mod browser;
mod http;
mod idle;
mod reset;
mod reset_browser;
mod settings;
mod settings_browser;
