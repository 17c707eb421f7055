//! Step params are handlebars templates over what a run knows:
//! `{alert: {id, host_id, rule_id, rule_name, severity, message, value,
//! host: {name}}, host: {id, name}, scenario: {id, name}, run: {id}}`
//! (`{{alert.host_id}}`, `{{alert.host.name}}` as in the seed). `alert` is
//! there only for a run an alert started, `host` only for a run on a host.
//!
//! Rendering is strict: a variable the data does not hold is an error
//! naming it and the variables there are (a scenario is checked at save
//! time against sample data of the same shape, so a stored scenario never
//! names one its trigger cannot give). Plain text: nothing is HTML-escaped.

use std::sync::OnceLock;

use handlebars::{Handlebars, RenderErrorReason};
use serde_json::{json, Map, Value};
use vigil_bus::messages::Alert;

/// Why a param does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown variable {variable}; the variables are {}", available.join(", "))]
    Unknown { variable: String, available: Vec<String> },
    #[error("{0}")]
    Template(String),
}

/// The host a run acts on: its id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: String,
    pub name: String,
}

/// The template data of a run.
pub fn data(alert: Option<&Alert>, host: Option<&Host>, scenario_id: &str, scenario_name: &str, run_id: &str) -> Value {
    let mut data = Map::new();
    if let Some(alert) = alert {
        data.insert(
            "alert".into(),
            json!({
                "id": alert.id,
                "host_id": alert.host_id,
                "rule_id": alert.rule_id,
                "rule_name": alert.rule_name,
                "severity": alert.severity.as_str(),
                "message": alert.message,
                "value": alert.value.clone().unwrap_or_default(),
                "host": {"name": alert.host_name},
            }),
        );
    }
    if let Some(host) = host {
        data.insert("host".into(), json!({"id": host.id, "name": host.name}));
    }
    data.insert("scenario".into(), json!({"id": scenario_id, "name": scenario_name}));
    data.insert("run".into(), json!({"id": run_id}));
    Value::Object(data)
}

/// A made-up alert of rule `rule_id` on `host` (checks and dry runs).
pub fn sample_alert(rule_id: &str, host: &Host) -> Alert {
    Alert {
        id: "alert-sample".into(),
        tenant_id: "sample".into(),
        host_id: host.id.clone(),
        host_name: host.name.clone(),
        rule_id: rule_id.to_owned(),
        rule_name: "sample rule".into(),
        severity: vigil_bus::messages::Severity::Critical,
        status: vigil_bus::messages::AlertStatus::Firing,
        mount: None,
        container_name: None,
        service_name: None,
        message: "sample alert message".into(),
        value: Some("95.5".into()),
        fingerprint: "sample".into(),
        silenced: false,
        fired_at: chrono::Utc::now(),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
    }
}

/// A made-up host (checks and dry runs).
pub fn sample_host() -> Host {
    Host { id: "sample-host".into(), name: "sample-host".into() }
}

fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry
    })
}

/// Every variable of `data`, dotted (`alert.host.name`), sorted.
pub fn variables(data: &Value) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&path, inner, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk("", data, &mut out);
    out.sort();
    out
}

/// Renders `text` with `data`, strictly.
pub fn render(text: &str, data: &Value) -> Result<String, RenderError> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    registry().render_template(text, data).map_err(|error| match error.reason() {
        RenderErrorReason::MissingVariable(variable) => {
            RenderError::Unknown { variable: variable.clone().unwrap_or_else(|| "(unnamed)".into()), available: variables(data) }
        }
        RenderErrorReason::TemplateError(template) => RenderError::Template(format!("invalid template: {template}")),
        other => RenderError::Template(other.to_string()),
    })
}

/// Renders every param of a step.
pub fn render_params(
    params: &std::collections::BTreeMap<String, String>,
    data: &Value,
) -> Result<std::collections::BTreeMap<String, String>, (String, RenderError)> {
    params
        .iter()
        .map(|(key, text)| render(text, data).map(|value| (key.clone(), value)).map_err(|error| (key.clone(), error)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_data() -> Value {
        let host = Host { id: "h-web1".into(), name: "web-1".into() };
        let mut alert = sample_alert("rule-mem", &host);
        alert.id = "al-1".into();
        alert.value = None;
        data(Some(&alert), Some(&host), "scn-1", "auto restart", "run-1")
    }

    #[test]
    fn the_seeds_templates_render_from_the_alert() {
        let data = alert_data();
        assert_eq!(render("{{alert.host_id}}", &data).unwrap(), "h-web1");
        assert_eq!(
            render("PHP-FPM redémarré automatiquement sur {{alert.host.name}}", &data).unwrap(),
            "PHP-FPM redémarré automatiquement sur web-1"
        );
        assert_eq!(render("{{scenario.name}} {{run.id}} {{host.name}}", &data).unwrap(), "auto restart run-1 web-1");
        assert_eq!(render("a & <b>", &data).unwrap(), "a & <b>", "plain text, nothing escaped");
        assert_eq!(render("{{alert.message}} & {{alert.severity}}", &data).unwrap(), "sample alert message & critical");
        assert_eq!(render("[{{alert.value}}]", &data).unwrap(), "[]", "a missing value renders as nothing");
        assert_eq!(render("{{#if alert.value}}v{{else}}none{{/if}}", &data).unwrap(), "none");
    }

    #[test]
    fn an_unknown_variable_is_named_with_the_variables_there_are() {
        let error = render("{{alert.hostname}}", &alert_data()).unwrap_err();
        let RenderError::Unknown { variable, available } = &error else { panic!("{error:?}") };
        assert_eq!(variable, "alert.hostname");
        assert!(available.contains(&"alert.host.name".to_owned()) && available.contains(&"run.id".to_owned()), "{available:?}");
        assert!(error.to_string().starts_with("unknown variable alert.hostname; the variables are alert.host.name, "), "{error}");

        // a cron run without hosts has neither alert nor host
        let bare = data(None, None, "scn-1", "nightly", "run-1");
        let error = render("{{host.id}}", &bare).unwrap_err().to_string();
        assert_eq!(error, "unknown variable host.id; the variables are run.id, scenario.id, scenario.name");
    }

    #[test]
    fn a_broken_template_is_refused() {
        let error = render("{{alert.host_id", &alert_data()).unwrap_err();
        assert!(matches!(error, RenderError::Template(_)), "{error:?}");
        assert!(error.to_string().starts_with("invalid template"), "{error}");
    }
}
