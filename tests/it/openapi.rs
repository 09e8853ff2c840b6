//! `GET /api/v1/openapi.json`: every route of the route table is in the document.

use std::collections::BTreeSet;

use latchkey_tests::{DbKind, Fixture};
use serde_json::Value;

/// Every operation the document must have: `(verb, path)`. A resource answering GET and HEAD is
/// documented as GET; one answering any verb (`.to(…)`) as GET. Adding a route to the route
/// table without adding it here (and documenting it) fails [`every_route_is_documented`].
const DOCUMENTED: &[(&str, &str)] = &[
    ("post", "/api/v1/fetch_api_key"),
    ("get", "/api/v1/server_settings"),
    ("post", "/api/v1/dev_fetch_api_key"),
    ("get", "/api/v1/dev_list_users"),
    ("get", "/api/v1/users/me"),
    ("post", "/api/v1/users/me/api_key/regenerate"),
    ("get", "/api/v1/auth/verify"),
    ("get", "/api/v1/bots"),
    ("post", "/api/v1/bots"),
    ("delete", "/api/v1/bots/{bot_id}"),
    ("get", "/api/v1/bots/{bot_id}/api_key"),
    ("post", "/api/v1/bots/{bot_id}/api_key/regenerate"),
    ("post", "/api/v1/users/{user_id}/reactivate"),
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
