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
//!
//! Other page groups (settings, bots, password reset) add a file here and reuse these.

pub mod assets;
pub mod csrf;
pub mod error;
mod home;
mod login;
pub mod next;
mod portal;
pub mod shell;

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
    .service(web::resource("/static/{name}").route(web::get().to(assets::serve)));
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
