//! The event contract in `proto-events/` kept in step with the Rust types of the catalog.
//!
//! - `proto-events/schemas/<EventType>.v<N>.json` is the JSON Schema (draft 2020-12) of every event
//!   type at its current version, generated from the types (`NicEvent::current_schemas`), plus the
//!   frozen schemas of older versions (`FROZEN`), written by hand once and never regenerated.
//! - `proto-events/examples/<EventType>.v<N>.json` holds a JSON array of example `data` payloads
//!   for every schema file; each must validate against its schema and read as a catalog event.
//! - `proto-events/README.md` carries a generated catalog table between two markers.
//! - Every text field of a current schema says whether it holds personal data (`x-personal`), and
//!   `nic_events::personal_fields` reads the same classes.
//!
//! `NIC_BLESS=1 cargo test -p nic-events --test contract` rewrites the generated schema files and
//! the README table instead of comparing them; review the diff, then commit it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use nic_events::catalog::DataPointRecorded;
use nic_events::limits::{TEXT_CHARS_MAX, TITLE_CHARS_MAX};
use nic_events::{NicEvent, Personal, Text, CATALOG};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Older schema versions: their files are written by hand once, when the version stops being the
/// current one, and never change after (events stored in them are never edited, and are upgraded
/// on read). The SHA-256 of each file pins it.
const FROZEN: &[(&str, u32, &str)] = &[(
    "DataPointRecorded",
    1,
    "fc759e1fb319b06124f26d8c4979ef91ab24310135af8695706dd75ccd8f2a86",
)];

const BLESS_HINT: &str = "regenerate with `NIC_BLESS=1 cargo test -p nic-events --test contract`, \
                          review the diff and commit it";
const README_BEGIN: &str =
    "<!-- BEGIN GENERATED CATALOG: NIC_BLESS=1 cargo test -p nic-events --test contract -->";
const README_END: &str = "<!-- END GENERATED CATALOG -->";

/// `proto-events/`. When blessing, the generated schema files are written before any test reads
/// the folder, so that tests running in parallel all see the new files.
fn proto_dir() -> PathBuf {
    static BLESS: Once = Once::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto-events");
    BLESS.call_once(|| {
        if blessing() {
            for (t, v, schema) in contract_schemas() {
                let path = dir.join("schemas").join(file_name(t, v));
                check_or_bless(&path, &to_file_text(&schema));
            }
        }
    });
    dir
}

fn file_name(event_type: &str, version: u32) -> String {
    format!("{event_type}.v{version}.json")
}

fn schema_path(event_type: &str, version: u32) -> PathBuf {
    proto_dir()
        .join("schemas")
        .join(file_name(event_type, version))
}

fn example_path(event_type: &str, version: u32) -> PathBuf {
    proto_dir()
        .join("examples")
        .join(file_name(event_type, version))
}

fn blessing() -> bool {
    std::env::var("NIC_BLESS").is_ok_and(|v| v == "1")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The generated contract
// ---------------------------------------------------------------------------------------------

/// The contract schema of every event type at its current version: what schemars derives from the
/// Rust type, named by its file (`$id`), titled by the event type and described by its catalog
/// meaning (then the type's own doc comment, if it has one). Used both to write and to compare.
fn contract_schemas() -> Vec<(&'static str, u32, Value)> {
    NicEvent::current_schemas()
        .into_iter()
        .map(|(event_type, version, schema)| {
            let info = nic_events::catalog::info(event_type).expect("a catalog entry");
            let mut schema = schema.to_value();
            let obj = schema.as_object_mut().expect("a schema object");
            let description = match obj.get("description").and_then(Value::as_str) {
                Some(doc) => format!("{}\n\n{doc}", info.meaning),
                None => info.meaning.to_string(),
            };
            obj.insert("$id".into(), file_name(event_type, version).into());
            obj.insert("title".into(), event_type.into());
            obj.insert("description".into(), description.into());
            (event_type, version, schema)
        })
        .collect()
}

/// Keywords in the order a reader expects them; others follow, by name.
const KEYWORD_ORDER: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "$ref",
    "type",
    "const",
    "enum",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "items",
    "default",
    "properties",
    "additionalProperties",
    "required",
    "oneOf",
    "anyOf",
    "allOf",
    "$defs",
];

/// Pretty JSON with a trailing newline, keys in a fixed order (schema keywords by `KEYWORD_ORDER`,
/// property and definition names alphabetically), so the bytes do not depend on whether
/// serde_json keeps insertion order (its `preserve_order` feature, which any crate of the
/// workspace may turn on).
fn to_file_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, false, 0, &mut out);
    out.push('\n');
    out
}

fn write_json(v: &Value, names: bool, indent: usize, out: &mut String) {
    let pad = |n: usize| " ".repeat(n);
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                write_json(item, false, indent + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            let rank = |k: &str| {
                KEYWORD_ORDER
                    .iter()
                    .position(|o| *o == k)
                    .unwrap_or(KEYWORD_ORDER.len())
            };
            if names {
                keys.sort();
            } else {
                keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            }
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                out.push_str(&serde_json::to_string(k).expect("a string"));
                out.push_str(": ");
                let child_names = !names && matches!(k.as_str(), "properties" | "$defs");
                write_json(&map[k.as_str()], child_names, indent + 2, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        scalar_or_empty => out.push_str(&serde_json::to_string(scalar_or_empty).expect("json")),
    }
}

/// Compares `expected` with the file, or writes it when blessing; returns a failure, if any.
fn check_or_bless(path: &Path, expected: &str) -> Option<String> {
    let actual = fs::read_to_string(path).ok();
    if actual.as_deref() == Some(expected) {
        return None;
    }
    if blessing() {
        fs::create_dir_all(path.parent().expect("a folder")).expect("create folder");
        fs::write(path, expected).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("blessed {}", path.display());
        return None;
    }
    let detail = match actual {
        None => "is missing".to_string(),
        Some(actual) => {
            let line = actual
                .lines()
                .zip(expected.lines())
                .position(|(a, e)| a != e)
                .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
            format!(
                "differs from the Rust types from line {}:\n  file:      {}\n  generated: {}",
                line + 1,
                actual.lines().nth(line).unwrap_or("<end of file>"),
                expected.lines().nth(line).unwrap_or("<end of file>"),
            )
        }
    };
    Some(format!("{} {detail}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Schema files
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_schemas_equal_the_schema_files_byte_for_byte() {
    let failures: Vec<String> = contract_schemas()
        .iter()
        .filter_map(|(t, v, schema)| check_or_bless(&schema_path(t, *v), &to_file_text(schema)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} schema file(s) out of step with the Rust types; {BLESS_HINT}.\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every (type, version) that must have a schema and an example file: each catalog entry at its
/// current version, and the frozen older versions.
fn contract_versions() -> BTreeSet<(String, u32)> {
    CATALOG
        .iter()
        .map(|i| (i.event_type.to_string(), i.schema_version))
        .chain(FROZEN.iter().map(|(t, v, _)| (t.to_string(), *v)))
        .collect()
}

fn files_in(folder: &str) -> BTreeSet<(String, u32)> {
    let dir = proto_dir().join(folder);
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let name = entry.expect("a folder entry").file_name();
            let name = name.to_str().expect("a UTF-8 file name").to_string();
            let parsed = name.strip_suffix(".json").and_then(|stem| {
                let (t, v) = stem.rsplit_once(".v")?;
                Some((t.to_string(), v.parse::<u32>().ok()?))
            });
            parsed.unwrap_or_else(|| panic!("{folder}/{name} is not named <EventType>.v<N>.json"))
        })
        .collect()
}

#[test]
fn every_schema_and_example_file_has_a_catalog_entry_and_every_entry_its_files() {
    let wanted = contract_versions();
    for folder in ["schemas", "examples"] {
        let present = files_in(folder);
        let stray: Vec<_> = present.difference(&wanted).collect();
        let missing: Vec<_> = wanted.difference(&present).collect();
        assert!(
            stray.is_empty(),
            "proto-events/{folder} has files for no catalog entry nor frozen version: {stray:?} \
             (an older version's schema belongs in FROZEN in this test)"
        );
        assert!(
            missing.is_empty(),
            "proto-events/{folder} lacks files for {missing:?}{}",
            if folder == "schemas" {
                format!("; {BLESS_HINT}")
            } else {
                String::new()
            }
        );
    }
    // Every version a type ever had stays readable, so each older one is frozen, not dropped.
    for info in CATALOG {
        for old in 1..info.schema_version {
            assert!(
                FROZEN
                    .iter()
                    .any(|(t, v, _)| *t == info.event_type && *v == old),
                "{} v{old} is older than the current v{}: freeze its schema (FROZEN)",
                info.event_type,
                info.schema_version
            );
        }
    }
    for (t, v, _) in FROZEN {
        let info = nic_events::catalog::info(t).expect("a frozen version of a catalog type");
        assert!(
            *v < info.schema_version,
            "{t} v{v} is not older than current"
        );
    }
}

#[test]
fn every_schema_is_valid_draft_2020_12_and_frozen_ones_are_unchanged() {
    for (t, v, sha256) in FROZEN {
        let path = schema_path(t, *v);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            *sha256,
            "{} is frozen: events stored as {t} v{v} are read by it as they were written",
            path.display()
        );
    }
    for (t, v) in contract_versions() {
        let schema = read_json(&schema_path(&t, v));
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{t}.v{v}.json is not a valid draft 2020-12 schema: {e}");
        }
        assert_eq!(schema["$id"], json!(file_name(&t, v)));
        assert_eq!(schema["title"], json!(t));
    }
}

// ---------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------

fn validator(event_type: &str, version: u32) -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&read_json(&schema_path(event_type, version)))
        .unwrap_or_else(|e| panic!("{event_type}.v{version}.json does not compile: {e}"))
}

fn examples(event_type: &str, version: u32) -> Vec<Value> {
    let path = example_path(event_type, version);
    match read_json(&path) {
        Value::Array(items) if !items.is_empty() => items,
        _ => panic!("{} holds a non-empty JSON array", path.display()),
    }
}

fn schema_errors(validator: &jsonschema::Validator, data: &Value) -> Vec<String> {
    validator
        .iter_errors(data)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_example_validates_against_its_schema_and_reads_as_its_event() {
    let mut checked = 0;
    for (t, v) in contract_versions() {
        let validator = validator(&t, v);
        let current = validator_for_current(&t);
        for (i, data) in examples(&t, v).iter().enumerate() {
            let label = format!("examples/{t}.v{v}.json[{i}]");
            let errors = schema_errors(&validator, data);
            assert!(errors.is_empty(), "{label} breaks its schema: {errors:#?}");
            let event = NicEvent::from_stored(&t, v, &data.to_string())
                .unwrap_or_else(|e| panic!("{label} does not read: {e}"));
            assert_eq!(event.event_type(), t, "{label}");
            // What the reader hands on, written back as the current version, is valid too and
            // reads back as the same event.
            let written = event.data();
            let errors = schema_errors(&current, &written);
            assert!(errors.is_empty(), "{label} rewritten: {errors:#?}");
            let again = NicEvent::from_stored(&t, event.schema_version(), &written.to_string())
                .unwrap_or_else(|e| panic!("{label} rewritten does not read: {e}"));
            assert_eq!(again, event, "{label}");
            checked += 1;
        }
    }
    assert!(checked >= contract_versions().len());
}

fn validator_for_current(event_type: &str) -> jsonschema::Validator {
    let info = nic_events::catalog::info(event_type).expect("a catalog type");
    validator(event_type, info.schema_version)
}

// ---------------------------------------------------------------------------------------------
// Personal data
// ---------------------------------------------------------------------------------------------

const PERSONAL_CLASSES: [&str; 4] = ["name", "free-text", "contact", "none"];

const CLASSIFY_HINT: &str = "classify each field in crates/nic-events/src/catalog.rs with \
    #[schemars(extend(\"x-personal\" = \"…\"))]: \"name\" (a person's name), \"free-text\" (prose \
    about a cycle or a program's day-to-day work, which may name a student or a mentor), \
    \"contact\" (an email address, a phone number) or \"none\" (the network's shared vocabulary and \
    institutional record, ids and codes: never names a person and stays through an erasure); see \
    Personal data in proto-events/README.md";

/// Every text leaf of a schema (a string without `format`, `enum` or `const`), by JSON pointer
/// into the data (`*` for every index of an array), with the `x-personal` that classifies it: its
/// own, or that of the array or option (`anyOf`, `oneOf`) it is in within the same property.
fn text_leaves(root: &Value) -> Vec<(String, Option<Value>)> {
    fn walk(
        root: &Value,
        schema: &Value,
        pointer: &str,
        class: Option<&Value>,
        out: &mut Vec<(String, Option<Value>)>,
    ) {
        let class = schema.get("x-personal").or(class);
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.strip_prefix("#/$defs/").expect("a $ref into $defs");
            walk(root, &root["$defs"][name], pointer, None, out);
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            walk(root, property, &format!("{pointer}/{name}"), None, out);
        }
        if let Some(items) = schema.get("items") {
            walk(root, items, &format!("{pointer}/*"), class, out);
        }
        for keyword in ["anyOf", "oneOf", "allOf"] {
            for branch in schema[keyword].as_array().into_iter().flatten() {
                walk(root, branch, pointer, class, out);
            }
        }
        let string = match &schema["type"] {
            Value::String(t) => t == "string",
            Value::Array(ts) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        if string
            && ["format", "enum", "const"]
                .iter()
                .all(|k| schema.get(k).is_none())
        {
            out.push((pointer.to_string(), class.cloned()));
        }
    }
    let mut out = Vec::new();
    walk(root, root, "", None, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup();
    out
}

/// `<event type> <pointer>: <what is wrong>` for each text leaf of `schema` without a valid class.
fn unclassified(event_type: &str, schema: &Value) -> Vec<String> {
    text_leaves(schema)
        .into_iter()
        .filter_map(|(pointer, class)| match class {
            Some(Value::String(c)) if PERSONAL_CLASSES.contains(&c.as_str()) => None,
            Some(other) => Some(format!(
                "{event_type} {pointer}: x-personal is {other}, not one of {PERSONAL_CLASSES:?}"
            )),
            None => Some(format!("{event_type} {pointer}: no x-personal")),
        })
        .collect()
}

/// Current versions only: the frozen schemas of older versions were written before `x-personal`
/// existed and never change (their events are read as the current version, whose schema says).
#[test]
fn every_text_field_of_a_current_schema_is_classified_as_personal_or_not() {
    let failures: Vec<String> = contract_schemas()
        .iter()
        .flat_map(|(t, _, schema)| unclassified(t, schema))
        .collect();
    assert!(
        failures.is_empty(),
        "{} text field(s) not classified:\n  {}\n{CLASSIFY_HINT}; then {BLESS_HINT}.",
        failures.len(),
        failures.join("\n  ")
    );
    // The library reads the same classes from the same schemas.
    for (t, _, schema) in contract_schemas() {
        let from_schema: Vec<(String, String)> = text_leaves(&schema)
            .into_iter()
            .filter_map(|(pointer, class)| Some((pointer, class?.as_str()?.to_string())))
            .filter(|(_, class)| class != "none")
            .collect();
        let listed: Vec<(String, String)> = nic_events::personal_fields(t)
            .iter()
            .map(|f| (f.pointer.clone(), f.class.as_str().to_string()))
            .collect();
        assert_eq!(listed, from_schema, "personal_fields({t:?})");
    }
    // A token holder's name is the one name the catalog holds today.
    assert!(nic_events::personal_fields("TokenIssued")
        .iter()
        .any(|f| f.pointer == "/name" && f.class == Personal::Name));
}

#[test]
fn the_classification_check_reports_an_unclassified_or_misspelt_text_field() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "x-personal": "name"},
            "colour": {"type": "string", "maxLength": 200},
            "tags": {"type": "array", "items": {"type": "string"}},
            "labels": {"type": "array", "items": {"type": "string"}, "x-personal": "none"},
            "remark": {"type": ["string", "null"], "x-personal": "private"},
            "id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "detail": {"$ref": "#/$defs/Detail", "x-personal": "free-text"}
        },
        "$defs": {
            "Detail": {
                "type": "object",
                "properties": {
                    "section": {"type": "string", "const": "plan"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}
                }
            }
        }
    });
    assert_eq!(
        unclassified("Hand", &schema),
        [
            "Hand /colour: no x-personal",
            "Hand /detail/note: no x-personal",
            "Hand /remark: x-personal is \"private\", not one of [\"name\", \"free-text\", \"contact\", \"none\"]",
            "Hand /tags/*: no x-personal",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Upcasting
// ---------------------------------------------------------------------------------------------

#[test]
fn a_v1_data_point_example_reads_as_the_expected_v2_event() {
    let v1 = examples("DataPointRecorded", 1);
    let first = &v1[0];
    let event = NicEvent::from_stored("DataPointRecorded", 1, &first.to_string()).unwrap();
    let expected = NicEvent::DataPointRecorded(DataPointRecorded {
        point_id: Uuid::parse_str("0190f1a2-5b00-7000-8000-000000050001").unwrap(),
        program_id: Uuid::parse_str("0190f1a2-5b00-7000-8000-000000030001").unwrap(),
        period: "2024-T1".parse().unwrap(),
        numerator: None,
        denominator: None,
        value: Some(46.3),
        note: Text::parse("Counted from the fall alumni survey; 19 of 41 alumni answered.")
            .unwrap(),
    });
    assert_eq!(event, expected, "examples/DataPointRecorded.v1.json[0]");
    assert_eq!(event.schema_version(), 2);

    let v1_schema = validator("DataPointRecorded", 1);
    let v2_schema = validator("DataPointRecorded", 2);
    for (i, data) in v1.iter().enumerate() {
        // The shape really changed: a v1 payload is not a v2 payload, nor the other way round.
        assert!(!v2_schema.is_valid(data), "v1 example {i} passes as v2");
        assert!(
            NicEvent::from_stored("DataPointRecorded", 2, &data.to_string()).is_err(),
            "v1 example {i} reads as v2"
        );
        // Upgraded on read, it is a valid v2 payload.
        let upgraded = NicEvent::from_stored("DataPointRecorded", 1, &data.to_string())
            .unwrap()
            .data();
        let errors = schema_errors(&v2_schema, &upgraded);
        assert!(errors.is_empty(), "v1 example {i} upgraded: {errors:#?}");
        assert_eq!(upgraded["value"], data["amount"]);
        assert_eq!(upgraded["numerator"], Value::Null);
    }
    for (i, data) in examples("DataPointRecorded", 2).iter().enumerate() {
        assert!(!v1_schema.is_valid(data), "v2 example {i} passes as v1");
    }
}

// ---------------------------------------------------------------------------------------------
// Both layers agree on what they refuse
// ---------------------------------------------------------------------------------------------

struct Layers {
    event_type: String,
    version: u32,
    validator: jsonschema::Validator,
}

impl Layers {
    fn new(event_type: &str, version: u32) -> Self {
        Self {
            event_type: event_type.into(),
            version,
            validator: validator(event_type, version),
        }
    }

    /// (the schema accepts it, the reader accepts it)
    fn verdicts(&self, data: &Value) -> (bool, bool) {
        (
            self.validator.is_valid(data),
            NicEvent::from_stored(&self.event_type, self.version, &data.to_string()).is_ok(),
        )
    }

    fn both_refuse(&self, what: &str, data: &Value) {
        let (schema, reader) = self.verdicts(data);
        assert!(
            !schema && !reader,
            "{}.v{} {what}: schema accepts: {schema}, reader accepts: {reader} (both must refuse)",
            self.event_type,
            self.version
        );
    }

    fn both_accept(&self, what: &str, data: &Value) {
        let (schema, reader) = self.verdicts(data);
        assert!(
            schema && reader,
            "{}.v{} {what}: schema accepts: {schema}, reader accepts: {reader} (both must accept)",
            self.event_type,
            self.version
        );
    }
}

fn is_title(property: &Value) -> bool {
    property["minLength"] == json!(1) && property["maxLength"] == json!(TITLE_CHARS_MAX)
}

fn is_text(property: &Value) -> bool {
    property["maxLength"] == json!(TEXT_CHARS_MAX)
}

#[test]
fn an_unknown_field_a_missing_required_field_or_a_bad_title_fails_both_schema_and_reader() {
    let mut refusals = 0;
    for (t, v) in contract_versions() {
        let layers = Layers::new(&t, v);
        let schema = read_json(&schema_path(&t, v));
        let properties = schema["properties"].as_object().expect("an object schema");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (i, example) in examples(&t, v).iter().enumerate() {
            let with = |field: &str, value: Value| {
                let mut data = example.clone();
                data[field] = value;
                data
            };
            layers.both_refuse(
                &format!("example {i} with an unknown field"),
                &with("colour", json!("teal")),
            );
            refusals += 1;
            for field in &required {
                let mut data = example.clone();
                data.as_object_mut().unwrap().remove(*field);
                layers.both_refuse(&format!("example {i} without `{field}`"), &data);
                refusals += 1;
            }
            for (field, property) in properties {
                if is_title(property) {
                    let long = "x".repeat(TITLE_CHARS_MAX + 1);
                    for (what, bad) in [
                        ("over-long", long.as_str()),
                        ("blank", "   "),
                        ("empty", ""),
                        ("two-line", "Peer mentoring\nhuddles"),
                        ("tabbed", "Peer mentoring\thuddles"),
                    ] {
                        let what = format!("example {i} with a {what} `{field}`");
                        layers.both_refuse(&what, &with(field, json!(bad)));
                        refusals += 1;
                    }
                    // The longest title counts characters, not bytes, in both layers.
                    let longest = "é".repeat(TITLE_CHARS_MAX);
                    let what = format!("example {i} with the longest `{field}`");
                    layers.both_accept(&what, &with(field, json!(longest)));
                } else if is_text(property) {
                    let what = format!("example {i} with an over-long `{field}`");
                    let long = "x".repeat(TEXT_CHARS_MAX + 1);
                    layers.both_refuse(&what, &with(field, json!(long)));
                    let what = format!("example {i} with a control character in `{field}`");
                    layers.both_refuse(&what, &with(field, json!("bell\u{7}")));
                    refusals += 2;
                    let what = format!("example {i} with lines and tabs in `{field}`");
                    layers.both_accept(&what, &with(field, json!("one\tline\r\nanother")));
                }
            }
        }
    }
    assert!(refusals > 300, "only {refusals} refusals checked");
}

#[test]
fn nested_shapes_and_enumerations_fail_both_schema_and_reader() {
    let planned = Layers::new("PdsaCyclePlanned", 1);
    let example = &examples("PdsaCyclePlanned", 1)[0];
    let mut data = example.clone();
    data["plan"]["budget"] = json!(250);
    planned.both_refuse("with an unknown field in its plan", &data);
    let mut data = example.clone();
    data["plan"].as_object_mut().unwrap().remove("objective");
    planned.both_refuse("without a plan objective", &data);
    let mut data = example.clone();
    data["plan"]["tasks"][0] = json!("t".repeat(TITLE_CHARS_MAX + 1));
    planned.both_refuse("with an over-long task", &data);
    let mut data = example.clone();
    data["plan"]["questions"][0]["confidence"] = json!("high");
    planned.both_refuse("with an unknown field in a question", &data);
    let mut data = example.clone();
    data["purpose"] = json!("celebrate");
    planned.both_refuse("with an unknown purpose", &data);
    let mut data = example.clone();
    data["change_idea_ids"][0] = json!("peer-mentoring-huddles");
    planned.both_refuse("with a change idea id that is no UUID", &data);
    let mut data = example.clone();
    data["planned_start"] = json!("03/01/2025");
    planned.both_refuse("with a date that is no ISO date", &data);

    let driver = Layers::new("DriverAdded", 1);
    let mut data = examples("DriverAdded", 1)[0].clone();
    data["kind"] = json!("tertiary");
    driver.both_refuse("of a third kind", &data);

    let corrected = Layers::new("PdsaCycleCorrected", 1);
    let mut data = examples("PdsaCycleCorrected", 1)[0].clone();
    data["correction"]["section"] = json!("prediction");
    corrected.both_refuse("of an unknown section", &data);
    let mut data = examples("PdsaCycleCorrected", 1)[0].clone();
    data["correction"]
        .as_object_mut()
        .unwrap()
        .remove("corrected");
    corrected.both_refuse("without the corrected section", &data);

    let erased = Layers::new("PersonalDataErased", 1);
    let example = &examples("PersonalDataErased", 1)[0];
    let mut data = example.clone();
    data["subject"]["name"] = json!("Ana Ruiz");
    erased.both_refuse("naming the person in its subject", &data);
    let mut data = example.clone();
    data["subject"]["kind"] = json!("everyone");
    erased.both_refuse("of an unknown subject kind", &data);
    let mut data = example.clone();
    data["subject"].as_object_mut().unwrap().remove("token_id");
    erased.both_refuse("without the subject's token", &data);
    let mut data = example.clone();
    data["basis"] = json!("curiosity");
    erased.both_refuse("on an unknown basis", &data);
    let mut data = example.clone();
    data["keys"][0] = json!("key-1");
    erased.both_refuse("with a key that is no UUID", &data);

    let v1 = Layers::new("DataPointRecorded", 1);
    let mut data = examples("DataPointRecorded", 1)[0].clone();
    data["amount"] = json!("forty-six");
    v1.both_refuse("with an amount that is no number", &data);

    // A period is a label of one of the three kinds.
    for (t, field) in [
        ("DataPointRecorded", "period"),
        ("PhaseStarted", "from_period"),
    ] {
        let layers = Layers::new(t, nic_events::catalog::info(t).unwrap().schema_version);
        let example = &examples(t, layers.version)[0];
        for bad in [
            "March 2025",
            "2025-13",
            "2025-3",
            "2025-W54",
            "2025-T4",
            "2025-T01",
            "",
        ] {
            let mut data = example.clone();
            data[field] = json!(bad);
            layers.both_refuse(&format!("with the period {bad:?}"), &data);
        }
        for good in ["2025-12", "2025-W01", "2025-W52", "2025-T3"] {
            let mut data = example.clone();
            data[field] = json!(good);
            layers.both_accept(&format!("with the period {good:?}"), &data);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The README
// ---------------------------------------------------------------------------------------------

/// A field's type in words, from its schema.
fn type_words(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return format!("`{}`", r.rsplit('/').next().unwrap_or(r));
    }
    if let Some(any) = schema["anyOf"].as_array() {
        return any.iter().map(type_words).collect::<Vec<_>>().join(" or ");
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
            .collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(c) = schema["const"].as_str() {
        return format!("`{c}`");
    }
    let of_type = |t: &str| match t {
        // Both are spelled out under Conventions in the README.
        "string" if is_title(schema) => "title".into(),
        "string" if is_text(schema) => "text".into(),
        "string" => match schema["format"].as_str() {
            Some("date") => "date (YYYY-MM-DD)".into(),
            Some("date-time") => "date-time (RFC 3339)".into(),
            Some(f) => f.into(),
            None => "string".into(),
        },
        "integer" => match (schema["minimum"].as_u64(), schema["maximum"].as_u64()) {
            (Some(lo), Some(hi)) => format!("integer {lo} to {hi}"),
            (Some(lo), None) => format!("integer ≥ {lo}"),
            _ => "integer".into(),
        },
        "array" => format!("list of {}", type_words(&schema["items"])),
        other => other.into(),
    };
    match &schema["type"] {
        Value::String(t) => of_type(t),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(of_type)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

/// `name`: type, required or optional; one per line of a table cell.
fn field_words(object: &Value) -> String {
    let required: BTreeSet<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    object["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| {
                    let need = if required.contains(name.as_str()) {
                        "required"
                    } else {
                        "optional"
                    };
                    format!("`{name}`: {}, {need}", type_words(p))
                })
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .unwrap_or_default()
}

/// `pointer`: class, one per line of a table cell; "none" for a type without personal fields.
fn personal_words(event_type: &str) -> String {
    let fields = nic_events::personal_fields(event_type);
    if fields.is_empty() {
        return "none".into();
    }
    fields
        .iter()
        .map(|f| format!("`{}`: {}", f.pointer, f.class))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The generated part of the README: the event table and the types the events share.
fn readme_catalog() -> String {
    let schemas = contract_schemas();
    let mut out = String::from(
        "| Event type | Version | Stream | Meaning | Fields of `data` | Personal fields |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut shared: BTreeMap<String, Value> = BTreeMap::new();
    for (t, v, schema) in &schemas {
        let info = nic_events::catalog::info(t).expect("a catalog entry");
        out.push_str(&format!(
            "| `{t}` | {v} | `{}-<id>` | {} | {} | {} |\n",
            info.category,
            info.meaning,
            field_words(schema),
            personal_words(t)
        ));
        for (name, def) in schema["$defs"].as_object().into_iter().flatten() {
            if let Some(seen) = shared.insert(name.clone(), def.clone()) {
                assert_eq!(&seen, def, "two shared types named {name}");
            }
        }
    }
    out.push_str("\nOlder versions, frozen and upgraded to the current version when read:\n\n");
    for (t, v, _) in FROZEN {
        let schema = read_json(&schema_path(t, *v));
        out.push_str(&format!(
            "- `{t}` v{v} ([schema](schemas/{t}.v{v}.json)): {}\n",
            field_words(&schema)
        ));
    }
    out.push_str("\n### Shared types\n\n| Type | What it is | Values or fields |\n|---|---|---|\n");
    for (name, def) in &shared {
        let content = if let Some(variants) = def["oneOf"].as_array() {
            variants
                .iter()
                .map(|v| match v["properties"].as_object() {
                    // A variant with fields: its fields, then what it means, if it says.
                    Some(props) => {
                        let fields = props
                            .iter()
                            .map(|(k, p)| format!("`{k}`: {}", type_words(p)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        match v["description"].as_str() {
                            Some(what) => format!("{fields} — {}", one_line(what)),
                            None => fields,
                        }
                    }
                    // A unit variant with its own description: `"value"`: what it means.
                    None => {
                        let value = v["const"]
                            .as_str()
                            .or_else(|| v["enum"][0].as_str())
                            .expect("a unit variant names its value");
                        let what = v["description"].as_str().unwrap_or("");
                        format!("`{value}`: {what}")
                    }
                })
                .collect::<Vec<_>>()
                .join("<br>")
        } else if def["properties"].is_object() {
            field_words(def)
        } else {
            type_words(def)
        };
        out.push_str(&format!(
            "| `{name}` | {} | {content} |\n",
            one_line(def["description"].as_str().unwrap_or(""))
        ));
    }
    out
}

#[test]
fn the_readme_lists_every_event_type_with_its_current_version_and_fields() {
    let path = proto_dir().join("README.md");
    let readme = fs::read_to_string(&path).expect("proto-events/README.md");
    let (head, rest) = readme
        .split_once(README_BEGIN)
        .unwrap_or_else(|| panic!("README.md lacks the line {README_BEGIN}"));
    let (_, tail) = rest
        .split_once(README_END)
        .unwrap_or_else(|| panic!("README.md lacks the line {README_END}"));
    let expected = format!(
        "{head}{README_BEGIN}\n{}{README_END}{tail}",
        readme_catalog()
    );
    if let Some(failure) = check_or_bless(&path, &expected) {
        panic!("the README's catalog is out of step with the Rust types; {BLESS_HINT}.\n{failure}");
    }
    // Whatever the generator writes, a reader must find each type with its current version.
    let readme = fs::read_to_string(&path).unwrap();
    for info in CATALOG {
        let row = format!("| `{}` | {} |", info.event_type, info.schema_version);
        assert!(readme.contains(&row), "README.md lacks the row {row}");
    }
    for (t, v, _) in FROZEN {
        assert!(
            readme.contains(&format!("`{t}` v{v}")),
            "README.md lacks {t} v{v}"
        );
    }
}
