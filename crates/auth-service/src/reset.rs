//! Password reset by email ("Forgot your password?", docs/reset.md): the request, the link's
//! check and the new password, for the reset pages.
//!
//! [`App::request_reset`] answers at once and the same way for every address: it checks only
//! the host and the address's shape, queues the rest for the worker (`reset/worker.rs`) and
//! returns, so neither the answer nor its timing says whether an account exists. A full queue
//! drops the request with a warning rather than make anyone wait.
//!
//! Tokens are 256 random bits, kept as their SHA-256 digest, good once and for
//! `token_lifetime`; a newer token and any password change kill the older ones
//! (`auth_store::Store::issue_reset_token`, `set_password`). A reset ends every session of
//! the user (through the store's password change) and clears their failed-login history.

mod limits;
mod text;
mod worker;

use std::sync::Arc;

use auth_core::{BackendKind, Password, Realm, ResetToken, User, WeakPassword, policy};
use tokio::sync::mpsc;

use crate::App;
use crate::error::ServiceError;
use crate::login::Client;
use crate::mail::Mailer;

pub(crate) use limits::ResetLimits;

pub use crate::options::ResetOptions;

/// Why a new password was not set.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used or expired token, or an account that can no longer reset.
    #[error("Sorry, the link you provided is invalid or has already been used.")]
    InvalidLink,
    /// The new password fails the policy (the page says Zulip's "The password is too weak.").
    #[error("The password is too weak.")]
    WeakPassword(WeakPassword),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The queue in front of the worker.
pub(crate) struct ResetQueue {
    jobs: mpsc::Sender<worker::Job>,
}

impl ResetQueue {
    /// Starts the worker (on the current tokio runtime) and returns its queue.
    pub(crate) fn start(
        app: &AppParts,
        mailer: Arc<Mailer>,
        limits: ResetLimits,
        options: ResetOptions,
    ) -> ResetQueue {
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let worker = Arc::new(worker::Worker {
            store: app.store.clone(),
            mailer,
            limits,
            hosts: app.hosts.clone(),
            ldap: app.ldap.clone(),
            backends: app.backends.clone(),
            options,
        });
        tokio::spawn(worker.run(rx));
        ResetQueue { jobs: tx }
    }
}

/// What the worker takes from the application being built.
pub(crate) struct AppParts {
    pub store: auth_store::Store,
    pub hosts: crate::host::Hosts,
    pub ldap: Arc<auth_ldap::Directories>,
    pub backends: Vec<BackendKind>,
}

impl App {
    /// "Reset your password": `Ok` for any well-formed address on a realm's host, at once; the
    /// worker decides later whether anything is mailed. Errors: a malformed or unknown host, an
    /// address that is not one (Zulip's "Enter a valid email address.").
    pub async fn request_reset(&self, client: Client<'_>, email: &str) -> Result<(), ServiceError> {
        let email = email.trim();
        policy::check_username_shape(email).map_err(|e| ServiceError::invalid(e.to_string()))?;
        policy::validate_email(email)
            .map_err(|_| ServiceError::invalid(policy::INVALID_EMAIL_MSG))?;
        let (_, realm) = self.realm_of_host(client.host).await?;
        let realm = realm.ok_or(ServiceError::NoSuchRealm)?;
        self.queue_reset(worker::Job {
            realm,
            email: email.to_owned(),
            ip: client.ip,
        });
        Ok(())
    }

    /// Queues a reset link for an administrator's "require a password reset"
    /// ([`crate::admin::require_password_reset`]): the worker's usual path, so the address's
    /// limits, the directory check and the Email method decide as for a request of the person.
    pub(crate) fn queue_reset_link(&self, realm: &Realm, email: &str) {
        self.queue_reset(worker::Job {
            realm: realm.clone(),
            email: email.to_owned(),
            ip: None,
        });
    }

    fn queue_reset(&self, job: worker::Job) {
        match self.resets.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("password reset queue full; a request was dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("password reset worker stopped; a request was dropped");
            }
        }
    }

    /// The account and realm a reset link is for, when the link works on this host: the token
    /// is known, unused and unexpired, and the account can still reset its password here.
    pub async fn check_reset_token(
        &self,
        host: &str,
        token: &str,
    ) -> Result<Option<(User, Realm)>, ServiceError> {
        let Ok(token) = ResetToken::parse(token) else {
            return Ok(None);
        };
        let user = self
            .store
            .reset_token_user(&token.digest())
            .await
            .map_err(|e| ServiceError::unavailable("reset token lookup failed", e))?;
        let Some(user) = user else {
            return Ok(None);
        };
        let (_, realm) = self.realm_of_host(host).await?;
        Ok(realm
            .filter(|r| self.can_reset(&user, r))
            .map(|realm| (user, realm)))
    }

    /// Sets a new password through a reset link: checks the link as [`App::check_reset_token`]
    /// does and the password against the policy, then, in one transaction, consumes the token
    /// and sets the password (which deletes the user's reset tokens and ends their sessions).
    /// Their failed-login history is cleared.
    pub async fn reset_password(
        &self,
        host: &str,
        token: &str,
        new_password: &Password,
    ) -> Result<User, ResetError> {
        let Some((user, realm)) = self.check_reset_token(host, token).await? else {
            return Err(ResetError::InvalidLink);
        };
        self.policy
            .check(new_password, &[&user.delivery_email, &user.full_name])
            .map_err(ResetError::WeakPassword)?;
        let hash = self
            .hasher
            .hash(new_password)
            .await
            .map_err(|e| ServiceError::unavailable("password hashing failed", e))?;
        let digest = ResetToken::parse(token)
            .map_err(|_| ResetError::InvalidLink)?
            .digest();
        let realm_id = realm.id;
        let changed = self
            .store
            .reset_password_with_token(&digest, hash, move |u| {
                u.realm_id == realm_id && u.is_active && u.external_id.is_none()
            })
            .await
            .map_err(|e| ServiceError::unavailable("password reset failed", e))?
            .ok_or(ResetError::InvalidLink)?;
        self.limits.clear_account(&changed).await;
        tracing::info!(realm = %realm.subdomain, user_id = changed.id.0, "password reset");
        Ok(changed)
    }

    /// Whether this account may set its password through a link on this realm now.
    fn can_reset(&self, user: &User, realm: &Realm) -> bool {
        user.realm_id == realm.id
            && user.is_active
            && !user.is_bot()
            && user.external_id.is_none()
            && !realm.deactivated
            && self.method_enabled(BackendKind::Email, Some(realm))
    }
}
