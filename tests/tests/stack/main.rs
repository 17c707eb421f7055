//! Whole-stack tests: real `vigil` processes (gateway, collector), a private
//! nats-server, a fresh MariaDB database, real `sovigilant` processes or the
//! simulated agent speaking the real gRPC+TLS protocol. One test binary.

mod action_schemas;
mod actions;
mod actions_real;
mod alerter_schemas;
mod alerting;
mod bad_input;
mod bus_auth;
mod bus_schemas;
mod delivery;
mod hardening;
mod history;
mod ingest_path;
mod integrators;
mod inventory;
mod live;
mod orchestrator_schemas;
mod prometheus;
mod scenarios;
mod tenancy;
mod update;
mod vigil_up;

use std::time::Duration;

use serde_json::Value;
use vigil_testkit::eventually;
use vigil_tests::Stack;

/// GET with a bearer token, returning (status, json body).
pub async fn get(stack: &Stack, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(stack.http(path)).bearer_auth(token).send().await.expect("http get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A JSON request with a bearer token: (status, body).
pub async fn send(stack: &Stack, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, stack.http(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("http request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn post(stack: &Stack, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(stack, reqwest::Method::POST, path, token, Some(body)).await
}

/// Waits until the tenant's REST host list shows a host, returns its id.
pub async fn wait_for_host(stack: &Stack, token: &str) -> String {
    eventually("a host in GET /api/hosts", Duration::from_secs(30), || async {
        let (status, body) = get(stack, "/api/hosts", token).await;
        match (status, body.as_array().and_then(|a| a.first())) {
            (200, Some(first)) => first["id"].as_str().map(str::to_owned),
            _ => None,
        }
    })
    .await
}
