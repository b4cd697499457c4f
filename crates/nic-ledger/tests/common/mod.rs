//! Black-box helpers: the real `nic-ledger serve` binary on a free port against a fresh SQLite
//! file or a fresh PostgreSQL database, and a small blocking HTTP client, so tests talk to the
//! service as a user's script would.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres);
//! a test that cannot reach it fails, it never skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    child: Child,
    pub addr: String,
    /// The admin token the server printed on its first start; sent with every request unless
    /// the request names its own `Authorization`.
    pub token: String,
    /// What the server wrote on standard error (its logs), line by line.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of the given kind, as a URL.
pub fn fresh_database(db: Db) -> String {
    match db {
        Db::Sqlite => nic_store::scratch::sqlite_url(),
        Db::Postgres => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(nic_store::scratch::create_postgres("nic_test")),
    }
}

/// The admin token each database's first server printed, by URL: a later server on the same
/// database prints none and uses it.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Starts `nic-ledger serve` on a free port against `database_url`, waits until it listens, and
/// keeps the admin token it prints on its first start (or, when it prints none, the one an earlier
/// server on the same database printed).
pub fn start_with(database_url: &str) -> Server {
    start_with_env(database_url, &[])
}

/// `start_with`, with extra environment variables for the server.
pub fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["serve", "--listen", &addr, "--database-url", database_url])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nic-ledger serve");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let sink = logs.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        while err.read_line(&mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push(std::mem::take(&mut line));
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut token = String::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        if n == 0 {
            // Let the log reader catch up, then say why.
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "the server exited before it listened: {}",
                logs.lock().unwrap().concat()
            );
        }
        if let Some(t) = line.split_whitespace().find(|w| w.starts_with("nic_")) {
            token = t.trim_matches('\'').to_string();
        }
        if line.contains("serving on") {
            break;
        }
    }
    let mut tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    if token.is_empty() {
        if let Some((_, t)) = tokens.iter().find(|(url, _)| url == database_url) {
            token = t.clone();
        }
    } else {
        tokens.retain(|(url, _)| url != database_url);
        tokens.push((database_url.to_string(), token.clone()));
    }
    drop(tokens);
    // Keep draining what it prints, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        addr,
        token,
        logs,
    }
}

pub fn start(db: Db) -> Server {
    start_with(&fresh_database(db))
}

/// An HTTP answer: status, headers (names lowercased) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an RFC 9457 problem of this status and type; returns it.
    pub fn problem(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["type"], format!("/problems/{kind}"), "{p}");
        assert_eq!(p["status"], status);
        assert!(!p["title"].as_str().unwrap().is_empty());
        assert!(!p["detail"].as_str().unwrap().is_empty());
        p
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL: no shutdown of any kind) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, once the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Sends a request; `body` is sent as is with the given headers (and the admin token, unless
    /// they name an `Authorization` of their own; an empty one sends none).
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            req.push_str(&format!("Authorization: Bearer {}\r\n", self.token));
        }
        for (k, v) in headers {
            if !v.is_empty() {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        // A server may answer (413) before reading a large body; a failed write is fine then.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.raw("GET", path, &[], b"")
    }

    /// POSTs JSON, with extra headers.
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut h = vec![("Content-Type", "application/json")];
        h.extend_from_slice(headers);
        self.raw("POST", path, &h, body.to_string().as_bytes())
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_with(path, &[], body)
    }

    /// POSTs a command that must succeed; returns the created or addressed id.
    pub fn ok(&self, path: &str, body: &Value) -> String {
        let a = self.post(path, body);
        assert!(
            a.status == 200 || a.status == 201,
            "POST {path}: {} {}",
            a.status,
            a.body
        );
        a.json()["id"].as_str().unwrap().to_string()
    }

    /// The number of events in the log, once it has settled: on PostgreSQL global reads may trail
    /// the latest commits by a moment (they never skip), so it reads until three reads agree.
    pub fn event_count(&self) -> usize {
        let count = || {
            let page = self.get("/api/v1/events?after=0&limit=10000").json();
            page["events"].as_array().unwrap().len()
        };
        let mut last = count();
        let mut same = 0;
        while same < 2 {
            std::thread::sleep(Duration::from_millis(30));
            let now = count();
            same = if now == last { same + 1 } else { 0 };
            last = now;
        }
        last
    }
}

/// Polls `f` until it answers, for at most 10 seconds.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "not within 10 seconds");
        std::thread::sleep(Duration::from_millis(50));
    }
}
