//! Typed setting values and how they are read: the mode enums ([`ExternalScheme`],
//! [`LogFormat`]), durations that take a number in the key's unit or a humantime text
//! ([`secs`], [`millis`], [`secs_f64`]), addresses, URLs, backend names, and optional texts
//! where an empty string means "not set".
//!
//! Error messages quote the value and say what would do; the loader puts the key in front.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use auth_core::BackendKind;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// A setting that is one of a few names: `FromStr`, `Display` and serde through the name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The name as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("{:?} is not ", $what, ": use {}"),
                        other,
                        [$(concat!("\"", $text, "\"")),+].join(" or ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(de::Error::custom)
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// `server.external_scheme`: the scheme of the realm URLs Latchkey reports.
    ExternalScheme, "a URL scheme" {
        Http = "http",
        Https = "https",
    }
);

named_enum!(
    /// `logging.format`.
    LogFormat, "a log format" {
        /// Text lines for people.
        Human = "human",
        /// One JSON object per line.
        Json = "json",
    }
);

/// The unit a duration key is named for (`*_secs`, `*_ms`).
#[derive(Clone, Copy)]
enum Unit {
    Secs,
    Millis,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Secs => "seconds",
            Unit::Millis => "milliseconds",
        }
    }

    fn whole(self, n: u64) -> Duration {
        match self {
            Unit::Secs => Duration::from_secs(n),
            Unit::Millis => Duration::from_millis(n),
        }
    }

    fn decimal(self, n: f64) -> Option<Duration> {
        let secs = match self {
            Unit::Secs => n,
            Unit::Millis => n / 1000.0,
        };
        Duration::try_from_secs_f64(secs).ok()
    }
}

/// A duration: a number in the key's unit (`ttl_secs = 30`, `"30"`, `0.5`) or a humantime text
/// (`"30s"`, `"5m"`, `"1h 30m"`, `"250ms"`).
struct DurationVisitor(Unit);

impl DurationVisitor {
    fn negative<E: de::Error>(self, shown: impl fmt::Display) -> E {
        E::custom(format!(
            "{shown} is not a duration: it must not be negative (a number of {} or a text such as \"30s\")",
            self.0.name()
        ))
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a number of {} or a duration such as \"30s\", \"5m\" or \"1h 30m\"",
            self.0.name()
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(self.0.whole(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => Ok(self.0.whole(v)),
            Err(_) => Err(self.negative(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        if v < 0.0 {
            return Err(self.negative(v));
        }
        self.0
            .decimal(v)
            .ok_or_else(|| E::custom(format!("{v} is not a duration in {}", self.0.name())))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Ok(self.0.whole(n));
        }
        if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            if let Some(d) = t.parse::<f64>().ok().and_then(|n| self.0.decimal(n)) {
                return Ok(d);
            }
        }
        humantime::parse_duration(t).map_err(|e| {
            E::custom(format!(
                "{v:?} is not a duration ({e}): give a number of {} or a text such as \"30s\", \"5m\" or \"1h 30m\"",
                self.0.name()
            ))
        })
    }
}

/// Serialises `d` as a number of `unit`: an integer when whole, otherwise a decimal.
fn serialize_in<S: Serializer>(d: &Duration, unit: Unit, s: S) -> Result<S::Ok, S::Error> {
    let (whole, exact) = match unit {
        Unit::Secs => (d.as_secs(), d.subsec_nanos() == 0),
        Unit::Millis => (
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            d.subsec_nanos() % 1_000_000 == 0,
        ),
    };
    if exact {
        s.serialize_u64(whole)
    } else {
        match unit {
            Unit::Secs => s.serialize_f64(d.as_secs_f64()),
            Unit::Millis => s.serialize_f64(d.as_secs_f64() * 1000.0),
        }
    }
}

/// `*_secs` keys: a number of seconds or a humantime text; written back as seconds.
pub mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        serialize_in(d, Unit::Secs, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor(Unit::Secs))
    }
}

/// `*_secs` keys that were decimals (the LDAP timeouts): written back as decimal seconds.
pub mod secs_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor(Unit::Secs))
    }
}

/// `*_ms` keys: a number of milliseconds or a humantime text; written back as milliseconds.
pub mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        serialize_in(d, Unit::Millis, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor(Unit::Millis))
    }
}

/// `server.bind`: an IP address and a port. Host names are not accepted (they never were: a
/// listener binds addresses); `latchkey serve --bind` still takes one.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        de::Error::custom(format!(
            "{text:?} is not an address like 127.0.0.1:9991 (an IP address and a port)"
        ))
    })
}

/// A list of IP addresses (`server.trusted_proxies`).
pub fn ip_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|text| {
            text.parse()
                .map_err(|_| de::Error::custom(format!("{text:?} is not an IP address")))
        })
        .collect()
}

/// A text where empty (or blank) means "not set"; kept trimmed, written back as `""` when unset.
pub mod opt_string {
    use super::*;

    pub fn serialize<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(text.as_deref().unwrap_or(""))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()))
    }
}

/// `auth.backends`: backend names, in order.
pub mod backend_list {
    use super::*;

    /// One name; an unknown one is an error that lists the known ones.
    struct Name(BackendKind);

    impl<'de> Deserialize<'de> for Name {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
            let text = String::deserialize(d)?;
            BackendKind::from_name(&text).map(Name).ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown backend {text:?} (known: email, ldap, dev)"
                ))
            })
        }
    }

    pub fn serialize<S: Serializer>(kinds: &[BackendKind], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(kinds.len()))?;
        for kind in kinds {
            seq.serialize_element(kind.name())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BackendKind>, D::Error> {
        Ok(Vec::<Name>::deserialize(d)?
            .into_iter()
            .map(|n| n.0)
            .collect())
    }
}

/// A list of URLs (`ldap.uris`), each parsed; written back as texts.
pub mod url_list {
    use super::*;
    use url::Url;

    pub fn serialize<S: Serializer>(urls: &[Url], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(urls.len()))?;
        for url in urls {
            seq.serialize_element(url.as_str())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Url>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|text| {
                Url::parse(text.trim())
                    .map_err(|e| de::Error::custom(format!("{text:?} is not a URL ({e})")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct T {
        #[serde(with = "secs")]
        s: Duration,
        #[serde(with = "millis")]
        ms: Duration,
    }

    fn read(toml_text: &str) -> Result<T, String> {
        toml::from_str::<T>(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_take_numbers_in_their_unit_or_humantime() {
        let t = read("s = 30\nms = 500").unwrap();
        assert_eq!(
            (t.s, t.ms),
            (Duration::from_secs(30), Duration::from_millis(500))
        );
        let t = read("s = \"5m\"\nms = \"1s 250ms\"").unwrap();
        assert_eq!(
            (t.s, t.ms),
            (Duration::from_secs(300), Duration::from_millis(1250))
        );
        let t = read("s = \"30\"\nms = 2.5").unwrap();
        assert_eq!(
            (t.s, t.ms),
            (Duration::from_secs(30), Duration::from_micros(2500))
        );
        let t = read("s = 1.5\nms = 0").unwrap();
        assert_eq!((t.s, t.ms), (Duration::from_millis(1500), Duration::ZERO));
        let err = read("s = \"thirty\"\nms = 1").unwrap_err();
        assert!(err.contains("\"thirty\" is not a duration"), "{err}");
        assert!(err.contains("a number of seconds"), "{err}");
        let err = read("s = -1\nms = 1").unwrap_err();
        assert!(err.contains("must not be negative"), "{err}");
        assert!(read("s = true\nms = 1").is_err());
        assert!(read("s = \"-5s\"\nms = 1").is_err());
    }

    #[test]
    fn durations_are_written_in_their_unit() {
        let t = read("s = \"2m\"\nms = \"1s\"").unwrap();
        assert_eq!(toml::to_string(&t).unwrap(), "s = 120\nms = 1000\n");
        let t = read("s = \"1500ms\"\nms = \"1500us\"").unwrap();
        assert_eq!(toml::to_string(&t).unwrap(), "s = 1.5\nms = 1.5\n");
    }

    #[test]
    fn enums_name_what_would_do() {
        assert_eq!("https".parse(), Ok(ExternalScheme::Https));
        assert_eq!(
            "ftp".parse::<ExternalScheme>(),
            Err("\"ftp\" is not a URL scheme: use \"http\" or \"https\"".to_owned())
        );
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert!("JSON".parse::<LogFormat>().is_err());
        assert_eq!(LogFormat::Human.to_string(), "human");
    }
}
