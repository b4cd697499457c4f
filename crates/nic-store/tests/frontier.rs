//! PostgreSQL's read frontier: an event that readers hold back only because an older append was
//! still in flight is released, and local subscribers woken, as soon as that append ends, with no
//! other append, notification or poll to prompt it; and the store's own appends, one after
//! another, reach its subscribers with no statement run to prove them.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).

use std::time::Duration;

use nic_events::{ExpectedVersion, Metadata, NewEvent, StreamId};
use nic_store::limits::FRONTIER_TRUST_MS;
use nic_store::postgres::PgStore;
use nic_store::{EventStore, ReadAll, Subscription};
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

/// The subscription's next event, within 10 s.
async fn next(sub: &mut Subscription) -> nic_events::RecordedEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("the subscription gets the event")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_s_own_appends_reach_its_subscribers_with_no_statement_to_prove_them() {
    let url = fresh_database(true).await;
    let store = std::sync::Arc::new(PgStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    let mut sub = Subscription::new(store.clone(), ReadAll::after(0, 0));
    let s = StreamId::parse("pdsa-own").unwrap();
    let first = event(0);
    store
        .append(&s, ExpectedVersion::NoStream, vec![first.clone()])
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await.event_id, first.event_id);

    // One writer, each append read by the subscription before the next: the way a facilitator's
    // requests and the read models follow each other.
    let appends = 50;
    let (before, began) = (store.frontier_statements(), tokio::time::Instant::now());
    for i in 1..=appends {
        let e = event(i);
        store
            .append(&s, ExpectedVersion::Exact(i - 1), vec![e.clone()])
            .await
            .unwrap();
        let got = next(&mut sub).await;
        assert_eq!((got.event_id, got.stream_version), (e.event_id, i));
    }
    let ran = store.frontier_statements() - before;
    // Nothing else wrote, so only the trust's expiry calls for a statement: one per
    // FRONTIER_TRUST_MS at most, however slow the machine. Reading each append through a
    // statement of its own would run at least one per append.
    let expiries = began.elapsed().as_millis() as u64 / FRONTIER_TRUST_MS;
    assert!(
        ran <= expiries + 2 && ran < appends,
        "{ran} frontier statements for {appends} appends in {:?}",
        began.elapsed()
    );
}
