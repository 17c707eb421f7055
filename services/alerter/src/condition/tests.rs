use vigil_bus::messages::{CpuMetrics, DiskMetrics, LoadMetrics, MemoryMetrics};

use super::*;

fn metrics() -> HostMetrics {
    HostMetrics {
        uptime: 3600,
        cpu: CpuMetrics { percent: 92.5, cores: 4, ..CpuMetrics::default() },
        memory: MemoryMetrics {
            total: 16_000_000_000,
            used: 15_000_000_000,
            available: 1_000_000_000,
            percent: 93.75,
            swap_total: 0,
            swap_used: 0,
        },
        disk: DiskMetrics {
            mounts: vec![
                MountMetrics { path: "/".into(), total: 100, used: 50, percent: 50.0, fs_type: "ext4".into() },
                MountMetrics { path: "/var".into(), total: 200, used: 196, percent: 98.0, fs_type: "xfs".into() },
            ],
        },
        load: LoadMetrics { load_1m: 5.5, load_5m: 3.0, load_15m: 2.0 },
        ..HostMetrics::default()
    }
}

fn containers() -> Vec<ContainerMetrics> {
    vec![
        ContainerMetrics {
            name: "db".into(),
            runtime: "docker".into(),
            status: "running".into(),
            image: "postgres:16".into(),
            cpu_percent: 12.0,
            memory_used: 512,
            memory_limit: 1024,
            memory_percent: 50.0,
            processes: 9,
            ..ContainerMetrics::default()
        },
        ContainerMetrics {
            name: "web".into(),
            runtime: "podman".into(),
            status: "exited".into(),
            image: "nginx:latest".into(),
            ..ContainerMetrics::default()
        },
    ]
}

fn services() -> Vec<ServiceMetrics> {
    vec![
        ServiceMetrics {
            name: "nginx".into(),
            status: "active".into(),
            pid: 321,
            memory: 2048,
            cpu_percent: 1.5,
            ports: vec![80],
            uptime: 60,
        },
        ServiceMetrics { name: "cron".into(), status: "failed".into(), ..ServiceMetrics::default() },
    ]
}

fn custom() -> Vec<CustomMetric> {
    vec![
        CustomMetric { name: "queue_depth".into(), kind: "gauge".into(), value: 150.0, error: None },
        CustomMetric { name: "disk.io".into(), kind: "counter".into(), value: 12.0, error: None },
        CustomMetric { name: "broken".into(), kind: "gauge".into(), value: 0.0, error: Some("timed out".into()) },
    ]
}

/// The sample snapshot, held so facts can borrow from it.
struct Sample {
    metrics: HostMetrics,
    containers: Vec<ContainerMetrics>,
    services: Vec<ServiceMetrics>,
    custom: Vec<CustomMetric>,
}

impl Sample {
    fn new() -> Sample {
        Sample { metrics: metrics(), containers: containers(), services: services(), custom: custom() }
    }

    fn host(&self) -> HostFacts<'_> {
        HostFacts {
            id: "h-1",
            name: "web-1",
            online: true,
            metrics: Some(&self.metrics),
            rx_rate: Some(1500.0),
            tx_rate: None,
            custom: &self.custom,
        }
    }

    fn facts<'a>(&'a self, item: Item<'a>) -> Facts<'a> {
        Facts { host: self.host(), item }
    }

    /// The condition evaluated on every item of its scope, as
    /// `(label, result)`.
    fn run(&self, text: &str) -> Vec<(Option<&str>, Option<bool>)> {
        let condition = compile(text);
        items(condition.scope(), &self.metrics, &self.containers, &self.services)
            .map(|item| (item.label(), condition.evaluate(&self.facts(item))))
            .collect()
    }

    /// A host-scope condition's result.
    fn eval(&self, text: &str) -> Option<bool> {
        let condition = compile(text);
        assert_eq!(condition.scope(), Scope::Host, "{text}");
        condition.evaluate(&self.facts(Item::None))
    }
}

fn compile(text: &str) -> Condition {
    Condition::compile(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn compile_error(text: &str) -> ConditionError {
    match Condition::compile(text) {
        Ok(_) => panic!("{text} compiled"),
        Err(error) => error,
    }
}

/// Asserts the error's column and that its message starts with `message`.
#[track_caller]
fn assert_error(text: &str, column: usize, message: &str) {
    let error = compile_error(text);
    assert_eq!(error.column, column, "{text}: {error}");
    assert!(error.message.starts_with(message), "{text}: {}\n  expected it to start with: {message}", error.message);
}

// ---- the seed spec's conditions ------------------------------------------

#[test]
fn seed_conditions_compile_with_their_scope() {
    for (text, scope) in [
        ("host.cpu.percent > 80", Scope::Host),
        ("host.disk.percent > 95", Scope::Mount),
        ("container.status != 'running'", Scope::Container),
        ("service.status != 'active'", Scope::Service),
        ("host.memory.percent > 90", Scope::Host),
        ("host.load.load_1m > 4", Scope::Host),
        ("custom.queue_depth > 100", Scope::Host),
    ] {
        let condition = compile(text);
        assert_eq!(condition.scope(), scope, "{text}");
        assert_eq!(condition.text(), text);
        assert!(condition.uses_metrics(), "{text}");
        assert!(!condition.uses_host_status(), "{text}");
    }
}

#[test]
fn seed_conditions_evaluate_on_every_item_of_their_scope() {
    let sample = Sample::new();
    assert_eq!(sample.run("host.cpu.percent > 80"), [(None, Some(true))]);
    assert_eq!(sample.run("host.disk.percent > 95"), [(Some("/"), Some(false)), (Some("/var"), Some(true))]);
    assert_eq!(sample.run("container.status != 'running'"), [(Some("db"), Some(false)), (Some("web"), Some(true))]);
    assert_eq!(sample.run("service.status != 'active'"), [(Some("nginx"), Some(false)), (Some("cron"), Some(true))]);
    assert_eq!(sample.run("host.memory.percent > 90"), [(None, Some(true))]);
    assert_eq!(sample.run("host.load.load_1m > 4"), [(None, Some(true))]);
    assert_eq!(sample.run("custom.queue_depth > 100"), [(None, Some(true))]);
}

// ---- operators --------------------------------------------------------------

#[test]
fn and_binds_tighter_than_or() {
    let sample = Sample::new();
    assert_eq!(sample.eval("true || false && false"), Some(true));
    assert_eq!(sample.eval("false && true || true"), Some(true));
    assert_eq!(sample.eval("host.cpu.percent > 90 || host.cpu.percent < 10 && false"), Some(true));
}

#[test]
fn parentheses_override_precedence() {
    let sample = Sample::new();
    assert_eq!(sample.eval("(true || false) && false"), Some(false));
    assert_eq!(sample.eval("(1 + 2) * 3 == 9"), Some(true));
    assert_eq!(sample.eval("((host.cpu.percent > 80))"), Some(true));
}

#[test]
fn arithmetic_precedence_and_associativity() {
    let sample = Sample::new();
    for text in [
        "1 + 2 * 3 == 7",
        "10 - 4 - 3 == 3",
        "8 / 4 / 2 == 1",
        "7 % 4 == 3",
        "-2 * 3 == -6",
        "- -2 == 2",
        "2 * -host.cpu.cores == -8",
        "1 + 1 > 1 && 2 * 2 == 4",
    ] {
        assert_eq!(sample.eval(text), Some(true), "{text}");
    }
}

#[test]
fn arithmetic_on_variables() {
    let sample = Sample::new();
    assert_eq!(sample.eval("host.memory.used / host.memory.total * 100 > 90"), Some(true));
    assert_eq!(sample.eval("host.memory.used / host.memory.total * 100 == 93.75"), Some(true));
    assert_eq!(sample.run("host.disk.total - host.disk.used < 10"), [(Some("/"), Some(false)), (Some("/var"), Some(true))]);
}

#[test]
fn not_negates() {
    let sample = Sample::new();
    assert_eq!(sample.eval("!(host.cpu.percent > 80)"), Some(false));
    assert_eq!(sample.eval("!!true"), Some(true));
    assert_eq!(sample.eval("!true == false"), Some(true));
    assert_eq!(sample.run("!container.name.startsWith('d')"), [(Some("db"), Some(false)), (Some("web"), Some(true))]);
}

#[test]
fn comparisons_of_each_type() {
    let sample = Sample::new();
    for text in [
        "host.cpu.cores == 4",
        "host.cpu.cores != 5",
        "host.cpu.cores >= 4",
        "host.cpu.cores <= 4",
        "host.cpu.cores < 4.5",
        "'abc' < 'abd'",
        "'b' > 'abc'",
        "'a' <= 'a'",
        "host.name == 'web-1'",
        "host.id != 'h-2'",
        "(host.cpu.percent > 80) == true",
        "true != false",
    ] {
        assert_eq!(sample.eval(text), Some(true), "{text}");
    }
}

#[test]
fn in_looks_for_the_value_in_a_list() {
    let sample = Sample::new();
    assert_eq!(sample.run("container.status in ['exited', 'dead']"), [(Some("db"), Some(false)), (Some("web"), Some(true))]);
    assert_eq!(sample.eval("host.cpu.cores in [2, 4, 8]"), Some(true));
    assert_eq!(sample.eval("host.cpu.cores in [2, 8,]"), Some(false));
    assert_eq!(sample.eval("'x' in []"), Some(false));
    assert_eq!(sample.eval("true in [false, 1 > 0]"), Some(true));
    assert_eq!(sample.eval("host.name in [host.id, 'web-1']"), Some(true));
}

#[test]
fn string_methods() {
    let sample = Sample::new();
    for text in [
        "host.name.startsWith('web')",
        "host.name.endsWith('-1')",
        "host.name.contains('b-')",
        "'abc'.contains('')",
        "('ab').startsWith('a')",
        "!host.name.startsWith(host.id)",
    ] {
        assert_eq!(sample.eval(text), Some(true), "{text}");
    }
    assert_eq!(sample.run("container.image.contains(':latest')"), [(Some("db"), Some(false)), (Some("web"), Some(true))]);
    assert_eq!(
        sample.run("host.disk.mount.startsWith('/var') && host.disk.fs_type == 'xfs'"),
        [(Some("/"), Some(false)), (Some("/var"), Some(true))]
    );
}

#[test]
fn literals() {
    let sample = Sample::new();
    for text in [
        "1e3 == 1000",
        "1.5e-2 == 0.015",
        "2E+2 == 200",
        "0.5 * 2 == 1",
        "80 == 80.0",
        r#""a\"b" == 'a"b'"#,
        r#"'it\'s' == "it's""#,
        r#"'\\' == "\\""#,
        r"'a\nb'.contains('\n')",
        r"'\t' != ' '",
        "'é' == \"é\"",
    ] {
        assert_eq!(sample.eval(text), Some(true), "{text}");
    }
}

#[test]
fn every_variable_reads_its_field() {
    let sample = Sample::new();
    let containers = containers();
    let services = services();
    let metrics = metrics();
    let host = [
        "host.id == 'h-1'",
        "host.name == 'web-1'",
        "host.status == 'online'",
        "host.uptime == 3600",
        "host.cpu.percent == 92.5",
        "host.cpu.cores == 4",
        "host.memory.percent == 93.75",
        "host.memory.used == 15000000000",
        "host.memory.total == 16e9",
        "host.memory.available == 1e9",
        "host.memory.swap_used == 0",
        "host.memory.swap_total == 0",
        "host.load.load_1m == 5.5",
        "host.load.load_5m == 3",
        "host.load.load_15m == 2",
        "host.network.rx_rate == 1500",
    ];
    for text in host {
        assert_eq!(sample.eval(text), Some(true), "{text}");
    }
    let var = Item::Mount(&metrics.disk.mounts[1]);
    for text in [
        "host.disk.percent == 98",
        "host.disk.used == 196",
        "host.disk.total == 200",
        "host.disk.free == 4",
        "host.disk.mount == '/var'",
        "host.disk.fs_type == 'xfs'",
    ] {
        assert_eq!(compile(text).evaluate(&sample.facts(var)), Some(true), "{text}");
    }
    let db = Item::Container(&containers[0]);
    for text in [
        "container.name == 'db'",
        "container.status == 'running'",
        "container.runtime == 'docker'",
        "container.image == 'postgres:16'",
        "container.cpu_percent == 12",
        "container.memory_percent == 50",
        "container.memory_used == 512",
        "container.memory_limit == 1024",
        "container.processes == 9",
    ] {
        assert_eq!(compile(text).evaluate(&sample.facts(db)), Some(true), "{text}");
    }
    let nginx = Item::Service(&services[0]);
    for text in [
        "service.name == 'nginx'",
        "service.status == 'active'",
        "service.cpu_percent == 1.5",
        "service.memory == 2048",
        "service.pid == 321",
        "service.uptime == 60",
    ] {
        assert_eq!(compile(text).evaluate(&sample.facts(nginx)), Some(true), "{text}");
    }
}

#[test]
fn swap_percent_is_computed_when_there_is_swap() {
    let mut sample = Sample::new();
    assert_eq!(sample.eval("host.memory.swap_percent >= 0"), None);
    sample.metrics.memory.swap_total = 400;
    sample.metrics.memory.swap_used = 100;
    assert_eq!(sample.eval("host.memory.swap_percent == 25"), Some(true));
}

#[test]
fn custom_metrics_by_name_and_by_quoted_name() {
    let sample = Sample::new();
    assert_eq!(sample.eval("custom.queue_depth == 150"), Some(true));
    assert_eq!(sample.eval("custom['queue_depth'] == 150"), Some(true));
    assert_eq!(sample.eval("custom['disk.io'] > 10"), Some(true));
    assert_eq!(sample.eval("custom[\"disk.io\"] < 20"), Some(true));
    // absent, or failed: missing
    assert_eq!(sample.eval("custom.absent > 0"), None);
    assert_eq!(sample.eval("custom.broken >= 0"), None);
    assert_eq!(sample.eval("custom.broken >= 0 || true"), Some(true));
}

// ---- missing values -----------------------------------------------------------

#[test]
fn three_valued_logic_with_a_missing_value() {
    let sample = Sample::new();
    // tx_rate is missing in the sample
    let unknown = "host.network.tx_rate > 0";
    assert_eq!(sample.eval(unknown), None);
    for (text, expected) in [
        (format!("false && {unknown}"), Some(false)),
        (format!("{unknown} && false"), Some(false)),
        (format!("true && {unknown}"), None),
        (format!("{unknown} && true"), None),
        (format!("{unknown} && {unknown}"), None),
        (format!("true || {unknown}"), Some(true)),
        (format!("{unknown} || true"), Some(true)),
        (format!("false || {unknown}"), None),
        (format!("{unknown} || false"), None),
        (format!("{unknown} || {unknown}"), None),
        (format!("!({unknown})"), None),
        (format!("({unknown}) == true"), None),
        ("host.network.tx_rate + 1 > 0".to_owned(), None),
        ("-host.network.tx_rate < 0".to_owned(), None),
        ("host.network.tx_rate in [1, 2]".to_owned(), None),
        ("1 in [host.network.tx_rate, 1]".to_owned(), Some(true)),
        ("3 in [host.network.tx_rate, 1]".to_owned(), None),
        ("3 in [2, 1]".to_owned(), Some(false)),
        ("host.memory.used / 0 > 1".to_owned(), None),
    ] {
        assert_eq!(sample.eval(&text), expected, "{text}");
    }
}

#[test]
fn a_host_event_without_a_snapshot_reads_only_the_host_identity_and_status() {
    let sample = Sample::new();
    let facts = Facts { host: HostFacts { online: false, metrics: None, rx_rate: Some(1.0), ..sample.host() }, item: Item::None };
    let evaluate = |text: &str| compile(text).evaluate(&facts);
    assert_eq!(evaluate("host.status == 'offline'"), Some(true));
    assert_eq!(evaluate("host.name == 'web-1' && host.id == 'h-1'"), Some(true));
    assert_eq!(evaluate("host.cpu.percent > 0"), None);
    assert_eq!(evaluate("host.network.rx_rate > 0"), None);
    assert_eq!(evaluate("custom.queue_depth > 0"), None);
    assert_eq!(evaluate("host.status == 'offline' || host.cpu.percent > 90"), Some(true));
}

#[test]
fn an_item_of_another_scope_leaves_its_variables_missing() {
    let sample = Sample::new();
    let condition = compile("container.status == 'running'");
    assert_eq!(condition.evaluate(&sample.facts(Item::None)), None);
    let mount = &sample.metrics.disk.mounts[0];
    assert_eq!(condition.evaluate(&sample.facts(Item::Mount(mount))), None);
}

// ---- flags ---------------------------------------------------------------------

#[test]
fn flags_say_what_a_condition_reads() {
    let status = compile("host.status == 'offline'");
    assert!(status.uses_host_status());
    assert!(!status.uses_metrics());
    let identity = compile("host.name.startsWith('db') && host.id != 'x'");
    assert!(!identity.uses_host_status());
    assert!(!identity.uses_metrics());
    let both = compile("host.status == 'online' && custom.x > 1");
    assert!(both.uses_host_status());
    assert!(both.uses_metrics());
    assert!(compile("container.name == 'db'").uses_metrics());
    let constant = compile("true");
    assert_eq!(constant.scope(), Scope::Host);
    assert!(!constant.uses_metrics());
}

#[test]
fn a_scope_may_be_read_many_times() {
    let condition = compile("container.cpu_percent > 50 && container.status == 'running' && host.cpu.percent > 1");
    assert_eq!(condition.scope(), Scope::Container);
    assert_eq!(compile("host.disk.free < 1 || host.disk.percent > 99").scope(), Scope::Mount);
}

// ---- errors ------------------------------------------------------------------

#[test]
fn missing_operand_names_its_column() {
    let error = compile_error("host.cpu.percent >");
    assert_eq!(error.to_string(), "column 19: expected a number, a string, a variable or '(' but found end of input");
    assert_error("host.cpu.percent > )", 20, "expected a number, a string, a variable or '(' but found ')'");
    assert_error("&& true", 1, "expected a number, a string, a variable or '(' but found '&&'");
}

#[test]
fn unknown_variables_list_the_known_fields() {
    let error = compile_error("host.cpu.percnt > 80");
    assert_eq!(error.to_string(), "column 1: unknown variable host.cpu.percnt; host.cpu has percent, cores");
    assert_error(
        "true && container.foo == 'x'",
        9,
        "unknown variable container.foo; container has name, status, runtime, image, cpu_percent, memory_percent, memory_used, memory_limit, processes",
    );
    assert_error(
        "host.foo > 1",
        1,
        "unknown variable host.foo; host has id, name, status, uptime, cpu, memory, disk, load, network",
    );
    assert_error(
        "service.state == 'x'",
        1,
        "unknown variable service.state; service has name, status, cpu_percent, memory, pid, uptime",
    );
    assert_error(
        "hots.cpu.percent > 1",
        1,
        "unknown variable hots.cpu.percent; variables start with host, container, service or custom",
    );
    assert_error("1 < host.cpu", 5, "host.cpu is not a variable: expected one of its fields; host.cpu has percent, cores");
    assert_error(
        "host.cpu.percent.max > 1",
        1,
        "unknown variable host.cpu.percent.max; host.cpu.percent is a number and has no fields",
    );
    assert_error("custom > 1", 1, "custom is not a variable");
    assert_error(
        "custom.disk.io > 1",
        1,
        "unknown variable custom.disk.io; a custom metric whose name has dots is written custom['disk.io']",
    );
    assert_error("custom[1] > 1", 8, "expected a metric name in quotes");
    assert_error("custom[''] > 1", 8, "expected a metric name but found an empty string");
    assert_error("custom['a' > 1", 12, "expected ']' but found '>'");
}

#[test]
fn type_errors_name_the_offending_operand() {
    assert_error("host.cpu.percent > 'high'", 20, "expected a number after '>' (as on its left) but found a string");
    assert_error("container.status == 1", 21, "expected a string after '==' (as on its left) but found a number");
    assert_error("host.name && true", 1, "expected a bool before '&&' but found a string");
    assert_error("true || 1", 9, "expected a bool after '||' but found a number");
    assert_error("!host.cpu.percent", 2, "expected a bool after '!' but found a number");
    assert_error("-host.name == 1", 2, "expected a number after '-' but found a string");
    assert_error("'a' + 'b' == 'ab'", 1, "expected a number before '+' but found a string");
    assert_error("1 * true == 1", 5, "expected a number after '*' but found a bool");
    assert_error("true < false", 1, "expected a number or a string before '<' but found a bool");
    assert_error("host.cpu.percent + 1", 1, "expected the condition to be a bool (true or false) but found a number");
    assert_error("host.name", 1, "expected the condition to be a bool (true or false) but found a string");
    assert_error("host.cpu.percent.contains('a')", 1, "expected a string before .contains() but found a number");
    assert_error("host.name.contains(1)", 20, "expected a string as the argument of contains() but found a number");
    assert_error("host.cpu.cores in [1, 'a']", 23, "expected a number in the list (as on the left of 'in') but found a string");
    assert_error("1 < 2 < 3", 1, "expected a number or a string before '<' but found a bool");
}

#[test]
fn unsupported_calls_and_lists_are_refused() {
    assert_error("host.name.size() > 1", 11, "expected a method startsWith, endsWith or contains but found size");
    assert_error("size(host.name) > 1", 1, "expected a variable but found the function call size()");
    assert_error("host.status in 'online'", 16, "expected a list such as ['a', 'b'] after 'in' but found 'online'");
    assert_error("['a'] == ['a']", 1, "expected a number, a string, a variable or '(' but found '['");
    assert_error("host.status in ['a' 'b']", 21, "expected ',' or ']' but found 'b'");
    assert_error("'ab'.length > 1", 6, "expected a method call such as .contains('a') but found .length");
    assert_error("host.name.contains('a'", 23, "expected ')' but found end of input");
    assert_error("host.name. == 'a'", 12, "expected a method name");
}

#[test]
fn mixed_scopes_are_refused_at_the_second_scope() {
    let text = "container.status != 'running' && service.status != 'active'";
    let error = compile_error(text);
    assert_eq!(error.column, 34);
    assert_eq!(
        error.message,
        "service.status is per service, but this condition already reads container.status (per container) at column 1; a condition reads host variables and at most one of host.disk.* (per mount), container.* (per container) or service.* (per service)"
    );
    assert_error(
        "host.cpu.percent > 1 && host.disk.percent > 90 || container.cpu_percent > 50",
        51,
        "container.cpu_percent is per container, but this condition already reads host.disk.percent (per mount) at column 25",
    );
}

#[test]
fn string_errors() {
    assert_error("container.status != 'running", 21, "unterminated string: expected a closing ' but found end of input");
    assert_error("host.name == \"web", 14, "unterminated string: expected a closing \" but found end of input");
    assert_error("host.name == 'a\nb'", 14, "unterminated string: expected a closing ' but found the end of the line");
    assert_error(r"host.name == 'a\q'", 16, r#"expected an escape \\, \', \", \n or \t but found \q"#);
    assert_error(r"host.name == 'a\", 14, "unterminated string");
}

#[test]
fn trailing_garbage_and_stray_characters() {
    assert_error("host.cpu.percent > 80 90", 23, "expected an operator or end of input but found 90");
    assert_error("host.cpu.percent > 80)", 22, "expected an operator or end of input but found ')'");
    assert_error("(host.cpu.percent > 80", 23, "expected ')' but found end of input");
    assert_error("host.cpu.percent > 80abc", 22, "expected an operator or end of input but found abc");
    assert_error("host.name = 'x'", 11, "expected '==' but found '='");
    assert_error("true & false", 6, "expected '&&' but found '&'");
    assert_error("true | false", 6, "expected '||' but found '|'");
    assert_error("host.cpu.percent > 80 @", 23, "expected a number, a string, a variable or an operator but found '@'");
    assert_error("1e > 0", 3, "expected the digits of the exponent of 1e but found ' '");
    assert_error("1e", 3, "expected the digits of the exponent of 1e but found end of input");
}

#[test]
fn columns_count_chars_not_bytes() {
    assert_error("'éé' == 1", 9, "expected a string after '=='");
}

#[test]
fn empty_and_oversized_conditions_are_refused() {
    assert_error("", 1, "expected a condition such as host.cpu.percent > 80 but found end of input");
    assert_error("  \t ", 1, "expected a condition");
    let mut long = "true".to_owned();
    long.push_str(&" ".repeat(MAX_CONDITION_BYTES - long.len()));
    assert_eq!(long.len(), MAX_CONDITION_BYTES);
    compile(&long);
    long.push(' ');
    assert_error(&long, 1, "expected a condition of at most 4096 bytes but found 4097 bytes");
}

#[test]
fn nesting_is_bounded() {
    let nested = |depth: usize| format!("{}true{}", "(".repeat(depth), ")".repeat(depth));
    compile(&nested(64));
    assert_error(&nested(65), 65, "expected at most 64 levels of nesting");
    assert_error(&format!("{}true", "!".repeat(200)), 65, "expected at most 64 levels of nesting");
    // a long flat chain is fine (no recursion in the parser)
    let chain = vec!["host.cpu.percent > 1"; 150].join(" && ");
    assert!(chain.len() < MAX_CONDITION_BYTES);
    assert_eq!(Sample::new().eval(&chain), Some(true));
}

// ---- value() -----------------------------------------------------------------------

#[test]
fn value_is_the_first_variable_read() {
    let sample = Sample::new();
    let facts = sample.facts(Item::None);
    let value = |text: &str| compile(text).value(&facts);
    assert_eq!(value("host.cpu.percent > 80"), Some(Value::Number(92.5)));
    assert_eq!(value("host.name == 'web-1' && host.memory.percent > 90 && host.cpu.percent > 1"), Some(Value::Number(93.75)));
    assert_eq!(value("host.name == 'web-1'"), None);
    assert_eq!(value("host.status == 'online'"), Some(Value::Text("online".into())));
    assert_eq!(value("custom['disk.io'] > 1"), Some(Value::Number(12.0)));
    assert_eq!(value("host.network.tx_rate > 1"), None);
    assert_eq!(value("80 < host.load.load_1m"), Some(Value::Number(5.5)));
    let containers = containers();
    let web = sample.facts(Item::Container(&containers[1]));
    assert_eq!(compile("container.status != 'running'").value(&web), Some(Value::Text("exited".into())));
}

#[test]
fn values_display_like_people_write_them() {
    for (value, shown) in [
        (Value::Number(92.5), "92.5"),
        (Value::Number(80.0), "80"),
        (Value::Number(100.0 / 3.0), "33.33"),
        (Value::Number(2.0 / 3.0), "0.67"),
        (Value::Number(0.001), "0"),
        (Value::Number(-0.001), "0"),
        (Value::Number(-4.256), "-4.26"),
        (Value::Number(16e9), "16000000000"),
        (Value::Number(1e20), "100000000000000000000"),
        (Value::Text("exited".into()), "exited"),
        (Value::Bool(true), "true"),
    ] {
        assert_eq!(value.to_string(), shown);
    }
}

// ---- clear_below ---------------------------------------------------------------------

#[test]
fn clear_condition_negates_the_comparison_at_the_threshold() {
    let sample = Sample::new();
    let facts = sample.facts(Item::None);
    let clear = compile("host.cpu.percent > 80").clear_below(70.0).unwrap();
    assert_eq!(clear.text(), "host.cpu.percent <= 70");
    assert_eq!(clear.evaluate(&facts), Some(false));
    let clear = compile("host.cpu.percent > 80").clear_below(95.0);
    assert!(clear.is_err());
    let clear = compile("host.cpu.percent >= 90").clear_below(90.0).unwrap();
    assert_eq!(clear.text(), "host.cpu.percent < 90");
    let clear = compile("custom.free < 10").clear_below(20.5).unwrap();
    assert_eq!(clear.text(), "custom.free >= 20.5");
    let clear = compile("host.load.load_1m <= -1").clear_below(0.0).unwrap();
    assert_eq!(clear.text(), "host.load.load_1m > 0");
    assert_eq!(clear.evaluate(&facts), Some(true));
    let clear = compile("custom['disk.io'] > 5").clear_below(3.0).unwrap();
    assert_eq!(clear.text(), "custom['disk.io'] <= 3");
    assert_eq!(clear.evaluate(&facts), Some(false));
    let clear = compile("(host.disk.percent > 95)").clear_below(90.0).unwrap();
    assert_eq!(clear.scope(), Scope::Mount);
    assert_eq!(clear.text(), "host.disk.percent <= 90");
    let clear = compile("host.cpu.percent > 80").clear_below(-0.5).unwrap();
    assert_eq!(clear.text(), "host.cpu.percent <= -0.5");
    let clear = compile("custom['it\\'s'] > 1").clear_below(0.0).unwrap();
    assert_eq!(clear.text(), "custom['it\\'s'] <= 0");
}

#[test]
fn clear_threshold_on_the_wrong_side_is_refused() {
    let error = compile("host.cpu.percent > 80").clear_below(85.0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "column 1: expected a clear threshold at most 80 (the condition is host.cpu.percent > 80) but found 85"
    );
    let error = compile("host.memory.available < 100").clear_below(50.0).unwrap_err();
    assert_eq!(error.column, 1);
    assert!(error.message.starts_with("expected a clear threshold at least 100"));
    assert!(compile("host.cpu.percent > 80").clear_below(f64::NAN).is_err());
}

#[test]
fn clear_threshold_needs_a_single_comparison_of_a_variable_with_a_number() {
    for text in [
        "host.cpu.percent > 80 && host.memory.percent > 80",
        "host.cpu.percent == 80",
        "80 < host.cpu.percent",
        "host.cpu.percent * 2 > 80",
        "host.cpu.percent > host.load.load_1m",
        "container.status != 'running'",
        "!(host.cpu.percent > 80)",
    ] {
        let error = compile(text).clear_below(0.0).unwrap_err();
        assert_eq!(error.column, 1, "{text}");
        assert!(error.message.starts_with("expected"), "{text}: {error}");
    }
}

// ---- items() --------------------------------------------------------------------------

#[test]
fn items_are_one_per_item_of_the_scope() {
    let sample = Sample::new();
    let labels = |scope| {
        items(scope, &sample.metrics, &sample.containers, &sample.services)
            .map(|item| item.label().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(Scope::Host), [None]);
    assert_eq!(labels(Scope::Mount), [Some("/".into()), Some("/var".into())]);
    assert_eq!(labels(Scope::Container), [Some("db".into()), Some("web".into())]);
    assert_eq!(labels(Scope::Service), [Some("nginx".into()), Some("cron".into())]);
    assert_eq!(items(Scope::Container, &sample.metrics, &[], &[]).count(), 0);
}

#[test]
fn a_condition_is_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Condition>();
    let condition = compile("host.cpu.percent > 80");
    let copy = condition.clone();
    assert_eq!(copy.text(), condition.text());
}

#[test]
fn the_documented_examples_compile() {
    // docs/alerting-conditions.md, "Examples"
    for (text, scope) in [
        ("host.cpu.percent > 80", Scope::Host),
        ("host.disk.percent > 95 && host.disk.mount != '/boot'", Scope::Mount),
        ("container.status != 'running' && !container.name.startsWith('tmp-')", Scope::Container),
        ("service.status in ['failed', 'inactive']", Scope::Service),
        ("host.memory.used / host.memory.total * 100 > 90", Scope::Host),
        ("host.load.load_1m > host.cpu.cores * 2", Scope::Host),
        ("host.status == 'offline'", Scope::Host),
        ("custom.queue_depth > 100 || custom['jobs.failed'] > 0", Scope::Host),
        ("host.network.rx_rate > 100e6", Scope::Host),
        ("host.memory.swap_percent > 50", Scope::Host),
    ] {
        assert_eq!(compile(text).scope(), scope, "{text}");
    }
    for (text, threshold, clear) in [
        ("host.memory.available < 1e9", 2e9, "host.memory.available >= 2000000000"),
        ("host.disk.free <= 1e9", 1e9, "host.disk.free > 1000000000"),
    ] {
        assert_eq!(compile(text).clear_below(threshold).unwrap().text(), clear);
    }
}
