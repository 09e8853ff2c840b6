//! The Zulip JSON envelope, and the one place where typed outcomes become Zulip error codes,
//! HTTP statuses and messages.
//!
//! Success: `{"result":"success","msg":"", …fields}`. Error: `{"result":"error","msg":…,"code":…,
//! …extra}`. Every response body produced by this crate goes through [`ApiError`] or
//! [`success`].

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthFailure, DirectoryRefusal};
use auth_service::{KeyRefusal, ServiceError};
use serde_json::{Map, Value, json};

/// Latchkey's own code for "a backend could not decide" (directory or database unreachable).
/// Zulip has no such code; clients that do not know it still show `msg`.
pub const CODE_BACKEND_UNAVAILABLE: &str = "AUTHENTICATION_BACKEND_UNAVAILABLE";

/// An error answer in the Zulip envelope.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// `None` only for the two shapes Zulip sends without a code (405 and 500).
    pub code: Option<&'static str>,
    pub msg: String,
    pub extra: Map<String, Value>,
    pub headers: Vec<(HeaderName, String)>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.msg)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: Some(code),
            msg: msg.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 `BAD_REQUEST`, Zulip's generic `JsonableError`.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
    }

    /// 400 `REQUEST_VARIABLE_MISSING`.
    pub fn missing_argument(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "REQUEST_VARIABLE_MISSING",
            format!("Missing '{name}' argument"),
        )
        .with("var_name", json!(name))
    }

    /// 400 `REQUEST_VARIABLE_INVALID`, with `var_name` and `bad_value`.
    pub fn invalid_argument(name: &str, value: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "REQUEST_VARIABLE_INVALID",
            format!("Bad value for '{name}': {value}"),
        )
        .with("var_name", json!(name))
        .with("bad_value", json!(value))
    }

    /// 413: the body is over the configured limit.
    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_REQUEST",
            format!("Request body too large (limit {limit} bytes)"),
        )
    }

    /// 401 `UNAUTHORIZED` with the Basic challenge: every failure of HTTP Basic
    /// authentication (spec §9).
    pub fn unauthorized(msg: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", msg)
            .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"zulip\"")
    }

    /// A Basic-auth failure as forward-auth answers it: always a 401 with the challenge
    /// (nginx's `auth_request` turns any other 4xx into a 500), except a rate limit (429) or
    /// an outage (503).
    pub fn as_forward_auth_denial(self) -> ApiError {
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => self,
            s if s.is_server_error() => self,
            _ => ApiError::unauthorized(&self.msg),
        }
    }

    /// 429 as Zulip sends it: `retry-after` (fractional seconds) in the body and as a header.
    pub fn rate_limited(retry_after_secs: f64) -> ApiError {
        let secs = (retry_after_secs * 1000.0).ceil() / 1000.0;
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_HIT",
            "API usage exceeded rate limit",
        )
        .with("retry-after", json!(secs))
        .with_header(header::RETRY_AFTER, format!("{secs}"))
    }

    /// A storage (or other infrastructure) failure: logged here with its context, answered
    /// as 503 without details.
    pub fn unavailable(context: &str, error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "{context}");
        ApiError::backend_unavailable()
    }

    /// "Invalid subdomain" as the login endpoints say it: 404 `NONEXISTENT_SUBDOMAIN`.
    pub fn nonexistent_subdomain() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NONEXISTENT_SUBDOMAIN",
            "Invalid subdomain",
        )
    }

    /// "Invalid subdomain" as server_settings says it: 400 `BAD_REQUEST`.
    pub fn invalid_subdomain_400() -> ApiError {
        ApiError::bad_request("Invalid subdomain")
    }

    /// 405 with `allowed_methods` and no `code`, as Zulip's verb guards answer.
    pub fn method_not_allowed(allowed: &[&str]) -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: None,
            msg: "Method Not Allowed".into(),
            extra: {
                let mut m = Map::new();
                m.insert("allowed_methods".into(), json!(allowed));
                m
            },
            headers: vec![(header::ALLOW, allowed.join(", "))],
        }
    }

    /// 404 for paths Latchkey does not serve.
    pub fn no_such_endpoint() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BAD_REQUEST",
            "Endpoint does not exist",
        )
    }

    /// 500 without details (the details go to the log, never to the client).
    pub fn internal() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: None,
            msg: "Internal server error".into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// 503: the database or a directory could not be reached.
    pub fn backend_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            CODE_BACKEND_UNAVAILABLE,
            "The authentication backend is unavailable; try again later",
        )
        .with_header(header::RETRY_AFTER, "5")
    }

    /// A failed password login, mapped per the spec (§1.2 and Latchkey's decisions).
    pub fn from_auth_failure(failure: &AuthFailure) -> ApiError {
        use StatusCode as S;
        match failure {
            AuthFailure::BadCredentials => ApiError::new(
                S::UNAUTHORIZED,
                "AUTHENTICATION_FAILED",
                "Your username or password is incorrect",
            ),
            AuthFailure::UserDeactivated => ApiError::new(
                S::UNAUTHORIZED,
                "USER_DEACTIVATED",
                "Account is deactivated",
            ),
            AuthFailure::RealmDeactivated => ApiError::new(
                S::UNAUTHORIZED,
                "REALM_DEACTIVATED",
                "This organization has been deactivated",
            ),
            AuthFailure::PasswordAuthDisabled => ApiError::new(
                S::UNAUTHORIZED,
                "PASSWORD_AUTH_DISABLED",
                "Password authentication is disabled in this organization",
            ),
            AuthFailure::PasswordResetRequired => ApiError::new(
                S::UNAUTHORIZED,
                "PASSWORD_RESET_REQUIRED",
                "Your password has been disabled and needs to be reset",
            ),
            AuthFailure::WrongRealm => ApiError::nonexistent_subdomain(),
            AuthFailure::Refused(reason) => refusal(*reason),
            AuthFailure::Unavailable { .. } => ApiError::backend_unavailable(),
            AuthFailure::RateLimited { retry_after } => {
                ApiError::rate_limited(retry_after.as_secs_f64())
            }
        }
    }
}

/// Messages of the Basic-auth path, exactly as Zulip words them.
pub const NOT_LOGGED_IN: &str = "Not logged in: API authentication or user session required";
pub const INVALID_HEADER: &str = "Invalid authorization header for basic auth";
pub const NOT_BASIC: &str = "This endpoint requires HTTP basic authentication.";
pub const INVALID_KEY: &str = "Invalid API key";
pub const MALFORMED_KEY: &str = "Malformed API key";
pub const REALM_DEACTIVATED: &str = "This organization has been deactivated";
pub const USER_DEACTIVATED: &str = "Account is deactivated";
pub const WRONG_SUBDOMAIN: &str = "Account is not associated with this subdomain";
pub const WEBHOOK_BOT: &str = "This API is not available to incoming webhook bots.";

/// The one mapping from a service outcome to Zulip's code, status and message.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Invalid(msg) => ApiError::bad_request(msg),
            ServiceError::MalformedHost => ApiError::bad_request(e.to_string()),
            ServiceError::NoSuchRealm => ApiError::nonexistent_subdomain(),
            ServiceError::Forbidden(msg) => ApiError::bad_request(msg),
            ServiceError::Principal(msg) => {
                ApiError::new(StatusCode::BAD_REQUEST, "UNAUTHORIZED_PRINCIPAL", msg)
            }
            ServiceError::LastUser { owner } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "CANNOT_DEACTIVATE_LAST_USER",
                e.to_string(),
            )
            .with("is_last_owner", json!(owner))
            .with(
                "entity",
                json!(if owner { "organization owner" } else { "user" }),
            ),
            ServiceError::Key(refusal) => ApiError::unauthorized(match refusal {
                KeyRefusal::Malformed => MALFORMED_KEY,
                KeyRefusal::Invalid => INVALID_KEY,
                KeyRefusal::RealmDeactivated => REALM_DEACTIVATED,
                KeyRefusal::UserDeactivated => USER_DEACTIVATED,
                KeyRefusal::WrongSubdomain => WRONG_SUBDOMAIN,
                KeyRefusal::WebhookBot => WEBHOOK_BOT,
            }),
            ServiceError::Auth(failure) => ApiError::from_auth_failure(&failure),
            ServiceError::Unavailable { context, error } => ApiError::unavailable(context, error),
        }
    }
}

/// Directory refusals keep Zulip's codes (so clients react as they know how) with a message that
/// says what happened.
fn refusal(reason: DirectoryRefusal) -> ApiError {
    use DirectoryRefusal as D;
    let (code, msg) = match reason {
        D::AccountDisabled => ("USER_DEACTIVATED", "Account is deactivated"),
        D::AccountExpired => (
            "USER_DEACTIVATED",
            "Your directory account has expired; contact your administrator",
        ),
        D::PasswordExpired | D::PasswordMustChange => (
            "PASSWORD_RESET_REQUIRED",
            "Your password has expired and must be changed in the directory",
        ),
        D::NotPermittedNow => (
            "AUTHENTICATION_FAILED",
            "Your directory account may not log in at this time or from this place",
        ),
        D::NotAllowedInRealm => (
            "AUTHENTICATION_FAILED",
            "Your account is not allowed to log in to this organization",
        ),
        D::ProvisioningDisabled => (
            "AUTHENTICATION_FAILED",
            "You have no account in this organization; ask an administrator to create one",
        ),
        D::MissingAttribute => (
            "AUTHENTICATION_FAILED",
            "Your directory entry has no email address for this organization; contact your administrator",
        ),
        D::InvalidProfile => (
            "AUTHENTICATION_FAILED",
            "Your directory entry's name or email cannot be used for an account here; contact your administrator",
        ),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, msg)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = Map::new();
        body.insert("result".into(), json!("error"));
        body.insert("msg".into(), json!(self.msg));
        if let Some(code) = self.code {
            body.insert("code".into(), json!(code));
        }
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        let mut resp = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                resp.insert_header((name.clone(), v));
            }
        }
        json_body(resp, &Value::Object(body))
    }
}

fn json_body(mut builder: actix_web::HttpResponseBuilder, body: &Value) -> HttpResponse {
    // Zulip serialises compactly with a trailing newline.
    let mut text = body.to_string();
    text.push('\n');
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(text)
}

/// [`success`] with the fields of a typed answer (a struct deriving `Serialize`, whose
/// `ToSchema` is what the OpenAPI document says the endpoint returns). The answer is written
/// straight into the body, without a `serde_json::Value` in between: this is the hot path of
/// `users/me`.
pub fn success_of<T: serde::Serialize>(
    fields: &T,
    ignored: &[String],
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Serialize)]
    struct Envelope<'a, T> {
        result: &'static str,
        msg: &'static str,
        #[serde(flatten)]
        fields: &'a T,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        ignored_parameters_unsupported: &'a [String],
    }
    let envelope = Envelope {
        result: "success",
        msg: "",
        fields,
        ignored_parameters_unsupported: ignored,
    };
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, &envelope) {
        Ok(()) => {
            // Zulip serialises compactly with a trailing newline.
            body.push(b'\n');
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("application/json")
                .body(body))
        }
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be serialised as a JSON object");
            Err(ApiError::internal())
        }
    }
}

/// `{"result":"success","msg":"", …fields}`; `ignored` becomes `ignored_parameters_unsupported`
/// when not empty.
pub fn success(fields: Map<String, Value>, ignored: &[String]) -> HttpResponse {
    let mut body = Map::new();
    body.insert("result".into(), json!("success"));
    body.insert("msg".into(), json!(""));
    for (k, v) in fields {
        body.insert(k, v);
    }
    if !ignored.is_empty() {
        body.insert("ignored_parameters_unsupported".into(), json!(ignored));
    }
    json_body(HttpResponse::Ok(), &Value::Object(body))
}

/// The fields every success answer has besides its own (the OpenAPI document combines this
/// with each endpoint's answer).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `success` writes these fields.
pub struct SuccessEnvelope {
    /// Always `success`.
    #[schema(pattern = "^success$")]
    result: String,
    /// Always empty.
    #[schema(max_length = 0)]
    msg: String,
    /// The names of the parameters given that the endpoint does not read.
    ignored_parameters_unsupported: Option<Vec<String>>,
}

/// Zulip's error envelope, as `ApiError` writes it. Some errors carry more fields: `var_name`
/// and `bad_value` (a missing or invalid parameter), `retry-after` (429), `allowed_methods`
/// (405), `reason` (a CSRF failure), the state of each dependency (`/health`, `/readyz`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `ApiError::error_response` writes these fields.
pub struct ErrorEnvelope {
    /// Always `error`.
    #[schema(pattern = "^error$")]
    result: String,
    /// What went wrong, for a person.
    msg: String,
    /// Zulip's error code (`BAD_REQUEST`, `UNAUTHORIZED`, `RATE_LIMIT_HIT`, …); absent only from
    /// 405 and 500 answers.
    #[schema(required = false)]
    code: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(resp: HttpResponse) -> Value {
        let bytes = resp.into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn error_envelope_shapes() {
        let e = ApiError::missing_argument("username");
        let resp = e.error_response();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            body(resp),
            json!({"result":"error","msg":"Missing 'username' argument","code":"REQUEST_VARIABLE_MISSING","var_name":"username"})
        );
        let resp = ApiError::method_not_allowed(&["POST"]).error_response();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers().get("allow").unwrap(), "POST");
        assert_eq!(
            body(resp),
            json!({"result":"error","msg":"Method Not Allowed","allowed_methods":["POST"]})
        );
    }

    #[test]
    fn auth_failures_map_per_spec() {
        let cases = [
            (
                AuthFailure::BadCredentials,
                401,
                "AUTHENTICATION_FAILED",
                "Your username or password is incorrect",
            ),
            (
                AuthFailure::UserDeactivated,
                401,
                "USER_DEACTIVATED",
                "Account is deactivated",
            ),
            (
                AuthFailure::RealmDeactivated,
                401,
                "REALM_DEACTIVATED",
                "This organization has been deactivated",
            ),
            (
                AuthFailure::PasswordAuthDisabled,
                401,
                "PASSWORD_AUTH_DISABLED",
                "Password authentication is disabled in this organization",
            ),
            (
                AuthFailure::PasswordResetRequired,
                401,
                "PASSWORD_RESET_REQUIRED",
                "Your password has been disabled and needs to be reset",
            ),
            (
                AuthFailure::WrongRealm,
                404,
                "NONEXISTENT_SUBDOMAIN",
                "Invalid subdomain",
            ),
        ];
        for (failure, status, code, msg) in cases {
            let e = ApiError::from_auth_failure(&failure);
            assert_eq!(e.status.as_u16(), status);
            assert_eq!(e.code, Some(code));
            assert_eq!(e.msg, msg);
        }
        let e = ApiError::from_auth_failure(&AuthFailure::Unavailable {
            backend: auth_core::BackendKind::Ldap,
            reason: "connect timeout".into(),
        });
        assert_eq!(e.status.as_u16(), 503);
        assert!(!e.msg.contains("timeout"));
    }

    #[test]
    fn success_envelope() {
        let mut f = Map::new();
        f.insert("api_key".into(), json!("k"));
        let v = body(success(f, &["foo".into()]));
        assert_eq!(
            v,
            json!({"result":"success","msg":"","api_key":"k","ignored_parameters_unsupported":["foo"]})
        );
    }
}
