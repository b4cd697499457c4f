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
