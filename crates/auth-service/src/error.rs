//! What a service call can answer besides its result. The HTTP crate maps these to Zulip's
//! codes in one place (`auth_http::envelope`); pages and the CLI word them their own way.

use auth_core::AuthFailure;

/// Why a service call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input, with the message to show (Zulip's wording where Zulip has one).
    #[error("{0}")]
    Invalid(String),
    /// A Host (or forwarded host) value that names no host.
    #[error("Invalid Host header")]
    MalformedHost,
    /// No realm has this subdomain.
    #[error("Invalid subdomain")]
    NoSuchRealm,
    /// An API key was not accepted.
    #[error("{0:?}")]
    Key(KeyRefusal),
    /// Not allowed for this caller, with the message to show (Zulip answers these 400).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller's role is not enough (Zulip's `UNAUTHORIZED_PRINCIPAL`: "Must be an
    /// organization administrator", "… owner").
    #[error("{0}")]
    Principal(&'static str),
    /// Zulip's `CannotDeactivateLastUserError` (`DELETE /users/me`): the realm's only active
    /// account (`owner` false) or its only active human owner (`owner` true) may not leave.
    #[error("Cannot deactivate the only {}.", if *owner {"organization owner"} else {"user"})]
    LastUser { owner: bool },
    /// A login (or the rate limit in front of it) refused.
    #[error("{0:?}")]
    Auth(AuthFailure),
    /// The database (or another part Latchkey needs) failed; `context` says what was being
    /// done, `error` is for the log only.
    #[error("{context}: {error}")]
    Unavailable {
        context: &'static str,
        error: String,
    },
}

impl ServiceError {
    /// An infrastructure failure while doing `context`.
    pub fn unavailable(context: &'static str, error: impl std::fmt::Display) -> ServiceError {
        ServiceError::Unavailable {
            context,
            error: error.to_string(),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(msg.into())
    }
}

impl From<crate::host::MalformedHost> for ServiceError {
    fn from(_: crate::host::MalformedHost) -> ServiceError {
        ServiceError::MalformedHost
    }
}

/// Why a key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Not the shape of a key.
    Malformed,
    /// No such key, or not this email's.
    Invalid,
    RealmDeactivated,
    UserDeactivated,
    /// The key's realm is not the one the request's host names.
    WrongSubdomain,
    /// An incoming-webhook bot on an ordinary endpoint.
    WebhookBot,
}
