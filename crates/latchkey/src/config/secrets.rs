//! Secret settings: [`Secret`] (inline secrets, masked when printed), [`DatabaseUrl`] (its
//! password masked), [`mask_url_password`], and [`read_secret_file`] for the `*_file` settings.

use std::path::Path;

use auth_core::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// A secret setting: deserialised from a string, serialised masked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() { "" } else { "********" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(SecretString::new(String::deserialize(d)?)))
    }
}

/// A database URL: serialised with any password in it masked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DatabaseUrl(pub SecretString);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask_url_password(self.0.expose()))
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&mask_url_password(self.0.expose()))
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(DatabaseUrl(SecretString::new(String::deserialize(d)?)))
    }
}

/// `scheme://user:password@host/…` → `scheme://user:********@host/…`; also masks every
/// `password=` parameter. The user-info part ends at the last `@` before the query, so a
/// password holding `/`, `?`, `#` or `@` is masked whole.
pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        // The last `@` that is followed by a host (not by query text) ends the user info, even
        // when a password holds characters a URL should have encoded.
        let at = out[start..]
            .match_indices('@')
            .map(|(i, _)| start + i)
            .rfind(|&i| {
                let host = out[i + 1..].split(['/', '?']).next().unwrap_or("");
                !host.is_empty() && !host.contains('=') && !host.contains('&')
            });
        if let Some(at) = at {
            if let Some(colon) = out[start..at].find(':') {
                out.replace_range(start + colon + 1..at, "********");
            }
        }
    }
    let mut from = 0;
    while let Some(i) = out[from..].find("password=") {
        let value = from + i + "password=".len();
        let end = out[value..]
            .find(['&', ' '])
            .map(|j| value + j)
            .unwrap_or(out.len());
        out.replace_range(value..end, "********");
        from = value + "********".len();
    }
    out
}

/// Reads a secret from a file, trimming surrounding whitespace.
pub fn read_secret_file(path: &Path, what: &'static str) -> Result<SecretString, ConfigError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| ConfigError::SecretFile {
        what,
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    let secret = SecretString::new(text.trim());
    zeroize::Zeroize::zeroize(&mut text);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let secret = Secret(SecretString::new("hunter2"));
        assert_eq!(format!("{secret:?}"), "Secret(********)");
        let url = DatabaseUrl(SecretString::new("postgres://lk:hunter2@db/lk"));
        assert_eq!(format!("{url:?}"), "postgres://lk:********@db/lk");
        assert_eq!(
            mask_url_password("postgres://h/db?user=a&password=pw&x=1"),
            "postgres://h/db?user=a&password=********&x=1"
        );
        assert_eq!(
            mask_url_password("postgres://u:p/a?s#s@h/db?password=1&password=2"),
            "postgres://u:********@h/db?password=********&password=********"
        );
        assert_eq!(
            mask_url_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }

    #[test]
    fn secret_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  s3cret\n").unwrap();
        assert_eq!(
            read_secret_file(&path, "the test secret").unwrap().expose(),
            "s3cret"
        );
        let err = read_secret_file(&dir.path().join("missing"), "the test secret").unwrap_err();
        assert!(
            err.to_string().contains("cannot read the test secret"),
            "{err}"
        );
    }
}
