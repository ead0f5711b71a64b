//! The helper commands' flags, each turned into the plain options its
//! command in [`crate::cli`] takes.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, ServeArgs};
use crate::cli::healthcheck::{HealthcheckOptions, LocalServer};
use crate::cli::sendmail::SendmailOptions;
use crate::cli::wait::WaitOptions;
use crate::domain::units::parse_duration;

/// `letterbox wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Search query the message must match (Letterbox's search syntax).
    #[arg(long, short, default_value = "")]
    pub query: String,
    /// Give up after this long (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Only messages after this message ID or RFC 3339 time (default: now).
    #[arg(long)]
    pub after: Option<String>,
    /// Print the whole message (text, HTML, attachments), not the summary.
    #[arg(long)]
    pub full: bool,
    /// Letterbox's web address.
    #[arg(long, env = "LETTERBOX_URL", default_value = "http://127.0.0.1:8025")]
    pub http: String,
}

impl WaitArgs {
    pub fn options(&self) -> WaitOptions {
        WaitOptions {
            query: self.query.clone(),
            timeout: self.timeout,
            after: self.after.clone(),
            full: self.full,
            http: self.http.clone(),
        }
    }
}

/// `letterbox healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the web server, as printed at start (e.g.
    /// http://127.0.0.1:8025/). Default: where `letterbox` started with
    /// this environment listens.
    #[arg(long = "http", value_name = "URL", env = "LETTERBOX_URL")]
    pub url: Option<String>,
}

impl HealthcheckArgs {
    /// The options, with the local server found the way `letterbox`
    /// started in this environment would listen (`LETTERBOX_HTTP`,
    /// `LETTERBOX_WEBROOT`, `LETTERBOX_UI_TLS_CERT`, or their `MP_*`
    /// aliases). An environment `letterbox` would refuse is refused here.
    pub fn options(&self) -> Result<HealthcheckOptions, ConfigError> {
        Ok(HealthcheckOptions {
            url: self.url.clone(),
            local: local_server(&ServeArgs::from_env()?),
        })
    }
}

/// Where a server started with `serve` listens.
fn local_server(serve: &ServeArgs) -> LocalServer {
    LocalServer {
        http: serve.http,
        webroot: serve.webroot.clone(),
        ui_tls_cert: serve.ui_tls_cert.clone(),
    }
}

/// `letterbox sendmail`: what clap parses; the sendmail flags themselves
/// are in `args`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct SendmailArgs {
    /// Where to deliver: Letterbox's SMTP address.
    #[arg(
        long,
        env = "LETTERBOX_SENDMAIL_SMTP_ADDR",
        default_value = "127.0.0.1:1025"
    )]
    pub smtp_addr: String,

    /// Print help (sendmail's own `-h` takes a value, so only `--help`).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Sendmail flags and recipients: -t, -i, -oi, -f SENDER, -bs, ...
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SENDMAIL ARGS"
    )]
    pub args: Vec<String>,
}

impl SendmailArgs {
    pub fn options(&self) -> SendmailOptions {
        SendmailOptions {
            smtp_addr: self.smtp_addr.clone(),
            args: self.args.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn local_url(args: &[&str]) -> String {
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        let serve = parse(args.collect::<Vec<_>>()).unwrap();
        local_server(&serve).url()
    }

    #[test]
    fn all_interfaces_become_loopback() {
        let url = local_url(&["--http", "0.0.0.0:8025"]);
        assert_eq!(url, "http://127.0.0.1:8025/");
        let url = local_url(&["--http", "[::]:8025", "--webroot", "/mail"]);
        assert_eq!(url, "http://[::1]:8025/mail/");
        let url = local_url(&[
            "--http",
            "10.1.2.3:80",
            "--ui-tls-cert",
            "c.pem",
            "--ui-tls-key",
            "k.pem",
        ]);
        assert_eq!(url, "https://10.1.2.3:80/");
    }
}
