//! What a command is (`Command`: a target stream and a decision, addressed by `Ids`, called with
//! a `Call`) and the runner: load the streams a command needs (`Loader`), let the domain decide,
//! append the events to the target stream with the version read, and decide again on fresh state
//! when the append lost a race (unless the write was pinned to a version with `if_match`). A
//! refused command appends nothing.
//!
//! With an idempotency key the event ids (and a new entity's id) are derived from the key, the
//! principal and the write's scope (the operation it was sent to), so a retry finds its events in
//! the stream and gets the first answer back, and a key another caller used is not theirs.

use std::collections::{BTreeSet, HashMap};

use futures::future::BoxFuture;
use nic_domain::cycle::CycleState;
use nic_domain::measure::MeasureState;
use nic_domain::network::NetworkState;
use nic_domain::program::ProgramState;
use nic_domain::synthesis::SynthesisState;
use nic_domain::token::Tokens;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{EventData, ExpectedVersion, Metadata, NicEvent, RecordedEvent, StreamId};
use nic_store::{EventStore, StoreError};
use serde::Serialize;
use std::sync::Arc;
use uuid::Uuid;

use crate::access::{Principal, TOKEN_CATEGORY};
use crate::limits::{
    DECIDED_EVENTS_MAX, DECIDED_STREAMS_MAX, IDEMPOTENT_EVENTS_MAX, WRITE_RETRY_MS_MAX,
    WRITE_RETRY_PAUSE_MS_MAX,
};
use crate::AppError;

/// The kinds of entity a command addresses, each with a stream of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Program,
    Measure,
    Cycle,
    Synthesis,
}

impl Kind {
    /// The stream category of this kind's entities.
    pub fn category(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Program => "program",
            Kind::Measure => "measure",
            Kind::Cycle => "pdsa",
            Kind::Synthesis => "synthesis",
        }
    }

    /// The stream of the entity `id` of this kind.
    pub fn stream(self, id: Uuid) -> StreamId {
        StreamId::for_entity(self.category(), id)
    }

    /// The kind and entity of a stream that is one entity's.
    fn of(stream: &StreamId) -> Option<(Kind, Uuid)> {
        let kind = [
            Kind::Network,
            Kind::Program,
            Kind::Measure,
            Kind::Cycle,
            Kind::Synthesis,
        ]
        .into_iter()
        .find(|k| k.category() == stream.category())?;
        let id = stream.as_str().get(stream.category().len() + 1..)?;
        Some((kind, id.parse().ok()?))
    }
}

/// What a command is called with besides its body: the ids it is addressed to, the id a new
/// entity or part gets, and who asks.
pub struct Call<I> {
    pub ids: I,
    pub new_id: Uuid,
    pub principal: Principal,
}

/// The ids a command is addressed with: none, an entity's, or an entity's and a part's.
pub trait Ids: Copy + Send + Sync + 'static {
    /// These ids from a list of them in order (None: not as many as these are).
    fn from_slice(ids: &[Uuid]) -> Option<Self>;
}

impl Ids for () {
    fn from_slice(ids: &[Uuid]) -> Option<Self> {
        ids.is_empty().then_some(())
    }
}

impl Ids for Uuid {
    fn from_slice(ids: &[Uuid]) -> Option<Self> {
        match ids {
            [id] => Some(*id),
            _ => None,
        }
    }
}

impl Ids for (Uuid, Uuid) {
    fn from_slice(ids: &[Uuid]) -> Option<Self> {
        match ids {
            [a, b] => Some((*a, *b)),
            _ => None,
        }
    }
}

/// One row of the table: a command body and how it is run.
pub trait Command: Send + Sync + 'static {
    /// The ids the command is addressed with.
    type Ids: Ids;
    /// The stream the command appends to, and what its answer names.
    fn target(call: &Call<Self::Ids>) -> Target;
    /// The events the command appends, decided on the states `l` loads.
    fn decide<'a>(
        &'a self,
        l: &'a mut Loader,
        call: &'a Call<Self::Ids>,
    ) -> BoxFuture<'a, Result<Vec<NicEvent>, AppError>>;
}

/// What a stream's events decide: its entity's state, as the domain folds it.
#[derive(Debug, Clone)]
enum State {
    Network(NetworkState),
    Program(ProgramState),
    Measure(MeasureState),
    Cycle(Box<CycleState>),
    Synthesis(SynthesisState),
    /// A token's record (`access::Registry`).
    Token(Tokens),
    /// A stream that is no entity's.
    None,
}

impl State {
    fn new(stream: &StreamId) -> Self {
        match Kind::of(stream) {
            Some((Kind::Network, id)) => Self::Network(NetworkState::new(id)),
            Some((Kind::Program, id)) => Self::Program(ProgramState::new(id)),
            Some((Kind::Measure, id)) => Self::Measure(MeasureState::new(id)),
            Some((Kind::Cycle, id)) => Self::Cycle(Box::new(CycleState::new(id))),
            Some((Kind::Synthesis, id)) => Self::Synthesis(SynthesisState::new(id)),
            None if stream.category() == TOKEN_CATEGORY => Self::Token(Tokens::default()),
            None => Self::None,
        }
    }

    fn apply(&mut self, event: &NicEvent) {
        match self {
            Self::Network(s) => s.apply(event),
            Self::Program(s) => s.apply(event),
            Self::Measure(s) => s.apply(event),
            Self::Cycle(s) => s.apply(event),
            Self::Synthesis(s) => s.apply(event),
            Self::Token(s) => s.apply(event),
            Self::None => {}
        }
    }
}

/// A stream folded up to its version `next - 1`: its state, and each event's id with its version
/// (a retry with an idempotency key finds its events by id).
#[derive(Debug, Clone)]
pub struct Folded {
    next: u64,
    ids: HashMap<Uuid, u64>,
    state: State,
}

impl Folded {
    /// The version of the stream's last event (None: no stream).
    pub fn version(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }

    /// A token stream's records.
    pub(crate) fn tokens(&self) -> Option<&Tokens> {
        match &self.state {
            State::Token(t) => Some(t),
            _ => None,
        }
    }
}

/// A state read through a `Loader`: shared with the process's cache, not copied.
pub struct Decided<S> {
    folded: Arc<Folded>,
    of: fn(&State) -> Option<&S>,
}

impl<S> std::ops::Deref for Decided<S> {
    type Target = S;
    fn deref(&self) -> &S {
        (self.of)(&self.folded.state).expect("a stream's state is its kind's")
    }
}

/// The folded streams of the process, kept in step with the log: a command reads only the events
/// appended to its streams since (by this process or another), not their whole history, so a
/// write costs the same in a measure's tenth year as in its first. The least recently used go
/// first once there are `DECIDED_STREAMS_MAX` streams or `DECIDED_EVENTS_MAX` events in all.
///
/// This process's appends extend their stream's entry at once (`extend`); the read models'
/// follower hands every event it reads to `follow`, which extends the entries with other
/// processes' events. While the follower is in step (`following`), a command decides on the
/// kept entries without reading them (`Loader::trusting`): the append's expected version still
/// guards the target stream, and a refusal is checked again on fresh reads before it is answered.
#[derive(Default)]
pub struct States {
    cache: std::sync::Mutex<Cache>,
    in_step: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Cache {
    streams: HashMap<StreamId, (Arc<Folded>, u64)>,
    events: u64,
    tick: u64,
    /// Bumped when the follower starts a new subscription: entries read before it may lack events
    /// the follower will not deliver, so they are dropped and their late puts refused.
    epoch: u64,
}

impl States {
    /// The follower has started a subscription at its position and hands every later event to
    /// `follow`: the entries kept so far are dropped, and those read from now on are trusted.
    pub fn following(&self) {
        let mut c = self.cache.lock().expect("states");
        c.streams.clear();
        c.events = 0;
        c.epoch += 1;
        self.in_step
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The follower stopped delivering (an error, a reload, a stop): entries are read again until
    /// it follows once more.
    pub fn not_following(&self) {
        self.in_step
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn in_step(&self) -> bool {
        self.in_step.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The current epoch (for `extend`: an entry extended after a new subscription began is not).
    pub(crate) fn epoch(&self) -> u64 {
        self.cache.lock().expect("states").epoch
    }

    /// Extends the kept entries with events read from the log, in global order: an event just
    /// after an entry's end is applied, one already in it is skipped, and an entry that would skip
    /// one is dropped (read again when next needed).
    pub fn follow(&self, events: &[RecordedEvent]) {
        let mut guard = self.cache.lock().expect("states");
        let c = &mut *guard;
        // An erasure or a redaction: what was kept may hold the text it made unreadable.
        if events
            .iter()
            .any(|e| nic_store::sealing::PRIVACY_EVENT_TYPES.contains(&e.event_type.as_str()))
        {
            c.streams.clear();
            c.events = 0;
            c.epoch += 1;
        }
        for e in events {
            let Some((kept, _)) = c.streams.get_mut(&e.stream_id) else {
                continue;
            };
            if e.stream_version < kept.next {
                continue;
            }
            let parsed = (e.stream_version == kept.next)
                .then(|| NicEvent::from_recorded(e).ok())
                .flatten();
            match parsed {
                Some(event) => {
                    let f = Arc::make_mut(kept);
                    f.state.apply(&event);
                    f.ids.insert(e.event_id, e.stream_version);
                    f.next += 1;
                    c.events += 1;
                }
                None => {
                    if let Some((f, _)) = c.streams.remove(&e.stream_id) {
                        c.events -= f.next;
                    }
                }
            }
        }
        c.evict();
        // Delivering again after an error: the subscription resumed where it stopped.
        self.in_step
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Extends `id`'s entry with the events this process just appended at `first_version` on
    /// (a new stream's entry starts with them), if the entry ends there and `epoch` is current.
    pub(crate) fn extend(
        &self,
        id: &StreamId,
        epoch: u64,
        first_version: u64,
        events: &[(Uuid, &NicEvent)],
    ) {
        let mut guard = self.cache.lock().expect("states");
        let c = &mut *guard;
        if c.epoch != epoch {
            return;
        }
        c.tick += 1;
        let tick = c.tick;
        let count = events.len() as u64;
        let entry = match c.streams.entry(id.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) if first_version == 0 => v.insert((
                Arc::new(Folded {
                    next: 0,
                    ids: HashMap::new(),
                    state: State::new(id),
                }),
                tick,
            )),
            std::collections::hash_map::Entry::Vacant(_) => return,
        };
        if entry.0.next != first_version {
            return;
        }
        entry.1 = tick;
        let f = Arc::make_mut(&mut entry.0);
        for (i, (event_id, event)) in events.iter().enumerate() {
            f.state.apply(event);
            f.ids.insert(*event_id, first_version + i as u64);
        }
        f.next += count;
        c.events += count;
        c.evict();
    }

    fn get(&self, id: &StreamId) -> Option<Arc<Folded>> {
        let mut c = self.cache.lock().expect("states");
        c.tick += 1;
        let tick = c.tick;
        c.streams.get_mut(id).map(|(f, used)| {
            *used = tick;
            f.clone()
        })
    }

    /// Takes a stream's entry out, for a catch-up to extend without copying it.
    fn take(&self, id: &StreamId) -> Option<Arc<Folded>> {
        let mut c = self.cache.lock().expect("states");
        let (f, _) = c.streams.remove(id)?;
        c.events -= f.next;
        Some(f)
    }

    /// Keeps `folded` (read in `epoch`) unless a further one of the same stream is kept already.
    fn put(&self, id: &StreamId, folded: Arc<Folded>, epoch: u64) {
        let mut c = self.cache.lock().expect("states");
        if c.epoch != epoch {
            return;
        }
        c.tick += 1;
        let tick = c.tick;
        if let Some((kept, used)) = c.streams.get_mut(id) {
            if kept.next >= folded.next {
                *used = tick;
                return;
            }
            let before = kept.next;
            *kept = folded.clone();
            *used = tick;
            c.events = c.events - before + folded.next;
        } else {
            c.events += folded.next;
            c.streams.insert(id.clone(), (folded, tick));
        }
        c.evict();
    }
}

impl Cache {
    /// Once there are too many streams or events, drops the least recently used entries until an
    /// eighth of the room is free again, so that the scan for them is paid once per many puts.
    fn evict(&mut self) {
        if self.streams.len() <= DECIDED_STREAMS_MAX && self.events <= DECIDED_EVENTS_MAX {
            return;
        }
        let mut by_use: Vec<(u64, StreamId)> = self
            .streams
            .iter()
            .map(|(k, (_, used))| (*used, k.clone()))
            .collect();
        by_use.sort_unstable_by_key(|(used, _)| *used);
        for (_, oldest) in by_use {
            if self.streams.len() <= DECIDED_STREAMS_MAX * 7 / 8
                && self.events <= DECIDED_EVENTS_MAX / 8 * 7
            {
                break;
            }
            if let Some((f, _)) = self.streams.remove(&oldest) {
                self.events -= f.next;
            }
        }
    }
}

/// Reads streams and folds them into states, once per stream per attempt, from the process's
/// folded streams on: only the events appended since are read, and none when the kept entry is
/// trusted (`trusting`).
pub struct Loader {
    store: Arc<dyn EventStore>,
    states: Arc<States>,
    seen: HashMap<StreamId, Arc<Folded>>,
    /// Kept entries are taken as they are, without a read.
    trust: bool,
    /// The states' epoch when this loader began: what it reads is kept only if still current.
    epoch: u64,
}

impl Loader {
    /// A loader that reads every stream it is asked for to the log's end.
    pub fn new(store: Arc<dyn EventStore>, states: Arc<States>) -> Self {
        let epoch = states.epoch();
        Self {
            store,
            states,
            seen: HashMap::new(),
            trust: false,
            epoch,
        }
    }

    /// A loader that takes the kept entries as they are while the follower is in step with the
    /// log (reading only streams not kept), else reads as `new` does.
    pub fn trusting(store: Arc<dyn EventStore>, states: Arc<States>) -> Self {
        let mut loader = Self::new(store, states);
        loader.trust = loader.states.in_step();
        loader
    }

    /// Whether this loader took kept entries without reading them.
    fn trusted(&self) -> bool {
        self.trust
    }

    /// Takes `id` as a stream with no event yet, without reading it (a new entity's fresh id).
    fn new_stream(&mut self, id: &StreamId) {
        self.seen.insert(
            id.clone(),
            Arc::new(Folded {
                next: 0,
                ids: HashMap::new(),
                state: State::new(id),
            }),
        );
    }

    /// A stream folded up to the log's end as read now (once per attempt), or as kept when trusted.
    pub async fn folded(&mut self, id: &StreamId) -> Result<Arc<Folded>, AppError> {
        if let Some(f) = self.seen.get(id) {
            return Ok(f.clone());
        }
        let kept = self.states.get(id);
        if let (Some(kept), true) = (&kept, self.trust) {
            self.seen.insert(id.clone(), kept.clone());
            return Ok(kept.clone());
        }
        let from = kept.as_ref().map_or(0, |f| f.next);
        let mut page = self
            .store
            .read_stream(id, from, READ_PAGE_EVENTS_MAX)
            .await?;
        let folded = match kept {
            Some(kept) if page.is_empty() => kept,
            kept => {
                drop(kept);
                // Extend the kept entry, taken out so that it is not copied (unless another
                // command holds it right now), or fold the stream from its start.
                let mut f = match self.states.take(id) {
                    Some(k) if k.next >= from => {
                        Arc::try_unwrap(k).unwrap_or_else(|shared| (*shared).clone())
                    }
                    _ => Folded {
                        next: 0,
                        ids: HashMap::new(),
                        state: State::new(id),
                    },
                };
                // The page read already serves when it starts where the entry ends.
                let mut have = f.next == from;
                loop {
                    if !have {
                        page = self
                            .store
                            .read_stream(id, f.next, READ_PAGE_EVENTS_MAX)
                            .await?;
                    }
                    have = false;
                    let done = page.len() < READ_PAGE_EVENTS_MAX;
                    for e in page.drain(..) {
                        f.state.apply(&NicEvent::from_recorded(&e)?);
                        f.ids.insert(e.event_id, e.stream_version);
                        f.next = e.stream_version + 1;
                    }
                    if done {
                        break;
                    }
                }
                let f = Arc::new(f);
                // A stream with no event yet is not kept: unknown ids would crowd out states.
                if f.next > 0 {
                    self.states.put(id, f.clone(), self.epoch);
                }
                f
            }
        };
        self.seen.insert(id.clone(), folded.clone());
        Ok(folded)
    }

    /// The version of a stream's last event, as read (None: no stream).
    pub async fn version(&mut self, id: &StreamId) -> Result<Option<u64>, AppError> {
        Ok(self.folded(id).await?.version())
    }

    async fn decided<S>(
        &mut self,
        kind: Kind,
        id: Uuid,
        of: fn(&State) -> Option<&S>,
    ) -> Result<Decided<S>, AppError> {
        let folded = self.folded(&kind.stream(id)).await?;
        Ok(Decided { folded, of })
    }

    pub async fn network(&mut self, id: Uuid) -> Result<Decided<NetworkState>, AppError> {
        self.decided(Kind::Network, id, |s| match s {
            State::Network(s) => Some(s),
            _ => None,
        })
        .await
    }
    pub async fn program(&mut self, id: Uuid) -> Result<Decided<ProgramState>, AppError> {
        self.decided(Kind::Program, id, |s| match s {
            State::Program(s) => Some(s),
            _ => None,
        })
        .await
    }
    pub async fn measure(&mut self, id: Uuid) -> Result<Decided<MeasureState>, AppError> {
        self.decided(Kind::Measure, id, |s| match s {
            State::Measure(s) => Some(s),
            _ => None,
        })
        .await
    }
    pub async fn cycle(&mut self, id: Uuid) -> Result<Decided<CycleState>, AppError> {
        self.decided(Kind::Cycle, id, |s| match s {
            State::Cycle(s) => Some(&**s),
            _ => None,
        })
        .await
    }
    pub async fn synthesis(&mut self, id: Uuid) -> Result<Decided<SynthesisState>, AppError> {
        self.decided(Kind::Synthesis, id, |s| match s {
            State::Synthesis(s) => Some(s),
            _ => None,
        })
        .await
    }

    /// Those of `ids` that are entities of `kind` belonging to `network`.
    pub(crate) async fn of_network(
        &mut self,
        kind: Kind,
        network: Uuid,
        ids: &[Uuid],
    ) -> Result<BTreeSet<Uuid>, AppError> {
        let mut known = BTreeSet::new();
        for id in ids {
            let belongs_to = match kind {
                Kind::Network => Some(*id),
                Kind::Program => Some(self.program(*id).await?.network_id),
                Kind::Measure => self
                    .measure(*id)
                    .await?
                    .definition
                    .as_ref()
                    .map(|d| d.network_id),
                Kind::Cycle => self
                    .cycle(*id)
                    .await?
                    .planned
                    .as_ref()
                    .map(|p| p.network_id),
                Kind::Synthesis => self
                    .synthesis(*id)
                    .await?
                    .synthesis
                    .as_ref()
                    .map(|s| s.network_id),
            };
            if belongs_to == Some(network) {
                known.insert(*id);
            }
        }
        Ok(known)
    }
}

/// What a write asks besides its command: who asks, a condition on the target stream's version,
/// an idempotency key (scoped to `scope`, the operation it was sent to) and the correlation id
/// that groups the events of one workflow.
#[derive(Debug, Clone)]
pub struct Write {
    pub principal: Principal,
    pub if_match: Option<u64>,
    pub idempotency_key: Option<String>,
    pub scope: String,
    pub correlation_id: Uuid,
    /// The SHA-256 (hex) of the request, kept with the events of a write with an idempotency key.
    pub request_sha256: Option<String>,
    /// The day what the write records happened, when that was not today (kept in the events'
    /// metadata; the events' data dates, where they have them, say it themselves).
    pub occurred_on: Option<chrono::NaiveDate>,
}

impl Write {
    /// A plain write by `principal`: no condition, no key, a new correlation id.
    pub fn by(principal: Principal, scope: impl Into<String>) -> Self {
        Self {
            principal,
            if_match: None,
            idempotency_key: None,
            scope: scope.into(),
            correlation_id: Uuid::now_v7(),
            request_sha256: None,
            occurred_on: None,
        }
    }

    /// The id of a new entity: derived from the principal, the scope and the idempotency key when
    /// there is one (so a retry addresses the same stream, and another caller's key never
    /// answers for this one), else a fresh UUID v7.
    pub fn new_id(&self) -> Uuid {
        match &self.idempotency_key {
            Some(key) => derived(&[&self.principal.actor(), &self.scope, key, "entity"]),
            None => Uuid::now_v7(),
        }
    }

    /// The id of the `index`-th event a write appends: derived from the idempotency key when there
    /// is one (so the store recognises a retry), else a fresh UUID v7.
    pub fn event_id(&self, index: usize) -> Uuid {
        match &self.idempotency_key {
            Some(key) => derived(&[
                &self.principal.actor(),
                &self.scope,
                key,
                "event",
                &index.to_string(),
            ]),
            None => Uuid::now_v7(),
        }
    }
}

/// A UUID (version 8, custom) from a SHA-256 of the parts.
fn derived(parts: &[&str]) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// Where a command appends, and what its answer names.
#[derive(Debug, Clone)]
pub struct Target {
    pub stream: StreamId,
    /// The entity, or the part of one, the command created or addressed.
    pub id: Uuid,
    /// The resource a new entity or part is found at (None: nothing new).
    pub created: Option<(Kind, Uuid)>,
}

impl Target {
    /// An existing entity.
    pub fn existing(kind: Kind, id: Uuid) -> Self {
        Self {
            stream: kind.stream(id),
            id,
            created: None,
        }
    }

    /// A new entity with a stream of its own.
    pub fn new_entity(kind: Kind, id: Uuid) -> Self {
        Self {
            stream: kind.stream(id),
            id,
            created: Some((kind, id)),
        }
    }

    /// A new part of an existing entity (a node of a network's diagram, a data point of a
    /// measure), found at its entity.
    pub fn new_part(kind: Kind, entity: Uuid, part: Uuid) -> Self {
        Self {
            stream: kind.stream(entity),
            id: part,
            created: Some((kind, entity)),
        }
    }
}

/// What a successful command answers: the entity it addressed and the events it appended. A retry
/// with the same idempotency key gets the same answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommandResult {
    /// The entity the command created or addressed.
    pub id: Uuid,
    pub stream_id: StreamId,
    /// The stream's version after the append (also the `ETag`).
    pub stream_version: u64,
    pub events: Vec<AppendedEvent>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AppendedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub stream_version: u64,
    pub global_position: u64,
    pub data: EventData,
}

/// A command's outcome: its answer, the resource it created, and whether it is a retry answered
/// with the first answer.
#[derive(Debug)]
pub struct Outcome {
    pub result: CommandResult,
    pub created: Option<(Kind, Uuid)>,
    pub replayed: bool,
}

/// Decides a command against fresh state and appends its events to `target.stream`.
pub(crate) async fn run<C: Command>(
    store: &Arc<dyn EventStore>,
    states: &Arc<States>,
    w: &Write,
    cmd: &C,
    call: &Call<C::Ids>,
    target: Target,
) -> Result<Outcome, AppError> {
    let mut retry = Retry::new();
    // The first attempt decides on the kept states; after a lost race, or a refusal or a version
    // mismatch found on kept states, the next one reads them fresh.
    let mut trust = true;
    loop {
        let mut loader = match trust {
            true => Loader::trusting(store.clone(), states.clone()),
            false => Loader::new(store.clone(), states.clone()),
        };
        trust = false;
        let trusted = loader.trusted();
        // A new entity's fresh id (no idempotency key) names a stream nobody has written to.
        let fresh_entity = w.idempotency_key.is_none()
            && target
                .created
                .is_some_and(|(kind, id)| id == call.new_id && kind.stream(id) == target.stream);
        if fresh_entity {
            loader.new_stream(&target.stream);
        }
        let folded = loader.folded(&target.stream).await?;
        let version = folded.version();
        if w.idempotency_key.is_some() {
            let ids: Vec<Uuid> = (0..IDEMPOTENT_EVENTS_MAX).map(|i| w.event_id(i)).collect();
            if let Some(&at) = folded.ids.get(&ids[0]) {
                let recorded = store
                    .read_stream(&target.stream, at, IDEMPOTENT_EVENTS_MAX)
                    .await?;
                let first = recorded
                    .first()
                    .filter(|e| e.event_id == ids[0])
                    .ok_or_else(|| {
                        AppError::Unreadable(format!(
                            "{} has no event {} at version {at}",
                            target.stream, ids[0]
                        ))
                    })?;
                same_request(first, w)?;
                let replay: Vec<&RecordedEvent> = recorded
                    .iter()
                    .zip(&ids)
                    .take_while(|(e, id)| e.event_id == **id)
                    .map(|(e, _)| e)
                    .collect();
                return Ok(answer(&target, listed(replay), true));
            }
        }
        if let Some(expected) = w.if_match {
            if version != Some(expected) {
                if trusted {
                    continue;
                }
                return Err(AppError::VersionConflict {
                    detail: format!(
                        "If-Match asked for version {expected} of {}, which is at {}",
                        target.stream,
                        version.map_or("no version (it does not exist)".into(), |v| v.to_string())
                    ),
                    current: version,
                });
            }
        }
        let events = match cmd.decide(&mut loader, call).await {
            Ok(events) => events,
            Err(_) if trusted => continue,
            Err(e) => return Err(e),
        };
        let metadata = Metadata {
            actor: Some(w.principal.actor()),
            correlation_id: Some(w.correlation_id),
            causation_id: None,
            request_sha256: w.idempotency_key.as_ref().and(w.request_sha256.clone()),
            occurred_on: w.occurred_on,
        };
        let new: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_new_event(&metadata).with_id(w.event_id(i)))
            .collect();
        let count = new.len() as u64;
        let ids: Vec<Uuid> = new.iter().map(|e| e.event_id).collect();
        // One new event's answer is known without reading it back: all but its position and
        // version, which the append returns.
        let single = match new.as_slice() {
            [e] => Some((e.event_id, e.event_type.clone(), e.data.clone())),
            _ => None,
        };
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let started = std::time::Instant::now();
        let appended = store.append(&target.stream, expected, new).await;
        crate::metrics::record_append(&appended, &events, started.elapsed());
        match appended {
            Ok(outcome) => {
                if !outcome.duplicate {
                    // The process's kept entry gains what it just appended.
                    let epoch = loader.epoch;
                    drop((folded, loader));
                    let appended: Vec<_> = ids.iter().copied().zip(&events).collect();
                    states.extend(
                        &target.stream,
                        epoch,
                        outcome.stream_version + 1 - count,
                        &appended,
                    );
                }
                if let (Some((event_id, event_type, data)), false) = (single, outcome.duplicate) {
                    let event = AppendedEvent {
                        event_id,
                        event_type,
                        stream_version: outcome.stream_version,
                        global_position: outcome.first_position,
                        data,
                    };
                    return Ok(answer(&target, vec![event], false));
                }
                // Several events, or a retry answered with the original append: as stored.
                let first = outcome.stream_version + 1 - count;
                let appended = store
                    .read_stream(&target.stream, first, count as usize)
                    .await?;
                if let (true, Some(e)) = (outcome.duplicate, appended.first()) {
                    same_request(e, w)?;
                }
                return Ok(answer(
                    &target,
                    listed(appended.iter().collect()),
                    outcome.duplicate,
                ));
            }
            // Without If-Match, another writer's event is no conflict: decide again on the
            // stream as it is now.
            Err(StoreError::WrongExpectedVersion { .. }) if w.if_match.is_none() => {
                // A kept state another process had moved past is read again at once; a race
                // lost on fresh state waits a random while first.
                if !trusted {
                    retry.pause(&target.stream).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Refuses a retry whose idempotency key was first sent with another request (`first`: the first
/// event that request appended).
fn same_request(first: &RecordedEvent, w: &Write) -> Result<(), AppError> {
    let sent = serde_json::from_str::<Metadata>(first.metadata.get())
        .map_err(|e| AppError::Unreadable(format!("metadata: {e}")))?
        .request_sha256;
    if sent.is_some() && sent != w.request_sha256 {
        return Err(AppError::KeyReused(
            "this Idempotency-Key was sent with another request; use a new key for a new request"
                .into(),
        ));
    }
    Ok(())
}

/// The pauses of a command that keeps losing races for its stream, until `WRITE_RETRY_MS_MAX`.
struct Retry {
    started: std::time::Instant,
    lost: u32,
    bound_ms: u64,
}

impl Retry {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            lost: 0,
            bound_ms: 1,
        }
    }

    /// Waits a random while before the next attempt; `Saturated` once the time is up.
    async fn pause(&mut self, stream: &StreamId) -> Result<(), AppError> {
        self.lost += 1;
        if self.started.elapsed() >= std::time::Duration::from_millis(WRITE_RETRY_MS_MAX) {
            return Err(AppError::Saturated(format!(
                "{stream} took other writers' events {} times in {} s; nothing was written, retry",
                self.lost,
                WRITE_RETRY_MS_MAX / 1_000
            )));
        }
        let micros = Uuid::new_v4().as_u128() as u64 % (self.bound_ms * 1_000);
        tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
        self.bound_ms = (self.bound_ms * 2).min(WRITE_RETRY_PAUSE_MS_MAX);
        Ok(())
    }
}

/// Stored events as a command's answer lists them.
fn listed(events: Vec<&RecordedEvent>) -> Vec<AppendedEvent> {
    events
        .into_iter()
        .map(|e| AppendedEvent {
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            stream_version: e.stream_version,
            global_position: e.global_position,
            data: e.data.clone(),
        })
        .collect()
}

fn answer(target: &Target, events: Vec<AppendedEvent>, replayed: bool) -> Outcome {
    let stream_version = events.last().map_or(0, |e| e.stream_version);
    Outcome {
        result: CommandResult {
            id: target.id,
            stream_id: target.stream.clone(),
            stream_version,
            events,
        },
        created: target.created,
        replayed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_events::catalog::Role;

    #[test]
    fn ids_derive_from_the_key_and_scope_or_are_fresh() {
        let principal = Principal {
            token_id: uuid::Uuid::nil(),
            name: "a".into(),
            role: Role::Admin,
            programs: Vec::new(),
        };
        let mut w = Write::by(principal, "POST /a");
        w.idempotency_key = Some("abc".into());
        assert_eq!(w.new_id(), w.new_id());
        let mut other = w.clone();
        other.scope = "POST /b".into();
        assert_ne!(w.new_id(), other.new_id());
        let mut someone_else = w.clone();
        someone_else.principal.token_id = uuid::Uuid::from_u128(1);
        assert_ne!(w.new_id(), someone_else.new_id());
        assert_ne!(w.event_id(0), someone_else.event_id(0));
        assert_ne!(w.event_id(0), w.event_id(1));
        w.idempotency_key = None;
        assert_ne!(w.new_id(), w.new_id());
    }
}
