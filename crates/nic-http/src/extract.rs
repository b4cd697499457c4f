//! Request extractors that turn raw input into parsed values once, at the edge, and reject
//! anything else with a problem saying what was wrong: JSON bodies (`Body`), ids in the path
//! (`Ids`, `PathIds`), query strings (`Params`, and `as_of` values: `as_of`), the principal
//! (`Caller`) and the headers of a write (`WriteHeaders`: `If-Match`, `Idempotency-Key`,
//! `X-Correlation-Id`), which become the application's `Write`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use nic_app::{AsOf, Principal, Write};
use nic_domain::FieldError;
use nic_events::limits::POSITION_MAX;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::limits::{BODY_IDLE_SECS, IDEMPOTENCY_KEY_BYTES_MAX, REQUEST_BODY_BYTES_MAX};
use crate::problem::{Problem, ProblemKind};

/// A JSON body parsed into a command. Unknown fields, wrong types and values out of their bounds
/// are 422 with the path of the field, and so is a string holding bidirectional controls or no
/// visible character (`nic_events::text::check_sent`); a body that is not JSON is 400; a missing or other content
/// type is 415; a body over `REQUEST_BODY_BYTES_MAX` is 413.
/// With the SHA-256 (hex) of the body as sent, which a write with an idempotency key keeps.
pub struct Body<T>(pub T, pub String);

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
                ProblemKind::UnsupportedMediaType,
                "send the command as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(
                        ProblemKind::BodyTooLarge,
                        format!("a request body is at most {REQUEST_BODY_BYTES_MAX} bytes"),
                    )
                } else if timed_out(&e) {
                    Problem::new(
                        ProblemKind::RequestTimeout,
                        format!("the body paused for more than {BODY_IDLE_SECS} s; send it whole"),
                    )
                } else {
                    Problem::new(ProblemKind::MalformedJson, e.body_text())
                }
            })?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let command = parse(&bytes)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Problem::new(ProblemKind::MalformedJson, e.to_string()))?;
        check_strings(&value, "")?;
        Ok(Body(command, digest))
    }
}

/// Refuses a body with a string that reads other than it is (`nic_events::text::check_sent`):
/// 422 naming the field.
fn check_strings(value: &serde_json::Value, path: &str) -> Result<(), Problem> {
    use serde_json::Value;
    match value {
        Value::String(s) => nic_events::text::check_sent(s).map_err(|e| {
            let field = if path.is_empty() { "body" } else { path }.to_string();
            let message = e.to_string();
            Problem::new(ProblemKind::Validation, format!("{field}: {message}"))
                .with_errors(vec![FieldError { field, message }])
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_strings(v, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            let path = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check_strings(v, &path)
        }),
        _ => Ok(()),
    }
}

/// Whether reading the body failed because it paused too long (`serve`'s body deadline).
fn timed_out(e: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Parses a JSON command, one JSON document and nothing after it; errors name the path of the
/// wrong field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Problem::new(
                ProblemKind::MalformedJson,
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
                Problem::new(ProblemKind::Validation, format!("{field}: {message}"))
                    .with_errors(vec![FieldError { field, message }])
            }
        }
    })?;
    de.end().map_err(|e| {
        Problem::new(
            ProblemKind::MalformedJson,
            format!("the body is one JSON document with nothing after it: {e}"),
        )
    })?;
    Ok(value)
}

/// The ids in a request's path, all UUIDs.
pub struct Ids<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Ids(t))
            .map_err(|e| {
                Problem::new(
                    ProblemKind::InvalidId,
                    format!("ids are UUIDs: {}", e.body_text()),
                )
            })
    }
}

/// The ids in a request's path, in order, all UUIDs: what a command is addressed with.
pub struct PathIds(pub Vec<Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::new(ProblemKind::InvalidId, e.body_text()))?;
        params
            .iter()
            .map(|(name, value)| {
                Uuid::parse_str(value).map_err(|e| {
                    Problem::new(
                        ProblemKind::InvalidId,
                        format!("ids are UUIDs: {name}: {e}"),
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(PathIds)
    }
}

/// A query string parsed into `T`; anything else is 400 `invalid-query`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| Problem::new(ProblemKind::InvalidQuery, e.body_text()))
    }
}

/// A point named in the query (`field`), on one of two clocks: the ledger's, a global position
/// (digits) or an RFC 3339 time (the log as it stood then: what had been recorded), or the
/// network's, a day `YYYY-MM-DD` (its work as it stood at the end of that day: what had happened
/// by then, including what was recorded later).
pub fn as_of(field: &str, s: &str) -> Result<AsOf, Problem> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return position(field, s).map(AsOf::Position);
    }
    if s.len() == 10 && !s.contains('T') {
        return chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(AsOf::Happened)
            .map_err(|_| {
                Problem::new(
                    ProblemKind::InvalidQuery,
                    format!("{field}: {s} is not a day (YYYY-MM-DD)"),
                )
            });
    }
    time(field, s).map(AsOf::Time)
}

/// A global position named in the query or a header (`field`): 0 to `POSITION_MAX`.
pub fn position(field: &str, s: &str) -> Result<u64, Problem> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|p| *p <= POSITION_MAX)
        .ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidQuery,
                format!("{field}: {s} is not a position (0 to {POSITION_MAX})"),
            )
        })
}

/// Refuses a position or version given as a number above `POSITION_MAX`.
pub fn within(field: &str, n: u64) -> Result<u64, Problem> {
    if n <= POSITION_MAX {
        Ok(n)
    } else {
        Err(Problem::new(
            ProblemKind::InvalidQuery,
            format!("{field}: {n} is more than the highest position, {POSITION_MAX}"),
        ))
    }
}

/// An optional `as_of`-like query value.
pub fn as_of_opt(field: &str, s: Option<&str>) -> Result<Option<AsOf>, Problem> {
    s.map(|s| as_of(field, s)).transpose()
}

/// An RFC 3339 time named in the query (`field`).
pub fn time(field: &str, s: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Problem::new(
                ProblemKind::InvalidQuery,
                format!(
                    "{field} is a global position or an RFC 3339 time such as \
                     2025-03-01T00:00:00Z (a '+' in an offset is written %2B); {s:?}: {e}"
                ),
            )
        })
}

/// A comma-separated list in the query (empty items dropped; none: an empty list).
pub fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// Who is asking: the principal the access check left in the request.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| Problem::new(ProblemKind::Unauthorized, "send a token"))
    }
}

/// What a write's headers ask: a condition on the stream's version (`If-Match: "N"`, the ETag of
/// the resource), an idempotency key (a retried POST with the same key returns the first answer
/// and writes nothing, scoped to the method and path), a correlation id and the day what it
/// records happened (`Occurred-On: YYYY-MM-DD`, for earlier work recorded late; never a day to
/// come); with the principal, the application's `Write`.
pub struct WriteHeaders(pub Write);

impl<S: Send + Sync> FromRequestParts<S> for WriteHeaders {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let (if_match, idempotency_key, correlation_id, occurred_on) =
            from_headers(&parts.headers)?;
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        Ok(WriteHeaders(Write {
            principal,
            if_match,
            idempotency_key,
            scope: format!("{} {}", parts.method, parts.uri.path()),
            correlation_id,
            request_sha256: None,
            occurred_on,
        }))
    }
}

type Headers = (Option<u64>, Option<String>, Uuid, Option<chrono::NaiveDate>);

fn from_headers(h: &HeaderMap) -> Result<Headers, Problem> {
    let bad = |m: String| Problem::new(ProblemKind::InvalidHeader, m);
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
    let occurred_on = match h.get("occurred-on") {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("").trim();
            let day = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                bad(format!(
                    "Occurred-On is the day what the request records happened, YYYY-MM-DD; got {v:?}"
                ))
            })?;
            if day > Utc::now().date_naive() {
                return Err(bad(format!(
                    "Occurred-On says when it happened: {day} has not come yet"
                )));
            }
            Some(day)
        }
    };
    Ok((if_match, idempotency_key, correlation_id, occurred_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_say_what_is_wrong() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, "\"3\"".parse().unwrap());
        h.insert("idempotency-key", "abc".parse().unwrap());
        let (if_match, key, _, _) = from_headers(&h).unwrap();
        assert_eq!(if_match, Some(3));
        assert_eq!(key.as_deref(), Some("abc"));
        h.insert(header::IF_MATCH, "\"x\"".parse().unwrap());
        assert_eq!(from_headers(&h).unwrap_err().status(), 400);
        let (if_match, key, correlation, occurred) = from_headers(&HeaderMap::new()).unwrap();
        assert_eq!((if_match, key, occurred), (None, None, None));
        assert_ne!(correlation, from_headers(&HeaderMap::new()).unwrap().2);
        let mut h = HeaderMap::new();
        h.insert("occurred-on", "2025-03-10".parse().unwrap());
        assert_eq!(
            from_headers(&h).unwrap().3,
            chrono::NaiveDate::from_ymd_opt(2025, 3, 10)
        );
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
