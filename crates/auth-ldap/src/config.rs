//! What the LDAP backend is told: servers, transport, how to find a person, how to map them.
//! Setting names follow Zulip's (`LDAP_APPEND_DOMAIN` → `append_domain`, …); see docs/ldap.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use auth_core::{Role, SecretString};

/// Search scope for the user search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// The whole subtree under the base.
    Subtree,
    /// Direct children of the base only.
    OneLevel,
}

/// How group membership is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMembership {
    /// The group lists member DNs in `member` (groupOfNames).
    Member,
    /// The group lists member DNs in `uniqueMember` (groupOfUniqueNames).
    UniqueMember,
    /// The group lists usernames in `memberUid` (posixGroup).
    MemberUid,
    /// The person lists group DNs in `memberOf` (Active Directory, OpenLDAP's memberof overlay).
    MemberOf,
}

impl GroupMembership {
    pub fn from_name(name: &str) -> Option<GroupMembership> {
        Some(match name.to_ascii_lowercase().as_str() {
            "member" | "groupofnames" => GroupMembership::Member,
            "uniquemember" | "groupofuniquenames" => GroupMembership::UniqueMember,
            "memberuid" | "posixgroup" => GroupMembership::MemberUid,
            "memberof" => GroupMembership::MemberOf,
            _ => return None,
        })
    }
}

/// Which directory attribute feeds which account field (Zulip's `AUTH_LDAP_USER_ATTR_MAP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    /// Full name (default `cn`); when empty, `first_name` + `last_name` joined by a space.
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Active Directory's `userAccountControl`: bit value 2 means disabled.
    pub user_account_control: Option<String>,
    /// An attribute that says the account is disabled.
    pub deactivated: Option<String>,
    /// Values of `deactivated` that mean disabled (case-insensitive). Empty: Zulip's boolean
    /// semantics (`TRUE`/`YES` disabled, `FALSE`/`NO` active, anything else an error).
    pub deactivated_values: Vec<String>,
    /// Multi-valued list of realm subdomains the person may enter (`org_membership`).
    pub org_membership: Option<String>,
    /// The directory's immutable id: `entryUUID` (OpenLDAP and most servers) or `objectGUID`
    /// (Active Directory, read as bytes and kept as hex).
    pub unique_id: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap {
            full_name: Some("cn".into()),
            first_name: None,
            last_name: None,
            user_account_control: None,
            deactivated: None,
            deactivated_values: Vec::new(),
            org_membership: None,
            unique_id: "entryUUID".into(),
        }
    }
}

/// Directory sync policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPolicy {
    /// Deactivate directory-managed accounts that the directory no longer has (Zulip's
    /// `LDAP_DEACTIVATE_NON_MATCHING_USERS`).
    pub deactivate_non_matching: bool,
    /// A run that would deactivate more than this share of the realm's active people stops
    /// and changes nothing, unless forced.
    pub max_deactivate_fraction: f64,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            deactivate_non_matching: false,
            max_deactivate_fraction: 0.10,
        }
    }
}

/// The LDAP backend's whole configuration.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// Servers tried in order: `ldap://host[:port]` or `ldaps://host[:port]`.
    pub uris: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// PEM file of the CA(s) to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Verify server certificates. Turning this off is for tests and emergencies only.
    pub tls_verify: bool,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// The service account for searches; empty means anonymous searches.
    pub bind_dn: String,
    pub bind_password: SecretString,
    /// Search-then-bind: where and how to find the person (`{user}` is the escaped username).
    pub user_search_base: String,
    pub user_search_filter: String,
    pub user_search_scope: SearchScope,
    /// Direct bind: `uid={user},ou=people,dc=example,dc=org` (`{user}` DN-escaped). When set,
    /// no search finds the person.
    pub user_dn_template: Option<String>,
    /// Where an account's linked entry is looked up by its immutable id to decide whether it
    /// still exists (an entry moved out of the people base, e.g. to `ou=disabled`, is not gone).
    /// `None`: the directory's naming context that holds the people base (from the root DSE).
    pub link_search_base: Option<String>,
    /// `LDAP_APPEND_DOMAIN`: username `alice` ⇄ email `alice@<domain>`.
    pub append_domain: Option<String>,
    /// `LDAP_EMAIL_ATTR`: the email is this attribute's first value.
    pub email_attr: Option<String>,
    /// `AUTH_LDAP_REVERSE_EMAIL_SEARCH`: finds a person from an email (`{email}` escaped).
    pub reverse_email_search_filter: Option<String>,
    /// `AUTH_LDAP_USERNAME_ATTR`: the attribute that holds the directory username.
    pub username_attr: String,
    pub attributes: AttributeMap,
    /// Zulip's `AUTH_LDAP_ADVANCED_REALM_ACCESS_CONTROL`: subdomain → list of rules, each a map
    /// of attribute → required value; a person may enter when any rule matches entirely.
    pub realm_access: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    /// Only members of this group may log in.
    pub require_group: Option<String>,
    /// Members of this group may not log in.
    pub deny_group: Option<String>,
    /// Zulip's `AUTH_LDAP_USER_FLAGS_BY_GROUP`: the group that grants each role (`roles.rs`).
    pub role_by_group: RoleGroups,
    pub group_membership: GroupMembership,
    /// Active Directory nested groups (`LDAP_MATCHING_RULE_IN_CHAIN`, with `memberOf`).
    pub nested_groups: bool,
    pub sync: SyncPolicy,
    /// Service connections kept open, shared by concurrent searches.
    pub pool_size: usize,
    /// Idle connections kept for person binds (never searched on).
    pub bind_pool_size: usize,
    /// Subdomains that mean the root realm (for `org_membership` of the root realm).
    pub root_aliases: Vec<String>,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            uris: Vec::new(),
            starttls: false,
            ca_file: None,
            tls_verify: true,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            bind_dn: String::new(),
            bind_password: SecretString::default(),
            user_search_base: String::new(),
            user_search_filter: "(uid={user})".into(),
            user_search_scope: SearchScope::Subtree,
            user_dn_template: None,
            link_search_base: None,
            append_domain: None,
            email_attr: None,
            reverse_email_search_filter: None,
            username_attr: "uid".into(),
            attributes: AttributeMap::default(),
            realm_access: BTreeMap::new(),
            require_group: None,
            deny_group: None,
            role_by_group: RoleGroups::default(),
            group_membership: GroupMembership::Member,
            nested_groups: false,
            sync: SyncPolicy::default(),
            pool_size: 4,
            bind_pool_size: 8,
            root_aliases: vec!["www".into()],
        }
    }
}

impl LdapConfig {
    /// Whether usernames map to emails (append domain or email attribute): then
    /// `require_email_format_usernames` is false for realms with LDAP.
    pub fn maps_usernames(&self) -> bool {
        self.append_domain.is_some() || self.email_attr.is_some()
    }

    /// Everything wrong with the configuration, as sentences.
    /// The search filters this configuration uses, with the placeholder each is filled at and
    /// a sample value to fill it with (for parsing them before any login does).
    pub(crate) fn configured_filters(&self) -> Vec<crate::filter::Configured<'_>> {
        let mut v = Vec::new();
        // With a DN template nobody is searched for with this filter (and sync lists by username
        // attribute), so a leftover value does no harm.
        if self.user_dn_template.is_none() {
            v.push((
                "user_search_filter",
                self.user_search_filter.as_str(),
                "{user}",
                "sample",
            ));
        }
        if let Some(f) = &self.reverse_email_search_filter {
            v.push((
                "reverse_email_search_filter",
                f.as_str(),
                "{email}",
                "sample@example.org",
            ));
        }
        v
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.uris.is_empty() {
            p.push("ldap.uris must list at least one server (ldap://host or ldaps://host)".into());
        }
        for uri in &self.uris {
            let ok_scheme = uri.starts_with("ldap://") || uri.starts_with("ldaps://");
            let host = uri
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("");
            if !ok_scheme || host.is_empty() {
                p.push(format!(
                    "ldap.uris: {uri:?} is not ldap://HOST[:PORT] or ldaps://HOST[:PORT]"
                ));
            }
        }
        match &self.user_dn_template {
            Some(t) => {
                if !t.contains("{user}") {
                    p.push("ldap.user_dn_template must contain {user}".into());
                }
            }
            None => {
                if self.user_search_base.trim().is_empty() {
                    p.push("ldap: set user_search_base (search-then-bind) or user_dn_template (direct bind)".into());
                }
                if !self.user_search_filter.contains("{user}") {
                    p.push("ldap.user_search_filter must contain {user}, e.g. (uid={user})".into());
                }
                if !(self.user_search_filter.starts_with('(')
                    && self.user_search_filter.ends_with(')'))
                {
                    p.push("ldap.user_search_filter must be a parenthesised LDAP filter".into());
                }
            }
        }
        p.extend(crate::filter::filter_problems(self.configured_filters()));
        if let Some(f) = &self.reverse_email_search_filter {
            if !f.contains("{email}") {
                p.push(
                    "ldap.reverse_email_search_filter must contain {email}, e.g. (mail={email})"
                        .into(),
                );
            }
            if self.user_search_base.trim().is_empty() {
                p.push("ldap.reverse_email_search_filter needs ldap.user_search_base".into());
            }
        }
        if self
            .append_domain
            .as_deref()
            .is_some_and(|d| d.contains('@') || d.trim().is_empty())
        {
            p.push("ldap.append_domain must be a bare domain such as example.org".into());
        }
        if self.attributes.user_account_control.is_some() && self.attributes.deactivated.is_some() {
            p.push(
                "ldap.attributes: map either user_account_control or deactivated, not both".into(),
            );
        }
        if self.attributes.full_name.is_none()
            && (self.attributes.first_name.is_none() || self.attributes.last_name.is_none())
        {
            p.push("ldap.attributes: map full_name, or both first_name and last_name".into());
        }
        if self.username_attr.trim().is_empty() {
            p.push("ldap.username_attr must name an attribute (uid, sAMAccountName, ...)".into());
        }
        if self.attributes.unique_id.trim().is_empty() {
            p.push(
                "ldap.attributes.unique_id must name an attribute (entryUUID, objectGUID)".into(),
            );
        }
        p.extend(self.role_by_group.problems());
        if self.nested_groups && self.group_membership != GroupMembership::MemberOf {
            p.push(
                "ldap.nested_groups needs group_membership = \"memberOf\" (Active Directory)"
                    .into(),
            );
        }
        if !(0.0..=1.0).contains(&self.sync.max_deactivate_fraction) {
            p.push("ldap.sync.max_deactivate_fraction must be between 0 and 1".into());
        }
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            p.push("ldap timeouts must be positive".into());
        }
        if let Some(ca) = &self.ca_file {
            if !ca.exists() {
                p.push(format!("ldap.ca_file {} does not exist", ca.display()));
            }
        }
        p
    }

    /// Warnings that do not stop the server but that an administrator must see.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.tls_verify {
            w.push("LDAP TLS certificate verification is OFF (ldap.tls_verify = false): anyone on the network path can impersonate the directory and read passwords".into());
        }
        for uri in &self.uris {
            let loopback =
                uri.contains("://127.") || uri.contains("://localhost") || uri.contains("://[::1]");
            if uri.starts_with("ldap://") && !self.starttls && !loopback {
                w.push(format!("{uri} is used without StartTLS: passwords cross the network in clear text (set ldap.starttls = true or use ldaps://)"));
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LdapConfig {
        LdapConfig {
            uris: vec!["ldap://127.0.0.1:389".into()],
            user_search_base: "ou=people,dc=example,dc=org".into(),
            ..LdapConfig::default()
        }
    }

    #[test]
    fn a_minimal_config_is_valid() {
        assert_eq!(base().problems(), Vec::<String>::new());
        assert!(!base().maps_usernames());
        let mut c = base();
        c.append_domain = Some("zulip.com".into());
        assert!(c.maps_usernames());
    }

    #[test]
    fn problems_are_explained() {
        let mut c = base();
        c.uris = vec!["http://x".into()];
        c.user_search_filter = "uid=x".into();
        c.attributes.user_account_control = Some("userAccountControl".into());
        c.attributes.deactivated = Some("x".into());
        c.nested_groups = true;
        let p = c.problems().join("\n");
        assert!(p.contains("http://x"));
        assert!(p.contains("{user}"));
        assert!(p.contains("not both"));
        assert!(p.contains("nested_groups"));
    }

    #[test]
    fn insecure_settings_warn() {
        let mut c = base();
        c.uris = vec!["ldap://ldap.example.org".into()];
        c.tls_verify = false;
        let w = c.warnings().join("\n");
        assert!(w.contains("verification is OFF"));
        assert!(w.contains("clear text"));
    }
}

/// `[ldap.role_by_group]`: the group DN that grants each role. All `None`: roles are not read
/// from the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGroups {
    pub owner: Option<String>,
    pub administrator: Option<String>,
    pub moderator: Option<String>,
    pub guest: Option<String>,
}

impl RoleGroups {
    /// Whether any role is mapped.
    pub fn is_configured(&self) -> bool {
        self.in_order().next().is_some()
    }

    /// The mapped roles with their setting name and group, in precedence order.
    pub fn in_order(&self) -> impl Iterator<Item = (Role, &'static str, &str)> {
        [
            (Role::Owner, "owner", &self.owner),
            (Role::Administrator, "administrator", &self.administrator),
            (Role::Moderator, "moderator", &self.moderator),
            (Role::Guest, "guest", &self.guest),
        ]
        .into_iter()
        .filter_map(|(role, name, dn)| dn.as_deref().map(|dn| (role, name, dn)))
    }

    /// Whether the directory decides who has `role`.
    pub fn maps(&self, role: Role) -> bool {
        self.in_order().any(|(r, _, _)| r == role)
    }

    /// Settings that cannot work, as sentences.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (_, name, dn) in self.in_order() {
            if dn.trim().is_empty() || !dn.contains('=') {
                p.push(format!(
                    "ldap.role_by_group.{name} must be a group DN such as cn=admins,ou=groups,dc=example,dc=org"
                ));
            }
        }
        p
    }
}
