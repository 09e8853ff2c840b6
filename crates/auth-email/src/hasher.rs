//! Password hashing: bcrypt over a SHA-256 pre-hash, run off the async workers.
//!
//! bcrypt reads at most 72 bytes of its input, so two passwords that differ only after byte 72
//! would share a hash. Zulip allows 100-character passwords (up to 400 bytes of UTF-8), so every
//! password is first reduced with SHA-256 and the 44-character base64 of that digest is what
//! bcrypt sees. Stored hashes carry the prefix `bcrypt-sha256$`. Plain bcrypt hashes (`$2a$`,
//! `$2b$`, `$2y$`, for instance imported from another system) are still verified, but only for
//! passwords of at most 72 bytes, and are replaced on the next successful login.
//!
//! Every check is one job on the hash threads ([`crate::pool`]), padding included: a wrong
//! password against an outdated cheaper hash is followed, in the same job, by a verification at
//! the configured cost, so a failed login costs one full verification and one trip through the
//! queue whatever the account's hash looks like.

use std::sync::Arc;

use auth_core::{Password, PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::pool::{HashPool, PoolOptions};

/// Prefix of Latchkey's own hash format.
pub const PREFIX: &str = "bcrypt-sha256$";

/// bcrypt's input limit, in bytes.
const BCRYPT_MAX_INPUT: usize = 72;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("bcrypt cost must be between 4 and 31 (got {0})")]
    BadCost(u32),
    #[error("hashing failed: {0}")]
    Bcrypt(String),
    #[error("hashing worker failed: {0}")]
    Worker(String),
    #[error("could not start the password hash threads: {0}")]
    Start(#[from] std::io::Error),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Match {
        /// The stored hash uses another cost or the legacy format.
        needs_rehash: bool,
    },
    Mismatch,
}

/// Hashes and verifies passwords at a configured bcrypt cost, on its own low-priority threads
/// (at most one hash per thread at a time).
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    pool: Arc<HashPool>,
    /// A hash of a random password at the configured cost, verified when there is no account so
    /// that an unknown email costs what a wrong password costs.
    dummy: PasswordHash,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish()
    }
}

fn prehash(password: &Password) -> String {
    STANDARD.encode(Sha256::digest(password.expose().as_bytes()))
}

fn hash_blocking(password: &Password, cost: u32) -> Result<PasswordHash, HashError> {
    let bcrypted =
        bcrypt::hash(prehash(password), cost).map_err(|e| HashError::Bcrypt(e.to_string()))?;
    Ok(PasswordHash(format!("{PREFIX}{bcrypted}")))
}

fn cost_of(bcrypt_hash: &str) -> Option<u32> {
    bcrypt_hash
        .parse::<bcrypt::HashParts>()
        .ok()
        .map(|p| p.get_cost())
}

fn verify_blocking(password: &Password, stored: &str, cost: u32) -> Verification {
    if let Some(inner) = stored.strip_prefix(PREFIX) {
        return match bcrypt::verify(prehash(password), inner) {
            Ok(true) => Verification::Match {
                needs_rehash: cost_of(inner) != Some(cost),
            },
            _ => Verification::Mismatch,
        };
    }
    if stored.starts_with("$2") {
        // Legacy plain bcrypt: it cannot tell passwords apart past byte 72, so longer passwords
        // are refused outright rather than matched on their first 72 bytes.
        if password.byte_len() > BCRYPT_MAX_INPUT {
            return Verification::Mismatch;
        }
        return match bcrypt::verify(password.expose(), stored) {
            Ok(true) => Verification::Match { needs_rehash: true },
            _ => Verification::Mismatch,
        };
    }
    Verification::Mismatch
}

impl PasswordHasher {
    /// Builds a hasher with one low-priority hash thread per CPU; computes the dummy hash once
    /// (one bcrypt at the configured cost).
    pub fn new(cost: u32) -> Result<PasswordHasher, HashError> {
        PasswordHasher::with_pool(cost, PoolOptions::for_this_machine())
    }

    /// Builds a hasher whose hash threads are as `pool` says.
    pub fn with_pool(cost: u32, pool: PoolOptions) -> Result<PasswordHasher, HashError> {
        if !(4..=31).contains(&cost) {
            return Err(HashError::BadCost(cost));
        }
        let dummy = hash_blocking(
            &Password::new("latchkey dummy password, never matches"),
            cost,
        )?;
        Ok(PasswordHasher {
            cost,
            pool: Arc::new(HashPool::start(pool)?),
            dummy,
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Whether a stored hash is in Latchkey's own format at the configured cost.
    pub fn is_current(&self, stored: &PasswordHash) -> bool {
        stored
            .0
            .strip_prefix(PREFIX)
            .is_some_and(|inner| cost_of(inner) == Some(self.cost))
    }

    /// Whether [`PasswordHasher::verify`] against `stored` costs what the configured cost costs:
    /// true for a hash of at least that cost and for anything checked against the dummy; false
    /// for an outdated cheaper hash (made before the cost was raised, or imported).
    pub fn verify_costs_full(&self, password: &Password, stored: Option<&PasswordHash>) -> bool {
        let cost = match stored {
            Some(h) => match h.0.strip_prefix(PREFIX) {
                Some(inner) => cost_of(inner),
                None if h.0.starts_with("$2") && password.byte_len() <= BCRYPT_MAX_INPUT => {
                    cost_of(&h.0)
                }
                None => None,
            },
            None => None,
        };
        cost.is_none_or(|c| c >= self.cost)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // Queued and running hash jobs, for `GET /metrics` (a drop guard: a cancelled login
        // leaves the count right).
        let _queued = HashJobGauge::enter();
        self.pool
            .run(f)
            .await
            .ok_or_else(|| HashError::Worker("the hash job did not finish".into()))
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        let cost = self.cost;
        self.run(move || hash_blocking(&password, cost)).await?
    }

    /// Checks a password, in one hash job. With no stored hash the dummy hash is checked instead
    /// (and the answer is always a mismatch), so the call costs the same either way; a mismatch
    /// against a hash cheaper than the configured cost is followed by a check of the dummy in
    /// the same job, so every mismatch costs at least one full verification.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&PasswordHash>,
    ) -> Result<Verification, HashError> {
        let full = self.verify_costs_full(password, stored);
        let password = password.clone();
        let cost = self.cost;
        let dummy = self.dummy.0.clone();
        // Anything that cannot match (no hash, an unknown format, a long password against a
        // legacy hash) still pays for one bcrypt, against the dummy.
        let (target, real) = match stored {
            Some(h) if h.0.starts_with(PREFIX) => (h.0.clone(), true),
            Some(h) if h.0.starts_with("$2") && password.byte_len() <= BCRYPT_MAX_INPUT => {
                (h.0.clone(), true)
            }
            _ => (self.dummy.0.clone(), false),
        };
        let verdict = self
            .run(move || {
                let verdict = verify_blocking(&password, &target, cost);
                if verdict == Verification::Mismatch && !full {
                    verify_blocking(&password, &dummy, cost);
                }
                verdict
            })
            .await?;
        Ok(if real {
            verdict
        } else {
            Verification::Mismatch
        })
    }
}

/// The chain's timing pad: one verification against the dummy hash.
#[async_trait::async_trait]
impl auth_core::TimingPad for PasswordHasher {
    async fn pad(&self, password: &Password) {
        if let Err(e) = self.verify(password, None).await {
            tracing::warn!(error = %e, "timing pad verification failed");
        }
    }
}

/// Counts one hash job in `latchkey_password_hash_jobs` while it lives.
struct HashJobGauge;

impl HashJobGauge {
    fn enter() -> HashJobGauge {
        metrics::gauge!("latchkey_password_hash_jobs").increment(1.0);
        HashJobGauge
    }
}

impl Drop for HashJobGauge {
    fn drop(&mut self) {
        metrics::gauge!("latchkey_password_hash_jobs").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cheaper_hashes_do_not_cost_full() {
        let h = PasswordHasher::new(5).unwrap();
        let pw = Password::new("correct horse");
        let cheap = PasswordHasher::new(4).unwrap().hash(&pw).await.unwrap();
        let full = h.hash(&pw).await.unwrap();
        assert!(!h.verify_costs_full(&pw, Some(&cheap)));
        assert!(h.verify_costs_full(&pw, Some(&full)));
        assert!(h.verify_costs_full(&pw, None), "the dummy is full cost");
        let legacy = PasswordHash(bcrypt::hash(pw.expose(), 4).unwrap());
        assert!(!h.verify_costs_full(&pw, Some(&legacy)));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(4).unwrap();
        let pw = Password::new("correct horse");
        let stored = h.hash(&pw).await.unwrap();
        assert!(stored.0.starts_with(PREFIX));
        assert!(h.is_current(&stored));
        assert_eq!(
            h.verify(&pw, Some(&stored)).await.unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(&Password::new("correct horsE"), Some(&stored))
                .await
                .unwrap(),
            Verification::Mismatch
        );
        assert_eq!(h.verify(&pw, None).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn passwords_differing_after_byte_72_are_different() {
        let h = PasswordHasher::new(4).unwrap();
        let base = "a".repeat(72);
        let one = Password::new(format!("{base}one"));
        let two = Password::new(format!("{base}two"));
        let stored = h.hash(&one).await.unwrap();
        assert!(matches!(
            h.verify(&one, Some(&stored)).await.unwrap(),
            Verification::Match { .. }
        ));
        assert_eq!(
            h.verify(&two, Some(&stored)).await.unwrap(),
            Verification::Mismatch
        );
        // The 72-byte prefix alone does not match either.
        assert_eq!(
            h.verify(&Password::new(base), Some(&stored)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn cost_change_asks_for_rehash() {
        let old = PasswordHasher::new(4).unwrap();
        let new = PasswordHasher::new(5).unwrap();
        let pw = Password::new("correct horse");
        let stored = old.hash(&pw).await.unwrap();
        assert!(!new.is_current(&stored));
        assert_eq!(
            new.verify(&pw, Some(&stored)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn legacy_plain_bcrypt_is_accepted_up_to_72_bytes() {
        let h = PasswordHasher::new(4).unwrap();
        let short = Password::new("legacy pass");
        let legacy = PasswordHash(bcrypt::hash(short.expose(), 4).unwrap());
        assert_eq!(
            h.verify(&short, Some(&legacy)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
        let long = "b".repeat(80);
        let legacy_long = PasswordHash(bcrypt::hash(&long, 4).unwrap());
        assert_eq!(
            h.verify(&Password::new(long), Some(&legacy_long))
                .await
                .unwrap(),
            Verification::Mismatch
        );
        let garbage = PasswordHash("md5$whatever".into());
        assert_eq!(
            h.verify(&short, Some(&garbage)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn bad_cost_is_refused() {
        assert!(matches!(PasswordHasher::new(3), Err(HashError::BadCost(3))));
        assert!(matches!(
            PasswordHasher::new(32),
            Err(HashError::BadCost(32))
        ));
    }
}
