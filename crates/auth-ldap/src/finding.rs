//! One line of the directory check (`check.rs`, `schema.rs`): what was found and how much it
//! matters.

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Checked and fine.
    Ok,
    /// Could not be verified, or may be fine; worth reading.
    Note,
    /// A mistake: logins would fail or misbehave.
    Problem,
}

/// One line of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl Finding {
    pub(crate) fn new(level: Level, text: impl Into<String>) -> Finding {
        Finding {
            level,
            text: text.into(),
        }
    }
}
