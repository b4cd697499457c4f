//! The store conformance suite: every test runs against PostgreSQL and against SQLite, each on a
//! fresh real database, and both backends must pass the same assertions.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{fresh_store, Db};
use nic_events::{ExpectedVersion, Metadata, NewEvent, StreamId};
use nic_store::{EventStore, ReadAll, StoreError, Subscription};
use sqlx::Connection;

/// Runs each named test against both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Db::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Db::Sqlite).await;
                }
            )*
        }
    };
}

conformance!(
    expected_version_cases,
    failed_expectation_writes_nothing,
    retried_append_returns_the_original_result,
    invalid_appends_are_refused,
    versions_are_contiguous_and_the_log_is_ordered,
    reads_filter_and_page,
    reads_as_of_a_position_or_a_time,
    reads_by_position,
    one_writer_wins_each_version,
    many_writers_on_many_streams_lose_and_duplicate_nothing,
    readers_never_skip_an_uncommitted_earlier_event,
    subscription_catches_up_then_follows_live,
    subscription_in_another_process_is_woken,
    a_subscription_gives_what_a_fresh_reader_reads_while_two_processes_append,
    a_stream_another_process_created_is_not_created_again,
    the_database_refuses_update_and_delete,
    the_hash_chain_locates_a_changed_row,
);

fn stream(name: &str) -> StreamId {
    StreamId::parse(name).unwrap()
}

fn event(n: u64) -> NewEvent {
    let meta = Metadata {
        actor: Some("test".into()),
        ..Metadata::default()
    };
    NewEvent::new("test_happened", 1, &serde_json::json!({ "n": n }), &meta).unwrap()
}

fn events(range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(event).collect()
}

fn n_of(e: &nic_events::RecordedEvent) -> u64 {
    let v: serde_json::Value = serde_json::from_str(e.data.get()).unwrap();
    v["n"].as_u64().unwrap()
}

/// Waits until readers of the global log can see `position`. On PostgreSQL a reader holds back
/// events while an earlier append of the store is still in flight, so a read right after an append
/// may briefly lag; it must catch up, never skip.
async fn settle(store: &dyn EventStore, position: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.head_position().await.unwrap() < position {
        assert!(
            tokio::time::Instant::now() < deadline,
            "position {position} never became readable"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn read_everything(store: &dyn EventStore) -> Vec<nic_events::RecordedEvent> {
    let mut all = Vec::new();
    let mut q = ReadAll::after(0, 500);
    loop {
        let page = store.read_all(&q).await.unwrap();
        let Some(last) = page.last() else { return all };
        q.after = last.global_position;
        all.extend(page);
    }
}

async fn expected_version_cases(db: Db) {
    use ExpectedVersion::*;
    let (store, _) = fresh_store(db).await;
    let s = stream("pdsa-1");
    let wrong = |r: Result<_, StoreError>, want: Option<u64>| match r {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => assert_eq!(actual, want),
        other => panic!("expected a version conflict, got {other:?}"),
    };
    wrong(store.append(&s, StreamExists, events(0..1)).await, None);
    wrong(store.append(&s, Exact(0), events(0..1)).await, None);
    let first = store.append(&s, NoStream, events(0..2)).await.unwrap();
    assert_eq!(first.stream_version, 1);
    assert!(!first.duplicate);
    assert_eq!(first.last_position - first.first_position, 1);
    wrong(store.append(&s, NoStream, events(2..3)).await, Some(1));
    wrong(store.append(&s, Exact(0), events(2..3)).await, Some(1));
    wrong(store.append(&s, Exact(2), events(2..3)).await, Some(1));
    assert_eq!(
        store
            .append(&s, Exact(1), events(2..3))
            .await
            .unwrap()
            .stream_version,
        2
    );
    assert_eq!(
        store
            .append(&s, StreamExists, events(3..4))
            .await
            .unwrap()
            .stream_version,
        3
    );
    assert_eq!(
        store
            .append(&s, Any, events(4..5))
            .await
            .unwrap()
            .stream_version,
        4
    );
    let fresh = stream("pdsa-2");
    assert_eq!(
        store
            .append(&fresh, Any, events(0..1))
            .await
            .unwrap()
            .stream_version,
        0
    );
    assert_eq!(store.stream_version(&s).await.unwrap(), Some(4));
    assert_eq!(
        store.stream_version(&stream("pdsa-none")).await.unwrap(),
        None
    );
}

async fn failed_expectation_writes_nothing(db: Db) {
    let (store, _) = fresh_store(db).await;
    let s = stream("measure-1");
    let head = store
        .append(&s, ExpectedVersion::NoStream, events(0..3))
        .await
        .unwrap()
        .last_position;
    settle(store.as_ref(), head).await;
    let err = store
        .append(&s, ExpectedVersion::Exact(7), events(3..13))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                actual: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(store.read_stream(&s, 0, 100).await.unwrap().len(), 3);
    // The next successful append follows directly: no position was spent on the failure.
    let next = store
        .append(&s, ExpectedVersion::Exact(2), events(3..4))
        .await
        .unwrap();
    assert_eq!(next.first_position, head + 1);
}

async fn retried_append_returns_the_original_result(db: Db) {
    let (store, _) = fresh_store(db).await;
    let s = stream("pdsa-retry");
    let batch = events(0..3);
    let again: Vec<NewEvent> = batch.clone();
    let original = store
        .append(&s, ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    let head = store
        .append(&stream("pdsa-other"), ExpectedVersion::Any, events(9..10))
        .await
        .unwrap()
        .last_position;
    settle(store.as_ref(), head).await;
    // The retry carries an expectation that no longer holds; it is still recognised.
    let retry = store
        .append(&s, ExpectedVersion::NoStream, again.clone())
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (
            retry.stream_version,
            retry.first_position,
            retry.last_position
        ),
        (
            original.stream_version,
            original.first_position,
            original.last_position
        )
    );
    assert_eq!(store.head_position().await.unwrap(), head);
    assert_eq!(store.read_stream(&s, 0, 100).await.unwrap().len(), 3);
    // The same ids in another stream, or mixed with new ones, are a conflict that writes nothing.
    let err = store
        .append(&stream("pdsa-x"), ExpectedVersion::Any, again.clone())
        .await;
    assert!(
        matches!(err, Err(StoreError::EventIdConflict { .. })),
        "{err:?}"
    );
    let mut mixed = vec![again[0].clone()];
    mixed.push(event(99));
    let err = store.append(&s, ExpectedVersion::Any, mixed).await;
    assert!(
        matches!(err, Err(StoreError::EventIdConflict { .. })),
        "{err:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), head);
}

async fn invalid_appends_are_refused(db: Db) {
    let (store, _) = fresh_store(db).await;
    let s = stream("pdsa-bad");
    let refused = |r: Result<_, StoreError>| {
        assert!(matches!(r, Err(StoreError::InvalidAppend(_))), "{r:?}");
    };
    refused(store.append(&s, ExpectedVersion::Any, vec![]).await);
    let twice = event(1);
    refused(
        store
            .append(&s, ExpectedVersion::Any, vec![twice.clone(), twice])
            .await,
    );
    let too_many = events(0..(nic_events::limits::APPEND_EVENTS_MAX as u64 + 1));
    refused(store.append(&s, ExpectedVersion::Any, too_many).await);
    let mut untyped = event(2);
    untyped.event_type.clear();
    refused(store.append(&s, ExpectedVersion::Any, vec![untyped]).await);
    let mut unversioned = event(3);
    unversioned.schema_version = 0;
    refused(
        store
            .append(&s, ExpectedVersion::Any, vec![unversioned])
            .await,
    );
    assert_eq!(store.head_position().await.unwrap(), 0);
}

async fn versions_are_contiguous_and_the_log_is_ordered(db: Db) {
    let (store, _) = fresh_store(db).await;
    let mut last = 0;
    for round in 0..4u64 {
        for s in ["pdsa-a", "pdsa-b", "measure-c"] {
            last = store
                .append(
                    &stream(s),
                    ExpectedVersion::Any,
                    events(round * 10..round * 10 + 3),
                )
                .await
                .unwrap()
                .last_position;
        }
    }
    settle(store.as_ref(), last).await;
    for s in ["pdsa-a", "pdsa-b", "measure-c"] {
        let read = store.read_stream(&stream(s), 0, 100).await.unwrap();
        let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (0..12).collect::<Vec<_>>(), "{s}");
        let from_five = store.read_stream(&stream(s), 5, 3).await.unwrap();
        assert_eq!(
            from_five
                .iter()
                .map(|e| e.stream_version)
                .collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
    }
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len(), 36);
    assert!(all
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
    assert_eq!(
        store.head_position().await.unwrap(),
        all.last().unwrap().global_position
    );
    // Within a stream, global order agrees with version order.
    let mut last_version: BTreeMap<String, u64> = BTreeMap::new();
    for e in &all {
        if let Some(prev) = last_version.insert(e.stream_id.to_string(), e.stream_version) {
            assert_eq!(e.stream_version, prev + 1);
        }
        assert_eq!(e.metadata().unwrap().actor.as_deref(), Some("test"));
        assert_eq!(e.hash.len(), 64);
    }
}

async fn reads_filter_and_page(db: Db) {
    let (store, _) = fresh_store(db).await;
    store
        .append(&stream("pdsa-1"), ExpectedVersion::Any, events(0..5))
        .await
        .unwrap();
    let mut other = events(5..8);
    for e in &mut other {
        e.event_type = "other_happened".into();
    }
    store
        .append(&stream("measure-1"), ExpectedVersion::Any, other)
        .await
        .unwrap();
    let last = store
        .append(&stream("network-1"), ExpectedVersion::Any, events(8..10))
        .await
        .unwrap();
    settle(store.as_ref(), last.last_position).await;

    let page = store.read_all(&ReadAll::after(0, 4)).await.unwrap();
    assert_eq!(page.iter().map(n_of).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    let rest = store
        .read_all(&ReadAll::after(page[3].global_position, 100))
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(n_of).collect::<Vec<_>>(),
        (4..10).collect::<Vec<_>>()
    );

    let q = ReadAll {
        categories: vec!["measure".into(), "network".into()],
        ..ReadAll::after(0, 100)
    };
    let got: Vec<u64> = store.read_all(&q).await.unwrap().iter().map(n_of).collect();
    assert_eq!(got, vec![5, 6, 7, 8, 9]);
    let q = ReadAll {
        event_types: vec!["other_happened".into()],
        ..ReadAll::after(0, 100)
    };
    let got: Vec<u64> = store.read_all(&q).await.unwrap().iter().map(n_of).collect();
    assert_eq!(got, vec![5, 6, 7]);
    let q = ReadAll {
        categories: vec!["pdsa".into()],
        event_types: vec!["other_happened".into()],
        ..ReadAll::after(0, 100)
    };
    assert!(store.read_all(&q).await.unwrap().is_empty());
    // A zero limit still reads one event; an oversized one is capped.
    assert_eq!(
        store.read_all(&ReadAll::after(0, 0)).await.unwrap().len(),
        1
    );
    assert_eq!(
        store
            .read_all(&ReadAll::after(0, usize::MAX))
            .await
            .unwrap()
            .len(),
        10
    );
}

async fn reads_as_of_a_position_or_a_time(db: Db) {
    let (store, _) = fresh_store(db).await;
    let s = stream("pdsa-asof");
    let early = store
        .append(&s, ExpectedVersion::Any, events(0..3))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let late = store
        .append(&s, ExpectedVersion::Any, events(3..6))
        .await
        .unwrap();
    settle(store.as_ref(), late.last_position).await;

    let q = ReadAll {
        up_to_position: Some(early.last_position),
        ..ReadAll::after(0, 100)
    };
    assert_eq!(
        store
            .read_all(&q)
            .await
            .unwrap()
            .iter()
            .map(n_of)
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let q = ReadAll {
        up_to_time: Some(cut),
        ..ReadAll::after(0, 100)
    };
    assert_eq!(store.read_all(&q).await.unwrap().len(), 3);
    assert_eq!(store.position_at(cut).await.unwrap(), early.last_position);
    let before_all = cut - chrono::Duration::days(1);
    assert_eq!(store.position_at(before_all).await.unwrap(), 0);
}

async fn reads_by_position(db: Db) {
    let (store, _) = fresh_store(db).await;
    let a = store
        .append(&stream("pdsa-a"), ExpectedVersion::Any, events(0..4))
        .await
        .unwrap();
    let b = store
        .append(&stream("pdsa-b"), ExpectedVersion::Any, events(4..8))
        .await
        .unwrap();
    settle(store.as_ref(), b.last_position).await;
    let all = read_everything(store.as_ref()).await;
    // Asked out of order, with a position past the head and one twice: in order, each once.
    let wanted = [
        b.first_position + 1,
        a.first_position,
        b.last_position + 100,
        a.first_position + 2,
        a.first_position,
    ];
    let got = store.read_positions(&wanted).await.unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|e| wanted.contains(&e.global_position))
        .collect();
    assert_eq!(got.len(), 3);
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g.global_position, e.global_position);
        assert_eq!(g.event_id, e.event_id);
        assert_eq!(g.hash, e.hash);
        assert_eq!(g.data.get(), e.data.get());
    }
    assert_eq!(
        got.iter().map(n_of).collect::<Vec<_>>(),
        vec![0, 2, 5],
        "in global order"
    );
    assert!(store.read_positions(&[]).await.unwrap().is_empty());
}

async fn one_writer_wins_each_version(db: Db) {
    let (store, _) = fresh_store(db).await;
    let s = stream("pdsa-contended");
    const WRITERS: u64 = 12;
    const ROUNDS: u64 = 8;
    for round in 0..ROUNDS {
        let expected = if round == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(round - 1)
        };
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, s) = (store.clone(), s.clone());
                tokio::spawn(async move {
                    store
                        .append(&s, expected, vec![event(round * 100 + w)])
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(o) => {
                    wins += 1;
                    assert_eq!(o.stream_version, round);
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    assert_eq!(actual, Some(round))
                }
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    let read = store.read_stream(&s, 0, 1000).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (0..ROUNDS).collect::<Vec<_>>()
    );
}

async fn many_writers_on_many_streams_lose_and_duplicate_nothing(db: Db) {
    let (store, _) = fresh_store(db).await;
    const WRITERS: u64 = 24;
    const APPENDS: u64 = 25;
    // A reader follows the log while the writers write.
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut sub = Subscription::new(store, ReadAll::after(0, 0));
            let mut seen = Vec::new();
            while (seen.len() as u64) < WRITERS * APPENDS * 2 {
                let batch = tokio::time::timeout(Duration::from_secs(30), sub.next_batch())
                    .await
                    .expect("the follower stalled")
                    .unwrap();
                seen.extend(batch);
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(&format!("pdsa-w{w}"));
                for i in 0..APPENDS {
                    let n = w * 1000 + i * 2;
                    let expected = if i == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(i * 2 - 1)
                    };
                    store
                        .append(&s, expected, vec![event(n), event(n + 1)])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let seen = follower.await.unwrap();
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len() as u64, WRITERS * APPENDS * 2);
    let ids: HashSet<_> = all.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), all.len(), "duplicated events");
    let expected_ns: HashSet<u64> = (0..WRITERS)
        .flat_map(|w| (0..APPENDS * 2).map(move |i| w * 1000 + i))
        .collect();
    assert_eq!(all.iter().map(n_of).collect::<HashSet<_>>(), expected_ns);
    // The live follower saw exactly the final log, in the same order.
    let seen_positions: Vec<u64> = seen.iter().map(|e| e.global_position).collect();
    let all_positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(seen_positions, all_positions);
}

/// T1 appends and holds its transaction; T2 appends and commits; a reader reads; T1 commits; the
/// reader reads again and has both, in one order.
async fn readers_never_skip_an_uncommitted_earlier_event(db: Db) {
    let (store, url) = fresh_store(db).await;
    let before = store
        .append(&stream("pdsa-before"), ExpectedVersion::Any, events(0..1))
        .await
        .unwrap();
    let start = before.last_position;
    settle(store.as_ref(), start).await;
    let t1_event = event(1);
    let t1_id = t1_event.event_id;
    let t2_event = event(2);
    let t2_id = t2_event.event_id;

    match db {
        Db::Postgres => {
            let mut t1_conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut t1 = t1_conn.begin().await.unwrap();
            nic_store::scratch::append_in(&mut t1, "pdsa-t1", "pdsa", &t1_event).await;
            store
                .append(&stream("pdsa-t2"), ExpectedVersion::Any, vec![t2_event])
                .await
                .unwrap();
            let seen = store.read_all(&ReadAll::after(start, 100)).await.unwrap();
            assert!(
                seen.is_empty(),
                "the reader saw T2 while T1, earlier, was still open: {seen:?}"
            );
            t1.commit().await.unwrap();
        }
        Db::Sqlite => {
            // SQLite has one writer at a time: T2 waits for T1, so it cannot commit first.
            let mut t1_conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut t1_conn)
                .await
                .unwrap();
            let hash = nic_events::chain_hash(
                nic_events::GENESIS_HASH,
                t1_id,
                "pdsa-t1",
                0,
                "test_happened",
                1,
                0,
                t1_event.data.get(),
                t1_event.metadata.get(),
            );
            sqlx::query(
                "INSERT INTO events (event_id, stream_id, category, stream_version, event_type, \
                 schema_version, data, metadata, recorded_at, hash) \
                 VALUES (?, 'pdsa-t1', 'pdsa', 0, 'test_happened', 1, ?, ?, 0, ?)",
            )
            .bind(t1_id.to_string())
            .bind(t1_event.data.get())
            .bind(t1_event.metadata.get())
            .bind(hash)
            .execute(&mut t1_conn)
            .await
            .unwrap();
            let t2 = {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append(&stream("pdsa-t2"), ExpectedVersion::Any, vec![t2_event])
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(
                !t2.is_finished(),
                "T2 committed while T1 held the write lock"
            );
            let seen = store.read_all(&ReadAll::after(start, 100)).await.unwrap();
            assert!(
                seen.is_empty(),
                "the reader saw uncommitted events: {seen:?}"
            );
            sqlx::query("COMMIT").execute(&mut t1_conn).await.unwrap();
            t2.await.unwrap().unwrap();
        }
    }
    settle(store.as_ref(), start + 2).await;
    let seen = store.read_all(&ReadAll::after(start, 100)).await.unwrap();
    let ids: Vec<_> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(
        ids,
        vec![t1_id, t2_id],
        "T1 took its position first, so it reads first"
    );
}

async fn subscription_catches_up_then_follows_live(db: Db) {
    let (store, _) = fresh_store(db).await;
    store
        .append(&stream("pdsa-s"), ExpectedVersion::Any, events(0..30))
        .await
        .unwrap();
    store
        .append(&stream("measure-s"), ExpectedVersion::Any, events(100..105))
        .await
        .unwrap();
    let mut sub = Subscription::new(store.clone(), ReadAll::after(0, 0));
    let mut pdsa_only = Subscription::new(
        store.clone(),
        ReadAll {
            categories: vec!["pdsa".into()],
            ..ReadAll::after(10, 0)
        },
    );
    let mut got = Vec::new();
    while got.len() < 35 {
        got.push(n_of(&sub.next().await.unwrap()));
    }
    assert_eq!(got[..30], (0..30).collect::<Vec<_>>()[..]);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 30..50 {
                store
                    .append(&stream("pdsa-s"), ExpectedVersion::Any, vec![event(i)])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for want in 30..50 {
        let e = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("live event")
            .unwrap();
        assert_eq!(n_of(&e), want);
    }
    writer.await.unwrap();
    let mut filtered = Vec::new();
    while filtered.len() < 40 {
        filtered.push(n_of(&pdsa_only.next().await.unwrap()));
    }
    assert_eq!(filtered, (10..50).collect::<Vec<_>>());
    assert!(sub.position() > 0);
}

async fn subscription_in_another_process_is_woken(db: Db) {
    let (writer_store, url) = fresh_store(db).await;
    // A second, independent store on the same database stands for another process.
    let reader_store = nic_store::open(&url).await.unwrap();
    let mut sub = Subscription::new(reader_store, ReadAll::after(0, 0));
    let waiting = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(n_of(&sub.next().await.unwrap()));
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..5 {
        writer_store
            .append(&stream("pdsa-p"), ExpectedVersion::Any, vec![event(i)])
            .await
            .unwrap();
    }
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
}

/// Two processes append side by side, now one at a time, now together, in single events and in
/// batches: a subscription in one of them gets every event in order, none skipped, each exactly as
/// a third process reads it back from the database (a store may hand its own appends to its
/// readers without reading them).
async fn a_subscription_gives_what_a_fresh_reader_reads_while_two_processes_append(db: Db) {
    let (here, url) = fresh_store(db).await;
    let there = nic_store::open(&url).await.unwrap();
    let mut sub = Subscription::new(here.clone(), ReadAll::after(0, 0));
    let text = |n: u64| {
        let meta = Metadata {
            actor: Some("test".into()),
            ..Metadata::default()
        };
        let data =
            serde_json::json!({ "n": n, "note": "Caf\u{e9} \u{201c}huddles\u{201d} \u{1f600}" });
        NewEvent::new("test_happened", 1, &data, &meta).unwrap()
    };
    let write = |store: std::sync::Arc<dyn EventStore>, name: &'static str, from: u64| async move {
        for i in 0..30 {
            let n = from + i * 10;
            let batch = match i % 3 {
                0 => vec![text(n), text(n + 1), text(n + 2)],
                _ => vec![text(n)],
            };
            store
                .append(&stream(name), ExpectedVersion::Any, batch)
                .await
                .unwrap();
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(write(here.clone(), "pdsa-here", 0)),
        tokio::spawn(write(there.clone(), "pdsa-there", 1_000_000)),
    );
    a.unwrap();
    b.unwrap();
    let third = nic_store::open(&url).await.unwrap();
    let head = here.committed_head().await.unwrap();
    settle(third.as_ref(), head).await;
    let stored = read_everything(third.as_ref()).await;
    assert_eq!(stored.len(), 2 * (10 * 3 + 20));
    let mut got = Vec::new();
    while got.len() < stored.len() {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch())
            .await
            .expect("every event reaches the subscription")
            .unwrap();
        got.extend(batch);
    }
    // Every field, the data and metadata as text.
    let fields = |events: &[nic_events::RecordedEvent]| {
        events
            .iter()
            .map(|e| {
                (
                    (e.event_id, e.stream_id.to_string(), e.stream_version),
                    (e.global_position, e.event_type.clone(), e.schema_version),
                    (e.data.get().to_string(), e.metadata.get().to_string()),
                    (e.recorded_at, e.hash.clone()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&got), fields(&stored));
}

/// A store that has never seen a stream (another process created it) appends to it as new: the
/// database must still refuse a second first event, write nothing, and answer a retry of the
/// original append with the original outcome.
async fn a_stream_another_process_created_is_not_created_again(db: Db) {
    let (first, url) = fresh_store(db).await;
    let other = nic_store::open(&url).await.unwrap();
    let (one, two) = (stream("pdsa-made-1"), stream("pdsa-made-2"));
    let original = events(0..1);
    let made = first
        .append(&one, ExpectedVersion::NoStream, original.clone())
        .await
        .unwrap();
    let head = first
        .append(&two, ExpectedVersion::NoStream, events(0..2))
        .await
        .unwrap()
        .last_position;
    settle(first.as_ref(), head).await;
    for (s, events, actual) in [(&one, events(5..6), 0), (&two, events(5..7), 1)] {
        let err = other
            .append(s, ExpectedVersion::NoStream, events)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::WrongExpectedVersion { actual: Some(a), .. } if a == actual),
            "{s}: {err:?}"
        );
    }
    assert_eq!(other.read_stream(&one, 0, 10).await.unwrap().len(), 1);
    assert_eq!(other.read_stream(&two, 0, 10).await.unwrap().len(), 2);
    // The original append sent again through the other store: its first outcome, nothing new.
    let again = other
        .append(&one, ExpectedVersion::NoStream, original)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.stream_version, again.first_position),
        (made.stream_version, made.first_position)
    );
    // Both stores go on appending where the stream is.
    let next = first
        .append(&one, ExpectedVersion::Exact(0), events(1..2))
        .await
        .unwrap();
    assert_eq!(next.stream_version, 1);
    let after = other
        .append(&one, ExpectedVersion::Exact(1), events(2..3))
        .await
        .unwrap();
    assert_eq!(after.stream_version, 2);
    assert_eq!(
        read_everything(other.as_ref()).await.len(),
        5,
        "three events in one stream and two in the other: nothing refused was written"
    );
}

async fn the_database_refuses_update_and_delete(db: Db) {
    let (store, url) = fresh_store(db).await;
    let o = store
        .append(&stream("pdsa-i"), ExpectedVersion::Any, events(0..2))
        .await
        .unwrap();
    settle(store.as_ref(), o.last_position).await;
    let before = read_everything(store.as_ref()).await;
    let attempts = [
        "UPDATE events SET event_type = 'tampered'",
        "UPDATE events SET data = '{\"n\": 7}' WHERE stream_version = 0",
        "DELETE FROM events",
        "DELETE FROM events WHERE stream_version = 1",
    ];
    match db {
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            for sql in attempts.iter().chain(&["TRUNCATE events"]) {
                let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            }
        }
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for sql in attempts {
                let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            }
        }
    }
    let after = read_everything(store.as_ref()).await;
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(
            (a.event_id, &a.hash, a.data.get()),
            (b.event_id, &b.hash, b.data.get())
        );
    }
}

async fn the_hash_chain_locates_a_changed_row(db: Db) {
    let (store, url) = fresh_store(db).await;
    let mut last = 0;
    for round in 0..3 {
        for s in ["pdsa-h1", "pdsa-h2"] {
            last = store
                .append(
                    &stream(s),
                    ExpectedVersion::Any,
                    events(round * 3..round * 3 + 3),
                )
                .await
                .unwrap()
                .last_position;
        }
    }
    settle(store.as_ref(), last).await;
    let intact = nic_store::verify_chains(store.as_ref(), |_| {})
        .await
        .unwrap();
    assert_eq!(intact.events_checked, 18);
    assert_eq!(intact.streams_checked, 2);
    assert_eq!(intact.first_break, None, "a freshly written log verifies");

    let all = read_everything(store.as_ref()).await;
    let victim = all
        .iter()
        .find(|e| e.stream_id.as_str() == "pdsa-h2" && e.stream_version == 4)
        .unwrap();
    // Tampering needs the immutability triggers out of the way, as an intruder with full rights would.
    let tamper = format!(
        "UPDATE events SET data = '{{\"n\": 1000}}' WHERE global_position = {}",
        victim.global_position
    );
    match db {
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(&tamper).execute(&mut conn).await.unwrap();
        }
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("DROP TRIGGER events_refuse_update")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(&tamper).execute(&mut conn).await.unwrap();
        }
    }
    let report = nic_store::verify_chains(store.as_ref(), |_| {})
        .await
        .unwrap();
    let broken = report.first_break.expect("the change is detected");
    assert_eq!(broken.global_position, victim.global_position);
    assert_eq!(
        (broken.stream_id.as_str(), broken.stream_version),
        ("pdsa-h2", 4)
    );
}

/// Readers of a PostgreSQL log wait for this store's own appends in flight and for nothing else.
/// Transactions of other applications (in another database of the cluster, or in this one without
/// writing the log) stay open throughout: a fresh reader still reads the whole log at once and the
/// live feed follows each append. One of the store's own appends held open does hold readers back:
/// a read of the whole log (export, verify, import's check, rebuild: `whole_log_head`) then waits
/// and fails rather than succeed on less than the log holds, and reads everything once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_wait_for_the_store_s_own_appends_and_never_for_strangers() {
    let (writer, url) = fresh_store(Db::Postgres).await;
    writer
        .append(&stream("held-1"), ExpectedVersion::NoStream, events(0..3))
        .await
        .unwrap();
    let mut elsewhere =
        nic_store::scratch::stranger(&nic_store::scratch::postgres_admin_url()).await;
    let mut here = nic_store::scratch::stranger(&url).await;

    // A store that has read nothing yet reads the whole log in one read, not in a later one.
    let fresh = nic_store::open(&url).await.unwrap();
    assert_eq!(
        fresh.read_all(&ReadAll::after(0, 100)).await.unwrap().len(),
        3,
        "a first read proves what it observed despite the strangers"
    );
    drop(fresh);
    // Another process's store: it has proved nothing readable yet.
    let reader = nic_store::open(&url).await.unwrap();
    assert_eq!(
        nic_store::whole_log_head(reader.as_ref(), Duration::from_secs(5))
            .await
            .expect("strangers' transactions hold back no read of the whole log"),
        3
    );
    let mut live = Subscription::new(reader.clone(), ReadAll::after(3, 0));
    for n in 3..6 {
        writer
            .append(&stream("held-1"), ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(2), live.next())
            .await
            .expect("the live feed follows appends while strangers' transactions stay open")
            .unwrap();
        assert_eq!(n_of(&seen), n);
    }

    // One of the store's own appends, taken in the order the store takes it (its transaction id
    // before its position), held open; a later append commits after it.
    let slow = event(6);
    let mut own = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut own_tx = own.begin().await.unwrap();
    nic_store::scratch::append_in(&mut own_tx, "held-2", "held", &slow).await;
    let later = writer
        .append(&stream("held-3"), ExpectedVersion::NoStream, vec![event(7)])
        .await
        .unwrap();
    assert_eq!(later.last_position, 8);
    assert_eq!(reader.committed_head().await.unwrap(), 8);
    match nic_store::whole_log_head(reader.as_ref(), Duration::from_millis(1_500)).await {
        Err(StoreError::HeadNotReadable {
            readable,
            committed,
            ..
        }) => {
            assert_eq!(committed, 8);
            assert_eq!(readable, 6, "read past the append still in flight");
        }
        other => panic!("the whole log is read short or not refused: {other:?}"),
    }
    let held = reader.read_held_back();
    assert!(
        held >= Duration::from_millis(1_400),
        "the store says events were held back for {held:?}, not the 1.5 s it waited"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), live.next())
            .await
            .is_err(),
        "the live feed went past an append still in flight"
    );
    // It fails: its position will never hold an event, and readers go on past it.
    own_tx.rollback().await.unwrap();
    let head = nic_store::whole_log_head(reader.as_ref(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(head, 8);
    let seen = tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .expect("the live feed goes on once the append in flight ended")
        .unwrap();
    assert_eq!(n_of(&seen), 7);
    assert!(
        reader.read_held_back() < Duration::from_millis(1_000),
        "nothing is held back once the append in flight ended: {:?}",
        reader.read_held_back()
    );

    for conn in [&mut elsewhere, &mut here] {
        sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
    }
    drop((live, reader, writer));
    nic_store::scratch::drop_postgres(&url).await;
}

/// Live readers in other processes never skip an event while many appends commit out of order,
/// another application's transaction stays open on the cluster (the read horizon then rests on
/// which appenders hold their lock, not on the snapshot's xmin) and other applications' short
/// transactions come and go. Each follower receives every event once, in position order, and a
/// read right after the last append sees the whole log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_miss_nothing_while_a_stranger_s_transaction_stays_open() {
    const WRITERS: u64 = 8;
    const EACH: u64 = 200;
    // The race is narrow: a few rounds give it room.
    for _round in 0..3 {
        let (writer, url) = fresh_store(Db::Postgres).await;
        let admin = nic_store::scratch::postgres_admin_url();
        let mut stranger = nic_store::scratch::stranger(&admin).await;
        // Short transactions of another database, each taking a transaction id: many are running
        // when a reader's snapshot is taken and have ended a moment later.
        let churn: Vec<_> = (0..3)
            .map(|_| {
                let admin = admin.clone();
                tokio::spawn(async move {
                    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                    loop {
                        sqlx::query("SELECT txid_current(), pg_sleep(0.002)")
                            .execute(&mut conn)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        // The followers share one store, as a server's readers do: their statements prove the
        // frontier for each other.
        let reader = nic_store::open(&url).await.unwrap();
        let mut followers = Vec::new();
        for _ in 0..4 {
            let mut sub = Subscription::new(reader.clone(), ReadAll::after(0, 0));
            followers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < (WRITERS * EACH) as usize {
                    for e in sub.next_batch().await.unwrap() {
                        got.push((e.global_position, n_of(&e)));
                    }
                }
                got
            }));
        }
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let writer = writer.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    writer
                        .append(
                            &stream(&format!("pdsa-w{w}")),
                            ExpectedVersion::Any,
                            vec![event(w * EACH + i)],
                        )
                        .await
                        .unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        let all = read_everything(writer.as_ref()).await;
        assert_eq!(all.len(), (WRITERS * EACH) as usize);
        let expected: Vec<(u64, u64)> = all.iter().map(|e| (e.global_position, n_of(e))).collect();
        for f in followers {
            let got = tokio::time::timeout(Duration::from_secs(10), f)
                .await
                .expect("every follower receives every event")
                .unwrap();
            assert_eq!(
                got, expected,
                "a follower skipped, repeated or reordered events"
            );
        }
        churn.iter().for_each(|c| c.abort());
        sqlx::query("COMMIT").execute(&mut stranger).await.unwrap();
        nic_store::scratch::drop_postgres(&url).await;
    }
}
