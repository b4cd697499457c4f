//! The keys of sealed personal fields, kept in `personal_keys` beside the log and never in it
//! (`sealing` seals and opens with them). An append writes one row per event (`EventKey`), from
//! whose key each of its sealed fields' keys is derived. Reads give one `FieldKey` per field
//! either way. Destroying a field's key first splits its event's row into one row per field, so
//! that the event's key is gone and only the other fields' keys stay. Then an erasure deletes the
//! field's row for good, and a redaction leaves it without its key, pointing at replacement text.
//! The same statements serve both backends, called by `PgStore` and `SqliteStore`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::QueryAs;
use sqlx::sqlite::SqliteConnection;
use sqlx::{PgConnection, Postgres};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::limits::EVENT_KEY_FIELDS_MAX;
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

/// The key of one event's sealed fields, as its append writes it: one row. The key of its `i`th
/// sealed field is derived from it (`field_key`), under the id `field_key_id(key_id, i)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventKey {
    /// Time-ordered, its lowest 16 bits zero, which its fields' key ids count up in
    /// (`event_key_id`).
    pub key_id: Uuid,
    pub key: [u8; 32],
    pub event_id: Uuid,
    pub stream_id: String,
    /// Each sealed field's JSON pointer and class, in the order of their key ids.
    pub fields: Vec<(String, String)>,
    pub author: Option<String>,
    pub program_id: Option<Uuid>,
}

/// The low bits of a field's key id that number it within its event (`field_key_id`).
const FIELD_BITS: u128 = 0xffff;
const _: () = assert!(EVENT_KEY_FIELDS_MAX as u128 <= FIELD_BITS);

/// A new event key id: time-ordered (a commit's keys go to the end of the key table's index),
/// its low 16 bits zero.
pub fn event_key_id() -> Uuid {
    Uuid::from_u128(Uuid::now_v7().as_u128() & !FIELD_BITS)
}

/// The key id of the `index`th field of the event whose key id is `event_key_id`.
pub fn field_key_id(event_key_id: Uuid, index: usize) -> Uuid {
    debug_assert!(index < EVENT_KEY_FIELDS_MAX);
    Uuid::from_u128(event_key_id.as_u128() + index as u128 + 1)
}

/// The event key id a field's key id may be derived under (itself, for a field's own row).
fn event_key_id_of(field_key_id: Uuid) -> Uuid {
    Uuid::from_u128(field_key_id.as_u128() & !FIELD_BITS)
}

/// A field's key, derived from its event's key: HMAC-SHA-256 of the field's key id. Knowing some
/// fields' keys tells nothing of the event's key or of the other fields' keys.
pub fn field_key(event_key: &[u8; 32], field_key_id: Uuid) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(event_key).expect("HMAC takes keys of any length");
    mac.update(b"nic-ledger field key ");
    mac.update(field_key_id.as_bytes());
    mac.finalize().into_bytes().into()
}

impl EventKey {
    /// The `fields` column: the fields as JSON.
    fn fields_json(&self) -> String {
        serde_json::to_string(&self.fields).expect("strings serialise")
    }
}

/// A row of `personal_keys` as read: a field's own, or an event's (`fields`, its key in `key`).
type Stored = (FieldKey, Option<String>);

/// The field keys that stored rows give, by key id: an event's row gives one for each of its
/// fields. A field's own row comes first where both give the same id (a database may hold one
/// beside its event's row, written by an import that did not yet leave derived keys alone).
fn expand(rows: Vec<Stored>) -> Result<BTreeMap<Uuid, FieldKey>, StoreError> {
    let mut keys = BTreeMap::new();
    let mut own = Vec::new();
    for (row, fields) in rows {
        let Some(fields) = fields else {
            own.push(row);
            continue;
        };
        let fields: Vec<(String, String)> = serde_json::from_str(&fields).map_err(|e| {
            StoreError::InvalidAppend(format!("the fields of event key {}: {e}", row.key_id))
        })?;
        let Some(event_key) = row.key else {
            continue;
        };
        for (i, (field, class)) in fields.into_iter().enumerate() {
            let key_id = field_key_id(row.key_id, i);
            keys.insert(
                key_id,
                FieldKey {
                    key_id,
                    key: Some(field_key(&event_key, key_id)),
                    replacement: None,
                    field,
                    class,
                    ..row.clone()
                },
            );
        }
    }
    keys.extend(own.into_iter().map(|k| (k.key_id, k)));
    Ok(keys)
}

/// What splitting event rows comes to: their key ids, to delete, and their fields' keys, to keep
/// in rows of their own.
fn split(rows: Vec<Stored>) -> Result<(Vec<Uuid>, Vec<FieldKey>), StoreError> {
    let events = rows.iter().map(|(k, _)| k.key_id).collect();
    Ok((events, expand(rows)?.into_values().collect()))
}

/// The keys among `keys` that no kept event row (among `event_rows`) derives. Those are kept
/// already: a row of their own beside the event's would be the same key twice, and a page of keys
/// would count it twice.
fn not_derived(keys: &[FieldKey], event_rows: Vec<Stored>) -> Result<Vec<FieldKey>, StoreError> {
    let derived = expand(event_rows)?;
    Ok(keys
        .iter()
        .filter(|k| !derived.contains_key(&k.key_id))
        .cloned()
        .collect())
}

/// `ids` and the event key ids their keys may be derived under.
fn with_event_key_ids(ids: &[Uuid]) -> Vec<Uuid> {
    let mut all: Vec<Uuid> = ids
        .iter()
        .flat_map(|&id| [id, event_key_id_of(id)])
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The keys of `ids` among `rows`.
fn only(ids: &[Uuid], rows: Vec<Stored>) -> Result<Vec<FieldKey>, StoreError> {
    let mut keys = expand(rows)?;
    Ok(ids.iter().filter_map(|id| keys.remove(id)).collect())
}

/// The rows to read for a page of `limit` keys after a key: one more than the keys, for the event
/// key that key may be derived under, whose later fields come next.
fn page_rows(limit: usize) -> i64 {
    limit as i64 + 1
}

/// A page of keys after `after`, at most `limit`, from the rows read for it: those after it and
/// the event key it may be derived under (`page_rows` of them).
fn page(after: Option<Uuid>, limit: usize, rows: Vec<Stored>) -> Result<Vec<FieldKey>, StoreError> {
    Ok(expand(rows)?
        .into_values()
        .filter(|k| after.is_none_or(|a| k.key_id > a))
        .take(limit)
        .collect())
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
/// `PG_COLUMNS` and an event key's `fields`.
const READ_COLUMNS: &str = "key_id, key, replacement, event_id, stream_id, field, class, author, \
     program_id, created_at, fields";

fn key_of(bytes: Option<Vec<u8>>) -> Result<Option<[u8; 32]>, StoreError> {
    bytes
        .map(|b| {
            b.try_into()
                .map_err(|_| StoreError::InvalidAppend("a kept key is not 32 bytes".into()))
        })
        .transpose()
}

fn pg_row(r: &sqlx::postgres::PgRow) -> Result<Stored, StoreError> {
    let key = FieldKey {
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
    };
    Ok((key, r.try_get("fields")?))
}

fn sqlite_row(r: &sqlx::sqlite::SqliteRow) -> Result<Stored, StoreError> {
    let uuid = |col: &str| -> Result<Uuid, StoreError> {
        let text: String = r.try_get(col)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::InvalidAppend(format!("{col}: {e}")))
    };
    let program: Option<String> = r.try_get("program_id")?;
    let micros: i64 = r.try_get("created_at")?;
    let key = FieldKey {
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
    };
    Ok((key, r.try_get("fields")?))
}

/// The WHERE clause of the rows of a subject's keys, its parameter `$1`/`?1` bound by the caller
/// (an event's row holds all its fields: `of_subject` keeps the one asked for).
fn subject_filter(subject: &KeySubject) -> &'static str {
    match subject {
        KeySubject::Author(_) => "author = $1",
        KeySubject::Program(_) => {
            "program_id = $1 OR stream_id IN \
             (SELECT stream_id FROM personal_keys WHERE program_id = $1)"
        }
        KeySubject::Field { .. } => "event_id = $1 AND (field = $2 OR fields IS NOT NULL)",
        KeySubject::Stream(_) => "stream_id = $1",
    }
}

/// The subject's keys among the rows its filter found.
fn of_subject(subject: &KeySubject, rows: Vec<Stored>) -> Result<Vec<FieldKey>, StoreError> {
    Ok(expand(rows)?
        .into_values()
        .filter(|k| match subject {
            KeySubject::Field { field, .. } => &k.field == field,
            _ => true,
        })
        .collect())
}

// --- PostgreSQL ----------------------------------------------------------------------------

/// The append's statement with its events' keys (`postgres::INSERT` as a CTE named `ins`): the
/// keys are written only if the events are, in the same statement. Parameters `$11…$16` are the
/// keys'.
pub(crate) fn pg_keyed_insert(insert: &str) -> String {
    format!(
        "WITH ins AS ({insert}), k AS (INSERT INTO personal_keys ({READ_COLUMNS}) \
         SELECT k.id, k.key, NULL, k.ev, $1, '', '', k.a, k.p, $4, k.f \
         FROM unnest($11::uuid[], $12::bytea[], $13::uuid[], $14::text[], $15::text[], \
                     $16::uuid[]) AS k(id, key, ev, f, a, p) \
         WHERE EXISTS (SELECT FROM ins)) \
         SELECT global_position FROM ins ORDER BY global_position"
    )
}

/// Binds the event keys' columns as the arrays the append statements' key CTEs read, in order
/// (`pg_keyed_insert`'s `$11…$16`, and a group's).
pub(crate) fn pg_bind_keys<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    keys: &[EventKey],
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(keys.iter().map(|k| k.key_id).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.key.to_vec()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.event_id).collect::<Vec<_>>())
        .bind(keys.iter().map(EventKey::fields_json).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.author.clone()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.program_id).collect::<Vec<_>>())
}

pub(crate) async fn pg_read(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {READ_COLUMNS} FROM personal_keys WHERE key_id = ANY($1)"
    ))
    .bind(with_event_key_ids(ids))
    .fetch_all(pool)
    .await?;
    only(ids, rows.iter().map(pg_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn pg_find(
    pool: &PgPool,
    subject: &KeySubject,
) -> Result<Vec<FieldKey>, StoreError> {
    let sql = format!(
        "SELECT {READ_COLUMNS} FROM personal_keys WHERE {}",
        subject_filter(subject)
    );
    let query = sqlx::query(&sql);
    let query = match subject {
        KeySubject::Author(a) => query.bind(a),
        KeySubject::Program(p) => query.bind(p),
        KeySubject::Field { event_id, field } => query.bind(event_id).bind(field),
        KeySubject::Stream(s) => query.bind(s),
    };
    let rows = query.fetch_all(pool).await?;
    of_subject(subject, rows.iter().map(pg_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn pg_destroy(
    pool: &PgPool,
    ids: &[Uuid],
    replacements: &[(Uuid, String)],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let (replaced, texts): (Vec<Uuid>, Vec<String>) = replacements.iter().cloned().unzip();
    pg_split(&mut tx, &[ids, &replaced[..]].concat()).await?;
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

/// Splits the event keys that the keys of `ids` are derived from into one row per field: the
/// event's key is deleted, its fields' keys are kept in rows of their own.
async fn pg_split(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), StoreError> {
    let (events, keys) = split(pg_event_rows(conn, ids, " FOR UPDATE").await?)?;
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM personal_keys WHERE key_id = ANY($1)")
        .bind(&events)
        .execute(&mut *conn)
        .await?;
    pg_insert(conn, &keys).await?;
    Ok(())
}

/// The event rows that the keys of `ids` may be derived from (`lock`: a locking clause).
async fn pg_event_rows(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: &str,
) -> Result<Vec<Stored>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {READ_COLUMNS} FROM personal_keys \
         WHERE key_id = ANY($1) AND fields IS NOT NULL{lock}"
    ))
    .bind(with_event_key_ids(ids))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(pg_row).collect()
}

/// Writes keys (a key file's), leaving alone those kept already, in a row or derived.
pub(crate) async fn pg_put(pool: &PgPool, keys: &[FieldKey]) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    let ids: Vec<Uuid> = keys.iter().map(|k| k.key_id).collect();
    let keys = not_derived(keys, pg_event_rows(&mut conn, &ids, "").await?)?;
    pg_insert(&mut conn, &keys).await
}

/// Writes fields' own key rows, leaving ids already kept alone.
async fn pg_insert(conn: &mut PgConnection, keys: &[FieldKey]) -> Result<u64, StoreError> {
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
        written += insert.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

pub(crate) async fn pg_page(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<FieldKey>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {READ_COLUMNS} FROM personal_keys \
         WHERE $1::uuid IS NULL OR key_id > $1 OR key_id = $3 ORDER BY key_id LIMIT $2"
    ))
    .bind(after)
    .bind(page_rows(limit))
    .bind(after.map(event_key_id_of))
    .fetch_all(pool)
    .await?;
    page(
        after,
        limit,
        rows.iter().map(pg_row).collect::<Result<_, _>>()?,
    )
}

// --- SQLite ----------------------------------------------------------------------------------

/// Writes an append's event keys inside the committer's transaction, after its events, timed as
/// they are.
pub(crate) async fn sqlite_insert(
    conn: &mut SqliteConnection,
    recorded_micros: i64,
    keys: &[EventKey],
) -> Result<(), StoreError> {
    for chunk in keys.chunks(100) {
        let mut insert = QueryBuilder::new(format!("INSERT INTO personal_keys ({READ_COLUMNS}) "));
        insert.push_values(chunk, |mut b, k| {
            b.push_bind(k.key_id.to_string())
                .push_bind(k.key.to_vec())
                .push_bind(None::<String>)
                .push_bind(k.event_id.to_string())
                .push_bind(k.stream_id.clone())
                .push_bind("")
                .push_bind("")
                .push_bind(k.author.clone())
                .push_bind(k.program_id.map(|p| p.to_string()))
                .push_bind(recorded_micros)
                .push_bind(k.fields_json());
        });
        insert.build().execute(&mut *conn).await?;
    }
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
        "SELECT {READ_COLUMNS} FROM personal_keys \
         WHERE key_id IN (SELECT value FROM json_each(?1))"
    ))
    .bind(sqlite_ids(&with_event_key_ids(ids)))
    .fetch_all(&mut *conn)
    .await?;
    only(ids, rows.iter().map(sqlite_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn sqlite_find(
    conn: &mut SqliteConnection,
    subject: &KeySubject,
) -> Result<Vec<FieldKey>, StoreError> {
    let sql = format!(
        "SELECT {READ_COLUMNS} FROM personal_keys WHERE {}",
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
    let rows = query.fetch_all(&mut *conn).await?;
    of_subject(
        subject,
        rows.iter().map(sqlite_row).collect::<Result<_, _>>()?,
    )
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
        let replaced: Vec<Uuid> = replacements.iter().map(|(id, _)| *id).collect();
        sqlite_split(conn, &[ids, &replaced[..]].concat()).await?;
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

/// `pg_split` on SQLite, inside the caller's transaction.
async fn sqlite_split(conn: &mut SqliteConnection, ids: &[Uuid]) -> Result<(), StoreError> {
    let (events, keys) = split(sqlite_event_rows(conn, ids).await?)?;
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM personal_keys WHERE key_id IN (SELECT value FROM json_each(?1))")
        .bind(sqlite_ids(&events))
        .execute(&mut *conn)
        .await?;
    sqlite_write(conn, &keys).await?;
    Ok(())
}

/// `pg_event_rows` on SQLite.
async fn sqlite_event_rows(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
) -> Result<Vec<Stored>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {READ_COLUMNS} FROM personal_keys \
         WHERE key_id IN (SELECT value FROM json_each(?1)) AND fields IS NOT NULL"
    ))
    .bind(sqlite_ids(&with_event_key_ids(ids)))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(sqlite_row).collect()
}

/// `pg_put` on SQLite.
pub(crate) async fn sqlite_put(
    conn: &mut SqliteConnection,
    keys: &[FieldKey],
) -> Result<u64, StoreError> {
    let ids: Vec<Uuid> = keys.iter().map(|k| k.key_id).collect();
    let keys = not_derived(keys, sqlite_event_rows(conn, &ids).await?)?;
    sqlite_write(conn, &keys).await
}

/// Writes fields' own key rows, leaving ids already kept alone.
async fn sqlite_write(conn: &mut SqliteConnection, keys: &[FieldKey]) -> Result<u64, StoreError> {
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
                .push_bind(k.created_at.timestamp_micros());
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
        "SELECT {READ_COLUMNS} FROM personal_keys \
         WHERE ?1 IS NULL OR key_id > ?1 OR key_id = ?3 ORDER BY key_id LIMIT ?2"
    ))
    .bind(after.map(|a| a.to_string()))
    .bind(page_rows(limit))
    .bind(after.map(|a| event_key_id_of(a).to_string()))
    .fetch_all(&mut *conn)
    .await?;
    page(
        after,
        limit,
        rows.iter().map(sqlite_row).collect::<Result<_, _>>()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_row(fields: &[&str]) -> Stored {
        let row = FieldKey {
            key_id: event_key_id(),
            key: Some([3u8; 32]),
            replacement: None,
            event_id: Uuid::now_v7(),
            stream_id: "pdsa-1".into(),
            field: String::new(),
            class: String::new(),
            author: Some("token:a".into()),
            program_id: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|f| (f.to_string(), "free-text".to_string()))
            .collect();
        (row, Some(serde_json::to_string(&fields).unwrap()))
    }

    #[test]
    fn field_key_ids_count_up_from_their_event_key_id_and_their_keys_differ() {
        let many: Vec<Uuid> = (0..10_000).map(|_| event_key_id()).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]), "distinct, in order");
        let a = many[0];
        assert_eq!(a.as_u128() & FIELD_BITS, 0);
        let ids: Vec<Uuid> = (0..3).map(|i| field_key_id(a, i)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > a);
        assert!(ids.iter().all(|&id| event_key_id_of(id) == a));
        let last = field_key_id(a, EVENT_KEY_FIELDS_MAX - 1);
        assert_eq!(
            event_key_id_of(last),
            a,
            "the last field stays under its event"
        );
        let (k0, k1) = (field_key(&[1; 32], ids[0]), field_key(&[1; 32], ids[1]));
        assert_ne!(k0, k1);
        assert_ne!(k0, field_key(&[2; 32], ids[0]));
        assert_eq!(k0, field_key(&[1; 32], ids[0]));
    }

    #[test]
    fn an_event_row_reads_as_a_key_per_field_and_a_fields_own_row_comes_first() {
        let (row, fields) = event_row(&["/study/summary", "/study/results/0/result", "/x"]);
        let event = row.key_id;
        let own = FieldKey {
            key_id: field_key_id(event, 1),
            key: None,
            replacement: Some("sealed:v1:…".into()),
            ..row.clone()
        };
        let keys = expand(vec![(row, fields), (own.clone(), None)]).unwrap();
        let keys: Vec<FieldKey> = keys.into_values().collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].field, "/study/summary");
        assert_eq!(
            keys[0].key,
            Some(field_key(&[3; 32], field_key_id(event, 0)))
        );
        assert_eq!(keys[1], own);
        assert_eq!(keys[2].field, "/x");
        assert!(keys.iter().all(|k| k.event_id == own.event_id));
        assert_eq!(
            only(&[field_key_id(event, 2), event], vec![event_row(&["/a"])])
                .unwrap()
                .len(),
            0,
            "another event's row gives none of these"
        );
    }

    #[test]
    fn a_page_goes_on_inside_an_event_row() {
        let first = event_row(&["/a", "/b", "/c"]);
        let second = event_row(&["/d"]);
        let (a, b) = (first.0.key_id, second.0.key_id);
        let rows = || vec![first.clone(), second.clone()];
        let ids = |keys: Vec<FieldKey>| keys.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
        let one = page(None, 2, rows()).unwrap();
        assert_eq!(ids(one), [field_key_id(a, 0), field_key_id(a, 1)]);
        let two = page(Some(field_key_id(a, 1)), 2, rows()).unwrap();
        assert_eq!(ids(two), [field_key_id(a, 2), field_key_id(b, 0)]);
        assert!(page(Some(field_key_id(b, 0)), 2, rows())
            .unwrap()
            .is_empty());
    }
}
