//! `GET /`: the signed-in start page is Settings → Account & privacy (so Zulip's
//! `/#settings/account-and-privacy` lands there); a visitor without a session goes to the
//! login page.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_service::App;

use super::PageError;

pub async fn home(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, PageError> {
    super::settings::account_page(req, app).await
}
