//! `nic-ledger`: the one binary of NIC Ledger, clap commands and configuration over the crates:
//! `serve` runs the HTTP API (`nic_http::router` over `nic_app::App`), `migrate` applies the
//! store's migrations, `token` manages access tokens, `demo` loads the sample network
//! (`nic_demo`), `verify` walks the hash chains, `rebuild` folds the read models anew, `export`
//! and `import` move the whole log to and from NDJSON (`transfer`).

mod config;
mod privacy;
mod progress;
mod transfer;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// How long open connections (live streams end at once) may take to finish after a shutdown
/// signal before the process exits anyway.
const SHUTDOWN_GRACE_SECS: u64 = 10;
/// How many times a first start on PostgreSQL looks for a token before creating the admin token.
const FIRST_TOKEN_LOOKS: usize = 3;

#[derive(Parser)]
#[command(
    name = "nic-ledger",
    version,
    about = "The event-sourced record of a Networked Improvement Community"
)]
struct Cli {
    /// A TOML configuration file (listen, database_url, log_format); flags and the environment
    /// take precedence over it.
    #[arg(long, env = "NIC_LEDGER_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
    /// Logs on standard error as text (the default) or as JSON lines.
    #[arg(long, env = "NIC_LEDGER_LOG_FORMAT", value_enum, global = true)]
    log_format: Option<config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API. With no configuration: 127.0.0.1:8080, on a SQLite file it creates.
    Serve {
        /// Default 127.0.0.1:8080.
        #[arg(long, env = "NIC_LEDGER_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// A proxy in front of the service whose X-Forwarded-For names the client (repeat, or
        /// comma-separated in the environment); the live feeds' per-address limit counts that.
        #[arg(
            long = "trusted-proxy",
            env = "NIC_LEDGER_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Apply the migrations of the backend the database URL names.
    Migrate {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Load a sample network (the STEM PUSH Network, two years of it) into an empty database,
    /// migrating first; refuses a database that already holds events.
    Demo {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// Seeds the sample's numbers and ids: the same seed loads the same network.
        #[arg(long, default_value_t = nic_demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Manage access tokens: `create` prints a new token alone on standard output.
    Token {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL", global = true)]
        database_url: Option<String>,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Fold the read models anew from the whole log (a progress bar on standard error) and save
    /// them as a new generation of checkpoints; running servers reload it.
    Rebuild {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Walk every stream's hash chain and report the first event whose stored content no longer
    /// matches, or that all is intact. Exits 1 when a chain is broken.
    Verify {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Write the whole log (up to its head when the export starts) as NDJSON: the recorded events
    /// exactly as stored (what `import` reads), or one CloudEvents 1.0 JSON event per line.
    Export {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: transfer::FormatArg,
        /// The file to write (default: standard output).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Import an NDJSON export into an empty database (migrating first), keeping every id,
    /// position, time and hash; checks every chain before writing anything, and verifies the
    /// chains after.
    Import {
        /// The NDJSON export (`nic-ledger export --format ndjson`).
        file: std::path::PathBuf,
        /// The key file taken with it (`nic-ledger keys export`), which opens its personal
        /// fields; keys that the log's erasures destroyed are left out, however old the file.
        #[arg(long)]
        keys: Option<std::path::PathBuf>,
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Erase personal data: the keys of its sealed fields are destroyed, so it reads as
    /// [erased] everywhere and as of any time; the erasure is recorded as an event. Give one
    /// subject: --token, --program with --name, --event with --field, or --retention.
    Forget {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        #[command(flatten)]
        subject: privacy::SubjectArgs,
        /// Why: request, mistake, retention or agreement.
        #[arg(long, value_enum, default_value = "request")]
        basis: privacy::BasisArg,
        /// A ticket or letter number; never the person's name.
        #[arg(long)]
        reference: Option<String>,
        /// List what would be erased, erasing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The key file of personal data, kept apart from log exports.
    Keys {
        /// postgres://… or sqlite://PATH (default: sqlite://nic-ledger.db).
        #[arg(long, env = "DATABASE_URL", global = true)]
        database_url: Option<String>,
        #[command(subcommand)]
        action: privacy::KeysAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it, alone, on standard output (it is shown only this once).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A name people recognise, unique among live tokens.
        #[arg(long)]
        name: String,
        /// A program a facilitator may write for (repeat for several).
        #[arg(long = "program")]
        programs: Vec<uuid::Uuid>,
    },
    /// List the tokens: name, role, programs and whether revoked (never the tokens).
    List,
    /// Revoke the live token of this name: it opens nothing from then on.
    Revoke {
        name: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Admin,
    Facilitator,
    #[value(alias = "improvement_scientist")]
    ImprovementScientist,
    Viewer,
    Admissions,
}

impl From<RoleArg> for nic_events::catalog::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Self::Admin,
            RoleArg::Facilitator => Self::Facilitator,
            RoleArg::ImprovementScientist => Self::ImprovementScientist,
            RoleArg::Viewer => Self::Viewer,
            RoleArg::Admissions => Self::Admissions,
        }
    }
}

/// mimalloc, not the system allocator: the service allocates on one thread and frees on another
/// all the time (pages read on one task and folded on another, requests moving between workers),
/// which glibc's arenas pay for with locks and consolidation. A rebuild used about a quarter less
/// CPU with it (the projections benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = config::File::load(cli.config.as_deref())?;
    init_logs(file.log_format(cli.log_format));
    match cli.command {
        Command::Serve {
            listen,
            trusted_proxies,
            database_url,
        } => {
            let edge = nic_http::Edge {
                trusted_proxies: file.trusted_proxies(trusted_proxies),
                ..nic_http::Edge::default()
            };
            serve(file.listen(listen), edge, &file.database_url(database_url)).await
        }
        Command::Migrate { database_url } => {
            let store = open(&file.database_url(database_url)).await?;
            println!("migrations applied ({:?})", store.backend());
            Ok(())
        }
        Command::Token {
            database_url,
            action,
        } => token(&file.database_url(database_url), action).await,
        Command::Demo { database_url, seed } => {
            let database_url = file.database_url(database_url);
            let store = open(&database_url).await?;
            let summary = nic_demo::load(store.as_ref(), seed).await?;
            print!("{}", summary.report(&database_url));
            Ok(())
        }
        Command::Export {
            database_url,
            format,
            output,
        } => {
            transfer::export_command(&file.database_url(database_url), format, output.as_deref())
                .await
        }
        Command::Import {
            file: path,
            keys,
            database_url,
        } => {
            transfer::import_command(&file.database_url(database_url), &path, keys.as_deref()).await
        }
        Command::Forget {
            database_url,
            subject,
            basis,
            reference,
            dry_run,
        } => {
            let database_url = file.database_url(database_url);
            privacy::forget(&database_url, subject, basis, reference, dry_run).await
        }
        Command::Keys {
            database_url,
            action,
        } => privacy::keys(&file.database_url(database_url), action).await,
        Command::Rebuild { database_url } => rebuild(&file.database_url(database_url)).await,
        Command::Verify { database_url } => verify(&file.database_url(database_url)).await,
    }
}

/// Logs on standard error, as text or JSON lines, filtered by `RUST_LOG` (default: info).
fn init_logs(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Json => logs.json().with_current_span(true).init(),
        config::LogFormat::Text => logs.init(),
    }
}

/// Opens the database and applies its migrations.
/// The store a URL names, migrated, with personal fields sealed on append and opened on read.
async fn open(database_url: &str) -> anyhow::Result<std::sync::Arc<dyn nic_store::EventStore>> {
    Ok(nic_store::sealing::Sealing::new(
        open_stored(database_url).await?,
    ))
}

/// The store a URL names, migrated, read as stored (personal fields sealed).
async fn open_stored(
    database_url: &str,
) -> anyhow::Result<std::sync::Arc<dyn nic_store::EventStore>> {
    let store = nic_store::open(database_url)
        .await
        .context("open the database")?;
    store.migrate().await.context("apply the migrations")?;
    Ok(store)
}

/// `nic-ledger serve`: the HTTP API on `listen` until Ctrl-C or SIGTERM, then a graceful stop.
async fn serve(
    listen: std::net::SocketAddr,
    edge: nic_http::Edge,
    database_url: &str,
) -> anyhow::Result<()> {
    let store = open_stored(database_url).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .context("bind")?;
    let addr = listener.local_addr()?;
    // The read models: checkpointed beside the log, run (applied and saved) by the one
    // process holding their lease, followed in memory by the others.
    let admin = nic_store::admin::Admin::connect(database_url)
        .await
        .context("connect for the checkpoints")?;
    let identity = nic_app::read_models::identity();
    tracing::info!(process = %identity, "starting");
    let app = nic_app::App::new(store, std::sync::Arc::new(admin), identity);
    first_admin_token(&app, addr).await?;
    println!("nic-ledger serving on http://{addr}");
    let follower = app.follow();
    let retention = app.retain();
    // One signal stops everything this process started: the read models' follower, every
    // live stream (and with it its reader) and the server.
    let stopping = app.clone();
    let server = nic_http::serve(listener, nic_http::router(app.clone()), edge, async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stopping.stop();
    });
    let mut stopped = app.stopping();
    let grace = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(std::time::Duration::from_secs(SHUTDOWN_GRACE_SECS)).await;
    };
    tokio::select! {
        () = server => {}
        _ = grace => tracing::warn!("connections still open after the grace period; exiting"),
    }
    // The follower saves its last checkpoint and gives the lease up, unless that hangs.
    app.stop();
    retention.abort();
    let abort = follower.abort_handle();
    if tokio::time::timeout(
        std::time::Duration::from_secs(SHUTDOWN_GRACE_SECS),
        follower,
    )
    .await
    .is_err()
    {
        abort.abort();
    }
    Ok(())
}

/// `nic-ledger token`: create, list or revoke access tokens.
async fn token(database_url: &str, action: TokenAction) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let actor = format!("cli:{}", whoami());
    let registry = nic_app::Registry::new(store, Default::default());
    match action {
        TokenAction::Create {
            role,
            name,
            programs,
        } => {
            let token = registry
                .create(&name, role.into(), programs, &actor)
                .await?;
            println!("{token}");
        }
        TokenAction::List => {
            let tokens = registry.tokens().await?;
            for t in tokens.all() {
                let programs: Vec<String> = t.programs.iter().map(|p| p.to_string()).collect();
                println!(
                    "{}\t{:?}\t{}\t{}",
                    t.name,
                    t.role,
                    if programs.is_empty() {
                        "-".to_string()
                    } else {
                        programs.join(",")
                    },
                    if t.revoked { "revoked" } else { "live" }
                );
            }
        }
        TokenAction::Revoke { name, reason } => {
            registry.revoke(&name, &reason, &actor).await?;
            eprintln!("revoked {name}");
        }
    }
    Ok(())
}

/// `nic-ledger rebuild`: folds the read models anew with a progress bar and saves them as a new
/// generation of checkpoints.
async fn rebuild(database_url: &str) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let admin = nic_store::admin::Admin::connect(database_url).await?;
    let mut bar = progress::Bar::new("events");
    let (generation, position) = nic_app::read_models::rebuild(&store, &admin, |position, head| {
        bar.draw(position, head, "")
    })
    .await?;
    bar.draw(position, position, "");
    bar.finish();
    println!("rebuilt: generation {generation}, position {position}");
    Ok(())
}

/// `nic-ledger verify`: walks every hash chain; exits 1 at the first break.
async fn verify(database_url: &str) -> anyhow::Result<()> {
    let store = nic_store::open(database_url)
        .await
        .context("open the database")?;
    let report = nic_store::verify_chains(store.as_ref(), |n| {
        eprint!("\rverified {n} events");
    })
    .await?;
    eprintln!();
    transfer::report_chains(&report);
    Ok(())
}

/// On the first start against a database without tokens, creates an admin token and prints it,
/// once, with the address to open, so a new user is never locked out.
async fn first_admin_token(app: &nic_app::App, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let any_token = || async { Ok::<_, anyhow::Error>(!app.tokens().tokens().await?.is_empty()) };
    // On PostgreSQL a process's first global reads may trail the latest commits a moment (another
    // process may just have created the token): look again before deciding there is none.
    let looks = if app.store().backend() == nic_store::Backend::Postgres {
        FIRST_TOKEN_LOOKS
    } else {
        1
    };
    for look in 0..looks {
        if look > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if any_token().await? {
            return Ok(());
        }
    }
    let token = match app
        .tokens()
        .create(
            "admin",
            nic_events::catalog::Role::Admin,
            Vec::new(),
            "system:first-start",
        )
        .await
    {
        Ok(token) => token,
        // Refused because it exists after all: another process created it.
        Err(_) if any_token().await? => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    println!(
        "First start: created the admin token below. It is shown only this once; keep it safe.\n\
         \n    {token}\n\n\
         Try:  curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/networks\n\
         More: nic-ledger token create --role viewer --name wall-screen\n"
    );
    Ok(())
}

/// Who runs the command line, for the actor of the events it appends.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Ctrl-C, or SIGTERM (how service managers and containers ask a process to stop).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
