//! The link between an account and its directory entry (the entry's immutable id, remembered on
//! the account): whether a linked entry still exists, and what an administrator's relink does.
//!
//! "Gone" means gone from the directory, not from the people base: the id is looked up under
//! `link_search_base`, else under the naming context (read from the root DSE) that holds the
//! people base, so that an entry moved to another branch (`ou=disabled`) or filtered out of the
//! user search still holds its account. A login never moves an account to another entry; a sync
//! or `latchkey ldap relink` does, and only once the linked entry is gone.

use auth_core::{User, email_lookup_key};
use ldap3::{Scope, ldap_escape};

use crate::conn::DirError;
use crate::directory::{Directory, normalize_dn};
use crate::entry::{self, DirEntry};

impl Directory {
    /// Where linked entries are looked up: `link_search_base`, else the naming context that
    /// holds the people base (the root DSE's `namingContexts`, read once and cached).
    pub async fn link_base(&self) -> Result<String, DirError> {
        if let Some(base) = &self.config().link_search_base {
            return Ok(base.clone());
        }
        if let Some(base) = self.link_base.get() {
            return Ok(base.clone());
        }
        let root = self
            .service_search_for(
                "",
                Scope::Base,
                "(objectClass=*)",
                &["namingContexts".to_owned()],
            )
            .await?;
        let contexts: Vec<String> = root
            .first()
            .map(|e| e.values("namingContexts").to_vec())
            .unwrap_or_default();
        let people = self.people_base();
        let base = context_for(&contexts, people).ok_or_else(|| {
            DirError::Config(format!(
                "no naming context of the directory ({}) holds the people base {people:?}, so a linked entry cannot be looked up; set ldap.link_search_base",
                if contexts.is_empty() {
                    "the root DSE lists none".to_owned()
                } else {
                    contexts.join("; ")
                }
            ))
        })?;
        let _ = self.link_base.set(base.to_owned());
        Ok(base.to_owned())
    }

    /// The entry carrying this immutable id anywhere under [`Self::link_base`], if any.
    pub async fn find_by_unique_id(&self, id: &str) -> Result<Option<DirEntry>, DirError> {
        let attr = &self.config().attributes.unique_id;
        let value = if attr.eq_ignore_ascii_case("objectGUID") {
            match escape_bytes_hex(id) {
                Some(v) => v,
                None => return Ok(None),
            }
        } else {
            ldap_escape(id).into_owned()
        };
        let filter = format!("({attr}={value})");
        let base = self.link_base().await?;
        // Any entry carrying the id holds the account (an attribute that is not unique may be
        // carried by several).
        let hits = self.service_search(&base, Scope::Subtree, &filter).await?;
        Ok(hits.into_iter().next())
    }
}

/// The most specific naming context that holds `base` (DNs compared loosely).
fn context_for<'a>(contexts: &'a [String], base: &str) -> Option<&'a str> {
    let base = normalize_dn(base);
    contexts
        .iter()
        .filter(|c| {
            let c = normalize_dn(c);
            !c.is_empty() && (base == c || base.ends_with(&format!(",{c}")))
        })
        .max_by_key(|c| c.len())
        .map(String::as_str)
}

/// Escapes raw bytes for a filter (`\hh` each), for binary ids such as `objectGUID`.
fn escape_bytes_hex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        hex.as_bytes()
            .chunks(2)
            .map(|pair| format!("\\{}", String::from_utf8_lossy(pair)))
            .collect(),
    )
}

/// Every entry under the people base whose mapped email is `email`, as a sync matches
/// accounts: by the email mapping, or, without one, the entry whose username is the email.
pub async fn entries_for_email(dir: &Directory, email: &str) -> Result<Vec<DirEntry>, DirError> {
    let cfg = dir.config();
    if !cfg.maps_usernames() {
        return Ok(dir.find_user(email).await?.into_iter().collect());
    }
    let key = email_lookup_key(email);
    Ok(dir
        .all_people()
        .await?
        .into_iter()
        .filter(|p| {
            let username = entry::directory_username(p, "", cfg);
            entry::email_for(p, username, cfg).is_ok_and(|e| email_lookup_key(&e) == key)
        })
        .collect())
}

/// What `latchkey ldap relink` finds for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelinkPlan {
    /// The account is linked to no entry: its next login or sync links it.
    NotLinked,
    /// No entry under the people base has the account's email.
    NoEntry,
    /// Several entries have it (their DNs): the directory must be put right first.
    Ambiguous(Vec<String>),
    /// The account is linked to the entry the directory has for it already.
    AlreadyLinked(DirEntry),
    /// The linked entry still exists (`old`, perhaps outside the people base): `new` is someone
    /// else, or the old entry must be removed first. Refused.
    OldEntryExists { old: DirEntry, new: DirEntry },
    /// The linked entry (`old_id`) is gone: the account moves to `new` (to no id when `new`
    /// carries none).
    Relink {
        old_id: String,
        new: DirEntry,
        new_id: Option<String>,
    },
}

/// Decides what relinking `user` to the entry the directory now has for its email would do.
pub async fn plan_relink(dir: &Directory, user: &User) -> Result<RelinkPlan, DirError> {
    let Some(old_id) = &user.external_id else {
        return Ok(RelinkPlan::NotLinked);
    };
    let mut found = entries_for_email(dir, &user.delivery_email).await?;
    let new = match found.len() {
        0 => return Ok(RelinkPlan::NoEntry),
        1 => found.remove(0),
        _ => {
            return Ok(RelinkPlan::Ambiguous(
                found.into_iter().map(|e| e.dn).collect(),
            ));
        }
    };
    let new_id = new.unique_id(&dir.config().attributes.unique_id);
    if new_id.as_deref() == Some(old_id.as_str()) {
        return Ok(RelinkPlan::AlreadyLinked(new));
    }
    Ok(match dir.find_by_unique_id(old_id).await? {
        Some(old) => RelinkPlan::OldEntryExists { old, new },
        None => RelinkPlan::Relink {
            old_id: old_id.clone(),
            new,
            new_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_naming_context_holding_the_people_base_is_chosen() {
        let contexts = vec![
            "dc=example,dc=org".to_owned(),
            "cn=config".to_owned(),
            "ou=branch, DC=Example,dc=org".to_owned(),
        ];
        assert_eq!(
            context_for(&contexts, "ou=people,dc=example,dc=org"),
            Some("dc=example,dc=org")
        );
        // The most specific one wins.
        assert_eq!(
            context_for(&contexts, "ou=people,ou=branch,dc=example,dc=org"),
            Some("ou=branch, DC=Example,dc=org")
        );
        assert_eq!(
            context_for(&contexts, "dc=example,dc=org"),
            Some("dc=example,dc=org")
        );
        // A suffix only on whole RDNs.
        assert_eq!(context_for(&contexts, "ou=people,xdc=example,dc=org"), None);
        assert_eq!(context_for(&contexts, "ou=people,dc=other"), None);
        assert_eq!(context_for(&[], "ou=people,dc=example,dc=org"), None);
    }

    #[test]
    fn binary_ids_are_escaped_as_bytes() {
        assert_eq!(escape_bytes_hex("01abff").as_deref(), Some("\\01\\ab\\ff"));
        assert_eq!(escape_bytes_hex("xyz"), None);
        assert_eq!(escape_bytes_hex("abc"), None);
    }
}
