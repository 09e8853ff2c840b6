//! API keys and the vault that keeps them out of the database in plaintext.
//!
//! A key is 32 characters from `[A-Za-z0-9]` drawn from a CSPRNG, exactly Zulip's format. The store
//! never receives a plaintext key: it gets a [`SealedKey`], which holds an HMAC-SHA256 digest of the
//! key under a server-held MAC key (the lookup index) and an XChaCha20-Poly1305 encryption of the key
//! bound to its owner's user id (so the key can be shown to its owner again, as Zulip does). Both
//! sub-keys are derived from the server secret with HKDF-SHA256.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, Distribution};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::domain::UserId;
use crate::secret::{SecretBytes, SecretString};

/// Length of every API key, in characters.
pub const API_KEY_LEN: usize = 32;

/// Minimum length of the server secret, in bytes.
pub const MIN_SERVER_SECRET_LEN: usize = 32;

const SEALED_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const HKDF_SALT: &[u8] = b"latchkey server secret v1";
const INFO_AEAD: &[u8] = b"latchkey api-key aead v1";
const INFO_MAC: &[u8] = b"latchkey api-key hmac v1";
const AAD_PREFIX: &[u8] = b"latchkey api-key for user ";
/// Other sealed secrets (a realm's LDAP bind password) carry this prefix and their context, so
/// neither kind can be passed off as the other.
const SECRET_AAD_PREFIX: &[u8] = b"latchkey secret for ";

/// An API key. `Debug` and `Display` redact it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ApiKey(String);

/// The key did not have Zulip's format (32 ASCII letters or digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Malformed API key")]
pub struct MalformedApiKey;

impl ApiKey {
    /// A new random key from a cryptographically secure generator.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> ApiKey {
        let key: String = Alphanumeric
            .sample_iter(rng)
            .take(API_KEY_LEN)
            .map(char::from)
            .collect();
        ApiKey(key)
    }

    /// Accepts exactly 32 ASCII letters and digits, as Zulip's `is_valid_api_key_format`.
    pub fn parse(value: &str) -> Result<ApiKey, MalformedApiKey> {
        if value.len() == API_KEY_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(ApiKey(value.to_owned()))
        } else {
            Err(MalformedApiKey)
        }
    }

    /// The key itself, for the one response that hands it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// HMAC-SHA256 of a key under the server's MAC key, hex encoded: the lookup index for keys.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyDigest(String);

impl KeyDigest {
    /// The stored (hex) form of a digest's bytes.
    pub fn of_bytes(bytes: &[u8; 32]) -> KeyDigest {
        KeyDigest(hex::encode(bytes))
    }

    /// Wraps a digest read back from storage.
    pub fn from_stored(hex: String) -> KeyDigest {
        KeyDigest(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not the key, but there is no reason to print all of it either.
        write!(f, "KeyDigest({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// What the store keeps for a key: its digest and its sealed (encrypted) copy.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub digest: KeyDigest,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKey")
            .field("digest", &self.digest)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the server secret must be at least {MIN_SERVER_SECRET_LEN} bytes (got {0})")]
    SecretTooShort(usize),
    #[error(
        "a stored API key could not be decrypted (wrong server secret, or the row was altered)"
    )]
    Undecryptable,
    #[error("a stored secret could not be decrypted (wrong server secret, or the row was altered)")]
    SecretUndecryptable,
}

/// Derives the key-encryption and key-digest keys from the server secret and applies them.
pub struct KeyVault {
    aead: XChaCha20Poly1305,
    /// HMAC-SHA256 already keyed with the MAC key: each digest clones this state instead of
    /// hashing the key's pads again (half the work of a digest, on every API request).
    keyed_mac: Hmac<Sha256>,
}

impl fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyVault([redacted])")
    }
}

impl KeyVault {
    pub fn new(server_secret: &SecretBytes) -> Result<KeyVault, VaultError> {
        if server_secret.len() < MIN_SERVER_SECRET_LEN {
            return Err(VaultError::SecretTooShort(server_secret.len()));
        }
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), server_secret.expose());
        let mut aead_key = [0u8; 32];
        let mut mac_key = vec![0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255 * 32 limit, so expand cannot fail here.
        hk.expand(INFO_AEAD, &mut aead_key)
            .map_err(|_| VaultError::SecretTooShort(0))?;
        hk.expand(INFO_MAC, &mut mac_key)
            .map_err(|_| VaultError::SecretTooShort(0))?;
        let aead = XChaCha20Poly1305::new((&aead_key).into());
        aead_key.zeroize();
        // HMAC accepts keys of any length, so this cannot fail for our 32-byte key.
        let keyed_mac = match <Hmac<Sha256> as Mac>::new_from_slice(&mac_key) {
            Ok(mac) => mac,
            Err(_) => unreachable_mac(),
        };
        mac_key.zeroize();
        Ok(KeyVault { aead, keyed_mac })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed_mac.clone()
    }

    /// The lookup digest of a key.
    pub fn digest(&self, key: &ApiKey) -> KeyDigest {
        KeyDigest::of_bytes(&self.digest_bytes(key))
    }

    /// The lookup digest of a key as its 32 bytes (what [`KeyVault::digest`] writes in hex).
    pub fn digest_bytes(&self, key: &ApiKey) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(key.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A value that identifies the server secret without revealing it. Stored once in the
    /// database so that a server started with a different secret refuses to run instead of
    /// silently failing every key.
    pub fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"latchkey server secret fingerprint v1");
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// Encrypts a key for storage, bound to its owner.
    pub fn seal<R: RngCore + CryptoRng + ?Sized>(
        &self,
        key: &ApiKey,
        owner: UserId,
        rng: &mut R,
    ) -> SealedKey {
        SealedKey {
            digest: self.digest(key),
            ciphertext: self.seal_bytes(key.expose().as_bytes(), &aad_for(owner), rng),
        }
    }

    /// Decrypts a stored key; fails if the secret is wrong or the row was moved to another user.
    pub fn open(&self, sealed: &[u8], owner: UserId) -> Result<ApiKey, VaultError> {
        let mut plain = self
            .open_bytes(sealed, &aad_for(owner))
            .ok_or(VaultError::Undecryptable)?;
        let key = std::str::from_utf8(&plain)
            .ok()
            .and_then(|s| ApiKey::parse(s).ok())
            .ok_or(VaultError::Undecryptable);
        plain.zeroize();
        key
    }

    /// Encrypts another secret for storage (an LDAP bind password), bound to `context` (what
    /// and whose it is, e.g. `realm-ldap-bind/7`): it opens only with the same context.
    pub fn seal_secret<R: RngCore + CryptoRng + ?Sized>(
        &self,
        secret: &SecretString,
        context: &str,
        rng: &mut R,
    ) -> Vec<u8> {
        self.seal_bytes(secret.expose().as_bytes(), &secret_aad(context), rng)
    }

    /// Decrypts what [`KeyVault::seal_secret`] sealed with the same `context`.
    pub fn open_secret(&self, sealed: &[u8], context: &str) -> Result<SecretString, VaultError> {
        let mut plain = self
            .open_bytes(sealed, &secret_aad(context))
            .ok_or(VaultError::SecretUndecryptable)?;
        let secret = std::str::from_utf8(&plain)
            .map(SecretString::new)
            .map_err(|_| VaultError::SecretUndecryptable);
        plain.zeroize();
        secret
    }

    /// `version ‖ nonce ‖ XChaCha20-Poly1305(msg, aad)` with a fresh random nonce.
    fn seal_bytes<R: RngCore + CryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        aad: &[u8],
        rng: &mut R,
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce only fails for plaintexts over 256 GiB.
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg, aad })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// The plaintext of what [`KeyVault::seal_bytes`] sealed with `aad`; `None` for another
    /// version, a wrong secret or a wrong `aad`.
    fn open_bytes(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != SEALED_VERSION {
            return None;
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

fn secret_aad(context: &str) -> Vec<u8> {
    let mut aad = SECRET_AAD_PREFIX.to_vec();
    aad.extend_from_slice(context.as_bytes());
    aad
}

fn aad_for(owner: UserId) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(owner.0.to_string().as_bytes());
    aad
}

#[cold]
fn unreachable_mac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-size-key MACs; HMAC takes any length.
    panic!("HMAC-SHA256 rejected a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(byte: u8) -> KeyVault {
        KeyVault::new(&SecretBytes::new(vec![byte; 32])).unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_with_their_context_and_secret() {
        let mut rng = rand::rng();
        let secret = SecretString::new("bind pässword");
        let sealed = vault(1).seal_secret(&secret, "realm-ldap-bind/7", &mut rng);
        assert!(!sealed.windows(4).any(|w| w == b"bind"), "not in clear");
        let opened = vault(1).open_secret(&sealed, "realm-ldap-bind/7").unwrap();
        assert_eq!(opened.expose(), "bind pässword");
        assert_eq!(
            vault(1).open_secret(&sealed, "realm-ldap-bind/8"),
            Err(VaultError::SecretUndecryptable)
        );
        assert_eq!(
            vault(2).open_secret(&sealed, "realm-ldap-bind/7"),
            Err(VaultError::SecretUndecryptable)
        );
        // Not an API key either.
        assert!(vault(1).open(&sealed, UserId(7)).is_err());
    }

    #[test]
    fn generated_keys_have_zulip_format() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let k = ApiKey::generate(&mut rng);
            assert_eq!(k.expose().len(), 32);
            assert!(ApiKey::parse(k.expose()).is_ok());
        }
        let a = ApiKey::generate(&mut rng);
        let b = ApiKey::generate(&mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn parse_matches_zulip_vectors() {
        assert!(ApiKey::parse("VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp").is_ok());
        assert!(ApiKey::parse("TooShort").is_err());
        assert!(ApiKey::parse("VIzRVw2CspUOnEm9Yu5vQiQtJNkvETk-").is_err());
        assert!(ApiKey::parse("VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkpX").is_err());
        assert!(ApiKey::parse("VIzRVw2CspUOnEm9Yu5vQiQtJNkvETké").is_err());
    }

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let v = vault(7);
        let mut rng = rand::rng();
        let k = ApiKey::generate(&mut rng);
        let sealed = v.seal(&k, UserId(5), &mut rng);
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains(k.expose()));
        assert_eq!(v.open(&sealed.ciphertext, UserId(5)).unwrap(), k);
        // Bound to the owner: the same ciphertext does not open for another user.
        assert_eq!(
            v.open(&sealed.ciphertext, UserId(6)),
            Err(VaultError::Undecryptable)
        );
        // A different server secret cannot open it and gives a different digest.
        let other = vault(8);
        assert!(other.open(&sealed.ciphertext, UserId(5)).is_err());
        assert_ne!(other.digest(&k), v.digest(&k));
        assert_eq!(sealed.digest, v.digest(&k));
        assert_eq!(sealed.digest.as_str().len(), 64);
    }

    #[test]
    fn short_secret_is_refused() {
        assert_eq!(
            KeyVault::new(&SecretBytes::new(vec![1; 16])).unwrap_err(),
            VaultError::SecretTooShort(16)
        );
    }

    #[test]
    fn debug_redacts() {
        let k = ApiKey::parse("VIzRVw2CspUOnEm9Yu5vQiQtJNkvETkp").unwrap();
        assert!(!format!("{k:?}{k}").contains("VIzR"));
    }
}
