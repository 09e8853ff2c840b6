//! Organization settings for the realm's owners and administrators (`/organization/`, issue
//! 14; docs/admin-guide.md): login methods (`auth_methods`), people and what an administrator
//! does to them (`users`), every bot with its owner (`bots`), the audit log and its CSV export
//! (`audit`), logins refused for too many failures (`blocks`). Each page calls the service
//! function the API and the CLI call (`auth_service::members`, `admin`, `audit_log`, `blocks`).
//!
//! What every page here shares: the gate (signed in, else the login page; an owner or an
//! administrator, else a 403 page — checked on every request, GET and POST, before any data is
//! read or changed), the form check of every POST (the session's CSRF token and a same-origin
//! `Origin`/`Referer`), the flash message shown after a POST's redirect (`?done=<what>`, a
//! fixed sentence per code, so no text travels in the URL), and how a service refusal becomes
//! a page.

mod audit;
mod auth_methods;
mod blocks;
mod bots;
mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::{App, Caller, ServiceError, admin};

use super::settings::{SignedIn, check_form};
use super::shell::{Flash, Shell, render};
use super::{PageError, method_not_allowed};
use crate::params::Params;

/// What a member, moderator or guest sees on every organization page.
pub const ADMINS_ONLY: &str =
    "Only the organization's owners and administrators can open the organization settings.";

/// The organization pages' routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organization/")
            .route(web::get().to(index))
            .route(web::head().to(index))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/auth-methods")
            .route(web::get().to(auth_methods::page))
            .route(web::head().to(auth_methods::page))
            .route(web::post().to(auth_methods::submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/users")
            .route(web::get().to(users::list_page))
            .route(web::head().to(users::list_page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/users/{id}")
            .route(web::get().to(users::person_page))
            .route(web::head().to(users::person_page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/users/{id}/{action}")
            .route(web::post().to(users::act))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/bots")
            .route(web::get().to(bots::page))
            .route(web::head().to(bots::page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/audit")
            .route(web::get().to(audit::page))
            .route(web::head().to(audit::page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/audit.csv")
            .route(web::get().to(audit::csv_export))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/organization/limits")
            .route(web::get().to(blocks::page))
            .route(web::head().to(blocks::page))
            .route(web::post().to(blocks::lift))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A signed-in owner or administrator.
pub struct Admin {
    pub s: SignedIn,
    pub caller: Caller,
}

impl Admin {
    /// The layout's shell with the flash of `?done=`, if any.
    fn shell(&self, req: &HttpRequest) -> Shell {
        let mut shell = self.s.shell();
        shell.flashes.extend(done_flash(req));
        shell
    }
}

/// The visitor, if an owner or administrator: `Ok(Err(redirect))` to the login page when
/// nobody is signed in, the 403 page for anyone else.
pub async fn admin_of(
    req: &HttpRequest,
    app: &App,
    back: &str,
) -> Result<Result<Admin, HttpResponse>, PageError> {
    let s = match super::settings::signed_in(req, app, back).await? {
        Ok(s) => s,
        Err(to_login) => return Ok(Err(to_login)),
    };
    let caller = s.session.as_caller();
    if admin::require_admin(&caller).is_err() {
        tracing::info!(user_id = %caller.user.id, path = req.path(), "organization page refused");
        return Err(PageError::Forbidden(ADMINS_ONLY.to_owned()));
    }
    Ok(Ok(Admin { s, caller }))
}

/// The visitor of an organization page, or an early return with the login redirect.
macro_rules! admin_or_login {
    ($req:expr, $app:expr, $back:expr) => {
        match $crate::pages::organization::admin_of($req, $app, $back).await? {
            Ok(a) => a,
            Err(to_login) => return Ok(to_login),
        }
    };
}
use admin_or_login;

/// A POST's form, read after the gate, with the CSRF and origin checks passed.
async fn checked_form(
    req: &HttpRequest,
    payload: web::Payload,
    app: &App,
    back: &str,
) -> Result<Result<(Admin, Params), HttpResponse>, PageError> {
    let params = Params::of(req, payload).await?;
    let a = match admin_of(req, app, back).await? {
        Ok(a) => a,
        Err(to_login) => return Ok(Err(to_login)),
    };
    check_form(req, app, &a.s.session, &params)?;
    Ok(Ok((a, params)))
}

/// The sentence a `?done=` code stands for.
fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "methods" => "The authentication methods were saved.",
        "unchanged" => "Nothing changed.",
        "role" => "The role was changed.",
        "deactivated" => "The account was deactivated; its bots and API key stopped working.",
        "reactivated" => "The account was reactivated.",
        "reset" => {
            "The password no longer works and the person's sessions ended; a reset link is \
             being mailed to them."
        }
        "reset-nomail" => {
            "The password no longer works and the person's sessions ended. This organization \
             has no Email method on, so no reset link was sent."
        }
        "key" => {
            "The API key was replaced: the old key stopped working on every server. The person \
             finds the new one under Settings → Account & privacy."
        }
        "lifted" => "The block was lifted: that name can try to log in again.",
        _ => return None,
    })
}

/// The flash of a `?done=` code.
fn done_flash(req: &HttpRequest) -> Option<Flash> {
    query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| done_text(&v))
        .map(Flash::info)
}

/// The query string's pairs (nothing when it does not parse).
fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

/// How a service refusal shows on these pages: a missing role is the 403 page, an unknown
/// account a 404 page, bad input the message on a 400 page; outages as everywhere.
fn refused(e: ServiceError) -> PageError {
    match e {
        ServiceError::Principal(msg) => PageError::Forbidden(msg.to_owned()),
        ServiceError::Forbidden(msg) if msg.starts_with("No such") => {
            PageError::Missing(msg.to_owned())
        }
        ServiceError::Forbidden(msg) => PageError::BadRequest(msg.to_owned()),
        other => other.into(),
    }
}

#[derive(Template)]
#[template(path = "org_index.html")]
struct IndexPage {
    shell: Shell,
    nav: &'static str,
}

/// `GET /organization/`: the sections.
async fn index(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, "/organization/");
    let page = IndexPage {
        shell: a.shell(&req),
        nav: "",
    };
    render(StatusCode::OK, &page, Vec::new())
}
