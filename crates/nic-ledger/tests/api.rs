//! Black-box: a facilitator's and the hub's whole story over HTTP, against the real binary on a
//! fresh SQLite file and on a fresh PostgreSQL database: the network, its aim and driver diagram,
//! a program, a measure with data, a full PDSA ramp, a synthesis and a self-assessment, all read
//! back; then every kind of refusal, each of which must append nothing and leave the server up.

mod common;

use common::{Db, Server};
use serde_json::{json, Value};

/// Everything the story created.
struct Story {
    network: String,
    program: String,
    primary: String,
    secondary: String,
    idea: String,
    measure: String,
    cycle1: String,
    cycle2: String,
    standard: String,
}

fn plan(idea: &str, measure: &str, previous: Option<&str>) -> Value {
    json!({
        "title": "Peer mentoring huddles, week 1",
        "change_idea_ids": [idea],
        "previous_cycle_id": previous,
        "purpose": "test",
        "scale": "one mentor, six students, one afternoon",
        "planned_start": "2025-03-03",
        "planned_end": "2025-03-14",
        "plan": {
            "objective": "See whether a 15-minute huddle keeps first-years coming back",
            "questions": [
                {"question": "Will students attend the second huddle?", "prediction": "4 of 6 will", "reason": "They asked for more time with mentors"},
                {"question": "Will mentors run it without a script?", "prediction": "Yes"}
            ],
            "who_what_when_where": "Ana runs it in the lab after the Tuesday session",
            "tasks": ["Book the lab", "Brief mentors"],
            "measure_ids": [measure],
            "data_collection_plan": "Attendance sheet"
        }
    })
}

fn record_story(s: &Server) -> Story {
    let network = s.ok(
        "/api/v1/networks",
        &json!({"name": "STEM PUSH Network", "purpose": "Pre-college STEM programs improving together"}),
    );
    let n = format!("/api/v1/networks/{network}");
    s.ok(
        &format!("{n}/aim"),
        &json!({"aim": {
            "statement": "Increase the share of Black, Latina/o/e and Indigenous alumni who enrol in post-secondary STEM from 38% to 50% by fall 2027",
            "what": "post-secondary STEM enrolment", "for_whom": "Black, Latina/o/e and Indigenous alumni",
            "baseline": 38, "target": 50, "unit": "percent", "by_when": "2027-09-01"}}),
    );
    let pittsburgh = s.ok(
        &format!("{n}/ecosystems"),
        &json!({"name": "Pittsburgh", "region": "Western Pennsylvania"}),
    );
    let primary = s.ok(
        &format!("{n}/drivers"),
        &json!({"kind": "primary", "title": "Students' STEM identity", "definition": "Students see themselves as STEM people"}),
    );
    let secondary = s.ok(
        &format!("{n}/drivers"),
        &json!({"kind": "secondary", "title": "Belonging in the program", "serves": [{"node_id": primary, "strength": "strong"}]}),
    );
    let idea = s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": "Peer mentoring huddles", "serves": [{"node_id": secondary}]}),
    );
    s.ok(
        &format!("{n}/change-ideas/{idea}/accept"),
        &json!({"note": "Fits our theory"}),
    );
    let standard = s.ok(
        &format!("{n}/standards"),
        &json!({"code": "S3", "title": "Culturally responsive mentoring"}),
    );
    s.ok(
        &format!("{n}/root-causes"),
        &json!({"category": "Recruitment", "cause": "Outreach reaches few families"}),
    );
    let program = s.ok(
        &format!("{n}/programs"),
        &json!({"name": "Lab Explorers", "ecosystem_id": pittsburgh}),
    );
    // A member program proposes an idea; the hub declines it.
    let proposal = s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": "Weekend bootcamps", "proposed_by_program": program, "rationale": "Families asked"}),
    );
    s.ok(
        &format!("{n}/change-ideas/{proposal}/decline"),
        &json!({"reason": "Outside the network's aim this year"}),
    );
    let measure = s.ok(
        &format!("{n}/measures"),
        &json!({"name": "Second-session attendance", "kind": "process", "description": "Share of students attending a second mentoring session",
                "scale": "ratio", "numerator": "Students at a second session", "denominator": "Students at a first session",
                "unit": "percent", "period": "month", "direction": "up", "tracks": [secondary]}),
    );
    let m = format!("/api/v1/measures/{measure}");
    let mut points = Vec::new();
    for (month, num) in [("2025-01", 3), ("2025-02", 4), ("2025-03", 5)] {
        points.push(s.ok(
            &format!("{m}/data-points"),
            &json!({"program_id": program, "period": month, "numerator": num, "denominator": 10}),
        ));
    }
    s.ok(
        &format!("{m}/data-points/{}/correct", points[1]),
        &json!({"numerator": 6, "denominator": 10, "reason": "Sheet was miscounted"}),
    );
    s.ok(
        &format!("{m}/data-points/{}/exclude", points[0]),
        &json!({"reason": "Snow closure"}),
    );

    // The PDSA ramp: cycle 1 through every phase, then cycle 2 building on it.
    let cycle1 = s.ok(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &plan(&idea, &measure, None),
    );
    let c = format!("/api/v1/pdsa-cycles/{cycle1}");
    s.ok(&format!("{c}/start"), &json!({"started_on": "2025-03-04"}));
    s.ok(
        &format!("{c}/do"),
        &json!({"carried_out_as_planned": true, "what_happened": "Six came; five came back",
                "observations": [{"at": "2025-03-04T16:10:00Z", "note": "Two students led the warm-up"}],
                "completed_on": "2025-03-11"}),
    );
    // A refusal names the body's own fields: `results`, not a level the body does not have.
    let refused = s.post(
        &format!("{c}/study"),
        &json!({"summary": "", "results": [{"question_index": 0, "result": "5 of 6", "prediction_held": "yes"}]}),
    );
    let p = refused.problem(422, "validation");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["summary", "results"], "{p}");
    s.ok(
        &format!("{c}/study"),
        &json!({"summary": "Attendance beat the prediction",
                "results": [
                    {"question_index": 0, "result": "5 of 6 came back", "prediction_held": "yes", "learned": "Huddles help"},
                    {"question_index": 1, "result": "Needed a prompt card", "prediction_held": "partly"}]}),
    );
    s.ok(
        &format!("{c}/act"),
        &json!({"decision": "adapt", "reason": "Add prompt cards", "next_cycle": "Two mentors", "decided_on": "2025-03-14"}),
    );
    let cycle2 = s.ok(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &plan(&idea, &measure, Some(&cycle1)),
    );
    s.ok(
        &format!("{n}/syntheses"),
        &json!({"title": "Huddles keep first-years coming back", "statement": "Short peer huddles raise second-session attendance",
                "recommendation": "Spread to three more programs", "cycle_ids": [cycle1], "measure_ids": [measure], "node_ids": [idea]}),
    );
    s.ok(
        &format!("/api/v1/programs/{program}/self-assessments"),
        &json!({"standard_id": standard, "rating": 3, "assessed_on": "2025-04-01",
                "evidence": [{"kind": "cycle", "id": cycle1}, {"kind": "document", "reference": "Mentor handbook"}]}),
    );
    Story {
        network,
        program,
        primary,
        secondary,
        idea,
        measure,
        cycle1,
        cycle2,
        standard,
    }
}

fn read_back(s: &Server, st: &Story) {
    let net = s.get(&format!("/api/v1/networks/{}", st.network));
    assert_eq!(net.status, 200);
    assert!(net.header("etag").is_some());
    let net = net.json();
    assert_eq!(net["aim"]["target"], 50.0);
    assert_eq!(net["nodes"][&st.primary]["kind"], "primary");
    assert_eq!(net["nodes"][&st.idea]["stage"], "accepted");
    assert_eq!(net["nodes"].as_object().unwrap().len(), 4);
    let declined = net["nodes"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["stage"] == "declined")
        .count();
    assert_eq!(declined, 1);
    assert!(net["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["from"] == st.secondary.as_str() && l["to"] == st.primary.as_str()));
    assert_eq!(net["standards"][&st.standard]["code"], "S3");

    let m = s.get(&format!("/api/v1/measures/{}", st.measure)).json();
    let points: Vec<&Value> = m["points"].as_object().unwrap().values().collect();
    assert_eq!(points.len(), 3);
    assert!(points
        .iter()
        .any(|p| p["period"] == "2025-02" && p["numerator"] == 6.0 && p["corrections"] == 1));
    assert!(points
        .iter()
        .any(|p| p["period"] == "2025-01" && p["excluded"] == "Snow closure"));

    let c1 = s.get(&format!("/api/v1/pdsa-cycles/{}", st.cycle1)).json();
    assert_eq!(c1["phase"], "acted");
    assert_eq!(c1["act"]["decision"], "adapt");
    assert_eq!(c1["gaps"], json!([]));
    let c2 = s.get(&format!("/api/v1/pdsa-cycles/{}", st.cycle2)).json();
    assert_eq!(c2["phase"], "planned");
    assert_eq!(c2["planned"]["cycle_number"], 2);
    assert_eq!(c2["planned"]["ramp_id"], st.cycle1.as_str());

    // Listings read the global log, which on PostgreSQL may trail commits by a moment while other
    // transactions on the server finish (readers never skip, so they wait): poll briefly.
    let cycles = common::eventually(|| {
        let c = s
            .get(&format!("/api/v1/programs/{}/pdsa-cycles", st.program))
            .json();
        (c["items"].as_array().unwrap().len() == 2).then_some(c)
    });
    assert_eq!(
        cycles["items"][0]["href"],
        format!("/api/v1/pdsa-cycles/{}", st.cycle1)
    );
    let program = s.get(&format!("/api/v1/programs/{}", st.program)).json();
    assert_eq!(program["self_assessments"][0]["rating"], 3);
    assert_eq!(program["region"], "Western Pennsylvania");
    let networks = s.get("/api/v1/networks").json();
    assert_eq!(networks["items"][0]["id"], st.network.as_str());

    // The global log holds every event, in order, with the category filter working.
    let settled = s.event_count();
    let all = s.get("/api/v1/events?after=0&limit=1000").json();
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), settled);
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["global_position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let pdsa = s.get("/api/v1/events?after=0&category=pdsa").json();
    assert_eq!(pdsa["events"].as_array().unwrap().len(), 6);
}

/// Every refusal: the right status and problem, nothing appended, the server still up.
fn refusals(s: &Server, st: &Story) {
    let n = format!("/api/v1/networks/{}", st.network);
    let value_measure = |name: &str, data_type: &str| {
        s.ok(
            &format!("{n}/measures"),
            &json!({"name": name, "kind": "process", "description": name, "scale": "value",
                    "data_type": data_type, "unit": "people", "period": "month", "direction": "up"}),
        )
    };
    let count = value_measure("Family members at events", "count");
    let percentage = value_measure("Share of sessions held", "percentage");
    let before = s.event_count();
    let c1 = format!("/api/v1/pdsa-cycles/{}", st.cycle1);
    let c2 = format!("/api/v1/pdsa-cycles/{}", st.cycle2);
    let ct = [("Content-Type", "application/json")];

    s.raw("POST", &format!("{c2}/start"), &ct, b"{\"started_on\":")
        .problem(400, "malformed-json");
    let p = s
        .post(
            &format!("{c2}/start"),
            &json!({"started_on": "2025-03-20", "extra": 1}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "extra");
    let p = s
        .post(&format!("{c2}/start"), &json!({"started_on": 5}))
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "started_on");
    let p = s
        .post(
            &format!("{n}/drivers"),
            &json!({"kind": "primary", "title": "x".repeat(201)}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "title");
    s.raw("POST", &format!("{c2}/start"), &[], b"{}")
        .problem(415, "unsupported-media-type");
    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(300 * 1024));
    s.raw("POST", &format!("{c2}/abandon"), &ct, huge.as_bytes())
        .problem(413, "body-too-large");
    s.post(
        "/api/v1/pdsa-cycles/not-a-uuid/start",
        &json!({"started_on": "2025-03-20"}),
    )
    .problem(400, "invalid-id");
    s.post(
        &format!("/api/v1/pdsa-cycles/{}/start", uuid::Uuid::now_v7()),
        &json!({"started_on": "2025-03-20"}),
    )
    .problem(404, "not-found");
    s.get(&format!("/api/v1/programs/{}", uuid::Uuid::now_v7()))
        .problem(404, "not-found");
    s.get("/api/v1/nowhere").problem(404, "not-found");
    s.raw("DELETE", &c1, &[], b"")
        .problem(405, "method-not-allowed");

    // Unknown references.
    let mut bad_plan = plan(&st.idea, &st.measure, None);
    bad_plan["change_idea_ids"] = json!([uuid::Uuid::now_v7()]);
    let p = s
        .post(
            &format!("/api/v1/programs/{}/pdsa-cycles", st.program),
            &bad_plan,
        )
        .problem(422, "unknown-reference");
    assert_eq!(p["errors"][0]["field"], "change_idea_ids[0]");
    let mut bad_plan = plan(&st.idea, &st.measure, None);
    bad_plan["plan"]["measure_ids"] = json!([uuid::Uuid::now_v7()]);
    s.post(
        &format!("/api/v1/programs/{}/pdsa-cycles", st.program),
        &bad_plan,
    )
    .problem(422, "unknown-reference");
    let p = s
        .post(
            &format!("/api/v1/measures/{}/data-points", st.measure),
            &json!({"program_id": st.program, "period": "March 2025", "numerator": 1, "denominator": 2}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "period");

    // Bad data is refused at the door, naming the field: a proportion's numerator above its
    // denominator (the story's measure is a ratio that says no data type: a proportion), a
    // negative or fractional count, a percentage outside 0 to 100; and a data type that does
    // not fit the scale.
    let point = |measure: &str, body: Value| {
        let mut body = body;
        body["program_id"] = json!(st.program);
        body["period"] = json!("2025-06");
        let p = s
            .post(&format!("/api/v1/measures/{measure}/data-points"), &body)
            .problem(422, "validation");
        p["errors"][0]["field"].as_str().unwrap().to_string()
    };
    assert_eq!(
        point(&st.measure, json!({"numerator": 11, "denominator": 10})),
        "numerator"
    );
    for v in [-1.0, 2.5] {
        assert_eq!(point(&count, json!({"value": v})), "value");
    }
    for v in [-1.0, 100.5] {
        assert_eq!(point(&percentage, json!({"value": v})), "value");
    }
    let p = s
        .post(
            &format!("{n}/measures"),
            &json!({"name": "Huddles", "kind": "process", "description": "Huddles held",
                    "scale": "value", "data_type": "proportion", "unit": "huddles",
                    "period": "month", "direction": "up"}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "data_type");

    // Invalid transitions: phases only move forward; a closed cycle is not edited.
    s.post(&format!("{c1}/start"), &json!({"started_on": "2025-03-20"}))
        .problem(409, "invalid-transition");
    s.post(
        &format!("{c2}/act"),
        &json!({"decision": "adopt", "reason": "r", "decided_on": "2025-03-20"}),
    )
    .problem(409, "invalid-transition");
    s.post(&format!("{c1}/abandon"), &json!({"reason": "too late"}))
        .problem(409, "invalid-transition");
    s.post(
        &format!("/api/v1/measures/{}/data-points", st.measure),
        &json!({"program_id": st.program, "period": "2025-03", "numerator": 1, "denominator": 2}),
    )
    .problem(409, "invalid-transition");

    // If-Match: a stale version is a conflict and writes nothing.
    let version = s.get(&c2).header("etag").unwrap().to_string();
    let stale = format!(
        "\"{}\"",
        version.trim_matches('"').parse::<u64>().unwrap() + 7
    );
    let p = s
        .post_with(
            &format!("{c2}/start"),
            &[("If-Match", &stale)],
            &json!({"started_on": "2025-03-17"}),
        )
        .problem(409, "version-conflict");
    assert_eq!(p["current_version"], 0);
    s.post_with(
        &format!("{c2}/start"),
        &[("If-Match", "soon")],
        &json!({"started_on": "2025-03-17"}),
    )
    .problem(400, "invalid-header");

    assert_eq!(
        s.event_count(),
        before,
        "a refused command appended nothing"
    );
    assert_eq!(s.get("/healthz").status, 200);

    // The matching If-Match succeeds.
    let a = s.post_with(
        &format!("{c2}/start"),
        &[("If-Match", &version)],
        &json!({"started_on": "2025-03-17"}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("etag"), Some("\"1\""));
    assert_eq!(s.event_count(), before + 1);
}

/// A retried POST with the same Idempotency-Key gets the first answer and writes nothing.
fn idempotency(s: &Server, st: &Story) {
    let path = format!("/api/v1/networks/{}/root-causes", st.network);
    let body = json!({"category": "Transport", "cause": "No late buses"});
    let before = s.event_count();
    let first = s.post_with(&path, &[("Idempotency-Key", "retry-1")], &body);
    assert_eq!(first.status, 201, "{}", first.body);
    // A one-event answer, made without reading the event back, is the event as stored.
    let answered = first.json()["events"][0].clone();
    let position = answered["global_position"].as_u64().unwrap();
    // The global log may trail the commit by a moment on PostgreSQL: poll briefly.
    let stored = common::eventually(|| {
        let page = s
            .get(&format!("/api/v1/events?after={}&limit=1", position - 1))
            .json();
        let event = page["events"][0].clone();
        (!event.is_null()).then_some(event)
    });
    for field in [
        "event_id",
        "event_type",
        "global_position",
        "stream_version",
        "data",
    ] {
        assert_eq!(answered[field], stored[field], "{field}");
    }
    assert_eq!(answered["data"]["cause"], "No late buses");
    let again = s.post_with(&path, &[("Idempotency-Key", "retry-1")], &body);
    assert_eq!(again.status, 201);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(s.event_count(), before + 1);
    // A new entity created under a key is the same entity on retry.
    let create = json!({"name": "Second network"});
    let a = s.post_with("/api/v1/networks", &[("Idempotency-Key", "n-2")], &create);
    let b = s.post_with("/api/v1/networks", &[("Idempotency-Key", "n-2")], &create);
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(s.event_count(), before + 2);
    // Another key is another write.
    let c = s.post_with(&path, &[("Idempotency-Key", "retry-2")], &body);
    assert_eq!(c.status, 201);
    assert_eq!(s.event_count(), before + 3);
}

/// The network sets how it reads its charts and a measure picks its control chart; a reader asks
/// for another chart or rule set; names that are not charts or rule sets are refused.
fn chart_settings(s: &Server, st: &Story) {
    let n = format!("/api/v1/networks/{}", st.network);
    let m = format!("/api/v1/measures/{}", st.measure);
    let before = s.event_count();
    let p = s
        .post(
            &format!("{n}/chart-settings"),
            &json!({"reporting_deadline_days": 0, "control_rules": "shewhart"}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "reporting_deadline_days");
    let p = s
        .post(
            &format!("{n}/chart-settings"),
            &json!({"reporting_deadline_days": 20, "control_rules": "western_electric"}),
        )
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "control_rules");
    // The story's measure is a ratio: a C chart does not read it.
    let p = s
        .post(&format!("{m}/control-chart"), &json!({"chart": "c"}))
        .problem(422, "validation");
    assert_eq!(p["errors"][0]["field"], "chart");
    s.get(&format!("{m}/run-chart?rules=nelson"))
        .problem(400, "invalid-query");
    s.get(&format!("{m}/run-chart?chart=xbar"))
        .problem(400, "invalid-query");
    assert_eq!(
        s.event_count(),
        before,
        "a refused command appended nothing"
    );

    s.ok(
        &format!("{n}/chart-settings"),
        &json!({"reporting_deadline_days": 35, "control_rules": "making_data_count",
                "reason": "Exports are due five weeks after the month."}),
    );
    s.ok(
        &format!("{m}/control-chart"),
        &json!({"chart": "p_prime", "reason": "Large subgroups."}),
    );
    let chart = common::eventually(|| {
        let c = s.get(&format!("{m}/run-chart")).json();
        (c["chart_type"] == "p_prime" && c["control_rules"] == "making_data_count").then_some(c)
    });
    assert_eq!(chart["reporting_deadline_days"], 35);
    assert_eq!(chart["control"]["chart"], "p_prime");
    assert_eq!(chart["control"]["rule_set"]["id"], "nhs-making-data-count");
    assert_eq!(chart["control"]["rule_set"]["version"], 1);
    let points = chart["points"].as_array().unwrap().len();
    assert_eq!(chart["control"]["points"].as_array().unwrap().len(), points);
    let shewhart = s
        .get(&format!("{m}/run-chart?rules=shewhart&chart=i"))
        .json();
    assert_eq!(shewhart["control"]["chart"], "i");
    assert_eq!(shewhart["control"]["rule_set"]["id"], "shewhart");
    assert!(shewhart["control"]["moving_ranges"].is_object());
    let csv = s.get(&format!("{m}/run-chart?format=csv")).body;
    assert!(csv.contains(",p_prime,nhs-making-data-count v1,"), "{csv}");
}

fn whole_story(db: Db) {
    let s = common::start(db);
    let st = record_story(&s);
    read_back(&s, &st);
    refusals(&s, &st);
    idempotency(&s, &st);
    chart_settings(&s, &st);
}

#[test]
fn a_whole_network_story_on_sqlite() {
    whole_story(Db::Sqlite);
}

#[test]
fn a_whole_network_story_on_postgres() {
    whole_story(Db::Postgres);
}

/// The OpenAPI document describes every route the router answers, with its body and errors.
#[test]
fn the_openapi_document_describes_every_route() {
    let s = common::start(Db::Sqlite);
    let doc = s.get("/api/v1/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 35, "{} paths", paths.len());
    let id = uuid::Uuid::now_v7().to_string();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete: String = path
                .split('/')
                .map(|seg| match seg {
                    "{stream_id}" => format!("pdsa-{id}"),
                    s if s.starts_with('{') => id.clone(),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let a = s.raw(
                &method.to_uppercase(),
                &concrete,
                &[("Content-Type", "application/json")],
                b"{}",
            );
            // The route exists: whatever it answers, it is not the router's "no route" or 405.
            assert_ne!(a.status, 405, "{method} {path}");
            assert!(
                !a.body.contains("no route for"),
                "{method} {path} is documented but not routed"
            );
            if method == "post" && op["responses"]["202"].is_object() {
                // Work started in the background (a rebuild): no body, and 409 while it runs.
                assert!(op["responses"]["409"].is_object(), "{path} 409");
            } else if method == "post" {
                assert!(op["requestBody"]["content"]["application/json"]["schema"].is_object());
                for status in ["400", "404", "409", "422"] {
                    assert!(op["responses"][status].is_object(), "{path} {status}");
                }
            }
        }
    }
    // Every JSON answer has a schema of its own, never a bare object; reads declare their query
    // parameters; what a command creates links to the routes that take its id.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                if let Some(schema) = answer["content"]["application/json"].get("schema") {
                    assert_ne!(
                        schema,
                        &serde_json::json!({"type": "object"}),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    let names = |path: &str| -> Vec<String> {
        paths[path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (path, wanted) in [
        (
            "/api/v1/timeline",
            &[
                "network_id",
                "kind",
                "from",
                "until",
                "order",
                "after",
                "limit",
                "as_of",
            ][..],
        ),
        ("/api/v1/export", &["format"][..]),
        (
            "/api/v1/events",
            &["after", "limit", "category", "type"][..],
        ),
        (
            "/api/v1/networks/{network_id}/pdsa-register",
            &["change_idea_id", "decision", "format", "as_of"][..],
        ),
    ] {
        let declared = names(path);
        for w in wanted {
            assert!(
                declared.iter().any(|d| d == w),
                "{path} declares {w}: {declared:?}"
            );
        }
    }
    let stream = &paths["/api/v1/streams/{stream_id}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        stream["type"], "array",
        "a stream is a list of events: {stream}"
    );
    let links =
        &paths["/api/v1/programs/{program_id}/pdsa-cycles"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["getPdsaCyclesCycleId"]["parameters"]["cycle_id"], "$response.body#/id",
        "{links}"
    );
    assert!(links["postPdsaCyclesCycleIdStudy"].is_object(), "{links}");
    // The bodies are real schemas: a PDSA plan names its questions and predictions.
    let plan = &doc["components"]["schemas"]["Plan"];
    assert!(plan["properties"]["questions"].is_object(), "{plan}");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}
