//! The `latchkey` binary as an administrator uses it: init, config check, realm and user
//! commands (each audited), and `serve` answering the README's walk-through. This module holds
//! the helpers that run the binary on a test database.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use latchkey_tests::{TestDb, latchkey_bin};

mod admin;
mod config_check;
mod reload;
mod serve;

fn latchkey(dir: &Path, db: &TestDb, args: &[&str]) -> Output {
    latchkey_with_stdin(dir, db, args, None)
}

fn latchkey_with_stdin(dir: &Path, db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(latchkey_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("LATCHKEY_CONFIG")
        .env("LATCHKEY__DATABASE__URL", db.url())
        .env("LATCHKEY__AUTH__BCRYPT_COST", "4")
        .env("LATCHKEY__SERVER__EXTERNAL_HOST", "example.test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn latchkey");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("latchkey output")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
