//! The remote-action contract shared by the actioner (validates and signs),
//! the gateway (forwards) and `sovigilant` (verifies, decides, runs): which
//! parameters an action takes, which names are acceptable, and the exact
//! bytes the server's action key signs. No cryptography here; the signer and
//! the verifier both build the message with [`signed_message`].
//!
//! Invariants: a service or container name accepted by [`check_params`] is
//! `[A-Za-z0-9@._:-]{1,128}`, so it holds no shell metacharacter, space,
//! newline or `/`; an exec command is one line of printable characters (no
//! control character, at most [`MAX_COMMAND_LEN`] bytes). The signature
//! covers every field the agent acts on (id, tenant, host, type, params,
//! requester, expiry, timeout), so a signed order cannot be replayed for
//! another host, another action or after its expiry.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::messages::{ActionOrder, ActionType};

/// The server's action public key file served under `/downloads/` and
/// pinned by `sovigilant init` in its `state_dir`.
pub const PUBLIC_KEY_FILE: &str = "actions.pub";
/// Longest service or container name accepted.
pub const MAX_NAME_LEN: usize = 128;
/// Longest exec command line accepted.
pub const MAX_COMMAND_LEN: usize = 4096;
/// Most bytes of an action's output the agent reports and the server keeps
/// (the rest is drained and dropped; the report says it was truncated).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Container engines an action may name in its `engine` param.
pub const ENGINES: [&str; 3] = ["docker", "podman", "incus"];

/// Why an action's params were refused; names the param and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("params.{param} is required for {action}")]
    Missing { action: &'static str, param: &'static str },
    #[error("params.{param} is not a parameter of {action} (it takes {takes})")]
    Unknown { action: &'static str, param: String, takes: String },
    #[error("params.{param} {value:?} is empty or longer than {max} characters")]
    Length { param: &'static str, value: String, max: usize },
    #[error("params.{param} {value:?} contains {found:?}; only letters, digits and @ . _ : - are allowed")]
    Character { param: &'static str, value: String, found: char },
    #[error("params.command {value:?} contains the control character {found:?}; give one line of text")]
    Control { value: String, found: char },
    #[error("params.engine {value:?} is not one of docker, podman, incus")]
    Engine { value: String },
}

/// `true` for a character allowed in a service or container name.
pub fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | ':' | '-')
}

/// Checks a service or container name: `[A-Za-z0-9@._:-]{1,128}`.
pub fn check_name(param: &'static str, value: &str) -> Result<(), ParamError> {
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        return Err(ParamError::Length { param, value: value.to_owned(), max: MAX_NAME_LEN });
    }
    if let Some(found) = value.chars().find(|c| !name_char(*c)) {
        return Err(ParamError::Character { param, value: value.to_owned(), found });
    }
    Ok(())
}

/// The params `action` takes: its target (`service`, `container`,
/// `command`) and, for containers, an optional `engine`.
pub fn params_of(action: ActionType) -> &'static [&'static str] {
    match action.target_param() {
        "container" => &["container", "engine"],
        "service" => &["service"],
        _ => &["command"],
    }
}

/// Checks the params of an action of type `action`: its target is present
/// and well formed, nothing else is given.
pub fn check_params(action: ActionType, params: &BTreeMap<String, String>) -> Result<(), ParamError> {
    let takes = params_of(action);
    if let Some(unknown) = params.keys().find(|key| !takes.contains(&key.as_str())) {
        return Err(ParamError::Unknown { action: action.as_str(), param: unknown.clone(), takes: takes.join(", ") });
    }
    let target = action.target_param();
    let value = params.get(target).ok_or(ParamError::Missing { action: action.as_str(), param: target })?;
    match action {
        ActionType::Exec => {
            if value.trim().is_empty() || value.len() > MAX_COMMAND_LEN {
                return Err(ParamError::Length { param: "command", value: value.clone(), max: MAX_COMMAND_LEN });
            }
            if let Some(found) = value.chars().find(|c| c.is_control()) {
                return Err(ParamError::Control { value: value.clone(), found });
            }
        }
        _ => check_name(target, value)?,
    }
    if let Some(engine) = params.get("engine") {
        if !ENGINES.contains(&engine.as_str()) {
            return Err(ParamError::Engine { value: engine.clone() });
        }
    }
    Ok(())
}

/// An instant as the signature carries it: RFC 3339 UTC with milliseconds.
pub fn signed_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Serialize)]
struct Signed<'a> {
    v: u32,
    id: &'a str,
    tenant_id: &'a str,
    host_id: &'a str,
    #[serde(rename = "type")]
    action_type: &'a str,
    params: &'a BTreeMap<String, String>,
    requested_by: &'a str,
    expires_at: String,
    timeout_seconds: u32,
}

/// The exact bytes the action key signs: a JSON object with fixed key order
/// and the params sorted by name (`{"v":1,"id":..,"tenant_id":..,"host_id":..,
/// "type":..,"params":{..},"requested_by":..,"expires_at":"..Z",
/// "timeout_seconds":..}`). `signature` is not part of it.
pub fn signed_message(order: &ActionOrder) -> Vec<u8> {
    let signed = Signed {
        v: 1,
        id: &order.id,
        tenant_id: &order.tenant_id,
        host_id: &order.host_id,
        action_type: order.action_type.as_str(),
        params: &order.params,
        requested_by: &order.requested_by,
        expires_at: signed_time(order.expires_at),
        timeout_seconds: order.timeout_seconds,
    };
    serde_json::to_vec(&signed).expect("strings and numbers always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_allow_unit_and_container_names_and_refuse_shell_characters() {
        for good in ["nginx", "php8.2-fpm", "getty@tty1.service", "web_1", "a:b"] {
            check_params(ActionType::RestartService, &params(&[("service", good)])).unwrap();
        }
        for (bad, found) in [("nginx;reboot", ';'), ("a b", ' '), ("x\nreboot", '\n'), ("$(id)", '$'), ("../x", '/')] {
            let error = check_params(ActionType::RestartService, &params(&[("service", bad)])).unwrap_err();
            assert_eq!(error, ParamError::Character { param: "service", value: bad.into(), found }, "{bad:?}");
        }
        let error = check_params(ActionType::StopContainer, &params(&[("container", "")])).unwrap_err();
        assert!(error.to_string().starts_with("params.container \"\" is empty"), "{error}");
    }

    #[test]
    fn params_are_exactly_what_the_type_takes() {
        let error = check_params(ActionType::RestartContainer, &params(&[])).unwrap_err();
        assert_eq!(error.to_string(), "params.container is required for restart_container");
        let error = check_params(ActionType::Exec, &params(&[("command", "df -h"), ("user", "root")])).unwrap_err();
        assert_eq!(error.to_string(), "params.user is not a parameter of exec (it takes command)");
        let error = check_params(ActionType::StartContainer, &params(&[("container", "web"), ("engine", "lxc")])).unwrap_err();
        assert_eq!(error.to_string(), "params.engine \"lxc\" is not one of docker, podman, incus");
        check_params(ActionType::StartContainer, &params(&[("container", "web"), ("engine", "podman")])).unwrap();
    }

    #[test]
    fn exec_commands_are_one_line() {
        check_params(ActionType::Exec, &params(&[("command", "df -h | tail -n 1")])).unwrap();
        let error = check_params(ActionType::Exec, &params(&[("command", "df\nreboot")])).unwrap_err();
        assert_eq!(error, ParamError::Control { value: "df\nreboot".into(), found: '\n' });
    }

    #[test]
    fn the_signed_message_covers_every_field_but_the_signature() {
        let order = ActionOrder {
            id: "act-1".into(),
            tenant_id: "acme".into(),
            host_id: "h1".into(),
            action_type: ActionType::RestartService,
            params: params(&[("service", "nginx")]),
            requested_by: "ops@acme.test".into(),
            requested_at: DateTime::from_timestamp_millis(1_800_000_000_000).unwrap(),
            expires_at: DateTime::from_timestamp_millis(1_800_000_300_123).unwrap(),
            timeout_seconds: 60,
            signature: "x".into(),
        };
        let message = String::from_utf8(signed_message(&order)).unwrap();
        assert_eq!(
            message,
            r#"{"v":1,"id":"act-1","tenant_id":"acme","host_id":"h1","type":"restart_service","params":{"service":"nginx"},"requested_by":"ops@acme.test","expires_at":"2027-01-15T08:05:00.123Z","timeout_seconds":60}"#
        );
        let unsigned = ActionOrder { signature: "other".into(), ..order.clone() };
        assert_eq!(signed_message(&unsigned), signed_message(&order));
        for changed in [
            ActionOrder { host_id: "h2".into(), ..order.clone() },
            ActionOrder { action_type: ActionType::StopService, ..order.clone() },
            ActionOrder { expires_at: order.expires_at + chrono::Duration::milliseconds(1), ..order.clone() },
            ActionOrder { timeout_seconds: 61, ..order.clone() },
        ] {
            assert_ne!(signed_message(&changed), signed_message(&order));
        }
    }
}
