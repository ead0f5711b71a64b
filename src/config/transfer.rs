//! The flags of the commands that move mail in bulk (`ingest`, `dump`,
//! `migrate`), turned into their plain options. A store is named as
//! `--db` names it when serving, and read by the same function, so every
//! location `letterbox --db` accepts works here too.

use std::path::PathBuf;

use clap::Args;

use super::{ConfigError, ServeArgs};
use crate::cli::dump::{DumpOptions, DumpTarget};
use crate::cli::ingest::{IngestOptions, Target};
use crate::cli::migrate::MigrateOptions;
use crate::domain::archive::MboxFormat;
use crate::domain::inbox::Rule;
use crate::domain::search::Query;
use crate::store::StoreConfig;

/// The store `--db LOCATION` names (by default, the one `letterbox`
/// started in this environment would use: `LETTERBOX_DB`, `MP_DATABASE`
/// or the data directory), without retention (the server applies its own
/// when it starts), and the inbox rules of this environment.
fn store_at(db: Option<&str>) -> Result<(StoreConfig, Vec<Rule>), ConfigError> {
    let mut serve = ServeArgs::from_env()?;
    if let Some(db) = db {
        serve.db = Some(db.to_string());
    }
    let config = StoreConfig {
        location: serve.store_location()?,
        max_messages: 0,
        max_age: None,
        durability: serve.durability(),
    };
    Ok((config, serve.inbox_rules))
}

/// Which mbox quoting a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MboxFormatArg {
    Mboxrd,
    Mboxo,
}

/// `letterbox ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// .eml files, mbox files, Maildirs, dump directories, or directories
    /// holding any of them (read recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The store to import into (default: the one `letterbox` uses here).
    #[arg(long, value_name = "LOCATION")]
    pub db: Option<String>,
    /// Send the messages over SMTP to a running Letterbox instead.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["db", "keep_dates"])]
    pub smtp: Option<String>,
    /// Use each message's Date: header (or its mbox From line's date) as
    /// its received time, rather than now.
    #[arg(long)]
    pub keep_dates: bool,
    /// How mbox files quote body lines starting with "From ": mboxrd
    /// (what Letterbox, mutt and most current tools write) or mboxo. They
    /// differ only for lines starting with ">>From ".
    #[arg(long, value_enum, default_value = "mboxrd")]
    pub mbox_format: MboxFormatArg,
}

impl IngestArgs {
    pub fn options(&self) -> Result<IngestOptions, ConfigError> {
        let target = match &self.smtp {
            Some(addr) => Target::Smtp(addr.clone()),
            None => {
                let (config, inbox_rules) = store_at(self.db.as_deref())?;
                Target::Store {
                    config,
                    inbox_rules,
                }
            }
        };
        Ok(IngestOptions {
            paths: self.paths.clone(),
            mbox_format: match self.mbox_format {
                MboxFormatArg::Mboxrd => MboxFormat::Rd,
                MboxFormatArg::Mboxo => MboxFormat::O,
            },
            keep_dates: self.keep_dates,
            target,
        })
    }
}

/// `letterbox dump`.
#[derive(Debug, Clone, Args)]
pub struct DumpArgs {
    /// The directory to write one .eml per message and index.json into.
    #[arg(
        value_name = "DIR",
        required_unless_present = "mbox",
        conflicts_with = "mbox"
    )]
    pub dir: Option<PathBuf>,
    /// Write one mbox file (mboxrd) instead.
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<PathBuf>,
    /// Only the messages matching this search query.
    #[arg(long, short, default_value = "")]
    pub query: String,
    /// The store to dump (default: the one `letterbox` uses here).
    #[arg(long, value_name = "LOCATION")]
    pub db: Option<String>,
}

impl DumpArgs {
    pub fn options(&self) -> Result<DumpOptions, ConfigError> {
        let query = Query::parse(self.query.trim())
            .map_err(|e| ConfigError::Args(format!("--query: {e}")))?;
        let target = match (&self.mbox, &self.dir) {
            (Some(file), _) => DumpTarget::Mbox(file.clone()),
            (None, Some(dir)) => DumpTarget::Directory(dir.clone()),
            (None, None) => unreachable!("clap requires DIR or --mbox"),
        };
        Ok(DumpOptions {
            store: store_at(self.db.as_deref())?.0,
            query,
            target,
        })
    }
}

/// `letterbox migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The store to copy from, as --db names it.
    #[arg(long, value_name = "LOCATION")]
    pub from: String,
    /// The store to copy into, as --db names it.
    #[arg(long, value_name = "LOCATION")]
    pub to: String,
}

impl MigrateArgs {
    pub fn options(&self) -> Result<MigrateOptions, ConfigError> {
        Ok(MigrateOptions {
            from: store_at(Some(&self.from))?.0,
            to: store_at(Some(&self.to))?.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};

    fn command(args: &[&str]) -> Result<Command, String> {
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        Cli::try_parse_with(args, &|_| None)
            .map(Cli::into_command)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ingest_takes_paths_and_refuses_flags_smtp_cannot_carry() {
        let Ok(Command::Ingest(args)) = command(&["ingest", "a.mbox", "dir", "--keep-dates"])
        else {
            panic!("not an ingest");
        };
        assert_eq!(args.paths.len(), 2);
        assert!(command(&["ingest"]).is_err(), "a path is required");
        assert!(command(&["ingest", "--smtp", "h:25", "--keep-dates", "a"]).is_err());
        assert!(command(&["ingest", "--smtp", "h:25", "--db", "x.db", "a"]).is_err());
        assert!(command(&["ingest", "--mbox-format", "mboxcl", "a"]).is_err());
    }

    #[test]
    fn dump_writes_a_directory_or_an_mbox() {
        assert!(command(&["dump"]).is_err(), "DIR or --mbox is required");
        assert!(command(&["dump", "out", "--mbox", "a.mbox"]).is_err());
        let Ok(Command::Dump(args)) = command(&["dump", "--mbox", "a.mbox", "-q", "is:unread"])
        else {
            panic!("not a dump");
        };
        assert_eq!(args.query, "is:unread");
    }

    #[test]
    fn migrate_needs_both_stores() {
        assert!(command(&["migrate", "--from", "a.db"]).is_err());
        assert!(matches!(
            command(&["migrate", "--from", "a.db", "--to", "b.db"]),
            Ok(Command::Migrate(_))
        ));
    }
}
