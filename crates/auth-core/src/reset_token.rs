//! Password-reset tokens: 256 random bits, shown once in the mailed link as 64 hex digits, and
//! stored only as their SHA-256 digest, so the database never holds a usable link.

use std::fmt;

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// A reset token as it appears in the link. `Debug` and `Display` redact it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ResetToken(String);

/// Not the shape of a reset token (64 lower-case hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed reset token")]
pub struct MalformedResetToken;

impl ResetToken {
    /// A new token from a cryptographically secure generator.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> ResetToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        rng.fill_bytes(&mut bytes);
        let token = ResetToken(hex::encode(bytes));
        bytes.zeroize();
        token
    }

    /// Accepts exactly 64 lower-case hex digits (what [`ResetToken::generate`] makes).
    pub fn parse(value: &str) -> Result<ResetToken, MalformedResetToken> {
        let ok = value.len() == TOKEN_BYTES * 2
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(ResetToken(value.to_owned()))
        } else {
            Err(MalformedResetToken)
        }
    }

    /// The token itself, for the link in the mail.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keeps: the SHA-256 of the token's text, in hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetToken([redacted])")
    }
}

impl fmt::Display for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_hashed_and_redacted() {
        let mut rng = rand::rng();
        let a = ResetToken::generate(&mut rng);
        let b = ResetToken::generate(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert_eq!(ResetToken::parse(a.expose()), Ok(a.clone()));
        assert_eq!(a.digest().len(), 64);
        assert_ne!(a.digest(), a.expose());
        assert_eq!(format!("{a:?} {a}"), "ResetToken([redacted]) [redacted]");
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(ResetToken::parse(bad), Err(MalformedResetToken), "{bad}");
        }
    }
}
