use clap::Parser;
use letterbox::cli::wait::{Outcome, WaitArgs};
use letterbox::config::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().into_command() {
        Command::Serve(config) => serve(&config).await,
        Command::Wait(args) => wait(&args).await,
    }
}

/// Exit codes: 0 found (JSON on stdout), 1 timed out, 2 anything else.
async fn wait(args: &WaitArgs) -> anyhow::Result<()> {
    match letterbox::cli::wait::run(args).await {
        Ok(Outcome::Found(json)) => {
            println!("{json}");
            Ok(())
        }
        Ok(Outcome::TimedOut(reason)) => {
            eprintln!("letterbox wait: timed out: {reason}");
            std::process::exit(1)
        }
        Err(err) => {
            eprintln!("letterbox wait: {err}");
            std::process::exit(2)
        }
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let letterbox = letterbox::start(config).await?;
    let tls = if letterbox.self_signed_tls {
        "STARTTLS with a self-signed certificate"
    } else {
        "STARTTLS"
    };
    println!("Letterbox {} is ready.", env!("CARGO_PKG_VERSION"));
    println!("  SMTP   {} ({tls})", letterbox.smtp_addr);
    if let Some(addr) = letterbox.smtps_addr {
        println!("  SMTPS  {addr}");
    }
    println!("  Web    http://{}", letterbox.http_addr);
    println!("  Store  {}", letterbox.store.path().display());

    shutdown_signal().await;
    tracing::info!("shutting down");
    letterbox.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
