//! An in-memory [`AccountStore`] for the unit tests of backends (feature `testing`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::accounts::{
    AccountStore, AccountWriteError, DirectoryUpdate, LinkRefusal, NewDirectoryUser,
    StoreUnavailable,
};
use crate::domain::{
    Deactivation, LoginRecord, PasswordHash, Realm, RealmId, Role, Timestamp, User, UserId,
};

/// Accounts in a vector. `set_down(true)` makes every call fail as an unreachable store would.
#[derive(Default)]
pub struct MemoryAccounts {
    records: Mutex<Vec<LoginRecord>>,
    realms: Mutex<Vec<Realm>>,
    next_id: AtomicI64,
    down: AtomicBool,
    /// How many password-hash upgrades were written.
    pub upgrades: AtomicUsize,
    /// Refused claims on linked accounts, as audited.
    pub link_refusals: Mutex<Vec<LinkRefusal>>,
}

impl MemoryAccounts {
    pub fn new() -> Self {
        MemoryAccounts {
            next_id: AtomicI64::new(1000),
            ..Default::default()
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreUnavailable> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreUnavailable("memory store is down".into()))
        } else {
            Ok(())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LoginRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a realm, as [`AccountStore::realm`] will return it.
    pub fn insert_realm(&self, realm: Realm) {
        let mut realms = self.realms.lock().unwrap_or_else(|p| p.into_inner());
        realms.retain(|r| r.id != realm.id);
        realms.push(realm);
    }

    /// Adds an account as it is.
    pub fn insert(&self, user: User, password_hash: Option<PasswordHash>) {
        self.lock().push(LoginRecord {
            user,
            password_hash,
        });
    }

    /// A person with default fields.
    pub fn person(id: i64, realm: i64, email: &str) -> User {
        User {
            id: UserId(id),
            realm_id: RealmId(realm),
            delivery_email: email.into(),
            full_name: email.split('@').next().unwrap_or("").into(),
            role: Role::Member,
            is_active: true,
            bot_type: None,
            bot_owner_id: None,
            password_reset_needed: false,
            external_id: None,
            deactivation: None,
            created_at: Timestamp(0),
        }
    }

    pub fn all(&self) -> Vec<LoginRecord> {
        self.lock().clone()
    }

    /// The refused claims recorded so far.
    pub fn refusals(&self) -> Vec<LinkRefusal> {
        self.link_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn same_email(a: &str, b: &str) -> bool {
    crate::domain::email_lookup_key(a) == crate::domain::email_lookup_key(b)
}

#[async_trait]
impl AccountStore for MemoryAccounts {
    async fn login_record(
        &self,
        realm: RealmId,
        email: &str,
    ) -> Result<Option<LoginRecord>, StoreUnavailable> {
        self.check()?;
        Ok(self
            .lock()
            .iter()
            .find(|r| r.user.realm_id == realm && same_email(&r.user.delivery_email, email))
            .cloned())
    }

    async fn login_records_any_realm(
        &self,
        email: &str,
    ) -> Result<Vec<LoginRecord>, StoreUnavailable> {
        self.check()?;
        Ok(self
            .lock()
            .iter()
            .filter(|r| same_email(&r.user.delivery_email, email))
            .cloned()
            .collect())
    }

    async fn realm(&self, id: RealmId) -> Result<Option<Realm>, StoreUnavailable> {
        self.check()?;
        let realms = self.realms.lock().unwrap_or_else(|p| p.into_inner());
        Ok(realms.iter().find(|r| r.id == id).cloned())
    }

    async fn upgrade_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> Result<(), StoreUnavailable> {
        self.check()?;
        self.upgrades.fetch_add(1, Ordering::SeqCst);
        for r in self.lock().iter_mut() {
            if r.user.id == user {
                r.password_hash = Some(hash.clone());
            }
        }
        Ok(())
    }

    async fn user_by_external_id(
        &self,
        realm: RealmId,
        external_id: &str,
    ) -> Result<Option<User>, StoreUnavailable> {
        self.check()?;
        Ok(self
            .lock()
            .iter()
            .find(|r| {
                r.user.realm_id == realm && r.user.external_id.as_deref() == Some(external_id)
            })
            .map(|r| r.user.clone()))
    }

    async fn realm_users(&self, realm: RealmId) -> Result<Vec<User>, StoreUnavailable> {
        self.check()?;
        Ok(self
            .lock()
            .iter()
            .filter(|r| r.user.realm_id == realm)
            .map(|r| r.user.clone())
            .collect())
    }

    async fn create_directory_user(
        &self,
        new: NewDirectoryUser,
        _source: &'static str,
    ) -> Result<User, AccountWriteError> {
        self.check()?;
        let mut records = self.lock();
        if records
            .iter()
            .any(|r| r.user.realm_id == new.realm && same_email(&r.user.delivery_email, &new.email))
        {
            return Err(AccountWriteError::Conflict("email".into()));
        }
        let mut user = Self::person(
            self.next_id.fetch_add(1, Ordering::SeqCst),
            new.realm.0,
            &new.email,
        );
        user.full_name = new.full_name;
        user.external_id = new.external_id;
        records.push(LoginRecord {
            user: user.clone(),
            password_hash: None,
        });
        Ok(user)
    }

    async fn update_directory_user(
        &self,
        user: UserId,
        update: DirectoryUpdate,
        source: &'static str,
    ) -> Result<User, AccountWriteError> {
        self.check()?;
        let mut records = self.lock();
        let Some(pos) = records.iter().position(|r| r.user.id == user) else {
            return Err(AccountWriteError::Conflict("no such user".into()));
        };
        let realm = records[pos].user.realm_id;
        if let Some(email) = &update.email {
            if records.iter().any(|r| {
                r.user.id != user
                    && r.user.realm_id == realm
                    && same_email(&r.user.delivery_email, email)
            }) {
                return Err(AccountWriteError::Conflict("email".into()));
            }
        }
        let u = &mut records[pos].user;
        if let Some(v) = update.email {
            u.delivery_email = v;
        }
        if let Some(v) = update.full_name {
            u.full_name = v;
        }
        if let Some(v) = update.external_id {
            u.external_id = v;
        }
        if let Some(v) = update.role {
            u.role = v;
        }
        if let Some(v) = update.active {
            if v != u.is_active {
                u.deactivation = (!v).then(|| {
                    Box::new(Deactivation {
                        by: source.to_owned(),
                        reason: update.reason.clone(),
                    })
                });
            }
            u.is_active = v;
        }
        Ok(u.clone())
    }

    async fn record_link_refusal(&self, refusal: LinkRefusal) -> Result<(), StoreUnavailable> {
        self.check()?;
        self.link_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(refusal);
        Ok(())
    }
}
