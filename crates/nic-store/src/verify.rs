//! Verification of the hash chains: walks the whole log in global order, recomputes every event's
//! hash from its stored content and the previous event of its stream, and reports the first event
//! whose stored content no longer matches, and any gap in a stream's versions. `verify_event`
//! does the same for one event, over its stream up to it (a statement's verification code).

use std::collections::HashMap;

use nic_events::{RecordedEvent, GENESIS_HASH};

use crate::limits::VERIFY_PAGE_EVENTS;
use crate::{EventStore, ReadAll, StoreError};

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    pub global_position: u64,
    pub stream_id: String,
    pub stream_version: u64,
    pub reason: String,
}

/// The result of walking the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub events_checked: u64,
    pub streams_checked: u64,
    /// The first event (in global order) that does not match, if any.
    pub first_break: Option<ChainBreak>,
}

/// Checks every stream's chain, up to every event committed when called at least (it fails rather
/// than check less: `whole_log_head`); `progress` is called after each page with the events
/// checked.
pub async fn verify_chains(
    store: &dyn EventStore,
    mut progress: impl FnMut(u64),
) -> Result<ChainReport, StoreError> {
    let wait = std::time::Duration::from_millis(crate::limits::WHOLE_LOG_WAIT_MS);
    crate::whole_log_head(store, wait).await?;
    // The last (version, hash) seen of each stream.
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let mut report = ChainReport::default();
    let mut query = ReadAll::after(0, VERIFY_PAGE_EVENTS);
    loop {
        let page = store.read_all(&query).await?;
        let Some(last) = page.last() else { break };
        query.after = last.global_position;
        for e in &page {
            report.events_checked += 1;
            if let Some(reason) = check(&heads, e) {
                report.first_break = Some(ChainBreak {
                    global_position: e.global_position,
                    stream_id: e.stream_id.to_string(),
                    stream_version: e.stream_version,
                    reason,
                });
                report.streams_checked = heads.len() as u64;
                return Ok(report);
            }
            heads.insert(e.stream_id.to_string(), (e.stream_version, e.hash.clone()));
        }
        progress(report.events_checked);
    }
    report.streams_checked = heads.len() as u64;
    Ok(report)
}

/// One event checked against the log: its stream's chain recomputed from its first event up to it.
#[derive(Clone, Debug)]
pub struct EventProof {
    pub event: RecordedEvent,
    /// The first event of the stream, up to this one, whose stored content no longer matches its
    /// hash (or that breaks the stream's versions); None when the chain holds.
    pub first_break: Option<ChainBreak>,
}

/// Checks the event at `position`: recomputes its stream's chain up to it. None when no event is
/// at that position.
pub async fn verify_event(
    store: &dyn EventStore,
    position: u64,
) -> Result<Option<EventProof>, StoreError> {
    let Some(event) = store.read_positions(&[position]).await?.into_iter().next() else {
        return Ok(None);
    };
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let mut from = 0;
    while from <= event.stream_version {
        let page = store
            .read_stream(&event.stream_id, from, VERIFY_PAGE_EVENTS)
            .await?;
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        for e in page
            .iter()
            .filter(|e| e.stream_version <= event.stream_version)
        {
            if let Some(reason) = check(&heads, e) {
                let first_break = Some(ChainBreak {
                    global_position: e.global_position,
                    stream_id: e.stream_id.to_string(),
                    stream_version: e.stream_version,
                    reason,
                });
                return Ok(Some(EventProof { event, first_break }));
            }
            heads.insert(e.stream_id.to_string(), (e.stream_version, e.hash.clone()));
        }
    }
    Ok(Some(EventProof {
        event,
        first_break: None,
    }))
}

fn check(heads: &HashMap<String, (u64, String)>, e: &RecordedEvent) -> Option<String> {
    let (expected_version, previous) = match heads.get(e.stream_id.as_str()) {
        Some((v, h)) => (v + 1, h.as_str()),
        None => (0, GENESIS_HASH),
    };
    if e.stream_version != expected_version {
        return Some(format!(
            "stream version {} follows version {} (expected {expected_version})",
            e.stream_version,
            expected_version as i64 - 1
        ));
    }
    if e.expected_hash(previous) != e.hash {
        return Some("stored content does not match its hash".into());
    }
    None
}
