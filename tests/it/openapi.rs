//! `GET /api/v1/openapi.json`: every route of the route table is in the document, and the server
//! keeps to it — schemathesis (tests/python/install-schemathesis.sh) sends generated requests to
//! a live server with a seeded account and checks that no answer is a 5xx and every answer
//! matches the document's schema for its status.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use latchkey_tests::pages::PageClient;
use latchkey_tests::process::run_with_timeout;
use latchkey_tests::python::{SCRUBBED_ENV, schemathesis_or_skip};
use latchkey_tests::{DbKind, Fixture, PW, both_dbs, host_for};
use serde_json::Value;

both_dbs!(server_keeps_to_the_document);

/// Every operation the document must have: `(verb, path)`. A resource answering GET and HEAD is
/// documented as GET; one answering any verb (`.to(…)`) as GET. Adding a route to the route
/// table without adding it here (and documenting it) fails [`every_route_is_documented`].
const DOCUMENTED: &[(&str, &str)] = &[
    ("post", "/api/v1/fetch_api_key"),
    ("get", "/api/v1/server_settings"),
    ("post", "/api/v1/dev_fetch_api_key"),
    ("get", "/api/v1/dev_list_users"),
    ("get", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("post", "/api/v1/users/me/api_key/regenerate"),
    ("get", "/api/v1/auth/verify"),
    ("get", "/api/v1/bots"),
    ("post", "/api/v1/bots"),
    ("delete", "/api/v1/bots/{bot_id}"),
    ("get", "/api/v1/bots/{bot_id}/api_key"),
    ("post", "/api/v1/bots/{bot_id}/api_key/regenerate"),
    ("post", "/api/v1/users/{user_id}/reactivate"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{user_id}"),
    ("patch", "/api/v1/users/{user_id}"),
    ("delete", "/api/v1/users/{user_id}"),
    ("get", "/api/v1/realm"),
    ("patch", "/api/v1/realm"),
    ("delete", "/json/users/me"),
    ("post", "/json/users/{user_id}/reactivate"),
    ("get", "/json/users"),
    ("post", "/json/users"),
    ("get", "/json/users/{user_id}"),
    ("patch", "/json/users/{user_id}"),
    ("delete", "/json/users/{user_id}"),
    ("get", "/json/realm"),
    ("patch", "/json/realm"),
    ("post", "/json/fetch_api_key"),
    ("post", "/json/bots/{bot_id}/api_key/regenerate"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/health"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// The route table's `(verb, path)` pairs, read from its source: `web::resource("…")` and the
/// `.route(web::<verb>()…)` calls up to the next resource (HEAD left out: it goes with GET).
fn routes_in_source() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../../crates/auth-http/src/routes/mod.rs"),
        include_str!("../../crates/auth-http/src/server.rs"),
    ];
    let mut out = BTreeSet::new();
    for source in sources {
        for chunk in source.split("web::resource(\"").skip(1) {
            let path = chunk.split('"').next().unwrap_or_default().to_owned();
            let mut verbs: BTreeSet<String> = chunk
                .split(".route(web::")
                .skip(1)
                .filter_map(|r| r.split("()").next())
                .filter(|v| *v != "head")
                .map(str::to_owned)
                .collect();
            if verbs.is_empty() {
                verbs.insert("get".into());
            }
            for v in verbs {
                out.insert((v, path.clone()));
            }
        }
    }
    out
}

async fn document(f: &Fixture) -> (Value, reqwest::header::HeaderMap) {
    let r = f.client().get("zulip", "/api/v1/openapi.json").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    (r.body, r.headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented() {
    let expected: BTreeSet<(String, String)> = DOCUMENTED
        .iter()
        .map(|(v, p)| ((*v).to_owned(), (*p).to_owned()))
        .collect();
    let in_source = routes_in_source();
    assert!(in_source.len() >= 19, "the source scan found {in_source:?}");
    assert_eq!(
        in_source, expected,
        "the route table and this test's list differ: document the new route \
         (#[utoipa::path] on its handler, listed in auth-http's openapi.rs) and add it to DOCUMENTED"
    );

    let Some(f) = Fixture::new(DbKind::Sqlite).await else {
        return;
    };
    let (doc, headers) = document(&f).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert!(headers.contains_key("cache-control"));
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            in_doc.insert((verb.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{verb} {path}");
            for (status, resp) in responses {
                if status.starts_with('4') || status.starts_with('5') && path != "/metrics" {
                    let r = resp["$ref"].as_str().unwrap_or_default();
                    assert!(
                        r.starts_with("#/components/responses/"),
                        "{verb} {path} {status}: an error answer is one of the shared responses"
                    );
                }
            }
        }
    }
    assert_eq!(in_doc, expected, "the document's operations");

    // The error responses are the Zulip envelope, with the documented headers.
    let responses = &doc["components"]["responses"];
    for (name, header) in [
        ("Unauthorized", Some("WWW-Authenticate")),
        ("RateLimited", Some("Retry-After")),
        ("Unavailable", Some("Retry-After")),
        ("MethodNotAllowed", Some("Allow")),
        ("BadRequest", None),
        ("PayloadTooLarge", None),
    ] {
        let r = &responses[name];
        assert_eq!(
            r["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorEnvelope",
            "{name}: {r}"
        );
        if let Some(h) = header {
            assert!(r["headers"].get(h).is_some(), "{name} documents {h}: {r}");
        }
    }
    // A success answer is the envelope and the endpoint's fields.
    let ok = &doc["paths"]["/api/v1/fetch_api_key"]["post"]["responses"]["200"];
    let all = ok["content"]["application/json"]["schema"]["allOf"]
        .as_array()
        .unwrap();
    assert_eq!(all[0]["$ref"], "#/components/schemas/SuccessEnvelope");
    assert_eq!(all[1]["$ref"], "#/components/schemas/LoginAnswer");
    let form = &doc["paths"]["/api/v1/fetch_api_key"]["post"]["requestBody"]["content"];
    assert!(
        form.get("application/x-www-form-urlencoded").is_some(),
        "{form}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["basic"]["scheme"],
        "basic"
    );
    f.server.stop().await;
}

/// Runs the schemathesis CLI against `base`, bounded; panics with its output unless it passes.
fn schemathesis(cli: &std::path::Path, dir: &std::path::Path, base: &str, args: &[&str]) {
    let mut cmd = Command::new(cli);
    cmd.current_dir(dir)
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "20",
            "--seed",
            "20261130",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--header",
            &format!("Host: {}", host_for("zulip")),
        ])
        .args(args);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "*")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SCHEMATHESIS_HOOKS", "");
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("schemathesis did not finish: {e:#}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found disagreements:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

async fn server_keeps_to_the_document(kind: DbKind) {
    let Some(cli) = schemathesis_or_skip() else {
        return;
    };
    let Some(f) = Fixture::with(kind, |s| {
        s.rate_limits.authenticate_enabled = false;
        s.rate_limits.api_by_ip = Default::default();
        s.rate_limits.api_by_user = Default::default();
        s.development.enabled = true;
        s.auth.backends = vec![auth_core::BackendKind::Email, auth_core::BackendKind::Dev];
    })
    .await
    else {
        return;
    };
    let key = f.server.key_of(&f.hamlet).await;
    let auth = format!("{}:{key}", f.hamlet.delivery_email);
    // Another member's credentials for the own deactivation (Hamlet's key is regenerated before).
    let other_key = f.server.key_of(&f.cordelia).await;
    let other = format!("{}:{other_key}", f.cordelia.delivery_email);
    let base = format!("http://{}", f.server.addr);
    let dir = f.db.dir();
    const OWN_KEY: &str = "/api/v1/users/me/api_key/regenerate";
    const OWN_DEACTIVATION: &str = "deactivate_own_user";
    // The /json endpoints with a signed-in web session: its cookie, its CSRF token and the
    // realm's Origin on every request.
    let pages = PageClient::new(f.server.addr, "zulip");
    let login = pages.log_in(&f.hamlet.delivery_email, PW, None).await;
    assert_eq!(login.status, 302, "{}", login.body);
    let token = pages.get("/settings/your-bots").await.csrf_token();
    let session = [
        format!("Cookie: {}", pages.cookies()),
        format!("X-CSRFToken: {token}"),
        format!("Origin: {}", pages.origin()),
    ];
    // The API with Basic auth, except the caller's own key regeneration and deactivation
    // (which would end the credentials the rest of the run uses); the /json endpoints with the
    // session, except the deactivation; then the key regeneration alone, and the deactivation
    // last, by Cordelia (after its first success every answer is the documented 401).
    let run = tokio::task::spawn_blocking(move || {
        let api = "^/(api|health|readyz|metrics)";
        let basic = [
            "--auth",
            &auth,
            "--include-path-regex",
            api,
            "--exclude-path",
            OWN_KEY,
            "--exclude-operation-id",
            OWN_DEACTIVATION,
        ];
        schemathesis(&cli, &dir, &base, &basic);
        let json_twin = format!("{OWN_DEACTIVATION}_json");
        let mut json = vec![
            "--include-path-regex",
            "^/json/",
            "--exclude-operation-id",
            json_twin.as_str(),
        ];
        for h in &session {
            json.extend(["--header", h.as_str()]);
        }
        schemathesis(&cli, &dir, &base, &json);
        schemathesis(
            &cli,
            &dir,
            &base,
            &["--auth", &auth, "--include-path", OWN_KEY],
        );
        schemathesis(
            &cli,
            &dir,
            &base,
            &["--auth", &other, "--include-operation-id", OWN_DEACTIVATION],
        );
    })
    .await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
    // The server still answers after the run.
    f.client()
        .get("zulip", "/api/v1/server_settings")
        .await
        .assert_success();
    f.server.stop().await;
}
