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
