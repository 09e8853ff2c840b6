//! The API key on the settings pages (web.md §2.2–2.3, decisions 8 and 9): the password re-entry
//! (`/settings/reauth`, [`App::reauthenticate`]: same backends and limits as a login, then the
//! session is "elevated" for a few minutes), the zuliprc download (a POST answered with an
//! attachment, never a key in a URL) and "Generate new API key" with its confirmation page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{BackendKind, Password};
use auth_service::{App, ServiceError, account};

use super::error::login_failure;
use super::settings::{SignedIn, check_form, reauth_url, signed_in_or_login};
use super::shell::{Flash, Shell, page_headers, redirect, render};
use super::{PageError, next};
use crate::params::Params;

#[derive(Template)]
#[template(path = "reauth.html")]
struct ReauthPage<'a> {
    shell: Shell,
    title: &'static str,
    next: &'a str,
    /// The realm asks for a password (Email or LDAP on).
    asks_password: bool,
    /// "If you don't know your password, you can reset it." (not for directory people).
    show_reset: bool,
}

/// A page that asks "are you sure?" before a POST.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage<'a> {
    pub shell: Shell,
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'static str,
    pub cancel: &'a str,
}

const ACCOUNT: &str = "/settings/account";

/// The `next` of a request's query string, if a safe path; else the account page.
fn next_of(req: &HttpRequest) -> String {
    let raw = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()
        .and_then(|v| v.into_iter().rev().find(|(k, _)| k == "next"))
        .map(|(_, v)| v)
        .unwrap_or_default();
    safe_or_account(&raw)
}

fn safe_or_account(raw: &str) -> String {
    match next::safe_next(raw) {
        n if n == "/" && raw != "/" => ACCOUNT.to_owned(),
        n => n,
    }
}

fn reauth_form(
    s: &SignedIn,
    app: &App,
    status: StatusCode,
    flash: Option<Flash>,
    next: &str,
) -> Result<HttpResponse, PageError> {
    let mut shell = s.shell();
    shell.flashes.extend(flash);
    let user = &s.session.user;
    let page = ReauthPage {
        shell,
        title: if next.starts_with("/settings/your-bots") {
            "Show API keys"
        } else {
            "Show API key"
        },
        next,
        asks_password: app.asks_for_password(&s.realm),
        show_reset: app.method_enabled(BackendKind::Email, Some(&s.realm))
            && !app.password_in_directory(user, &s.realm),
    };
    render(status, &page, Vec::new())
}

/// `GET /settings/reauth?next=…`: "Please re-enter your password to confirm your identity."
pub async fn reauth_page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let next = next_of(&req);
    let s = signed_in_or_login!(&req, &app, &reauth_url(&next));
    reauth_form(&s, &app, StatusCode::OK, None, &next)
}

/// `POST /settings/reauth`: the password checked as a login would check it; right, the
/// session is elevated and the browser goes back to `next`.
pub async fn reauth_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let next = safe_or_account(params.optional("next").unwrap_or_default());
    let mut s = signed_in_or_login!(&req, &app, &reauth_url(&next));
    check_form(&req, &app, &s.session, &params)?;
    let password = Password::new(params.optional("password").unwrap_or_default());
    let host = crate::request::host(&req, &app);
    let client = crate::request::client(&req, &app, &host);
    let result = app.reauthenticate(&mut s.session, client, &password).await;
    for d in &result.decisions {
        crate::limits::note(&req, d);
    }
    let msg = match result.outcome {
        Ok(_) => return Ok(redirect(&next, Vec::new())),
        Err(ServiceError::Invalid(msg)) => msg,
        Err(e @ ServiceError::Auth(_)) => match login_failure(&e, "") {
            Some((status, msg)) if status.is_success() => msg,
            _ => return Err(PageError::Unavailable),
        },
        Err(e) => return Err(e.into()),
    };
    reauth_form(&s, &app, StatusCode::OK, Some(Flash::error(msg)), &next)
}

/// A zuliprc as a download (decision 9).
pub fn zuliprc_download(body: String) -> HttpResponse {
    let mut b = HttpResponse::Ok();
    page_headers(&mut b);
    b.insert_header(("Content-Disposition", "attachment; filename=\"zuliprc\""))
        .content_type("application/octet-stream")
        .body(body)
}

/// `POST /settings/account/zuliprc`: the account's zuliprc, while re-authenticated.
pub async fn own_zuliprc(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, ACCOUNT);
    check_form(&req, &app, &s.session, &params)?;
    if !s.session.is_elevated() {
        return Ok(redirect(&reauth_url(ACCOUNT), Vec::new()));
    }
    let user = &s.session.user;
    let key = app.key_of(user).await?;
    let site = app.realm_site(&s.realm);
    Ok(zuliprc_download(account::zuliprc(
        &user.delivery_email,
        &key,
        &site,
    )))
}

const REGENERATE: &str = "/settings/account/regenerate";

/// `GET /settings/account/regenerate`: "Generate new API key?" (while re-authenticated).
pub async fn regenerate_confirm(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let s = signed_in_or_login!(&req, &app, REGENERATE);
    if !s.session.is_elevated() {
        return Ok(redirect(&reauth_url(REGENERATE), Vec::new()));
    }
    let page = ConfirmPage {
        shell: s.shell(),
        title: "Generate new API key",
        message: "Your current API key will stop working at once: every app, script or \
                  zuliprc file that uses it must be given the new key.",
        action: REGENERATE,
        button: "Generate new API key",
        cancel: "/settings/account#api-key",
    };
    render(StatusCode::OK, &page, Vec::new())
}

/// `POST /settings/account/regenerate`: a new key for the account (the old one is refused at
/// once), then the account page showing it.
pub async fn regenerate_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, REGENERATE);
    check_form(&req, &app, &s.session, &params)?;
    if !s.session.is_elevated() {
        return Ok(redirect(&reauth_url(REGENERATE), Vec::new()));
    }
    app.regenerate_own_key(&s.session.as_caller()).await?;
    Ok(redirect("/settings/account#api-key", Vec::new()))
}
