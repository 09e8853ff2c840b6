//! Development-server endpoints: `POST /api/v1/dev_fetch_api_key` (a key for any active account,
//! no password) and `GET /api/v1/dev_list_users`. On a production server (the default) they give
//! Zulip's production answer.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{BackendKind, policy};
use auth_store::{Actor, AuditEvent, UserFilter};
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
    // Here the email check comes before the realm, as in Zulip.
    policy::validate_email(&username)
        .map_err(|_| ApiError::bad_request(policy::INVALID_EMAIL_MSG))?;
    let realm = state
        .realm_for(&req)
        .await?
        .ok_or_else(ApiError::nonexistent_subdomain)?;
    let unavailable = |e: auth_store::StoreError| {
        tracing::error!(error = %e, "dev login lookup failed");
        ApiError::backend_unavailable()
    };
    state.limits.check_ip(&req).await?;
    let failed = || ApiError::from_auth_failure(&auth_core::AuthFailure::BadCredentials);
    if !state.method_enabled(BackendKind::Dev, Some(&realm)) {
        return Err(failed());
    }
    let Some(user) = state
        .store
        .user_by_email(realm.id, &username)
        .await
        .map_err(unavailable)?
    else {
        let elsewhere = state
            .store
            .login_records_any_realm(&username)
            .await
            .map_err(unavailable)?;
        return Err(if elsewhere.is_empty() {
            failed()
        } else {
            ApiError::nonexistent_subdomain()
        });
    };
    if realm.deactivated {
        return Err(ApiError::from_auth_failure(
            &auth_core::AuthFailure::RealmDeactivated,
        ));
    }
    if !user.is_active {
        return Err(ApiError::from_auth_failure(
            &auth_core::AuthFailure::UserDeactivated,
        ));
    }
    let response = super::key_response(&state, &req, &user, &params.ignored()).await?;
    if let Err(e) = state
        .store
        .record_event(
            Some(realm.id),
            AuditEvent::UserLoggedIn,
            Actor {
                source: "login",
                user: Some(user.id),
            },
            Some(user.id),
            json!({"backend": "dev"}),
        )
        .await
    {
        tracing::warn!(error = %e, "could not write the login audit row");
    }
    Ok(response)
}

pub async fn dev_list_users(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    check_dev(&state)?;
    let unavailable = |e: auth_store::StoreError| {
        tracing::error!(error = %e, "dev user listing failed");
        ApiError::backend_unavailable()
    };
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
