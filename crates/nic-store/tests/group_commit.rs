//! SQLite's group commit: appends waiting together are committed in one transaction, each in its
//! own savepoint. Every append must be answered exactly as if it had been committed alone: refused
//! ones (wrong expected version, event-id conflict) and retries (`duplicate`) beside appends that
//! commit, later appends to a stream chaining onto earlier ones of the same batch, and a failed
//! commit failing every append of its batch and writing nothing. Real SQLite files, as in production.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nic_events::{ExpectedVersion, Metadata, NewEvent};
use nic_store::sqlite::SqliteStore;
use nic_store::{AppendOutcome, EventStore, StoreError};

mod common;
use common::{chains_verify, event, follow, read_everything, settle, stream, Pending};

async fn fresh() -> Arc<SqliteStore> {
    fresh_at().await.0
}

async fn fresh_at() -> (Arc<SqliteStore>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join("nic-ledger-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("group-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), path)
}

fn events(range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(event).collect()
}

fn spawn_append(
    store: &Arc<SqliteStore>,
    s: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Pending {
    let (store, s) = (store.clone(), stream(s));
    tokio::spawn(async move { store.append(&s, expected, events).await })
}

/// Queues the appends `queue` spawns while the writer connection is held, so that they wait
/// together and the committer takes them as one batch once it is let go. On a current-thread
/// runtime the spawned appends run, and so queue, in the order they were spawned.
async fn one_batch(store: &Arc<SqliteStore>, queue: impl FnOnce() -> Vec<Pending>) -> Vec<Pending> {
    let held = store.writer().acquire().await.unwrap();
    // A first append takes the committer's attention alone and waits for the connection…
    let opener = spawn_append(store, "pdsa-opener", ExpectedVersion::Any, vec![event(0)]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // … while the others queue up behind it.
    let pending = queue();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pending.iter().all(|p| !p.is_finished()),
        "nothing commits while the writer is held"
    );
    drop(held);
    opener.await.unwrap().unwrap();
    pending
}

#[tokio::test]
async fn a_batch_answers_each_append_as_if_it_were_alone() {
    use ExpectedVersion::*;
    let store = fresh().await;
    let first = events(1..3);
    let retry = first.clone();
    let taken = event(10);
    let reused = vec![NewEvent {
        event_id: taken.event_id,
        ..event(11)
    }];
    let half_known = vec![
        NewEvent {
            event_id: first[0].event_id,
            ..event(12)
        },
        event(13),
    ];
    let pending = one_batch(&store, || {
        vec![
            // 0: creates pdsa-a at versions 0-1.
            spawn_append(&store, "pdsa-a", NoStream, first),
            // 1: chains onto 0, in the same transaction: versions 2-3.
            spawn_append(&store, "pdsa-a", Exact(1), events(3..5)),
            // 2: lost the race to 1: refused, writes nothing.
            spawn_append(&store, "pdsa-a", Exact(1), events(5..6)),
            // 3: the stream exists by now.
            spawn_append(&store, "pdsa-a", NoStream, events(6..7)),
            // 4: a retry of 0, in the same batch: 0's outcome, duplicate.
            spawn_append(&store, "pdsa-a", NoStream, retry),
            // 5: another stream.
            spawn_append(&store, "measure-b", Any, vec![taken]),
            // 6: 5's event id, to another stream: a conflict.
            spawn_append(&store, "pdsa-c", Any, reused),
            // 7: one id of 0 and a new one: a conflict, even to the same stream.
            spawn_append(&store, "pdsa-a", Any, half_known),
            // 8: still chains onto 1, after the refusals between them.
            spawn_append(&store, "pdsa-a", StreamExists, events(20..21)),
        ]
    })
    .await;
    let out = settle(pending).await;
    let ok = |i: usize| -> AppendOutcome {
        match &out[i] {
            Ok(o) => *o,
            Err(e) => panic!("append {i} failed: {e:?}"),
        }
    };
    let (a0, a1, a5, a8) = (ok(0), ok(1), ok(5), ok(8));
    assert_eq!((a0.stream_version, a0.duplicate), (1, false));
    assert_eq!((a1.stream_version, a1.duplicate), (3, false));
    assert_eq!(a1.first_position, a0.last_position + 1);
    assert!(matches!(
        out[2],
        Err(StoreError::WrongExpectedVersion {
            actual: Some(3),
            ..
        })
    ));
    assert!(matches!(
        out[3],
        Err(StoreError::WrongExpectedVersion {
            actual: Some(3),
            ..
        })
    ));
    assert_eq!(
        ok(4),
        AppendOutcome {
            duplicate: true,
            ..a0
        }
    );
    assert_eq!(a5.stream_version, 0);
    assert!(matches!(out[6], Err(StoreError::EventIdConflict { .. })));
    assert!(matches!(out[7], Err(StoreError::EventIdConflict { .. })));
    assert_eq!((a8.stream_version, a8.duplicate), (4, false));
    // Positions follow the order of the batch, with no gap left by the refused appends.
    assert_eq!(a5.first_position, a1.last_position + 1);
    assert_eq!(a8.first_position, a5.last_position + 1);

    let a = store.read_stream(&stream("pdsa-a"), 0, 100).await.unwrap();
    assert_eq!(
        a.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(store
        .read_stream(&stream("pdsa-c"), 0, 100)
        .await
        .unwrap()
        .is_empty());
    // The opener, pdsa-a's five events and measure-b's one.
    assert_eq!(chains_verify(store.as_ref()).await, 7);
    let all = read_everything(store.as_ref()).await;
    assert!(all
        .windows(2)
        .all(|w| w[1].global_position == w[0].global_position + 1));
}

#[tokio::test]
async fn a_failed_commit_fails_every_append_of_its_batch_and_writes_nothing() {
    let store = fresh().await;
    // A deferred foreign key that one stream's events break: checked at COMMIT only.
    for sql in [
        "CREATE TABLE test_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE test_poison (parent INTEGER REFERENCES test_parent (id) \
         DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER test_poison_commit AFTER INSERT ON events \
         WHEN NEW.stream_id = 'pdsa-poison' BEGIN INSERT INTO test_poison VALUES (42); END",
    ] {
        sqlx::query(sql).execute(store.writer()).await.unwrap();
    }
    let pending = one_batch(&store, || {
        let mut p: Vec<Pending> = (0..5)
            .map(|i| {
                spawn_append(
                    &store,
                    &format!("pdsa-fine{i}"),
                    ExpectedVersion::NoStream,
                    vec![event(i)],
                )
            })
            .collect();
        p.push(spawn_append(
            &store,
            "pdsa-poison",
            ExpectedVersion::Any,
            vec![event(9)],
        ));
        p
    })
    .await;
    for (i, outcome) in settle(pending).await.into_iter().enumerate() {
        assert!(
            matches!(outcome, Err(StoreError::CommitFailed(_))),
            "append {i}: {outcome:?}"
        );
    }
    // Only the opener was written; the committer goes on with the next batch.
    assert_eq!(read_everything(store.as_ref()).await.len(), 1);
    let o = store
        .append(
            &stream("pdsa-fine0"),
            ExpectedVersion::NoStream,
            vec![event(0)],
        )
        .await
        .unwrap();
    assert_eq!((o.stream_version, o.first_position), (0, 2));
    assert_eq!(chains_verify(store.as_ref()).await, 2);
}

#[tokio::test]
async fn appends_too_many_for_one_batch_are_split_between_batches() {
    let store = fresh().await;
    let limit = nic_events::limits::APPEND_EVENTS_MAX as u64;
    let pending = one_batch(&store, || {
        (0..6)
            .map(|i| {
                spawn_append(
                    &store,
                    "pdsa-big",
                    ExpectedVersion::Any,
                    events(i * limit..(i + 1) * limit),
                )
            })
            .chain((0..300).map(|i| {
                spawn_append(
                    &store,
                    &format!("pdsa-small{i}"),
                    ExpectedVersion::NoStream,
                    vec![event(i)],
                )
            }))
            .collect()
    })
    .await;
    let out = settle(pending).await;
    let mut big: Vec<_> = out[..6].iter().map(|o| o.as_ref().unwrap()).collect();
    big.sort_by_key(|o| o.stream_version);
    for (i, o) in big.iter().enumerate() {
        assert_eq!(o.stream_version, (i as u64 + 1) * limit - 1);
        assert_eq!(o.last_position - o.first_position + 1, limit);
    }
    assert!(out[6..]
        .iter()
        .all(|o| o.as_ref().is_ok_and(|o| !o.duplicate)));
    assert_eq!(chains_verify(store.as_ref()).await, 1 + 6 * limit + 300);
}

/// Many writers at once, to one contended stream (deciding again on a lost race, as commands do)
/// and to streams of their own, with stale expectations and retries mixed in: every append is
/// answered as if alone, and a follower sees exactly the final log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_appends_to_one_and_to_many_streams() {
    const WRITERS: u64 = 32;
    const APPENDS: u64 = 30;
    let store = fresh().await;
    // Own streams: two events per append; the shared stream: one per writer and append.
    let follower = follow(store.clone(), WRITERS * APPENDS * 3);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let own = stream(&format!("pdsa-own{w}"));
                let shared = stream("pdsa-shared");
                let mut refused = 0;
                for i in 0..APPENDS {
                    let n = w * 10_000 + i * 10;
                    let expected = if i == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(i * 2 - 1)
                    };
                    let batch = vec![event(n), event(n + 1)];
                    let o = store.append(&own, expected, batch.clone()).await.unwrap();
                    assert_eq!((o.stream_version, o.duplicate), (i * 2 + 1, false));
                    // A retry gets the same outcome back; a stale expectation is refused.
                    let again = store.append(&own, expected, batch).await.unwrap();
                    assert_eq!(
                        again,
                        AppendOutcome {
                            duplicate: true,
                            ..o
                        }
                    );
                    let stale = store.append(&own, expected, vec![event(n + 2)]).await;
                    assert!(matches!(
                        stale,
                        Err(StoreError::WrongExpectedVersion { actual: Some(v), .. })
                            if v == i * 2 + 1
                    ));
                    // The shared stream: read its version, append after it, decide again on a
                    // lost race.
                    let e = event(n + 3);
                    loop {
                        let version = store.stream_version(&shared).await.unwrap();
                        let expected =
                            version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                        match store.append(&shared, expected, vec![e.clone()]).await {
                            Ok(o) => {
                                assert_eq!(o.stream_version, version.map_or(0, |v| v + 1));
                                break;
                            }
                            Err(StoreError::WrongExpectedVersion { .. }) => refused += 1,
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = 0;
    for w in writers {
        refused += w.await.unwrap();
    }
    let seen = follower.await.unwrap();
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len() as u64, WRITERS * APPENDS * 3);
    assert_eq!(
        seen.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        "the follower saw exactly the log, in order"
    );
    assert!(all
        .windows(2)
        .all(|w| w[1].global_position == w[0].global_position + 1));
    let ids: HashSet<_> = all.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), all.len(), "duplicated events");
    let mut versions: HashMap<&str, Vec<u64>> = HashMap::new();
    for e in &all {
        versions
            .entry(e.stream_id.as_str())
            .or_default()
            .push(e.stream_version);
    }
    for (s, v) in versions {
        assert_eq!(v, (0..v.len() as u64).collect::<Vec<_>>(), "{s}");
    }
    assert_eq!(
        store.stream_version(&stream("pdsa-shared")).await.unwrap(),
        Some(WRITERS * APPENDS - 1)
    );
    assert_eq!(chains_verify(store.as_ref()).await, WRITERS * APPENDS * 3);
    eprintln!("{refused} appends to the shared stream lost a race and were decided again");
}

/// The writer does no automatic WAL checkpoint (it would run inside a batch's COMMIT): the
/// checkpointer copies the WAL back into the database file, off the append path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_the_wal_back_into_the_database() {
    let (store, path) = fresh_at().await;
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    let limit = nic_events::limits::APPEND_EVENTS_MAX as u64;
    let padding = "x".repeat(2_000);
    for i in 0..5 {
        let big = (i * limit..(i + 1) * limit)
            .map(|n| {
                let data = serde_json::json!({ "n": n, "padding": padding });
                NewEvent::new("test_happened", 1, &data, &Metadata::default()).unwrap()
            })
            .collect();
        store
            .append(&stream("pdsa-wal"), ExpectedVersion::Any, big)
            .await
            .unwrap();
    }
    // Over 10 MB, far more than SQLite's 1,000-page automatic checkpoint, all still in the WAL.
    assert_eq!(size(), before, "no checkpoint inside the appends' commits");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while size() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the WAL was never checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chains_verify(store.as_ref()).await, 5 * limit);
}
