//! The pages (docs/web.md): log in, log out and the signed-in start page, over plain HTTP with
//! a cookie jar (`http.rs`: headers, CSRF, redirects, sessions) and in a headless Chromium
//! (`browser.rs`: what a person does, keyboard-only use, screenshots); password reset
//! (`reset.rs` over HTTP, `reset_browser.rs` in Chromium, both with real mail); idle sessions
//! (`idle.rs`).

mod browser;
mod http;
mod idle;
mod reset;
mod reset_browser;
