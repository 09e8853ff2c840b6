//! `latchkey ldap sync`: bring a realm's directory-managed accounts in line with the directory.
//!
//! The rule that matters most: a transport error, a timeout or an empty listing means
//! "unknown", never "gone". The whole listing is read before anything changes; any error stops
//! the run with nothing changed; an empty listing stops it too; and a run that would deactivate
//! more than the configured share of the realm's active people stops unless forced.

use std::collections::HashMap;

use auth_core::{AccountStore, DirectoryUpdate, Realm, User, email_lookup_key};

use crate::conn::DirError;
use crate::directory::Directory;
use crate::entry::{self, DirEntry};

/// The audit source of sync's changes, and how it recognises the deactivations it made.
pub const SYNC_SOURCE: &str = "ldap-sync";
/// The reason of a deactivation for a person the directory no longer has.
const NOT_IN_DIRECTORY: &str = "not in the directory";

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// Apply even when more than the configured share would be deactivated.
    pub force: bool,
    /// Every person in the realm is managed by the directory (LDAP is the realm's only password
    /// method), not only accounts that a directory login created or linked.
    pub directory_only_realm: bool,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: User,
    pub update: DirectoryUpdate,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub realm: String,
    pub directory_people: usize,
    pub checked: usize,
    pub changes: Vec<Change>,
    pub deactivations: usize,
    pub reactivations: usize,
    /// Managed accounts the directory does not have, left alone (deactivation not configured).
    pub missing_kept: Vec<String>,
    /// Accounts the directory admits again but that someone other than sync deactivated (an
    /// administrator): left deactivated, with who did it and why.
    pub kept_deactivated: Vec<String>,
    /// Changes that could not be applied (e.g. an email another account already has).
    pub failed: Vec<String>,
    pub applied: bool,
    /// Why nothing was changed, when the run stopped itself.
    pub stopped: Option<String>,
}

impl SyncReport {
    /// A one-paragraph summary for the CLI.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "realm {:?}: {} directory entries, {} accounts checked, {} change(s) ({} deactivation(s), {} reactivation(s)), {} missing from the directory kept",
            self.realm,
            self.directory_people,
            self.checked,
            self.changes.len(),
            self.deactivations,
            self.reactivations,
            self.missing_kept.len()
        );
        if let Some(why) = &self.stopped {
            s.push_str(&format!("; STOPPED, nothing changed: {why}"));
        } else if !self.applied && !self.changes.is_empty() {
            s.push_str("; dry run, nothing changed");
        }
        if !self.failed.is_empty() {
            s.push_str(&format!("; {} change(s) failed", self.failed.len()));
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The directory could not be read completely: nothing was changed.
    #[error("the directory could not be read, nothing was changed: {0}")]
    Directory(#[from] DirError),
    #[error("the account store failed: {0}")]
    Store(String),
}

/// The person an account belongs to: by immutable id first, then by email.
fn match_entry<'a>(
    user: &User,
    by_id: &HashMap<String, &'a DirEntry>,
    by_email: &HashMap<String, &'a DirEntry>,
    unique_attr: &str,
) -> Option<&'a DirEntry> {
    if let Some(id) = &user.external_id {
        if let Some(e) = by_id.get(id) {
            return Some(e);
        }
    }
    // By email only when that entry can be this account's person (see `same_person`).
    by_email
        .get(&email_lookup_key(&user.delivery_email))
        .copied()
        .filter(|e| same_person(user, e, unique_attr, |id| by_id.contains_key(id)))
}

/// The entry can be this account's person: the account is not linked yet, is linked to this
/// entry, or is linked to an entry the directory no longer has (the person came back under a
/// new entry). An account linked to an entry that still exists is never given to another.
fn same_person(
    user: &User,
    entry: &DirEntry,
    unique_attr: &str,
    exists: impl Fn(&str) -> bool,
) -> bool {
    let id = entry.unique_id(unique_attr);
    match entry::link(user.external_id.as_deref(), id.as_deref()) {
        entry::Link::Free => true,
        entry::Link::Other(old) => !exists(old),
    }
}

/// Plans (and, unless dry-run or stopped, applies) the sync of one realm.
pub async fn sync_realm(
    dir: &Directory,
    accounts: &dyn AccountStore,
    realm: &Realm,
    options: SyncOptions,
) -> Result<SyncReport, SyncError> {
    let cfg = dir.config();
    let people = dir.all_people().await?;
    let users = accounts
        .realm_users(realm.id)
        .await
        .map_err(|e| SyncError::Store(e.to_string()))?;
    let mut report = SyncReport {
        realm: realm.subdomain.clone(),
        directory_people: people.len(),
        ..SyncReport::default()
    };
    let managed: Vec<&User> = users
        .iter()
        .filter(|u| !u.is_bot() && (options.directory_only_realm || u.external_id.is_some()))
        .collect();
    if people.is_empty() {
        if !managed.is_empty() {
            report.stopped = Some(
                "the directory listed nobody under the search base; that is read as an outage or a misconfiguration, not as everyone leaving".into(),
            );
        }
        return Ok(report);
    }

    // Accounts are matched by email only when usernames map to emails; otherwise the email is
    // the directory username, which `find_user` asks about below.
    let maps_usernames = cfg.maps_usernames();
    let mut by_id = HashMap::new();
    let mut by_email = HashMap::new();
    for p in &people {
        if let Some(id) = p.unique_id(&cfg.attributes.unique_id) {
            by_id.insert(id, p);
        }
        if maps_usernames {
            let username = entry::directory_username(p, "", cfg);
            if let Ok(email) = entry::email_for(p, username, cfg) {
                by_email.insert(email_lookup_key(&email), p);
            }
        }
    }

    for user in managed {
        report.checked += 1;
        let unique_attr = cfg.attributes.unique_id.as_str();
        let mut found = match_entry(user, &by_id, &by_email, unique_attr).cloned();
        if found.is_none() && !maps_usernames {
            // Without a mapping the email is the directory username: ask the directory as a
            // login would. An error here stops the run before anything changed.
            found = dir
                .find_user(&user.delivery_email)
                .await?
                .filter(|e| same_person(user, e, unique_attr, |id| by_id.contains_key(id)));
        }
        let Some(person) = found.as_ref() else {
            if cfg.sync.deactivate_non_matching && user.is_active {
                report.deactivations += 1;
                report.changes.push(Change {
                    user: user.clone(),
                    update: DirectoryUpdate {
                        active: Some(false),
                        reason: Some(NOT_IN_DIRECTORY.into()),
                        ..Default::default()
                    },
                    why: NOT_IN_DIRECTORY.into(),
                });
            } else if user.is_active {
                report.missing_kept.push(user.delivery_email.clone());
            }
            continue;
        };
        let mut update = DirectoryUpdate::default();
        let mut why = Vec::new();
        let username = if maps_usernames {
            entry::directory_username(person, "", cfg).to_owned()
        } else {
            user.delivery_email.clone()
        };
        if let Ok(email) = entry::email_for(person, &username, cfg) {
            if !email.eq_ignore_ascii_case(&user.delivery_email) {
                why.push(format!("email {} → {}", user.delivery_email, email));
                update.email = Some(email);
            }
        }
        if let Ok(name) = entry::full_name_for(person, cfg) {
            if name != user.full_name {
                why.push("full name".to_owned());
                update.full_name = Some(name);
            }
        }
        if let Some(id) = person.unique_id(&cfg.attributes.unique_id) {
            if user.external_id.as_deref() != Some(id.as_str()) {
                why.push("directory id linked".to_owned());
                update.external_id = Some(id);
            }
        }
        let disabled = entry::is_disabled(person, cfg);
        match disabled {
            Ok(true) if user.is_active => {
                let reason = "disabled in the directory";
                why.push(reason.to_owned());
                update.active = Some(false);
                update.reason = Some(reason.to_owned());
                report.deactivations += 1;
            }
            // Only what sync deactivated: never an administrator's deactivation.
            Ok(false) if !user.is_active && user.deactivated_by(SYNC_SOURCE) => {
                let reason = match user.deactivation.as_ref().and_then(|d| d.reason.as_deref()) {
                    None | Some(NOT_IN_DIRECTORY) => "back in the directory".to_owned(),
                    Some(was) => format!("admitted by the directory again (was: {was})"),
                };
                why.push(reason.clone());
                update.active = Some(true);
                update.reason = Some(reason);
                report.reactivations += 1;
            }
            Ok(false) if !user.is_active => {
                let by = match &user.deactivation {
                    Some(d) => d.to_string(),
                    None => "before deactivations were recorded".to_owned(),
                };
                report
                    .kept_deactivated
                    .push(format!("{} (deactivated {by})", user.delivery_email));
            }
            Err(e) => report.failed.push(format!("{}: {e}", user.delivery_email)),
            _ => {}
        }
        if !update.is_empty() {
            report.changes.push(Change {
                user: user.clone(),
                update,
                why: why.join(", "),
            });
        }
    }

    let active_people = users.iter().filter(|u| u.is_active && !u.is_bot()).count();
    let limit = cfg.sync.max_deactivate_fraction * active_people as f64;
    if report.deactivations as f64 > limit && !options.force {
        report.stopped = Some(format!(
            "{} of {} active people would be deactivated, more than the allowed {:.0}%; check the directory, then rerun with --force",
            report.deactivations,
            active_people,
            cfg.sync.max_deactivate_fraction * 100.0
        ));
        return Ok(report);
    }
    if options.dry_run {
        return Ok(report);
    }
    for change in &report.changes {
        if let Err(e) = accounts
            .update_directory_user(change.user.id, change.update.clone(), SYNC_SOURCE)
            .await
        {
            report
                .failed
                .push(format!("{}: {e}", change.user.delivery_email));
        }
    }
    report.applied = true;
    Ok(report)
}
