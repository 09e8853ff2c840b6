//! Settings → Account & privacy (web.md §2, decisions 8, 9, 14): `GET /settings/account` (also
//! `/`, so Zulip's `/#settings/account-and-privacy` lands here) shows who is signed in, the "API
//! key" section and "Change your password". The key is shown only while the session is
//! re-authenticated (`api_key.rs`); the password change is [`App::change_password`].
//!
//! Also what every settings page shares: the signed-in visitor or the redirect to the login
//! page ([`signed_in`]), the form check of every POST ([`check_form`]) and the layout's shell.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{Password, Realm};
use auth_service::account::PasswordChangeError;
use auth_service::{App, ServiceError, WebSession};

use super::error::login_failure;
use super::shell::{Flash, Shell, redirect, render};
use super::{PageError, csrf, realm_of, session_of};
use crate::params::Params;

/// A signed-in visitor of a settings page.
pub struct SignedIn {
    pub realm: Realm,
    pub session: WebSession,
}

impl SignedIn {
    /// The layout's shell: the realm's name, the session's CSRF token, who is signed in.
    pub fn shell(&self) -> Shell {
        let mut shell = Shell::new(self.realm.name.as_str());
        shell.csrf = Some(self.session.csrf_secret.expose().to_owned());
        shell.signed_in = Some(self.session.user.full_name.clone());
        shell.org_admin = self.session.user.role.is_realm_admin() && !self.session.user.is_bot();
        shell
    }
}

/// The visitor's session, or (`Err`) the redirect to the login page that comes back to `back`.
pub async fn signed_in(
    req: &HttpRequest,
    app: &App,
    back: &str,
) -> Result<Result<SignedIn, HttpResponse>, PageError> {
    let realm = realm_of(req, app).await?;
    match session_of(req, app, &realm).await? {
        Some(session) => Ok(Ok(SignedIn { realm, session })),
        None => Ok(Err(redirect(&login_url(back), Vec::new()))),
    }
}

/// `/login/?next=<back>`.
pub fn login_url(back: &str) -> String {
    if back == "/" {
        return "/login/".to_owned();
    }
    let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/login/?next={next}")
}

/// The re-authentication form that comes back to `back`.
pub fn reauth_url(back: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/settings/reauth?next={next}")
}

/// The checks of every settings POST: same origin, and the session's CSRF token.
pub fn check_form(
    req: &HttpRequest,
    app: &App,
    session: &WebSession,
    params: &Params,
) -> Result<(), PageError> {
    csrf::check_origin(req, app)?;
    let submitted = csrf::submitted(req, params.optional(csrf::FORM_FIELD));
    csrf::check_token(session.csrf_secret.expose(), submitted.as_deref())
}

/// The visitor of a settings page, or an early return with the login redirect.
macro_rules! signed_in_or_login {
    ($req:expr, $app:expr, $back:expr) => {
        match super::settings::signed_in($req, $app, $back).await? {
            Ok(s) => s,
            Err(to_login) => return Ok(to_login),
        }
    };
}
pub(crate) use signed_in_or_login;

#[derive(Template)]
#[template(path = "settings_account.html")]
struct AccountPage<'a> {
    shell: Shell,
    nav: &'static str,
    full_name: &'a str,
    email: &'a str,
    role: &'static str,
    realm_name: &'a str,
    /// The key, while the session is re-authenticated.
    api_key: Option<String>,
    /// "Change your password" is offered.
    can_change_password: bool,
    /// The password is the directory's (decision 14).
    directory: bool,
    /// The password form's own message, shown next to it.
    password_error: Option<String>,
}

const ACCOUNT: &str = "/settings/account";
const PASSWORD_CHANGED: &str = "Your password has been changed.";

/// `GET /settings/account` and `GET /`.
pub async fn account_page(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let back = if req.path() == "/" { "/" } else { ACCOUNT };
    let s = signed_in_or_login!(&req, &app, back);
    let mut flashes = Vec::new();
    if req
        .query_string()
        .split('&')
        .any(|p| p == "password_changed")
    {
        flashes.push(Flash::info(PASSWORD_CHANGED));
    }
    account_view(&s, &app, StatusCode::OK, flashes, None).await
}

async fn account_view(
    s: &SignedIn,
    app: &App,
    status: StatusCode,
    flashes: Vec<Flash>,
    password_error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let user = &s.session.user;
    let api_key = if s.session.is_elevated() {
        Some(app.key_of(user).await?.expose().to_owned())
    } else {
        None
    };
    let mut shell = s.shell();
    shell.flashes = flashes;
    let page = AccountPage {
        shell,
        nav: "account",
        full_name: &user.full_name,
        email: &user.delivery_email,
        role: role_label(user.role),
        realm_name: &s.realm.name,
        api_key,
        can_change_password: app.can_change_password(user, &s.realm),
        directory: app.password_in_directory(user, &s.realm),
        password_error,
    };
    render(status, &page, Vec::new())
}

/// `POST /settings/account/password`: old password, new password twice. A wrong old password
/// counts in the login limit; success ends every other session and keeps this one.
pub async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, ACCOUNT);
    check_form(&req, &app, &s.session, &params)?;
    let old = Password::new(params.optional("old_password").unwrap_or_default());
    let new = Password::new(params.optional("new_password").unwrap_or_default());
    let again = Password::new(params.optional("new_password_confirm").unwrap_or_default());
    let problem = if old.expose().is_empty() || new.expose().is_empty() {
        Some("Please enter your old password and a new one.".to_owned())
    } else if new.expose() != again.expose() {
        Some("The two password fields didn’t match.".to_owned())
    } else {
        let host = crate::request::host(&req, &app);
        let client = crate::request::client(&req, &app, &host);
        match app.change_password(&s.session, client, &old, &new).await {
            Ok(()) => return Ok(redirect("/settings/account?password_changed", Vec::new())),
            Err(e) => Some(password_change_message(e)?),
        }
    };
    account_view(&s, &app, StatusCode::OK, Vec::new(), problem).await
}

/// What the password form says when a change fails (an outage is a page of its own).
fn password_change_message(e: PasswordChangeError) -> Result<String, PageError> {
    Ok(match e {
        PasswordChangeError::Service(ServiceError::Auth(f)) => {
            match login_failure(&ServiceError::Auth(f), "") {
                Some((status, msg)) if status.is_success() => msg,
                _ => return Err(PageError::Unavailable),
            }
        }
        PasswordChangeError::Service(other) => return Err(other.into()),
        other => other.to_string(),
    })
}

/// How a role is shown.
pub fn role_label(role: auth_core::Role) -> &'static str {
    use auth_core::Role;
    match role {
        Role::Owner => "Organization owner",
        Role::Administrator => "Organization administrator",
        Role::Moderator => "Moderator",
        Role::Member => "Member",
        Role::Guest => "Guest",
    }
}
