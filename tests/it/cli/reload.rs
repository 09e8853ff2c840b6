//! `SIGHUP` on `latchkey serve`: the log filter changes at once; other changed settings are
//! named as waiting for a restart; a configuration that no longer loads is refused and the
//! server keeps serving.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latchkey_tests::{DbKind, TestDb, latchkey_bin};

use super::free_port;

fn hup(pid: u32) {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// Waits (at most 20 s) until the log file holds `needle`; the log so far.
fn wait_for_log(path: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) || Instant::now() > deadline {
            assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get_health(client: &reqwest::blocking::Client, port: u16) -> u16 {
    let url = format!("http://localhost:{port}/health");
    client
        .get(url)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[test]
fn sighup_applies_the_log_filter_and_names_what_needs_a_restart() {
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let dir = db.dir();
    let port = free_port();
    let config = dir.join("latchkey.toml");
    let write = |filter: &str, extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\nexternal_host = \"localhost:{port}\"\n\
                 [database]\nurl = \"{}\"\n[logging]\nformat = \"json\"\nfilter = \"{filter}\"\n{extra}",
                db.url()
            ),
        )
        .unwrap();
    };
    write("info", "");
    let log_path = dir.join("serve.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(latchkey_bin())
        .args(["--config", "latchkey.toml", "serve"])
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let pid = server.id();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_health(&client, port) != 200 {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A quieter filter and a setting that needs a restart.
    write("warn", "[auth]\nbcrypt_cost = 13\n");
    hup(pid);
    let log = wait_for_log(&log_path, "these settings changed");
    assert!(log.contains("logging.filter"), "{log}");
    assert!(log.contains("auth.bcrypt_cost"), "{log}");
    let before = log.len();
    // Under "warn" a request writes no request line.
    assert_eq!(get_health(&client, port), 200);

    // A file that no longer loads: refused, still serving.
    std::fs::write(&config, "[server]\nbnd = \"typo\"\n").unwrap();
    hup(pid);
    let log = wait_for_log(&log_path, "the configuration does not load");
    assert_eq!(get_health(&client, port), 200);

    // Back to "info": request lines again.
    write("info", "");
    hup(pid);
    wait_for_log(&log_path, r#"\"warn\" -> \"info\""#);
    assert_eq!(get_health(&client, port), 200);
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    let full = std::fs::read_to_string(&log_path).unwrap();
    let quiet_part = &full[before..log.len()];
    assert!(
        !quiet_part.contains("latchkey::request"),
        "a request line under the warn filter:\n{quiet_part}"
    );
    assert!(
        full[log.len()..].contains("latchkey::request"),
        "no request line after going back to info:\n{full}"
    );
}
