//! Black-box: `nic-ledger export` and `nic-ledger import` move a whole log between backends
//! unchanged. The demo network is loaded into a fresh database of one backend, exported as NDJSON
//! with the command line, imported into a fresh database of the other backend and exported again:
//! the two files are byte for byte the same (ids, versions, positions, times, data, metadata and
//! hashes), and `nic-ledger verify` finds the imported chains intact. An import into a database
//! that holds events, or of a file with one tampered line, fails and writes nothing. Over HTTP,
//! `GET /api/v1/export` streams the same bytes as the command line, and its CloudEvents lines
//! carry everything needed to rebuild each recorded event. Another application's transaction stays
//! open on the PostgreSQL cluster throughout, and changes nothing.

mod common;

use std::path::Path;
use std::process::Output;

use common::{nic, ok, temp_file, text, Db, Server};
use nic_events::{EventData, RecordedEvent};
use serde::Deserialize;
use serde_json::Value;

/// `nic-ledger export` of a database into a file; returns the file's bytes.
fn export(url: &str, format: &str) -> Vec<u8> {
    let path = temp_file(&format!("export.{format}.ndjson"));
    let out = nic(&[
        "export",
        "--database-url",
        url,
        "--format",
        format,
        "--output",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "export failed: {}", text(&out.stderr));
    // The progress bar and the summary go to standard error, never into the export.
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("exported"),
        "{}",
        text(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

fn import(url: &str, file: &Path) -> Output {
    nic(&["import", file.to_str().unwrap(), "--database-url", url])
}

fn lines(b: &[u8]) -> Vec<&str> {
    std::str::from_utf8(b).unwrap().lines().collect()
}

/// Loads the demo into a fresh `from` database, exports it, imports the export into a fresh `to`
/// database and exports that: the same bytes. Then the refusals, on the imported database.
fn round_trip(from: Db, to: Db) {
    // Another application's transaction stays open on the cluster throughout: export, import and
    // verify must neither wait for it nor read short because of it.
    let _stranger = common::Stranger::open();
    let source = common::fresh_database(from);
    ok(&["demo", "--database-url", &source]);
    let exported = export(&source, "ndjson");
    let n = lines(&exported).len();
    assert!(n > 500, "the demo holds hundreds of events; {n}");
    // Standard output carries the same export when no file is named.
    assert_eq!(
        nic(&["export", "--database-url", &source]).stdout,
        exported,
        "export to standard output"
    );
    let file = temp_file("demo.ndjson");
    std::fs::write(&file, &exported).unwrap();

    let target = common::fresh_database(to);
    let out = import(&target, &file);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "import failed: {stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(&format!("imported {n} events")), "{stdout}");
    assert!(stdout.contains(&format!("intact: {n} events")), "{stdout}");
    assert!(
        text(&out.stderr).contains(&format!("100% {n}/{n} events")),
        "{}",
        text(&out.stderr)
    );

    let again = export(&target, "ndjson");
    if again != exported {
        let (a, b) = (lines(&exported), lines(&again));
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "the export of the import differs at line {}:\n{:?}\n{:?}",
            i + 1,
            a.get(i),
            b.get(i)
        );
    }
    let verified = ok(&["verify", "--database-url", &target]);
    assert!(
        verified.contains(&format!("intact: {n} events")),
        "{verified}"
    );

    // A database that holds events takes no import, and is left as it was.
    let out = import(&target, &file);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already holds events"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(export(&target, "ndjson"), exported);

    // One line whose data was changed breaks its chain: the import names the line, writes nothing.
    let tampered_line = n / 2;
    let mut tampered = String::new();
    for (i, l) in lines(&exported).into_iter().enumerate() {
        if i + 1 == tampered_line {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["data"]["tampered"] = Value::Bool(true);
            tampered.push_str(&v.to_string());
        } else {
            tampered.push_str(l);
        }
        tampered.push('\n');
    }
    let tampered_file = temp_file("tampered.ndjson");
    std::fs::write(&tampered_file, tampered).unwrap();
    let empty = common::fresh_database(to);
    let out = import(&empty, &tampered_file);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("line {tampered_line}:")), "{err}");
    assert!(err.contains("hash chain"), "{err}");
    assert!(
        export(&empty, "ndjson").is_empty(),
        "a refused import wrote events"
    );
    // The same file, sound again, imports into that database.
    let out = import(&empty, &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(export(&empty, "ndjson"), exported);
}

#[test]
fn a_sqlite_log_exported_and_imported_into_postgres_is_the_same_log() {
    round_trip(Db::Sqlite, Db::Postgres);
}

#[test]
fn a_postgres_log_exported_and_imported_into_sqlite_is_the_same_log() {
    round_trip(Db::Postgres, Db::Sqlite);
}

/// A CloudEvent line as `nic-ledger export --format cloudevents` writes it, with `data` kept as the
/// exact text it carries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudEvent {
    specversion: String,
    id: uuid::Uuid,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    time: String,
    datacontenttype: String,
    dataschema: String,
    data: EventData,
    nicposition: u64,
    nicstreamversion: u64,
    nicschemaversion: u32,
    nichash: String,
    nicmetadata: String,
}

/// The recorded event a CloudEvent line stands for.
fn envelope(ce: &CloudEvent) -> RecordedEvent {
    assert_eq!(ce.specversion, "1.0");
    assert_eq!(ce.source, format!("/streams/{}", ce.subject));
    assert_eq!(ce.datacontenttype, "application/json");
    assert_eq!(
        ce.dataschema,
        format!(
            "proto-events/schemas/{}.v{}.json",
            ce.event_type, ce.nicschemaversion
        )
    );
    RecordedEvent {
        event_id: ce.id,
        stream_id: nic_events::StreamId::parse(ce.subject.clone()).unwrap(),
        stream_version: ce.nicstreamversion,
        global_position: ce.nicposition,
        event_type: ce.event_type.clone(),
        schema_version: ce.nicschemaversion,
        data: ce.data.clone(),
        metadata: EventData::parse(ce.nicmetadata.clone()).unwrap(),
        recorded_at: chrono::DateTime::parse_from_rfc3339(&ce.time)
            .unwrap()
            .with_timezone(&chrono::Utc),
        hash: ce.nichash.clone(),
    }
}

fn http_export(s: &Server, query: &str) -> String {
    let a = s.get(&format!("/api/v1/export{query}"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/x-ndjson"));
    let disposition = a.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"nic-ledger-")
            && disposition.ends_with(".ndjson\""),
        "{disposition}"
    );
    a.body
}

fn api_export_is_the_cli_export(db: Db) {
    let url = common::fresh_database(db);
    ok(&["demo", "--database-url", &url]);
    let s = common::start_with(&url);
    // The first start appended the admin token's event; wait until the log reads settled.
    let count = s.event_count();

    let cli = export(&url, "ndjson");
    assert_eq!(lines(&cli).len(), count);
    let api = http_export(&s, "");
    assert_eq!(api.as_bytes(), cli.as_slice(), "the API's NDJSON export");
    assert_eq!(http_export(&s, "?format=ndjson"), api);

    let cli_ce = export(&url, "cloudevents");
    let api_ce = http_export(&s, "?format=cloudevents");
    assert_eq!(
        api_ce.as_bytes(),
        cli_ce.as_slice(),
        "the API's CloudEvents export"
    );
    let ndjson = lines(&cli);
    let cloud = lines(&cli_ce);
    assert_eq!(cloud.len(), ndjson.len());
    for (ce_line, nd_line) in cloud.iter().zip(&ndjson) {
        let v: Value = serde_json::from_str(ce_line).unwrap();
        for attribute in ["specversion", "id", "source", "type", "time", "data"] {
            assert!(!v[attribute].is_null(), "{attribute} missing: {ce_line}");
        }
        assert_eq!(v["specversion"], "1.0");
        let ce: CloudEvent = serde_json::from_str(ce_line).unwrap();
        let rebuilt = envelope(&ce);
        // The envelope rebuilt from the CloudEvent is the recorded event, to the byte.
        assert_eq!(serde_json::to_string(&rebuilt).unwrap(), *nd_line);
    }

    // The format is one of the two; anything else is a 400 problem.
    for bad in ["?format=csv", "?format=", "?format=NDJSON", "?limit=5"] {
        s.get(&format!("/api/v1/export{bad}"))
            .problem(400, "invalid-query");
    }
}

#[test]
fn the_api_export_is_the_cli_export_on_sqlite() {
    api_export_is_the_cli_export(Db::Sqlite);
}

#[test]
fn the_api_export_is_the_cli_export_on_postgres() {
    api_export_is_the_cli_export(Db::Postgres);
}
