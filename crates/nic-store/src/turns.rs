//! Turns on streams: the writers of this process to one stream go one after the other, so they
//! never race each other for its head (and never pay a lost race's reads and retries). The
//! PostgreSQL store takes a turn around each append; the command runner takes one around deciding
//! and appending. Writers in other processes still can race, and a lost race is tried again.

use std::collections::HashMap;
use std::sync::Arc;

use nic_events::StreamId;

/// One turn at a time per stream, among the tasks of this process that share a `Turns`.
#[derive(Default)]
pub struct Turns {
    streams: std::sync::Mutex<HashMap<StreamId, Arc<tokio::sync::Mutex<()>>>>,
}

/// One writer's turn on its stream; the next waiting writer goes when it is dropped.
pub struct Turn<'a> {
    turns: &'a Turns,
    stream: StreamId,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `stream`'s turn.
    pub async fn take(&self, stream: &StreamId) -> Turn<'_> {
        let lock = self
            .streams
            .lock()
            .expect("the turns")
            .entry(stream.clone())
            .or_default()
            .clone();
        let guard = lock.lock_owned().await;
        Turn {
            turns: self,
            stream: stream.clone(),
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // The stream's entry goes once nobody holds or awaits its turn.
        let mut streams = self.turns.streams.lock().expect("the turns");
        if streams
            .get(&self.stream)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            streams.remove(&self.stream);
        }
    }
}
