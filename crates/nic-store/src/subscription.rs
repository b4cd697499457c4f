//! Subscriptions: every event after a position, in global order, first from the store (catch-up),
//! then live as appends arrive. Written once over `EventStore`, so both backends behave the same.
//!
//! A subscription never trusts a wake-up to carry events: it is only a reason to read the store from
//! its own checkpoint. After a page that was not full (the head as the store could read it) or an
//! empty one, it reads again on the next wake-up; when none comes it polls anyway every
//! `SUBSCRIPTION_POLL_MS`. Woken at the head, it reads no sooner than `SUBSCRIPTION_READ_GAP_MS`
//! after its last read began, so that a stream of appends is read several events at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use nic_events::limits::SUBSCRIPTION_POLL_MS;
use nic_events::RecordedEvent;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::limits::{SUBSCRIPTION_PAGE_EVENTS, SUBSCRIPTION_READ_GAP_MS};
use crate::{EventStore, ReadAll, StoreError};

pub struct Subscription {
    store: Arc<dyn EventStore>,
    query: ReadAll,
    wakeups: watch::Receiver<u64>,
    buffer: VecDeque<RecordedEvent>,
    /// The last page was not full: it reached the head as the store could read it, so the next
    /// read waits for a wake-up (an append, or the store proving more of the log) or the poll.
    at_head: bool,
    /// When the last read began.
    last_read: Option<Instant>,
}

impl Subscription {
    /// Follows the log after position `filter.after`, with `filter`'s categories and types.
    pub fn new(store: Arc<dyn EventStore>, mut filter: ReadAll) -> Self {
        filter.limit = SUBSCRIPTION_PAGE_EVENTS;
        filter.woken = true;
        let wakeups = store.wakeups();
        Self {
            store,
            query: filter,
            wakeups,
            buffer: VecDeque::new(),
            at_head: false,
            last_read: None,
        }
    }

    /// The position of the last event handed out (or the starting position).
    pub fn position(&self) -> u64 {
        self.query.after
    }

    /// The next event, waiting for one to be appended if the subscriber has caught up.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            self.fill().await?;
        }
    }

    /// The next batch of events (at most one page), waiting if there are none yet.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        while self.buffer.is_empty() {
            self.fill().await?;
        }
        Ok(self.buffer.drain(..).collect())
    }

    /// Reads one page; when there is nothing new, waits for a wake-up or the poll interval.
    async fn fill(&mut self) -> Result<(), StoreError> {
        let poll = Duration::from_millis(SUBSCRIPTION_POLL_MS);
        if std::mem::take(&mut self.at_head) {
            // A wake-up since the last read began (it was marked seen then) ends this at once.
            let _ = tokio::time::timeout(poll, self.wakeups.changed()).await;
            if let Some(last) = self.last_read {
                tokio::time::sleep_until(last + Duration::from_millis(SUBSCRIPTION_READ_GAP_MS))
                    .await;
            }
        }
        // Mark the current tick as seen before reading, so an append that lands during the read
        // still wakes the wait below.
        let before = *self.wakeups.borrow_and_update();
        self.last_read = Some(Instant::now());
        let (page, ticked) = self.store.read_all_woken(&self.query).await?;
        // A tick this read made itself (it proved more of the log, and read it) is no reason to
        // read again; one made by anything else still is. Marking ticks seen marks them all, so
        // one that came after this read's own is remembered as missed.
        let mut missed = false;
        if let Some(own) = ticked.filter(|t| *t == before.wrapping_add(1)) {
            missed = *self.wakeups.borrow_and_update() != own;
        }
        if let Some(last) = page.last() {
            self.query.after = last.global_position;
            self.at_head = page.len() < self.query.page_size() && !missed;
            self.buffer.extend(page);
            return Ok(());
        }
        if missed {
            return Ok(());
        }
        // An error means the store was dropped; polling still works until the caller stops.
        let _ = tokio::time::timeout(poll, self.wakeups.changed()).await;
        Ok(())
    }
}
