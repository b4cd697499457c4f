//! What the store's test binaries share.

/// A new empty database (no migration applied): a PostgreSQL database on the server at
/// `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres), or a SQLite file in the
/// temporary folder.
pub async fn fresh_database(postgres: bool) -> String {
    if postgres {
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
    }
}
