//! Logging set-up: the tracing subscriber (human or JSON, filtered by `RUST_LOG` or the config)
//! and its escaping writer. The per-request line is the HTTP crate's (`auth_http::logging`).

use std::sync::OnceLock;

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LoggingSettings;

/// The log writer thread's buffer: lines queued while it writes are written together.
const STDERR_BUFFER: usize = 64 * 1024;

/// Replaces the running filter (SIGHUP); set once by [`init`].
type SetFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;
static SET_FILTER: OnceLock<SetFilter> = OnceLock::new();

/// Whether `RUST_LOG` chose the filter (it then wins over the configuration, at start and on
/// reload).
pub fn filter_from_environment() -> bool {
    std::env::var_os(EnvFilter::DEFAULT_ENV).is_some()
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
///
/// Lines go to standard error through a writer thread (`tracing-appender`'s non-blocking
/// writer), so a request never waits for the terminal or the journal; when its buffer is full
/// the logging thread waits rather than drop lines. Keep the returned guard alive until the
/// process ends: dropping it flushes what is still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(settings: &LoggingSettings) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = settings.format == crate::config::LogFormat::Json;
    // Colours are terminal escapes too; the writer lets none through. The reloadable filter
    // wraps the finished formatter, so it is added last. The writer thread writes through a
    // buffer that it flushes whenever its queue is empty: one `write` per burst of lines rather
    // than one per line (at 50,000 requests a second, per-line writes cost a core's tenth).
    let stderr = std::io::BufWriter::with_capacity(STDERR_BUFFER, std::io::stderr());
    let (out, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("latchkey-log")
        .finish(stderr);
    let builder = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(Escaping { json, out });
    if json {
        let builder = builder
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_filter_reloading();
        let handle = builder.reload_handle();
        if builder.try_init().is_ok() {
            let _ = SET_FILTER.set(Box::new(move |f| {
                handle.reload(f).map_err(|e| e.to_string())
            }));
            return Some(guard);
        }
    } else {
        let builder = builder.with_env_filter(filter).with_filter_reloading();
        let handle = builder.reload_handle();
        if builder.try_init().is_ok() {
            let _ = SET_FILTER.set(Box::new(move |f| {
                handle.reload(f).map_err(|e| e.to_string())
            }));
            return Some(guard);
        }
    }
    None
}

/// Why a new log filter was not applied.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the log filter {0:?} is not valid: {1}")]
    Invalid(String, String),
    #[error("RUST_LOG is set and wins over logging.filter")]
    FromEnvironment,
    #[error("the log filter cannot be changed in this process: {0}")]
    NotReloadable(String),
}

/// Replaces the running log filter with `filter` (a `logging.filter` value).
pub fn set_filter(filter: &str) -> Result<(), FilterError> {
    if filter_from_environment() {
        return Err(FilterError::FromEnvironment);
    }
    let parsed = EnvFilter::try_new(filter)
        .map_err(|e| FilterError::Invalid(filter.to_owned(), e.to_string()))?;
    let set = SET_FILTER
        .get()
        .ok_or_else(|| FilterError::NotReloadable("logging is not set up".into()))?;
    set(parsed).map_err(FilterError::NotReloadable)
}

/// The log writer: every control character in a line (but its final newline) is written
/// escaped, whatever field carried it, so that a username, a Host header or an error message
/// holding terminal escapes or line breaks can neither drive a terminal nor forge a log line.
/// Fields that carry user-supplied text are also formatted with `?` where they are logged; this
/// is the net under those.
#[derive(Clone)]
struct Escaping {
    json: bool,
    out: NonBlocking,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Escaping {
    type Writer = EscapingWriter;

    fn make_writer(&'a self) -> EscapingWriter {
        EscapingWriter {
            json: self.json,
            line: Vec::new(),
            out: self.out.clone(),
        }
    }
}

/// Collects one event's output and hands it, escaped, to the writer thread when dropped.
struct EscapingWriter {
    json: bool,
    line: Vec<u8>,
    out: NonBlocking,
}

impl std::io::Write for EscapingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.line);
        let replaced = matches!(text, std::borrow::Cow::Owned(_));
        let result = match replaced || needs_escaping(&text) {
            // The common case: the bytes go as they are, without a copy.
            false => self.out.write_all(&self.line),
            true => {
                let escaped = escape_line(&text, self.json);
                self.out.write_all(escaped.as_bytes())
            }
        };
        self.line.clear();
        result
    }
}

impl Drop for EscapingWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Whether `line` holds a control character other than its final newline. (A line that was not
/// UTF-8 is escaped too: its raw bytes must not be written.)
fn needs_escaping(line: &str) -> bool {
    let body = line.strip_suffix('\n').unwrap_or(line);
    body.chars().any(char::is_control)
}

/// `line` with its control characters escaped (`\u{1b}` in human lines, `\u001b` in JSON,
/// which stays valid JSON inside a string); one trailing newline is kept.
fn escape_line(line: &str, json: bool) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (line, ""),
    };
    if !body.chars().any(char::is_control) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in body.chars() {
        if c.is_control() {
            if json {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                out.push_str(&c.escape_unicode().to_string());
            }
        } else {
            out.push(c);
        }
    }
    out.push_str(newline);
    out
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn control_characters_never_reach_the_log_raw() {
        let line = "INFO login failed username=\"\u{1b}[31mred\"@zulip.com\nFAKE line\n";
        let human = escape_line(line, false);
        assert!(
            !human[..human.len() - 1].chars().any(char::is_control),
            "{human}"
        );
        assert!(human.contains("\\u{1b}[31mred") && human.ends_with("\\u{a}FAKE line\n"));
        let json = escape_line("{\"u\":\"a\u{7f}b\u{9b}c\"}\n", true);
        assert_eq!(json, "{\"u\":\"a\\u007fb\\u009bc\"}\n");
        assert_eq!(escape_line("plain\n", false), "plain\n");
    }
}
