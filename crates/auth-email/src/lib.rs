//! `EmailAuthBackend`: logs people in with their delivery email and a password whose bcrypt hash
//! the account store holds. It reads accounts only through the core's [`AccountStore`] port, hashes
//! and verifies off the async workers ([`PasswordHasher`]), spends at most one bcrypt verification
//! per attempt (none when there is no account with a usable password: the chain's [`TimingPad`],
//! which [`PasswordHasher`] implements, equalises failed logins as a whole), tells the chain when
//! it verified a hash cheaper than the configured cost, upgrades hashes whose cost or format is out
//! of date, and reveals account state (deactivated, other organization, reset needed) only after
//! the password has been proven.
//!
//! [`TimingPad`]: auth_core::TimingPad
//!
//! This crate must never depend on a database driver, an HTTP framework or another backend; its
//! only workspace dependency is `auth-core`.

mod hasher;
mod pool;

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{
    AccountStore, AuthBackend, AuthFailure, AuthSuccess, BackendKind, LoginAttempt, LoginRecord,
    PasswordPolicy,
};

pub use hasher::{HashError, PREFIX as HASH_PREFIX, PasswordHasher, Verification};
pub use pool::PoolOptions;

/// The email + password backend.
pub struct EmailAuthBackend {
    store: Arc<dyn AccountStore>,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
}

impl EmailAuthBackend {
    pub fn new(
        store: Arc<dyn AccountStore>,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
    ) -> Self {
        EmailAuthBackend {
            store,
            hasher,
            policy,
        }
    }

    /// Checks the state of an account whose password has just been proven.
    async fn admit(
        &self,
        attempt: LoginAttempt<'_>,
        record: LoginRecord,
        needs_rehash: bool,
    ) -> Result<AuthSuccess, AuthFailure> {
        let user = record.user;
        // Realm, then account state; a bot is refused as bad credentials (bots have no password;
        // a hash on a bot row can only be a mistake).
        auth_core::admit(attempt.realm, &user)?;
        if user.password_reset_needed {
            return Err(AuthFailure::PasswordResetRequired);
        }
        if needs_rehash {
            let hints = [user.delivery_email.as_str(), user.full_name.as_str()];
            if self.policy.check(attempt.password, &hints).is_err() {
                // Zulip's rule: an outdated hash of a password that no longer meets the policy
                // is not upgraded; the person must reset it.
                return Err(AuthFailure::PasswordResetRequired);
            }
            match self.hasher.hash(attempt.password).await {
                Ok(new_hash) => {
                    if let Err(e) = self.store.upgrade_password_hash(user.id, new_hash).await {
                        tracing::warn!(user_id = %user.id, error = %e, "password hash upgrade failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(user_id = %user.id, error = %e, "password rehash failed");
                }
            }
        }
        Ok(AuthSuccess {
            user,
            backend: BackendKind::Email,
        })
    }
}

#[async_trait]
impl AuthBackend for EmailAuthBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Email
    }

    async fn authenticate(&self, attempt: LoginAttempt<'_>) -> Result<AuthSuccess, AuthFailure> {
        if attempt.password.is_empty() {
            return Err(AuthFailure::BadCredentials);
        }
        let records = self
            .store
            .login_records_any_realm(attempt.username)
            .await
            .map_err(unavailable)?;
        let (own, elsewhere): (Vec<LoginRecord>, Vec<LoginRecord>) = records
            .into_iter()
            .partition(|r| r.user.realm_id == attempt.realm.id);
        // One verification at most: the realm's own account, else the oldest account elsewhere
        // (for "exists only in another organization"). No account, or one without a usable
        // password (a directory person, a bot), costs no bcrypt here: as in Zulip, this backend
        // skips them, and the chain equalises the time of a failed login as a whole.
        let (record, is_own) = match (own.into_iter().next(), elsewhere.into_iter().next()) {
            (Some(r), _) => (r, true),
            (None, Some(r)) => (r, false),
            (None, None) => return Err(AuthFailure::BadCredentials),
        };
        if is_own {
            attempt.ctx.tried(&record.user);
        }
        let Some(stored) = record.password_hash.as_ref() else {
            return Err(AuthFailure::BadCredentials);
        };
        // The login limit holds for the account, whatever spelling of its email was typed.
        attempt
            .ctx
            .resolved(BackendKind::Email, &limit_identity(record.user.id))
            .await?;
        // A mismatch always costs a full verification (the hasher pads a cheaper hash in the
        // same job), so the chain need not pad it again.
        let verdict = self
            .hasher
            .verify(attempt.password, Some(stored))
            .await
            .map_err(unavailable)?;
        if verdict == Verification::Mismatch
            || self
                .hasher
                .verify_costs_full(attempt.password, Some(stored))
        {
            attempt.ctx.note_full_hash();
        }
        match verdict {
            Verification::Mismatch => Err(AuthFailure::BadCredentials),
            Verification::Match { needs_rehash } if is_own => {
                self.admit(attempt, record, needs_rehash).await
            }
            Verification::Match { .. } => self.elsewhere(record).await,
        }
    }
}

/// The identity this backend's login limit counts an account's failures under.
pub fn limit_identity(user: auth_core::UserId) -> String {
    format!("account:{}", user.0)
}

fn unavailable(e: impl std::fmt::Display) -> AuthFailure {
    AuthFailure::unavailable(BackendKind::Email, e)
}

impl EmailAuthBackend {
    /// The right password for an account of another organization: "other organization" only
    /// when that account could log in there (active, in an active realm that allows password
    /// login); otherwise the answer a wrong password gets, so that closed accounts are no
    /// password oracle.
    async fn elsewhere(&self, record: LoginRecord) -> Result<AuthSuccess, AuthFailure> {
        let realm = self
            .store
            .realm(record.user.realm_id)
            .await
            .map_err(unavailable)?;
        let usable = record.user.is_active
            && !record.user.is_bot()
            && realm.is_some_and(|r| !r.deactivated && r.methods.email);
        Err(if usable {
            AuthFailure::WrongRealm
        } else {
            AuthFailure::BadCredentials
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::testing::MemoryAccounts;
    use auth_core::{AttemptContext, AuthMethods, Password, Realm, RealmId, Timestamp, User};
    use std::sync::atomic::Ordering;

    fn realm(id: i64) -> Realm {
        Realm {
            id: RealmId(id),
            subdomain: format!("r{id}"),
            name: "R".into(),
            description: String::new(),
            deactivated: false,
            methods: AuthMethods {
                email: true,
                ldap: false,
                dev: false,
            },
            ldap_auto_create: true,
            created_at: Timestamp(0),
        }
    }

    fn user(id: i64, realm: i64, email: &str) -> User {
        MemoryAccounts::person(id, realm, email)
    }

    async fn setup(
        cost: u32,
        users: Vec<(User, &str)>,
    ) -> (Arc<MemoryAccounts>, EmailAuthBackend, PasswordHasher) {
        let hasher = PasswordHasher::new(cost).unwrap();
        let store = Arc::new(MemoryAccounts::new());
        store.insert_realm(realm(1));
        store.insert_realm(realm(2));
        for (u, pw) in users {
            let hash = hasher.hash(&Password::new(pw)).await.unwrap();
            store.insert(u, Some(hash));
        }
        let backend = EmailAuthBackend::new(
            store.clone(),
            hasher.clone(),
            PasswordPolicy {
                min_length: 6,
                max_length: 100,
                min_guesses: 1000,
            },
        );
        (store, backend, hasher)
    }

    async fn login(
        b: &EmailAuthBackend,
        realm: &Realm,
        u: &str,
        p: &str,
    ) -> Result<i64, AuthFailure> {
        login_paid(b, realm, u, p).await.0
    }

    /// The outcome, and whether the backend says it paid a full-cost verification.
    async fn login_paid(
        b: &EmailAuthBackend,
        realm: &Realm,
        u: &str,
        p: &str,
    ) -> (Result<i64, AuthFailure>, bool) {
        let ctx = AttemptContext::default();
        let result = b
            .authenticate(LoginAttempt {
                realm,
                username: u,
                password: &Password::new(p),
                ctx: &ctx,
            })
            .await
            .map(|s| s.user.id.0);
        (result, ctx.paid_full_hash())
    }

    #[tokio::test]
    async fn outcomes() {
        let mut inactive = user(2, 1, "gone@example.org");
        inactive.is_active = false;
        let mut reset = user(3, 1, "reset@example.org");
        reset.password_reset_needed = true;
        let (_s, b, _) = setup(
            4,
            vec![
                (user(1, 1, "hamlet@example.org"), "f657gdGGk9"),
                (inactive, "f657gdGGk9"),
                (reset, "f657gdGGk9"),
                (user(4, 2, "othello@example.org"), "f657gdGGk9"),
            ],
        )
        .await;
        let r1 = realm(1);
        assert_eq!(
            login(&b, &r1, "hamlet@example.org", "f657gdGGk9").await,
            Ok(1)
        );
        assert_eq!(
            login(&b, &r1, " HAMLET@example.org ", "f657gdGGk9").await,
            Ok(1)
        );
        assert_eq!(
            login(&b, &r1, "hamlet@example.org", "wrong").await,
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(
            login(&b, &r1, "hamlet@example.org", "").await,
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(
            login(&b, &r1, "nobody@example.org", "f657gdGGk9").await,
            Err(AuthFailure::BadCredentials)
        );
        // Account state only with the right password.
        assert_eq!(
            login(&b, &r1, "gone@example.org", "f657gdGGk9").await,
            Err(AuthFailure::UserDeactivated)
        );
        assert_eq!(
            login(&b, &r1, "gone@example.org", "wrong").await,
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(
            login(&b, &r1, "reset@example.org", "f657gdGGk9").await,
            Err(AuthFailure::PasswordResetRequired)
        );
        assert_eq!(
            login(&b, &r1, "othello@example.org", "f657gdGGk9").await,
            Err(AuthFailure::WrongRealm)
        );
        assert_eq!(
            login(&b, &r1, "othello@example.org", "wrong").await,
            Err(AuthFailure::BadCredentials)
        );
        let mut dead = realm(1);
        dead.deactivated = true;
        assert_eq!(
            login(&b, &dead, "hamlet@example.org", "f657gdGGk9").await,
            Err(AuthFailure::RealmDeactivated)
        );
        assert_eq!(
            login(&b, &dead, "hamlet@example.org", "nope").await,
            Err(AuthFailure::BadCredentials)
        );
    }

    /// The right password for an account elsewhere says "other organization" only when that
    /// account could log in there; otherwise it answers as a wrong password does.
    #[tokio::test]
    async fn closed_accounts_elsewhere_are_no_password_oracle() {
        let mut gone = user(5, 2, "gone2@example.org");
        gone.is_active = false;
        let (store, b, _) = setup(
            4,
            vec![
                (user(4, 2, "othello@example.org"), "f657gdGGk9"),
                (gone, "f657gdGGk9"),
                (user(6, 3, "lear@example.org"), "f657gdGGk9"),
            ],
        )
        .await;
        let r1 = realm(1);
        let mut closed = realm(3);
        closed.deactivated = true;
        store.insert_realm(closed.clone());
        for (who, pw) in [
            ("lear@example.org", "f657gdGGk9"),
            ("lear@example.org", "wrong"),
            ("gone2@example.org", "f657gdGGk9"),
            ("gone2@example.org", "wrong"),
        ] {
            assert_eq!(
                login(&b, &r1, who, pw).await,
                Err(AuthFailure::BadCredentials),
                "{who} {pw}"
            );
        }
        // Password login switched off in the other realm: also closed.
        closed.deactivated = false;
        closed.methods.email = false;
        store.insert_realm(closed.clone());
        assert_eq!(
            login(&b, &r1, "lear@example.org", "f657gdGGk9").await,
            Err(AuthFailure::BadCredentials)
        );
        closed.methods.email = true;
        store.insert_realm(closed);
        assert_eq!(
            login(&b, &r1, "lear@example.org", "f657gdGGk9").await,
            Err(AuthFailure::WrongRealm)
        );
    }

    /// What the backend tells the chain about the cost it paid.
    #[tokio::test]
    async fn reports_whether_a_full_cost_verification_ran() {
        let (store, _, _) = setup(4, vec![(user(1, 1, "old@example.org"), "f657gdGGk9")]).await;
        let b = EmailAuthBackend::new(
            store.clone(),
            PasswordHasher::new(5).unwrap(),
            PasswordPolicy::default(),
        );
        let r1 = realm(1);
        // Unknown: nothing verified here (the chain pads).
        assert_eq!(
            login_paid(&b, &r1, "nobody@example.org", "x").await,
            (Err(AuthFailure::BadCredentials), false)
        );
        // A cost-4 hash under a cost-5 server: the mismatch is padded to full cost in the same
        // hash job, so the chain need not pad it again.
        assert_eq!(
            login_paid(&b, &r1, "old@example.org", "wrong").await,
            (Err(AuthFailure::BadCredentials), true)
        );
        store.insert(
            user(2, 1, "new@example.org"),
            Some(
                PasswordHasher::new(5)
                    .unwrap()
                    .hash(&Password::new("f657gdGGk9"))
                    .await
                    .unwrap(),
            ),
        );
        assert_eq!(
            login_paid(&b, &r1, "new@example.org", "wrong").await,
            (Err(AuthFailure::BadCredentials), true)
        );
    }

    #[tokio::test]
    async fn store_outage_is_unavailable_not_bad_credentials() {
        let down = Arc::new(MemoryAccounts::new());
        down.set_down(true);
        let b = EmailAuthBackend::new(
            down,
            PasswordHasher::new(4).unwrap(),
            PasswordPolicy::default(),
        );
        let err = login(&b, &realm(1), "a@example.org", "pw")
            .await
            .unwrap_err();
        assert!(matches!(err, AuthFailure::Unavailable { .. }));
        assert!(!err.is_credential_failure());
    }

    #[tokio::test]
    async fn outdated_hash_is_upgraded_or_reset_required() {
        let (store, _, _) = setup(
            4,
            vec![
                (user(1, 1, "strong@example.org"), "f657gdGGk9"),
                (user(2, 1, "weak@example.org"), "longer"),
            ],
        )
        .await;
        // Same accounts, server now configured with cost 5.
        let b = EmailAuthBackend::new(
            store.clone(),
            PasswordHasher::new(5).unwrap(),
            PasswordPolicy {
                min_length: 6,
                max_length: 100,
                min_guesses: 1000,
            },
        );
        let r1 = realm(1);
        assert_eq!(
            login(&b, &r1, "strong@example.org", "f657gdGGk9").await,
            Ok(1)
        );
        assert_eq!(store.upgrades.load(Ordering::SeqCst), 1);
        let upgraded = store.all()[0].password_hash.clone().unwrap();
        assert!(upgraded.0.contains("$05$"));
        // Second login: nothing left to upgrade.
        assert_eq!(
            login(&b, &r1, "strong@example.org", "f657gdGGk9").await,
            Ok(1)
        );
        assert_eq!(store.upgrades.load(Ordering::SeqCst), 1);
        assert_eq!(
            login(&b, &r1, "weak@example.org", "longer").await,
            Err(AuthFailure::PasswordResetRequired)
        );
    }
}
