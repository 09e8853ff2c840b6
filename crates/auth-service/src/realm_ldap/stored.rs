//! How a realm's directory settings are kept in the `realm_ldap` table: the `[ldap]` settings
//! under their `latchkey.toml` names, as JSON, without the bind password (sealed apart) and
//! without the server-wide `root_aliases` (taken from the server when the directory is built).
//! Unknown names are refused, so a row written by a newer version is reported, not half read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use auth_core::SecretString;
use auth_ldap::{AttributeMap, GroupMembership, LdapConfig, RoleGroups, SearchScope, SyncPolicy};
use serde::{Deserialize, Serialize};

/// The stored settings (also what the audit log records of a change: nothing secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSettings {
    pub uris: Vec<String>,
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    pub tls_verify: bool,
    pub connect_timeout_secs: f64,
    pub operation_timeout_secs: f64,
    pub bind_dn: String,
    pub user_search_base: String,
    pub user_search_filter: String,
    /// `sub` or `one`.
    pub user_search_scope: String,
    pub user_dn_template: Option<String>,
    pub link_search_base: Option<String>,
    pub append_domain: Option<String>,
    pub email_attr: Option<String>,
    pub reverse_email_search_filter: Option<String>,
    pub username_attr: String,
    pub require_group: Option<String>,
    pub deny_group: Option<String>,
    pub role_by_group: StoredRoles,
    /// `member`, `uniqueMember`, `memberUid` or `memberOf`.
    pub group_membership: String,
    pub nested_groups: bool,
    pub pool_size: usize,
    pub bind_pool_size: usize,
    pub attributes: StoredAttributes,
    pub realm_access: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    pub sync: StoredSync,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredAttributes {
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub user_account_control: Option<String>,
    pub deactivated: Option<String>,
    pub deactivated_values: Vec<String>,
    pub org_membership: Option<String>,
    pub unique_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRoles {
    pub owner: Option<String>,
    pub administrator: Option<String>,
    pub moderator: Option<String>,
    pub guest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSync {
    pub deactivate_non_matching: bool,
    pub max_deactivate_fraction: f64,
}

/// The name `[ldap]` uses for a search scope.
pub fn scope_name(scope: SearchScope) -> &'static str {
    match scope {
        SearchScope::Subtree => "sub",
        SearchScope::OneLevel => "one",
    }
}

/// The name `[ldap]` uses for a group membership.
pub fn membership_name(m: GroupMembership) -> &'static str {
    match m {
        GroupMembership::Member => "member",
        GroupMembership::UniqueMember => "uniqueMember",
        GroupMembership::MemberUid => "memberUid",
        GroupMembership::MemberOf => "memberOf",
    }
}

impl StoredSettings {
    /// The settings of `cfg` (its bind password and root aliases left out).
    pub fn of(cfg: &LdapConfig) -> StoredSettings {
        let a = &cfg.attributes;
        let r = &cfg.role_by_group;
        StoredSettings {
            uris: cfg.uris.clone(),
            starttls: cfg.starttls,
            ca_file: cfg.ca_file.clone(),
            tls_verify: cfg.tls_verify,
            connect_timeout_secs: cfg.connect_timeout.as_secs_f64(),
            operation_timeout_secs: cfg.operation_timeout.as_secs_f64(),
            bind_dn: cfg.bind_dn.clone(),
            user_search_base: cfg.user_search_base.clone(),
            user_search_filter: cfg.user_search_filter.clone(),
            user_search_scope: scope_name(cfg.user_search_scope).into(),
            user_dn_template: cfg.user_dn_template.clone(),
            link_search_base: cfg.link_search_base.clone(),
            append_domain: cfg.append_domain.clone(),
            email_attr: cfg.email_attr.clone(),
            reverse_email_search_filter: cfg.reverse_email_search_filter.clone(),
            username_attr: cfg.username_attr.clone(),
            require_group: cfg.require_group.clone(),
            deny_group: cfg.deny_group.clone(),
            role_by_group: StoredRoles {
                owner: r.owner.clone(),
                administrator: r.administrator.clone(),
                moderator: r.moderator.clone(),
                guest: r.guest.clone(),
            },
            group_membership: membership_name(cfg.group_membership).into(),
            nested_groups: cfg.nested_groups,
            pool_size: cfg.pool_size,
            bind_pool_size: cfg.bind_pool_size,
            attributes: StoredAttributes {
                full_name: a.full_name.clone(),
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                user_account_control: a.user_account_control.clone(),
                deactivated: a.deactivated.clone(),
                deactivated_values: a.deactivated_values.clone(),
                org_membership: a.org_membership.clone(),
                unique_id: a.unique_id.clone(),
            },
            realm_access: cfg.realm_access.clone(),
            sync: StoredSync {
                deactivate_non_matching: cfg.sync.deactivate_non_matching,
                max_deactivate_fraction: cfg.sync.max_deactivate_fraction,
            },
        }
    }

    /// The directory configuration these settings make, with the bind password and the
    /// server's root aliases. Fails on a name this version does not know.
    pub fn to_config(
        &self,
        bind_password: SecretString,
        root_aliases: Vec<String>,
    ) -> Result<LdapConfig, String> {
        let scope = match self.user_search_scope.as_str() {
            "sub" | "subtree" => SearchScope::Subtree,
            "one" | "onelevel" => SearchScope::OneLevel,
            other => return Err(format!("{other:?} is not a search scope")),
        };
        let membership = GroupMembership::from_name(&self.group_membership)
            .ok_or_else(|| format!("{:?} is not a group membership", self.group_membership))?;
        let secs = |v: f64, name: &str| {
            Duration::try_from_secs_f64(v).map_err(|_| format!("{name} = {v} is not a duration"))
        };
        let a = &self.attributes;
        let r = &self.role_by_group;
        Ok(LdapConfig {
            uris: self.uris.clone(),
            starttls: self.starttls,
            ca_file: self.ca_file.clone(),
            tls_verify: self.tls_verify,
            connect_timeout: secs(self.connect_timeout_secs, "connect_timeout_secs")?,
            operation_timeout: secs(self.operation_timeout_secs, "operation_timeout_secs")?,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            user_search_base: self.user_search_base.clone(),
            user_search_filter: self.user_search_filter.clone(),
            user_search_scope: scope,
            user_dn_template: self.user_dn_template.clone(),
            link_search_base: self.link_search_base.clone(),
            append_domain: self.append_domain.clone(),
            email_attr: self.email_attr.clone(),
            reverse_email_search_filter: self.reverse_email_search_filter.clone(),
            username_attr: self.username_attr.clone(),
            attributes: AttributeMap {
                full_name: a.full_name.clone(),
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                user_account_control: a.user_account_control.clone(),
                deactivated: a.deactivated.clone(),
                deactivated_values: a.deactivated_values.clone(),
                org_membership: a.org_membership.clone(),
                unique_id: a.unique_id.clone(),
            },
            realm_access: self.realm_access.clone(),
            require_group: self.require_group.clone(),
            deny_group: self.deny_group.clone(),
            role_by_group: RoleGroups {
                owner: r.owner.clone(),
                administrator: r.administrator.clone(),
                moderator: r.moderator.clone(),
                guest: r.guest.clone(),
            },
            group_membership: membership,
            nested_groups: self.nested_groups,
            sync: SyncPolicy {
                deactivate_non_matching: self.sync.deactivate_non_matching,
                max_deactivate_fraction: self.sync.max_deactivate_fraction,
            },
            pool_size: self.pool_size,
            bind_pool_size: self.bind_pool_size,
            root_aliases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_round_trip_without_the_password() {
        let mut cfg = LdapConfig {
            uris: vec!["ldaps://127.0.0.1:636".into()],
            bind_dn: "cn=svc,dc=example,dc=org".into(),
            bind_password: SecretString::new("hunter2"),
            user_search_base: "ou=people,dc=example,dc=org".into(),
            user_search_scope: SearchScope::OneLevel,
            group_membership: GroupMembership::MemberOf,
            connect_timeout: Duration::from_millis(1500),
            ..LdapConfig::default()
        };
        cfg.role_by_group.administrator = Some("cn=admins,dc=example,dc=org".into());
        let stored = StoredSettings::of(&cfg);
        let text = serde_json::to_string(&stored).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let back: StoredSettings = serde_json::from_str(&text).unwrap();
        let cfg2 = back
            .to_config(SecretString::new("pw"), vec!["www".into()])
            .unwrap();
        assert_eq!(cfg2.uris, cfg.uris);
        assert_eq!(cfg2.user_search_scope, SearchScope::OneLevel);
        assert_eq!(cfg2.group_membership, GroupMembership::MemberOf);
        assert_eq!(cfg2.connect_timeout, Duration::from_millis(1500));
        assert_eq!(cfg2.role_by_group, cfg.role_by_group);
        assert_eq!(cfg2.bind_password.expose(), "pw");
        assert_eq!(StoredSettings::of(&cfg2), stored);
        let mut bad = serde_json::to_value(&stored).unwrap();
        bad["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<StoredSettings>(bad).is_err());
    }
}
