//! `POST /api/v1/fetch_api_key`: password login through the backend chain.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{AuthFailure, DirectoryRefusal, Password, Realm, User, policy};
use auth_store::{Actor, AuditEvent};
use serde_json::json;

use crate::envelope::ApiError;
use crate::params::Params;
use crate::state::AppState;

pub async fn fetch_api_key(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::read(&req, payload, state.settings.server.max_body_bytes).await?;
    // Parameters are checked first, username before password, as Zulip's REQ framework does.
    let username = params.required("username")?.to_owned();
    let password = Password::new(params.required("password")?);
    // Before anything else: no backend, limit key or log line sees an overlong name or one
    // with control characters.
    policy::check_username_shape(&username).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Counted before any lookup, so a flood of made-up hosts costs nothing.
    state.limits.check_ip(&req).await?;
    let realm = state
        .realm_for(&req)
        .await?
        .ok_or_else(ApiError::nonexistent_subdomain)?;
    policy::check_login_username(
        &username,
        state.require_email_format_usernames(Some(&realm)),
    )
    .map_err(|_| ApiError::bad_request(policy::INVALID_EMAIL_MSG))?;
    let ticket = match state
        .limits
        .begin_login(&req, &state.login_name(&username))
        .await
    {
        Ok(ticket) => ticket,
        Err(refused) => {
            let limited = AuthFailure::RateLimited {
                retry_after: std::time::Duration::ZERO,
            };
            record_login(&state, &realm, None, &username, Some(&limited), "", None).await;
            return Err(refused);
        }
    };
    let guard = state.limits.guard();
    let attempt = state
        .chain
        .attempt(&realm, &username, &password, Some(&guard))
        .await;
    state.limits.end_login(&req, ticket, guard, &attempt).await;
    let notes = FailureNotes {
        person_found: attempt.person_found,
        explanation: attempt.explanation.clone(),
    };
    let outcome = attempt.result;
    match outcome {
        Ok(ok) => {
            let response = super::key_response(&state, &req, &ok.user, &params.ignored()).await?;
            record_login(
                &state,
                &realm,
                Some(&ok.user),
                &username,
                None,
                ok.backend.name(),
                None,
            )
            .await;
            Ok(response)
        }
        Err(failure) => {
            // For the audit row: whose account was tried, when it exists in this realm.
            let tried = state
                .store
                .user_by_email(realm.id, &username)
                .await
                .ok()
                .flatten();
            record_login(
                &state,
                &realm,
                tried.as_ref(),
                &username,
                Some(&failure),
                "",
                Some(&notes),
            )
            .await;
            Err(ApiError::from_auth_failure(&failure))
        }
    }
}

fn failure_reason(failure: &AuthFailure) -> &'static str {
    match failure {
        AuthFailure::BadCredentials => "bad_credentials",
        AuthFailure::UserDeactivated => "user_deactivated",
        AuthFailure::RealmDeactivated => "realm_deactivated",
        AuthFailure::PasswordAuthDisabled => "password_auth_disabled",
        AuthFailure::PasswordResetRequired => "password_reset_required",
        AuthFailure::WrongRealm => "other_organization",
        AuthFailure::Refused(r) => match r {
            DirectoryRefusal::AccountDisabled => "directory_account_disabled",
            DirectoryRefusal::AccountExpired => "directory_account_expired",
            DirectoryRefusal::PasswordExpired => "directory_password_expired",
            DirectoryRefusal::PasswordMustChange => "directory_password_must_change",
            DirectoryRefusal::NotPermittedNow => "directory_not_permitted_now",
            DirectoryRefusal::NotAllowedInRealm => "not_allowed_in_realm",
            DirectoryRefusal::ProvisioningDisabled => "no_account_and_provisioning_off",
            DirectoryRefusal::MissingAttribute => "directory_entry_missing_attribute",
            DirectoryRefusal::InvalidProfile => "directory_entry_invalid_profile",
        },
        AuthFailure::Unavailable { .. } => "backend_unavailable",
        AuthFailure::RateLimited { .. } => "rate_limited",
    }
}

/// What the chain learned about a failed attempt, for the administrator's audit log only.
pub(super) struct FailureNotes {
    /// Some backend found the person: a wrong password, not an unknown name.
    pub person_found: bool,
    /// The group or rule behind a directory refusal.
    pub explanation: Option<String>,
}

/// Logs the attempt and writes its audit row (never the password). A failed audit write is
/// logged but does not turn a login into an error. The row names the realm by subdomain and,
/// with `notes`, tells an unknown name (`no_such_person`) from a wrong password and says which
/// rule refused.
pub(super) async fn record_login(
    state: &AppState,
    realm: &Realm,
    user: Option<&User>,
    username: &str,
    failure: Option<&AuthFailure>,
    backend: &str,
    notes: Option<&FailureNotes>,
) {
    // The username as typed, shortened: it is not a secret, but it is attacker-controlled, so
    // log lines carry it escaped (`?`), never raw.
    let shown: String = username.chars().take(120).collect();
    // A refusal for too many failures is audited once per name and minute, not per request of
    // a flood (`latchkey limits list` reads these rows).
    if matches!(failure, Some(AuthFailure::RateLimited { .. }))
        && !state.limits.first_refusal(&state.login_name(username))
    {
        return;
    }
    let (event, detail) = match failure {
        None => {
            tracing::info!(realm = %realm.subdomain, user_id = ?user.map(|u| u.id.0), backend, "login succeeded");
            (
                AuditEvent::UserLoggedIn,
                json!({"backend": backend, "username": shown, "realm": realm.subdomain}),
            )
        }
        Some(f) => {
            let reason = match (f, notes) {
                (AuthFailure::BadCredentials, Some(n)) if !n.person_found => "no_such_person",
                _ => failure_reason(f),
            };
            match f {
                AuthFailure::Unavailable {
                    backend,
                    reason: why,
                } => tracing::warn!(
                    realm = %realm.subdomain, username = ?shown, %backend, error = ?why,
                    "login could not be decided: backend unavailable"
                ),
                _ => {
                    tracing::info!(realm = %realm.subdomain, username = ?shown, reason, "login failed")
                }
            }
            (
                AuditEvent::UserLoginFailed,
                json!({
                    "reason": reason,
                    "username": shown,
                    "realm": realm.subdomain,
                    "why": notes.and_then(|n| n.explanation.as_deref()),
                }),
            )
        }
    };
    let user_id = user.map(|u| u.id);
    let acting = if failure.is_none() { user_id } else { None };
    if let Err(e) = state
        .store
        .record_event(
            Some(realm.id),
            event,
            Actor {
                source: "login",
                user: acting,
            },
            user_id,
            detail,
        )
        .await
    {
        tracing::warn!(error = %e, "could not write the login audit row");
    }
}
