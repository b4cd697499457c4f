//! `Problem`: the one place errors become HTTP responses, as RFC 9457 problem details
//! (`application/problem+json`). Application errors (`AppError`) and rejected requests (bad JSON,
//! bad ids, oversized bodies) all pass through here; internals never reach the client. A failure
//! of the service itself rides along in the response (`Failure`) for the metrics middleware to log
//! and count.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nic_app::AppError;
use nic_domain::{DomainError, FieldError};
use nic_store::StoreError;
use serde::Serialize;

use crate::limits::RETRY_AFTER_SECS;

/// Every problem type the API returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    InvalidId,
    InvalidQuery,
    InvalidHeader,
    InvalidStreamId,
    InvalidLimit,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidTransition,
    VersionConflict,
    BodyTooLarge,
    UnsupportedMediaType,
    Validation,
    UnknownReference,
    IdempotencyKeyReused,
    RequestTimeout,
    TooManyStreams,
    Internal,
    ServiceBusy,
    StoreUnavailable,
    NotReady,
}

impl ProblemKind {
    /// Every kind, as the OpenAPI document lists them.
    pub const ALL: [ProblemKind; 23] = [
        Self::MalformedJson,
        Self::InvalidId,
        Self::InvalidQuery,
        Self::InvalidHeader,
        Self::InvalidStreamId,
        Self::InvalidLimit,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::InvalidTransition,
        Self::VersionConflict,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::UnknownReference,
        Self::IdempotencyKeyReused,
        Self::RequestTimeout,
        Self::TooManyStreams,
        Self::Internal,
        Self::ServiceBusy,
        Self::StoreUnavailable,
        Self::NotReady,
    ];

    /// (type slug, status, title).
    pub fn describe(self) -> (&'static str, u16, &'static str) {
        use ProblemKind::*;
        match self {
            MalformedJson => ("malformed-json", 400, "The body is not valid JSON"),
            InvalidId => ("invalid-id", 400, "An id in the path is invalid"),
            InvalidQuery => ("invalid-query", 400, "The query string is invalid"),
            InvalidHeader => ("invalid-header", 400, "A header is invalid"),
            InvalidStreamId => ("invalid-stream-id", 400, "The stream id is invalid"),
            InvalidLimit => ("invalid-limit", 400, "The page size is out of range"),
            Unauthorized => ("unauthorized", 401, "A valid token is needed"),
            Forbidden => ("forbidden", 403, "This token may not do that"),
            NotFound => ("not-found", 404, "No such resource"),
            MethodNotAllowed => ("method-not-allowed", 405, "Method not allowed"),
            InvalidTransition => (
                "invalid-transition",
                409,
                "The command does not fit the current state",
            ),
            VersionConflict => ("version-conflict", 409, "The resource has changed"),
            BodyTooLarge => ("body-too-large", 413, "The body is too large"),
            UnsupportedMediaType => (
                "unsupported-media-type",
                415,
                "The body must be application/json",
            ),
            Validation => ("validation", 422, "The command has invalid fields"),
            UnknownReference => (
                "unknown-reference",
                422,
                "The command names something that does not exist",
            ),
            IdempotencyKeyReused => (
                "idempotency-key-reused",
                422,
                "The Idempotency-Key was sent with another request",
            ),
            RequestTimeout => (
                "request-timeout",
                408,
                "The request's body stopped arriving",
            ),
            TooManyStreams => (
                "too-many-streams",
                429,
                "Too many live streams are open for this token or address",
            ),
            Internal => ("internal", 500, "Internal error"),
            ServiceBusy => ("service-busy", 503, "The service is at capacity"),
            StoreUnavailable => ("store-unavailable", 503, "The event store could not answer"),
            NotReady => ("not-ready", 503, "The service is not ready"),
        }
    }
}

/// An RFC 9457 problem: the one shape of every error the API returns.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// What failed inside the service, for the logs and metrics, never for the client.
    #[serde(skip)]
    failure: Option<Box<Failure>>,
}

/// A failure of the service itself behind a problem, left in the response's extensions.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The store operation's kind when the store failed (`database`, `corrupt`, `other`).
    pub store: Option<&'static str>,
    pub message: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        let (slug, status, title) = kind.describe();
        Self {
            kind: format!("/problems/{slug}"),
            title,
            status,
            detail: detail.into(),
            errors: Vec::new(),
            current_version: None,
            failure: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    fn failed(mut self, store: Option<&'static str>, message: String) -> Self {
        self.failure = Some(Box::new(Failure { store, message }));
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let failure = self.failure.take();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(status.as_u16(), 429 | 503) {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if let Some(failure) = failure {
            res.extensions_mut().insert(*failure);
        }
        res
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        use ProblemKind as K;
        let detail = e.to_string();
        match e {
            AppError::Domain(d) => Problem::from(d),
            AppError::VersionConflict { detail, current } => {
                let mut p = Problem::new(K::VersionConflict, detail);
                p.current_version = current;
                p
            }
            AppError::KeyReused(d) => Problem::new(K::IdempotencyKeyReused, d),
            AppError::Unauthorized(d) => Problem::new(K::Unauthorized, d),
            AppError::Forbidden(d) => Problem::new(K::Forbidden, d),
            AppError::NotFound(d) => Problem::new(K::NotFound, d),
            AppError::InvalidQuery(d) => Problem::new(K::InvalidQuery, d),
            AppError::InvalidLimit(d) => Problem::new(K::InvalidLimit, d),
            AppError::InvalidStreamId(d) => Problem::new(K::InvalidStreamId, d),
            AppError::Busy(d) => Problem::new(K::InvalidTransition, d),
            AppError::NotReady(d) => Problem::new(K::NotReady, d),
            AppError::Saturated(d) => Problem::new(K::ServiceBusy, d),
            AppError::Store(s) => {
                let label = match s {
                    StoreError::Database(_) | StoreError::CommitFailed(_) => "database",
                    StoreError::Corrupt { .. } => "corrupt",
                    _ => "other",
                };
                Problem::new(
                    K::StoreUnavailable,
                    "the event store failed; the request changed nothing and may be retried",
                )
                .failed(Some(label), detail)
            }
            AppError::Unreadable(_) => {
                Problem::new(K::Internal, "a stored event could not be read").failed(None, detail)
            }
            AppError::Export(_) | AppError::Import(_) | AppError::Internal(_) => {
                Problem::new(K::Internal, "the service failed").failed(None, detail)
            }
            AppError::Stopping => Problem::new(K::Internal, "the service is stopping"),
        }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        use ProblemKind as K;
        let detail = e.to_string();
        match e {
            DomainError::Invalid(errors) => Problem::new(K::Validation, detail).with_errors(errors),
            DomainError::UnknownReference { field, .. } => {
                Problem::new(K::UnknownReference, &detail).with_errors(vec![FieldError {
                    field,
                    message: detail,
                }])
            }
            DomainError::NotFound { .. } => Problem::new(K::NotFound, detail),
            DomainError::InvalidTransition(_) => Problem::new(K::InvalidTransition, detail),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::from(AppError::from(e))
    }
}
