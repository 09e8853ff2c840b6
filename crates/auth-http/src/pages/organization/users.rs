//! Organization → Users: the realm's people, searched by name or email and filtered by role,
//! state and where the password lives (the directory or this server); one page per account
//! with what an administrator does to it, each a POST to the service function the API and
//! the CLI use: change the role and deactivate or reactivate (`members`, Zulip's rules: owners
//! alone touch owners, the last owner stays; a person's bots are deactivated with them), require
//! a password reset and replace a leaked key (`admin`). Bots open here too, from the Bots page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{Role, User};
use auth_service::admin::{self, ResetLink};
use auth_service::members::{self, By, UserChange};
use auth_service::{App, ServiceError, bots};

use super::{Admin, admin_or_login, checked_form, query_pairs, refused};
use crate::pages::PageError;
use crate::pages::settings::role_label;
use crate::pages::shell::{Flash, Shell, redirect, render};

const USERS: &str = "/organization/users";

/// One account as the pages show it.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub active: bool,
    pub directory: bool,
}

impl Row {
    pub fn of(u: &User) -> Row {
        Row {
            id: u.id.0,
            name: u.full_name.clone(),
            email: u.delivery_email.clone(),
            role: role_label(u.role),
            active: u.is_active,
            directory: u.external_id.is_some(),
        }
    }
}

/// People shown on one page of the list.
const PAGE_SIZE: usize = 100;

/// The list's filters, as typed, and which page of the matches is shown (from 1).
#[derive(Default)]
struct Filters {
    q: String,
    role: String,
    state: String,
    backend: String,
    page: usize,
}

impl Filters {
    fn of(req: &HttpRequest) -> Filters {
        let mut f = Filters::default();
        for (k, v) in query_pairs(req) {
            match k.as_str() {
                "q" => f.q = v.trim().to_owned(),
                "role" => f.role = v,
                "state" => f.state = v,
                "backend" => f.backend = v,
                "page" => f.page = v.trim().parse().unwrap_or(1),
                _ => {}
            }
        }
        f
    }

    /// The list's address with these filters, on page `page`.
    fn url(&self, page: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("role", &self.role),
            ("state", &self.state),
            ("backend", &self.backend),
        ] {
            if !v.is_empty() {
                query.append_pair(k, v);
            }
        }
        query.append_pair("page", &page.to_string());
        format!("{USERS}?{}", query.finish())
    }

    fn keeps(&self, u: &User) -> bool {
        let q = self.q.to_lowercase();
        let text = q.is_empty()
            || u.full_name.to_lowercase().contains(&q)
            || u.delivery_email.to_lowercase().contains(&q);
        let role = Role::from_name(&self.role).is_none_or(|r| r == u.role);
        let state = match self.state.as_str() {
            "active" => u.is_active,
            "deactivated" => !u.is_active,
            _ => true,
        };
        let backend = match self.backend.as_str() {
            "directory" => u.external_id.is_some(),
            "local" => u.external_id.is_none(),
            _ => true,
        };
        text && role && state && backend
    }
}

#[derive(Template)]
#[template(path = "org_users.html")]
struct UsersPage {
    shell: Shell,
    nav: &'static str,
    f: Filters,
    rows: Vec<Row>,
    total: usize,
    /// How many people match the filters (`rows` is one page of them).
    matching: usize,
    /// The 1-based positions of the first and last row shown.
    first: usize,
    last: usize,
    prev_url: Option<String>,
    next_url: Option<String>,
}

/// `GET /organization/users` (`?q=`, `role=owner|admin|moderator|member|guest`,
/// `state=active|deactivated`, `backend=directory|local`).
pub async fn list_page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, USERS);
    let mut f = Filters::of(&req);
    let people: Vec<User> = members::list(&app, &a.caller)
        .await
        .map_err(refused)?
        .into_iter()
        .filter(|u| !u.is_bot())
        .collect();
    let total = people.len();
    let matches: Vec<&User> = people.iter().filter(|u| f.keeps(u)).collect();
    let pages = matches.len().div_ceil(PAGE_SIZE).max(1);
    f.page = f.page.clamp(1, pages);
    let skip = (f.page - 1) * PAGE_SIZE;
    let rows: Vec<Row> = matches
        .iter()
        .skip(skip)
        .take(PAGE_SIZE)
        .copied()
        .map(Row::of)
        .collect();
    let page = UsersPage {
        shell: a.shell(&req),
        nav: "users",
        prev_url: (f.page > 1).then(|| f.url(f.page - 1)),
        next_url: (f.page < pages).then(|| f.url(f.page + 1)),
        first: if rows.is_empty() { 0 } else { skip + 1 },
        last: skip + rows.len(),
        matching: matches.len(),
        f,
        rows,
        total,
    };
    render(StatusCode::OK, &page, Vec::new())
}

#[derive(Template)]
#[template(path = "org_user.html")]
struct PersonPage {
    shell: Shell,
    nav: &'static str,
    u: Row,
    is_bot: bool,
    /// The bot's owner, for a bot.
    owner: Option<Row>,
    /// What the password is: directory, local, none, or "reset required".
    password: &'static str,
    /// The role names this administrator may give (empty: no role form).
    roles: Vec<(&'static str, &'static str)>,
    current_role: &'static str,
    can_reset: bool,
    /// The page's own path.
    path: String,
}

async fn person_view(
    req: &HttpRequest,
    app: &App,
    a: &Admin,
    target: &User,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let mut shell = a.shell(req);
    shell.flashes.extend(error.map(Flash::error));
    let owner = match target.bot_owner_id {
        Some(o) => match members::get(app, &a.caller, &o.0.to_string()).await {
            Ok(u) => Some(Row::of(&u)),
            Err(e @ ServiceError::Unavailable { .. }) => return Err(e.into()),
            // An owner gone from the realm: shown as none.
            Err(_) => None,
        },
        None => None,
    };
    let me_owner = a.caller.user.role == Role::Owner;
    let roles = if target.is_bot() || (target.role == Role::Owner && !me_owner) {
        Vec::new()
    } else {
        [
            Role::Owner,
            Role::Administrator,
            Role::Moderator,
            Role::Member,
            Role::Guest,
        ]
        .into_iter()
        .filter(|r| me_owner || *r != Role::Owner)
        .map(|r| (r.name(), role_label(r)))
        .collect()
    };
    let password = if target.is_bot() {
        "None (a bot logs in with its API key)"
    } else if target.external_id.is_some() {
        "Managed by the organization's directory"
    } else if target.password_reset_needed {
        "Reset required: the old password no longer works"
    } else {
        "Kept by this server"
    };
    let page = PersonPage {
        shell,
        nav: if target.is_bot() { "bots" } else { "users" },
        u: Row::of(target),
        is_bot: target.is_bot(),
        owner,
        password,
        roles,
        current_role: target.role.name(),
        can_reset: !target.is_bot() && target.is_active && target.external_id.is_none(),
        path: format!("{USERS}/{}", target.id.0),
    };
    render(status, &page, Vec::new())
}

/// `GET /organization/users/{id}`: one account and its actions.
pub async fn person_page(
    req: HttpRequest,
    path: web::Path<String>,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, req.path());
    let target = admin::account_for_admin(&app, &a.caller, &path)
        .await
        .map_err(refused)?;
    person_view(&req, &app, &a, &target, StatusCode::OK, None).await
}

/// `POST /organization/users/{id}/{role|deactivate|reactivate|require-reset|regenerate-key}`
/// (`role` takes the field `role`), then back to the account's page with what was done.
pub async fn act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let back = format!("{USERS}/{id}");
    let (a, params) = match checked_form(&req, payload, &app, &back).await? {
        Ok(ok) => ok,
        Err(to_login) => return Ok(to_login),
    };
    let target = admin::account_for_admin(&app, &a.caller, &id)
        .await
        .map_err(refused)?;
    let by = By::Caller(&a.caller);
    let done: Result<&str, ServiceError> = match action.as_str() {
        "role" => {
            let Some(role) = params.optional("role").and_then(Role::from_name) else {
                let msg = Some("Please choose a role.".to_owned());
                return person_view(&req, &app, &a, &target, StatusCode::BAD_REQUEST, msg).await;
            };
            let change = UserChange {
                role: Some(role),
                ..UserChange::default()
            };
            members::update_for(&app, &a.caller, &id, change)
                .await
                .map(|_| "role")
        }
        "deactivate" if target.is_bot() => bots::deactivate_for(&app, &a.caller, &id)
            .await
            .map(|_| "deactivated"),
        "deactivate" => members::deactivate_for(&app, &a.caller, &id)
            .await
            .map(|_| "deactivated"),
        "reactivate" => members::reactivate_for(&app, &a.caller, &id)
            .await
            .map(|_| "reactivated"),
        "require-reset" => admin::require_password_reset(&app, by, &a.caller.realm, &target, true)
            .await
            .map(|link| match link {
                ResetLink::Queued => "reset",
                ResetLink::EmailOff | ResetLink::NotSent => "reset-nomail",
            }),
        "regenerate-key" => admin::regenerate_key(&app, by, &target)
            .await
            .map(|_| "key"),
        _ => return Err(PageError::NotFound),
    };
    match done {
        Ok(code) => Ok(redirect(&format!("{back}?done={code}"), Vec::new())),
        Err(ServiceError::Invalid(msg)) => {
            person_view(&req, &app, &a, &target, StatusCode::BAD_REQUEST, Some(msg)).await
        }
        Err(ServiceError::Forbidden(msg)) if !msg.starts_with("No such") => {
            let msg = Some(msg.to_owned());
            person_view(&req, &app, &a, &target, StatusCode::BAD_REQUEST, msg).await
        }
        Err(e) => Err(refused(e)),
    }
}
