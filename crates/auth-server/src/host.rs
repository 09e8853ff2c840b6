//! Which realm a request is for: Zulip's `get_subdomain`, from the Host header, and the realm URL
//! that goes with a subdomain.

use crate::config::ServerSettings;

/// Strips one `:digits` suffix, if present.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The subdomain a Host header names: the part before `.<external_host>` (optionally followed by
/// a port), `""` for the root domain, its aliases and any host Latchkey does not recognise.
pub fn subdomain_for_host(host: &str, server: &ServerSettings) -> String {
    let host = host.trim().to_ascii_lowercase();
    let external = server.external_host.to_ascii_lowercase();
    let suffix = format!(".{external}");
    let prefix = if let Some(p) = host.strip_suffix(&suffix) {
        Some(p)
    } else {
        strip_port(&host).strip_suffix(&suffix)
    };
    if let Some(sub) = prefix {
        if server.root_subdomain_aliases.iter().any(|a| a == sub) {
            return String::new();
        }
        return sub.to_owned();
    }
    for (sub, realm_host) in &server.realm_hosts {
        let realm_host = realm_host.to_ascii_lowercase();
        if host == realm_host || strip_port(&host) == realm_host {
            return sub.clone();
        }
    }
    String::new()
}

/// The organization URL for a subdomain, as `realm_uri`/`realm_url` report it.
pub fn realm_url(subdomain: &str, server: &ServerSettings) -> String {
    format!(
        "{}://{}",
        server.external_scheme,
        realm_host(subdomain, server)
    )
}

/// The host part of a realm's URL (no scheme, no port): the domain bot emails are made under.
pub fn realm_host_name(subdomain: &str, server: &ServerSettings) -> String {
    strip_port(&realm_host(subdomain, server)).to_owned()
}

/// A realm's host with its port, if any: its own host name, or the subdomain under the
/// external host.
fn realm_host(subdomain: &str, server: &ServerSettings) -> String {
    match server.realm_hosts.get(subdomain) {
        Some(host) => host.clone(),
        None if subdomain.is_empty() => server.external_host.clone(),
        None => format!("{subdomain}.{}", server.external_host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(external: &str) -> ServerSettings {
        let mut s = ServerSettings {
            external_host: external.into(),
            ..ServerSettings::default()
        };
        s.realm_hosts
            .insert("special".into(), "chat.other.test".into());
        s
    }

    #[test]
    fn subdomains() {
        let s = server("example.test");
        assert_eq!(subdomain_for_host("zulip.example.test", &s), "zulip");
        assert_eq!(subdomain_for_host("ZULIP.Example.Test", &s), "zulip");
        assert_eq!(subdomain_for_host("zulip.example.test:9991", &s), "zulip");
        assert_eq!(subdomain_for_host("example.test", &s), "");
        assert_eq!(subdomain_for_host("www.example.test", &s), "");
        assert_eq!(subdomain_for_host("nope.example.test", &s), "nope");
        assert_eq!(subdomain_for_host("elsewhere.test", &s), "");
        assert_eq!(subdomain_for_host("chat.other.test:443", &s), "special");
        assert_eq!(subdomain_for_host("", &s), "");
    }

    #[test]
    fn external_host_with_port() {
        let s = server("localhost:9991");
        assert_eq!(subdomain_for_host("localhost:9991", &s), "");
        assert_eq!(subdomain_for_host("zulip.localhost:9991", &s), "zulip");
        assert_eq!(subdomain_for_host("127.0.0.1:9991", &s), "");
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
