//! The errors this crate reports. Only construction can fail: the limiting operations always
//! answer.

/// A configuration or rule the limiter cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// A rule whose window is zero or longer than [`crate::MAX_WINDOW`].
    #[error("rate-limit rule window must be between 1 ms and 366 days (got {window_ms} ms)")]
    InvalidWindow {
        /// The window that was refused, in milliseconds.
        window_ms: u128,
    },
    /// A rule that allows no attempt at all.
    #[error("rate-limit rule maximum must be at least 1")]
    ZeroMax,
    /// A rules string that is not `secs:count[,secs:count…]`.
    #[error(
        "rate-limit rule {text:?} (item {item}) is not SECONDS:COUNT; rules look like \"60:5\" or \"60:5,3600:50\""
    )]
    BadRulesString {
        /// 1-based position of the offending item.
        item: usize,
        /// The offending item, trimmed.
        text: String,
    },
    /// A rule given as a list that is not a `[window_seconds, max_requests]` pair.
    #[error("a rate-limit rule pair is [window_seconds, max_requests]: {reason}")]
    BadRulePair {
        /// What is wrong with it.
        reason: String,
    },
    /// A Redis URL the client cannot use. The URL itself is not repeated: it may hold a password.
    #[error("the Redis URL is not valid (expected redis://, rediss:// or unix://): {reason}")]
    InvalidRedisUrl {
        /// What the Redis client said about it (without the URL).
        reason: String,
    },
}

/// Why one Redis operation failed; never leaves the crate (the limiter falls back instead).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("unexpected reply from the rate-limit script")]
    BadReply,
}
