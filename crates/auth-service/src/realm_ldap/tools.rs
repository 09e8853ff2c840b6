//! An administrator's tools for a realm's directory, shared by `latchkey ldap …` and the
//! `/organization/directory` page: test the connection step by step (the saved settings or
//! those about to be saved), test a person as a login would see them (optionally with their
//! password: counted by the login limit and audited), and sync (a preview, then apply).

use auth_core::{AuthFailure, BackendKind, DirectoryRefusal, Password, Realm, Role};
use auth_ldap::sync::{SyncOptions, SyncReport, sync_realm};
use auth_ldap::{AccountMatch, BindOutcome, ConnectionTest, Directory, LdapConfig, Serving};
use auth_store::{AuditEvent, StoreError};

use super::{BindPassword, check_role, validate};
use crate::App;
use crate::error::ServiceError;
use crate::members::By;

/// A sync's outcome (a preview when not applied).
pub type SyncPreview = SyncReport;

/// What the directory and the realm make of a person: what `latchkey ldap query` prints and
/// the page's "Test a person" shows.
#[derive(Debug, Clone, Default)]
pub struct PersonTest {
    pub username: String,
    /// The directory username (after `append_domain` or the reverse email search); `None`
    /// when the email's domain is not the append domain.
    pub directory_username: Option<String>,
    /// Whether the directory has the person.
    pub found: bool,
    pub dn: Option<String>,
    /// The mapped email, or why there is none.
    pub email: Option<Result<String, String>>,
    pub full_name: Option<Result<String, String>>,
    pub directory_id: Option<String>,
    /// `Ok(disabled?)`, or the unreadable value.
    pub disabled: Option<Result<bool, String>>,
    pub realm_allowed: Option<bool>,
    /// The entry's `memberOf` values.
    pub groups: Vec<String>,
    /// `(group, member?)` for the require and deny groups.
    pub require_group: Option<(String, bool)>,
    pub deny_group: Option<(String, bool)>,
    /// Whether roles come from groups; then the first role group the person is in.
    pub roles_mapped: bool,
    pub role_group: Option<(String, Role)>,
    /// The realm's account, in words.
    pub account: Option<String>,
    /// The login's decision, in words; `allowed` says which way it went.
    pub verdict: String,
    pub allowed: bool,
    /// The password check, when a password was given.
    pub password: Option<PasswordCheck>,
}

/// What a password check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    /// The directory refused the account although it answered (expired, locked, …).
    Refused(String),
    /// Over the login limit: not checked.
    RateLimited,
    Unavailable(String),
}

impl PasswordCheck {
    pub fn describe(&self) -> String {
        match self {
            PasswordCheck::Right => "right".into(),
            PasswordCheck::Wrong => "wrong".into(),
            PasswordCheck::Refused(r) => format!("refused by the directory ({r})"),
            PasswordCheck::RateLimited => {
                "not checked: too many failed logins for this person; try later".into()
            }
            PasswordCheck::Unavailable(why) => format!("not checked: {why}"),
        }
    }
}

fn dir_unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unavailable("the organization's directory", e)
}

fn refusal_words(r: DirectoryRefusal) -> &'static str {
    match r {
        DirectoryRefusal::AccountDisabled => "the account is disabled in the directory",
        DirectoryRefusal::AccountExpired => "the directory account has expired",
        DirectoryRefusal::PasswordExpired => "the password has expired",
        DirectoryRefusal::PasswordMustChange => "the password must be changed",
        DirectoryRefusal::NotPermittedNow => "not permitted at this time or from this place",
        DirectoryRefusal::NotAllowedInRealm => "not allowed in this organization",
        DirectoryRefusal::ProvisioningDisabled => "no account, and none is created",
        DirectoryRefusal::MissingAttribute => "the entry lacks the email attribute",
        DirectoryRefusal::InvalidProfile => "the entry cannot make an account",
    }
}

impl App {
    /// The directory that serves the realm, or a clear error.
    fn serving(&self, realm: &Realm) -> Result<std::sync::Arc<Directory>, ServiceError> {
        match self.directory_for(realm) {
            Serving::Own(d) | Serving::Default(d) => Ok(d),
            Serving::Broken(why) => Err(ServiceError::invalid(format!(
                "the organization's directory settings cannot be used: {why}"
            ))),
            Serving::None => Err(ServiceError::invalid(
                "no directory is configured for this organization (set it with `latchkey ldap config set` or on the Directory page)",
            )),
        }
    }

    /// "Test connection" (owners): each server step by step, then the people base, groups and
    /// attributes. `candidate` tests settings before they are saved (with the stored bind
    /// password for `Keep`); without it, what serves the realm now.
    pub async fn test_realm_ldap_connection(
        &self,
        by: By<'_>,
        realm: &Realm,
        candidate: Option<(LdapConfig, BindPassword)>,
    ) -> Result<ConnectionTest, ServiceError> {
        check_role(by, realm, true)?;
        let cfg = match candidate {
            Some((cfg, password)) => {
                let cfg = self.realm_ldap_candidate(realm, cfg, &password).await?;
                validate(&cfg)?;
                cfg
            }
            None => self.serving(realm)?.config().clone(),
        };
        auth_ldap::test_connection(&cfg)
            .await
            .map_err(|e| ServiceError::invalid(e.to_string()))
    }

    /// "Test a person" (administrators): what the realm's directory and accounts make of
    /// `username`, as a login would decide it. With a password, one bind checks it, counted by
    /// the login limit like a login; the test is audited either way (never the password).
    pub async fn test_ldap_person(
        &self,
        by: By<'_>,
        realm: &Realm,
        username: &str,
        password: Option<&Password>,
    ) -> Result<PersonTest, ServiceError> {
        check_role(by, realm, false)?;
        auth_core::policy::check_username_shape(username)
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let dir = self.serving(realm)?;
        let mut t = self.person_facts(&dir, realm, username).await?;
        if let (Some(password), Some(dn)) = (password.filter(|p| !p.is_empty()), t.dn.clone()) {
            t.password = Some(self.check_password(&dir, username, &dn, password).await);
        }
        let detail = serde_json::json!({
            "username": username,
            "dn": t.dn,
            "found": t.found,
            "allowed": t.allowed,
            "password_checked": t.password.as_ref().map(PasswordCheck::describe),
        });
        if let Err(e) = self
            .store
            .record_event(
                Some(realm.id),
                AuditEvent::LdapPersonTested,
                by.actor(),
                None,
                detail,
            )
            .await
        {
            tracing::warn!(error = %e, "could not audit a directory person test");
        }
        Ok(t)
    }

    async fn person_facts(
        &self,
        dir: &Directory,
        realm: &Realm,
        username: &str,
    ) -> Result<PersonTest, ServiceError> {
        let mut t = PersonTest {
            username: username.to_owned(),
            ..PersonTest::default()
        };
        let Some(translated) = dir
            .translate_username(username)
            .await
            .map_err(dir_unavailable)?
        else {
            t.verdict = "refused: the email's domain is not ldap.append_domain".into();
            return Ok(t);
        };
        t.directory_username = Some(translated.clone());
        let entry = match dir.templated_dn(&translated) {
            Some(dn) => dir.read_entry(None, &dn).await,
            None => dir.find_user(&translated).await,
        }
        .map_err(dir_unavailable)?;
        let Some(entry) = entry else {
            t.verdict =
                "no such user in the directory (a login would fail as a wrong password)".into();
            return Ok(t);
        };
        t.found = true;
        let a = auth_ldap::assess(dir, None, &entry, &translated, &realm.subdomain)
            .await
            .map_err(dir_unavailable)?;
        t.dn = Some(a.dn.clone());
        let words = |r: &DirectoryRefusal| refusal_words(*r).to_owned();
        t.email = Some(a.email.clone().map_err(|r| words(&r)));
        t.full_name = Some(a.full_name.clone().map_err(|r| words(&r)));
        t.directory_id = a.external_id.clone();
        t.disabled = Some(a.disabled.clone());
        t.realm_allowed = Some(a.realm_allowed);
        t.groups = entry.values("memberOf").to_vec();
        t.require_group = a.require_group.clone();
        t.deny_group = a.deny_group.clone();
        t.roles_mapped = dir.config().role_by_group.is_configured();
        t.role_group = a.role_group.as_ref().map(|g| (g.group.clone(), g.role));
        let found = auth_ldap::match_account(
            dir,
            self.accounts.as_ref(),
            realm.id,
            &a,
            a.email.as_deref().ok(),
        )
        .await
        .map_err(|e| dir_unavailable(format!("{e}")))?;
        t.account = Some(match &found {
            AccountMatch::Found(u) => format!(
                "{} (id {}, {})",
                u.delivery_email,
                u.id.0,
                if u.is_active { "active" } else { "deactivated" }
            ),
            AccountMatch::LinkedElsewhere {
                user,
                linked: Some(old),
                ..
            } => format!(
                "{} (id {}) is linked to another directory entry that still exists: {}",
                user.delivery_email, user.id.0, old.dn
            ),
            AccountMatch::LinkedElsewhere {
                user, linked: None, ..
            } => format!(
                "{} (id {}) is linked to an entry gone from the directory; `latchkey ldap relink` or a sync moves it to this entry",
                user.delivery_email, user.id.0
            ),
            AccountMatch::None if realm.ldap_auto_create => {
                "none yet; the first login creates it".into()
            }
            AccountMatch::None => {
                "none, and the organization does not create accounts from the directory".into()
            }
        });
        // The login's own decision, in the login's order.
        let refused = |why: String| (format!("refused ({why})"), false);
        let (verdict, allowed) = match (a.refusal(), &found) {
            (Some(r), _) => refused(format!(
                "{r:?}: {}",
                a.refusal_reason()
                    .unwrap_or_else(|| refusal_words(r).to_owned())
            )),
            (None, AccountMatch::LinkedElsewhere { .. }) => {
                refused("the account belongs to another directory entry".into())
            }
            (None, AccountMatch::Found(user)) => match auth_core::admit(realm, user) {
                Ok(()) => ("allowed with the right password".into(), true),
                Err(AuthFailure::RealmDeactivated) => {
                    refused("the organization is deactivated".into())
                }
                Err(AuthFailure::UserDeactivated) => refused("the account is deactivated".into()),
                Err(_) => refused("a bot account has no password".into()),
            },
            (None, AccountMatch::None) if realm.deactivated => {
                refused("the organization is deactivated".into())
            }
            (None, AccountMatch::None) if !realm.ldap_auto_create => {
                refused("no account, auto-create off".into())
            }
            (None, AccountMatch::None) => ("allowed with the right password".into(), true),
        };
        t.verdict = verdict;
        t.allowed = allowed;
        Ok(t)
    }

    /// One bind as the person, inside the login limit of the name and of the entry.
    async fn check_password(
        &self,
        dir: &Directory,
        username: &str,
        dn: &str,
        password: &Password,
    ) -> PasswordCheck {
        let ticket = match self.limits.begin_login(&self.login_name(username)).await {
            Ok((ticket, _)) => ticket,
            Err(_) => return PasswordCheck::RateLimited,
        };
        let guard = self.limits.guard();
        let identity = match auth_ldap::limit_identity_of(dir, username).await {
            Ok(Some(id)) => id,
            _ => format!("dn:{}", auth_core::fold_login_name(dn)),
        };
        use auth_core::AttemptGuard;
        if guard.resolved(BackendKind::Ldap, &identity).await.is_err() {
            self.limits.settle_check(ticket, guard, false).await;
            return PasswordCheck::RateLimited;
        }
        let (check, rejected) = match dir.bind_user(dn, password).await {
            Ok(BindOutcome::Bound(conn)) => {
                dir.release_bind(conn);
                (PasswordCheck::Right, false)
            }
            Ok(BindOutcome::BadCredentials) => (PasswordCheck::Wrong, true),
            Ok(BindOutcome::Refused(r)) => {
                (PasswordCheck::Refused(refusal_words(r).to_owned()), false)
            }
            Err(e) => (PasswordCheck::Unavailable(e.to_string()), false),
        };
        self.limits.settle_check(ticket, guard, rejected).await;
        check
    }

    /// "Sync now" (owners): what the sync would change (`apply` false), or the sync itself,
    /// with the realm's sync policy and safety rules (`force` passes the share limit).
    pub async fn sync_realm_ldap(
        &self,
        by: By<'_>,
        realm: &Realm,
        apply: bool,
        force: bool,
    ) -> Result<SyncPreview, ServiceError> {
        check_role(by, realm, true)?;
        if !self.method_enabled(BackendKind::Ldap, Some(realm)) {
            return Err(ServiceError::invalid(
                "LDAP is not enabled for this organization; nothing to sync",
            ));
        }
        let dir = self.serving(realm)?;
        let options = SyncOptions {
            dry_run: !apply,
            force,
            directory_only_realm: !self.method_enabled(BackendKind::Email, Some(realm)),
        };
        let report = sync_realm(&dir, self.accounts.as_ref(), realm, options)
            .await
            .map_err(dir_unavailable)?;
        let detail = serde_json::json!({
            "applied": report.applied,
            "summary": report.summary(),
            "changes": report.changes.len(),
        });
        if let Err(e) = self
            .store
            .record_event(
                Some(realm.id),
                AuditEvent::LdapSyncRun,
                by.actor(),
                None,
                detail,
            )
            .await
        {
            let e: StoreError = e;
            tracing::warn!(error = %e, "could not audit a directory sync");
        }
        Ok(report)
    }
}
