//! The condition language of alert rules (a subset of CEL).
//!
//! A rule's condition, e.g. `host.cpu.percent > 80` or
//! `container.status != 'running'`, is compiled once by
//! [`Condition::compile`] (lexer → recursive-descent parser that resolves
//! every variable and checks every type) and then evaluated on every
//! snapshot with [`Condition::evaluate`]. The grammar, the variables and the
//! semantics are documented in `docs/alerting-conditions.md`.
//!
//! **Invariants:** a compiled condition is well-typed and is a bool; it
//! reads host variables and the variables of at most one [`Scope`] (mount,
//! container or service), so the caller makes one alert instance per item of
//! that scope ([`items`]). Evaluation never allocates and never fails: a
//! missing value (no snapshot, no swap, no previous snapshot for a rate, an
//! absent or failed custom metric) makes the result unknown (`None`) unless
//! `&&`/`||` decide without it. Every [`ConditionError`] names a 1-based
//! column (in chars, from the start of the text).

mod ast;
mod lexer;
mod parser;
mod vars;

#[cfg(test)]
mod tests;

use std::fmt;

pub use vigil_bus::messages::{ContainerMetrics, CustomMetric, HostMetrics, MountMetrics, ServiceMetrics};

use ast::{Bool, Compare, Num};
use vars::Variable;

/// The longest condition accepted, in bytes.
pub const MAX_CONDITION_BYTES: usize = 4096;

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    text: String,
    root: Bool,
    scope: Scope,
    uses_host_status: bool,
    uses_metrics: bool,
    value: Option<Variable>,
}

/// What one alert instance of a rule is about: the host, or one of its
/// mounts, containers or services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Host,
    Mount,
    Container,
    Service,
}

/// Why a condition does not compile, at a 1-based column in chars.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ConditionError {
    pub column: usize,
    pub message: String,
}

/// What a condition is evaluated against: one host and at most one item of
/// the condition's scope.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub host: HostFacts<'a>,
    pub item: Item<'a>,
}

#[derive(Clone, Copy, Debug)]
pub struct HostFacts<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub online: bool,
    /// None when evaluating a host event (no snapshot): every metric
    /// variable is then missing.
    pub metrics: Option<&'a HostMetrics>,
    /// Bytes per second received over all interfaces since the previous
    /// snapshot; None on the first one.
    pub rx_rate: Option<f64>,
    /// Bytes per second sent, as `rx_rate`.
    pub tx_rate: Option<f64>,
    pub custom: &'a [CustomMetric],
}

/// The item of a scope an instance is about.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    None,
    Mount(&'a MountMetrics),
    Container(&'a ContainerMetrics),
    Service(&'a ServiceMetrics),
}

impl<'a> Item<'a> {
    /// The instance label: mount path / container name / service name;
    /// None for [`Item::None`]. Borrowed from the snapshot, not the item.
    pub fn label(&self) -> Option<&'a str> {
        match *self {
            Item::None => None,
            Item::Mount(mount) => Some(&mount.path),
            Item::Container(container) => Some(&container.name),
            Item::Service(service) => Some(&service.name),
        }
    }
}

/// The items of a snapshot an instance is made for, per scope: one
/// [`Item::None`] for [`Scope::Host`], else one per mount, container or
/// service.
pub fn items<'a>(
    scope: Scope,
    metrics: &'a HostMetrics,
    containers: &'a [ContainerMetrics],
    services: &'a [ServiceMetrics],
) -> impl Iterator<Item = Item<'a>> {
    match scope {
        Scope::Host => Items::Host(Some(())),
        Scope::Mount => Items::Mounts(metrics.disk.mounts.iter()),
        Scope::Container => Items::Containers(containers.iter()),
        Scope::Service => Items::Services(services.iter()),
    }
}

enum Items<'a> {
    Host(Option<()>),
    Mounts(std::slice::Iter<'a, MountMetrics>),
    Containers(std::slice::Iter<'a, ContainerMetrics>),
    Services(std::slice::Iter<'a, ServiceMetrics>),
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        match self {
            Items::Host(once) => once.take().map(|()| Item::None),
            Items::Mounts(mounts) => mounts.next().map(Item::Mount),
            Items::Containers(containers) => containers.next().map(Item::Container),
            Items::Services(services) => services.next().map(Item::Service),
        }
    }
}

/// A value shown to people (`{{value}}` in a message).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
}

impl fmt::Display for Value {
    /// Numbers rounded to at most 2 decimals, without trailing zeros
    /// (`92.5`, `80`, `33.33`); strings as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(number) => {
                if !number.is_finite() {
                    return write!(f, "{number}");
                }
                // Beyond 1e15, x * 100 no longer holds the decimals exactly.
                let rounded = if number.abs() < 1e15 { (number * 100.0).round() / 100.0 } else { number.round() };
                // No "-0".
                let rounded = if rounded == 0.0 { 0.0 } else { rounded };
                write!(f, "{rounded}")
            }
            Value::Text(text) => f.write_str(text),
            Value::Bool(value) => write!(f, "{value}"),
        }
    }
}

impl Condition {
    /// Compiles `text`, or says at which column and why it is not a valid
    /// condition (empty, longer than [`MAX_CONDITION_BYTES`], a syntax error,
    /// a type error, an unknown variable, two scopes).
    pub fn compile(text: &str) -> Result<Condition, ConditionError> {
        if text.len() > MAX_CONDITION_BYTES {
            return Err(ConditionError {
                column: 1,
                message: format!("expected a condition of at most {MAX_CONDITION_BYTES} bytes but found {} bytes", text.len()),
            });
        }
        let parsed = parser::parse(text)?;
        Ok(Condition {
            text: text.to_owned(),
            root: parsed.root,
            scope: parsed.scope,
            uses_host_status: parsed.uses_host_status,
            uses_metrics: parsed.uses_metrics,
            value: parsed.value,
        })
    }

    /// The text it was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Host, or the one scope of the items it reads.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// True when it reads `host.status` (the rule is also evaluated on host
    /// online/offline events).
    pub fn uses_host_status(&self) -> bool {
        self.uses_host_status
    }

    /// True when it reads any metric variable (anything but
    /// host.id/name/status).
    pub fn uses_metrics(&self) -> bool {
        self.uses_metrics
    }

    /// Some(true/false), or None when unknown (a missing value decided it).
    /// Does not allocate.
    pub fn evaluate(&self, facts: &Facts<'_>) -> Option<bool> {
        self.root.eval(facts)
    }

    /// The value shown as `{{value}}`: the first (leftmost) variable the
    /// condition reads that is not host.id/host.name; None when missing.
    pub fn value(&self, facts: &Facts<'_>) -> Option<Value> {
        match self.value.as_ref()? {
            Variable::Number(var) => var.read(facts).map(Value::Number),
            Variable::Custom(name) => vars::read_custom(name, facts).map(Value::Number),
            Variable::Text(var) => var.read(facts).map(|text| Value::Text(text.to_owned())),
        }
    }

    /// Hysteresis: for a condition that is exactly one comparison
    /// `<variable> <op> <number>` (op one of `>`, `>=`, `<`, `<=`), the
    /// condition that tells the alert may clear: the comparison negated
    /// against `threshold` (`host.cpu.percent > 80` with threshold 70 →
    /// `host.cpu.percent <= 70`). Errors (column 1) when the condition has
    /// another shape, or when the threshold is on the wrong side (for
    /// `>`/`>=` it must be <= the condition's number; for `<`/`<=`, >=).
    pub fn clear_below(&self, threshold: f64) -> Result<Condition, ConditionError> {
        let error = |message: String| ConditionError { column: 1, message };
        let Bool::CompareNumbers(op, variable, Num::Const(number)) = &self.root else {
            return Err(error(format!(
                "expected a condition of the form <variable> > <number> (or >=, <, <=) for a clear threshold but found {}",
                self.text.trim()
            )));
        };
        let variable = match variable {
            Num::Var(var) => Variable::Number(*var),
            Num::Custom(name) => Variable::Custom(name.clone()),
            _ => {
                return Err(error(format!(
                    "expected a single variable on the left of {} for a clear threshold but found an expression",
                    op.symbol()
                )))
            }
        };
        if !threshold.is_finite() {
            return Err(error(format!("expected a finite clear threshold but found {threshold}")));
        }
        let right_side = match op {
            Compare::Gt | Compare::Ge => threshold <= *number,
            Compare::Lt | Compare::Le => threshold >= *number,
            Compare::Eq | Compare::Ne => {
                return Err(error(format!(
                    "expected a comparison with >, >=, < or <= for a clear threshold but found {}",
                    op.symbol()
                )))
            }
        };
        if !right_side {
            let relation = if matches!(op, Compare::Gt | Compare::Ge) { "at most" } else { "at least" };
            return Err(error(format!(
                "expected a clear threshold {relation} {number} (the condition is {} {} {number}) but found {threshold}",
                variable.path(),
                op.symbol()
            )));
        }
        let text = format!("{} {} {threshold}", variable.path(), op.negated().symbol());
        Condition::compile(&text)
    }
}
