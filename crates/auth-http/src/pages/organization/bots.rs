//! Organization → Bots: every bot of the realm, active or not, with its owner
//! ([`admin::all_bots`]: administrators see all, unlike Settings → Your bots). Each opens the
//! account page of `users.rs`, where it can be deactivated, reactivated or given a new key.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::{App, admin};

use super::users::Row;
use super::{admin_or_login, refused};
use crate::pages::PageError;
use crate::pages::shell::{Shell, render};

/// A bot with its owner.
struct BotRow {
    bot: Row,
    kind: &'static str,
    owner: Option<Row>,
}

#[derive(Template)]
#[template(path = "org_bots.html")]
struct BotsPage {
    shell: Shell,
    nav: &'static str,
    rows: Vec<BotRow>,
}

/// `GET /organization/bots`.
pub async fn page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, "/organization/bots");
    let rows = admin::all_bots(&app, &a.caller)
        .await
        .map_err(refused)?
        .into_iter()
        .map(|(bot, owner)| BotRow {
            kind: crate::pages::your_bots::type_label(bot.bot_type),
            bot: Row::of(&bot),
            owner: owner.as_ref().map(Row::of),
        })
        .collect();
    let page = BotsPage {
        shell: a.shell(&req),
        nav: "bots",
        rows,
    };
    render(StatusCode::OK, &page, Vec::new())
}
