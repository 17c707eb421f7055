//! Container actions through the engines' APIs on their unix sockets (the
//! same sockets the container metrics come from), never through a CLI:
//! - Docker and Podman (Docker-compatible API): `POST
//!   /containers/{name}/{start|stop|restart}`; 204 done, 304 already
//!   started or stopped (a success saying so), 404 no such container;
//! - Incus: `PUT /1.0/instances/{name}/state` `{"action": .., "timeout": 30}`,
//!   then `GET /1.0/operations/{id}/wait?timeout=N` until the operation ends;
//!   "already running" / "already stopped" is a success saying so.
//!
//! The whole exchange is bounded by the action's timeout (each request's own
//! bound is a little longer, so the action's is the one reported).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::run::Finished;
use crate::containers::{Endpoint, Engine};
use crate::http;

/// Seconds Incus gives an instance to stop cleanly (stop, restart).
pub const INCUS_STATE_TIMEOUT: u32 = 30;
/// How much longer than what is left of the action a request may take.
const SLACK: Duration = Duration::from_secs(1);

/// `verb` (`start`, `stop`, `restart`) the container `name` through
/// `endpoint`, within `timeout`.
pub async fn act(endpoint: &Endpoint, verb: &'static str, name: &str, timeout: Duration) -> Finished {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, async {
        match endpoint.engine {
            Engine::Docker | Engine::Podman => docker(&endpoint.socket, verb, name, timeout).await,
            Engine::Incus => incus(&endpoint.socket, verb, name, started + timeout).await,
        }
    })
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("timed out after {} s", timeout.as_secs())),
    };
    let (output, error) = match outcome {
        Ok(output) => (output, None),
        Err(error) => (String::new(), Some(error)),
    };
    Finished { exit_code: None, output, truncated: false, error, duration: started.elapsed() }
}

/// `message` (Docker) or `error` (Incus) of an error body, else its text.
fn error_message(response: &http::Response) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| {
            body.get("message").or_else(|| body.get("error")).and_then(Value::as_str).map(|text| text.trim().to_owned())
        })
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| response.text_preview())
}

fn past(verb: &str) -> &'static str {
    match verb {
        "start" => "started",
        "stop" => "stopped",
        _ => "restarted",
    }
}

async fn docker(socket: &Path, verb: &'static str, name: &str, timeout: Duration) -> Result<String, String> {
    let path = format!("/containers/{name}/{verb}");
    let response = http::request(socket, "POST", &path, None, timeout + SLACK).await.map_err(|error| error.to_string())?;
    match response.status {
        200..=299 => Ok(format!("{name} {}", past(verb))),
        304 => Ok(format!("{name} was already {}", past(verb))),
        404 => Err(format!("no such container: {name}")),
        status => Err(format!("POST {path}: HTTP {status}: {}", error_message(&response))),
    }
}

async fn incus(socket: &Path, verb: &'static str, name: &str, deadline: Instant) -> Result<String, String> {
    let path = format!("/1.0/instances/{name}/state");
    let body = serde_json::json!({ "action": verb, "timeout": INCUS_STATE_TIMEOUT });
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let response = http::request(socket, "PUT", &path, Some(body.to_string().as_bytes()), remaining() + SLACK)
        .await
        .map_err(|error| error.to_string())?;
    if response.status == 404 {
        return Err(format!("no such instance: {name}"));
    }
    let answer: Value = serde_json::from_slice(&response.body)
        .map_err(|error| format!("PUT {path}: HTTP {}: the answer is not JSON: {error}", response.status))?;
    if !(200..300).contains(&response.status) || answer.get("type").and_then(Value::as_str) == Some("error") {
        return incus_failure(name, verb, &error_message(&response))
            .map_err(|error| format!("PUT {path}: HTTP {}: {error}", response.status));
    }
    let operation = answer
        .get("operation")
        .and_then(Value::as_str)
        .filter(|operation| operation.starts_with("/1.0/operations/"))
        .ok_or_else(|| format!("PUT {path}: the answer names no operation"))?
        .to_owned();
    loop {
        // wait in steps: the answer comes when the operation ends, or after N s
        let wait = remaining().as_secs().clamp(1, 30);
        let wait_path = format!("{operation}/wait?timeout={wait}");
        let response = http::request(socket, "GET", &wait_path, None, Duration::from_secs(wait + 5))
            .await
            .map_err(|error| error.to_string())?;
        let answer: Value = serde_json::from_slice(&response.body)
            .map_err(|error| format!("GET {wait_path}: HTTP {}: the answer is not JSON: {error}", response.status))?;
        if !(200..300).contains(&response.status) {
            return Err(format!("GET {wait_path}: HTTP {}: {}", response.status, error_message(&response)));
        }
        let metadata = answer.get("metadata").cloned().unwrap_or(Value::Null);
        match metadata.get("status").and_then(Value::as_str).unwrap_or_default() {
            "Success" => return Ok(format!("{name} {}", past(verb))),
            "Failure" | "Cancelled" => {
                let err = metadata.get("err").and_then(Value::as_str).unwrap_or("the operation failed");
                return incus_failure(name, verb, err);
            }
            _ if remaining().is_zero() => return Err("the instance did not change state in time".into()),
            _ => continue,
        }
    }
}

/// Incus refuses to start a running instance or stop a stopped one: that is
/// the state asked for, a success saying so.
fn incus_failure(name: &str, verb: &str, err: &str) -> Result<String, String> {
    let lowered = err.to_ascii_lowercase();
    match verb {
        "start" if lowered.contains("already running") => Ok(format!("{name} was already started")),
        "stop" if lowered.contains("already stopped") => Ok(format!("{name} was already stopped")),
        _ => Err(err.to_owned()),
    }
}
