//! A headless Chromium driven over WebDriver (fantoccini), for tests of what a person does on
//! the pages. One chromedriver on a free loopback port and one browser session per test;
//! realm hosts (`*.example.test`) resolve to 127.0.0.1 inside the browser. Helpers find an
//! input by its visible label (label → `for` → input) and a button by its text, wait for a
//! condition with a bounded timeout (never a blind sleep), and save screenshots at desktop
//! (1280 px) and phone (360 px) widths under `target/screenshots/`.
//!
//! Without Chromium the tests skip with a printed reason, except under CI (`CI` set), where
//! they fail: `tests/setup/install-deps.sh` installs `chromium` and `chromium-driver`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::process::{NotReady, ServerProcess, free_port};
use crate::{EXTERNAL_HOST, host_for};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any wait in a browser test may take.
pub const WAIT: Duration = Duration::from_secs(15);
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (360, 800);

/// A browser session against one test server.
pub struct Browser {
    pub client: Client,
    server: SocketAddr,
    _driver: ServerProcess,
}

/// Whether the browser tests can run here; `Err` says why not (outside CI they then skip).
fn available() -> Result<(), String> {
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).exists() {
            return Err(format!(
                "{path} is missing (bash tests/setup/install-deps.sh installs it)"
            ));
        }
    }
    Ok(())
}

impl Browser {
    /// Logs in on `subdomain`'s login page as a person does: the name typed in the field
    /// labelled `label` ("Email", or "Username" where the realm takes directory names), the
    /// password in "Password", then "Log in"; waits for the landing page.
    pub async fn log_in(&self, subdomain: &str, label: &str, user: &str, password: &str) {
        self.goto(subdomain, "/login/").await;
        self.input_by_label(label)
            .await
            .send_keys(user)
            .await
            .expect("type the name");
        self.input_by_label("Password")
            .await
            .send_keys(password)
            .await
            .expect("type the password");
        self.button("Log in")
            .await
            .click()
            .await
            .expect("click Log in");
        self.wait_for_url(subdomain, "/").await;
    }

    /// Starts chromedriver and a headless Chromium for `server`; `None` (with the reason
    /// printed) when Chromium is missing outside CI.
    pub async fn start(server: SocketAddr) -> Option<Browser> {
        Self::launch(server, None, &[]).await
    }

    /// [`Browser::start`] with downloads saved, without asking, into `dir` (wait for a file
    /// with [`wait_for_download`]).
    pub async fn start_with_downloads(server: SocketAddr, dir: &Path) -> Option<Browser> {
        Self::launch(server, Some(dir), &[]).await
    }

    /// [`Browser::start`] with more Chromium switches (`--ignore-certificate-errors` for a
    /// test's throwaway certificate).
    pub async fn start_with(server: SocketAddr, extra_args: &[&str]) -> Option<Browser> {
        Self::launch(server, None, extra_args).await
    }

    async fn launch(
        server: SocketAddr,
        downloads: Option<&Path>,
        extra_args: &[&str],
    ) -> Option<Browser> {
        if let Err(why) = available() {
            assert!(
                std::env::var_os("CI").is_none(),
                "browser tests cannot run under CI: {why}"
            );
            eprintln!("skipping a browser test: {why}");
            return None;
        }
        let port = free_port().expect("a free port");
        let mut driver = ServerProcess::spawn(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "chromedriver",
        )
        .expect("start chromedriver");
        let ready = driver.wait_ready(Instant::now() + WAIT, Duration::from_millis(100), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(Into::into)
        });
        match ready {
            Ok(()) => {}
            Err(NotReady::Exited(s)) => panic!("chromedriver exited: {s}"),
            Err(NotReady::TimedOut(e)) => panic!("chromedriver did not answer: {e}"),
        }
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--host-resolver-rules=MAP *.{EXTERNAL_HOST} 127.0.0.1"),
        ];
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        // Chromium's sandbox refuses to run as root.
        if is_root() {
            args.push("--no-sandbox".to_owned());
        }
        let mut options = serde_json::json!({"binary": CHROMIUM, "args": args});
        if let Some(dir) = downloads {
            options["prefs"] = serde_json::json!({
                "download.default_directory": dir.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        if let Some(dir) = downloads {
            allow_downloads(&client, port, dir).await;
        }
        Some(Browser {
            client,
            server,
            _driver: driver,
        })
    }

    /// The URL of `path` on a realm's host.
    pub fn url(&self, subdomain: &str, path: &str) -> String {
        format!(
            "http://{}:{}{path}",
            host_for(subdomain),
            self.server.port()
        )
    }

    pub async fn goto(&self, subdomain: &str, path: &str) {
        self.client
            .goto(&self.url(subdomain, path))
            .await
            .expect("navigate");
    }

    /// The current URL's path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_owned()
    }

    /// The input a visible `<label>` with this text names through its `for` attribute.
    pub async fn input_by_label(&self, text: &str) -> Element {
        let label = self
            .find(&format!(
                "//label[normalize-space(.)={}]",
                xpath_literal(text)
            ))
            .await;
        let id = label
            .attr("for")
            .await
            .expect("label attribute")
            .unwrap_or_else(|| panic!("the label {text:?} names no input"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("no input #{id} for the label {text:?}: {e}"))
    }

    /// The first button with this text.
    pub async fn button(&self, text: &str) -> Element {
        self.find(&format!(
            "//button[normalize-space(.)={}]",
            xpath_literal(text)
        ))
        .await
    }

    /// The first element matching an XPath, waiting for it at most [`WAIT`].
    pub async fn find(&self, xpath: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("no element {xpath}: {e}"))
    }

    /// Waits (at most [`WAIT`]) until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let xpath = format!("//*[contains(normalize-space(.), {})]", xpath_literal(text));
        self.find(&xpath).await;
    }

    /// Waits (at most [`WAIT`]) until the browser is at `path` on the realm's host.
    pub async fn wait_for_url(&self, subdomain: &str, path: &str) {
        let url = reqwest::Url::parse(&self.url(subdomain, path)).expect("url");
        if let Err(e) = self.client.wait().at_most(WAIT).for_url(&url).await {
            let now = self.path().await;
            panic!("still at {now}, not {path}: {e}");
        }
    }

    /// The focused element's `id`.
    pub async fn focused_id(&self) -> String {
        let el = self.client.active_element().await.expect("active element");
        el.attr("id").await.ok().flatten().unwrap_or_default()
    }

    /// Types into the focused element (WebDriver key codes such as [`TAB`] and [`ENTER`]
    /// included).
    pub async fn type_keys(&self, keys: &str) {
        let el = self.client.active_element().await.expect("active element");
        el.send_keys(keys).await.expect("send keys");
    }

    /// Saves `<name>-desktop.png` (1280 px wide) and `<name>-phone.png` (360 px) under
    /// `target/screenshots/`, and checks the phone view does not scroll sideways.
    pub async fn screenshots(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(w, h).await.expect("resize");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).expect("save png");
            if label == "phone" {
                let overflow = self
                    .client
                    .execute(
                        "return document.documentElement.scrollWidth > window.innerWidth;",
                        vec![],
                    )
                    .await
                    .expect("script");
                assert_eq!(
                    overflow,
                    serde_json::json!(false),
                    "{name} scrolls sideways"
                );
            }
        }
        let (w, h) = DESKTOP;
        self.client.set_window_size(w, h).await.expect("resize");
    }

    /// Ends the browser session (chromedriver stops when dropped).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Lets the session save downloads into `dir` without asking: chromedriver's CDP endpoint
/// with `Browser.setDownloadBehavior` (headless Chromium ignores the download preferences).
async fn allow_downloads(client: &Client, port: u16, dir: &Path) {
    let session = client
        .session_id()
        .await
        .expect("session id")
        .expect("a session");
    let url = format!("http://127.0.0.1:{port}/session/{session}/goog/cdp/execute");
    let body = serde_json::json!({
        "cmd": "Browser.setDownloadBehavior",
        "params": {"behavior": "allow", "downloadPath": dir.display().to_string()},
    });
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("chromedriver answers");
    assert!(
        r.status().is_success(),
        "setDownloadBehavior: {}",
        r.status()
    );
}

/// Waits (at most [`WAIT`], polling every 50 ms) until `dir/name` exists and no partial
/// download (`.crdownload`) is left, and returns its bytes.
pub async fn wait_for_download(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let deadline = Instant::now() + WAIT;
    loop {
        let partial = std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
        });
        if !partial {
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no download {} within {WAIT:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// WebDriver's Tab and Enter keys.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `target/screenshots` of this build (`CARGO_TARGET_DIR` when set).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

/// A string as an XPath literal (texts here have no double quotes).
fn xpath_literal(s: &str) -> String {
    assert!(!s.contains('"'), "{s:?}");
    format!("\"{s}\"")
}
