//! The OpenAPI 3.1 document, generated from the route table (`routes::routes`) and the command and
//! state types (JSON Schema draft 2020-12, through schemars), so it describes exactly what the
//! router serves. Served at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::limits::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::problem::ProblemKind;
use crate::routes::{routes, Answer};

pub async fn serve() -> Json<Value> {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(document).clone())
}

/// Builds the document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    for r in routes() {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let schema = if name.ends_with("_id") && name != "stream_id" {
                    json!({"type": "string", "format": "uuid"})
                } else {
                    json!({"type": "string"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut responses = Map::new();
        let problem = json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": operation_id(r.method.as_str(), r.path),
            "parameters": params,
        });
        match r.answer {
            Answer::Command { creates } => {
                let body = (r.body.expect("a command has a body"))(&mut generator);
                command_operation(&mut op, &mut responses, &problem, body, creates);
            }
            Answer::Read(schema) => {
                let schema =
                    schema.map_or(json!({"type": "object"}), |s| s(&mut generator).to_value());
                responses.insert(
                    "200".into(),
                    json!({"description": "OK", "content": {"application/json": {"schema": schema}}}),
                );
                for (status, what) in [("400", "A bad id or query"), ("404", "No such resource")] {
                    let mut p = problem.clone();
                    p["description"] = what.into();
                    responses.insert(status.into(), p);
                }
            }
            Answer::Action(status, what) => {
                let body = (r.body.expect("an action has a body"))(&mut generator);
                op["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": body}}});
                responses.insert(
                    status.into(),
                    json!({"description": what, "content": {"application/json": {"schema": {"type": "object"}}}}),
                );
                for (status, what) in [
                    ("400", "Malformed JSON"),
                    ("404", "No such resource"),
                    ("409", "Does not fit the current state"),
                    ("422", "Invalid fields"),
                ] {
                    let mut p = problem.clone();
                    p["description"] = what.into();
                    responses.insert(status.into(), p);
                }
            }
            Answer::Accepted(what) => {
                responses.insert(
                    "202".into(),
                    json!({"description": what, "content": {"application/json": {"schema": {"type": "object"}}}}),
                );
                let mut p = problem.clone();
                p["description"] = "Already running".into();
                responses.insert("409".into(), p);
            }
            Answer::Other(media) => {
                // One media type, or several a route may answer with (comma-separated).
                let content: Map<String, Value> = media
                    .split(", ")
                    .map(|m| (m.to_string(), json!({})))
                    .collect();
                responses.insert(
                    "200".into(),
                    json!({"description": "OK", "content": content}),
                );
            }
        }
        op["responses"] = Value::Object(responses);
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_lowercase()] = op;
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("CommandResult".into(), command_result_schema());
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "NIC Ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The event-sourced record of a Networked Improvement Community: networks, driver diagrams, programs, measures, PDSA cycles and syntheses. Every command appends events to an immutable log; errors are RFC 9457 problem details."
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// A command's answers, body and write headers.
fn command_operation(
    op: &mut Value,
    responses: &mut Map<String, Value>,
    problem: &Value,
    body: schemars::Schema,
    creates: bool,
) {
    let ok = json!({
        "description": "The events the command appended (a retry with the same Idempotency-Key gets the same answer, with Idempotent-Replayed: true).",
        "headers": {"ETag": {"description": "The stream's version", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandResult"}}}
    });
    responses.insert(if creates { "201" } else { "200" }.into(), ok);
    for (status, what) in [
        ("400", "Malformed JSON, a bad id or a bad header"),
        ("404", "The resource addressed does not exist"),
        ("409", "The command does not fit the current state, or If-Match does not match the stream's version"),
        ("413", "The body is too large"),
        ("415", "The body is not application/json"),
        ("422", "Invalid fields (with their JSON paths) or unknown references"),
    ] {
        let mut p = problem.clone();
        p["description"] = what.into();
        responses.insert(status.into(), p);
    }
    op["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": body}}});
    op["parameters"]
        .as_array_mut()
        .expect("an array")
        .extend([
            json!({"name": "If-Match", "in": "header", "required": false, "description": "The ETag (stream version) the write expects; a mismatch is 409.", "schema": {"type": "string"}}),
            json!({"name": "Idempotency-Key", "in": "header", "required": false, "description": "A retried request with the same key returns the first answer and writes nothing.", "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_BYTES_MAX}}),
            json!({"name": "X-Correlation-Id", "in": "header", "required": false, "description": "Groups the events of one workflow (a UUID).", "schema": {"type": "string", "format": "uuid"}}),
        ]);
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_lowercase();
    for seg in path.trim_start_matches("/api/v1").split('/') {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        for word in seg.split(['-', '_', '.']).filter(|w| !w.is_empty()) {
            let mut chars = word.chars();
            if let Some(f) = chars.next() {
                id.push(f.to_ascii_uppercase());
                id.push_str(chars.as_str());
            }
        }
    }
    id
}

fn problem_schema() -> Value {
    let types: Vec<String> = ProblemKind::ALL
        .iter()
        .map(|k| format!("/problems/{}", k.describe().0))
        .collect();
    json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "enum": types},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "The fields that were wrong, by JSON path.",
                "items": {"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}
            },
            "current_version": {"type": "integer", "description": "The stream's version (version conflicts)."}
        }
    })
}

fn command_result_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "stream_id", "stream_version", "events"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "The entity the command created or addressed."},
            "stream_id": {"type": "string"},
            "stream_version": {"type": "integer", "minimum": 0},
            "events": {"type": "array", "items": {
                "type": "object",
                "required": ["event_id", "event_type", "stream_version", "global_position", "data"],
                "properties": {
                    "event_id": {"type": "string", "format": "uuid"},
                    "event_type": {"type": "string"},
                    "stream_version": {"type": "integer"},
                    "global_position": {"type": "integer"},
                    "data": {"type": "object"}
                }
            }}
        }
    })
}
