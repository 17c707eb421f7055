//! A scenario's text parsed and checked, without I/O: every refusal is a
//! [`FieldError`] whose field is the path as written (`steps[1].params.service`,
//! `steps[0].on_fail[0].action`, `trigger`, `guards.max_attempts`).
//!
//! What is checked: the YAML or JSON parses into a [`ScenarioSpec`] (unknown
//! keys refused), exactly one trigger, a cron schedule that parses (5 or 6
//! fields, UTC), host ids, guards that can be met, unique step ids, known
//! `service`/`action` pairs, and each step's params: its templates render
//! (strictly) on sample data of the trigger's shape, and an action's
//! rendered params pass the actioner's own checks. What needs other
//! services (the alert rule exists) is checked by the endpoint.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use vigil_bus::messages::{ActionType, ScenarioSpec, StepSpec, TriggerSpec};

use crate::error::FieldError;
use crate::render::{self, Host};

/// Longest scenario text accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Longest scenario name (the `VARCHAR(100)` of `scenarios.name`).
pub const MAX_NAME_CHARS: usize = 100;
/// Longest param value, in bytes.
pub const MAX_PARAM_BYTES: usize = 4000;
/// Longest wait a step, a verify's `within`, a cooldown or a window may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Longest cooldown or attempts window.
pub const MAX_GUARD_SPAN: Duration = Duration::from_secs(30 * 24 * 3600);
/// A verify step's `within` when it does not say.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5 * 60);
/// How long a notify step retries an alerter that does not answer, when it does not say.
pub const DEFAULT_NOTIFY_WAIT: Duration = Duration::from_secs(30);
/// How long an action step waits for its result when it does not say: the
/// actioner's default timeout (60 s) and 30 s more.
pub const DEFAULT_ACTION_WAIT: Duration = Duration::from_secs(90);

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `service: action`: a remote action through the actioner.
    Action(ActionType),
    /// `service: alert, action: notify`: a message through the alerter's channels.
    Notify,
    /// `service: alert, action: verify`: the triggering alert resolves within `params.within`.
    Verify,
}

impl StepKind {
    /// What `runs.*` call it: `action`, `notify`, `verify`.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Action(_) => "action",
            StepKind::Notify => "notify",
            StepKind::Verify => "verify",
        }
    }

    /// The kind of a step as written; the error is `(field, message)` under the step.
    pub fn of(step: &StepSpec) -> Result<StepKind, (&'static str, String)> {
        match step.service.as_str() {
            "action" => step.action.parse().map(StepKind::Action).map_err(|_| {
                let known: Vec<&str> = ActionType::ALL.iter().map(|kind| kind.as_str()).collect();
                ("action", format!("{:?} is not an action; the actions are {}", step.action, known.join(", ")))
            }),
            "alert" => match step.action.as_str() {
                "notify" => Ok(StepKind::Notify),
                "verify" => Ok(StepKind::Verify),
                other => Err(("action", format!("{other:?} is not an alert step; write notify or verify"))),
            },
            other => {
                Err(("service", format!("{other:?} is not a service; write action (remote actions) or alert (notify, verify)")))
            }
        }
    }

    /// The params the step takes (an action's: `host_id` and the action's own).
    pub fn params(self) -> Vec<&'static str> {
        match self {
            StepKind::Action(action) => {
                let mut params = vec!["host_id"];
                params.extend_from_slice(vigil_bus::actions::params_of(action));
                params
            }
            StepKind::Notify => vec!["message", "channel"],
            StepKind::Verify => vec!["within"],
        }
    }
}

/// Parses a scenario written as YAML or JSON; the error's field is where it
/// went wrong (`steps[1].timeout`), `source` for the text as a whole.
pub fn parse(source: &str) -> Result<ScenarioSpec, FieldError> {
    if source.trim().is_empty() {
        return Err(FieldError::new("source", "is empty; write the scenario as YAML or JSON"));
    }
    if source.len() > MAX_SOURCE_BYTES {
        return Err(FieldError::new("source", format!("is {} bytes; at most {MAX_SOURCE_BYTES}", source.len())));
    }
    let deserializer = serde_yaml::Deserializer::from_str(source);
    serde_path_to_error::deserialize::<_, ScenarioSpec>(deserializer).map_err(|error| {
        let path = error.path().to_string();
        // `?`: serde_path_to_error could not tell where (a YAML syntax error)
        let field = if path.is_empty() || path == "." || path == "?" { "source".to_owned() } else { path };
        // serde_yaml names the path (or its parent) itself too: once is enough
        let message = error.into_inner().to_string();
        let message = match message.split_once(": ") {
            Some((head, rest))
                if field.strip_prefix(head).is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '['])) =>
            {
                rest.to_owned()
            }
            _ => message,
        };
        FieldError::new(field, message)
    })
}

/// A cron schedule: 5 fields (`min hour day month weekday`, at second 0) or
/// 6 (`sec min hour day month weekday`), UTC (the one parser of
/// `vigil_runtime::config`, shared with the collector's downsampling).
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    vigil_runtime::config::cron_schedule(text)
}

/// What starts a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Alert,
    Cron,
    Manual,
}

impl TriggerKind {
    pub fn of(trigger: &TriggerSpec) -> Result<TriggerKind, FieldError> {
        match (&trigger.alert, &trigger.cron, trigger.manual) {
            (Some(_), None, false) => Ok(TriggerKind::Alert),
            (None, Some(_), false) => Ok(TriggerKind::Cron),
            (None, None, true) => Ok(TriggerKind::Manual),
            _ => Err(FieldError::new("trigger", "give exactly one of alert, cron, manual")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Alert => "alert",
            TriggerKind::Cron => "cron",
            TriggerKind::Manual => "manual",
        }
    }
}

/// A step's path in runs (`2`, `2.on_fail.0`) from its parent's and its index.
pub fn step_path(parent: Option<&str>, index: usize) -> String {
    match parent {
        None => index.to_string(),
        Some(parent) => format!("{parent}.on_fail.{index}"),
    }
}

/// A step's path as written (`steps[2]`, `steps[2].on_fail[0]`) from its run path.
pub fn written_path(path: &str) -> String {
    let mut parts = path.split(".on_fail.");
    let mut written = format!("steps[{}]", parts.next().unwrap_or_default());
    for index in parts {
        written.push_str(&format!(".on_fail[{index}]"));
    }
    written
}

/// The step at a run path (`2.on_fail.0`) of `spec`.
pub fn step_at<'a>(spec: &'a ScenarioSpec, path: &str) -> Option<&'a StepSpec> {
    let mut parts = path.split(".on_fail.");
    let mut step = spec.steps.get(parts.next()?.parse::<usize>().ok()?)?;
    for index in parts {
        step = step.on_fail.get(index.parse::<usize>().ok()?)?;
    }
    Some(step)
}

/// How long a verify step waits: its `within` (default 5 min).
pub fn within(params: &BTreeMap<String, String>) -> Result<Duration, String> {
    match params.get("within") {
        None => Ok(DEFAULT_WITHIN),
        Some(text) => {
            let within = vigil_bus::duration::parse(text).map_err(|error| format!("{text:?}: {error}"))?;
            if within.is_zero() || within > MAX_WAIT {
                return Err(format!("{text:?}: give a duration longer than 0 and at most 24h"));
            }
            Ok(within)
        }
    }
}

/// An action's params without `host_id`, as the actioner takes them.
pub fn action_params(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params.iter().filter(|(key, _)| key.as_str() != "host_id").map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The action's param error as `(param, message)`: `params.service "a;b"
/// contains ';'` → (`service`, `"a;b" contains ';'`).
fn param_error(error: &vigil_bus::actions::ParamError) -> (String, String) {
    use vigil_bus::actions::ParamError;
    let param = match error {
        ParamError::Missing { param, .. } | ParamError::Length { param, .. } | ParamError::Character { param, .. } => {
            (*param).to_owned()
        }
        ParamError::Unknown { param, .. } => param.clone(),
        ParamError::Control { .. } => "command".to_owned(),
        ParamError::Engine { .. } => "engine".to_owned(),
    };
    let text = error.to_string();
    let message = text.strip_prefix(&format!("params.{param} ")).unwrap_or(&text).to_owned();
    (param, message)
}

/// Checks a parsed scenario (see the module doc); `max_steps` bounds its
/// steps, `on_fail` ones included.
pub fn check(spec: &ScenarioSpec, max_steps: usize) -> Result<(), FieldError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new("name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if spec.description.len() > 2000 {
        return Err(FieldError::new("description", "is longer than 2000 bytes"));
    }
    let trigger = TriggerKind::of(&spec.trigger)?;
    match trigger {
        TriggerKind::Alert => {
            let rule = spec.trigger.alert.as_deref().unwrap_or_default();
            if rule.trim().is_empty() || rule.len() > 100 {
                return Err(FieldError::new("trigger.alert", "give the alert rule's id (or its name)"));
            }
        }
        TriggerKind::Cron => {
            parse_cron(spec.trigger.cron.as_deref().unwrap_or_default()).map_err(|m| FieldError::new("trigger.cron", m))?;
        }
        TriggerKind::Manual => {}
    }
    for (index, host) in spec.trigger.hosts.iter().enumerate() {
        vigil_bus::ids::validate("host", host).map_err(|e| FieldError::new(format!("trigger.hosts[{index}]"), e.to_string()))?;
        if spec.trigger.hosts[..index].contains(host) {
            return Err(FieldError::new(format!("trigger.hosts[{index}]"), format!("{host:?} is listed twice")));
        }
    }
    check_guards(spec)?;
    if spec.steps.is_empty() {
        return Err(FieldError::new("steps", "give at least one step"));
    }
    let total = count_steps(&spec.steps);
    if total > max_steps {
        return Err(FieldError::new("steps", format!("{total} steps (on_fail included); at most {max_steps}")));
    }
    // sample data of the trigger's shape: what its runs can render with
    let host = match trigger {
        TriggerKind::Cron if spec.trigger.hosts.is_empty() => None,
        _ => Some(render::sample_host()),
    };
    let alert = match (trigger, &host) {
        (TriggerKind::Alert, Some(host)) => Some(render::sample_alert(spec.trigger.alert.as_deref().unwrap_or_default(), host)),
        _ => None,
    };
    let data = render::data(alert.as_ref(), host.as_ref(), "scenario-sample", &spec.name, "run-sample");
    let mut ids = HashMap::new();
    check_steps(&spec.steps, "steps", trigger, &data, &mut ids)
}

fn count_steps(steps: &[StepSpec]) -> usize {
    steps.iter().map(|step| 1 + count_steps(&step.on_fail)).sum()
}

fn check_guards(spec: &ScenarioSpec) -> Result<(), FieldError> {
    let guards = &spec.guards;
    for (field, value) in [
        ("max_attempts", guards.max_attempts),
        ("host_concurrency", guards.host_concurrency),
        ("fleet_concurrency", guards.fleet_concurrency),
    ] {
        if value == 0 {
            return Err(FieldError::new(format!("guards.{field}"), "0 is not allowed; give at least 1"));
        }
    }
    if guards.window.is_zero() || guards.window > MAX_GUARD_SPAN {
        return Err(FieldError::new("guards.window", "give a duration longer than 0 and at most 30d"));
    }
    if guards.cooldown > MAX_GUARD_SPAN {
        return Err(FieldError::new("guards.cooldown", "is longer than 30d"));
    }
    Ok(())
}

fn check_steps(
    steps: &[StepSpec],
    prefix: &str,
    trigger: TriggerKind,
    data: &serde_json::Value,
    ids: &mut HashMap<String, String>,
) -> Result<(), FieldError> {
    for (index, step) in steps.iter().enumerate() {
        let at = format!("{prefix}[{index}]");
        let field = |name: &str| format!("{at}.{name}");
        vigil_bus::ids::validate("step", &step.id).map_err(|e| FieldError::new(field("id"), e.to_string()))?;
        if let Some(first) = ids.insert(step.id.clone(), at.clone()) {
            return Err(FieldError::new(field("id"), format!("{:?} is the id of {first} too; step ids are unique", step.id)));
        }
        let kind = StepKind::of(step).map_err(|(name, message)| FieldError::new(field(name), message))?;
        let takes = kind.params();
        if let Some(unknown) = step.params.keys().find(|key| !takes.contains(&key.as_str())) {
            return Err(FieldError::new(
                field(&format!("params.{unknown}")),
                format!("is not a parameter of {}/{} (it takes {})", step.service, step.action, takes.join(", ")),
            ));
        }
        for (key, value) in &step.params {
            if value.len() > MAX_PARAM_BYTES {
                return Err(FieldError::new(field(&format!("params.{key}")), format!("is longer than {MAX_PARAM_BYTES} bytes")));
            }
        }
        let rendered = render::render_params(&step.params, data)
            .map_err(|(key, error)| FieldError::new(field(&format!("params.{key}")), error.to_string()))?;
        if let Some(timeout) = step.timeout {
            if timeout.is_zero() || timeout > MAX_WAIT {
                return Err(FieldError::new(field("timeout"), "give a duration longer than 0 and at most 24h"));
            }
        }
        match kind {
            StepKind::Action(action) => {
                match rendered.get("host_id") {
                    Some(host) => vigil_bus::ids::validate("host", host)
                        .map_err(|e| FieldError::new(field("params.host_id"), format!("renders {host:?}: {e}")))?,
                    None if trigger == TriggerKind::Cron && data.get("host").is_none() => {
                        return Err(FieldError::new(
                            field("params.host_id"),
                            "is required: the cron trigger names no hosts (give trigger.hosts or this param)",
                        ))
                    }
                    None => {}
                }
                vigil_bus::actions::check_params(action, &action_params(&rendered)).map_err(|error| {
                    let (param, message) = param_error(&error);
                    FieldError::new(field(&format!("params.{param}")), message)
                })?;
            }
            StepKind::Notify => {
                if rendered.get("message").is_none_or(|message| message.trim().is_empty()) {
                    return Err(FieldError::new(field("params.message"), "is required: the text to send"));
                }
                if step.params.get("channel").is_some_and(|channel| channel.trim().is_empty()) {
                    return Err(FieldError::new(
                        field("params.channel"),
                        "is empty; give a channel id, name or type, or leave it out",
                    ));
                }
            }
            StepKind::Verify => {
                if trigger != TriggerKind::Alert {
                    return Err(FieldError::new(
                        field("action"),
                        format!(
                            "verify waits for the triggering alert to resolve; the trigger is {}, not alert",
                            trigger.as_str()
                        ),
                    ));
                }
                within(&rendered).map_err(|message| FieldError::new(field("params.within"), message))?;
            }
        }
        check_steps(&step.on_fail, &format!("{at}.on_fail"), trigger, data, ids)?;
    }
    Ok(())
}

/// The host a step acts on: its rendered `host_id`, else the run's.
pub fn step_host<'a>(params: &'a BTreeMap<String, String>, run_host: Option<&'a Host>) -> Option<&'a str> {
    params.get("host_id").map(String::as_str).or(run_host.map(|host| host.id.as_str()))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const SEED: &str = r#"
name: auto_restart_on_high_memory
trigger:
  alert: memory_high

steps:
  - id: restart_php
    service: action
    action: restart_service
    params:
      host_id: "{{alert.host_id}}"
      service: php-fpm

  - id: notify
    service: alert
    action: notify
    params:
      channel: slack
      message: "PHP-FPM redémarré automatiquement sur {{alert.host.name}}"
"#;

    fn refused(source: &str) -> String {
        let spec = match parse(source) {
            Ok(spec) => spec,
            Err(error) => return error.to_string(),
        };
        check(&spec, 50).expect_err(source).to_string()
    }

    /// The seed's scenario with `old` replaced by `new`.
    fn seed_with(old: &str, new: &str) -> String {
        assert!(SEED.contains(old), "{old}");
        SEED.replace(old, new)
    }

    #[test]
    fn the_seeds_scenario_parses_with_default_guards_and_passes() {
        let spec = parse(SEED).unwrap();
        check(&spec, 50).unwrap();
        assert_eq!(spec.trigger.alert.as_deref(), Some("memory_high"));
        assert!(spec.enabled);
        assert_eq!(spec.guards.cooldown, Duration::from_secs(600));
        assert_eq!((spec.guards.max_attempts, spec.guards.host_concurrency, spec.guards.fleet_concurrency), (3, 1, 5));
        assert_eq!(spec.steps.len(), 2);
        assert_eq!(StepKind::of(&spec.steps[0]), Ok(StepKind::Action(ActionType::RestartService)));
        assert_eq!(StepKind::of(&spec.steps[1]), Ok(StepKind::Notify));
    }

    #[test]
    fn json_is_yaml_too() {
        let json = r#"{"name": "n", "trigger": {"manual": true}, "steps": [{"id": "s", "service": "action",
            "action": "exec", "params": {"host_id": "h1", "command": "uptime"}}]}"#;
        check(&parse(json).unwrap(), 50).unwrap();
    }

    #[test]
    fn parse_errors_start_with_the_field_path() {
        assert!(refused("").starts_with("source: is empty"));
        assert!(refused("name: [").starts_with("name: invalid type: sequence"), "{}", refused("name: ["));
        let syntax = refused("name: 'unterminated\ntrigger: {manual: true}\n");
        assert!(syntax.starts_with("name: found unexpected end of stream at line 3"), "{syntax}");
        let syntax = refused("name: x\n  trigger: {manual: true}\nsteps: a: b\n");
        assert!(syntax.starts_with("source: mapping values are not allowed"), "{syntax}");
        let unknown = refused(&seed_with("name: auto", "colour: red\nname: auto"));
        assert!(unknown.starts_with("colour: unknown field `colour`"), "{unknown}");
        let step_field = refused(&seed_with("    service: action\n", "    service: action\n    retries: 3\n"));
        assert!(step_field.starts_with("steps[0].retries: unknown field `retries`"), "{step_field}");
        let timeout = refused(&seed_with("    service: alert\n", "    service: alert\n    timeout: soon\n"));
        assert!(timeout.starts_with("steps[1].timeout: "), "{timeout}");
        let missing = refused("name: x\ntrigger: {manual: true}\n");
        assert!(missing.starts_with("source: missing field `steps`"), "{missing}");
    }

    #[test]
    fn exactly_one_trigger() {
        let both = refused(&seed_with("  alert: memory_high", "  alert: memory_high\n  cron: \"0 * * * *\""));
        assert_eq!(both, "trigger: give exactly one of alert, cron, manual");
        assert_eq!(
            refused(&seed_with("  alert: memory_high", "  hosts: [h1]")),
            "trigger: give exactly one of alert, cron, manual"
        );
        let cron = refused(&seed_with("  alert: memory_high", "  cron: \"61 * * * *\""));
        assert!(cron.starts_with("trigger.cron: \"61 * * * *\": "), "{cron}");
        let fields = refused(&seed_with("  alert: memory_high", "  cron: \"* * *\""));
        assert!(fields.starts_with("trigger.cron: \"* * *\" has 3 fields; write 5"), "{fields}");
        let host = refused(&seed_with("  alert: memory_high", "  alert: memory_high\n  hosts: [web.1]"));
        assert!(host.starts_with("trigger.hosts[0]: host id \"web.1\" contains '.'"), "{host}");
    }

    #[test]
    fn cron_takes_five_or_six_fields_in_utc() {
        let five = parse_cron("30 2 * * *").unwrap();
        let next = five.upcoming(Utc).next().unwrap();
        assert_eq!((next.format("%H:%M:%S").to_string()), "02:30:00");
        let six = parse_cron("*/10 * * * * *").unwrap();
        assert_eq!(six.upcoming(Utc).next().unwrap().timestamp() % 10, 0);
        assert!(parse_cron("0 0 * * * * 2020").is_err(), "7 fields are refused");
    }

    #[test]
    fn steps_are_named_by_their_path_when_refused() {
        let action = refused(&seed_with("action: restart_service", "action: reboot"));
        assert!(
            action.starts_with("steps[0].action: \"reboot\" is not an action; the actions are restart_service, "),
            "{action}"
        );
        let service = refused(&seed_with("service: alert", "service: mail"));
        assert!(service.starts_with("steps[1].service: \"mail\" is not a service"), "{service}");
        let alert_action = refused(&seed_with("action: notify", "action: page"));
        assert!(alert_action.starts_with("steps[1].action: \"page\" is not an alert step"), "{alert_action}");
        let id = refused(&seed_with("id: notify", "id: restart_php"));
        assert_eq!(id, "steps[1].id: \"restart_php\" is the id of steps[0] too; step ids are unique");
        let param = refused(&seed_with("service: php-fpm", "service: \"php-fpm;reboot\""));
        assert_eq!(
            param,
            "steps[0].params.service: \"php-fpm;reboot\" contains ';'; only letters, digits and @ . _ : - are allowed"
        );
        let missing = refused(&seed_with("      service: php-fpm\n", ""));
        assert_eq!(missing, "steps[0].params.service: is required for restart_service");
        let unknown = refused(&seed_with("service: php-fpm", "service: php-fpm\n      user: root"));
        assert_eq!(unknown, "steps[0].params.user: is not a parameter of action/restart_service (it takes host_id, service)");
        let host = refused(&seed_with("\"{{alert.host_id}}\"", "\"web 1\""));
        assert!(host.starts_with("steps[0].params.host_id: renders \"web 1\": host id \"web 1\" contains ' '"), "{host}");
        let message = refused(&seed_with("      message: \"PHP-FPM redémarré automatiquement sur {{alert.host.name}}\"\n", ""));
        assert_eq!(message, "steps[1].params.message: is required: the text to send");
    }

    #[test]
    fn an_action_param_is_checked_after_a_test_render() {
        // a template rendering a message into a service name cannot pass
        let rendered = refused(&seed_with("service: php-fpm", "service: \"{{alert.message}}\""));
        assert!(rendered.starts_with("steps[0].params.service: \"sample alert message\" contains ' '"), "{rendered}");
        check(&parse(&seed_with("service: php-fpm", "service: \"{{alert.host.name}}\"")).unwrap(), 50).unwrap();
    }

    #[test]
    fn templates_are_strict_about_variables_and_the_triggers_shape() {
        let unknown = refused(&seed_with("{{alert.host.name}}", "{{alert.hostname}}"));
        assert!(
            unknown.starts_with("steps[1].params.message: unknown variable alert.hostname; the variables are alert.host.name"),
            "{unknown}"
        );
        let syntax = refused(&seed_with("{{alert.host.name}}", "{{alert.host.name"));
        assert!(syntax.starts_with("steps[1].params.message: invalid template"), "{syntax}");
        // a cron run without hosts has no alert and no host
        let cron = "name: n\ntrigger: {cron: \"0 3 * * *\"}\nsteps:\n  - {id: a, service: alert, action: notify, params: {message: \"{{host.name}}\"}}\n";
        assert!(refused(cron).starts_with(
            "steps[0].params.message: unknown variable host.name; the variables are run.id, scenario.id, scenario.name"
        ));
        let no_host = "name: n\ntrigger: {cron: \"0 3 * * *\"}\nsteps:\n  - {id: a, service: action, action: exec, params: {command: uptime}}\n";
        assert!(refused(no_host).starts_with("steps[0].params.host_id: is required: the cron trigger names no hosts"));
        let with_hosts = "name: n\ntrigger: {cron: \"0 3 * * *\", hosts: [h1, h2]}\nsteps:\n  - {id: a, service: action, action: exec, params: {command: \"echo {{host.name}}\"}}\n";
        check(&parse(with_hosts).unwrap(), 50).unwrap();
        let manual_alert = "name: n\ntrigger: {manual: true}\nsteps:\n  - {id: a, service: alert, action: notify, params: {message: \"{{alert.id}}\"}}\n";
        assert!(refused(manual_alert).starts_with("steps[0].params.message: unknown variable alert.id"));
    }

    #[test]
    fn verify_needs_an_alert_trigger_and_a_within() {
        let verify = "  - id: check\n    service: alert\n    action: verify\n    params: {within: 2m}\n    on_fail:\n      - {id: page, service: alert, action: notify, params: {message: still down}}\n";
        let spec = parse(&format!("{SEED}{verify}")).unwrap();
        check(&spec, 50).unwrap();
        assert_eq!(within(&spec.steps[2].params), Ok(Duration::from_secs(120)));
        assert_eq!(within(&BTreeMap::new()), Ok(DEFAULT_WITHIN));
        let bad = refused(&format!("{SEED}{}", verify.replace("2m", "soon")));
        assert!(bad.starts_with("steps[2].params.within: \"soon\""), "{bad}");
        let manual = format!(
            "{}{verify}",
            SEED.replace("alert: memory_high", "manual: true")
                .replace("{{alert.host_id}}", "h1")
                .replace("{{alert.host.name}}", "h1")
        );
        assert!(refused(&manual)
            .starts_with("steps[2].action: verify waits for the triggering alert to resolve; the trigger is manual"));
        let nested = format!("{SEED}{}", verify.replace("message: still down", "message: \"{{alert.nope}}\""));
        assert!(
            refused(&nested).starts_with("steps[2].on_fail[0].params.message: unknown variable alert.nope"),
            "{}",
            refused(&nested)
        );
    }

    #[test]
    fn guards_and_sizes_are_bounded() {
        let guards = |text: &str| refused(&seed_with("steps:", &format!("guards: {{{text}}}\nsteps:")));
        assert_eq!(guards("max_attempts: 0"), "guards.max_attempts: 0 is not allowed; give at least 1");
        assert_eq!(guards("fleet_concurrency: 0"), "guards.fleet_concurrency: 0 is not allowed; give at least 1");
        assert!(guards("window: 0s").starts_with("guards.window: "));
        assert!(guards("cooldown: tomorrow").starts_with("guards.cooldown: "), "{}", guards("cooldown: tomorrow"));
        let spec = parse(SEED).unwrap();
        assert_eq!(check(&spec, 1).unwrap_err().to_string(), "steps: 2 steps (on_fail included); at most 1");
        assert_eq!(refused("name: \"\"\ntrigger: {manual: true}\nsteps: []\n"), "name: must be 1 to 100 characters");
        assert_eq!(refused("name: n\ntrigger: {manual: true}\nsteps: []\n"), "steps: give at least one step");
    }

    #[test]
    fn paths_round_trip_between_runs_and_the_text() {
        let spec = parse(&format!(
            "{SEED}  - id: check\n    service: alert\n    action: verify\n    on_fail:\n      - {{id: page, service: alert, action: notify, params: {{message: m}}}}\n"
        ))
        .unwrap();
        assert_eq!(step_path(None, 2), "2");
        assert_eq!(step_path(Some("2"), 0), "2.on_fail.0");
        assert_eq!(written_path("2.on_fail.0"), "steps[2].on_fail[0]");
        assert_eq!(written_path("1"), "steps[1]");
        assert_eq!(step_at(&spec, "2.on_fail.0").unwrap().id, "page");
        assert_eq!(step_at(&spec, "0").unwrap().id, "restart_php");
        assert!(step_at(&spec, "5").is_none() && step_at(&spec, "0.on_fail.0").is_none());
    }
}
