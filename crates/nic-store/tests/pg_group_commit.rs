//! PostgreSQL's group commit: single-event appends that queue while the append statements are all
//! running go together in one INSERT. Each must be answered exactly as if it had been written
//! alone: a lost race for a stream's version refused or tried again, a retry answered with its
//! original outcome, an event id taken elsewhere refused, the rest written once, chained, and seen
//! by a follower in order. The real server, at `NIC_TEST_POSTGRES_URL`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nic_events::{ExpectedVersion, NewEvent};
use nic_store::limits::PG_APPEND_STATEMENTS_MAX;
use nic_store::postgres::PgStore;
use nic_store::{AppendOutcome, EventStore, StoreError};
use sqlx::{Connection, Executor};

mod common;
use common::{chains_verify, event, follow, read_everything, settle, stream, Pending};

async fn fresh() -> (Arc<PgStore>, String) {
    let url = common::fresh_database(true).await;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), url)
}

fn spawn_append(store: &Arc<PgStore>, s: &str, expected: ExpectedVersion, e: NewEvent) -> Pending {
    let (store, s) = (store.clone(), stream(s));
    tokio::spawn(async move { store.append(&s, expected, vec![e]).await })
}

/// The transaction that wrote each event, by event id.
async fn writers(url: &str) -> HashMap<uuid::Uuid, String> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT event_id, transaction_id::text FROM events")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_answers_each_append_as_if_it_were_alone() {
    use ExpectedVersion::*;
    let (store, url) = fresh().await;
    // Written before: a retry of it, and an id another stream then claims.
    let written = event(1);
    let before = store
        .append(&stream("pdsa-before"), NoStream, vec![written.clone()])
        .await
        .unwrap();
    // Another session holds the table so that no append can be written: the first appends take
    // every statement and wait on the lock, the rest queue behind them.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("LOCK TABLE events IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let openers: Vec<Pending> = (0..PG_APPEND_STATEMENTS_MAX as u64)
        .map(|i| spawn_append(&store, &format!("pdsa-opener{i}"), NoStream, event(100 + i)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let race = [event(2), event(3)];
    let shared = [event(4), event(5)];
    let taken = NewEvent {
        event_id: written.event_id,
        ..event(6)
    };
    let mut queued = vec![
        // 0, 1: two creations of one stream; one wins.
        spawn_append(&store, "pdsa-race", NoStream, race[0].clone()),
        spawn_append(&store, "pdsa-race", NoStream, race[1].clone()),
        // 2, 3: two appends to one stream with any version; both go in, one after the other.
        spawn_append(&store, "pdsa-shared", Any, shared[0].clone()),
        spawn_append(&store, "pdsa-shared", Any, shared[1].clone()),
        // 4: a retry of what was written before: its original outcome.
        spawn_append(&store, "pdsa-before", NoStream, written.clone()),
        // 5: an event id another stream holds.
        spawn_append(&store, "pdsa-thief", NoStream, taken),
    ];
    let many: Vec<NewEvent> = (0..20).map(|i| event(200 + i)).collect();
    for (i, e) in many.iter().enumerate() {
        queued.push(spawn_append(
            &store,
            &format!("pdsa-many{i}"),
            NoStream,
            e.clone(),
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only the retry is answered meanwhile: it writes nothing.
    let waiting: Vec<usize> = (0..queued.len())
        .filter(|&i| !queued[i].is_finished())
        .collect();
    assert_eq!(
        waiting,
        (0..queued.len()).filter(|&i| i != 4).collect::<Vec<_>>(),
        "nothing is written while the table is held"
    );
    assert!(openers.iter().all(|p| !p.is_finished()));
    holder.execute("COMMIT").await.unwrap();
    for o in settle(openers).await {
        assert_eq!(o.unwrap().stream_version, 0);
    }
    let out = settle(queued).await;
    let race_won: Vec<_> = out[..2].iter().filter(|o| o.is_ok()).collect();
    assert_eq!(race_won.len(), 1, "one creation of a stream wins: {out:?}");
    assert!(
        out[..2].iter().any(|o| matches!(
            o,
            Err(StoreError::WrongExpectedVersion {
                actual: Some(0),
                ..
            })
        )),
        "the other is refused as if alone: {:?}",
        &out[..2]
    );
    let mut shared_versions: Vec<u64> = out[2..4]
        .iter()
        .map(|o| o.as_ref().unwrap().stream_version)
        .collect();
    shared_versions.sort();
    assert_eq!(shared_versions, [0, 1]);
    assert_eq!(
        out[4].as_ref().unwrap(),
        &AppendOutcome {
            duplicate: true,
            ..before
        }
    );
    assert!(
        matches!(out[5], Err(StoreError::EventIdConflict { .. })),
        "{:?}",
        out[5]
    );
    for o in &out[6..] {
        let o = o.as_ref().unwrap();
        assert_eq!((o.stream_version, o.duplicate), (0, false));
    }
    // The queued appends went in together: the twenty new streams in one or two transactions.
    let by = writers(&url).await;
    let transactions: HashSet<&String> = many.iter().map(|e| &by[&e.event_id]).collect();
    assert!(
        transactions.len() <= 2,
        "twenty queued appends took {} transactions",
        transactions.len()
    );
    let all = read_everything(store.as_ref()).await;
    let ids: HashSet<_> = all.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), all.len(), "duplicated events");
    // before, 4 openers, the race's winner, 2 shared, 20 new streams.
    assert_eq!(all.len(), 1 + PG_APPEND_STATEMENTS_MAX + 1 + 2 + 20);
    chains_verify(store.as_ref()).await;
    drop(store);
    nic_store::scratch::drop_postgres(&url).await;
}

/// Many writers of single events at once, to streams of their own and to one shared stream: each
/// append is answered as if alone, the log holds each event once, in version order per stream,
/// chained, and a follower sees exactly the log; some appends went in groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_of_single_events_on_postgres() {
    const WRITERS: u64 = 32;
    const APPENDS: u64 = 20;
    let (store, url) = fresh().await;
    let follower = follow(store.clone(), WRITERS * APPENDS * 2);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let own = stream(&format!("pdsa-own{w}"));
                let shared = stream("pdsa-shared");
                for i in 0..APPENDS {
                    let n = w * 10_000 + i * 10;
                    let expected = match i {
                        0 => ExpectedVersion::NoStream,
                        i => ExpectedVersion::Exact(i - 1),
                    };
                    let o = store.append(&own, expected, vec![event(n)]).await.unwrap();
                    assert_eq!((o.stream_version, o.duplicate), (i, false));
                    // A retry gets the same outcome back; a stale expectation is refused.
                    let again = store.append(&own, expected, vec![event(n)]).await;
                    assert!(
                        matches!(again, Err(StoreError::WrongExpectedVersion { .. })),
                        "a new event with a stale expectation: {again:?}"
                    );
                    let shared_event = event(n + 1);
                    let o = store
                        .append(&shared, ExpectedVersion::Any, vec![shared_event.clone()])
                        .await
                        .unwrap();
                    let retry = store
                        .append(&shared, ExpectedVersion::Any, vec![shared_event])
                        .await
                        .unwrap();
                    assert_eq!(
                        retry,
                        AppendOutcome {
                            duplicate: true,
                            ..o
                        }
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let seen = follower.await.unwrap();
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len() as u64, WRITERS * APPENDS * 2);
    assert_eq!(
        seen.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        "the follower saw exactly the log, in order"
    );
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
    chains_verify(store.as_ref()).await;
    let transactions: HashSet<String> = writers(&url).await.into_values().collect();
    assert!(
        (transactions.len() as u64) < WRITERS * APPENDS * 2,
        "no two appends shared a statement"
    );
    eprintln!(
        "{} events in {} transactions",
        all.len(),
        transactions.len()
    );
    drop(store);
    nic_store::scratch::drop_postgres(&url).await;
}
