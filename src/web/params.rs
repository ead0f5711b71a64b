//! Query-string and JSON-body parsing with errors that say what is wrong.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use crate::domain::search;
use crate::web::ApiError;

/// Query-string parameters.
pub type Params = HashMap<String, String>;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest page served; Mailpit's `limit=0` ("everything") is not offered.
pub const MAX_LIMIT: u64 = 1000;

pub fn number(params: &Params, name: &str, default: u64) -> Result<u64, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        // SQLite integers are signed 64-bit: larger values are refused here
        // rather than failing in the store.
        Some(value) => value
            .parse::<u64>()
            .ok()
            .filter(|&n| i64::try_from(n).is_ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be an integer from 0 to {}, got {value:?}",
                    i64::MAX
                ))
            }),
    }
}

/// `start` and `limit`: `limit` defaults to 50, `0` means the default and
/// anything above 1000 is capped.
pub fn paging(params: &Params) -> Result<(u64, u64), ApiError> {
    let start = number(params, "start", 0)?;
    let limit = match number(params, "limit", DEFAULT_LIMIT)? {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    };
    Ok((start, limit))
}

/// The `query` parameter, parsed; `None` when absent or blank.
pub fn search_query(params: &Params) -> Result<Option<search::Query>, ApiError> {
    match params.get("query").map(|q| q.trim()) {
        None | Some("") => Ok(None),
        Some(text) => search::Query::parse(text)
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("bad query: {e}"))),
    }
}

/// A JSON body of type `T`, or a 400 naming the problem.
pub fn json_body<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "a JSON body is required: {expected}"
        )));
    }
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request(format!("invalid JSON body ({e}): {expected}"))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    // serde would also fill a struct from a JSON array: only objects count.
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "invalid JSON body (not an object): {expected}"
        )));
    }
    serde_json::from_value(value).map_err(invalid)
}

/// A JSON body of type `T` read as Go's `encoding/json` reads it into
/// Mailpit's structs: object keys match `names` (the field names `T`
/// expects) whatever their case, and keys `T` does not know are ignored
/// (so `T` must not deny unknown fields). The values of the keys in
/// `opaque` (maps whose keys are data, such as header names) are left as
/// they are.
pub fn go_json_body<T: DeserializeOwned>(
    body: &[u8],
    expected: &str,
    names: &[&str],
    opaque: &[&str],
) -> Result<T, ApiError> {
    let mut value: serde_json::Value = json_body(body, expected)?;
    canonical_keys(&mut value, names, opaque);
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body ({e}): {expected}")))
}

fn canonical_keys(value: &mut serde_json::Value, names: &[&str], opaque: &[&str]) {
    match value {
        serde_json::Value::Object(object) => {
            let fields = std::mem::take(object);
            for (key, mut value) in fields {
                let name = names
                    .iter()
                    .find(|name| key.eq_ignore_ascii_case(name))
                    .map_or(key.clone(), |name| name.to_string());
                if !opaque.contains(&name.as_str()) {
                    canonical_keys(&mut value, names, opaque);
                }
                // An exact match wins over a key that differs in case.
                if key == name || !object.contains_key(&name) {
                    object.insert(name, value);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                canonical_keys(item, names, opaque);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_keys_match_whatever_their_case() {
        let mut value = serde_json::json!({
            "from": {"EMAIL": "a@x"},
            "Attachments": [{"FileName": "f.png"}],
            "headers": {"x-thing": "1"},
            "Subject": "exact", "SUBJECT": "other",
        });
        canonical_keys(
            &mut value,
            &[
                "From",
                "Email",
                "Attachments",
                "Filename",
                "Headers",
                "Subject",
            ],
            &["Headers"],
        );
        assert_eq!(
            value,
            serde_json::json!({
                "From": {"Email": "a@x"},
                "Attachments": [{"Filename": "f.png"}],
                "Headers": {"x-thing": "1"},
                "Subject": "exact",
            })
        );
    }
}
