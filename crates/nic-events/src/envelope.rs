//! The envelope: what the store keeps around every event, and the small parsed types it is made of.
//!
//! Event data and metadata are kept as the exact JSON text that was appended (`EventData`), so that
//! the hash chain is computed over bytes that never change between writing, storing and reading back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::limits::STREAM_ID_BYTES_MAX;

/// The JSON text of an event's data or metadata, exactly as appended. It is JSON by construction:
/// checked when it comes from outside (`parse`, or read as part of a JSON document), written by
/// serde (`of`), or read back from a store's column, which its database checked on the way in
/// (`stored`). Serialised as the JSON it holds, not as a string.
#[derive(Clone, PartialEq, Eq)]
pub struct EventData(Box<str>);

/// A JSON object (an event's data as its type's schema says, or its metadata).
impl schemars::JsonSchema for EventData {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventData".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object"})
    }
}

impl EventData {
    /// JSON text, checked.
    pub fn parse(text: String) -> serde_json::Result<Self> {
        serde_json::from_str::<&RawValue>(&text)?;
        Ok(Self(text.into_boxed_str()))
    }

    /// A value written as JSON.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        Ok(Self(serde_json::to_string(value)?.into_boxed_str()))
    }

    /// Text read back from a store's data or metadata column, not parsed again: both schemas
    /// refuse text that is not JSON (PostgreSQL's `json` type, SQLite's `CHECK (json_valid(…))`).
    /// A reader of a rebuild would otherwise parse every event twice, once here and once into
    /// its type; a reader that parses it still reports text that is not JSON.
    pub fn stored(text: String) -> Self {
        Self(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::from_str::<&RawValue>(&self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Self(raw.into()))
    }
}

/// A stream's id, such as `pdsa-0190c7e2-…`. The part before the first dash is the stream's category.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamIdError {
    #[error("a stream id is `category-id`: a lowercase category, a dash, then an id")]
    Shape,
    #[error("a stream id is at most {STREAM_ID_BYTES_MAX} bytes")]
    TooLong,
}

impl StreamId {
    /// Parses `category-rest`, where the category is lowercase ASCII letters, digits or `_`, and the
    /// rest is non-empty printable ASCII without spaces.
    pub fn parse(s: impl Into<String>) -> Result<Self, StreamIdError> {
        let s = s.into();
        if s.len() > STREAM_ID_BYTES_MAX {
            return Err(StreamIdError::TooLong);
        }
        let (category, rest) = s.split_once('-').ok_or(StreamIdError::Shape)?;
        let category_ok = !category.is_empty()
            && category
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let rest_ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_graphic());
        if category_ok && rest_ok {
            Ok(Self(s))
        } else {
            Err(StreamIdError::Shape)
        }
    }

    /// The stream id for an entity of a category, such as `pdsa-<uuid>`.
    pub fn for_entity(category: &str, id: Uuid) -> Self {
        Self::parse(format!("{category}-{id}")).expect("category of the event catalog")
    }

    /// The part before the first dash.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map(|(c, _)| c).unwrap_or(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = StreamIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<StreamId> for String {
    fn from(s: StreamId) -> Self {
        s.0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an append expects of the stream's current version, in the vocabulary event-store users know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "version")]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold at least one event.
    StreamExists,
    /// The stream's last event must have exactly this version (0-based).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `current` (None: no stream) satisfies this expectation.
    pub fn is_met_by(self, current: Option<u64>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current.is_none(),
            Self::StreamExists => current.is_some(),
            Self::Exact(v) => current == Some(v),
        }
    }
}

/// Who did it and why: kept with every event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The acting principal, such as `token:facilitator-ana` or `system:demo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Groups the events of one request or workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The SHA-256 (hex) of the request an idempotency key came with, so that the same key sent
    /// with another request is refused instead of answered with this one's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<String>,
    /// The day what the event records happened, when its data do not say it and it was not the
    /// day it was recorded: a network's earlier records brought into the ledger later. The
    /// recorded time stays the ledger's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_on: Option<chrono::NaiveDate>,
}

/// An event about to be appended. The store assigns its version, position, time and hash.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// A UUID v7; a retried append with the same ids is recognised and writes nothing.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: EventData,
    pub metadata: EventData,
}

impl NewEvent {
    /// Builds an event from serialisable data and metadata, with a fresh UUID v7 id.
    pub fn new<T: Serialize>(
        event_type: impl Into<String>,
        schema_version: u32,
        data: &T,
        metadata: &Metadata,
    ) -> serde_json::Result<Self> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            data: EventData::of(data)?,
            metadata: EventData::of(metadata)?,
        })
    }

    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }
}

/// An event as stored: the envelope plus the data and metadata it was appended with.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: StreamId,
    /// 0-based and contiguous within the stream.
    pub stream_version: u64,
    /// Increasing across the whole log (not necessarily contiguous).
    pub global_position: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub data: EventData,
    pub metadata: EventData,
    /// UTC, to the microsecond.
    pub recorded_at: DateTime<Utc>,
    /// SHA-256 (hex) over this event and the hash of the previous event in its stream.
    pub hash: String,
}

impl RecordedEvent {
    /// The event's metadata, parsed.
    pub fn metadata(&self) -> serde_json::Result<Metadata> {
        serde_json::from_str(self.metadata.get())
    }

    /// The hash this event should carry, given the hash of the previous event in its stream.
    pub fn expected_hash(&self, previous_hash: &str) -> String {
        crate::chain::chain_hash(
            previous_hash,
            self.event_id,
            self.stream_id.as_str(),
            self.stream_version,
            &self.event_type,
            self.schema_version,
            self.recorded_at.timestamp_micros(),
            self.data.get(),
            self.metadata.get(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_parse_with_their_category() {
        let id = StreamId::parse("pdsa-42").unwrap();
        assert_eq!(id.category(), "pdsa");
        assert_eq!(StreamId::parse("pdsa"), Err(StreamIdError::Shape));
        assert_eq!(StreamId::parse("-x"), Err(StreamIdError::Shape));
        assert_eq!(StreamId::parse("Pdsa-x"), Err(StreamIdError::Shape));
        assert_eq!(StreamId::parse("pdsa-a b"), Err(StreamIdError::Shape));
        assert_eq!(
            StreamId::parse(format!("p-{}", "x".repeat(STREAM_ID_BYTES_MAX))),
            Err(StreamIdError::TooLong)
        );
    }

    #[test]
    fn event_data_is_json_written_as_itself() {
        assert!(EventData::parse("{\"a\": [1, 2".into()).is_err());
        assert!(EventData::parse("not json".into()).is_err());
        let text = "{\"b\": 1,  \"a\": \"x\"}";
        let data = EventData::parse(text.into()).unwrap();
        // Kept byte for byte, and written into a document as JSON, not as a string.
        assert_eq!(data.get(), text);
        let written = serde_json::to_string(&vec![&data]).unwrap();
        assert_eq!(written, format!("[{text}]"));
        let read: Vec<EventData> = serde_json::from_str(&written).unwrap();
        assert_eq!(read, vec![data]);
        assert_eq!(
            EventData::of(&serde_json::json!({ "k": [1] }))
                .unwrap()
                .get(),
            "{\"k\":[1]}"
        );
    }

    #[test]
    fn expected_versions_match_their_meaning() {
        use ExpectedVersion::*;
        assert!(Any.is_met_by(None) && Any.is_met_by(Some(3)));
        assert!(NoStream.is_met_by(None) && !NoStream.is_met_by(Some(0)));
        assert!(!StreamExists.is_met_by(None) && StreamExists.is_met_by(Some(0)));
        assert!(Exact(2).is_met_by(Some(2)) && !Exact(2).is_met_by(Some(1)));
        assert!(!Exact(0).is_met_by(None));
    }
}
