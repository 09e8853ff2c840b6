//! The SQLite data files are private (security review, issue 8 point 8): under umask 022 the
//! `latchkey` binary creates its data directory 0700 and the database, `-wal` and `-shm` files
//! 0600, and it warns at start about an existing database that group or others can read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use latchkey_tests::latchkey_bin;
use latchkey_tests::process::{NotReady, ServerProcess, free_port, run_with_timeout};

const DB: &str = "data/latchkey.sqlite3";
const WARNING: &str = "readable by group or others";

/// `latchkey ARGS` in `dir` under umask 022, on the default database (`sqlite://data/…`).
fn latchkey_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"umask 022 && : > umask-probe && exec "$0" "$@""#)
        .arg(latchkey_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("LATCHKEY_CONFIG")
        .env_remove("LATCHKEY__DATABASE__URL")
        .env("LATCHKEY__AUTH__BCRYPT_COST", "4")
        .env("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = run_with_timeout(&mut latchkey_cmd(dir, args), None, Duration::from_secs(60))
        .expect("run latchkey");
    assert!(
        out.status.success(),
        "latchkey {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn data_directory_and_database_files_are_private_under_umask_022() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    run(dir, &["init"]);
    // The umask did apply: an ordinary file is world-readable.
    assert_eq!(mode(&dir.join("umask-probe")), 0o644);
    assert_eq!(mode(&dir.join("data")), 0o700, "data directory");
    assert_eq!(mode(&dir.join(DB)), 0o600, "database");
    assert_eq!(mode(&dir.join("data/secret.key")), 0o600, "secret");

    // -wal and -shm exist while a server has the database open.
    let port = free_port().expect("port");
    let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
    let mut cmd = latchkey_cmd(dir, &["serve", "--bind", &format!("127.0.0.1:{port}")]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    let mut server = ServerProcess::spawn(&mut cmd, "latchkey").expect("spawn latchkey serve");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let health = format!("http://127.0.0.1:{port}/health");
    let ready = server.wait_ready(
        Instant::now() + Duration::from_secs(30),
        Duration::from_millis(100),
        || match client.get(&health).send() {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(anyhow::anyhow!("status {}", r.status())),
            Err(e) => Err(e.into()),
        },
    );
    let log_text = || std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    match ready {
        Ok(()) => {}
        Err(NotReady::Exited(s)) => panic!("latchkey serve exited ({s}): {}", log_text()),
        Err(NotReady::TimedOut(e)) => panic!("latchkey serve not ready ({e}): {}", log_text()),
    }
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.join(format!("{DB}{suffix}"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    drop(server);
    assert!(!log_text().contains(WARNING), "{}", log_text());
}

#[test]
fn an_existing_database_readable_by_others_is_reported_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    run(dir, &["init"]);
    let quiet = run(dir, &["realm", "list"]);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains(WARNING), "{stderr}");

    let db = dir.join(DB);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let loud = run(dir, &["realm", "list"]);
    let stderr = String::from_utf8_lossy(&loud.stderr);
    assert!(stderr.contains(WARNING), "{stderr}");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("latchkey.sqlite3"), "{stderr}");
    // Reported, not changed behind the administrator's back.
    assert_eq!(mode(&db), 0o644);
}
