//! The whole API driven in process (`nic_http::router` with `tower::ServiceExt::oneshot`), on
//! real SQLite and real PostgreSQL: the command path end to end (body, ids, headers, the table's
//! command, the runner, the answer's status, `Location`, `ETag` and replay header), refusals as
//! problem details that append nothing, and the read models reading the writes.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use nic_app::App;
use nic_events::catalog::Role;
use serde_json::Value;
use tower::ServiceExt;

struct Api {
    app: App,
    router: axum::Router,
    token: String,
}

impl Api {
    async fn new(url: &str) -> Api {
        let store = nic_store::open(url).await.expect("open the store");
        store.migrate().await.expect("migrate");
        let app = App::in_memory(store);
        let token = app
            .tokens()
            .create("admin", Role::Admin, Vec::new(), "test")
            .await
            .unwrap();
        app.follow();
        Api {
            router: nic_http::router(app.clone()),
            app,
            token,
        }
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, value)
    }

    async fn post(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.call(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn get(&self, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    /// The log's head once it shows at least `position` (on PostgreSQL the global log may trail
    /// a commit by a moment; stream reads never do).
    async fn head(&self, position: u64) -> u64 {
        for _ in 0..1_000 {
            let head = self.app.store().head_position().await.unwrap();
            if head >= position {
                return head;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the log never showed position {position}");
    }
}

async fn the_command_path_runs_end_to_end(url: &str) {
    let api = Api::new(url).await;
    // A new entity: 201, Location, ETag, the events appended.
    let (status, headers, body) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "STEM PUSH", "purpose": "Pre-college STEM programs improving together"}"#,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let network = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        headers[header::LOCATION],
        format!("/api/v1/networks/{network}").as_str()
    );
    assert_eq!(headers[header::ETAG], "\"0\"");
    assert_eq!(body["events"][0]["event_type"], "NetworkChartered");
    assert_eq!(body["events"][0]["data"]["name"], "STEM PUSH");

    // A new part of it, with two ids in the path later: 201 located at the network.
    let (status, headers, body) = api
        .post(
            &format!("/api/v1/networks/{network}/drivers"),
            r#"{"kind": "primary", "title": "Students' STEM identity"}"#,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        headers[header::LOCATION],
        format!("/api/v1/networks/{network}").as_str()
    );
    let driver = body["id"].as_str().unwrap().to_string();
    let (status, _, body) = api
        .post(
            &format!("/api/v1/networks/{network}/nodes/{driver}/reword"),
            r#"{"title": "Students' identity in STEM", "reason": "clearer"}"#,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stream_version"], 2);

    // Refusals append nothing: the next write takes the next position.
    let before = api
        .head(body["events"][0]["global_position"].as_u64().unwrap())
        .await;
    let (status, headers, body) = api
        .post(
            &format!("/api/v1/networks/{network}/nodes/{driver}/reword"),
            r#"{"title": "Again", "reason": "stale"}"#,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "/problems/version-conflict");
    assert_eq!(body["current_version"], 2);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let (status, _, body) = api.post("/api/v1/networks", r#"{"name": "#, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "/problems/malformed-json");
    let (status, _, body) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "A", "purpose": "x", "extra": 1}"#,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["type"], "/problems/validation");
    let (status, _, body) = api
        .post(
            "/api/v1/networks/not-a-uuid/drivers",
            r#"{"kind": "primary", "title": "T"}"#,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "/problems/invalid-id");
    let unauthenticated = Request::post("/api/v1/networks")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "A", "purpose": "x"}"#))
        .unwrap();
    let (status, headers, body) = api.call(unauthenticated).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(body["type"], "/problems/unauthorized");

    // A retry with the same key gets the first answer and writes nothing.
    let key = [("idempotency-key", "charter-once")];
    let body = r#"{"name": "Once", "purpose": "x"}"#;
    let (first, _, one) = api.post("/api/v1/networks", body, &key).await;
    let position = one["events"][0]["global_position"].as_u64().unwrap();
    assert_eq!(position, before + 1, "a refused command appends nothing");
    let (again, headers, two) = api.post("/api/v1/networks", body, &key).await;
    assert_eq!((first, again), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(one, two);
    let (_, _, next) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "Next", "purpose": "x"}"#,
            &[],
        )
        .await;
    let next = next["events"][0]["global_position"].as_u64().unwrap();
    assert_eq!(next, position + 1, "a replayed command appends nothing");
    assert_eq!(api.head(next).await, next);

    // The read models read the writes.
    let (status, _, view) = api
        .get(&format!("/api/v1/networks/{network}/driver-diagram"))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["nodes"][0]["title"], "Students' identity in STEM");
    let (status, _, view) = api
        .get(&format!(
            "/api/v1/networks/{network}/driver-diagram?as_of={}",
            before - 1
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["nodes"][0]["title"], "Students' STEM identity");
    api.app.stop();
}

#[tokio::test]
async fn the_command_path_runs_end_to_end_on_sqlite() {
    the_command_path_runs_end_to_end(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn the_command_path_runs_end_to_end_on_postgres() {
    let url = nic_store::scratch::create_postgres("nic_test").await;
    the_command_path_runs_end_to_end(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

async fn bad_input_is_refused_and_appends_nothing(url: &str) {
    let api = Api::new(url).await;
    let (status, _, body) = api
        .post("/api/v1/networks", r#"{"name": "A", "purpose": "x"}"#, &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let network = body["id"].as_str().unwrap().to_string();
    let charted = body["events"][0]["global_position"].as_u64().unwrap();
    // Text after the document, or a second document, is not one JSON body.
    for trailing in [
        r#"{"name": "B", "purpose": "x"} xyz"#,
        r#"{"name": "B", "purpose": "x"}{"name": "C", "purpose": "y"}"#,
    ] {
        let (status, headers, body) = api.post("/api/v1/networks", trailing, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{trailing}: {body}");
        assert_eq!(body["type"], "/problems/malformed-json");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    }
    // Amounts have bounds: no infinity can come of summing them.
    for baseline in ["1e308", "-1e13"] {
        let aim = format!(
            r#"{{"aim": {{"statement": "More alumni in STEM", "what": "enrolment", "for_whom": "alumni", "baseline": {baseline}, "target": 50, "unit": "percent", "by_when": "2027-09-01"}}}}"#
        );
        let (status, _, body) = api
            .post(&format!("/api/v1/networks/{network}/aim"), &aim, &[])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["field"], "aim.baseline", "{body}");
    }
    // Positions past the highest a log can hold are refused, not wrapped around.
    let too_far = (i64::MAX as u64 + 1).to_string();
    for path in [
        format!("/api/v1/events?after={}", u64::MAX),
        format!("/api/v1/events?after={too_far}"),
        format!("/api/v1/streams/network-{network}?from_version={too_far}"),
        format!("/api/v1/networks/{network}/driver-diagram?as_of={too_far}"),
        format!("/api/v1/timeline?as_of={}", u64::MAX),
    ] {
        let (status, _, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["type"], "/problems/invalid-query", "{path}");
    }
    let live = Request::get(format!("/api/v1/live/events?after={too_far}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.call(live).await.0, StatusCode::BAD_REQUEST);
    let live = Request::get("/api/v1/live/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
        .header(header::ACCEPT, "text/event-stream")
        .header("last-event-id", too_far.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.call(live).await.0, StatusCode::BAD_REQUEST);
    // Nothing of it was appended: the next write takes the next position.
    let (_, _, next) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "Next", "purpose": "x"}"#,
            &[],
        )
        .await;
    let next = next["events"][0]["global_position"].as_u64().unwrap();
    assert_eq!(next, charted + 1, "a refused request appends nothing");
    api.app.stop();
}

#[tokio::test]
async fn bad_input_is_refused_and_appends_nothing_on_sqlite() {
    bad_input_is_refused_and_appends_nothing(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn bad_input_is_refused_and_appends_nothing_on_postgres() {
    let url = nic_store::scratch::create_postgres("nic_test").await;
    bad_input_is_refused_and_appends_nothing(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let api = Api::new(&nic_store::scratch::sqlite_url()).await;
    for path in [
        "/api/v1/networks",
        "/api/v1/nowhere",
        "/api/v1/openapi.json",
    ] {
        let (_, headers, _) = api.get(path).await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
    }
    // The dashboard's page is public and revalidated; it too is never sniffed.
    let page = Request::get("/").body(Body::empty()).unwrap();
    let (status, headers, _) = api.call(page).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    api.app.stop();
}

#[tokio::test]
async fn a_revoked_token_s_live_stream_ends_within_seconds() {
    let api = Api::new(&nic_store::scratch::sqlite_url()).await;
    let viewer = api
        .app
        .tokens()
        .create("wall-screen", Role::Viewer, Vec::new(), "test")
        .await
        .unwrap();
    let req = Request::get("/api/v1/live/events")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let res = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    // The stream is open and delivers the log.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
        .await
        .expect("an event arrives")
        .expect("the stream is open")
        .unwrap();
    assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
    api.app
        .tokens()
        .revoke("wall-screen", "screen stolen", "test")
        .await
        .unwrap();
    let revoked = std::time::Instant::now();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the revoked token's stream still runs after 10 s"
    );
    assert!(revoked.elapsed() < std::time::Duration::from_secs(10));
    api.app.stop();
}

#[tokio::test]
async fn an_idempotency_key_answers_only_for_the_caller_who_used_it() {
    let api = Api::new(&nic_store::scratch::sqlite_url()).await;
    let other = api
        .app
        .tokens()
        .create("second-admin", Role::Admin, Vec::new(), "test")
        .await
        .unwrap();
    let key = [("idempotency-key", "shared-key")];
    let body = r#"{"name": "Mine", "purpose": "x"}"#;
    let (status, _, first) = api.post("/api/v1/networks", body, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let req = Request::post("/api/v1/networks")
        .header(header::AUTHORIZATION, format!("Bearer {other}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "shared-key")
        .body(Body::from(r#"{"name": "Theirs", "purpose": "y"}"#))
        .unwrap();
    let (status, headers, second) = api.call(req).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_ne!(
        first["id"], second["id"],
        "the other caller's network is its own"
    );
    assert_eq!(second["events"][0]["data"]["name"], "Theirs");
    // The same caller's key with another body is refused, and appends nothing.
    let (status, _, refused) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "Not mine", "purpose": "z"}"#,
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["type"], "/problems/idempotency-key-reused");
    let (status, headers, again) = api.post("/api/v1/networks", body, &key).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again, first);
    let networks = api.get("/api/v1/networks").await.2;
    assert_eq!(networks["items"].as_array().unwrap().len(), 2, "{networks}");
    api.app.stop();
}
