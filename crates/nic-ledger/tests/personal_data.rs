//! Black-box: a student's name in a PDSA cycle's study summary, erased, on SQLite and on
//! PostgreSQL. The cycle is recorded over HTTP; the log is exported (with and without its key
//! file); the name is erased (`POST /api/v1/erasures`, a dry run first). Then the API, the
//! timeline, the register, an as-of replay, a rebuild, a new export and the database itself
//! (the SQLite files' bytes; on PostgreSQL every table's rows and the database's files) hold the
//! name nowhere (nor did the database before the erasure: it never receives it in the clear); `verify`
//! finds every chain intact; the export taken before, without its key file, never held it; and an
//! export with its key file taken after, imported into a new store, does not bring it back, nor
//! does an old key file. A field redacted by mistake reads as its replacement, as of any time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{eventually, fresh_database, ok, start_with, temp_file, Db, Server};
use serde_json::json;

const NAME: &str = "Jamal Whitfield";

fn holds(bytes: &[u8], text: &str) -> bool {
    let lower = String::from_utf8_lossy(bytes).to_lowercase();
    lower.contains(&text.to_lowercase())
}

/// `nic-ledger export` (and, with `keys`, `nic-ledger keys export`) into files.
fn export(url: &str, keys: bool) -> (PathBuf, Option<PathBuf>) {
    let log = temp_file("log.ndjson");
    ok(&[
        "export",
        "--database-url",
        url,
        "--output",
        log.to_str().unwrap(),
    ]);
    let keys = keys.then(|| {
        let path = temp_file("keys.ndjson");
        ok(&[
            "keys",
            "export",
            "--database-url",
            url,
            "--output",
            path.to_str().unwrap(),
            "--reason",
            "moving to a new server",
        ]);
        path
    });
    (log, keys)
}

/// The ids the story made: the program and the cycle.
struct Story {
    program: String,
    cycle: String,
}

fn record(s: &Server) -> Story {
    let network = s.ok(
        "/api/v1/networks",
        &json!({"name": "STEM PUSH Network", "purpose": "Programs improving together"}),
    );
    let n = format!("/api/v1/networks/{network}");
    let eco = s.ok(
        &format!("{n}/ecosystems"),
        &json!({"name": "Pittsburgh", "region": "Western Pennsylvania"}),
    );
    let driver = s.ok(
        &format!("{n}/drivers"),
        &json!({"kind": "primary", "title": "Belonging in the program"}),
    );
    let idea = s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": "Peer mentoring huddles", "serves": [{"node_id": driver}]}),
    );
    s.ok(&format!("{n}/change-ideas/{idea}/accept"), &json!({}));
    let program = s.ok(
        &format!("{n}/programs"),
        &json!({"name": "Lab Explorers", "ecosystem_id": eco}),
    );
    let cycle = s.ok(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &json!({"title": "Huddles, week 1", "change_idea_ids": [idea], "purpose": "test",
                "scale": "one mentor, six students",
                "planned_start": "2025-03-03", "planned_end": "2025-03-14",
                "plan": {"objective": "Keep first-years coming back",
                         "questions": [{"question": "Will they come back?", "prediction": "4 of 6"}]}}),
    );
    let c = format!("/api/v1/pdsa-cycles/{cycle}");
    s.ok(&format!("{c}/start"), &json!({"started_on": "2025-03-04"}));
    s.ok(
        &format!("{c}/do"),
        &json!({"carried_out_as_planned": true, "what_happened": "Six came; five came back",
                "completed_on": "2025-03-11"}),
    );
    s.ok(
        &format!("{c}/study"),
        &json!({"summary": format!("{NAME} came back for the second huddle and brought a friend"),
                "results": [{"question_index": 0, "result": "5 of 6 came back",
                             "prediction_held": "yes", "learned": "Huddles help"}]}),
    );
    Story { program, cycle }
}

/// Every read a person or a dashboard makes of the story, as one text.
fn reads(s: &Server, story: &Story, as_of: Option<u64>) -> String {
    let q = as_of.map_or(String::new(), |p| format!("?as_of={p}"));
    let network_id = s.get(&format!("/api/v1/programs/{}", story.program)).json()["network_id"]
        .as_str()
        .unwrap()
        .to_string();
    [
        format!("/api/v1/pdsa-cycles/{}", story.cycle),
        format!("/api/v1/programs/{}/pdsa-board{q}", story.program),
        format!("/api/v1/networks/{network_id}/pdsa-register{q}"),
        format!("/api/v1/networks/{network_id}/pdsa-register?format=csv"),
        format!("/api/v1/timeline{q}"),
        "/api/v1/events?after=0&limit=10000".to_string(),
        format!("/api/v1/streams/pdsa-{}", story.cycle),
    ]
    .iter()
    .map(|path| {
        let a = s.get(path);
        assert!(a.status == 200, "GET {path}: {} {}", a.status, a.body);
        a.body
    })
    .collect::<Vec<_>>()
    .join("\n")
}

/// Every row of every table of a PostgreSQL database, as text.
fn pg_rows(url: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert!(tables.iter().any(|t| t == "personal_keys"), "{tables:?}");
            let mut all = String::new();
            for t in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                all.push_str(&rows.join("\n"));
            }
            all
        })
}

/// The bytes of a SQLite database's files (the database, its WAL and shared memory).
fn sqlite_bytes(url: &str) -> Vec<u8> {
    let path = url.trim_start_matches("sqlite://");
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            bytes.extend(b);
        }
    }
    assert!(!bytes.is_empty(), "no database file at {path}");
    bytes
}

/// The bytes of a PostgreSQL database's files (`base/<its oid>` in the server's data
/// directory): what is on disk, dead row versions and free space included. The cluster runs on
/// this machine (the test suite's premise); its files must be readable here.
fn pg_files(url: &str) -> Vec<u8> {
    let (dir, oid): (String, String) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            // Everything written so far is in the files, not only in shared buffers.
            sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
            let dir: String = sqlx::query_scalar("SHOW data_directory")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let oid: String = sqlx::query_scalar(
                "SELECT oid::text FROM pg_database WHERE datname = current_database()",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            (dir, oid)
        });
    let base = Path::new(&dir).join("base").join(oid);
    let entries = std::fs::read_dir(&base).unwrap_or_else(|e| {
        panic!(
            "the database's files at {} are not readable here ({e}); run the tests as a user \
             that may read the local PostgreSQL cluster's data directory",
            base.display()
        )
    });
    let mut bytes = Vec::new();
    for e in entries {
        let path = e.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(
        bytes.len() > 1_000_000,
        "{} bytes at {}",
        bytes.len(),
        base.display()
    );
    bytes
}

/// Whether `bytes` hold `text`, in any ASCII case.
fn bytes_hold(bytes: &[u8], text: &str) -> bool {
    bytes
        .windows(text.len())
        .any(|w| w.eq_ignore_ascii_case(text.as_bytes()))
}

/// Whether the database holds `text` anywhere: SQLite's files; PostgreSQL's rows and files.
fn database_holds(db: Db, url: &str, text: &str) -> bool {
    match db {
        Db::Sqlite => bytes_hold(&sqlite_bytes(url), text),
        Db::Postgres => holds(pg_rows(url).as_bytes(), text) || bytes_hold(&pg_files(url), text),
    }
}

/// The rows of `personal_keys` that hold keys of `event_id`'s fields: all of them, and those
/// that hold the whole event's key (`fields` set).
fn key_rows(db: Db, url: &str, event_id: &str) -> (i64, i64) {
    let sql = "SELECT count(*), count(fields) FROM personal_keys WHERE event_id = $1";
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            match db {
                Db::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                    sqlx::query_as(sql)
                        .bind(uuid::Uuid::parse_str(event_id).unwrap())
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                }
                Db::Sqlite => {
                    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                    sqlx::query_as(&sql.replace('$', "?"))
                        .bind(event_id)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                }
            }
        })
}

fn import(log: &Path, keys: Option<&Path>, db: Db) -> String {
    let url = fresh_database(db);
    let mut args = vec![
        "import",
        log.to_str().unwrap(),
        "--database-url",
        url.as_str(),
    ];
    if let Some(k) = keys {
        args.extend(["--keys", k.to_str().unwrap()]);
    }
    let out = ok(&args);
    assert!(out.contains("intact"), "{out}");
    url
}

fn stop(mut s: Server) {
    // SIGTERM: the graceful stop, which closes every connection (SQLite folds its WAL back).
    let _ = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status();
    eventually(|| s.try_wait());
}

fn erased_everywhere(db: Db) {
    let url = fresh_database(db);
    let s = start_with(&url);
    let story = record(&s);
    let token = s.token.clone();
    let cycle_path = format!("/api/v1/pdsa-cycles/{}", story.cycle);
    // Read back opened: the facilitator sees what they wrote.
    assert!(holds(s.get(&cycle_path).body.as_bytes(), NAME));
    eventually(|| holds(reads(&s, &story, None).as_bytes(), NAME).then_some(()));
    // Stored sealed: neither the log's export nor the database holds the name.
    let (log_before, keys_before) = export(&url, true);
    let before = std::fs::read(&log_before).unwrap();
    assert!(
        !holds(&before, NAME),
        "the export holds the name in the clear"
    );
    assert!(
        holds(&before, "sealed:v1:"),
        "the export holds no sealed field"
    );
    assert!(
        !database_holds(db, &url, NAME),
        "the database holds the name in the clear"
    );
    let api_export = s.get("/api/v1/export");
    assert_eq!(api_export.status, 200);
    assert!(!holds(api_export.body.as_bytes(), NAME));
    let head_before = s.event_count() as u64;
    let position_before = s.get("/api/v1/events?after=0&limit=10000").json()["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["global_position"]
        .as_u64()
        .unwrap();

    // A dry run lists the field and erases nothing.
    let erase = |dry_run: bool| {
        s.post(
            "/api/v1/erasures",
            &json!({"subject": {"kind": "named_in_program", "program_id": story.program,
                                "name": "jamal WHITFIELD"},
                    "basis": "request", "reference": "FERPA-2026-14", "dry_run": dry_run}),
        )
    };
    let dry = erase(true);
    assert_eq!(dry.status, 200, "{}", dry.body);
    let dry = dry.json();
    assert_eq!(dry["fields"], 1, "{dry}");
    assert_eq!(dry["found"][0]["field"], "/study/summary");
    assert!(dry["erasure_id"].is_null());
    assert!(holds(s.get(&cycle_path).body.as_bytes(), NAME));
    assert_eq!(s.event_count() as u64, head_before);

    // Refused: too short a name, an unknown basis; nothing is appended.
    s.post(
        "/api/v1/erasures",
        &json!({"subject": {"kind": "named_in_program", "program_id": story.program, "name": "Ja"},
                "basis": "request"}),
    )
    .problem(422, "validation");
    s.post(
        "/api/v1/erasures",
        &json!({"subject": {"kind": "person", "token_id": story.program}, "basis": "whim"}),
    )
    .problem(422, "validation");
    assert_eq!(s.event_count() as u64, head_before);

    let done = erase(false);
    assert_eq!(done.status, 200, "{}", done.body);
    let done = done.json();
    assert_eq!(done["fields"], 1, "{done}");
    let erasure_id = done["erasure_id"].as_str().unwrap().to_string();
    assert!(!holds(done.to_string().as_bytes(), NAME));
    // The erasure is an event: who, why, which keys; never the name.
    let record = s
        .get(&format!("/api/v1/streams/privacy-{erasure_id}"))
        .json();
    let e = &record[0];
    assert_eq!(e["event_type"], "PersonalDataErased", "{record}");
    assert_eq!(e["data"]["basis"], "request");
    assert_eq!(e["data"]["reference"], "FERPA-2026-14");
    assert_eq!(e["data"]["keys"].as_array().unwrap().len(), 1);
    assert!(!holds(record.to_string().as_bytes(), "jamal"));

    // Every read: live, as of before the erasure, after a rebuild.
    let cycle = eventually(|| {
        let c = s.get(&cycle_path).json();
        (c.to_string().contains("[erased]")).then_some(c)
    });
    assert!(!holds(cycle.to_string().as_bytes(), NAME));
    // The rest of the study stays.
    assert!(cycle.to_string().contains("5 of 6 came back"), "{cycle}");
    let live = eventually(|| {
        let r = reads(&s, &story, None);
        (!holds(r.as_bytes(), NAME)).then_some(r)
    });
    assert!(live.contains("[erased]"));
    let replay = reads(&s, &story, Some(position_before));
    assert!(
        !holds(replay.as_bytes(), NAME),
        "an as-of replay shows the name"
    );
    assert!(replay.contains("[erased]"));
    let rebuild = s.raw("POST", "/api/v1/projections/rebuild", &[], b"");
    assert!(
        rebuild.status == 202 || rebuild.status == 409,
        "{}",
        rebuild.body
    );
    eventually(|| {
        let p = s.get("/api/v1/projections").json();
        (p["rebuild"]["running"] == false).then_some(())
    });
    assert!(!holds(reads(&s, &story, None).as_bytes(), NAME));

    // The log after: chains intact, no name in a new export or anywhere in the database.
    let (log_after, keys_after) = export(&url, true);
    assert!(!holds(&std::fs::read(&log_after).unwrap(), NAME));
    assert!(ok(&["verify", "--database-url", &url]).contains("intact"));
    stop(s);
    assert!(
        !database_holds(db, &url, NAME),
        "the database still holds the name"
    );
    assert!(database_holds(db, &url, "sealed:v1:"));

    // The export taken before, imported without its key file: sealed fields read as erased.
    let bare = import(&log_before, None, db);
    let mut s2 = start_with(&bare);
    // The imported log holds the original's tokens (their hashes are not personal).
    s2.token = token.clone();
    let text = eventually(|| {
        let r = reads(&s2, &story, None);
        r.contains("[erased]").then_some(r)
    });
    assert!(!holds(text.as_bytes(), NAME));
    drop(s2);
    // After the erasure, with the key file taken after it, or with the old one: still erased;
    // the rest of what was sealed opens.
    for keys in [keys_after.as_deref(), keys_before.as_deref()] {
        let moved = import(&log_after, keys, db);
        let mut s3 = start_with(&moved);
        s3.token = token.clone();
        let text = eventually(|| {
            let r = reads(&s3, &story, None);
            r.contains("5 of 6 came back").then_some(r)
        });
        assert!(
            !holds(text.as_bytes(), NAME),
            "an import brought the name back"
        );
        assert!(text.contains("[erased]"));
        assert!(ok(&["verify", "--database-url", &moved]).contains("intact"));
        stop(s3);
        assert!(!database_holds(db, &moved, NAME));
    }
}

/// A field written by mistake: its writer or an admin replaces it; the original is unreadable
/// from then on, as of any time, and the replacement is what everyone reads.
fn redacted(db: Db) {
    let url = fresh_database(db);
    let s = start_with(&url);
    let story = record(&s);
    let cycle_path = format!("/api/v1/pdsa-cycles/{}", story.cycle);
    let stream = s
        .get(&format!("/api/v1/streams/pdsa-{}", story.cycle))
        .json();
    let study = stream
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "PdsaStudyRecorded")
        .unwrap()
        .clone();
    let event_id = study["event_id"].as_str().unwrap();
    let position = study["global_position"].as_u64().unwrap();
    // Refused: a field that is not sealed, a replacement too long; nothing changes.
    s.post(
        "/api/v1/redactions",
        &json!({"event_id": event_id, "field": "/cycle_id", "replacement": "x"}),
    )
    .problem(404, "not-found");
    s.post(
        "/api/v1/redactions",
        &json!({"event_id": event_id, "field": "/study/summary", "replacement": "x".repeat(10_001)}),
    )
    .problem(422, "validation");
    assert!(holds(s.get(&cycle_path).body.as_bytes(), NAME));
    // The study's three sealed fields have one key row: the event's.
    assert_eq!(key_rows(db, &url, event_id), (1, 1));
    let a = s.post(
        "/api/v1/redactions",
        &json!({"event_id": event_id, "field": "/study/summary",
                "replacement": "A student came back for the second huddle and brought a friend"}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let cycle = eventually(|| {
        let c = s.get(&cycle_path).body;
        (!holds(c.as_bytes(), NAME)).then_some(c)
    });
    assert!(cycle.contains("A student came back"), "{cycle}");
    // The event's key is gone: each field has a row of its own, the redacted one without its key
    // (and the replacement's key beside it). The other fields of the same event still read.
    assert_eq!(key_rows(db, &url, event_id), (4, 0));
    assert!(
        cycle.contains("5 of 6 came back") && cycle.contains("Huddles help"),
        "{cycle}"
    );
    let replay = s
        .get(&format!(
            "/api/v1/programs/{}/pdsa-board?as_of={position}",
            story.program
        ))
        .body;
    assert!(!holds(replay.as_bytes(), NAME));
    assert!(ok(&["verify", "--database-url", &url]).contains("intact"));
    stop(s);
    assert!(!database_holds(db, &url, NAME));
}

#[test]
fn a_name_erased_is_gone_everywhere_on_sqlite() {
    erased_everywhere(Db::Sqlite);
}

#[test]
fn a_name_erased_is_gone_everywhere_on_postgres() {
    let _stranger = common::Stranger::open();
    erased_everywhere(Db::Postgres);
}

#[test]
fn a_field_redacted_reads_as_its_replacement_on_sqlite() {
    redacted(Db::Sqlite);
}

#[test]
fn a_field_redacted_reads_as_its_replacement_on_postgres() {
    redacted(Db::Postgres);
}
