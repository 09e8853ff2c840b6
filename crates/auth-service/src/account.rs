//! Settings → Account & privacy (docs/web.md; spec web.md §2, decisions 8, 9, 14): the
//! password re-entry that lets a session show keys for a while ([`App::reauthenticate`]), the
//! zuliprc file ([`zuliprc`]) and "Change your password" ([`App::change_password`]). The pages
//! and `POST /json/fetch_api_key` call these; the words a person reads are chosen above.
//!
//! Both password checks are [`App::password_login`] with the account's delivery email: the
//! same backends in the same order (a directory person re-enters the directory password), the
//! same rate limits and the same audit row as a login.

use auth_core::{ApiKey, AuthFailure, BackendKind, Password, Realm, User, WeakPassword};
use auth_ratelimit::Decision;
use auth_store::Actor;

use crate::error::ServiceError;
use crate::login::Client;
use crate::{App, Caller, WebSession};

/// Zulip's answer to a wrong password on `/json/fetch_api_key`.
pub const PASSWORD_INCORRECT: &str = "Password is incorrect.";

/// What a re-authentication answered, with the rate-limit decisions seen on the way (for
/// `X-RateLimit-*` headers).
#[derive(Debug)]
pub struct Reauth {
    /// The account's key; a wrong password is [`ServiceError::Invalid`] with
    /// [`PASSWORD_INCORRECT`], a limit or an outage [`ServiceError::Auth`].
    pub outcome: Result<ApiKey, ServiceError>,
    pub decisions: Vec<Decision>,
}

/// Why "Change your password" did not change it.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// The account's password lives in the directory (or the realm has no Email login).
    #[error("Your password is managed by your organization's directory.")]
    ManagedElsewhere,
    /// The old password is not the account's (counted in the login limit).
    #[error("Wrong password!")]
    WrongPassword,
    /// The new password fails the policy, as a reset would refuse it.
    #[error("New password is too weak!")]
    Weak(WeakPassword),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The zuliprc file the web app offers, byte for byte (spec web.md §2.3): `site` is the realm
/// URL without a trailing slash.
pub fn zuliprc(email: &str, key: &ApiKey, site: &str) -> String {
    format!(
        "[api]\nemail={email}\nkey={}\nsite={}\n",
        key.expose(),
        site.trim_end_matches('/')
    )
}

impl WebSession {
    /// The session's person as the caller of a service action (bots, key regeneration).
    pub fn as_caller(&self) -> Caller {
        Caller {
            user: std::sync::Arc::new(self.user.clone()),
            realm: std::sync::Arc::new(self.realm.clone()),
        }
    }
}

impl App {
    /// The realm's URL, as zuliprc's `site`.
    pub fn realm_site(&self, realm: &Realm) -> String {
        crate::host::realm_url(&realm.subdomain, &self.hosts)
    }

    /// Whether the realm asks for a password at all (Email or LDAP on). Without one (an
    /// organization without password logins) a re-authentication needs none, as in Zulip.
    pub fn asks_for_password(&self, realm: &Realm) -> bool {
        self.chain.password_auth_enabled(Some(realm))
    }

    /// Whether the account's password is the directory's: the account is linked to a
    /// directory entry, or the realm logs in through LDAP only (decision 14).
    pub fn password_in_directory(&self, user: &User, realm: &Realm) -> bool {
        user.external_id.is_some()
            || (!self.method_enabled(BackendKind::Email, Some(realm))
                && self.method_enabled(BackendKind::Ldap, Some(realm)))
    }

    /// Whether "Change your password" is offered: Email login on for the realm and the
    /// password is not the directory's (Zulip's `user_can_change_password`).
    pub fn can_change_password(&self, user: &User, realm: &Realm) -> bool {
        !user.is_bot()
            && self.method_enabled(BackendKind::Email, Some(realm))
            && !self.password_in_directory(user, realm)
    }

    /// Checks `password` as a login of the session's account would and, when it is right,
    /// marks the session re-authenticated (decision 8) and answers the account's key.
    pub async fn reauthenticate(
        &self,
        session: &mut WebSession,
        client: Client<'_>,
        password: &Password,
    ) -> Reauth {
        if !self.asks_for_password(&session.realm) {
            let outcome = match self.elevate_session(session).await {
                Ok(()) => self.key_of(&session.user).await,
                Err(e) => Err(e),
            };
            return Reauth {
                outcome,
                decisions: Vec::new(),
            };
        }
        let (checked, decisions) = self.check_own_password(session, client, password).await;
        let outcome = match checked {
            Ok(()) => match self.elevate_session(session).await {
                Ok(()) => self.key_of(&session.user).await,
                Err(e) => Err(e),
            },
            Err(None) => Err(ServiceError::invalid(PASSWORD_INCORRECT)),
            Err(Some(e)) => Err(e),
        };
        Reauth { outcome, decisions }
    }

    /// A login of the session's account with `password`: `Err(None)` for a wrong password
    /// (or a login that proved someone else), `Err(Some(_))` for a limit, an outage or
    /// account state the backends report after the password.
    async fn check_own_password(
        &self,
        session: &WebSession,
        client: Client<'_>,
        password: &Password,
    ) -> (Result<(), Option<ServiceError>>, Vec<Decision>) {
        if password.expose().is_empty() {
            return (Err(None), Vec::new());
        }
        let result = self
            .password_login(client, &session.user.delivery_email, password)
            .await;
        let checked = match result.outcome {
            Ok(ok) if ok.user.id == session.user.id => Ok(()),
            Ok(other) => {
                tracing::warn!(
                    user_id = session.user.id.0,
                    other = other.user.id.0,
                    "a re-authentication proved another account"
                );
                Err(None)
            }
            Err(ServiceError::Auth(
                AuthFailure::BadCredentials
                | AuthFailure::WrongRealm
                | AuthFailure::PasswordAuthDisabled,
            ))
            | Err(ServiceError::Invalid(_))
            | Err(ServiceError::NoSuchRealm) => Err(None),
            Err(e) => Err(Some(e)),
        };
        (checked, result.decisions)
    }

    /// "Change your password": the old password checked as a login (so failures count in
    /// the login limit), the new one against the policy, then the hash set in one transaction
    /// that ends every other session of the account (this one stays) and its reset links.
    pub async fn change_password(
        &self,
        session: &WebSession,
        client: Client<'_>,
        old: &Password,
        new: &Password,
    ) -> Result<(), PasswordChangeError> {
        let user = &session.user;
        if !self.can_change_password(user, &session.realm) {
            return Err(PasswordChangeError::ManagedElsewhere);
        }
        match self.check_own_password(session, client, old).await.0 {
            Ok(()) => {}
            Err(None) => return Err(PasswordChangeError::WrongPassword),
            Err(Some(e)) => return Err(e.into()),
        }
        self.policy
            .check(new, &[&user.delivery_email, &user.full_name])
            .map_err(PasswordChangeError::Weak)?;
        let hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|e| ServiceError::unavailable("password hashing failed", e))?;
        let actor = Actor {
            source: "web",
            user: Some(user.id),
        };
        self.store
            .set_password_keeping_session(user.id, Some(hash), session.digest().to_owned(), actor)
            .await
            .map_err(|e| ServiceError::unavailable("password change failed", e))?;
        self.limits.clear_account(user).await;
        tracing::info!(
            user_id = user.id.0,
            "password changed from the settings page"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zuliprc_is_zulips_bytes() {
        let key = ApiKey::parse("abcdefghijklmnopqrstuvwxyzABCDEF").unwrap();
        assert_eq!(
            zuliprc("hamlet@zulip.com", &key, "http://zulip.example.test/"),
            "[api]\nemail=hamlet@zulip.com\nkey=abcdefghijklmnopqrstuvwxyzABCDEF\n\
             site=http://zulip.example.test\n"
        );
    }
}
