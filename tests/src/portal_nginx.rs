//! A private nginx running the portal's worked example `deploy/nginx/latchkey-portal.conf` over
//! TLS, in front of a Latchkey server and a stand-in app.
//!
//! [`PortalNginx::start`] makes a throwaway certificate for `*.example.org` with `openssl`,
//! renders the example — its lines marked "(rendered by the tests)" become: upstream
//! `latchkey_portal` → the given Latchkey address, upstream `example_app` → the stand-in app on a
//! Unix socket, both `listen` lines → `127.0.0.1:<port>` with TLS, the certificate paths → the
//! new certificate — and runs it as [`crate::nginx`] runs the Basic example. The host names
//! stay the example's (`auth.example.org`, `app.example.org`): clients map them to loopback.
//! The port is chosen by the caller
//! ([`crate::process::free_port`]) because Latchkey's `portal_url` must name it before Latchkey
//! starts.
//!
//! The stand-in app answers every request with a plain-text page listing what nginx handed it
//! (`user: …`, `email: …`, `name: …`, `realm: …`, `role: …`, `uri: …`) and the same as
//! `x-app-saw-*` response headers.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::nginx::{NGINX_BIN, START_TIMEOUT, http_probe, nginx_args, nginx_available};
use crate::process::{NotReady, ServerProcess, tail};

/// The shipped example, as the admin gets it.
pub const EXAMPLE_CONF: &str = include_str!("../../deploy/nginx/latchkey-portal.conf");
const RENDERED_NAME: &str = "latchkey-portal.conf";

/// A running private nginx with the portal example (see the module documentation).
pub struct PortalNginx {
    dir: tempfile::TempDir,
    port: u16,
    _process: ServerProcess,
}

impl PortalNginx {
    /// Renders the example for Latchkey at `upstream`, listening on `127.0.0.1:port` with TLS,
    /// and returns once nginx answers.
    pub fn start(upstream: SocketAddr, port: u16) -> Result<PortalNginx> {
        if !nginx_available() {
            bail!("{NGINX_BIN} not found: run tests/setup/install-nginx.sh");
        }
        let dir = tempfile::Builder::new()
            .prefix("latchkey-portal-nginx-")
            .tempdir()
            .context("creating the nginx temp dir")?;
        make_certificate(dir.path())?;
        render(dir.path(), port, upstream)?;
        let began = Instant::now();
        let mut process = ServerProcess::spawn(
            Command::new(NGINX_BIN)
                .args(nginx_args(dir.path()))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "nginx",
        )?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let ready = process.wait_ready(
            began + START_TIMEOUT,
            std::time::Duration::from_millis(50),
            || http_probe(addr, std::time::Duration::from_millis(500)),
        );
        let log = || tail(&dir.path().join("error.log"), 40);
        match ready {
            Ok(()) => {}
            Err(NotReady::Exited(status)) => {
                bail!(
                    "nginx exited during startup ({status}); error log:\n{}",
                    log()
                )
            }
            Err(NotReady::TimedOut(e)) => {
                bail!("nginx did not answer ({e}); error log:\n{}", log())
            }
        }
        Ok(PortalNginx {
            dir,
            port,
            _process: process,
        })
    }

    /// The temporary prefix directory (configuration, certificate, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `https://<host>:<port><path>`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    /// The rendered example as nginx reads it.
    pub fn rendered_config(&self) -> String {
        fs::read_to_string(self.dir.path().join(RENDERED_NAME)).unwrap_or_default()
    }

    /// The last lines of nginx's error log.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("error.log"), 40)
    }

    /// An HTTPS client that reaches `auth.example.org` and `app.example.org` at this nginx, trusts its throwaway
    /// certificate, keeps cookies as a browser does, and follows no redirects.
    pub fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(std::time::Duration::from_secs(30));
        for host in ["auth.example.org", "app.example.org"] {
            b = b.resolve(host, self.addr());
        }
        b.build().expect("an HTTPS client")
    }
}

/// A self-signed certificate for `example.org` and `*.example.org` (`cert.pem`, `key.pem`).
fn make_certificate(dir: &Path) -> Result<()> {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=example.org"])
        .args([
            "-addext",
            "subjectAltName=DNS:example.org,DNS:*.example.org",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Replaces every `from` by `to`, insisting on exactly `n` occurrences (an edit of the shipped
/// example that breaks the rendering fails loudly instead of testing something else).
fn replace_n(text: &str, from: &str, to: &str, n: usize) -> Result<String> {
    match text.matches(from).count() {
        c if c == n => Ok(text.replace(from, to)),
        c => bail!("deploy/nginx/{RENDERED_NAME}: expected `{from}` {n} times, found it {c} times"),
    }
}

fn render(dir: &Path, port: u16, upstream: SocketAddr) -> Result<()> {
    let d = dir.display().to_string();
    if d.contains(|c: char| c.is_whitespace() || c == ';' || c == '"' || c == '\'') {
        bail!("temp dir {d} has characters nginx.conf cannot take unquoted");
    }
    let sock = dir.join("app.sock");
    if sock.as_os_str().len() > 100 {
        bail!(
            "{} is too long for a Unix socket path (set TMPDIR)",
            sock.display()
        );
    }
    let mut site = EXAMPLE_CONF.to_owned();
    site = replace_n(
        &site,
        "server 127.0.0.1:9991;",
        &format!("server {upstream};"),
        1,
    )?;
    site = replace_n(
        &site,
        "server 127.0.0.1:8080;",
        &format!("server unix:{};", sock.display()),
        1,
    )?;
    site = replace_n(
        &site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{port} ssl;"),
        2,
    )?;
    site = replace_n(
        &site,
        "/etc/ssl/example.org/fullchain.pem;",
        &format!("{d}/cert.pem;"),
        2,
    )?;
    site = replace_n(
        &site,
        "/etc/ssl/example.org/privkey.pem;",
        &format!("{d}/key.pem;"),
        2,
    )?;
    fs::write(dir.join(RENDERED_NAME), site).context("writing the rendered example")?;

    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).context("creating the nginx temp paths")?;
    let tmp = tmp.display();
    let conf = format!(
        r#"# Written by tests/src/portal_nginx.rs: a throwaway nginx around deploy/nginx/{RENDERED_NAME}.
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;

events {{
    worker_connections 256;
}}

http {{
    default_type text/plain;
    access_log {d}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    include {d}/{RENDERED_NAME};

    # The stand-in app: shows what nginx handed it.
    server {{
        listen unix:{sock};
        location / {{
            default_type text/plain;
            add_header x-app-saw-user $http_x_latchkey_user always;
            add_header x-app-saw-email $http_x_latchkey_email always;
            add_header x-app-saw-name $http_x_latchkey_name always;
            add_header x-app-saw-realm $http_x_latchkey_realm always;
            add_header x-app-saw-role $http_x_latchkey_role always;
            return 200 "The example app\nuser: $http_x_latchkey_user\nemail: $http_x_latchkey_email\nname: $http_x_latchkey_name\nrealm: $http_x_latchkey_realm\nrole: $http_x_latchkey_role\nuri: $request_uri\n";
        }}
    }}
}}
"#,
        sock = sock.display(),
    );
    fs::write(dir.join("nginx.conf"), conf).context("writing nginx.conf")?;
    Ok(())
}
