//! `latchkey ldap sync`: bring a realm's directory-managed accounts in line with the directory:
//! names, emails and roles from groups (`roles.rs`) follow it, people it no longer admits (gone, disabled, outside the realm's
//! access rules, out of `require_group`, in `deny_group`) are deactivated with that reason, and
//! accounts sync deactivated (only those) are reactivated once the person is admitted again. An
//! account moves to a new entry only when its linked entry is gone from the directory (see
//! `link.rs`), never while it exists elsewhere.
//!
//! The rule that matters most: a transport error, a timeout or an empty listing means
//! "unknown", never "gone". The whole listing (and every group check) is read before anything
//! changes; any error stops the run with nothing changed; an empty listing stops it too; and a
//! run that would deactivate more than the configured share of the realm's active people stops
//! unless forced.

use std::collections::HashMap;

use auth_core::{AccountStore, DirectoryUpdate, Realm, User, email_lookup_key};

use crate::backend::{Assessment, assess};
use crate::config::LdapConfig;
use crate::conn::DirError;
use crate::directory::Directory;
use crate::entry::{self, DirEntry};
use crate::roles::directory_role;

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
    /// Entries refused an account linked to another entry that still exists.
    pub conflicts: Vec<String>,
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
        if !self.conflicts.is_empty() {
            s.push_str(&format!(
                "; {} claim(s) on linked accounts refused",
                self.conflicts.len()
            ));
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

/// The entry an account belongs to, as sync decides it.
enum Matched {
    /// Its entry; `relinked` when the account was linked to an entry that is gone.
    Entry { person: DirEntry, relinked: bool },
    /// No entry under the people base is this person.
    Missing,
    /// Several entries have the account's email (their DNs).
    Ambiguous(Vec<String>),
    /// An entry has the account's email, but the account's own entry still exists elsewhere.
    Claimed {
        claimant: DirEntry,
        linked: DirEntry,
    },
}

/// The person an account belongs to: by immutable id first, then by email (an account linked
/// to another entry goes to the new one only once that entry is gone from the directory).
async fn match_entry(
    dir: &Directory,
    user: &User,
    by_id: &HashMap<String, &DirEntry>,
    by_email: &HashMap<String, Vec<&DirEntry>>,
) -> Result<Matched, DirError> {
    let cfg = dir.config();
    if let Some(e) = user.external_id.as_ref().and_then(|id| by_id.get(id)) {
        return Ok(Matched::Entry {
            person: (*e).clone(),
            relinked: false,
        });
    }
    let candidate = if cfg.maps_usernames() {
        match by_email
            .get(&email_lookup_key(&user.delivery_email))
            .map(Vec::as_slice)
        {
            None | Some([]) => None,
            Some([one]) => Some((*one).clone()),
            Some(many) => {
                return Ok(Matched::Ambiguous(
                    many.iter().map(|e| e.dn.clone()).collect(),
                ));
            }
        }
    } else {
        // Without a mapping the email is the directory username: ask as a login would.
        dir.find_user(&user.delivery_email).await?
    };
    let Some(candidate) = candidate else {
        return Ok(Matched::Missing);
    };
    let id = candidate.unique_id(&cfg.attributes.unique_id);
    Ok(
        match entry::link(user.external_id.as_deref(), id.as_deref()) {
            entry::Link::Free => Matched::Entry {
                person: candidate,
                relinked: false,
            },
            // Not in the listing (else found by id above): is it anywhere in the directory?
            entry::Link::Other(old) => match dir.find_by_unique_id(old).await? {
                Some(linked) => Matched::Claimed {
                    claimant: candidate,
                    linked,
                },
                None => Matched::Entry {
                    person: candidate,
                    relinked: true,
                },
            },
        },
    )
}

/// Why the directory's rules no longer admit the person to the realm, in a login's order;
/// `Err` when the disabled attribute holds a value that means neither.
fn refusal_reason(
    a: &Assessment,
    cfg: &LdapConfig,
    subdomain: &str,
) -> Result<Option<&'static str>, String> {
    match &a.disabled {
        Err(e) => return Err(e.clone()),
        Ok(true) => return Ok(Some("disabled in the directory")),
        Ok(false) => {}
    }
    if !a.realm_allowed {
        return Ok(Some(if cfg.realm_access.contains_key(subdomain) {
            "outside the realm access rules"
        } else {
            "outside org_membership"
        }));
    }
    if a.require_group.as_ref().is_some_and(|(_, member)| !member) {
        return Ok(Some("left required group"));
    }
    if a.deny_group.as_ref().is_some_and(|(_, member)| *member) {
        return Ok(Some("in deny group"));
    }
    Ok(None)
}

/// The account's person is not under the people base.
fn missing(report: &mut SyncReport, user: &User, cfg: &LdapConfig) {
    if !user.is_active {
        return;
    }
    if cfg.sync.deactivate_non_matching {
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
    } else {
        report.missing_kept.push(user.delivery_email.clone());
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
    // the directory username, which `find_user` asks about.
    let maps_usernames = cfg.maps_usernames();
    let mut by_id = HashMap::new();
    let mut by_email: HashMap<String, Vec<&DirEntry>> = HashMap::new();
    for p in &people {
        if let Some(id) = p.unique_id(&cfg.attributes.unique_id) {
            by_id.insert(id, p);
        }
        if maps_usernames {
            let username = entry::directory_username(p, "", cfg);
            if let Ok(email) = entry::email_for(p, username, cfg) {
                by_email
                    .entry(email_lookup_key(&email))
                    .or_default()
                    .push(p);
            }
        }
    }

    for user in managed {
        report.checked += 1;
        let email = &user.delivery_email;
        let (person, relinked) = match match_entry(dir, user, &by_id, &by_email).await? {
            Matched::Entry { person, relinked } => (person, relinked),
            Matched::Missing => {
                missing(&mut report, user, cfg);
                continue;
            }
            Matched::Ambiguous(dns) => {
                report.failed.push(format!(
                    "{email}: several directory entries have this email ({}); nothing changed for it",
                    dns.join("; ")
                ));
                continue;
            }
            Matched::Claimed { claimant, linked } => {
                report.conflicts.push(format!(
                    "{email}: the entry {:?} has this email, but the account is linked to the entry {:?}, which still exists; not relinked",
                    claimant.dn, linked.dn
                ));
                missing(&mut report, user, cfg);
                continue;
            }
        };
        let username = if maps_usernames {
            entry::directory_username(&person, "", cfg).to_owned()
        } else {
            email.clone()
        };
        // What a login would say about the person (groups read now, before any change).
        let a = assess(dir, None, &person, &username, &realm.subdomain).await?;
        let mut update = DirectoryUpdate::default();
        let mut why = Vec::new();
        if let Ok(new_email) = &a.email {
            if !new_email.eq_ignore_ascii_case(email) {
                why.push(format!("email {email} → {new_email}"));
                update.email = Some(new_email.clone());
            }
        }
        if let Ok(name) = &a.full_name {
            if *name != user.full_name {
                why.push("full name".to_owned());
                update.full_name = Some(name.clone());
            }
        }
        if relinked {
            why.push(format!(
                "relinked to the entry {:?} (its old entry is gone from the directory)",
                person.dn
            ));
            update.external_id = Some(a.external_id.clone());
        } else if let Some(id) = &a.external_id {
            if user.external_id.as_deref() != Some(id.as_str()) {
                why.push("directory id linked".to_owned());
                update.external_id = Some(Some(id.clone()));
            }
        }
        // Roles from groups: the directory wins for the roles it maps (`roles.rs`).
        if let Some((role, reason)) =
            directory_role(&cfg.role_by_group, user.role, a.role_group.as_ref())
        {
            why.push(format!(
                "role {} → {} ({reason})",
                user.role.name(),
                role.name()
            ));
            update.role = Some(role);
            update.role_reason = Some(reason);
        }
        match refusal_reason(&a, cfg, &realm.subdomain) {
            Err(e) => report.failed.push(format!("{email}: {e}")),
            Ok(Some(reason)) if user.is_active => {
                why.push(reason.to_owned());
                update.active = Some(false);
                update.reason = Some(reason.to_owned());
                report.deactivations += 1;
            }
            Ok(None) if !user.is_active => {
                if user.deactivated_by(SYNC_SOURCE) {
                    let reason = match user.deactivation.as_ref().and_then(|d| d.reason.as_deref())
                    {
                        None | Some(NOT_IN_DIRECTORY) => "back in the directory".to_owned(),
                        Some(was) => format!("admitted by the directory again (was: {was})"),
                    };
                    why.push(reason.clone());
                    update.active = Some(true);
                    update.reason = Some(reason);
                    report.reactivations += 1;
                } else {
                    let by = match &user.deactivation {
                        Some(d) => d.to_string(),
                        None => "before deactivations were recorded".to_owned(),
                    };
                    report
                        .kept_deactivated
                        .push(format!("{email} (deactivated {by})"));
                }
            }
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
        match accounts
            .update_directory_user(change.user.id, change.update.clone(), SYNC_SOURCE)
            .await
        {
            Ok(updated) => {
                // The store keeps a realm's last owner (and audits the refusal).
                if let Some(role) = change.update.role.filter(|r| *r != updated.role) {
                    report.failed.push(format!(
                        "{}: role {} not applied: the account is the realm's last active owner",
                        change.user.delivery_email,
                        role.name()
                    ));
                }
            }
            Err(e) => report
                .failed
                .push(format!("{}: {e}", change.user.delivery_email)),
        }
    }
    report.applied = true;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted() -> Assessment {
        Assessment {
            dn: "uid=hamlet,ou=people,dc=example,dc=org".into(),
            username: "hamlet".into(),
            email: Ok("hamlet@zulip.com".into()),
            full_name: Ok("King Hamlet".into()),
            external_id: Some("id-1".into()),
            disabled: Ok(false),
            realm_allowed: true,
            require_group: Some(("cn=staff".into(), true)),
            deny_group: Some(("cn=banned".into(), false)),
            role_group: None,
        }
    }

    #[test]
    fn deactivation_reasons_follow_the_logins_order() {
        let mut cfg = LdapConfig::default();
        assert_eq!(refusal_reason(&admitted(), &cfg, "zulip"), Ok(None));
        let mut a = admitted();
        a.deny_group = Some(("cn=banned".into(), true));
        assert_eq!(refusal_reason(&a, &cfg, "zulip"), Ok(Some("in deny group")));
        a.require_group = Some(("cn=staff".into(), false));
        assert_eq!(
            refusal_reason(&a, &cfg, "zulip"),
            Ok(Some("left required group"))
        );
        a.realm_allowed = false;
        assert_eq!(
            refusal_reason(&a, &cfg, "zulip"),
            Ok(Some("outside org_membership"))
        );
        cfg.realm_access.insert("zulip".into(), Vec::new());
        assert_eq!(
            refusal_reason(&a, &cfg, "zulip"),
            Ok(Some("outside the realm access rules"))
        );
        a.disabled = Ok(true);
        assert_eq!(
            refusal_reason(&a, &cfg, "zulip"),
            Ok(Some("disabled in the directory"))
        );
        a.disabled = Err("employeeType is neither".into());
        assert!(refusal_reason(&a, &cfg, "zulip").is_err());
        // No groups configured: nobody is refused for them.
        let mut a = admitted();
        a.require_group = None;
        a.deny_group = None;
        assert_eq!(refusal_reason(&a, &cfg, "zulip"), Ok(None));
    }
}
