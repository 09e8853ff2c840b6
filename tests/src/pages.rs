//! A browser-like HTTP client for the pages: a cookie jar, no automatic redirects, the realm's
//! Host header and a same-origin `Origin` on every POST, and helpers to read a form's CSRF
//! token and a page's alert out of the HTML.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HOST, LOCATION, ORIGIN};

use crate::host_for;

/// A visitor of one realm's pages.
pub struct PageClient {
    addr: std::net::SocketAddr,
    host: String,
    jar: Arc<Jar>,
    http: reqwest::Client,
}

/// A page's answer, read in full.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// Every `Set-Cookie` line.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of the first `name="csrfmiddlewaretoken" value="…"` input.
    pub fn csrf_token(&self) -> String {
        let marker = r#"name="csrfmiddlewaretoken" value=""#;
        let start = self.body.find(marker).expect("a CSRF input") + marker.len();
        let end = self.body[start..].find('"').expect("end of the token") + start;
        self.body[start..end].to_owned()
    }

    /// The text of every `alert` div, with the template's HTML escapes undone.
    pub fn alerts(&self) -> Vec<String> {
        self.body
            .split(r#"role="alert">"#)
            .skip(1)
            .filter_map(|rest| rest.split("</div>").next().map(unescape))
            .collect()
    }
}

impl PageClient {
    pub fn new(addr: std::net::SocketAddr, subdomain: &str) -> PageClient {
        let jar = Arc::new(Jar::default());
        PageClient {
            addr,
            host: host_for(subdomain),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar.clone())
                .build()
                .expect("client"),
            jar,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The `Origin` a browser on this realm sends.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    async fn read(rb: reqwest::RequestBuilder) -> Page {
        let r = rb.send().await.expect("request");
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::read(self.http.get(self.url(path)).header(HOST, &self.host)).await
    }

    /// A form POST with the same-origin `Origin` header.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.origin();
        self.post_with(path, form, Some(&origin)).await
    }

    /// A form POST with the given `Origin` (or none).
    pub async fn post_with(&self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut rb = self
            .http
            .post(self.url(path))
            .header(HOST, &self.host)
            .form(form);
        if let Some(o) = origin {
            rb = rb.header(ORIGIN, o);
        }
        Self::read(rb).await
    }

    /// A `/json` request as the web app sends it: the same-origin `Origin`, the session's
    /// cookie, `X-CSRFToken` when given, and the form in the body (the query string for GET).
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> Page {
        let mut rb = self
            .http
            .request(method.clone(), self.url(path))
            .header(HOST, &self.host)
            .header(ORIGIN, self.origin());
        rb = if method == reqwest::Method::GET {
            rb.query(form)
        } else {
            rb.form(form)
        };
        if let Some(token) = csrf {
            rb = rb.header("X-CSRFToken", token);
        }
        Self::read(rb).await
    }

    /// Loads the login form and submits it; the answer to the POST.
    pub async fn log_in(&self, username: &str, password: &str, next: Option<&str>) -> Page {
        let form = self.get("/login/").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf_token();
        self.submit_login(&token, username, password, next).await
    }

    /// Submits the login form with a token read earlier.
    pub async fn submit_login(
        &self,
        token: &str,
        username: &str,
        password: &str,
        next: Option<&str>,
    ) -> Page {
        let token = token.to_owned();
        let mut fields = vec![
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", username),
            ("password", password),
        ];
        if let Some(n) = next {
            fields.push(("next", n));
        }
        self.post("/accounts/login/", &fields).await
    }

    /// The cookies the jar would send (`name=value; …`).
    pub fn cookies(&self) -> String {
        let url = reqwest::Url::parse(&self.url("/")).expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The session cookie's value, if the jar holds one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookies()
            .split("; ")
            .find_map(|c| c.strip_prefix("latchkey_session=").map(str::to_owned))
    }

    /// The value of the cookie `name` in the jar, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cookies()
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()).map(str::to_owned))
    }

    /// Puts a cookie in the jar (to replay an old one).
    pub fn set_cookie(&self, name: &str, value: &str) {
        let url = reqwest::Url::parse(&self.url("/")).expect("url");
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    /// Replaces the jar's session cookie (to replay an old one).
    pub fn set_session_cookie(&self, value: &str) {
        let url = reqwest::Url::parse(&self.url("/")).expect("url");
        self.jar
            .add_cookie_str(&format!("latchkey_session={value}; Path=/"), &url);
    }
}

/// Undoes the escapes askama writes (`&#39;`, `&quot;`, `&lt;`, `&gt;`, `&amp;` last).
fn unescape(html: &str) -> String {
    html.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
