//! The directory check ([`auth_ldap::check_directory`]) as `latchkey config check --connect`
//! prints it and as `serve` logs it at start: one line per finding, problems marked.

use auth_ldap::{DirError, Finding, LdapConfig, Level};

/// The line `config check --connect` prints for a finding.
pub fn line(f: &Finding) -> String {
    match f.level {
        Level::Ok => format!("ldap: {}", f.text),
        Level::Note => format!("ldap: note: {}", f.text),
        Level::Problem => format!("ldap: problem: {}", f.text),
    }
}

/// Runs the check and prints every finding to standard error, one a line; returns the number
/// of problems. Fails only when the TLS settings cannot be used.
pub async fn print_check(cfg: &LdapConfig) -> Result<usize, DirError> {
    let check = auth_ldap::check_directory(cfg).await?;
    for f in &check.findings {
        eprintln!("{}", line(f));
    }
    Ok(check.problems().count())
}

/// Runs the check in the background and logs its findings: problems as warnings, the rest as
/// information. Never stops the server: the directory may be down for a moment.
pub fn spawn_startup_check(cfg: LdapConfig) {
    tokio::spawn(async move {
        match auth_ldap::check_directory(&cfg).await {
            Ok(check) => {
                for f in &check.findings {
                    match f.level {
                        Level::Problem => tracing::warn!("LDAP check at start: {}", f.text),
                        Level::Ok | Level::Note => {
                            tracing::info!("LDAP check at start: {}", f.text)
                        }
                    }
                }
                let problems = check.problems().count();
                if problems > 0 {
                    tracing::warn!(
                        problems,
                        "the LDAP check at start found problems; run `latchkey config check --connect` for details"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "the LDAP check at start could not run"),
        }
    });
}
