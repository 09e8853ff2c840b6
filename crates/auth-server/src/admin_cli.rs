//! The administrator's read-outs and bot commands: `realm show`, `user show`, JSON for the list
//! commands, and `bot list|create|deactivate`. Bots go through [`crate::bots`], the path the API
//! uses.

use anyhow::{Result, anyhow, bail};
use auth_core::{BackendKind, BotType, Realm, User};
use auth_store::{Actor, UserFilter};
use serde_json::{Value, json};

use crate::bots::{self, NewBot};
use crate::clock::rfc3339;
use crate::commands::{BotCommand, find_realm};
use crate::state::AppState;

/// A realm as JSON, with the methods that work on this server.
pub fn realm_json(state: &AppState, r: &Realm) -> Value {
    let methods = |working: bool| -> Vec<&'static str> {
        [BackendKind::Email, BackendKind::Ldap, BackendKind::Dev]
            .into_iter()
            .filter(|k| k.enabled_in(r) && state.method_enabled(*k, Some(r)) == working)
            .map(BackendKind::name)
            .collect()
    };
    json!({
        "id": r.id.0,
        "subdomain": r.subdomain,
        "name": r.name,
        "description": r.description,
        "url": crate::host::realm_url(&r.subdomain, &state.settings.server),
        "active": !r.deactivated,
        "methods": methods(true),
        "methods_unavailable_here": methods(false),
        "ldap_auto_create": r.ldap_auto_create,
        "created": rfc3339(r.created_at),
    })
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

pub async fn realm_show(state: &AppState, subdomain: &str, as_json: bool) -> Result<()> {
    let realm = find_realm(state, subdomain).await?;
    let users = state.store.list_users(realm.id, UserFilter::All).await?;
    let mut v = realm_json(state, &realm);
    let active = |bot: bool| {
        users
            .iter()
            .filter(|u| u.is_active && u.is_bot() == bot)
            .count()
    };
    v["people_active"] = json!(active(false));
    v["bots_active"] = json!(active(true));
    v["accounts_total"] = json!(users.len());
    print_object(&v, as_json)
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

fn print_object(v: &Value, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    if let Value::Object(map) = v {
        for (k, val) in map {
            let text = match val {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{k:<26} {text}");
        }
    }
    Ok(())
}

/// One JSON object per line.
pub fn print_json_lines(values: &[Value]) {
    for v in values {
        println!("{v}");
    }
}

pub async fn bot_command(state: &AppState, cmd: BotCommand) -> Result<()> {
    match cmd {
        BotCommand::List {
            realm,
            owner,
            all,
            json: as_json,
        } => {
            let realm = find_realm(state, &realm).await?;
            let owner = match owner {
                Some(email) => Some(find_person(state, &realm, &email).await?),
                None => None,
            };
            let list: Vec<User> = bots::visible(state, &realm, None, all)
                .await?
                .into_iter()
                .filter(|b| owner.as_ref().is_none_or(|o| b.bot_owner_id == Some(o.id)))
                .collect();
            if as_json {
                let values: Vec<Value> = list.iter().map(|b| user_json(b, None)).collect();
                print_json_lines(&values);
                return Ok(());
            }
            println!(
                "{:>5}  {:<40} {:<30} {:<16} {:<11} owner",
                "id", "email", "name", "type", "state"
            );
            for b in &list {
                println!(
                    "{:>5}  {:<40} {:<30} {:<16} {:<11} {}",
                    b.id.0,
                    b.delivery_email,
                    b.full_name,
                    match b.bot_type {
                        Some(BotType::IncomingWebhook) => "incoming-webhook",
                        _ => "generic",
                    },
                    if b.is_active { "active" } else { "deactivated" },
                    b.bot_owner_id
                        .map(|o| o.0.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Ok(())
        }
        BotCommand::Create {
            realm,
            owner,
            full_name,
            short_name,
            incoming_webhook,
        } => {
            let realm = find_realm(state, &realm).await?;
            let owner = find_person(state, &realm, &owner).await?;
            let bot = bots::create(
                state,
                NewBot {
                    realm: &realm,
                    owner: owner.id,
                    full_name: &full_name,
                    short_name: &short_name,
                    bot_type: if incoming_webhook {
                        BotType::IncomingWebhook
                    } else {
                        BotType::Generic
                    },
                },
                Actor::cli(),
            )
            .await?;
            // The key is not printed: its owner reads it in the API (or the web pages).
            println!(
                "created bot {} (id {}) owned by {}",
                bot.delivery_email, bot.id.0, owner.delivery_email
            );
            Ok(())
        }
        BotCommand::Deactivate { email, realm } => {
            let realm = find_realm(state, &realm).await?;
            let bot = state
                .store
                .user_by_email(realm.id, &email)
                .await?
                .filter(User::is_bot)
                .ok_or_else(|| anyhow!("no bot {email:?} in realm {:?}", realm.subdomain))?;
            bots::deactivate(state, &bot, Actor::cli()).await?;
            println!(
                "deactivated bot {}; its key stopped working",
                bot.delivery_email
            );
            Ok(())
        }
    }
}

/// An active person (not a bot) of the realm.
async fn find_person(state: &AppState, realm: &Realm, email: &str) -> Result<User> {
    let user = state
        .store
        .user_by_email(realm.id, email)
        .await?
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", realm.subdomain))?;
    if user.is_bot() {
        bail!("{email:?} is a bot; a bot's owner is a person");
    }
    if !user.is_active {
        bail!("{email:?} is deactivated");
    }
    Ok(user)
}
