//! Black-box: who may do what. Every documented route × every role, plus no token, a wrong token
//! and a revoked token, gets the answer the access table promises (401, 403, or through to the
//! handler); and a facilitator writes for its own programs only, whatever the command.

mod common;

use std::process::Command;

use common::{Db, Server};
use serde_json::{json, Value};

/// Creates a token with the real command line against the server's database.
fn token(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["token", "create", "--database-url", db])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        token.starts_with("nic_"),
        "the token alone on stdout: {token}"
    );
    token
}

fn revoke(db: &str, name: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["token", "revoke", name, "--database-url", db])
        .output()
        .unwrap();
    assert!(out.status.success());
}

struct World {
    network: String,
    program_a: String,
    program_b: String,
    idea: String,
    measure: String,
    point_b: String,
    cycle_b: String,
}

fn plan(idea: &str) -> Value {
    json!({"title": "Huddles", "change_idea_ids": [idea], "purpose": "test", "scale": "one mentor",
           "planned_start": "2025-03-03", "planned_end": "2025-03-14",
           "plan": {"objective": "See", "questions": [{"question": "Q?", "prediction": "P"}]}})
}

fn world(s: &Server) -> World {
    let network = s.ok("/api/v1/networks", &json!({"name": "Net"}));
    let n = format!("/api/v1/networks/{network}");
    let eco = s.ok(
        &format!("{n}/ecosystems"),
        &json!({"name": "Pittsburgh", "region": "PA"}),
    );
    let primary = s.ok(
        &format!("{n}/drivers"),
        &json!({"kind": "primary", "title": "Identity"}),
    );
    let idea = s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": "Huddles", "serves": [{"node_id": primary}]}),
    );
    let program_a = s.ok(
        &format!("{n}/programs"),
        &json!({"name": "A", "ecosystem_id": eco}),
    );
    let program_b = s.ok(
        &format!("{n}/programs"),
        &json!({"name": "B", "ecosystem_id": eco}),
    );
    s.ok(
        &format!("{n}/standards"),
        &json!({"code": "S1", "title": "Mentoring"}),
    );
    let measure = s.ok(
        &format!("{n}/measures"),
        &json!({"name": "Attendance", "kind": "process", "description": "Who came back", "scale": "value",
                "unit": "students", "period": "month", "direction": "up"}),
    );
    let point_b = s.ok(
        &format!("/api/v1/measures/{measure}/data-points"),
        &json!({"program_id": program_b, "period": "2025-01", "value": 4}),
    );
    let cycle_b = s.ok(
        &format!("/api/v1/programs/{program_b}/pdsa-cycles"),
        &plan(&idea),
    );
    World {
        network,
        program_a,
        program_b,
        idea,
        measure,
        point_b,
        cycle_b,
    }
}

/// What the access table promises a role on a route: through to the handler, or refused.
fn allowed(role: &str, method: &str, path: &str) -> bool {
    let public = [
        "/",
        "/assets/{file}",
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/verify/{code}",
    ]
    .contains(&path);
    let admissions = path == "/api/v1/programs/{program_id}/admissions";
    let any_token = path == "/api/v1/me";
    let log = path.starts_with("/api/v1/events")
        || path.starts_with("/api/v1/streams")
        || path.starts_with("/api/v1/export")
        || path == "/api/v1/live/events";
    let program_write = method == "post"
        && (path.starts_with("/api/v1/programs/{program_id}/pdsa-cycles")
            || path.starts_with("/api/v1/programs/{program_id}/self-assessments")
            || path.starts_with("/api/v1/pdsa-cycles/")
            || path.starts_with("/api/v1/measures/{measure_id}/data-points")
            || path == "/api/v1/networks/{network_id}/change-ideas"
            || path == "/api/v1/redactions");
    let rebuild = method == "post" && path == "/api/v1/projections/rebuild";
    let people = path.starts_with("/api/v1/tokens");
    match (role, method) {
        (_, _) if public => true,
        ("admin", _) => true,
        (_, _) if people => false,
        ("admissions", "get") => admissions || any_token,
        (_, _) if admissions => false,
        ("scientist", "post") => rebuild,
        ("viewer", "get") => !log,
        ("scientist", "get") | ("facilitator", "get") => true,
        ("facilitator", "post") => program_write,
        _ => false,
    }
}

#[test]
fn every_route_answers_every_role_as_the_access_table_says() {
    let db = common::fresh_database(Db::Sqlite);
    let s = common::start_with(&db);
    let w = world(&s);
    let roles = [
        ("admin", s.token.clone()),
        (
            "facilitator",
            token(
                &db,
                &[
                    "--role",
                    "facilitator",
                    "--name",
                    "fa",
                    "--program",
                    &w.program_a,
                ],
            ),
        ),
        (
            "scientist",
            token(&db, &["--role", "improvement-scientist", "--name", "sc"]),
        ),
        ("viewer", token(&db, &["--role", "viewer", "--name", "vi"])),
        (
            "admissions",
            token(
                &db,
                &[
                    "--role",
                    "admissions",
                    "--name",
                    "ad",
                    "--program",
                    &w.program_a,
                ],
            ),
        ),
    ];
    let revoked = token(&db, &["--role", "admin", "--name", "gone"]);
    revoke(&db, "gone");

    let doc = s.get("/api/v1/openapi.json").json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{network_id}", &w.network)
            .replace("{program_id}", &w.program_a)
            .replace("{measure_id}", &w.measure)
            .replace("{point_id}", &w.point_b)
            .replace("{cycle_id}", &w.cycle_b)
            .replace("{node_id}", &w.idea)
            .replace("{synthesis_id}", &w.idea)
            .replace("{stream_id}", &format!("network-{}", w.network))
            .replace("{file}", "app.js")
            .replace("{code}", "1-0123456789abcdef")
            .replace("{token_id}", &uuid::Uuid::now_v7().to_string());
        for method in item.as_object().unwrap().keys() {
            let call = |auth: &str| {
                s.raw(
                    &method.to_uppercase(),
                    &concrete,
                    &[
                        ("Authorization", auth),
                        ("Content-Type", "application/json"),
                    ],
                    b"{}",
                )
            };
            let public = allowed("nobody", method, path);
            for (who, auth) in [
                ("no token", String::new()),
                ("a wrong token", "Bearer nic_0000".to_string()),
                ("a revoked token", format!("Bearer {revoked}")),
            ] {
                let a = call(&auth);
                if public {
                    assert!(a.status < 400, "{method} {path} with {who}: {}", a.status);
                } else {
                    a.problem(401, "unauthorized");
                }
            }
            for (role, t) in &roles {
                let a = call(&format!("Bearer {t}"));
                if allowed(role, method, path) {
                    assert!(
                        a.status != 401 && a.status != 403,
                        "{role} {method} {path}: {} {}",
                        a.status,
                        a.body
                    );
                } else {
                    let p = a.problem(403, "forbidden");
                    assert!(p["detail"].as_str().unwrap().contains("needs"), "{p}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 55, "{checked} route × role checks");
}

#[test]
fn a_facilitator_writes_for_its_own_programs_only() {
    let db = common::fresh_database(Db::Sqlite);
    let s = common::start_with(&db);
    let w = world(&s);
    let fa = token(
        &db,
        &[
            "--role",
            "facilitator",
            "--name",
            "fa",
            "--program",
            &w.program_a,
        ],
    );
    let auth = format!("Bearer {fa}");
    let as_fa =
        |path: &str, body: &Value| s.post_with(path, &[("Authorization", auth.as_str())], body);
    let before = s.event_count();
    let n = format!("/api/v1/networks/{}", w.network);
    // Program B's business, each refused with 403 and nothing appended.
    for (path, body) in [
        (
            format!("/api/v1/programs/{}/pdsa-cycles", w.program_b),
            plan(&w.idea),
        ),
        (
            format!("/api/v1/pdsa-cycles/{}/start", w.cycle_b),
            json!({"started_on": "2025-03-04"}),
        ),
        (
            format!("/api/v1/pdsa-cycles/{}/abandon", w.cycle_b),
            json!({"reason": "no"}),
        ),
        (
            format!("/api/v1/measures/{}/data-points", w.measure),
            json!({"program_id": w.program_b, "period": "2025-02", "value": 1}),
        ),
        (
            format!(
                "/api/v1/measures/{}/data-points/{}/correct",
                w.measure, w.point_b
            ),
            json!({"value": 5, "reason": "miscounted"}),
        ),
        (
            format!(
                "/api/v1/measures/{}/data-points/{}/exclude",
                w.measure, w.point_b
            ),
            json!({"reason": "closed"}),
        ),
        (
            format!("{n}/change-ideas"),
            json!({"title": "Theirs", "proposed_by_program": w.program_b}),
        ),
        // The hub's own proposals are the hub's.
        (format!("{n}/change-ideas"), json!({"title": "Hub's"})),
        (
            format!("/api/v1/programs/{}/withdraw", w.program_a),
            json!({"reason": "r"}),
        ),
    ] {
        as_fa(&path, &body).problem(403, "forbidden");
    }
    assert_eq!(s.event_count(), before, "nothing was appended");

    // Program A's business goes through, and the events name the facilitator.
    let a = as_fa(
        &format!("/api/v1/programs/{}/pdsa-cycles", w.program_a),
        &plan(&w.idea),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let cycle = a.json()["id"].as_str().unwrap().to_string();
    let a = as_fa(
        &format!("/api/v1/pdsa-cycles/{cycle}/start"),
        &json!({"started_on": "2025-03-04"}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = as_fa(
        &format!("/api/v1/measures/{}/data-points", w.measure),
        &json!({"program_id": w.program_a, "period": "2025-02", "value": 3}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let a = as_fa(
        &format!("{n}/change-ideas"),
        &json!({"title": "Ours", "proposed_by_program": w.program_a}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let stream = s.get(&format!("/api/v1/streams/pdsa-{cycle}")).json();
    // Recorded by the token's id, never by its name (which is sealed in the token's stream).
    let me = s
        .raw(
            "GET",
            "/api/v1/me",
            &[("Authorization", &format!("Bearer {fa}"))],
            b"",
        )
        .json();
    let actor = format!("token:{}", me["token_id"].as_str().unwrap());
    for e in stream.as_array().unwrap() {
        assert_eq!(e["metadata"]["actor"], actor.as_str());
    }
    assert_eq!(s.event_count(), before + 4);
}
