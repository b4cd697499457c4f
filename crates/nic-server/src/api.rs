//! The HTTP API under `/api/v1`: for now the read side of the log (the global feed and single
//! streams) and health. Errors are RFC 9457 problem details, mapped in one place (`Problem`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{RecordedEvent, StreamId};
use nic_store::{EventStore, ReadAll, StoreError};
use serde::{Deserialize, Serialize};

/// Events a read returns when the client names no limit.
const PAGE_EVENTS_DEFAULT: usize = 100;

pub fn router(store: Arc<dyn EventStore>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/events", get(events))
        .route("/api/v1/streams/{stream_id}", get(stream))
        .with_state(store)
}

/// An RFC 9457 problem: the one shape of every error the API returns.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{kind}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "The event store could not answer",
            "the event store failed; the request changed nothing and may be retried",
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
    /// Comma-separated stream categories.
    category: Option<String>,
    /// Comma-separated event types.
    #[serde(rename = "type")]
    event_type: Option<String>,
}

#[derive(Serialize)]
struct Page {
    events: Vec<RecordedEvent>,
    /// Pass as `after` to read the next page.
    next_after: u64,
}

fn limit(requested: Option<usize>) -> Result<usize, Problem> {
    match requested.unwrap_or(PAGE_EVENTS_DEFAULT) {
        n @ 1..=READ_PAGE_EVENTS_MAX => Ok(n),
        n => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-limit",
            "The page size is out of range",
            format!("limit is {n}; it must be 1 to {READ_PAGE_EVENTS_MAX}"),
        )),
    }
}

fn invalid_query(e: axum::extract::rejection::QueryRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "The query string is invalid",
        e.body_text(),
    )
}

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

async fn events(
    State(store): State<Arc<dyn EventStore>>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let read = ReadAll {
        after: q.after,
        limit: limit(q.limit)?,
        categories: list(q.category),
        event_types: list(q.event_type),
        ..ReadAll::default()
    };
    let events = store.read_all(&read).await?;
    let next_after = events.last().map_or(q.after, |e| e.global_position);
    Ok(Json(Page { events, next_after }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    #[serde(default)]
    from_version: u64,
    limit: Option<usize>,
}

async fn stream(
    State(store): State<Arc<dyn EventStore>>,
    Path(stream_id): Path<String>,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let id = StreamId::parse(stream_id).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-stream-id",
            "The stream id is invalid",
            e.to_string(),
        )
    })?;
    let Some(version) = store.stream_version(&id).await? else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "stream-not-found",
            "No such stream",
            format!("stream {id} has no events"),
        ));
    };
    let events = store
        .read_stream(&id, q.from_version, limit(q.limit)?)
        .await?;
    let etag = format!("\"{version}\"");
    Ok(([(header::ETAG, etag)], Json(events)).into_response())
}
