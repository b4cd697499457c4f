//! What a refused command says: which field was wrong and why, which reference is unknown, or
//! which transition the entity's current state does not allow. The API maps each kind to one HTTP
//! status in one place.

use serde::Serialize;
use uuid::Uuid;

/// One wrong field of a command, by its JSON path (e.g. `plan.questions[2].prediction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Values out of range or inconsistent with each other.
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A field names something that does not exist (or not in this network).
    #[error("{field} names {kind} {id}, which does not exist here")]
    UnknownReference {
        field: String,
        kind: &'static str,
        id: Uuid,
    },
    /// The entity the command is addressed to does not exist.
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: Uuid },
    /// The entity's current state does not allow this command.
    #[error("{0}")]
    InvalidTransition(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn transition(message: impl Into<String>) -> Self {
        Self::InvalidTransition(message.into())
    }
}

/// Collects field errors, so a command reports everything wrong with it at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` against `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.0.push(FieldError {
                field: field.into(),
                message: message.into(),
            });
        }
    }

    /// A list is at most `LIST_ITEMS_MAX` items.
    pub fn list<T>(&mut self, items: &[T], field: &str) {
        let max = nic_events::limits::LIST_ITEMS_MAX;
        self.check(
            items.len() <= max,
            field,
            format!("has {} items; at most {max} are allowed", items.len()),
        );
    }

    /// An amount is a finite number of at most `AMOUNT_ABS_MAX` in size.
    pub fn finite(&mut self, v: Option<f64>, field: &str) {
        let max = crate::limits::AMOUNT_ABS_MAX;
        self.check(
            v.is_none_or(|v| v.is_finite() && v.abs() <= max),
            field,
            format!("must be a finite number of at most {max:e} in size"),
        );
    }

    pub fn done(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

pub type Decision = Result<Vec<nic_events::NicEvent>, DomainError>;
