//! Loading: files, the environment, the accepted forms, and every problem listed at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auth_core::{BackendKind, SecretString};
use auth_ratelimit::Rules;

use super::super::{DatabaseUrl, ExternalScheme, LogFormat, Secret, Settings};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_file(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latchkey.toml");
    std::fs::write(&path, toml).unwrap();
    (dir, path)
}

fn problems_of(toml: &str, vars: &[(&str, &str)]) -> String {
    let (_dir, path) = with_file(toml);
    match Settings::load_with_env(Some(&path), env(vars)) {
        Ok(s) => s.problems().join("\n"),
        Err(e) => e.to_string(),
    }
}

fn rules(pairs: &[(u64, u32)]) -> Rules {
    Rules::from_pairs(pairs).unwrap()
}

#[test]
fn defaults_are_valid() {
    let s = Settings::load_with_env(None, env(&[])).unwrap();
    assert_eq!(s.problems(), Vec::<String>::new());
    assert_eq!(s.auth.bcrypt_cost, 12);
}

#[test]
fn environment_overrides() {
    let s = Settings::load_with_env(
        None,
        env(&[
            ("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test"),
            ("LATCHKEY__SERVER__BIND", "0.0.0.0:80"),
            ("LATCHKEY__AUTH__BCRYPT_COST", "5"),
            ("LATCHKEY__AUTH__BACKENDS", "email,dev"),
            ("LATCHKEY__DEVELOPMENT__ENABLED", "true"),
            ("LATCHKEY__CACHE__TTL_SECS", "2m"),
            ("LATCHKEY__REDIS__TIMEOUT_MS", "100"),
            ("LATCHKEY__LOGGING__FORMAT", "json"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.external_host, "example.test");
    assert_eq!(s.server.bind, SocketAddr::from(([0, 0, 0, 0], 80)));
    assert_eq!(s.auth.bcrypt_cost, 5);
    assert_eq!(s.auth.backends, [BackendKind::Email, BackendKind::Dev]);
    assert!(s.development.enabled);
    assert_eq!(s.cache.ttl_secs, Duration::from_secs(120));
    assert_eq!(s.redis.timeout_ms, Duration::from_millis(100));
    assert_eq!(s.logging.format, LogFormat::Json);
}

#[test]
fn rate_limit_rules_from_text() {
    let s = Settings::load_with_env(
        None,
        env(&[
            ("LATCHKEY__RATE_LIMITS__AUTHENTICATE_BY_USERNAME", "10:2"),
            ("LATCHKEY__RATE_LIMITS__API_BY_USER", "60:5,3600:100"),
        ]),
    )
    .unwrap();
    assert_eq!(s.rate_limits.authenticate_by_username, rules(&[(10, 2)]));
    assert_eq!(s.rate_limits.api_by_user, rules(&[(60, 5), (3600, 100)]));
    assert_eq!(s.rate_limits.api_by_ip, rules(&[(60, 100)]));
    let err = Settings::load_with_env(None, env(&[("LATCHKEY__RATE_LIMITS__API_BY_IP", "sixty")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "rate_limits.api_by_ip: rate-limit rule \"sixty\" (item 1) is not SECONDS:COUNT"
        ),
        "{err}"
    );
}

#[test]
fn every_accepted_form_of_existing_files_still_reads() {
    let (_dir, path) = with_file(
        "[server]\nbind = \"[::1]:9991\"\nexternal_scheme = \"https\"\ntrusted_proxies = [\"10.0.0.1\", \"::1\"]\n\
         [database]\nconnect_timeout_secs = \"7\"\n\
         [cache]\nttl_secs = 30\nnegative_ttl_secs = 0\npoll_interval_ms = 500\n\
         [ldap]\nconnect_timeout_secs = 5\noperation_timeout_secs = 10.0\nbind_dn = \"\"\n\
         [rate_limits]\nauthenticate_by_username = [[1800, 5]]\napi_by_user = [\"60:5\", \"3600:50\"]\n\
         api_by_ip = \"10:2, 60:5\"\n",
    );
    let s = Settings::load_with_env(Some(&path), env(&[])).unwrap();
    assert_eq!(s.server.bind.to_string(), "[::1]:9991");
    assert_eq!(s.server.external_scheme, ExternalScheme::Https);
    assert_eq!(s.server.trusted_proxies.len(), 2);
    assert_eq!(s.database.connect_timeout_secs, Duration::from_secs(7));
    assert_eq!(s.cache.negative_ttl_secs, Duration::ZERO);
    assert_eq!(s.ldap.connect_timeout_secs, Duration::from_secs(5));
    assert_eq!(s.ldap.bind_dn, None);
    assert_eq!(s.rate_limits.api_by_user, rules(&[(60, 5), (3600, 50)]));
    assert_eq!(s.rate_limits.api_by_ip, rules(&[(10, 2), (60, 5)]));
    assert_eq!(s.problems(), Vec::<String>::new());
}

#[test]
fn durations_and_rules_in_the_new_forms() {
    let (_dir, path) = with_file(
        "[database]\nconnect_timeout_secs = \"1m 30s\"\n[cache]\nttl_secs = \"5m\"\npoll_interval_ms = \"1s\"\n\
         [rate_limits]\napi_by_ip = [[60, 5], \"3600:50\"]\n",
    );
    let s = Settings::load_with_env(Some(&path), env(&[])).unwrap();
    assert_eq!(s.database.connect_timeout_secs, Duration::from_secs(90));
    assert_eq!(s.cache.ttl_secs, Duration::from_secs(300));
    assert_eq!(s.cache.poll_interval_ms, Duration::from_secs(1));
    assert_eq!(s.rate_limits.api_by_ip, rules(&[(60, 5), (3600, 50)]));
    let shown = s.to_masked_toml();
    assert!(shown.contains("ttl_secs = 300\n"), "{shown}");
    assert!(shown.contains("poll_interval_ms = 1000\n"), "{shown}");
    let table: toml::Table = shown.parse().unwrap();
    assert_eq!(
        table["rate_limits"]["api_by_ip"].to_string(),
        "[[60, 5], [3600, 50]]"
    );
}

#[test]
fn every_problem_is_listed_with_its_key() {
    let text = problems_of(
        "[server]\nbind = \"localhost\"\nexternal_scheme = \"ftp\"\nbnd = 1\ntrusted_proxies = [\"proxy\"]\n\
         [auth]\nbackends = [\"email\", \"kerberos\", \"dev\"]\nbcrypt_cost = 2\n\
         [logging]\nformat = \"xml\"\n\
         [cache]\nttl_secs = \"soon\"\npoll_interval_ms = 0\n\
         [ldap]\nuser_search_scope = \"base\"\n\
         [rate_limits]\napi_by_ip = [[0, 5]]\napi_by_user = \"60:0\"\n",
        &[("LATCHKEY__REDIS__TIMEOUT_MS", "-5")],
    );
    for expected in [
        "server.bind: \"localhost\" is not an address like 127.0.0.1:9991",
        "server.external_scheme: \"ftp\" is not a URL scheme: use \"http\" or \"https\"",
        "server.bnd: unknown field `bnd`",
        "under [server]",
        "server.trusted_proxies: \"proxy\" is not an IP address",
        "auth.backends: unknown backend \"kerberos\" (known: email, ldap, dev)",
        // The rest of the list is still checked.
        "auth.backends: the dev backend logs anyone in without a password",
        "auth.bcrypt_cost = 2 must be between 4 and 31",
        "logging.format: \"xml\" is not a log format: use \"human\" or \"json\"",
        "cache.ttl_secs: \"soon\" is not a duration",
        "cache.poll_interval_ms must be positive",
        "ldap.user_search_scope: \"base\" is not a search scope",
        "rate_limits.api_by_ip: rate-limit rule window must be between 1 ms and 366 days",
        "rate_limits.api_by_user: rate-limit rule maximum must be at least 1",
        "redis.timeout_ms: -5 is not a duration: it must not be negative",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.starts_with("invalid configuration:\n  - "), "{text}");
    // A dropped value's default is not blamed: cache.ttl_secs is not "must be positive".
    assert!(!text.contains("cache.ttl_secs must be positive"), "{text}");
}

#[test]
fn an_unknown_key_says_where_it_was_set() {
    let err = problems_of("", &[("LATCHKEY__LDAP__BIND_DNN", "x")]);
    assert!(
        err.contains("ldap.bind_dnn: unknown field `bind_dnn`")
            && err.contains("set by the environment variable LATCHKEY__LDAP__BIND_DNN"),
        "{err}"
    );
    let err = problems_of("[ldap.sync]\nevery = 1\n[servr]\nbind = 1\n", &[]);
    assert!(
        err.contains("ldap.sync.every: unknown field `every`"),
        "{err}"
    );
    assert!(err.contains("under [ldap.sync]"), "{err}");
    assert!(err.contains("servr: unknown field `servr`"), "{err}");
}

#[test]
fn file_then_env() {
    let (dir, path) =
        with_file("[server]\nexternal_host = \"file.test\"\n[auth]\nbcrypt_cost = 6\n");
    let s =
        Settings::load_with_env(Some(&path), env(&[("LATCHKEY__AUTH__BCRYPT_COST", "7")])).unwrap();
    assert_eq!(s.server.external_host, "file.test");
    assert_eq!(s.auth.bcrypt_cost, 7);
    std::fs::write(&path, "[server]\nno_such_key = 1\n").unwrap();
    assert!(Settings::load_with_env(Some(&path), env(&[])).is_err());
    std::fs::write(&path, "[server\n").unwrap();
    let err = Settings::load_with_env(Some(&path), env(&[])).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot load configuration"),
        "{err}"
    );
    assert!(Settings::load_with_env(Some(&dir.path().join("missing.toml")), env(&[])).is_err());
}

#[test]
fn secrets_are_masked() {
    let mut s = Settings::default();
    s.secrets.server_secret = Secret(SecretString::new("x".repeat(40)));
    s.database.url = DatabaseUrl(SecretString::new("postgres://lk:hunter2@db/lk"));
    let text = s.to_masked_toml();
    assert!(!text.contains("xxxx"));
    assert!(!text.contains("hunter2"));
    assert!(text.contains("postgres://lk:********@db/lk"));
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn example_config_lists_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/latchkey.example.toml");
    let loaded = Settings::load_with_env(Some(&example), env(&[])).unwrap();
    assert_eq!(
        loaded.to_masked_toml(),
        Settings::default().to_masked_toml()
    );
}
