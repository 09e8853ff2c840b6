//! `latchkey config check`: the configuration it prints has every secret masked, and a bad
//! file (an unknown backend, a bcrypt cost too low, a misspelt key) or a misspelt environment
//! variable is refused with a message naming it.

use std::process::Command;

use latchkey_tests::{DbKind, TestDb, latchkey_bin};

use super::{fails, ok};

#[test]
fn config_check_prints_masked_config_and_rejects_bad_ones() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    let out = Command::new(latchkey_bin())
        .args(["config", "check"])
        .current_dir(&dir)
        .env(
            "LATCHKEY__SECRETS__SERVER_SECRET",
            "a-very-secret-value-that-is-long-enough-123",
        )
        .env(
            "LATCHKEY__DATABASE__URL",
            "postgres://lk:hunter2@127.0.0.1/lk",
        )
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.contains("[server]") && text.contains("bcrypt_cost = 12"),
        "{text}"
    );
    assert!(
        !text.contains("a-very-secret") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(
        text.contains("postgres://lk:********@127.0.0.1/lk"),
        "{text}"
    );

    std::fs::write(
        dir.join("bad.toml"),
        "[auth]\nbackends = [\"email\", \"kerberos\"]\nbcrypt_cost = 2\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "bad.toml", "config", "check"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("kerberos") && err.contains("bcrypt_cost"),
        "{err}"
    );

    std::fs::write(dir.join("typo.toml"), "[server]\nbnd = \"x\"\n").unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "typo.toml", "config", "check"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("bnd") && err.contains("typo.toml under [server]"),
        "{err}"
    );
    let out = Command::new(latchkey_bin())
        .args(["config", "check"])
        .current_dir(&dir)
        .env("LATCHKEY__LDAP__BIND_DNN", "x")
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("bind_dnn") && err.contains("environment variable LATCHKEY__LDAP__BIND_DNN"),
        "{err}"
    );
}

/// Durations as text and rate-limit rules as Zulip text are read; a configuration with several
/// unreadable values (an unknown mode name among them) lists every one by its key, with the
/// problems of the rest.
#[test]
fn config_check_reads_the_new_forms_and_lists_every_problem() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    std::fs::write(
        dir.join("forms.toml"),
        "[cache]\nttl_secs = \"2m\"\npoll_interval_ms = \"1s\"\n\
         [rate_limits]\napi_by_ip = \"10:2, 60:5\"\napi_by_user = [\"60:5\", [3600, 50]]\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "forms.toml", "config", "check"])
        .current_dir(&dir)
        .env("LATCHKEY__REDIS__TIMEOUT_MS", "500ms")
        .env("LATCHKEY__RATE_LIMITS__AUTHENTICATE_BY_USERNAME", "1800:3")
        .output()
        .unwrap();
    let text = ok(&out);
    for shown in [
        "ttl_secs = 120\n",
        "poll_interval_ms = 1000\n",
        "timeout_ms = 500\n",
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    let shown: toml::Table = text.parse().unwrap();
    let rules = &shown["rate_limits"];
    assert_eq!(rules["api_by_ip"].to_string(), "[[10, 2], [60, 5]]");
    assert_eq!(rules["api_by_user"].to_string(), "[[60, 5], [3600, 50]]");
    assert_eq!(rules["authenticate_by_username"].to_string(), "[[1800, 3]]");

    std::fs::write(
        dir.join("bad.toml"),
        "[server]\nexternal_scheme = \"gopher\"\n[logging]\nformat = \"xml\"\n\
         [cache]\nttl_secs = \"a while\"\n[auth]\nbcrypt_cost = 2\n\
         [rate_limits]\napi_by_ip = \"60:0\"\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "bad.toml", "config", "check"])
        .current_dir(&dir)
        .env("LATCHKEY__LDAP__USER_SEARCH_SCOPE", "base")
        .output()
        .unwrap();
    let err = fails(&out);
    for problem in [
        "server.external_scheme: \"gopher\" is not a URL scheme",
        "logging.format: \"xml\" is not a log format",
        "ldap.user_search_scope: \"base\" is not a search scope",
        "cache.ttl_secs: \"a while\" is not a duration",
        "rate_limits.api_by_ip: rate-limit rule maximum must be at least 1",
        "auth.bcrypt_cost = 2 must be between 4 and 31",
    ] {
        assert!(err.contains(problem), "{problem:?} not in:\n{err}");
    }
}

#[test]
fn config_check_names_bad_portal_keys() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    std::fs::write(
        dir.join("portal.toml"),
        "[secrets]\ngenerate_if_missing = true\n\n[server]\nexternal_scheme = \"https\"\n\n\
         [[portal.cookie]]\ndomain = \"localhost\"\nportal_url = \"http://auth.example.org\"\n\
         realm = \"zulip\"\n\n[[portal.cookie]]\ndomain = \"example.org\"\n\
         portal_url = \"https://auth.example.org\"\nrealm = \"zulip\"\n\
         default_redirect = \"https://evil.test/\"\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "portal.toml", "config", "check"])
        .current_dir(&dir)
        .env_remove("LATCHKEY_CONFIG")
        .output()
        .unwrap();
    let err = fails(&out);
    for key in [
        "portal.cookie[0].domain = \"localhost\"",
        "portal.cookie[0].portal_url = \"http://auth.example.org\" must start with https://",
        "portal.cookie[1].default_redirect = \"https://evil.test/\"",
    ] {
        assert!(err.contains(key), "{key} missing:\n{err}");
    }
    // A good entry passes, and is printed back.
    std::fs::write(
        dir.join("good.toml"),
        "[secrets]\ngenerate_if_missing = true\n\n[server]\nexternal_scheme = \"https\"\n\n\
         [[portal.cookie]]\ndomain = \"example.org\"\nportal_url = \"https://auth.example.org\"\n\
         realm = \"zulip\"\n",
    )
    .unwrap();
    let out = Command::new(latchkey_bin())
        .args(["--config", "good.toml", "config", "check"])
        .current_dir(&dir)
        .env_remove("LATCHKEY_CONFIG")
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("[[portal.cookie]]"), "{text}");
}
