//! The reset worker's rate limits: requests by address and by client IP, in their own limiter
//! (counters in Redis when configured, like the other limits).

use std::net::IpAddr;
use std::time::Duration;

use auth_core::fold_login_name;
use auth_ratelimit::{RateLimiter, Rules};

use crate::limits::{Limited, ip_part};
use crate::options::LimitOptions;

/// Password-reset requests by address and by client IP (Zulip's `password_reset_form_by_email`
/// and `sends_email_by_ip`), counted by the reset worker after the answer was given, so a
/// refusal shows nowhere but in the log. On with `enabled` (Zulip's `RATE_LIMITING`).
pub struct ResetLimits {
    limiter: RateLimiter,
    enabled: bool,
    by_email: Rules,
    by_ip: Rules,
}

impl ResetLimits {
    pub fn new(options: &LimitOptions) -> ResetLimits {
        ResetLimits {
            limiter: RateLimiter::new(auth_ratelimit::LimiterConfig {
                redis_url: options.redis_url.clone().filter(|u| !u.is_empty()),
                key_prefix: options.redis_key_prefix.clone(),
                timeout: options.redis_timeout.max(Duration::from_millis(1)),
                ..auth_ratelimit::LimiterConfig::default()
            }),
            enabled: options.enabled,
            by_email: options.reset_by_email.clone(),
            by_ip: options.reset_by_ip.clone(),
        }
    }

    /// Counts one request for `email` (folded) from `client`: the address first, then (if
    /// the address is within its limit) the client's IP.
    pub async fn check(&self, email: &str, client: Option<IpAddr>) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let by_email = format!("password_reset_by_email:{}", fold_login_name(email));
        let by_ip = client.map(|ip| format!("password_reset_by_ip:{}", ip_part(ip)));
        for (key, rules) in std::iter::once((Some(by_email), &self.by_email))
            .chain(std::iter::once((by_ip, &self.by_ip)))
        {
            let Some(key) = key.filter(|_| !rules.0.is_empty()) else {
                continue;
            };
            let d = self.limiter.check_and_record(&key, rules).await;
            if !d.allowed {
                crate::telemetry::rate_limited(&key);
                return Err(Limited(d));
            }
        }
        Ok(())
    }
}
