//! Development-server endpoints: `POST /api/v1/dev_fetch_api_key` (a key for any active account,
//! no password) and `GET /api/v1/dev_list_users`. On a production server (the default) they give
//! Zulip's production answer.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{AuthFailure, BackendKind, policy};
use auth_store::UserFilter;
use serde_json::{Map, json};

use crate::envelope::{ApiError, success};
use crate::host::realm_url;
use crate::params::Params;
use crate::state::AppState;

/// Zulip's `check_dev_auth_backend`.
fn check_dev(state: &AppState) -> Result<(), ApiError> {
    if !state.settings.development.enabled {
        return Err(ApiError::bad_request(
            "Endpoint not available in production.",
        ));
    }
    if !state.dev_backend {
        return Err(ApiError::bad_request("DevAuthBackend not enabled."));
    }
    Ok(())
}

pub async fn dev_fetch_api_key(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::read(&req, payload, state.settings.server.max_body_bytes).await?;
    let username = params.required("username")?.to_owned();
    check_dev(&state)?;
    policy::check_username_shape(&username).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Here the email check comes before the realm, as in Zulip.
    policy::validate_email(&username)
        .map_err(|_| ApiError::bad_request(policy::INVALID_EMAIL_MSG))?;
    state.limits.check_ip(&req).await?;
    let realm = state
        .realm_for(&req)
        .await?
        .ok_or_else(ApiError::nonexistent_subdomain)?;
    let outcome = dev_login(&state, &realm, &username).await?;
    let (tried, failure) = (outcome.as_ref().ok(), outcome.as_ref().err());
    super::login::record_login(&state, &realm, tried, &username, failure, "dev", None).await;
    match outcome {
        Ok(user) => super::key_response(&state, &req, &user, &params.ignored()).await,
        Err(f) => Err(ApiError::from_auth_failure(&f)),
    }
}

/// The dev backend's decision for an email (no password): the account, or why not.
async fn dev_login(
    state: &AppState,
    realm: &auth_core::Realm,
    username: &str,
) -> Result<Result<auth_core::User, AuthFailure>, ApiError> {
    let unavailable = |e| ApiError::unavailable("dev login lookup failed", e);
    if !state.method_enabled(BackendKind::Dev, Some(realm)) {
        return Ok(Err(AuthFailure::BadCredentials));
    }
    // One query finds the realm's account and any account elsewhere.
    let records = state
        .store
        .login_records_any_realm(username)
        .await
        .map_err(unavailable)?;
    let exists_elsewhere = !records.is_empty();
    let Some(user) = records
        .into_iter()
        .map(|r| r.user)
        .find(|u| u.realm_id == realm.id)
    else {
        return Ok(Err(if exists_elsewhere {
            AuthFailure::WrongRealm
        } else {
            AuthFailure::BadCredentials
        }));
    };
    Ok(if realm.deactivated {
        Err(AuthFailure::RealmDeactivated)
    } else if !user.is_active {
        Err(AuthFailure::UserDeactivated)
    } else {
        Ok(user)
    })
}

pub async fn dev_list_users(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    check_dev(&state)?;
    let unavailable = |e| ApiError::unavailable("dev user listing failed", e);
    let mut admins = Vec::new();
    let mut members = Vec::new();
    for realm in state.store.list_realms().await.map_err(unavailable)? {
        if realm.deactivated {
            continue;
        }
        let url = realm_url(&realm.subdomain, &state.settings.server);
        for user in state
            .store
            .list_users(realm.id, UserFilter::PeopleOnly)
            .await
            .map_err(unavailable)?
        {
            if !user.is_active {
                continue;
            }
            let entry = json!({"email": user.delivery_email, "realm_url": url, "realm_uri": url});
            if user.role.is_realm_admin() {
                admins.push(entry);
            } else {
                members.push(entry);
            }
        }
    }
    let mut fields = Map::new();
    fields.insert("direct_admins".into(), json!(admins));
    fields.insert("direct_users".into(), json!(members));
    Ok(success(fields, &[]))
}
