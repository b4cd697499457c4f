//! The keys of sealed personal fields, kept in `personal_keys` beside the log and never in it
//! (`sealing` seals and opens with them): one row per sealed field value, written with its event,
//! deleted for good by an erasure, or left without its key and pointing at replacement text by a
//! redaction. The same statements for both backends, called by `PgStore` and `SqliteStore`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::QueryAs;
use sqlx::sqlite::SqliteConnection;
use sqlx::Postgres;
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::StoreError;

/// The key of one sealed field, with what finds it for an erasure. A line of a key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldKey {
    pub key_id: Uuid,
    /// The ChaCha20-Poly1305 key (hex in a key file); None once a redaction destroyed it.
    #[serde(with = "hex_key")]
    pub key: Option<[u8; 32]>,
    /// The sealed text that reads in place of the destroyed one (a redaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    pub event_id: Uuid,
    pub stream_id: String,
    /// A JSON pointer into the event's data, e.g. `/study/summary`.
    pub field: String,
    /// The field's class in the contract: `name`, `free-text` or `contact`.
    pub class: String,
    /// The actor that wrote it (`token:<id>`, `system:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The program the text is about, when its event names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Whose keys an erasure reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySubject {
    /// Everything an actor wrote.
    Author(String),
    /// Every sealed field about a program: its own stream's and those of the streams (cycles,
    /// measures) whose events name it.
    Program(Uuid),
    /// One field of one event.
    Field { event_id: Uuid, field: String },
    /// Every sealed field of one stream.
    Stream(String),
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(k) => s.serialize_some(&hex::encode(k)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a key is 32 bytes (64 hex digits)"))?;
        Ok(Some(key))
    }
}

const PG_COLUMNS: &str = "key_id, key, replacement, event_id, stream_id, field, class, author, \
     program_id, created_at";

fn key_of(bytes: Option<Vec<u8>>) -> Result<Option<[u8; 32]>, StoreError> {
    bytes
        .map(|b| {
            b.try_into()
                .map_err(|_| StoreError::InvalidAppend("a kept key is not 32 bytes".into()))
        })
        .transpose()
}

fn pg_row(r: &sqlx::postgres::PgRow) -> Result<FieldKey, StoreError> {
    Ok(FieldKey {
        key_id: r.try_get("key_id")?,
        key: key_of(r.try_get("key")?)?,
        replacement: r.try_get("replacement")?,
        event_id: r.try_get("event_id")?,
        stream_id: r.try_get("stream_id")?,
        field: r.try_get("field")?,
        class: r.try_get("class")?,
        author: r.try_get("author")?,
        program_id: r.try_get("program_id")?,
        created_at: r.try_get("created_at")?,
    })
}

fn sqlite_row(r: &sqlx::sqlite::SqliteRow) -> Result<FieldKey, StoreError> {
    let uuid = |col: &str| -> Result<Uuid, StoreError> {
        let text: String = r.try_get(col)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::InvalidAppend(format!("{col}: {e}")))
    };
    let program: Option<String> = r.try_get("program_id")?;
    let micros: i64 = r.try_get("created_at")?;
    Ok(FieldKey {
        key_id: uuid("key_id")?,
        key: key_of(r.try_get("key")?)?,
        replacement: r.try_get("replacement")?,
        event_id: uuid("event_id")?,
        stream_id: r.try_get("stream_id")?,
        field: r.try_get("field")?,
        class: r.try_get("class")?,
        author: r.try_get("author")?,
        program_id: program
            .map(|p| Uuid::parse_str(&p))
            .transpose()
            .map_err(|e| StoreError::InvalidAppend(format!("program_id: {e}")))?,
        created_at: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
    })
}

/// The WHERE clause of a subject's keys, its parameter `$1`/`?1` bound by the caller.
fn subject_filter(subject: &KeySubject) -> &'static str {
    match subject {
        KeySubject::Author(_) => "author = $1",
        KeySubject::Program(_) => {
            "program_id = $1 OR stream_id IN \
             (SELECT stream_id FROM personal_keys WHERE program_id = $1)"
        }
        KeySubject::Field { .. } => "event_id = $1 AND field = $2",
        KeySubject::Stream(_) => "stream_id = $1",
    }
}

// --- PostgreSQL ----------------------------------------------------------------------------

/// The append's statement with its keys (`postgres::INSERT` as a CTE named `ins`): the keys are
/// written only if the events are, in the same statement. Parameters `$11…$20` are the keys'.
pub(crate) fn pg_keyed_insert(insert: &str) -> String {
    format!(
        "WITH ins AS ({insert}), k AS (INSERT INTO personal_keys ({PG_COLUMNS}) \
         SELECT k.id, k.key, NULL, k.ev, $1, k.f, k.c, k.a, k.p, $4 \
         FROM unnest($11::uuid[], $12::bytea[], $13::uuid[], $14::text[], $15::text[], \
                     $16::text[], $17::uuid[]) AS k(id, key, ev, f, c, a, p) \
         WHERE EXISTS (SELECT FROM ins)) \
         SELECT global_position FROM ins ORDER BY global_position"
    )
}

/// Binds the keys' columns as the arrays the append statements' key CTEs read, in order
/// (`pg_keyed_insert`'s `$11…$17`, and a group's).
pub(crate) fn pg_bind_keys<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    keys: &[FieldKey],
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(keys.iter().map(|k| k.key_id).collect::<Vec<_>>())
        .bind(
            keys.iter()
                .map(|k| k.key.map(|k| k.to_vec()).unwrap_or_default())
                .collect::<Vec<_>>(),
        )
        .bind(keys.iter().map(|k| k.event_id).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.field.clone()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.class.clone()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.author.clone()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.program_id).collect::<Vec<_>>())
}

pub(crate) async fn pg_read(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PG_COLUMNS} FROM personal_keys WHERE key_id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.iter().map(pg_row).collect()
}

pub(crate) async fn pg_find(
    pool: &PgPool,
    subject: &KeySubject,
) -> Result<Vec<FieldKey>, StoreError> {
    let sql = format!(
        "SELECT {PG_COLUMNS} FROM personal_keys WHERE {} ORDER BY key_id",
        subject_filter(subject)
    );
    let query = sqlx::query(&sql);
    let query = match subject {
        KeySubject::Author(a) => query.bind(a),
        KeySubject::Program(p) => query.bind(p),
        KeySubject::Field { event_id, field } => query.bind(event_id).bind(field),
        KeySubject::Stream(s) => query.bind(s),
    };
    query.fetch_all(pool).await?.iter().map(pg_row).collect()
}

pub(crate) async fn pg_destroy(
    pool: &PgPool,
    ids: &[Uuid],
    replacements: &[(Uuid, String)],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let (replaced, texts): (Vec<Uuid>, Vec<String>) = replacements.iter().cloned().unzip();
    let updated = sqlx::query(
        "UPDATE personal_keys p SET key = NULL, replacement = r.t \
         FROM unnest($1::uuid[], $2::text[]) AS r(id, t) WHERE p.key_id = r.id",
    )
    .bind(&replaced)
    .bind(&texts)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let deleted =
        sqlx::query("DELETE FROM personal_keys WHERE key_id = ANY($1) AND NOT key_id = ANY($2)")
            .bind(ids)
            .bind(&replaced)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    pg_vacuum(pool).await?;
    Ok(updated + deleted)
}

/// Rewrites `personal_keys` without the destroyed keys (`VACUUM FULL`: a plain VACUUM frees
/// their old row versions but leaves the bytes in the table's files). It locks the table, and so
/// the appends that write keys, for as long as it takes; if it cannot have the lock within
/// `KEYS_REWRITE_LOCK_WAIT_MS` (a long transaction holds the table), a plain VACUUM runs instead.
pub(crate) async fn pg_vacuum(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!(
        "SET lock_timeout = {}",
        crate::limits::KEYS_REWRITE_LOCK_WAIT_MS
    ))
    .execute(&mut *conn)
    .await?;
    let full = sqlx::query("VACUUM FULL personal_keys")
        .execute(&mut *conn)
        .await;
    sqlx::query("RESET lock_timeout")
        .execute(&mut *conn)
        .await?;
    if let Err(e) = full {
        tracing::warn!(error = %e, "personal_keys could not be rewritten; vacuumed instead");
        sqlx::query("VACUUM personal_keys")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(crate) async fn pg_put(pool: &PgPool, keys: &[FieldKey]) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in keys.chunks(1000) {
        let mut insert = QueryBuilder::new(format!("INSERT INTO personal_keys ({PG_COLUMNS}) "));
        insert.push_values(chunk, |mut b, k| {
            b.push_bind(k.key_id)
                .push_bind(k.key.map(|k| k.to_vec()))
                .push_bind(k.replacement.clone())
                .push_bind(k.event_id)
                .push_bind(k.stream_id.clone())
                .push_bind(k.field.clone())
                .push_bind(k.class.clone())
                .push_bind(k.author.clone())
                .push_bind(k.program_id)
                .push_bind(k.created_at);
        });
        insert.push(" ON CONFLICT (key_id) DO NOTHING");
        written += insert.build().execute(pool).await?.rows_affected();
    }
    Ok(written)
}

pub(crate) async fn pg_page(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PG_COLUMNS} FROM personal_keys WHERE $1::uuid IS NULL OR key_id > $1 \
         ORDER BY key_id LIMIT $2"
    ))
    .bind(after)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(pg_row).collect()
}

// --- SQLite ----------------------------------------------------------------------------------

/// Writes an append's keys inside the committer's transaction, after its events, timed as they
/// are.
pub(crate) async fn sqlite_insert(
    conn: &mut SqliteConnection,
    recorded_micros: i64,
    keys: &[FieldKey],
) -> Result<(), StoreError> {
    sqlite_write(conn, keys, Some(recorded_micros)).await?;
    Ok(())
}

fn sqlite_ids(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
        .expect("strings serialise")
}

pub(crate) async fn sqlite_read(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PG_COLUMNS} FROM personal_keys \
         WHERE key_id IN (SELECT value FROM json_each(?1))"
    ))
    .bind(sqlite_ids(ids))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(sqlite_row).collect()
}

pub(crate) async fn sqlite_find(
    conn: &mut SqliteConnection,
    subject: &KeySubject,
) -> Result<Vec<FieldKey>, StoreError> {
    let sql = format!(
        "SELECT {PG_COLUMNS} FROM personal_keys WHERE {} ORDER BY key_id",
        subject_filter(subject).replace('$', "?")
    );
    let query = sqlx::query(&sql);
    let query = match subject {
        KeySubject::Author(a) => query.bind(a.clone()),
        KeySubject::Program(p) => query.bind(p.to_string()),
        KeySubject::Field { event_id, field } => {
            query.bind(event_id.to_string()).bind(field.clone())
        }
        KeySubject::Stream(s) => query.bind(s.clone()),
    };
    query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(sqlite_row)
        .collect()
}

/// Destroys keys in one transaction on the writer (whose connections delete securely: the freed
/// bytes are overwritten).
pub(crate) async fn sqlite_destroy(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
    replacements: &[(Uuid, String)],
) -> Result<u64, StoreError> {
    let mut changed = 0;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result: Result<(), StoreError> = async {
        for (id, text) in replacements {
            changed += sqlx::query(
                "UPDATE personal_keys SET key = NULL, replacement = ?2 WHERE key_id = ?1",
            )
            .bind(id.to_string())
            .bind(text)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
        let replaced: Vec<Uuid> = replacements.iter().map(|(id, _)| *id).collect();
        changed += sqlx::query(
            "DELETE FROM personal_keys WHERE key_id IN (SELECT value FROM json_each(?1)) \
             AND key_id NOT IN (SELECT value FROM json_each(?2))",
        )
        .bind(sqlite_ids(ids))
        .bind(sqlite_ids(&replaced))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(changed)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

pub(crate) async fn sqlite_put(
    conn: &mut SqliteConnection,
    keys: &[FieldKey],
) -> Result<u64, StoreError> {
    sqlite_write(conn, keys, None).await
}

/// Inserts keys, leaving ids already kept alone; `created_micros` overrides their times.
async fn sqlite_write(
    conn: &mut SqliteConnection,
    keys: &[FieldKey],
    created_micros: Option<i64>,
) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in keys.chunks(100) {
        let mut insert = QueryBuilder::new(format!("INSERT INTO personal_keys ({PG_COLUMNS}) "));
        insert.push_values(chunk, |mut b, k| {
            b.push_bind(k.key_id.to_string())
                .push_bind(k.key.map(|k| k.to_vec()))
                .push_bind(k.replacement.clone())
                .push_bind(k.event_id.to_string())
                .push_bind(k.stream_id.clone())
                .push_bind(k.field.clone())
                .push_bind(k.class.clone())
                .push_bind(k.author.clone())
                .push_bind(k.program_id.map(|p| p.to_string()))
                .push_bind(created_micros.unwrap_or(k.created_at.timestamp_micros()));
        });
        insert.push(" ON CONFLICT (key_id) DO NOTHING");
        written += insert.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

pub(crate) async fn sqlite_page(
    conn: &mut SqliteConnection,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PG_COLUMNS} FROM personal_keys WHERE ?1 IS NULL OR key_id > ?1 \
         ORDER BY key_id LIMIT ?2"
    ))
    .bind(after.map(|a| a.to_string()))
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(sqlite_row).collect()
}
