//! The chain: the `AuthBackend` trait, one login attempt as a backend sees it, and the
//! `BackendChain` that runs the realm's enabled password backends in the configured order, like
//! Django's `AUTHENTICATION_BACKENDS`: the first backend that authenticates wins. When none does,
//! the most specific failure is reported, in Zulip's order (deactivated user, deactivated realm,
//! password auth disabled, password reset needed, wrong organization), then "backend unavailable",
//! then the generic bad-credentials failure.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::attempt::{AttemptContext, AttemptGuard, TimingPad};
use crate::auth::{AuthFailure, AuthSuccess, BackendKind};
use crate::domain::{Realm, User};
use crate::secret::Password;

/// One password login attempt, as a backend sees it.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    pub realm: &'a Realm,
    /// As the client sent it (an email, or a directory username when LDAP allows that).
    pub username: &'a str,
    pub password: &'a Password,
    /// What the backend reports back to the chain during the attempt.
    pub ctx: &'a AttemptContext<'a>,
}

/// A login backend: given a realm, a username and a password, it returns the authenticated user
/// or a typed failure. Implementations must refuse an empty password before doing any work that
/// could accept it, and must not reveal account state before the password is proven.
#[async_trait]
pub trait AuthBackend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// Whether the backend can serve the realm at all (the LDAP backend: whether a directory is
    /// configured for it). One that cannot is treated as not enabled for the realm.
    fn serves(&self, _realm: &Realm) -> bool {
        true
    }

    async fn authenticate(&self, attempt: LoginAttempt<'_>) -> Result<AuthSuccess, AuthFailure>;
}

/// The configured password backends, in order, and the timing pad for failures.
#[derive(Clone, Default)]
pub struct BackendChain {
    backends: Vec<Arc<dyn AuthBackend>>,
    pad: Option<Arc<dyn TimingPad>>,
}

impl fmt::Debug for BackendChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.backends.iter().map(|b| b.kind()))
            .finish()
    }
}

impl BackendChain {
    pub fn new(backends: Vec<Arc<dyn AuthBackend>>) -> Self {
        BackendChain {
            backends,
            pad: None,
        }
    }

    /// Equalises failures of realms whose Email backend is enabled (see [`TimingPad`]).
    pub fn with_pad(mut self, pad: Arc<dyn TimingPad>) -> Self {
        self.pad = Some(pad);
        self
    }

    /// Kinds of the configured backends, in order.
    pub fn kinds(&self) -> Vec<BackendKind> {
        self.backends.iter().map(|b| b.kind()).collect()
    }

    pub fn is_configured(&self, kind: BackendKind) -> bool {
        self.backends.iter().any(|b| b.kind() == kind)
    }

    /// Configured on the server and switched on for the realm.
    pub fn is_enabled(&self, kind: BackendKind, realm: Option<&Realm>) -> bool {
        self.backends
            .iter()
            .any(|b| b.kind() == kind && realm.is_none_or(|r| kind.enabled_in(r) && b.serves(r)))
    }

    /// Zulip's `password_auth_enabled`: Email or LDAP enabled for the realm.
    pub fn password_auth_enabled(&self, realm: Option<&Realm>) -> bool {
        self.is_enabled(BackendKind::Email, realm) || self.is_enabled(BackendKind::Ldap, realm)
    }

    /// Runs the realm's enabled password backends in order.
    pub async fn authenticate(
        &self,
        realm: &Realm,
        username: &str,
        password: &Password,
    ) -> Result<AuthSuccess, AuthFailure> {
        self.attempt(realm, username, password, None).await.result
    }

    /// As [`BackendChain::authenticate`], also saying whether any backend rejected the
    /// credentials: the reported failure may be more specific (an unavailable directory
    /// outranks a wrong password), but a rejection must still count toward the login limit.
    /// `guard` is asked by each backend once it knows whose credentials these are.
    ///
    /// Timing: no backend equalises on its own. When the attempt ends in a wrong-password
    /// answer, the Email backend is enabled for the realm and no backend verified a hash of the
    /// configured cost, the chain spends one dummy verification ([`TimingPad`]). So a directory
    /// person's successful login costs no bcrypt, while unknown names, wrong directory
    /// passwords and wrong local passwords (even against an outdated cheaper hash) cost alike.
    pub async fn attempt(
        &self,
        realm: &Realm,
        username: &str,
        password: &Password,
        guard: Option<&dyn AttemptGuard>,
    ) -> ChainOutcome {
        let ctx = AttemptContext::new(guard);
        let done = |result, credentials_rejected| ChainOutcome {
            result,
            credentials_rejected,
            person_found: ctx.person_found(),
            explanation: ctx.take_explanation(),
            tried: ctx.take_tried(),
        };
        if !self.password_auth_enabled(Some(realm)) {
            return done(Err(AuthFailure::PasswordAuthDisabled), false);
        }
        if password.is_empty() {
            // Never allow an empty password, whatever a backend would make of it.
            return done(Err(AuthFailure::BadCredentials), true);
        }
        let attempt = LoginAttempt {
            realm,
            username,
            password,
            ctx: &ctx,
        };
        let mut worst: Option<AuthFailure> = None;
        let mut rejected = false;
        for backend in &self.backends {
            let kind = backend.kind();
            if !kind.is_password_backend() || !kind.enabled_in(realm) || !backend.serves(realm) {
                continue;
            }
            match backend.authenticate(attempt).await {
                Ok(success) => return done(Ok(success), false),
                // A blocked person stays blocked: no other backend gets to try.
                Err(limited @ AuthFailure::RateLimited { .. }) => {
                    return done(Err(limited), rejected);
                }
                Err(failure) => {
                    rejected |= failure.is_credential_failure();
                    if worst.as_ref().is_none_or(|w| failure.rank() < w.rank()) {
                        worst = Some(failure);
                    }
                }
            }
        }
        let rejected = rejected || worst.is_none();
        let failure = worst.unwrap_or(AuthFailure::BadCredentials);
        if failure == AuthFailure::BadCredentials
            && !ctx.paid_full_hash()
            && BackendKind::Email.enabled_in(realm)
            && self.is_configured(BackendKind::Email)
            && let Some(pad) = &self.pad
        {
            pad.pad(password).await;
        }
        done(Err(failure), rejected)
    }
}

/// What the chain decided, and whether any backend rejected the credentials on the way.
#[derive(Debug)]
pub struct ChainOutcome {
    pub result: Result<AuthSuccess, AuthFailure>,
    pub credentials_rejected: bool,
    /// Some backend found the person (an account with a password, a directory entry): for the
    /// audit log, which tells "no such person" from "wrong password" (answers never do).
    pub person_found: bool,
    /// A backend's reason for a refusal, for the audit log (which group or rule).
    pub explanation: Option<String>,
    /// The realm's account the attempt was about, when a backend loaded it.
    pub tried: Option<User>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthMethods, RealmId, Role, Timestamp, User, UserId};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    struct Fixed {
        kind: BackendKind,
        result: Result<(), AuthFailure>,
        calls: AtomicUsize,
        /// Verifies a full-cost hash before answering.
        hashes: bool,
    }

    #[async_trait]
    impl AuthBackend for Fixed {
        fn kind(&self) -> BackendKind {
            self.kind
        }
        async fn authenticate(&self, a: LoginAttempt<'_>) -> Result<AuthSuccess, AuthFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            a.ctx.resolved(self.kind, "who").await?;
            if self.hashes {
                a.ctx.note_full_hash();
            }
            self.result.clone().map(|_| AuthSuccess {
                user: user(a.realm),
                backend: self.kind,
            })
        }
    }

    fn user(realm: &Realm) -> User {
        User {
            id: UserId(1),
            realm_id: realm.id,
            delivery_email: "h@example.org".into(),
            full_name: "H".into(),
            role: Role::Member,
            is_active: true,
            bot_type: None,
            bot_owner_id: None,
            password_reset_needed: false,
            external_id: None,
            deactivation: None,
            created_at: Timestamp(0),
        }
    }

    fn realm(email: bool, ldap: bool) -> Realm {
        Realm {
            id: RealmId(1),
            subdomain: "zulip".into(),
            name: "Z".into(),
            description: String::new(),
            deactivated: false,
            methods: AuthMethods {
                email,
                ldap,
                dev: false,
            },
            ldap_auto_create: true,
            created_at: Timestamp(0),
        }
    }

    fn fixed(kind: BackendKind, result: Result<(), AuthFailure>) -> Arc<Fixed> {
        Arc::new(Fixed {
            kind,
            result,
            calls: AtomicUsize::new(0),
            hashes: false,
        })
    }

    #[derive(Default)]
    struct CountingPad(AtomicUsize);

    #[async_trait]
    impl TimingPad for CountingPad {
        async fn pad(&self, _password: &Password) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Blocked;

    #[async_trait]
    impl AttemptGuard for Blocked {
        async fn resolved(&self, _: BackendKind, _: &str) -> Result<(), AuthFailure> {
            Err(AuthFailure::RateLimited {
                retry_after: Duration::from_secs(9),
            })
        }
    }

    /// The dummy verification is spent once, and only when a wrong-password answer would
    /// otherwise come back faster than a local wrong password.
    #[tokio::test]
    async fn the_chain_pads_only_failures_nobody_paid_for() {
        let run = |backends: Vec<Arc<dyn AuthBackend>>, email: bool| async move {
            let pad = Arc::new(CountingPad::default());
            let chain = BackendChain::new(backends).with_pad(pad.clone());
            let out = chain
                .attempt(&realm(email, true), "h", &Password::new("pw"), None)
                .await;
            (out.result.map(|s| s.backend), pad.0.load(Ordering::SeqCst))
        };
        let bad = || Err(AuthFailure::BadCredentials);
        // A directory login that succeeds: no bcrypt at all.
        let (r, pads) = run(
            vec![
                fixed(BackendKind::Email, bad()),
                fixed(BackendKind::Ldap, Ok(())),
            ],
            true,
        )
        .await;
        assert_eq!((r.ok(), pads), (Some(BackendKind::Ldap), 0));
        // Unknown everywhere / wrong directory password: one pad.
        let (r, pads) = run(
            vec![
                fixed(BackendKind::Email, bad()),
                fixed(BackendKind::Ldap, bad()),
            ],
            true,
        )
        .await;
        assert_eq!((r.err(), pads), (Some(AuthFailure::BadCredentials), 1));
        // A local wrong password already cost a full verification: no pad.
        let paid = Arc::new(Fixed {
            kind: BackendKind::Email,
            result: bad(),
            calls: AtomicUsize::new(0),
            hashes: true,
        });
        let (_, pads) = run(vec![paid, fixed(BackendKind::Ldap, bad())], true).await;
        assert_eq!(pads, 0);
        // No Email backend in the realm: nothing to look like, nothing spent.
        let (_, pads) = run(
            vec![
                fixed(BackendKind::Email, bad()),
                fixed(BackendKind::Ldap, bad()),
            ],
            false,
        )
        .await;
        assert_eq!(pads, 0);
        // A specific answer (after a right password) is not padded.
        let (_, pads) = run(
            vec![
                fixed(BackendKind::Email, bad()),
                fixed(BackendKind::Ldap, Err(AuthFailure::UserDeactivated)),
            ],
            true,
        )
        .await;
        assert_eq!(pads, 0);
    }

    #[tokio::test]
    async fn a_blocked_identity_ends_the_chain() {
        let ldap = fixed(BackendKind::Ldap, Ok(()));
        let email = fixed(BackendKind::Email, Ok(()));
        let chain = BackendChain::new(vec![ldap.clone(), email.clone()]);
        let out = chain
            .attempt(
                &realm(true, true),
                "h",
                &Password::new("pw"),
                Some(&Blocked),
            )
            .await;
        assert!(matches!(out.result, Err(AuthFailure::RateLimited { .. })));
        assert_eq!(
            email.calls.load(Ordering::SeqCst),
            0,
            "no other backend tries"
        );
    }

    #[tokio::test]
    async fn first_success_wins_in_order() {
        let ldap = fixed(BackendKind::Ldap, Err(AuthFailure::BadCredentials));
        let email = fixed(BackendKind::Email, Ok(()));
        let chain = BackendChain::new(vec![ldap.clone(), email.clone()]);
        let ok = chain
            .authenticate(&realm(true, true), "h", &Password::new("pw"))
            .await
            .unwrap();
        assert_eq!(ok.backend, BackendKind::Email);
        assert_eq!(ldap.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn most_specific_failure_is_reported() {
        let unavailable = AuthFailure::Unavailable {
            backend: BackendKind::Ldap,
            reason: "down".into(),
        };
        let chain = BackendChain::new(vec![
            fixed(BackendKind::Ldap, Err(unavailable.clone())),
            fixed(BackendKind::Email, Err(AuthFailure::BadCredentials)),
        ]);
        let err = chain
            .authenticate(&realm(true, true), "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, unavailable);
        assert!(!err.is_credential_failure());
        // The wrong password the Email backend saw still counts toward the login limit.
        let outcome = chain
            .attempt(&realm(true, true), "h", &Password::new("pw"), None)
            .await;
        assert!(outcome.credentials_rejected);

        let chain = BackendChain::new(vec![
            fixed(BackendKind::Ldap, Err(AuthFailure::BadCredentials)),
            fixed(BackendKind::Email, Err(AuthFailure::UserDeactivated)),
        ]);
        let err = chain
            .authenticate(&realm(true, true), "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::UserDeactivated);
    }

    #[tokio::test]
    async fn disabled_methods_are_skipped_and_reported() {
        let email = fixed(BackendKind::Email, Ok(()));
        let chain = BackendChain::new(vec![email.clone()]);
        let err = chain
            .authenticate(&realm(false, false), "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::PasswordAuthDisabled);
        // LDAP switched on in the realm but not configured on the server: still disabled.
        let err = chain
            .authenticate(&realm(false, true), "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::PasswordAuthDisabled);
        assert_eq!(email.calls.load(Ordering::SeqCst), 0);
    }

    /// A backend that cannot serve any realm (LDAP with no directory for it).
    struct Unserving(Arc<Fixed>);

    #[async_trait]
    impl AuthBackend for Unserving {
        fn kind(&self) -> BackendKind {
            self.0.kind
        }
        fn serves(&self, _realm: &Realm) -> bool {
            false
        }
        async fn authenticate(&self, a: LoginAttempt<'_>) -> Result<AuthSuccess, AuthFailure> {
            self.0.authenticate(a).await
        }
    }

    #[tokio::test]
    async fn a_backend_that_cannot_serve_the_realm_counts_as_off() {
        let ldap = fixed(
            BackendKind::Ldap,
            Err(AuthFailure::unavailable(BackendKind::Ldap, "no directory")),
        );
        let email = fixed(BackendKind::Email, Err(AuthFailure::BadCredentials));
        let chain = BackendChain::new(vec![Arc::new(Unserving(ldap.clone())), email.clone()]);
        let r = realm(true, true);
        assert!(!chain.is_enabled(BackendKind::Ldap, Some(&r)));
        assert!(chain.is_enabled(BackendKind::Email, Some(&r)));
        assert!(
            chain.is_enabled(BackendKind::Ldap, None),
            "configured on the server"
        );
        // Never asked, so never "unavailable": a wrong password is a wrong password.
        let err = chain
            .authenticate(&r, "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::BadCredentials);
        assert_eq!(ldap.calls.load(Ordering::SeqCst), 0);
        // With LDAP the only method left, password logins are off.
        let err = chain
            .authenticate(&realm(false, true), "h", &Password::new("pw"))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::PasswordAuthDisabled);
    }

    #[tokio::test]
    async fn empty_password_never_reaches_a_backend() {
        let email = fixed(BackendKind::Email, Ok(()));
        let chain = BackendChain::new(vec![email.clone()]);
        let err = chain
            .authenticate(&realm(true, false), "h", &Password::new(""))
            .await
            .unwrap_err();
        assert_eq!(err, AuthFailure::BadCredentials);
        assert_eq!(email.calls.load(Ordering::SeqCst), 0);
    }
}
