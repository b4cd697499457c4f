//! A warm write costs one statement: the states a command decides on, and the token that
//! authenticates it, are kept in step with the log by the follower, so a request reads nothing
//! before its append. A revocation counts at once in the process that made it, and in another
//! process as soon as its follower reads it. On both backends, over the real stores, counted on
//! their way through.

mod common;

use std::time::{Duration, Instant};

use common::{admin, body, id, Counted};
use nic_app::command::Write;
use nic_app::{App, AppError};
use nic_domain::cycle::PlanCycle;
use nic_domain::network::{AddDriver, AddEcosystem, CharterNetwork, ProposeChangeIdea};
use nic_domain::program::EnrollProgram;
use nic_events::catalog::Role;
use serde_json::json;
use uuid::Uuid;

/// Waits until `app`'s follower has applied the log up to its head and hands what it reads to the
/// kept states.
async fn in_step(app: &App) {
    let started = Instant::now();
    while !app.states_in_step() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the follower is not in step after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let head = app.store().committed_head().await.unwrap();
    let mut applied = app.read_models().applied();
    tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|p| *p >= head))
        .await
        .expect("the follower reaches the head within 10 s")
        .unwrap();
}

/// A network with a program and a change idea: the program's id and the idea's.
async fn network(app: &App, w: &Write) -> (Uuid, Uuid) {
    let network = id(app
        .execute(body::<CharterNetwork>(json!({"name": "Net"})), (), w)
        .await);
    let ecosystem = id(app
        .execute(
            body::<AddEcosystem>(json!({"name": "Pittsburgh", "region": "PA"})),
            network,
            w,
        )
        .await);
    let program = id(app
        .execute(
            body::<EnrollProgram>(json!({"name": "Program A", "ecosystem_id": ecosystem})),
            network,
            w,
        )
        .await);
    let primary = id(app
        .execute(
            body::<AddDriver>(json!({"kind": "primary", "title": "Identity"})),
            network,
            w,
        )
        .await);
    let idea = id(app
        .execute(
            body::<ProposeChangeIdea>(
                json!({"title": "Huddles", "serves": [{"node_id": primary}]}),
            ),
            network,
            w,
        )
        .await);
    (program, idea)
}

fn cycle(idea: Uuid, n: usize) -> PlanCycle {
    body(
        json!({"title": format!("Huddles, try {n}"), "change_idea_ids": [idea],
        "purpose": "test", "scale": "one mentor", "planned_start": "2025-03-03",
        "planned_end": "2025-03-14", "plan": {"objective": "See",
        "questions": [{"question": "Q?", "prediction": "P"}]}}),
    )
}

async fn warm_write_and_token_check(url: &str) {
    let store = nic_store::open(url).await.unwrap();
    store.migrate().await.unwrap();
    let counted = Counted::new(store);
    let app = App::in_memory(counted.clone());
    let follower = app.follow();
    let w = admin();
    in_step(&app).await;
    let (program, idea) = network(&app, &w).await;
    id(app.execute(cycle(idea, 0), program, &w).await);

    let before = counted.request_calls();
    id(app.execute(cycle(idea, 1), program, &w).await);
    let after = counted.request_calls();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0, 1),
        "a warm write (a new cycle of a known program) makes one store call, its append: \
         (stream reads, appends)"
    );

    let token = app
        .tokens()
        .create("Facilitator", Role::Facilitator, vec![program], "test")
        .await
        .unwrap();
    app.tokens().authenticate(&token).await.unwrap();
    let before = counted.request_calls();
    for _ in 0..10 {
        assert_eq!(
            app.tokens().authenticate(&token).await.unwrap().name,
            "Facilitator"
        );
    }
    assert_eq!(
        counted.request_calls(),
        before,
        "a kept token is checked without reading the store"
    );
    app.tokens()
        .revoke("Facilitator", "left the program", "test")
        .await
        .unwrap();
    assert!(
        matches!(
            app.tokens().authenticate(&token).await,
            Err(AppError::Unauthorized(_))
        ),
        "a revocation counts at once in the process that made it"
    );
    app.stop();
    follower.await.unwrap();
}

async fn revocation_elsewhere(url: &str) {
    let open = || async {
        let store = nic_store::open(url).await.unwrap();
        store.migrate().await.unwrap();
        let app = App::in_memory(store);
        let follower = app.follow();
        (app, follower)
    };
    let ((here, f1), (elsewhere, f2)) = (open().await, open().await);
    let token = elsewhere
        .tokens()
        .create("Viewer", Role::Viewer, Vec::new(), "test")
        .await
        .unwrap();
    // Read once here, then kept.
    here.tokens().authenticate(&token).await.unwrap();
    in_step(&here).await;
    elsewhere
        .tokens()
        .revoke("Viewer", "lost laptop", "test")
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        match here.tokens().authenticate(&token).await {
            Err(AppError::Unauthorized(_)) => break,
            Ok(_) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "a token revoked by another process still opens this one after 5 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    for app in [&here, &elsewhere] {
        app.stop();
    }
    f1.await.unwrap();
    f2.await.unwrap();
}

#[tokio::test]
async fn a_warm_write_is_one_append_and_a_kept_token_is_checked_in_memory_sqlite() {
    warm_write_and_token_check(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn a_warm_write_is_one_append_and_a_kept_token_is_checked_in_memory_postgres() {
    let url = nic_store::scratch::create_postgres("nic_kept").await;
    warm_write_and_token_check(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

#[tokio::test]
async fn a_token_revoked_by_another_process_stops_opening_this_one_sqlite() {
    revocation_elsewhere(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn a_token_revoked_by_another_process_stops_opening_this_one_postgres() {
    let url = nic_store::scratch::create_postgres("nic_kept").await;
    revocation_elsewhere(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}
