//! Who may log in to POP3: `user:password` entries, in the same form as
//! the SMTP logins, where a password that is a bcrypt hash (`$2y$...`, as
//! `htpasswd -B` writes) is checked as one.

use std::collections::HashMap;
use std::fmt;

use crate::domain::inbox::InboxName;
use crate::domain::secret::constant_time_eq;

/// The accepted logins.
pub struct Logins {
    users: HashMap<String, Secret>,
    /// Checked when the user is unknown, so that an unknown name costs as
    /// long as a wrong password (when there are bcrypt entries at all).
    decoy: Option<String>,
}

enum Secret {
    Plain(String),
    Bcrypt(String),
}

impl fmt::Debug for Logins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&str> = self.users.keys().map(String::as_str).collect();
        users.sort_unstable();
        f.debug_struct("Logins").field("users", &users).finish()
    }
}

fn is_bcrypt(password: &str) -> bool {
    password.starts_with("$2") && password.parse::<bcrypt::HashParts>().is_ok()
}

impl Logins {
    /// From `user -> password or bcrypt hash`.
    pub fn new(entries: HashMap<String, String>) -> Logins {
        let users: HashMap<String, Secret> = entries
            .into_iter()
            .map(|(user, password)| {
                let secret = if is_bcrypt(&password) {
                    Secret::Bcrypt(password)
                } else {
                    Secret::Plain(password)
                };
                (user, secret)
            })
            .collect();
        let decoy = users.values().find_map(|secret| match secret {
            Secret::Bcrypt(hash) => Some(hash.clone()),
            Secret::Plain(_) => None,
        });
        Logins { users, decoy }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s. A bcrypt check takes tens of
    /// milliseconds of CPU: call this off the async runtime.
    pub fn check(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some(Secret::Plain(expected)) => {
                constant_time_eq(expected.as_bytes(), password.as_bytes())
            }
            Some(Secret::Bcrypt(hash)) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                if let Some(decoy) = &self.decoy {
                    let _ = bcrypt::verify(password, decoy);
                }
                false
            }
        }
    }
}

/// The inbox a login reads when inboxes are in use: the one its name
/// gives, as an SMTP login of that name files mail into.
pub fn inbox_of(user: &str) -> InboxName {
    InboxName::from_username(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(entries: &[(&str, &str)]) -> Logins {
        Logins::new(
            entries
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        )
    }

    #[test]
    fn plain_passwords() {
        let logins = logins(&[("alice", "s3cret")]);
        assert!(logins.check("alice", "s3cret"));
        assert!(!logins.check("alice", "s3cret "));
        assert!(!logins.check("bob", "s3cret"));
        assert!(!logins.is_empty());
    }

    #[test]
    fn bcrypt_hashes_as_htpasswd_writes_them() {
        let hash = bcrypt::hash("pw", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let logins = logins(&[("carol", &hash), ("dan", "$2not-a-hash")]);
        assert!(logins.check("carol", "pw"));
        assert!(!logins.check("carol", &hash));
        assert!(!logins.check("nobody", "pw"));
        // Not a bcrypt hash: a password that happens to start with "$2".
        assert!(logins.check("dan", "$2not-a-hash"));
    }

    #[test]
    fn the_debug_form_shows_no_password() {
        let shown = format!("{:?}", logins(&[("alice", "s3cret")]));
        assert!(shown.contains("alice") && !shown.contains("s3cret"));
    }
}
