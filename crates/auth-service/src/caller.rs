//! Who is calling: an API key (with the email it was presented with) resolved to its owner and
//! realm, and checked as Zulip checks it (spec §9) — the owner's email, an active realm and
//! account, the realm the request's host names, and what the key may be used for.

use std::sync::Arc;

use auth_core::{ApiKey, BotType, Realm, User};

use crate::App;
use crate::error::{KeyRefusal, ServiceError};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Shared with the key cache: a request holds the cached account, it does not copy it.
    pub user: Arc<User>,
    pub realm: Arc<Realm>,
}

/// What a request authenticates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An ordinary API endpoint: incoming-webhook bots are refused, and the request counts
    /// toward the caller's `api_by_user` limit.
    Api,
    /// A reverse proxy checking a credential for another service (`/api/v1/auth/verify`): any
    /// active account, and it does not spend the caller's API budget (a browser behind the
    /// proxy makes many requests).
    ForwardAuth,
}

impl App {
    /// The owner of `key`, presented with `email`, for a request to `host`.
    pub async fn caller_for_key(
        &self,
        email: &str,
        key: &str,
        host: &str,
        purpose: Purpose,
    ) -> Result<Caller, ServiceError> {
        let refused = ServiceError::Key;
        let key = ApiKey::parse(key).map_err(|_| refused(KeyRefusal::Malformed))?;
        let owner = self
            .keys
            .owner_of(&key)
            .await
            .map_err(|e| ServiceError::unavailable("API key lookup failed", e))?;
        let Some((user, realm)) = owner else {
            return Err(refused(KeyRefusal::Invalid));
        };
        if email.to_lowercase() != user.delivery_email.to_lowercase() {
            return Err(refused(KeyRefusal::Invalid));
        }
        if realm.deactivated {
            return Err(refused(KeyRefusal::RealmDeactivated));
        }
        if !user.is_active {
            return Err(refused(KeyRefusal::UserDeactivated));
        }
        // Forward-auth answers for the host the protected app serves: a host that names no
        // realm is refused, not served as the root realm.
        let subdomain = match self.recognised_subdomain(host) {
            Ok(Some(s)) => s,
            Ok(None) if purpose == Purpose::ForwardAuth => {
                tracing::info!(user_id = %user.id, "forward-auth for a host that names no realm");
                return Err(refused(KeyRefusal::WrongSubdomain));
            }
            Ok(None) => String::new(),
            Err(e) => {
                tracing::info!(host = ?host, "refused a malformed host");
                return Err(e.into());
            }
        };
        if realm.subdomain != subdomain {
            tracing::warn!(
                user_id = %user.id,
                user_realm = %realm.subdomain,
                request_realm = ?subdomain,
                "attempted to access the API on the wrong subdomain"
            );
            return Err(refused(KeyRefusal::WrongSubdomain));
        }
        if purpose == Purpose::Api && user.bot_type == Some(BotType::IncomingWebhook) {
            return Err(refused(KeyRefusal::WebhookBot));
        }
        Ok(Caller { user, realm })
    }
}

impl App {
    /// Replaces the caller's own key (`POST /users/me/api_key/regenerate`, the settings page).
    pub async fn regenerate_own_key(&self, caller: &Caller) -> Result<ApiKey, ServiceError> {
        let key = self
            .keys
            .regenerate(caller.user.id, auth_store::Actor::api(Some(caller.user.id)))
            .await
            .map_err(|e| ServiceError::unavailable("key regeneration failed", e))?;
        tracing::info!(user_id = %caller.user.id, "API key regenerated");
        Ok(key)
    }
}
