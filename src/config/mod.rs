//! Configuration, the top layer: every clap struct (the serving flags,
//! the relay's, the helper commands'), Mailpit's `MP_*` variables as
//! fallbacks, and the checks that turn the arguments, once, into the plain
//! settings the layers below take ([`crate::server::Settings`] and the
//! helper commands' options). Nothing below imports this module.

mod args;
mod auth;
mod commands;
mod mailpit;
mod pop3;
mod relay;
mod serve;
mod settings;
mod transfer;
mod webhook;

pub use args::{Cli, Command, ParseError};
pub use commands::{HealthcheckArgs, SendmailArgs, WaitArgs};
pub use pop3::Pop3Args;
pub use relay::{RelayArgs, RelayArgsError};
pub use serve::{ServeArgs, SmtpTls, parse_webroot};
pub use transfer::{DumpArgs, IngestArgs, MigrateArgs};
pub use webhook::{WebhookArgs, WebhookArgsError};

use crate::domain::chaos::RuleError;
use crate::web::auth::UiAuthError;

/// A setting that cannot work, found before anything is opened or bound.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: credential {entry:?} is not of the form user:password")]
    Credential { origin: String, entry: String },
    #[error("no data directory known for this system (HOME is not set); pass --db")]
    NoDataDir,
    #[error("{0}")]
    Args(String),
    #[error("{name}={value:?}: {problem}")]
    Mailpit {
        name: &'static str,
        value: String,
        problem: String,
    },
    #[error(transparent)]
    UiAuth(#[from] UiAuthError),
    #[error(transparent)]
    Relay(#[from] RelayArgsError),
    #[error(transparent)]
    Webhook(#[from] WebhookArgsError),
    #[error("--api-cors: {0}")]
    Cors(String),
    #[error("--chaos: {0}")]
    Chaos(#[from] RuleError),
    #[error("{0}")]
    Pop3(String),
    #[error(
        "{0} needs a certificate: give --smtp-tls-cert and --smtp-tls-key, or --smtp-tls self-signed"
    )]
    NoSmtpCertificate(&'static str),
    #[error(
        "--smtp-data-budget {budget} is smaller than --max-message-size {message}: no message that size could be received"
    )]
    DataBudget { budget: u64, message: u64 },
}

/// The serving arguments of a command line, without `MP_*` variables.
#[cfg(test)]
fn parse(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<ServeArgs, ParseError> {
    match Cli::try_parse_with(args, &|_| None)?.into_command() {
        Command::Serve(serve) => Ok(*serve),
        other => panic!("not a serve command: {other:?}"),
    }
}
