//! The dashboard: one HTML page (`GET /`) and its assets (`GET /assets/{file}`), embedded in the
//! binary, so the service serves it offline with no other web server and no build step.
//!
//! The page itself holds no data: it asks for a token once (or takes it from `/#token=…`), keeps
//! it in `localStorage`, and reads the public API with it like any other client, including the
//! live feed, which it reads with `fetch()` so the token travels in the `Authorization` header and
//! never in a URL.
//!
//! Caching: the page is `no-cache` (revalidated by its `ETag`), and names each asset with a hash
//! of its content (`/assets/app.js?v=…`), so an asset asked for with its current hash is cached
//! for a year (`immutable`) and a new binary's assets are fetched at once. Every answer carries a
//! strict Content-Security-Policy: scripts, styles and connections from this origin only.

use std::sync::OnceLock;

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};

/// One embedded file: its name under `/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/icon.svg"),
    },
];

const INDEX: &str = include_str!("../assets/index.html");

/// No inline script or style, no other origin: text users wrote can never run as code even if
/// it reached the DOM as markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The content hash an asset is named with, and the page's ETag.
fn hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

struct Built {
    /// The page, with each `{{name}}` placeholder replaced by `name?v=hash`.
    index: String,
    index_etag: String,
    /// Each asset's hash, in `ASSETS` order.
    hashes: Vec<String>,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let hashes: Vec<String> = ASSETS.iter().map(|a| hash(a.body)).collect();
        let mut index = INDEX.to_string();
        for (a, h) in ASSETS.iter().zip(&hashes) {
            index = index.replace(
                &format!("{{{{{}}}}}", a.name),
                &format!("/assets/{}?v={h}", a.name),
            );
        }
        let index_etag = format!("\"{}\"", hash(index.as_bytes()));
        Built {
            index,
            index_etag,
            hashes,
        }
    })
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        })
}

/// The headers every dashboard answer carries.
fn answer(
    headers: &HeaderMap,
    content_type: &'static str,
    cache: &'static str,
    etag: &str,
    body: Vec<u8>,
) -> Response {
    let etag = HeaderValue::from_str(etag).expect("a hex ETag");
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, etag),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    if not_modified(headers, common[1].1.to_str().unwrap_or_default()) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    let b = built();
    answer(
        &headers,
        "text/html; charset=utf-8",
        "no-cache",
        &b.index_etag,
        b.index.clone().into_bytes(),
    )
}

/// `GET /assets/{file}`: an embedded asset.
pub async fn asset(
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let b = built();
    let Some((a, h)) = ASSETS.iter().zip(&b.hashes).find(|(a, _)| a.name == file) else {
        return Err(Problem::new(
            ProblemKind::NotFound,
            format!("no dashboard asset {file:?}"),
        ));
    };
    // Asked for by its current hash (`?v=`): the content behind this URL never changes. Any other
    // query is ignored.
    let named_by_hash = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(h.as_str()));
    let cache = if named_by_hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(answer(
        &headers,
        a.content_type,
        cache,
        &format!("\"{h}\""),
        a.body.to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_hash() {
        let b = built();
        assert!(!b.index.contains("{{"), "a placeholder is left");
        for (a, h) in ASSETS.iter().zip(&b.hashes) {
            if a.name != "icon.svg" || b.index.contains("icon.svg") {
                assert!(b.index.contains(&format!("/assets/{}?v={h}", a.name)));
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = &built().index;
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        // No inline event handler: no attribute named on… anywhere in a tag.
        let lower = page.to_ascii_lowercase();
        for (i, _) in lower.match_indices(" on") {
            let name: String = lower[i + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                !lower[i + 3 + name.len()..].starts_with('='),
                "an inline handler on{name}="
            );
        }
    }
}
