//! The command groups that have their own module (`ldap_cli`, `admin_cli`, `audit_cli`), and the
//! realm lookup they share: here rather than in `cli.rs`, which dispatches to those modules, so
//! that no module imports the one that imports it.

use anyhow::{Result, anyhow};
use auth_core::Realm;
use clap::Subcommand;

use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum LdapCommand {
    /// Update names and emails from the directory, deactivate people who are gone or disabled
    /// (when configured) and reactivate returning ones. Stops, changing nothing, when the
    /// directory cannot be read completely or would deactivate too many.
    Sync {
        /// Only this realm (default: every realm with LDAP enabled).
        #[arg(long)]
        realm: Option<String>,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even if more than ldap.sync.max_deactivate_fraction would be deactivated.
        #[arg(long)]
        force: bool,
    },
    /// What the backend would do for this username (no password): the entry found, the
    /// mapped email and name, groups, and whether the login would be allowed.
    Query {
        username: String,
        /// The realm to judge access for.
        #[arg(long, default_value = "")]
        realm: String,
    },
    /// Move an account to the entry the directory now has for its email, once the entry it is
    /// linked to is gone from the directory (a person deleted and re-created). Refused while
    /// the old entry still exists anywhere in the directory.
    Relink {
        email: String,
        /// Realm subdomain; "" (the default) is the root realm.
        #[arg(long, default_value = "")]
        realm: String,
        /// Show the old and new entry; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BotCommand {
    /// List a realm's bots (active ones unless --all).
    List {
        #[arg(long, default_value = "")]
        realm: String,
        /// Only bots owned by this person.
        #[arg(long)]
        owner: Option<String>,
        /// Include deactivated bots.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create a bot owned by a person; its email is <short-name>-bot@<realm host>. The key is
    /// not printed: its owner reads it.
    Create {
        #[arg(long, default_value = "")]
        realm: String,
        /// The owner's email.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        full_name: String,
        #[arg(long)]
        short_name: String,
        /// An incoming-webhook bot (limited to webhook endpoints).
        #[arg(long)]
        incoming_webhook: bool,
    },
    /// Deactivate a bot: its key stops working at once.
    Deactivate {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Newest entries first.
    List {
        /// Only this realm.
        #[arg(long)]
        realm: Option<String>,
        /// Only entries about this person (acting or modified, or the username a login tried).
        #[arg(long)]
        user: Option<String>,
        /// Only this event type (user_login_failed, user_deactivated, …).
        #[arg(long)]
        event: Option<String>,
        /// Only entries with this reason (bad_credentials, no_such_person, rate_limited,
        /// not_allowed_in_realm, …).
        #[arg(long)]
        reason: Option<String>,
        /// Only entries newer than this (e.g. 30m, 2h, 7d).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Delete entries older than a duration (e.g. 90d, 12weeks); the deletion itself is audited.
    Prune {
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
    },
}

pub(crate) async fn find_realm(state: &AppState, subdomain: &str) -> Result<Realm> {
    state
        .store
        .realm_by_subdomain(subdomain)
        .await?
        .ok_or_else(|| {
            if subdomain.is_empty() {
                anyhow!("there is no root realm (subdomain \"\"); create one with `latchkey realm create --subdomain '' --name NAME` or `latchkey init`")
            } else {
                anyhow!("no realm with subdomain {subdomain:?}")
            }
        })
}
