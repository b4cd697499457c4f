//! `AppError`: every way an application call can fail, typed. The HTTP edge maps each variant to
//! one problem type; the command line prints it.

use nic_domain::DomainError;
use nic_events::CatalogError;
use nic_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The domain refused the command (invalid fields, unknown references, a missing entity, a
    /// transition the state does not allow).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The stream is not at the version the write expected (`If-Match`, or a race lost too often).
    #[error("{detail}")]
    VersionConflict {
        detail: String,
        current: Option<u64>,
    },
    /// An idempotency key sent again with another request.
    #[error("{0}")]
    KeyReused(String),
    /// No valid token.
    #[error("{0}")]
    Unauthorized(String),
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource (or not as of the point asked for).
    #[error("{0}")]
    NotFound(String),
    /// A value given with a read is out of its range or does not parse (a position, a limit).
    #[error("{0}")]
    InvalidQuery(String),
    /// A page size out of its range.
    #[error("{0}")]
    InvalidLimit(String),
    /// A stream id that does not parse.
    #[error("{0}")]
    InvalidStreamId(String),
    /// The request does not fit what the service is doing now (a rebuild already running).
    #[error("{0}")]
    Busy(String),
    /// The service cannot answer yet (the database does not answer, the read models lag).
    #[error("{0}")]
    NotReady(String),
    /// Every slot of a bounded resource is taken (live streams); retry later.
    #[error("{0}")]
    Saturated(String),
    /// The store failed: the call changed nothing and may be retried.
    #[error("the event store failed: {0}")]
    Store(StoreError),
    /// A stored event does not read as a catalog event.
    #[error("a stored event could not be read: {0}")]
    Unreadable(String),
    /// An export stopped (the store failed, or the output could not be written).
    #[error(transparent)]
    Export(#[from] nic_store::transfer::ExportError),
    /// An import was refused (the store holds events, a line or a chain is wrong) or failed.
    #[error(transparent)]
    Import(#[from] nic_store::transfer::ImportError),
    /// Something that should not happen did (a state that does not serialise).
    #[error("{0}")]
    Internal(String),
    /// The service is stopping.
    #[error("the service is stopping")]
    Stopping,
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion { stream, actual, .. } => AppError::VersionConflict {
                detail: format!(
                    "{stream} changed while the command was decided; read it again and retry"
                ),
                current: actual,
            },
            other => AppError::Store(other),
        }
    }
}

impl From<&CatalogError> for AppError {
    fn from(e: &CatalogError) -> Self {
        AppError::Unreadable(e.to_string())
    }
}

impl From<CatalogError> for AppError {
    fn from(e: CatalogError) -> Self {
        AppError::from(&e)
    }
}
