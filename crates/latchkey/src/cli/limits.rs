//! `latchkey limits clear` and `latchkey limits list`: `auth_service::blocks`, the same calls as
//! Organization → Rate-limit blocks (see there for what a clear reaches and what the list reads).

use anyhow::Result;
use serde_json::json;

use crate::open::AppState;
use auth_service::blocks;
use auth_service::clock::rfc3339;
use auth_service::members::By;

pub async fn clear(state: &AppState, username: &str) -> Result<()> {
    let cleared = blocks::clear(state, By::Cli, username).await?;
    if let Some(e) = &cleared.directory_error {
        eprintln!(
            "warning: the directory could not be asked who {username:?} is ({e}); \
             failures counted against the directory entry were not cleared"
        );
    }
    if cleared.mode == "local" {
        eprintln!(
            "warning: Redis is configured but unreachable: running instances forget these \
             failures, but Redis keeps its counters until their window passes"
        );
    }
    println!(
        "cleared the failed logins of {:?} ({} limiter keys); running instances forget them within a poll interval",
        cleared.name, cleared.keys
    );
    Ok(())
}

pub async fn list(state: &AppState, as_json: bool) -> Result<()> {
    let (blocks, window) = blocks::list(state, None, false).await?;
    let window = window.as_secs();
    if as_json {
        let list: Vec<_> = blocks
            .iter()
            .map(|b| {
                json!({
                    "username": b.name,
                    "realm_id": b.realm.map(|r| r.0),
                    "refusals_audited": b.refusals,
                    "last_refused": rfc3339(b.last_refused),
                    "blocked_until": b.blocked_until().map(rfc3339),
                    "ends_by": rfc3339(b.ends_by),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if blocks.is_empty() {
        println!("no login was refused for too many failures in the last {window} s");
        return Ok(());
    }
    println!("refused for too many failed logins in the last {window} s (not cleared since):");
    for b in &blocks {
        let until = match (b.known, b.blocked_until()) {
            (true, Some(t)) => format!("blocked until {}", rfc3339(t)),
            (true, None) => "not blocked now".to_owned(),
            (false, _) => format!("blocked at most until {}", rfc3339(b.ends_by)),
        };
        println!(
            "  {:<40} last refused {}  ({} audited refusals; {until})",
            format!("{:?}", b.name),
            rfc3339(b.last_refused),
            b.refusals
        );
    }
    println!(
        "`latchkey limits clear <username>` lets a name (and the people it resolves to) try again."
    );
    Ok(())
}
