//! Web sessions (docs/web.md): server-side rows keyed by the SHA-256 of a 256-bit random
//! cookie value. A login starts one (replacing the visitor's previous one: the id rotates, and
//! so does the CSRF secret); every page request looks its cookie up here with the expiry,
//! inactivity, user-active and realm-active checks; logout ends it. Password changes, resets
//! and deactivations end sessions inside the store's own transactions.
//!
//! Lookups are not cached: each reads the row, so an ended session is refused by every
//! instance at once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use auth_core::{Realm, SecretString, Timestamp, User};
use auth_store::NewSession;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::{App, LoggedIn, clock};

/// How long sessions live (web.md decision 5).
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Absolute lifetime of a browser-session cookie's session.
    pub lifetime: Duration,
    /// A browser-session cookie's session ends after this long without a request.
    pub inactivity: Duration,
    /// "Keep me logged in": the persistent cookie's age (no inactivity limit).
    pub persistent_lifetime: Duration,
    /// How long a re-authentication counts (decision 8).
    pub elevation: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            lifetime: Duration::from_secs(12 * 3600),
            inactivity: Duration::from_secs(3600),
            persistent_lifetime: Duration::from_secs(14 * 24 * 3600),
            elevation: Duration::from_secs(600),
        }
    }
}

/// A session just started: the cookie value to send (once) and how long the cookie lives
/// (`None`: a browser-session cookie).
#[derive(Debug)]
pub struct StartedSession {
    pub cookie: SecretString,
    pub max_age: Option<Duration>,
}

/// A live session, as a page sees it.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The SHA-256 of the cookie value (hex): the row's key, never the cookie itself.
    digest: String,
    pub user: User,
    pub realm: Realm,
    /// The per-session CSRF secret (the form field and header value).
    pub csrf_secret: SecretString,
    /// The backend that proved the login.
    pub method: String,
    pub persistent: bool,
    pub elevated_until: Option<Timestamp>,
}

impl WebSession {
    /// The row's key, for store calls that keep this session (a password change).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether a re-authentication still counts (decision 8).
    pub fn is_elevated(&self) -> bool {
        self.elevated_until.is_some_and(|t| t.0 > clock::now().0)
    }
}

/// 32 random bytes, hex.
pub fn random_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::new(hex::encode(bytes))
}

/// The row key of a cookie value: `None` when it is not the shape of one (64 lower-case hex
/// characters), so garbage never reaches the database.
pub fn cookie_digest(cookie: &str) -> Option<String> {
    let shaped = cookie.len() == 64
        && cookie
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    shaped.then(|| hex::encode(Sha256::digest(cookie.as_bytes())))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// When this instance last pruned ended sessions (microseconds).
static LAST_PRUNE: AtomicI64 = AtomicI64::new(0);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl App {
    /// Starts a session for a login (`password_login`'s result), replacing the visitor's
    /// previous session (its cookie value) if any: a fresh id and CSRF secret.
    pub async fn start_session(
        &self,
        login: &LoggedIn,
        persistent: bool,
        previous: Option<&str>,
    ) -> Result<StartedSession, ServiceError> {
        let s = &self.sessions;
        let now = clock::now().0;
        let life = if persistent {
            s.persistent_lifetime
        } else {
            s.lifetime
        };
        let cookie = random_token();
        let digest = cookie_digest(cookie.expose())
            .ok_or_else(|| ServiceError::unavailable("session id", "bad shape"))?;
        let new = NewSession {
            digest,
            user: login.user.id,
            csrf_secret: random_token().expose().to_owned(),
            method: login.backend.to_owned(),
            persistent,
            now,
            expires_at: now.saturating_add(micros(life)),
            portal_domain: None,
        };
        let replacing = previous.and_then(cookie_digest);
        self.store
            .create_session(new, replacing)
            .await
            .map_err(|e| ServiceError::unavailable("starting a session failed", e))?;
        self.prune_sessions_now_and_then(now).await;
        Ok(StartedSession {
            cookie,
            max_age: persistent.then_some(life),
        })
    }

    /// The live session a cookie names in this realm, if any. An expired or idle session is
    /// deleted; one of another realm, a deactivated user or a deactivated realm is refused.
    pub async fn session(
        &self,
        realm: &Realm,
        cookie: &str,
    ) -> Result<Option<WebSession>, ServiceError> {
        // A portal session's cookie is never a page session.
        let live = self
            .live_session_row(cookie, None, self.sessions.inactivity, |user| {
                user.realm_id == realm.id && !realm.deactivated
            })
            .await?;
        let Some((digest, found)) = live else {
            return Ok(None);
        };
        let row = found.session;
        Ok(Some(WebSession {
            csrf_secret: SecretString::new(row.csrf_secret),
            method: row.method,
            persistent: row.persistent,
            elevated_until: row.elevated_until.map(Timestamp),
            user: found.user,
            realm: realm.clone(),
            digest,
        }))
    }

    /// The session row a cookie names, when it is of the wanted kind (a page session with
    /// `portal_domain = None`, else a portal session of that domain), not expired nor idle past
    /// `inactivity` (such a row is deleted), its user active, and `belongs(user)`. Activity is
    /// recorded at most every tenth of the inactivity limit (and at most every minute), so a
    /// request does not always write. Shared by page and portal sessions.
    pub(crate) async fn live_session_row(
        &self,
        cookie: &str,
        portal_domain: Option<&str>,
        inactivity: Duration,
        belongs: impl FnOnce(&User) -> bool,
    ) -> Result<Option<(String, auth_store::SessionWithUser)>, ServiceError> {
        let Some(digest) = cookie_digest(cookie) else {
            return Ok(None);
        };
        let found = self
            .store
            .session(&digest)
            .await
            .map_err(|e| ServiceError::unavailable("session lookup failed", e))?;
        let Some(found) = found else {
            return Ok(None);
        };
        let row = &found.session;
        if row.portal_domain.as_deref() != portal_domain {
            return Ok(None);
        }
        let now = clock::now().0;
        let idle = now.saturating_sub(row.last_seen_at);
        let inactivity = micros(inactivity);
        if now >= row.expires_at || (!row.persistent && idle > inactivity) {
            self.store
                .end_session(&digest)
                .await
                .map_err(|e| ServiceError::unavailable("ending a session failed", e))?;
            return Ok(None);
        }
        if !found.user.is_active || !belongs(&found.user) {
            return Ok(None);
        }
        if idle > (inactivity / 10).min(60_000_000) {
            self.store
                .touch_session(&digest, now)
                .await
                .map_err(|e| ServiceError::unavailable("session update failed", e))?;
        }
        Ok(Some((digest, found)))
    }

    /// Ends a session (logout).
    pub async fn end_session(&self, session: &WebSession) -> Result<(), ServiceError> {
        self.store
            .end_session(&session.digest)
            .await
            .map(|_| ())
            .map_err(|e| ServiceError::unavailable("ending a session failed", e))
    }

    /// Ends every session of the session's user but this one; how many ended.
    pub async fn end_other_sessions(&self, session: &WebSession) -> Result<usize, ServiceError> {
        self.store
            .end_user_sessions(session.user.id, Some(session.digest.clone()))
            .await
            .map_err(|e| ServiceError::unavailable("ending sessions failed", e))
    }

    /// Marks the session re-authenticated for the configured time (decision 8); the caller
    /// has just proved the password through [`App::password_login`].
    pub async fn elevate_session(&self, session: &mut WebSession) -> Result<(), ServiceError> {
        let until = clock::now()
            .0
            .saturating_add(micros(self.sessions.elevation));
        self.store
            .set_session_elevated(&session.digest, until)
            .await
            .map_err(|e| ServiceError::unavailable("session update failed", e))?;
        session.elevated_until = Some(Timestamp(until));
        Ok(())
    }

    /// Deletes ended sessions, at most every few minutes per instance; failures are logged
    /// (rows that stay are refused on lookup anyway).
    async fn prune_sessions_now_and_then(&self, now: i64) {
        let last = LAST_PRUNE.load(Ordering::Relaxed);
        if now.saturating_sub(last) < micros(PRUNE_EVERY)
            || LAST_PRUNE
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let idle_before = now.saturating_sub(micros(self.sessions.inactivity));
        let portal_idle_before = now.saturating_sub(micros(self.portal.inactivity));
        match self
            .store
            .prune_sessions(now, idle_before, portal_idle_before)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "pruned ended web sessions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning web sessions failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_of_the_wrong_shape_have_no_digest() {
        let good = random_token();
        assert_eq!(good.expose().len(), 64);
        assert!(cookie_digest(good.expose()).is_some());
        assert_ne!(cookie_digest(good.expose()).as_deref(), Some(good.expose()));
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"0".repeat(65)] {
            assert_eq!(cookie_digest(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(random_token().expose(), random_token().expose());
    }
}
