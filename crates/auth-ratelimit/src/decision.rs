//! The answer to one check, and the arithmetic both stores share to compute it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::from_epoch_secs;
use crate::rules::Rules;

/// Identifies one recorded attempt, so that it can be withdrawn
/// ([`crate::RateLimiter::withdraw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub(crate) id: u128,
    pub(crate) origin: Origin,
}

impl Ticket {
    /// True when the attempt was recorded in Redis (shared), false when in this instance's memory.
    pub fn is_shared(&self) -> bool {
        self.origin == Origin::Shared
    }
}

/// Which store holds a recorded attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Origin {
    Shared,
    Local,
}

/// What the limiter decided about one attempt, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// False when the attempt is over a limit (answer 429).
    pub allowed: bool,
    /// Only when refused: how long until an attempt would be allowed (fractional seconds,
    /// the maximum over the rules that refused).
    pub retry_after: Option<Duration>,
    /// The smallest `max` among the rules (`X-RateLimit-Limit`); `u32::MAX` when unlimited.
    pub limit: u32,
    /// The smallest number of attempts left among the rules, counting this one when it was
    /// recorded (`X-RateLimit-Remaining`); 0 when refused; `u32::MAX` when unlimited.
    pub remaining: u32,
    /// When the limit resets (`X-RateLimit-Reset`): if refused, when an attempt will be allowed
    /// again; otherwise when the most constraining rule's window holds no attempt any more (now
    /// when it is already empty).
    pub reset: SystemTime,
    /// The recorded attempt; `None` when nothing was recorded (refused, peeked or unlimited).
    pub ticket: Option<Ticket>,
}

impl Decision {
    /// `retry_after` in fractional seconds (the body's `retry-after`).
    pub fn retry_after_secs(&self) -> Option<f64> {
        self.retry_after.map(|d| d.as_secs_f64())
    }

    /// `reset` as whole seconds since the Unix epoch, rounded up (`X-RateLimit-Reset`).
    pub fn reset_epoch_secs(&self) -> u64 {
        let d = self
            .reset
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }

    /// True when no rule applied (empty [`Rules`]): callers may then omit the headers.
    pub fn is_unlimited(&self) -> bool {
        self.allowed && self.limit == u32::MAX
    }

    pub(crate) fn unlimited(now: SystemTime) -> Decision {
        Decision {
            allowed: true,
            retry_after: None,
            limit: u32::MAX,
            remaining: u32::MAX,
            reset: now,
            ticket: None,
        }
    }

    pub(crate) fn from_verdict(v: Verdict, ticket: Option<Ticket>) -> Decision {
        Decision {
            allowed: v.allowed,
            retry_after: v
                .retry_after
                .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)),
            limit: v.limit,
            remaining: v.remaining,
            reset: from_epoch_secs(v.reset),
            ticket: if v.allowed { ticket } else { None },
        }
    }
}

/// The store-independent outcome of a check, in epoch seconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub allowed: bool,
    pub retry_after: Option<f64>,
    pub limit: u32,
    pub remaining: u32,
    pub reset: f64,
}

/// Whether the rules allow an attempt at `now`, given the key's recorded attempts newest first
/// (at least the `largest_max` newest; older ones do not matter). Zulip's rule: refused when, for
/// some rule `(w, n)`, the n-th most recent attempt is within the last `w` seconds.
/// What a decision needs to know of a key's recent attempts. The stores answer it without
/// copying the history, so a check costs the same whatever a rule's `max` (a generous limit of
/// a million a minute must not mean copying a million timestamps per request).
pub(crate) trait Recent {
    /// The time of the `i`-th most recent attempt (0 = the newest), if there are that many.
    fn nth_newest(&self, i: usize) -> Option<f64>;
    /// How many attempts are newer than `cutoff`.
    fn count_after(&self, cutoff: f64) -> usize;
}

/// A history listed newest first.
impl Recent for [f64] {
    fn nth_newest(&self, i: usize) -> Option<f64> {
        self.get(i).copied()
    }

    fn count_after(&self, cutoff: f64) -> usize {
        self.iter().take_while(|&&ts| ts > cutoff).count()
    }
}

/// Arrays as slices (the unit tests write histories as array literals).
#[cfg(test)]
impl<const N: usize> Recent for [f64; N] {
    fn nth_newest(&self, i: usize) -> Option<f64> {
        self.as_slice().nth_newest(i)
    }

    fn count_after(&self, cutoff: f64) -> usize {
        self.as_slice().count_after(cutoff)
    }
}

pub(crate) fn allows<R: Recent + ?Sized>(now: f64, recent: &R, rules: &Rules) -> bool {
    rules.as_slice().iter().all(|rule| {
        let n = rule.max as usize;
        match n.checked_sub(1).and_then(|i| recent.nth_newest(i)) {
            Some(ts) => ts <= now - rule.window_secs(),
            None => n > 0,
        }
    })
}

/// The full verdict. `decided` is the store's own answer when it already made the decision
/// atomically (Redis); `recorded` says whether the attempt was added at `now`.
pub(crate) fn evaluate<R: Recent + ?Sized>(
    now: f64,
    recent_desc: &R,
    rules: &Rules,
    decided: Option<bool>,
    record: bool,
) -> Verdict {
    let allowed = decided.unwrap_or_else(|| allows(now, recent_desc, rules));
    let added = allowed && record;

    let mut retry: f64 = 0.0;
    // (remaining, window, reset) of the most constraining rule so far.
    let mut tightest: Option<(u32, f64, f64)> = None;
    for rule in rules.as_slice() {
        let w = rule.window_secs();
        let cutoff = now - w;
        let n = rule.max as usize;
        if !allowed {
            match n.checked_sub(1) {
                // A rule that allows nothing (only when built unchecked).
                None => retry = retry.max(w),
                Some(i) => {
                    if let Some(ts) = recent_desc.nth_newest(i) {
                        if ts > cutoff {
                            retry = retry.max((ts + w - now).min(w));
                        }
                    }
                }
            }
        }
        let in_window = recent_desc.count_after(cutoff) + usize::from(added);
        let remaining = u32::try_from(n.saturating_sub(in_window)).unwrap_or(u32::MAX);
        let newest = if added {
            Some(now)
        } else {
            recent_desc.nth_newest(0).filter(|&ts| ts > cutoff)
        };
        let reset = newest.map_or(now, |ts| ts + w);
        let tighter = match tightest {
            None => true,
            Some((r, win, _)) => remaining < r || (remaining == r && w < win),
        };
        if tighter {
            tightest = Some((remaining, w, reset));
        }
    }

    let limit = rules.limit().unwrap_or(u32::MAX);
    if allowed {
        let (remaining, _, reset) = tightest.unwrap_or((u32::MAX, 0.0, now));
        Verdict {
            allowed,
            retry_after: None,
            limit,
            remaining,
            reset,
        }
    } else {
        Verdict {
            allowed,
            retry_after: Some(retry),
            limit,
            remaining: 0,
            reset: now + retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;

    fn rules(pairs: &[(u64, u32)]) -> Rules {
        Rules::from_pairs(pairs).expect("valid rules")
    }

    #[test]
    fn nth_most_recent_inside_the_window_refuses() {
        let r = rules(&[(10, 2)]);
        assert!(allows(100.0, &[], &r));
        assert!(allows(100.0, &[99.0], &r));
        assert!(!allows(100.0, &[99.0, 95.0], &r));
        // Exactly w seconds ago no longer counts (Zulip: `timestamp > now - w`).
        assert!(allows(100.0, &[99.0, 90.0], &r));
    }

    #[test]
    fn verdict_numbers() {
        let r = rules(&[(10, 2)]);
        let v = evaluate(100.0, &[], &r, None, true);
        assert_eq!(
            (v.allowed, v.limit, v.remaining, v.reset),
            (true, 2, 1, 110.0)
        );
        let v = evaluate(101.0, &[100.0], &r, None, true);
        assert_eq!((v.allowed, v.remaining, v.reset), (true, 0, 111.0));
        let v = evaluate(102.0, &[101.0, 100.0], &r, None, true);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, Some(8.0));
        assert_eq!((v.remaining, v.reset), (0, 110.0));
        // Peeking does not count the attempt itself.
        let v = evaluate(100.5, &[100.0], &r, None, false);
        assert_eq!((v.allowed, v.remaining, v.reset), (true, 1, 110.0));
        let v = evaluate(100.5, &[], &r, None, false);
        assert_eq!((v.remaining, v.reset), (2, 100.5));
    }

    #[test]
    fn unchecked_rules_are_handled() {
        let zero_max = Rules(vec![Rule {
            window: Duration::from_secs(30),
            max: 0,
        }]);
        let v = evaluate(100.0, &[], &zero_max, None, true);
        assert!(!v.allowed);
        assert_eq!((v.retry_after, v.limit, v.remaining), (Some(30.0), 0, 0));

        let zero_window = Rules(vec![Rule {
            window: Duration::ZERO,
            max: 1,
        }]);
        let v = evaluate(100.0, &[100.0, 100.0], &zero_window, None, true);
        assert!(v.allowed);
    }

    #[test]
    fn reset_rounds_up_to_whole_seconds() {
        let mut d = Decision::unlimited(UNIX_EPOCH + Duration::from_millis(10_500));
        assert_eq!(d.reset_epoch_secs(), 11);
        d.reset = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(d.reset_epoch_secs(), 10);
        assert!(d.is_unlimited());
    }
}
