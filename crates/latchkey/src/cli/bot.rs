//! `latchkey bot list|create|deactivate`, through [`auth_service::bots`], the path the API uses.

use anyhow::{Result, anyhow, bail};
use auth_core::{BotType, Realm, User};
use auth_service::bots::{self, NewBot};
use auth_store::Actor;
use serde_json::Value;

use super::user::user_json;

use super::print::print_json_lines;
use super::{BotCommand, find_realm};
use crate::open::AppState;

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
pub(crate) async fn find_person(state: &AppState, realm: &Realm, email: &str) -> Result<User> {
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
