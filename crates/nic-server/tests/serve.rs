//! Black-box: the real `nic-ledger serve` binary on a free port and a fresh SQLite file, driven
//! over HTTP, as a user would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let db = std::env::temp_dir().join(format!("nic-serve-{}.db", uuid::Uuid::new_v4().simple()));
    let child = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["serve", "--listen", &addr, "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::null())
        .spawn()
        .expect("start nic-ledger serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, addr }
}

/// GET a path; returns the status, the headers (lowercased) and the body.
fn get(server: &Server, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

#[test]
fn serves_health_the_feed_and_clear_problems() {
    let server = start();
    assert_eq!(get(&server, "/healthz").0, 200);

    let (status, _, body) = get(&server, "/api/v1/events?after=0&limit=10");
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
    assert_eq!(page["next_after"], 0);

    for (path, want) in [
        ("/api/v1/events?limit=0", 400),
        ("/api/v1/events?limit=1000000", 400),
        ("/api/v1/events?after=-1", 400),
        ("/api/v1/events?bogus=1", 400),
        ("/api/v1/streams/NoCategory", 400),
        ("/api/v1/streams/pdsa-unknown", 404),
    ] {
        let (status, head, body) = get(&server, path);
        assert_eq!(status, want, "{path}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{path}: {head}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], want, "{path}");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{path}");
    }
    // The server is unharmed by all of that.
    assert_eq!(get(&server, "/healthz").0, 200);
}
