//! Which `next` targets a login follows (web.md decision 7, Django's
//! `url_has_allowed_host_and_scheme` with no host allowed): only a path on this host. Anything
//! else — another host, a scheme, `//host`, `/\host`, control characters, over 2048
//! characters — silently becomes the realm root.

/// The longest `next` followed.
const MAX_LEN: usize = 2048;

/// `raw` if it is a safe same-host path, else `/`.
pub fn safe_next(raw: &str) -> String {
    if is_safe(raw) {
        raw.to_owned()
    } else {
        "/".to_owned()
    }
}

fn is_safe(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > MAX_LEN || !raw.starts_with('/') {
        return false;
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return false;
    }
    if raw.starts_with("//") {
        return false;
    }
    // Parsed against a placeholder base, a path must stay on that host.
    let Ok(base) = url::Url::parse("http://same.invalid/") else {
        return false;
    };
    match base.join(raw) {
        Ok(u) => u.host_str() == Some("same.invalid") && u.scheme() == "http",
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_host_are_followed() {
        for ok in ["/", "/#settings", "/accounts/", "/a?b=c&d=/e", "/%2F%2Fx"] {
            assert_eq!(safe_next(ok), ok, "{ok:?}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "\u{1}/x",
            "/x\u{0}",
            "http:///x",
            "///evil.example",
            " //evil.example",
            "evil",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(2048))), "/");
    }
}
