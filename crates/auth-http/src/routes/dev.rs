//! `GET /api/v1/dev_list_users`: the accounts a development server offers for passwordless
//! login (`dev_fetch_api_key` is in [`super::login`]). On a production server (the default) it
//! gives Zulip's production answer.

use actix_web::{HttpResponse, web};
use auth_service::App;

use crate::envelope::{ApiError, success_of};

/// One account of `dev_list_users`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DevAccount {
    email: String,
    realm_url: String,
    /// The same as `realm_url` (Zulip's old name).
    realm_uri: String,
}

/// What `dev_list_users` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DevUsers {
    /// The realms' administrators.
    direct_admins: Vec<DevAccount>,
    /// The other people.
    direct_users: Vec<DevAccount>,
}

/// The accounts a development server offers for passwordless login; any verb.
#[utoipa::path(
    get,
    path = "/api/v1/dev_list_users",
    tag = "development",
    responses(
        (status = 200, description = "The active people, administrators apart", body = DevUsers),
        crate::api_responses::PublicErrors,
    ),
    security(()),
)]
pub async fn dev_list_users(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let accounts = app.dev_accounts().await?;
    let entry = |a: &auth_service::login::DevAccount| DevAccount {
        email: a.email.clone(),
        realm_url: a.realm_url.clone(),
        realm_uri: a.realm_url.clone(),
    };
    let answer = DevUsers {
        direct_admins: accounts.iter().filter(|a| a.is_admin).map(entry).collect(),
        direct_users: accounts.iter().filter(|a| !a.is_admin).map(entry).collect(),
    };
    success_of(&answer, &[])
}
