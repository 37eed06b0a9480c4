//! The stylesheet and icon, compiled into the binary: no CDN, no files to ship.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

const STYLESHEET: &str = include_str!("../../../static/app.css");
const FAVICON: &str = include_str!("../../../static/favicon.svg");
const SCRIPT: &str = include_str!("../../../static/app.js");

/// `/static/app.css`.
pub async fn get_stylesheet() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
}

/// `/static/favicon.svg` (and `/favicon.ico`, which browsers ask for by habit).
pub async fn get_favicon() -> impl IntoResponse {
    ([(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "public, max-age=86400")], FAVICON)
}

/// `/static/app.js`: progressive enhancement (the copy button); no page needs it.
pub async fn get_script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], SCRIPT)
}
