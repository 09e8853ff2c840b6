//! The wall clock in the store's unit (microseconds since the epoch, [`Timestamp`]), and how the
//! CLI prints such a time. The core does no I/O, so reading the clock lives here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::Timestamp;

/// Now.
pub fn now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    Timestamp(micros)
}

/// `d` before now.
pub fn ago(d: Duration) -> Timestamp {
    Timestamp(now().0 - d.as_micros() as i64)
}

/// RFC 3339 to the second, in UTC.
pub fn rfc3339(t: Timestamp) -> String {
    let at = UNIX_EPOCH + Duration::from_micros(t.0.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
