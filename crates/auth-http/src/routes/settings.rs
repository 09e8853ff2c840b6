//! `GET /api/v1/server_settings`: what a client needs to know before it logs in. Unauthenticated;
//! any Authorization header is ignored.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::Realm;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use auth_service::{App, ServiceError};

use crate::HttpOptions;
use crate::envelope::{ApiError, success_of};
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

/// What `server_settings` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ServerSettings {
    /// Zulip's login methods by name (`password`, `dev`, `email`, `ldap`, `github`, …):
    /// whether each is enabled on this realm.
    authentication_methods: BTreeMap<&'static str, bool>,
    /// Always empty: Latchkey has no external (social) login methods.
    #[schema(value_type = Vec<Object>)]
    external_authentication_methods: Vec<serde_json::Value>,
    zulip_version: String,
    zulip_merge_base: String,
    zulip_feature_level: u32,
    push_notifications_enabled: bool,
    /// True only for the `ZulipInvalid` client (Zulip's hook for refusing outdated clients).
    is_incompatible: bool,
    email_auth_enabled: bool,
    require_email_format_usernames: bool,
    /// The realm's URL (Zulip's old name for `realm_url`).
    realm_uri: String,
    realm_url: String,
    realm_web_public_access_enabled: bool,
    /// The realm's name (absent on the root domain without a realm).
    #[serde(skip_serializing_if = "Option::is_none")]
    realm_name: Option<String>,
    /// The realm's icon (absent on the root domain without a realm).
    #[serde(skip_serializing_if = "Option::is_none")]
    realm_icon: Option<String>,
    /// The realm's description as HTML (absent on the root domain without a realm).
    #[serde(skip_serializing_if = "Option::is_none")]
    realm_description: Option<String>,
}

/// What a client needs to know before it logs in. Unauthenticated: an `Authorization` header
/// is ignored. Also answers `HEAD`.
#[utoipa::path(
    get,
    path = "/api/v1/server_settings",
    tag = "authentication",
    responses(
        (status = 200, description = "The server's and the realm's settings", body = ServerSettings),
        crate::api_responses::PublicErrors,
    ),
    security(()),
)]
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
    let mut methods = BTreeMap::new();
    methods.insert("password", login.password);
    methods.insert("dev", login.dev);
    methods.insert("email", login.email);
    methods.insert("ldap", login.ldap);
    for name in OTHER_METHODS {
        methods.insert(*name, false);
    }
    let zulip = &options.zulip;
    let realm = login.realm.as_ref();
    let answer = ServerSettings {
        authentication_methods: methods,
        external_authentication_methods: Vec::new(),
        zulip_version: zulip.version.clone(),
        zulip_merge_base: zulip.merge_base.clone(),
        zulip_feature_level: zulip.feature_level,
        push_notifications_enabled: zulip.push_notifications_enabled,
        is_incompatible: is_incompatible(&req),
        email_auth_enabled: login.email,
        require_email_format_usernames: login.require_email_format_usernames,
        realm_uri: login.realm_url.clone(),
        realm_url: login.realm_url.clone(),
        realm_web_public_access_enabled: false,
        realm_name: realm.map(|r| r.name.clone()),
        realm_icon: realm.map(realm_icon),
        realm_description: realm.map(|r| render_description(&r.description)),
    };
    // server_settings is not part of Zulip's parameter framework: no ignored_parameters list.
    success_of(&answer, &[])
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
