//! One client line read as a POP3 command (RFC 1939, 2449, 2595, 5034):
//! keywords in any case, arguments separated by spaces, message numbers
//! in decimal. Pure: the session decides what a command means in its
//! state.

/// A command the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capa,
    User(String),
    /// The rest of the line: a password may hold spaces.
    Pass(String),
    /// `AUTH [mechanism [initial-response]]`.
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Stls,
    Stat,
    List(Option<u64>),
    Uidl(Option<u64>),
    Retr(u64),
    /// Message number and how many lines of the body.
    Top(u64, u64),
    Dele(u64),
    Rset,
    Noop,
    Quit,
}

/// Why a line is not a command; the text goes into the `-ERR` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("{keyword} needs {what}")]
    Missing {
        keyword: &'static str,
        what: &'static str,
    },
    #[error("{keyword}: {argument:?} is not {what}")]
    Invalid {
        keyword: &'static str,
        argument: String,
        what: &'static str,
    },
    #[error("{0} takes no argument here")]
    Extra(&'static str),
    #[error("the command is not text")]
    NotText,
}

/// The longest argument shown back in an error, in characters.
const SHOWN: usize = 40;

fn shown(text: &str) -> String {
    text.chars().take(SHOWN).collect()
}

impl Command {
    /// Parses one line without its CRLF.
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let line = std::str::from_utf8(line).map_err(|_| CommandError::NotText)?;
        let (keyword, rest) = match line.split_once(' ') {
            Some((keyword, rest)) => (keyword, Some(rest)),
            None => (line, None),
        };
        let upper = keyword.to_ascii_uppercase();
        let mut args = rest.unwrap_or("").split(' ').filter(|a| !a.is_empty());
        let command = match upper.as_str() {
            "CAPA" => Command::Capa,
            "STLS" => Command::Stls,
            "STAT" => Command::Stat,
            "RSET" => Command::Rset,
            "NOOP" => Command::Noop,
            "QUIT" => Command::Quit,
            "USER" => {
                let user = rest.map(str::trim).filter(|u| !u.is_empty());
                let user = user.ok_or(CommandError::Missing {
                    keyword: "USER",
                    what: "a name",
                })?;
                return Ok(Command::User(user.to_string()));
            }
            "PASS" => {
                let password = rest
                    .filter(|p| !p.is_empty())
                    .ok_or(CommandError::Missing {
                        keyword: "PASS",
                        what: "a password",
                    })?;
                return Ok(Command::Pass(password.to_string()));
            }
            "AUTH" => Command::Auth {
                mechanism: args.next().map(str::to_string),
                initial: args.next().map(str::to_string),
            },
            "LIST" => Command::List(args.next().map(|a| number("LIST", a)).transpose()?),
            "UIDL" => Command::Uidl(args.next().map(|a| number("UIDL", a)).transpose()?),
            "RETR" => Command::Retr(required_number("RETR", args.next())?),
            "DELE" => Command::Dele(required_number("DELE", args.next())?),
            "TOP" => {
                let message = required_number("TOP", args.next())?;
                let lines = args.next().ok_or(CommandError::Missing {
                    keyword: "TOP",
                    what: "a message number and a number of lines",
                })?;
                let lines = lines.parse().map_err(|_| CommandError::Invalid {
                    keyword: "TOP",
                    argument: shown(lines),
                    what: "a number of lines",
                })?;
                Command::Top(message, lines)
            }
            _ => return Err(CommandError::Unknown(shown(keyword))),
        };
        if args.next().is_some() {
            return Err(CommandError::Extra(keyword_of(&command)));
        }
        Ok(command)
    }
}

fn keyword_of(command: &Command) -> &'static str {
    match command {
        Command::Capa => "CAPA",
        Command::User(_) => "USER",
        Command::Pass(_) => "PASS",
        Command::Auth { .. } => "AUTH",
        Command::Stls => "STLS",
        Command::Stat => "STAT",
        Command::List(_) => "LIST",
        Command::Uidl(_) => "UIDL",
        Command::Retr(_) => "RETR",
        Command::Top(..) => "TOP",
        Command::Dele(_) => "DELE",
        Command::Rset => "RSET",
        Command::Noop => "NOOP",
        Command::Quit => "QUIT",
    }
}

fn required_number(keyword: &'static str, argument: Option<&str>) -> Result<u64, CommandError> {
    let argument = argument.ok_or(CommandError::Missing {
        keyword,
        what: "a message number",
    })?;
    number(keyword, argument)
}

fn number(keyword: &'static str, argument: &str) -> Result<u64, CommandError> {
    // Digits only: `+1` or `-1` are not message numbers.
    let digits = !argument.is_empty() && argument.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| argument.parse().ok())
        .flatten()
        .ok_or_else(|| CommandError::Invalid {
            keyword,
            argument: shown(argument),
            what: "a message number",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, CommandError> {
        Command::parse(line.as_bytes())
    }

    #[test]
    fn keywords_in_any_case() {
        assert_eq!(parse("stat"), Ok(Command::Stat));
        assert_eq!(parse("Quit"), Ok(Command::Quit));
        assert_eq!(parse("LIST"), Ok(Command::List(None)));
        assert_eq!(parse("list 2"), Ok(Command::List(Some(2))));
        assert_eq!(parse("TOP 1 0"), Ok(Command::Top(1, 0)));
        assert_eq!(parse("uidl 7"), Ok(Command::Uidl(Some(7))));
    }

    #[test]
    fn a_password_is_the_rest_of_the_line() {
        assert_eq!(parse("PASS a b  c"), Ok(Command::Pass("a b  c".into())));
        assert_eq!(parse("USER alice"), Ok(Command::User("alice".into())));
    }

    #[test]
    fn auth_with_and_without_an_initial_response() {
        assert_eq!(
            parse("AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGEAYg==".into())
            })
        );
        assert_eq!(
            parse("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        assert_eq!(
            parse("RETR"),
            Err(CommandError::Missing {
                keyword: "RETR",
                what: "a message number"
            })
        );
        let err = parse("DELE x").unwrap_err().to_string();
        assert_eq!(err, "DELE: \"x\" is not a message number");
        assert_eq!(
            parse("RETR -1").unwrap_err().to_string(),
            "RETR: \"-1\" is not a message number"
        );
        assert_eq!(
            parse("RETR 99999999999999999999999")
                .unwrap_err()
                .to_string(),
            "RETR: \"99999999999999999999999\" is not a message number"
        );
        assert_eq!(parse("STAT 1"), Err(CommandError::Extra("STAT")));
        assert_eq!(parse("XYZZY"), Err(CommandError::Unknown("XYZZY".into())));
        assert_eq!(
            parse("USER"),
            Err(CommandError::Missing {
                keyword: "USER",
                what: "a name"
            })
        );
        assert_eq!(Command::parse(b"RETR \xff"), Err(CommandError::NotText));
    }
}
