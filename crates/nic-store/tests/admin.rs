//! `Admin`'s checkpoints and leases on both backends: a lease has one holder until it expires or is
//! released; checkpoints are saved only by the lease's holder, never back to an earlier position,
//! never over a newer generation; a replacement makes a new generation.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).

use std::time::Duration;

use nic_store::admin::Admin;

async fn fresh(postgres: bool) -> String {
    let url = if postgres {
        let admin = std::env::var("NIC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("nic_test_{}", uuid::Uuid::new_v4().simple());
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL is reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        format!("{base}/{name}")
    } else {
        let dir = std::env::temp_dir().join("nic-ledger-tests");
        std::fs::create_dir_all(&dir).unwrap();
        format!(
            "sqlite://{}",
            dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
                .display()
        )
    };
    nic_store::open(&url)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    url
}

fn states(tag: &str) -> Vec<(&'static str, String)> {
    vec![
        ("a", format!("{{\"a\":\"{tag}\"}}")),
        ("b", format!("[\"{tag}\"]")),
    ]
}

async fn leases_have_one_holder(postgres: bool) {
    let admin = Admin::connect(&fresh(postgres).await).await.unwrap();
    let short = Duration::from_millis(300);
    assert!(admin.try_lease("p", "one", short).await.unwrap());
    assert!(!admin.try_lease("p", "two", short).await.unwrap());
    assert!(admin.try_lease("p", "one", short).await.unwrap(), "renewed");
    assert_eq!(admin.lease("p").await.unwrap().unwrap().holder, "one");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(admin.try_lease("p", "two", short).await.unwrap(), "expired");
    assert!(!admin.try_lease("p", "one", short).await.unwrap());
    admin.release_lease("p", "one").await.unwrap();
    assert_eq!(admin.lease("p").await.unwrap().unwrap().holder, "two");
    admin.release_lease("p", "two").await.unwrap();
    assert!(admin.lease("p").await.unwrap().is_none());
    assert!(
        admin.try_lease("p", "one", short).await.unwrap(),
        "released"
    );
}

async fn checkpoints_are_fenced(postgres: bool) {
    let admin = Admin::connect(&fresh(postgres).await).await.unwrap();
    let long = Duration::from_secs(60);
    assert_eq!(admin.checkpoint_generation().await.unwrap(), None);
    assert!(!admin
        .save_checkpoints("p", "one", 0, 5, &states("x"))
        .await
        .unwrap());
    assert!(
        admin.load_checkpoints().await.unwrap().is_empty(),
        "not the holder"
    );
    assert!(admin.try_lease("p", "one", long).await.unwrap());
    assert!(admin
        .save_checkpoints("p", "one", 0, 5, &states("five"))
        .await
        .unwrap());
    assert!(!admin
        .save_checkpoints("p", "one", 0, 4, &states("four"))
        .await
        .unwrap());
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!(saved.len(), 2);
    assert!(saved
        .iter()
        .all(|c| c.position == 5 && c.generation == 0 && c.state.contains("five")));
    assert_eq!(admin.checkpoint_heads().await.unwrap()[0].state, "");

    assert_eq!(
        admin
            .replace_checkpoints(3, &states("rebuilt"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(admin.checkpoint_generation().await.unwrap(), Some(1));
    assert!(
        !admin
            .save_checkpoints("p", "one", 0, 9, &states("stale"))
            .await
            .unwrap(),
        "an older generation writes nothing"
    );
    let saved = admin.load_checkpoint("a").await.unwrap().unwrap();
    assert_eq!((saved.generation, saved.position), (1, 3));
    assert!(saved.state.contains("rebuilt"));
    assert!(admin
        .save_checkpoints("p", "one", 1, 9, &states("nine"))
        .await
        .unwrap());
    assert_eq!(
        admin.load_checkpoint("b").await.unwrap().unwrap().position,
        9
    );
}

#[tokio::test]
async fn leases_on_sqlite() {
    leases_have_one_holder(false).await;
}

#[tokio::test]
async fn leases_on_postgres() {
    leases_have_one_holder(true).await;
}

#[tokio::test]
async fn checkpoints_on_sqlite() {
    checkpoints_are_fenced(false).await;
}

#[tokio::test]
async fn checkpoints_on_postgres() {
    checkpoints_are_fenced(true).await;
}
