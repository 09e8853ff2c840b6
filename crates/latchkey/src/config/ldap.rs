//! `[ldap]`, `[ldap.attributes]` and `[ldap.sync]`: the LDAP backend's settings (names follow
//! Zulip's; see docs/ldap.md), and their conversion to [`auth_ldap::LdapConfig`].
//!
//! Optional texts are `Option<String>`: an empty string in a file still means "not set".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use auth_ldap::{GroupMembership, SearchScope};
use serde::{Deserialize, Serialize};
use url::Url;

use super::values::{self, opt_string};
use super::{ConfigError, Settings, read_secret_file};

/// Longer LDAP timeouts are cut to this.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// `[ldap]`: the LDAP backend (used when `auth.backends` lists `ldap`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    /// Servers tried in order (failover): `ldap://host:389`, `ldaps://host:636`.
    #[serde(with = "values::url_list")]
    pub uris: Vec<Url>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// PEM file with the CA that signed the directory's certificate (only it is trusted).
    pub ca_file: Option<PathBuf>,
    /// Certificate verification. `false` is insecure and logged loudly at every start.
    pub tls_verify: bool,
    /// Seconds (decimals allowed) or a duration such as `"5s"`; at most an hour is used.
    #[serde(with = "values::secs_f64")]
    pub connect_timeout_secs: Duration,
    #[serde(with = "values::secs_f64")]
    pub operation_timeout_secs: Duration,
    /// Service account for searches (Zulip's `AUTH_LDAP_BIND_DN`); unset: anonymous searches.
    #[serde(with = "opt_string")]
    pub bind_dn: Option<String>,
    pub bind_password: super::Secret,
    /// Read the service account's password from this file instead.
    pub bind_password_file: Option<PathBuf>,
    /// Search-then-bind (Zulip's `AUTH_LDAP_USER_SEARCH`): base, filter with `{user}`, scope.
    #[serde(with = "opt_string")]
    pub user_search_base: Option<String>,
    pub user_search_filter: String,
    /// `sub` (also `subtree`) or `one` (also `onelevel`).
    #[serde(with = "scope")]
    pub user_search_scope: SearchScope,
    /// Direct bind instead of a search: `uid={user},ou=people,dc=example,dc=org`.
    #[serde(with = "opt_string")]
    pub user_dn_template: Option<String>,
    /// Where an account's linked entry is looked up by its immutable id to tell whether it still
    /// exists; unset: the directory's naming context holding the people base (root DSE).
    #[serde(with = "opt_string")]
    pub link_search_base: Option<String>,
    /// `LDAP_APPEND_DOMAIN`.
    #[serde(with = "opt_string")]
    pub append_domain: Option<String>,
    /// `LDAP_EMAIL_ATTR`.
    #[serde(with = "opt_string")]
    pub email_attr: Option<String>,
    /// `AUTH_LDAP_REVERSE_EMAIL_SEARCH`, with `{email}`: `(mail={email})`.
    #[serde(with = "opt_string")]
    pub reverse_email_search_filter: Option<String>,
    /// `AUTH_LDAP_USERNAME_ATTR`.
    pub username_attr: String,
    /// Only members of this group (a DN) may log in.
    #[serde(with = "opt_string")]
    pub require_group: Option<String>,
    /// Members of this group (a DN) may not log in.
    #[serde(with = "opt_string")]
    pub deny_group: Option<String>,
    /// `[ldap.role_by_group]`: roles from groups (Zulip's `AUTH_LDAP_USER_FLAGS_BY_GROUP`).
    pub role_by_group: LdapRoleSettings,
    /// `member` (groupOfNames), `uniqueMember` (groupOfUniqueNames), `memberUid` (posixGroup)
    /// or `memberOf` (Active Directory, OpenLDAP memberof overlay); any case, and the object
    /// class names `groupOfNames`, `groupOfUniqueNames`, `posixGroup` too.
    #[serde(with = "membership")]
    pub group_membership: GroupMembership,
    /// Nested groups through AD's `1.2.840.113556.1.4.1941` (with `memberOf`).
    pub nested_groups: bool,
    /// Service connections kept open, shared by concurrent searches.
    pub pool_size: usize,
    /// Idle connections kept for person binds (used only for binds, never searched on).
    pub bind_pool_size: usize,
    pub attributes: LdapAttributeSettings,
    /// `AUTH_LDAP_ADVANCED_REALM_ACCESS_CONTROL`: subdomain = [ {attribute = "value", …}, … ].
    pub realm_access: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    pub sync: LdapSyncSettings,
}

/// `[ldap.attributes]`: Zulip's `AUTH_LDAP_USER_ATTR_MAP`; an empty name means "not mapped".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapAttributeSettings {
    #[serde(with = "opt_string")]
    pub full_name: Option<String>,
    #[serde(with = "opt_string")]
    pub first_name: Option<String>,
    #[serde(with = "opt_string")]
    pub last_name: Option<String>,
    /// Active Directory: `userAccountControl` (bit value 2 = disabled).
    #[serde(with = "opt_string")]
    pub user_account_control: Option<String>,
    /// An attribute that marks disabled accounts.
    #[serde(with = "opt_string")]
    pub deactivated: Option<String>,
    /// Values of `deactivated` meaning disabled; empty: TRUE/YES vs FALSE/NO.
    pub deactivated_values: Vec<String>,
    /// Multi-valued attribute listing the subdomains a person may enter.
    #[serde(with = "opt_string")]
    pub org_membership: Option<String>,
    /// `entryUUID` (OpenLDAP) or `objectGUID` (Active Directory).
    pub unique_id: String,
}

/// `[ldap.role_by_group]`: the group DN that grants each role, applied at every login and
/// `ldap sync` (the directory wins; see docs/ldap.md, "Roles from groups").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapRoleSettings {
    #[serde(with = "opt_string")]
    pub owner: Option<String>,
    #[serde(with = "opt_string")]
    pub administrator: Option<String>,
    #[serde(with = "opt_string")]
    pub moderator: Option<String>,
    #[serde(with = "opt_string")]
    pub guest: Option<String>,
}

/// `[ldap.sync]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSyncSettings {
    /// `LDAP_DEACTIVATE_NON_MATCHING_USERS`.
    pub deactivate_non_matching: bool,
    /// Stop a run that would deactivate more than this share of a realm's active people.
    pub max_deactivate_fraction: f64,
}

impl Default for LdapSettings {
    fn default() -> Self {
        let d = auth_ldap::LdapConfig::default();
        LdapSettings {
            uris: Vec::new(),
            starttls: false,
            ca_file: None,
            tls_verify: true,
            connect_timeout_secs: d.connect_timeout,
            operation_timeout_secs: d.operation_timeout,
            bind_dn: None,
            bind_password: super::Secret::default(),
            bind_password_file: None,
            user_search_base: None,
            user_search_filter: d.user_search_filter,
            user_search_scope: SearchScope::Subtree,
            user_dn_template: None,
            link_search_base: None,
            append_domain: None,
            email_attr: None,
            reverse_email_search_filter: None,
            username_attr: d.username_attr,
            require_group: None,
            deny_group: None,
            role_by_group: LdapRoleSettings::default(),
            group_membership: GroupMembership::Member,
            nested_groups: false,
            pool_size: d.pool_size,
            bind_pool_size: d.bind_pool_size,
            attributes: LdapAttributeSettings::default(),
            realm_access: BTreeMap::new(),
            sync: LdapSyncSettings::default(),
        }
    }
}

impl Default for LdapAttributeSettings {
    fn default() -> Self {
        LdapAttributeSettings {
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

impl Default for LdapSyncSettings {
    fn default() -> Self {
        let d = auth_ldap::SyncPolicy::default();
        LdapSyncSettings {
            deactivate_non_matching: d.deactivate_non_matching,
            max_deactivate_fraction: d.max_deactivate_fraction,
        }
    }
}

/// `ldap.user_search_scope`.
mod scope {
    use super::SearchScope;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(scope: &SearchScope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match scope {
            SearchScope::Subtree => "sub",
            SearchScope::OneLevel => "one",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SearchScope, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "sub" | "subtree" => Ok(SearchScope::Subtree),
            "one" | "onelevel" => Ok(SearchScope::OneLevel),
            _ => Err(de::Error::custom(format!(
                "{text:?} is not a search scope: use \"sub\" or \"one\""
            ))),
        }
    }
}

/// `ldap.group_membership`.
mod membership {
    use super::GroupMembership;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(m: &GroupMembership, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match m {
            GroupMembership::Member => "member",
            GroupMembership::UniqueMember => "uniqueMember",
            GroupMembership::MemberUid => "memberUid",
            GroupMembership::MemberOf => "memberOf",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GroupMembership, D::Error> {
        let text = String::deserialize(d)?;
        GroupMembership::from_name(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "{text:?} is not a group membership: use member, uniqueMember, memberUid or memberOf"
            ))
        })
    }
}

impl Settings {
    /// The LDAP backend's configuration (the bind password read from its file when set).
    pub fn ldap_config(&self) -> Result<auth_ldap::LdapConfig, ConfigError> {
        self.ldap
            .to_config(self.server.root_subdomain_aliases.clone())
    }
}

impl LdapSettings {
    /// These settings as the backend takes them (the bind password read from its file when
    /// set), with the server's root-realm aliases. Shared by `[ldap]` and `latchkey ldap config
    /// set --from-file`.
    pub fn to_config(
        &self,
        root_aliases: Vec<String>,
    ) -> Result<auth_ldap::LdapConfig, ConfigError> {
        let l = self;
        let bind_password = match &l.bind_password_file {
            Some(path) => read_secret_file(path, "the LDAP bind password")?,
            None => l.bind_password.0.clone(),
        };
        let a = &l.attributes;
        Ok(auth_ldap::LdapConfig {
            uris: l.uris.iter().map(|u| u.as_str().to_owned()).collect(),
            starttls: l.starttls,
            ca_file: l.ca_file.clone(),
            tls_verify: l.tls_verify,
            connect_timeout: l.connect_timeout_secs.min(MAX_TIMEOUT),
            operation_timeout: l.operation_timeout_secs.min(MAX_TIMEOUT),
            bind_dn: l.bind_dn.clone().unwrap_or_default(),
            bind_password,
            user_search_base: l.user_search_base.clone().unwrap_or_default(),
            user_search_filter: l.user_search_filter.trim().to_owned(),
            user_search_scope: l.user_search_scope,
            user_dn_template: l.user_dn_template.clone(),
            link_search_base: l.link_search_base.clone(),
            append_domain: l.append_domain.clone(),
            email_attr: l.email_attr.clone(),
            reverse_email_search_filter: l.reverse_email_search_filter.clone(),
            username_attr: l.username_attr.trim().to_owned(),
            attributes: auth_ldap::AttributeMap {
                full_name: a.full_name.clone(),
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                user_account_control: a.user_account_control.clone(),
                deactivated: a.deactivated.clone(),
                deactivated_values: a.deactivated_values.clone(),
                org_membership: a.org_membership.clone(),
                unique_id: a.unique_id.trim().to_owned(),
            },
            realm_access: l.realm_access.clone(),
            require_group: l.require_group.clone(),
            deny_group: l.deny_group.clone(),
            role_by_group: auth_ldap::RoleGroups {
                owner: l.role_by_group.owner.clone(),
                administrator: l.role_by_group.administrator.clone(),
                moderator: l.role_by_group.moderator.clone(),
                guest: l.role_by_group.guest.clone(),
            },
            group_membership: l.group_membership,
            nested_groups: l.nested_groups,
            sync: auth_ldap::SyncPolicy {
                deactivate_non_matching: l.sync.deactivate_non_matching,
                max_deactivate_fraction: l.sync.max_deactivate_fraction,
            },
            pool_size: l.pool_size,
            bind_pool_size: l.bind_pool_size,
            root_aliases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::load_with_env(Some(&path), Vec::new())
    }

    #[test]
    fn empty_texts_mean_unset_and_names_are_typed() {
        let s = load(
            "[ldap]\nuris = [\"ldap://127.0.0.1:389\", \"ldaps://ldap.example.org\"]\n\
             bind_dn = \"\"\nuser_dn_template = \" uid={user},dc=x \"\nuser_search_scope = \"onelevel\"\n\
             group_membership = \"groupOfUniqueNames\"\nconnect_timeout_secs = 2.5\noperation_timeout_secs = \"2h\"\n\
             [ldap.attributes]\nfull_name = \"\"\nfirst_name = \"givenName\"\n",
        )
        .unwrap();
        assert_eq!(s.ldap.bind_dn, None);
        assert_eq!(s.ldap.user_dn_template.as_deref(), Some("uid={user},dc=x"));
        assert_eq!(s.ldap.user_search_scope, SearchScope::OneLevel);
        assert_eq!(s.ldap.group_membership, GroupMembership::UniqueMember);
        assert_eq!(s.ldap.attributes.full_name, None);
        let cfg = s.ldap_config().unwrap();
        assert_eq!(
            cfg.uris,
            ["ldap://127.0.0.1:389", "ldaps://ldap.example.org"]
        );
        assert_eq!(cfg.bind_dn, "");
        assert_eq!(cfg.attributes.first_name.as_deref(), Some("givenName"));
        assert_eq!(cfg.connect_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.operation_timeout, MAX_TIMEOUT, "cut to an hour");
    }

    #[test]
    fn roles_by_group_reach_the_backend() {
        let s = load(
            "[ldap.role_by_group]\nadministrator = \"cn=admins,ou=groups,dc=example,dc=org\"\n\
             guest = \"\"\n",
        )
        .unwrap();
        let cfg = s.ldap_config().unwrap();
        assert_eq!(
            cfg.role_by_group.administrator.as_deref(),
            Some("cn=admins,ou=groups,dc=example,dc=org")
        );
        assert_eq!(cfg.role_by_group.guest, None, "empty means not mapped");
        assert_eq!(cfg.role_by_group.owner, None);
        let err = load("[ldap.role_by_group]\nadmin = \"cn=x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin"), "{err}");
    }

    #[test]
    fn bad_names_are_refused_with_the_key() {
        let err = load("[ldap]\nuser_search_scope = \"base\"\ngroup_membership = \"owner\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ldap.user_search_scope: \"base\" is not a search scope"),
            "{err}"
        );
        assert!(
            err.contains("ldap.group_membership: \"owner\" is not a group membership"),
            "{err}"
        );
        let err = load("[ldap]\nuris = [\"not a url\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ldap.uris: \"not a url\" is not a URL"),
            "{err}"
        );
    }
}
