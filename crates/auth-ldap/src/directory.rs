//! The directory as Latchkey uses it: find a person, bind as them once, read their entry and
//! groups, list everyone for a sync. Every value put into a filter is RFC 4515-escaped and every
//! value put into a DN is RFC 4514-escaped, exactly once, where it enters; passwords are never
//! touched.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use auth_core::{DirectoryRefusal, Password, policy};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::{Ldap, Scope, SearchEntry, dn_escape, ldap_escape};

pub use crate::filter::fill_filter;

use crate::bind::{PPOLICY_OID, classify_bind, ppolicy_error};
use crate::config::{GroupMembership, LdapConfig, SearchScope};
use crate::conn::{
    BindPool, Connector, DirError, ServicePool, bounded, classify_transport, redact_diagnostic,
};
use crate::entry::{DirEntry, wanted_attributes};

/// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN, for nested groups.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// Paging size for listing every person in a sync.
const PAGE_SIZE: i32 = 500;

/// What one bind as the person said.
#[derive(Debug)]
pub enum BindOutcome {
    /// The password is right; the connection is bound as the person.
    Bound(Ldap),
    /// Wrong password or no such DN (result 49, AD 52e/525): a real credential failure.
    BadCredentials,
    /// The directory refused an account (AD sub-codes, ppolicy).
    Refused(DirectoryRefusal),
}

/// Replaces `{user}` in a DN template with the RFC 4514-escaped value.
pub fn fill_dn(template: &str, value: &str) -> String {
    template.replace("{user}", &dn_escape(value))
}

/// The directory: a pool of connections for person binds (never searched on), a pool of
/// service connections for searches, and the connector (failover) both open connections with.
pub struct Directory {
    cfg: Arc<LdapConfig>,
    connector: Arc<Connector>,
    pool: ServicePool,
    binds: BindPool,
    attrs: Vec<String>,
    /// Where entry ids are looked up (see `link.rs`), once known.
    pub(crate) link_base: OnceLock<String>,
    /// This directory's own login timings: failures are padded to what a login against this
    /// directory takes, not another organization's.
    pub(crate) padder: crate::timing::Padder,
}

impl Directory {
    pub fn new(cfg: LdapConfig) -> Result<Directory, DirError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(DirError::Config(problems.join("; ")));
        }
        let connector = Arc::new(Connector::new(&cfg)?);
        let pool = ServicePool::new(connector.clone(), &cfg);
        let binds = BindPool::new(&cfg);
        let attrs = wanted_attributes(&cfg);
        Ok(Directory {
            cfg: Arc::new(cfg),
            connector,
            pool,
            binds,
            attrs,
            link_base: OnceLock::new(),
            padder: crate::timing::Padder::new(),
        })
    }

    pub fn config(&self) -> &LdapConfig {
        &self.cfg
    }

    fn op_timeout(&self) -> Duration {
        self.cfg.operation_timeout
    }

    async fn run_search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
    ) -> Result<Vec<DirEntry>, DirError> {
        self.run_search_for(ldap, base, scope, filter, &self.attrs)
            .await
    }

    /// A search that asks for these attributes (the others ask for what the mapping reads).
    async fn run_search_for(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
    ) -> Result<Vec<DirEntry>, DirError> {
        let t = self.op_timeout();
        let result = bounded(t, ldap.with_timeout(t).search(base, scope, filter, attrs)).await?;
        let (entries, res) = (result.0, result.1);
        match res.rc {
            0 => {}
            // The base does not exist: a configuration problem, not "nobody".
            32 => return Err(DirError::NoSuchBase(base.to_owned())),
            rc => {
                return Err(DirError::Protocol(format!(
                    "search answered result {rc} ({})",
                    redact_diagnostic(&res.text)
                )));
            }
        }
        Ok(entries
            .into_iter()
            .map(|e| DirEntry::from_search(SearchEntry::construct(e)))
            .collect())
    }

    /// A search on a service connection, retried once on a fresh connection when a pooled one
    /// turns out to be dead (a directory restart).
    pub(crate) async fn service_search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
    ) -> Result<Vec<DirEntry>, DirError> {
        self.service_search_for(base, scope, filter, &self.attrs)
            .await
    }

    /// [`Self::service_search`] asking for these attributes.
    pub(crate) async fn service_search_for(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
    ) -> Result<Vec<DirEntry>, DirError> {
        let (mut ldap, reused) = self.pool.get().await?;
        match self
            .run_search_for(&mut ldap, base, scope, filter, attrs)
            .await
        {
            Ok(v) => {
                self.pool.put(ldap);
                Ok(v)
            }
            Err(DirError::Unreachable(_)) if reused => {
                self.pool.clear();
                let (mut fresh, _) = self.pool.get().await?;
                let v = self
                    .run_search_for(&mut fresh, base, scope, filter, attrs)
                    .await?;
                self.pool.put(fresh);
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }

    /// A search on the person's bound connection when there is no service account (`bind_dn`
    /// empty) and one is given, else on a service connection.
    async fn search_as(
        &self,
        conn: Option<&mut Ldap>,
        base: &str,
        scope: Scope,
        filter: &str,
    ) -> Result<Vec<DirEntry>, DirError> {
        match conn {
            Some(ldap) if self.cfg.bind_dn.is_empty() => {
                self.run_search(ldap, base, scope, filter).await
            }
            _ => self.service_search(base, scope, filter).await,
        }
    }

    fn user_scope(&self) -> Scope {
        match self.cfg.user_search_scope {
            SearchScope::Subtree => Scope::Subtree,
            SearchScope::OneLevel => Scope::OneLevel,
        }
    }

    /// Zulip's `django_to_ldap_username`: the directory username for what was typed, or `None`
    /// when an email's domain does not match the append domain.
    pub async fn translate_username(&self, typed: &str) -> Result<Option<String>, DirError> {
        let is_email = policy::validate_email(typed).is_ok();
        if let Some(domain) = &self.cfg.append_domain {
            if !is_email {
                return Ok(Some(typed.to_owned()));
            }
            return Ok(match typed.rsplit_once('@') {
                Some((local, d)) if d == domain => Some(unquote_local(local)),
                _ => {
                    tracing::debug!(domain = ?domain, "email does not match the LDAP append domain");
                    None
                }
            });
        }
        if is_email {
            if let Some(template) = &self.cfg.reverse_email_search_filter {
                let filter = fill_filter(template, "{email}", typed);
                let hits = self
                    .service_search(&self.cfg.user_search_base, self.user_scope(), &filter)
                    .await?;
                match hits.len() {
                    1 => {
                        if let Some(u) = hits[0].first(&self.cfg.username_attr) {
                            return Ok(Some(u.to_owned()));
                        }
                    }
                    0 => {}
                    n => tracing::warn!(
                        matches = n,
                        "several LDAP entries share one email; using the input as the username"
                    ),
                }
            }
        }
        Ok(Some(typed.to_owned()))
    }

    /// Where people are searched: the search base, or in direct-bind setups without one, the
    /// DN template's parent.
    pub(crate) fn people_base(&self) -> &str {
        if !self.cfg.user_search_base.is_empty() {
            return &self.cfg.user_search_base;
        }
        self.cfg
            .user_dn_template
            .as_deref()
            .and_then(|t| t.split_once(',').map(|(_, parent)| parent))
            .unwrap_or_default()
    }

    /// Search-then-bind's search: the single entry for a directory username. Several matches
    /// are refused as ambiguous (`None`).
    pub async fn find_user(&self, username: &str) -> Result<Option<DirEntry>, DirError> {
        let filter = fill_filter(&self.cfg.user_search_filter, "{user}", username);
        let mut hits = self
            .service_search(self.people_base(), self.user_scope(), &filter)
            .await?;
        match hits.len() {
            0 => Ok(None),
            1 => Ok(hits.pop()),
            n => {
                tracing::warn!(
                    matches = n,
                    "the LDAP user filter matches several entries; refusing"
                );
                Ok(None)
            }
        }
    }

    /// The DN a direct bind uses, when a DN template is configured.
    pub fn templated_dn(&self, username: &str) -> Option<String> {
        self.cfg
            .user_dn_template
            .as_ref()
            .map(|t| fill_dn(t, username))
    }

    /// Binds once as `dn` with the password: on an idle bind connection when there is one
    /// (the bind replaces its previous identity), else on a new connection to the first server
    /// that answers. An empty password never reaches the directory (it would be an anonymous
    /// bind on most servers). A connection the bind refused goes back to the bind pool; a
    /// bound one is handed to the caller, who gives it back with [`Directory::release_bind`]
    /// unless it searched on it.
    pub async fn bind_user(&self, dn: &str, password: &Password) -> Result<BindOutcome, DirError> {
        if password.is_empty() || dn.is_empty() {
            return Ok(BindOutcome::BadCredentials);
        }
        let t = self.op_timeout();
        let started = std::time::Instant::now();
        if let Some(mut ldap) = self.binds.take() {
            match bind_once(&mut ldap, dn, password, t).await {
                Ok(res) => {
                    record_bind("reused", started);
                    return self.bind_answer(ldap, &res);
                }
                Err(DirError::Timeout(_) | DirError::Unreachable(_)) => {
                    // The server behind the idle connections went away (or stalls): drop them
                    // all and bind on a new connection, with failover.
                    tracing::info!("an idle LDAP bind connection failed; opening a new one");
                    self.binds.clear();
                }
                Err(other) => return Err(other),
            }
        }
        // A server that accepts and then closes, or never answers, is passed over: the bind is
        // tried on the next one.
        let (ldap, res) = self
            .connector
            .with_server("bind", |mut ldap, _uri| async move {
                let res = bind_once(&mut ldap, dn, password, t).await?;
                Ok((ldap, res))
            })
            .await?;
        record_bind("new", started);
        self.bind_answer(ldap, &res)
    }

    /// What a bind's result means; a refused bind's connection (now anonymous) is kept for
    /// the next bind.
    fn bind_answer(&self, ldap: Ldap, res: &ldap3::LdapResult) -> Result<BindOutcome, DirError> {
        if res.rc == 0 && ppolicy_error(res).is_none() {
            return Ok(BindOutcome::Bound(ldap));
        }
        let outcome = classify_bind(res)?;
        self.binds.put(ldap);
        Ok(match outcome {
            Some(refusal) => BindOutcome::Refused(refusal),
            None => BindOutcome::BadCredentials,
        })
    }

    /// Gives a bound connection back to the bind pool. Only for a connection nothing was read
    /// on: the next person's bind replaces this identity, but a search on it would read with
    /// this person's rights.
    pub fn release_bind(&self, ldap: Ldap) {
        self.binds.put(ldap);
    }

    /// Whether a person's entry and groups are read on their own bound connection: only when
    /// there is no service account to read them with.
    pub fn reads_as_person(&self) -> bool {
        self.cfg.bind_dn.is_empty()
    }

    /// Reads an entry by DN, on the given (bound) connection or a service connection.
    pub async fn read_entry(
        &self,
        conn: Option<&mut Ldap>,
        dn: &str,
    ) -> Result<Option<DirEntry>, DirError> {
        let mut hits = self
            .search_as(conn, dn, Scope::Base, "(objectClass=*)")
            .await?;
        Ok(hits.pop())
    }

    /// Whether the person is in the group.
    pub async fn is_member(
        &self,
        conn: Option<&mut Ldap>,
        entry: &DirEntry,
        username: &str,
        group_dn: &str,
    ) -> Result<bool, DirError> {
        let (base, scope, filter) = match self.cfg.group_membership {
            GroupMembership::MemberOf if self.cfg.nested_groups => (
                entry.dn.clone(),
                Scope::Base,
                format!("(memberOf:{IN_CHAIN}:={})", ldap_escape(group_dn)),
            ),
            GroupMembership::MemberOf => {
                let wanted = normalize_dn(group_dn);
                return Ok(entry
                    .values("memberOf")
                    .iter()
                    .any(|g| normalize_dn(g) == wanted));
            }
            GroupMembership::Member => (
                group_dn.to_owned(),
                Scope::Base,
                format!("(member={})", ldap_escape(&entry.dn)),
            ),
            GroupMembership::UniqueMember => (
                group_dn.to_owned(),
                Scope::Base,
                format!("(uniqueMember={})", ldap_escape(&entry.dn)),
            ),
            GroupMembership::MemberUid => (
                group_dn.to_owned(),
                Scope::Base,
                format!("(memberUid={})", ldap_escape(username)),
            ),
        };
        match self.search_as(conn, &base, scope, &filter).await {
            Ok(h) => Ok(!h.is_empty()),
            // A group that does not exist has no members.
            Err(DirError::NoSuchBase(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every person under the search base (paged), for a sync.
    pub async fn all_people(&self) -> Result<Vec<DirEntry>, DirError> {
        let filter = format!("({}=*)", self.cfg.username_attr);
        let filter = match self.cfg.user_search_filter.replace("{user}", "*") {
            f if self.cfg.user_dn_template.is_none() => f,
            _ => filter,
        };
        let base = self.people_base();
        let (mut ldap, _) = self.pool.get().await?;
        let t = self.op_timeout();
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = ldap
            .with_timeout(t)
            .streaming_search_with(adapters, base, self.user_scope(), &filter, &self.attrs)
            .await
            .map_err(|e| classify_transport(&e, t))?;
        let mut out = Vec::new();
        while let Some(e) = bounded(t, stream.next()).await? {
            out.push(DirEntry::from_search(SearchEntry::construct(e)));
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(DirError::Protocol(format!(
                "listing people answered result {} ({})",
                res.rc,
                redact_diagnostic(&res.text)
            )));
        }
        self.pool.put(ldap);
        Ok(out)
    }

    /// Connects, binds the service account and reads the search base: the "test connection"
    /// of `config check --connect`.
    pub async fn check(&self) -> Result<String, DirError> {
        let base = &self.cfg.user_search_base;
        if base.is_empty() {
            let (ldap, _) = self.pool.get().await?;
            self.pool.put(ldap);
            return Ok("connected and bound".into());
        }
        let hits = self
            .service_search(base, Scope::Base, "(objectClass=*)")
            .await?;
        Ok(format!(
            "connected, bound{}, search base {} {}",
            if self.cfg.bind_dn.is_empty() {
                " anonymously"
            } else {
                " as the service account"
            },
            base,
            if hits.is_empty() {
                "not readable"
            } else {
                "readable"
            }
        ))
    }
}

/// `"hamlet@test"` (a quoted local part) → `hamlet@test`.
fn unquote_local(local: &str) -> String {
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        local[1..local.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        local.to_owned()
    }
}

/// DNs compared loosely: lower-cased, spaces after commas removed.
pub(crate) fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// One simple bind with the password-policy request control, bounded by `t`.
async fn bind_once(
    ldap: &mut Ldap,
    dn: &str,
    password: &Password,
    t: Duration,
) -> Result<ldap3::LdapResult, DirError> {
    let request = RawControl {
        ctype: PPOLICY_OID.to_owned(),
        crit: false,
        val: None,
    };
    bounded(
        t,
        ldap.with_timeout(t)
            .with_controls(request)
            .simple_bind(dn, password.expose()),
    )
    .await
}

/// A person bind's latency, by whether its connection was reused from the bind pool.
fn record_bind(connection: &'static str, started: std::time::Instant) {
    metrics::histogram!("latchkey_ldap_bind_seconds", "connection" => connection)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_happens_once_where_values_enter() {
        assert_eq!(fill_filter("(uid={user})", "{user}", "*"), "(uid=\\2a)");
        assert_eq!(
            fill_filter("(uid={user})", "{user}", ")(uid=*"),
            "(uid=\\29\\28uid=\\2a)"
        );
        assert_eq!(
            fill_filter("(uid={user})", "{user}", "a\0b"),
            "(uid=a\\00b)"
        );
        assert_eq!(
            fill_filter(
                "(&(objectClass=person)(|(uid={user})(mail={user})))",
                "{user}",
                "x*"
            ),
            "(&(objectClass=person)(|(uid=x\\2a)(mail=x\\2a)))"
        );
        assert_eq!(
            fill_dn("uid={user},ou=people,dc=example,dc=org", "a,b+c"),
            "uid=a\\2cb\\2bc,ou=people,dc=example,dc=org"
        );
    }

    #[test]
    fn a_missing_base_reads_as_the_protocol_error_it_replaced() {
        let base = "cn=nope,ou=groups,dc=x";
        assert_eq!(
            DirError::NoSuchBase(base.into()).to_string(),
            DirError::Protocol(format!("search base {base:?} does not exist (result 32)"))
                .to_string()
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(unquote_local("\"hamlet@test\""), "hamlet@test");
        assert_eq!(unquote_local("hamlet"), "hamlet");
        assert_eq!(
            normalize_dn("CN=Staff, OU=Groups,DC=x"),
            "cn=staff,ou=groups,dc=x"
        );
    }
}
