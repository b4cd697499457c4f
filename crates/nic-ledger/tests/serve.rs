//! Black-box: the real `nic-ledger serve` binary on a free port and a fresh SQLite file, driven
//! over HTTP, as a user would: health, the log feed, clear problems, and no open door.

mod common;

use common::Db;

#[test]
fn serves_health_the_feed_and_clear_problems() {
    let server = common::start(Db::Sqlite);
    assert!(
        server.token.starts_with("nic_"),
        "the first start prints an admin token"
    );
    assert_eq!(server.get("/healthz").status, 200);

    let page = server.get("/api/v1/events?after=0&limit=10");
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    // The first admin token's issue is the log's first event.
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["event_type"], "TokenIssued");
    assert!(!page["events"][0]["data"]
        .to_string()
        .contains(&server.token));

    for (path, status, kind) in [
        ("/api/v1/events?limit=0", 400, "invalid-limit"),
        ("/api/v1/events?limit=1000000", 400, "invalid-limit"),
        ("/api/v1/events?after=-1", 400, "invalid-query"),
        ("/api/v1/events?bogus=1", 400, "invalid-query"),
        ("/api/v1/streams/NoCategory", 400, "invalid-stream-id"),
        ("/api/v1/streams/pdsa-unknown", 404, "not-found"),
    ] {
        server.get(path).problem(status, kind);
    }
    // A fresh install has no open door: without a token only health, readiness and the OpenAPI
    // document answer.
    let none = [("Authorization", "")];
    for path in [
        "/api/v1/events",
        "/api/v1/networks",
        "/metrics",
        "/api/v1/timeline",
    ] {
        let a = server.raw("GET", path, &none, b"");
        a.problem(401, "unauthorized");
        assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    }
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        assert_eq!(server.raw("GET", path, &none, b"").status, 200, "{path}");
    }
    // The server is unharmed by all of that.
    assert_eq!(server.get("/healthz").status, 200);
}

/// Logs are JSON lines on request, each line of a request naming its request id, which the answer
/// carries too; a configuration file is read, and flags beat it.
#[test]
fn json_logs_name_each_request_and_a_config_file_is_read() {
    let dir = std::env::temp_dir().join(format!("nic-serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("nic-ledger.toml");
    std::fs::write(&config, "log_format = \"json\"\n").unwrap();
    let db = common::fresh_database(Db::Sqlite);
    let s = common::start_with_env(&db, &[("NIC_LEDGER_CONFIG", config.to_str().unwrap())]);
    let a = s.raw(
        "GET",
        "/api/v1/networks",
        &[("X-Request-Id", "req-42")],
        b"",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-request-id"), Some("req-42"));
    let fresh = s.get("/healthz");
    let generated = fresh.header("x-request-id").unwrap().to_string();
    assert_ne!(generated, "req-42");
    let line = common::eventually(|| {
        s.logs
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("req-42"))
            .cloned()
    });
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(json["span"]["request_id"], "req-42", "{json}");
    assert_eq!(json["fields"]["status"], 200, "{json}");
}
