//! Personal data sealed in the log: `Sealing` wraps a store so that what the contract classifies
//! as personal (`nic_events::personal_fields`) is stored encrypted, each field value under a key
//! of its own, derived from its event's key kept beside the log (`keys`), and read back opened. A destroyed key reads as
//! `[erased]`; a redacted one as its replacement. The hash chain covers the stored (sealed) form,
//! so erasing never breaks it. Exports and verification read the stored form (`stored`).
//!
//! A sealed field is a JSON string `sealed:v1:<key id, 32 hex digits>:<base64url of a 12-byte
//! nonce and the ChaCha20-Poly1305 ciphertext>`, the key id as associated data.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{AeadCore, ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use nic_events::personal::{personal_fields, ERASED_TEXT, SEALED_PREFIX};
use nic_events::{EventData, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId};
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::keys::{event_key_id, field_key, field_key_id, EventKey};
use crate::limits::{EVENT_KEY_FIELDS_MAX, KEYS_CACHED_MAX};
use crate::{AppendOutcome, Backend, EventStore, FieldKey, KeySubject, ReadAll, StoreError};

/// Bytes of a sealed field's nonce, before its ciphertext, and of the tag after it.
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The event types whose `keys` list keys destroyed: a reader forgets them from its cache.
pub const PRIVACY_EVENT_TYPES: [&str; 2] = ["PersonalDataErased", "PersonalFieldRedacted"];

/// What a key id opens to, as cached.
#[derive(Clone)]
enum Opening {
    Key([u8; 32]),
    /// A redaction: this sealed text reads in its place.
    Replaced(String),
}

/// A store whose personal fields are sealed on append and opened on read.
pub struct Sealing {
    inner: Arc<dyn EventStore>,
    cache: Mutex<HashMap<Uuid, Opening>>,
}

impl Sealing {
    pub fn new(inner: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The store underneath, whose reads give the stored (sealed) form: exports and
    /// verification read it.
    pub fn stored(&self) -> &Arc<dyn EventStore> {
        &self.inner
    }

    /// Forgets cached keys (after they were destroyed), or all of them (`None`).
    pub fn forget(&self, ids: Option<&[Uuid]>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match ids {
            Some(ids) => ids.iter().for_each(|id| {
                cache.remove(id);
            }),
            None => cache.clear(),
        }
    }

    fn cache_put(&self, entries: impl IntoIterator<Item = (Uuid, Opening)>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (id, opening) in entries {
            if cache.len() >= KEYS_CACHED_MAX {
                cache.clear();
            }
            cache.insert(id, opening);
        }
    }

    /// Seals the personal fields of `events` for `stream`: the events as stored, and the key of
    /// each event that has sealed fields. Each field's key is cached as it is derived: the
    /// follower reads the events as soon as they are committed, often before the appending task
    /// hears of it. Keys of an append that fails, or of a retry the store recognises, open
    /// nothing (no stored field names them) and age out.
    pub fn seal(
        &self,
        stream: &StreamId,
        events: Vec<NewEvent>,
    ) -> Result<(Vec<NewEvent>, Vec<EventKey>), StoreError> {
        let mut keys = Vec::new();
        let mut derived = Vec::new();
        let mut sealed = Vec::with_capacity(events.len());
        for mut e in events {
            let fields = personal_fields(&e.event_type);
            if fields.is_empty() {
                sealed.push(e);
                continue;
            }
            let invalid = |what: &str, err: serde_json::Error| {
                StoreError::InvalidAppend(format!("{} {what}: {err}", e.event_type))
            };
            let mut data: Value =
                serde_json::from_str(e.data.get()).map_err(|err| invalid("data", err))?;
            let author = serde_json::from_str::<Metadata>(e.metadata.get())
                .ok()
                .and_then(|m| m.actor);
            let program_id = data
                .get("program_id")
                .and_then(Value::as_str)
                .and_then(|p| Uuid::parse_str(p).ok())
                .or_else(|| {
                    (stream.category() == "program")
                        .then(|| stream.as_str().split_once('-'))
                        .flatten()
                        .and_then(|(_, id)| Uuid::parse_str(id).ok())
                });
            let (key_id, key) = (event_key_id(), new_key());
            let mut sealed_fields = Vec::new();
            for field in fields {
                let class = field.class.as_str();
                for_each_string(&mut data, &field.pointer, "", &mut |pointer, text| {
                    if sealed_fields.len() == EVENT_KEY_FIELDS_MAX {
                        return;
                    }
                    let id = field_key_id(key_id, sealed_fields.len());
                    let field = field_key(&key, id);
                    *text = seal_text(id, &field, text);
                    derived.push((id, Opening::Key(field)));
                    sealed_fields.push((pointer.to_string(), class.to_string()));
                });
            }
            if sealed_fields.len() == EVENT_KEY_FIELDS_MAX {
                return Err(StoreError::InvalidAppend(format!(
                    "{} holds more than {} personal texts, the most one event may hold",
                    e.event_type,
                    EVENT_KEY_FIELDS_MAX - 1
                )));
            }
            e.data = EventData::of(&data).map_err(|err| invalid("data", err))?;
            if !sealed_fields.is_empty() {
                keys.push(EventKey {
                    key_id,
                    key,
                    event_id: e.event_id,
                    stream_id: stream.as_str().to_string(),
                    fields: sealed_fields,
                    author,
                    program_id,
                });
            }
            sealed.push(e);
        }
        self.cache_put(derived);
        Ok((sealed, keys))
    }

    /// Opens every sealed field of `events`: a kept key's text, a redaction's replacement, or
    /// `[erased]`.
    pub async fn open(&self, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
        for e in events.iter() {
            if PRIVACY_EVENT_TYPES.contains(&e.event_type.as_str()) {
                self.forget(Some(&privacy_keys(e)));
            }
        }
        // Up to three rounds: a replacement is sealed under a key of its own.
        for _ in 0..3 {
            let wanted: HashSet<Uuid> = events
                .iter()
                .flat_map(|e| tokens(e.data.get()).map(|(_, id, _)| id))
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            let missing: Vec<Uuid> = {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                wanted
                    .iter()
                    .filter(|id| !cache.contains_key(id))
                    .copied()
                    .collect()
            };
            if !missing.is_empty() {
                let found = self.inner.read_keys(&missing).await?;
                self.cache_put(found.into_iter().filter_map(|k| {
                    let opening = match (k.key, k.replacement) {
                        (Some(key), _) => Opening::Key(key),
                        (None, Some(text)) => Opening::Replaced(text),
                        (None, None) => return None,
                    };
                    Some((k.key_id, opening))
                }));
            }
            // Only what this page needs is copied out of the cache (which may hold many keys).
            let cache: HashMap<Uuid, Opening> = {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                wanted
                    .iter()
                    .filter_map(|id| cache.get(id).map(|o| (*id, o.clone())))
                    .collect()
            };
            for e in events.iter_mut() {
                let text = e.data.get();
                if !text.contains(SEALED_PREFIX) {
                    continue;
                }
                let mut out = String::with_capacity(text.len());
                let mut rest = 0;
                for (range, key_id, payload) in tokens(text) {
                    out.push_str(&text[rest..range.start]);
                    let opened = match cache.get(&key_id) {
                        Some(Opening::Key(key)) => open_text(key_id, key, payload)
                            .unwrap_or_else(|| ERASED_TEXT.to_string()),
                        // Opened in the next round, with its own key.
                        Some(Opening::Replaced(sealed)) => sealed.clone(),
                        None => ERASED_TEXT.to_string(),
                    };
                    out.push_str(&serde_json::to_string(&opened).expect("a string serialises"));
                    rest = range.end;
                }
                out.push_str(&text[rest..]);
                e.data = EventData::stored(out);
            }
        }
        Ok(())
    }
}

/// The key ids a privacy event lists (`keys` of its data, stored in the clear).
pub fn privacy_keys(e: &RecordedEvent) -> Vec<Uuid> {
    serde_json::from_str::<Value>(e.data.get())
        .ok()
        .and_then(|d| d.get("keys").cloned())
        .and_then(|k| serde_json::from_value(k).ok())
        .unwrap_or_default()
}

/// A fresh random key, from the thread's CSPRNG (ChaCha, seeded and reseeded from the operating
/// system's), which spares a system call per key and nonce.
pub fn new_key() -> [u8; 32] {
    ChaCha20Poly1305::generate_key(&mut rand::thread_rng()).into()
}

/// Seals `text` under `key`.
pub fn seal_text(key_id: Uuid, key: &[u8; 32], text: &str) -> String {
    let nonce = ChaCha20Poly1305::generate_nonce(&mut rand::thread_rng());
    // The nonce, the ciphertext and its tag, in one buffer.
    let mut bytes = Vec::with_capacity(NONCE_BYTES + text.len() + TAG_BYTES);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(text.as_bytes());
    let tag = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(&nonce, key_id.as_bytes(), &mut bytes[NONCE_BYTES..])
        .expect("encryption of text in memory does not fail");
    bytes.extend_from_slice(&tag);
    // The prefix, the key id (32 hex digits) and a colon, then the base64 of the bytes.
    let mut out = String::with_capacity(SEALED_PREFIX.len() + 32 + 1 + bytes.len().div_ceil(3) * 4);
    out.push_str(SEALED_PREFIX);
    out.push_str(key_id.simple().encode_lower(&mut Uuid::encode_buffer()));
    out.push(':');
    URL_SAFE_NO_PAD.encode_string(bytes, &mut out);
    out
}

/// The text sealed in `payload` (the part after the key id), None when it does not open.
pub fn open_text(key_id: Uuid, key: &[u8; 32], payload: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    if bytes.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let plain = ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: key_id.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

/// The sealed strings in JSON text: each one's byte range with its quotes, key id and payload.
/// Only a whole JSON string counts: text that merely quotes the form inside another string (an
/// escaped quote before it) or holds other characters is left as it is.
pub fn tokens(json: &str) -> impl Iterator<Item = (std::ops::Range<usize>, Uuid, &str)> {
    let quoted = format!("\"{SEALED_PREFIX}");
    let mut from = 0;
    std::iter::from_fn(move || loop {
        let start = from + json[from..].find(&quoted)?;
        let body_start = start + quoted.len();
        from = body_start;
        if start > 0 && json.as_bytes()[start - 1] == b'\\' {
            continue;
        }
        let end = body_start + json[body_start..].find('"')?;
        let body = &json[body_start..end];
        if !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_'))
        {
            continue;
        }
        from = end + 1;
        let Some((id, payload)) = body.split_once(':') else {
            continue;
        };
        let Ok(key_id) = Uuid::try_parse(id) else {
            continue;
        };
        return Some((start..end + 1, key_id, payload));
    })
}

/// Calls `f` with every string at `pattern` (a JSON pointer, `*` for every array index) below
/// `value`, and the concrete pointer it is at.
fn for_each_string(
    value: &mut Value,
    pattern: &str,
    at: &str,
    f: &mut dyn FnMut(&str, &mut String),
) {
    let Some(rest) = pattern.strip_prefix('/') else {
        if let Value::String(text) = value {
            f(at, text);
        }
        return;
    };
    let (step, rest) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match (step, value) {
        ("*", Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                for_each_string(item, rest, &format!("{at}/{i}"), f);
            }
        }
        (name, Value::Object(map)) => {
            if let Some(child) = map.get_mut(name) {
                for_each_string(child, rest, &format!("{at}/{name}"), f);
            }
        }
        _ => {}
    }
}

#[async_trait]
impl EventStore for Sealing {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    async fn append_keyed(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        mut keys: Vec<EventKey>,
    ) -> Result<AppendOutcome, StoreError> {
        let (events, sealed) = self.seal(stream, events)?;
        keys.extend(sealed);
        self.inner
            .append_keyed(stream, expected, events, keys)
            .await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_stream(stream, from_version, limit).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError> {
        self.inner.stream_version(stream).await
    }

    async fn read_all(&self, query: &ReadAll) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_all(query).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn read_all_woken(
        &self,
        query: &ReadAll,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
        let (mut events, ticked) = self.inner.read_all_woken(query).await?;
        self.open(&mut events).await?;
        Ok((events, ticked))
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_positions(positions).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn committed_head(&self) -> Result<u64, StoreError> {
        self.inner.committed_head().await
    }

    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.position_at(time).await
    }

    fn read_held_back(&self) -> std::time::Duration {
        self.inner.read_held_back()
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.inner.wakeups()
    }

    async fn read_keys(&self, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
        self.inner.read_keys(ids).await
    }

    async fn find_keys(&self, subject: &KeySubject) -> Result<Vec<FieldKey>, StoreError> {
        self.inner.find_keys(subject).await
    }

    async fn destroy_keys(
        &self,
        ids: &[Uuid],
        replacements: &[(Uuid, String)],
    ) -> Result<u64, StoreError> {
        let destroyed = self.inner.destroy_keys(ids, replacements).await?;
        self.forget(Some(ids));
        Ok(destroyed)
    }

    async fn put_keys(&self, keys: &[FieldKey]) -> Result<u64, StoreError> {
        self.inner.put_keys(keys).await
    }

    async fn keys_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FieldKey>, StoreError> {
        self.inner.keys_page(after, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_with_its_key_only() {
        let (id, key) = (Uuid::new_v4(), [7u8; 32]);
        let sealed = seal_text(id, &key, "Jamal Washington joined the lab");
        assert!(!sealed.contains("Jamal"));
        let json = serde_json::to_string(&serde_json::json!({ "summary": sealed })).unwrap();
        let found: Vec<_> = tokens(&json).collect();
        assert_eq!(found.len(), 1);
        let (_, key_id, payload) = found[0];
        assert_eq!(key_id, id);
        assert_eq!(
            open_text(id, &key, payload).as_deref(),
            Some("Jamal Washington joined the lab")
        );
        assert_eq!(open_text(id, &[8u8; 32], payload), None);
        assert_eq!(open_text(Uuid::new_v4(), &key, payload), None);
    }

    #[test]
    fn only_whole_json_strings_are_sealed_fields() {
        let sealed = seal_text(Uuid::new_v4(), &[1u8; 32], "x");
        let quoted = serde_json::to_string(&serde_json::json!({
            "title": format!("Say \"{sealed}\" now"),
            "note": format!("{sealed} and more"),
        }))
        .unwrap();
        assert_eq!(tokens(&quoted).count(), 0, "{quoted}");
        let whole =
            serde_json::to_string(&serde_json::json!({ "a": [sealed.clone(), sealed] })).unwrap();
        assert_eq!(tokens(&whole).count(), 2);
    }

    #[test]
    fn strings_at_a_pattern_are_found_with_their_pointers() {
        let mut v = serde_json::json!({ "study": { "summary": "a", "results": [
            { "result": "b", "learned": "c" }, { "result": "d" } ] } });
        let mut seen = Vec::new();
        for_each_string(&mut v, "/study/results/*/result", "", &mut |at, text| {
            seen.push((at.to_string(), text.clone()));
            *text = "x".into();
        });
        assert_eq!(
            seen,
            vec![
                ("/study/results/0/result".into(), "b".into()),
                ("/study/results/1/result".into(), "d".into())
            ]
        );
        assert_eq!(v["study"]["results"][1]["result"], "x");
        assert_eq!(v["study"]["summary"], "a");
    }
}
