//! Export and import of the whole log, over `nic_store::transfer`: export writes the log up to its
//! head when the export starts as NDJSON (the recorded events exactly as stored, which import
//! reads back) or as CloudEvents 1.0 JSON lines; import checks every chain of a file before
//! writing it into an empty store, then verifies the chains of the store it wrote.

use std::io::{BufRead, Write};

use nic_store::admin::Admin;
pub use nic_store::transfer::Format;
use nic_store::transfer::{self, ExportPages, ExportProgress};
use nic_store::{ChainReport, EventStore};

use crate::{AppError, Principal};

/// The media type of both formats: one JSON object per line.
pub const NDJSON: &str = "application/x-ndjson";

/// A format by the name the command line and the API give it.
pub fn format_named(name: &str) -> Option<Format> {
    match name {
        "ndjson" => Some(Format::Ndjson),
        "cloudevents" => Some(Format::CloudEvents),
        _ => None,
    }
}

/// The name of a format.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Ndjson => "ndjson",
        Format::CloudEvents => "cloudevents",
    }
}

/// The log up to its head now, page by page, as `reader` may read it (`Principal::log_categories`),
/// for a caller that writes as it reads.
pub async fn export_pages(
    store: &dyn EventStore,
    reader: &Principal,
) -> Result<ExportPages, AppError> {
    let categories = reader.log_categories(Vec::new())?;
    Ok(ExportPages::start(store, categories).await?)
}

/// Writes the whole log (up to its head when called) to `out`; `progress` hears each page.
/// Returns the events written.
pub async fn export(
    store: &dyn EventStore,
    format: Format,
    out: &mut (dyn Write + Send),
    progress: impl FnMut(ExportProgress),
) -> Result<u64, AppError> {
    Ok(transfer::export(store, format, out, progress).await?)
}

/// Imports an NDJSON export into an empty store (`progress` hears (done, total)), then verifies
/// every chain of the store it wrote. Returns the events imported and the verification.
pub async fn import(
    store: &dyn EventStore,
    admin: &Admin,
    input: impl BufRead,
    progress: impl FnMut(u64, u64),
) -> Result<(u64, ChainReport), AppError> {
    let imported = transfer::import_ndjson(store, admin, input, progress).await?;
    let report = nic_store::verify_chains(store, |_| {}).await?;
    Ok((imported, report))
}
