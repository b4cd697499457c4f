//! The hash chain: each event's hash covers its own content and the hash of the event before it in
//! its stream, so changing any stored event breaks the chain at that event.
//!
//! The PostgreSQL backend computes the same function in SQL (`nic_append` in the migrations); the
//! store conformance suite checks that both agree by verifying chains written by either backend.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The "previous hash" of the first event of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256, as lowercase hex, of the fields joined by newlines in this order: previous hash, event
/// id, stream id, stream version, event type, schema version, recorded time in microseconds since
/// the Unix epoch, data JSON text, metadata JSON text.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    previous_hash: &str,
    event_id: Uuid,
    stream_id: &str,
    stream_version: u64,
    event_type: &str,
    schema_version: u32,
    recorded_at_micros: i64,
    data: &str,
    metadata: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        previous_hash,
        &event_id.to_string(),
        stream_id,
        &stream_version.to_string(),
        event_type,
        &schema_version.to_string(),
        &recorded_at_micros.to_string(),
        data,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(metadata.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_hash() {
        let id = Uuid::nil();
        let base = chain_hash(GENESIS_HASH, id, "s-1", 0, "t", 1, 5, "{}", "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, chain_hash(&base, id, "s-1", 0, "t", 1, 5, "{}", "{}"));
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-2", 0, "t", 1, 5, "{}", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 1, "t", 1, 5, "{}", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 0, "u", 1, 5, "{}", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 0, "t", 2, 5, "{}", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 0, "t", 1, 6, "{}", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 0, "t", 1, 5, "[]", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, id, "s-1", 0, "t", 1, 5, "{}", "[]")
        );
    }
}
