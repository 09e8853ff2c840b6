//! `latchkey ldap sync` and `latchkey ldap query`.

use anyhow::{Result, anyhow, bail};
use auth_core::{AuthFailure, BackendKind, Realm};
use auth_ldap::sync::{SyncOptions, sync_realm};
use auth_ldap::{AccountMatch, Directory, assess, match_account};

use crate::cli::{LdapCommand, find_realm};
use crate::state::AppState;

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
        return Ok(());
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
        return Ok(());
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
    let found = match_account(
        dir,
        state.accounts.as_ref(),
        realm.id,
        &a,
        a.email.as_deref().ok(),
    )
    .await?;
    match &found {
        AccountMatch::Found { user: u, relink } => println!(
            "account:         {} (id {}, {}{})",
            u.delivery_email,
            u.id.0,
            match &u.deactivation {
                _ if u.is_active => "active".to_owned(),
                Some(d) => format!("deactivated {d}"),
                None => "deactivated".to_owned(),
            },
            if *relink {
                "; linked to an entry that is gone: a login relinks it"
            } else {
                ""
            }
        ),
        AccountMatch::LinkedElsewhere(u) => println!(
            "account:         {} (id {}) is linked to another directory entry that still exists",
            u.delivery_email, u.id.0
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
        (Some(r), _) => format!("refused ({r:?})"),
        (None, AccountMatch::LinkedElsewhere(_)) => {
            "refused (the account belongs to another directory entry)".into()
        }
        (None, AccountMatch::Found { user, .. }) => match auth_core::admit(&realm, user) {
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
    Ok(())
}
