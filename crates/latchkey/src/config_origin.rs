//! Where an unknown configuration key came from: the configuration file (and its section) or
//! an environment variable, so that `config check` can say which one to fix.

use std::path::Path;

/// The unknown field named by a deserialisation error (serde's "unknown field `x`"), and where
/// it was set: `in <file> [section]`, or `from the environment variable LATCHKEY__…`.
pub fn unknown_key_origin(message: &str, file: Option<&Path>, env: &[String]) -> Option<String> {
    let field = message
        .split("unknown field `")
        .nth(1)?
        .split('`')
        .next()?
        .to_owned();
    let path = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new("latchkey.toml").to_path_buf());
    let mut origins = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(table) = text.parse::<toml::Table>()
    {
        let mut sections = Vec::new();
        find(&table, &field, "", &mut sections);
        for section in sections {
            origins.push(if section.is_empty() {
                format!("set in {} at the top level", path.display())
            } else {
                format!("set in {} under [{section}]", path.display())
            });
        }
    }
    let suffix = format!("__{}", field.to_ascii_uppercase());
    for name in env {
        if name.to_ascii_uppercase().ends_with(&suffix) {
            origins.push(format!("set by the environment variable {name}"));
        }
    }
    (!origins.is_empty()).then(|| origins.join("; "))
}

/// The dotted names of the tables holding `field`.
fn find(table: &toml::Table, field: &str, at: &str, out: &mut Vec<String>) {
    if table.contains_key(field) {
        out.push(at.to_owned());
    }
    for (key, value) in table {
        if let toml::Value::Table(inner) = value {
            let next = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            find(inner, field, &next, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_section_or_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.toml");
        std::fs::write(&file, "[server]\nbnd = \"x\"\n[ldap.sync]\nevery = 1\n").unwrap();
        let msg = "unknown field `bnd`, expected one of `bind`";
        let origin = unknown_key_origin(msg, Some(&file), &[]).unwrap();
        assert!(origin.contains("l.toml under [server]"), "{origin}");
        let origin = unknown_key_origin("unknown field `every`", Some(&file), &[]).unwrap();
        assert!(origin.contains("under [ldap.sync]"), "{origin}");
        let env = vec!["LATCHKEY__SERVER__BINDD".to_owned()];
        let origin = unknown_key_origin("unknown field `bindd`", None, &env).unwrap();
        assert_eq!(
            origin,
            "set by the environment variable LATCHKEY__SERVER__BINDD"
        );
        assert_eq!(
            unknown_key_origin("missing field `x`", Some(&file), &env),
            None
        );
    }
}
