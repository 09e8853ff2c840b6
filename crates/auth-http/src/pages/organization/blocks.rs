//! Organization → Rate-limit blocks: the login names of this realm refused for too many failed
//! attempts within the login limit's window, how long each stays refused, and "Lift block" (a
//! POST), the same calls as `latchkey limits list` and `clear` ([`blocks::list`],
//! [`blocks::clear`]: a clear reaches every instance through the invalidation log).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::clock::rfc3339;
use auth_service::members::By;
use auth_service::{App, ServiceError, blocks};

use super::{Admin, admin_or_login, checked_form, refused};
use crate::pages::PageError;
use crate::pages::shell::{Flash, Shell, redirect, render};

const PATH: &str = "/organization/limits";

struct BlockRow {
    name: String,
    last_refused: String,
    refusals: u64,
    /// When the refusal ends, if it still holds.
    until: Option<String>,
}

#[derive(Template)]
#[template(path = "org_limits.html")]
struct BlocksPage {
    shell: Shell,
    nav: &'static str,
    rows: Vec<BlockRow>,
    window: String,
}

async fn view(
    req: &HttpRequest,
    app: &App,
    a: &Admin,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (list, window) = blocks::list(app, Some(a.caller.realm.id), true)
        .await
        .map_err(refused)?;
    let rows = list
        .iter()
        .map(|b| BlockRow {
            name: b.name.clone(),
            last_refused: rfc3339(b.last_refused),
            refusals: b.refusals,
            until: b.blocked_until().map(rfc3339),
        })
        .collect();
    let mut shell = a.shell(req);
    shell.flashes.extend(error.map(Flash::error));
    let page = BlocksPage {
        shell,
        nav: "limits",
        rows,
        window: humantime::format_duration(window).to_string(),
    };
    render(status, &page, Vec::new())
}

/// `GET /organization/limits`.
pub async fn page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, PATH);
    view(&req, &app, &a, StatusCode::OK, None).await
}

/// `POST /organization/limits` (`username`): lifts the block of a name listed here.
pub async fn lift(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (a, params) = match checked_form(&req, payload, &app, PATH).await? {
        Ok(ok) => ok,
        Err(to_login) => return Ok(to_login),
    };
    let username = params.optional("username").unwrap_or_default();
    match blocks::clear(&app, By::Caller(&a.caller), username).await {
        Ok(cleared) => {
            if let Some(e) = &cleared.directory_error {
                tracing::warn!(error = %e, "lifting a block: the directory could not be asked");
            }
            Ok(redirect(&format!("{PATH}?done=lifted"), Vec::new()))
        }
        Err(ServiceError::Invalid(msg)) => {
            view(&req, &app, &a, StatusCode::BAD_REQUEST, Some(msg)).await
        }
        Err(e) => Err(refused(e)),
    }
}
