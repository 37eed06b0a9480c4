//! The stylesheet, the script and the icon, compiled into the binary: no
//! CDN, no files to ship. Each is served under a path holding a hash of its
//! content (`/static/app.3f9c….css`), cached for a year as immutable: an
//! upgrade changes the path, so no browser keeps an old stylesheet. The
//! plain paths still answer (for a page cached before an upgrade), briefly
//! cached. Both carry an `ETag` and answer `If-None-Match` with 304.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::error::WebError;

/// One file.
struct Asset {
    /// The plain name (`app.css`).
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// The name with the content's hash before the extension.
    hashed: String,
    /// `W/"HASH"`: weak, since the same file goes out plain, gzip or brotli.
    etag: HeaderValue,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let hashed = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{name}.{hash}"),
        };
        let etag = HeaderValue::from_str(&format!("W/\"{hash}\"")).unwrap_or(HeaderValue::from_static("W/\"\""));
        Asset { name, content_type, body, hashed, etag }
    }
}

static ASSETS: LazyLock<[Asset; 4]> = LazyLock::new(|| {
    [
        Asset::new("app.css", "text/css; charset=utf-8", include_str!("../../../static/app.css")),
        Asset::new("app.js", "text/javascript; charset=utf-8", include_str!("../../../static/app.js")),
        Asset::new("passkeys.js", "text/javascript; charset=utf-8", include_str!("../../../static/passkeys.js")),
        Asset::new("favicon.svg", "image/svg+xml", include_str!("../../../static/favicon.svg")),
    ]
});

/// The path pages link a file by: `/static/` and its hashed name. Called
/// from the templates.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => format!("/static/{}", asset.hashed),
        None => format!("/static/{name}"),
    }
}

/// `/static/{file}`, by hashed or plain name.
pub async fn get_static(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((asset, immutable)) = ASSETS
        .iter()
        .find_map(|a| (a.hashed == file).then_some((a, true)).or_else(|| (a.name == file).then_some((a, false))))
    else {
        return WebError::NotFound.into_response();
    };
    serve(asset, immutable, &headers)
}

/// `/favicon.ico`, which browsers ask for by habit: the icon.
pub async fn get_favicon(headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == "favicon.svg") {
        Some(icon) => serve(icon, false, &headers),
        None => WebError::NotFound.into_response(),
    }
}

fn serve(asset: &Asset, immutable: bool, headers: &HeaderMap) -> Response {
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=300" };
    let cache = HeaderValue::from_static(cache);
    // Weak comparison (RFC 9110 13.1.2), as for any If-None-Match.
    let ours = asset.etag.to_str().unwrap_or_default().trim_start_matches("W/");
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == ours || tag.trim() == "*");
    // Vary on the 304 too, which compression leaves alone.
    let headers =
        [(ETAG, asset.etag.clone()), (CACHE_CONTROL, cache), (VARY, HeaderValue::from_static("accept-encoding"))];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], asset.body).into_response()
}
