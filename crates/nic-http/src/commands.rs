//! The one handler of every command route: the body parsed into the command type, the path's ids
//! into the ids it is addressed with, the write's headers and the principal into a `Write`; then
//! `App::execute`, and the outcome as the answer (201 with `Location` for a new resource or part,
//! else 200; `ETag` is the stream's version; `Idempotent-Replayed: true` for a retry).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nic_app::{App, Command, Ids, Kind, Outcome};
use serde::de::DeserializeOwned;

use crate::extract::{Body, PathIds, WriteHeaders};
use crate::problem::{Problem, ProblemKind};

pub async fn handle<C: Command + DeserializeOwned>(
    State(app): State<App>,
    WriteHeaders(mut w): WriteHeaders,
    PathIds(ids): PathIds,
    Body(cmd, sha256): Body<C>,
) -> Result<Response, Problem> {
    w.request_sha256 = Some(sha256);
    let ids = C::Ids::from_slice(&ids)
        .ok_or_else(|| Problem::new(ProblemKind::InvalidId, "the path names other ids"))?;
    Ok(answer(app.execute(cmd, ids, &w).await?))
}

/// Where the API serves a resource of this kind.
pub fn location(kind: Kind, id: uuid::Uuid) -> String {
    let collection = match kind {
        Kind::Network => "networks",
        Kind::Program => "programs",
        Kind::Measure => "measures",
        Kind::Cycle => "pdsa-cycles",
        Kind::Synthesis => "syntheses",
    };
    format!("/api/v1/{collection}/{id}")
}

fn answer(outcome: Outcome) -> Response {
    let status = match outcome.created {
        Some(_) => StatusCode::CREATED,
        None => StatusCode::OK,
    };
    let etag = format!("\"{}\"", outcome.result.stream_version);
    let mut res = (status, Json(outcome.result)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(loc) = outcome
        .created
        .and_then(|(kind, id)| HeaderValue::from_str(&location(kind, id)).ok())
    {
        h.insert(header::LOCATION, loc);
    }
    if outcome.replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}
