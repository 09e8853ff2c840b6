//! Rules: "at most `max` attempts within `window`", Zulip's `(window_seconds, max_requests)`.

use std::str::FromStr;
use std::time::Duration;

use crate::error::RateLimitError;

/// The longest window a rule may have (366 days).
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);

/// At most `max` attempts within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// How far back attempts count.
    pub window: Duration,
    /// How many attempts the window may hold.
    pub max: u32,
}

impl Rule {
    /// A checked rule: the window is 1 ms ..= [`MAX_WINDOW`] and `max` is at least 1.
    pub fn new(window: Duration, max: u32) -> Result<Rule, RateLimitError> {
        if window < Duration::from_millis(1) || window > MAX_WINDOW {
            return Err(RateLimitError::InvalidWindow {
                window_ms: window.as_millis(),
            });
        }
        if max == 0 {
            return Err(RateLimitError::ZeroMax);
        }
        Ok(Rule { window, max })
    }

    pub(crate) fn window_secs(&self) -> f64 {
        self.window.as_secs_f64()
    }
}

/// The rules of one limiter. Empty means unlimited.
///
/// The constructors check each rule ([`Rule::new`]) and sort them by window; a list built
/// directly may hold anything and is still handled: a zero `max` refuses every attempt, a zero
/// window never refuses, and a window past [`MAX_WINDOW`] is kept in Redis for `MAX_WINDOW`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// No limit: every attempt is allowed and none is recorded.
    pub fn unlimited() -> Rules {
        Rules(Vec::new())
    }

    /// Checked rules (see [`Rule::new`]), sorted by window.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Result<Rules, RateLimitError> {
        let mut checked = Vec::new();
        for rule in rules {
            checked.push(Rule::new(rule.window, rule.max)?);
        }
        checked.sort_by_key(|r| (r.window, r.max));
        checked.dedup();
        Ok(Rules(checked))
    }

    /// Zulip's form, `[(window_seconds, max_requests), …]`, e.g. `&[(1800, 5)]`.
    pub fn from_pairs(pairs: &[(u64, u32)]) -> Result<Rules, RateLimitError> {
        Rules::new(pairs.iter().map(|&(secs, max)| Rule {
            window: Duration::from_secs(secs),
            max,
        }))
    }

    /// The rules (sorted by window when built by a constructor).
    pub fn as_slice(&self) -> &[Rule] {
        &self.0
    }

    /// True when there is no rule (unlimited).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The smallest `max` (what `X-RateLimit-Limit` reports); `None` when unlimited.
    pub fn limit(&self) -> Option<u32> {
        self.0.iter().map(|r| r.max).min()
    }

    /// The longest window: how long a key's history is kept.
    pub fn longest_window(&self) -> Duration {
        self.0
            .iter()
            .map(|r| r.window)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The largest `max`: how many recent attempts the check needs to look at.
    pub(crate) fn largest_max(&self) -> u32 {
        self.0.iter().map(|r| r.max).max().unwrap_or(0)
    }
}

/// Zulip's text form, `"secs:count,secs:count"`, as in Zulip's per-user `rate_limits` string
/// and in environment variables: `"1800:5"`, `"10:2, 60:5"`. Blank items are skipped, so an
/// empty string means unlimited; seconds may be decimal (`"0.5:3"`). The rules are checked.
impl FromStr for Rules {
    type Err = RateLimitError;

    fn from_str(s: &str) -> Result<Rules, RateLimitError> {
        Rules::new(parse_text(s)?)
    }
}

/// The rules of a text such as `"60:5,3600:50"`, not yet checked (see [`Rules::new`]).
pub(crate) fn parse_text(s: &str) -> Result<Vec<Rule>, RateLimitError> {
    let mut rules = Vec::new();
    for (i, item) in s.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let bad = || RateLimitError::BadRulesString {
            item: i + 1,
            text: item.to_owned(),
        };
        let (secs, max) = item.split_once(':').ok_or_else(bad)?;
        let window = parse_seconds(secs.trim()).ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        rules.push(Rule { window, max });
    }
    Ok(rules)
}

/// Whole or decimal seconds (`"60"`, `"0.5"`); `None` for anything else, negative or too long
/// for a [`Duration`].
pub(crate) fn parse_seconds(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Only plain decimals: no "inf", "NaN" or exponents.
    if !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let secs: f64 = s.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_checked_and_sorted() {
        let rules = Rules::from_pairs(&[(86_400, 5), (3600, 2)]).expect("valid");
        assert_eq!(
            rules.as_slice(),
            &[
                Rule {
                    window: Duration::from_secs(3600),
                    max: 2
                },
                Rule {
                    window: Duration::from_secs(86_400),
                    max: 5
                },
            ]
        );
        assert_eq!(rules.limit(), Some(2));
        assert_eq!(rules.longest_window(), Duration::from_secs(86_400));
        assert_eq!(rules.largest_max(), 5);

        assert_eq!(
            Rules::from_pairs(&[(0, 5)]),
            Err(RateLimitError::InvalidWindow { window_ms: 0 })
        );
        assert_eq!(Rules::from_pairs(&[(10, 0)]), Err(RateLimitError::ZeroMax));
        assert!(Rules::from_pairs(&[(400 * 86_400, 1)]).is_err());
        assert!(Rules::from_pairs(&[]).expect("empty is fine").is_empty());
        assert_eq!(Rules::unlimited().limit(), None);
    }

    #[test]
    fn zulip_rules_strings_parse() {
        let rules: Rules = "60:200, 3600:1000".parse().expect("valid");
        assert_eq!(
            rules,
            Rules::from_pairs(&[(60, 200), (3600, 1000)]).expect("valid")
        );
        assert!("".parse::<Rules>().expect("empty").is_empty());
        assert!(" , ".parse::<Rules>().expect("blank items").is_empty());
        assert_eq!(
            "60:5,".parse::<Rules>(),
            Rules::from_pairs(&[(60, 5)]),
            "a trailing comma is fine"
        );
        assert_eq!(
            "0.5:3"
                .parse::<Rules>()
                .expect("decimal seconds")
                .as_slice(),
            &[Rule {
                window: Duration::from_millis(500),
                max: 3
            }]
        );
        assert_eq!(
            "60:200,x".parse::<Rules>(),
            Err(RateLimitError::BadRulesString {
                item: 2,
                text: "x".into()
            })
        );
        let err = "60:200, sixty:5"
            .parse::<Rules>()
            .expect_err("not a number");
        assert!(err.to_string().contains("\"sixty:5\" (item 2)"), "{err}");
        assert!("60".parse::<Rules>().is_err());
        assert!("60:".parse::<Rules>().is_err());
        assert!("-60:5".parse::<Rules>().is_err());
        assert!("inf:5".parse::<Rules>().is_err());
        assert!("1e3:5".parse::<Rules>().is_err());
        assert!("60:5:7".parse::<Rules>().is_err());
        assert!("60:-1".parse::<Rules>().is_err());
        assert_eq!("60:0".parse::<Rules>(), Err(RateLimitError::ZeroMax));
        assert_eq!(
            "0:5".parse::<Rules>(),
            Err(RateLimitError::InvalidWindow { window_ms: 0 })
        );
        assert!("31708800:5".parse::<Rules>().is_err(), "over 366 days");
    }
}
