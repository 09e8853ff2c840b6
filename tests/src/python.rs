//! Real Python clients for the client smoke tests (spec §12.9): the `zulip` bindings
//! (python-zulip-api, pinned in `tests/python/requirements.txt`) in a virtualenv outside the
//! repository, which `tests/python/install.sh` creates.
//!
//! - [`venv_dir`] / [`venv_python`]: where the venv is (`LATCHKEY_PY_VENV`, default
//!   `$HOME/.cache/latchkey/py-venv`, the same path `install.sh` uses).
//! - [`run_python`]: runs Python source with the venv's interpreter, bounded by a timeout, with a
//!   clean client environment.
//! - [`write_zuliprc`]: a zuliprc as the spec's §11 describes it.
//!
//! Blocking: call from a plain `#[test]` or via `tokio::task::spawn_blocking` — a script that
//! talks to a test server running on the same tokio runtime must not block that runtime's threads.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::process::run_with_timeout;

/// Default bound of [`run_python`].
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables python-zulip-api reads (they override a zuliprc, spec §11) and proxy
/// variables `requests` honours: removed from the inherited environment of every script, so a
/// developer's own settings cannot leak into a test. Pass them in `env` to set them.
pub const SCRUBBED_ENV: &[&str] = &[
    "ZULIP_CONFIG",
    "ZULIP_API_KEY",
    "ZULIP_EMAIL",
    "ZULIP_SITE",
    "ZULIP_CERT",
    "ZULIP_CERT_KEY",
    "ZULIP_CERT_BUNDLE",
    "ZULIP_ALLOW_INSECURE",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
];

/// Python source that makes `example.test` and every `*.example.test` (the harness's
/// [`crate::EXTERNAL_HOST`]) resolve to 127.0.0.1 inside the script, by wrapping
/// `socket.getaddrinfo` — nothing outside the process changes. With it a client can be given the
/// realm's real URL, e.g. `site=http://zulip.example.test:PORT`, and sends the matching Host
/// header, so the server picks the realm as it would in production. Prepend it to a script:
/// [`with_loopback_resolver`].
pub const LOOPBACK_RESOLVER: &str = r#"
import socket as _lk_socket
_lk_real_getaddrinfo = _lk_socket.getaddrinfo
def _lk_getaddrinfo(host, *args, **kwargs):
    h = host.decode() if isinstance(host, bytes) else host
    if isinstance(h, str) and (h.lower() == "example.test" or h.lower().endswith(".example.test")):
        host = "127.0.0.1"
    return _lk_real_getaddrinfo(host, *args, **kwargs)
_lk_socket.getaddrinfo = _lk_getaddrinfo
"#;

/// `script` with [`LOOPBACK_RESOLVER`] in front (tracebacks' line numbers shift by its length).
pub fn with_loopback_resolver(script: &str) -> String {
    format!("{LOOPBACK_RESOLVER}\n{script}")
}

/// The venv `tests/python/install.sh` creates: `$LATCHKEY_PY_VENV`, else
/// `$HOME/.cache/latchkey/py-venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("LATCHKEY_PY_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/latchkey/py-venv")
        }
    }
}

/// The venv's interpreter, `None` when the venv is missing (run `tests/python/install.sh`).
/// It does not check that `zulip` imports; a script that needs it fails with `ModuleNotFoundError`.
pub fn venv_python() -> Option<PathBuf> {
    let py = venv_dir().join("bin/python");
    py.is_file().then_some(py)
}

/// [`venv_python`], or — when the venv is missing — `None` after printing why the test is
/// skipped; panics instead when `CI` is set (as the PostgreSQL half of the suite does).
pub fn venv_python_or_skip() -> Option<PathBuf> {
    if let Some(py) = venv_python() {
        return Some(py);
    }
    let msg = format!(
        "no Python venv at {} (run tests/python/install.sh)",
        venv_dir().display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg} and CI is set");
    }
    eprintln!("skipping: {msg}");
    None
}

/// Runs the Python source `script` with the venv's interpreter (`python -c script args…`, so
/// `sys.argv[1:]` is `args`), with [`SCRUBBED_ENV`] removed from the inherited environment and
/// `env` added, `PYTHONDONTWRITEBYTECODE=1` and `PYTHONUNBUFFERED=1`. Returns the output whatever
/// the exit status (check `output.status`); errors when the venv is missing or the script runs
/// longer than [`PYTHON_TIMEOUT`] (it is then killed, and the error carries what it printed).
pub fn run_python(script: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    run_python_with_timeout(script, args, env, PYTHON_TIMEOUT)
}

/// [`run_python`] with another bound.
pub fn run_python_with_timeout(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output> {
    let Some(py) = venv_python() else {
        bail!(
            "no Python venv at {} (run tests/python/install.sh)",
            venv_dir().display()
        );
    };
    let mut cmd = Command::new(&py);
    cmd.arg("-c").arg(script).args(args);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(&mut cmd, None, timeout)
}

/// Writes `dir/zuliprc` in the spec's §11 format — `[api]`, `email=`, `key=`, `site=`, one per
/// line, trailing newline — with mode 0600 (zulip-terminal refuses group/other-readable files),
/// replacing any previous one. Panics on I/O errors (it is test set-up).
pub fn write_zuliprc(dir: &Path, email: &str, key: &str, site: &str) -> PathBuf {
    for (name, v) in [("email", email), ("key", key), ("site", site)] {
        assert!(
            !v.contains(['\n', '\r']),
            "zuliprc {name} must be one line: {v:?}"
        );
    }
    let path = dir.join("zuliprc");
    let text = format!("[api]\nemail={email}\nkey={key}\nsite={site}\n");
    let _ = fs::remove_file(&path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    // The umask can only remove bits, but be explicit.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("chmod 600 {}: {e}", path.display()));
    path
}

/// The schemathesis CLI that `tests/python/install-schemathesis.sh` installs, in its own venv:
/// `$LATCHKEY_SCHEMATHESIS_VENV/bin/schemathesis`, else
/// `$HOME/.cache/latchkey/schemathesis-venv/bin/schemathesis`; `None` after printing why the test
/// is skipped when it is missing, a panic instead when `CI` is set.
pub fn schemathesis_or_skip() -> Option<PathBuf> {
    let venv = match std::env::var_os("LATCHKEY_SCHEMATHESIS_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/latchkey/schemathesis-venv")
        }
    };
    let cli = venv.join("bin/schemathesis");
    if cli.is_file() {
        return Some(cli);
    }
    let msg = format!(
        "no schemathesis at {} (run tests/python/install-schemathesis.sh)",
        cli.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg} and CI is set");
    }
    eprintln!("skipping: {msg}");
    None
}
