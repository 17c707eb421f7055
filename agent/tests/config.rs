//! The config file: the seed's example parses, and each kind of bad value is
//! rejected with a message naming the file, the key path and the value.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sovigilant::config::{init_file, render_init, Config, ConfigFile, HostMetric, InitOptions, MetricType, Runtime};

const FILE: &str = "/etc/sovigilant/config.yaml";

/// The seed's §3.3 example, verbatim (comments included).
const SEED_EXAMPLE: &str = r#"# /etc/sovigilant/config.yaml

agent:
  id: auto                      # Auto-généré ou défini
  name: "{{hostname}}"          # Nom affiché

server:
  address: vigil.sogoms.com:9090
  token: "eyJhbGciOiJIUzI1NiIs..."   # Token d'auth (contient tenant_id)
  tls:
    enabled: true
    ca_cert: /etc/sovigilant/ca.pem  # Optionnel si CA publique

collection:
  interval: 10s                 # Intervalle de collecte

  host:
    enabled: true
    metrics:
      - cpu
      - memory
      - disk
      - network
      - load
      - uptime

  containers:
    enabled: true
    runtime: auto               # auto | incus | docker | podman
    metrics:
      - cpu
      - memory
      - disk
      - network
      - status

  services:
    enabled: true
    discover: true              # Auto-découverte
    watch:                      # Services explicites
      - nginx
      - mariadb
      - redis
      - php-fpm
    custom:                     # Services custom
      - name: myapp
        check: systemctl is-active myapp
        port: 8080

  custom_metrics:               # Métriques personnalisées
    - name: nginx_connections
      command: "nginx -s status | grep 'Active connections' | awk '{print $3}'"
      type: gauge
      interval: 30s

logging:
  level: info
  output: /var/log/sovigilant.log
  max_size: 10MB
  max_files: 5

actions:
  enabled: true                 # Autoriser les actions distantes
  allowed:                      # Liste blanche de commandes
    - "systemctl restart *"
    - "systemctl status *"
    - "docker restart *"
    - "incus restart *"
  denied:                       # Liste noire
    - "rm -rf *"
    - "shutdown*"
    - "reboot*"
"#;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new(FILE), text).map_err(|error| error.to_string())
}

/// The seed example with one line replaced.
fn seed_with(from: &str, to: &str) -> String {
    assert!(SEED_EXAMPLE.contains(from), "{from:?} not in the seed example");
    SEED_EXAMPLE.replacen(from, to, 1)
}

#[test]
fn seed_example_config_parses() {
    let config = parse(SEED_EXAMPLE).unwrap();
    assert_eq!(config.agent.id, None);
    assert_eq!(config.agent.name, sovigilant::sysinfo::hostname(), "{{{{hostname}}}} is replaced");
    assert_eq!(config.server.address, "vigil.sogoms.com:9090");
    assert_eq!(config.server.host, "vigil.sogoms.com");
    assert_eq!(config.server.port, 9090);
    assert_eq!(config.server.token, "eyJhbGciOiJIUzI1NiIs...");
    assert!(config.server.tls.enabled);
    assert_eq!(config.server.tls.ca_cert, Some(PathBuf::from("/etc/sovigilant/ca.pem")));
    assert_eq!(config.collection.interval, Duration::from_secs(10));
    assert_eq!(config.collection.host.metrics.len(), HostMetric::ALL.len());
    assert_eq!(config.collection.containers.runtime, Runtime::Auto);
    assert_eq!(config.collection.services.watch, ["nginx", "mariadb", "redis", "php-fpm"]);
    assert_eq!(config.collection.services.custom[0].port, Some(8080));
    assert_eq!(config.collection.custom_metrics[0].kind, MetricType::Gauge);
    assert_eq!(config.collection.custom_metrics[0].interval, Duration::from_secs(30));
    assert_eq!(config.logging.output, Some(PathBuf::from("/var/log/sovigilant.log")));
    assert_eq!(config.logging.max_size, 10 * 1024 * 1024);
    assert_eq!(config.logging.max_files, 5);
    assert!(config.actions.enabled);
    assert_eq!(config.actions.denied.len(), 3);
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/sovigilant"));
    assert_eq!(config.buffer.max_snapshots, 8640);
}

#[test]
fn state_dir_and_buffer_keys_are_read() {
    let config = parse(&format!("{SEED_EXAMPLE}state_dir: /tmp/agent-state\nbuffer:\n  max_snapshots: 100\n")).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/tmp/agent-state"));
    assert_eq!(config.buffer.max_snapshots, 100);
}

#[test]
fn hostname_placeholder_is_replaced_inside_a_name() {
    let config = parse(&seed_with("name: \"{{hostname}}\"", "name: \"web {{hostname}}\"")).unwrap();
    assert_eq!(config.agent.name, format!("web {}", sovigilant::sysinfo::hostname()));
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let error = parse(&seed_with(
        "    enabled: true\n    metrics:\n      - cpu",
        "    enabled: true\n    metricz: []\n    metrics:\n      - cpu",
    ))
    .unwrap_err();
    assert!(error.starts_with(FILE), "{error}");
    assert!(error.contains("collection.host") && error.contains("metricz"), "{error}");
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let error = parse(&format!("{SEED_EXAMPLE}colection: {{}}\n")).unwrap_err();
    assert!(error.starts_with(FILE) && error.contains("colection"), "{error}");
}

#[test]
fn bad_duration_is_rejected_with_file_key_and_value() {
    let error = parse(&seed_with("interval: 10s", "interval: 10x")).unwrap_err();
    assert!(error.starts_with(&format!("{FILE}: collection.interval: \"10x\" is not a duration")), "{error}");
}

#[test]
fn interval_below_one_second_is_rejected() {
    let error = parse(&seed_with("interval: 10s", "interval: 500ms")).unwrap_err();
    assert!(error.contains("collection.interval") && error.contains("500ms") && error.contains("1s"), "{error}");
    let error = parse(&seed_with("interval: 30s", "interval: 0s")).unwrap_err();
    assert!(error.contains("collection.custom_metrics[0].interval") && error.contains("0s"), "{error}");
}

#[test]
fn bad_runtime_is_rejected_with_the_choices() {
    let error = parse(&seed_with("runtime: auto", "runtime: lxd")).unwrap_err();
    assert_eq!(
        error,
        format!("{FILE}: collection.containers.runtime: unknown runtime \"lxd\", expected one of auto, docker, podman, incus")
    );
}

#[test]
fn bad_host_metric_name_is_rejected_with_the_choices() {
    let error = parse(&seed_with(
        "      - cpu\n      - memory\n      - disk\n      - network\n      - load",
        "      - cpuu\n      - memory\n      - disk\n      - network\n      - load",
    ))
    .unwrap_err();
    assert_eq!(
        error,
        format!(
            "{FILE}: collection.host.metrics: unknown metric \"cpuu\", expected one of cpu, memory, disk, network, load, uptime"
        )
    );
}

#[test]
fn bad_custom_metric_type_is_rejected() {
    let error = parse(&seed_with("type: gauge", "type: histogram")).unwrap_err();
    assert!(
        error.contains("collection.custom_metrics[0].type") && error.contains("histogram") && error.contains("gauge or counter"),
        "{error}"
    );
}

#[test]
fn bad_agent_id_is_rejected() {
    let error = parse(&seed_with("id: auto", "id: web.01")).unwrap_err();
    assert!(error.starts_with(&format!("{FILE}: agent.id:")) && error.contains("web.01"), "{error}");
}

#[test]
fn bad_address_size_and_level_are_rejected() {
    let error = parse(&seed_with("address: vigil.sogoms.com:9090", "address: vigil.sogoms.com")).unwrap_err();
    assert!(error.contains("server.address") && error.contains("vigil.sogoms.com"), "{error}");
    let error = parse(&seed_with("max_size: 10MB", "max_size: 10 parsecs")).unwrap_err();
    assert!(error.contains("logging.max_size") && error.contains("10 parsecs"), "{error}");
    let error = parse(&seed_with("level: info", "level: loud")).unwrap_err();
    assert!(error.contains("logging.level") && error.contains("loud"), "{error}");
}

#[test]
fn wrong_type_is_rejected_with_its_path() {
    let error = parse(&seed_with("    enabled: true\n    discover", "    enabled: maybe\n    discover")).unwrap_err();
    assert!(error.starts_with(FILE) && error.contains("collection.services.enabled"), "{error}");
}

#[test]
fn missing_file_says_how_to_create_it() {
    let error = Config::load(Path::new("/nonexistent/sovigilant.yaml")).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/sovigilant.yaml") && error.contains("sovigilant init"), "{error}");
}

#[test]
fn seed_example_round_trips_through_the_file_model() {
    let file = Path::new(FILE);
    let model = ConfigFile::parse(file, SEED_EXAMPLE).unwrap();
    let written = model.to_yaml().unwrap();
    assert_eq!(ConfigFile::parse(file, &written).unwrap(), model, "{written}");
    assert_eq!(parse(&written).unwrap(), parse(SEED_EXAMPLE).unwrap(), "{written}");
    assert_eq!(Config::from_file(file, model).unwrap(), parse(SEED_EXAMPLE).unwrap());
}

#[test]
fn minimal_file_is_written_back_minimal() {
    let text = "server:\n  address: gw:9090\n  token: t\n";
    assert_eq!(ConfigFile::parse(Path::new(FILE), text).unwrap().to_yaml().unwrap(), text);
    // values kept as written: a size and a count given as text stay text
    let text =
        "server:\n  address: gw:9090\n  token: t\ncollection:\n  host:\n    max_mounts: '64'\nlogging:\n  max_size: 10MB\n";
    assert_eq!(ConfigFile::parse(Path::new(FILE), text).unwrap().to_yaml().unwrap(), text);
    assert_eq!(ConfigFile::parse(Path::new(FILE), "").unwrap(), ConfigFile::default());
}

#[test]
fn init_output_parses_into_the_config_of_its_model() {
    let options = InitOptions {
        server: "gw.example.com:9090".into(),
        token: "tok-123".into(),
        ca_cert: Some("/etc/sovigilant/ca.pem".into()),
        name: None,
        state_dir: None,
        tls: true,
        http_url: None,
        interval: None,
    };
    let config = parse(&render_init(&options)).unwrap();
    assert_eq!(config, Config::from_file(Path::new(FILE), init_file(&options)).unwrap());
    assert_eq!(config.agent.name, sovigilant::sysinfo::hostname());
    assert_eq!(config.server.token, "tok-123");
    assert!(config.collection.services.discover);
}

#[test]
fn actions_keys_default_and_are_read() {
    let config = parse("server:\n  address: gw:9090\n  token: t\n").unwrap();
    let actions = &config.actions;
    assert!(!actions.enabled, "remote actions are opt-in");
    assert_eq!(actions.timeout, Duration::from_secs(60));
    assert_eq!(actions.service_manager, None, "auto");
    assert_eq!(actions.max_concurrent, 4);
    assert_eq!(*actions, sovigilant::config::ActionsConfig::default());

    let config = parse(&format!("{SEED_EXAMPLE}  timeout: 2m\n  service_manager: openrc\n  max_concurrent: 2\n")).unwrap();
    let actions = &config.actions;
    assert_eq!(actions.allowed[0], "systemctl restart *");
    assert_eq!(actions.timeout, Duration::from_secs(120));
    assert_eq!(actions.service_manager, Some(sovigilant::actions::ServiceManager::OpenRc));
    assert_eq!(actions.max_concurrent, 2);
    let none = parse(&format!("{SEED_EXAMPLE}  service_manager: none\n")).unwrap();
    assert_eq!(none.actions.service_manager, Some(sovigilant::actions::ServiceManager::None));
}

#[test]
fn bad_actions_values_are_rejected_naming_key_and_value() {
    for (line, needles) in [
        ("  timeout: 2h\n", &["actions.timeout", "\"2h\"", "3600s maximum"][..]),
        ("  timeout: soon\n", &["actions.timeout", "soon"]),
        ("  service_manager: upstart\n", &["actions.service_manager", "\"upstart\"", "auto, systemd, openrc, none"]),
        ("  max_concurrent: 0\n", &["actions.max_concurrent", "0 is out of range"]),
        ("  max_concurrent: many\n", &["actions.max_concurrent", "\"many\""]),
    ] {
        let error = parse(&format!("{SEED_EXAMPLE}{line}")).unwrap_err();
        assert!(error.starts_with(FILE), "{error}");
        for needle in needles {
            assert!(error.contains(needle), "{needle:?} not in {error}");
        }
    }
    let error = parse(&seed_with("    - \"docker restart *\"\n", "    - \"  \"\n")).unwrap_err();
    assert!(error.contains("actions.allowed[2]: is empty"), "{error}");
    let error = parse(&seed_with("    - \"reboot*\"\n", "    - \"reboot\\nnow\"\n")).unwrap_err();
    assert!(error.contains("actions.denied[2]") && error.contains("control character"), "{error}");
    let many: String = (0..257).map(|i| format!("    - \"systemctl restart unit{i}\"\n")).collect();
    let error = parse(&seed_with("    - \"systemctl restart *\"\n", &many)).unwrap_err();
    assert!(error.contains("actions.allowed: has 260 entries; at most 256"), "{error}");
}
