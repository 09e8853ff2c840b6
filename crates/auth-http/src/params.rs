//! Request parameters as Zulip reads them: the form body (urlencoded or multipart) first, then the
//! query string; the last value of a repeated name wins; names no handler asked for are reported
//! back in `ignored_parameters_unsupported`. Bodies of other content types are not parsed.

use std::cell::RefCell;
use std::collections::BTreeSet;

use actix_multipart::Multipart;
use actix_web::{HttpMessage, HttpRequest, web};
use futures_util::StreamExt;

use crate::envelope::ApiError;

/// Parameters consumed by middleware in Zulip and never reported as ignored.
const ALWAYS_CONSUMED: &[&str] = &["client"];

#[derive(Default)]
pub struct Params {
    body: Vec<(String, String)>,
    query: Vec<(String, String)>,
    used: RefCell<BTreeSet<String>>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be passwords: show names only.
        let names: Vec<&str> = self
            .body
            .iter()
            .chain(&self.query)
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("Params").field("names", &names).finish()
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for (_, v) in self.body.iter_mut().chain(self.query.iter_mut()) {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

fn reject_replacement_chars(pairs: &[(String, String)]) -> Result<(), ApiError> {
    // The form decoders replace invalid UTF-8 with U+FFFD. Refuse it rather than let two
    // different byte strings become the same password or username.
    for (k, v) in pairs {
        if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
            let name = if k.contains('\u{FFFD}') {
                "a parameter name".to_owned()
            } else {
                format!("parameter '{k}'")
            };
            return Err(ApiError::bad_request(format!("Invalid UTF-8 in {name}")));
        }
    }
    Ok(())
}

fn parse_urlencoded(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .map_err(|_| ApiError::bad_request("Malformed form data in request body"))
}

impl Params {
    /// Reads the parameters with the server's body limit ([`crate::HttpOptions`]).
    pub async fn of(req: &HttpRequest, payload: web::Payload) -> Result<Params, ApiError> {
        let limit = req
            .app_data::<web::Data<crate::HttpOptions>>()
            .map(|o| o.max_body_bytes)
            .ok_or_else(ApiError::internal)?;
        Params::read(req, payload, limit).await
    }

    /// Reads the query string and, for form content types, the body (at most `limit` bytes).
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        limit: usize,
    ) -> Result<Params, ApiError> {
        let query = parse_urlencoded(req.query_string().as_bytes())
            .map_err(|_| ApiError::bad_request("Malformed query string"))?;
        reject_replacement_chars(&query)?;
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            // Read (and discard) what a reasonable client sends so that it gets to see the
            // answer instead of a reset connection.
            discard(payload).await;
            return Err(ApiError::payload_too_large(limit));
        }
        let mime = req.mime_type().ok().flatten();
        let body = match mime {
            Some(m) if m.essence_str() == "application/x-www-form-urlencoded" => {
                let bytes = read_limited(payload, limit, true).await?;
                parse_urlencoded(&bytes)?
            }
            Some(m) if m.essence_str() == "multipart/form-data" => {
                read_multipart(req, payload, limit).await?
            }
            _ => {
                // Not a form: like Zulip, ignore the body (but still refuse a huge one).
                read_limited(payload, limit, false).await?;
                Vec::new()
            }
        };
        reject_replacement_chars(&body)?;
        Ok(Params {
            body,
            query,
            used: RefCell::new(BTreeSet::new()),
        })
    }

    #[cfg(test)]
    pub fn from_pairs(body: &[(&str, &str)], query: &[(&str, &str)]) -> Params {
        let own = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        Params {
            body: own(body),
            query: own(query),
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// The value of `name`, marking it used.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.used.borrow_mut().insert(name.to_owned());
        last_value(&self.body, name).or_else(|| last_value(&self.query, name))
    }

    /// The value of a required parameter; `REQUEST_VARIABLE_MISSING` when absent.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.optional(name)
            .ok_or_else(|| ApiError::missing_argument(name))
    }

    /// A JSON-encoded parameter (Zulip's `json_validator` parameters: booleans, numbers,
    /// objects), parsed; `'Argument "<name>" is not valid JSON.'` when it is not JSON.
    pub fn json(&self, name: &str) -> Result<Option<serde_json::Value>, ApiError> {
        match self.optional(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw).map(Some).map_err(|_| {
                ApiError::bad_request(format!("Argument \"{name}\" is not valid JSON."))
            }),
        }
    }

    /// A JSON boolean parameter (`true`/`false`); Zulip's `"<name> is not a boolean"` otherwise.
    pub fn json_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.json(name)? {
            None => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ApiError::bad_request(format!("{name} is not a boolean"))),
        }
    }

    /// A JSON integer parameter; Zulip's `"<name> is not an integer"` otherwise.
    pub fn json_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.json(name)? {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{name} is not an integer"))),
        }
    }

    /// Sorted names that were sent but never asked for.
    pub fn ignored(&self) -> Vec<String> {
        let used = self.used.borrow();
        let names: BTreeSet<&str> = self
            .body
            .iter()
            .chain(self.query.iter())
            .map(|(k, _)| k.as_str())
            .filter(|k| !used.contains(*k) && !ALWAYS_CONSUMED.contains(k))
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }
}

fn last_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// How much of an oversized body is read and thrown away before answering 413; past this the
/// connection is simply closed.
const DISCARD_CAP: usize = 4 * 1024 * 1024;

async fn discard(mut payload: web::Payload) {
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = payload.next().await {
        seen += chunk.len();
        if seen > DISCARD_CAP {
            break;
        }
    }
}

/// Reads the body up to `limit` bytes (over it: 413, and the rest is discarded); `keep: false`
/// only checks the size of a body that carries nothing we use.
async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
    keep: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("Could not read the request body"))?;
        seen += chunk.len();
        if seen > limit {
            discard(payload).await;
            return Err(ApiError::payload_too_large(limit));
        }
        if keep {
            buf.extend_from_slice(&chunk);
        }
    }
    Ok(buf)
}

/// Most fields a multipart body may have.
const MAX_MULTIPART_FIELDS: usize = 100;

async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<(String, String)>, ApiError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let malformed = || ApiError::bad_request("Malformed multipart form data in request body");
    // Count every byte of the raw body (field headers and boundaries included), not only field
    // contents: the multipart parser would otherwise buffer unbounded header blocks.
    let seen = Arc::new(AtomicUsize::new(0));
    let over = Arc::new(AtomicBool::new(false));
    let (seen_in, over_in) = (seen.clone(), over.clone());
    let counted = payload.into_inner().map(move |chunk| {
        let chunk = chunk?;
        if seen_in.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > limit {
            over_in.store(true, Ordering::Relaxed);
            return Err(actix_web::error::PayloadError::Overflow);
        }
        Ok(chunk)
    });
    let mut form = Multipart::new(req.headers(), counted);
    let mut out = Vec::new();
    while let Some(field) = form.next().await {
        let mut field = match field {
            Ok(f) => f,
            Err(_) if over.load(Ordering::Relaxed) => {
                return Err(ApiError::payload_too_large(limit));
            }
            Err(_) => return Err(malformed()),
        };
        if out.len() >= MAX_MULTIPART_FIELDS {
            return Err(ApiError::bad_request(format!(
                "Too many fields in the multipart body (at most {MAX_MULTIPART_FIELDS})"
            )));
        }
        let name = field.name().map(str::to_owned).ok_or_else(malformed)?;
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(_) if over.load(Ordering::Relaxed) => {
                    return Err(ApiError::payload_too_large(limit));
                }
                Err(_) => return Err(malformed()),
            };
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| ApiError::bad_request(format!("Invalid UTF-8 in parameter '{name}'")))?;
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_wins_over_query_and_last_value_wins() {
        let p = Params::from_pairs(
            &[("username", "a"), ("username", "b")],
            &[("username", "q"), ("password", "qp")],
        );
        assert_eq!(p.optional("username"), Some("b"));
        assert_eq!(p.optional("password"), Some("qp"));
    }

    #[test]
    fn ignored_is_sorted_and_skips_client() {
        let p = Params::from_pairs(
            &[("username", "a"), ("zeta", "1"), ("client", "x")],
            &[("alpha", "1")],
        );
        p.required("username").unwrap();
        assert_eq!(p.ignored(), vec!["alpha".to_string(), "zeta".to_string()]);
        let e = p.required("password").unwrap_err();
        assert_eq!(e.code, Some("REQUEST_VARIABLE_MISSING"));
    }

    #[test]
    fn json_parameters_are_zulips() {
        let p = Params::from_pairs(
            &[
                ("a", "true"),
                ("b", "yes"),
                ("c", "1"),
                ("d", "300"),
                ("e", "1.5"),
            ],
            &[],
        );
        assert_eq!(p.json_bool("a").unwrap(), Some(true));
        assert_eq!(p.json_bool("missing").unwrap(), None);
        assert_eq!(
            p.json_bool("b").unwrap_err().msg,
            "Argument \"b\" is not valid JSON."
        );
        assert_eq!(p.json_bool("c").unwrap_err().msg, "c is not a boolean");
        assert_eq!(p.json_int("d").unwrap(), Some(300));
        assert_eq!(p.json_int("e").unwrap_err().msg, "e is not an integer");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let pairs = parse_urlencoded(b"username=a&password=%FF").unwrap();
        let e = reject_replacement_chars(&pairs).unwrap_err();
        assert!(e.msg.contains("password"), "{}", e.msg);
    }
}
