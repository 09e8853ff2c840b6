//! Organization → Authentication methods (web.md §5, decision 11): Email, LDAP and, on a
//! development server, Dev, each with what it needs; owners switch them
//! ([`admin::set_auth_methods_from_session`], the service call of `PATCH /api/v1/realm`, which
//! keeps one method on and refuses to switch off the method the owner's session used when no
//! other would let them in); administrators see them read-only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{BackendKind, Role};
use auth_service::{App, ServiceError, admin};

use super::{Admin, admin_or_login, checked_form, refused};
use crate::pages::PageError;
use crate::pages::shell::{Flash, Shell, redirect, render};

const PATH: &str = "/organization/auth-methods";

/// One method as the page shows it.
struct MethodRow {
    /// Zulip's name, also the form field.
    name: &'static str,
    on: bool,
    /// The server offers it (LDAP needs a configured directory).
    available: bool,
    needs: &'static str,
}

#[derive(Template)]
#[template(path = "org_auth_methods.html")]
struct MethodsPage {
    shell: Shell,
    nav: &'static str,
    methods: Vec<MethodRow>,
    /// Owners change the methods; administrators read them.
    can_change: bool,
    /// The method this session logged in with.
    used: String,
}

fn rows(app: &App, a: &Admin) -> Vec<MethodRow> {
    let m = a.caller.realm.methods;
    let mut rows = vec![
        MethodRow {
            name: "Email",
            on: m.email,
            available: app.method_enabled(BackendKind::Email, None),
            needs: "Passwords kept by this server (hashed). People set and reset them through \
                    links sent by email, so the server needs working outgoing mail.",
        },
        MethodRow {
            name: "LDAP",
            on: m.ldap,
            available: app.method_enabled(BackendKind::Ldap, None),
            needs: "A directory configured on the server (the [ldap] settings). People log in \
                    with their directory password, which stays in the directory.",
        },
    ];
    if app.development {
        rows.push(MethodRow {
            name: "Dev",
            on: m.dev,
            available: app.method_enabled(BackendKind::Dev, None),
            needs: "Development servers only: log in as anyone without a password.",
        });
    }
    rows
}

fn view(
    req: &HttpRequest,
    app: &App,
    a: &Admin,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let mut shell = a.shell(req);
    shell.flashes.extend(error.map(Flash::error));
    let used = BackendKind::from_name(&a.s.session.method)
        .map(|k| match k {
            BackendKind::Email => "Email",
            BackendKind::Ldap => "LDAP",
            BackendKind::Dev => "Dev",
        })
        .unwrap_or_default()
        .to_owned();
    let page = MethodsPage {
        shell,
        nav: "methods",
        methods: rows(app, a),
        can_change: a.caller.user.role == Role::Owner,
        used,
    };
    render(status, &page, Vec::new())
}

/// `GET /organization/auth-methods`.
pub async fn page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, PATH);
    view(&req, &app, &a, StatusCode::OK, None)
}

/// `POST /organization/auth-methods`: a checkbox per method the server offers (ticked: on).
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (a, params) = match checked_form(&req, payload, &app, PATH).await? {
        Ok(ok) => ok,
        Err(to_login) => return Ok(to_login),
    };
    let requested: Vec<(String, bool)> = auth_service::members::available_methods(&app)
        .into_iter()
        .map(|(name, _)| (name.to_owned(), params.optional(name).is_some()))
        .collect();
    let used = a.s.session.method.clone();
    match admin::set_auth_methods_from_session(&app, &a.caller, &used, &requested).await {
        Ok(Some(_)) => Ok(redirect(&format!("{PATH}?done=methods"), Vec::new())),
        Ok(None) => Ok(redirect(&format!("{PATH}?done=unchanged"), Vec::new())),
        Err(ServiceError::Invalid(msg)) => view(&req, &app, &a, StatusCode::BAD_REQUEST, Some(msg)),
        Err(e) => Err(refused(e)),
    }
}
