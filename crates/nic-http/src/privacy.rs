//! The routes of personal data: erasures and redactions (`nic_app::privacy`), and the retention
//! of withdrawn programs' text. Bodies are parsed as commands are (`Body`): unknown fields, wrong
//! types and out-of-bounds text are 422 and nothing is erased.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use nic_app::privacy::Subject;
use nic_app::{App, Principal};
use nic_events::catalog::{ErasureBasis, Role};
use nic_events::{Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::Body;
use crate::problem::{Problem, ProblemKind};

/// What an erasure reaches, as sent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubjectBody {
    /// A token holder: the token's name and everything it wrote; a live token is revoked.
    Person { token_id: Uuid },
    /// Every personal text of the program containing `name` (any case). The name is not recorded.
    NamedInProgram { program_id: Uuid, name: Title },
    /// One field of one event (a JSON pointer such as `/study/summary`).
    Field { event_id: Uuid, field: Title },
    /// A withdrawn program's free text.
    WithdrawnProgram { program_id: Uuid },
}

/// `POST /api/v1/erasures`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    pub subject: SubjectBody,
    pub basis: ErasureBasis,
    /// A ticket or letter number; never the person's name.
    #[serde(default)]
    pub reference: Option<Title>,
    /// List what would be erased, erasing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/v1/redactions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactBody {
    pub event_id: Uuid,
    /// A JSON pointer into the event's data, e.g. `/study/summary`.
    pub field: Title,
    /// What the field reads as from now on.
    pub replacement: Text,
}

/// `POST /api/v1/retention/run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// List each program and the fields that would go, erasing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Erases a subject's personal data (admins), or lists what would go (`dry_run`): 200 with the
/// report either way.
pub async fn erase(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Body(body, _): Body<EraseBody>,
) -> Result<Response, Problem> {
    let subject = match body.subject {
        SubjectBody::Person { token_id } if token_id == who.token_id && !body.dry_run => {
            return Err(Problem::new(
                ProblemKind::InvalidTransition,
                crate::tokens::SELF_REVOCATION,
            ));
        }
        SubjectBody::Person { token_id } => Subject::Person { token_id },
        SubjectBody::NamedInProgram { program_id, name } => Subject::NamedInProgram {
            program_id,
            name: name.to_string(),
        },
        SubjectBody::Field { event_id, field } => Subject::Field {
            event_id,
            field: field.to_string(),
        },
        SubjectBody::WithdrawnProgram { program_id } => Subject::WithdrawnProgram { program_id },
    };
    let report = app
        .erase(
            &who.actor(),
            subject,
            body.basis,
            body.reference,
            body.dry_run,
        )
        .await?;
    Ok(Json(report).into_response())
}

/// A redaction recorded.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Redacted {
    /// Its stream is `privacy-<id>`.
    pub redaction_id: Uuid,
}

/// What a retention run erased, or would erase.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RetentionRun {
    pub dry_run: bool,
    pub programs: Vec<nic_app::privacy::RetentionDue>,
}

/// Replaces one field written by mistake (its writer or an admin): 201 with the redaction's id.
pub async fn redact(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Body(body, _): Body<RedactBody>,
) -> Result<Response, Problem> {
    let id = app
        .redact(
            &who.actor(),
            who.role == Role::Admin,
            body.event_id,
            body.field.as_str(),
            body.replacement,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Redacted { redaction_id: id })).into_response())
}

/// Erases what the networks' retention periods have reached (admins); `dry_run` lists it.
pub async fn retention(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Body(q, _): Body<RetentionBody>,
) -> Result<Response, Problem> {
    let due = app
        .run_retention(&who.actor(), Utc::now(), q.dry_run)
        .await?;
    Ok(Json(RetentionRun {
        dry_run: q.dry_run,
        programs: due,
    })
    .into_response())
}
