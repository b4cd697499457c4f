//! The request middleware and `/metrics`. `track` gives every request an id (the client's
//! `X-Request-Id`, or a new one), runs it inside a span carrying that id (so every log line of the
//! request names it), answers with the id, logs the answer and any failure of the service behind
//! it, sets the security headers (`nosniff`; `no-store` on private answers), and counts and times
//! it by its route template (never the raw path, which would make label values unbounded). The
//! metrics themselves are defined in one place, `nic_app::metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Extension;
use nic_app::metrics::metrics;
use nic_app::App;
use tracing::Instrument;

use crate::limits::REQUEST_ID_BYTES_MAX;
use crate::live::Live;
use crate::problem::{Failure, Problem};

pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().as_str().to_string();
    let authenticated = req
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);
    let api = req.uri().path().starts_with("/api/");
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= REQUEST_ID_BYTES_MAX)
        .filter(|v| v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let m = metrics();
    span.in_scope(|| {
        if let Some(failure) = res.extensions().get::<Failure>() {
            tracing::error!(error = %failure.message, "the service failed");
            if let Some(operation) = failure.store {
                m.store_errors.with_label_values(&[operation]).inc();
            }
        }
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    secure(&mut res, authenticated || api);
    m.http_request_duration
        .with_label_values(&[&route, &method])
        .observe(elapsed.as_secs_f64());
    m.http_requests
        .with_label_values(&[&route, &method, res.status().as_str()])
        .inc();
    res
}

/// Every answer says its type is what it claims (`nosniff`); an answer to an authenticated
/// request, and every API answer, is not kept by any cache unless its handler said otherwise.
fn secure(res: &mut Response, private: bool) {
    use axum::http::{header, HeaderValue};
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if private && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// `GET /metrics`. The gauges of state (projection lag, live clients) are read at scrape time.
pub async fn serve(
    State(app): State<App>,
    Extension(live): Extension<Live>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), Problem> {
    app.observe_lag().await?;
    let m = metrics();
    m.live_clients.set(live.connected() as i64);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    ))
}
