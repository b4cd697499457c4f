//! `nic-ledger export` and `nic-ledger import`: the whole log to and from NDJSON files, over
//! `nic_app::transfer`, with a progress bar. Both formats are NDJSON: one JSON object per line,
//! the recorded event exactly as the store keeps it (`ndjson`, the format `import` reads back) or
//! a structured-mode CloudEvents 1.0 JSON event (`cloudevents`).

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nic_app::transfer::{self, Format};

use crate::progress::Bar;

/// The formats, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// The recorded events, one per line, exactly as stored: `nic-ledger import` reads it back.
    Ndjson,
    /// One CloudEvents 1.0 (structured-mode JSON) event per line.
    Cloudevents,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Cloudevents => Format::CloudEvents,
        }
    }
}

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
    let written = transfer::export(store.as_ref(), format.into(), &mut *out, |p| {
        bar.draw(p.position, p.head, &format!("({} events)", p.events))
    })
    .await?;
    out.flush()?;
    drop(out);
    bar.finish();
    eprintln!(
        "exported {written} events as {}{}",
        transfer::format_name(format.into()),
        output.map_or(String::new(), |p| format!(" to {}", p.display()))
    );
    Ok(())
}

/// `nic-ledger import FILE`: migrates, refuses a store that holds events, checks the whole file
/// (every hash chain) before writing anything, writes it with a progress bar, then walks the
/// chains of the store it wrote. Exits 1 when a chain is broken afterwards.
pub async fn import_command(
    database_url: &str,
    file: &PathBuf,
    keys: Option<&std::path::Path>,
) -> anyhow::Result<()> {
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
    let (imported, report) = transfer::import(store.as_ref(), &admin, input, |done, total| {
        bar.draw(done, total, "")
    })
    .await
    .with_context(|| format!("import {}", file.display()))?;
    bar.finish();
    println!("imported {imported} events from {}", file.display());
    report_chains(&report);
    if let Some(keys) = keys {
        crate::privacy::import_keys(database_url, keys).await?;
    }
    Ok(())
}

/// Says whether every chain is intact; exits 1 at the first break.
pub fn report_chains(report: &nic_store::ChainReport) {
    match &report.first_break {
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
}
