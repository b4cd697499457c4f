//! A command reads only what its streams gained since the process last folded them: the events
//! a write reads from the store do not grow with the history of the measure it writes to. The
//! store is the real SQLite store, counted on its way through.

mod common;

use std::sync::atomic::Ordering;

use common::{admin, body, id, Counted};
use nic_app::App;
use nic_domain::measure::{DefineMeasure, RecordDataPoint};
use nic_domain::network::{AddEcosystem, CharterNetwork};
use nic_domain::program::EnrollProgram;
use serde_json::json;

/// The `n`th week from 1990 on, 52 a year.
fn week(n: usize) -> String {
    format!("{}-W{:02}", 1990 + n / 52, n % 52 + 1)
}

#[tokio::test]
async fn a_write_reads_what_its_streams_gained_not_their_history() {
    let store = nic_store::open(&nic_store::scratch::sqlite_url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let counted = Counted::new(store);
    let app = App::in_memory(counted.clone());
    let w = admin();
    let network = id(app
        .execute(body::<CharterNetwork>(json!({"name": "Net"})), (), &w)
        .await);
    let ecosystem = id(app
        .execute(
            body::<AddEcosystem>(json!({"name": "Pittsburgh", "region": "PA"})),
            network,
            &w,
        )
        .await);
    let program = id(app
        .execute(
            body::<EnrollProgram>(json!({"name": "Program A", "ecosystem_id": ecosystem})),
            network,
            &w,
        )
        .await);
    let measure = id(app
        .execute(
            body::<DefineMeasure>(json!({"name": "Attendance", "kind": "outcome",
                "description": "Students at sessions", "scale": "value", "data_type": "count",
                "unit": "students", "period": "week", "direction": "up"})),
            network,
            &w,
        )
        .await);
    let record = |n: usize| {
        let (app, w) = (app.clone(), w.clone());
        async move {
            let cmd = body::<RecordDataPoint>(
                json!({"program_id": program, "period": week(n), "value": 20}),
            );
            if let Err(e) = app.execute(cmd, measure, &w).await {
                panic!("record week {n}: {e}");
            }
        }
    };
    // What one write reads from the store, after `held` points.
    let mut cost_at = Vec::new();
    let mut n = 0;
    for held in [100, 2_000] {
        while n < held {
            record(n).await;
            n += 1;
        }
        let before = counted.events_read.load(Ordering::SeqCst);
        record(n).await;
        n += 1;
        cost_at.push(counted.events_read.load(Ordering::SeqCst) - before);
    }
    assert_eq!(
        cost_at[0], cost_at[1],
        "events read by one write at 100 and at 2,000 points"
    );
    assert!(
        cost_at[1] <= 2,
        "a write reads what its streams gained since the last one (its own event), not the \
         measure's 2,000 points: {}",
        cost_at[1]
    );
}
