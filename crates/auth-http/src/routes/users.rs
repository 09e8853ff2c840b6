//! Zulip's user administration API: list and read the realm's accounts (`GET /users`,
//! `GET /users/{id}`), change a name or role (`PATCH /users/{id}`), deactivate a person
//! (`DELETE /users/{id}`), create one with a password (`POST /users`). Thin handlers over
//! [`auth_service::members`], which holds Zulip's role rules; `POST /users/{id}/reactivate`
//! lives with the bots (`bots.rs`) and reaches the same service.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{BotType, Password, Role, User};
use auth_service::members::{self, By, NewPerson, UserChange};
use auth_service::{App, Caller};
use serde_json::{Map, Value, json};

use crate::caller::Authed;
use crate::envelope::{ApiError, success, success_of};
use crate::params::Params;
use crate::routes::me::avatar_url;

/// One account as `GET /users` and `GET /users/{id}` show it (Zulip's user object).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    user_id: i64,
    /// The address, when the caller may see it (see `delivery_email`); otherwise
    /// `user<id>@<realm host>`, as Zulip shows a hidden address.
    email: String,
    /// The real address: for the realm's owners and administrators, the person, and for bots;
    /// null otherwise (as under Zulip's "administrators only" email visibility).
    delivery_email: Option<String>,
    full_name: String,
    /// Null when `client_gravatar` is true (the default) and the client can compute the
    /// Gravatar URL from `email` itself.
    avatar_url: Option<String>,
    avatar_version: i32,
    /// Zulip's role number: 100 owner, 200 administrator, 300 moderator, 400 member, 600 guest.
    role: i32,
    is_owner: bool,
    /// Owners and administrators.
    is_admin: bool,
    is_guest: bool,
    is_bot: bool,
    is_active: bool,
    /// Always empty.
    timezone: String,
    /// RFC 3339, to the second.
    date_joined: String,
    /// Bots only: 1 generic, 2 incoming webhook, …
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>, required = false)]
    bot_type: Option<Value>,
    /// Bots only: the owner's user id (null if it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, required = false)]
    bot_owner_id: Option<Value>,
    /// People only, with `include_custom_profile_fields`: always empty (Latchkey has no
    /// custom profile fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, required = false)]
    profile_data: Option<Map<String, Value>>,
}

/// How the caller asked accounts to be shown.
struct View<'a> {
    app: &'a App,
    caller: &'a Caller,
    client_gravatar: bool,
    profile_fields: bool,
}

impl View<'_> {
    /// Zulip's `client_gravatar` (default true) and `include_custom_profile_fields` (default
    /// false), JSON booleans.
    fn read<'a>(app: &'a App, caller: &'a Caller, params: &Params) -> Result<View<'a>, ApiError> {
        Ok(View {
            app,
            caller,
            client_gravatar: params.json_bool("client_gravatar")?.unwrap_or(true),
            profile_fields: params
                .json_bool("include_custom_profile_fields")?
                .unwrap_or(false),
        })
    }

    fn member(&self, user: &User) -> Member {
        let visible = members::can_see_email(&self.caller.user, user);
        let email = if visible {
            user.delivery_email.clone()
        } else {
            members::dummy_email(self.app, &self.caller.realm, user.id)
        };
        Member {
            user_id: user.id.0,
            avatar_url: (!self.client_gravatar).then(|| avatar_url(&email)),
            delivery_email: visible.then(|| user.delivery_email.clone()),
            email,
            full_name: user.full_name.clone(),
            avatar_version: 1,
            role: user.role.as_i32(),
            is_owner: user.role == Role::Owner,
            is_admin: user.role.is_realm_admin(),
            is_guest: user.role == Role::Guest,
            is_bot: user.is_bot(),
            is_active: user.is_active,
            timezone: String::new(),
            date_joined: date_joined(user),
            bot_type: user.bot_type.map(|t| json!(BotType::as_i32(t))),
            bot_owner_id: user.is_bot().then(|| json!(user.bot_owner_id.map(|o| o.0))),
            profile_data: (self.profile_fields && !user.is_bot()).then(Map::new),
        }
    }
}

/// When the account was created, RFC 3339 to the second (as `GET /users/me` says it).
pub fn date_joined(user: &User) -> String {
    let joined =
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(user.created_at.0.max(0) as u64);
    humantime::format_rfc3339_seconds(joined).to_string()
}

/// What `GET /api/v1/users` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MemberList {
    members: Vec<Member>,
}

/// What `GET /api/v1/users/{user_id}` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OneMember {
    user: Member,
}

/// The query of `GET /api/v1/users` and `GET /api/v1/users/{user_id}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Parameters of the document only: `Params` reads them.
pub struct MemberQuery {
    /// JSON boolean, default true: leave `avatar_url` null where the client can compute it.
    client_gravatar: Option<bool>,
    /// JSON boolean, default false: add `profile_data` (always empty) to people.
    include_custom_profile_fields: Option<bool>,
}

/// Every account of the caller's realm, people and bots, active and deactivated, oldest first
/// (Zulip's "get users"). Anyone of the realm may list it; real addresses only where the
/// caller may see them.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(MemberQuery),
    responses(
        (status = 200, description = "The realm's accounts", body = MemberList),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn list_users(
    caller: Authed,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let view = View::read(&app, &caller, &params)?;
    let users = members::list(&app, &caller).await?;
    let answer = MemberList {
        members: users.iter().map(|u| view.member(u)).collect(),
    };
    success_of(&answer, &params.ignored())
}

/// One account of the caller's realm, active or deactivated (Zulip's "get a user"); 400
/// `No such user` for an id of another realm or none.
#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The account's user id"), MemberQuery),
    responses(
        (status = 200, description = "The account", body = OneMember),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn get_user(
    caller: Authed,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let view = View::read(&app, &caller, &params)?;
    let user = members::get(&app, &caller, &path).await?;
    success_of(
        &OneMember {
            user: view.member(&user),
        },
        &params.ignored(),
    )
}

/// The form of `PATCH /api/v1/users/{user_id}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct UpdateUserForm {
    /// The new name (an empty one is ignored).
    #[schema(required = false)]
    full_name: String,
    /// JSON integer, a Zulip role: 100 owner, 200 administrator, 300 moderator, 400 member,
    /// 600 guest.
    #[schema(required = false)]
    role: i32,
}

/// Changes an account's name and/or role (Zulip's "update a user"): administrators (a bot's
/// owner for the bot's name); giving or taking the owner role needs an owner
/// (`UNAUTHORIZED_PRINCIPAL`), and the realm's only owner keeps it. The account's next request
/// sees the new role, on every instance within a second.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The account's user id")),
    request_body(content = UpdateUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Changed", body = crate::api_responses::Empty),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn update_user(
    caller: Authed,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    let role = match params.json_int("role")? {
        None => None,
        Some(n) => Some(
            i32::try_from(n)
                .ok()
                .and_then(Role::from_i32)
                .ok_or_else(|| ApiError::bad_request("Invalid role"))?,
        ),
    };
    let change = UserChange {
        full_name: params.optional("full_name").map(str::to_owned),
        role,
    };
    members::update_for(&app, &caller, &path, change).await?;
    Ok(success(Map::new(), &params.ignored()))
}

/// Deactivates a person (Zulip's "deactivate a user"; bots have `DELETE /bots/{bot_id}`):
/// administrators; an owner only by an owner; never the realm's only owner. The person's key is
/// refused at once (on every instance within a second), their web sessions end, and their
/// bots are deactivated with them.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The person's user id")),
    responses(
        (status = 200, description = "Deactivated", body = crate::api_responses::Empty),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn deactivate_user(
    caller: Authed,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    members::deactivate_for(&app, &caller, &path).await?;
    Ok(success(Map::new(), &params.ignored()))
}

/// Deactivates the caller's own account (Zulip's "deactivate own user"; the web app sends it as
/// `DELETE /json/users/me`): the key is refused at once (on every instance within a second),
/// the web sessions end, the caller's bots are deactivated with them, and the audit log records
/// it as the caller's own act. 400 `CANNOT_DEACTIVATE_LAST_USER` (with `is_last_owner` and
/// `entity`) for the realm's only active account or only active owner.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "users",
    responses(
        (status = 200, description = "Deactivated", body = crate::api_responses::Empty),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn deactivate_own_user(
    caller: Authed,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req, payload).await?;
    members::deactivate_own(&app, &caller).await?;
    Ok(success(Map::new(), &params.ignored()))
}

/// The form of `POST /api/v1/users`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: `Params` reads the form.
pub struct CreateUserForm {
    /// The new person's address (their login name).
    email: String,
    /// Their first password; it must meet the server's password policy.
    password: String,
    full_name: String,
}

/// What `POST /api/v1/users` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    user_id: i64,
}

/// Creates a member with a password (Zulip's "create a user"). Zulip needs the
/// `can_create_users` right, which Latchkey gives to the realm's owners: an administrator gets
/// `User not authorized to create users`, anyone else `Must be an organization
/// administrator`. The realm must have the Email method on.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body(content = CreateUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The new person's user id", body = CreatedUser),
        crate::api_responses::BasicErrors,
    ),
    security(("basic" = [])),
)]
pub async fn create_user(
    caller: Authed,
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    members::may_create_users(&caller)?;
    let params = Params::of(&req, payload).await?;
    let email = params.required("email")?;
    let password = Password::new(params.required("password")?);
    let full_name = params.required("full_name")?;
    let user = members::create_person(
        &app,
        By::Caller(&caller),
        &caller.realm,
        NewPerson {
            email,
            full_name,
            password: Some(&password),
            role: Role::Member,
        },
    )
    .await?;
    success_of(&CreatedUser { user_id: user.id.0 }, &params.ignored())
}
