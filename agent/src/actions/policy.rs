//! The agent's action policy: the canonical command line an action stands
//! for, and the decision of `actions.allowed` / `actions.denied` on it. The
//! agent is the authority: the server and the dashboard only predict this
//! (the shared vectors are `tests/fixtures/action-policy-cases.json`).
//!
//! Canonical command lines:
//! - systemd: `systemctl <verb> <unit>`, the unit being the name plus
//!   `.service` unless it already ends in a unit suffix ([`UNIT_SUFFIXES`]);
//! - OpenRC: `rc-service <name> <verb>`;
//! - containers: `<engine> <verb> <name>`, the engine being `params.engine`
//!   or else the agent's first engine;
//! - exec: `exec <command>`.
//!
//! Decision, in this order: a name refused by
//! [`vigil_bus::actions::check_params`], a service action without a service
//! manager or a container engine the agent does not use is refused before any
//! rule; actions disabled refuse everything; a `denied` glob matching the
//! canonical line (for exec also the bare command) refuses, naming the
//! entry; an `allowed` glob matching allows (for exec only an entry
//! `exec <program> ...` whose program word has no wildcard, and whose
//! wildcards never match a shell metacharacter, see [`SHELL_METACHARACTERS`]);
//! nothing matching refuses by default.

use std::collections::BTreeMap;

use vigil_bus::messages::ActionType;

use crate::containers::Engine;

/// What runs service actions here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceManager {
    Systemd,
    OpenRc,
    None,
}

impl ServiceManager {
    /// The name in the config and in the registered policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Systemd => "systemd",
            Self::OpenRc => "openrc",
            Self::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "systemd" => Some(Self::Systemd),
            "openrc" => Some(Self::OpenRc),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// `auto`: systemd when `/run/systemd/system` exists, OpenRC when
    /// `/run/openrc` exists or `rc-service` is on `PATH`, none otherwise.
    pub fn detect() -> Self {
        if std::path::Path::new("/run/systemd/system").is_dir() {
            Self::Systemd
        } else if std::path::Path::new("/run/openrc").is_dir() || on_path("rc-service") {
            Self::OpenRc
        } else {
            Self::None
        }
    }

    /// The configured one, or the detected one for `auto` (`None`).
    pub fn resolve(setting: Option<ServiceManager>) -> Self {
        setting.unwrap_or_else(Self::detect)
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// systemd unit suffixes kept as they are (`getty@tty1.service`).
pub const UNIT_SUFFIXES: [&str; 11] =
    [".service", ".socket", ".timer", ".target", ".path", ".mount", ".automount", ".slice", ".scope", ".swap", ".device"];

/// What `*` and `?` of an allowed exec entry never match.
pub const SHELL_METACHARACTERS: &[char] =
    &[';', '&', '|', '<', '>', '$', '`', '\\', '"', '\'', '(', ')', '{', '}', '[', ']', '!', '#', '~', '*', '?', '\n'];

/// The policy an action is decided under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    pub allowed: Vec<String>,
    pub denied: Vec<String>,
    pub service_manager: ServiceManager,
    /// Container engines the agent acts through, in the order it tries them.
    pub engines: Vec<Engine>,
}

/// What an action does, once its params are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Run `argv` (`systemctl restart nginx.service`).
    Service { argv: Vec<String> },
    /// Ask `engine`'s API to `verb` (`start`, `stop`, `restart`) `name`.
    Container { engine: Engine, verb: &'static str, name: String },
    /// `sh -c command`.
    Exec { command: String },
}

/// An action as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// The command line the rules are matched against.
    pub line: String,
    pub target: Target,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `None`: refused before any rule (bad params, nothing to run it with).
    pub canonical: Option<Canonical>,
    pub allowed: bool,
    /// The entry that decided; `None` when refused by default or before rules.
    pub rule: Option<String>,
    /// Why it was refused (empty when allowed).
    pub reason: String,
}

impl Decision {
    fn refused(canonical: Option<Canonical>, rule: Option<String>, reason: String) -> Self {
        Decision { canonical, allowed: false, rule, reason }
    }
}

/// `systemctl`'s unit for a service name.
pub fn unit_name(name: &str) -> String {
    if UNIT_SUFFIXES.iter().any(|suffix| name.len() > suffix.len() && name.ends_with(suffix)) {
        name.to_owned()
    } else {
        format!("{name}.service")
    }
}

impl Policy {
    /// The canonical command line of an action, or why it cannot run here.
    pub fn canonical(&self, action: ActionType, params: &BTreeMap<String, String>) -> Result<Canonical, String> {
        vigil_bus::actions::check_params(action, params).map_err(|error| error.to_string())?;
        let target = params.get(action.target_param()).cloned().unwrap_or_default();
        let verb = action.verb();
        match action {
            ActionType::Exec => Ok(Canonical { line: format!("exec {target}"), target: Target::Exec { command: target } }),
            ActionType::RestartService | ActionType::StartService | ActionType::StopService | ActionType::StatusService => {
                let argv: Vec<String> = match self.service_manager {
                    ServiceManager::Systemd => vec!["systemctl".into(), verb.into(), unit_name(&target)],
                    ServiceManager::OpenRc => vec!["rc-service".into(), target, verb.into()],
                    ServiceManager::None => {
                        return Err("no service manager (systemd or OpenRC) runs on this machine; service actions cannot run \
                                    (actions.service_manager)"
                            .into())
                    }
                };
                Ok(Canonical { line: argv.join(" "), target: Target::Service { argv } })
            }
            ActionType::RestartContainer | ActionType::StartContainer | ActionType::StopContainer => {
                let engine = match params.get("engine") {
                    Some(name) => {
                        let engine = Engine::from_name(name).ok_or_else(|| format!("unknown container engine {name:?}"))?;
                        if !self.engines.contains(&engine) {
                            return Err(format!(
                                "this agent does not use {name} (its container engines: {})",
                                engine_list(&self.engines)
                            ));
                        }
                        engine
                    }
                    None => *self.engines.first().ok_or_else(|| {
                        "this agent uses no container engine (no Docker, Podman or Incus socket; see collection.containers)"
                            .to_owned()
                    })?,
                };
                Ok(Canonical {
                    line: format!("{} {verb} {target}", engine.name()),
                    target: Target::Container { engine, verb, name: target },
                })
            }
        }
    }

    /// Decides an action (see the module documentation for the order).
    pub fn decide(&self, action: ActionType, params: &BTreeMap<String, String>) -> Decision {
        let canonical = self.canonical(action, params);
        if !self.enabled {
            return Decision::refused(
                canonical.ok(),
                None,
                "remote actions are disabled on this agent (actions.enabled: false)".into(),
            );
        }
        let canonical = match canonical {
            Ok(canonical) => canonical,
            Err(reason) => return Decision::refused(None, None, reason),
        };
        let bare = match &canonical.target {
            Target::Exec { command } => Some(command.as_str()),
            _ => None,
        };
        if let Some(entry) = self
            .denied
            .iter()
            .find(|entry| glob(entry, &canonical.line, |_| true) || bare.is_some_and(|command| glob(entry, command, |_| true)))
        {
            let reason = format!("denied by the actions.denied entry {entry:?}");
            return Decision::refused(Some(canonical), Some(entry.clone()), reason);
        }
        let allows = |entry: &&String| match bare {
            None => glob(entry, &canonical.line, |_| true),
            Some(_) => names_a_program(entry) && glob(entry, &canonical.line, |c| !SHELL_METACHARACTERS.contains(&c)),
        };
        match self.allowed.iter().find(allows) {
            Some(entry) => {
                Decision { rule: Some(entry.clone()), canonical: Some(canonical), allowed: true, reason: String::new() }
            }
            None => {
                let reason = match bare {
                    Some(_) => format!(
                        "no actions.allowed entry `exec <program> ...` allows {:?} (exec is refused by default)",
                        canonical.line
                    ),
                    None => format!("no actions.allowed entry matches {:?}", canonical.line),
                };
                Decision::refused(Some(canonical), None, reason)
            }
        }
    }
}

fn engine_list(engines: &[Engine]) -> String {
    if engines.is_empty() {
        "none".to_owned()
    } else {
        engines.iter().map(|engine| engine.name()).collect::<Vec<_>>().join(", ")
    }
}

/// An allowed entry that may allow exec: `exec ` then a program word with
/// no wildcard.
pub fn names_a_program(entry: &str) -> bool {
    entry
        .strip_prefix("exec ")
        .and_then(|rest| rest.split(' ').next())
        .is_some_and(|program| !program.is_empty() && !program.contains(['*', '?']))
}

/// `true` when `text` matches `pattern`: `*` any run of characters, `?` one
/// character, anything else itself; a wildcard only matches characters for
/// which `wild` is true.
pub fn glob(pattern: &str, text: &str, wild: impl Fn(char) -> bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    // matches[j]: the pattern so far matches the first j characters of text
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for p in pattern.chars() {
        let mut next = vec![false; text.len() + 1];
        if p == '*' {
            next[0] = matches[0];
        }
        for j in 1..=text.len() {
            let c = text[j - 1];
            next[j] = match p {
                '*' => matches[j] || (next[j - 1] && wild(c)),
                '?' => matches[j - 1] && wild(c),
                literal => matches[j - 1] && c == literal,
            };
        }
        matches = next;
    }
    matches[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_star_question_and_literals() {
        let any = |_| true;
        assert!(glob("systemctl restart *", "systemctl restart nginx.service", any));
        assert!(glob("*", "", any));
        assert!(glob("shutdown*", "shutdown -h now", any));
        assert!(!glob("shutdown*", "exec shutdown", any));
        assert!(glob("nginx?.service", "nginx2.service", any));
        assert!(!glob("nginx?.service", "nginx.service", any));
        assert!(glob("a*b*c", "aXXbYYbc", any));
        assert!(!glob("a*b*c", "aXXbYYbd", any));
        assert!(glob("[x]", "[x]", any), "brackets are literal");
        assert!(!glob("[x]", "x", any));
    }

    #[test]
    fn exec_wildcards_never_match_metacharacters() {
        let plain = |c: char| !SHELL_METACHARACTERS.contains(&c);
        assert!(glob("exec backup.sh *", "exec backup.sh --full /srv", plain));
        for bad in ["; reboot", "a && b", "| sh", "$(id)", "`id`", "x > /etc/passwd", "'q'", "~root", "a*", "b?"] {
            assert!(!glob("exec backup.sh *", &format!("exec backup.sh {bad}"), plain), "{bad}");
        }
        // a literal metacharacter the operator wrote matches itself
        assert!(glob("exec df -h | tail -n *", "exec df -h | tail -n 1", plain));
        assert!(names_a_program("exec /usr/local/bin/backup.sh *"));
        assert!(names_a_program("exec df -h"));
        for entry in ["exec *", "exec df*", "exec ?f", "exec ", "exec", "*", "execdf"] {
            assert!(!names_a_program(entry), "{entry}");
        }
    }

    #[test]
    fn unit_names_get_service_unless_they_have_a_unit_suffix() {
        assert_eq!(unit_name("php8.2-fpm"), "php8.2-fpm.service");
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("getty@tty1.service"), "getty@tty1.service");
        assert_eq!(unit_name("docker.socket"), "docker.socket");
        assert_eq!(unit_name("logrotate.timer"), "logrotate.timer");
        assert_eq!(unit_name("srv-data.mount"), "srv-data.mount");
        assert_eq!(unit_name("a.b"), "a.b.service");
        assert_eq!(unit_name(".service"), ".service.service");
    }
}
