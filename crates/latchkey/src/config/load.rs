//! Loading: built-in defaults, then the TOML file, then `LATCHKEY__SECTION__KEY` variables,
//! merged by the `config` crate and read into the typed [`Settings`].
//!
//! serde stops at the first value it cannot read, but `latchkey config check` must list every
//! problem. So when reading fails, the loader notes the problem under its key, drops that value
//! from the merged tree (the key falls back to its default; a bad element of a list is dropped
//! alone) and reads again, until the rest reads. It then adds what [`Settings::problems`] finds
//! in the rest, leaving out what only follows from a dropped value's default.

use std::collections::HashMap;
use std::path::Path;

use config::{Value, ValueKind};
use serde::Deserialize;

use super::{ConfigError, ENV_PREFIX, Settings};

/// More unreadable values than this in one configuration: stop and list those found.
const MAX_ROUNDS: usize = 200;

impl Settings {
    /// Defaults, then the file (required when named explicitly), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests). A value that
    /// cannot be read is [`ConfigError::Invalid`], listing every such value by its key together
    /// with the other problems of the configuration.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let load = |e: config::ConfigError| ConfigError::Load(e.to_string());
        let defaults = config::Config::try_from(&Settings::default()).map_err(load)?;
        let mut builder = config::Config::builder().add_source(defaults);
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Load(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                builder = builder.add_source(
                    config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
                );
            }
            None => {
                builder = builder.add_source(
                    config::File::with_name("latchkey.toml")
                        .format(config::FileFormat::Toml)
                        .required(false),
                );
            }
        }
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        let env_names: Vec<String> = env.keys().cloned().collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("auth.backends")
                .with_list_parse_key("server.root_subdomain_aliases")
                .with_list_parse_key("ldap.uris")
                .with_list_parse_key("server.trusted_proxies")
                .source(Some(env)),
        );
        let merged = builder.build().map_err(load)?.cache;
        read_all(merged, |message| {
            crate::config_origin::unknown_key_origin(message, file, &env_names)
        })
    }
}

/// Reads `tree` into [`Settings`], or lists every value that cannot be read and every other
/// problem. `origin` says where an unknown key was set.
fn read_all(
    mut tree: Value,
    origin: impl Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut unreadable: Vec<(String, String)> = Vec::new();
    // Keys whose whole value was dropped (they hold their default now).
    let mut defaulted: Vec<String> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let error = match Settings::deserialize(tree.clone()) {
            Ok(settings) if unreadable.is_empty() => return Ok(settings),
            Ok(settings) => return Err(every_problem(unreadable, &defaulted, &settings)),
            Err(e) => e,
        };
        let (path, mut message) = locate(error);
        if message.contains("unknown field `") {
            if let Some(at) = origin(&message) {
                message = format!("{message} ({at})");
            }
        }
        let key = path.split('[').next().unwrap_or(&path).to_owned();
        unreadable.push((key.clone(), message));
        match drop_value(&mut tree, &path) {
            Some(Dropped::Whole) => defaulted.push(key),
            Some(Dropped::Element) => {}
            // Cannot tell which value: drop the whole section (or give up at the top).
            None => match key.split('.').next().filter(|s| !s.is_empty()) {
                Some(section) if drop_value(&mut tree, section).is_some() => {
                    defaulted.push(section.to_owned())
                }
                _ => break,
            },
        }
    }
    unreadable.sort();
    unreadable.dedup();
    Err(ConfigError::Invalid(
        unreadable
            .into_iter()
            .map(|(key, message)| format!("{key}: {message}"))
            .collect(),
    ))
}

/// The unreadable values (sorted by key), then the other problems, less those about a key that
/// now holds its default instead of what was configured.
fn every_problem(
    mut unreadable: Vec<(String, String)>,
    defaulted: &[String],
    settings: &Settings,
) -> ConfigError {
    unreadable.sort();
    unreadable.dedup();
    let about_defaulted = |problem: &str| {
        defaulted.iter().any(|key| {
            problem
                .strip_prefix(key.as_str())
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
    };
    let mut problems: Vec<String> = unreadable
        .into_iter()
        .map(|(key, message)| {
            if key.is_empty() {
                message
            } else {
                format!("{key}: {message}")
            }
        })
        .collect();
    problems.extend(
        settings
            .problems()
            .into_iter()
            .filter(|p| !about_defaulted(p)),
    );
    ConfigError::Invalid(problems)
}

/// Where a reading error is (`section.key`, `section.list[2]`, …) and what it says, without the
/// `config` crate's "for key …" suffix.
fn locate(error: config::ConfigError) -> (String, String) {
    let (key, message) = match error {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        config::ConfigError::At { error, key, .. } => (key, error.to_string()),
        config::ConfigError::NotFound(key) => (Some(key), "missing".to_owned()),
        other => (None, other.to_string()),
    };
    let mut path = key.unwrap_or_default();
    // An unknown key is reported at the table holding it.
    if let Some(field) = message
        .split("unknown field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    {
        path = if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
    }
    (path, message)
}

enum Dropped {
    /// The key's whole value: it reads as its default now.
    Whole,
    /// One element of a list.
    Element,
}

/// Removes the value at `path` (`a.b.c` or `a.b[3]…`: then element 3 of `a.b`) from `tree`.
fn drop_value(tree: &mut Value, path: &str) -> Option<Dropped> {
    let (keys, index) = match path.split_once('[') {
        Some((keys, rest)) => (keys, rest.split(']').next()?.parse::<usize>().ok()),
        None => (path, None),
    };
    let mut segments: Vec<&str> = keys.split('.').collect();
    let last = segments.pop()?;
    let mut table = match &mut tree.kind {
        ValueKind::Table(t) => t,
        _ => return None,
    };
    for segment in segments {
        table = match &mut table.get_mut(segment)?.kind {
            ValueKind::Table(t) => t,
            _ => return None,
        };
    }
    match index {
        None => table.remove(last).map(|_| Dropped::Whole),
        Some(i) => match &mut table.get_mut(last)?.kind {
            ValueKind::Array(items) if i < items.len() => {
                items.remove(i);
                Some(Dropped::Element)
            }
            _ => None,
        },
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
