//! Reading the global log ahead of its reader, for folds of a long stretch of it (a rebuild, an
//! as-of read): one task reads the next pages from the store, another turns each event into what
//! the reader wants (`map`: parsing it, say), while the reader works on the pages before. On a
//! machine with more than one core, the database's work, mapping and folding then overlap instead
//! of taking turns.
//!
//! The pages are those of `EventStore::read_all` for the query, in order; the read stops at the
//! first empty page (the head as the reads find it) or at the first error, which is handed on.

use std::sync::Arc;

use nic_events::RecordedEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::limits::READ_AHEAD_PAGES_MAX;
use crate::{EventStore, ReadAll, StoreError};

pub struct ReadAhead<T> {
    pages: mpsc::Receiver<Result<Vec<T>, StoreError>>,
    spent: mpsc::UnboundedSender<Vec<T>>,
    reader: JoinHandle<()>,
    mapper: JoinHandle<()>,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts reading the log as `query` asks, page after page, each event mapped by `map`. One
    /// task reads and another maps, so the next page is being read while this one is mapped.
    pub fn start(
        store: Arc<dyn EventStore>,
        mut query: ReadAll,
        map: impl Fn(RecordedEvent) -> T + Send + 'static,
    ) -> Self {
        let (raw_tx, mut raw) = mpsc::channel::<Result<Vec<RecordedEvent>, StoreError>>(1);
        let reader = tokio::spawn(async move {
            loop {
                let page = store.read_all(&query).await;
                // After an error, or the first empty page (the head), there is nothing more to read.
                let next = match &page {
                    Ok(events) => match events.last() {
                        Some(last) => Some(last.global_position),
                        None => return,
                    },
                    Err(_) => None,
                };
                if raw_tx.send(page).await.is_err() {
                    return;
                }
                let Some(next) = next else { return };
                query.after = next;
            }
        });
        let (tx, pages) = mpsc::channel(READ_AHEAD_PAGES_MAX);
        let (spent, mut spent_pages) = mpsc::unbounded_channel::<Vec<T>>();
        let mapper = tokio::spawn(async move {
            // A page handed back keeps its buffer for the next page mapped: a page of parsed
            // events is large, and a fresh one each time cost page faults as well as copying.
            let mut spare: Option<Vec<T>> = None;
            while let Some(page) = raw.recv().await {
                while let Ok(mut spent) = spent_pages.try_recv() {
                    spent.clear();
                    spare = Some(spent);
                }
                let mapped = page.map(|page| {
                    let mut out = spare.take().unwrap_or_default();
                    out.extend(page.into_iter().map(&map));
                    out
                });
                if tx.send(mapped).await.is_err() {
                    return;
                }
            }
        });
        Self {
            pages,
            spent,
            reader,
            mapper,
        }
    }

    /// The next page; None once the log is read to the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, StoreError> {
        self.pages.recv().await.transpose()
    }

    /// Hands back a page the reader is done with, to be freed by the task that mapped it (the
    /// allocator frees memory fastest on the thread that allocated it, and the reader, a fold,
    /// is the slowest stage), which reuses its buffer. A page not handed back is freed wherever
    /// it is dropped.
    pub fn done(&self, page: Vec<T>) {
        // Once the mapper has finished, the page comes back here and is dropped now.
        let _ = self.spent.send(page);
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        self.reader.abort();
        self.mapper.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_events::{ExpectedVersion, Metadata, NewEvent, StreamId};

    #[tokio::test]
    async fn every_event_arrives_once_in_order_across_pages() {
        let path = std::env::temp_dir().join(format!("nic-read-ahead-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", path.display());
        let store = crate::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        for i in 0..25u32 {
            let stream =
                StreamId::parse(format!("network-{}", uuid::Uuid::from_u128(i.into()))).unwrap();
            let events = (0..3)
                .map(|k| {
                    NewEvent::new(
                        "Noted",
                        1,
                        &serde_json::json!({ "k": k }),
                        &Metadata::default(),
                    )
                    .unwrap()
                })
                .collect();
            store
                .append(&stream, ExpectedVersion::NoStream, events)
                .await
                .unwrap();
        }
        let mut ahead =
            ReadAhead::start(store.clone(), ReadAll::after(10, 7), |e| e.global_position);
        let mut seen: Vec<u64> = Vec::new();
        let mut pages = 0;
        while let Some(page) = ahead.next_page().await.unwrap() {
            assert!(page.len() <= 7);
            seen.extend(page.iter().copied());
            // Every other page is handed back to be freed by the mapper.
            if pages % 2 == 0 {
                ahead.done(page);
            }
            pages += 1;
        }
        assert_eq!(seen, (11..=75).collect::<Vec<u64>>());
        assert_eq!(pages, 10);
        drop(ahead);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
