//! Black-box: the read models' checkpoints, their one runner across processes, and rebuilds.
//!
//! - A runner killed (SIGKILL) while events are being written leaves a checkpoint whose state is
//!   exactly the fold of the log up to its position; a restarted process resumes from it and ends
//!   equal to a fold from scratch.
//! - Three `serve` processes on one PostgreSQL database: one runs the projections; killed, another
//!   takes over once the lease expires, every event is applied exactly once (the saved states equal
//!   a fold of the whole log, and so do the views both survivors serve), and a live client of a
//!   survivor receives every event throughout.
//! - `nic-ledger rebuild` and `POST /api/v1/projections/rebuild` both end with a new generation and
//!   the same views, and reads answer during a rebuild.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Db, Server};
use nic_projections::driver_diagram::DriverDiagram;
use nic_projections::network_index::NetworkIndexed;
use nic_projections::pdsa_board::PdsaBoard;
use nic_projections::portfolio::Portfolio;
use nic_projections::run_charts::RunCharts;
use nic_projections::timeline::Timeline;
use nic_projections::{Projection, Recorded};
use nic_store::admin::Admin;
use nic_store::ReadAll;
use serde_json::{json, Value};

/// How long a test waits for the projections (or a new runner) to get somewhere.
const WAIT: Duration = Duration::from_secs(30);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The saved checkpoints as (name, generation, position, state).
fn checkpoints(url: &str) -> Vec<(String, u64, u64, Value)> {
    rt().block_on(async {
        let admin = Admin::connect(url).await.unwrap();
        admin
            .load_checkpoints()
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    c.generation,
                    c.position,
                    serde_json::from_str(&c.state).unwrap(),
                )
            })
            .collect()
    })
}

/// The projections (five read models and the network index) folded from scratch from the log up to `position`, each alone (with a
/// base of its own), as JSON by name: what a checkpoint keeps of each (its model; the base is the
/// run charts').
fn fold(url: &str, position: u64) -> Vec<(String, Value)> {
    rt().block_on(async {
        // Read as the service reads it: personal fields opened.
        let store: std::sync::Arc<dyn nic_store::EventStore> =
            nic_store::sealing::Sealing::new(nic_store::open(url).await.unwrap());
        let mut dd = DriverDiagram::default();
        let mut tl = Timeline::default();
        let mut rc = RunCharts::default();
        let mut pb = PdsaBoard::default();
        let mut pf = Portfolio::default();
        let mut ni = NetworkIndexed::default();
        let mut read = ReadAll::after(0, 1000);
        read.up_to_position = Some(position);
        // There is an event at `position` (the last one applied); global reads on PostgreSQL may
        // hold the newest events back a moment, never skip them.
        let deadline = Instant::now() + WAIT;
        while read.after < position {
            let page = store.read_all(&read).await.unwrap();
            let Some(last) = page.last() else {
                assert!(
                    Instant::now() < deadline,
                    "the log does not reach {position}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            read.after = last.global_position;
            for e in &page {
                let r = Recorded::from_recorded(e).unwrap();
                dd.apply(&r);
                tl.apply(&r);
                rc.apply(&r);
                pb.apply(&r);
                pf.apply(&r);
                ni.apply(&r);
            }
        }
        let v = |x: serde_json::Result<Value>| x.unwrap();
        vec![
            (
                "driver_diagram".to_string(),
                v(serde_json::to_value(&dd.model)),
            ),
            ("timeline".to_string(), v(serde_json::to_value(&tl.model))),
            ("run_charts".to_string(), v(serde_json::to_value(&rc))),
            ("pdsa_board".to_string(), v(serde_json::to_value(&pb.model))),
            ("portfolio".to_string(), v(serde_json::to_value(&pf.model))),
            (
                "network_index".to_string(),
                v(serde_json::to_value(&ni.model)),
            ),
        ]
    })
}

/// Asserts that the saved checkpoints are one consistent set whose states are exactly the fold of
/// the log up to their position; returns (generation, position).
fn assert_checkpoint_is_the_fold(url: &str) -> (u64, u64) {
    let saved = checkpoints(url);
    assert_eq!(saved.len(), 6, "six checkpoints");
    let (generation, position) = (saved[0].1, saved[0].2);
    for (name, g, p, _) in &saved {
        assert_eq!((*g, *p), (generation, position), "{name} is out of step");
    }
    let folded = fold(url, position);
    for (name, state) in folded {
        let (_, _, _, saved) = saved.iter().find(|c| c.0 == name).unwrap();
        if *saved != state {
            let dir = std::env::temp_dir().join("nic-ledger-tests");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                dir.join(format!("{name}-saved.json")),
                serde_json::to_string_pretty(saved).unwrap(),
            );
            let _ = std::fs::write(
                dir.join(format!("{name}-folded.json")),
                serde_json::to_string_pretty(&state).unwrap(),
            );
        }
        assert!(
            *saved == state,
            "the checkpoint of {name} at {position} is not the fold of the log up to there"
        );
    }
    (generation, position)
}

fn status(s: &Server) -> Value {
    let a = s.get("/api/v1/projections");
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

/// Polls `f` until it answers, for at most `WAIT`.
fn within<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The head of the log once it has settled (global reads may trail commits a moment).
fn head(s: &Server) -> u64 {
    let mut last = status(s)["head"].as_u64().unwrap();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = status(s)["head"].as_u64().unwrap();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Waits until `s` serves the projections at `position` and its saved checkpoint has reached it.
fn settled(s: &Server, position: u64) -> Value {
    within(
        "the projections and their checkpoint reach the head",
        || {
            let v = status(s);
            let ok = v["projections"].as_array().unwrap().iter().all(|p| {
                p["position"].as_u64() >= Some(position)
                    && p["checkpoint"]["position"].as_u64() >= Some(position)
            });
            ok.then_some(v)
        },
    )
}

fn charter(s: &Server) -> String {
    s.ok(
        "/api/v1/networks",
        &json!({"name": "STEM PUSH Network", "purpose": "Pre-college STEM programs improving together"}),
    )
}

fn add_driver(s: &Server, network: &str, i: usize) -> Result<(), String> {
    let a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.post(
            &format!("/api/v1/networks/{network}/drivers"),
            &json!({"kind": "primary", "title": format!("Driver {i}")}),
        )
    }))
    .map_err(|_| "no answer".to_string())?;
    if a.status == 201 {
        Ok(())
    } else {
        Err(format!("{} {}", a.status, a.body))
    }
}

/// The live views `s` serves, and the same views folded from the log up to `position` (`as_of`).
fn views(s: &Server, network: &str, as_of: Option<u64>) -> Vec<Value> {
    let q = |path: &str| {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = match as_of {
            Some(p) => format!("{path}{sep}as_of={p}"),
            None => path.to_string(),
        };
        let a = s.get(&path);
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
        a.json()
    };
    vec![
        q(&format!("/api/v1/networks/{network}/driver-diagram")),
        q("/api/v1/timeline?limit=500"),
    ]
}

/// Asserts that the live views of `s` equal the fold of the whole log (as of its head).
fn assert_views_are_the_fold(s: &Server, network: &str, head: u64) {
    assert_eq!(
        views(s, network, None),
        views(s, network, Some(head)),
        "{} serves views that are not the fold of the log",
        s.addr
    );
}

/// What the server logged, without terminal colours.
fn logs(s: &Server) -> String {
    let raw = s.logs.lock().unwrap().concat();
    let mut plain = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

// ---------------------------------------------------------------------------------------------

#[test]
fn a_killed_runner_resumes_from_its_checkpoint_on_sqlite() {
    a_killed_runner_leaves_a_checkpoint_that_matches_and_its_successor_resumes_from_it(Db::Sqlite);
}

#[test]
fn a_killed_runner_resumes_from_its_checkpoint_on_postgres() {
    a_killed_runner_leaves_a_checkpoint_that_matches_and_its_successor_resumes_from_it(
        Db::Postgres,
    );
}

fn a_killed_runner_leaves_a_checkpoint_that_matches_and_its_successor_resumes_from_it(db: Db) {
    let db = common::fresh_database(db);
    let mut first = common::start_with(&db);
    let network = charter(&first);
    for i in 0..40 {
        add_driver(&first, &network, i).unwrap();
    }
    let position = head(&first);
    settled(&first, position);
    assert!(status(&first)["runner"] == true);
    assert_checkpoint_is_the_fold(&db);

    // Kill it while a writer keeps appending: wherever it stopped, between batches or not, the
    // checkpoint is a state and the position it was folded to.
    let addr = first.addr.clone();
    let token = first.token.clone();
    let net = network.clone();
    let writer = std::thread::spawn(move || {
        let network = net;
        let mut written = 0;
        let http = common::client();
        for i in 40..1_000 {
            let body = json!({"kind": "secondary", "title": format!("Driver {i}")});
            let answer = http
                .post(format!("http://{addr}/api/v1/networks/{network}/drivers"))
                .bearer_auth(&token)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send();
            if !answer.is_ok_and(|a| a.status() == 201) {
                break;
            }
            written += 1;
        }
        written
    });
    std::thread::sleep(Duration::from_millis(1_500));
    first.kill();
    let written = writer.join().unwrap();
    assert!(written > 0, "the writer wrote while the runner ran");
    let (_, saved_at) = assert_checkpoint_is_the_fold(&db);
    assert!(saved_at >= position, "the checkpoint went back");

    // A new process resumes from that checkpoint, takes the lease once it expires, catches up.
    let second = common::start_with(&db);
    assert!(!second.token.is_empty());
    within("the restarted process resumes from the checkpoint", || {
        logs(&second)
            .contains("projections resume from their checkpoint")
            .then_some(())
    });
    assert!(
        logs(&second).contains(&format!("position={saved_at}")),
        "it resumed from position {saved_at}: {}",
        logs(&second)
    );
    for i in 0..20 {
        add_driver(&second, &network, 2_000 + i).unwrap();
    }
    let end = head(&second);
    let v = settled(&second, end);
    assert_eq!(v["runner"], true, "{v}");
    let (_, at) = assert_checkpoint_is_the_fold(&db);
    assert_eq!(at, end);
    assert_views_are_the_fold(&second, &network, end);
}

/// A live client of the feed, read on its own thread: every event id it receives, in order.
fn live_client(s: &Server, after: u64) -> mpsc::Receiver<u64> {
    // It waits as long as it takes: no timeout.
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(None)
        .build()
        .unwrap();
    let response = http
        .get(format!(
            "http://{}/api/v1/live/events?after={after}",
            s.addr
        ))
        .bearer_auth(&s.token)
        .header("Accept", "text/event-stream")
        .send()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Event ids are on lines of their own.
        for line in BufReader::new(response).lines() {
            let Ok(line) = line else { return };
            if let Some(id) = line.strip_prefix("id:") {
                if let Ok(id) = id.trim().parse::<u64>() {
                    if tx.send(id).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

#[test]
fn three_processes_one_runner_and_a_takeover_applies_every_event_once() {
    let db = common::fresh_database(Db::Postgres);
    // The first creates the admin token; once its global reads see the log (they may trail
    // commits a moment on PostgreSQL), the other two find it and print none.
    let first = common::start_with(&db);
    let token = first.token.clone();
    assert!(!token.is_empty());
    let network = charter(&first);
    let position = head(&first);
    settled(&first, position);
    let mut servers = vec![Some(first)];
    for _ in 0..2 {
        let s = common::start_with(&db);
        assert_eq!(s.token, token, "one admin token for the one database");
        servers.push(Some(s));
    }
    for i in 0..30 {
        add_driver(servers[i % 3].as_ref().unwrap(), &network, i).unwrap();
    }

    // Exactly one of them runs the projections.
    let runner = within("one process runs the projections", || {
        let running: Vec<usize> = servers
            .iter()
            .enumerate()
            .filter(|(_, s)| status(s.as_ref().unwrap())["runner"] == true)
            .map(|(i, _)| i)
            .collect();
        (running.len() == 1).then(|| running[0])
    });
    let survivors: Vec<usize> = (0..3).filter(|i| *i != runner).collect();
    let lease = status(servers[survivors[0]].as_ref().unwrap())["lease"]["holder"].clone();
    assert_eq!(
        lease,
        status(servers[runner].as_ref().unwrap())["process"],
        "the lease names the runner"
    );

    // A live client of a survivor, from the start of the log.
    let feed = live_client(servers[survivors[0]].as_ref().unwrap(), 0);

    // Kill the runner; keep writing through the survivors.
    servers[runner].take().unwrap().kill();
    let killed_at = Instant::now();
    for i in 0..40 {
        let s = servers[survivors[i % 2]].as_ref().unwrap();
        add_driver(s, &network, 100 + i).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }

    // Another process runs them once the lease has expired.
    let new_runner = within("a survivor takes over", || {
        survivors
            .iter()
            .copied()
            .find(|i| status(servers[*i].as_ref().unwrap())["runner"] == true)
    });
    assert!(killed_at.elapsed() >= Duration::from_millis(1_000));
    let one = servers[new_runner].as_ref().unwrap();
    assert!(
        logs(one).contains("this process runs the projections"),
        "{}",
        logs(one)
    );
    let end = head(one);
    settled(one, end);
    for i in &survivors {
        let v = status(servers[*i].as_ref().unwrap());
        assert_eq!(v["runner"], *i == new_runner, "{v}");
    }

    // Every event applied exactly once: the saved states are the fold of the whole log, and so are
    // the views both survivors serve.
    let (_, at) = assert_checkpoint_is_the_fold(&db);
    assert_eq!(at, end);
    for i in &survivors {
        let s = servers[*i].as_ref().unwrap();
        within("the survivor has applied the whole log", || {
            status(s)["projections"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["position"] == end)
                .then_some(())
        });
        assert_views_are_the_fold(s, &network, end);
    }

    // The live client received every event of the log, in order, throughout.
    let one = servers[survivors[0]].as_ref().unwrap();
    let log: Vec<u64> = one.get("/api/v1/events?after=0&limit=10000").json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["global_position"].as_u64().unwrap())
        .collect();
    assert_eq!(*log.last().unwrap(), end);
    let mut received = Vec::new();
    while received.last() != Some(&end) {
        received.push(
            feed.recv_timeout(WAIT)
                .expect("the live client keeps receiving events"),
        );
    }
    assert_eq!(received, log);
}

fn rebuild_cli(db: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["rebuild", "--database-url", db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn rebuilds_from_the_command_line_and_the_api_make_a_new_generation_and_the_same_views() {
    let db = common::fresh_database(Db::Sqlite);
    let out = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["demo", "--database-url", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = common::start_with(&db);
    let network = s.get("/api/v1/networks").json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = head(&s);
    let v = settled(&s, end);
    let generation = v["generation"].as_u64().unwrap();
    // The demo's log, more than a page, was read ahead at start, then followed.
    assert!(
        logs(&s).contains("projections caught up with the log"),
        "{}",
        logs(&s)
    );
    assert_views_are_the_fold(&s, &network, end);
    let before = views(&s, &network, None);

    // From the command line: a progress bar, then a new generation the server reloads.
    let (stdout, stderr) = rebuild_cli(&db);
    assert!(
        stderr.contains("100%") && stderr.contains(&format!("{end}/{end} events")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("generation {}", generation + 1)),
        "{stdout}"
    );
    within("the server reloads the new generation", || {
        (status(&s)["generation"] == generation + 1).then_some(())
    });
    assert_eq!(assert_checkpoint_is_the_fold(&db), (generation + 1, end));
    assert_eq!(views(&s, &network, None), before);

    // From the API: 202 with where to watch, 409 while it runs, reads answer meanwhile.
    let a = s.raw("POST", "/api/v1/projections/rebuild", &[], b"");
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.header("location"), Some("/api/v1/projections"));
    let again = s.raw("POST", "/api/v1/projections/rebuild", &[], b"");
    let running = status(&s)["rebuild"]["running"] == true;
    if running {
        again.problem(409, "invalid-transition");
    }
    assert_eq!(
        views(&s, &network, None),
        before,
        "reads answer during a rebuild"
    );
    let done = within("the rebuild finishes", || {
        let v = status(&s);
        (v["rebuild"]["running"] == false && v["rebuild"]["generation"].is_u64()).then_some(v)
    });
    assert_eq!(done["rebuild"]["generation"], generation + 2, "{done}");
    assert_eq!(done["generation"], generation + 2, "{done}");
    assert_eq!(assert_checkpoint_is_the_fold(&db), (generation + 2, end));
    assert_eq!(views(&s, &network, None), before);
}
