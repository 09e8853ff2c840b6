//! `latchkey ldap config set|show|unset|test --realm SUBDOMAIN`: a realm's own directory
//! settings, through the same service functions as the Directory page. The bind password is
//! write-only: read from a file or standard input (never a command-line argument, which other
//! users of the machine can see), shown as "(set)".

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use auth_core::SecretString;
use auth_ldap::LdapConfig;
use auth_service::members::By;
use auth_service::realm_ldap::{BindPassword, StoredSettings};
use clap::{Args, Subcommand};

use super::find_realm;
use crate::config::{LdapSettings, read_secret_file};
use crate::open::AppState;

#[derive(Debug, Subcommand)]
pub enum LdapConfigCommand {
    /// Give the realm its own directory settings (replacing any it had), from a file in the
    /// `[ldap]` format and/or flags; flags change the realm's current settings (or the
    /// defaults). Checked as `[ldap]` is; every running instance uses them within a second.
    Set(Box<SetArgs>),
    /// The realm's own directory settings (the bind password shown as "(set)"), as TOML.
    Show {
        #[arg(long)]
        realm: String,
    },
    /// Remove the realm's own settings: it uses the server-wide `[ldap]` again.
    Unset {
        #[arg(long)]
        realm: String,
    },
    /// Test the connection to the directory that serves the realm, step by step (TCP, TLS or
    /// StartTLS, service bind), then the search base, groups and attributes.
    Test {
        #[arg(long)]
        realm: String,
    },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[arg(long)]
    realm: String,
    /// A TOML file with the settings, as in `[ldap]` of latchkey.toml (the `[ldap]` header
    /// may be left out); `bind_password` or `bind_password_file` in it set the password.
    #[arg(long)]
    from_file: Option<PathBuf>,
    /// A server, `ldap://host:389` or `ldaps://host:636` (repeat for failover; replaces the list).
    #[arg(long = "uri")]
    uris: Vec<String>,
    #[arg(long)]
    starttls: Option<bool>,
    /// PEM file of the CA to trust ("" for the system's).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    #[arg(long)]
    tls_verify: Option<bool>,
    /// The service account ("" for anonymous searches).
    #[arg(long)]
    bind_dn: Option<String>,
    /// Read the service account's password from this file.
    #[arg(long, conflicts_with_all = ["bind_password_stdin", "clear_bind_password"])]
    bind_password_file: Option<PathBuf>,
    /// Read the service account's password from the first line of standard input.
    #[arg(long, conflicts_with = "clear_bind_password")]
    bind_password_stdin: bool,
    /// Remove the stored bind password.
    #[arg(long)]
    clear_bind_password: bool,
    #[arg(long)]
    user_search_base: Option<String>,
    #[arg(long)]
    user_search_filter: Option<String>,
    /// Direct bind, e.g. `uid={user},ou=people,dc=example,dc=org` ("" to search instead).
    #[arg(long)]
    user_dn_template: Option<String>,
    #[arg(long)]
    append_domain: Option<String>,
    #[arg(long)]
    email_attr: Option<String>,
    #[arg(long)]
    require_group: Option<String>,
    #[arg(long)]
    deny_group: Option<String>,
}

pub async fn run(state: &AppState, cmd: LdapConfigCommand) -> Result<()> {
    match cmd {
        LdapConfigCommand::Set(args) => set(state, *args).await,
        LdapConfigCommand::Show { realm } => show(state, &realm).await,
        LdapConfigCommand::Unset { realm } => {
            let realm = find_realm(state, &realm).await?;
            if state.unset_realm_ldap(By::Cli, &realm).await? {
                println!(
                    "realm {:?} no longer has its own directory settings; it uses the server-wide [ldap]",
                    realm.subdomain
                );
            } else {
                println!(
                    "realm {:?} had no directory settings of its own",
                    realm.subdomain
                );
            }
            Ok(())
        }
        LdapConfigCommand::Test { realm } => test(state, &realm).await,
    }
}

/// An optional text flag: "" means "not set".
fn opt(value: String) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// The `[ldap]` settings in a file (with or without the `[ldap]` header), and the password it
/// names, if any.
fn from_file(
    path: &PathBuf,
    root_aliases: Vec<String>,
) -> Result<(LdapConfig, Option<SecretString>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    if let Some(toml::Value::Table(inner)) = value.remove("ldap") {
        if !value.is_empty() {
            bail!("{}: only the [ldap] section may be given", path.display());
        }
        value = inner;
    }
    let settings: LdapSettings = toml::Value::Table(value)
        .try_into()
        .with_context(|| format!("{}: not [ldap] settings", path.display()))?;
    let cfg = settings.to_config(root_aliases)?;
    let password = (!cfg.bind_password.is_empty()).then(|| cfg.bind_password.clone());
    Ok((cfg, password))
}

async fn set(state: &AppState, a: SetArgs) -> Result<()> {
    let realm = find_realm(state, &a.realm).await?;
    let aliases = state.ldap_root_aliases.clone();
    let (mut cfg, mut password) = match &a.from_file {
        Some(path) => {
            let (cfg, pw) = from_file(path, aliases)?;
            (cfg, pw.map(BindPassword::Set).unwrap_or(BindPassword::Keep))
        }
        None => match state.realm_ldap(By::Cli, &realm).await? {
            Some(view) => (
                view.settings
                    .to_config(SecretString::default(), aliases)
                    .map_err(|e| anyhow!("the stored settings cannot be read: {e}"))?,
                BindPassword::Keep,
            ),
            None => (LdapConfig::default(), BindPassword::Keep),
        },
    };
    if !a.uris.is_empty() {
        cfg.uris = a.uris;
    }
    if let Some(v) = a.starttls {
        cfg.starttls = v;
    }
    if let Some(v) = a.ca_file {
        cfg.ca_file = (!v.as_os_str().is_empty()).then_some(v);
    }
    if let Some(v) = a.tls_verify {
        cfg.tls_verify = v;
    }
    if let Some(v) = a.bind_dn {
        cfg.bind_dn = v.trim().to_owned();
    }
    if let Some(v) = a.user_search_base {
        cfg.user_search_base = v.trim().to_owned();
    }
    if let Some(v) = a.user_search_filter {
        cfg.user_search_filter = v.trim().to_owned();
    }
    for (flag, field) in [
        (a.user_dn_template, &mut cfg.user_dn_template),
        (a.append_domain, &mut cfg.append_domain),
        (a.email_attr, &mut cfg.email_attr),
        (a.require_group, &mut cfg.require_group),
        (a.deny_group, &mut cfg.deny_group),
    ] {
        if let Some(v) = flag {
            *field = opt(v);
        }
    }
    if let Some(path) = &a.bind_password_file {
        password = BindPassword::Set(read_secret_file(path, "the LDAP bind password")?);
    } else if a.bind_password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']);
        password = BindPassword::Set(SecretString::new(line));
    } else if a.clear_bind_password {
        password = BindPassword::Clear;
    }
    let view = state
        .set_realm_ldap(By::Cli, &realm, cfg.clone(), password)
        .await?;
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    if !state.backends.contains(&auth_core::BackendKind::Ldap) {
        eprintln!(
            "warning: auth.backends does not list \"ldap\": no realm logs in with LDAP until it does"
        );
    } else if !realm.methods.ldap {
        eprintln!(
            "note: LDAP is off for realm {:?}; turn it on with `latchkey realm set-auth {} --ldap true`",
            realm.subdomain, realm.subdomain
        );
    }
    println!(
        "realm {:?} now uses its own directory ({}); bind password {}",
        realm.subdomain,
        view.settings.uris.join(", "),
        if view.bind_password_set {
            "(set)"
        } else {
            "(not set)"
        }
    );
    Ok(())
}

/// The settings as TOML under `[ldap]`, the password as "(set)" or "(not set)".
pub fn settings_toml(settings: &StoredSettings, password_set: bool) -> Result<String> {
    let mut table = match toml::Value::try_from(settings)? {
        toml::Value::Table(t) => t,
        _ => bail!("the settings are not a table"),
    };
    table.insert(
        "bind_password".into(),
        toml::Value::String(if password_set { "(set)" } else { "(not set)" }.into()),
    );
    let mut root = toml::Table::new();
    root.insert("ldap".into(), toml::Value::Table(table));
    Ok(toml::to_string(&root)?)
}

async fn show(state: &AppState, realm: &str) -> Result<()> {
    let realm = find_realm(state, realm).await?;
    match state.realm_ldap(By::Cli, &realm).await? {
        Some(view) => {
            println!(
                "# realm {:?}: its own directory settings{}",
                realm.subdomain,
                match &view.broken {
                    Some(why) => format!(" (NOT IN USE: {why})"),
                    None => String::new(),
                }
            );
            print!("{}", settings_toml(&view.settings, view.bind_password_set)?);
        }
        None => println!(
            "# realm {:?} has no directory settings of its own; it uses the server-wide [ldap]{}",
            realm.subdomain,
            if state.ldap.is_some() {
                ""
            } else {
                " (none is configured)"
            }
        ),
    }
    Ok(())
}

async fn test(state: &AppState, realm: &str) -> Result<()> {
    let realm = find_realm(state, realm).await?;
    let t = state
        .test_realm_ldap_connection(By::Cli, &realm, None)
        .await?;
    for server in &t.servers {
        for step in &server.steps {
            println!(
                "{} {}: {}: {}",
                if step.ok { "ok     " } else { "FAILED " },
                server.uri,
                step.name,
                step.detail
            );
        }
    }
    for f in &t.findings {
        println!("{}", crate::ldap_check::line(f));
    }
    if !t.passed() {
        let failed: Vec<String> = t.servers.iter().filter_map(|s| s.failure()).collect();
        if failed.is_empty() {
            bail!("the directory check found problems (the `ldap: problem:` lines above)");
        }
        bail!("the connection test failed: {}", failed.join("; "));
    }
    println!("the connection test passed");
    Ok(())
}
