//! The attribute names the configuration uses, and what the directory says of them: the
//! schema's attribute types (names and aliases, case-insensitive, options such as `;binary`
//! ignored) or, when the schema cannot be read, the attributes one sample entry holds. Against a
//! sample, only attributes every person needs are problems when missing; group and filter
//! attributes cannot be judged there.

use std::collections::HashSet;

use crate::config::{GroupMembership, LdapConfig};
use crate::filter::configured_filter_attributes;
use crate::finding::{Finding, Level};

/// Where a configured attribute is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// On every person (a login or the account link needs it).
    EveryPerson,
    /// On some people only.
    SomePeople,
    /// Not on people (group attributes, filter attributes): only the schema can tell.
    SchemaOnly,
}

/// The attribute names the configuration uses: (setting, attribute, where expected).
fn configured_attributes(cfg: &LdapConfig) -> Vec<(String, String, Expect)> {
    use Expect::*;
    let a = &cfg.attributes;
    let mut v: Vec<(String, String, Expect)> = Vec::new();
    let mut add = |setting: &str, attr: Option<&String>, expect| {
        if let Some(attr) = attr.filter(|s| !s.trim().is_empty()) {
            v.push((setting.to_owned(), attr.clone(), expect));
        }
    };
    add("username_attr", Some(&cfg.username_attr), EveryPerson);
    add("email_attr", cfg.email_attr.as_ref(), EveryPerson);
    add("attributes.full_name", a.full_name.as_ref(), EveryPerson);
    add("attributes.first_name", a.first_name.as_ref(), EveryPerson);
    add("attributes.last_name", a.last_name.as_ref(), EveryPerson);
    add("attributes.unique_id", Some(&a.unique_id), EveryPerson);
    add(
        "attributes.user_account_control",
        a.user_account_control.as_ref(),
        SomePeople,
    );
    add("attributes.deactivated", a.deactivated.as_ref(), SomePeople);
    add(
        "attributes.org_membership",
        a.org_membership.as_ref(),
        SomePeople,
    );
    for (realm, rules) in &cfg.realm_access {
        for attr in rules.iter().flat_map(|r| r.keys()) {
            add(&format!("realm_access.{realm}"), Some(attr), SomePeople);
        }
    }
    if cfg.require_group.is_some() || cfg.deny_group.is_some() || cfg.role_by_group.is_configured()
    {
        let (attr, expect) = match cfg.group_membership {
            GroupMembership::Member => ("member", SchemaOnly),
            GroupMembership::UniqueMember => ("uniqueMember", SchemaOnly),
            GroupMembership::MemberUid => ("memberUid", SchemaOnly),
            GroupMembership::MemberOf => ("memberOf", SomePeople),
        };
        add("group_membership", Some(&attr.to_owned()), expect);
    }
    for (setting, attr) in configured_filter_attributes(cfg.configured_filters()) {
        add(setting, Some(&attr), SchemaOnly);
    }
    v
}

/// `cn;lang-de` → `cn`, lower-cased.
pub(crate) fn base_name(attr: &str) -> String {
    attr.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The OID and names of one `attributeTypes` value (RFC 4512 §4.1.2), lower-cased:
/// `( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )` → `2.5.4.3`, `cn`, `commonname`.
pub(crate) fn attribute_type_names(description: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum Tok<'a> {
        Open,
        Close,
        Quoted(&'a str),
        Word(&'a str),
    }
    let mut toks = Vec::new();
    let mut rest = description.trim_start();
    while let Some(c) = rest.chars().next() {
        let (tok, len) = match c {
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            '\'' => match rest[1..].find('\'') {
                Some(end) => (Tok::Quoted(&rest[1..1 + end]), end + 2),
                None => break,
            },
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '\''))
                    .unwrap_or(rest.len());
                (Tok::Word(&rest[..end]), end)
            }
        };
        toks.push(tok);
        rest = rest[len..].trim_start();
    }
    let mut out = Vec::new();
    if let [Tok::Open, Tok::Word(oid), ..] = toks.as_slice() {
        out.push(oid.to_ascii_lowercase());
    }
    if let Some(i) = toks.iter().position(|t| *t == Tok::Word("NAME")) {
        match toks.get(i + 1) {
            Some(Tok::Quoted(name)) => out.push(name.to_ascii_lowercase()),
            Some(Tok::Open) => out.extend(toks[i + 2..].iter().map_while(|t| match t {
                Tok::Quoted(name) => Some(name.to_ascii_lowercase()),
                _ => None,
            })),
            _ => {}
        }
    }
    out
}

/// What the attribute names were checked against.
pub(crate) enum Known {
    /// The subschema subentry's DN and every attribute type's OID and names (lower-cased).
    Schema { dn: String, names: HashSet<String> },
    /// One entry's DN and the attributes it holds (lower-cased); why the schema was not used.
    Sample {
        dn: String,
        names: HashSet<String>,
        why: String,
    },
}

/// The attribute findings: one line for what was checked, one per mistake.
pub(crate) fn attribute_findings(cfg: &LdapConfig, known: &Known) -> Vec<Finding> {
    let wanted = configured_attributes(cfg);
    let mut out = Vec::new();
    let mut checked: Vec<&str> = Vec::new();
    for (setting, attr, expect) in &wanted {
        let name = base_name(attr);
        let (present, against) = match known {
            Known::Schema { names, dn } => (
                names.contains(&name),
                format!("is not an attribute type in the directory's schema ({dn})"),
            ),
            Known::Sample { names, dn, .. } => {
                if *expect == Expect::SchemaOnly {
                    continue;
                }
                (
                    names.contains(&name),
                    format!("is not on the sample entry {dn}"),
                )
            }
        };
        if present {
            if !checked.iter().any(|c| c.eq_ignore_ascii_case(attr)) {
                checked.push(attr);
            }
            continue;
        }
        let level = match (known, expect) {
            (Known::Sample { .. }, Expect::SomePeople) => Level::Note,
            _ => Level::Problem,
        };
        let tail = if level == Level::Note {
            " (fine if only some people have it)"
        } else {
            ""
        };
        out.push(Finding::new(
            level,
            format!("ldap.{setting} = {attr:?} {against}{tail}"),
        ));
    }
    let head = match known {
        Known::Schema { dn, .. } => Finding::new(
            Level::Ok,
            format!(
                "attributes checked against the directory's schema ({dn}): {} found",
                checked.join(", ")
            ),
        ),
        Known::Sample { dn, why, .. } => Finding::new(
            Level::Note,
            format!(
                "the directory's schema could not be read ({why}); attributes checked against one entry, {dn} (group and filter attributes not checked): {} found",
                checked.join(", ")
            ),
        ),
    };
    out.insert(0, head);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_type_descriptions_are_read() {
        assert_eq!(
            attribute_type_names(
                "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s) for which the entity is known by' SUP name )"
            ),
            ["2.5.4.3", "cn", "commonname"]
        );
        assert_eq!(
            attribute_type_names(
                "( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry' EQUALITY UUIDMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )"
            ),
            ["1.3.6.1.1.16.4", "entryuuid"]
        );
        // A DESC that says NAME is not the NAME.
        assert_eq!(
            attribute_type_names("( 1.2.3 DESC 'the NAME x' NAME 'y' )"),
            ["1.2.3", "y"]
        );
        assert_eq!(attribute_type_names("( 1.2.3 )"), ["1.2.3"]);
        assert_eq!(
            attribute_type_names("garbage 'unterminated"),
            Vec::<String>::new()
        );
        assert_eq!(attribute_type_names(""), Vec::<String>::new());
    }

    fn cfg() -> LdapConfig {
        let mut c = LdapConfig {
            uris: vec!["ldap://127.0.0.1".into()],
            user_search_base: "ou=people,dc=example,dc=org".into(),
            user_search_filter: "(&(objectClass=inetOrgPerson)(uid={user}))".into(),
            email_attr: Some("mial".into()),
            require_group: Some("cn=staff,ou=groups,dc=example,dc=org".into()),
            ..LdapConfig::default()
        };
        c.attributes.unique_id = "entryUUDI".into();
        c.attributes.deactivated = Some("employeeType".into());
        c
    }

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| n.to_ascii_lowercase()).collect()
    }

    #[test]
    fn misspelt_attributes_are_problems_against_the_schema() {
        let known = Known::Schema {
            dn: "cn=Subschema".into(),
            names: set(&[
                "uid",
                "mail",
                "cn",
                "entryUUID",
                "employeeType",
                "member",
                "objectClass",
            ]),
        };
        let f = attribute_findings(&cfg(), &known);
        let problems: Vec<&str> = f
            .iter()
            .filter(|f| f.level == Level::Problem)
            .map(|f| f.text.as_str())
            .collect();
        assert_eq!(
            problems,
            [
                "ldap.email_attr = \"mial\" is not an attribute type in the directory's schema (cn=Subschema)",
                "ldap.attributes.unique_id = \"entryUUDI\" is not an attribute type in the directory's schema (cn=Subschema)",
            ]
        );
        assert_eq!(f[0].level, Level::Ok);
        assert!(
            f[0].text
                .contains("uid, cn, employeeType, member, objectClass found"),
            "{}",
            f[0].text
        );
    }

    #[test]
    fn a_sample_entry_tells_less() {
        let mut c = cfg();
        c.email_attr = Some("mail;lang-en".into());
        let known = Known::Sample {
            dn: "uid=hamlet,ou=people,dc=example,dc=org".into(),
            names: set(&["uid", "mail", "cn", "objectClass"]),
            why: "no subschemaSubentry".into(),
        };
        let f = attribute_findings(&c, &known);
        assert_eq!(f[0].level, Level::Note);
        assert!(f[0].text.contains("no subschemaSubentry"));
        assert!(f[0].text.contains("uid=hamlet"));
        let rest: Vec<(Level, &str)> = f[1..].iter().map(|f| (f.level, f.text.as_str())).collect();
        assert_eq!(
            rest,
            [
                (
                    Level::Problem,
                    "ldap.attributes.unique_id = \"entryUUDI\" is not on the sample entry uid=hamlet,ou=people,dc=example,dc=org"
                ),
                (
                    Level::Note,
                    "ldap.attributes.deactivated = \"employeeType\" is not on the sample entry uid=hamlet,ou=people,dc=example,dc=org (fine if only some people have it)"
                ),
            ]
        );
    }
}
