//! Over 600 lines for now: issue 9 moves the command line into `cli/` with one file per command
//! group (several groups already live in `*_cli.rs`); the rest moves there in one step.
//!
//! The `latchkey` command line: serve, migrate, init, realm and user administration, config check.
//! Every command that changes something writes an audit-log row (through the store). Passwords
//! come from a prompt, a file or standard input, never from the command line.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use auth_core::{AuthMethods, BackendKind, Password, Realm, Role, User, policy};
use auth_store::{Actor, NewRealm, NewUser, UserFilter};
use clap::{Args, Parser, Subcommand};

use crate::commands::find_realm;
pub use crate::commands::{AuditCommand, BotCommand, LdapCommand};
use crate::config::Settings;
use crate::state::AppState;

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
        Command::Init { realm_name } => init(settings, &realm_name).await,
        Command::Realm(cmd) => realm_command(open(settings).await?, cmd).await,
        Command::User(cmd) => user_command(open(settings).await?, cmd).await,
        Command::Bot(cmd) => crate::admin_cli::bot_command(&open(settings).await?, cmd).await,
        Command::Audit(cmd) => crate::audit_cli::run(open(settings).await?, cmd).await,
        Command::Ldap(cmd) => crate::ldap_cli::run(open(settings).await?, cmd).await,
        Command::Limits(LimitsCommand::Clear { username }) => {
            crate::limits_cli::clear(&open(settings).await?, &username).await
        }
        Command::Limits(LimitsCommand::List { json }) => {
            crate::limits_cli::list(&open(settings).await?, json).await
        }
    }
}

async fn open(settings: Settings) -> Result<AppState> {
    AppState::open(settings).await.map_err(|e| anyhow!("{e}"))
}

async fn init(settings: Settings, realm_name: &str) -> Result<()> {
    let external = settings.server.external_host.clone();
    let scheme = settings.server.external_scheme;
    let state = open(settings).await?;
    let realms = state.store.list_realms().await?;
    if realms.is_empty() {
        let realm = state
            .store
            .create_realm(
                NewRealm {
                    subdomain: String::new(),
                    name: realm_name.to_owned(),
                    description: String::new(),
                    methods: AuthMethods::default(),
                    ldap_auto_create: true,
                },
                Actor::cli(),
            )
            .await?;
        println!(
            "created the root realm {:?} at {scheme}://{external}",
            realm.name
        );
    } else {
        println!("database ready ({} realm(s))", realms.len());
    }
    Ok(())
}

async fn find_user(state: &AppState, realm: &Realm, email: &str) -> Result<User> {
    state
        .store
        .user_by_email(realm.id, email)
        .await?
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", realm.subdomain))
}

/// One line about a realm. Its methods are those that work here: switched on for the realm
/// and available on this server (the backend configured; dev only on a development server).
/// Methods switched on but unavailable are named apart.
fn show_realm(state: &AppState, r: &Realm) -> String {
    let mut methods = Vec::new();
    let mut unavailable = Vec::new();
    for kind in [BackendKind::Email, BackendKind::Ldap, BackendKind::Dev] {
        if !kind.enabled_in(r) {
            continue;
        }
        if state.method_enabled(kind, Some(r)) {
            methods.push(kind.name());
        } else {
            unavailable.push(kind.name());
        }
    }
    let mut methods = if methods.is_empty() {
        "none".to_owned()
    } else {
        methods.join(",")
    };
    if !unavailable.is_empty() {
        methods.push_str(&format!(
            " (switched on, unavailable here: {})",
            unavailable.join(",")
        ));
    }
    format!(
        "{:>4}  {:<20} {:<30} {:<11} {}{}",
        r.id.0,
        if r.subdomain.is_empty() {
            "(root)"
        } else {
            &r.subdomain
        },
        r.name,
        if r.deactivated {
            "deactivated"
        } else {
            "active"
        },
        methods,
        if r.methods.ldap && !r.ldap_auto_create {
            " (no ldap auto-create)"
        } else {
            ""
        }
    )
}

async fn realm_command(state: AppState, cmd: RealmCommand) -> Result<()> {
    match cmd {
        RealmCommand::Create {
            subdomain,
            name,
            description,
            methods,
        } => {
            let subdomain = subdomain.trim().to_owned();
            policy::validate_subdomain(&subdomain, &state.settings.server.root_subdomain_aliases)
                .map_err(|e| anyhow!("{e}"))?;
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let realm = state
                .store
                .create_realm(
                    NewRealm {
                        subdomain,
                        name: name.trim().to_owned(),
                        description,
                        methods: AuthMethods {
                            email: !methods.no_email,
                            ldap: !methods.no_ldap,
                            dev: !methods.no_dev,
                        },
                        ldap_auto_create: true,
                    },
                    Actor::cli(),
                )
                .await?;
            println!(
                "created realm {} at {}",
                realm.id.0,
                crate::host::realm_url(&realm.subdomain, &state.settings.server)
            );
        }
        RealmCommand::List { json: true } => {
            let values: Vec<serde_json::Value> = state
                .store
                .list_realms()
                .await?
                .iter()
                .map(|r| crate::admin_cli::realm_json(&state, r))
                .collect();
            crate::admin_cli::print_json_lines(&values);
        }
        RealmCommand::Show { subdomain, json } => {
            crate::admin_cli::realm_show(&state, &subdomain, json).await?;
        }
        RealmCommand::List { json: false } => {
            println!(
                "{:>4}  {:<20} {:<30} {:<11} methods",
                "id", "subdomain", "name", "state"
            );
            for r in state.store.list_realms().await? {
                println!("{}", show_realm(&state, &r));
            }
        }
        RealmCommand::Deactivate { subdomain } => {
            let realm = find_realm(&state, &subdomain).await?;
            state
                .store
                .set_realm_deactivated(realm.id, true, Actor::cli())
                .await?;
            println!("deactivated realm {:?}", realm.subdomain);
        }
        RealmCommand::Reactivate { subdomain } => {
            let realm = find_realm(&state, &subdomain).await?;
            state
                .store
                .set_realm_deactivated(realm.id, false, Actor::cli())
                .await?;
            println!("reactivated realm {:?}", realm.subdomain);
        }
        RealmCommand::SetAuth {
            subdomain,
            email,
            ldap,
            dev,
            ldap_auto_create,
        } => {
            let mut realm = find_realm(&state, &subdomain).await?;
            if let Some(auto) = ldap_auto_create {
                realm = state
                    .store
                    .set_realm_ldap_auto_create(realm.id, auto, Actor::cli())
                    .await?;
            }
            let methods = AuthMethods {
                email: email.unwrap_or(realm.methods.email),
                ldap: ldap.unwrap_or(realm.methods.ldap),
                dev: dev.unwrap_or(realm.methods.dev),
            };
            let realm = state
                .store
                .set_realm_methods(realm.id, methods, Actor::cli())
                .await?;
            println!("{}", show_realm(&state, &realm));
        }
    }
    Ok(())
}

/// Reads a password from the named source, or prompts twice on a terminal.
fn read_password(source: &PasswordSource) -> Result<Password> {
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

fn first_line_of_file(path: &Path) -> Result<Password> {
    let mut text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let pw = Password::new(text.lines().next().unwrap_or(""));
    zeroize::Zeroize::zeroize(&mut text);
    Ok(pw)
}

async fn hash_new_password(
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

async fn user_command(state: AppState, cmd: UserCommand) -> Result<()> {
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
            let hash = if no_password {
                None
            } else {
                let pw = read_password(&password)?;
                Some(hash_new_password(&state, &pw, &[&email, &full_name]).await?)
            };
            let user = state
                .store
                .create_user(
                    NewUser {
                        realm_id: realm.id,
                        delivery_email: email,
                        full_name,
                        password_hash: hash,
                        role,
                        bot_type: None,
                        bot_owner_id: None,
                        external_id: None,
                    },
                    state.keys.sealer(),
                    Actor::cli(),
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
            crate::admin_cli::user_show(&state, &realm, &email, json).await?;
        }
        UserCommand::List { realm, json: true } => {
            let realm = find_realm(&state, &realm).await?;
            let values: Vec<serde_json::Value> = state
                .store
                .list_users(realm.id, UserFilter::All)
                .await?
                .iter()
                .map(|u| crate::admin_cli::user_json(u, None))
                .collect();
            crate::admin_cli::print_json_lines(&values);
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
            state
                .keys
                .regenerate(user.id, Actor::cli())
                .await
                .map_err(|e| anyhow!("{e}"))?;
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
            state.store.set_role(user.id, role, Actor::cli()).await?;
            println!("{} is now {}", user.delivery_email, role.name());
        }
        UserCommand::RequirePasswordReset { email, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            state
                .store
                .set_password_reset_needed(user.id, true, Actor::cli())
                .await?;
            println!(
                "{} must set a new password before logging in again",
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
            let update = auth_core::DirectoryUpdate {
                active: Some(false),
                reason,
                ..Default::default()
            };
            state
                .store
                .update_user(user.id, update, Actor::cli())
                .await?;
            println!("deactivated {}", user.delivery_email);
        }
        UserCommand::Reactivate { email, realm } => {
            let realm = find_realm(&state, &realm).await?;
            let user = find_user(&state, &realm, &email).await?;
            state
                .store
                .set_user_active(user.id, true, Actor::cli())
                .await?;
            println!("reactivated {}", user.delivery_email);
        }
    }
    Ok(())
}
