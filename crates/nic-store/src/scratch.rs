//! Scratch databases for the tests and benchmarks (the service never uses them): an empty
//! PostgreSQL database on the server at `NIC_TEST_POSTGRES_URL` (default: the local server as user
//! postgres), or a path for a new SQLite file in the temporary folder. Neither has the schema yet.
//!
//! Two PostgreSQL helpers stand for other sessions on the cluster: `stranger` (another
//! application's transaction) and `append_in` (one of the store's appends held in flight).
//!
//! A server that cannot be reached is a failure with a message saying so, never a skip.

use sqlx::Connection;

/// The server the scratch PostgreSQL databases are made on, when `NIC_TEST_POSTGRES_URL` is unset.
pub const POSTGRES_ADMIN_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administrative URL of the server the scratch databases are made on.
pub fn postgres_admin_url() -> String {
    std::env::var("NIC_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_ADMIN_URL_DEFAULT.into())
}

/// Creates an empty database named `<prefix>_<unix seconds>_<uuid>` and returns its URL. The time
/// in the name lets the test command drop what a killed run left behind once it is hours old,
/// never the databases of a run still going on the same cluster. Under a test run that names
/// itself (`NIC_TEST_RUN`, 8 lowercase hex digits), the uuid begins with that name, so that the
/// run drops its own databases when it ends.
///
/// # Panics
/// When the server cannot be reached or refuses the database.
pub async fn create_postgres(prefix: &str) -> String {
    let admin = postgres_admin_url();
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    if let Some(run) = std::env::var("NIC_TEST_RUN").ok().filter(|r| {
        r.len() == 8
            && r.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }) {
        id.replace_range(..8, &run);
    }
    let name = format!("{prefix}_{}_{id}", chrono::Utc::now().timestamp());
    let mut conn = admin_connection(&admin).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create the database {name}: {e}"));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// Drops a database `create_postgres` made (by its URL), closing its connections.
///
/// # Panics
/// When the server cannot be reached or refuses.
pub async fn drop_postgres(url: &str) {
    let name = url.rsplit_once('/').map_or(url, |(_, name)| name);
    let mut conn = admin_connection(&postgres_admin_url()).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("drop the database {name}: {e}"));
}

/// A `sqlite://` URL for a new database file in the folder `nic-ledger-tests` of the temporary
/// folder (whose files the test command deletes once they are three hours old).
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("nic-ledger-tests");
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    let path = dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}", path.display())
}

/// Another application's transaction on the database at `url`: open, with a transaction id taken,
/// until the connection ends it or is dropped.
///
/// # Panics
/// When the server cannot be reached.
pub async fn stranger(url: &str) -> sqlx::PgConnection {
    let mut conn = admin_connection(url).await;
    for step in ["BEGIN", "SELECT txid_current()"] {
        sqlx::query(step)
            .execute(&mut conn)
            .await
            .expect("open a stranger's transaction");
    }
    conn
}

/// Appends `event` to `stream` (category `category`) inside the caller's open transaction, as
/// the store takes an append (its transaction id, then its position), through `nic_append`: an
/// append of the store still in flight until the caller ends the transaction.
///
/// # Panics
/// When the append fails.
pub async fn append_in(
    tx: &mut sqlx::PgConnection,
    stream: &str,
    category: &str,
    event: &nic_events::NewEvent,
) {
    sqlx::query("SELECT * FROM nic_append($1, $2, 'any', NULL, $3, $4, $5, $6, $7, $8)")
        .bind(stream)
        .bind(category)
        .bind(vec![event.event_id])
        .bind(vec![event.event_type.clone()])
        .bind(vec![event.schema_version as i32])
        .bind(vec![event.data.get().to_string()])
        .bind(vec![event.metadata.get().to_string()])
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(tx)
        .await
        .expect("append in the open transaction");
}

async fn admin_connection(admin: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin}: {e}. Start it (scripts/test does) or set \
             NIC_TEST_POSTGRES_URL."
            )
        })
}
