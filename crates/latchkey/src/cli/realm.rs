//! `latchkey init` and `latchkey realm …`: create, list, show, change and deactivate realms.

use anyhow::{Result, anyhow, bail};
use auth_core::{AuthMethods, BackendKind, Realm, policy};
use auth_store::{Actor, NewRealm, UserFilter};
use serde_json::{Value, json};

use auth_service::clock::rfc3339;

use super::print::{print_json_lines, print_object};
use super::{RealmCommand, find_realm, open};
use crate::config::Settings;
use crate::open::AppState;

pub(crate) async fn init(settings: Settings, realm_name: &str) -> Result<()> {
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

/// One line about a realm. Its methods are those that work here: switched on for the realm
/// and available on this server (the backend configured; dev only on a development server).
/// Methods switched on but unavailable are named apart.
pub(crate) fn show_realm(state: &AppState, r: &Realm) -> String {
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

pub(crate) async fn realm_command(state: AppState, cmd: RealmCommand) -> Result<()> {
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
                auth_service::host::realm_url(&realm.subdomain, &state.hosts)
            );
        }
        RealmCommand::List { json: true } => {
            let values: Vec<serde_json::Value> = state
                .store
                .list_realms()
                .await?
                .iter()
                .map(|r| realm_json(&state, r))
                .collect();
            print_json_lines(&values);
        }
        RealmCommand::Show { subdomain, json } => {
            realm_show(&state, &subdomain, json).await?;
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
            // The path `PATCH /api/v1/realm` takes: at least one method stays on.
            let realm = auth_service::members::set_auth_methods(
                &state,
                auth_service::members::By::Cli,
                &realm,
                methods,
            )
            .await?
            .unwrap_or(realm);
            println!("{}", show_realm(&state, &realm));
        }
    }
    Ok(())
}

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
        "url": auth_service::host::realm_url(&r.subdomain, &state.hosts),
        "active": !r.deactivated,
        "methods": methods(true),
        "methods_unavailable_here": methods(false),
        "ldap_auto_create": r.ldap_auto_create,
        "created": rfc3339(r.created_at),
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
