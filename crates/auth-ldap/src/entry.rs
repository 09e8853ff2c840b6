//! A directory entry and what the mapping makes of it: email, full name, disabled state,
//! realm access, the directory's immutable id.

use std::collections::HashMap;

use auth_core::{DirectoryRefusal, policy};

use crate::config::LdapConfig;

/// One entry, attribute names lower-cased (LDAP names are case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
    pub bin_attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl DirEntry {
    pub fn from_search(entry: ldap3::SearchEntry) -> DirEntry {
        DirEntry {
            dn: entry.dn,
            attrs: entry
                .attrs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            bin_attrs: entry
                .bin_attrs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        }
    }

    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.values(attr).first().map(String::as_str)
    }

    /// The immutable id: the attribute's text value, or its bytes as lower-case hex when the
    /// server sends it as binary (Active Directory's `objectGUID`).
    pub fn unique_id(&self, attr: &str) -> Option<String> {
        if let Some(v) = self.first(attr) {
            return Some(v.to_owned());
        }
        self.bin_attrs
            .get(&attr.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Is the entry disabled in the directory? `Err` when the configured attribute holds a value
/// that means neither (the account is then refused, as Zulip refuses it).
pub fn is_disabled(entry: &DirEntry, cfg: &LdapConfig) -> Result<bool, String> {
    let attrs = &cfg.attributes;
    if let Some(uac) = &attrs.user_account_control {
        return match entry.first(uac) {
            None => Ok(false),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(|n| n & 2 != 0)
                .map_err(|_| format!("{uac} is not a number")),
        };
    }
    if let Some(attr) = &attrs.deactivated {
        let Some(v) = entry.first(attr) else {
            return Ok(false);
        };
        if !attrs.deactivated_values.is_empty() {
            return Ok(attrs
                .deactivated_values
                .iter()
                .any(|d| d.eq_ignore_ascii_case(v.trim())));
        }
        return match v.trim().to_ascii_uppercase().as_str() {
            "TRUE" | "YES" => Ok(true),
            "FALSE" | "NO" => Ok(false),
            _ => Err(format!("{attr} is neither TRUE/YES nor FALSE/NO")),
        };
    }
    Ok(false)
}

/// The directory username of the entry (its `username_attr`), else what was typed.
pub fn directory_username<'a>(entry: &'a DirEntry, typed: &'a str, cfg: &LdapConfig) -> &'a str {
    entry.first(&cfg.username_attr).unwrap_or(typed)
}

/// The account email for the entry (Zulip's §5.3): `<username>@<append_domain>`, else the email
/// attribute's first value, else the username itself (which must then be an email).
pub fn email_for(
    entry: &DirEntry,
    username: &str,
    cfg: &LdapConfig,
) -> Result<String, DirectoryRefusal> {
    let email = if let Some(domain) = &cfg.append_domain {
        let plain = format!("{username}@{domain}");
        if policy::validate_email(&plain).is_ok() {
            return Ok(plain);
        }
        // Not a dot-atom: quote the local part, as Zulip does (`"hamlet@test"@zulip.com`).
        let quoted = username.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\"@{domain}")
    } else if let Some(attr) = &cfg.email_attr {
        entry
            .first(attr)
            .map(|v| v.trim().to_owned())
            .ok_or(DirectoryRefusal::MissingAttribute)?
    } else {
        username.to_owned()
    };
    policy::validate_email(&email).map_err(|_| DirectoryRefusal::InvalidProfile)?;
    Ok(email)
}

/// The full name for a new or synced account: the `full_name` attribute, or first and last
/// name joined by a space. Must be non-empty, at most 100 characters, without control characters.
pub fn full_name_for(entry: &DirEntry, cfg: &LdapConfig) -> Result<String, DirectoryRefusal> {
    let a = &cfg.attributes;
    let name = match &a.full_name {
        Some(attr) => entry.first(attr).map(str::to_owned),
        None => None,
    }
    .or_else(|| {
        let first = a.first_name.as_deref().and_then(|f| entry.first(f))?;
        let last = a.last_name.as_deref().and_then(|l| entry.first(l))?;
        Some(format!("{first} {last}"))
    })
    .map(|n| n.trim().to_owned())
    .ok_or(DirectoryRefusal::InvalidProfile)?;
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DirectoryRefusal::InvalidProfile);
    }
    Ok(name)
}

/// Zulip's realm access rule: `org_membership` naming the realm admits; otherwise, when the
/// realm has advanced rules, any rule whose every attribute holds its value admits; a realm with
/// neither `org_membership` nor rules admits everyone.
pub fn realm_allows(entry: &DirEntry, subdomain: &str, cfg: &LdapConfig) -> bool {
    let rules = cfg.realm_access.get(subdomain);
    if let Some(attr) = &cfg.attributes.org_membership {
        let values = entry.values(attr);
        let named = values.iter().any(|v| {
            v == subdomain || (subdomain.is_empty() && cfg.root_aliases.iter().any(|a| a == v))
        });
        if named {
            return true;
        }
        if rules.is_none() {
            return false;
        }
    }
    match rules {
        Some(rules) => rules.iter().any(|rule| {
            rule.iter()
                .all(|(attr, value)| entry.values(attr).iter().any(|v| v == value))
        }),
        None => true,
    }
}

/// How a directory entry stands to an account's link (the entry id remembered on it). The one
/// rule for logins and sync: an account linked to another entry goes to a new entry only once
/// the linked entry is gone (the person back under a new entry), never while it exists (a
/// reused or duplicated username), whether or not the new entry carries an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link<'a> {
    /// The account is not linked yet, or is linked to this entry.
    Free,
    /// The account is linked to this other entry id: usable only once that entry is gone.
    Other(&'a str),
}

pub fn link<'a>(account_link: Option<&'a str>, entry_id: Option<&str>) -> Link<'a> {
    match account_link {
        Some(mine) if entry_id != Some(mine) => Link::Other(mine),
        _ => Link::Free,
    }
}

/// The attributes a login or a sync reads.
pub fn wanted_attributes(cfg: &LdapConfig) -> Vec<String> {
    let a = &cfg.attributes;
    let mut v: Vec<String> = [
        Some(cfg.username_attr.clone()),
        cfg.email_attr.clone(),
        a.full_name.clone(),
        a.first_name.clone(),
        a.last_name.clone(),
        a.user_account_control.clone(),
        a.deactivated.clone(),
        a.org_membership.clone(),
        Some(a.unique_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    for rules in cfg.realm_access.values() {
        for rule in rules {
            v.extend(rule.keys().cloned());
        }
    }
    // Always asked for: `ldap query` shows it, and group checks read it with `memberOf`.
    v.push("memberOf".into());
    v.sort_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_linked_elsewhere_is_never_free() {
        assert_eq!(link(None, None), Link::Free);
        assert_eq!(link(None, Some("a")), Link::Free);
        assert_eq!(link(Some("a"), Some("a")), Link::Free);
        assert_eq!(link(Some("a"), Some("b")), Link::Other("a"));
        assert_eq!(link(Some("a"), None), Link::Other("a"));
    }
    use std::collections::BTreeMap;

    fn entry(pairs: &[(&str, &[&str])]) -> DirEntry {
        DirEntry {
            dn: "uid=x,dc=example,dc=org".into(),
            attrs: pairs
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn emails_follow_the_mapping() {
        let e = entry(&[("uid", &["hamlet"]), ("mail", &["king@zulip.com"])]);
        let mut cfg = LdapConfig::default();
        assert_eq!(
            email_for(&e, "hamlet", &cfg),
            Err(DirectoryRefusal::InvalidProfile)
        );
        assert_eq!(
            email_for(&e, "hamlet@zulip.com", &cfg).unwrap(),
            "hamlet@zulip.com"
        );
        cfg.email_attr = Some("mail".into());
        assert_eq!(email_for(&e, "hamlet", &cfg).unwrap(), "king@zulip.com");
        assert_eq!(
            email_for(&entry(&[]), "hamlet", &cfg),
            Err(DirectoryRefusal::MissingAttribute)
        );
        cfg.append_domain = Some("zulip.com".into());
        assert_eq!(email_for(&e, "hamlet", &cfg).unwrap(), "hamlet@zulip.com");
        assert_eq!(
            email_for(&e, "a*(b)\\c", &cfg).unwrap(),
            "\"a*(b)\\\\c\"@zulip.com"
        );
        assert_eq!(
            email_for(&e, "hamlet@test", &cfg).unwrap(),
            "\"hamlet@test\"@zulip.com"
        );
    }

    #[test]
    fn names() {
        let mut cfg = LdapConfig::default();
        let e = entry(&[
            ("cn", &["King Hamlet"]),
            ("givenName", &["Hamlet"]),
            ("sn", &["Dane"]),
        ]);
        assert_eq!(full_name_for(&e, &cfg).unwrap(), "King Hamlet");
        cfg.attributes.full_name = None;
        cfg.attributes.first_name = Some("givenName".into());
        cfg.attributes.last_name = Some("sn".into());
        assert_eq!(full_name_for(&e, &cfg).unwrap(), "Hamlet Dane");
        assert!(full_name_for(&entry(&[]), &cfg).is_err());
    }

    #[test]
    fn disabled_states() {
        let mut cfg = LdapConfig::default();
        assert_eq!(is_disabled(&entry(&[]), &cfg), Ok(false));
        cfg.attributes.user_account_control = Some("userAccountControl".into());
        assert_eq!(
            is_disabled(&entry(&[("userAccountControl", &["514"])]), &cfg),
            Ok(true)
        );
        assert_eq!(
            is_disabled(&entry(&[("userAccountControl", &["512"])]), &cfg),
            Ok(false)
        );
        assert!(is_disabled(&entry(&[("userAccountControl", &["x"])]), &cfg).is_err());
        cfg.attributes.user_account_control = None;
        cfg.attributes.deactivated = Some("nsAccountLock".into());
        assert_eq!(
            is_disabled(&entry(&[("nsAccountLock", &["TRUE"])]), &cfg),
            Ok(true)
        );
        assert_eq!(
            is_disabled(&entry(&[("nsAccountLock", &["no"])]), &cfg),
            Ok(false)
        );
        assert!(is_disabled(&entry(&[("nsAccountLock", &["maybe"])]), &cfg).is_err());
        cfg.attributes.deactivated_values = vec!["disabled".into()];
        assert_eq!(
            is_disabled(&entry(&[("nsAccountLock", &["Disabled"])]), &cfg),
            Ok(true)
        );
        assert_eq!(
            is_disabled(&entry(&[("nsAccountLock", &["active"])]), &cfg),
            Ok(false)
        );
    }

    #[test]
    fn realm_access_rules() {
        let mut cfg = LdapConfig::default();
        let e = entry(&[("department", &["zulip"]), ("title", &["CEO"])]);
        assert!(realm_allows(&e, "zulip", &cfg));
        cfg.attributes.org_membership = Some("department".into());
        assert!(realm_allows(&e, "zulip", &cfg));
        assert!(!realm_allows(&e, "lear", &cfg));
        assert!(!realm_allows(&entry(&[]), "zulip", &cfg));
        let mut rules = BTreeMap::new();
        let mut rule = BTreeMap::new();
        rule.insert("title".to_string(), "CEO".to_string());
        rules.insert("lear".to_string(), vec![rule]);
        cfg.realm_access = rules;
        assert!(realm_allows(&e, "lear", &cfg));
        assert!(!realm_allows(
            &entry(&[("title", &["intern"])]),
            "lear",
            &cfg
        ));
        // The root realm accepts its aliases.
        assert!(realm_allows(&entry(&[("department", &["www"])]), "", &cfg));
    }

    #[test]
    fn binary_ids_are_hex() {
        let mut e = entry(&[]);
        e.bin_attrs
            .insert("objectguid".into(), vec![vec![0x01, 0xab, 0xff]]);
        assert_eq!(e.unique_id("objectGUID").as_deref(), Some("01abff"));
    }
}
