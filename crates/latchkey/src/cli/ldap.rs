//! `latchkey ldap sync`, `latchkey ldap query` and `latchkey ldap relink`.

use anyhow::{Result, anyhow, bail};
use auth_core::{AuthFailure, BackendKind, DirectoryUpdate, Realm};
use auth_ldap::sync::{SyncOptions, sync_realm};
use auth_ldap::{AccountMatch, DirEntry, Directory, RelinkPlan, assess, match_account};
use auth_store::Actor;

use super::{LdapCommand, find_realm};
use crate::open::AppState;

fn directory(state: &AppState) -> Result<&Directory> {
    state.ldap.as_deref().ok_or_else(|| {
        anyhow!("LDAP is not configured: add \"ldap\" to auth.backends and fill in [ldap]")
    })
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
    }
}

async fn sync(state: &AppState, realm: Option<String>, dry_run: bool, force: bool) -> Result<()> {
    let dir = directory(state)?;
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
        let report = sync_realm(dir, state.accounts.as_ref(), realm, options).await?;
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
    let dir = directory(state)?;
    let realm = find_realm(state, realm_sub).await?;
    println!("username:        {username}");
    let Some(translated) = dir.translate_username(username).await? else {
        println!("result:          refused: the email's domain is not ldap.append_domain");
        bail!(
            "a login as {username:?} would be refused: the email's domain is not ldap.append_domain"
        );
    };
    if translated != username {
        println!("directory user:  {translated}");
    }
    let entry = match dir.templated_dn(&translated) {
        Some(dn) => dir.read_entry(None, &dn).await?,
        None => dir.find_user(&translated).await?,
    };
    let Some(entry) = entry else {
        println!(
            "result:          no such user in the directory (a login would fail as a wrong password)"
        );
        bail!("{username:?} is not in the directory");
    };
    let a = assess(dir, None, &entry, &translated, &realm.subdomain).await?;
    println!("dn:              {}", a.dn);
    println!(
        "email:           {}",
        a.email
            .as_ref()
            .map(String::as_str)
            .unwrap_or("(cannot be derived)")
    );
    println!(
        "full name:       {}",
        a.full_name
            .as_ref()
            .map(String::as_str)
            .unwrap_or("(cannot be derived)")
    );
    println!(
        "directory id:    {}",
        a.external_id.as_deref().unwrap_or("(none)")
    );
    println!(
        "disabled:        {}",
        match &a.disabled {
            Ok(d) => d.to_string(),
            Err(e) => format!("unreadable ({e})"),
        }
    );
    println!(
        "realm access:    {} for {:?}",
        if a.realm_allowed {
            "allowed"
        } else {
            "refused"
        },
        realm.subdomain
    );
    let member_of = entry.values("memberOf");
    if !member_of.is_empty() {
        println!("groups:          {}", member_of.join("; "));
    }
    for (label, g) in [
        ("require group", &a.require_group),
        ("deny group", &a.deny_group),
    ] {
        if let Some((dn, member)) = g {
            println!(
                "{label}:{}{dn}: {}",
                " ".repeat(16 - label.len() - 1),
                if *member { "member" } else { "not a member" }
            );
        }
    }
    if dir.config().role_by_group.is_configured() {
        match &a.role_group {
            Some(g) => println!("role group:      {} ({})", g.group, g.role.name()),
            None => println!("role group:      none of the role groups"),
        }
    }
    let found = match_account(
        dir,
        state.accounts.as_ref(),
        realm.id,
        &a,
        a.email.as_deref().ok(),
    )
    .await?;
    match &found {
        AccountMatch::Found(u) => println!(
            "account:         {} (id {}, {})",
            u.delivery_email,
            u.id.0,
            match &u.deactivation {
                _ if u.is_active => "active".to_owned(),
                Some(d) => format!("deactivated {d}"),
                None => "deactivated".to_owned(),
            }
        ),
        AccountMatch::LinkedElsewhere {
            user,
            linked: Some(old),
            ..
        } => println!(
            "account:         {} (id {}) is linked to another directory entry that still exists: {}",
            user.delivery_email, user.id.0, old.dn
        ),
        AccountMatch::LinkedElsewhere {
            user, linked: None, ..
        } => println!(
            "account:         {} (id {}) is linked to an entry that is gone from the directory; `latchkey ldap relink` (or `ldap sync`) moves it to this entry",
            user.delivery_email, user.id.0
        ),
        AccountMatch::None if realm.ldap_auto_create => {
            println!("account:         none yet; the first login creates it")
        }
        AccountMatch::None => println!(
            "account:         none, and the realm does not create accounts from the directory"
        ),
    }
    // The login's own decision, in the login's order.
    let verdict = match (a.refusal(), &found) {
        (Some(r), _) => format!(
            "refused ({r:?}: {})",
            a.refusal_reason().unwrap_or_else(|| "see above".into())
        ),
        (None, AccountMatch::LinkedElsewhere { .. }) => {
            "refused (the account belongs to another directory entry)".into()
        }
        (None, AccountMatch::Found(user)) => match auth_core::admit(&realm, user) {
            Ok(()) => "allowed with the right password".into(),
            Err(AuthFailure::RealmDeactivated) => "refused (the realm is deactivated)".into(),
            Err(AuthFailure::UserDeactivated) => "refused (the account is deactivated)".into(),
            Err(_) => "refused (a bot account has no password)".into(),
        },
        (None, AccountMatch::None) if realm.deactivated => {
            "refused (the realm is deactivated)".into()
        }
        (None, AccountMatch::None) if !realm.ldap_auto_create => {
            "refused (no account, auto-create off)".into()
        }
        (None, AccountMatch::None) => "allowed with the right password".into(),
    };
    println!("result:          {verdict}");
    if verdict.starts_with("refused") {
        bail!("a login as {username:?} would be {verdict}");
    }
    Ok(())
}

fn describe(e: &DirEntry, dir: &Directory) -> String {
    let id = e.unique_id(&dir.config().attributes.unique_id);
    format!("{} ({})", e.dn, id.as_deref().unwrap_or("no directory id"))
}

/// Moves an account to the entry the directory now has for its email, once its linked entry is
/// gone from the directory; refuses while it exists anywhere under the link base.
async fn relink(state: &AppState, email: &str, realm_sub: &str, dry_run: bool) -> Result<()> {
    let dir = directory(state)?;
    let realm = find_realm(state, realm_sub).await?;
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
