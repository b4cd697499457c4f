//! The read handlers that are not read models: the global log in order (the replay feed), single
//! streams, each resource's current state (with its stream's version as `ETag`), listings,
//! readiness and the export of the whole log.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nic_app::reads::{Listed, Page, Versioned};
use nic_app::transfer::{self, NDJSON};
use nic_app::{App, Principal};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commands::location;
use crate::extract::{list, within, Ids, Params};
use crate::problem::{Problem, ProblemKind};

#[derive(Deserialize, schemars::JsonSchema)]
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

pub async fn events(
    State(app): State<App>,
    Extension(reader): Extension<Principal>,
    Params(q): Params<EventsQuery>,
) -> Result<Json<Page>, Problem> {
    let after = within("after", q.after)?;
    let page = app
        .events(
            &reader,
            after,
            q.limit,
            list(q.category),
            list(q.event_type),
        )
        .await?;
    Ok(Json(page))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    #[serde(default)]
    from_version: u64,
    limit: Option<usize>,
}

pub async fn stream(
    State(app): State<App>,
    Extension(reader): Extension<Principal>,
    Path(stream_id): Path<String>,
    Params(q): Params<StreamQuery>,
) -> Result<Response, Problem> {
    let from_version = within("from_version", q.from_version)?;
    Ok(versioned(
        app.stream(&reader, stream_id, from_version, q.limit)
            .await?,
    ))
}

/// A state with its stream's version as `ETag`.
fn versioned<T: Serialize>(v: Versioned<T>) -> Response {
    let etag = format!("\"{}\"", v.version);
    ([(header::ETAG, etag)], Json(v.state)).into_response()
}

pub async fn network(State(app): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    Ok(versioned(app.network(id).await?))
}

pub async fn program(State(app): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    Ok(versioned(app.program(id).await?))
}

pub async fn measure(State(app): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    Ok(versioned(app.measure(id).await?))
}

pub async fn cycle(State(app): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    Ok(versioned(app.cycle(id).await?))
}

pub async fn synthesis(State(app): State<App>, Ids(id): Ids<Uuid>) -> Result<Response, Problem> {
    Ok(versioned(app.synthesis(id).await?))
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Listing {
    items: Vec<ListItem>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ListItem {
    id: Uuid,
    title: String,
    href: String,
}

fn listing(items: Vec<Listed>) -> Json<Listing> {
    let items = items
        .into_iter()
        .map(|l| ListItem {
            href: location(l.kind, l.id),
            id: l.id,
            title: l.title,
        })
        .collect();
    Json(Listing { items })
}

/// Who the token is: its name, its role, and the programs it may write for.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Me {
    /// The token's id: how the events it writes record it (`token:<id>`).
    token_id: Uuid,
    name: String,
    role: nic_events::catalog::Role,
    programs: Vec<Uuid>,
}

pub async fn me(Extension(who): Extension<Principal>) -> Json<Me> {
    Json(Me {
        token_id: who.token_id,
        name: who.name,
        role: who.role,
        programs: who.programs,
    })
}

pub async fn networks(State(app): State<App>) -> Result<Json<Listing>, Problem> {
    Ok(listing(app.networks().await?))
}

pub async fn network_programs(
    State(app): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    Ok(listing(app.network_programs(network).await?))
}

pub async fn network_measures(
    State(app): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    Ok(listing(app.network_measures(network).await?))
}

pub async fn network_syntheses(
    State(app): State<App>,
    Ids(network): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    Ok(listing(app.network_syntheses(network).await?))
}

pub async fn program_cycles(
    State(app): State<App>,
    Ids(program): Ids<Uuid>,
) -> Result<Json<Listing>, Problem> {
    Ok(listing(app.program_cycles(program).await?))
}

/// `GET /readyz`: 200 when the database answers and the read models are caught up; 503 saying
/// why otherwise.
pub async fn ready(State(app): State<App>) -> Result<&'static str, Problem> {
    app.ready().await?;
    Ok("ready")
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// ndjson (default) or cloudevents.
    #[schemars(extend("enum" = ["ndjson", "cloudevents"]))]
    format: Option<String>,
}

/// `GET /api/v1/export?format=ndjson|cloudevents`: the whole log up to its head when the request
/// arrives, streamed page by page as NDJSON (never held whole in memory), as an attachment named
/// after the format and head. Token records are in it only for admins.
pub async fn export(
    State(app): State<App>,
    Extension(reader): Extension<Principal>,
    Params(q): Params<ExportParams>,
) -> Result<Response, Problem> {
    let format = match q.format.as_deref() {
        None => transfer::Format::Ndjson,
        Some(f) => transfer::format_named(f).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidQuery,
                format!("format is ndjson or cloudevents; got {f:?}"),
            )
        })?,
    };
    // The log as stored: personal fields sealed, their keys not in it.
    let store = app.stored().clone();
    let pages = transfer::export_pages(store.as_ref(), &reader).await?;
    let filename = format!(
        "nic-ledger-{}-{}.ndjson",
        transfer::format_name(format),
        pages.head()
    );
    let body = futures::stream::try_unfold((store, pages), move |(store, mut pages)| async move {
        let page = pages.next(store.as_ref()).await.inspect_err(|e| {
            tracing::error!(error = %e, "an export stopped: the store failed");
        })?;
        if page.is_empty() {
            return Ok::<_, nic_store::StoreError>(None);
        }
        Ok(Some((
            nic_store::transfer::lines(format, &page),
            (store, pages),
        )))
    });
    Ok((
        [
            (header::CONTENT_TYPE, NDJSON.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
