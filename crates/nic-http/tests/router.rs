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
        self.get_as(&self.token, path).await
    }

    async fn get_as(&self, token: &str, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    /// The raw answer to a GET with `token`, its body unread.
    async fn open_as(&self, token: &str, path: &str, accept: &str) -> axum::response::Response {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        self.router.clone().oneshot(req).await.unwrap()
    }

    async fn token(&self, name: &str, role: Role) -> String {
        // A facilitator names the programs it writes for: one enrolled in a network of its own.
        let programs = match role {
            Role::Facilitator => vec![self.enrolled_program().await.1],
            _ => Vec::new(),
        };
        self.app
            .tokens()
            .create(name, role, programs, "test")
            .await
            .unwrap()
    }

    /// A new network with one ecosystem and one program enrolled in it: their ids.
    async fn enrolled_program(&self) -> (uuid::Uuid, uuid::Uuid) {
        let id = |(status, _, body): (StatusCode, axum::http::HeaderMap, Value)| {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap()
        };
        let network = id(self
            .post(
                "/api/v1/networks",
                r#"{"name": "Home", "purpose": "x"}"#,
                &[],
            )
            .await);
        let ecosystem = id(self
            .post(
                &format!("/api/v1/networks/{network}/ecosystems"),
                r#"{"name": "Pittsburgh", "region": "PA"}"#,
                &[],
            )
            .await);
        let program = id(self
            .post(
                &format!("/api/v1/networks/{network}/programs"),
                &format!(r#"{{"name": "Lab Explorers", "ecosystem_id": "{ecosystem}"}}"#),
                &[],
            )
            .await);
        (network, program)
    }

    /// The demo network in a new SQLite store, and the API over it once its read models have
    /// caught up: the store's URL, what the demo wrote, the API.
    async fn demo() -> (String, nic_demo::Summary, Api) {
        let url = nic_store::scratch::sqlite_url();
        let demo = {
            let store = nic_store::open(&url).await.unwrap();
            store.migrate().await.unwrap();
            nic_demo::load(store.as_ref(), 1).await.unwrap()
        };
        let api = Api::new(&url).await;
        let head = api.head(1).await;
        let mut applied = api.app.read_models().applied();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            applied.wait_for(|p| *p >= head),
        )
        .await
        .expect("the read models catch up")
        .unwrap();
        (url, demo, api)
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

/// Server-sent messages as (id, event, data), read until `until` holds for one or 10 s pass.
async fn messages(
    body: &mut Body,
    until: impl Fn(&(String, String, Value)) -> bool,
) -> Vec<(String, String, Value)> {
    let mut text = String::new();
    let mut seen = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Some(data) = frame.unwrap().into_data().ok() else {
                continue;
            };
            text.push_str(std::str::from_utf8(&data).unwrap());
            while let Some(cut) = text.find("\n\n") {
                let block: String = text.drain(..cut + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_string())
                };
                let (Some(id), Some(data)) = (field("id:"), field("data:")) else {
                    continue;
                };
                let message = (
                    id,
                    field("event:").unwrap_or_default(),
                    serde_json::from_str(&data).unwrap(),
                );
                let done = until(&message);
                seen.push(message);
                if done {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("the awaited message arrives within 10 s");
    seen
}

async fn token_records_are_for_admins_only(url: &str) {
    let api = Api::new(url).await;
    let facilitator = api.token("ana-facilitator", Role::Facilitator).await;
    let scientist = api.token("sam-scientist", Role::ImprovementScientist).await;
    let viewer = api.token("wall-screen", Role::Viewer).await;
    let (_, _, network) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "STEM PUSH", "purpose": "x"}"#,
            &[],
        )
        .await;
    let last = network["events"][0]["global_position"].as_u64().unwrap();
    api.head(last).await;
    let is_token = |e: &Value| e["stream_id"].as_str().unwrap().starts_with("token-");

    // The admin reads them: four tokens issued.
    let (_, _, all) = api.get("/api/v1/events?limit=1000").await;
    let all = all["events"].as_array().unwrap().clone();
    let tokens: Vec<&Value> = all.iter().filter(|e| is_token(e)).collect();
    assert_eq!(tokens.len(), 4, "{all:?}");
    let token_stream = tokens[0]["stream_id"].as_str().unwrap().to_string();
    let (status, _, _) = api.get(&format!("/api/v1/streams/{token_stream}")).await;
    assert_eq!(status, StatusCode::OK);

    for reader in [&facilitator, &scientist] {
        // The log, page by page: everything but the token records.
        let (status, _, page) = api.get_as(reader, "/api/v1/events?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), all.len() - 4, "{page}");
        assert!(!events.iter().any(is_token));
        for path in [
            "/api/v1/events?category=token".to_string(),
            "/api/v1/events?category=network,token".to_string(),
            format!("/api/v1/streams/{token_stream}"),
        ] {
            let (status, _, body) = api.get_as(reader, &path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
            assert_eq!(body["type"], "/problems/forbidden");
        }
        // The export.
        let res = api.open_as(reader, "/api/v1/export", "*/*").await;
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let lines: Vec<Value> = std::str::from_utf8(&bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), all.len() - 4);
        assert!(!lines.iter().any(is_token));
        // The live log: what GET gives, no more.
        let res = api
            .open_as(reader, "/api/v1/live/events?after=0", "text/event-stream")
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let seen = messages(&mut body, |m| m.0 == last.to_string()).await;
        assert_eq!(seen.len(), all.len() - 4, "{seen:?}");
        assert!(!seen.iter().any(|m| is_token(&m.2)));
        let res = api
            .open_as(
                reader,
                "/api/v1/live/events?category=token",
                "text/event-stream",
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }

    // A viewer reads neither the log nor its live form, only the read models, live too.
    for path in ["/api/v1/events", "/api/v1/export", "/api/v1/live/events"] {
        let res = api.open_as(&viewer, path, "text/event-stream").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let res = api
        .open_as(
            &viewer,
            "/api/v1/live/timeline?after=0",
            "text/event-stream",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let seen = messages(&mut body, |m| m.2["position"].as_u64() >= Some(last)).await;
    let entries: Vec<&Value> = seen
        .iter()
        .flat_map(|m| m.2["entries"].as_array().unwrap())
        .collect();
    assert!(seen.iter().all(|m| m.1 == "timeline"));
    // The facilitator's program (its network, ecosystem and enrolment), then the network.
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "NetworkChartered",
            "EcosystemAdded",
            "ProgramEnrolled",
            "NetworkChartered"
        ],
        "{seen:?}"
    );
    assert!(entries[3]["sentence"]
        .as_str()
        .unwrap()
        .contains("STEM PUSH"));
    // The next change arrives as it is applied, after the position the client has.
    let (_, _, cause) = api
        .post(
            &format!(
                "/api/v1/networks/{}/root-causes",
                network["id"].as_str().unwrap()
            ),
            r#"{"category": "People", "cause": "Mentors leave mid-year"}"#,
            &[],
        )
        .await;
    let at = cause["events"][0]["global_position"].as_u64().unwrap();
    let seen = messages(&mut body, |m| m.2["position"].as_u64() >= Some(at)).await;
    let last_message = seen.last().unwrap();
    assert_eq!(last_message.0, at.to_string());
    assert_eq!(
        last_message.2["entries"][0]["event_type"],
        "RootCauseRecorded"
    );
    api.app.stop();
}

#[tokio::test]
async fn token_records_are_for_admins_only_on_sqlite() {
    token_records_are_for_admins_only(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn token_records_are_for_admins_only_on_postgres() {
    let url = nic_store::scratch::create_postgres("nic_test").await;
    token_records_are_for_admins_only(&url).await;
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
    // Text that reads other than it is: a title of only a zero-width space, a bidirectional
    // override (in a title, or deep in a cycle's plan), escaped or not.
    for (path, body, field) in [
        (
            "/api/v1/networks".to_string(),
            "{\"name\": \"\u{200B}\", \"purpose\": \"x\"}".to_string(),
            "name",
        ),
        (
            "/api/v1/networks".to_string(),
            r#"{"name": "RTL \u202egnp.exe", "purpose": "x"}"#.to_string(),
            "name",
        ),
        (
            format!("/api/v1/networks/{network}/drivers"),
            r#"{"kind": "primary", "title": "\u2060\ufeff "}"#.to_string(),
            "title",
        ),
        (
            format!("/api/v1/networks/{network}/root-causes"),
            "{\"category\": \"People\", \"cause\": \"x\u{2067}y\u{2069}\"}".to_string(),
            "cause",
        ),
    ] {
        let (status, _, answer) = api.post(&path, &body, &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["type"], "/problems/validation");
        assert_eq!(answer["errors"][0]["field"], field, "{answer}");
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

/// An admin issues, lists and revokes people's tokens through the API: the token is shown once
/// and opens the API with its role; nothing lists it or its hash; a refusal issues nothing.
async fn admins_issue_list_and_revoke_tokens(url: &str) {
    let api = Api::new(url).await;
    let (_, program) = api.enrolled_program().await;

    // Refusals, each naming its field, each issuing nothing.
    let unknown = uuid::Uuid::now_v7();
    for (body, status, field) in [
        (
            format!(r#"{{"name": "Ana", "role": "facilitator", "programs": ["{unknown}"]}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "programs[0]",
        ),
        (
            r#"{"name": "Ana", "role": "facilitator"}"#.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "programs",
        ),
        (
            r#"{"name": "", "role": "viewer"}"#.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            r#"{"name": "admin", "role": "viewer"}"#.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            r#"{"name": "Ana", "role": "owner"}"#.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
    ] {
        let (got, headers, problem) = api.post("/api/v1/tokens", &body, &[]).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "{body}: the refusal names {field}: {problem}"
        );
    }
    let list = api.get("/api/v1/tokens").await.2;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "a refused token issued nothing: {list}"
    );

    // Issued: shown once, with its sign-in path; it opens the API as a facilitator of the program.
    let (status, headers, issued) = api
        .post(
            "/api/v1/tokens",
            &format!(r#"{{"name": "Ana, Lab Explorers", "role": "facilitator", "programs": ["{program}"]}}"#),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let token = issued["token"].as_str().unwrap();
    assert_eq!(issued["sign_in"], format!("/#token={token}"));
    let (status, _, me) = api.get_as(token, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["name"], "Ana, Lab Explorers");
    assert_eq!(me["role"], "facilitator");
    assert_eq!(me["token_id"], issued["token_id"]);
    assert_eq!(me["programs"][0], program.to_string());
    // A facilitator may not issue tokens, nor list them.
    let req = Request::post("/api/v1/tokens")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "Mine", "role": "admin"}"#))
        .unwrap();
    assert_eq!(api.call(req).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        api.get_as(token, "/api/v1/tokens").await.0,
        StatusCode::FORBIDDEN
    );

    // Listed, live first, with neither the token nor its hash.
    let (status, _, list) = api.get("/api/v1/tokens").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ana, Lab Explorers", "admin"]);
    assert!(!list.to_string().contains(token));
    assert!(!list.to_string().contains("sha256"));
    assert_eq!(items[0]["programs"][0], program.to_string());

    // Revoked: it opens nothing; revoking again is a conflict, an unknown token not found.
    let id = issued["token_id"].as_str().unwrap();
    let path = format!("/api/v1/tokens/{id}/revoke");
    let (status, _, body) = api
        .post(&path, r#"{"reason": "left the program"}"#, &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.get_as(token, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.post(&path, r#"{"reason": "again"}"#, &[]).await.0,
        StatusCode::CONFLICT
    );
    let (status, _, _) = api
        .post(
            &format!("/api/v1/tokens/{}/revoke", uuid::Uuid::now_v7()),
            "{}",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let list = api.get("/api/v1/tokens").await.2;
    assert_eq!(list["items"][1]["name"], "Ana, Lab Explorers");
    assert_eq!(list["items"][1]["revoked"], true);
    // The token sending the request cannot revoke or erase itself: it could be the last admin's.
    let (_, _, me) = api.get("/api/v1/me").await;
    let own = me["token_id"].as_str().unwrap();
    let (status, _, body) = api
        .post(&format!("/api/v1/tokens/{own}/revoke"), "{}", &[])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("cannot revoke itself"));
    let erase = format!(
        r#"{{"subject": {{"kind": "person", "token_id": "{own}"}}, "basis": "request", "reference": "T-1"}}"#
    );
    let (status, _, body) = api.post("/api/v1/erasures", &erase, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(api.get("/api/v1/me").await.0, StatusCode::OK);
    api.app.stop();
}

#[tokio::test]
async fn admins_issue_list_and_revoke_tokens_on_sqlite() {
    admins_issue_list_and_revoke_tokens(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn admins_issue_list_and_revoke_tokens_on_postgres() {
    let url = nic_store::scratch::create_postgres("nic_test").await;
    admins_issue_list_and_revoke_tokens(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
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
    let req = Request::get("/api/v1/live/timeline")
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

/// 32 writers recording into one measure at once, without `If-Match`: every write goes in (none
/// is refused because another writer got there first), each point once.
async fn writers_to_one_measure_are_never_refused_for_each_other(url: &str) {
    let api = Api::new(url).await;
    let id = |body: Value| body["id"].as_str().unwrap().to_string();
    let (_, _, network) = api
        .post(
            "/api/v1/networks",
            r#"{"name": "Busy", "purpose": "x"}"#,
            &[],
        )
        .await;
    let network = id(network);
    let (_, _, ecosystem) = api
        .post(
            &format!("/api/v1/networks/{network}/ecosystems"),
            r#"{"name": "Pittsburgh", "region": "PA"}"#,
            &[],
        )
        .await;
    let ecosystem = id(ecosystem);
    let (_, _, program) = api
        .post(
            &format!("/api/v1/networks/{network}/programs"),
            &format!(r#"{{"name": "Lab Explorers", "ecosystem_id": "{ecosystem}"}}"#),
            &[],
        )
        .await;
    let program = id(program);
    let (status, _, measure) = api
        .post(
            &format!("/api/v1/networks/{network}/measures"),
            r#"{"name": "Attendance", "kind": "outcome", "description": "Students at sessions", "scale": "value", "unit": "students", "period": "month", "direction": "up"}"#,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{measure}");
    let measure = id(measure);
    const WRITERS: usize = 32;
    const EACH: usize = 4;
    let writers = (0..WRITERS).map(|w| {
        let router = api.router.clone();
        let (token, program, measure) = (api.token.clone(), program.clone(), measure.clone());
        tokio::spawn(async move {
            let mut refused = Vec::new();
            for i in 0..EACH {
                let month = w * EACH + i;
                let body = format!(
                    r#"{{"program_id": "{program}", "period": "{}-{:02}", "value": {month}}}"#,
                    2000 + month / 12,
                    month % 12 + 1
                );
                let req = Request::post(format!("/api/v1/measures/{measure}/data-points"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let res = router.clone().oneshot(req).await.unwrap();
                if res.status() != StatusCode::CREATED {
                    let status = res.status();
                    let bytes = res.into_body().collect().await.unwrap().to_bytes();
                    refused.push(format!("{status} {}", String::from_utf8_lossy(&bytes)));
                }
            }
            refused
        })
    });
    let mut refused = Vec::new();
    for w in futures::future::join_all(writers).await {
        refused.extend(w.unwrap());
    }
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    let (_, _, state) = api.get(&format!("/api/v1/measures/{measure}")).await;
    let points = state["points"].as_object().map(|p| p.len());
    assert_eq!(points, Some(WRITERS * EACH), "{state}");
    api.app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_to_one_measure_are_never_refused_for_each_other_on_sqlite() {
    writers_to_one_measure_are_never_refused_for_each_other(&nic_store::scratch::sqlite_url())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_to_one_measure_are_never_refused_for_each_other_on_postgres() {
    let url = nic_store::scratch::create_postgres("nic_test").await;
    writers_to_one_measure_are_never_refused_for_each_other(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

/// The PDSA register over the demo network: each filter lists exactly the cycles that match it,
/// the whole register holds every cycle of the network's program boards, the CSV has one row per
/// cycle in the same order, and bad queries are refused with a problem.
#[tokio::test]
async fn the_register_lists_the_network_s_cycles_filtered_and_as_csv() {
    let (_, demo, api) = Api::demo().await;
    let net = demo.network_id;
    let register = |q: String| {
        let api = &api;
        async move {
            let (status, _, body) = api
                .get(&format!(
                    "/api/v1/networks/{net}/pdsa-register?limit=500{q}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{q}: {body}");
            body
        }
    };
    let ids = |body: &Value| -> Vec<String> {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cycle"]["cycle_id"].as_str().unwrap().to_string())
            .collect()
    };

    // Every cycle of every program board of the network, once.
    let all = register(String::new()).await;
    let (_, _, programs) = api.get(&format!("/api/v1/networks/{net}/programs")).await;
    let mut on_boards = 0;
    for p in programs["items"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let (_, _, board) = api.get(&format!("/api/v1/programs/{id}/pdsa-board")).await;
        for column in ["planned", "doing", "studying", "acted", "abandoned"] {
            on_boards += board["columns"][column].as_array().map_or(0, |c| c.len());
        }
    }
    assert_eq!(all["total"].as_u64().unwrap() as usize, on_boards);
    assert_eq!(ids(&all).len(), on_boards);
    assert!(on_boards >= 10, "the demo has cycles: {on_boards}");

    // One change idea's adapted cycles: exactly the rows of the whole register that match.
    let rows = all["rows"].as_array().unwrap();
    let adapted = rows
        .iter()
        .find(|r| r["cycle"]["decision"] == "adapt")
        .expect("the demo adapts a cycle");
    let idea = adapted["cycle"]["change_ideas"][0]["id"].as_str().unwrap();
    let expected: Vec<String> = rows
        .iter()
        .filter(|r| {
            r["cycle"]["decision"] == "adapt"
                && r["cycle"]["change_ideas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["id"] == idea)
        })
        .map(|r| r["cycle"]["cycle_id"].as_str().unwrap().to_string())
        .collect();
    let filtered = register(format!("&change_idea_id={idea}&decision=adapt")).await;
    assert_eq!(ids(&filtered), expected);
    for r in filtered["rows"].as_array().unwrap() {
        assert!(!r["program"]["title"].as_str().unwrap().is_empty());
        assert!(!r["ecosystem"]["title"].as_str().unwrap().is_empty());
    }
    // Each phase's cycles, and the overdue ones, are the matching rows.
    for phase in ["planned", "doing", "studying", "acted", "abandoned"] {
        let want: Vec<String> = rows
            .iter()
            .filter(|r| r["cycle"]["phase"] == phase)
            .map(|r| r["cycle"]["cycle_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids(&register(format!("&phase={phase}")).await),
            want,
            "{phase}"
        );
    }
    let overdue: Vec<String> = rows
        .iter()
        .filter(|r| r["overdue"] == true)
        .map(|r| r["cycle"]["cycle_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&register("&overdue=true".into()).await), overdue);

    // The CSV: a header and one row per cycle, in the register's order.
    let res = api
        .open_as(
            &api.token,
            &format!(
                "/api/v1/networks/{net}/pdsa-register?format=csv&change_idea_id={idea}&decision=adapt"
            ),
            "text/csv",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        head.contains(&"question_1") && head.contains(&"result_1") && head.contains(&"decision")
    );
    let first: Vec<String> = lines
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(first, expected);

    // Bad queries: a problem each.
    for (q, status) in [
        ("?phase=done", StatusCode::BAD_REQUEST),
        ("?decision=maybe", StatusCode::BAD_REQUEST),
        ("?limit=0", StatusCode::BAD_REQUEST),
        ("?limit=501", StatusCode::BAD_REQUEST),
        ("?from=yesterday", StatusCode::BAD_REQUEST),
        ("?colour=red", StatusCode::BAD_REQUEST),
        ("?format=xlsx", StatusCode::BAD_REQUEST),
    ] {
        let (got, headers, body) = api
            .get(&format!("/api/v1/networks/{net}/pdsa-register{q}"))
            .await;
        assert_eq!(got, status, "{q}: {body}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{q}"
        );
    }
    let (got, _, _) = api
        .get(&format!(
            "/api/v1/networks/{}/pdsa-register",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
}

/// The standards matrix over the demo network: one row per program, one column per standard,
/// each cell the program's latest self-rating as its own portfolio has it.
#[tokio::test]
async fn the_standards_matrix_agrees_with_every_program_s_portfolio() {
    let (_, demo, api) = Api::demo().await;
    let net = demo.network_id;
    let (status, _, m) = api
        .get(&format!("/api/v1/networks/{net}/standards-matrix"))
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let standards = m["standards"].as_array().unwrap();
    let rows = m["programs"].as_array().unwrap();
    assert_eq!(rows.len(), demo.programs);
    assert!(!standards.is_empty());
    let mut rated = 0;
    for row in rows {
        let id = row["program_id"].as_str().unwrap();
        let (_, _, portfolio) = api.get(&format!("/api/v1/programs/{id}/portfolio")).await;
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells.len(), standards.len());
        for (s, cell) in standards.iter().zip(cells) {
            let history = portfolio["standards"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["standard_id"] == s["standard_id"])
                .unwrap();
            assert_eq!(cell["rating"], history["latest_rating"], "{id} {s}");
            if !cell.is_null() {
                rated += 1;
                let n = cell["rating"].as_u64().unwrap() as usize;
                assert_eq!(cell["words"], m["scale"][n - 1]);
            }
        }
    }
    assert!(rated > 0, "the demo's programs rate themselves");
    let (got, _, _) = api
        .get(&format!(
            "/api/v1/networks/{}/standards-matrix",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
}

/// An admissions office's token reads its program's statement and nothing else; the statement's
/// code checks out with no token, and fails once the self-assessment it rests on is altered in
/// the database; a revoked token reads nothing.
#[tokio::test]
async fn an_admissions_statement_is_checked_against_the_log_and_fails_once_altered() {
    let (url, demo, api) = Api::demo().await;
    let net = demo.network_id;
    let (_, _, programs) = api.get(&format!("/api/v1/networks/{net}/programs")).await;
    let programs: Vec<String> = programs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let (program, other) = (&programs[0], &programs[1]);
    let office = api
        .app
        .tokens()
        .create(
            "Admissions office",
            Role::Admissions,
            vec![program.parse().unwrap()],
            "test",
        )
        .await
        .unwrap();

    let path = format!("/api/v1/programs/{program}/admissions");
    let (status, _, statement) = api.get_as(&office, &path).await;
    assert_eq!(status, StatusCode::OK, "{statement}");
    // It agrees with the program's portfolio: a standard is met when its latest rating is 3 or 4.
    let (_, _, portfolio) = api
        .get(&format!("/api/v1/programs/{program}/portfolio"))
        .await;
    let standards = statement["standards"].as_array().unwrap();
    assert_eq!(
        standards.len(),
        portfolio["standards"].as_array().unwrap().len()
    );
    for (s, h) in standards
        .iter()
        .zip(portfolio["standards"].as_array().unwrap())
    {
        let meets = h["latest_rating"].as_u64().is_some_and(|r| r >= 3);
        assert_eq!(s["meets"], meets, "{s} {h}");
        assert_eq!(s["since"].is_null(), !meets, "{s}");
    }
    let code = statement["verification"]["code"]
        .as_str()
        .unwrap()
        .to_string();

    // Nothing else opens to the office's token.
    for other_path in [
        format!("/api/v1/programs/{other}/admissions"),
        format!("/api/v1/networks/{net}"),
        format!("/api/v1/programs/{program}/portfolio"),
        "/api/v1/events".to_string(),
        "/api/v1/networks".to_string(),
    ] {
        let (status, _, body) = api.get_as(&office, &other_path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other_path}: {body}");
    }

    // Anyone checks the code, with no token.
    let check = |code: String| {
        let router = api.router.clone();
        async move {
            let req = Request::get(format!("/api/v1/verify/{code}"))
                .body(Body::empty())
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, verified) = check(code.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verified["valid"], true, "{verified}");
    let (position, hash) = code.split_once('-').unwrap();
    let wrong = format!("{position}-{}", hash.chars().rev().collect::<String>());
    assert_eq!(check(wrong).await.1["valid"], false);
    assert_eq!(check("1-0123456789abcdef".into()).await.1["valid"], false);
    assert_eq!(check("not-a-code".into()).await.0, StatusCode::BAD_REQUEST);

    // An intruder with full rights alters the self-assessment: the code no longer checks out.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TRIGGER events_refuse_update")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE events SET data = json_set(data, '$.note', 'Rated higher by an intruder') WHERE global_position = ?",
        )
        .bind(position.parse::<i64>().unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let (_, altered) = check(code).await;
    assert_eq!(altered["valid"], false, "{altered}");
    assert!(
        altered["detail"].as_str().unwrap().contains("altered"),
        "{altered}"
    );

    // A revoked token reads nothing.
    api.app
        .tokens()
        .revoke("Admissions office", "the season ended", "test")
        .await
        .unwrap();
    assert_eq!(api.get_as(&office, &path).await.0, StatusCode::UNAUTHORIZED);
}

/// The network's clock beside the ledger's, on the demo (recorded today, with its history's
/// dates): the timeline in the order things happened, filtered and paged by day; every read
/// model replayed to a day as the work stood then, while the ledger's clock, at the same moment,
/// knew nothing yet; and `Occurred-On` dating what a write records.
#[tokio::test]
async fn the_network_s_clock_orders_the_timeline_and_replays_the_work_as_it_stood() {
    let (_, demo, api) = Api::demo().await;
    let network = demo.network_id;
    let today = chrono::Utc::now().date_naive().to_string();

    // The whole timeline, page by page in the order things happened: every entry once, sorted
    // by day (then position), the charter first, dated by its day in 2024.
    let mut all: Vec<Value> = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            None => format!("/api/v1/timeline?network_id={network}&limit=7"),
            Some(a) => format!("/api/v1/timeline?network_id={network}&limit=7&after={a}"),
        };
        let (status, _, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        all.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    let key = |e: &Value| {
        (
            e["happened_on"].as_str().unwrap().to_string(),
            e["position"].as_u64().unwrap(),
        )
    };
    let keys: Vec<_> = all.iter().map(key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert!(keys == sorted, "in the order things happened");
    let (_, _, in_log) = api
        .get(&format!(
            "/api/v1/timeline?network_id={network}&limit=500&order=recorded"
        ))
        .await;
    let positions: Vec<u64> = in_log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "log order");
    assert_eq!(
        positions.len(),
        all.len(),
        "every entry once, in either order"
    );
    assert_eq!(all[0]["event_type"], "NetworkChartered");
    assert_eq!(all[0]["happened_on"], "2024-06-03");
    assert!(all[0]["recorded_at"].as_str().unwrap().starts_with(&today));
    assert!(
        all.last().unwrap()["happened_on"].as_str().unwrap() > "2026-06-01",
        "two years of work"
    );

    // Filtered by day: June 2025 only.
    let (_, _, june) = api
        .get(&format!(
            "/api/v1/timeline?network_id={network}&from=2025-06-01&until=2025-06-30&limit=500"
        ))
        .await;
    let june = june["entries"].as_array().unwrap();
    let expected = all
        .iter()
        .filter(|e| {
            let day = e["happened_on"].as_str().unwrap();
            ("2025-06-01"..="2025-06-30").contains(&day)
        })
        .count();
    assert!(expected > 0);
    assert_eq!(june.len(), expected);
    let (status, _, problem) = api
        .get(&format!("/api/v1/timeline?network_id={network}&from=12"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

    // Replayed to a day in the middle: the work as it stood then, by the network's clock; by the
    // ledger's, the same moment knew nothing, for nothing had been recorded.
    let (status, _, then) = api
        .get(&format!(
            "/api/v1/networks/{network}/driver-diagram?as_of=2025-06-15"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{then}");
    let (_, _, now) = api
        .get(&format!("/api/v1/networks/{network}/driver-diagram"))
        .await;
    let count = |d: &Value| d["nodes"].as_array().unwrap().len();
    assert!(count(&then) > 3 && count(&then) < count(&now), "{then}");
    let (status, _, problem) = api
        .get(&format!(
            "/api/v1/networks/{network}/driver-diagram?as_of=2025-06-15T00:00:00Z"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("as the ledger knew it at"));
    let measure = demo.shift_measure_id;
    let (_, _, chart) = api
        .get(&format!(
            "/api/v1/measures/{measure}/run-chart?as_of=2025-06-15"
        ))
        .await;
    let periods: Vec<&str> = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods.last(), Some(&"2025-05"), "{chart}");
    let program = demo.first_program_id;
    let (status, _, board) = api
        .get(&format!(
            "/api/v1/programs/{program}/pdsa-board?as_of=2025-06-15"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    let (status, _, diff) = api
        .get(&format!(
            "/api/v1/networks/{network}/driver-diagram/diff?from=2025-01-01&to=2025-06-15"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert!(!diff["added"].as_array().unwrap().is_empty(), "{diff}");

    // A synthesis written late, dated by the day it was agreed: the timeline puts it there.
    let (status, _, written) = api
        .post(
            &format!("/api/v1/networks/{network}/syntheses"),
            &format!(r#"{{"title": "Agreed at the winter convening", "statement": "Check-ins hold.", "recommendation": "Keep them.", "measure_ids": ["{measure}"]}}"#),
            &[("occurred-on", "2025-01-10")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    let position = written["events"][0]["global_position"].as_u64().unwrap();
    let head = api.head(position).await;
    let mut applied = api.app.read_models().applied();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        applied.wait_for(|p| *p >= head),
    )
    .await
    .unwrap()
    .unwrap();
    let (_, _, january) = api
        .get(&format!(
            "/api/v1/timeline?network_id={network}&from=2025-01-10&until=2025-01-10&kind=synthesis"
        ))
        .await;
    assert!(
        january["entries"][0]["sentence"]
            .as_str()
            .unwrap()
            .contains("Agreed at the winter convening"),
        "{january}"
    );
    for (bad, why) in [
        ("2999-01-01", "has not come yet"),
        ("10/01/2025", "YYYY-MM-DD"),
    ] {
        let (status, _, problem) = api
            .post(
                &format!("/api/v1/networks/{network}/syntheses"),
                &format!(r#"{{"title": "Too soon", "statement": "x", "recommendation": "y", "measure_ids": ["{measure}"]}}"#),
                &[("occurred-on", bad)],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    api.app.stop();
}

/// A program's evidence packet from the demo: the same ratings, cycles and measures as the
/// portfolio, the board and the charts, as JSON and as a CSV table with a row for each; as the
/// work stood on an earlier day, fewer of them; a format it does not make is refused.
#[tokio::test]
async fn an_evidence_packet_is_one_document_or_one_table_as_of_any_day() {
    let (_, demo, api) = Api::demo().await;
    let program = demo.first_program_id;
    let packet_path = format!("/api/v1/programs/{program}/evidence-packet");
    let (status, headers, packet) = api.get(&packet_path).await;
    assert_eq!(status, StatusCode::OK, "{packet}");
    assert!(headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .ends_with(".json\""));
    let (_, _, portfolio) = api
        .get(&format!("/api/v1/programs/{program}/portfolio"))
        .await;
    let (_, _, board) = api
        .get(&format!("/api/v1/programs/{program}/pdsa-board"))
        .await;
    assert_eq!(packet["portfolio"], portfolio);
    assert_eq!(packet["pdsa_board"], board);
    let ratings: usize = portfolio["standards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ratings"].as_array().unwrap().len())
        .sum();
    let cycles: usize = ["planned", "doing", "studying", "acted", "abandoned"]
        .iter()
        .map(|c| board["columns"][c].as_array().unwrap().len())
        .sum();
    let measures = packet["measures"].as_array().unwrap();
    assert!(
        ratings > 0 && cycles > 0 && !measures.is_empty(),
        "{packet}"
    );
    for m in measures {
        assert!(m["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["program_id"] == program.to_string())));
    }

    let res = api
        .open_as(&api.token, &format!("{packet_path}?format=csv"), "*/*")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("section,name,date,value,decision_or_signal,evidence_or_detail")
    );
    let sections: Vec<&str> = rows.map(|r| r.split(',').next().unwrap()).collect();
    let count = |s: &str| sections.iter().filter(|x| **x == s).count();
    assert_eq!(
        (
            count("self-assessment"),
            count("pdsa cycle"),
            count("measure")
        ),
        (ratings, cycles, measures.len()),
        "{csv}"
    );

    let (status, _, earlier) = api.get(&format!("{packet_path}?as_of=2025-03-01")).await;
    assert_eq!(status, StatusCode::OK, "{earlier}");
    let earlier_cycles: usize = ["planned", "doing", "studying", "acted", "abandoned"]
        .iter()
        .map(|c| {
            earlier["pdsa_board"]["columns"][c]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert!(
        earlier_cycles < cycles,
        "{earlier_cycles} then, {cycles} now"
    );
    let (status, _, problem) = api.get(&format!("{packet_path}?format=pdf")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    api.app.stop();
}
