//! Black-box: a client generated from the OpenAPI document, as an outside team would generate one.
//! schemathesis (from PyPI, installed by `scripts/test` into `tests/openapi/.venv`) reads
//! `/api/v1/openapi.json` from the real server on the demo network and sends what the document
//! allows to every operation: bodies and query strings built from their schemas, edge cases and
//! invalid ones, the demo's own ids, and sequences that follow the document's links from a created
//! resource to the routes that take its id. Every answer must be one the document promises: no
//! server error, a documented status and content type, and a body valid against its schema. The
//! live streams are left out: they never end, and `router.rs` tests them.

use std::process::Command;

mod common;

const SCHEMATHESIS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/openapi/.venv/bin/schemathesis"
);

/// Examples per operation and phase.
const EXAMPLES: &str = "20";

/// The id of the first item a listing answers.
fn first(s: &common::Server, path: &str) -> String {
    let list = s.get(path).json();
    list["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} lists nothing: {list}"))
        .to_string()
}

#[test]
fn a_client_generated_from_the_openapi_document_finds_no_answer_that_breaks_it() {
    assert!(
        std::path::Path::new(SCHEMATHESIS).exists(),
        "{SCHEMATHESIS} is missing: scripts/test installs it (python3 -m venv, then pip install -r \
         crates/nic-ledger/tests/openapi/requirements.txt)"
    );
    let db = common::fresh_database(common::Db::Sqlite);
    common::ok(&["demo", "--database-url", &db]);
    let s = common::start_with(&db);
    // The demo's ids, so that every operation also reaches real resources.
    let network = first(&s, "/api/v1/networks");
    let program = first(&s, &format!("/api/v1/networks/{network}/programs"));
    let measure = first(&s, &format!("/api/v1/networks/{network}/measures"));
    let synthesis = first(&s, &format!("/api/v1/networks/{network}/syntheses"));
    let cycle = first(&s, &format!("/api/v1/programs/{program}/pdsa-cycles"));
    let config = common::temp_file("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\nnetwork_id = \"{network}\"\nprogram_id = \"{program}\"\n\
             measure_id = \"{measure}\"\nsynthesis_id = \"{synthesis}\"\ncycle_id = \"{cycle}\"\n\
             stream_id = \"pdsa-{cycle}\"\n"
        ),
    )
    .unwrap();
    // Run where it may leave nothing behind, and with no store of earlier examples.
    let out = Command::new(SCHEMATHESIS)
        .current_dir(config.parent().unwrap())
        .args(["--no-color", "--config-file"])
        .arg(&config)
        .args([
            "run",
            &format!("http://{}/api/v1/openapi.json", s.addr),
            "--header",
            &format!("Authorization: Bearer {}", s.token),
            "--exclude-path-regex",
            "^/api/v1/live/",
            "--max-examples",
            EXAMPLES,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
        ])
        .output()
        .expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not promise:\n{report}"
    );
    // It reached the operations with real ids and kept its token (an admin token cannot revoke
    // or erase itself, so the run cannot lock itself out).
    let tested = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .unwrap_or_else(|| panic!("no count of operations tested:\n{report}"));
    let tested: usize = tested.trim().parse().unwrap();
    assert!(tested >= 70, "{tested} operations tested:\n{report}");
    assert!(
        !report.contains("Authentication failed"),
        "the run lost its token:\n{report}"
    );
    assert_eq!(
        s.get("/api/v1/me").status,
        200,
        "the admin token still opens"
    );
}
