//! `PATCH /api/v1/realm` (Zulip's "update realm settings"), of which Latchkey keeps the
//! setting it has: `authentication_methods`. Other settings are reported back in
//! `ignored_parameters_unsupported`. Zulip has no `GET /realm` (its clients read a realm's
//! methods from `GET /api/v1/server_settings` or `POST /register`); Latchkey adds one for its
//! administrators, answering the methods by the names `PATCH` takes. Both are also served
//! under `/json/realm` to the web session ([`crate::caller::Authed`]).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use auth_service::App;
use auth_service::members;
use serde_json::Value;

use crate::caller::Authed;
use crate::envelope::{ApiError, success_of};
use crate::params::Params;

/// The form of `PATCH /api/v1/realm`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct UpdateRealmForm {
    /// A JSON object of login methods by Zulip's names (`Email`, `LDAP`, `Dev`: those this
    /// server offers) to switch on (`true`) or off (`false`), e.g. `{"Email":true,"LDAP":false}`.
    /// At least one must be true. Methods left out keep their state.
    #[schema(required = false, value_type = Object)]
    authentication_methods: String,
}

/// What `PATCH /api/v1/realm` answers: the settings it changed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RealmChanges {
    /// The methods as given, when they changed something.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    authentication_methods: Option<BTreeMap<String, bool>>,
}

/// Changes the realm's settings (Zulip's "update realm settings"): administrators only
/// (`UNAUTHORIZED_PRINCIPAL` otherwise); `authentication_methods` owners only. Audited; every
/// instance uses the new methods within a second.
#[utoipa::path(
    patch,
    path = "/api/v1/realm",
    tag = "realm",
    request_body(content = UpdateRealmForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The settings that changed", body = RealmChanges),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn update_realm(
    caller: Authed,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    members::may_change_realm(&caller)?;
    let params = Params::of(&req, payload).await?;
    let mut answer = RealmChanges {
        authentication_methods: None,
    };
    if let Some(raw) = params.json("authentication_methods")? {
        let requested = methods_object(raw)?;
        let list: Vec<(String, bool)> = requested.clone().into_iter().collect();
        if members::set_auth_methods_for(&app, &caller, &list)
            .await?
            .is_some()
        {
            answer.authentication_methods = Some(requested);
        }
    }
    success_of(&answer, &params.ignored())
}

/// What `GET /api/v1/realm` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RealmSettings {
    /// Each login method this server offers, by the names `PATCH /realm` takes, and whether it
    /// is on for the realm.
    authentication_methods: BTreeMap<&'static str, bool>,
}

/// The realm's settings that `PATCH /realm` changes (a Latchkey addition: Zulip's clients read
/// them from `POST /register`): administrators only (`UNAUTHORIZED_PRINCIPAL` otherwise).
#[utoipa::path(
    get,
    path = "/api/v1/realm",
    tag = "realm",
    responses(
        (status = 200, description = "The realm's settings", body = RealmSettings),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn get_realm(
    caller: Authed,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    members::may_change_realm(&caller)?;
    let params = Params::of(&req, payload).await?;
    let answer = RealmSettings {
        authentication_methods: members::auth_methods_for(&app, &caller)
            .await?
            .into_iter()
            .collect(),
    };
    success_of(&answer, &params.ignored())
}

/// `authentication_methods` as Zulip validates it: an object (`"… is not a dict"`) of booleans.
fn methods_object(raw: Value) -> Result<BTreeMap<String, bool>, ApiError> {
    let Value::Object(map) = raw else {
        return Err(ApiError::bad_request(
            "authentication_methods is not a dict",
        ));
    };
    map.into_iter()
        .map(|(name, on)| match on {
            Value::Bool(b) => Ok((name, b)),
            _ => Err(ApiError::bad_request(format!(
                "authentication_methods['{name}'] is not a boolean"
            ))),
        })
        .collect()
}
