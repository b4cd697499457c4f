//! Helpers shared by the end-to-end tests: fresh real databases, one per test.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).
//! A test that cannot reach it fails with a message saying so; nothing is skipped.
#![allow(dead_code)]

use std::sync::Arc;

use nic_store::EventStore;
use sqlx::Connection;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server's administrative URL.
pub fn postgres_admin_url() -> String {
    std::env::var("NIC_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

/// Creates an empty database named `nic_test_…` and returns its URL.
pub async fn fresh_postgres_url() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin}: {e}. Start it (scripts/test does) or set \
             NIC_TEST_POSTGRES_URL."
            )
        });
    let name = format!("nic_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A path for a new SQLite database file, as a `sqlite://` URL.
pub fn fresh_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("nic-ledger-tests");
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let path = dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}", path.display())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// A fresh database of the given kind, as a URL.
pub async fn fresh_url(db: Db) -> String {
    match db {
        Db::Postgres => fresh_postgres_url().await,
        Db::Sqlite => fresh_sqlite_url(),
    }
}

/// A migrated store on a fresh database, with its URL.
pub async fn fresh_store(db: Db) -> (Arc<dyn EventStore>, String) {
    let url = fresh_url(db).await;
    let store = nic_store::open(&url).await.expect("open the store");
    store.migrate().await.expect("migrate");
    (store, url)
}
