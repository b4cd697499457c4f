//! What the store's test binaries share.

/// A new empty database (no migration applied): PostgreSQL or SQLite (`nic_store::scratch`).
pub async fn fresh_database(postgres: bool) -> String {
    if postgres {
        nic_store::scratch::create_postgres("nic_test").await
    } else {
        nic_store::scratch::sqlite_url()
    }
}
