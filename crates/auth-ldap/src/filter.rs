//! The configured search filters, checked as RFC 4515 filters when the configuration is loaded:
//! each is filled with a sample value, the way a login fills it, and parsed with `ldap3`'s own
//! filter parser (the one that encodes filters for the wire). A filter that does not parse is a
//! configuration problem, so a typo stops `config check` and `serve` instead of failing every
//! login with a directory error.

//!
//! The configuration hands its filters over as [`Configured`] values
//! (`LdapConfig::configured_filters`), so this module does not depend on the configuration.

use ldap3::ldap_escape;

/// Replaces `{placeholder}` in a filter template with the RFC 4515-escaped value.
pub fn fill_filter(template: &str, placeholder: &str, value: &str) -> String {
    template.replace(placeholder, &ldap_escape(value))
}

/// A filter the configuration uses: (setting, template, placeholder, sample value).
pub type Configured<'a> = (&'static str, &'a str, &'static str, &'static str);

/// Why a filled filter does not parse, when a simple count can tell.
fn hint(filled: &str) -> String {
    // Inside values a parenthesis must be escaped (`\28`, `\29`), so raw ones all count.
    let open = filled.matches('(').count();
    let close = filled.matches(')').count();
    if open != close {
        return format!(": unbalanced parentheses ({open} opening, {close} closing)");
    }
    if !filled.starts_with('(') || !filled.ends_with(')') {
        return ": a filter is enclosed in parentheses, e.g. (uid={user})".into();
    }
    String::new()
}

/// Every configured filter that is not a valid RFC 4515 filter once filled, as sentences.
pub fn filter_problems(filters: Vec<Configured<'_>>) -> Vec<String> {
    filters
        .into_iter()
        .filter_map(|(setting, template, placeholder, sample)| {
            let filled = fill_filter(template, placeholder, sample);
            ldap3::parse_filter(&filled).err().map(|()| {
                format!(
                    "ldap.{setting} = {template:?} is not a valid LDAP filter (RFC 4515){}",
                    hint(&filled)
                )
            })
        })
        .collect()
}

/// The attribute names a (valid) filter tests, in order, without options and duplicates:
/// `(&(objectClass=person)(uid={user}))` → `objectClass`, `uid`. Extensible matches without an
/// attribute (`(:dn:2.5.13.5:=x)`) name none.
pub fn filter_attributes(filter: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in filter.match_indices('(') {
        let name: String = filter[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            .collect();
        if !name.is_empty() && !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    out
}

/// The attribute names the configured filters test: (setting, attribute).
pub fn configured_filter_attributes(filters: Vec<Configured<'_>>) -> Vec<(&'static str, String)> {
    filters
        .into_iter()
        .filter(|(_, template, placeholder, sample)| {
            ldap3::parse_filter(fill_filter(template, placeholder, sample)).is_ok()
        })
        .flat_map(|(setting, template, _, _)| {
            filter_attributes(template)
                .into_iter()
                .map(move |a| (setting, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LdapConfig;

    /// The module's functions as the configuration calls them.
    fn filter_problems(c: &LdapConfig) -> Vec<String> {
        super::filter_problems(c.configured_filters())
    }

    fn configured_filter_attributes(c: &LdapConfig) -> Vec<(&'static str, String)> {
        super::configured_filter_attributes(c.configured_filters())
    }

    fn cfg(user: &str, email: Option<&str>) -> LdapConfig {
        LdapConfig {
            uris: vec!["ldap://127.0.0.1".into()],
            user_search_base: "ou=people,dc=example,dc=org".into(),
            user_search_filter: user.into(),
            reverse_email_search_filter: email.map(str::to_owned),
            ..LdapConfig::default()
        }
    }

    #[test]
    fn valid_filters_pass() {
        for f in [
            "(uid={user})",
            "(&(objectClass=inetOrgPerson)(uid={user}))",
            "(|(uid={user})(mail={user}))",
            "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName={user}))",
            "(uid=pre-{user}*)",
        ] {
            assert_eq!(
                filter_problems(&cfg(f, Some("(mail={email})"))),
                Vec::<String>::new(),
                "{f}"
            );
        }
    }

    #[test]
    fn broken_filters_are_named() {
        let p = filter_problems(&cfg("(&(objectClass=inetOrgPerson)(uid={user})", None));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("ldap.user_search_filter = \"(&(objectClass=inetOrgPerson)(uid={user})\" is not a valid LDAP filter (RFC 4515)"), "{}", p[0]);
        assert!(p[0].contains("3 opening, 2 closing"), "{}", p[0]);

        let p = filter_problems(&cfg("(uid={user})", Some("(mail={email}))")));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("ldap.reverse_email_search_filter"),
            "{}",
            p[0]
        );

        for bad in [
            "(uid={user}",
            "(u id={user})",
            "(&(uid={user})(",
            "((uid={user}))",
            "(uid={user})(cn=x)",
            "(=x)",
        ] {
            assert_eq!(filter_problems(&cfg(bad, None)).len(), 1, "{bad}");
        }
        // A value's parenthesis must be escaped; the sample is escaped as a login's would be.
        assert_eq!(filter_problems(&cfg("(cn=a(b)", None)).len(), 1);
        assert_eq!(
            filter_problems(&cfg("(cn=a\\28b{user})", None)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_dn_template_leaves_the_search_filter_unused() {
        let mut c = cfg("(uid={user}", None);
        c.user_dn_template = Some("uid={user},ou=people,dc=example,dc=org".into());
        assert_eq!(filter_problems(&c), Vec::<String>::new());
    }

    #[test]
    fn attributes_of_a_filter() {
        assert_eq!(
            filter_attributes(
                "(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user}))(!(employeeType=x)))"
            ),
            ["objectClass", "uid", "mail", "employeeType"]
        );
        assert_eq!(
            filter_attributes(
                "(&(userAccountControl:1.2.840.113556.1.4.803:=2)(:dn:2.5.13.5:=x)(cn;lang-de>=a)(UID=x)(uid~=y))"
            ),
            ["userAccountControl", "cn", "UID"]
        );
        let c = cfg(
            "(&(objectClass=person)(uid={user}))",
            Some("(mail={email})"),
        );
        assert_eq!(
            configured_filter_attributes(&c),
            [
                ("user_search_filter", "objectClass".to_owned()),
                ("user_search_filter", "uid".to_owned()),
                ("reverse_email_search_filter", "mail".to_owned())
            ]
        );
    }
}
