//! `nic-ledger`: the one binary of NIC Ledger. Each subcommand is a thin shell over the crates:
//! `serve` runs the HTTP API, `migrate` applies the store's migrations, `verify` walks the hash
//! chains.

mod api;
mod commands;
mod extract;
mod live;
mod openapi;
mod problem;
mod projections;
mod routes;

use std::future::IntoFuture;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// How long open connections (live streams end at once) may take to finish after a shutdown
/// signal before the process exits anyway.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// The embedded default: a SQLite file in the working directory, created on first use.
const DEFAULT_DATABASE_URL: &str = "sqlite://nic-ledger.db";

#[derive(Parser)]
#[command(
    name = "nic-ledger",
    version,
    about = "The event-sourced record of a Networked Improvement Community"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API. With no configuration: 127.0.0.1:8080, on a SQLite file it creates.
    Serve {
        #[arg(long, env = "NIC_LEDGER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Apply the migrations of the backend the database URL names.
    Migrate {
        /// postgres://… or sqlite://PATH
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Walk every stream's hash chain and report the first event whose stored content no longer
    /// matches, or that all is intact. Exits 1 when a chain is broken.
    Verify {
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            database_url,
        } => {
            let store = nic_store::open(&database_url)
                .await
                .context("open the database")?;
            store.migrate().await.context("apply the migrations")?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .context("bind")?;
            println!("nic-ledger serving on http://{}", listener.local_addr()?);
            // One signal stops everything this process started: the projections' follower, every
            // live stream (and with it its reader) and the server.
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            let projections = std::sync::Arc::new(projections::Projections::new());
            let follower = projections::follow(store.clone(), projections.clone(), stop.clone());
            let app = routes::router(store, projections, live::Live::new(stop.clone()));
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                let _ = stop_tx.send(true);
            });
            let mut stopped = stop.clone();
            let grace = async move {
                let _ = stopped.wait_for(|s| *s).await;
                tokio::time::sleep(std::time::Duration::from_secs(SHUTDOWN_GRACE_SECS)).await;
            };
            tokio::select! {
                r = server.into_future() => r?,
                _ = grace => tracing::warn!("connections still open after the grace period; exiting"),
            }
            follower.abort();
            let _ = follower.await;
        }
        Command::Migrate { database_url } => {
            let store = nic_store::open(&database_url)
                .await
                .context("open the database")?;
            store.migrate().await.context("apply the migrations")?;
            println!("migrations applied ({:?})", store.backend());
        }
        Command::Verify { database_url } => {
            let store = nic_store::open(&database_url)
                .await
                .context("open the database")?;
            let report = nic_store::verify_chains(store.as_ref(), |n| {
                eprint!("\rverified {n} events");
            })
            .await?;
            eprintln!();
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
        }
    }
    Ok(())
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
