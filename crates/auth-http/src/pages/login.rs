//! Log in and log out (web.md §1, decisions 1, 7, 10, 12). The form posts to
//! `/accounts/login/`; the login itself is `App::password_login`, the path `fetch_api_key`
//! takes (same backends, same rate limits), and a success starts a session (a fresh id and
//! CSRF secret) and redirects to a safe `next`. Logout is a POST with the session's token; a
//! GET only shows a one-button confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::Password;
use auth_service::App;
use auth_service::login::LoginOptions;

use super::error::login_failure;
use super::shell::{Flash, Shell, redirect, render};
use super::{PageError, csrf, next, portal, realm_of, session_of};
use crate::params::Params;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    shell: Shell,
    realm_name: &'a str,
    password: bool,
    email: bool,
    username_label: &'static str,
    username_type: &'static str,
    username: &'a str,
    next: &'a str,
    /// On a login portal: the `rd` and `rm` to carry.
    portal: &'a portal::Carry,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    shell: Shell,
    realm_name: &'a str,
}

/// The username field's label and input type (web.md §1.2).
fn username_field(o: &LoginOptions) -> (&'static str, &'static str) {
    if o.require_email_format_usernames {
        ("Email", "email")
    } else if o.email {
        ("Email or username", "text")
    } else {
        ("Username", "text")
    }
}

/// The query string's value of `name` (last wins), if any.
fn query_value(req: &HttpRequest, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The login form, with a message and the typed name when a login failed.
fn login_form(
    req: &HttpRequest,
    options: &LoginOptions,
    status: StatusCode,
    flash: Option<Flash>,
    username: &str,
    next: &str,
    carry: &portal::Carry,
) -> Result<HttpResponse, PageError> {
    let (token, set_cookie) = csrf::pre_session_token(req);
    let realm_name = options
        .realm
        .as_ref()
        .map_or("Latchkey", |r| r.name.as_str());
    let mut shell = Shell::new(realm_name);
    shell.csrf = Some(token);
    shell.flashes.extend(flash);
    let (username_label, username_type) = username_field(options);
    let page = LoginPage {
        shell,
        realm_name,
        password: options.password,
        email: options.email,
        username_label,
        username_type,
        username,
        next,
        portal: carry,
    };
    let page = render(status, &page, set_cookie.into_iter().collect())?;
    Ok(portal::widen_form_action(req, page))
}

async fn options_for(req: &HttpRequest, app: &App) -> Result<LoginOptions, PageError> {
    let host = crate::request::host(req, app);
    let options = app.login_options(&host).await?;
    crate::logging::note_realm(req, &options.subdomain);
    match &options.realm {
        None => Err(PageError::NoSuchRealm),
        // The organization's state, not an account's: said before any password (web.md §1.5).
        Some(r) if r.deactivated => Err(PageError::RealmDeactivated),
        Some(_) => Ok(options),
    }
}

/// `GET /login/`: the form, or, for a visitor with a live session, a redirect to `next`.
pub async fn login_page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let options = options_for(&req, &app).await?;
    let next = next::safe_next(&query_value(&req, "next").unwrap_or_default());
    let carry = portal::Carry::from_query(&req, &app);
    if let Some(to) = portal::already_in(&req, &app, &carry).await? {
        return Ok(to);
    }
    if let Some(realm) = &options.realm {
        let on_portal = portal::portal_of(&req, &app).is_some();
        if !on_portal && session_of(&req, &app, realm).await?.is_some() {
            return Ok(redirect(&next, Vec::new()));
        }
    }
    let email = query_value(&req, "email").unwrap_or_default();
    login_form(&req, &options, StatusCode::OK, None, &email, &next, &carry)
}

/// `POST /accounts/login/`: CSRF and origin checks, the login, then a session and a redirect;
/// a failure shows the form again with its message.
pub async fn login_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let options = options_for(&req, &app).await?;
    let params = Params::of(&req, payload).await?;
    csrf::check_origin(&req, &app)?;
    let expected = csrf::pre_session_cookie(&req).unwrap_or_default();
    let submitted = csrf::submitted(&req, params.optional(csrf::FORM_FIELD));
    csrf::check_token(&expected, submitted.as_deref())?;
    let next = next::safe_next(params.optional("next").unwrap_or("/"));
    let carry = portal::Carry::from_params(&req, &app, &params);
    let username = params
        .optional("username")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let password = Password::new(params.optional("password").unwrap_or_default());
    let remember = params.optional("remember").is_some_and(|v| !v.is_empty());
    if username.is_empty() || password.expose().is_empty() {
        let flash = Flash::error("Please enter your username and your password.");
        return login_form(
            &req,
            &options,
            StatusCode::OK,
            Some(flash),
            &username,
            &next,
            &carry,
        );
    }
    let host = crate::request::host(&req, &app);
    let result = app
        .password_login(
            crate::request::client(&req, &app, &host),
            &username,
            &password,
        )
        .await;
    for d in &result.decisions {
        crate::limits::note(&req, d);
    }
    let logged_in = match result.outcome {
        Ok(l) => l,
        Err(e) => {
            let Some((status, msg)) = login_failure(&e, &username) else {
                return Err(e.into());
            };
            let flash = Some(Flash::error(msg));
            return login_form(&req, &options, status, flash, &username, &next, &carry);
        }
    };
    crate::logging::note_user(&req, logged_in.user.id);
    let previous = csrf::session_cookie(&req);
    let started = app
        .start_session(&logged_in, remember, previous.as_deref())
        .await?;
    let cookies = vec![
        csrf::new_session_cookie(&req, &started),
        csrf::removed_csrf_cookie(&req),
    ];
    if let Some(to) =
        portal::after_login(&req, &app, &logged_in, remember, &carry, cookies.clone()).await?
    {
        return Ok(to);
    }
    Ok(redirect(&next, cookies))
}

/// `GET /accounts/logout/`: a page with one "Log out" button (a GET never logs out).
pub async fn logout_confirm(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let Some(session) = session_of(&req, &app, &realm).await? else {
        return Ok(redirect("/accounts/login/", Vec::new()));
    };
    let mut shell = Shell::new(realm.name.as_str());
    shell.csrf = Some(session.csrf_secret.expose().to_owned());
    shell.signed_in = Some(session.user.full_name.clone());
    let page = LogoutPage {
        shell,
        realm_name: &realm.name,
    };
    render(StatusCode::OK, &page, Vec::new())
}

/// `POST /accounts/logout/`: ends the session (with its CSRF token) and goes to the login page.
pub async fn logout_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    let params = Params::of(&req, payload).await?;
    csrf::check_origin(&req, &app)?;
    let Some(session) = session_of(&req, &app, &realm).await? else {
        // Nothing to end; forget whatever cookie the browser still holds.
        return Ok(redirect(
            "/accounts/login/",
            vec![csrf::removed_session_cookie(&req)],
        ));
    };
    let submitted = csrf::submitted(&req, params.optional(csrf::FORM_FIELD));
    csrf::check_token(session.csrf_secret.expose(), submitted.as_deref())?;
    app.end_session(&session).await?;
    let mut cookies = vec![csrf::removed_session_cookie(&req)];
    cookies.extend(portal::on_logout(&req, &app).await?);
    Ok(redirect("/accounts/login/", cookies))
}
