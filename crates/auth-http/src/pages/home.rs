//! `GET /`: the signed-in start page is Settings → Account & privacy (so Zulip's
//! `/#settings/account-and-privacy` lands there); a visitor without a session goes to the
//! login page.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_service::App;

use super::PageError;

/// How a role is shown.
pub fn role_label(role: auth_core::Role) -> &'static str {
    use auth_core::Role;
    match role {
        Role::Owner => "Organization owner",
        Role::Administrator => "Organization administrator",
        Role::Moderator => "Moderator",
        Role::Member => "Member",
        Role::Guest => "Guest",
    }
}

pub async fn home(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    super::settings::account_page(req, app).await
}
