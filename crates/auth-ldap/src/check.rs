//! The directory check behind `latchkey config check --connect` and the check `serve` runs at
//! start: every configured server on its own ([`Prober`]), the search base, the
//! `require_group`/`deny_group`/`role_by_group` entries, and the configured attribute names
//! against the directory's schema (the subschema subentry the root DSE names), or, when the
//! schema cannot be read, against one entry under the search base. Each finding is one sentence; problems are the
//! mistakes that make logins fail or misbehave (a server down, a missing group, a misspelt
//! attribute), notes are what could not be verified.

use std::collections::HashSet;

use ldap3::{Ldap, Scope, SearchEntry, SearchOptions};

use crate::config::{LdapConfig, SearchScope};
use crate::conn::{DirError, bounded, result_name};
pub use crate::finding::{Finding, Level};
use crate::probe::{Prober, ServerState};
use crate::schema::{Known, attribute_findings, attribute_type_names, base_name};

/// Everything the check found, in order: servers, search base, groups, attributes.
#[derive(Debug, Clone, Default)]
pub struct DirectoryCheck {
    pub findings: Vec<Finding>,
}

impl DirectoryCheck {
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level == Level::Problem)
    }
}

/// A service connection and its operation timeout, for the check's reads.
struct Reader {
    ldap: Ldap,
    t: std::time::Duration,
}

/// What a base read of a DN found.
enum Presence {
    Readable,
    /// Result 32: it does not exist, or the reader may not know that it does.
    Missing,
    /// Found nothing without an error: it exists but may not be read.
    Unreadable,
}

impl Reader {
    async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<&str>,
        limit: i32,
    ) -> Result<(Vec<SearchEntry>, u32), DirError> {
        let t = self.t;
        let res = bounded(
            t,
            self.ldap
                .with_search_options(SearchOptions::new().sizelimit(limit))
                .with_timeout(t)
                .search(base, scope, filter, attrs),
        )
        .await?;
        Ok((
            res.0.into_iter().map(SearchEntry::construct).collect(),
            res.1.rc,
        ))
    }

    async fn presence(&mut self, dn: &str) -> Result<Presence, DirError> {
        match self
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"], 0)
            .await?
        {
            (entries, 0) if !entries.is_empty() => Ok(Presence::Readable),
            (_, 0) => Ok(Presence::Unreadable),
            (_, 32) => Ok(Presence::Missing),
            (_, rc) => Err(DirError::Protocol(format!(
                "reading {dn} answered result {rc} ({})",
                result_name(rc)
            ))),
        }
    }

    /// The subschema subentry's DN and its attribute types' names, or why they cannot be read.
    async fn schema(&mut self) -> Result<(String, HashSet<String>), String> {
        let (dse, _) = self
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["subschemaSubentry"],
                0,
            )
            .await
            .map_err(|e| format!("reading the root DSE: {e}"))?;
        let dn = dse
            .first()
            .and_then(|e| first_value(e, "subschemaSubentry"))
            .ok_or("the root DSE names no subschemaSubentry")?
            .to_owned();
        let (entries, rc) = self
            .search(
                &dn,
                Scope::Base,
                "(objectClass=subschema)",
                vec!["attributeTypes"],
                0,
            )
            .await
            .map_err(|e| format!("reading {dn}: {e}"))?;
        let names: HashSet<String> = entries
            .iter()
            .flat_map(|e| values(e, "attributeTypes"))
            .flat_map(|d| attribute_type_names(d))
            .collect();
        if names.is_empty() {
            return Err(format!(
                "{dn} gave no attributeTypes (result {rc}, {})",
                result_name(rc)
            ));
        }
        Ok((dn, names))
    }

    /// One entry under the people base, with its user and operational attributes.
    async fn sample(
        &mut self,
        cfg: &LdapConfig,
        base: &str,
    ) -> Result<Option<SearchEntry>, DirError> {
        let (scope, filter) = match &cfg.user_dn_template {
            None => (
                match cfg.user_search_scope {
                    SearchScope::Subtree => Scope::Subtree,
                    SearchScope::OneLevel => Scope::OneLevel,
                },
                // As `ldap sync` lists everyone.
                cfg.user_search_filter.replace("{user}", "*"),
            ),
            Some(_) => (Scope::OneLevel, "(objectClass=*)".to_owned()),
        };
        let (mut entries, _) = self.search(base, scope, &filter, vec!["*", "+"], 1).await?;
        Ok(entries.pop())
    }
}

fn values<'a>(e: &'a SearchEntry, attr: &str) -> &'a [String] {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn first_value<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    values(e, attr).first().map(String::as_str)
}

/// Where people are searched: the search base, or with direct bind and no search base, the DN
/// template's parent (as logins and sync do).
fn people_base(cfg: &LdapConfig) -> &str {
    if !cfg.user_search_base.is_empty() {
        return &cfg.user_search_base;
    }
    cfg.user_dn_template
        .as_deref()
        .and_then(|t| t.split_once(',').map(|(_, parent)| parent))
        .unwrap_or_default()
}

/// Runs the whole check. Fails only when the TLS settings cannot be used; everything the
/// directory says is a finding.
pub async fn check_directory(cfg: &LdapConfig) -> Result<DirectoryCheck, DirError> {
    let prober = Prober::new(cfg)?;
    let (probes, conn) = prober.probe_servers(true).await;
    let mut out = Vec::new();
    for p in &probes {
        out.push(match &p.state {
            ServerState::Ok if prober.anonymous() => Finding::new(
                Level::Ok,
                format!("connected to {}, root DSE readable (anonymous)", p.uri),
            ),
            ServerState::Ok => Finding::new(
                Level::Ok,
                format!(
                    "connected to {}, bound as the service account `{}`",
                    p.uri, cfg.bind_dn
                ),
            ),
            ServerState::Down(d) => Finding::new(Level::Problem, format!("{} is down: {d}", p.uri)),
            ServerState::Refused(d) => Finding::new(Level::Problem, d.clone()),
        });
    }
    let Some(ldap) = conn else {
        out.push(Finding::new(
            Level::Problem,
            "no server could be used: the search base, groups and attributes were not checked",
        ));
        return Ok(DirectoryCheck { findings: out });
    };
    out.extend(check_on(cfg, prober.anonymous(), ldap).await);
    Ok(DirectoryCheck { findings: out })
}

/// What the check reads on a server that took the service step (`ldap`, which is unbound
/// afterwards): the people base, the groups, the attribute names.
pub(crate) async fn check_on(cfg: &LdapConfig, anonymous: bool, ldap: Ldap) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut r = Reader {
        ldap,
        t: cfg.operation_timeout,
    };
    let who = if anonymous {
        "anonymous searches"
    } else {
        "the service account"
    };
    let base = people_base(cfg).to_owned();
    if !base.is_empty() {
        out.push(match r.presence(&base).await {
            Ok(Presence::Readable) => Finding::new(Level::Ok, format!("search base {base} readable")),
            Ok(Presence::Missing) => Finding::new(
                Level::Problem,
                format!("search base {base} does not exist (result 32, no such object), or {who} may not see it"),
            ),
            Ok(Presence::Unreadable) => Finding::new(
                Level::Problem,
                format!("search base {base} is not readable by {who}"),
            ),
            Err(e) => Finding::new(Level::Problem, format!("search base {base}: {e}")),
        });
    }
    let mut groups: Vec<(String, &str, &str)> = Vec::new();
    for (setting, dn, consequence) in [
        ("require_group", &cfg.require_group, "nobody could log in"),
        ("deny_group", &cfg.deny_group, "nobody would be denied"),
    ] {
        if let Some(dn) = dn {
            groups.push((setting.to_owned(), dn, consequence));
        }
    }
    for (_, name, dn) in cfg.role_by_group.in_order() {
        groups.push((
            format!("role_by_group.{name}"),
            dn,
            "nobody would get this role, and whoever has it would lose it at their next login",
        ));
    }
    for (setting, dn, consequence) in groups {
        // Without a service account, logins read groups as the person: what anonymous
        // searches see proves little.
        let missing = if anonymous {
            Level::Note
        } else {
            Level::Problem
        };
        out.push(match r.presence(dn).await {
            Ok(Presence::Readable) => Finding::new(Level::Ok, format!("ldap.{setting} {dn} exists")),
            Ok(Presence::Missing) => Finding::new(
                missing,
                format!("ldap.{setting} {dn} does not exist (result 32, no such object), or {who} may not see it: {consequence}"),
            ),
            Ok(Presence::Unreadable) => Finding::new(
                missing,
                format!("ldap.{setting} {dn} is not readable by {who}"),
            ),
            Err(e) => Finding::new(Level::Problem, format!("ldap.{setting} {dn}: {e}")),
        });
    }
    let known = match r.schema().await {
        Ok((dn, names)) => Some(Known::Schema { dn, names }),
        Err(why) => match r.sample(cfg, &base).await {
            Ok(Some(e)) => Some(Known::Sample {
                names: e
                    .attrs
                    .keys()
                    .chain(e.bin_attrs.keys())
                    .map(|k| base_name(k))
                    .collect(),
                dn: e.dn,
                why,
            }),
            Ok(None) => {
                out.push(Finding::new(
                    Level::Note,
                    format!("attributes not checked: the directory's schema could not be read ({why}) and no entry was found under {base}"),
                ));
                None
            }
            Err(e) => {
                out.push(Finding::new(
                    Level::Note,
                    format!("attributes not checked: the directory's schema could not be read ({why}) and reading an entry under {base} failed: {e}"),
                ));
                None
            }
        },
    };
    if let Some(known) = known {
        out.extend(attribute_findings(cfg, &known));
    }
    let _ = tokio::time::timeout(r.t, r.ldap.unbind()).await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_people_base_follows_the_template() {
        let mut c = LdapConfig {
            user_search_base: "ou=people,dc=example,dc=org".into(),
            ..LdapConfig::default()
        };
        assert_eq!(people_base(&c), "ou=people,dc=example,dc=org");
        c.user_search_base = String::new();
        c.user_dn_template = Some("uid={user},ou=staff,dc=x".into());
        assert_eq!(people_base(&c), "ou=staff,dc=x");
    }
}
