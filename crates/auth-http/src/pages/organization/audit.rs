//! Organization → Audit log: the realm's audit rows, newest first, filtered by the person an
//! entry is about, who acted, the event type and a date range ([`audit_log::search`], the
//! search of `latchkey audit list`); failed logins are rows like any other. The same filters
//! export as CSV (`/organization/audit.csv`: `text/csv`, an attachment, quoted by the `csv`
//! crate; a cell a spreadsheet would run as a formula is prefixed with `'`).

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_core::{Timestamp, User};
use auth_service::audit_log::{self, AuditQuery};
use auth_service::audit_log::{AuditEntry, AuditEvent};
use auth_service::clock::rfc3339;
use auth_service::{App, members};

use super::{Admin, admin_or_login, query_pairs, refused};
use crate::pages::PageError;
use crate::pages::shell::{Flash, Shell, page_headers, render};

/// Rows on the page; rows in an export.
const ON_PAGE: usize = 200;
const IN_EXPORT: usize = 10_000;

/// The event types offered in the filter.
const EVENTS: [AuditEvent; 22] = [
    AuditEvent::UserLoggedIn,
    AuditEvent::UserLoginFailed,
    AuditEvent::LoginLimitCleared,
    AuditEvent::UserCreated,
    AuditEvent::UserDeactivated,
    AuditEvent::UserReactivated,
    AuditEvent::UserRoleChanged,
    AuditEvent::UserRoleChangeRefused,
    AuditEvent::UserFullNameChanged,
    AuditEvent::UserEmailChanged,
    AuditEvent::UserPasswordChanged,
    AuditEvent::UserPasswordResetRequired,
    AuditEvent::PasswordResetRequested,
    AuditEvent::PasswordResetDone,
    AuditEvent::UserApiKeyChanged,
    AuditEvent::UserExternalIdChanged,
    AuditEvent::UserDirectoryLinkRefused,
    AuditEvent::RealmAuthMethodsChanged,
    AuditEvent::RealmSettingsChanged,
    AuditEvent::RealmCreated,
    AuditEvent::RealmDeactivated,
    AuditEvent::RealmReactivated,
];

/// The filters as typed.
#[derive(Default)]
struct Filters {
    person: String,
    actor: String,
    event: String,
    since: String,
    until: String,
}

impl Filters {
    fn of(req: &HttpRequest) -> Filters {
        let mut f = Filters::default();
        for (k, v) in query_pairs(req) {
            let v = v.trim().to_owned();
            match k.as_str() {
                "person" => f.person = v,
                "actor" => f.actor = v,
                "event" => f.event = v,
                "since" => f.since = v,
                "until" => f.until = v,
                _ => {}
            }
        }
        f
    }

    /// The query for the admin's realm, or what is wrong with the filters.
    fn query(&self, a: &Admin, limit: usize) -> Result<AuditQuery, String> {
        let event = match self.event.as_str() {
            "" => None,
            e if EVENTS.iter().any(|k| k.as_str() == e) => Some(e.to_owned()),
            _ => return Err("Please choose an event type from the list.".to_owned()),
        };
        Ok(AuditQuery {
            realm: Some(a.caller.realm.id),
            event,
            since: day(&self.since, false)?,
            until: day(&self.until, true)?,
            person: Some(self.person.clone()).filter(|p| !p.is_empty()),
            actor: Some(self.actor.clone()).filter(|p| !p.is_empty()),
            reason: None,
            limit,
        })
    }

    /// The query string that repeats these filters (for the export link).
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("person", &self.person),
            ("actor", &self.actor),
            ("event", &self.event),
            ("since", &self.since),
            ("until", &self.until),
        ])
        .unwrap_or_default()
    }
}

/// A `YYYY-MM-DD` date (UTC) as the first microsecond of that day, or with `end` its last.
fn day(text: &str, end: bool) -> Result<Option<Timestamp>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("“{text}” is not a date: please write it as YYYY-MM-DD.");
    if text.len() != 10 {
        return Err(bad());
    }
    let at = humantime::parse_rfc3339_weak(&format!("{text} 00:00:00")).map_err(|_| bad())?;
    let micros = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_micros() as i64;
    let day = Duration::from_secs(86_400).as_micros() as i64;
    Ok(Some(Timestamp(if end { micros + day - 1 } else { micros })))
}

/// One row as shown and exported.
struct Line {
    time: String,
    event: String,
    actor: String,
    person: String,
    source: String,
    detail: String,
}

fn who(users: &HashMap<i64, User>, id: Option<auth_core::UserId>) -> String {
    match id {
        Some(id) => match users.get(&id.0) {
            Some(u) => format!("{} <{}>", u.full_name, u.delivery_email),
            None => format!("user {}", id.0),
        },
        None => String::new(),
    }
}

fn line(users: &HashMap<i64, User>, e: &AuditEntry) -> Line {
    let person = match (e.modified_user_id, e.detail["username"].as_str()) {
        (Some(id), _) => who(users, Some(id)),
        (None, Some(typed)) => format!("{typed} (typed at login)"),
        (None, None) => String::new(),
    };
    Line {
        time: rfc3339(e.event_time),
        event: e.event_type.clone(),
        actor: who(users, e.acting_user_id),
        person,
        source: e.source.clone(),
        detail: e.detail.to_string(),
    }
}

async fn lines(app: &App, a: &Admin, q: &AuditQuery) -> Result<Vec<Line>, PageError> {
    let entries = audit_log::search(app, q).await.map_err(refused)?;
    let users: HashMap<i64, User> = members::list(app, &a.caller)
        .await
        .map_err(refused)?
        .into_iter()
        .map(|u| (u.id.0, u))
        .collect();
    Ok(entries.iter().map(|e| line(&users, e)).collect())
}

#[derive(Template)]
#[template(path = "org_audit.html")]
struct AuditPage {
    shell: Shell,
    nav: &'static str,
    f: Filters,
    events: Vec<&'static str>,
    lines: Vec<Line>,
    limit: usize,
    export: String,
}

/// `GET /organization/audit` (`?person=&actor=&event=&since=&until=`).
pub async fn page(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, "/organization/audit");
    let f = Filters::of(&req);
    let mut shell = a.shell(&req);
    let (status, lines) = match f.query(&a, ON_PAGE) {
        Ok(q) => (StatusCode::OK, lines(&app, &a, &q).await?),
        Err(msg) => {
            shell.flashes.push(Flash::error(msg));
            (StatusCode::BAD_REQUEST, Vec::new())
        }
    };
    let page = AuditPage {
        shell,
        nav: "audit",
        export: format!("/organization/audit.csv?{}", f.query_string()),
        f,
        events: EVENTS.iter().map(|e| e.as_str()).collect(),
        lines,
        limit: ON_PAGE,
    };
    render(status, &page, Vec::new())
}

/// A cell a spreadsheet would not run as a formula.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// `GET /organization/audit.csv` with the page's filters: `audit-log.csv`.
pub async fn csv_export(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    let a = admin_or_login!(&req, &app, "/organization/audit");
    let q = Filters::of(&req)
        .query(&a, IN_EXPORT)
        .map_err(PageError::BadRequest)?;
    let lines = lines(&app, &a, &q).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| {
        tracing::error!(error = %e, "the audit export could not be written");
        PageError::Internal
    };
    w.write_record(["time", "event", "actor", "person", "source", "details"])
        .map_err(failed)?;
    for l in &lines {
        w.write_record([
            cell(&l.time),
            cell(&l.event),
            cell(&l.actor),
            cell(&l.person),
            cell(&l.source),
            cell(&l.detail),
        ])
        .map_err(failed)?;
    }
    let body = w.into_inner().map_err(|e| failed(e.into_error().into()))?;
    let mut b = HttpResponse::Ok();
    page_headers(&mut b);
    Ok(b.content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            r#"attachment; filename="audit-log.csv""#,
        ))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_utc_days() {
        let start = day("2026-11-30", false).unwrap().unwrap();
        let end = day("2026-11-30", true).unwrap().unwrap();
        assert_eq!(start.0, 1_795_996_800_000_000);
        assert_eq!(end.0 - start.0, 86_400_000_000 - 1);
        assert_eq!(day("", true).unwrap(), None);
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-11-31",
            "2026-1-1",
            "2026-11-30T00:00",
        ] {
            assert!(day(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(cell("=1+2"), "'=1+2");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            cell("hamlet <hamlet@zulip.com>"),
            "hamlet <hamlet@zulip.com>"
        );
        assert_eq!(cell(r#"{"a":1}"#), r#"{"a":1}"#);
    }
}
