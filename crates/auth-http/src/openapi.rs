//! The OpenAPI 3.1 document of the API (`GET /api/v1/openapi.json`): [`ApiDoc`] collects the
//! `#[utoipa::path]` annotations kept on the handlers (routes/, `/metrics`) and the schemas of
//! the answer types next to them; the error answers are the reusable responses below, all the
//! Zulip error envelope ([`ErrorEnvelope`]) with the statuses of [`crate::envelope`].
//!
//! A success answer is `{"result":"success","msg":"", …fields}`: each handler's annotation names
//! the type of its fields, and [`Envelope`] makes every JSON 200 of the document
//! `allOf [SuccessEnvelope, <fields>]`, as [`crate::envelope::success`] writes it.
//!
//! Parameters are read from the form body (`application/x-www-form-urlencoded` or multipart) or
//! the query string ([`crate::params`]); the document describes the form body.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{AllOfBuilder, Ref, RefOr, Required, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::api_responses::{
    BadRequest, CsrfFailed, Empty, MethodNotAllowed, NotFound, PayloadTooLarge, RateLimited,
    SessionRequired, Unauthorized, Unavailable,
};
use crate::envelope::{ErrorEnvelope, SuccessEnvelope};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Zulip's authentication API as Latchkey serves it: log in for an API key, \
            the caller's account and key, bots, the realm's accounts and login methods for its \
            administrators, forward-auth, and the operational endpoints. \
            Parameters go in the form body (application/x-www-form-urlencoded or \
            multipart/form-data) or the query string; answers are Zulip's JSON envelope. \
            A path answers a verb it does not take with 405 (components/responses/MethodNotAllowed) \
            and an unknown path with 404 `Endpoint does not exist`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::routes::login::fetch_api_key,
        crate::routes::login::dev_fetch_api_key,
        crate::routes::settings::server_settings,
        crate::routes::dev::dev_list_users,
        crate::routes::me::get_me,
        crate::routes::me::regenerate_own_key,
        crate::routes::me::verify,
        crate::routes::bots::list_bots,
        crate::routes::bots::create_bot,
        crate::routes::bots::deactivate_bot,
        crate::routes::bots::get_bot_key,
        crate::routes::bots::regenerate_bot_key,
        crate::routes::bots::reactivate_user,
        crate::routes::users::list_users,
        crate::routes::users::get_user,
        crate::routes::users::update_user,
        crate::routes::users::deactivate_user,
        crate::routes::users::create_user,
        crate::routes::users::deactivate_own_user,
        crate::routes::realm::get_realm,
        crate::routes::realm::update_realm,
        crate::routes::json::fetch_api_key,
        crate::routes::json::regenerate_bot_key,
        crate::routes::health,
        crate::routes::readyz,
        crate::metrics::serve,
        serve,
    ),
    components(
        schemas(SuccessEnvelope, ErrorEnvelope, Empty),
        responses(
            BadRequest,
            Unauthorized,
            SessionRequired,
            CsrfFailed,
            NotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            RateLimited,
            Unavailable,
        ),
    ),
    modifiers(&Security, &Envelope, &JsonTwins),
)]
pub struct ApiDoc;

/// The security schemes the annotations name: `basic` (email and API key), `session` (the
/// pages' session cookie, for `/json`), `portal_cookie` (a login portal's cookie, for
/// forward-auth; its name is configured).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::pages::csrf::session_cookie_name(true),
                "The pages' session cookie (`latchkey_session` when cookies are not secure)",
            ))),
        );
        components.add_security_scheme(
            "portal_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "portal",
                "A login portal's cookie; its name is set in `[[portal.cookie]]`",
            ))),
        );
    }
}

/// Wraps the fields schema of every JSON 200 in the success envelope.
struct Envelope;

impl Modify for Envelope {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
                &mut item.head,
            ];
            for op in ops.into_iter().flatten() {
                let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") else {
                    continue;
                };
                let Some(content) = ok.content.get_mut("application/json") else {
                    continue;
                };
                if let Some(RefOr::Ref(fields)) = &content.schema {
                    let all = AllOfBuilder::new()
                        .item(Ref::from_schema_name("SuccessEnvelope"))
                        .item(RefOr::Ref(fields.clone()))
                        .build();
                    content.schema = Some(RefOr::T(Schema::AllOf(all)));
                }
            }
        }
    }
}

/// The administration endpoints the web app also calls under `/json/` with its session
/// ([`crate::caller::Authed`]): the path after `/api/v1` and the verbs served there.
const JSON_TWINS: &[(&str, &[&str])] = &[
    ("/users", &["get", "post"]),
    ("/users/me", &["delete"]),
    ("/users/{user_id}", &["get", "patch", "delete"]),
    ("/users/{user_id}/reactivate", &["post"]),
    ("/realm", &["get", "patch"]),
];

/// Documents each `/api/v1` operation of [`JSON_TWINS`] again under `/json`: the same
/// parameters and answers, authenticated by the session instead (401 `SessionRequired`), and an
/// unsafe verb with the `X-CSRFToken` header and its 403 `CsrfFailed`.
struct JsonTwins;

impl JsonTwins {
    fn twin(op: &Operation, unsafe_verb: bool) -> Operation {
        let mut op = op.clone();
        op.operation_id = op.operation_id.map(|id| format!("{id}_json"));
        op.security = Some(vec![SecurityRequirement::new::<&str, [&str; 0], &str>(
            "session",
            [],
        )]);
        let responses = &mut op.responses.responses;
        responses.insert(
            "401".into(),
            RefOr::Ref(Ref::from_response_name("SessionRequired")),
        );
        if unsafe_verb {
            responses.insert(
                "403".into(),
                RefOr::Ref(Ref::from_response_name("CsrfFailed")),
            );
            let header = ParameterBuilder::new()
                .name(crate::pages::csrf::HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("The session's CSRF token"))
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
                ))
                .build();
            op.parameters.get_or_insert_with(Vec::new).push(header);
        }
        op
    }
}

impl Modify for JsonTwins {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, verbs) in JSON_TWINS {
            let Some(api) = doc.paths.paths.get(&format!("/api/v1{path}")).cloned() else {
                continue;
            };
            let mut item = utoipa::openapi::PathItem::default();
            item.parameters = api.parameters.clone();
            for verb in *verbs {
                let (from, to, unsafe_verb) = match *verb {
                    "get" => (&api.get, &mut item.get, false),
                    "post" => (&api.post, &mut item.post, true),
                    "patch" => (&api.patch, &mut item.patch, true),
                    "delete" => (&api.delete, &mut item.delete, true),
                    _ => continue,
                };
                *to = from.as_ref().map(|op| JsonTwins::twin(op, unsafe_verb));
            }
            doc.paths.paths.insert(format!("/json{path}"), item);
        }
    }
}

/// The document as JSON, rendered once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be rendered");
            String::new()
        })
    })
}

/// This document (OpenAPI 3.1). Also answers `HEAD`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
    ),
    security(()),
)]
pub async fn serve() -> Result<HttpResponse, crate::envelope::ApiError> {
    let doc = json();
    if doc.is_empty() {
        return Err(crate::envelope::ApiError::internal());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        // The document changes only with the binary.
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(doc))
}
