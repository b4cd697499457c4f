//! Warm connections for the statements every append and every read of the log runs. sqlx tests a
//! connection given back to its pool with a round trip of its own (a ping on release), which
//! would double the round trips of each such statement; these connections stay checked out
//! between statements instead. One goes back here only after its statement ended well; one whose
//! statement failed, or was dropped midway, goes back to the pool, which tests it. One left unused
//! for `PG_PING_IDLE_MS` goes back to the pool too, which pings it before its next use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::Postgres;

use crate::limits::{PG_PING_IDLE_MS, PG_WARM_CONNECTIONS_MAX};

pub(crate) struct Warm {
    pool: PgPool,
    /// The newest last: the one used last is used first.
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl Warm {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A connection: a warm one if one is idle, else one from the pool.
    pub async fn take(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let (warm, cold) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let stale = Duration::from_millis(PG_PING_IDLE_MS);
            // The oldest go stale first.
            let stale = idle
                .iter()
                .position(|(_, since)| since.elapsed() < stale)
                .unwrap_or(idle.len());
            let cold: Vec<_> = idle.drain(..stale).collect();
            (idle.pop(), cold)
        };
        drop(cold);
        match warm {
            Some((conn, _)) => Ok(conn),
            None => self.pool.acquire().await,
        }
    }

    /// Gives back a connection whose statement ended well.
    pub fn give(&self, conn: PoolConnection<Postgres>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < PG_WARM_CONNECTIONS_MAX {
            idle.push((conn, Instant::now()));
        }
    }
}
