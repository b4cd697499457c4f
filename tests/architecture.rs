//! The dependency direction between our own crates, as ARCHITECTURE.md states it, checked against
//! `cargo metadata`: a new edge between crates is a design change and must be written down here.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each crate of ours and the crates of ours it may depend on (normal dependencies; tests and
/// benchmarks may use any crate below them).
const ALLOWED: &[(&str, &[&str])] = &[
    ("nic-events", &[]),
    ("nic-store", &["nic-events"]),
    ("nic-domain", &["nic-events"]),
    ("nic-projections", &["nic-events", "nic-domain"]),
    ("nic-demo", &["nic-events", "nic-store", "nic-domain"]),
    (
        "nic-app",
        &["nic-events", "nic-store", "nic-domain", "nic-projections"],
    ),
    (
        "nic-http",
        &[
            "nic-app",
            "nic-events",
            "nic-store",
            "nic-domain",
            "nic-projections",
        ],
    ),
    (
        "nic-ledger",
        &["nic-app", "nic-http", "nic-demo", "nic-events", "nic-store"],
    ),
];

/// Crates of the web that the application layer must not know.
const WEB: &[&str] = &["axum", "tower", "hyper", "http"];

#[test]
fn crates_depend_only_in_the_documented_direction() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .filter(|n| n.starts_with("nic-") && n != "nic-ledger-suite")
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let listed: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        ours, listed,
        "every crate in crates/ is listed in ALLOWED and ARCHITECTURE.md"
    );
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let Some(may) = allowed.get(name) else {
            continue;
        };
        let normal = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap());
        for dep in normal.clone() {
            if ours.contains(dep) {
                assert!(may.contains(&dep), "{name} must not depend on {dep}");
            }
        }
        // The application layer knows nothing of HTTP: the edge depends on it, never the reverse.
        if name == "nic-app" {
            for dep in normal {
                assert!(!WEB.contains(&dep), "nic-app must not use {dep}");
            }
        }
        // The contract, the domain and the projections' folds do no I/O: no database, no runtime,
        // no web framework.
        if ["nic-events", "nic-domain", "nic-projections"].contains(&name) {
            for d in p["dependencies"].as_array().unwrap() {
                let dep = d["name"].as_str().unwrap();
                assert!(
                    !["sqlx", "tokio", "axum"].contains(&dep),
                    "{name} must not use {dep}"
                );
            }
        }
    }
}

#[test]
fn every_crate_folder_is_named_as_its_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut seen = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let folder = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            manifest.contains(&format!("name = \"{folder}\"")),
            "{folder} is named as its folder"
        );
        seen += 1;
    }
    assert_eq!(seen, ALLOWED.len());
}
