use std::process::ExitCode;

use letterbox::cli::{healthcheck, sendmail};
use letterbox::config::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = match Cli::parse_process() {
        Ok(cli) => cli.into_command(),
        Err(err) => return fail(&err, 2),
    };
    match command {
        Command::Serve(config) => match serve(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&*err, 1),
        },
        Command::Healthcheck(args) => match healthcheck::run(&args) {
            Ok(url) => {
                println!("ready: {url}");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err, 1),
        },
        Command::Sendmail(args) => match sendmail::run(&args) {
            Ok(output) => {
                output.iter().for_each(|line| println!("{line}"));
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err, err.exit_code()),
        },
    }
}

/// One line on stderr naming the problem, and a failing exit code.
fn fail(err: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("letterbox: {err}");
    ExitCode::from(code)
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
    if let Some(addr) = letterbox.metrics_addr {
        println!("  Metrics http://{addr}/metrics");
    }
    println!("  Web    {}", letterbox.web_url);
    println!("  Store  {}", letterbox.store.path().display());

    shutdown_signal().await?;
    tracing::info!("shutting down");
    letterbox.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    ctrl_c.await
}
