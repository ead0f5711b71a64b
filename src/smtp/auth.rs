//! SMTP AUTH: the SASL mechanisms we offer (PLAIN, LOGIN, CRAM-MD5) and the
//! policy that decides whether credentials are good.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};

use crate::domain::secret::constant_time_eq;

/// Who may authenticate.
#[derive(Debug, Clone, Default)]
pub enum AuthPolicy {
    /// Any username and password are accepted (and authentication is optional),
    /// so apps that always log in work against Letterbox unchanged.
    #[default]
    AcceptAny,
    /// Only these `user -> password` pairs; authentication is then required
    /// before MAIL.
    Credentials(HashMap<String, String>),
}

impl AuthPolicy {
    pub fn required(&self) -> bool {
        matches!(self, AuthPolicy::Credentials(_))
    }

    fn check_password(&self, user: &str, password: &str) -> bool {
        match self {
            AuthPolicy::AcceptAny => true,
            AuthPolicy::Credentials(users) => users
                .get(user)
                .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password.as_bytes())),
        }
    }

    fn check_cram_md5(&self, user: &str, challenge: &str, digest_hex: &str) -> bool {
        match self {
            AuthPolicy::AcceptAny => true,
            AuthPolicy::Credentials(users) => users.get(user).is_some_and(|password| {
                let mut mac = Hmac::<md5::Md5>::new_from_slice(password.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(challenge.as_bytes());
                let expected = hex(&mac.finalize().into_bytes());
                constant_time_eq(
                    expected.as_bytes(),
                    digest_hex.to_ascii_lowercase().as_bytes(),
                )
            }),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A SASL mechanism we advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
}

impl Mechanism {
    pub fn from_smtp_proto(bits: u64) -> Option<Self> {
        match bits {
            smtp_proto::AUTH_PLAIN => Some(Mechanism::Plain),
            smtp_proto::AUTH_LOGIN => Some(Mechanism::Login),
            smtp_proto::AUTH_CRAM_MD5 => Some(Mechanism::CramMd5),
            _ => None,
        }
    }
}

/// An AUTH exchange in progress: what the next client line must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    PlainResponse,
    LoginUser,
    LoginPassword { user: String },
    CramMd5 { challenge: String },
}

/// The result of one step of an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send a `334` with this (already base64-encoded) challenge and wait.
    Challenge(Exchange, String),
    Success {
        user: String,
    },
    Failure {
        user: String,
    },
    /// The client sent `*`.
    Cancelled,
    /// The line was not valid base64 or not a valid SASL message.
    Malformed(&'static str),
}

pub const LOGIN_USER_PROMPT: &str = "VXNlcm5hbWU6"; // "Username:"
pub const LOGIN_PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6"; // "Password:"

/// Starts an exchange for `AUTH <mechanism> [initial-response]`.
/// `challenge` is the CRAM-MD5 challenge, chosen by the caller so this module
/// stays deterministic.
pub fn start(mechanism: Mechanism, initial: &str, challenge: &str, policy: &AuthPolicy) -> Step {
    let initial = initial.trim();
    match mechanism {
        Mechanism::Plain if initial.is_empty() => {
            Step::Challenge(Exchange::PlainResponse, String::new())
        }
        Mechanism::Plain => respond(Exchange::PlainResponse, initial, policy),
        Mechanism::Login if initial.is_empty() => {
            Step::Challenge(Exchange::LoginUser, LOGIN_USER_PROMPT.into())
        }
        Mechanism::Login => respond(Exchange::LoginUser, initial, policy),
        Mechanism::CramMd5 => Step::Challenge(
            Exchange::CramMd5 {
                challenge: challenge.to_string(),
            },
            B64.encode(challenge),
        ),
    }
}

/// Continues an exchange with one client line.
pub fn respond(exchange: Exchange, line: &str, policy: &AuthPolicy) -> Step {
    let line = line.trim();
    if line == "*" {
        return Step::Cancelled;
    }
    // "=" is the SASL encoding of an empty response.
    let decoded = if line == "=" {
        Ok(Vec::new())
    } else {
        B64.decode(line)
    };
    let Ok(decoded) = decoded else {
        return Step::Malformed("Invalid base64 data");
    };
    let text = String::from_utf8_lossy(&decoded).into_owned();
    match exchange {
        Exchange::PlainResponse => {
            // authzid NUL authcid NUL passwd
            let mut fields = text.split('\0');
            let (Some(_authzid), Some(user), Some(password), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Step::Malformed("Invalid PLAIN response");
            };
            verdict(policy.check_password(user, password), user)
        }
        Exchange::LoginUser => Step::Challenge(
            Exchange::LoginPassword { user: text },
            LOGIN_PASSWORD_PROMPT.into(),
        ),
        Exchange::LoginPassword { user } => verdict(policy.check_password(&user, &text), &user),
        Exchange::CramMd5 { challenge } => {
            let Some((user, digest)) = text.rsplit_once(' ') else {
                return Step::Malformed("Invalid CRAM-MD5 response");
            };
            verdict(policy.check_cram_md5(user, &challenge, digest), user)
        }
    }
}

fn verdict(ok: bool, user: &str) -> Step {
    let user = user.to_string();
    if ok {
        Step::Success { user }
    } else {
        Step::Failure { user }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> AuthPolicy {
        AuthPolicy::Credentials(HashMap::from([("alice".into(), "s3cret".into())]))
    }

    #[test]
    fn plain_initial_response() {
        let ok = B64.encode("\0alice\0s3cret");
        let bad = B64.encode("\0alice\0nope");
        let initial = |i: &str| start(Mechanism::Plain, i, "", &creds());
        assert_eq!(
            initial(&ok),
            Step::Success {
                user: "alice".into()
            }
        );
        assert_eq!(
            initial(&bad),
            Step::Failure {
                user: "alice".into()
            }
        );
        assert_eq!(initial("!!!"), Step::Malformed("Invalid base64 data"));
        assert_eq!(
            initial(&B64.encode("no-nuls")),
            Step::Malformed("Invalid PLAIN response")
        );
    }

    #[test]
    fn accept_any_takes_anything_well_formed() {
        let step = start(
            Mechanism::Plain,
            &B64.encode("\0bob\0x"),
            "",
            &AuthPolicy::AcceptAny,
        );
        assert_eq!(step, Step::Success { user: "bob".into() });
    }

    #[test]
    fn login_two_steps() {
        let Step::Challenge(ex, prompt) = start(Mechanism::Login, "", "", &creds()) else {
            panic!()
        };
        assert_eq!(prompt, LOGIN_USER_PROMPT);
        let Step::Challenge(ex, prompt) = respond(ex, &B64.encode("alice"), &creds()) else {
            panic!()
        };
        assert_eq!(prompt, LOGIN_PASSWORD_PROMPT);
        assert_eq!(
            respond(ex, &B64.encode("s3cret"), &creds()),
            Step::Success {
                user: "alice".into()
            }
        );
    }

    #[test]
    fn cram_md5_checks_the_hmac() {
        // RFC 2195's example: key "tanstaaftanstaaf", this challenge.
        let challenge = "<1896.697170952@postoffice.reston.mci.net>";
        let policy =
            AuthPolicy::Credentials(HashMap::from([("tim".into(), "tanstaaftanstaaf".into())]));
        let Step::Challenge(ex, encoded) = start(Mechanism::CramMd5, "", challenge, &policy) else {
            panic!()
        };
        assert_eq!(B64.decode(encoded).unwrap(), challenge.as_bytes());
        let answer = B64.encode("tim b913a602c7eda7a495b4e6e7334d3890");
        assert_eq!(
            respond(ex.clone(), &answer, &policy),
            Step::Success { user: "tim".into() }
        );
        let wrong = B64.encode("tim 00000000000000000000000000000000");
        assert_eq!(
            respond(ex, &wrong, &policy),
            Step::Failure { user: "tim".into() }
        );
    }

    #[test]
    fn cancel() {
        assert_eq!(respond(Exchange::LoginUser, "*", &creds()), Step::Cancelled);
    }
}
