//! Checks messages against the JSON Schemas of `schemas/` (what integrators
//! are promised), read at run time so a test sees the files as they are.

use serde_json::Value;

/// The directory of the project's JSON Schemas.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas")).to_path_buf()
}

/// The schema in `schemas/<file>`, parsed.
pub fn schema(file: &str) -> Value {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validates `instance` against the schema in `file`, or against its
/// `properties.<part>` (request/reply files: `"request"`, `"reply"`) with
/// the file's `$defs`; panics listing every error.
pub fn assert_valid(file: &str, part: Option<&str>, instance: &Value) {
    let mut root = schema(file);
    if let Some(part) = part {
        let mut sub = root["properties"][part].clone();
        sub["$defs"] = root["$defs"].clone();
        root = sub;
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{file} {part:?} rejects {instance}:\n{}", errors.join("\n"));
}

/// Sends `body` as JSON to `subject` and returns the JSON reply.
pub async fn request_json(nats: &async_nats::Client, subject: &str, body: &Value) -> Value {
    let reply = nats
        .request(subject.to_owned(), serde_json::to_vec(body).expect("encode request").into())
        .await
        .unwrap_or_else(|e| panic!("request to {subject}: {e}"));
    serde_json::from_slice(&reply.payload).unwrap_or_else(|e| panic!("reply of {subject} is not JSON: {e}"))
}

/// Sends `body` to the endpoint `subject` and checks the request and the
/// reply against `properties.request` and `properties.reply` of `file`;
/// returns the reply.
pub async fn checked_request(nats: &async_nats::Client, subject: &str, file: &str, body: Value) -> Value {
    assert_valid(file, Some("request"), &body);
    let reply = request_json(nats, subject, &body).await;
    assert_valid(file, Some("reply"), &reply);
    reply
}
