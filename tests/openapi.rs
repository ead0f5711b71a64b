//! The OpenAPI document matches the router and what the server answers:
//! every documented operation is routed, every route in the source is
//! documented, and real responses fit their schemas field by field.

mod common;

use std::path::Path;

use common::Letterbox;
use serde_json::{Value, json};

fn spec() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api/openapi.json"),
    )
    .expect("reading openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let lb = Letterbox::start();
    let client = reqwest::Client::new();
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if path.ends_with("/events") {
            continue; // A stream that never ends; tests/events.rs covers it.
        }
        let mut concrete = path
            .replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{tag}", "no-such-tag");
        if path.ends_with("/wait") {
            concrete.push_str("?timeout=10ms");
        }
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let response = client
                .request(method.to_uppercase().parse().unwrap(), lb.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !body.contains("no such page"),
                "{method} {path} is documented but not routed"
            );
        }
    }
}

/// Route paths written in the web sources, with the prefix they are nested under.
fn routes_in_source() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // MailHog's v2 routes are nested under /api/v2, the rest under /api/v1.
        let v2_start = text.find("fn v2_routes").unwrap_or(usize::MAX);
        for (at, _) in text.match_indices(".route(\"") {
            let rest = &text[at + 8..];
            let route = &rest[..rest.find('"').unwrap()];
            let prefix = if at > v2_start { "/api/v2" } else { "/api/v1" };
            found.push(if route == "/" {
                format!("{prefix}/")
            } else {
                format!("{prefix}{route}")
            });
        }
    }
    found
}

#[test]
fn every_route_in_the_source_is_documented() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let routes = routes_in_source();
    assert!(routes.len() > 15, "found too few routes: {routes:?}");
    for route in routes {
        // `/api/v1` itself only redirects to the rendered documentation.
        if route == "/api/v1/" {
            continue;
        }
        assert!(
            paths.contains_key(&route),
            "{route} is routed but not in openapi.json"
        );
    }
}

/// Checks `value` against `schema`: types, required fields, and no fields
/// that the schema does not document.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return check(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .any(|option| std::panic::catch_unwind(|| check(spec, option, value, at)).is_ok());
        assert!(fits, "{at}: {value} fits none of {options:?}");
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert!(
        types.contains(&actual),
        "{at}: {actual} where the schema says {types:?}"
    );
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(spec, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(
                    fields.contains_key(name),
                    "{at}: required field {name} missing"
                );
            }
            for (name, field) in fields {
                let path = format!("{at}.{name}");
                match (&schema["properties"][name], &schema["additionalProperties"]) {
                    (Value::Null, Value::Bool(false)) => panic!("{path} is not documented"),
                    (Value::Null, Value::Object(_)) => {
                        check(spec, &schema["additionalProperties"], field, &path)
                    }
                    (Value::Null, _) => {}
                    (property, _) => check(spec, property, field, &path),
                }
            }
        }
        _ => {}
    }
}

/// The schema of an operation's 200 JSON response.
fn response_schema(spec: &Value, path: &str, method: &str) -> Value {
    spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"].clone()
}

#[tokio::test]
async fn responses_fit_their_schemas() {
    let lb = Letterbox::start();
    let spec = spec();
    let sent = reqwest::Client::new()
        .post(lb.url("/api/v1/send"))
        .json(&json!({
            "From": {"Email": "app@example.test", "Name": "App"},
            "To": [{"Email": "user+signup@example.test"}],
            "Subject": "Your code",
            "Text": "Your code is 123456 https://example.test/a",
            "HTML": "<a href=\"https://example.test/b\">b</a>",
            "Attachments": [{"Content": "aGk=", "Filename": "hi.txt"}, {"Content": "aGk=", "Filename": "logo.png", "ContentID": "logo"}],
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    check(
        &spec,
        &response_schema(&spec, "/api/v1/send", "post"),
        &sent,
        "send",
    );
    let id = sent["ID"].as_str().unwrap();
    lb.send_simple("over smtp").await;

    let checks = [
        ("/api/v1/messages", "/api/v1/messages".to_string()),
        ("/api/v1/search", "/api/v1/search?query=code".to_string()),
        ("/api/v1/message/{id}", format!("/api/v1/message/{id}")),
        (
            "/api/v1/message/{id}/headers",
            format!("/api/v1/message/{id}/headers"),
        ),
        (
            "/api/v1/message/{id}/links",
            format!("/api/v1/message/{id}/links"),
        ),
        (
            "/api/v1/message/{id}/codes",
            format!("/api/v1/message/{id}/codes"),
        ),
        (
            "/api/v1/message/{id}/html-check",
            format!("/api/v1/message/{id}/html-check?locations=true"),
        ),
        (
            "/api/v1/message/{id}/link-check",
            format!("/api/v1/message/{id}/link-check"),
        ),
        (
            "/api/v1/message/{id}/auth-check",
            format!("/api/v1/message/{id}/auth-check"),
        ),
        (
            "/api/v1/message/{id}/relay",
            format!("/api/v1/message/{id}/relay"),
        ),
        ("/api/v1/tags", "/api/v1/tags".to_string()),
        ("/api/v1/info", "/api/v1/info".to_string()),
        ("/api/v1/webui", "/api/v1/webui".to_string()),
        ("/api/v1/chaos", "/api/v1/chaos".to_string()),
        (
            "/api/v1/wait",
            "/api/v1/wait?after=2000-01-01&full=1".to_string(),
        ),
        ("/api/v1/messages/{id}", format!("/api/v1/messages/{id}")),
        ("/api/v2/messages", "/api/v2/messages".to_string()),
        (
            "/api/v2/search",
            "/api/v2/search?kind=containing&query=code".to_string(),
        ),
    ];
    for (documented, url) in checks {
        let value = lb.get_ok(&url).await;
        check(
            &spec,
            &response_schema(&spec, documented, "get"),
            &value,
            &url,
        );
    }
    let (status, error) = lb
        .get_json("/api/v1/message/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await;
    assert_eq!(status, 404);
    check(
        &spec,
        &json!({"$ref": "#/components/schemas/Error"}),
        &error,
        "error",
    );
}

/// `/api/v1/info?additions=1` with its `Webhook`: `null` without one, and
/// with one whose receiver refuses connections (so `LastFailure` is set).
#[tokio::test]
async fn info_with_its_webhook_fits_its_schema() {
    let spec = spec();
    let schema = response_schema(&spec, "/api/v1/info", "get");
    let plain = Letterbox::start();
    let info = plain.get_ok("/api/v1/info?additions=1").await;
    assert_eq!(info["Webhook"], Value::Null, "{info}");
    check(&spec, &schema, &info, "info without a webhook");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let lb = Letterbox::with_args(&["--webhook-url", &url]);
    lb.send_simple("announced").await;
    let info = common::eventually("a failed webhook attempt", async || {
        let info = lb.get_ok("/api/v1/info?additions=1").await;
        info["Webhook"]["LastFailure"].is_object().then_some(info)
    })
    .await;
    check(&spec, &schema, &info, "info with a webhook");
    assert_eq!(info["Webhook"]["Queued"], 1, "{info}");
}

/// The document is valid OpenAPI 3.1, by the reference validator
/// (Python's openapi-spec-validator, which `.ci/run` installs).
#[test]
fn the_document_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api/openapi.json");
    let script = "import json,sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))";
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output();
    match output {
        Ok(out) if out.status.success() => {}
        Ok(out)
            if String::from_utf8_lossy(&out.stderr)
                .contains("No module named 'openapi_spec_validator'")
                && std::env::var_os("CI").is_none() =>
        {
            eprintln!("SKIPPED: pip install openapi-spec-validator to validate openapi.json");
        }
        Ok(out) => panic!(
            "openapi.json does not validate:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: python3 not available: {err}")
        }
        Err(err) => panic!("python3 is needed under CI: {err}"),
    }
}
