//! Pages that only say something: a title, a sentence and at most one link (the reset pages'
//! "Check your email", "We've reset your password!", an invalid link), and
//! `/accounts/deactivated/`, where a deactivated organization's pages send visitors (web.md
//! §1.5: the organization's state is not an account's, so saying it reveals no one).

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, REFERRER_POLICY};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::App;

use super::shell::{Shell, redirect, render};
use super::{PageError, realm_of};

#[derive(Template)]
#[template(path = "notice.html")]
struct Notice<'a> {
    shell: Shell,
    title: &'a str,
    message: &'a str,
    /// Empty: no link.
    link_href: &'a str,
    link_text: &'a str,
}

/// What a notice page says.
pub struct Said<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

/// A notice page in the realm's shell, with the given cookies.
pub fn notice(
    site_name: &str,
    said: Said<'_>,
    cookies: Vec<actix_web::cookie::Cookie<'static>>,
) -> Result<HttpResponse, PageError> {
    let (link_href, link_text) = said.link.unwrap_or(("", ""));
    let page = Notice {
        shell: Shell::new(site_name),
        title: said.title,
        message: said.message,
        link_href,
        link_text,
    };
    render(StatusCode::OK, &page, cookies)
}

/// Sends no `Referer` from this response's page (decision 13): for pages whose URL held a
/// reset token and pages without a form (a form's POST would carry `Origin: null`).
pub fn no_referrer(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// `GET /accounts/deactivated/`: "The organization you are trying to join, {name}, has been
/// deactivated."; an active organization's visitors go to its login page.
pub async fn deactivated(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let realm = realm_of(&req, &app).await?;
    if !realm.deactivated {
        return Ok(redirect("/login/", Vec::new()));
    }
    let message = format!(
        "The organization you are trying to join, {}, has been deactivated.",
        realm.name
    );
    let said = Said {
        title: "Organization deactivated",
        message: &message,
        link: None,
    };
    notice(&realm.name, said, Vec::new())
}
