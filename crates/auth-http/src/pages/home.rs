//! `GET /`: the signed-in start page (name, email, role, organization, "Log out"); a visitor
//! without a session goes to the login page. A later slice makes this the settings page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth_service::App;

use super::shell::{Shell, redirect, render};
use super::{PageError, realm_of, session_of};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    shell: Shell,
    full_name: &'a str,
    email: &'a str,
    role: &'static str,
    realm_name: &'a str,
}

/// How a role is shown.
fn role_label(role: auth_core::Role) -> &'static str {
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
    let realm = realm_of(&req, &app).await?;
    let Some(session) = session_of(&req, &app, &realm).await? else {
        return Ok(redirect("/login/", Vec::new()));
    };
    let user = &session.user;
    let mut shell = Shell::new(realm.name.as_str());
    shell.csrf = Some(session.csrf_secret.expose().to_owned());
    shell.signed_in = Some(user.full_name.clone());
    let page = HomePage {
        shell,
        full_name: &user.full_name,
        email: &user.delivery_email,
        role: role_label(user.role),
        realm_name: &realm.name,
    };
    render(StatusCode::OK, &page, Vec::new())
}
