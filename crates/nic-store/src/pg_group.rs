//! PostgreSQL group commit: single-event appends that arrive while `PG_APPEND_STATEMENTS_MAX`
//! append statements are running wait in a queue, and the next statement to end hands the queue
//! to a task that INSERTs it in one statement (`GROUP_INSERT`): one transaction, one commit, for
//! up to `PG_APPEND_GROUP_MAX` appends. Each row still goes in only if its stream has no event
//! after the head it was chained from, and a row that a unique constraint refuses is left out
//! (`ON CONFLICT DO NOTHING`), so the others are not: its append reads the head and tries again,
//! as a lone append does. A lone writer never waits: with a statement free, an append runs its
//! own (`Entry::Alone`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::keys::{self, EventKey};
use crate::limits::{PG_APPEND_GROUP_MAX, PG_APPEND_STATEMENTS_MAX};
use crate::pg_warm::Warm;

/// Many single-event appends in one INSERT, each row after its own stream's head, and their
/// keys. The transaction id is taken before any position, as in a lone append.
const GROUP_INSERT: &str = "WITH ins AS (INSERT INTO events (global_position, event_id, \
     stream_id, category, stream_version, event_type, schema_version, data, metadata, \
     recorded_at, hash, transaction_id) \
     SELECT CASE WHEN w.xid IS NOT NULL THEN nextval('events_global_position_seq') END, \
         u.id, u.s, u.c, u.v + 1, u.t, u.sv, u.d::json, u.m::json, u.r, u.h, w.xid \
     FROM (SELECT pg_current_xact_id() AS xid) w, \
          unnest($1::text[], $2::text[], $3::int8[], $4::uuid[], $5::text[], $6::int4[], \
                 $7::text[], $8::text[], $9::timestamptz[], $10::text[]) \
              WITH ORDINALITY AS u(s, c, v, id, t, sv, d, m, r, h, n) \
     WHERE NOT EXISTS (SELECT FROM events e WHERE e.stream_id = u.s AND e.stream_version > u.v) \
     ORDER BY u.n \
     ON CONFLICT DO NOTHING \
     RETURNING event_id, stream_id, recorded_at, global_position), \
     k AS (INSERT INTO personal_keys (key_id, key, replacement, event_id, stream_id, field, \
         class, author, program_id, created_at, fields) \
     SELECT k.id, k.key, NULL, k.ev, ins.stream_id, '', '', k.a, k.p, ins.recorded_at, k.f \
     FROM unnest($11::uuid[], $12::bytea[], $13::uuid[], $14::text[], $15::text[], \
                 $16::uuid[]) AS k(id, key, ev, f, a, p) \
     JOIN ins ON ins.event_id = k.ev) \
     SELECT event_id, global_position FROM ins";

/// One single-event append, its hash chained from `after` (-1: the stream is empty).
pub(crate) struct Row {
    pub stream: String,
    pub category: String,
    pub after: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
    pub hash: String,
    pub keys: Vec<EventKey>,
}

/// What became of a queued append.
pub(crate) enum Grouped {
    /// Written at this position.
    Written(i64),
    /// Not written: its stream had moved past its head, or a unique constraint refused it.
    Refused,
    /// The group's statement failed (or its task ended): the append runs its own statement.
    Alone,
}

struct Queued {
    row: Row,
    done: oneshot::Sender<Grouped>,
}

#[derive(Default)]
struct State {
    running: usize,
    queue: Vec<Queued>,
}

pub(crate) struct Groups {
    warm: Arc<Warm>,
    state: Mutex<State>,
}

/// How an append goes.
pub(crate) enum Entry {
    /// With its own statement, while it holds the slot.
    Alone(Slot),
    /// In a group: the answer comes here.
    Queued(oneshot::Receiver<Grouped>),
}

/// A running statement's place among `PG_APPEND_STATEMENTS_MAX`; given back when dropped, and
/// then handed to the queue if anything waits.
pub(crate) struct Slot(Arc<Groups>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Groups {
    pub fn new(warm: Arc<Warm>) -> Arc<Self> {
        Arc::new(Self {
            warm,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters an append: alone when a statement is free and nothing waits, else queued. `row`
    /// is only called for a queued one.
    pub fn enter(self: &Arc<Self>, row: impl FnOnce() -> Row) -> Entry {
        let mut state = self.lock();
        if state.running < PG_APPEND_STATEMENTS_MAX && state.queue.is_empty() {
            state.running += 1;
            return Entry::Alone(Slot(self.clone()));
        }
        let (done, answer) = oneshot::channel();
        state.queue.push(Queued { row: row(), done });
        Entry::Queued(answer)
    }

    /// A statement ended: the queue, if anything waits, goes next, in the slot it leaves.
    fn release(self: &Arc<Self>) {
        let group = {
            let mut state = self.lock();
            if state.queue.is_empty() {
                state.running -= 1;
                return;
            }
            take(&mut state.queue)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(self.clone().drain(group));
            }
            // No runtime (the store is dropped on its way out): the waiters run alone.
            Err(_) => {
                self.lock().running -= 1;
                for q in group {
                    let _ = q.done.send(Grouped::Alone);
                }
            }
        }
    }

    /// Writes one group in the slot it was handed; the slot is released when the write ends,
    /// panics or is dropped, so the queue is never left without a writer.
    async fn drain(self: Arc<Self>, group: Vec<Queued>) {
        let _slot = Slot(self.clone());
        self.write(group).await;
    }

    async fn write(&self, group: Vec<Queued>) {
        let rows: Vec<&Row> = group.iter().map(|q| &q.row).collect();
        let keys: Vec<EventKey> = rows.iter().flat_map(|r| r.keys.iter().cloned()).collect();
        let query = sqlx::query_as::<_, (Uuid, i64)>(GROUP_INSERT)
            .bind(rows.iter().map(|r| r.stream.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.category.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.after).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.data.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.metadata.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.hash.as_str()).collect::<Vec<_>>());
        let written = async {
            let mut conn = self.warm.take().await?;
            let written = keys::pg_bind_keys(query, &keys)
                .fetch_all(&mut *conn)
                .await?;
            self.warm.give(conn);
            Ok::<_, sqlx::Error>(written)
        }
        .await;
        match written {
            Ok(written) => {
                let positions: HashMap<Uuid, i64> = written.into_iter().collect();
                for q in group {
                    let answer = match positions.get(&q.row.event_id) {
                        Some(&p) => Grouped::Written(p),
                        None => Grouped::Refused,
                    };
                    let _ = q.done.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, appends = group.len(), "a grouped append failed; each runs alone");
                for q in group {
                    let _ = q.done.send(Grouped::Alone);
                }
            }
        }
    }
}

/// The next group: the oldest queued appends, up to `PG_APPEND_GROUP_MAX`.
fn take(queue: &mut Vec<Queued>) -> Vec<Queued> {
    if queue.len() <= PG_APPEND_GROUP_MAX {
        std::mem::take(queue)
    } else {
        queue.drain(..PG_APPEND_GROUP_MAX).collect()
    }
}
