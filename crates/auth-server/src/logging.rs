//! Logging: the tracing subscriber (human or JSON, filtered by `RUST_LOG` or the config) and the
//! one-line-per-request log. Handlers add the realm and user to the line through
//! [`note_realm`] and [`note_user`]; the line carries the path without its query string, because
//! a client may put credentials there.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing_subscriber::EnvFilter;

use crate::config::LoggingSettings;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(settings: &LoggingSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = settings.format == crate::config::LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours are terminal escapes too; the writer lets none through.
        .with_ansi(false)
        .with_writer(Escaping { json });
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// The log writer: every control character in a line (but its final newline) is written
/// escaped, whatever field carried it, so that a username, a Host header or an error message
/// holding terminal escapes or line breaks can neither drive a terminal nor forge a log line.
/// Fields that carry user-supplied text are also formatted with `?` where they are logged; this
/// is the net under those.
#[derive(Debug, Clone, Copy)]
struct Escaping {
    json: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Escaping {
    type Writer = EscapingWriter;

    fn make_writer(&'a self) -> EscapingWriter {
        EscapingWriter {
            json: self.json,
            line: Vec::new(),
        }
    }
}

/// Collects one event's output and writes it, escaped, when dropped.
struct EscapingWriter {
    json: bool,
    line: Vec<u8>,
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
        let text = escape_line(&String::from_utf8_lossy(&self.line), self.json);
        self.line.clear();
        std::io::stderr().lock().write_all(text.as_bytes())
    }
}

impl Drop for EscapingWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
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

/// What the request line says about who made the request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub realm: Option<String>,
    pub user_id: Option<i64>,
}

pub fn note_realm(req: &HttpRequest, subdomain: &str) {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<RequestContext>() {
        Some(ctx) => ctx.realm = Some(subdomain.to_owned()),
        None => {
            ext.insert(RequestContext {
                realm: Some(subdomain.to_owned()),
                user_id: None,
            });
        }
    }
}

pub fn note_user(req: &HttpRequest, user_id: auth_core::UserId) {
    let mut ext = req.extensions_mut();
    match ext.get_mut::<RequestContext>() {
        Some(ctx) => ctx.user_id = Some(user_id.0),
        None => {
            ext.insert(RequestContext {
                realm: None,
                user_id: Some(user_id.0),
            });
        }
    }
}

/// Middleware: one INFO line per request with method, path, status, latency, realm and user.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let result = next.call(req).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(res) => {
            let ctx = res
                .request()
                .extensions()
                .get::<RequestContext>()
                .cloned()
                .unwrap_or_default();
            tracing::info!(
                target: "latchkey::request",
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                latency_ms = format_args!("{latency_ms:.2}"),
                realm = ctx.realm.as_deref().unwrap_or("-"),
                user_id = ctx.user_id.map(|u| u.to_string()).as_deref().unwrap_or("-"),
                peer = peer.as_deref().unwrap_or("-"),
                "request"
            );
        }
        Err(e) => {
            tracing::warn!(
                target: "latchkey::request",
                method = %method,
                path = %path,
                status = e.as_response_error().status_code().as_u16(),
                latency_ms = format_args!("{latency_ms:.2}"),
                "request failed"
            );
        }
    }
    result
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
