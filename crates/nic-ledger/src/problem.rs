//! `Problem`: the one place errors become HTTP responses, as RFC 9457 problem details
//! (`application/problem+json`). Domain refusals, store errors and rejected requests (bad JSON, bad
//! ids, oversized bodies) all pass through here; internals never reach the client.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use nic_domain::{DomainError, FieldError};
use nic_store::StoreError;
use serde::Serialize;

/// An RFC 9457 problem: the one shape of every error the API returns.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    /// The fields that were wrong, by JSON path (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// The stream's current version (version conflicts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<u64>,
}

/// Every problem type the API returns: (type, status, title). The OpenAPI document lists them.
pub const PROBLEM_TYPES: &[(&str, u16, &str)] = &[
    ("malformed-json", 400, "The body is not valid JSON"),
    ("invalid-id", 400, "An id in the path is invalid"),
    ("invalid-query", 400, "The query string is invalid"),
    ("invalid-header", 400, "A header is invalid"),
    ("invalid-stream-id", 400, "The stream id is invalid"),
    ("invalid-limit", 400, "The page size is out of range"),
    ("unauthorized", 401, "A valid token is needed"),
    ("forbidden", 403, "This token may not do that"),
    ("not-found", 404, "No such resource"),
    ("method-not-allowed", 405, "Method not allowed"),
    (
        "invalid-transition",
        409,
        "The command does not fit the current state",
    ),
    ("version-conflict", 409, "The resource has changed"),
    ("body-too-large", 413, "The body is too large"),
    (
        "unsupported-media-type",
        415,
        "The body must be application/json",
    ),
    ("validation", 422, "The command has invalid fields"),
    (
        "unknown-reference",
        422,
        "The command names something that does not exist",
    ),
    ("internal", 500, "Internal error"),
    ("store-unavailable", 503, "The event store could not answer"),
    ("not-ready", 503, "The service is not ready"),
];

impl Problem {
    /// A problem of one of the `PROBLEM_TYPES`.
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        let (_, status, title) = PROBLEM_TYPES
            .iter()
            .find(|(k, _, _)| *k == kind)
            .copied()
            .unwrap_or(("internal", 500, "Internal error"));
        Self {
            kind: format!("/problems/{kind}"),
            title,
            status,
            detail: detail.into(),
            errors: Vec::new(),
            current_version: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn version_conflict(detail: impl Into<String>, current: Option<u64>) -> Self {
        let mut p = Self::new("version-conflict", detail);
        p.current_version = current;
        p
    }

    #[cfg(test)]
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion { stream, actual, .. } => Problem::version_conflict(
                format!("{stream} changed while the command was decided; read it again and retry"),
                actual,
            ),
            other => {
                tracing::error!(error = %other, "store error");
                crate::metrics::metrics()
                    .store_errors
                    .with_label_values(&[match other {
                        StoreError::Database(_) | StoreError::CommitFailed(_) => "database",
                        StoreError::Corrupt { .. } => "corrupt",
                        _ => "other",
                    }])
                    .inc();
                Problem::new(
                    "store-unavailable",
                    "the event store failed; the request changed nothing and may be retried",
                )
            }
        }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        let detail = e.to_string();
        match e {
            DomainError::Invalid(errors) => Problem::new("validation", detail).with_errors(errors),
            DomainError::UnknownReference { field, .. } => {
                Problem::new("unknown-reference", &detail).with_errors(vec![FieldError {
                    field,
                    message: detail,
                }])
            }
            DomainError::NotFound { .. } => Problem::new("not-found", detail),
            DomainError::InvalidTransition(_) => Problem::new("invalid-transition", detail),
        }
    }
}

impl From<&nic_events::CatalogError> for Problem {
    fn from(e: &nic_events::CatalogError) -> Self {
        tracing::error!(error = %e, "a stored event does not read as a catalog event");
        Problem::new("internal", "a stored event could not be read")
    }
}

impl From<nic_events::CatalogError> for Problem {
    fn from(e: nic_events::CatalogError) -> Self {
        Problem::from(&e)
    }
}
