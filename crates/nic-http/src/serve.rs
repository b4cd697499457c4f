//! The server around the router: one task per connection, at most `CONNECTIONS_MAX` at once and
//! `CONNECTIONS_PER_ADDRESS_MAX` from one address but a trusted proxy's (one more is answered 503
//! and closed), HTTP/1.1 with a deadline for each request's headers (which
//! also closes a keep-alive connection left idle) and for each piece of a request's body (408),
//! the client's address for the live feeds' limits (the peer's, or the one a trusted proxy puts
//! last in `X-Forwarded-For`), small writes sent at once, and a graceful stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::limits::{
    ACCEPT_RETRY_MS, BODY_IDLE_SECS, CONNECTIONS_MAX, CONNECTIONS_PER_ADDRESS_MAX,
    HEADER_READ_SECS, RETRY_AFTER_SECS,
};
use crate::problem::{Problem, ProblemKind};

/// How long a client may take, how many may connect at once, and which proxies to believe.
#[derive(Debug, Clone)]
pub struct Edge {
    /// For a request's headers, counted from when the connection is ready for the next request:
    /// an idle keep-alive connection is closed after this long too.
    pub header_read: Duration,
    /// Between two pieces of a request's body.
    pub body_idle: Duration,
    /// Connections open at once.
    pub connections_max: usize,
    /// Connections open at once from one address (a trusted proxy's are not counted).
    pub connections_per_address_max: usize,
    /// Proxies whose `X-Forwarded-For` names the client (its last address).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(HEADER_READ_SECS),
            body_idle: Duration::from_secs(BODY_IDLE_SECS),
            connections_max: CONNECTIONS_MAX,
            connections_per_address_max: CONNECTIONS_PER_ADDRESS_MAX,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections finish
/// what they are answering and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: Edge,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(edge.connections_max));
    let trusted: Arc<[IpAddr]> = edge.trusted_proxies.into();
    let by_address = Arc::new(Mutex::new(HashMap::new()));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up: wait a moment, go on.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Small writes go out at once: a live stream's events (and an answer's last bytes)
        // would otherwise wait for the client's delayed ACK (Nagle's algorithm), up to 40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let max = edge.connections_max;
            tokio::spawn(refuse(
                tcp,
                format!("{max} connections are open, as many as the service serves"),
            ));
            continue;
        };
        let from = if trusted.contains(&peer.ip()) {
            None
        } else {
            match AddressSlot::take(&by_address, peer.ip(), edge.connections_per_address_max) {
                Some(from) => Some(from),
                None => {
                    let max = edge.connections_per_address_max;
                    let ip = peer.ip();
                    tokio::spawn(refuse(
                        tcp,
                        format!(
                            "{max} connections from {ip} are open, as many as one address may hold"
                        ),
                    ));
                    continue;
                }
            }
        };
        let router = router.clone();
        let body_idle = edge.body_idle;
        let trusted = trusted.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let client = client_address(peer, req.headers(), &trusted);
            let mut req = req.map(|b| axum::body::Body::new(TimeoutBody::new(body_idle, b)));
            req.extensions_mut().insert(ConnectInfo(client));
            router.clone().oneshot(req)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "a connection ended with an error");
            }
            drop((slot, from));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The client's address: the peer's, unless the peer is a trusted proxy and names the client as
/// the last address of `X-Forwarded-For` (the one that proxy added).
fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| SocketAddr::new(ip, 0))
}

/// One connection counted against its address; given back when dropped.
struct AddressSlot {
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    /// Counts one more connection from `ip`, unless `max` are open already.
    fn take(
        by_address: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        max: usize,
    ) -> Option<Self> {
        let mut open = by_address.lock().expect("the connections by address");
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            by_address: by_address.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.by_address.lock().expect("the connections by address");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection beyond a limit with 503 (saying which, in `why`) and closes it.
async fn refuse(mut tcp: TcpStream, why: String) {
    let problem = Problem::new(ProblemKind::ServiceBusy, format!("{why}; retry later"));
    let body = serde_json::to_string(&problem).unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    };
    if tokio::time::timeout(Duration::from_secs(1), write)
        .await
        .is_err()
    {
        tracing::debug!("a refused connection did not take its answer");
    }
    tracing::warn!("a connection was refused: {why}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_names_the_client_and_no_one_else_does() {
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let trusted = ["10.0.0.2".parse().unwrap()];
        let client = client_address(proxy, &headers, &trusted);
        assert_eq!(client.ip(), "198.51.100.7".parse::<IpAddr>().unwrap());
        // Not a trusted proxy: its header is the client's own word, not believed.
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        // A header that names no address leaves the peer.
        headers.insert("x-forwarded-for", "unknown".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &trusted), proxy);
    }
}
