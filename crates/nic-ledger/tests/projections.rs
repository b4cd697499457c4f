//! Black-box: the read models and the live feed of the real binary. A small network is recorded
//! over HTTP (aim, ecosystem, drivers, an accepted change idea, a program, a ratio measure with
//! monthly points, a PDSA cycle through Act); then the driver diagram with its evidence and its
//! Mermaid export, the run chart, the timeline's pages, the PDSA board, reads as of an earlier
//! position or time, the diagram's diff, the projections' lag, and the server-sent events feed
//! with its resumption after `Last-Event-ID`; on SQLite and on PostgreSQL; and a clean shutdown
//! with a live client connected.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Db, Server};
use serde_json::{json, Value};

/// How long a test waits for the projections to catch up or for an event to arrive.
const WAIT: Duration = Duration::from_secs(20);

struct Net {
    network: String,
    program: String,
    primary: String,
    secondary: String,
    idea: String,
    measure: String,
    cycle: String,
    /// The position of the last event of the primary driver (before the secondary and the idea).
    early_position: u64,
    /// The time that event was recorded.
    early_time: String,
    /// The position of the last event recorded.
    last_position: u64,
}

/// POSTs a command that must succeed; returns its id and the position of its last event.
fn command(s: &Server, path: &str, body: &Value) -> (String, u64) {
    let a = s.post(path, body);
    assert!(
        a.status == 200 || a.status == 201,
        "POST {path}: {} {}",
        a.status,
        a.body
    );
    let v = a.json();
    let position = v["events"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["global_position"].as_u64())
        .unwrap_or_else(|| panic!("no events in {v}"));
    (v["id"].as_str().unwrap().to_string(), position)
}

fn record(s: &Server) -> Net {
    let network = s.ok(
        "/api/v1/networks",
        &json!({"name": "STEM PUSH Network", "purpose": "Pre-college STEM programs improving together"}),
    );
    let n = format!("/api/v1/networks/{network}");
    s.ok(
        &format!("{n}/aim"),
        &json!({"aim": {
            "statement": "Raise post-secondary STEM enrolment of alumni from 38% to 50% by fall 2027",
            "what": "post-secondary STEM enrolment", "for_whom": "program alumni",
            "baseline": 38, "target": 50, "unit": "percent", "by_when": "2027-09-01"}}),
    );
    let ecosystem = s.ok(
        &format!("{n}/ecosystems"),
        &json!({"name": "Pittsburgh", "region": "Western Pennsylvania"}),
    );
    let (primary, early_position) = command(
        s,
        &format!("{n}/drivers"),
        &json!({"kind": "primary", "title": "Students' STEM identity"}),
    );
    // Global reads may trail a commit by a moment on PostgreSQL: wait for it.
    let early_time = common::eventually(|| {
        let early = s.get(&format!(
            "/api/v1/events?after={}&limit=1",
            early_position - 1
        ));
        early.json()["events"][0]["recorded_at"]
            .as_str()
            .map(str::to_string)
    });
    // Later events are recorded at a later time, to the microsecond.
    std::thread::sleep(Duration::from_millis(5));
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
    let program = s.ok(
        &format!("{n}/programs"),
        &json!({"name": "Lab Explorers", "ecosystem_id": ecosystem}),
    );
    let measure = s.ok(
        &format!("{n}/measures"),
        &json!({"name": "Second-session attendance", "kind": "process",
                "description": "Share of students attending a second mentoring session",
                "scale": "ratio", "numerator": "Students at a second session",
                "denominator": "Students at a first session",
                "unit": "percent", "period": "month", "direction": "up", "tracks": [secondary, idea]}),
    );
    for (month, num) in [
        ("2025-01", 3),
        ("2025-02", 4),
        ("2025-03", 5),
        ("2025-04", 4),
        ("2025-05", 6),
        ("2025-06", 7),
    ] {
        s.ok(
            &format!("/api/v1/measures/{measure}/data-points"),
            &json!({"program_id": program, "period": month, "numerator": num, "denominator": 10}),
        );
    }
    let cycle = s.ok(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &json!({
            "title": "Huddles, week 1",
            "change_idea_ids": [idea],
            "purpose": "test",
            "scale": "one mentor, six students, one afternoon",
            "planned_start": "2025-03-03",
            "planned_end": "2025-03-14",
            "plan": {
                "objective": "See whether a 15-minute huddle keeps first-years coming back",
                "questions": [{"question": "Will students attend the second huddle?", "prediction": "4 of 6 will"}],
                "who_what_when_where": "Ana runs it in the lab after the Tuesday session",
                "tasks": ["Book the lab"],
                "measure_ids": [measure],
                "data_collection_plan": "Attendance sheet"
            }
        }),
    );
    let c = format!("/api/v1/pdsa-cycles/{cycle}");
    s.ok(&format!("{c}/start"), &json!({"started_on": "2025-03-04"}));
    s.ok(
        &format!("{c}/do"),
        &json!({"carried_out_as_planned": true, "what_happened": "Six came; five came back",
                "observations": [{"at": "2025-03-04T16:10:00Z", "note": "Two students led the warm-up"}],
                "completed_on": "2025-03-11"}),
    );
    s.ok(
        &format!("{c}/study"),
        &json!({"summary": "Attendance beat the prediction",
                "results": [{"question_index": 0, "result": "5 of 6 came back", "prediction_held": "yes", "learned": "Huddles help"}]}),
    );
    let (_, last_position) = command(
        s,
        &format!("{c}/act"),
        &json!({"decision": "adapt", "reason": "Add prompt cards", "next_cycle": "Two mentors", "decided_on": "2025-03-14"}),
    );
    Net {
        network,
        program,
        primary,
        secondary,
        idea,
        measure,
        cycle,
        early_position,
        early_time,
        last_position,
    }
}

/// Waits until the head of the log has reached `position` and every projection has caught up with
/// it; returns the status.
fn caught_up(s: &Server, position: u64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = s.get("/api/v1/projections");
        assert_eq!(status.status, 200, "{}", status.body);
        let v = status.json();
        let projections = v["projections"].as_array().unwrap();
        assert_eq!(projections.len(), 6, "{v}");
        if projections.iter().all(|p| p["lag"] == 0) && v["head"].as_u64().unwrap() >= position {
            for p in projections {
                assert_eq!(p["position"], v["head"], "{v}");
            }
            return v;
        }
        assert!(Instant::now() < deadline, "the projections lag: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node<'a>(view: &'a Value, id: &str) -> Option<&'a Value> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
}

#[test]
fn read_models_on_sqlite() {
    read_models_follow_the_log_and_read_as_of_any_point(Db::Sqlite);
}

#[test]
fn read_models_on_postgres() {
    read_models_follow_the_log_and_read_as_of_any_point(Db::Postgres);
}

fn read_models_follow_the_log_and_read_as_of_any_point(db: Db) {
    let s = common::start(db);
    // Before anything is recorded: nothing to lag behind, and unknown things are 404.
    // The first admin token's issue is the only event yet (on PostgreSQL global reads may trail
    // its commit by a moment).
    let empty = common::eventually(|| {
        let p = s.get("/api/v1/projections").json();
        (p["head"] == 1).then_some(p)
    });
    assert_eq!(empty["head"], 1, "{empty}");
    let net = record(&s);
    let head = net.last_position;
    let d = format!("/api/v1/networks/{}/driver-diagram", net.network);
    if let Db::Sqlite = db {
        // A live read reflects every write the log's readers could see when it arrived: on
        // SQLite, every write done (on PostgreSQL, global reads may lag commits by milliseconds).
        let view = s.get(&d).json();
        assert_eq!(view["position"], head, "{view}");
    }
    let status = caught_up(&s, head);
    assert_eq!(status["head"], head);

    // The driver diagram, with the change idea's evidence.
    let view = s.get(&d);
    assert_eq!(view.status, 200, "{}", view.body);
    let view = view.json();
    assert_eq!(view["position"], head);
    assert!(view["aim"]["statement"].as_str().unwrap().contains("50%"));
    let idea = node(&view, &net.idea).expect("the change idea is on the diagram");
    assert_eq!(idea["kind"], "change_idea");
    assert_eq!(idea["title"], "Peer mentoring huddles");
    let evidence = &idea["evidence"];
    assert_eq!(evidence["cycles"]["acted"]["count"], 1, "{evidence}");
    assert_eq!(evidence["cycles"]["acted"]["cycle_ids"], json!([net.cycle]));
    assert_eq!(evidence["cycles"]["planned"]["count"], 0);
    assert_eq!(evidence["decisions"]["adapt"], 1);
    assert_eq!(evidence["programs"][0]["name"], "Lab Explorers");
    assert_eq!(idea["measures"][0]["measure_id"], net.measure);
    assert!(node(&view, &net.primary).is_some() && node(&view, &net.secondary).is_some());

    // The exports.
    let mermaid = s.get(&format!("{d}?format=mermaid"));
    assert_eq!(mermaid.status, 200);
    assert!(mermaid
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(mermaid.body.starts_with("flowchart"), "{}", mermaid.body);
    assert!(mermaid.body.contains("Peer mentoring huddles"));
    let dot = s.get(&format!("{d}?format=dot"));
    assert_eq!(dot.status, 200);
    assert!(dot.body.contains("digraph") && dot.body.contains("Peer mentoring huddles"));

    // As of the primary driver's event, by position and by time: the later nodes are not there.
    for as_of in [net.early_position.to_string(), net.early_time.clone()] {
        let early = s.get(&format!("{d}?as_of={as_of}"));
        assert_eq!(early.status, 200, "as_of={as_of}: {}", early.body);
        let early = early.json();
        assert_eq!(early["position"], net.early_position, "as_of={as_of}");
        assert!(node(&early, &net.primary).is_some(), "as_of={as_of}");
        assert!(node(&early, &net.secondary).is_none(), "as_of={as_of}");
        assert!(node(&early, &net.idea).is_none(), "as_of={as_of}");
    }
    let early_mermaid = s.get(&format!("{d}?format=mermaid&as_of={}", net.early_position));
    assert!(!early_mermaid.body.contains("Peer mentoring huddles"));

    // The diff from then to now lists them as added.
    let diff = s.get(&format!("{d}/diff?from={}", net.early_position));
    assert_eq!(diff.status, 200, "{}", diff.body);
    let diff = diff.json();
    let added: Vec<&Value> = diff["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert!(added.contains(&&json!(net.secondary)), "{diff}");
    assert!(added.contains(&&json!(net.idea)), "{diff}");
    assert!(!added.contains(&&json!(net.primary)), "{diff}");
    assert_eq!(diff["from_position"], net.early_position);
    assert_eq!(diff["to_position"], head);
    let same = s
        .get(&format!(
            "{d}/diff?from={}&to={}",
            net.early_time, net.early_position
        ))
        .json();
    assert_eq!(same["added"], json!([]), "{same}");

    // The run chart: network-wide and the program's, with the points and a median; CSV.
    let chart = s.get(&format!("/api/v1/measures/{}/run-chart", net.measure));
    assert_eq!(chart.status, 200, "{}", chart.body);
    let chart = chart.json();
    let points = chart["points"].as_array().unwrap();
    assert_eq!(points.len(), 6, "{chart}");
    assert_eq!(points[0]["period"], "2025-01");
    assert!((points[5]["plotted"].as_f64().unwrap() - 0.7).abs() < 1e-9);
    assert!(points.iter().all(|p| p["median"].is_number()), "{chart}");
    // The cycle ran in March.
    assert_eq!(points[2]["cycles"][0]["cycle_id"], net.cycle);
    let mine = s
        .get(&format!(
            "/api/v1/measures/{}/run-chart?program_id={}",
            net.measure, net.program
        ))
        .json();
    assert_eq!(mine["points"].as_array().unwrap().len(), 6);
    assert_eq!(mine["program_name"], "Lab Explorers");
    let csv = s.get(&format!(
        "/api/v1/measures/{}/run-chart?format=csv",
        net.measure
    ));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.body.contains("2025-06") && csv.body.contains("Lab Explorers"));

    // The timeline: readable sentences, in pages with a cursor.
    let all = s
        .get(&format!("/api/v1/timeline?network_id={}", net.network))
        .json();
    let all = all["entries"].as_array().unwrap().clone();
    assert!(all.len() >= 10, "{all:?}");
    let sentences: Vec<&str> = all
        .iter()
        .map(|e| e["sentence"].as_str().unwrap())
        .collect();
    assert!(
        sentences
            .iter()
            .any(|t| t.contains("Network 'STEM PUSH Network' chartered")),
        "{sentences:#?}"
    );
    assert!(
        sentences
            .iter()
            .any(|t| t.contains("Peer mentoring huddles") && t.contains("accepted")),
        "{sentences:#?}"
    );
    let mut paged = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            None => format!("/api/v1/timeline?network_id={}&limit=3", net.network),
            Some(a) => format!(
                "/api/v1/timeline?network_id={}&limit=3&after={a}",
                net.network
            ),
        };
        let page = s.get(&path).json();
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        paged.extend(entries.iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => {
                assert_eq!(Some(next), entries.last().unwrap()["position"].as_u64());
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(paged, all);
    let decisions = s
        .get(&format!(
            "/api/v1/timeline?program_id={}&kind=decision",
            net.program
        ))
        .json();
    assert_eq!(
        decisions["entries"].as_array().unwrap().len(),
        1,
        "{decisions}"
    );
    let early = s
        .get(&format!("/api/v1/timeline?as_of={}", net.early_position))
        .json();
    assert_eq!(
        early["entries"].as_array().unwrap().last().unwrap()["position"],
        net.early_position
    );

    // The PDSA board shows the cycle in its phase; the portfolio answers.
    let board = s.get(&format!("/api/v1/programs/{}/pdsa-board", net.program));
    assert_eq!(board.status, 200, "{}", board.body);
    let board = board.json();
    assert_eq!(
        board["columns"]["acted"][0]["cycle_id"], net.cycle,
        "{board}"
    );
    assert_eq!(board["columns"]["acted"][0]["decision"], "adapt");
    assert_eq!(board["columns"]["planned"], json!([]));
    let portfolio = s.get(&format!("/api/v1/programs/{}/portfolio", net.program));
    assert_eq!(portfolio.status, 200, "{}", portfolio.body);
    assert_eq!(portfolio.json()["program_name"], "Lab Explorers");

    // Unknown things are 404, bad queries 400, as problems.
    let nobody = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/networks/{nobody}/driver-diagram"),
        format!("/api/v1/networks/{nobody}/driver-diagram?as_of=1"),
        format!("/api/v1/measures/{nobody}/run-chart"),
        format!(
            "/api/v1/measures/{}/run-chart?program_id={nobody}",
            net.measure
        ),
        format!("/api/v1/programs/{nobody}/pdsa-board"),
        format!("/api/v1/programs/{nobody}/portfolio"),
    ] {
        s.get(&path).problem(404, "not-found");
    }
    for path in [
        format!("{d}?format=svg"),
        format!("{d}?bogus=1"),
        format!("{d}?as_of=yesterday"),
        format!("{d}/diff"),
        format!("{d}/diff?from=1&to=later"),
        "/api/v1/timeline?kind=gossip".to_string(),
        "/api/v1/timeline?program_id=nope".to_string(),
        "/api/v1/timeline?from=2025-13-01".to_string(),
        format!("/api/v1/measures/{}/run-chart?format=xlsx", net.measure),
        format!("/api/v1/programs/{}/pdsa-board?as_of=-1", net.program),
        "/api/v1/projections?x=1".to_string(),
    ] {
        s.get(&path).problem(400, "invalid-query");
    }
    for limit in [0, 501] {
        s.get(&format!("/api/v1/timeline?limit={limit}"))
            .problem(400, "invalid-limit");
    }
    s.get("/api/v1/networks/not-a-uuid/driver-diagram")
        .problem(400, "invalid-id");
}

/// A client of the server-sent events feed: the streamed body read as it arrives.
struct Sse {
    response: reqwest::blocking::Response,
    /// What arrived and is not yet parsed into events.
    text: Vec<u8>,
}

#[derive(Debug)]
struct SseEvent {
    id: u64,
    event: String,
    data: Value,
}

impl Sse {
    fn connect(s: &Server, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut req = common::client()
            .get(format!("http://{}{path}", s.addr))
            .timeout(WAIT)
            .bearer_auth(&s.token)
            .header("Accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().unwrap();
        let head = format!("{} {:?}", response.status(), response.headers());
        assert_eq!(response.status(), 200, "{head}");
        let header = |name| response.headers().get(name).map(|v| v.to_str().unwrap());
        assert!(
            header("content-type").is_some_and(|v| v.starts_with("text/event-stream")),
            "{head}"
        );
        assert!(
            header("transfer-encoding").is_some_and(|v| v.starts_with("chunked")),
            "{head}"
        );
        Self {
            response,
            text: Vec::new(),
        }
    }

    /// Reads what arrived of the body into `text`; false when the body ended (its last chunk, or
    /// the connection closed). Waits at most `WAIT` for something to arrive.
    fn try_read_chunk(&mut self) -> bool {
        let mut buf = [0; 16 * 1024];
        match self.response.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.text.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) => {
                // The connection closed without the last chunk; a timeout or a socket error fails.
                let error = e.get_ref().and_then(|e| e.downcast_ref::<reqwest::Error>());
                let error = error.expect("a reqwest error");
                assert!(!error.is_timeout(), "nothing arrived within {WAIT:?}");
                let mut cause = std::error::Error::source(error);
                while let Some(c) = cause {
                    assert!(!c.is::<std::io::Error>(), "the stream failed: {e:?}");
                    cause = c.source();
                }
                false
            }
        }
    }

    fn read_chunk(&mut self) {
        assert!(self.try_read_chunk(), "the stream ended");
    }

    /// The next event (comments, such as keep-alives, are skipped).
    fn next(&mut self) -> SseEvent {
        loop {
            while let Some(end) = self.text.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.text.drain(..end + 2).collect();
                let block = String::from_utf8(block).unwrap();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let Some(id) = id {
                    return SseEvent {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
            }
            self.read_chunk();
        }
    }
}

#[test]
fn the_live_feed_on_sqlite() {
    the_live_feed_streams_new_events_and_resumes_after_the_last_id(Db::Sqlite);
}

#[test]
fn the_live_feed_on_postgres() {
    the_live_feed_streams_new_events_and_resumes_after_the_last_id(Db::Postgres);
}

fn the_live_feed_streams_new_events_and_resumes_after_the_last_id(db: Db) {
    let s = common::start(db);
    let network = s.ok("/api/v1/networks", &json!({"name": "Live network"}));
    let causes = format!("/api/v1/networks/{network}/root-causes");
    let cause = |n: u32| {
        command(
            &s,
            &causes,
            &json!({"category": "Transport", "cause": format!("Cause {n}")}),
        )
        .1
    };

    // From the start: the charter, then an event appended after the client connected.
    let mut all = Sse::connect(&s, "/api/v1/live/events", &[]);
    assert_eq!(
        all.next().event,
        "TokenIssued",
        "the first admin token's issue"
    );
    let first = all.next();
    assert_eq!(first.event, "NetworkChartered");
    assert_eq!(first.data["global_position"], first.id);
    assert_eq!(first.data["data"]["name"], "Live network");
    let one = cause(1);
    let e = all.next();
    assert_eq!((e.id, e.event.as_str()), (one, "RootCauseRecorded"));
    assert_eq!(e.data["data"]["cause"], "Cause 1");
    drop(all);

    // Filtered by type, after a position: only what follows, only that type.
    let mut filtered = Sse::connect(
        &s,
        &format!("/api/v1/live/events?type=RootCauseRecorded&after={one}"),
        &[],
    );
    s.ok("/api/v1/networks", &json!({"name": "Another network"}));
    let two = cause(2);
    let e = filtered.next();
    assert_eq!((e.id, e.event.as_str()), (two, "RootCauseRecorded"));
    drop(filtered);

    // Resumption: events appended while the client was away arrive after Last-Event-ID, in
    // order, none missing (Last-Event-ID wins over ?after=).
    let three = cause(3);
    let four = cause(4);
    let mut resumed = Sse::connect(
        &s,
        "/api/v1/live/events?category=network&after=0",
        &[("Last-Event-ID", &two.to_string())],
    );
    assert_eq!(resumed.next().id, three);
    assert_eq!(resumed.next().id, four);
    let five = cause(5);
    assert_eq!(resumed.next().id, five);
    drop(resumed);

    // Refusals.
    s.raw("GET", "/api/v1/live/events", &[], b"")
        .problem(400, "invalid-header");
    s.raw(
        "GET",
        "/api/v1/live/events",
        &[("Accept", "text/event-stream"), ("Last-Event-ID", "x")],
        b"",
    )
    .problem(400, "invalid-header");
    s.raw(
        "GET",
        "/api/v1/live/events?after=-1",
        &[("Accept", "text/event-stream")],
        b"",
    )
    .problem(400, "invalid-query");
}

/// SIGTERM ends every live stream and the process, well within the shutdown grace period: the
/// background tasks and the streams stop with the server.
#[cfg(unix)]
#[test]
fn shutdown_ends_live_streams_and_the_process() {
    use std::process::Command;
    let mut s = common::start(Db::Sqlite);
    let mut client = Sse::connect(&s, "/api/v1/live/events", &[]);
    let status = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The stream ends (its last chunk, or the connection closes)...
    while client.try_read_chunk() {}
    // ...and the process exits, sooner than the grace period would force it to.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = s.try_wait() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
