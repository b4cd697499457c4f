//! Black-box helpers: the real `nic-ledger serve` binary on a free port against a fresh SQLite
//! file or a fresh PostgreSQL database, and a blocking HTTP client (reqwest), so tests talk to the
//! service as a user's script would.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres);
//! a test that cannot reach it fails, it never skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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
    http: reqwest::blocking::Client,
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

/// Another application's transaction, idle in transaction on the PostgreSQL cluster (in its
/// `postgres` database) with a transaction id taken, until dropped: nothing the service does may
/// wait for it.
pub struct Stranger {
    runtime: tokio::runtime::Runtime,
    conn: Option<sqlx::PgConnection>,
}

impl Stranger {
    pub fn open() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = runtime.block_on(nic_store::scratch::stranger(
            &nic_store::scratch::postgres_admin_url(),
        ));
        Self {
            runtime,
            conn: Some(conn),
        }
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = self
                .runtime
                .block_on(sqlx::query("COMMIT").execute(&mut conn));
        }
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
        http: client(),
    }
}

/// A blocking HTTP client for the local server: no proxy, and 30 seconds at most for each wait
/// (the answer's head, then each read of its body).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
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
    /// they name an `Authorization` of their own; an empty one sends none). It accepts
    /// `application/json` unless they name an `Accept` (the client would send `*/*` otherwise,
    /// which the live feed takes for a client that reads its never-ending stream).
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .body(body.to_vec());
        let names = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if !names("authorization") {
            req = req.bearer_auth(&self.token);
        }
        if !names("accept") {
            req = req.header("Accept", "application/json");
        }
        for (k, v) in headers {
            if !v.is_empty() {
                req = req.header(*k, *v);
            }
        }
        let res = req.send().unwrap_or_else(|e| panic!("{path}: {e:?}"));
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = res.bytes().unwrap_or_else(|e| panic!("{path}: {e:?}"));
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
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

/// Runs the `nic-ledger` command line with `args`, without the caller's `DATABASE_URL`.
pub fn nic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run nic-ledger")
}

/// Bytes a command printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = nic(args);
    assert!(
        out.status.success(),
        "nic-ledger {args:?} failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A path for a file of this test run, in the system's temporary folder.
pub fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("nic-ledger-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", uuid::Uuid::new_v4().simple()))
}
