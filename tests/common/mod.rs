//! Helpers shared by the end-to-end tests: fresh real databases, one per test.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).
//! A test that cannot reach it fails with a message saying so; nothing is skipped.
#![allow(dead_code)]

use std::sync::Arc;

use nic_store::EventStore;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// A fresh database of the given kind, as a URL.
pub async fn fresh_url(db: Db) -> String {
    match db {
        Db::Postgres => nic_store::scratch::create_postgres("nic_test").await,
        Db::Sqlite => nic_store::scratch::sqlite_url(),
    }
}

/// A migrated store on a fresh database, with its URL.
pub async fn fresh_store(db: Db) -> (Arc<dyn EventStore>, String) {
    let url = fresh_url(db).await;
    let store = nic_store::open(&url).await.expect("open the store");
    store.migrate().await.expect("migrate");
    (store, url)
}
