//! The worked example `deploy/nginx/latchkey-portal.conf` in a real nginx with TLS: an app
//! request without a portal cookie is sent to the portal, the login comes back to it, and the
//! app receives the identity headers (web.md §8 case 13 through a proxy).

use latchkey_tests::portal_nginx::PortalNginx;
use latchkey_tests::process::free_port;
use latchkey_tests::{DbKind, Fixture, PW, nginx};

use super::portal_settings;

/// The nginx and the fixture behind it; `None` (skip) without nginx outside CI.
pub async fn portal_behind_nginx() -> Option<(Fixture, PortalNginx)> {
    if !nginx::nginx_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is missing (tests/setup/install-nginx.sh)"
        );
        eprintln!("skipping: nginx is not installed");
        return None;
    }
    let port = free_port().expect("a free port");
    let f = Fixture::with(DbKind::Sqlite, |s| {
        portal_settings(s, Some(port), "example.org");
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await?;
    let upstream = f.server.addr;
    let n = tokio::task::spawn_blocking(move || PortalNginx::start(upstream, port))
        .await
        .unwrap()
        .expect("nginx starts");
    Some((f, n))
}

fn form_encoded(value: &str) -> String {
    let mut s = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_login_through_nginx_comes_back_with_the_identity() {
    let Some((f, n)) = portal_behind_nginx().await else {
        return;
    };
    let c = n.client();
    let app = n.url("app.example.org", "/x?y=1");
    let portal = format!("https://auth.example.org:{}", n.port());

    // No cookie: nginx turns Latchkey's 401 into a 302 to the portal.
    let r = c.get(&app).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", n.log_tail());
    let login = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        login,
        format!("{portal}/login/?rd={}&rm=GET", form_encoded(&app))
    );
    // A POST to the app names its method.
    let r = c.post(&app).body("x").send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("&rm=POST")
    );

    // The portal's login page (served through nginx at auth.example.org).
    let form = c.get(&login).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let body = form.text().await.unwrap();
    let page = latchkey_tests::pages::Page {
        status: 200,
        headers: Default::default(),
        body: body.clone(),
    };
    let token = page.csrf_token();
    assert!(body.contains("Log in to Zulip Dev"), "{body}");
    let r = c
        .post(format!("{portal}/accounts/login/"))
        .header("origin", &portal)
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", "hamlet@zulip.com"),
            ("password", PW),
            ("rd", app.as_str()),
            ("rm", "GET"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", n.log_tail());
    assert_eq!(r.headers()["location"], app.as_str());
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Secure-latchkey_portal="))
        .expect("the portal cookie");
    assert!(
        cookie.contains("Domain=example.org") && cookie.contains("Secure"),
        "{cookie}"
    );

    // Back at the app, which now sees who is asking.
    let r = c.get(&app).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", n.log_tail());
    let id = f.hamlet.id.0.to_string();
    assert_eq!(r.headers()["x-app-saw-user"], id.as_str());
    assert_eq!(r.headers()["x-app-saw-email"], "hamlet@zulip.com");
    assert_eq!(r.headers()["x-app-saw-realm"], "zulip");
    assert_eq!(r.headers()["x-app-saw-role"], "member");
    let text = r.text().await.unwrap();
    assert!(text.contains(&format!("user: {id}\n")), "{text}");
    assert!(text.contains("uri: /x?y=1\n"), "{text}");

    // A client's own identity headers never reach the app.
    let r = n
        .client()
        .get(&app)
        .header("x-latchkey-user", "1")
        .header("cookie", "__Secure-latchkey_portal=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
}
