//! The server's edge over real sockets (`nic_http::serve` on SQLite): connections that send
//! nothing, stall in their headers or in their body are closed on time, and a connection beyond
//! the cap is answered 503 while those within it are served.

use std::time::{Duration, Instant};

use nic_app::App;
use nic_events::catalog::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server with `edge` on a free port, and an admin token.
async fn start(edge: nic_http::Edge) -> (std::net::SocketAddr, String, App) {
    let store = nic_store::open(&nic_store::scratch::sqlite_url())
        .await
        .expect("open the store");
    store.migrate().await.expect("migrate");
    let app = App::in_memory(store);
    let token = app
        .tokens()
        .create("admin", Role::Admin, Vec::new(), "test")
        .await
        .unwrap();
    app.follow();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = nic_http::router(app.clone());
    let mut stopping = app.stopping();
    tokio::spawn(nic_http::serve(listener, router, edge, async move {
        let _ = stopping.wait_for(|s| *s).await;
    }));
    (addr, token, app)
}

/// Everything the server sends until it closes the connection, and how long that took; fails
/// when the connection is still open after `within`.
async fn until_closed(tcp: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the server closes the connection in time");
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

/// A keep-alive connection that has been served once: it holds its place from then on.
async fn served(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tcp
}

fn edge(header_read_ms: u64, body_idle_ms: u64, connections_max: usize) -> nic_http::Edge {
    nic_http::Edge {
        header_read: Duration::from_millis(header_read_ms),
        body_idle: Duration::from_millis(body_idle_ms),
        connections_max,
        connections_per_address_max: connections_max,
        trusted_proxies: Vec::new(),
    }
}

#[tokio::test]
async fn idle_and_stalled_connections_are_closed_on_time() {
    let (addr, token, app) = start(edge(700, 700, 16)).await;
    let slack = Duration::from_secs(5);

    // Connected, and nothing sent.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, took) = until_closed(&mut silent, slack).await;
    assert!(took >= Duration::from_millis(500), "closed after {took:?}");

    // Stalled in the middle of its headers.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    until_closed(&mut stalled, slack).await;

    // A keep-alive connection served once, then left idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = until_closed(&mut idle, slack).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body declared and then not sent: 408, problem details, nothing appended.
    let head = app.store().head_position().await.unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /api/v1/networks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    slow.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = until_closed(&mut slow, slack).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("/problems/request-timeout"), "{answer}");
    assert_eq!(app.store().head_position().await.unwrap(), head);
    app.stop();
}

#[tokio::test]
async fn a_connection_beyond_the_cap_is_refused_and_the_others_are_served() {
    let (addr, _, app) = start(edge(30_000, 30_000, 3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(served(addr).await);
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let (answer, _) = until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("/problems/service-busy"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    // A connection given back is a place for the next.
    drop(held.pop());
    let mut next = None;
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (answer, _) = until_closed(&mut tcp, Duration::from_secs(5)).await;
        if answer.starts_with("HTTP/1.1 200") {
            next = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(next.is_some(), "a freed connection is served again");
    app.stop();
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let edge = nic_http::Edge {
        connections_per_address_max: 2,
        ..edge(30_000, 30_000, 10)
    };
    let (addr, _, app) = start(edge).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(served(addr).await);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    let (answer, _) = until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("connections from 127.0.0.1"), "{answer}");
    app.stop();
}
