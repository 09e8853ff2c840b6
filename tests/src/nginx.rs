//! A private nginx in front of a Latchkey server, configured from the shipped forward-auth example
//! `deploy/nginx/latchkey-forward-auth.conf`.
//!
//! [`PrivateNginx::start`] renders that example into a temporary directory — its three lines
//! marked "(rendered by the tests)" become: upstream `latchkey` → the given Latchkey address,
//! upstream `protected_app` → a stand-in application on a Unix socket in the directory, `listen`
//! → a free loopback port — and wraps it in a complete `nginx.conf` (prefix, pid, logs and every
//! `*_temp_path` inside the directory, `daemon off`, `master_process off`). It runs
//! `/usr/sbin/nginx -p DIR -e DIR/error.log -c DIR/nginx.conf` and returns once nginx answers HTTP.
//! The process is killed when the [`PrivateNginx`] is dropped, and a small watchdog kills it too
//! should the test process die without unwinding.
//!
//! What a test sees through [`PrivateNginx::url`]:
//! - `/protected/…` needs `Authorization: Basic …` accepted by Latchkey's
//!   `GET /api/v1/auth/verify` (asked with the client's Host header, verbatim). Accepted: 200, body
//!   [`PROTECTED_BODY`], header `X-Authenticated-User: <user id>`, and the stand-in application
//!   echoes what nginx passed it: [`APP_USER_ID`], [`APP_EMAIL`], [`APP_REALM`] (from Latchkey's
//!   `X-Latchkey-*` answer headers, never from the client's) and [`APP_AUTHORIZATION`] (absent:
//!   the key is not passed on). Refused (Latchkey 401): 401 with Latchkey's `WWW-Authenticate`.
//!   Latchkey answering anything but 2xx/401/403, or not reachable: 500.
//! - `/_latchkey/verify` is internal: 404 from outside.
//!
//! Blocking (it sleeps and uses std sockets): call it from a plain `#[test]` or via
//! `tokio::task::spawn_blocking`.
//!
//! Needs `/usr/sbin/nginx` with `ngx_http_auth_request_module` (Debian's `nginx`;
//! `tests/setup/install-nginx.sh` installs it). `LATCHKEY_NGINX_KEEP=1` keeps the temporary
//! directory after the fixture is dropped (its path is printed to stderr).

use crate::process::{NotReady, ServerProcess, free_port, tail};
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Where the nginx binary is expected.
pub const NGINX_BIN: &str = "/usr/sbin/nginx";

/// The shipped example, as the admin gets it.
pub const EXAMPLE_CONF: &str = include_str!("../../deploy/nginx/latchkey-forward-auth.conf");

/// Body the stand-in protected application answers with.
pub const PROTECTED_BODY: &str = "protected content\n";
/// Response header: the `X-Latchkey-User-Id` the application received from nginx.
pub const APP_USER_ID: &str = "x-app-saw-user-id";
/// Response header: the `X-Latchkey-Email` the application received from nginx.
pub const APP_EMAIL: &str = "x-app-saw-email";
/// Response header: the `X-Latchkey-Realm` the application received from nginx.
pub const APP_REALM: &str = "x-app-saw-realm";
/// Response header: the `Authorization` the application received (absent when none).
pub const APP_AUTHORIZATION: &str = "x-app-saw-authorization";

/// How long [`PrivateNginx::start`] waits for nginx to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);
const PORT_ATTEMPTS: usize = 5;

/// Is the nginx binary there?
pub fn nginx_available() -> bool {
    Path::new(NGINX_BIN).is_file()
}

/// A running private nginx (see the module documentation).
pub struct PrivateNginx {
    dir: Option<tempfile::TempDir>,
    port: u16,
    upstream: SocketAddr,
    process: Option<ServerProcess>,
    startup_time: Duration,
}

impl PrivateNginx {
    /// Renders the example with `upstream` as Latchkey's address, starts nginx on a free loopback
    /// port and returns once it answers HTTP (at most [`START_TIMEOUT`] per attempt; a port taken
    /// in the meantime is retried with another one).
    pub fn start(upstream: SocketAddr) -> Result<PrivateNginx> {
        if !nginx_available() {
            bail!("{NGINX_BIN} not found: run tests/setup/install-nginx.sh");
        }
        let dir = tempfile::Builder::new()
            .prefix("latchkey-nginx-")
            .tempdir()
            .context("creating the nginx temp dir")?;
        let mut n = PrivateNginx {
            dir: Some(dir),
            port: 0,
            upstream,
            process: None,
            startup_time: Duration::ZERO,
        };
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            n.port = free_port()?;
            render(n.dir(), n.port, upstream)?;
            match n.spawn_and_wait() {
                Ok(()) => return Ok(n),
                Err(e) => {
                    if !n.log_tail().contains("Address already in use") {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("nginx did not start")))
    }

    /// `http://127.0.0.1:PORT{path}`; `path` starts with `/`. Send the realm's Host header
    /// yourself (e.g. [`crate::host_for`]): nginx passes it to Latchkey verbatim.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The Latchkey address the config points at.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The temporary prefix directory (`nginx.conf`, the rendered example, logs, temp paths).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir lives as long as self").path()
    }

    /// The rendered example as nginx reads it.
    pub fn rendered_config(&self) -> String {
        fs::read_to_string(self.dir().join(RENDERED_NAME)).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::id)
    }

    /// How long start took, until nginx answered.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// The last lines of nginx's error log (level `info`: upstream failures, auth_request
    /// surprises such as "auth request unexpected status: 400", which the client sees as 500).
    pub fn log_tail(&self) -> String {
        tail(&self.dir().join("error.log"), 40)
    }

    /// The last lines of the access log: status, request line, Host, the user id Latchkey
    /// vouched for, and which server answered (`on=unix:` is the stand-in application).
    pub fn access_log_tail(&self) -> String {
        tail(&self.dir().join("access.log"), 40)
    }

    /// Kills nginx and waits for it. Idempotent.
    pub fn stop(&mut self) {
        // master_process off: one process, so SIGKILL leaves no orphaned workers behind.
        self.process = None;
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let began = Instant::now();
        let dir = self.dir().to_owned();
        let _ = fs::remove_file(dir.join("error.log"));
        let mut process = ServerProcess::spawn(
            Command::new(NGINX_BIN)
                .args(nginx_args(&dir))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "nginx",
        )?;
        let ready = process.wait_ready(began + START_TIMEOUT, Duration::from_millis(50), || {
            http_probe(self.addr(), Duration::from_millis(500))
        });
        match ready {
            Ok(()) => self.process = Some(process),
            Err(NotReady::Exited(status)) => bail!(
                "nginx exited during startup ({status}) on port {}; error log tail:\n{}",
                self.port,
                self.log_tail()
            ),
            Err(NotReady::TimedOut(e)) => {
                drop(process);
                bail!(
                    "nginx on port {} did not answer within {:?} ({e}); error log tail:\n{}",
                    self.port,
                    START_TIMEOUT,
                    self.log_tail()
                );
            }
        }
        self.startup_time = began.elapsed();
        Ok(())
    }
}

impl Drop for PrivateNginx {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("LATCHKEY_NGINX_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("LATCHKEY_NGINX_KEEP: keeping {}", dir.keep().display());
            }
        }
    }
}

impl std::fmt::Debug for PrivateNginx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateNginx")
            .field("url", &self.url("/"))
            .field("upstream", &self.upstream)
            .field("dir", &self.dir())
            .field("pid", &self.pid())
            .finish()
    }
}

/// Renders the example for `upstream` into a fresh temporary directory and runs `nginx -t` on it;
/// returns nginx's report (it says "syntax is ok" and "test is successful").
pub fn config_test(upstream: SocketAddr) -> Result<String> {
    if !nginx_available() {
        bail!("{NGINX_BIN} not found: run tests/setup/install-nginx.sh");
    }
    let dir = tempfile::Builder::new()
        .prefix("latchkey-nginx-t-")
        .tempdir()
        .context("creating the nginx temp dir")?;
    render(dir.path(), free_port()?, upstream)?;
    let out = Command::new(NGINX_BIN)
        .arg("-t")
        .args(nginx_args(dir.path()))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {NGINX_BIN} -t"))?;
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("nginx -t failed ({}):\n{report}", out.status);
    }
    Ok(report)
}

const RENDERED_NAME: &str = "latchkey-forward-auth.conf";

pub(crate) fn nginx_args(dir: &Path) -> Vec<std::ffi::OsString> {
    // -e: without it nginx opens its compiled-in /var/log/nginx/error.log before reading the
    // config (and complains when that is not writable).
    vec![
        "-p".into(),
        dir.join("").into_os_string(),
        "-e".into(),
        dir.join("error.log").into_os_string(),
        "-c".into(),
        dir.join("nginx.conf").into_os_string(),
    ]
}

/// Replaces `from` by `to` in `text`, insisting that `from` occurs exactly once (so that an edit
/// of the shipped example that breaks the rendering fails loudly instead of testing the wrong
/// thing).
fn replace_once(text: &str, from: &str, to: &str) -> Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => bail!(
            "deploy/nginx/latchkey-forward-auth.conf: expected `{from}` exactly once, found it {n} times"
        ),
    }
}

/// Writes `nginx.conf` (the wrapper) and the rendered example into `dir`.
fn render(dir: &Path, port: u16, upstream: SocketAddr) -> Result<()> {
    let d = dir.display().to_string();
    if d.contains(|c: char| c.is_whitespace() || c == ';' || c == '"' || c == '\'') {
        bail!("temp dir {d} has characters nginx.conf cannot take unquoted");
    }
    let app_sock = dir.join("app.sock");
    // Unix socket paths are limited to 107 bytes.
    if app_sock.as_os_str().len() > 100 {
        bail!(
            "{} is too long for a Unix socket path (set TMPDIR)",
            app_sock.display()
        );
    }
    let _ = fs::remove_file(&app_sock);

    let mut site = EXAMPLE_CONF.to_owned();
    site = replace_once(
        &site,
        "server 127.0.0.1:9991;",
        &format!("server {upstream};"),
    )?;
    site = replace_once(
        &site,
        "server 127.0.0.1:8080;",
        &format!("server unix:{};", app_sock.display()),
    )?;
    site = replace_once(&site, "listen 80;", &format!("listen 127.0.0.1:{port};"))?;
    fs::write(dir.join(RENDERED_NAME), site).context("writing the rendered example")?;

    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).context("creating the nginx temp paths")?;
    let tmp = tmp.display();
    let conf = format!(
        r#"# Written by tests/src/nginx.rs: a throwaway nginx around deploy/nginx/{RENDERED_NAME}.
daemon off;
master_process off;   # one process: killing it leaves no orphaned worker
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;

events {{
    worker_connections 256;
}}

http {{
    default_type text/plain;
    # One line per request; `on=unix:` lines are the stand-in application's.
    log_format latchkey '$status "$request" host=$http_host user=$latchkey_user on=$server_addr';
    access_log {d}/access.log latchkey;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    include {d}/{RENDERED_NAME};

    # The stand-in protected application: answers {PROTECTED_BODY:?} and echoes what nginx
    # handed it (an empty header value means "not sent", and add_header then omits the header).
    server {{
        listen unix:{sock};
        location / {{
            add_header {APP_USER_ID} $http_x_latchkey_user_id always;
            add_header {APP_EMAIL} $http_x_latchkey_email always;
            add_header {APP_REALM} $http_x_latchkey_realm always;
            add_header {APP_AUTHORIZATION} $http_authorization always;
            return 200 "protected content\n";
        }}
    }}
}}
"#,
        sock = app_sock.display(),
    );
    fs::write(dir.join("nginx.conf"), conf).context("writing nginx.conf")?;
    Ok(())
}

/// One HTTP/1.0 request; `Ok` on any HTTP status line. It asks for the internal verify location
/// (404 from outside, without touching Latchkey or the error log).
pub(crate) fn http_probe(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET /_latchkey/verify HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while got.len() < 9 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got.starts_with(b"HTTP/1.") {
        Ok(())
    } else {
        bail!("not an HTTP answer: {:?}", String::from_utf8_lossy(&got))
    }
}
