//! Which realm a request is for: Zulip's `get_subdomain`, from the Host header, and the realm URL
//! that goes with a subdomain.

use std::collections::BTreeMap;

/// How this server's host names map to realms.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    /// The root domain, with its port when not the scheme's default (`localhost:9991`);
    /// realms live under it as `<subdomain>.<external_host>`.
    pub external_host: String,
    /// `http` or `https`, for realm URLs.
    pub external_scheme: String,
    /// Subdomains that mean the root domain (`www`).
    pub root_subdomain_aliases: Vec<String>,
    /// Realms served on a host of their own: subdomain → host.
    pub realm_hosts: BTreeMap<String, String>,
    /// Login portals for other apps (`[[portal.cookie]]`): the portal's host (with its port,
    /// if any) → the subdomain of the realm whose login page it serves. Checked first.
    pub portal_hosts: BTreeMap<String, String>,
}

/// Strips one `:digits` suffix, if present.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A Host (or forwarded host) value that names no host: a bad port, an empty label, a character
/// no host name has. Answered 400, never served as the root realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid Host header")]
pub struct MalformedHost;

/// A host value checked and split: the lower-cased name without its one optional trailing dot,
/// and the port when one was given.
fn parse_host(raw: &str) -> Result<(String, Option<u16>), MalformedHost> {
    let raw = raw.trim().to_ascii_lowercase();
    let (name, port) = if let Some(rest) = raw.strip_prefix('[') {
        // An IPv6 literal, `[…]` with an optional port.
        let (addr, after) = rest.split_once(']').ok_or(MalformedHost)?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| MalformedHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(MalformedHost)?),
        };
        (format!("[{addr}]"), port)
    } else {
        match raw.split_once(':') {
            Some((name, port)) => (name.to_owned(), Some(port)),
            None => (raw.clone(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MalformedHost);
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(MalformedHost),
            }
        }
    };
    if name.starts_with('[') {
        return Ok((name, port));
    }
    // One trailing dot is the fully-qualified spelling of the same name.
    let name = name.strip_suffix('.').unwrap_or(&name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(MalformedHost);
    }
    Ok((name.to_owned(), port))
}

/// The subdomain a Host header names: the part before `.<external_host>` (optionally followed
/// by a port), `""` for the root domain and its aliases, `None` for a host Latchkey does not
/// recognise (which Zulip, and Latchkey's API routes, serve as the root realm; forward-auth
/// refuses it). An empty value (HTTP/1.0 without Host) is the root domain.
pub fn subdomain_for_host(host: &str, server: &Hosts) -> Result<Option<String>, MalformedHost> {
    if host.trim().is_empty() {
        return Ok(Some(String::new()));
    }
    let (name, port) = parse_host(host)?;
    let with_port = match port {
        Some(p) => format!("{name}:{p}"),
        None => name.clone(),
    };
    for (portal_host, sub) in &server.portal_hosts {
        let portal_host = portal_host.to_ascii_lowercase();
        if with_port == portal_host || name == strip_port(&portal_host) {
            return Ok(Some(sub.clone()));
        }
    }
    let external = server.external_host.to_ascii_lowercase();
    if with_port == external || name == external || name == strip_port(&external) {
        return Ok(Some(String::new()));
    }
    let suffix = format!(".{external}");
    let bare_suffix = format!(".{}", strip_port(&external));
    let prefix = with_port
        .strip_suffix(&suffix)
        .or_else(|| name.strip_suffix(&suffix))
        .or_else(|| name.strip_suffix(&bare_suffix));
    if let Some(sub) = prefix {
        if server.root_subdomain_aliases.iter().any(|a| a == sub) {
            return Ok(Some(String::new()));
        }
        return Ok(Some(sub.to_owned()));
    }
    for (sub, realm_host) in &server.realm_hosts {
        let realm_host = realm_host.to_ascii_lowercase();
        if with_port == realm_host || name == strip_port(&realm_host) {
            return Ok(Some(sub.clone()));
        }
    }
    Ok(None)
}

/// The organization URL for a subdomain, as `realm_uri`/`realm_url` report it.
pub fn realm_url(subdomain: &str, server: &Hosts) -> String {
    format!(
        "{}://{}",
        server.external_scheme,
        realm_host(subdomain, server)
    )
}

/// The host part of a realm's URL (no scheme, no port): the domain bot emails are made under.
pub fn realm_host_name(subdomain: &str, server: &Hosts) -> String {
    strip_port(&realm_host(subdomain, server)).to_owned()
}

/// A realm's host with its port, if any: its own host name, or the subdomain under the
/// external host.
fn realm_host(subdomain: &str, server: &Hosts) -> String {
    match server.realm_hosts.get(subdomain) {
        Some(host) => host.clone(),
        None if subdomain.is_empty() => server.external_host.clone(),
        None => format!("{subdomain}.{}", server.external_host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(external: &str) -> Hosts {
        let mut s = Hosts {
            external_host: external.into(),
            external_scheme: "http".into(),
            root_subdomain_aliases: vec!["www".into()],
            ..Hosts::default()
        };
        s.realm_hosts
            .insert("special".into(), "chat.other.test".into());
        s
    }

    fn sub(host: &str, s: &Hosts) -> Option<String> {
        subdomain_for_host(host, s).unwrap()
    }

    #[test]
    fn subdomains() {
        let s = server("example.test");
        let named = |n: &str| Some(n.to_owned());
        assert_eq!(sub("zulip.example.test", &s), named("zulip"));
        assert_eq!(sub("ZULIP.Example.Test", &s), named("zulip"));
        assert_eq!(sub("zulip.example.test:9991", &s), named("zulip"));
        assert_eq!(sub("zulip.example.test.", &s), named("zulip"));
        assert_eq!(sub("zulip.example.test.:443", &s), named("zulip"));
        assert_eq!(sub("example.test", &s), named(""));
        assert_eq!(sub("example.test.", &s), named(""));
        assert_eq!(sub("www.example.test", &s), named(""));
        assert_eq!(sub("nope.example.test", &s), named("nope"));
        assert_eq!(sub("elsewhere.test", &s), None);
        assert_eq!(sub("127.0.0.1:9991", &s), None);
        assert_eq!(sub("[::1]:9991", &s), None);
        assert_eq!(sub("chat.other.test:443", &s), named("special"));
        assert_eq!(sub("", &s), named(""));
    }

    #[test]
    fn a_portal_host_serves_its_realm() {
        let mut s = server("example.test");
        s.portal_hosts
            .insert("auth.example.test:8443".into(), "zulip".into());
        assert_eq!(sub("auth.example.test:8443", &s), Some("zulip".into()));
        assert_eq!(sub("AUTH.example.test", &s), Some("zulip".into()));
        assert_eq!(sub("app.example.test", &s), Some("app".into()));
        assert_eq!(realm_url("zulip", &s), "http://zulip.example.test");
    }

    #[test]
    fn malformed_hosts_are_refused() {
        let s = server("example.test");
        for bad in [
            "zulip.example.test:x",
            "zulip.example.test:",
            "zulip.example.test:0",
            "zulip.example.test:65536",
            "zulip.example.test:123456",
            "ZULIP.example.test..",
            ".example.test",
            "zulip..example.test",
            "zulip.example.test:80:80",
            "zu lip.example.test",
            "zulip.example.test/x",
            "user@zulip.example.test",
            "[::1",
            "[nope]:80",
            "zulip\u{1b}.example.test",
        ] {
            assert_eq!(subdomain_for_host(bad, &s), Err(MalformedHost), "{bad:?}");
        }
    }

    #[test]
    fn external_host_with_port() {
        let s = server("localhost:9991");
        assert_eq!(sub("localhost:9991", &s), Some(String::new()));
        assert_eq!(sub("zulip.localhost:9991", &s), Some("zulip".into()));
        assert_eq!(sub("zulip.localhost", &s), Some("zulip".into()));
        assert_eq!(sub("127.0.0.1:9991", &s), None);
    }

    #[test]
    fn urls() {
        let s = server("example.test");
        assert_eq!(realm_url("", &s), "http://example.test");
        assert_eq!(realm_url("zulip", &s), "http://zulip.example.test");
        assert_eq!(realm_url("special", &s), "http://chat.other.test");
        assert_eq!(
            realm_host_name("zulip", &server("localhost:9991")),
            "zulip.localhost"
        );
    }
}
