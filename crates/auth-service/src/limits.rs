//! Zulip's rate limits on the request path: failed logins by username
//! (`authenticate_by_username`), requests by authenticated user (`api_by_user`) and
//! unauthenticated requests by client IP (`api_by_ip`). Counters live in Redis when configured
//! (shared by every instance) and in memory otherwise or while Redis is down. Every evaluated
//! limit's [`Decision`] is handed back to the caller (the HTTP layer turns it into `X-RateLimit-*`
//! headers); a refusal is [`Limited`].

use std::net::IpAddr;
use std::time::Duration;

use auth_core::{AttemptGuard, AuthFailure, BackendKind, User, fold_login_name};
use auth_ratelimit::{Decision, RateLimiter, Rules, Ticket};

use crate::options::LimitOptions;

/// Rate limiting as configured.
pub struct Limits {
    /// Failed logins by username. A separate store from `requests`, so that in memory mode a
    /// flood of request or IP keys cannot evict a username's history of failures.
    logins: RateLimiter,
    /// Requests by user and by client IP.
    requests: RateLimiter,
    enabled: bool,
    authenticate_enabled: bool,
    by_username: Rules,
    by_user: Rules,
    by_ip: Rules,
    trusted_proxies: Vec<IpAddr>,
    /// Administrators' clears already applied here (audit row ids), and when this server
    /// started (clears made before hold nothing for it).
    applied_clears: std::sync::Mutex<std::collections::HashSet<i64>>,
    started: auth_core::Timestamp,
    /// Names whose refusal (429) was audited lately: one row per name and minute, not one per
    /// request of a flood.
    audited_refusals: moka::sync::Cache<String, ()>,
}

/// A request or login over its limit: the decision that refused it.
#[derive(Debug, Clone)]
pub struct Limited(pub Decision);

impl Limited {
    /// How long until the limit lets the next attempt through.
    pub fn retry_after(&self) -> Duration {
        self.0.retry_after.unwrap_or_default()
    }
}

/// A limit check: the decision when a limit was evaluated (`None`: no limit applies), or the
/// refusal.
pub type Checked = Result<Option<Decision>, Limited>;

/// The per-IP key: IPv4 addresses as they are, IPv6 by their /64 (one host usually holds a
/// whole /64, so single addresses would be free to rotate).
fn ip_key(ip: IpAddr) -> String {
    format!("api_by_ip:{}", ip_part(ip))
}

/// An address as limits count it (see [`ip_key`]).
pub(crate) fn ip_part(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// An attempt recorded against a username (and against each identity a backend resolved for
/// it), to be settled once the outcome is known.
pub struct LoginTicket {
    key: String,
    ticket: Option<Ticket>,
}

/// The chain's [`AttemptGuard`] for one login request: each identity a backend resolves is
/// checked against the login limit (429 when over it, before the password is checked) and
/// recorded provisionally, to be settled with the typed name's ticket by [`Limits::end_login`].
pub struct LoginGuard<'a> {
    limits: &'a Limits,
    /// The tickets to settle, and the decisions whose headers the response may carry (the
    /// request itself is not `Send`, so they are noted on it afterwards).
    seen: std::sync::Mutex<(Vec<LoginTicket>, Vec<Decision>)>,
}

impl LoginGuard<'_> {
    fn take(&self) -> (Vec<LoginTicket>, Vec<Decision>) {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait::async_trait]
impl AttemptGuard for LoginGuard<'_> {
    async fn resolved(&self, backend: BackendKind, identity: &str) -> Result<(), AuthFailure> {
        let limits = self.limits;
        let key = identity_key(backend, identity);
        if !limits.authenticate_enabled || limits.by_username.0.is_empty() {
            return Ok(());
        }
        let d = limits
            .logins
            .check_and_record(&key, &limits.by_username)
            .await;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.1.push(d.clone());
        if !d.allowed {
            tracing::info!(%backend, "login refused: the resolved identity is over its limit");
            return Err(AuthFailure::RateLimited {
                retry_after: d.retry_after.unwrap_or_default(),
            });
        }
        seen.0.push(LoginTicket {
            key,
            ticket: d.ticket,
        });
        Ok(())
    }
}

impl Limits {
    pub fn new(options: &LimitOptions, trusted_proxies: &[IpAddr]) -> Limits {
        let limiter = || {
            RateLimiter::new(auth_ratelimit::LimiterConfig {
                redis_url: options.redis_url.clone().filter(|u| !u.is_empty()),
                key_prefix: options.redis_key_prefix.clone(),
                timeout: options.redis_timeout.max(Duration::from_millis(1)),
                ..auth_ratelimit::LimiterConfig::default()
            })
        };
        Limits {
            logins: limiter(),
            requests: limiter(),
            enabled: options.enabled,
            authenticate_enabled: options.authenticate_enabled,
            by_username: options.by_username.clone(),
            by_user: options.by_user.clone(),
            by_ip: options.by_ip.clone(),
            trusted_proxies: trusted_proxies.iter().map(|ip| ip.to_canonical()).collect(),
            applied_clears: std::sync::Mutex::default(),
            started: crate::clock::now(),
            audited_refusals: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// `shared` (Redis answers now), `local` (Redis configured but unreachable) or `memory`
    /// (no Redis configured).
    pub async fn mode(&self) -> &'static str {
        if !self.requests.is_redis_configured() {
            return "memory";
        }
        // Probing also revives a store that had fallen back to memory.
        let (logins, requests) = tokio::join!(self.logins.probe(), self.requests.probe());
        if logins && requests {
            "shared"
        } else {
            "local"
        }
    }

    /// Whether this peer is a reverse proxy whose forwarding headers are believed.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.contains(&ip.to_canonical())
    }

    /// The client's address: the peer, or (behind a trusted proxy) the rightmost address in
    /// `forwarded_for` (every `X-Forwarded-For` value over all its header lines, in order) that
    /// is not a trusted proxy. An entry that does not parse ends the walk: the last trusted hop
    /// before it counts, since nothing left of it can be believed.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: &[String]) -> Option<IpAddr> {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let peer = peer.map(|ip| ip.to_canonical())?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let mut nearest = peer;
        for entry in forwarded_for.iter().rev() {
            let Ok(ip) = entry.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
                return Some(nearest);
            };
            if !self.trusted_proxies.contains(&ip) {
                return Some(ip);
            }
            nearest = ip;
        }
        Some(nearest)
    }

    /// Checks (and, with `record`, counts) one attempt against a rule set.
    async fn check(
        &self,
        limiter: &RateLimiter,
        key: &str,
        rules: &Rules,
        record: bool,
    ) -> Result<Decision, Limited> {
        let d = if record {
            limiter.check_and_record(key, rules).await
        } else {
            limiter.peek(key, rules).await
        };
        if d.allowed {
            Ok(d)
        } else {
            crate::telemetry::rate_limited(key);
            Err(Limited(d))
        }
    }

    /// Counts an unauthenticated request (a login, a failed key) against the client's address,
    /// when an address limit applies.
    pub async fn check_ip(&self, client: Option<IpAddr>) -> Checked {
        if !self.enabled || self.by_ip.0.is_empty() {
            return Ok(None);
        }
        match client.map(ip_key) {
            Some(key) => self
                .check(&self.requests, &key, &self.by_ip, true)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// The per-user limit of an authenticated request.
    pub async fn check_user(&self, user: &User) -> Checked {
        if !self.enabled || self.by_user.0.is_empty() {
            return Ok(None);
        }
        let key = format!("api_by_user:{}", user.id.0);
        self.check(&self.requests, &key, &self.by_user, true)
            .await
            .map(Some)
    }

    /// Before a password login: refuses when the username is over its limit, even if the
    /// password would be right; otherwise records the attempt provisionally. `username` is the
    /// normalised login name ([`login_name`]).
    pub async fn begin_login(
        &self,
        username: &str,
    ) -> Result<(LoginTicket, Option<Decision>), Limited> {
        let key = login_key(username);
        if !self.authenticate_enabled || self.by_username.0.is_empty() {
            return Ok((LoginTicket { key, ticket: None }, None));
        }
        let d = self
            .check(&self.logins, &key, &self.by_username, true)
            .await?;
        let ticket = d.ticket;
        Ok((LoginTicket { key, ticket }, Some(d)))
    }

    /// The guard that counts one login's attempts against the identities its backends resolve.
    pub fn guard(&self) -> LoginGuard<'_> {
        LoginGuard {
            limits: self,
            seen: std::sync::Mutex::default(),
        }
    }

    /// After the login: success clears the history of the username and of every identity
    /// resolved; an attempt whose credentials some backend rejected stays counted (even when
    /// the answer shown is more specific, such as an unavailable directory); anything else (an
    /// outage alone, an account state shown after a right password) is withdrawn.
    /// Returns the decisions the guard saw, for the response's headers.
    pub async fn end_login(
        &self,
        ticket: LoginTicket,
        guard: LoginGuard<'_>,
        outcome: &auth_core::ChainOutcome,
    ) -> Vec<Decision> {
        let (tickets, decisions) = guard.take();
        for ticket in std::iter::once(ticket).chain(tickets) {
            match &outcome.result {
                Ok(_) => self.logins.clear(&ticket.key).await,
                Err(_) if outcome.credentials_rejected => {}
                Err(_) => {
                    if let Some(t) = ticket.ticket {
                        self.logins.withdraw(&ticket.key, t).await;
                    }
                }
            }
        }
        decisions
    }

    /// Settles a password check made outside the chain (an administrator testing a person's
    /// directory password): a rejected password stays counted, anything else is withdrawn; a
    /// right one clears nothing (it proves only the test).
    pub(crate) async fn settle_check(
        &self,
        ticket: LoginTicket,
        guard: LoginGuard<'_>,
        rejected: bool,
    ) {
        let (tickets, _) = guard.take();
        if rejected {
            return;
        }
        for ticket in std::iter::once(ticket).chain(tickets) {
            if let Some(t) = ticket.ticket {
                self.logins.withdraw(&ticket.key, t).await;
            }
        }
    }

    /// A new password for a local account: its email's and the account's failures forgotten.
    pub async fn clear_account(&self, user: &User) {
        self.clear_keys(&account_keys(user)).await;
    }

    /// Forgets the failures counted under these limiter keys.
    pub async fn clear_keys(&self, keys: &[String]) {
        for key in keys {
            self.logins.clear(key).await;
        }
    }

    /// Applies the clears administrators made since this server started (`latchkey limits
    /// clear` writes an audit row naming the keys, and the invalidation log wakes every
    /// instance): each once. Memory limiters have no other way to hear of them.
    pub async fn apply_clears(&self, store: &auth_store::Store) {
        let rows = match store
            .audit_events_since(
                &[auth_store::AuditEvent::LoginLimitCleared],
                auth_core::Timestamp(self.started.0 - 1_000_000),
                1_000,
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the login-limit clears");
                return;
            }
        };
        let fresh: Vec<auth_store::AuditEntry> = {
            let mut applied = self
                .applied_clears
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            rows.into_iter().filter(|r| applied.insert(r.id)).collect()
        };
        for row in fresh {
            let keys: Vec<String> = row.detail["keys"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            tracing::info!(
                keys = keys.len(),
                "forgetting failed logins an administrator cleared"
            );
            self.clear_keys(&keys).await;
        }
    }

    /// The longest window of the login limit (how long a refusal can last).
    pub fn login_window(&self) -> Duration {
        self.by_username.longest_window()
    }

    /// How long the login name `name` stays refused from now, as this server's limiter (Redis
    /// when shared) counts it; `None` when a login of it would be let through.
    pub async fn login_block(&self, name: &str) -> Option<Duration> {
        if !self.authenticate_enabled || self.by_username.0.is_empty() {
            return None;
        }
        let d = self.logins.peek(&login_key(name), &self.by_username).await;
        (!d.allowed).then(|| d.retry_after.unwrap_or_default())
    }

    /// Whether a refusal of this name should be audited now (the first in a minute).
    pub fn first_refusal(&self, name: &str) -> bool {
        let key = fold_login_name(name);
        if self.audited_refusals.contains_key(&key) {
            return false;
        }
        self.audited_refusals.insert(key, ());
        true
    }
}

/// The name the login limit counts under. Zulip uses the username exactly as typed, so
/// `Hamlet@…` and `hamlet@…` had separate budgets for one account; Latchkey folds case, width
/// and compatibility forms (NFKC) and surrounding space, and with an LDAP append domain counts
/// `hamlet` and `hamlet@<domain>` together. Spellings this cannot catch (quotes the username
/// translation strips, say) are caught by the resolved identity ([`LoginGuard`]).
pub fn login_name(username: &str, append_domain: Option<&str>) -> String {
    let name = fold_login_name(username);
    match append_domain {
        Some(domain) if !name.contains('@') => format!("{name}@{}", fold_login_name(domain)),
        _ => name,
    }
}

/// The limiter keys of a local account: its email's and the account's own.
pub fn account_keys(user: &User) -> Vec<String> {
    vec![
        login_key(&user.delivery_email),
        identity_key(BackendKind::Email, &auth_email::limit_identity(user.id)),
    ]
}

/// The limiter key of a login name (see [`login_name`]).
pub fn name_key(name: &str) -> String {
    login_key(name)
}

/// The limiter key of an identity a backend resolved.
pub fn identity_key(backend: BackendKind, identity: &str) -> String {
    format!("authenticate_by_identity:{backend}:{identity}")
}

fn login_key(username: &str) -> String {
    format!("authenticate_by_username:{}", fold_login_name(username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_fold_case_and_the_append_domain() {
        assert_eq!(login_name(" Hamlet@Zulip.COM ", None), "hamlet@zulip.com");
        assert_eq!(login_name("Hamlet", Some("Zulip.com")), "hamlet@zulip.com");
        assert_eq!(
            login_name("hamlet@zulip.com", Some("zulip.com")),
            "hamlet@zulip.com"
        );
        assert_eq!(login_name("hamlet", None), "hamlet");
        assert_eq!(
            login_name("ｈａｍｌｅｔ", Some("zulip.com")),
            "hamlet@zulip.com"
        );
        assert_eq!(login_name("𝐡𝐚𝐦𝐥𝐞𝐭@zulip.com", None), "hamlet@zulip.com");
    }

    fn limits_behind(proxy: &str) -> Limits {
        Limits::new(&LimitOptions::default(), &[proxy.parse().unwrap()])
    }

    #[test]
    fn every_forwarded_for_line_is_read_and_garbage_stops_the_walk() {
        let limits = limits_behind("10.0.0.1");
        let from_proxy = Some("10.0.0.1".parse().unwrap());
        let ip = |values: &[&str]| {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            limits.client_ip(from_proxy, &values).unwrap().to_string()
        };
        // Two lines (the proxy appended its own after the client's chosen one), joined in order.
        assert_eq!(ip(&["6.6.6.6", "203.0.113.7"]), "203.0.113.7");
        assert_eq!(ip(&["6.6.6.6", "203.0.113.7", "10.0.0.1"]), "203.0.113.7");
        // An entry that does not parse is not skipped: the walk stops at the last trusted hop.
        assert_eq!(ip(&["203.0.113.7", "junk"]), "10.0.0.1");
        assert_eq!(ip(&["junk", "203.0.113.7"]), "203.0.113.7");
        assert_eq!(ip(&[]), "10.0.0.1");
        // Not from a trusted proxy: the peer, whatever the header says.
        let direct = limits.client_ip(
            Some("192.0.2.9".parse().unwrap()),
            &["203.0.113.7".to_string()],
        );
        assert_eq!(direct.unwrap().to_string(), "192.0.2.9");
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_eq!(
            ip_key("::ffff:10.0.0.1".parse().unwrap()),
            "api_by_ip:10.0.0.1"
        );
        assert_eq!(ip_key("10.0.0.1".parse().unwrap()), "api_by_ip:10.0.0.1");
    }

    /// In memory mode the stores hold a bounded number of keys; a flood of distinct client
    /// addresses (more than that bound) must not evict a username's recorded failures.
    #[tokio::test]
    async fn an_ip_flood_does_not_erase_login_failures() {
        let options = LimitOptions {
            enabled: true,
            authenticate_enabled: true,
            by_username: "3600:2".parse().unwrap(),
            by_ip: "3600:1000".parse().unwrap(),
            ..LimitOptions::default()
        };
        let limits = Limits::new(&options, &[]);
        let failed = auth_core::ChainOutcome {
            result: Err(auth_core::AuthFailure::BadCredentials),
            credentials_rejected: true,
            person_found: true,
            explanation: None,
            tried: None,
        };
        for _ in 0..2 {
            let (ticket, _) = limits.begin_login("hamlet@zulip.com").await.unwrap();
            limits.end_login(ticket, limits.guard(), &failed).await;
        }
        let capacity = auth_ratelimit::LimiterConfig::default().memory_capacity as u32;
        for n in 0..capacity + capacity / 5 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            limits.check_ip(Some(ip.into())).await.unwrap();
        }
        assert!(
            limits.begin_login("hamlet@zulip.com").await.is_err(),
            "the third failed login within the window is refused"
        );
    }
}
