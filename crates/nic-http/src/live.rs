//! The live feeds, as server-sent events: `GET /api/v1/live/events`, the global log (for those
//! who may read the log; token records for admins only), optionally filtered by stream category
//! and event type, each event's `id` its global position, `event` its type and `data` the recorded
//! event as on `/api/v1/events`; and `GET /api/v1/live/timeline`, for every role (dashboards), a
//! message each time the read models move on: their position (the `id`) and the new entries of
//! the learning timeline, as on `/api/v1/timeline`.
//!
//! The request must accept `text/event-stream` (an `EventSource` does; so does `*/*`): a stream
//! never ends by itself, so a client that did not ask for one does not get one. A client resumes
//! where it left off: `Last-Event-ID` (sent by a reconnecting `EventSource`) or `?after=` name the
//! position after which to start; the header wins when both are given.
//!
//! Each log client follows its own `nic_store::Subscription`: events are read from the store at
//! the client's own position, never fanned out from memory, so a client can neither miss an event
//! nor hold one back for others. Between the subscription and the connection sits a buffer of
//! `LIVE_BUFFER_EVENTS`; when it stays full for `LIVE_STALL_MS` the client is not keeping up and
//! the stream ends (it resumes with `Last-Event-ID` when it can).
//!
//! Streams are shared fairly: a token follows at most `LIVE_CLIENTS_PER_TOKEN_MAX` at once, an
//! address `LIVE_CLIENTS_PER_ADDRESS_MAX` (429 beyond), the service `LIVE_CLIENTS_MAX`, the last
//! `LIVE_CLIENTS_ADMIN_RESERVED` of them for admins only (503 beyond). Every stream ends when the
//! service shuts down, within `LIVE_TOKEN_RECHECK_MS` of its token being revoked, and after
//! `LIVE_STREAM_SECS_MAX` (the client resumes).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::Stream;
use nic_app::{App, AppError, Principal};
use nic_events::catalog::Role;
use nic_events::limits::POSITION_MAX;
use nic_events::RecordedEvent;
use nic_projections::timeline::{TimelineOrder, TimelineQuery, PAGE_ENTRIES_MAX};
use nic_store::{ReadAll, Subscription};
use serde::Deserialize;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use crate::extract::{list, within, Params};
use crate::limits::{
    LIVE_BUFFER_EVENTS, LIVE_CLIENTS_ADMIN_RESERVED, LIVE_CLIENTS_MAX,
    LIVE_CLIENTS_PER_ADDRESS_MAX, LIVE_CLIENTS_PER_TOKEN_MAX, LIVE_KEEPALIVE_SECS, LIVE_STALL_MS,
    LIVE_STREAM_SECS_MAX, LIVE_TOKEN_RECHECK_MS,
};
use crate::problem::{Problem, ProblemKind};

/// What the live feeds need besides the application: the shutdown signal and the streams open.
#[derive(Clone)]
pub struct Live {
    stop: watch::Receiver<bool>,
    open: Arc<Mutex<Open>>,
}

/// The streams open: in all, per token (by name) and per address.
#[derive(Default)]
struct Open {
    all: usize,
    by_token: HashMap<String, usize>,
    by_address: HashMap<IpAddr, usize>,
}

/// One open stream's place; given back when the stream ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    token: String,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("the live slots");
        open.all -= 1;
        release(&mut open.by_token, &self.token);
        if let Some(a) = &self.address {
            release(&mut open.by_address, a);
        }
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Live {
    /// Streams open now.
    pub fn connected(&self) -> usize {
        self.open.lock().expect("the live slots").all
    }

    /// Streams end when `stop` turns true (or its sender is dropped).
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self {
            stop,
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `who`, from `address`, if the limits leave one.
    fn take(&self, who: &Principal, address: Option<IpAddr>) -> Result<Slot, Problem> {
        let mut open = self.open.lock().expect("the live slots");
        let of_token = open.by_token.get(&who.name).copied().unwrap_or(0);
        if of_token >= LIVE_CLIENTS_PER_TOKEN_MAX {
            return Err(Problem::new(
                ProblemKind::TooManyStreams,
                format!(
                    "token {:?} follows {LIVE_CLIENTS_PER_TOKEN_MAX} live streams already; \
                     close one first",
                    who.name
                ),
            ));
        }
        if let Some(a) = address {
            if open.by_address.get(&a).copied().unwrap_or(0) >= LIVE_CLIENTS_PER_ADDRESS_MAX {
                return Err(Problem::new(
                    ProblemKind::TooManyStreams,
                    format!(
                        "{a} follows {LIVE_CLIENTS_PER_ADDRESS_MAX} live streams already; \
                         close one first"
                    ),
                ));
            }
        }
        let room = if who.role == Role::Admin {
            LIVE_CLIENTS_MAX
        } else {
            LIVE_CLIENTS_MAX - LIVE_CLIENTS_ADMIN_RESERVED
        };
        if open.all >= room {
            return Err(AppError::Saturated(format!(
                "{} live streams are open, as many as the service serves{}; retry later",
                open.all,
                if room < LIVE_CLIENTS_MAX {
                    " (the rest are kept for admins)"
                } else {
                    ""
                }
            ))
            .into());
        }
        open.all += 1;
        *open.by_token.entry(who.name.clone()).or_default() += 1;
        if let Some(a) = address {
            *open.by_address.entry(a).or_default() += 1;
        }
        Ok(Slot {
            open: self.open.clone(),
            token: who.name.clone(),
            address,
        })
    }

    /// Opens a stream for the request's caller: checks that it reads one, takes its slot and
    /// starts its session. Returns the position after which to start.
    fn open(
        &self,
        app: &App,
        who: &Principal,
        peer: Option<Extension<ConnectInfo<SocketAddr>>>,
        headers: &HeaderMap,
        after: Option<u64>,
    ) -> Result<(Session, u64), Problem> {
        require_event_stream(headers)?;
        let after = resume_after(headers, after)?;
        let slot = self.take(who, peer.map(|Extension(ConnectInfo(a))| a.ip()))?;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        let lifetime = Duration::from_secs(LIVE_STREAM_SECS_MAX);
        let session = Session::new(
            self.stop.clone(),
            Holder::new(app.clone(), token),
            Instant::now() + lifetime,
            slot,
        );
        Ok((session, after))
    }
}

/// A stream never ends by itself: only a client that says it reads one gets it.
fn require_event_stream(headers: &HeaderMap) -> Result<(), Problem> {
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
    if accepts {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::InvalidHeader,
            "a live feed is a text/event-stream: send Accept: text/event-stream",
        ))
    }
}

/// The position after which a stream starts: `Last-Event-ID`, else `after`, else 0.
fn resume_after(headers: &HeaderMap, after: Option<u64>) -> Result<u64, Problem> {
    match headers.get("last-event-id") {
        None => Ok(within("after", after.unwrap_or(0))?),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|p| *p <= POSITION_MAX)
            .ok_or_else(|| {
                Problem::new(
                    ProblemKind::InvalidHeader,
                    "Last-Event-ID is the global position of the last event received",
                )
            }),
    }
}

/// Aborts a task when dropped: the owner of each client's reader is its stream.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
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

/// `GET /api/v1/live/events`: the log, as the caller may read it.
pub async fn events(
    State(app): State<App>,
    Extension(live): Extension<Live>,
    Extension(who): Extension<Principal>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Params(q): Params<LiveParams>,
) -> Result<Response, Problem> {
    let categories = who.log_categories(list(q.category))?;
    let (session, after) = live.open(&app, &who, peer, &headers, q.after)?;
    let filter = ReadAll {
        after,
        categories,
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
    Ok(sse(log_stream(session, rx, reader)))
}

fn log_stream(
    session: Session,
    rx: mpsc::Receiver<RecordedEvent>,
    reader: AbortOnDrop,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (session, rx, reader),
        |(mut session, mut rx, reader)| async move {
            let e = session.until(rx.recv()).await?;
            Some((Ok(to_event(&e)), (session, rx, reader)))
        },
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// Start after this position (`Last-Event-ID` wins when both are sent).
    after: Option<u64>,
    /// Only this network's entries.
    network_id: Option<Uuid>,
}

/// `GET /api/v1/live/timeline`: each time the read models move on, their position and the new
/// timeline entries (`event: timeline`, data `{"position", "entries"}`); when their state is
/// replaced whole (a rebuild, or a fold again after an erasure), `event: refresh` (data
/// `{"position"}`): what the client holds may be stale or erased, and is to be read again.
pub async fn timeline(
    State(app): State<App>,
    Extension(live): Extension<Live>,
    Extension(who): Extension<Principal>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Params(q): Params<TimelineParams>,
) -> Result<Response, Problem> {
    let (session, after) = live.open(&app, &who, peer, &headers, q.after)?;
    let query = TimelineQuery {
        network_id: q.network_id,
        limit: Some(PAGE_ENTRIES_MAX),
        // New entries, as they are recorded.
        order: TimelineOrder::Recorded,
        ..TimelineQuery::default()
    };
    let applied = app.read_models().applied();
    let mut replaced = app.read_models().replaced();
    replaced.mark_unchanged();
    let state = (session, (applied, replaced), after, app, query);
    Ok(sse(futures::stream::unfold(
        state,
        |(mut session, (mut applied, mut replaced), after, app, query)| async move {
            loop {
                // Until the models have moved past what the client has, or were replaced.
                let moved = async {
                    tokio::select! {
                        p = applied.wait_for(|p| *p > after) => Some(Some(*p.ok()?)),
                        r = replaced.changed() => r.ok().map(|()| None),
                    }
                };
                let Some(applied_at) = session.until(moved).await? else {
                    let data = serde_json::json!({"position": after});
                    let event = Event::default().event("refresh").data(data.to_string());
                    return Some((Ok(event), (session, (applied, replaced), after, app, query)));
                };
                let query = TimelineQuery {
                    after: Some(after),
                    ..query.clone()
                };
                let page = app.read_models().timeline_now(&query).await;
                // More entries than a page: the next message goes on from the last one sent.
                let position = page.next_after.unwrap_or(page.position.max(applied_at));
                if position <= after {
                    continue;
                }
                let data = serde_json::json!({"position": position, "entries": page.entries});
                let event = Event::default()
                    .id(position.to_string())
                    .event("timeline")
                    .data(data.to_string());
                return Some((
                    Ok(event),
                    (session, (applied, replaced), position, app, query),
                ));
            }
        },
    )))
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(LIVE_KEEPALIVE_SECS)))
        .into_response()
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
        let recheck = tokio::time::interval_at(Instant::now() + period, period);
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

/// One open stream: it ends on shutdown, when its token is revoked, or at its end of life.
struct Session {
    stop: watch::Receiver<bool>,
    holder: Option<Holder>,
    ends: Instant,
    _slot: Slot,
}

impl Session {
    fn new(stop: watch::Receiver<bool>, holder: Holder, ends: Instant, slot: Slot) -> Self {
        Self {
            stop,
            holder: Some(holder),
            ends,
            _slot: slot,
        }
    }

    /// What `next` gives, unless the stream is to end first (None then).
    async fn until<T>(&mut self, next: impl Future<Output = Option<T>>) -> Option<T> {
        enum Woke<T> {
            End(&'static str),
            Recheck,
            Next(Option<T>),
        }
        let mut next = std::pin::pin!(next);
        loop {
            let holder = self.holder.as_mut();
            let recheck = async move {
                match holder {
                    Some(h) => h.recheck.tick().await,
                    None => std::future::pending().await,
                }
            };
            let woke = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => Woke::End("the service is stopping"),
                _ = tokio::time::sleep_until(self.ends) => Woke::End("it reached its lifetime"),
                _ = recheck => Woke::Recheck,
                v = &mut next => Woke::Next(v),
            };
            match woke {
                Woke::Next(v) => return v,
                Woke::End(why) => {
                    tracing::debug!("a live stream ends: {why}");
                    return None;
                }
                Woke::Recheck => {
                    let holder = self.holder.as_ref().expect("only a holder is rechecked");
                    if !holder.still_allowed().await {
                        tracing::info!("a live stream ends: its token was revoked");
                        return None;
                    }
                }
            }
        }
    }
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

    fn principal(name: &str, role: Role) -> Principal {
        Principal {
            token_id: uuid::Uuid::nil(),
            name: name.into(),
            role,
            programs: Vec::new(),
        }
    }

    fn session(live: &Live, stop: watch::Receiver<bool>, ends: Instant) -> Session {
        Session {
            stop,
            holder: None,
            ends,
            _slot: live.take(&principal("screen", Role::Viewer), None).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_client_that_keeps_up_gets_every_event_and_streams_end_on_shutdown() {
        let store = store_with(20).await;
        let (tx, rx) = mpsc::channel(4);
        let sub = Subscription::new(store, ReadAll::after(5, 0));
        let reader = AbortOnDrop(tokio::spawn(read(sub, tx, Duration::from_secs(5))));
        let (stop_tx, stop) = watch::channel(false);
        let live = Live::new(stop.clone());
        let far = Instant::now() + Duration::from_secs(3600);
        let mut events = Box::pin(log_stream(session(&live, stop, far), rx, reader));
        for _ in 6..=20 {
            assert!(events.next().await.is_some());
        }
        assert_eq!(live.connected(), 1);
        stop_tx.send(true).unwrap();
        assert!(events.next().await.is_none(), "the stream ends on shutdown");
        drop(events);
        // The client's slot is free again once its stream is gone.
        assert_eq!(live.connected(), 0);
    }

    #[tokio::test]
    async fn a_stream_ends_at_its_end_of_life() {
        let store = store_with(3).await;
        let (tx, rx) = mpsc::channel(4);
        let sub = Subscription::new(store, ReadAll::default());
        let reader = AbortOnDrop(tokio::spawn(read(sub, tx, Duration::from_secs(5))));
        let (_stop_tx, stop) = watch::channel(false);
        let live = Live::new(stop.clone());
        let ends = Instant::now() + Duration::from_millis(300);
        let mut events = Box::pin(log_stream(session(&live, stop, ends), rx, reader));
        for _ in 0..3 {
            assert!(events.next().await.is_some());
        }
        let end = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
        assert!(
            matches!(end, Ok(None)),
            "the stream ends at its end of life"
        );
    }

    #[test]
    fn a_token_an_address_and_non_admins_each_have_their_share_of_streams() {
        let (_stop_tx, stop) = watch::channel(false);
        let live = Live::new(stop);
        let greedy = principal("greedy", Role::Viewer);
        let mut held: Vec<Slot> = (0..LIVE_CLIENTS_PER_TOKEN_MAX)
            .map(|_| live.take(&greedy, None).unwrap())
            .collect();
        let refused = live.take(&greedy, None).err().unwrap();
        assert_eq!(refused.status(), 429);
        // One address, many tokens.
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..LIVE_CLIENTS_PER_ADDRESS_MAX {
            let who = principal(&format!("here-{i}"), Role::Viewer);
            held.push(live.take(&who, Some(here)).unwrap());
        }
        let who = principal("here-more", Role::Viewer);
        assert_eq!(live.take(&who, Some(here)).err().unwrap().status(), 429);
        // Many tokens fill the streams but for the admins' room.
        let mut i = 0;
        while live.connected() < LIVE_CLIENTS_MAX - LIVE_CLIENTS_ADMIN_RESERVED {
            held.push(
                live.take(&principal(&format!("t-{i}"), Role::Viewer), None)
                    .unwrap(),
            );
            i += 1;
        }
        let late = principal("late", Role::Facilitator);
        assert_eq!(live.take(&late, None).err().unwrap().status(), 503);
        let admin = principal("hub", Role::Admin);
        held.push(
            live.take(&admin, None)
                .expect("an admin still gets a stream"),
        );
        // A stream given back is a place for the next.
        drop(held.pop());
        drop(held.pop());
        assert!(live.take(&late, None).is_ok());
    }
}
