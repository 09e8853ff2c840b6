//! The stylesheet and script, embedded in the binary and served at URLs that carry a hash of
//! their content (`/static/latchkey.<hash>.css`), so they can be cached for a year and a new
//! release is fetched at once.

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

use super::PageError;

struct Asset {
    url: String,
    content_type: &'static str,
    body: &'static [u8],
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..6]);
    Asset {
        url: format!("/static/{stem}.{hash}.{ext}"),
        content_type,
        body,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset(
            "latchkey",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../../static/latchkey.css"),
        ),
        asset(
            "latchkey",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../static/latchkey.js"),
        ),
    ]
});

/// The stylesheet's URL.
pub fn css_url() -> &'static str {
    &ASSETS[0].url
}

/// The script's URL.
pub fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// `GET /static/{name}`: an asset by its hashed name, cached for a year; anything else 404.
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let wanted = format!("/static/{name}");
    let found = ASSETS.iter().find(|a| a.url == wanted);
    let Some(a) = found else {
        return Err(PageError::NotFound);
    };
    Ok(HttpResponse::Ok()
        .content_type(a.content_type)
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(a.body))
}
