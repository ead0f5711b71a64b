//! Mailpit's most-used environment variables, read as fallbacks so that a
//! compose file written for Mailpit works after changing only the image.
//! A flag or `LETTERBOX_*` variable always wins over an `MP_*` one.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::{ConfigError, ServeArgs, SmtpTls, parse_webroot};
use crate::domain::units::parse_duration;
use crate::relay::TlsMode;

/// One `MP_*` variable: the Letterbox argument it stands in for (`None`
/// when it needs no setting here) and how its value applies.
struct Alias {
    name: &'static str,
    arg: Option<&'static str>,
    apply: fn(&mut ServeArgs, &str) -> Result<(), String>,
}

/// Every alias, in the order of the README's table.
const ALIASES: &[Alias] = &[
    Alias {
        name: "MP_SMTP_BIND_ADDR",
        arg: Some("smtp"),
        apply: |c, v| {
            c.smtp = bind_addr(v)?;
            Ok(())
        },
    },
    Alias {
        name: "MP_UI_BIND_ADDR",
        arg: Some("http"),
        apply: |c, v| {
            c.http = bind_addr(v)?;
            Ok(())
        },
    },
    Alias {
        name: "MP_DATABASE",
        arg: Some("db"),
        apply: |c, v| {
            c.db = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_MAX_MESSAGES",
        arg: Some("max_messages"),
        apply: |c, v| {
            c.max_messages = v.trim().parse().map_err(|_| "not a whole number")?;
            Ok(())
        },
    },
    Alias {
        name: "MP_MAX_AGE",
        arg: Some("max_age"),
        apply: |c, v| {
            c.max_age = Some(parse_duration(v)?);
            Ok(())
        },
    },
    // Letterbox accepts any SMTP login, also without TLS, unless
    // --smtp-auth or --smtp-require-tls say otherwise: Mailpit needs these
    // two for what is already the default here. Only their format is checked.
    Alias {
        name: "MP_SMTP_AUTH_ACCEPT_ANY",
        arg: None,
        apply: |_, v| boolean(v).map(drop),
    },
    Alias {
        name: "MP_SMTP_AUTH_ALLOW_INSECURE",
        arg: None,
        apply: |_, v| boolean(v).map(drop),
    },
    Alias {
        name: "MP_SMTP_TLS_CERT",
        arg: Some("smtp_tls_cert"),
        apply: |c, v| {
            c.smtp_tls_cert = smtp_tls_file(v);
            if c.smtp_tls_cert.is_none() {
                c.smtp_tls = Some(SmtpTls::SelfSigned);
            }
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_TLS_KEY",
        arg: Some("smtp_tls_key"),
        apply: |c, v| {
            c.smtp_tls_key = smtp_tls_file(v);
            Ok(())
        },
    },
    Alias {
        name: "MP_UI_AUTH",
        arg: Some("ui_auth"),
        apply: |c, v| {
            c.ui_auth = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_UI_AUTH_FILE",
        arg: Some("ui_auth_file"),
        apply: |c, v| {
            c.ui_auth_file = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Alias {
        name: "MP_UI_TLS_CERT",
        arg: Some("ui_tls_cert"),
        apply: |c, v| {
            c.ui_tls_cert = Some(ui_tls_file(v)?);
            Ok(())
        },
    },
    Alias {
        name: "MP_UI_TLS_KEY",
        arg: Some("ui_tls_key"),
        apply: |c, v| {
            c.ui_tls_key = Some(ui_tls_file(v)?);
            Ok(())
        },
    },
    Alias {
        name: "MP_WEBROOT",
        arg: Some("webroot"),
        apply: |c, v| {
            c.webroot = parse_webroot(v)?;
            Ok(())
        },
    },
    Alias {
        name: "MP_API_CORS",
        arg: Some("api_cors"),
        apply: |c, v| {
            c.api_cors = v.split(',').map(|o| o.trim().to_string()).collect();
            Ok(())
        },
    },
    Alias {
        name: "MP_ENABLE_PROMETHEUS",
        arg: Some("metrics"),
        // `true` means /metrics on the web port, which Letterbox always
        // serves; an address means a listener of its own.
        apply: |c, v| match boolean(v) {
            Ok(_) => Ok(()),
            Err(_) => {
                c.metrics = Some(bind_addr(v)?);
                Ok(())
            }
        },
    },
    // Chaos is always available here; only the format is checked.
    Alias {
        name: "MP_ENABLE_CHAOS",
        arg: None,
        apply: |_, v| boolean(v).map(drop),
    },
    Alias {
        name: "MP_CHAOS_TRIGGERS",
        arg: Some("chaos"),
        apply: |c, v| {
            crate::domain::chaos::Rules::parse(v).map_err(|e| e.problem)?;
            c.chaos = Some(v.to_string());
            Ok(())
        },
    },
    // The relay. Mailpit splits the server into host and port; the port
    // alone (some templates always set it) configures nothing.
    Alias {
        name: "MP_SMTP_RELAY_HOST",
        arg: Some("relay_host"),
        apply: |c, v| {
            let host = v.trim();
            c.relay.relay_host = Some(if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.to_string()
            });
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_PORT",
        arg: Some("relay_host"),
        apply: |c, v| {
            let port: u16 = v.trim().parse().map_err(|_| "not a port number")?;
            if let Some(host) = &c.relay.relay_host {
                c.relay.relay_host = Some(format!("{host}:{port}"));
            }
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_STARTTLS",
        arg: Some("relay_tls"),
        apply: |c, v| {
            if boolean(v)? {
                c.relay.relay_tls = Some(TlsMode::StartTls);
            }
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_TLS",
        arg: Some("relay_tls"),
        apply: |c, v| {
            if boolean(v)? {
                if c.relay.relay_tls == Some(TlsMode::StartTls) {
                    return Err("MP_SMTP_RELAY_STARTTLS is true too: choose one".into());
                }
                c.relay.relay_tls = Some(TlsMode::Tls);
            }
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_ALLOW_INSECURE",
        arg: Some("relay_tls_insecure"),
        apply: |c, v| {
            c.relay.relay_tls_insecure = boolean(v)?;
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_USERNAME",
        arg: Some("relay_user"),
        apply: |c, v| {
            c.relay.relay_user = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_PASSWORD",
        arg: Some("relay_password"),
        apply: |c, v| {
            c.relay.relay_password = Some(v.to_string());
            Ok(())
        },
    },
    // After the login: `none` drops one that came from MP_* variables.
    Alias {
        name: "MP_SMTP_RELAY_AUTH",
        arg: Some("relay_user"),
        apply: |c, v| match v.trim().to_ascii_lowercase().as_str() {
            "none" => {
                c.relay.relay_user = None;
                c.relay.relay_password = None;
                Ok(())
            }
            "plain" | "login" => Ok(()),
            _ => Err("use none, plain or login (CRAM-MD5 to a relay is not supported)".into()),
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_RETURN_PATH",
        arg: Some("relay_from"),
        apply: |c, v| {
            c.relay.relay_from = Some(v.trim().to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_ALLOWED_RECIPIENTS",
        arg: Some("relay_allowed_recipients"),
        apply: |c, v| {
            c.relay.relay_allowed_recipients = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_SMTP_RELAY_ALL",
        arg: Some("relay_all"),
        apply: |c, v| {
            c.relay.relay_all = boolean(v)?;
            Ok(())
        },
    },
    // Relayed messages go out byte for byte, their Message-ID included.
    Alias {
        name: "MP_SMTP_RELAY_PRESERVE_MESSAGE_IDS",
        arg: None,
        apply: |_, v| boolean(v).map(drop),
    },
    Alias {
        name: "MP_SMTP_RELAY_FORWARD_SMTP_ERRORS",
        arg: None,
        apply: |_, v| match boolean(v)? {
            false => Ok(()),
            true => Err(REPLIES_IN_THE_API.into()),
        },
    },
    Alias {
        name: "MP_WEBHOOK_URL",
        arg: Some("webhook_url"),
        apply: |c, v| {
            c.webhook.webhook_url = Some(v.trim().to_string());
            Ok(())
        },
    },
    // Mailpit's limit is the seconds between two webhooks (0: none); its
    // excess events are dropped, Letterbox's wait in the queue.
    Alias {
        name: "MP_WEBHOOK_LIMIT",
        arg: Some("webhook_rate"),
        apply: |c, v| {
            let seconds: f64 = v.trim().parse().map_err(|_| "not a number of seconds")?;
            if !seconds.is_finite() || seconds < 0.0 {
                return Err("not a number of seconds".into());
            }
            c.webhook.webhook_rate = Some(if seconds == 0.0 { 0.0 } else { 1.0 / seconds });
            Ok(())
        },
    },
    Alias {
        name: "MP_LABEL",
        arg: Some("label"),
        apply: |c, v| {
            c.webhook.label = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_ENABLE_SPAMASSASSIN",
        arg: Some("spamassassin"),
        apply: |c, v| {
            c.spamassassin = Some(super::serve::parse_spamd(v)?);
            Ok(())
        },
    },
    // POP3: Mailpit starts it as soon as logins are set, and with a
    // certificate its port speaks implicit TLS (see `pop3::mailpit_pop3`).
    Alias {
        name: "MP_POP3_BIND_ADDR",
        arg: Some("pop3_listen"),
        apply: |c, v| {
            c.pop3.listen = Some(bind_addr(v)?);
            Ok(())
        },
    },
    Alias {
        name: "MP_POP3_AUTH",
        arg: Some("pop3_auth"),
        apply: |c, v| {
            c.pop3.auth = Some(v.to_string());
            Ok(())
        },
    },
    Alias {
        name: "MP_POP3_AUTH_FILE",
        arg: Some("pop3_auth_file"),
        apply: |c, v| {
            c.pop3.auth_file = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Alias {
        name: "MP_POP3_TLS_CERT",
        arg: Some("pop3_tls_cert"),
        apply: |c, v| {
            c.pop3.tls_cert = Some(super::pop3::mailpit_tls_file(v)?);
            Ok(())
        },
    },
    Alias {
        name: "MP_POP3_TLS_KEY",
        arg: Some("pop3_tls_key"),
        apply: |c, v| {
            c.pop3.tls_key = Some(super::pop3::mailpit_tls_file(v)?);
            Ok(())
        },
    },
    Alias {
        name: "MP_ALLOW_INTERNAL_HTTP_REQUESTS",
        arg: Some("link_check_allow_internal"),
        apply: |c, v| {
            c.link_check_allow_internal = boolean(v)?;
            Ok(())
        },
    },
];

const REPLIES_IN_THE_API: &str = "not supported: the sending app gets its 250 before the relay is tried; the relay's replies are in the API and the UI";

/// Mailpit's relay variables whose meaning Letterbox cannot give, with what
/// to use instead. Set to anything, they are refused, not ignored: a relay
/// that quietly behaves otherwise than configured sends real mail.
const REFUSED: &[(&str, &str)] = &[
    (
        "MP_SMTP_RELAY_MATCHING",
        "Mailpit's recipient regex has no equivalent here: use --relay-matching with a search query, e.g. 'to:@example.com'",
    ),
    (
        "MP_SMTP_RELAY_BLOCKED_RECIPIENTS",
        "not supported: list who may be relayed to with MP_SMTP_RELAY_ALLOWED_RECIPIENTS instead",
    ),
    (
        "MP_SMTP_RELAY_OVERRIDE_FROM",
        "messages are relayed unchanged, so their From cannot be rewritten; MP_SMTP_RELAY_RETURN_PATH sets the envelope sender",
    ),
    (
        "MP_SMTP_RELAY_SECRET",
        "CRAM-MD5 to a relay is not supported: use a password",
    ),
    (
        "MP_SMTP_RELAY_CONFIG",
        "Mailpit's YAML relay file is not read: use the MP_SMTP_RELAY_* variables, or --relay-config with one key = value a line",
    ),
];

/// Variables whose values are secrets: never repeated in an error.
fn is_secret(name: &str) -> bool {
    name.ends_with("PASSWORD") || name.ends_with("SECRET")
}

/// Fills every setting that neither a flag nor a `LETTERBOX_*` variable
/// gave from its `MP_*` variable, if that is set.
pub(super) fn apply(
    serve: &mut ServeArgs,
    matches: &ArgMatches,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let error = |name: &'static str, value: String, problem: String| ConfigError::Mailpit {
        name,
        value: if is_secret(name) {
            "(hidden)".to_string()
        } else {
            value
        },
        problem,
    };
    if let Some((name, value, problem)) = REFUSED
        .iter()
        .find_map(|&(name, problem)| set(name).map(|value| (name, value, problem)))
    {
        return Err(error(name, value, problem.to_string()));
    }
    let mut applied = Vec::new();
    for alias in ALIASES {
        let Some(value) = set(alias.name) else {
            continue;
        };
        let given = alias.arg.is_some_and(|arg| {
            !matches!(
                matches.value_source(arg),
                None | Some(ValueSource::DefaultValue)
            )
        });
        if given {
            continue;
        }
        (alias.apply)(serve, &value)
            .map_err(|problem| error(alias.name, value.clone(), problem))?;
        applied.push(alias.name);
    }
    // clap checks that a certificate comes with its key; do the same for
    // pairs that came (partly) from MP_* variables.
    for (cert, key, names) in [
        (
            &serve.smtp_tls_cert,
            &serve.smtp_tls_key,
            "MP_SMTP_TLS_CERT and MP_SMTP_TLS_KEY",
        ),
        (
            &serve.ui_tls_cert,
            &serve.ui_tls_key,
            "MP_UI_TLS_CERT and MP_UI_TLS_KEY",
        ),
        (
            &serve.pop3.tls_cert,
            &serve.pop3.tls_key,
            "MP_POP3_TLS_CERT and MP_POP3_TLS_KEY",
        ),
    ] {
        let from_mailpit = names.split(" and ").any(|n| applied.contains(&n));
        if from_mailpit && cert.is_some() != key.is_some() {
            return Err(ConfigError::Args(format!(
                "{names} must be set together (a certificate needs its key)"
            )));
        }
    }
    super::pop3::mailpit_pop3(serve, &applied);
    Ok(())
}

/// Mailpit's listen addresses: `0.0.0.0:1025`, `[::]:1025`, `:1025` (all
/// interfaces) or `host:port`.
fn bind_addr(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    if let Some(port) = value.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| "not a port number")?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    value
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| "resolves to no address".to_string())
}

/// Mailpit's booleans: `1`, `true`, `yes` and their opposites.
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("not a boolean (use true or false)".to_string()),
    }
}

/// Mailpit's `sans:host,...` asks for a generated self-signed certificate
/// (`--smtp-tls self-signed`): no file.
fn smtp_tls_file(value: &str) -> Option<PathBuf> {
    (!value.starts_with("sans:")).then(|| PathBuf::from(value))
}

fn ui_tls_file(value: &str) -> Result<PathBuf, String> {
    if value.starts_with("sans:") {
        return Err(
            "a generated certificate is not supported for the web UI; give PEM files".into(),
        );
    }
    Ok(PathBuf::from(value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::super::{Cli, Command, ParseError};
    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<ServeArgs, ParseError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        match Cli::try_parse_with(args, &lookup)?.into_command() {
            Command::Serve(config) => Ok(*config),
            other => panic!("not serve: {other:?}"),
        }
    }

    fn parse(env: &[(&str, &str)]) -> ServeArgs {
        parse_with(&[], env).unwrap()
    }

    #[test]
    fn a_mailpit_compose_environment_is_understood() {
        let config = parse(&[
            ("MP_SMTP_BIND_ADDR", "0.0.0.0:1025"),
            ("MP_UI_BIND_ADDR", "[::]:8025"),
            ("MP_DATABASE", "/data/mailpit.db"),
            ("MP_MAX_MESSAGES", "5000"),
            ("MP_MAX_AGE", "3d"),
            ("MP_SMTP_AUTH_ACCEPT_ANY", "1"),
            ("MP_SMTP_AUTH_ALLOW_INSECURE", "true"),
            ("MP_UI_AUTH", "alice:pw1 bob:pw2"),
            ("MP_WEBROOT", "mail"),
            ("MP_API_CORS", "https://a.example, https://b.example"),
        ]);
        assert_eq!(config.smtp, "0.0.0.0:1025".parse().unwrap());
        assert_eq!(config.http, "[::]:8025".parse().unwrap());
        assert_eq!(config.db.as_deref(), Some("/data/mailpit.db"));
        assert_eq!(config.max_messages, 5000);
        assert_eq!(config.max_age, Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(config.webroot, "/mail/");
        assert_eq!(config.api_cors, ["https://a.example", "https://b.example"]);
        let auth = config.ui_auth().unwrap().expect("UI auth is on");
        assert_eq!(auth.users(), ["alice", "bob"]);
    }

    #[test]
    fn flags_win_over_mailpit_variables() {
        let config = parse_with(
            &["--smtp", "127.0.0.1:2525", "--max-messages", "7"],
            &[
                ("MP_SMTP_BIND_ADDR", "0.0.0.0:1025"),
                ("MP_MAX_MESSAGES", "5000"),
            ],
        )
        .unwrap();
        assert_eq!(config.smtp, "127.0.0.1:2525".parse().unwrap());
        assert_eq!(config.max_messages, 7);
    }

    #[test]
    fn the_serve_subcommand_reads_them_too() {
        let lookup = |name: &str| (name == "MP_MAX_MESSAGES").then(|| "12".to_string());
        let cli = Cli::try_parse_with(["letterbox", "serve"], &lookup).unwrap();
        let Command::Serve(config) = cli.into_command() else {
            panic!("serve");
        };
        assert_eq!(config.max_messages, 12);
    }

    #[test]
    fn go_style_all_interfaces_address() {
        let config = parse(&[("MP_SMTP_BIND_ADDR", ":1025")]);
        assert_eq!(config.smtp, "0.0.0.0:1025".parse().unwrap());
    }

    #[test]
    fn tls_files_and_generated_certificates() {
        let config = parse(&[
            ("MP_SMTP_TLS_CERT", "/certs/smtp.pem"),
            ("MP_SMTP_TLS_KEY", "/certs/smtp.key"),
        ]);
        assert_eq!(
            config.tls_files(),
            Some((
                std::path::Path::new("/certs/smtp.pem"),
                std::path::Path::new("/certs/smtp.key")
            ))
        );
        let generated = parse(&[
            ("MP_SMTP_TLS_CERT", "sans:mail.local"),
            ("MP_SMTP_TLS_KEY", "sans:mail.local"),
        ]);
        assert_eq!(generated.tls_files(), None);
        assert_eq!(generated.smtp_tls, Some(SmtpTls::SelfSigned));
        assert!(parse_with(&[], &[("MP_UI_TLS_CERT", "sans:mail.local")]).is_err());
        let half = parse_with(&[], &[("MP_SMTP_TLS_CERT", "/certs/smtp.pem")]);
        assert!(half.unwrap_err().to_string().contains("MP_SMTP_TLS_KEY"));
    }

    #[test]
    fn prometheus_switch_or_address() {
        assert_eq!(parse(&[("MP_ENABLE_PROMETHEUS", "true")]).metrics, None);
        assert_eq!(
            parse(&[("MP_ENABLE_PROMETHEUS", "127.0.0.1:9090")]).metrics,
            Some("127.0.0.1:9090".parse().unwrap())
        );
    }

    #[test]
    fn chaos_triggers() {
        let config = parse(&[
            ("MP_ENABLE_CHAOS", "true"),
            ("MP_CHAOS_TRIGGERS", "Sender:451:50,Recipient:550:10"),
        ]);
        let rules = config.chaos_rules().unwrap();
        assert_eq!(rules.to_string(), "mail=451@50%,rcpt=550@10%");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("MP_MAX_MESSAGES", "lots"),
            ("MP_SMTP_BIND_ADDR", "nowhere"),
            ("MP_SMTP_AUTH_ACCEPT_ANY", "perhaps"),
            ("MP_MAX_AGE", "3 fortnights"),
            ("MP_CHAOS_TRIGGERS", "Sender:200:50"),
        ] {
            let err = parse_with(&[], &[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn a_mailpit_relay_environment_is_understood() {
        let config = parse(&[
            ("MP_SMTP_RELAY_HOST", "smtp.example.com"),
            ("MP_SMTP_RELAY_PORT", "587"),
            ("MP_SMTP_RELAY_STARTTLS", "true"),
            ("MP_SMTP_RELAY_TLS", "false"),
            ("MP_SMTP_RELAY_ALLOW_INSECURE", "true"),
            ("MP_SMTP_RELAY_AUTH", "plain"),
            ("MP_SMTP_RELAY_USERNAME", "apikey"),
            ("MP_SMTP_RELAY_PASSWORD", "s3cret"),
            ("MP_SMTP_RELAY_RETURN_PATH", "bounces@example.com"),
            ("MP_SMTP_RELAY_ALLOWED_RECIPIENTS", "@example\\.com$"),
            ("MP_SMTP_RELAY_ALL", "true"),
            ("MP_SMTP_RELAY_PRESERVE_MESSAGE_IDS", "true"),
            ("MP_SMTP_RELAY_FORWARD_SMTP_ERRORS", "false"),
        ]);
        let relay = config.relay.settings().unwrap().expect("a relay");
        assert_eq!((relay.host.as_str(), relay.port), ("smtp.example.com", 587));
        assert_eq!(relay.tls, TlsMode::StartTls);
        assert!(relay.tls_insecure);
        assert_eq!(relay.login, Some(("apikey".into(), "s3cret".into())));
        assert_eq!(relay.from.as_deref(), Some("bounces@example.com"));
        assert!(relay.allowed.unwrap().allows("me@example.com"));
        assert!(relay.matching.unwrap().1.is_empty(), "relay all");

        // The port alone configures nothing; an IPv6 host gets brackets;
        // implicit TLS; `none` drops the login.
        assert!(
            parse(&[("MP_SMTP_RELAY_PORT", "25")])
                .relay
                .relay_host
                .is_none()
        );
        let relay = parse(&[
            ("MP_SMTP_RELAY_HOST", "::1"),
            ("MP_SMTP_RELAY_TLS", "1"),
            ("MP_SMTP_RELAY_USERNAME", "u"),
            ("MP_SMTP_RELAY_PASSWORD", "p"),
            ("MP_SMTP_RELAY_AUTH", "none"),
        ])
        .relay
        .settings()
        .unwrap()
        .expect("a relay");
        assert_eq!(
            (relay.host.as_str(), relay.port, relay.tls),
            ("::1", 465, TlsMode::Tls)
        );
        assert_eq!(relay.login, None);
        // A flag wins over the variables.
        let flagged = parse_with(
            &["--relay-host", "flag.example:2525"],
            &[
                ("MP_SMTP_RELAY_HOST", "mp.example"),
                ("MP_SMTP_RELAY_PORT", "26"),
            ],
        )
        .unwrap();
        assert_eq!(
            flagged.relay.relay_host.as_deref(),
            Some("flag.example:2525")
        );
    }

    #[test]
    fn a_mailpit_webhook_environment_is_understood() {
        let config = parse(&[
            ("MP_WEBHOOK_URL", "http://hooks.example:8080/in"),
            ("MP_WEBHOOK_LIMIT", "2"),
            ("MP_LABEL", "staging"),
        ]);
        let webhook = config.webhook.settings().unwrap().expect("a webhook");
        assert_eq!(webhook.url.addr, "hooks.example:8080");
        assert_eq!(webhook.rate, Some(0.5), "one every two seconds");
        assert_eq!(webhook.label.as_deref(), Some("staging"));
        let unlimited = parse(&[("MP_WEBHOOK_URL", "http://h/"), ("MP_WEBHOOK_LIMIT", "0")]);
        assert_eq!(unlimited.webhook.settings().unwrap().unwrap().rate, None);
        let flagged = parse_with(&["--webhook-rate", "3"], &[("MP_WEBHOOK_LIMIT", "2")]).unwrap();
        assert_eq!(flagged.webhook.webhook_rate, Some(3.0));
        assert!(parse_with(&[], &[("MP_WEBHOOK_LIMIT", "soon")]).is_err());
    }

    #[test]
    fn relay_settings_that_cannot_be_honoured_are_refused() {
        for (name, value, says) in [
            ("MP_SMTP_RELAY_MATCHING", "@example", "--relay-matching"),
            (
                "MP_SMTP_RELAY_BLOCKED_RECIPIENTS",
                "@example",
                "ALLOWED_RECIPIENTS",
            ),
            (
                "MP_SMTP_RELAY_OVERRIDE_FROM",
                "a@example.com",
                "RETURN_PATH",
            ),
            ("MP_SMTP_RELAY_FORWARD_SMTP_ERRORS", "true", "not supported"),
            ("MP_SMTP_RELAY_CONFIG", "/etc/relay.yml", "--relay-config"),
            ("MP_SMTP_RELAY_AUTH", "cram-md5", "not supported"),
        ] {
            let err = parse_with(&[], &[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(says), "{err}");
        }
        let both = parse_with(
            &[],
            &[
                ("MP_SMTP_RELAY_STARTTLS", "true"),
                ("MP_SMTP_RELAY_TLS", "true"),
            ],
        );
        assert!(both.unwrap_err().to_string().contains("choose one"));
        // A secret is never repeated.
        let err = parse_with(&[], &[("MP_SMTP_RELAY_SECRET", "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MP_SMTP_RELAY_SECRET") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
