//! The global log as server-sent events: `GET /api/v1/live/events`, optionally filtered by
//! stream category and event type. Each event's `id` is its global position, `event` its type and
//! `data` the recorded event as JSON (the same shape as `/api/v1/events`).
//!
//! The request must accept `text/event-stream` (an `EventSource` does; so does `*/*`): a stream
//! never ends by itself, so a client that did not ask for one does not get one.
//!
//! A client resumes where it left off: `Last-Event-ID` (sent by a reconnecting `EventSource`)
//! or `?after=` name the position after which to start; the header wins when both are given.
//!
//! Each client follows its own `nic_store::Subscription`: events are read from the store at the
//! client's own position, never fanned out from memory, so a client can neither miss an event nor
//! hold one back for others. Between the subscription and the connection sits a buffer of
//! `LIVE_BUFFER_EVENTS`; when it stays full for `LIVE_STALL_MS` the client is not keeping up and
//! the stream ends (it resumes with `Last-Event-ID` when it can). At most `LIVE_CLIENTS_MAX`
//! clients follow at once. Every stream ends when the service shuts down, and within
//! `LIVE_TOKEN_RECHECK_MS` of its token being revoked.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::Stream;
use nic_app::{App, AppError};
use nic_events::RecordedEvent;
use nic_store::{ReadAll, Subscription};
use serde::Deserialize;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::extract::{list, within, Params};
use crate::limits::{
    LIVE_BUFFER_EVENTS, LIVE_CLIENTS_MAX, LIVE_KEEPALIVE_SECS, LIVE_STALL_MS, LIVE_TOKEN_RECHECK_MS,
};
use crate::problem::{Problem, ProblemKind};
use nic_events::limits::POSITION_MAX;

/// What the live feed needs besides the application: the shutdown signal and the client slots.
#[derive(Clone)]
pub struct Live {
    stop: watch::Receiver<bool>,
    clients: Arc<Semaphore>,
}

impl Live {
    /// Clients following the log now.
    pub fn connected(&self) -> usize {
        LIVE_CLIENTS_MAX - self.clients.available_permits()
    }

    /// Streams end when `stop` turns true (or its sender is dropped).
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self {
            stop,
            clients: Arc::new(Semaphore::new(LIVE_CLIENTS_MAX)),
        }
    }
}

/// Aborts a task when dropped: the owner of each client's reader is its stream.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveParams {
    /// Start after this global position (`Last-Event-ID` wins when both are sent).
    after: Option<u64>,
    /// Comma-separated stream categories.
    category: Option<String>,
    /// Comma-separated event types.
    #[serde(rename = "type")]
    event_type: Option<String>,
}

pub async fn events(
    State(app): State<App>,
    Extension(live): Extension<Live>,
    headers: HeaderMap,
    Params(q): Params<LiveParams>,
) -> Result<Response, Problem> {
    // A stream never ends by itself: only a client that says it reads one gets it.
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|v| matches!(v.as_str(), "text/event-stream" | "text/*" | "*/*"));
    if !accepts {
        return Err(Problem::new(
            ProblemKind::InvalidHeader,
            "the live feed is a text/event-stream: send Accept: text/event-stream",
        ));
    }
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|p| *p <= POSITION_MAX)
                .ok_or_else(|| {
                    Problem::new(
                        ProblemKind::InvalidHeader,
                        "Last-Event-ID is the global position of the last event received",
                    )
                })?,
        ),
    };
    let permit = live.clients.clone().try_acquire_owned().map_err(|_| {
        AppError::Saturated(format!(
            "{LIVE_CLIENTS_MAX} clients are following the log already; retry later"
        ))
    })?;
    let filter = ReadAll {
        after: match last_event_id {
            Some(p) => p,
            None => within("after", q.after.unwrap_or(0))?,
        },
        categories: list(q.category),
        event_types: list(q.event_type),
        ..ReadAll::default()
    };
    let (tx, rx) = mpsc::channel(LIVE_BUFFER_EVENTS);
    let stall = Duration::from_millis(LIVE_STALL_MS);
    let reader = AbortOnDrop(tokio::spawn(read(
        Subscription::new(app.store().clone(), filter),
        tx,
        stall,
    )));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let holder = token.map(|t| Holder::new(app.clone(), t));
    let stream = stream(rx, live.stop.clone(), reader, permit, holder);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(LIVE_KEEPALIVE_SECS)))
        .into_response())
}

/// Reads the client's subscription into its buffer until the client goes, leaves the buffer full
/// for `stall`, or the store fails (the client resumes then).
async fn read(mut subscription: Subscription, tx: mpsc::Sender<RecordedEvent>, stall: Duration) {
    loop {
        let batch = match subscription.next_batch().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "a live client's read failed; its stream ends");
                return;
            }
        };
        for e in batch {
            match tx.send_timeout(e, stall).await {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(e)) => {
                    tracing::info!(
                        position = e.global_position,
                        "a live client is not keeping up; disconnecting it"
                    );
                    return;
                }
                Err(SendTimeoutError::Closed(_)) => return,
            }
        }
    }
}

/// Who holds a live stream: the stream ends once their token no longer opens anything.
struct Holder {
    app: App,
    token: String,
    recheck: tokio::time::Interval,
}

impl Holder {
    fn new(app: App, token: String) -> Self {
        let period = Duration::from_millis(LIVE_TOKEN_RECHECK_MS);
        let recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        Self {
            app,
            token,
            recheck,
        }
    }

    /// Whether the token is still live (revoked: no; the store failing: yes, until it answers).
    async fn still_allowed(&self) -> bool {
        !matches!(
            self.app.tokens().authenticate(&self.token).await,
            Err(AppError::Unauthorized(_))
        )
    }
}

fn stream(
    rx: mpsc::Receiver<RecordedEvent>,
    stop: watch::Receiver<bool>,
    reader: AbortOnDrop,
    permit: OwnedSemaphorePermit,
    holder: Option<Holder>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct State {
        rx: mpsc::Receiver<RecordedEvent>,
        stop: watch::Receiver<bool>,
        holder: Option<Holder>,
        _reader: AbortOnDrop,
        _permit: OwnedSemaphorePermit,
    }
    let state = State {
        rx,
        stop,
        holder,
        _reader: reader,
        _permit: permit,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            let holder = s.holder.as_mut();
            let recheck = async move {
                match holder {
                    Some(h) => h.recheck.tick().await,
                    None => std::future::pending().await,
                }
            };
            let e = tokio::select! {
                biased;
                _ = s.stop.wait_for(|stop| *stop) => return None,
                _ = recheck => None,
                e = s.rx.recv() => Some(e?),
            };
            match e {
                Some(e) => return Some((Ok(to_event(&e)), s)),
                None => {
                    let holder = s.holder.as_ref().expect("only a holder is rechecked");
                    if !holder.still_allowed().await {
                        tracing::info!("a live stream ends: its token was revoked");
                        return None;
                    }
                }
            }
        }
    })
}

fn to_event(e: &RecordedEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|err| {
        tracing::error!(position = e.global_position, error = %err, "an event did not serialise");
        "null".into()
    });
    let event = Event::default().id(e.global_position.to_string());
    let event = if e.event_type.contains(['\r', '\n']) {
        event
    } else {
        event.event(&e.event_type)
    };
    event.data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use nic_events::catalog::NetworkChartered;
    use nic_events::{ExpectedVersion, Metadata, NicEvent, StreamId, Title};
    use uuid::Uuid;

    async fn store_with(events: usize) -> std::sync::Arc<dyn nic_store::EventStore> {
        let path = std::env::temp_dir().join(format!("nic-live-{}.db", Uuid::now_v7().simple()));
        let store = nic_store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for i in 0..events {
            let id = Uuid::now_v7();
            let e = NicEvent::NetworkChartered(NetworkChartered {
                network_id: id,
                name: Title::parse(format!("Network {i}")).unwrap(),
                purpose: Default::default(),
            });
            store
                .append(
                    &StreamId::for_entity("network", id),
                    ExpectedVersion::NoStream,
                    vec![e.to_new_event(&Metadata::default())],
                )
                .await
                .unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_client_that_leaves_its_buffer_full_is_let_go() {
        let store = store_with(10).await;
        let (tx, mut rx) = mpsc::channel(4);
        let sub = Subscription::new(store, ReadAll::default());
        // Nobody reads: the reader gives up after the stall instead of waiting for ever.
        tokio::time::timeout(
            Duration::from_secs(10),
            read(sub, tx, Duration::from_millis(50)),
        )
        .await
        .expect("the reader lets a stalled client go");
        let mut positions = Vec::new();
        while let Some(e) = rx.recv().await {
            positions.push(e.global_position);
        }
        // What was buffered is still delivered, in order; the client resumes after the last.
        assert_eq!(positions.len(), 4);
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }

    #[tokio::test]
    async fn a_client_that_keeps_up_gets_every_event_and_streams_end_on_shutdown() {
        let store = store_with(20).await;
        let (tx, rx) = mpsc::channel(4);
        let sub = Subscription::new(store, ReadAll::after(5, 0));
        let reader = AbortOnDrop(tokio::spawn(read(sub, tx, Duration::from_secs(5))));
        let (stop_tx, stop) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().unwrap();
        let mut events = Box::pin(stream(rx, stop, reader, permit, None));
        for _ in 6..=20 {
            assert!(events.next().await.is_some());
        }
        assert_eq!(permits.available_permits(), 0);
        stop_tx.send(true).unwrap();
        assert!(events.next().await.is_none(), "the stream ends on shutdown");
        drop(events);
        // The client's slot is free again once its stream is gone.
        assert_eq!(permits.available_permits(), 1);
    }
}
