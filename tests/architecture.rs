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
        // The command line serves through the edge (`nic_http::serve`) and knows no HTTP either.
        if ["nic-app", "nic-ledger"].contains(&name) {
            for dep in normal {
                assert!(!WEB.contains(&dep), "{name} must not use {dep}");
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

/// Each crate's modules (the files and folders under `src/`) and the modules of the same crate
/// each one names: `crate::m` anywhere, and `m::` in the crate root. A module's own submodules
/// count as the module.
fn module_graph(src: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).unwrap() {
                let sub = sub.unwrap().path();
                files.push((name.clone(), std::fs::read_to_string(sub).unwrap()));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let edges = graph.entry(module.clone()).or_default();
        let root = module == "lib" || module == "main";
        // The first name of each item of every `crate::{…}` group.
        let grouped: BTreeSet<&str> = text
            .split("crate::{")
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .flat_map(|group| group.split(','))
            .filter_map(|item| item.trim().split([':', ' ']).next())
            .collect();
        for other in &modules {
            let named = text.contains(&format!("crate::{other}::"))
                || text.contains(&format!("crate::{other};"))
                || text.contains(&format!("crate::{other} "))
                || grouped.contains(other.as_str())
                || (root && text.contains(&format!("{other}::")));
            if named && other != module {
                edges.insert(other.clone());
            }
        }
    }
    graph
}

/// Tarjan's walk: the next index, each node's (index, low link), the stack and its members.
type Tarjan = (
    usize,
    BTreeMap<String, (usize, usize)>,
    Vec<String>,
    BTreeSet<String>,
);

/// The strongly connected components of a graph (Tarjan), as sets of nodes.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    fn visit(
        v: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut Tarjan,
        out: &mut Vec<BTreeSet<String>>,
    ) {
        let index = state.0;
        state.0 += 1;
        state.1.insert(v.to_string(), (index, index));
        state.2.push(v.to_string());
        state.3.insert(v.to_string());
        for w in graph.get(v).into_iter().flatten() {
            if !state.1.contains_key(w) {
                visit(w, graph, state, out);
                let low = state.1[v].1.min(state.1[w].1);
                state.1.get_mut(v).unwrap().1 = low;
            } else if state.3.contains(w) {
                let low = state.1[v].1.min(state.1[w].0);
                state.1.get_mut(v).unwrap().1 = low;
            }
        }
        if state.1[v].0 == state.1[v].1 {
            let mut component = BTreeSet::new();
            while let Some(w) = state.2.pop() {
                state.3.remove(&w);
                component.insert(w.clone());
                if w == v {
                    break;
                }
            }
            out.push(component);
        }
    }
    let mut state = (0, BTreeMap::new(), Vec::new(), BTreeSet::new());
    let mut out = Vec::new();
    for v in graph.keys() {
        if !state.1.contains_key(v) {
            visit(v, graph, &mut state, &mut out);
        }
    }
    out
}

#[test]
fn no_crate_has_an_import_circle_of_more_than_two_modules() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let graph = module_graph(&dir.join("src"));
        assert!(!graph.is_empty(), "{} has modules", dir.display());
        for component in cycles(&graph) {
            assert!(
                component.len() <= 2,
                "{}: the modules {component:?} import each other in a circle",
                dir.file_name().unwrap().to_string_lossy()
            );
        }
    }
}

#[test]
fn the_circle_check_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
            .iter()
            .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
            .collect();
    let big: Vec<_> = cycles(&graph).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(
        big,
        vec![BTreeSet::from(["a".into(), "b".into(), "c".into()])]
    );
}
