//! Export and import of the whole log: `nic-ledger export` and `nic-ledger import` on the command
//! line, and `GET /api/v1/export` over HTTP, all over `nic_store::transfer`.
//!
//! Both formats are NDJSON (`application/x-ndjson`): one JSON object per line, either the recorded
//! event exactly as the store keeps it (`ndjson`, the format `import` reads back) or the event as a
//! structured-mode CloudEvents 1.0 JSON event (`cloudevents`; one event per line, not the
//! `application/cloudevents-batch+json` array). The HTTP answer is written page by page as the log
//! is read; the whole log is never held in memory.

use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use nic_store::transfer::{self, ExportPages, Format};
use serde::Deserialize;

use crate::commands::App;
use crate::problem::Problem;

/// The formats, as the command line and the API name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// The recorded events, one per line, exactly as stored: `nic-ledger import` reads it back.
    Ndjson,
    /// One CloudEvents 1.0 (structured-mode JSON) event per line.
    Cloudevents,
}

impl FormatArg {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ndjson" => Some(Self::Ndjson),
            "cloudevents" => Some(Self::Cloudevents),
            _ => None,
        }
    }

    fn format(self) -> Format {
        match self {
            Self::Ndjson => Format::Ndjson,
            Self::Cloudevents => Format::CloudEvents,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Cloudevents => "cloudevents",
        }
    }
}

/// The media type of both formats: one JSON object per line.
pub const NDJSON: &str = "application/x-ndjson";

// ---------------------------------------------------------------------------------------------
// Progress bar

/// Characters between the brackets of the progress bar.
const BAR_WIDTH: usize = 30;
/// Redraws at most this often (and always at the end).
const BAR_REDRAW_MS: u64 = 100;

/// A progress bar drawn by hand on standard error: `[=====>    ]  45% 12345/27000 events`.
struct Bar {
    what: &'static str,
    last: Option<Instant>,
    drawn: bool,
}

impl Bar {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            last: None,
            drawn: false,
        }
    }

    /// Draws `done` out of `total`, with `note` after it.
    fn draw(&mut self, done: u64, total: u64, note: &str) {
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now - t >= Duration::from_millis(BAR_REDRAW_MS));
        if !due && done < total {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        eprint!("\r{} {}", render(done, total), self.what);
        if !note.is_empty() {
            eprint!(" {note}");
        }
        // When standard error is a file or a pipe, each drawing is a line of its own.
        if !std::io::stderr().is_terminal() {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.drawn && std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}

/// `[=====>    ]  45% 12345/27000`.
fn render(done: u64, total: u64) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let bar: String = (0..BAR_WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    format!("[{bar}] {:>3.0}% {done}/{total}", fraction * 100.0)
}

// ---------------------------------------------------------------------------------------------
// The command line

/// `nic-ledger export`: the whole log, up to its head when the export starts, to `output` (or
/// standard output), with a progress bar on standard error.
pub async fn export_command(
    database_url: &str,
    format: FormatArg,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let store = nic_store::open(database_url)
        .await
        .context("open the database")?;
    let mut out: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut bar = Bar::new("positions");
    let written = transfer::export(store.as_ref(), format.format(), &mut *out, |p| {
        bar.draw(p.position, p.head, &format!("({} events)", p.events))
    })
    .await?;
    out.flush()?;
    drop(out);
    bar.finish();
    eprintln!(
        "exported {written} events as {}{}",
        format.name(),
        output.map_or(String::new(), |p| format!(" to {}", p.display()))
    );
    Ok(())
}

/// `nic-ledger import FILE`: migrates, refuses a store that holds events, checks the whole file
/// (every hash chain) before writing anything, writes it with a progress bar, then walks the
/// chains of the store it wrote. Exits 1 when a chain is broken afterwards.
pub async fn import_command(database_url: &str, file: &PathBuf) -> anyhow::Result<()> {
    let store = nic_store::open(database_url)
        .await
        .context("open the database")?;
    store.migrate().await.context("apply the migrations")?;
    let admin = nic_store::admin::Admin::connect(database_url)
        .await
        .context("open the database")?;
    let input = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?,
    );
    let mut bar = Bar::new("events");
    let imported = transfer::import_ndjson(store.as_ref(), &admin, input, |done, total| {
        bar.draw(done, total, "")
    })
    .await
    .with_context(|| format!("import {}", file.display()))?;
    bar.finish();
    println!("imported {imported} events from {}", file.display());
    let report = nic_store::verify_chains(store.as_ref(), |_| {}).await?;
    match report.first_break {
        None => println!(
            "intact: {} events in {} streams",
            report.events_checked, report.streams_checked
        ),
        Some(b) => {
            println!(
                "broken at global position {} (stream {}, version {}): {}",
                b.global_position, b.stream_id, b.stream_version, b.reason
            );
            std::process::exit(1);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The API

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// ndjson (default) or cloudevents.
    format: Option<String>,
}

/// `GET /api/v1/export?format=ndjson|cloudevents`: the whole log up to its head when the request
/// arrives, streamed page by page as NDJSON, as an attachment named after the format and head.
pub async fn export(
    State(store): State<App>,
    query: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("invalid-query", e.body_text()))?;
    let format = match q.format.as_deref() {
        None => FormatArg::Ndjson,
        Some(f) => FormatArg::parse(f).ok_or_else(|| {
            Problem::new(
                "invalid-query",
                format!("format is ndjson or cloudevents; got {f:?}"),
            )
        })?,
    };
    let pages = ExportPages::start(store.as_ref()).await?;
    let filename = format!("nic-ledger-{}-{}.ndjson", format.name(), pages.head());
    let body = futures::stream::try_unfold((store, pages), move |(store, mut pages)| async move {
        let page = pages.next(store.as_ref()).await.inspect_err(|e| {
            tracing::error!(error = %e, "an export stopped: the store failed");
        })?;
        if page.is_empty() {
            return Ok::<_, nic_store::StoreError>(None);
        }
        Ok(Some((
            transfer::lines(format.format(), &page),
            (store, pages),
        )))
    });
    Ok((
        [
            (header::CONTENT_TYPE, NDJSON.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_fraction_done() {
        assert_eq!(
            render(0, 10),
            format!("[>{}]   0% 0/10", " ".repeat(BAR_WIDTH - 1))
        );
        let half = render(5, 10);
        assert!(
            half.starts_with(&format!("[{}>", "=".repeat(BAR_WIDTH / 2))),
            "{half}"
        );
        assert!(half.ends_with(" 50% 5/10"), "{half}");
        assert_eq!(
            render(10, 10),
            format!("[{}] 100% 10/10", "=".repeat(BAR_WIDTH))
        );
        assert!(render(0, 0).contains("100%"));
    }
}
