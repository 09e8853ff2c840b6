//! How the CLI prints: an object as JSON or as `key: value` lines, a list as JSON lines.

use anyhow::Result;
use serde_json::Value;

pub(crate) fn print_object(v: &Value, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    if let Value::Object(map) = v {
        for (k, val) in map {
            let text = match val {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{k:<26} {text}");
        }
    }
    Ok(())
}

/// One JSON object per line.
pub fn print_json_lines(values: &[Value]) {
    for v in values {
        println!("{v}");
    }
}
