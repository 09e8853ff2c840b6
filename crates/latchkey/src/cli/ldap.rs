//! `latchkey ldap sync`, `latchkey ldap query` and `latchkey ldap relink`, each with the
//! directory that serves the realm (its own, else the server-wide `[ldap]`).

use anyhow::{Result, anyhow, bail};
use std::sync::Arc;

use auth_core::{BackendKind, DirectoryUpdate, Realm};
use auth_ldap::sync::{SyncOptions, sync_realm};
use auth_ldap::{DirEntry, Directory, RelinkPlan, Serving};
use auth_service::members::By;
use auth_service::realm_ldap::PersonTest;
use auth_store::Actor;

use super::{LdapCommand, find_realm};
use crate::open::AppState;

/// The directory that serves `realm`: its own, else the server-wide `[ldap]`.
fn directory(state: &AppState, realm: &Realm) -> Result<Arc<Directory>> {
    match state.directory_for(realm) {
        Serving::Own(d) | Serving::Default(d) => Ok(d),
        Serving::Broken(why) => Err(anyhow!(
            "realm {:?}: its directory settings cannot be used: {why}",
            realm.subdomain
        )),
        Serving::None => Err(anyhow!(
            "realm {:?} has no directory: add \"ldap\" to auth.backends and fill in [ldap], or give it its own with `latchkey ldap config set --realm {}`",
            realm.subdomain,
            realm.subdomain
        )),
    }
}

pub async fn run(state: AppState, cmd: LdapCommand) -> Result<()> {
    match cmd {
        LdapCommand::Sync {
            realm,
            dry_run,
            force,
        } => sync(&state, realm, dry_run, force).await,
        LdapCommand::Query { username, realm } => query(&state, &username, &realm).await,
        LdapCommand::Relink {
            email,
            realm,
            dry_run,
        } => relink(&state, &email, &realm, dry_run).await,
        LdapCommand::Config(cmd) => super::ldap_config::run(&state, cmd).await,
    }
}

async fn sync(state: &AppState, realm: Option<String>, dry_run: bool, force: bool) -> Result<()> {
    let realms: Vec<Realm> = match realm {
        Some(sub) => vec![find_realm(state, &sub).await?],
        None => state
            .store
            .list_realms()
            .await?
            .into_iter()
            .filter(|r| state.method_enabled(BackendKind::Ldap, Some(r)))
            .collect(),
    };
    if realms.is_empty() {
        println!("no realm has LDAP enabled; nothing to sync");
        return Ok(());
    }
    let mut stopped = 0;
    for realm in &realms {
        if !state.method_enabled(BackendKind::Ldap, Some(realm)) {
            println!("realm {:?}: LDAP is not enabled; skipped", realm.subdomain);
            continue;
        }
        let options = SyncOptions {
            dry_run,
            force,
            directory_only_realm: !state.method_enabled(BackendKind::Email, Some(realm)),
        };
        let dir = directory(state, realm)?;
        let report = sync_realm(&dir, state.accounts.as_ref(), realm, options).await?;
        for c in &report.changes {
            println!(
                "  {} {}: {}",
                if report.applied {
                    "changed"
                } else {
                    "would change"
                },
                c.user.delivery_email,
                c.why
            );
        }
        for email in &report.missing_kept {
            println!(
                "  not in the directory (kept; set ldap.sync.deactivate_non_matching to deactivate): {email}"
            );
        }
        for who in &report.kept_deactivated {
            println!("  kept deactivated (sync reactivates only what it deactivated): {who}");
        }
        for c in &report.conflicts {
            println!("  refused: {c}");
        }
        for f in &report.failed {
            println!("  failed: {f}");
        }
        println!("{}", report.summary());
        if report.stopped.is_some() {
            stopped += 1;
        }
    }
    if stopped > 0 {
        bail!("the sync stopped in {stopped} realm(s) without changing anything there");
    }
    Ok(())
}

async fn query(state: &AppState, username: &str, realm_sub: &str) -> Result<()> {
    let realm = find_realm(state, realm_sub).await?;
    let t = state
        .test_ldap_person(By::Cli, &realm, username, None)
        .await?;
    print_person(&t);
    if !t.allowed {
        bail!("a login as {username:?} would be {}", t.verdict);
    }
    Ok(())
}

/// What `ldap query` prints of a person test (the page shows the same facts).
fn print_person(t: &PersonTest) {
    let shown = |v: &Option<Result<String, String>>| match v {
        Some(Ok(s)) => s.clone(),
        Some(Err(why)) => format!("(cannot be derived: {why})"),
        None => "(cannot be derived)".into(),
    };
    println!("username:        {}", t.username);
    if let Some(d) = t.directory_username.as_ref().filter(|d| **d != t.username) {
        println!("directory user:  {d}");
    }
    if let Some(dn) = &t.dn {
        println!("dn:              {dn}");
        println!("email:           {}", shown(&t.email));
        println!("full name:       {}", shown(&t.full_name));
        println!(
            "directory id:    {}",
            t.directory_id.as_deref().unwrap_or("(none)")
        );
        if let Some(d) = &t.disabled {
            println!(
                "disabled:        {}",
                match d {
                    Ok(d) => d.to_string(),
                    Err(e) => format!("unreadable ({e})"),
                }
            );
        }
        if let Some(allowed) = t.realm_allowed {
            println!(
                "realm access:    {}",
                if allowed { "allowed" } else { "refused" }
            );
        }
        if !t.groups.is_empty() {
            println!("groups:          {}", t.groups.join("; "));
        }
        for (label, g) in [
            ("require group", &t.require_group),
            ("deny group", &t.deny_group),
        ] {
            if let Some((dn, member)) = g {
                println!(
                    "{label}:{}{dn}: {}",
                    " ".repeat(16 - label.len() - 1),
                    if *member { "member" } else { "not a member" }
                );
            }
        }
        if t.roles_mapped {
            match &t.role_group {
                Some((g, role)) => println!("role group:      {g} ({})", role.name()),
                None => println!("role group:      none of the role groups"),
            }
        }
        if let Some(account) = &t.account {
            println!("account:         {account}");
        }
    }
    println!("result:          {}", t.verdict);
}

fn describe(e: &DirEntry, dir: &Directory) -> String {
    let id = e.unique_id(&dir.config().attributes.unique_id);
    format!("{} ({})", e.dn, id.as_deref().unwrap_or("no directory id"))
}

/// Moves an account to the entry the directory now has for its email, once its linked entry is
/// gone from the directory; refuses while it exists anywhere under the link base.
async fn relink(state: &AppState, email: &str, realm_sub: &str, dry_run: bool) -> Result<()> {
    let realm = find_realm(state, realm_sub).await?;
    let dir = directory(state, &realm)?;
    let dir = dir.as_ref();
    let user = state
        .store
        .user_by_email(realm.id, email)
        .await?
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", realm.subdomain))?;
    let account = format!("{} (id {})", user.delivery_email, user.id.0);
    match auth_ldap::plan_relink(dir, &user).await? {
        RelinkPlan::NotLinked => {
            println!(
                "{account} is not linked to a directory entry; its next login or `ldap sync` links it"
            );
            Ok(())
        }
        RelinkPlan::NoEntry => bail!(
            "the directory has no entry with the email of {account} under the people base; nothing to relink to"
        ),
        RelinkPlan::Ambiguous(dns) => bail!(
            "several directory entries have the email of {account}: {}; put the directory right first",
            dns.join("; ")
        ),
        RelinkPlan::AlreadyLinked(entry) => {
            println!(
                "{account} is already linked to {}; nothing to do",
                describe(&entry, dir)
            );
            Ok(())
        }
        RelinkPlan::OldEntryExists { old, new } => {
            println!("old entry:  {} (still exists)", describe(&old, dir));
            println!("new entry:  {}", describe(&new, dir));
            bail!(
                "refused: {account} stays linked to its entry, which still exists in the directory (perhaps moved or disabled); the new entry may be someone else. Delete the old entry first if it really is the same person"
            )
        }
        RelinkPlan::Relink {
            old_id,
            new,
            new_id,
        } => {
            println!("old entry:  {old_id} (gone from the directory)");
            println!("new entry:  {}", describe(&new, dir));
            if dry_run {
                println!("dry run: would relink {account} to the new entry; nothing changed");
                return Ok(());
            }
            let update = DirectoryUpdate {
                external_id: Some(new_id),
                ..Default::default()
            };
            state
                .store
                .update_user(user.id, update, Actor::cli())
                .await
                .map_err(|e| match e {
                    auth_store::StoreError::Conflict(_) => anyhow!(
                        "another account of realm {:?} is already linked to the new entry",
                        realm.subdomain
                    ),
                    other => other.into(),
                })?;
            println!(
                "relinked {account} to {}; its API key and bots are unchanged",
                new.dn
            );
            Ok(())
        }
    }
}
