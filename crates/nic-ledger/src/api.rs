//! The read side of the API: the global log in order (the replay feed), single streams, and the
//! current state of each resource, folded from its stream (with the stream version as `ETag`).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::future::BoxFuture;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{NicEvent, RecordedEvent, StreamId};
use nic_store::ReadAll;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commands::{stream as stream_of, App, Loader};
use crate::extract::Ids;
use crate::problem::Problem;
use crate::projections::Projections;
use std::sync::Arc;

/// Events a read returns when the client names no limit.
const PAGE_EVENTS_DEFAULT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
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
pub struct Page {
    events: Vec<RecordedEvent>,
    /// Pass as `after` to read the next page.
    next_after: u64,
}

fn limit(requested: Option<usize>) -> Result<usize, Problem> {
    match requested.unwrap_or(PAGE_EVENTS_DEFAULT) {
        n @ 1..=READ_PAGE_EVENTS_MAX => Ok(n),
        n => Err(Problem::new(
            "invalid-limit",
            format!("limit is {n}; it must be 1 to {READ_PAGE_EVENTS_MAX}"),
        )),
    }
}

fn invalid_query(e: axum::extract::rejection::QueryRejection) -> Problem {
    Problem::new("invalid-query", e.body_text())
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

pub async fn events(
    State(store): State<App>,
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
pub struct StreamQuery {
    #[serde(default)]
    from_version: u64,
    limit: Option<usize>,
}

pub async fn stream(
    State(store): State<App>,
    Path(stream_id): Path<String>,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let id =
        StreamId::parse(stream_id).map_err(|e| Problem::new("invalid-stream-id", e.to_string()))?;
    let Some(version) = store.stream_version(&id).await? else {
        return Err(Problem::new(
            "not-found",
            format!("stream {id} has no events"),
        ));
    };
    let events = store
        .read_stream(&id, q.from_version, limit(q.limit)?)
        .await?;
    let etag = format!("\"{version}\"");
    Ok(([(header::ETAG, etag)], Json(events)).into_response())
}

/// A resource's current state, with its stream's version as `ETag`; 404 when it does not exist.
async fn resource<S: Serialize>(
    store: App,
    category: &str,
    id: Uuid,
    fold: impl for<'a> FnOnce(&'a mut Loader) -> BoxFuture<'a, Result<S, Problem>>,
) -> Result<Response, Problem> {
    let mut loader = Loader::new(store);
    let Some(version) = loader.version(&stream_of(category, id)).await? else {
        return Err(Problem::new("not-found", format!("no {category} {id}")));
    };
    let state = fold(&mut loader).await?;
    let etag = format!("\"{version}\"");
    Ok(([(header::ETAG, etag)], Json(state)).into_response())
}

pub async fn network(State(store): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    resource(store, "network", id, |l| Box::pin(l.network(id))).await
}

pub async fn program(State(store): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    resource(store, "program", id, |l| Box::pin(l.program(id))).await
}

pub async fn measure(State(store): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    resource(store, "measure", id, |l| Box::pin(l.measure(id))).await
}

pub async fn cycle(State(store): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    resource(store, "pdsa", id, |l| {
        Box::pin(async move {
            let c = l.cycle(id).await?;
            Ok(CycleView {
                gaps: c.gaps(),
                cycle: c,
            })
        })
    })
    .await
}

/// A PDSA cycle with what a complete cycle has that it lacks.
#[derive(Serialize)]
struct CycleView {
    #[serde(flatten)]
    cycle: nic_domain::cycle::CycleState,
    gaps: Vec<&'static str>,
}

pub async fn synthesis(State(store): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    resource(store, "synthesis", id, |l| Box::pin(l.synthesis(id))).await
}

/// Events of one type in log order, whole: the listings below scan them until the projections
/// serve these lists.
async fn scan(store: &App, event_type: &str) -> Result<Vec<NicEvent>, Problem> {
    let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
    read.event_types = vec![event_type.to_string()];
    let mut out = Vec::new();
    loop {
        let page = store.read_all(&read).await?;
        for e in &page {
            out.push(NicEvent::from_recorded(e)?);
        }
        match page.last() {
            Some(last) if page.len() == READ_PAGE_EVENTS_MAX => read.after = last.global_position,
            _ => return Ok(out),
        }
    }
}

#[derive(Serialize)]
pub struct Listing {
    items: Vec<ListItem>,
}

#[derive(Serialize)]
struct ListItem {
    id: Uuid,
    title: String,
    href: String,
}

pub async fn networks(State(store): State<App>) -> Result<Json<Listing>, Problem> {
    let items = scan(&store, "NetworkChartered")
        .await?
        .into_iter()
        .filter_map(|e| match e {
            NicEvent::NetworkChartered(n) => Some(item(n.network_id, n.name.as_str(), "networks")),
            _ => None,
        })
        .collect();
    Ok(Json(Listing { items }))
}

pub async fn network_programs(
    State(store): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    let items = scan(&store, "ProgramEnrolled")
        .await?
        .into_iter()
        .filter_map(|e| match e {
            NicEvent::ProgramEnrolled(p) if p.network_id == network => {
                Some(item(p.program_id, p.name.as_str(), "programs"))
            }
            _ => None,
        })
        .collect();
    Ok(Json(Listing { items }))
}

pub async fn network_measures(
    State(store): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    let items = scan(&store, "MeasureDefined")
        .await?
        .into_iter()
        .filter_map(|e| match e {
            NicEvent::MeasureDefined(m) if m.network_id == network => {
                Some(item(m.measure_id, m.name.as_str(), "measures"))
            }
            _ => None,
        })
        .collect();
    Ok(Json(Listing { items }))
}

pub async fn network_syntheses(
    State(store): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    let items = scan(&store, "LearningSynthesized")
        .await?
        .into_iter()
        .filter_map(|e| match e {
            NicEvent::LearningSynthesized(s) if s.network_id == network => {
                Some(item(s.synthesis_id, s.title.as_str(), "syntheses"))
            }
            _ => None,
        })
        .collect();
    Ok(Json(Listing { items }))
}

pub async fn program_cycles(
    State(store): State<App>,
    Ids(program): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    let items = scan(&store, "PdsaCyclePlanned")
        .await?
        .into_iter()
        .filter_map(|e| match e {
            NicEvent::PdsaCyclePlanned(c) if c.program_id == program => {
                Some(item(c.cycle_id, c.title.as_str(), "pdsa-cycles"))
            }
            _ => None,
        })
        .collect();
    Ok(Json(Listing { items }))
}

fn item(id: Uuid, title: &str, collection: &str) -> ListItem {
    ListItem {
        id,
        title: title.to_string(),
        href: format!("/api/v1/{collection}/{id}"),
    }
}

/// Events the read models may trail the log by while the service still reports ready.
const READY_LAG_EVENTS_MAX: u64 = 1_000;

/// `GET /readyz`: 200 when the database answers (its event log, so its migrations, are there)
/// and the read models trail the log by at most `READY_LAG_EVENTS_MAX` events; 503 saying why
/// otherwise.
pub async fn ready(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
) -> Result<&'static str, Problem> {
    let position = p.read().await.position;
    let head = store.head_position().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        Problem::new("not-ready", "the database does not answer")
    })?;
    let lag = head.saturating_sub(position);
    if lag > READY_LAG_EVENTS_MAX {
        return Err(Problem::new(
            "not-ready",
            format!(
                "the read models are {lag} events behind the log (at most {READY_LAG_EVENTS_MAX})"
            ),
        ));
    }
    Ok("ready")
}
