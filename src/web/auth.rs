//! HTTP Basic authentication for the web UI and API (`--ui-auth`,
//! `--ui-auth-file`). Health probes stay open so orchestrators can reach
//! them without credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::ApiError;
use crate::domain::secret::constant_time_eq;

/// Paths served without credentials (relative to the webroot).
pub const OPEN_PATHS: [&str; 2] = ["/livez", "/readyz"];

#[derive(Debug, thiserror::Error)]
pub enum UiAuthError {
    #[error("{origin} line {line}: expected user:bcrypt-hash (create entries with `htpasswd -B`)")]
    Malformed { origin: String, line: usize },
    #[error(
        "{origin} line {line}: the password of {user:?} is not a bcrypt hash; only bcrypt is supported (create it with `htpasswd -B`)"
    )]
    NotBcrypt {
        origin: String,
        line: usize,
        user: String,
    },
    #[error("{origin}: no logins in the file")]
    Empty { origin: String },
}

/// Parses an htpasswd file with bcrypt entries (`user:$2y$...`); `#` lines
/// and blank lines are skipped.
pub fn parse_htpasswd(text: &str, origin: &str) -> Result<HashMap<String, String>, UiAuthError> {
    let mut users = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let Some((user, hash)) = line
            .split_once(':')
            .filter(|(u, h)| !u.is_empty() && !h.is_empty())
        else {
            return Err(UiAuthError::Malformed {
                origin: origin.to_string(),
                line: number,
            });
        };
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(UiAuthError::NotBcrypt {
                origin: origin.to_string(),
                line: number,
                user: user.to_string(),
            });
        }
        users.insert(user.to_string(), hash.to_string());
    }
    if users.is_empty() {
        return Err(UiAuthError::Empty {
            origin: origin.to_string(),
        });
    }
    Ok(users)
}

/// Who may use the UI and API.
#[derive(Debug)]
pub struct UiAuth {
    /// `user -> password` from `--ui-auth`.
    plain: HashMap<String, String>,
    /// `user -> bcrypt hash` from `--ui-auth-file`.
    hashed: HashMap<String, String>,
    /// The last password that passed bcrypt per user: bcrypt is slow on
    /// purpose, and a browser sends the credentials with every request.
    verified: Mutex<HashMap<String, String>>,
    /// A hash with the cost of the file's entries (empty without a file),
    /// checked for unknown users so that they take as long as known ones.
    decoy: String,
}

impl UiAuth {
    pub fn new(plain: HashMap<String, String>, hashed: HashMap<String, String>) -> UiAuth {
        let cost = hashed
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|parts| parts.get_cost())
            .max();
        let decoy = cost.map_or_else(String::new, |cost| {
            bcrypt::hash("letterbox decoy", cost).expect("a cost taken from a valid hash")
        });
        UiAuth {
            plain,
            hashed,
            verified: Mutex::new(HashMap::new()),
            decoy,
        }
    }

    /// Every user name, sorted.
    pub fn users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self
            .plain
            .keys()
            .chain(self.hashed.keys())
            .map(String::as_str)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Whether the `Authorization` header carries valid credentials.
    #[cfg(test)]
    async fn check(self: &Arc<Self>, headers: &HeaderMap) -> bool {
        self.logged_in_user(headers).await.is_some()
    }

    /// The user whose valid credentials the `Authorization` header carries.
    async fn logged_in_user(self: &Arc<Self>, headers: &HeaderMap) -> Option<String> {
        let (user, password) = basic_credentials(headers)?;
        self.verify(user.clone(), password).await.then_some(user)
    }

    async fn verify(self: &Arc<Self>, user: String, password: String) -> bool {
        // Every path compares something, so an unknown user costs about
        // as much as a wrong password.
        if let Some(expected) = self.plain.get(&user) {
            return constant_time_eq(expected.as_bytes(), password.as_bytes());
        }
        if self.hashed.is_empty() {
            let _ = constant_time_eq(self.decoy.as_bytes(), password.as_bytes());
            return false;
        }
        let cached = self
            .verified
            .lock()
            .expect("auth cache lock")
            .get(&user)
            .cloned();
        if let Some(known) = cached
            && constant_time_eq(known.as_bytes(), password.as_bytes())
        {
            return true;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let hash = this.hashed.get(&user);
            let ok = bcrypt::verify(&password, hash.unwrap_or(&this.decoy)).unwrap_or(false)
                && hash.is_some();
            if ok {
                this.verified
                    .lock()
                    .expect("auth cache lock")
                    .insert(user, password);
            }
            ok
        })
        .await
        .unwrap_or(false)
    }
}

/// `(user, password)` from an `Authorization: Basic ...` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The user a request logged in as (a request extension set by
/// [`require_login`]), recorded as the `Username` of mail sent through the
/// API, as Mailpit does.
#[derive(Debug, Clone)]
pub struct LoggedIn(pub String);

/// Middleware: lets requests with valid credentials (and health probes)
/// through; answers everything else with `401` and a Basic challenge.
pub async fn require_login(
    State(auth): State<Arc<UiAuth>>,
    mut request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    if let Some(user) = auth.logged_in_user(request.headers()).await {
        request.extensions_mut().insert(LoggedIn(user));
        return next.run(request).await;
    }
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "login required").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="Letterbox", charset="UTF-8""#),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", B64.encode(format!("{user}:{password}")));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn auth() -> Arc<UiAuth> {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let hashed = parse_htpasswd(&format!("# comment\n\nbob:{hash}\n"), "test").unwrap();
        let plain = HashMap::from([("alice".to_string(), "pw:with:colons".to_string())]);
        Arc::new(UiAuth::new(plain, hashed))
    }

    #[tokio::test]
    async fn plain_and_bcrypt_logins() {
        let auth = auth();
        assert!(auth.check(&headers("alice", "pw:with:colons")).await);
        assert!(!auth.check(&headers("alice", "pw")).await);
        assert!(auth.check(&headers("bob", "s3cret")).await);
        // Second time from the cache of verified passwords.
        assert!(auth.check(&headers("bob", "s3cret")).await);
        assert!(!auth.check(&headers("bob", "s3cret ")).await);
        assert!(!auth.check(&headers("carol", "s3cret")).await);
        assert!(!auth.check(&HeaderMap::new()).await);
    }

    #[tokio::test]
    async fn other_schemes_and_garbage_are_refused() {
        let auth = auth();
        for value in ["Bearer abc", "Basic !!!", "Basic", "Basic Ym9i"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert!(!auth.check(&headers).await, "{value}");
        }
    }

    #[test]
    fn htpasswd_errors_name_the_line() {
        let hash = bcrypt::hash("pw", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let err = parse_htpasswd(&format!("ok:{hash}\nnocolon\n"), "f").unwrap_err();
        assert!(err.to_string().starts_with("f line 2:"), "{err}");
        let err = parse_htpasswd("carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "f").unwrap_err();
        assert!(
            matches!(err, UiAuthError::NotBcrypt { line: 1, .. }),
            "{err}"
        );
        assert!(matches!(
            parse_htpasswd("# nothing\n", "f").unwrap_err(),
            UiAuthError::Empty { .. }
        ));
    }
}
