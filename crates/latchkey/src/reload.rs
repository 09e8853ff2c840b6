//! `SIGHUP`: the configuration is read again. What a running server can change safely is
//! applied — today the log filter (`logging.filter`) — and logged with its old and new value;
//! every other setting that changed is named in a warning and waits for a restart
//! (docs/deploy.md, "Reloading"). A file that no longer loads or validates is refused as a
//! whole: the server keeps running on what it has.

use std::path::Path;

use crate::Settings;
use crate::log_setup;

/// What one reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Settings applied now, as `key: old -> new`.
    pub applied: Vec<String>,
    /// Keys that changed in the file but need a restart.
    pub need_restart: Vec<String>,
}

/// The dotted keys whose values differ between two configurations (secrets compare masked, so
/// a changed secret value shows only through its `*_file` path).
pub fn changed_keys(old: &Settings, new: &Settings) -> Vec<String> {
    let (Ok(a), Ok(b)) = (toml::Value::try_from(old), toml::Value::try_from(new)) else {
        return vec!["(the configuration could not be compared)".to_owned()];
    };
    let mut out = Vec::new();
    diff("", &a, &b, &mut out);
    out
}

fn diff(prefix: &str, a: &toml::Value, b: &toml::Value, out: &mut Vec<String>) {
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => diff(&path, v, w, out),
                    _ => out.push(path),
                }
            }
        }
        _ if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

/// Reads the configuration again and applies what it can to the running server, whose
/// configuration `running` is updated for what was applied.
pub fn reload(file: Option<&Path>, running: &mut Settings) -> Result<Reloaded, String> {
    let new = Settings::load(file).map_err(|e| e.to_string())?;
    new.validate().map_err(|e| format!("{e:#}"))?;
    let mut done = Reloaded::default();
    for key in changed_keys(running, &new) {
        if key == "logging.filter" {
            match log_setup::set_filter(&new.logging.filter) {
                Ok(()) => {
                    done.applied.push(format!(
                        "logging.filter: {:?} -> {:?}",
                        running.logging.filter, new.logging.filter
                    ));
                    running.logging.filter = new.logging.filter.clone();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "logging.filter not changed");
                }
            }
        } else {
            done.need_restart.push(key);
        }
    }
    Ok(done)
}

/// The `SIGHUP` handler's work: reload and log the outcome.
pub fn on_hangup(file: Option<&Path>, running: &mut Settings) {
    tracing::info!("SIGHUP: reading the configuration again");
    match reload(file, running) {
        Err(e) => tracing::error!(
            error = %e,
            "SIGHUP: the configuration does not load; the running configuration stays"
        ),
        Ok(r) => {
            // At WARN, so the confirmation shows under whatever filter was just set.
            for a in &r.applied {
                tracing::warn!(change = %a, "SIGHUP: applied");
            }
            if !r.need_restart.is_empty() {
                tracing::warn!(
                    settings = %r.need_restart.join(", "),
                    "SIGHUP: these settings changed but take effect only after a restart"
                );
            }
            if r.applied.is_empty() && r.need_restart.is_empty() {
                tracing::info!("SIGHUP: nothing changed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_names_each_changed_leaf() {
        let a = Settings::default();
        let mut b = Settings::default();
        assert!(changed_keys(&a, &b).is_empty());
        b.logging.filter = "debug".into();
        b.auth.bcrypt_cost = 13;
        assert_eq!(changed_keys(&a, &b), ["auth.bcrypt_cost", "logging.filter"]);
    }
}
