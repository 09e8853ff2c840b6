//! The login portal's pages (docs/web.md "The login portal"; web.md §6.5, decisions 6, 7, 10,
//! 15). On a configured portal host the realm's login page carries `rd` and `rm` in hidden
//! fields; a login there (the same `App::password_login` as everywhere) also starts a portal
//! session, sets the portal cookie for the cookie domain and goes to the safe `rd` (else
//! `default_redirect`, else `/`). A visitor who already has a live portal session goes straight
//! to the safe `rd`. `GET /logout/` shows a one-button confirmation; `POST /logout/` (CSRF) ends
//! the portal session and the page session and goes to a safe `rd`, else `/login/`.
//!
//! `login.rs` calls the hooks here: [`Carry`], [`already_in`], [`after_login`], [`on_logout`].

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::{App, LoggedIn, PortalCookie, PortalSession};

use super::shell::{Shell, redirect, render};
use super::{PageError, csrf, realm_of, session_of};
use crate::params::Params;
use crate::portal;

/// `rd` and `rm` as the portal's login form carries them (empty off the portal).
#[derive(Debug, Default, Clone)]
pub struct Carry {
    pub rd: Option<String>,
    pub rm: Option<String>,
}

impl Carry {
    /// From the query string (`GET /login/?rd=…&rm=…`), on a portal host only.
    pub fn from_query(req: &HttpRequest, app: &App) -> Carry {
        if portal_of(req, app).is_none() {
            return Carry::default();
        }
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default();
        let last = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Carry::of(last("rd"), last("rm"))
    }

    /// From a submitted form (body, then query string), on a portal host only.
    pub fn from_params(req: &HttpRequest, app: &App, params: &Params) -> Carry {
        if portal_of(req, app).is_none() {
            return Carry::default();
        }
        Carry::of(
            params.optional("rd").map(str::to_owned),
            params.optional("rm").map(str::to_owned),
        )
    }

    fn of(rd: Option<String>, rm: Option<String>) -> Carry {
        // An over-long rd is never followed: do not echo it either.
        let rd = rd.filter(|r| !r.is_empty() && r.len() <= portal::MAX_TARGET);
        Carry {
            rd,
            rm: rm.map(|m| portal::method_name(Some(&m))),
        }
    }
}

/// The portal this request's host serves, if any.
pub fn portal_of(req: &HttpRequest, app: &App) -> Option<PortalCookie> {
    let host = crate::request::host(req, app);
    app.portal_for_host(&host).cloned()
}

/// A portal page's form posts and is then redirected to a host of the cookie domain, which
/// browsers check against the page's CSP `form-action`: on a portal host it also allows
/// `https://<domain>` and `https://*.<domain>` (any port; `http` too for a plain-HTTP
/// development portal).
pub fn widen_form_action(req: &HttpRequest, mut resp: HttpResponse) -> HttpResponse {
    use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue};
    let Some(app) = req.app_data::<web::Data<App>>() else {
        return resp;
    };
    let Some(p) = portal_of(req, app) else {
        return resp;
    };
    let schemes: &[&str] = if p.allow_http {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut sources = String::from("form-action 'self'");
    for scheme in schemes {
        sources.push_str(&format!(
            " {scheme}://{d}:* {scheme}://*.{d}:*",
            d = p.domain
        ));
    }
    let csp = resp
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.replace("form-action 'self'", &sources));
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The visitor's live portal session for this portal, if any.
async fn portal_session(
    req: &HttpRequest,
    app: &App,
    p: &PortalCookie,
) -> Result<Option<PortalSession>, PageError> {
    match portal::cookie_value(req) {
        Some(cookie) => Ok(app.portal_session(p, &cookie).await?),
        None => Ok(None),
    }
}

/// `GET /login/` on a portal host with a live portal session: straight to the safe `rd`.
pub async fn already_in(
    req: &HttpRequest,
    app: &App,
    carry: &Carry,
) -> Result<Option<HttpResponse>, PageError> {
    let Some(p) = portal_of(req, app) else {
        return Ok(None);
    };
    if let Some(s) = portal_session(req, app, &p).await? {
        crate::logging::note_user(req, s.user.id);
        let to = portal::after_login_target(&p, carry.rd.as_deref());
        return Ok(Some(redirect(&to, Vec::new())));
    }
    Ok(None)
}

/// After a login on a portal host: a portal session too, its cookie with the page's
/// `cookies`, and a redirect to the safe `rd`. `None` off the portal.
pub async fn after_login(
    req: &HttpRequest,
    app: &App,
    login: &LoggedIn,
    remember: bool,
    carry: &Carry,
    mut cookies: Vec<Cookie<'static>>,
) -> Result<Option<HttpResponse>, PageError> {
    let Some(p) = portal_of(req, app) else {
        return Ok(None);
    };
    let previous = portal::cookie_value(req);
    let started = app
        .start_portal_session(&p, login, remember, previous.as_deref())
        .await?;
    cookies.push(portal::new_cookie(req, &p, &started));
    let to = portal::after_login_target(&p, carry.rd.as_deref());
    Ok(Some(redirect(&to, cookies)))
}

/// `POST /accounts/logout/` on a portal host ends the portal session too: the cookies that
/// remove it (none off the portal).
pub async fn on_logout(req: &HttpRequest, app: &App) -> Result<Vec<Cookie<'static>>, PageError> {
    let Some(p) = portal_of(req, app) else {
        return Ok(Vec::new());
    };
    if let Some(s) = portal_session(req, app, &p).await? {
        app.end_portal_session(&s).await?;
    }
    Ok(vec![portal::removed_cookie(req, &p)])
}

#[derive(Template)]
#[template(path = "portal_logout.html")]
struct LogoutPage<'a> {
    shell: Shell,
    realm_name: &'a str,
    rd: &'a str,
}

/// `GET /logout/?rd=…`: a page with one "Log out" button (a GET never logs out).
pub async fn logout_confirm(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let p = portal_of(&req, &app).ok_or(PageError::NotFound)?;
    let realm = realm_of(&req, &app).await?;
    let carry = Carry::of(
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|(k, _)| k == "rd")
            .map(|(_, v)| v),
        None,
    );
    let rd = carry
        .rd
        .as_deref()
        .and_then(|r| portal::safe_target(&p, r))
        .unwrap_or_default();
    let portal_s = portal_session(&req, &app, &p).await?;
    let page_s = session_of(&req, &app, &realm).await?;
    let (token, who) = match (&portal_s, &page_s) {
        (Some(s), _) => (s.csrf_secret.expose().to_owned(), s.user.full_name.clone()),
        (None, Some(s)) => (s.csrf_secret.expose().to_owned(), s.user.full_name.clone()),
        (None, None) => {
            let to = portal::after_logout_target(&p, Some(&rd));
            return Ok(redirect(&to, Vec::new()));
        }
    };
    let mut shell = Shell::new(realm.name.as_str());
    shell.csrf = Some(token);
    shell.signed_in = Some(who);
    let page = LogoutPage {
        shell,
        realm_name: &realm.name,
        rd: &rd,
    };
    Ok(widen_form_action(
        &req,
        render(StatusCode::OK, &page, Vec::new())?,
    ))
}

/// `POST /logout/` (CSRF: the portal session's or the page session's token): ends both
/// sessions, removes both cookies and goes to a safe `rd`, else `/login/`.
pub async fn logout_submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let p = portal_of(&req, &app).ok_or(PageError::NotFound)?;
    let realm = realm_of(&req, &app).await?;
    let params = Params::of(&req, payload).await?;
    csrf::check_origin(&req, &app)?;
    let to = portal::after_logout_target(&p, params.optional("rd"));
    let removed = vec![
        portal::removed_cookie(&req, &p),
        csrf::removed_session_cookie(&req),
    ];
    let portal_s = portal_session(&req, &app, &p).await?;
    let page_s = session_of(&req, &app, &realm).await?;
    if portal_s.is_none() && page_s.is_none() {
        // Nothing to end; forget whatever cookies the browser still holds.
        return Ok(redirect(&to, removed));
    }
    let submitted = csrf::submitted(&req, params.optional(csrf::FORM_FIELD));
    let matches = |secret: &str| csrf::check_token(secret, submitted.as_deref()).is_ok();
    let ok = portal_s
        .as_ref()
        .is_some_and(|s| matches(s.csrf_secret.expose()))
        || page_s
            .as_ref()
            .is_some_and(|s| matches(s.csrf_secret.expose()));
    if !ok {
        return Err(PageError::Csrf);
    }
    if let Some(s) = &portal_s {
        app.end_portal_session(s).await?;
    }
    if let Some(s) = &page_s {
        app.end_session(s).await?;
    }
    Ok(redirect(&to, removed))
}
