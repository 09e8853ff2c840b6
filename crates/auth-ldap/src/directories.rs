//! Which directory serves which realm: the server-wide one (`[ldap]`), and the realms' own
//! (stored per realm, changed at run time). A realm with its own settings never falls back to
//! the server-wide directory, even when its own cannot be built (then its LDAP logins are
//! "unavailable" until an administrator fixes them).
//!
//! A change swaps the realm's entry; a login holds an `Arc` of the directory it started with,
//! so logins in flight finish on the old directory and its pools, which close when the last
//! of them is done.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use auth_core::RealmId;

use crate::directory::Directory;

/// A realm's own directory, or why it cannot be used.
#[derive(Clone)]
pub enum RealmDirectory {
    Ready(Arc<Directory>),
    /// The stored settings could not be turned into a directory (a CA file gone, a password
    /// the server secret cannot open); the reason names no secret.
    Broken(String),
}

/// What serves a realm's LDAP logins.
#[derive(Clone)]
pub enum Serving {
    /// The realm's own directory.
    Own(Arc<Directory>),
    /// The server-wide directory.
    Default(Arc<Directory>),
    /// The realm's own settings are unusable.
    Broken(String),
    /// No directory at all.
    None,
}

impl Serving {
    /// The directory, when there is one that works.
    pub fn directory(&self) -> Option<&Arc<Directory>> {
        match self {
            Serving::Own(d) | Serving::Default(d) => Some(d),
            Serving::Broken(_) | Serving::None => None,
        }
    }
}

/// The server-wide directory and the realms' own.
#[derive(Default)]
pub struct Directories {
    default: Option<Arc<Directory>>,
    realms: RwLock<HashMap<RealmId, RealmDirectory>>,
}

impl Directories {
    pub fn new(default: Option<Arc<Directory>>) -> Directories {
        Directories {
            default,
            realms: RwLock::new(HashMap::new()),
        }
    }

    /// The server-wide directory (`[ldap]`), if configured.
    pub fn default_directory(&self) -> Option<&Arc<Directory>> {
        self.default.as_ref()
    }

    /// What serves the realm: its own directory, else the server-wide one.
    pub fn for_realm(&self, realm: RealmId) -> Serving {
        let own = self
            .realms
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&realm)
            .cloned();
        match own {
            Some(RealmDirectory::Ready(d)) => Serving::Own(d),
            Some(RealmDirectory::Broken(why)) => Serving::Broken(why),
            None => match &self.default {
                Some(d) => Serving::Default(d.clone()),
                None => Serving::None,
            },
        }
    }

    /// Whether the realm has its own settings (working or not).
    pub fn has_own(&self, realm: RealmId) -> bool {
        self.realms
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(&realm)
    }

    /// Installs (or, with `None`, removes) the realm's own directory. The one replaced is
    /// dropped once the logins using it finish.
    pub fn set_realm(&self, realm: RealmId, own: Option<RealmDirectory>) {
        let mut realms = self
            .realms
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match own {
            Some(d) => {
                realms.insert(realm, d);
            }
            None => {
                realms.remove(&realm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LdapConfig;

    fn dir(uri: &str) -> Arc<Directory> {
        Arc::new(
            Directory::new(LdapConfig {
                uris: vec![uri.into()],
                user_search_base: "ou=people,dc=example,dc=org".into(),
                ..LdapConfig::default()
            })
            .unwrap(),
        )
    }

    fn uri(s: &Serving) -> Option<String> {
        s.directory().map(|d| d.config().uris[0].clone())
    }

    #[tokio::test]
    async fn a_realm_uses_its_own_directory_else_the_default_and_never_falls_back_when_broken() {
        let dirs = Directories::new(Some(dir("ldap://127.0.0.1:1")));
        let (a, b) = (RealmId(1), RealmId(2));
        assert!(matches!(dirs.for_realm(a), Serving::Default(_)));
        dirs.set_realm(a, Some(RealmDirectory::Ready(dir("ldap://127.0.0.2:1"))));
        assert!(matches!(dirs.for_realm(a), Serving::Own(_)));
        assert_eq!(
            uri(&dirs.for_realm(a)).as_deref(),
            Some("ldap://127.0.0.2:1")
        );
        assert_eq!(
            uri(&dirs.for_realm(b)).as_deref(),
            Some("ldap://127.0.0.1:1")
        );
        // A login in flight keeps the directory it started with.
        let held = dirs.for_realm(a);
        dirs.set_realm(
            a,
            Some(RealmDirectory::Broken("the CA file is gone".into())),
        );
        assert_eq!(uri(&held).as_deref(), Some("ldap://127.0.0.2:1"));
        assert!(
            matches!(dirs.for_realm(a), Serving::Broken(_)),
            "no fallback"
        );
        assert!(dirs.has_own(a));
        dirs.set_realm(a, None);
        assert!(!dirs.has_own(a));
        assert!(matches!(dirs.for_realm(a), Serving::Default(_)));
        let none = Directories::new(None);
        assert!(matches!(none.for_realm(a), Serving::None));
    }
}
