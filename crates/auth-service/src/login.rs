//! Logging in: the one path from a name and a password (or, on a development server, a name
//! alone) to an account and its API key, shared by `fetch_api_key`, the dev endpoint, the
//! login page and the CLI. In order: the name's shape, the client address's limit, the realm
//! of the host, the username format the realm requires, the name's login limit, the backend
//! chain (which asks the limit again for each identity it resolves), the audit row, the key.

use std::net::IpAddr;

use auth_core::{
    ApiKey, AuthFailure, BackendKind, DirectoryRefusal, Password, Realm, User, policy,
};
use auth_ratelimit::Decision;
use auth_store::{Actor, AuditEvent};
use serde_json::json;

use crate::App;
use crate::error::ServiceError;
use crate::limits::Checked;

/// Who is asking, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The client's address ([`crate::limits::Limits::client_ip`]), when known.
    pub ip: Option<IpAddr>,
    /// The host the request named (Host, or a trusted proxy's `X-Forwarded-Host`).
    pub host: &'a str,
}

/// A successful login: the account, its key, and the backend that proved it.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: User,
    pub realm: Realm,
    pub key: ApiKey,
    pub backend: &'static str,
}

/// What a login answered, with what the caller may show besides: the rate-limit decisions
/// evaluated on the way (for `X-RateLimit-*` headers) and the realm's subdomain once known
/// (for the request log).
#[derive(Debug)]
pub struct LoginResult {
    pub outcome: Result<LoggedIn, ServiceError>,
    pub decisions: Vec<Decision>,
    pub subdomain: Option<String>,
}

impl LoginResult {
    fn new() -> LoginResult {
        LoginResult {
            outcome: Err(ServiceError::NoSuchRealm),
            decisions: Vec::new(),
            subdomain: None,
        }
    }

    fn note(&mut self, checked: Checked) -> Result<(), ServiceError> {
        match checked {
            Ok(d) => {
                self.decisions.extend(d);
                Ok(())
            }
            Err(limited) => {
                let retry_after = limited.retry_after();
                self.decisions.push(limited.0);
                Err(ServiceError::Auth(AuthFailure::RateLimited { retry_after }))
            }
        }
    }
}

impl App {
    /// The realm a host names: `None` when no realm has that subdomain (an unrecognised host
    /// is the root domain, as Zulip's `get_subdomain` has it).
    pub async fn realm_of_host(&self, host: &str) -> Result<(String, Option<Realm>), ServiceError> {
        let subdomain = self
            .recognised_subdomain(host)
            .inspect_err(|_| tracing::info!(host = ?host, "refused a malformed host"))?
            .unwrap_or_default();
        let realm = self
            .realm_for_subdomain(&subdomain)
            .await
            .map_err(|e| ServiceError::unavailable("realm lookup failed", e))?;
        Ok((subdomain, realm))
    }

    /// A password login (`fetch_api_key`, the login page).
    pub async fn password_login(
        &self,
        client: Client<'_>,
        username: &str,
        password: &Password,
    ) -> LoginResult {
        let mut result = LoginResult::new();
        result.outcome = self
            .try_password_login(&mut result, client, username, password)
            .await;
        result
    }

    async fn try_password_login(
        &self,
        result: &mut LoginResult,
        client: Client<'_>,
        username: &str,
        password: &Password,
    ) -> Result<LoggedIn, ServiceError> {
        // Before anything else: no backend, limit key or log line sees an overlong name or one
        // with control characters.
        policy::check_username_shape(username).map_err(|e| ServiceError::invalid(e.to_string()))?;
        // Counted before any lookup, so a flood of made-up hosts costs nothing.
        result.note(self.limits.check_ip(client.ip).await)?;
        let realm = self.realm_named_by(result, client.host).await?;
        policy::check_login_username(username, self.require_email_format_usernames(Some(&realm)))
            .map_err(|_| ServiceError::invalid(policy::INVALID_EMAIL_MSG))?;
        let ticket = match self.limits.begin_login(&self.login_name(username)).await {
            Ok((ticket, decision)) => {
                result.decisions.extend(decision);
                ticket
            }
            Err(limited) => {
                let retry_after = limited.retry_after();
                result.decisions.push(limited.0);
                let shown = AuthFailure::RateLimited {
                    retry_after: std::time::Duration::ZERO,
                };
                record_login(self, &realm, None, username, Some(&shown), "", None).await;
                return Err(ServiceError::Auth(AuthFailure::RateLimited { retry_after }));
            }
        };
        let guard = self.limits.guard();
        let attempt = self
            .chain
            .attempt(&realm, username, password, Some(&guard))
            .await;
        let seen = self.limits.end_login(ticket, guard, &attempt).await;
        result.decisions.extend(seen);
        let notes = FailureNotes {
            person_found: attempt.person_found,
            explanation: attempt.explanation.clone(),
        };
        match attempt.result {
            Ok(ok) => {
                let key = self.key_of(&ok.user).await?;
                record_login(
                    self,
                    &realm,
                    Some(&ok.user),
                    username,
                    None,
                    ok.backend.name(),
                    None,
                )
                .await;
                Ok(LoggedIn {
                    user: ok.user,
                    realm,
                    key,
                    backend: ok.backend.name(),
                })
            }
            Err(failure) => {
                // For the audit row: whose account was tried. The backends report the one they
                // loaded; only when none did (a directory-only realm) is it looked up here.
                let tried = match attempt.tried {
                    Some(user) => Some(user),
                    None if username.contains('@') => self
                        .store
                        .user_by_email(realm.id, username)
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                record_login(
                    self,
                    &realm,
                    tried.as_ref(),
                    username,
                    Some(&failure),
                    "",
                    Some(&notes),
                )
                .await;
                Err(ServiceError::Auth(failure))
            }
        }
    }

    /// A passwordless login on a development server (`dev_fetch_api_key`): Zulip's
    /// `check_dev_auth_backend`, then the account's key.
    pub async fn dev_login(&self, client: Client<'_>, username: &str) -> LoginResult {
        let mut result = LoginResult::new();
        result.outcome = self.try_dev_login(&mut result, client, username).await;
        result
    }

    async fn try_dev_login(
        &self,
        result: &mut LoginResult,
        client: Client<'_>,
        username: &str,
    ) -> Result<LoggedIn, ServiceError> {
        self.check_dev()?;
        policy::check_username_shape(username).map_err(|e| ServiceError::invalid(e.to_string()))?;
        // Here the email check comes before the realm, as in Zulip.
        policy::validate_email(username)
            .map_err(|_| ServiceError::invalid(policy::INVALID_EMAIL_MSG))?;
        result.note(self.limits.check_ip(client.ip).await)?;
        let realm = self.realm_named_by(result, client.host).await?;
        let outcome = dev_decision(self, &realm, username).await?;
        let (tried, failure) = (outcome.as_ref().ok(), outcome.as_ref().err());
        record_login(self, &realm, tried, username, failure, "dev", None).await;
        let user = outcome.map_err(ServiceError::Auth)?;
        let key = self.key_of(&user).await?;
        Ok(LoggedIn {
            user,
            realm,
            key,
            backend: "dev",
        })
    }

    /// Zulip's `check_dev_auth_backend`: the dev endpoints answer only on a development server
    /// with the dev backend configured.
    pub fn check_dev(&self) -> Result<(), ServiceError> {
        if !self.development {
            return Err(ServiceError::invalid(
                "Endpoint not available in production.",
            ));
        }
        if !self.dev_backend {
            return Err(ServiceError::invalid("DevAuthBackend not enabled."));
        }
        Ok(())
    }

    /// The realm the host names, noted on the result; none is [`ServiceError::NoSuchRealm`].
    async fn realm_named_by(
        &self,
        result: &mut LoginResult,
        host: &str,
    ) -> Result<Realm, ServiceError> {
        let (subdomain, realm) = self.realm_of_host(host).await?;
        result.subdomain = Some(subdomain);
        realm.ok_or(ServiceError::NoSuchRealm)
    }

    /// The account's current key (a failure to read it is logged with the account's id).
    pub async fn key_of(&self, user: &User) -> Result<ApiKey, ServiceError> {
        self.keys.key_for(user.id).await.map_err(|e| {
            tracing::error!(user_id = %user.id, error = %e, "cannot read the user's API key");
            ServiceError::unavailable("reading an API key", e)
        })
    }
}

/// The dev backend's decision for an email (no password): the account, or why not.
async fn dev_decision(
    app: &App,
    realm: &Realm,
    username: &str,
) -> Result<Result<User, AuthFailure>, ServiceError> {
    let unavailable = |e| ServiceError::unavailable("dev login lookup failed", e);
    if !app.method_enabled(BackendKind::Dev, Some(realm)) {
        return Ok(Err(AuthFailure::BadCredentials));
    }
    // One query finds the realm's account and any account elsewhere.
    let records = app
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
struct FailureNotes {
    /// Some backend found the person: a wrong password, not an unknown name.
    person_found: bool,
    /// The group or rule behind a directory refusal.
    explanation: Option<String>,
}

/// Logs the attempt and writes its audit row (never the password). A failed audit write is
/// logged but does not turn a login into an error. The row names the realm by subdomain and,
/// with `notes`, tells an unknown name (`no_such_person`) from a wrong password and says which
/// rule refused.
async fn record_login(
    app: &App,
    realm: &Realm,
    user: Option<&User>,
    username: &str,
    failure: Option<&AuthFailure>,
    backend: &str,
    notes: Option<&FailureNotes>,
) {
    let outcome = match (failure, notes) {
        (None, _) => "success",
        (Some(AuthFailure::BadCredentials), Some(n)) if !n.person_found => "no_such_person",
        (Some(f), _) => failure_reason(f),
    };
    crate::telemetry::login(backend, outcome);
    // The username as typed, shortened: it is not a secret, but it is attacker-controlled, so
    // log lines carry it escaped (`?`), never raw.
    let shown: String = username.chars().take(120).collect();
    // A refusal for too many failures is audited once per name and minute, not per request of
    // a flood (`latchkey limits list` reads these rows).
    if matches!(failure, Some(AuthFailure::RateLimited { .. }))
        && !app.limits.first_refusal(&app.login_name(username))
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
            let reason = outcome;
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
    if let Err(e) = app
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

/// An account a development server offers for passwordless login.
#[derive(Debug, Clone)]
pub struct DevAccount {
    pub email: String,
    pub realm_url: String,
    pub is_admin: bool,
}

impl App {
    /// Every active person of every active realm (`dev_list_users`), on a development server.
    pub async fn dev_accounts(&self) -> Result<Vec<DevAccount>, ServiceError> {
        self.check_dev()?;
        let unavailable = |e| ServiceError::unavailable("dev user listing failed", e);
        let mut out = Vec::new();
        for realm in self.store.list_realms().await.map_err(unavailable)? {
            if realm.deactivated {
                continue;
            }
            let url = crate::host::realm_url(&realm.subdomain, &self.hosts);
            let people = self
                .store
                .list_users(realm.id, auth_store::UserFilter::PeopleOnly)
                .await
                .map_err(unavailable)?;
            out.extend(
                people
                    .into_iter()
                    .filter(|u| u.is_active)
                    .map(|u| DevAccount {
                        email: u.delivery_email,
                        realm_url: url.clone(),
                        is_admin: u.role.is_realm_admin(),
                    }),
            );
        }
        Ok(out)
    }
}

/// What a login page or client needs to know before a login (`server_settings`): the realm the
/// host names and which methods work there.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The subdomain the host names (`""` for the root domain or an unrecognised host).
    pub subdomain: String,
    pub realm: Option<Realm>,
    pub realm_url: String,
    pub password: bool,
    pub email: bool,
    pub ldap: bool,
    pub dev: bool,
    /// Zulip's `require_email_format_usernames`: the login field asks for an email.
    pub require_email_format_usernames: bool,
}

impl App {
    /// The login options for a host. A host naming no realm is `NoSuchRealm` unless it is the
    /// root domain, which still answers (with the server's methods).
    pub async fn login_options(&self, host: &str) -> Result<LoginOptions, ServiceError> {
        let (subdomain, realm) = self.realm_of_host(host).await?;
        if realm.is_none() && !subdomain.is_empty() {
            return Err(ServiceError::NoSuchRealm);
        }
        let r = realm.as_ref();
        Ok(LoginOptions {
            realm_url: crate::host::realm_url(&subdomain, &self.hosts),
            password: self.chain.password_auth_enabled(r),
            email: self.method_enabled(BackendKind::Email, r),
            ldap: self.method_enabled(BackendKind::Ldap, r),
            dev: self.method_enabled(BackendKind::Dev, r),
            require_email_format_usernames: self.require_email_format_usernames(r),
            subdomain,
            realm,
        })
    }
}
