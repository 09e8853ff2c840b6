//! The portal and forward-auth over HTTP, straight to Latchkey, with the headers a proxy would
//! add written by the test (web.md §8 cases 13 and 14, decisions 6, 7, 15).
//!
//! Just over 600 lines: the cases of one spec table (web.md §8, cases 13 and 14) kept together.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use auth_core::{Role, User};
use auth_store::{Actor, NewUser};
use base64::Engine;
use latchkey_tests::pages::Page;
use latchkey_tests::{DbKind, Fixture, PW, both_dbs, capture_logs};

use super::portal_settings;

both_dbs!(
    verify_sends_the_browser_to_the_portal_and_back,
    portal_sessions_stay_in_their_domain_and_realm,
    idle_portal_sessions_end_unless_remembered,
    unsafe_targets_go_to_the_default,
    portal_logout_needs_the_csrf_token,
    basic_answers_never_carry_a_location,
);

const AUTH: &str = "auth.example.test";
const APP: &str = "https://app.example.test/x?y=1";
/// web.md §8 case 13.
const CASE_13: &str =
    "https://auth.example.test/login/?rd=https%3A%2F%2Fapp.example.test%2Fx%3Fy%3D1&rm=GET";
const PORTAL_COOKIE: &str = "__Secure-latchkey_portal";
const BAD: &str =
    "Please enter a correct email and password. Note that both fields may be case-sensitive.";

/// A browser reduced to what these tests need: one cookie jar for every host (the test picks
/// hosts inside one cookie domain, or checks what another domain does with a stray cookie),
/// no redirects followed, a same-origin `Origin` on POSTs.
struct Visitor {
    addr: std::net::SocketAddr,
    http: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Visitor {
    fn new(f: &Fixture) -> Visitor {
        Visitor {
            addr: f.server.addr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Page {
        let cookies = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let rb = if cookies.is_empty() {
            rb
        } else {
            rb.header("cookie", cookies)
        };
        let r = rb.send().await.unwrap();
        let page = Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        };
        for line in page.set_cookies() {
            let Some((name, rest)) = line.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            let mut jar = self.jar.lock().unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        page
    }

    async fn get(&self, host: &str, path: &str) -> Page {
        let rb = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header("host", host);
        self.send(rb).await
    }

    async fn post(&self, host: &str, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(host, path, form, &format!("https://{host}"))
            .await
    }

    async fn post_from(&self, host: &str, path: &str, form: &[(&str, &str)], origin: &str) -> Page {
        let rb = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header("host", host)
            .header("origin", origin)
            .form(form);
        self.send(rb).await
    }

    /// The forward-auth check as nginx asks it for `url`, with this visitor's cookies.
    async fn verify(&self, url: &str, method: &str) -> Page {
        let rb = self
            .http
            .get(format!("http://{}/api/v1/auth/verify", self.addr))
            .header("host", "app.example.test")
            .header("x-original-url", url)
            .header("x-original-method", method);
        self.send(rb).await
    }

    /// Loads a portal login page (`path` with its query) and submits it as a person would:
    /// the hidden fields as they are, the name and password typed in.
    async fn log_in(&self, host: &str, path: &str, user: &str, remember: bool) -> Page {
        let form = self.get(host, path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf_token();
        let mut fields = vec![
            ("csrfmiddlewaretoken".to_owned(), token),
            ("username".to_owned(), user.to_owned()),
            ("password".to_owned(), PW.to_owned()),
        ];
        for name in ["next", "rd", "rm"] {
            if let Some(v) = hidden(&form.body, name) {
                fields.push((name.to_owned(), v));
            }
        }
        if remember {
            fields.push(("remember".to_owned(), "1".to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.post(host, "/accounts/login/", &borrowed).await
    }
}

/// The value of the hidden input `name`, unescaped.
fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!(r#"type="hidden" name="{name}" value=""#);
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(
        body[start..end]
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The path and query of a URL on the portal.
fn on_portal(location: &str) -> &str {
    location
        .strip_prefix("https://auth.example.test")
        .or_else(|| location.strip_prefix("https://auth.other.test"))
        .unwrap_or(location)
}

fn set_cookie_line(page: &Page, name: &str) -> Option<String> {
    page.set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn digest_of(cookie: &str) -> String {
    auth_service::sessions::cookie_digest(cookie).expect("a well-shaped cookie")
}

async fn portal(kind: DbKind) -> Option<Fixture> {
    Fixture::with(kind, |s| portal_settings(s, None, "example.test")).await
}

async fn verify_sends_the_browser_to_the_portal_and_back(kind: DbKind) {
    let Some(f) = portal(kind).await else {
        return;
    };
    let v = Visitor::new(&f);
    // Not logged in: 401 with the portal's address, and no Basic challenge.
    let r = v.verify(APP, "GET").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.location(), Some(CASE_13));
    assert!(r.header("www-authenticate").is_none());

    // The portal's login page carries rd and rm; the login comes back to the original URL.
    let form = v.get(AUTH, on_portal(CASE_13)).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Log in to Zulip Dev"), "{}", form.body);
    assert_eq!(hidden(&form.body, "rd").as_deref(), Some(APP));
    assert_eq!(hidden(&form.body, "rm").as_deref(), Some("GET"));
    // Its form may be redirected to the cookie domain's hosts (CSP form-action); a realm's
    // own login page keeps 'self' only.
    let csp = form.header("content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' https://example.test:* https://*.example.test:*;"),
        "{csp}"
    );
    let own = v.get("zulip.example.test", "/login/").await;
    let csp = own.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
    let r = v
        .log_in(AUTH, on_portal(CASE_13), "hamlet@zulip.com", false)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some(APP));
    let portal_cookie = set_cookie_line(&r, PORTAL_COOKIE).expect("a portal cookie");
    for part in [
        "Domain=example.test",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(portal_cookie.contains(part), "{part}: {portal_cookie}");
    }
    assert!(!portal_cookie.contains("Max-Age"), "{portal_cookie}");
    let page_cookie = set_cookie_line(&r, "__Host-latchkey_session").expect("a page session");
    assert!(!page_cookie.contains("Domain="), "{page_cookie}");

    // Now the check passes, with who it is.
    let r = v.verify(APP, "GET").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = f.hamlet.id.0.to_string();
    assert_eq!(r.header("x-latchkey-user"), Some(id.as_str()));
    assert_eq!(r.header("x-latchkey-user-id"), Some(id.as_str()));
    assert_eq!(r.header("x-latchkey-email"), Some("hamlet@zulip.com"));
    assert_eq!(r.header("x-latchkey-name"), Some("hamlet"));
    assert_eq!(r.header("x-latchkey-realm"), Some("zulip"));
    assert_eq!(r.header("x-latchkey-role"), Some("member"));
    assert!(r.location().is_none());
    assert_eq!(v.verify(APP, "POST").await.status, 200);

    // The same check as Traefik and Caddy ask it (X-Forwarded-*).
    let rb = v
        .http
        .get(format!("http://{}/api/v1/auth/verify", v.addr))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.test")
        .header("x-forwarded-uri", "/x?y=1")
        .header("x-forwarded-method", "GET");
    assert_eq!(v.send(rb).await.status, 200);
    let stranger = Visitor::new(&f);
    let rb = stranger
        .http
        .get(format!("http://{}/api/v1/auth/verify", v.addr))
        .header("x-forwarded-host", "app.example.test")
        .header("x-forwarded-uri", "/x?y=1");
    assert_eq!(stranger.send(rb).await.location(), Some(CASE_13));
    // A page session's cookie is not a portal cookie.
    stranger.set_cookie(PORTAL_COOKIE, &v.cookie("__Host-latchkey_session").unwrap());
    assert_eq!(stranger.verify(APP, "GET").await.status, 401);

    // Already logged in at the portal: straight back to the target.
    let again = v.get(AUTH, on_portal(CASE_13)).await;
    assert_eq!(again.status, 302);
    assert_eq!(again.location(), Some(APP));

    // The portal cookie is not a page session of the realm's own host.
    let stray = Visitor::new(&f);
    stray.set_cookie("__Host-latchkey_session", &v.cookie(PORTAL_COOKIE).unwrap());
    let home = stray.get("zulip.example.test", "/").await;
    assert_eq!(home.status, 302);
    assert_eq!(home.location(), Some("/login/"));

    // A name that is not plain ASCII reaches the app percent-encoded, never as raw bytes.
    let zoe = f
        .server
        .admin
        .store
        .create_user(
            NewUser {
                realm_id: f.zulip.id,
                delivery_email: "zoe@zulip.com".into(),
                full_name: "Zoë d'Arc 100%".into(),
                password_hash: Some(
                    f.server
                        .admin
                        .hasher
                        .hash(&auth_core::Password::new(PW))
                        .await
                        .unwrap(),
                ),
                role: Role::Administrator,
                bot_type: None,
                bot_owner_id: None,
                external_id: None,
            },
            f.server.admin.keys.sealer(),
            Actor::cli(),
        )
        .await
        .unwrap();
    let z = Visitor::new(&f);
    let r = z.log_in(AUTH, "/login/", "zoe@zulip.com", false).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.location(),
        Some("https://app.example.test/home"),
        "no rd: the default target"
    );
    let r = z.verify(APP, "GET").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-latchkey-name"),
        Some("Zo%C3%AB%20d'Arc%20100%25")
    );
    assert_eq!(r.header("x-latchkey-role"), Some("administrator"));
    assert_eq!(
        r.header("x-latchkey-user"),
        Some(zoe.id.0.to_string().as_str())
    );
}

async fn portal_sessions_stay_in_their_domain_and_realm(kind: DbKind) {
    let logs = capture_logs();
    let Some(f) = portal(kind).await else {
        return;
    };
    let v = Visitor::new(&f);
    let r = v
        .log_in(AUTH, on_portal(CASE_13), "hamlet@zulip.com", false)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(v.verify(APP, "GET").await.status, 200);

    // Realm zulip's cookie is refused for realm lear's domain: log in there.
    let r = v.verify("https://app.other.test/", "GET").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.location(),
        Some("https://auth.other.test/login/?rd=https%3A%2F%2Fapp.other.test%2F&rm=GET")
    );

    // Lear's people cannot log in at zulip's portal (the one message, no cookie) ...
    let o = Visitor::new(&f);
    let r = o.log_in(AUTH, "/login/", "othello@lear.com", false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.alerts(), vec![BAD.to_owned()]);
    assert!(o.cookie(PORTAL_COOKIE).is_none());
    // ... but can at lear's; that session is good for other.test only.
    let r = o
        .log_in("auth.other.test", "/login/", "othello@lear.com", false)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(
        set_cookie_line(&r, PORTAL_COOKIE)
            .unwrap()
            .contains("Domain=other.test")
    );
    let r = o.verify("https://wiki.other.test/page", "GET").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-latchkey-realm"), Some("lear"));
    let r = o.verify(APP, "GET").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.location(), Some(CASE_13));

    // A host under no configured domain: 401 without Location, and a warning.
    let r = v.verify("https://app.elsewhere.test/", "GET").await;
    assert_eq!(r.status, 401);
    assert!(r.location().is_none());
    assert!(logs.contains("under no configured portal cookie domain"));
    let r = v.verify("not a url", "GET").await;
    assert_eq!(r.status, 401);
    assert!(r.location().is_none());

    // A deactivated person's portal session is refused at once.
    f.server
        .admin
        .store
        .set_user_active(f.hamlet.id, false, Actor::cli())
        .await
        .unwrap();
    let r = v.verify(APP, "GET").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.location(), Some(CASE_13));
}

async fn idle_portal_sessions_end_unless_remembered(kind: DbKind) {
    let Some(f) = Fixture::with(kind, |s| {
        portal_settings(s, None, "example.test");
        s.portal.inactivity = Duration::from_secs(300);
    })
    .await
    else {
        return;
    };
    let store = &f.server.admin.store;
    let now = || auth_service::clock::now().0;
    let minutes = |m: i64| m * 60 * 1_000_000;

    let v = Visitor::new(&f);
    let r = v
        .log_in(AUTH, on_portal(CASE_13), "hamlet@zulip.com", false)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(v.verify(APP, "GET").await.status, 200);
    let digest = digest_of(&v.cookie(PORTAL_COOKIE).unwrap());
    // Four minutes idle: still good (and the check counts as activity).
    store
        .touch_session(&digest, now() - minutes(4))
        .await
        .unwrap();
    assert_eq!(v.verify(APP, "GET").await.status, 200);
    store
        .touch_session(&digest, now() - minutes(4))
        .await
        .unwrap();
    assert_eq!(v.verify(APP, "GET").await.status, 200);
    // Six minutes idle: over the limit, back to the portal (web.md §8 case 14).
    store
        .touch_session(&digest, now() - minutes(6))
        .await
        .unwrap();
    let r = v.verify(APP, "GET").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.location(), Some(CASE_13));
    assert_eq!(v.verify(APP, "GET").await.status, 401, "the row is gone");
    assert_eq!(
        store.count_user_sessions(f.hamlet.id).await.unwrap(),
        1,
        "the page session stays"
    );

    // "Keep me logged in": a persistent cookie and no inactivity limit.
    let w = Visitor::new(&f);
    let r = w
        .log_in(AUTH, on_portal(CASE_13), "cordelia@zulip.com", true)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let line = set_cookie_line(&r, PORTAL_COOKIE).unwrap();
    assert!(line.contains("Max-Age=1209600"), "{line}");
    let digest = digest_of(&w.cookie(PORTAL_COOKIE).unwrap());
    store
        .touch_session(&digest, now() - minutes(600))
        .await
        .unwrap();
    assert_eq!(w.verify(APP, "GET").await.status, 200);
}

async fn unsafe_targets_go_to_the_default(kind: DbKind) {
    let Some(f) = portal(kind).await else {
        return;
    };
    const DEFAULT: &str = "https://app.example.test/home";
    let long = format!("https://app.example.test/{}", "a".repeat(2100));
    for rd in [
        "http://app.example.test/",
        "https://evil.test/",
        "https://example.test.evil.test/",
        "https://user:pw@app.example.test/",
        "https://app.example.test\\@evil.test/",
        "https:\\\\evil.test/",
        "https://app.example.test/\u{1}x",
        "javascript:alert(1)",
        "//evil.test/",
        long.as_str(),
    ] {
        let v = Visitor::new(&f);
        let query = serde_urlencoded_pair("rd", rd);
        let r = v
            .log_in(
                AUTH,
                &format!("/login/?{query}&rm=GET"),
                "hamlet@zulip.com",
                false,
            )
            .await;
        assert_eq!(r.status, 302, "{rd:?}: {}", r.body);
        assert_eq!(r.location(), Some(DEFAULT), "{rd:?}");
        // Logged in already: the same rule.
        let again = v.get(AUTH, &format!("/login/?{query}")).await;
        assert_eq!(again.location(), Some(DEFAULT), "{rd:?}");
    }
    // A safe one elsewhere under the domain is followed.
    let v = Visitor::new(&f);
    let rd = "https://deep.wiki.example.test:8443/p?q=1#top";
    let r = v
        .log_in(
            AUTH,
            &format!("/login/?{}", serde_urlencoded_pair("rd", rd)),
            "hamlet@zulip.com",
            false,
        )
        .await;
    assert_eq!(r.location(), Some(rd));
}

fn serde_urlencoded_pair(name: &str, value: &str) -> String {
    let mut s = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{name}={s}")
}

async fn portal_logout_needs_the_csrf_token(kind: DbKind) {
    let Some(f) = portal(kind).await else {
        return;
    };
    let v = Visitor::new(&f);
    let r = v
        .log_in(AUTH, on_portal(CASE_13), "hamlet@zulip.com", false)
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let old = v.cookie(PORTAL_COOKIE).unwrap();

    // A GET shows one button and changes nothing.
    let confirm = v
        .get(
            AUTH,
            &format!("/logout/?{}", serde_urlencoded_pair("rd", APP)),
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains(">Log out</button>"),
        "{}",
        confirm.body
    );
    assert_eq!(hidden(&confirm.body, "rd").as_deref(), Some(APP));
    let token = confirm.csrf_token();
    assert_eq!(v.verify(APP, "GET").await.status, 200);

    // Without the token, or from another origin: refused.
    let r = v.post(AUTH, "/logout/", &[("rd", APP)]).await;
    assert_eq!(r.status, 403);
    let r = v
        .post_from(
            AUTH,
            "/logout/",
            &[("csrfmiddlewaretoken", &token), ("rd", APP)],
            "https://app.example.test",
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(v.verify(APP, "GET").await.status, 200);

    // With it: both sessions end, both cookies go, and the browser goes to rd.
    let r = v
        .post(
            AUTH,
            "/logout/",
            &[("csrfmiddlewaretoken", &token), ("rd", APP)],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), Some(APP));
    let removal = set_cookie_line(&r, PORTAL_COOKIE).unwrap();
    assert!(removal.contains("Domain=example.test"), "{removal}");
    assert!(v.cookie(PORTAL_COOKIE).is_none());
    assert!(v.cookie("__Host-latchkey_session").is_none());
    assert_eq!(
        f.server
            .admin
            .store
            .count_user_sessions(f.hamlet.id)
            .await
            .unwrap(),
        0
    );
    v.set_cookie(PORTAL_COOKIE, &old);
    let r = v.verify(APP, "GET").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.location(), Some(CASE_13));
    // An unsafe rd on logout: the portal's login page.
    let r = v
        .post(AUTH, "/logout/", &[("rd", "https://evil.test/")])
        .await;
    assert_eq!(r.location(), Some("/login/"));
    // /logout/ exists on portal hosts only.
    assert_eq!(v.get("zulip.example.test", "/logout/").await.status, 404);
}

fn basic(user: &User, key: &str) -> String {
    let raw = format!("{}:{key}", user.delivery_email);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn basic_answers_never_carry_a_location(kind: DbKind) {
    let Some(f) = portal(kind).await else {
        return;
    };
    let c = reqwest::Client::new();
    let key = f.server.key_of(&f.hamlet).await;
    let url = format!("http://{}/api/v1/auth/verify", f.server.addr);
    let ask = |auth: Option<String>, original: Option<&str>| {
        let mut rb = c.get(&url).header("host", "zulip.example.test");
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        if let Some(o) = original {
            rb = rb.header("x-original-url", o);
        }
        rb.send()
    };
    // A failed Basic header: 401 with the challenge and no Location, portal or not.
    for original in [Some(APP), None] {
        let r = ask(Some(basic(&f.hamlet, "not-the-key")), original)
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"zulip\"");
        assert!(r.headers().get("location").is_none());
    }
    // Nothing at all and no original URL: the Basic answer, as before portals.
    let r = ask(None, None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert!(r.headers().get("location").is_none());
    // A good key: 200 with the same identity headers as a portal session.
    let r = ask(Some(basic(&f.hamlet, &key)), Some(APP)).await.unwrap();
    assert_eq!(r.status(), 200);
    let id = f.hamlet.id.0.to_string();
    assert_eq!(r.headers()["x-latchkey-user"], id.as_str());
    assert_eq!(r.headers()["x-latchkey-user-id"], id.as_str());
    assert_eq!(r.headers()["x-latchkey-role"], "member");
    assert_eq!(r.headers()["x-latchkey-name"], "hamlet");
}
