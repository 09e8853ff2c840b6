//! The `latchkey` command line: the clap types of every command, and the dispatch to one module
//! per command group (realm, user, bot, audit, ldap, limits). Every command that changes
//! something goes through the service (`auth-service`) or the store and writes an audit-log row.
//! Passwords come from a prompt, a file or standard input, never from the command line.

mod audit;
mod bot;
mod ldap;
mod ldap_config;
mod limits;
mod print;
mod realm;
mod user;

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use auth_core::Realm;
use auth_store::Actor;
use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::open::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Latchkey: a Zulip-compatible authentication service"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./latchkey.toml when it exists.
    #[arg(long, short, global = true, env = "LATCHKEY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve {
        /// Listen here instead of server.bind.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// First start: create the server secret, migrate, and create a root realm if there is none.
    Init {
        /// Name of the root realm created when the database has no realm yet.
        #[arg(long, default_value = "Latchkey")]
        realm_name: String,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage realms (organizations).
    #[command(subcommand)]
    Realm(RealmCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage bots (as an administrator).
    #[command(subcommand)]
    Bot(BotCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// LDAP tools: sync accounts with the directory, show what a login would do.
    #[command(subcommand)]
    Ldap(LdapCommand),
    /// Rate limits: lift a login block.
    #[command(subcommand)]
    Limits(LimitsCommand),
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Forget a username's failed logins (as submitted at login, e.g. an email), and those
    /// counted against the accounts and directory entry it names. Reaches every running
    /// instance, with or without Redis.
    Clear { username: String },
    /// Names refused (429) for too many failed logins within the login-limit window and not
    /// cleared since (from the audit log).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets masked); exit 1 if it is invalid.
    Check {
        /// Also connect to the database (and the LDAP directory, when configured).
        #[arg(long)]
        connect: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RealmCommand {
    /// Create a realm. Its URL is <subdomain>.<external_host>; the empty subdomain is the root.
    Create {
        /// Lower-case letters, digits and hyphens; "" for the root domain.
        #[arg(long)]
        subdomain: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        methods: MethodFlags,
    },
    /// List realms.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one realm: its URL, state, working login methods and account counts.
    Show {
        subdomain: String,
        #[arg(long)]
        json: bool,
    },
    /// Deactivate a realm: nobody in it can log in or use a key.
    Deactivate { subdomain: String },
    /// Reactivate a realm.
    Reactivate { subdomain: String },
    /// Switch the realm's login methods on or off.
    SetAuth {
        subdomain: String,
        #[arg(long)]
        email: Option<bool>,
        #[arg(long)]
        ldap: Option<bool>,
        #[arg(long)]
        dev: Option<bool>,
        /// Create accounts on a person's first successful LDAP login.
        #[arg(long)]
        ldap_auto_create: Option<bool>,
    },
}

#[derive(Debug, Args)]
pub struct MethodFlags {
    /// Do not allow email + password logins.
    #[arg(long)]
    no_email: bool,
    /// Do not allow LDAP logins.
    #[arg(long)]
    no_ldap: bool,
    /// Do not allow development logins.
    #[arg(long)]
    no_dev: bool,
}

#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from this file (first line).
    #[arg(long, conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (prompts for the password unless told where to read it).
    Create {
        /// Realm subdomain; "" (the default) is the root realm.
        #[arg(long, default_value = "")]
        realm: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: String,
        /// owner, admin, moderator, member or guest.
        #[arg(long, default_value = "member")]
        role: String,
        /// Create the account without a usable password.
        #[arg(long, conflicts_with_all = ["password_file", "password_stdin"])]
        no_password: bool,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List a realm's users.
    List {
        #[arg(long, default_value = "")]
        realm: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one user: role, state, bot owner, directory link, whether a password is set.
    Show {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password.
    SetPassword {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Replace a user's (or bot's) API key, e.g. after a leak; the old key stops working on
    /// every instance within a second. The new key is not printed: its owner fetches it.
    RegenerateKey {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
    },
    /// Change a user's role (owner, admin, moderator, member, guest).
    SetRole {
        email: String,
        role: String,
        #[arg(long, default_value = "")]
        realm: String,
    },
    /// Refuse the user's password until a new one is set.
    RequirePasswordReset {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
    },
    /// Deactivate a user: no logins, no API access. `ldap sync` never reactivates an account
    /// deactivated here.
    Deactivate {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
        /// Why (stored with the deactivation, shown by `user list` and in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reactivate a user.
    Reactivate {
        email: String,
        #[arg(long, default_value = "")]
        realm: String,
    },
}

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
    /// A realm's own directory settings (instead of the server-wide `[ldap]`).
    #[command(subcommand)]
    Config(ldap_config::LdapConfigCommand),
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

/// Runs a command that is not `serve` or `config check`.
pub async fn run(settings: Settings, command: Command) -> Result<()> {
    match command {
        Command::Serve { .. } | Command::Config(_) => {
            bail!("internal: serve and config are handled by main")
        }
        Command::Migrate => {
            // Only the database: the rest of the state needs the migrated schema.
            let store = auth_store::Store::connect(
                &settings.database_url()?,
                &auth_store::StoreOptions {
                    max_connections: 1,
                    connect_timeout: settings.database.connect_timeout_secs,
                },
            )?;
            let applied = store.migrate(Actor::cli()).await?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                for m in applied {
                    println!("applied {m}");
                }
            }
            Ok(())
        }
        Command::Init { realm_name } => realm::init(settings, &realm_name).await,
        Command::Realm(cmd) => realm::realm_command(open(settings).await?, cmd).await,
        Command::User(cmd) => user::user_command(open(settings).await?, cmd).await,
        Command::Bot(cmd) => bot::bot_command(&open(settings).await?, cmd).await,
        Command::Audit(cmd) => audit::run(open(settings).await?, cmd).await,
        Command::Ldap(cmd) => ldap::run(open(settings).await?, cmd).await,
        Command::Limits(LimitsCommand::Clear { username }) => {
            limits::clear(&open(settings).await?, &username).await
        }
        Command::Limits(LimitsCommand::List { json }) => {
            limits::list(&open(settings).await?, json).await
        }
    }
}

pub(crate) async fn open(settings: Settings) -> Result<AppState> {
    AppState::open(settings).await.map_err(|e| anyhow!("{e}"))
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
