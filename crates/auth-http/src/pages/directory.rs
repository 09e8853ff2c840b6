//! Organization → Directory (`/organization/directory`): the realm's own LDAP settings (owners
//! edit, administrators view, anyone else gets 403), and the administrator's tools — Test
//! connection (the form's values, before saving), Test a person, Sync now (a preview, then
//! Apply). Plain forms, no script; every action goes through `auth_service::realm_ldap`, the
//! same functions as `latchkey ldap config` and `latchkey ldap query`/`sync`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{Password, Role};
use auth_service::members::By;
use auth_service::realm_ldap::{ConnectionTest, LdapConfig, Level, PersonTest, SyncPreview};
use auth_service::{App, Caller, ServiceError};

use super::PageError;
use super::directory_form::{DirectoryForm, bind_password};
use super::settings::{SignedIn, check_form, signed_in_or_login};
use super::shell::render;
use crate::params::Params;

const PAGE: &str = "/organization/directory";

/// One step of one server, for the page.
struct StepView {
    uri: String,
    name: &'static str,
    ok: bool,
    detail: String,
}

/// "Test connection"'s answer.
struct ConnectionView {
    passed: bool,
    steps: Vec<StepView>,
    /// `(problem?, text)`.
    findings: Vec<(bool, String)>,
}

/// "Test a person"'s answer.
struct PersonView {
    rows: Vec<(&'static str, String)>,
    verdict: String,
    allowed: bool,
}

/// "Sync now"'s answer.
struct SyncView {
    applied: bool,
    summary: String,
    lines: Vec<String>,
    stopped: bool,
    /// Offer "Apply" (a preview with changes, not stopped).
    can_apply: bool,
}

#[derive(Template)]
#[template(path = "organization_directory.html")]
struct DirectoryPage {
    shell: super::shell::Shell,
    can_edit: bool,
    /// The realm has settings of its own.
    own: bool,
    /// What serves the realm when it has none of its own.
    fallback: &'static str,
    broken: Option<String>,
    password_set: bool,
    form: DirectoryForm,
    error: Option<String>,
    notice: Option<String>,
    connection: Option<ConnectionView>,
    person_username: String,
    person: Option<PersonView>,
    sync: Option<SyncView>,
}

/// A role refusal is a 403 page here; anything else as every page shows it.
fn refused(e: ServiceError) -> PageError {
    match e {
        ServiceError::Principal(msg) => PageError::Forbidden(msg.to_owned()),
        other => other.into(),
    }
}

/// The signed-in administrator, or 403.
fn admin_only(s: &SignedIn) -> Result<(), PageError> {
    if s.session.user.role.is_realm_admin() && !s.session.user.is_bot() {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            auth_service::members::MUST_BE_ADMIN.to_owned(),
        ))
    }
}

/// The page for the stored settings, with `f` adding an action's outcome.
async fn page(
    s: &SignedIn,
    app: &App,
    f: impl FnOnce(&mut DirectoryPage),
) -> Result<HttpResponse, PageError> {
    let caller = s.session.as_caller();
    let view = app
        .realm_ldap(By::Caller(&caller), &s.realm)
        .await
        .map_err(refused)?;
    let fallback = match (&view, app.ldap.is_some()) {
        (Some(_), _) => "",
        (None, true) => "the server-wide directory ([ldap] in latchkey.toml)",
        (None, false) => "no directory: LDAP logins do not work until settings are saved here",
    };
    let mut p = DirectoryPage {
        shell: s.shell(),
        can_edit: s.session.user.role == Role::Owner,
        own: view.is_some(),
        fallback,
        broken: view.as_ref().and_then(|v| v.broken.clone()),
        password_set: view.as_ref().is_some_and(|v| v.bind_password_set),
        form: DirectoryForm::of(view.as_ref().map(|v| &v.settings), &s.realm.subdomain),
        error: None,
        notice: None,
        connection: None,
        person_username: String::new(),
        person: None,
        sync: None,
    };
    f(&mut p);
    let status = if p.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(status, &p, Vec::new())
}

/// `GET /organization/directory`.
pub async fn directory_page(
    req: HttpRequest,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let s = signed_in_or_login!(&req, &app, PAGE);
    admin_only(&s)?;
    page(&s, &app, |_| {}).await
}

/// The signed-in administrator of a POST, its form checked (origin, CSRF).
async fn posted(
    req: &HttpRequest,
    payload: web::Payload,
    app: &App,
) -> Result<Result<(SignedIn, Params), HttpResponse>, PageError> {
    let params = Params::of(req, payload).await?;
    let s = match super::settings::signed_in(req, app, PAGE).await? {
        Ok(s) => s,
        Err(to_login) => return Ok(Err(to_login)),
    };
    check_form(req, app, &s.session, &params)?;
    admin_only(&s)?;
    Ok(Ok((s, params)))
}

macro_rules! posted_or_login {
    ($req:expr, $payload:expr, $app:expr) => {
        match posted($req, $payload, $app).await? {
            Ok(v) => v,
            Err(to_login) => return Ok(to_login),
        }
    };
}

/// The submitted form and the configuration it describes (with what the page does not show
/// taken from the stored settings), or the page again with the form's problem.
async fn submitted(
    s: &SignedIn,
    app: &App,
    caller: &Caller,
    params: &Params,
) -> Result<Result<(DirectoryForm, LdapConfig), HttpResponse>, PageError> {
    let stored = app
        .realm_ldap(By::Caller(caller), &s.realm)
        .await
        .map_err(refused)?;
    let form = DirectoryForm::read(params);
    match form.to_config(stored.as_ref().map(|v| &v.settings), &s.realm.subdomain) {
        Ok(cfg) => Ok(Ok((form, cfg))),
        Err(msg) => Ok(Err(
            page(s, app, |p| (p.form, p.error) = (form, Some(msg))).await?
        )),
    }
}

/// `POST /organization/directory`: save (owners).
pub async fn save(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (s, params) = posted_or_login!(&req, payload, &app);
    let caller = s.session.as_caller();
    let (form, cfg) = match submitted(&s, &app, &caller, &params).await? {
        Ok(read) => read,
        Err(refusal) => return Ok(refusal),
    };
    match app
        .set_realm_ldap(By::Caller(&caller), &s.realm, cfg, bind_password(&params))
        .await
    {
        Ok(_) => {
            page(&s, &app, |p| {
                p.notice = Some("Saved. Every server uses these settings within a second.".into())
            })
            .await
        }
        Err(ServiceError::Invalid(msg)) => {
            page(&s, &app, |p| (p.form, p.error) = (form, Some(msg))).await
        }
        Err(e) => Err(refused(e)),
    }
}

fn connection_view(t: &ConnectionTest) -> ConnectionView {
    ConnectionView {
        passed: t.passed(),
        steps: t
            .servers
            .iter()
            .flat_map(|s| {
                s.steps.iter().map(|st| StepView {
                    uri: s.uri.clone(),
                    name: st.name,
                    ok: st.ok,
                    detail: st.detail.clone(),
                })
            })
            .collect(),
        findings: t
            .findings
            .iter()
            .map(|f| (f.level == Level::Problem, f.text.clone()))
            .collect(),
    }
}

/// `POST /organization/directory/test-connection`: the form's values, not saved (owners).
pub async fn test_connection(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (s, params) = posted_or_login!(&req, payload, &app);
    let caller = s.session.as_caller();
    let (form, cfg) = match submitted(&s, &app, &caller, &params).await? {
        Ok(read) => read,
        Err(refusal) => return Ok(refusal),
    };
    let candidate = Some((cfg, bind_password(&params)));
    match app
        .test_realm_ldap_connection(By::Caller(&caller), &s.realm, candidate)
        .await
    {
        Ok(t) => {
            let view = connection_view(&t);
            page(&s, &app, |p| (p.form, p.connection) = (form, Some(view))).await
        }
        Err(ServiceError::Invalid(msg)) => {
            page(&s, &app, |p| (p.form, p.error) = (form, Some(msg))).await
        }
        Err(e) => Err(refused(e)),
    }
}

fn person_view(t: &PersonTest) -> PersonView {
    let mut rows = Vec::new();
    let shown = |v: &Option<Result<String, String>>| match v {
        Some(Ok(s)) => s.clone(),
        Some(Err(why)) => format!("(none: {why})"),
        None => "(none)".into(),
    };
    if let Some(d) = t.directory_username.as_ref().filter(|d| **d != t.username) {
        rows.push(("Directory username", d.clone()));
    }
    if let Some(dn) = &t.dn {
        rows.push(("DN", dn.clone()));
        rows.push(("Email", shown(&t.email)));
        rows.push(("Full name", shown(&t.full_name)));
        rows.push((
            "Directory id",
            t.directory_id.clone().unwrap_or_else(|| "(none)".into()),
        ));
        if let Some(Ok(true)) = &t.disabled {
            rows.push(("Disabled", "yes".into()));
        }
        if t.realm_allowed == Some(false) {
            rows.push(("Organization access", "refused by the access rules".into()));
        }
        if !t.groups.is_empty() {
            rows.push(("Groups (memberOf)", t.groups.join("; ")));
        }
        for (label, g) in [
            ("Require group", &t.require_group),
            ("Deny group", &t.deny_group),
        ] {
            if let Some((dn, member)) = g {
                let state = if *member { "member" } else { "not a member" };
                rows.push((label, format!("{dn}: {state}")));
            }
        }
        if t.roles_mapped {
            rows.push((
                "Role from groups",
                match &t.role_group {
                    Some((g, role)) => format!("{} ({g})", role.name()),
                    None => "none of the role groups".into(),
                },
            ));
        }
        if let Some(a) = &t.account {
            rows.push(("Account", a.clone()));
        }
    }
    if let Some(pw) = &t.password {
        rows.push(("Password", pw.describe()));
    }
    PersonView {
        rows,
        verdict: t.verdict.clone(),
        allowed: t.allowed,
    }
}

/// `POST /organization/directory/test-person` (`username`, optional `password`;
/// administrators).
pub async fn test_person(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (s, params) = posted_or_login!(&req, payload, &app);
    let caller = s.session.as_caller();
    let username = params
        .optional("username")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let password = params
        .optional("password")
        .filter(|p| !p.is_empty())
        .map(Password::new);
    if username.is_empty() {
        let msg = "Enter the username to test.".to_owned();
        return page(&s, &app, |p| p.error = Some(msg)).await;
    }
    match app
        .test_ldap_person(By::Caller(&caller), &s.realm, &username, password.as_ref())
        .await
    {
        Ok(t) => {
            let view = person_view(&t);
            page(&s, &app, |p| {
                (p.person_username, p.person) = (username, Some(view))
            })
            .await
        }
        Err(ServiceError::Invalid(msg)) => {
            page(&s, &app, |p| {
                (p.person_username, p.error) = (username, Some(msg))
            })
            .await
        }
        Err(e) => Err(refused(e)),
    }
}

fn sync_view(r: &SyncPreview) -> SyncView {
    let verb = if r.applied { "changed" } else { "would change" };
    let mut lines: Vec<String> = r
        .changes
        .iter()
        .map(|c| format!("{verb} {}: {}", c.user.delivery_email, c.why))
        .collect();
    lines.extend(r.missing_kept.iter().map(|e| {
        format!("not in the directory (kept: deactivation of people who leave is off): {e}")
    }));
    lines.extend(r.conflicts.iter().map(|c| format!("refused: {c}")));
    lines.extend(r.failed.iter().map(|f| format!("failed: {f}")));
    SyncView {
        applied: r.applied,
        summary: r.summary(),
        stopped: r.stopped.is_some(),
        can_apply: !r.applied && r.stopped.is_none() && !r.changes.is_empty(),
        lines,
    }
}

/// `POST /organization/directory/sync`: a preview, or with `apply` the sync itself (owners).
pub async fn sync(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, PageError> {
    let (s, params) = posted_or_login!(&req, payload, &app);
    let caller = s.session.as_caller();
    let apply = params.optional("apply").is_some_and(|v| v == "1");
    match app
        .sync_realm_ldap(By::Caller(&caller), &s.realm, apply, false)
        .await
    {
        Ok(r) => {
            let view = sync_view(&r);
            page(&s, &app, |p| p.sync = Some(view)).await
        }
        Err(ServiceError::Invalid(msg)) => page(&s, &app, |p| p.error = Some(msg)).await,
        Err(e) => Err(refused(e)),
    }
}
