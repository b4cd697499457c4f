//! The OpenAPI 3.1 document, generated from the route table (`routes::routes`) and the command and
//! state types (JSON Schema draft 2020-12, through schemars), so it describes exactly what the
//! router serves. Served at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use nic_app::Access;
use nic_events::limits::STREAM_ID_BYTES_MAX;

use crate::limits::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::models::CODE_HASH_DIGITS;
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
                let schema = match name {
                    "stream_id" => json!({
                        "type": "string",
                        "pattern": "^[a-z0-9_]+-[!-~]+$",
                        "maxLength": STREAM_ID_BYTES_MAX,
                    }),
                    "code" => json!({
                        "type": "string",
                        "pattern": format!("^[0-9]{{1,19}}-[0-9a-fA-F]{{{CODE_HASH_DIGITS},64}}$"),
                    }),
                    name if name.ends_with("_id") => json!({"type": "string", "format": "uuid"}),
                    _ => json!({"type": "string"}),
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut responses = Map::new();
        let problem = json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
        let mut params = params;
        if let Some(query) = r.query {
            params.extend(query_parameters(query()));
        }
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
                if creates {
                    responses
                        .get_mut("201")
                        .expect("a created answer")
                        .as_object_mut()
                        .expect("an object")
                        .insert("links".into(), links(r.path));
                }
            }
            Answer::Read(schema) | Answer::ReadOr(schema, _) => {
                let mut content = Map::new();
                content.insert(
                    "application/json".into(),
                    json!({"schema": schema(&mut generator).to_value()}),
                );
                if let Answer::ReadOr(_, media) = r.answer {
                    for m in media.split(", ") {
                        content.insert(m.into(), json!({"schema": {"type": "string"}}));
                    }
                }
                responses.insert(
                    "200".into(),
                    json!({"description": "OK", "content": content}),
                );
                for (status, what) in [("400", "A bad id or query"), ("404", "No such resource")] {
                    let mut p = problem.clone();
                    p["description"] = what.into();
                    responses.insert(status.into(), p);
                }
            }
            Answer::Action(status, what, answer) => {
                let body = (r.body.expect("an action has a body"))(&mut generator);
                op["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": body}}});
                let answer = answer(&mut generator).to_value();
                responses.insert(
                    status.into(),
                    json!({"description": what, "content": {"application/json": {"schema": answer}}}),
                );
                for (status, what) in [
                    ("400", "Malformed JSON"),
                    ("404", "No such resource"),
                    ("409", "Does not fit the current state"),
                    ("413", "The body is too large"),
                    ("415", "The body is not application/json"),
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
                    json!({
                        "description": what,
                        "headers": {"Location": {"description": "Where to watch it", "schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["status", "progress"],
                            "properties": {
                                "status": {"const": "rebuilding"},
                                "progress": {"type": "string", "description": "The path that shows its progress"}
                            }
                        }}}
                    }),
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
                if r.path.contains('{') {
                    let mut p = problem.clone();
                    p["description"] = "No such resource".into();
                    responses.insert("404".into(), p);
                }
            }
        }
        // What any route may answer besides its own: a bad query, and for a token's routes no
        // token (401) or a role that may not (403); live streams at their limits.
        let mut refusals = vec![
            ("401", "No valid token"),
            ("403", "The token's role may not"),
        ];
        if r.query.is_some() {
            refusals.push(("400", "A bad query"));
        }
        if r.path.starts_with("/api/v1/live/") {
            refusals.push(("429", "Too many streams for this token or address"));
            refusals.push(("503", "Too many streams in all"));
        }
        if r.access != Access::Public {
            for (status, what) in refusals {
                if !responses.contains_key(status) {
                    let mut p = problem.clone();
                    p["description"] = what.into();
                    responses.insert(status.into(), p);
                }
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

/// A query string's object schema as query parameters, one per property. A parameter that is
/// absent is simply not sent, so `null` is no value of its own.
fn query_parameters(schema: schemars::Schema) -> Vec<Value> {
    let schema = schema.to_value();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"));
            if let Some(any) = property["anyOf"].as_array() {
                let some: Vec<&Value> = any.iter().filter(|v| v["type"] != "null").collect();
                if let [one] = some.as_slice() {
                    property = (*one).clone();
                }
            }
            if let Some(types) = property["type"].as_array() {
                let types: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                property["type"] = match types.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(types),
                };
            }
            if let Some(variants) = property["enum"].as_array() {
                let variants: Vec<Value> =
                    variants.iter().filter(|v| !v.is_null()).cloned().collect();
                property["enum"] = Value::Array(variants);
            }
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if let Some(d) = description {
                param["description"] = d;
            }
            param
        })
        .collect()
}

/// The operations that take the id a command at `path` creates (`$response.body#/id`), each
/// with the creating request's own path ids passed on: the resource's own path
/// (`/api/v1/programs/{program_id}…` for `…/programs`) or one under the creating path
/// (`…/data-points/{point_id}/correct`); drivers and change ideas are nodes.
fn links(path: &str) -> Value {
    let (parent, collection) = path.rsplit_once('/').expect("a path");
    let own: Vec<&str> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let mut prefixes = vec![format!("/api/v1/{collection}/{{"), format!("{path}/{{")];
    if matches!(collection, "drivers" | "change-ideas") {
        prefixes.push(format!("{parent}/nodes/{{"));
    }
    let mut links = Map::new();
    for r in routes() {
        let Some(prefix) = prefixes.iter().find(|p| r.path.starts_with(p.as_str())) else {
            continue;
        };
        let created = r.path[prefix.len()..]
            .split('}')
            .next()
            .expect("a parameter name");
        let ids: Vec<&str> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        if !ids.iter().all(|id| *id == created || own.contains(id)) {
            continue;
        }
        let mut parameters = Map::new();
        for id in ids {
            let from = if id == created {
                "$response.body#/id".to_string()
            } else {
                format!("$request.path.{id}")
            };
            parameters.insert(id.into(), from.into());
        }
        let target = operation_id(r.method.as_str(), r.path);
        links.insert(
            target.clone(),
            json!({"operationId": target, "parameters": parameters, "description": r.summary}),
        );
    }
    Value::Object(links)
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
