//! The reset worker: everything a reset request does after its answer was given, one request
//! at a time, off a bounded queue. In order: the realm (deactivated, or without the Email
//! method: nothing), the limits by address and by client IP, the account, the directory (an
//! address the directory manages gets nothing), then the link for an active account, or, with
//! `notify_unknown`, a notice for the others. Log lines never carry the address.

use std::net::IpAddr;
use std::sync::Arc;

use auth_core::{BackendKind, Realm, ResetToken, User};
use auth_store::{Actor, ResetRequest, Store};
use tokio::sync::mpsc;

use super::ResetOptions;
use super::limits::ResetLimits;
use super::text::{self, NoAccount};
use crate::host::{self, Hosts};
use crate::mail::Mailer;

/// One queued request.
pub(crate) struct Job {
    pub realm: Realm,
    pub email: String,
    pub ip: Option<IpAddr>,
}

/// What the worker needs of the application.
pub(crate) struct Worker {
    pub store: Store,
    pub mailer: Arc<Mailer>,
    pub limits: ResetLimits,
    pub hosts: Hosts,
    /// The server-wide directory and the realms' own.
    pub ldap: Arc<auth_ldap::Directories>,
    pub backends: Vec<BackendKind>,
    pub options: ResetOptions,
}

/// What became of a request (for the log, and for tests of the decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Notified,
    RealmDeactivated,
    EmailAuthOff,
    Limited,
    DirectoryManaged,
    NoAccount,
    Failed,
}

impl Worker {
    /// Runs until every sender is gone (the application was dropped). A request that panics is
    /// logged and the next one runs.
    pub async fn run(self: Arc<Self>, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            let worker = self.clone();
            let realm = job.realm.subdomain.clone();
            match tokio::spawn(async move { worker.handle(job).await }).await {
                Ok(outcome) => {
                    tracing::info!(realm = ?realm, ?outcome, "password reset request handled")
                }
                Err(e) => {
                    tracing::error!(realm = ?realm, error = %e, "password reset request failed")
                }
            }
        }
    }

    async fn handle(&self, job: Job) -> Outcome {
        let realm = &job.realm;
        if realm.deactivated {
            return Outcome::RealmDeactivated;
        }
        if !(self.backends.contains(&BackendKind::Email) && realm.methods.email) {
            return Outcome::EmailAuthOff;
        }
        if self.limits.check(&job.email, job.ip).await.is_err() {
            return Outcome::Limited;
        }
        let account = match self.store.user_by_email(realm.id, &job.email).await {
            Ok(a) => a.filter(|u| !u.is_bot()),
            Err(e) => {
                tracing::warn!(error = %e, "password reset: account lookup failed");
                return Outcome::Failed;
            }
        };
        if account.as_ref().is_some_and(|u| u.external_id.is_some())
            || self.in_directory(realm, &job.email).await
        {
            return Outcome::DirectoryManaged;
        }
        match account {
            Some(user) if user.is_active => self.send_link(realm, user, job.ip).await,
            other if self.options.notify_unknown => {
                let why = match other {
                    Some(_) => NoAccount::Deactivated,
                    None => NoAccount::Unknown,
                };
                self.send_notice(realm, &job.email, why).await
            }
            _ => Outcome::NoAccount,
        }
    }

    /// Zulip's `email_belongs_to_ldap`: the realm uses the directory and the address is one
    /// of its people (with an append domain: the address is in that domain). When the
    /// directory cannot be asked, the answer is yes: no reset for what may be its account.
    async fn in_directory(&self, realm: &Realm, email: &str) -> bool {
        let serving = self.ldap.for_realm(realm.id);
        let dir = match &serving {
            auth_ldap::Serving::Own(d) | auth_ldap::Serving::Default(d) => d,
            auth_ldap::Serving::None => return false,
            auth_ldap::Serving::Broken(why) => {
                tracing::warn!(realm = %realm.subdomain, reason = %why, "password reset: the organization's directory settings cannot be used; nothing sent");
                return true;
            }
        };
        if !(self.backends.contains(&BackendKind::Ldap) && realm.methods.ldap) {
            return false;
        }
        let username = match dir.translate_username(email).await {
            Ok(Some(u)) => u,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "password reset: the directory cannot be asked; nothing sent");
                return true;
            }
        };
        if dir.config().append_domain.is_some() {
            return true;
        }
        match dir.find_user(&username).await {
            Ok(entry) => entry.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "password reset: the directory cannot be asked; nothing sent");
                true
            }
        }
    }

    async fn send_link(&self, realm: &Realm, user: User, ip: Option<IpAddr>) -> Outcome {
        let token = ResetToken::generate(&mut rand::rng());
        let request = ResetRequest {
            user: user.id,
            digest: token.digest(),
            lifetime: self.options.token_lifetime,
            detail: serde_json::json!({"client_ip": ip.map(|ip| ip.to_string())}),
        };
        let actor = Actor {
            source: "reset",
            user: None,
        };
        if let Err(e) = self.store.issue_reset_token(request, actor).await {
            tracing::warn!(error = %e, user_id = user.id.0, "password reset: cannot record the token");
            return Outcome::Failed;
        }
        let url = host::realm_url(&realm.subdomain, &self.hosts);
        let link = format!("{url}/accounts/password/reset/{}/", token.expose());
        let mail = text::reset_link(
            &user.delivery_email,
            &realm.name,
            &url,
            &link,
            self.options.token_lifetime,
        );
        self.send(mail, Outcome::Sent).await
    }

    async fn send_notice(&self, realm: &Realm, email: &str, why: NoAccount) -> Outcome {
        let url = host::realm_url(&realm.subdomain, &self.hosts);
        let elsewhere = self.active_elsewhere(realm, email).await;
        let mail = text::notice(email, &realm.name, &url, why, &elsewhere);
        self.send(mail, Outcome::Notified).await
    }

    /// The URLs of the other active organizations where the address has an active account.
    async fn active_elsewhere(&self, realm: &Realm, email: &str) -> Vec<String> {
        let records = match self.store.login_records_any_realm(email).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "password reset: cannot list other accounts");
                return Vec::new();
            }
        };
        let mut urls = Vec::new();
        for record in records {
            let user = record.user;
            if user.realm_id == realm.id || !user.is_active || user.is_bot() {
                continue;
            }
            if let Ok(Some(other)) = self.store.realm_by_id(user.realm_id).await {
                if !other.deactivated {
                    urls.push(host::realm_url(&other.subdomain, &self.hosts));
                }
            }
        }
        urls
    }

    async fn send(&self, mail: crate::mail::Mail, sent: Outcome) -> Outcome {
        match self.mailer.send(mail).await {
            Ok(()) => sent,
            Err(e) => {
                tracing::warn!(error = %e, "password reset: the mail was not sent");
                Outcome::Failed
            }
        }
    }
}
