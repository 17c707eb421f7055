//! The variables a condition can read: their names, types, scopes, and how
//! each one is read from [`Facts`] without allocating.

use super::{Facts, Item, Scope};

/// A numeric variable (everything but `custom.*`, which carries a name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NumVar {
    HostUptime,
    CpuPercent,
    CpuCores,
    MemoryPercent,
    MemoryUsed,
    MemoryTotal,
    MemoryAvailable,
    SwapUsed,
    SwapTotal,
    SwapPercent,
    Load1m,
    Load5m,
    Load15m,
    RxRate,
    TxRate,
    DiskPercent,
    DiskUsed,
    DiskTotal,
    DiskFree,
    ContainerCpuPercent,
    ContainerMemoryPercent,
    ContainerMemoryUsed,
    ContainerMemoryLimit,
    ContainerProcesses,
    ServiceCpuPercent,
    ServiceMemory,
    ServicePid,
    ServiceUptime,
}

/// A string variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TextVar {
    HostId,
    HostName,
    HostStatus,
    DiskMount,
    DiskFsType,
    ContainerName,
    ContainerStatus,
    ContainerRuntime,
    ContainerImage,
    ServiceName,
    ServiceStatus,
}

/// Any variable, as resolved by the parser.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Variable {
    Number(NumVar),
    /// `custom.<name>` / `custom['<name>']`: the custom metric's value.
    Custom(Box<str>),
    Text(TextVar),
}

impl NumVar {
    pub(super) fn scope(self) -> Scope {
        use NumVar::*;
        match self {
            DiskPercent | DiskUsed | DiskTotal | DiskFree => Scope::Mount,
            ContainerCpuPercent | ContainerMemoryPercent | ContainerMemoryUsed | ContainerMemoryLimit | ContainerProcesses => {
                Scope::Container
            }
            ServiceCpuPercent | ServiceMemory | ServicePid | ServiceUptime => Scope::Service,
            _ => Scope::Host,
        }
    }

    /// The variable's name in the language, e.g. `host.cpu.percent`.
    pub(super) fn path(self) -> &'static str {
        use NumVar::*;
        match self {
            HostUptime => "host.uptime",
            CpuPercent => "host.cpu.percent",
            CpuCores => "host.cpu.cores",
            MemoryPercent => "host.memory.percent",
            MemoryUsed => "host.memory.used",
            MemoryTotal => "host.memory.total",
            MemoryAvailable => "host.memory.available",
            SwapUsed => "host.memory.swap_used",
            SwapTotal => "host.memory.swap_total",
            SwapPercent => "host.memory.swap_percent",
            Load1m => "host.load.load_1m",
            Load5m => "host.load.load_5m",
            Load15m => "host.load.load_15m",
            RxRate => "host.network.rx_rate",
            TxRate => "host.network.tx_rate",
            DiskPercent => "host.disk.percent",
            DiskUsed => "host.disk.used",
            DiskTotal => "host.disk.total",
            DiskFree => "host.disk.free",
            ContainerCpuPercent => "container.cpu_percent",
            ContainerMemoryPercent => "container.memory_percent",
            ContainerMemoryUsed => "container.memory_used",
            ContainerMemoryLimit => "container.memory_limit",
            ContainerProcesses => "container.processes",
            ServiceCpuPercent => "service.cpu_percent",
            ServiceMemory => "service.memory",
            ServicePid => "service.pid",
            ServiceUptime => "service.uptime",
        }
    }

    /// Its value in `facts`; `None` when missing (no snapshot, no item of
    /// its scope, no swap, no previous snapshot for a rate).
    pub(super) fn read(self, facts: &Facts<'_>) -> Option<f64> {
        use NumVar::*;
        let metrics = facts.host.metrics?;
        let memory = &metrics.memory;
        let value = match self {
            HostUptime => metrics.uptime as f64,
            CpuPercent => metrics.cpu.percent,
            CpuCores => f64::from(metrics.cpu.cores),
            MemoryPercent => memory.percent,
            MemoryUsed => memory.used as f64,
            MemoryTotal => memory.total as f64,
            MemoryAvailable => memory.available as f64,
            SwapUsed => memory.swap_used as f64,
            SwapTotal => memory.swap_total as f64,
            SwapPercent => {
                if memory.swap_total == 0 {
                    return None;
                }
                memory.swap_used as f64 / memory.swap_total as f64 * 100.0
            }
            Load1m => metrics.load.load_1m,
            Load5m => metrics.load.load_5m,
            Load15m => metrics.load.load_15m,
            RxRate => facts.host.rx_rate?,
            TxRate => facts.host.tx_rate?,
            DiskPercent | DiskUsed | DiskTotal | DiskFree => {
                let Item::Mount(mount) = facts.item else {
                    return None;
                };
                match self {
                    DiskPercent => mount.percent,
                    DiskUsed => mount.used as f64,
                    DiskTotal => mount.total as f64,
                    _ => mount.total.saturating_sub(mount.used) as f64,
                }
            }
            ContainerCpuPercent | ContainerMemoryPercent | ContainerMemoryUsed | ContainerMemoryLimit | ContainerProcesses => {
                let Item::Container(container) = facts.item else {
                    return None;
                };
                match self {
                    ContainerCpuPercent => container.cpu_percent,
                    ContainerMemoryPercent => container.memory_percent,
                    ContainerMemoryUsed => container.memory_used as f64,
                    ContainerMemoryLimit => container.memory_limit as f64,
                    _ => f64::from(container.processes),
                }
            }
            ServiceCpuPercent | ServiceMemory | ServicePid | ServiceUptime => {
                let Item::Service(service) = facts.item else {
                    return None;
                };
                match self {
                    ServiceCpuPercent => service.cpu_percent,
                    ServiceMemory => service.memory as f64,
                    ServicePid => f64::from(service.pid),
                    _ => service.uptime as f64,
                }
            }
        };
        value.is_finite().then_some(value)
    }
}

/// The value of custom metric `name`: the first metric of that name without
/// an error; missing when there is none or no snapshot.
pub(super) fn read_custom(name: &str, facts: &Facts<'_>) -> Option<f64> {
    facts.host.metrics?;
    let metric = facts.host.custom.iter().find(|metric| *metric.name == *name)?;
    if metric.error.is_some() || !metric.value.is_finite() {
        return None;
    }
    Some(metric.value)
}

impl TextVar {
    pub(super) fn scope(self) -> Scope {
        use TextVar::*;
        match self {
            HostId | HostName | HostStatus => Scope::Host,
            DiskMount | DiskFsType => Scope::Mount,
            ContainerName | ContainerStatus | ContainerRuntime | ContainerImage => Scope::Container,
            ServiceName | ServiceStatus => Scope::Service,
        }
    }

    pub(super) fn path(self) -> &'static str {
        use TextVar::*;
        match self {
            HostId => "host.id",
            HostName => "host.name",
            HostStatus => "host.status",
            DiskMount => "host.disk.mount",
            DiskFsType => "host.disk.fs_type",
            ContainerName => "container.name",
            ContainerStatus => "container.status",
            ContainerRuntime => "container.runtime",
            ContainerImage => "container.image",
            ServiceName => "service.name",
            ServiceStatus => "service.status",
        }
    }

    /// Its value in `facts`, borrowed from them. `host.id`, `host.name` and
    /// `host.status` are always there; the others need a snapshot and an
    /// item of their scope.
    pub(super) fn read<'f>(self, facts: &Facts<'f>) -> Option<&'f str> {
        use TextVar::*;
        match self {
            HostId => return Some(facts.host.id),
            HostName => return Some(facts.host.name),
            HostStatus => return Some(if facts.host.online { "online" } else { "offline" }),
            _ => {}
        }
        facts.host.metrics?;
        match (self, facts.item) {
            (DiskMount, Item::Mount(mount)) => Some(&mount.path),
            (DiskFsType, Item::Mount(mount)) => Some(&mount.fs_type),
            (ContainerName, Item::Container(container)) => Some(&container.name),
            (ContainerStatus, Item::Container(container)) => Some(&container.status),
            (ContainerRuntime, Item::Container(container)) => Some(&container.runtime),
            (ContainerImage, Item::Container(container)) => Some(&container.image),
            (ServiceName, Item::Service(service)) => Some(&service.name),
            (ServiceStatus, Item::Service(service)) => Some(&service.status),
            _ => None,
        }
    }
}

impl Variable {
    pub(super) fn scope(&self) -> Scope {
        match self {
            Variable::Number(var) => var.scope(),
            Variable::Custom(_) => Scope::Host,
            Variable::Text(var) => var.scope(),
        }
    }

    /// Its name as written in a condition (custom metrics whose name is not
    /// an identifier in the bracket form, escaped).
    pub(super) fn path(&self) -> String {
        match self {
            Variable::Number(var) => var.path().to_owned(),
            Variable::Text(var) => var.path().to_owned(),
            Variable::Custom(name) if is_identifier(name) => format!("custom.{name}"),
            Variable::Custom(name) => {
                let mut path = String::from("custom['");
                for c in name.chars() {
                    match c {
                        '\\' => path.push_str("\\\\"),
                        '\'' => path.push_str("\\'"),
                        '\n' => path.push_str("\\n"),
                        '\t' => path.push_str("\\t"),
                        c => path.push(c),
                    }
                }
                path.push_str("']");
                path
            }
        }
    }

    /// Metric variables are all but `host.id`, `host.name`, `host.status`.
    pub(super) fn is_metric(&self) -> bool {
        !matches!(self, Variable::Text(TextVar::HostId | TextVar::HostName | TextVar::HostStatus))
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One name in the tree of variables.
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) kind: FieldKind,
}

pub(super) enum FieldKind {
    Group(&'static [Field]),
    Leaf(Leaf),
}

#[derive(Clone, Copy)]
pub(super) enum Leaf {
    Number(NumVar),
    Text(TextVar),
}

const fn num(name: &'static str, var: NumVar) -> Field {
    Field { name, kind: FieldKind::Leaf(Leaf::Number(var)) }
}

const fn text(name: &'static str, var: TextVar) -> Field {
    Field { name, kind: FieldKind::Leaf(Leaf::Text(var)) }
}

const fn group(name: &'static str, fields: &'static [Field]) -> Field {
    Field { name, kind: FieldKind::Group(fields) }
}

const CPU: &[Field] = &[num("percent", NumVar::CpuPercent), num("cores", NumVar::CpuCores)];

const MEMORY: &[Field] = &[
    num("percent", NumVar::MemoryPercent),
    num("used", NumVar::MemoryUsed),
    num("total", NumVar::MemoryTotal),
    num("available", NumVar::MemoryAvailable),
    num("swap_used", NumVar::SwapUsed),
    num("swap_total", NumVar::SwapTotal),
    num("swap_percent", NumVar::SwapPercent),
];

const DISK: &[Field] = &[
    num("percent", NumVar::DiskPercent),
    num("used", NumVar::DiskUsed),
    num("total", NumVar::DiskTotal),
    num("free", NumVar::DiskFree),
    text("mount", TextVar::DiskMount),
    text("fs_type", TextVar::DiskFsType),
];

const LOAD: &[Field] = &[num("load_1m", NumVar::Load1m), num("load_5m", NumVar::Load5m), num("load_15m", NumVar::Load15m)];

const NETWORK: &[Field] = &[num("rx_rate", NumVar::RxRate), num("tx_rate", NumVar::TxRate)];

const HOST: &[Field] = &[
    text("id", TextVar::HostId),
    text("name", TextVar::HostName),
    text("status", TextVar::HostStatus),
    num("uptime", NumVar::HostUptime),
    group("cpu", CPU),
    group("memory", MEMORY),
    group("disk", DISK),
    group("load", LOAD),
    group("network", NETWORK),
];

const CONTAINER: &[Field] = &[
    text("name", TextVar::ContainerName),
    text("status", TextVar::ContainerStatus),
    text("runtime", TextVar::ContainerRuntime),
    text("image", TextVar::ContainerImage),
    num("cpu_percent", NumVar::ContainerCpuPercent),
    num("memory_percent", NumVar::ContainerMemoryPercent),
    num("memory_used", NumVar::ContainerMemoryUsed),
    num("memory_limit", NumVar::ContainerMemoryLimit),
    num("processes", NumVar::ContainerProcesses),
];

const SERVICE: &[Field] = &[
    text("name", TextVar::ServiceName),
    text("status", TextVar::ServiceStatus),
    num("cpu_percent", NumVar::ServiceCpuPercent),
    num("memory", NumVar::ServiceMemory),
    num("pid", NumVar::ServicePid),
    num("uptime", NumVar::ServiceUptime),
];

/// The roots but `custom`, which the parser handles itself.
pub(super) const ROOTS: &[Field] = &[group("host", HOST), group("container", CONTAINER), group("service", SERVICE)];

/// `a, b, c` for an error message.
pub(super) fn names(fields: &[Field]) -> String {
    fields.iter().map(|field| field.name).collect::<Vec<_>>().join(", ")
}
