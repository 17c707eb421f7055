//! Checks messages against the JSON Schemas of `schemas/` (what integrators
//! are promised), read at run time so a test sees the files as they are.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use vigil_bus::messages::Reply;
use vigil_bus::subjects::{Endpoint, EndpointName};

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

/// `true` when `instance` breaks `properties.request` of the schema `file`.
pub fn breaks_request_schema(file: &str, instance: &Value) -> bool {
    let root = schema(file);
    let mut request = root["properties"]["request"].clone();
    request["$defs"] = root["$defs"].clone();
    !jsonschema::validator_for(&request).unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}")).is_valid(instance)
}

/// A service's endpoints over NATS, for schema tests: each request and raw
/// reply is checked against the endpoint's file
/// (`<prefix>-<name, dots as dashes>.schema.json`), the reply parsed back
/// into the endpoint's Rust type, and every endpoint called is remembered.
pub struct EndpointBus {
    pub nats: async_nats::Client,
    prefix: &'static str,
    called: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

impl EndpointBus {
    /// `prefix` names the schema files: `actioner`, `alerter`, `orchestrator`.
    pub fn new(nats: async_nats::Client, prefix: &'static str) -> EndpointBus {
        EndpointBus { nats, prefix, called: Default::default() }
    }

    /// The schema file of `endpoint`.
    pub fn schema_file(&self, endpoint: EndpointName) -> String {
        format!("{}-{}.schema.json", self.prefix, endpoint.name.replace('.', "-"))
    }

    /// Sends `request` (validated), validates the raw reply and parses it
    /// into the endpoint's typed reply; returns both.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: Endpoint<Req, Resp>,
        request: &Req,
    ) -> (Value, Reply<Resp>) {
        let name = endpoint.untyped();
        let body = serde_json::to_value(request).expect("encode the request");
        let raw = checked_request(&self.nats, &endpoint.subject(), &self.schema_file(name), body).await;
        self.called.lock().expect("called").insert(name.name);
        let typed = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("the reply of {} does not parse as its Rust type: {e}: {raw}", name.subject()));
        (raw, typed)
    }

    /// The `ok` value of the endpoint's reply; panics on an error reply.
    pub async fn ok<Req: Serialize, Resp: DeserializeOwned>(&self, endpoint: Endpoint<Req, Resp>, request: &Req) -> Resp {
        match self.call(endpoint, request).await {
            (_, Reply::Ok(value)) => value,
            (raw, Reply::Error(_)) => panic!("{} answered an error: {raw}", endpoint.subject()),
        }
    }

    /// The error reply (`{"error": {...}}`, raw) with `code`; panics on an `ok` reply.
    pub async fn error<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: Endpoint<Req, Resp>,
        request: &Req,
        code: &str,
    ) -> Value {
        let (raw, typed) = self.call(endpoint, request).await;
        assert!(matches!(typed, Reply::Error(_)), "{} answered ok: {raw}", endpoint.subject());
        assert_eq!(raw["error"]["code"], code, "{}: {raw}", endpoint.subject());
        raw
    }

    /// Sends `request`, which breaks the endpoint's request schema; its
    /// reply is the error `code`, valid against the reply schema. Returns
    /// the error's message.
    pub async fn refused(&self, endpoint: EndpointName, request: &Value, code: &str) -> String {
        let file = self.schema_file(endpoint);
        assert!(breaks_request_schema(&file, request), "{file} accepts {request}");
        let reply = request_json(&self.nats, &endpoint.subject(), request).await;
        assert_valid(&file, Some("reply"), &reply);
        assert_eq!(reply["error"]["code"], code, "{}: {request} -> {reply}", endpoint.subject());
        reply["error"]["message"].as_str().expect("an error message").to_owned()
    }

    /// Asserts that every endpoint of `all` (a service's `ALL`) was called.
    pub fn assert_all_called(&self, all: &[EndpointName]) {
        let called = self.called.lock().expect("called").clone();
        let all: std::collections::BTreeSet<&str> = all.iter().map(|endpoint| endpoint.name).collect();
        assert_eq!(called, all, "every {} endpoint was called with a valid request", self.prefix);
    }
}
