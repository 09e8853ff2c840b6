//! "Forgot your password?" (web.md §4, decisions 1–3 and 13; docs/reset.md for the service).
//!
//! - `GET/POST /accounts/password/reset/`: the form. A well-formed address always goes to
//!   `…/reset/done/` ("Check your email"), whatever it is: `App::request_reset` queues all the
//!   work (lookup, directory, limits, mail) and answers at once. CSRF: the pre-session
//!   double-submit cookie, as the login form.
//! - `GET /accounts/password/reset/<token>/` (the mailed link): a working token is moved into a
//!   short-lived `HttpOnly` cookie and the browser goes to the token-free
//!   `…/reset/set-password/` (Django's trick), with `Referrer-Policy: no-referrer`.
//! - `GET/POST /accounts/password/reset/set-password/`: the new password twice; success sets it
//!   through `App::reset_password` (which ends every session of the account) and goes to
//!   `/accounts/password/done/`, not logged in.
//!
//! The token never reaches a log line (`logging.rs` masks it in the request path) and never an
//! error message.

use actix_web::cookie::Cookie;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{Password, Realm, policy};
use auth_service::reset::ResetError;
use auth_service::{App, ServiceError};

use super::notice::{Said, no_referrer, notice};
use super::shell::{Flash, Shell, redirect, render};
use super::{PageError, csrf, method_not_allowed, realm_of};
use crate::params::Params;

/// Where a valid request goes.
pub const DONE: &str = "/accounts/password/reset/done/";
/// The token-free form that sets the new password.
pub const SET_PASSWORD: &str = "/accounts/password/reset/set-password/";
/// Where a reset ends.
pub const COMPLETE: &str = "/accounts/password/done/";

pub const INVALID_LINK: &str = "Sorry, the link you provided is invalid or has already been used.";
pub const MISMATCH: &str = "The two password fields didn’t match.";
pub const TOO_WEAK: &str = "The password is too weak.";
pub const REQUIRED: &str = "This field is required.";
/// Django's `SetPasswordForm` limit.
const MAX_PASSWORD_CHARS: usize = 100;
/// How long the token cookie lives (the token's own lifetime still applies).
const TOKEN_COOKIE_SECS: i64 = 30 * 60;

/// The reset pages' routes (the fixed paths before the token's).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/accounts/password/reset/")
            .route(web::get().to(reset_form))
            .route(web::head().to(reset_form))
            .route(web::post().to(reset_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(DONE)
            .route(web::get().to(reset_done))
            .route(web::head().to(reset_done))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(SET_PASSWORD)
            .route(web::get().to(set_password_form))
            .route(web::head().to(set_password_form))
            .route(web::post().to(set_password_submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/accounts/password/reset/{token}/")
            .route(web::get().to(token_link))
            .route(web::head().to(token_link))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(COMPLETE)
            .route(web::get().to(reset_complete))
            .route(web::head().to(reset_complete))
            .default_service(web::to(method_not_allowed)),
    );
}

#[derive(Template)]
#[template(path = "reset_form.html")]
struct ResetForm<'a> {
    shell: Shell,
    realm_name: &'a str,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordForm<'a> {
    shell: Shell,
    email: &'a str,
}

fn token_cookie_name(req: &HttpRequest) -> &'static str {
    if csrf::secure(req) {
        "__Host-latchkey_reset"
    } else {
        "latchkey_reset"
    }
}

fn token_cookie(req: &HttpRequest, token: String) -> Cookie<'static> {
    let mut c = csrf::cookie(req, token_cookie_name(req), token);
    c.set_max_age(CookieDuration::seconds(TOKEN_COOKIE_SECS));
    c
}

fn removed_token_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut c = csrf::cookie(req, token_cookie_name(req), String::new());
    c.make_removal();
    c
}

/// The realm of the host, unless it is deactivated (its pages send visitors to
/// `/accounts/deactivated/`).
async fn live_realm(req: &HttpRequest, app: &App) -> Result<Realm, PageError> {
    let realm = realm_of(req, app).await?;
    if realm.deactivated {
        return Err(PageError::RealmDeactivated);
    }
    Ok(realm)
}

/// A form POST's checks: the origin, then the pre-session CSRF token.
fn check_form(req: &HttpRequest, app: &App, params: &Params) -> Result<(), PageError> {
    csrf::check_origin(req, app)?;
    let expected = csrf::pre_session_cookie(req).unwrap_or_default();
    let submitted = csrf::submitted(req, params.optional(csrf::FORM_FIELD));
    csrf::check_token(&expected, submitted.as_deref())
}

fn show_reset_form(
    req: &HttpRequest,
    realm: &Realm,
    flash: Option<Flash>,
    email: &str,
) -> Result<HttpResponse, PageError> {
    let (token, set_cookie) = csrf::pre_session_token(req);
    let mut shell = Shell::new(realm.name.as_str());
    shell.csrf = Some(token);
    shell.flashes.extend(flash);
    let page = ResetForm {
        shell,
        realm_name: &realm.name,
        email,
    };
    render(StatusCode::OK, &page, set_cookie.into_iter().collect())
}

/// `GET /accounts/password/reset/`: "Reset your password".
pub async fn reset_form(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let realm = live_realm(&req, &app).await?;
    show_reset_form(&req, &realm, None, "")
}

/// `POST /accounts/password/reset/`: a malformed address shows the form again; any other goes
/// to "Check your email" — the same answer, at once, for every address.
pub async fn reset_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = live_realm(&req, &app).await?;
    let params = Params::of(&req, payload).await?;
    check_form(&req, &app, &params)?;
    let email = params
        .optional("email")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if email.is_empty() {
        return show_reset_form(&req, &realm, Some(Flash::error(REQUIRED)), "");
    }
    let host = crate::request::host(&req, &app);
    match app
        .request_reset(crate::request::client(&req, &app, &host), &email)
        .await
    {
        Ok(()) => Ok(no_referrer(redirect(DONE, Vec::new()))),
        Err(ServiceError::Invalid(_)) => {
            let flash = Flash::error(policy::INVALID_EMAIL_MSG);
            show_reset_form(&req, &realm, Some(flash), &email)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /accounts/password/reset/done/`.
pub async fn reset_done(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let said = Said {
        title: "Check your email",
        message: "Check your email in a few minutes to finish the process.",
        link: Some(("/login/", "Back to log in")),
    };
    Ok(no_referrer(notice(&realm.name, said, Vec::new())?))
}

/// "Sorry, the link you provided is invalid or has already been used.", forgetting any token
/// the browser holds.
fn invalid_link(req: &HttpRequest, realm: &Realm) -> Result<HttpResponse, PageError> {
    let said = Said {
        title: "Reset your password",
        message: INVALID_LINK,
        link: Some(("/accounts/password/reset/", "Request a new link")),
    };
    let page = notice(&realm.name, said, vec![removed_token_cookie(req)])?;
    Ok(no_referrer(page))
}

/// `GET /accounts/password/reset/<token>/`: a working token goes into the token cookie and the
/// browser to the token-free form; any other shows the invalid-link page.
pub async fn token_link(
    req: HttpRequest,
    path: web::Path<String>,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let token = path.into_inner();
    let host = crate::request::host(&req, &app);
    match app.check_reset_token(&host, &token).await? {
        Some((user, _)) => {
            crate::logging::note_user(&req, user.id);
            let cookie = token_cookie(&req, token);
            Ok(no_referrer(redirect(SET_PASSWORD, vec![cookie])))
        }
        None => invalid_link(&req, &realm),
    }
}

/// The token the browser holds and the account it is for, when it still works here.
async fn held_token(
    req: &HttpRequest,
    app: &App,
) -> Result<Option<(String, auth_core::User)>, PageError> {
    let Some(token) = req
        .cookie(token_cookie_name(req))
        .map(|c| c.value().to_owned())
    else {
        return Ok(None);
    };
    let host = crate::request::host(req, app);
    Ok(app
        .check_reset_token(&host, &token)
        .await?
        .map(|(user, _)| (token, user)))
}

fn show_set_password(
    req: &HttpRequest,
    realm: &Realm,
    email: &str,
    flash: Option<Flash>,
) -> Result<HttpResponse, PageError> {
    let (token, set_cookie) = csrf::pre_session_token(req);
    let mut shell = Shell::new(realm.name.as_str());
    shell.csrf = Some(token);
    shell.flashes.extend(flash);
    let page = SetPasswordForm { shell, email };
    render(StatusCode::OK, &page, set_cookie.into_iter().collect())
}

/// `GET /accounts/password/reset/set-password/`: the account's email and the two fields.
pub async fn set_password_form(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let Some((_, user)) = held_token(&req, &app).await? else {
        return invalid_link(&req, &realm);
    };
    crate::logging::note_user(&req, user.id);
    show_set_password(&req, &realm, &user.delivery_email, None)
}

/// What is wrong with the two fields, before the policy is asked.
fn field_problem(new1: &str, new2: &str) -> Option<String> {
    if new1.is_empty() || new2.is_empty() {
        return Some(REQUIRED.to_owned());
    }
    let longest = new1.chars().count().max(new2.chars().count());
    if longest > MAX_PASSWORD_CHARS {
        return Some(format!(
            "Ensure this value has at most {MAX_PASSWORD_CHARS} characters (it has {longest})."
        ));
    }
    (new1 != new2).then(|| MISMATCH.to_owned())
}

/// `POST /accounts/password/reset/set-password/`: checks the fields, sets the password (the
/// token is used up and every session of the account ends), forgets the token cookie and goes
/// to "We've reset your password!".
pub async fn set_password_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let params = Params::of(&req, payload).await?;
    check_form(&req, &app, &params)?;
    let Some((token, user)) = held_token(&req, &app).await? else {
        return invalid_link(&req, &realm);
    };
    crate::logging::note_user(&req, user.id);
    let new1 = params.optional("new_password1").unwrap_or_default();
    let new2 = params.optional("new_password2").unwrap_or_default();
    if let Some(problem) = field_problem(new1, new2) {
        let flash = Some(Flash::error(problem));
        return show_set_password(&req, &realm, &user.delivery_email, flash);
    }
    let host = crate::request::host(&req, &app);
    match app
        .reset_password(&host, &token, &Password::new(new1))
        .await
    {
        Ok(_) => Ok(no_referrer(redirect(
            COMPLETE,
            vec![removed_token_cookie(&req)],
        ))),
        Err(ResetError::WeakPassword(_)) => {
            let flash = Some(Flash::error(TOO_WEAK));
            show_set_password(&req, &realm, &user.delivery_email, flash)
        }
        Err(ResetError::InvalidLink) => invalid_link(&req, &realm),
        Err(ResetError::Service(e)) => Err(e.into()),
    }
}

/// `GET /accounts/password/done/`: "We've reset your password!" and a "Log in" link.
pub async fn reset_complete(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let said = Said {
        title: "We've reset your password!",
        message: "You can now log in with your new password.",
        link: Some(("/login/", "Log in")),
    };
    Ok(no_referrer(notice(&realm.name, said, Vec::new())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_before_the_policy() {
        assert_eq!(field_problem("", "x").as_deref(), Some(REQUIRED));
        assert_eq!(field_problem("abc", "abd").as_deref(), Some(MISMATCH));
        let long = "é".repeat(101);
        assert_eq!(
            field_problem(&long, &long).as_deref(),
            Some("Ensure this value has at most 100 characters (it has 101).")
        );
        assert_eq!(field_problem("same-pw", "same-pw"), None);
    }
}
