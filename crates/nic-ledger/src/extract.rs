//! Request extractors that turn raw input into parsed values once, at the edge, and reject
//! anything else with a problem saying what was wrong: JSON bodies (`Body`), ids in the path
//! (`Ids`) and the headers of a write (`WriteHeaders`: `If-Match`, `Idempotency-Key`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use nic_domain::FieldError;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::Problem;

/// Bytes of a request body.
pub const REQUEST_BODY_BYTES_MAX: usize = 256 * 1024;
/// Bytes of an `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 200;

/// A JSON body parsed into a command. Unknown fields, wrong types and values out of their bounds
/// are 422 with the path of the field; a body that is not JSON is 400; a missing or other content
/// type is 415; a body over `REQUEST_BODY_BYTES_MAX` is 413.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
            });
        if !json {
            return Err(Problem::new(
                "unsupported-media-type",
                "send the command as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(
                        "body-too-large",
                        format!("a request body is at most {REQUEST_BODY_BYTES_MAX} bytes"),
                    )
                } else {
                    Problem::new("malformed-json", e.body_text())
                }
            })?;
        parse(&bytes).map(Body)
    }
}

/// Parses a JSON command; errors name the path of the wrong field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Problem::new(
                "malformed-json",
                format!("the body is not valid JSON: {inner}"),
            ),
            _ => {
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                // serde's message without its "at line 1 column 9" suffix.
                let message = inner.to_string();
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m)
                    .to_string();
                Problem::new("validation", format!("{field}: {message}"))
                    .with_errors(vec![FieldError { field, message }])
            }
        }
    })
}

/// The ids in a request's path, all UUIDs.
pub struct Ids<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Ids(t))
            .map_err(|e| Problem::new("invalid-id", format!("ids are UUIDs: {}", e.body_text())))
    }
}

/// What a write's headers ask: a condition on the stream's version (`If-Match: "N"`, the ETag of
/// the resource) and an idempotency key (a retried POST with the same key returns the first answer
/// and writes nothing).
#[derive(Debug, Clone)]
pub struct WriteHeaders {
    pub if_match: Option<u64>,
    pub idempotency_key: Option<String>,
    /// The method and path the command was sent to: an idempotency key is scoped to it.
    pub scope: String,
    /// Groups the events of this request (`X-Correlation-Id`, or a new id).
    pub correlation_id: Uuid,
    /// Who is asking (set by `auth::authenticate`), recorded in every event's metadata.
    pub principal: Option<Principal>,
}

impl<S: Send + Sync> FromRequestParts<S> for WriteHeaders {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let mut w = from_headers(&parts.headers)?;
        w.scope = format!("{} {}", parts.method, parts.uri.path());
        w.principal = parts.extensions.get::<Principal>().cloned();
        Ok(w)
    }
}

fn from_headers(h: &HeaderMap) -> Result<WriteHeaders, Problem> {
    let bad = |m: String| Problem::new("invalid-header", m);
    let if_match = match h.get(header::IF_MATCH) {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("").trim();
            let n = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some(n.parse::<u64>().map_err(|_| {
                bad(format!(
                    "If-Match is the resource's ETag, a quoted version such as \"3\"; got {v:?}"
                ))
            })?)
        }
    };
    let idempotency_key = match h.get("idempotency-key") {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("").trim();
            if v.is_empty() || v.len() > IDEMPOTENCY_KEY_BYTES_MAX {
                return Err(bad(format!(
                    "Idempotency-Key is 1 to {IDEMPOTENCY_KEY_BYTES_MAX} visible ASCII characters"
                )));
            }
            Some(v.to_string())
        }
    };
    let correlation_id = match h.get("x-correlation-id") {
        None => Uuid::now_v7(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .ok_or_else(|| bad("X-Correlation-Id is a UUID".into()))?,
    };
    Ok(WriteHeaders {
        if_match,
        idempotency_key,
        scope: String::new(),
        correlation_id,
        principal: None,
    })
}

impl WriteHeaders {
    /// The actor events record.
    pub fn actor(&self) -> Option<String> {
        self.principal.as_ref().map(Principal::actor)
    }

    /// Refuses unless the caller may write for `program`.
    pub fn require_program(&self, program: Uuid) -> Result<(), Problem> {
        match &self.principal {
            Some(p) => p.require_program(program),
            None => Err(Problem::new("forbidden", "no principal")),
        }
    }

    /// Refuses unless the caller is an admin (the hub).
    pub fn require_admin(&self) -> Result<(), Problem> {
        match &self.principal {
            Some(p) if p.role == nic_events::catalog::Role::Admin => Ok(()),
            _ => Err(Problem::new(
                "forbidden",
                "only the hub (an admin token) may do this",
            )),
        }
    }

    /// The id of a new entity: derived from the idempotency key when there is one (so a retry
    /// addresses the same stream), else a fresh UUID v7.
    pub fn new_id(&self) -> Uuid {
        match &self.idempotency_key {
            Some(key) => derived(&[&self.scope, key, "entity"]),
            None => Uuid::now_v7(),
        }
    }

    /// The id of the `index`-th event a write appends: derived from the idempotency key when there
    /// is one (so the store recognises a retry), else a fresh UUID v7.
    pub fn event_id(&self, index: usize) -> Uuid {
        match &self.idempotency_key {
            Some(key) => derived(&[&self.scope, key, "event", &index.to_string()]),
            None => Uuid::now_v7(),
        }
    }
}

/// A UUID (version 8, custom) from a SHA-256 of the parts.
fn derived(parts: &[&str]) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_say_what_is_wrong() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, "\"3\"".parse().unwrap());
        h.insert("idempotency-key", "abc".parse().unwrap());
        let mut w = from_headers(&h).unwrap();
        assert_eq!(w.if_match, Some(3));
        w.scope = "POST /a".into();
        assert_eq!(w.new_id(), w.new_id());
        let mut other = w.clone();
        other.scope = "POST /b".into();
        assert_ne!(w.new_id(), other.new_id());
        assert_ne!(w.event_id(0), w.event_id(1));
        h.insert(header::IF_MATCH, "\"x\"".parse().unwrap());
        assert_eq!(from_headers(&h).unwrap_err().status(), 400);
        let plain = from_headers(&HeaderMap::new()).unwrap();
        assert_ne!(plain.new_id(), plain.new_id());
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct C {
            inner: Vec<I>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct I {
            n: u8,
        }
        let e = parse::<C>(br#"{"inner":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert_eq!(e.status(), 422);
        let body = serde_json::to_value(&e).unwrap();
        assert_eq!(body["errors"][0]["field"], "inner[1].n");
        assert_eq!(parse::<C>(b"{not json").unwrap_err().status(), 400);
        let e = serde_json::to_value(parse::<C>(br#"{"inner":[],"x":1}"#).unwrap_err()).unwrap();
        assert!(
            e["detail"].as_str().unwrap().contains("unknown field"),
            "{e}"
        );
    }
}
