//! `GET /api/v1/server_settings`: what a client needs to know before it logs in. Unauthenticated;
//! any Authorization header is ignored.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::Realm;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use auth_service::{App, ServiceError};

use crate::HttpOptions;
use crate::envelope::{ApiError, success};
use crate::logging::note_realm;
use crate::request;

/// Zulip's method names in `authentication_methods`, in its order; Latchkey implements the
/// password methods and `dev`, the rest are always false.
const OTHER_METHODS: &[&str] = &[
    "remoteuser",
    "github",
    "azuread",
    "gitlab",
    "google",
    "apple",
    "saml",
    "openid connect",
    "discord",
];

pub async fn server_settings(
    req: HttpRequest,
    state: web::Data<App>,
    options: web::Data<HttpOptions>,
) -> Result<HttpResponse, ApiError> {
    let host = request::host(&req, &state);
    let login = match state.login_options(&host).await {
        Ok(login) => login,
        // server_settings says "invalid subdomain" with a 400, not the login endpoints' 404.
        Err(ServiceError::NoSuchRealm) => return Err(ApiError::invalid_subdomain_400()),
        Err(e) => return Err(e.into()),
    };
    note_realm(&req, &login.subdomain);
    if login.realm.is_none() && options.root_domain_landing_page {
        return Err(ApiError::bad_request("Subdomain required"));
    }
    let mut methods = Map::new();
    methods.insert("password".into(), json!(login.password));
    methods.insert("dev".into(), json!(login.dev));
    methods.insert("email".into(), json!(login.email));
    methods.insert("ldap".into(), json!(login.ldap));
    for name in OTHER_METHODS {
        methods.insert((*name).into(), json!(false));
    }

    let zulip = &options.zulip;
    let mut f = Map::new();
    f.insert("authentication_methods".into(), Value::Object(methods));
    f.insert("external_authentication_methods".into(), json!([]));
    f.insert("zulip_version".into(), json!(zulip.version));
    f.insert("zulip_merge_base".into(), json!(zulip.merge_base));
    f.insert("zulip_feature_level".into(), json!(zulip.feature_level));
    f.insert(
        "push_notifications_enabled".into(),
        json!(zulip.push_notifications_enabled),
    );
    f.insert("is_incompatible".into(), json!(is_incompatible(&req)));
    f.insert("email_auth_enabled".into(), json!(login.email));
    f.insert(
        "require_email_format_usernames".into(),
        json!(login.require_email_format_usernames),
    );
    f.insert("realm_uri".into(), json!(login.realm_url));
    f.insert("realm_url".into(), json!(login.realm_url));
    f.insert("realm_web_public_access_enabled".into(), json!(false));
    if let Some(r) = &login.realm {
        f.insert("realm_name".into(), json!(r.name));
        f.insert("realm_icon".into(), json!(realm_icon(r)));
        f.insert(
            "realm_description".into(),
            json!(render_description(&r.description)),
        );
    }
    // server_settings is not part of Zulip's parameter framework: no ignored_parameters list.
    Ok(success(f, &[]))
}

/// True only for the `ZulipInvalid` client, Zulip's hook for refusing outdated clients.
fn is_incompatible(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.split('/').next().unwrap_or("").trim() == "ZulipInvalid")
        .unwrap_or(false)
}

/// Zulip's default realm icon: a Gravatar identicon derived from the realm id.
fn realm_icon(realm: &Realm) -> String {
    let hash = hex::encode(Sha256::digest(realm.id.0.to_string().as_bytes()));
    format!("https://secure.gravatar.com/avatar/{hash}?d=identicon")
}

/// The description as HTML: escaped text, one `<p>` per blank-line-separated paragraph,
/// single line breaks as `<br>`.
fn render_description(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_escaped_html() {
        assert_eq!(render_description(""), "");
        assert_eq!(
            render_description("Hello <b>world</b> & co\n\nSecond\nline"),
            "<p>Hello &lt;b&gt;world&lt;/b&gt; &amp; co</p>\n<p>Second<br>\nline</p>"
        );
    }
}
