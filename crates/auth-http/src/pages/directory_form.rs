//! The Directory page's form (`/organization/directory`): the `[ldap]` settings as the page
//! shows and reads them. Texts are kept as typed so a refused form comes back as it was; the
//! bind password is never put back in the page (its field stays empty, "(unchanged)").
//! `realm_access` shows only this organization's rules (one a line, `attribute=value` pairs
//! joined by commas); rules stored for other subdomains are kept as they are.

use std::collections::BTreeMap;
use std::time::Duration;

use auth_core::SecretString;
use auth_service::realm_ldap::{
    AttributeMap, BindPassword, GroupMembership, LdapConfig, RoleGroups, SearchScope,
    StoredSettings, SyncPolicy,
};

use crate::params::Params;

/// The form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct DirectoryForm {
    /// One server a line.
    pub uris: String,
    pub starttls: bool,
    pub ca_file: String,
    pub tls_verify: bool,
    pub connect_timeout: String,
    pub operation_timeout: String,
    pub bind_dn: String,
    pub user_search_base: String,
    pub user_search_filter: String,
    /// `sub` or `one`.
    pub user_search_scope: String,
    pub user_dn_template: String,
    pub link_search_base: String,
    pub append_domain: String,
    pub email_attr: String,
    pub reverse_email_search_filter: String,
    pub username_attr: String,
    pub full_name_attr: String,
    pub first_name_attr: String,
    pub last_name_attr: String,
    pub user_account_control_attr: String,
    pub deactivated_attr: String,
    /// The values of the disabled flag that mean "disabled", comma-separated.
    pub deactivated_values: String,
    /// This organization's access rules: one rule a line, `attr=value, attr=value`.
    pub realm_access: String,
    pub org_membership_attr: String,
    pub unique_id_attr: String,
    pub require_group: String,
    pub deny_group: String,
    pub owner_group: String,
    pub administrator_group: String,
    pub moderator_group: String,
    pub guest_group: String,
    pub group_membership: String,
    pub nested_groups: bool,
    pub deactivate_non_matching: bool,
    pub max_deactivate_fraction: String,
    pub pool_size: String,
    pub bind_pool_size: String,
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn opt(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn secs(d: f64) -> String {
    format!("{d}")
}

impl DirectoryForm {
    /// The form for stored settings (or, with `None`, the defaults) of the organization
    /// `subdomain`.
    pub fn of(settings: Option<&StoredSettings>, subdomain: &str) -> DirectoryForm {
        let default;
        let s = match settings {
            Some(s) => s,
            None => {
                default = StoredSettings::of(&LdapConfig::default());
                &default
            }
        };
        let a = &s.attributes;
        let r = &s.role_by_group;
        DirectoryForm {
            uris: s.uris.join("\n"),
            starttls: s.starttls,
            ca_file: s
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            tls_verify: s.tls_verify,
            connect_timeout: secs(s.connect_timeout_secs),
            operation_timeout: secs(s.operation_timeout_secs),
            bind_dn: s.bind_dn.clone(),
            user_search_base: s.user_search_base.clone(),
            user_search_filter: s.user_search_filter.clone(),
            user_search_scope: s.user_search_scope.clone(),
            user_dn_template: text(&s.user_dn_template),
            link_search_base: text(&s.link_search_base),
            append_domain: text(&s.append_domain),
            email_attr: text(&s.email_attr),
            reverse_email_search_filter: text(&s.reverse_email_search_filter),
            username_attr: s.username_attr.clone(),
            full_name_attr: text(&a.full_name),
            first_name_attr: text(&a.first_name),
            last_name_attr: text(&a.last_name),
            user_account_control_attr: text(&a.user_account_control),
            deactivated_attr: text(&a.deactivated),
            deactivated_values: a.deactivated_values.join(", "),
            realm_access: s
                .realm_access
                .get(subdomain)
                .map(|rules| {
                    rules
                        .iter()
                        .map(|rule| {
                            rule.iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
            org_membership_attr: text(&a.org_membership),
            unique_id_attr: a.unique_id.clone(),
            require_group: text(&s.require_group),
            deny_group: text(&s.deny_group),
            owner_group: text(&r.owner),
            administrator_group: text(&r.administrator),
            moderator_group: text(&r.moderator),
            guest_group: text(&r.guest),
            group_membership: s.group_membership.clone(),
            nested_groups: s.nested_groups,
            deactivate_non_matching: s.sync.deactivate_non_matching,
            max_deactivate_fraction: format!("{}", s.sync.max_deactivate_fraction),
            pool_size: s.pool_size.to_string(),
            bind_pool_size: s.bind_pool_size.to_string(),
        }
    }

    /// The form as submitted.
    pub fn read(p: &Params) -> DirectoryForm {
        let t = |name: &str| p.optional(name).unwrap_or_default().to_owned();
        let on = |name: &str| p.optional(name).is_some_and(|v| v == "on" || v == "true");
        DirectoryForm {
            uris: t("uris"),
            starttls: on("starttls"),
            ca_file: t("ca_file"),
            tls_verify: on("tls_verify"),
            connect_timeout: t("connect_timeout"),
            operation_timeout: t("operation_timeout"),
            bind_dn: t("bind_dn"),
            user_search_base: t("user_search_base"),
            user_search_filter: t("user_search_filter"),
            user_search_scope: t("user_search_scope"),
            user_dn_template: t("user_dn_template"),
            link_search_base: t("link_search_base"),
            append_domain: t("append_domain"),
            email_attr: t("email_attr"),
            reverse_email_search_filter: t("reverse_email_search_filter"),
            username_attr: t("username_attr"),
            full_name_attr: t("full_name_attr"),
            first_name_attr: t("first_name_attr"),
            last_name_attr: t("last_name_attr"),
            user_account_control_attr: t("user_account_control_attr"),
            deactivated_attr: t("deactivated_attr"),
            deactivated_values: t("deactivated_values"),
            realm_access: t("realm_access"),
            org_membership_attr: t("org_membership_attr"),
            unique_id_attr: t("unique_id_attr"),
            require_group: t("require_group"),
            deny_group: t("deny_group"),
            owner_group: t("owner_group"),
            administrator_group: t("administrator_group"),
            moderator_group: t("moderator_group"),
            guest_group: t("guest_group"),
            group_membership: t("group_membership"),
            nested_groups: on("nested_groups"),
            deactivate_non_matching: on("deactivate_non_matching"),
            max_deactivate_fraction: t("max_deactivate_fraction"),
            pool_size: t("pool_size"),
            bind_pool_size: t("bind_pool_size"),
        }
    }

    /// The configuration the form describes for the organization `subdomain`, with what the
    /// page does not show taken from `stored`; every unreadable value named.
    pub fn to_config(
        &self,
        stored: Option<&StoredSettings>,
        subdomain: &str,
    ) -> Result<LdapConfig, String> {
        let mut problems = Vec::new();
        let mut realm_access = stored.map(|s| s.realm_access.clone()).unwrap_or_default();
        match access_rules(&self.realm_access) {
            Ok(rules) if rules.is_empty() => {
                realm_access.remove(subdomain);
            }
            Ok(rules) => {
                realm_access.insert(subdomain.to_owned(), rules);
            }
            Err(e) => problems.push(e),
        }
        let mut seconds = |v: &str, name: &str| -> Duration {
            match v
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            {
                Some(d) => d,
                None => {
                    problems.push(format!("{name}: {v:?} is not a number of seconds"));
                    Duration::ZERO
                }
            }
        };
        let connect_timeout = seconds(&self.connect_timeout, "Connect timeout");
        let operation_timeout = seconds(&self.operation_timeout, "Operation timeout");
        let mut count = |v: &str, name: &str| -> usize {
            v.trim().parse().unwrap_or_else(|_| {
                problems.push(format!("{name}: {v:?} is not a whole number"));
                0
            })
        };
        let pool_size = count(&self.pool_size, "Pool size");
        let bind_pool_size = count(&self.bind_pool_size, "Bind pool size");
        let fraction = self
            .max_deactivate_fraction
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                problems.push(format!(
                    "Largest share deactivated by a sync: {:?} is not a number",
                    self.max_deactivate_fraction
                ));
                0.0
            });
        let scope = match self.user_search_scope.as_str() {
            "one" => SearchScope::OneLevel,
            _ => SearchScope::Subtree,
        };
        let membership =
            GroupMembership::from_name(&self.group_membership).unwrap_or(GroupMembership::Member);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(LdapConfig {
            uris: self
                .uris
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            starttls: self.starttls,
            ca_file: opt(&self.ca_file).map(Into::into),
            tls_verify: self.tls_verify,
            connect_timeout,
            operation_timeout,
            bind_dn: self.bind_dn.trim().to_owned(),
            bind_password: SecretString::default(),
            user_search_base: self.user_search_base.trim().to_owned(),
            user_search_filter: self.user_search_filter.trim().to_owned(),
            user_search_scope: scope,
            user_dn_template: opt(&self.user_dn_template),
            link_search_base: opt(&self.link_search_base),
            append_domain: opt(&self.append_domain),
            email_attr: opt(&self.email_attr),
            reverse_email_search_filter: opt(&self.reverse_email_search_filter),
            username_attr: self.username_attr.trim().to_owned(),
            attributes: AttributeMap {
                full_name: opt(&self.full_name_attr),
                first_name: opt(&self.first_name_attr),
                last_name: opt(&self.last_name_attr),
                user_account_control: opt(&self.user_account_control_attr),
                deactivated: opt(&self.deactivated_attr),
                deactivated_values: self
                    .deactivated_values
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect(),
                org_membership: opt(&self.org_membership_attr),
                unique_id: self.unique_id_attr.trim().to_owned(),
            },
            realm_access,
            require_group: opt(&self.require_group),
            deny_group: opt(&self.deny_group),
            role_by_group: RoleGroups {
                owner: opt(&self.owner_group),
                administrator: opt(&self.administrator_group),
                moderator: opt(&self.moderator_group),
                guest: opt(&self.guest_group),
            },
            group_membership: membership,
            nested_groups: self.nested_groups,
            sync: SyncPolicy {
                deactivate_non_matching: self.deactivate_non_matching,
                max_deactivate_fraction: fraction,
            },
            pool_size,
            bind_pool_size,
            root_aliases: Vec::new(),
        })
    }
}

/// Access rules as typed: one rule a line, each `attribute=value` pairs joined by commas (a
/// person is admitted when every pair of one rule holds).
fn access_rules(text: &str) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut rules = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut rule = BTreeMap::new();
        for pair in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                    rule.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                _ => {
                    return Err(format!(
                        "Access rules: {pair:?} is not attribute=value (one rule a line, pairs \
                         joined by commas)"
                    ));
                }
            }
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// What the form says of the bind password: a new one typed, "clear" ticked, or left alone.
pub fn bind_password(p: &Params) -> BindPassword {
    if p.optional("clear_bind_password").is_some_and(|v| v == "on") {
        return BindPassword::Clear;
    }
    match p.optional("bind_password") {
        Some(pw) if !pw.is_empty() => BindPassword::Set(SecretString::new(pw)),
        _ => BindPassword::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules_and_disabled_values_round_trip_through_the_form() {
        let mut form = DirectoryForm::of(None, "zulip");
        form.uris = "ldap://127.0.0.1:389".into();
        form.deactivated_attr = "employeeStatus".into();
        form.deactivated_values = " gone, LEFT ,".into();
        form.realm_access = "o = Zulip, ou=Eng\n\nemployeeType=staff\n".into();
        let cfg = form.to_config(None, "zulip").unwrap();
        assert_eq!(cfg.attributes.deactivated_values, vec!["gone", "LEFT"]);
        let rules = &cfg.realm_access["zulip"];
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["o"], "Zulip");
        assert_eq!(rules[0]["ou"], "Eng");
        assert_eq!(rules[1]["employeeType"], "staff");

        // Shown back for this organization only; another subdomain's rules are kept.
        let mut stored = StoredSettings::of(&cfg);
        stored.realm_access.insert(
            "other".into(),
            vec![BTreeMap::from([("o".into(), "X".into())])],
        );
        let shown = DirectoryForm::of(Some(&stored), "zulip");
        assert_eq!(shown.realm_access, "o=Zulip, ou=Eng\nemployeeType=staff");
        assert_eq!(shown.deactivated_values, "gone, LEFT");
        let mut cleared = shown.clone();
        cleared.realm_access = String::new();
        let cfg = cleared.to_config(Some(&stored), "zulip").unwrap();
        assert!(!cfg.realm_access.contains_key("zulip"));
        assert!(cfg.realm_access.contains_key("other"));

        form.realm_access = "o".into();
        let err = form.to_config(None, "zulip").unwrap_err();
        assert!(err.contains("not attribute=value"), "{err}");
    }
}
