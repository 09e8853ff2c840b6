//! `LdapAuthBackend`: one login against the directory, and what `ldap query` shows without a
//! password.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use auth_core::{
    AccountStore, AccountWriteError, AuthBackend, AuthFailure, AuthSuccess, BackendKind,
    DirectoryRefusal, DirectoryUpdate, LinkRefusal, LoginAttempt, NewDirectoryUser, Realm, RealmId,
    User,
};
use ldap3::Ldap;

use crate::conn::DirError;
use crate::directories::{Directories, Serving};
use crate::directory::{BindOutcome, Directory};
use crate::entry::{self, DirEntry};
use crate::roles::{RoleGroup, directory_role, role_group};
use crate::timing::Padder;

/// What the directory says about a person, before any account is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub dn: String,
    pub username: String,
    pub email: Result<String, DirectoryRefusal>,
    pub full_name: Result<String, DirectoryRefusal>,
    pub external_id: Option<String>,
    /// `Err` when the disabled attribute holds a value that means neither.
    pub disabled: Result<bool, String>,
    pub realm_allowed: bool,
    /// `(group DN, member?)` for the require and deny groups.
    pub require_group: Option<(String, bool)>,
    pub deny_group: Option<(String, bool)>,
    /// The first role group (most privileged first) the person is in, when roles are mapped.
    pub role_group: Option<RoleGroup>,
}

impl Assessment {
    /// The refusal that applies, in the order a login checks them.
    pub fn refusal(&self) -> Option<DirectoryRefusal> {
        match &self.disabled {
            Ok(true) => return Some(DirectoryRefusal::AccountDisabled),
            Err(_) => return Some(DirectoryRefusal::InvalidProfile),
            Ok(false) => {}
        }
        if !self.realm_allowed
            || self.require_group.as_ref().is_some_and(|(_, m)| !m)
            || self.deny_group.as_ref().is_some_and(|(_, m)| *m)
        {
            return Some(DirectoryRefusal::NotAllowedInRealm);
        }
        if let Err(r) = &self.email {
            return Some(*r);
        }
        None
    }

    /// The refusal in words for an administrator: which group, attribute or rule.
    pub fn refusal_reason(&self) -> Option<String> {
        match &self.disabled {
            Ok(true) => return Some("the entry is disabled in the directory".into()),
            Err(v) => return Some(format!("the disabled attribute holds {v:?}")),
            Ok(false) => {}
        }
        if !self.realm_allowed {
            return Some(
                "the organization-membership or realm-access rules do not admit this entry".into(),
            );
        }
        if let Some((g, false)) = &self.require_group {
            return Some(format!("not a member of the required group {g:?}"));
        }
        if let Some((g, true)) = &self.deny_group {
            return Some(format!("a member of the deny group {g:?}"));
        }
        if self.email.is_err() {
            return Some("the entry has no usable email".into());
        }
        None
    }
}

/// Assesses an entry for a realm (groups are read on `conn` when there is no service account).
pub async fn assess(
    dir: &Directory,
    mut conn: Option<&mut Ldap>,
    entry: &DirEntry,
    typed_username: &str,
    realm_subdomain: &str,
) -> Result<Assessment, DirError> {
    let cfg = dir.config();
    let username = entry::directory_username(entry, typed_username, cfg).to_owned();
    let mut require_group = None;
    if let Some(g) = &cfg.require_group {
        let member = dir
            .is_member(conn.as_deref_mut(), entry, &username, g)
            .await?;
        require_group = Some((g.clone(), member));
    }
    let mut deny_group = None;
    if let Some(g) = &cfg.deny_group {
        let member = dir
            .is_member(conn.as_deref_mut(), entry, &username, g)
            .await?;
        deny_group = Some((g.clone(), member));
    }
    let role_group = role_group(dir, conn, entry, &username).await?;
    // Zulip's rule: with an append domain the email is built from the directory username;
    // without any mapping the username itself (as the login used it) is the email.
    let email_base = if cfg.append_domain.is_some() {
        username.as_str()
    } else {
        typed_username
    };
    Ok(Assessment {
        dn: entry.dn.clone(),
        email: entry::email_for(entry, email_base, cfg),
        full_name: entry::full_name_for(entry, cfg),
        external_id: entry.unique_id(&cfg.attributes.unique_id),
        disabled: entry::is_disabled(entry, cfg),
        realm_allowed: entry::realm_allows(entry, realm_subdomain, cfg),
        require_group,
        deny_group,
        role_group,
        username,
    })
}

/// The LDAP backend of the chain.
pub struct LdapAuthBackend {
    dirs: Arc<Directories>,
    accounts: Arc<dyn AccountStore>,
    /// Pads refusals in a realm without a directory (each directory pads its own).
    padder: Padder,
}

fn unavailable(e: impl std::fmt::Display) -> AuthFailure {
    AuthFailure::unavailable(BackendKind::Ldap, e)
}

impl LdapAuthBackend {
    /// The backend over the server-wide directory and the realms' own ([`Directories`]).
    pub fn new(dirs: Arc<Directories>, accounts: Arc<dyn AccountStore>) -> Self {
        LdapAuthBackend {
            dirs,
            accounts,
            padder: Padder::new(),
        }
    }

    async fn login(
        &self,
        dir: &Directory,
        attempt: LoginAttempt<'_>,
        started: Instant,
    ) -> Result<User, AuthFailure> {
        let LoginAttempt {
            realm,
            username: typed,
            password,
            ctx,
        } = attempt;
        if password.is_empty() {
            return Err(AuthFailure::BadCredentials);
        }
        let Some(username) = dir.translate_username(typed).await.map_err(unavailable)? else {
            return Err(AuthFailure::BadCredentials);
        };
        let (dn, found) = match dir.templated_dn(&username) {
            Some(dn) => (dn, None),
            None => match dir.find_user(&username).await.map_err(unavailable)? {
                Some(e) => (e.dn.clone(), Some(e)),
                None => {
                    tracing::debug!("no LDAP entry matches the username");
                    return Err(AuthFailure::BadCredentials);
                }
            },
        };
        // The login limit holds for the entry, not only for the name as typed: the directory's
        // matching rules find one entry under many spellings.
        ctx.resolved(BackendKind::Ldap, &limit_identity(dir, &dn, found.as_ref()))
            .await?;
        // The one bind of this attempt.
        let conn = match dir.bind_user(&dn, password).await.map_err(unavailable)? {
            BindOutcome::Bound(conn) => conn,
            BindOutcome::BadCredentials => {
                dir.padder.observe_failed_bind(started.elapsed());
                return Err(AuthFailure::BadCredentials);
            }
            BindOutcome::Refused(r) => {
                tracing::info!(reason = ?r, "the directory refused the account");
                return Err(AuthFailure::Refused(r));
            }
        };
        // With a service account the entry and groups are read on service connections and
        // the bind connection goes straight back to the bind pool; without one they are read
        // as the person, on this connection, which is then closed (never pooled after a read).
        let mut person = if dir.reads_as_person() {
            Some(conn)
        } else {
            dir.release_bind(conn);
            None
        };
        let entry = match found {
            Some(e) => e,
            None => dir
                .read_entry(person.as_mut(), &dn)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| unavailable("the bound entry cannot be read"))?,
        };
        let assessment = assess(dir, person.as_mut(), &entry, &username, &realm.subdomain)
            .await
            .map_err(unavailable)?;
        if let Some(mut conn) = person {
            let _ = conn.unbind().await;
        }
        if let Some(r) = assessment.refusal() {
            if let Some(why) = assessment.refusal_reason() {
                ctx.explain(why);
            }
            tracing::info!(reason = ?r, "directory login refused after a successful bind");
            return Err(AuthFailure::Refused(r));
        }
        let email = assessment.email.clone().map_err(AuthFailure::Refused)?;
        self.account_for(dir, realm, &assessment, &email).await
    }

    /// Adds the role the directory's groups give (`roles.rs`) to a login's changes.
    fn role_update(dir: &Directory, update: &mut DirectoryUpdate, u: &User, a: &Assessment) {
        let groups = &dir.config().role_by_group;
        if let Some((role, why)) = directory_role(groups, u.role, a.role_group.as_ref()) {
            update.role = Some(role);
            update.role_reason = Some(why);
        }
    }

    /// Records a login's directory changes. The login goes ahead with the account as it was
    /// when they cannot be written; a role change the store refused (the realm's last owner)
    /// is logged here and audited by the store.
    async fn apply(&self, u: User, update: DirectoryUpdate) -> Result<User, AuthFailure> {
        let wanted = update.role;
        match self
            .accounts
            .update_directory_user(u.id, update, "ldap")
            .await
        {
            Ok(updated) => {
                if let Some(role) = wanted.filter(|r| *r != updated.role) {
                    tracing::warn!(user_id = %u.id, wanted = role.name(), kept = updated.role.name(), "the directory's role was not applied: the account is the realm's last owner");
                }
                Ok(updated)
            }
            Err(e) => {
                tracing::warn!(user_id = %u.id, error = %e, "could not record directory changes at login");
                Ok(u)
            }
        }
    }

    /// Finds (by directory id, then email) or creates the account for a proven person.
    async fn account_for(
        &self,
        dir: &Directory,
        realm: &Realm,
        a: &Assessment,
        email: &str,
    ) -> Result<User, AuthFailure> {
        let accounts = &self.accounts;
        match match_account(dir, accounts.as_ref(), realm.id, a, Some(email)).await? {
            AccountMatch::LinkedElsewhere {
                user: u,
                linked_id,
                linked,
            } => {
                // Whether or not the linked entry still exists, a login never moves an account to
                // another entry (a moved, hidden or re-created entry would hand over the key and
                // bots); `ldap sync` or `ldap relink` does, once the old entry is really gone.
                match &linked {
                    Some(old) => tracing::warn!(
                        user_id = %u.id,
                        entry = ?a.dn,
                        linked_entry = ?old.dn,
                        "the account is linked to another directory entry that still exists; refusing the login"
                    ),
                    None => tracing::warn!(
                        user_id = %u.id,
                        entry = ?a.dn,
                        "the account's directory entry is gone and another entry claims it; refusing the login (`latchkey ldap relink` or `ldap sync` relinks it)"
                    ),
                }
                let refusal = LinkRefusal {
                    realm: realm.id,
                    user: u.id,
                    linked_id,
                    linked_dn: linked.map(|e| e.dn),
                    claimant_dn: a.dn.clone(),
                    claimant_id: a.external_id.clone(),
                    source: "ldap",
                };
                if let Err(e) = accounts.record_link_refusal(refusal).await {
                    tracing::warn!(user_id = %u.id, error = %e, "could not audit a refused directory link");
                }
                Err(AuthFailure::Refused(DirectoryRefusal::InvalidProfile))
            }
            AccountMatch::Found(u) => {
                auth_core::admit(realm, &u)?;
                // Keep the account tied to the person: remember the id, follow a rename.
                let mut update = DirectoryUpdate::default();
                if u.external_id.is_none() && a.external_id.is_some() {
                    update.external_id = Some(a.external_id.clone());
                }
                if !u.delivery_email.eq_ignore_ascii_case(email)
                    && u.external_id.is_some()
                    && u.external_id == a.external_id
                {
                    update.email = Some(email.to_owned());
                }
                Self::role_update(dir, &mut update, &u, a);
                if update.is_empty() {
                    return Ok(u);
                }
                self.apply(u, update).await
            }
            AccountMatch::None => {
                if realm.deactivated {
                    return Err(AuthFailure::RealmDeactivated);
                }
                if !realm.ldap_auto_create {
                    return Err(AuthFailure::Refused(DirectoryRefusal::ProvisioningDisabled));
                }
                let full_name = a.full_name.clone().map_err(AuthFailure::Refused)?;
                let new = NewDirectoryUser {
                    realm: realm.id,
                    email: email.to_owned(),
                    full_name,
                    external_id: a.external_id.clone(),
                };
                match accounts.create_directory_user(new, "ldap").await {
                    Ok(u) => {
                        tracing::info!(user_id = %u.id, realm = %realm.subdomain, "created an account from the directory");
                        let mut update = DirectoryUpdate::default();
                        Self::role_update(dir, &mut update, &u, a);
                        if update.is_empty() {
                            return Ok(u);
                        }
                        self.apply(u, update).await
                    }
                    // Someone else created it in the meantime (two first logins at once).
                    Err(AccountWriteError::Conflict(_)) => accounts
                        .login_record(realm.id, email)
                        .await
                        .map_err(unavailable)?
                        .map(|r| r.user)
                        .filter(|u| u.is_active)
                        .ok_or(AuthFailure::Refused(DirectoryRefusal::InvalidProfile)),
                    Err(AccountWriteError::Unavailable(e)) => Err(unavailable(e)),
                }
            }
        }
    }
}

/// Whom a login limit counts an attempt against: the entry's immutable id when the search found
/// it with one, else its DN folded as the directory compares names (case, width, compatibility
/// forms), so that every spelling that reaches one entry shares one budget.
fn limit_identity(dir: &Directory, dn: &str, found: Option<&DirEntry>) -> String {
    match found.and_then(|e| e.unique_id(&dir.config().attributes.unique_id)) {
        Some(id) => format!("entry:{id}"),
        None => format!("dn:{}", auth_core::fold_login_name(dn)),
    }
}

/// The identity a login as `typed` counts its failures under, when the directory knows the
/// person (for `latchkey limits clear`).
pub async fn limit_identity_of(dir: &Directory, typed: &str) -> Result<Option<String>, DirError> {
    let Some(username) = dir.translate_username(typed).await? else {
        return Ok(None);
    };
    if let Some(dn) = dir.templated_dn(&username) {
        return Ok(Some(limit_identity(dir, &dn, None)));
    }
    Ok(dir
        .find_user(&username)
        .await?
        .map(|e| limit_identity(dir, &e.dn, Some(&e))))
}

/// The account a proven person maps to in a realm, before anything changes.
#[derive(Debug)]
pub enum AccountMatch {
    /// Found by directory id, or by email when the account is not linked to another entry.
    Found(User),
    /// Found by email, but linked to another entry (`linked_id`): someone else's account, or
    /// this person's under an entry that is gone (`linked` is `None`). Never taken at login;
    /// `ldap sync` and `ldap relink` move it once the linked entry is gone.
    LinkedElsewhere {
        user: User,
        linked_id: String,
        /// The linked entry, wherever it is under the link base; `None` when it is gone.
        linked: Option<DirEntry>,
    },
    /// No account yet.
    None,
}

/// Looks the account up as a login does: by the entry's immutable id, else by `email`; an
/// account linked to another entry is reported with where that entry is now
/// ([`crate::entry::link`], [`Directory::find_by_unique_id`]). Shared by the backend and
/// `latchkey ldap query`.
pub async fn match_account(
    dir: &Directory,
    accounts: &dyn AccountStore,
    realm: RealmId,
    a: &Assessment,
    email: Option<&str>,
) -> Result<AccountMatch, AuthFailure> {
    let mut user = None;
    if let Some(id) = &a.external_id {
        user = accounts
            .user_by_external_id(realm, id)
            .await
            .map_err(unavailable)?;
    }
    if let (None, Some(email)) = (&user, email) {
        user = accounts
            .login_record(realm, email)
            .await
            .map_err(unavailable)?
            .map(|r| r.user);
    }
    let Some(user) = user else {
        return Ok(AccountMatch::None);
    };
    let link = crate::entry::link(user.external_id.as_deref(), a.external_id.as_deref());
    Ok(match link {
        crate::entry::Link::Free => AccountMatch::Found(user),
        crate::entry::Link::Other(old) => {
            let linked_id = old.to_owned();
            let linked = dir.find_by_unique_id(old).await.map_err(unavailable)?;
            AccountMatch::LinkedElsewhere {
                user,
                linked_id,
                linked,
            }
        }
    })
}

#[async_trait]
impl AuthBackend for LdapAuthBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Ldap
    }

    fn serves(&self, realm: &Realm) -> bool {
        !matches!(self.dirs.for_realm(realm.id), Serving::None)
    }

    async fn authenticate(&self, attempt: LoginAttempt<'_>) -> Result<AuthSuccess, AuthFailure> {
        let started = Instant::now();
        // Held for the whole attempt: a settings change meanwhile does not cut it short.
        let dir = match self.dirs.for_realm(attempt.realm.id) {
            Serving::Own(d) | Serving::Default(d) => d,
            Serving::Broken(why) => {
                return Err(unavailable(format!(
                    "the organization's directory settings cannot be used: {why}"
                )));
            }
            Serving::None => {
                self.padder.pad(started).await;
                return Err(AuthFailure::BadCredentials);
            }
        };
        let result = self.login(&dir, attempt, started).await;
        match result {
            Ok(user) => {
                dir.padder.observe_success(started.elapsed());
                Ok(AuthSuccess {
                    user,
                    backend: BackendKind::Ldap,
                })
            }
            Err(AuthFailure::BadCredentials) => {
                dir.padder.pad(started).await;
                Err(AuthFailure::BadCredentials)
            }
            Err(other) => Err(other),
        }
    }
}
