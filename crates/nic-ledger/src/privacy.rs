//! `forget` and `keys`: erasing personal data from the command line, and the key file that opens
//! what the log keeps sealed (`nic_app::privacy`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use nic_app::privacy::Subject;
use nic_events::catalog::ErasureBasis;
use nic_events::Title;

/// Whose personal data `forget` erases: one of these.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct SubjectArgs {
    /// A token holder (the token's id): its name and everything it wrote; a live token is
    /// revoked.
    #[arg(long, conflicts_with_all = ["program", "event", "retention"])]
    token: Option<uuid::Uuid>,
    /// A program, with --name: every personal text of it that contains the name (any case); the
    /// name is not recorded.
    #[arg(long, requires = "name", conflicts_with_all = ["event", "retention"])]
    program: Option<uuid::Uuid>,
    #[arg(long, requires = "program")]
    name: Option<String>,
    /// One event's field, with --field (a JSON pointer such as /study/summary).
    #[arg(long, requires = "field", conflicts_with = "retention")]
    event: Option<uuid::Uuid>,
    #[arg(long, requires = "event")]
    field: Option<String>,
    /// The free text of programs withdrawn longer than their network's retention period.
    #[arg(long)]
    retention: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BasisArg {
    Request,
    Mistake,
    Retention,
    Agreement,
}

impl From<BasisArg> for ErasureBasis {
    fn from(b: BasisArg) -> Self {
        match b {
            BasisArg::Request => Self::Request,
            BasisArg::Mistake => Self::Mistake,
            BasisArg::Retention => Self::Retention,
            BasisArg::Agreement => Self::Agreement,
        }
    }
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Write the key file (one key per line). Recorded in the log: whoever holds the file can
    /// open what was sealed until now, including what is erased later, so keep it as briefly as
    /// a restore needs and export it again after every erasure.
    Export {
        /// The file to write (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Why it is exported (a backup, a move), recorded with it.
        #[arg(long)]
        reason: Option<String>,
    },
}

fn actor() -> String {
    format!("cli:{}", crate::whoami())
}

fn title(what: &str, text: Option<String>) -> anyhow::Result<Option<Title>> {
    text.map(|t| Title::parse(t).with_context(|| format!("--{what}")))
        .transpose()
}

/// `nic-ledger forget`.
pub async fn forget(
    database_url: &str,
    subject: SubjectArgs,
    basis: BasisArg,
    reference: Option<String>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let app = nic_app::App::in_memory(crate::open_stored(database_url).await?);
    let reference = title("reference", reference)?;
    if subject.retention {
        let due = app
            .run_retention(&actor(), chrono::Utc::now(), dry_run)
            .await?;
        if due.is_empty() {
            println!("no withdrawn program's text is past its network's retention period");
        }
        for d in &due {
            println!(
                "program {} (withdrawn {}, kept {} days): {} fields in {} events{}",
                d.program_id,
                d.withdrawn_at.format("%Y-%m-%d"),
                d.days,
                d.report.fields,
                d.report.events,
                if dry_run {
                    " would be erased"
                } else {
                    " erased"
                }
            );
        }
        return Ok(());
    }
    let subject = match subject {
        SubjectArgs {
            token: Some(token_id),
            ..
        } => Subject::Person { token_id },
        SubjectArgs {
            program: Some(program_id),
            name: Some(name),
            ..
        } => Subject::NamedInProgram { program_id, name },
        SubjectArgs {
            event: Some(event_id),
            field: Some(field),
            ..
        } => Subject::Field { event_id, field },
        _ => anyhow::bail!(
            "give --token, --program with --name, --event with --field, or --retention"
        ),
    };
    let report = app
        .erase(&actor(), subject, basis.into(), reference, dry_run)
        .await?;
    for f in &report.found {
        println!("{}\t{}\t{}\t{}", f.stream_id, f.event_id, f.field, f.class);
    }
    match report.erasure_id {
        Some(id) => println!(
            "erased {} fields in {} events (privacy-{id})",
            report.fields, report.events
        ),
        None if dry_run => println!(
            "would erase {} fields in {} events",
            report.fields, report.events
        ),
        None => println!("nothing to erase"),
    }
    eprintln!("{}", report.kept);
    Ok(())
}

/// `nic-ledger keys`.
pub async fn keys(database_url: &str, action: KeysAction) -> anyhow::Result<()> {
    let KeysAction::Export { output, reason } = action;
    let app = nic_app::App::in_memory(crate::open_stored(database_url).await?);
    let reason = title("reason", reason)?;
    let mut out: Box<dyn Write + Send> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let count = app.export_keys(&actor(), reason, &mut out).await?;
    out.flush()?;
    eprintln!("exported {count} keys");
    Ok(())
}

/// Reads a key file into the store after an import.
pub async fn import_keys(database_url: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let app = nic_app::App::in_memory(crate::open_stored(database_url).await?);
    let mut input = std::io::BufReader::new(
        std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?,
    );
    let (written, left_out) = app.import_keys(&mut input).await?;
    println!(
        "imported {written} keys from {}; left out {left_out} that the log's erasures destroyed",
        path.display()
    );
    Ok(())
}
