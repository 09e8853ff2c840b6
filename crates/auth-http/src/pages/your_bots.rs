//! Settings → Your bots (web.md §3): the viewer's own bots, active or inactive
//! (`/settings/your-bots`, `?inactive`), "Add a new bot", and per bot a new key (the refresh
//! icon), its zuliprc, deactivation and reactivation, each with a confirmation page. The same
//! service functions as the bot API (`auth_service::bots`). Keys are shown only while the
//! session is re-authenticated; otherwise one "Show API keys" action runs the re-entry.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{BotType, User};
use auth_service::{App, ServiceError, bots, members};

use super::PageError;
use super::api_key::{ConfirmPage, zuliprc_download};
use super::settings::{SignedIn, check_form, reauth_url, signed_in_or_login};
use super::shell::{Shell, redirect, render};
use crate::params::Params;

const BOTS: &str = "/settings/your-bots";

/// One bot's card.
struct BotCard {
    id: i64,
    name: String,
    email: String,
    kind: &'static str,
    key: Option<String>,
}

/// What the "Add a new bot" form had typed.
#[derive(Default)]
struct AddForm {
    bot_type: i32,
    full_name: String,
    short_name: String,
}

#[derive(Template)]
#[template(path = "your_bots.html")]
struct BotsPage<'a> {
    shell: Shell,
    nav: &'static str,
    inactive: bool,
    bots: Vec<BotCard>,
    elevated: bool,
    owner: &'a str,
    bot_domain: String,
    form: AddForm,
    form_error: Option<String>,
}

/// How a bot type is named on the page (Zulip's labels).
pub fn type_label(t: Option<BotType>) -> &'static str {
    match t {
        Some(BotType::Generic) => "Generic bot",
        Some(BotType::IncomingWebhook) => "Incoming webhook",
        Some(BotType::OutgoingWebhook) => "Outgoing webhook",
        Some(BotType::Embedded) => "Embedded bot",
        None => "Not a bot",
    }
}

/// A bot refused by the service: "no such bot" and "not yours" are a 404 page here.
fn refused(e: ServiceError) -> PageError {
    match e {
        ServiceError::Forbidden(_) => PageError::NotFound,
        other => other.into(),
    }
}

fn wants_inactive(req: &HttpRequest) -> bool {
    req.query_string()
        .split('&')
        .any(|p| p == "inactive" || p.starts_with("inactive="))
}

async fn bots_view(
    s: &SignedIn,
    app: &App,
    inactive: bool,
    form: AddForm,
    form_error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let elevated = s.session.is_elevated();
    let caller = s.session.as_caller();
    // A guest (or a bot's session) has no bots page: the service's reason, as a page.
    let owned = bots::owned(app, &caller, !inactive, elevated && !inactive)
        .await
        .map_err(|e| match e {
            ServiceError::Forbidden(msg) => PageError::BadRequest(msg.to_owned()),
            other => other.into(),
        })?;
    let cards = owned
        .into_iter()
        .map(|(bot, key)| card(&bot, key.map(|k| k.expose().to_owned())))
        .collect();
    let status = if form_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = BotsPage {
        shell: s.shell(),
        nav: "bots",
        inactive,
        bots: cards,
        elevated,
        owner: &s.session.user.full_name,
        bot_domain: auth_service::host::realm_host_name(&s.realm.subdomain, &app.hosts),
        form,
        form_error,
    };
    render(status, &page, Vec::new())
}

fn card(bot: &User, key: Option<String>) -> BotCard {
    BotCard {
        id: bot.id.0,
        name: bot.full_name.clone(),
        email: bot.delivery_email.clone(),
        kind: type_label(bot.bot_type),
        key,
    }
}

/// `GET /settings/your-bots` (`?inactive` for the inactive ones).
pub async fn bots_page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let inactive = wants_inactive(&req);
    let back = if inactive {
        "/settings/your-bots?inactive"
    } else {
        BOTS
    };
    let s = signed_in_or_login!(&req, &app, back);
    let form = AddForm {
        bot_type: 1,
        ..AddForm::default()
    };
    bots_view(&s, &app, inactive, form, None).await
}

/// `POST /settings/your-bots`: "Add a new bot" (`bot_type`, `full_name`, `short_name`).
pub async fn add_bot(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, BOTS);
    check_form(&req, &app, &s.session, &params)?;
    let form = AddForm {
        bot_type: params
            .optional("bot_type")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        full_name: params.optional("full_name").unwrap_or_default().to_owned(),
        short_name: params
            .optional("short_name")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let bot_type = match BotType::from_i32(form.bot_type) {
        Some(t @ (BotType::Generic | BotType::IncomingWebhook)) => t,
        _ => {
            let msg = Some("Please choose a bot type.".to_owned());
            return bots_view(&s, &app, false, form, msg).await;
        }
    };
    let caller = s.session.as_caller();
    match bots::create_for(&app, &caller, &form.full_name, &form.short_name, bot_type).await {
        Ok(_) => Ok(redirect(BOTS, Vec::new())),
        Err(ServiceError::Invalid(msg)) => bots_view(&s, &app, false, form, Some(msg)).await,
        Err(ServiceError::Forbidden(msg)) => {
            bots_view(&s, &app, false, form, Some(msg.to_owned())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What a per-bot action is.
#[derive(Clone, Copy)]
enum Action {
    Regenerate,
    Deactivate,
    Reactivate,
}

impl Action {
    fn of(name: &str) -> Option<Action> {
        match name {
            "regenerate" => Some(Action::Regenerate),
            "deactivate" => Some(Action::Deactivate),
            "reactivate" => Some(Action::Reactivate),
            _ => None,
        }
    }

    fn button(self) -> &'static str {
        match self {
            Action::Regenerate => "Generate new API key",
            Action::Deactivate => "Deactivate bot",
            Action::Reactivate => "Reactivate bot",
        }
    }
}

/// `GET /settings/your-bots/{id}/{regenerate|deactivate|reactivate}`: the confirmation.
pub async fn confirm_action(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (id, name) = path.into_inner();
    let action = Action::of(&name).ok_or(PageError::NotFound)?;
    let s = signed_in_or_login!(&req, &app, req.path());
    let bot = bots::access_bot(&app, &s.session.as_caller(), &id)
        .await
        .map_err(refused)?;
    let (title, message, cancel) = match action {
        Action::Regenerate => (
            format!("Generate a new API key for {}?", bot.full_name),
            "The bot's current API key will stop working at once.",
            BOTS,
        ),
        Action::Deactivate => (
            format!("Deactivate {}?", bot.full_name),
            "The bot's API key will stop working until the bot is reactivated.",
            BOTS,
        ),
        Action::Reactivate => (
            format!("Reactivate {}?", bot.full_name),
            "The bot's API key will work again.",
            "/settings/your-bots?inactive",
        ),
    };
    let page = ConfirmPage {
        shell: s.shell(),
        title: &title,
        message,
        action: req.path(),
        button: action.button(),
        cancel,
    };
    render(StatusCode::OK, &page, Vec::new())
}

/// `POST /settings/your-bots/{id}/{regenerate|deactivate|reactivate}`.
pub async fn do_action(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (id, name) = path.into_inner();
    let action = Action::of(&name).ok_or(PageError::NotFound)?;
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, BOTS);
    check_form(&req, &app, &s.session, &params)?;
    let caller = s.session.as_caller();
    // Only bots here (the reactivation service also takes people, for administrators).
    bots::access_bot(&app, &caller, &id)
        .await
        .map_err(refused)?;
    let back = match action {
        Action::Regenerate => {
            bots::regenerate_key(&app, &caller, &id)
                .await
                .map_err(refused)?;
            BOTS
        }
        Action::Deactivate => {
            bots::deactivate_for(&app, &caller, &id)
                .await
                .map_err(refused)?;
            BOTS
        }
        Action::Reactivate => {
            // One path for every account: a bot by its owner or an administrator.
            members::reactivate_for(&app, &caller, &id)
                .await
                .map_err(refused)?;
            "/settings/your-bots?inactive"
        }
    };
    Ok(redirect(back, Vec::new()))
}

/// `POST /settings/your-bots/{id}/zuliprc`: the bot's zuliprc, while re-authenticated.
pub async fn bot_zuliprc(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let params = Params::of(&req, payload).await?;
    let s = signed_in_or_login!(&req, &app, BOTS);
    check_form(&req, &app, &s.session, &params)?;
    if !s.session.is_elevated() {
        return Ok(redirect(&reauth_url(BOTS), Vec::new()));
    }
    let body = bots::zuliprc_of(&app, &s.session.as_caller(), &path)
        .await
        .map_err(refused)?;
    Ok(zuliprc_download(body))
}
