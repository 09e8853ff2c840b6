//! What one login attempt carries between the chain and its backends: the guard a backend asks
//! once it knows whose credentials these are (the login limit of the person, not only of the name
//! as typed), whether a full-cost hash verification was spent (so the chain knows whether to pad
//! a failure), and what the audit log should learn (the person was found; why a rule refused).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::auth::{AuthFailure, BackendKind};
use crate::domain::User;
use crate::secret::Password;

/// Asked by a backend once it knows whose credentials an attempt is about (a directory entry,
/// an account), before it checks the password: the login limit must hold for the person, not
/// only for the name as typed, since a directory matches many spellings to one entry.
#[async_trait]
pub trait AttemptGuard: Send + Sync {
    /// `Err` (normally [`AuthFailure::RateLimited`]) refuses the attempt; the backend returns
    /// that error without checking the password. `identity` is stable for one person of one
    /// backend (a directory entry's immutable id or folded DN, `account:<id>`).
    async fn resolved(&self, backend: BackendKind, identity: &str) -> Result<(), AuthFailure>;
}

/// Per-attempt state shared by the chain and its backends: the guard to ask, and whether a
/// backend already spent a full-cost password hash verification (so the chain need not pad).
#[derive(Default)]
pub struct AttemptContext<'a> {
    guard: Option<&'a dyn AttemptGuard>,
    hashed: AtomicBool,
    /// Some backend found whose credentials these are (for the audit log only).
    found: AtomicBool,
    /// Why a backend refused, in words for an administrator (the group or rule).
    explanation: std::sync::Mutex<Option<String>>,
    /// The realm's account the attempt was about, once a backend loaded it (for the audit row
    /// of a failed login, without a second query).
    tried: std::sync::Mutex<Option<User>>,
}

impl fmt::Debug for AttemptContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptContext")
            .field("guarded", &self.guard.is_some())
            .field("hashed", &self.paid_full_hash())
            .finish()
    }
}

impl<'a> AttemptContext<'a> {
    pub fn new(guard: Option<&'a dyn AttemptGuard>) -> Self {
        AttemptContext {
            guard,
            ..AttemptContext::default()
        }
    }

    /// See [`AttemptGuard::resolved`]; with no guard, always allowed. Also notes that the
    /// person was found.
    pub async fn resolved(&self, backend: BackendKind, identity: &str) -> Result<(), AuthFailure> {
        self.found.store(true, Ordering::Relaxed);
        match self.guard {
            Some(g) => g.resolved(backend, identity).await,
            None => Ok(()),
        }
    }

    /// A backend verified a password against a hash of the configured cost.
    pub fn paid_full_hash(&self) -> bool {
        self.hashed.load(Ordering::Relaxed)
    }

    /// Whether a backend found the person (called [`AttemptContext::resolved`]).
    pub(crate) fn person_found(&self) -> bool {
        self.found.load(Ordering::Relaxed)
    }

    pub fn note_full_hash(&self) {
        self.hashed.store(true, Ordering::Relaxed);
    }

    /// Says, for the audit log, why the backend refused (never a secret).
    pub fn explain(&self, why: impl Into<String>) {
        *self.explanation.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.into());
    }

    /// Notes the realm's account this attempt is about (the first one noted stays).
    pub fn tried(&self, user: &User) {
        let mut tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
        if tried.is_none() {
            *tried = Some(user.clone());
        }
    }

    pub(crate) fn take_tried(&self) -> Option<User> {
        self.tried.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub(crate) fn take_explanation(&self) -> Option<String> {
        self.explanation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Spends what one password verification at the configured cost spends, on a throw-away hash:
/// the chain calls it when a login failed without any backend having paid that cost, so that an
/// unknown name, a directory person's wrong password and a local wrong password take one time.
#[async_trait]
pub trait TimingPad: Send + Sync {
    async fn pad(&self, password: &Password);
}
