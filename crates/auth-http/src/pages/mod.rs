//! The pages Latchkey serves itself (docs/web.md): server-rendered with askama templates from
//! `templates/` (checked when the crate compiles), a little JavaScript, no external CDN.
//!
//! - [`shell`]: the layout every page extends (asset URLs, flash messages, the CSRF input, who
//!   is signed in) and the headers every page carries.
//! - [`error`]: [`PageError`], **the one place** a page's failure becomes a status and a page
//!   (never the JSON envelope), and the login form's messages.
//! - [`csrf`]: cookies, the per-session CSRF secret, the pre-session double-submit cookie and
//!   the Origin/Referer check; [`next`]: which `next` targets are followed.
//! - [`login`] (log in, log out), [`portal`] (the login portal's hooks in the login page and
//!   `/logout/`), [`home`] (the signed-in start page), [`assets`] (the
//!   embedded stylesheet and script, served with a content hash and a long cache).
//! - [`reset`] (password reset: the form, the mailed link, the new password), [`notice`]
//!   (one-sentence pages and `/accounts/deactivated/`).
//!
//! - `directory` (Organization → Directory: the realm's own LDAP settings, Test connection,
//!   Test a person, Sync now; `directory_form` reads and fills its form).
//! - [`settings`] (Settings → Account & privacy, and what the settings pages share),
//!   `api_key` (the password re-entry, zuliprc, a new key), `your_bots` (Settings → Your bots).
//! - `organization` (`/organization/`: owners' and administrators' pages — login methods,
//!   users, bots, audit log, rate-limit blocks; a 403 page for everyone else).
//!
//! Other page groups (password reset) add a file here and reuse these.

mod api_key;
pub mod assets;
pub mod csrf;
mod directory;
mod directory_form;
pub mod error;
mod home;
mod login;
pub mod next;
mod notice;
mod organization;
mod portal;
mod reset;
pub mod settings;
pub mod shell;
mod your_bots;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_service::{App, WebSession};

pub use error::PageError;

/// The pages' routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/login/", "/accounts/login/"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(login::login_page))
                .route(web::head().to(login::login_page))
                .route(web::post().to(login::login_submit))
                .route(web::route().method(Method::OPTIONS).to(options_ok))
                .default_service(web::to(method_not_allowed)),
        );
    }
    cfg.service(
        web::resource("/accounts/logout/")
            .route(web::get().to(login::logout_confirm))
            .route(web::head().to(login::logout_confirm))
            .route(web::post().to(login::logout_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/")
            .route(web::get().to(home::home))
            .route(web::head().to(home::home))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/logout/")
            .route(web::get().to(portal::logout_confirm))
            .route(web::head().to(portal::logout_confirm))
            .route(web::post().to(portal::logout_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/static/{name}").route(web::get().to(assets::serve)))
    .service(
        web::resource("/accounts/deactivated/")
            .route(web::get().to(notice::deactivated))
            .route(web::head().to(notice::deactivated))
            .default_service(web::to(method_not_allowed)),
    );
    reset::configure(cfg);
    configure_settings(cfg);
    organization::configure(cfg);
    configure_directory(cfg);
}

/// Organization → Directory (the realm's own LDAP settings and their tools).
fn configure_directory(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organization/directory")
            .route(web::get().to(directory::directory_page))
            .route(web::head().to(directory::directory_page))
            .route(web::post().to(directory::save))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/directory/test-connection")
            .route(web::post().to(directory::test_connection))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/directory/test-person")
            .route(web::post().to(directory::test_person))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/directory/sync")
            .route(web::post().to(directory::sync))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Settings → Account & privacy and Settings → Your bots.
fn configure_settings(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings/account")
            .route(web::get().to(settings::account_page))
            .route(web::head().to(settings::account_page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/account/password")
            .route(web::post().to(settings::change_password))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/reauth")
            .route(web::get().to(api_key::reauth_page))
            .route(web::head().to(api_key::reauth_page))
            .route(web::post().to(api_key::reauth_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/account/zuliprc")
            .route(web::post().to(api_key::own_zuliprc))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/account/regenerate")
            .route(web::get().to(api_key::regenerate_confirm))
            .route(web::post().to(api_key::regenerate_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/your-bots")
            .route(web::get().to(your_bots::bots_page))
            .route(web::head().to(your_bots::bots_page))
            .route(web::post().to(your_bots::add_bot))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/your-bots/{id}/zuliprc")
            .route(web::post().to(your_bots::bot_zuliprc))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/settings/your-bots/{id}/{action}")
            .route(web::get().to(your_bots::confirm_action))
            .route(web::post().to(your_bots::do_action))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn options_ok() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Allow", "GET, HEAD, POST, OPTIONS"))
        .finish()
}

async fn method_not_allowed() -> Result<HttpResponse, PageError> {
    Err(PageError::MethodNotAllowed)
}

/// The realm the request's host names, or the page saying there is none.
pub async fn realm_of(req: &HttpRequest, app: &App) -> Result<auth_core::Realm, PageError> {
    let host = crate::request::host(req, app);
    let (subdomain, realm) = app.realm_of_host(&host).await?;
    crate::logging::note_realm(req, &subdomain);
    realm.ok_or(PageError::NoSuchRealm)
}

/// The visitor's live session in the realm, if any.
pub async fn session_of(
    req: &HttpRequest,
    app: &App,
    realm: &auth_core::Realm,
) -> Result<Option<WebSession>, PageError> {
    let Some(cookie) = csrf::session_cookie(req) else {
        return Ok(None);
    };
    let session = app.session(realm, cookie.as_str()).await?;
    if let Some(s) = &session {
        crate::logging::note_user(req, s.user.id);
    }
    Ok(session)
}
