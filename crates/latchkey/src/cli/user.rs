//! `latchkey user …`: create, list, show, change, deactivate and reactivate people, and set
//! their passwords (read from a prompt, a file or standard input). Creating, changing a role,
//! deactivating and reactivating go through `auth_service::members`, the path the API takes
//! (as the server's operator: no role rules, but the realm keeps an owner).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use auth_core::{BotType, Password, Realm, Role, User, policy};
use auth_service::admin;
use auth_service::members::{self, By, NewPerson, UserChange};
use auth_store::{Actor, UserFilter};
use serde_json::{Value, json};

use auth_service::clock::rfc3339;

use super::print::{print_json_lines, print_object};
use super::{PasswordSource, UserCommand, find_realm};
use crate::open::AppState;

pub(crate) async fn find_user(state: &AppState, realm: &Realm, email: &str) -> Result<User> {
    state
        .store
        .user_by_email(realm.id, email)
        .await?
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", realm.subdomain))
}

/// Reads a password from the named source, or prompts twice on a terminal.
pub(crate) fn read_password(source: &PasswordSource) -> Result<Password> {
    if let Some(path) = &source.password_file {
        return first_line_of_file(path);
    }
    if source.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let pw = Password::new(line.trim_end_matches(['\n', '\r']));
        zeroize::Zeroize::zeroize(&mut line);
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no password given: use --password-file FILE or --password-stdin (or run on a terminal to be prompted)"
        );
    }
    let first = Password::new(rpassword::prompt_password("Password: ")?);
    let second = Password::new(rpassword::prompt_password("Password (again): ")?);
    if first.expose() != second.expose() {
        bail!("the passwords do not match");
    }
    Ok(first)
}

pub(crate) fn first_line_of_file(path: &Path) -> Result<Password> {
    let mut text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let pw = Password::new(text.lines().next().unwrap_or(""));
    zeroize::Zeroize::zeroize(&mut text);
    Ok(pw)
}

pub(crate) async fn hash_new_password(
    state: &AppState,
    pw: &Password,
    user_hints: &[&str],
) -> Result<auth_core::PasswordHash> {
    state
        .policy
        .check(pw, user_hints)
        .map_err(|e| anyhow!("password refused: {e}"))?;
    Ok(state.hasher.hash(pw).await?)
}

pub(crate) async fn user_command(state: AppState, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Create {
            realm,
            email,
            full_name,
            role,
            no_password,
            password,
        } => {
            let realm = find_realm(&state, &realm).await?;
            let email = email.trim().to_owned();
            policy::validate_email(&email)
                .map_err(|_| anyhow!("{email:?} is not a valid email address"))?;
            let full_name = full_name.trim().to_owned();
            if full_name.is_empty() {
                bail!("--full-name must not be empty");
            }
            let role = Role::from_name(&role).ok_or_else(|| {
                anyhow!("unknown role {role:?} (owner, admin, moderator, member, guest)")
            })?;
            if state.store.user_by_email(realm.id, &email).await?.is_some() {
                bail!(
                    "{email:?} already has an account in realm {:?}",
                    realm.subdomain
                );
            }
            let pw = if no_password {
                None
            } else {
                let pw = read_password(&password)?;
                state
                    .policy
                    .check(&pw, &[&email, &full_name])
                    .map_err(|e| anyhow!("password refused: {e}"))?;
                Some(pw)
            };
            // The path `POST /api/v1/users` takes, as the server's operator.
            let user = members::create_person(
                &state,
                By::Cli,
                &realm,
                NewPerson {
                    email: &email,
                    full_name: &full_name,
                    password: pw.as_ref(),
                    role,
                },
            )
            .await?;
            println!(
                "created user {} <{}> ({}) in realm {:?}",
                user.id.0,
                user.delivery_email,
                user.role.name(),
                realm.subdomain
            );
        }
        UserCommand::Show { email, realm, json } => {
            user_show(&state, &realm, &email, json).await?;
        }
        UserCommand::List { realm, json: true } => {
            let realm = find_realm(&state, &realm).await?;
            let values: Vec<serde_json::Value> = state
                .store
                .list_users(realm.id, UserFilter::All)
                .await?
                .iter()
                .map(|u| user_json(u, None))
                .collect();
            print_json_lines(&values);
        }
        UserCommand::List { realm, json: false } => {
            let realm = find_realm(&state, &realm).await?;
            println!(
                "{:>5}  {:<40} {:<30} {:<9} {:<11} kind",
                "id", "email", "name", "role", "state"
            );
            for u in state.store.list_users(realm.id, UserFilter::All).await? {
                // Who deactivated the account and why, when that was recorded.
                let deactivation = u
                    .deactivation
                    .as_ref()
                    .map(|d| format!("  (deactivated {d})"))
                    .unwrap_or_default();
                println!(
                    "{:>5}  {:<40} {:<30} {:<9} {:<11} {}{deactivation}",
                    u.id.0,
                    u.delivery_email,
                    u.full_name,
                    u.role.name(),
                    if u.is_active { "active" } else { "deactivated" },
                    if u.is_bot() { "bot" } else { "person" }
                );
            }
        }
        UserCommand::SetPassword {
            email,
            realm,
            password,
        } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            let pw = read_password(&password)?;
            let hash =
                hash_new_password(&state, &pw, &[&user.delivery_email, &user.full_name]).await?;
            state
                .store
                .set_password(user.id, Some(hash), Actor::cli())
                .await?;
            // A new password starts with a clean login history (Zulip does the same).
            state.limits.clear_account(&user).await;
            println!("password set for {}", user.delivery_email);
        }
        UserCommand::RegenerateKey { email, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            admin::regenerate_key(&state, By::Cli, &user).await?;
            println!(
                "regenerated the API key of {}; the old key no longer works",
                user.delivery_email
            );
        }
        UserCommand::SetRole { email, role, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            let role = Role::from_name(&role).ok_or_else(|| {
                anyhow!("unknown role {role:?} (owner, admin, moderator, member, guest)")
            })?;
            let change = UserChange {
                role: Some(role),
                ..UserChange::default()
            };
            members::update(&state, By::Cli, &user, change).await?;
            println!("{} is now {}", user.delivery_email, role.name());
        }
        UserCommand::RequirePasswordReset { email, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            // No link from here: this process ends before the reset worker would mail it.
            admin::require_password_reset(&state, By::Cli, &realm, &user, false).await?;
            println!(
                "{} must set a new password (\"Forgot your password?\") before logging in again",
                user.delivery_email
            );
        }
        UserCommand::Deactivate {
            email,
            realm,
            reason,
        } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            let reason = reason
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty());
            members::deactivate(&state, By::Cli, &user, reason).await?;
            println!("deactivated {}", user.delivery_email);
        }
        UserCommand::Reactivate { email, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            members::reactivate(&state, By::Cli, &user).await?;
            println!("reactivated {}", user.delivery_email);
        }
    }
    Ok(())
}

/// A user as JSON (never a key or a hash; whether a password is set).
pub fn user_json(u: &User, has_password: Option<bool>) -> Value {
    json!({
        "id": u.id.0,
        "realm_id": u.realm_id.0,
        "email": u.delivery_email,
        "full_name": u.full_name,
        "role": u.role.name(),
        "active": u.is_active,
        "bot": u.is_bot(),
        "bot_type": u.bot_type.map(BotType::as_i32),
        "bot_owner_id": u.bot_owner_id.map(|o| o.0),
        "password_set": has_password,
        "password_reset_needed": u.password_reset_needed,
        "directory_id": u.external_id,
        "created": rfc3339(u.created_at),
    })
}

pub async fn user_show(state: &AppState, realm: &str, email: &str, as_json: bool) -> Result<()> {
    let realm = find_realm(state, realm).await?;
    let record = state
        .store
        .login_record(realm.id, email)
        .await?
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", realm.subdomain))?;
    let v = user_json(&record.user, Some(record.password_hash.is_some()));
    print_object(&v, as_json)
}
