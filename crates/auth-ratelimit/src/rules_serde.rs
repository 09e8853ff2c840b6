//! [`Rules`] in configuration files (serde): the one parser of rate-limit rules.
//!
//! Accepted, in any mix:
//!
//! * a list of `[window_seconds, max_requests]` pairs: `[[60, 5], [3600, 50]]` (Zulip's form);
//! * Zulip's text, convenient in an environment variable: `"60:5"`, `"60:5,3600:50"`;
//! * a list of such texts, or of texts and pairs: `["60:5", "3600:50"]`, `[[60, 5], "3600:50"]`.
//!
//! An empty list or an empty text means unlimited. Every rule is checked ([`Rules::new`]): a
//! window of zero or longer than [`crate::MAX_WINDOW`], or a maximum of zero, is an error that
//! says which. Rules serialise as the list of pairs, sorted by window.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, SerializeTuple, Serializer};

use crate::error::RateLimitError;
use crate::rules::{Rule, Rules, parse_seconds, parse_text};

const EXPECTING: &str = "rate-limit rules: a list of [window_seconds, max_requests] pairs, \"secs:count\" texts, or one \"secs:count,secs:count\" text";

impl<'de> Deserialize<'de> for Rules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rules, D::Error> {
        let raw = d.deserialize_any(ItemVisitor { top: true })?;
        Rules::new(raw.0).map_err(de::Error::custom)
    }
}

impl Serialize for Rules {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for rule in &self.0 {
            seq.serialize_element(&Pair(rule))?;
        }
        seq.end()
    }
}

/// One rule as `[window_seconds, max_requests]`: whole seconds as an integer, others decimal.
struct Pair<'a>(&'a Rule);

impl Serialize for Pair<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        if self.0.window.subsec_nanos() == 0 {
            t.serialize_element(&self.0.window.as_secs())?;
        } else {
            t.serialize_element(&self.0.window.as_secs_f64())?;
        }
        t.serialize_element(&self.0.max)?;
        t.end()
    }
}

/// Rules read so far, not yet checked.
struct Raw(Vec<Rule>);

/// The whole value (`top`) or one element of its list: a text, a pair, or (at the top) a list.
struct ItemVisitor {
    top: bool,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(ItemVisitor { top: false })
    }
}

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.top {
            f.write_str(EXPECTING)
        } else {
            f.write_str("a [window_seconds, max_requests] pair or a \"secs:count\" text")
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Raw, E> {
        parse_text(text).map(Raw).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        if self.top {
            let mut rules = Vec::new();
            while let Some(Raw(more)) = seq.next_element::<Raw>()? {
                rules.extend(more);
            }
            return Ok(Raw(rules));
        }
        let bad = |reason: &str| {
            de::Error::custom(RateLimitError::BadRulePair {
                reason: reason.to_owned(),
            })
        };
        let Some(Seconds(window)) = seq.next_element::<Seconds>()? else {
            return Err(bad("the pair is empty"));
        };
        let Some(max) = seq.next_element::<u32>()? else {
            return Err(bad("the maximum is missing"));
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(bad("more than two numbers"));
        }
        Ok(Raw(vec![Rule { window, max }]))
    }
}

/// A window in seconds: a non-negative integer or decimal (or its text).
struct Seconds(Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        d.deserialize_any(SecondsVisitor)
    }
}

struct SecondsVisitor;

impl SecondsVisitor {
    fn bad<E: de::Error>(shown: impl fmt::Display) -> E {
        E::custom(RateLimitError::BadRulePair {
            reason: format!("the window {shown} is not a number of seconds"),
        })
    }
}

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a window in seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
        Ok(Seconds(Duration::from_secs(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
        u64::try_from(v)
            .map(|v| Seconds(Duration::from_secs(v)))
            .map_err(|_| Self::bad(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
        Duration::try_from_secs_f64(v)
            .map(Seconds)
            .map_err(|_| Self::bad(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
        parse_seconds(v.trim())
            .map(Seconds)
            .ok_or_else(|| Self::bad(format_args!("{v:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(json: &str) -> Result<Rules, String> {
        serde_json::from_str::<Rules>(json).map_err(|e| e.to_string())
    }

    fn pairs(p: &[(u64, u32)]) -> Rules {
        Rules::from_pairs(p).expect("valid rules")
    }

    #[test]
    fn a_list_of_pairs() {
        assert_eq!(
            from_json("[[3600, 50], [60, 5]]"),
            Ok(pairs(&[(60, 5), (3600, 50)]))
        );
        assert_eq!(from_json("[[1800, 5]]"), Ok(pairs(&[(1800, 5)])));
        assert_eq!(
            from_json("[[0.5, 3]]").map(|r| r.as_slice()[0].window),
            Ok(Duration::from_millis(500))
        );
    }

    #[test]
    fn one_text() {
        assert_eq!(from_json(r#""60:5""#), Ok(pairs(&[(60, 5)])));
        assert_eq!(
            from_json(r#""60:5, 3600:50""#),
            Ok(pairs(&[(60, 5), (3600, 50)]))
        );
    }

    #[test]
    fn a_list_of_texts_and_pairs() {
        assert_eq!(
            from_json(r#"["60:5", "3600:50"]"#),
            Ok(pairs(&[(60, 5), (3600, 50)]))
        );
        assert_eq!(
            from_json(r#"["10:2,60:5", [3600, 50]]"#),
            Ok(pairs(&[(10, 2), (60, 5), (3600, 50)]))
        );
    }

    #[test]
    fn empty_means_unlimited() {
        assert_eq!(from_json("[]"), Ok(Rules::unlimited()));
        assert_eq!(from_json(r#""""#), Ok(Rules::unlimited()));
        assert_eq!(from_json(r#"" , ""#), Ok(Rules::unlimited()));
    }

    #[test]
    fn refusals_say_why() {
        let refused = |json: &str, why: &str| {
            let err = from_json(json).expect_err(json);
            assert!(err.contains(why), "{json}: {err}");
        };
        refused("[[0, 5]]", "window must be between 1 ms and 366 days");
        refused(r#""0:5""#, "window must be between 1 ms and 366 days");
        refused(
            "[[31708800, 5]]",
            "window must be between 1 ms and 366 days",
        );
        refused("[[60, 0]]", "maximum must be at least 1");
        refused(r#"["60:0"]"#, "maximum must be at least 1");
        refused(r#""sixty:5""#, r#""sixty:5" (item 1) is not SECONDS:COUNT"#);
        refused(r#""60:5,60""#, r#""60" (item 2) is not SECONDS:COUNT"#);
        refused("[[60]]", "the maximum is missing");
        refused("[[]]", "the pair is empty");
        refused("[[60, 5, 1]]", "more than two numbers");
        refused("[[-60, 5]]", "the window -60 is not a number of seconds");
        refused(
            r#"[["x", 5]]"#,
            r#"the window "x" is not a number of seconds"#,
        );
        refused("[[60, -5]]", "invalid value");
        refused("[[60, 5000000000]]", "invalid value");
        refused("60", "rate-limit rules: a list of");
        refused("[60]", "a [window_seconds, max_requests] pair or");
        refused("[true]", "a [window_seconds, max_requests] pair or");
        refused(r#"{"60": 5}"#, "rate-limit rules: a list of");
    }

    #[test]
    fn from_str_is_the_same_parser() {
        let text = "60:5, 3600:50";
        assert_eq!(
            text.parse::<Rules>().map_err(|e| e.to_string()),
            from_json(&format!("{text:?}"))
        );
        assert!("60:0".parse::<Rules>().is_err());
    }

    #[test]
    fn serialises_as_sorted_pairs_and_reads_back() {
        let rules = pairs(&[(3600, 50), (60, 5)]);
        let json = serde_json::to_string(&rules).expect("serialise");
        assert_eq!(json, "[[60,5],[3600,50]]");
        assert_eq!(from_json(&json), Ok(rules));
        let half = Rules::new([Rule {
            window: Duration::from_millis(500),
            max: 3,
        }])
        .expect("valid");
        let json = serde_json::to_string(&half).expect("serialise");
        assert_eq!(json, "[[0.5,3]]");
        assert_eq!(from_json(&json), Ok(half));
    }
}
