//! The command line: `letterbox` serves, or runs one of the helper
//! commands; `MP_*` variables are read as fallbacks for serving.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::commands::{HealthcheckArgs, SendmailArgs, WaitArgs};
use super::transfer::{DumpArgs, IngestArgs, MigrateArgs};
use super::{ConfigError, ServeArgs, mailpit};

/// The command line: serving is the default; the other commands are
/// helpers that talk to a running Letterbox.
#[derive(Debug, Parser)]
#[command(
    name = "letterbox",
    version,
    about = "A mail catcher for developers: SMTP in, SQLite store, web UI and JSON API.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the mail catcher (what `letterbox` alone does).
    Serve(Box<ServeArgs>),
    /// Wait for a matching message to arrive at a running Letterbox; print
    /// it as JSON and exit 0, or exit 1 on timeout.
    Wait(WaitArgs),
    /// Exit 0 when the Letterbox on this machine is ready (for container
    /// health checks).
    Healthcheck(HealthcheckArgs),
    /// A drop-in for /usr/sbin/sendmail: read a message on stdin and hand it
    /// to Letterbox over SMTP. Also what a link named `sendmail` runs.
    Sendmail(SendmailArgs),
    /// Import .eml files, mbox files, Maildirs and dumps into a store (or
    /// over SMTP into a running Letterbox).
    Ingest(IngestArgs),
    /// Write every message (or every match of a query) to a directory of
    /// .eml files with a JSON index, or to an mbox file.
    Dump(DumpArgs),
    /// Copy every message of one store into another.
    Migrate(MigrateArgs),
}

impl Cli {
    /// Parses the process's command line, reading Mailpit's `MP_*`
    /// variables as fallbacks. Usage errors print clap's message and exit;
    /// a bad `MP_*` value is returned.
    pub fn parse_process() -> Result<Cli, ConfigError> {
        let args = alias_args(std::env::args_os().collect());
        let matches = Cli::command().get_matches_from(args);
        Cli::from_matches(&matches, &|name| std::env::var(name).ok())
    }

    /// Like [`Cli::parse_process`] over given arguments and `MP_*` lookup.
    pub fn try_parse_with(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Cli, ParseError> {
        let matches = Cli::command().try_get_matches_from(args)?;
        Ok(Cli::from_matches(&matches, env)?)
    }

    fn from_matches(
        matches: &ArgMatches,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Cli, ConfigError> {
        let mut cli =
            Cli::from_arg_matches(matches).map_err(|e| ConfigError::Args(e.to_string()))?;
        match &mut cli.command {
            None => mailpit::apply(&mut cli.serve, matches, env)?,
            Some(Command::Serve(serve)) => {
                let sub = matches
                    .subcommand_matches("serve")
                    .expect("the serve command was parsed from these matches");
                mailpit::apply(serve, sub, env)?;
            }
            Some(_) => {}
        }
        Ok(cli)
    }

    /// What to run; options given without a command mean `serve`.
    pub fn into_command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(Box::new(self.serve)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The command line of a `sendmail` link is `letterbox sendmail` with the
/// same arguments.
fn alias_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|name| name.to_os_string());
    if invoked_as.is_some_and(|name| name == "sendmail") {
        args.insert(1, "sendmail".into());
    }
    args
}

impl ServeArgs {
    /// The serving arguments from `LETTERBOX_*` (and `MP_*`) variables
    /// alone, as `letterbox` started in this environment would use them.
    pub fn from_env() -> Result<ServeArgs, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        match Cli::try_parse_with(["letterbox"], &env) {
            Ok(cli) => match cli.into_command() {
                Command::Serve(args) => Ok(*args),
                _ => unreachable!("no arguments mean serve"),
            },
            Err(ParseError::Config(err)) => Err(err),
            Err(ParseError::Clap(err)) => Err(ConfigError::Args(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_and_a_subcommand() {
        let top = super::super::parse(["letterbox", "--smtp", "127.0.0.1:2525"]).unwrap();
        let sub = super::super::parse(["letterbox", "serve", "--smtp", "127.0.0.1:2525"]).unwrap();
        assert_eq!(top.smtp, sub.smtp);
    }

    #[test]
    fn invoked_through_a_sendmail_link() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            alias_args(os(&["/usr/sbin/sendmail", "-t"])),
            os(&["/usr/sbin/sendmail", "sendmail", "-t"])
        );
        assert_eq!(
            alias_args(os(&["letterbox", "-t"])),
            os(&["letterbox", "-t"])
        );
    }
}
