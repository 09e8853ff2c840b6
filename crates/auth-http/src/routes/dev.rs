//! `GET /api/v1/dev_list_users`: the accounts a development server offers for passwordless
//! login (`dev_fetch_api_key` is in [`super::login`]). On a production server (the default) it
//! gives Zulip's production answer.

use actix_web::{HttpResponse, web};
use auth_service::App;
use serde_json::{Map, json};

use crate::envelope::{ApiError, success};

pub async fn dev_list_users(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let accounts = app.dev_accounts().await?;
    let entry = |a: &auth_service::login::DevAccount| json!({"email": a.email, "realm_url": a.realm_url, "realm_uri": a.realm_url});
    let admins: Vec<_> = accounts.iter().filter(|a| a.is_admin).map(entry).collect();
    let members: Vec<_> = accounts.iter().filter(|a| !a.is_admin).map(entry).collect();
    let mut fields = Map::new();
    fields.insert("direct_admins".into(), json!(admins));
    fields.insert("direct_users".into(), json!(members));
    Ok(success(fields, &[]))
}
