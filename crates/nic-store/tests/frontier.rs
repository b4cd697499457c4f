//! PostgreSQL's read frontier: an event that readers hold back only because an older append was
//! still in flight is released, and local subscribers woken, as soon as that append ends, with no
//! other append, notification or poll to prompt it.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).

use std::time::Duration;

use nic_events::{ExpectedVersion, Metadata, NewEvent, StreamId};
use nic_store::postgres::PgStore;
use nic_store::{EventStore, ReadAll};
use sqlx::Connection;

mod common;
use common::fresh_database;

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "test_happened",
        1,
        &serde_json::json!({ "n": n }),
        &Metadata::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_held_back_for_its_proof_is_released_when_the_older_transaction_ends() {
    let url = fresh_database(true).await;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let s = StreamId::parse("pdsa-frontier").unwrap();
    let first = store
        .append(&s, ExpectedVersion::NoStream, vec![event(0)])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.head_position().await.unwrap() < first.last_position {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first event settles"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Another writer's append (its transaction id, then its position, as every append takes
    // them) stays open: it took a position before the next event's, so readers hold that event
    // back.
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut open = other.begin().await.unwrap();
    let slow = event(9);
    nic_store::scratch::append_in(&mut open, "pdsa-slow", "pdsa", &slow).await;
    let second_event = event(1);
    let second_id = second_event.event_id;
    let second = store
        .append(&s, ExpectedVersion::Exact(0), vec![second_event])
        .await
        .unwrap();
    let after_first = ReadAll::after(first.last_position, 100);
    assert!(
        store.read_all(&after_first).await.unwrap().is_empty(),
        "the event is held back while the older append is in flight"
    );
    // Let the append's own wake-ups (local and notified) pass, then watch for the next one.
    let mut wakeups = store.wakeups();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wakeups.borrow_and_update();
    assert!(
        store.read_all(&after_first).await.unwrap().is_empty(),
        "still held back"
    );

    open.commit().await.unwrap();
    // Nothing is appended or notified from here on: the store proves the frontier by itself and
    // wakes its subscribers.
    tokio::time::timeout(Duration::from_secs(2), wakeups.changed())
        .await
        .expect("subscribers are woken once the older append ended")
        .unwrap();
    let released = store.read_all(&after_first).await.unwrap();
    assert_eq!(
        released
            .iter()
            .map(|e| (e.global_position, e.event_id))
            .collect::<Vec<_>>(),
        vec![
            (first.last_position + 1, slow.event_id),
            (second.last_position, second_id)
        ],
        "the older append first, then the event it held back"
    );
}
