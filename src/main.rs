//! The edge: parse the command line, turn it into plain settings or
//! options, run, and report failures as one line and an exit code.

use std::process::ExitCode;

use letterbox::cli::progress::human_bytes;
use letterbox::cli::wait::{Outcome, WaitOptions};
use letterbox::cli::{dump, healthcheck, ingest, migrate, sendmail};
use letterbox::config::{Cli, Command};
use letterbox::server::{self, Settings, SmtpTlsOffer};
use tracing_subscriber::EnvFilter;

/// The static (musl) binary's allocator: see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Serve(args) => match args.settings() {
            Ok(settings) => match serve(&settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&*err, 1),
            },
            Err(err) => fail(&err, 1),
        },
        Command::Wait(args) => wait(&args.options()).await,
        Command::Healthcheck(args) => match args.options() {
            Ok(options) => healthcheck(&options).await,
            Err(err) => fail(&err, 1),
        },
        Command::Sendmail(args) => match sendmail::run(&args.options()).await {
            Ok(output) => {
                output.iter().for_each(|line| println!("{line}"));
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err, err.exit_code()),
        },
        Command::Ingest(args) => match args.options() {
            Ok(options) => match ingest::run(&options).await {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&format!("ingest: {err}"), 1),
            },
            Err(err) => fail(&err, 2),
        },
        Command::Dump(args) => match args.options() {
            Ok(options) => match dump::run(&options).await {
                Ok(report) => {
                    println!(
                        "dumped {} messages ({})",
                        report.messages,
                        human_bytes(report.bytes)
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&format!("dump: {err}"), 1),
            },
            Err(err) => fail(&err, 2),
        },
        Command::Migrate(args) => match args.options() {
            Ok(options) => match migrate::run(&options).await {
                Ok(r) => {
                    println!(
                        "copied {} messages ({}) in {:.1}s; count check passed: the source had {}, the target went from {} to {}",
                        r.copied,
                        human_bytes(r.bytes),
                        r.elapsed.as_secs_f64(),
                        r.source_total,
                        r.target_before,
                        r.target_after
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&format!("migrate: {err}"), 1),
            },
            Err(err) => fail(&err, 2),
        },
    }
}

/// Exit codes: 0 found (JSON on stdout), 1 timed out, 2 anything else.
async fn wait(args: &WaitOptions) -> ExitCode {
    match letterbox::cli::wait::run(args).await {
        Ok(Outcome::Found(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::TimedOut(reason)) => fail(&format!("wait: timed out: {reason}"), 1),
        Err(err) => fail(&format!("wait: {err}"), 2),
    }
}

/// Exit 0 with the URL that answered, or 1.
async fn healthcheck(options: &healthcheck::HealthcheckOptions) -> ExitCode {
    match healthcheck::run(options).await {
        Ok(url) => {
            println!("ready: {url}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err, 1),
    }
}

/// One line on stderr naming the problem, and a failing exit code.
fn fail(err: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("letterbox: {err}");
    ExitCode::from(code)
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM that comes right after "ready" must find
    // them installed, not the default action that kills the process.
    let stop = shutdown_signal()?;
    let letterbox = server::start(settings).await?;
    let tls = match letterbox.smtp_tls {
        SmtpTlsOffer::None => "no TLS",
        SmtpTlsOffer::StartTls => "STARTTLS",
        SmtpTlsOffer::SelfSigned => "STARTTLS with a self-signed certificate",
    };
    println!("Letterbox {} is ready.", env!("CARGO_PKG_VERSION"));
    println!("  SMTP   {} ({tls})", letterbox.smtp_addr);
    if let Some(addr) = letterbox.smtps_addr {
        println!("  SMTPS  {addr}");
    }
    if let Some(addr) = letterbox.pop3_addr {
        println!("  POP3   {addr}");
    }
    if let Some(addr) = letterbox.pop3s_addr {
        println!("  POP3S  {addr}");
    }
    if let Some(addr) = letterbox.metrics_addr {
        println!("  Metrics http://{addr}/metrics");
    }
    println!("  Web    {}", letterbox.web_url);
    println!("  Store  {}", letterbox.store.describe().location);
    let chaos = letterbox.chaos.rules();
    if chaos.is_active() {
        println!("  Chaos  {chaos} (SMTP failures injected on purpose)");
    }

    stop.await;
    tracing::info!("shutting down");
    letterbox.shutdown().await;
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers; the future completes when
/// either signal arrives.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
