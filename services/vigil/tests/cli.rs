//! The `vigil` executable's behaviour that needs no running infrastructure:
//! configuration errors (exit 64), service names, `config print` / `check`.

use std::process::{Command, Output};
use std::time::Duration;

fn vigil(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_config_file_exits_64_naming_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, "version: 1\ngateway:\n  access_token_ttl: 15x\n").unwrap();
    let output = vigil(&["--config", path.to_str().unwrap(), "config", "check"], &[]);
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    let expected = format!("vigil: {}: gateway.access_token_ttl: \"15x\" is not a duration", path.display());
    assert!(stderr(&output).starts_with(&expected), "{}", stderr(&output));
}

#[test]
fn config_file_named_by_vigil_config_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, "collector: { batchsize: 3 }\n").unwrap();
    let output = vigil(&["config", "check"], &[("VIGIL_CONFIG", path.to_str().unwrap())]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr(&output).contains("unknown key collector.batchsize"), "{}", stderr(&output));
}

#[test]
fn unknown_vigil_variable_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, "").unwrap();
    let output = vigil(&["--config", path.to_str().unwrap(), "config", "check"], &[("VIGIL_FOO", "1")]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr(&output).starts_with("vigil: unknown environment variable VIGIL_FOO; valid ones:"), "{}", stderr(&output));
}

#[test]
fn config_check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, "version: 1\ncollector: { batch_size: 10 }\n").unwrap();
    let output = vigil(&["--config", path.to_str().unwrap(), "config", "check"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("{}: ok", path.display()));
}

#[test]
fn config_print_shows_effective_values_with_env_overrides_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, "").unwrap();
    let output = vigil(&["--config", path.to_str().unwrap(), "config", "print"], &[("VIGIL_COLLECTOR_BATCH_SIZE", "7")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("  batch_size: 7  # snapshots stored per database transaction; default: 500"), "{printed}");
    assert!(printed.contains("  url: mysql://root@127.0.0.1:3306/vigil"), "{printed}");
}

#[test]
fn unknown_service_is_rejected_listing_the_known_ones() {
    let output = vigil(&["run", "gateway", "frobnicator"], &[]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("unknown service \"frobnicator\"; known services: gateway, collector, alerter, actioner, orchestrator"),
        "{error}"
    );
}

#[test]
fn run_without_a_service_is_a_usage_error() {
    let output = vigil(&["run"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("<SERVICE>"), "{}", stderr(&output));
}

/// Runs `vigil` against a fresh database; drops it afterwards.
struct FreshDatabase {
    name: String,
}

impl FreshDatabase {
    fn new() -> FreshDatabase {
        FreshDatabase { name: format!("vigil_t_{}", hex::encode(rand::random::<[u8; 6]>())) }
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = Command::new("mysql")
            .args(["-uroot", "-h127.0.0.1", "-e", &format!("DROP DATABASE IF EXISTS `{}`", self.name)])
            .output();
    }
}

#[test]
fn token_create_prints_the_token_and_an_install_hint_then_revoke_works() {
    let database = FreshDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("VIGIL_DATABASE_URL", database.url()),
        ("VIGIL_DATA_DIR", dir.path().display().to_string()),
        ("VIGIL_GATEWAY_PUBLIC_ADDRESS", "vigil.example.com".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = vigil(&["--config", "/dev/null", "token", "create", "--tenant", "acme", "--name", "web1"], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {stdout}"))
            .to_owned()
    };
    let (id, token) = (field("token id: "), field("token: "));
    let hint = format!(
        "sovigilant init --server vigil.example.com:9090 --token {token} --ca-cert {}",
        dir.path().join("tls/ca.pem").display()
    );
    assert!(stdout.contains(&hint), "{stdout}");

    let output = vigil(&["--config", "/dev/null", "token", "revoke", "--tenant", "acme", &id], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("token {id} of tenant acme revoked")));
}

#[test]
fn user_add_prints_a_generated_password_and_refuses_a_duplicate() {
    let database = FreshDatabase::new();
    let url = database.url();
    let env = [("VIGIL_DATABASE_URL", url.as_str())];
    let output =
        vigil(&["--config", "/dev/null", "user", "add", "--tenant", "acme", "--email", "ops@acme.test", "--role", "admin"], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("user ops@acme.test (admin) added to tenant acme"), "{stdout}");
    let password = stdout.lines().find_map(|line| line.strip_prefix("password: ")).expect("password printed");
    assert_eq!(password.len(), 20);

    let output = vigil(
        &[
            "--config",
            "/dev/null",
            "user",
            "add",
            "--tenant",
            "acme",
            "--email",
            "ops@acme.test",
            "--password",
            "another-password-1",
        ],
        &env,
    );
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(error.starts_with("vigil: ") && error.contains("ops@acme.test"), "{error}");
}

#[test]
fn bad_tenant_id_is_rejected_before_touching_the_database() {
    let output = vigil(
        &["--config", "/dev/null", "user", "add", "--tenant", "a.b", "--email", "x@y.z"],
        &[("VIGIL_DATABASE_URL", "mysql://root@127.0.0.1:1/none")],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--tenant \"a.b\" cannot be used"), "{}", stderr(&output));
}

#[test]
fn up_stops_with_a_clear_error_when_the_nats_port_is_taken() {
    // something already listens on nats.url's port (here: not even nats)
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let url = format!("nats://127.0.0.1:{port}");
    let output = vigil(&["--config", "/dev/null", "up"], &[("VIGIL_DATA_DIR", &data_dir), ("VIGIL_NATS_URL", &url)]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(error.contains(&format!("port {port} on 127.0.0.1 is already in use")), "{error}");
    assert!(error.contains("set up.nats: false") && error.contains("give nats.url a free port"), "{error}");
    let keys = std::fs::read_to_string(dir.path().join("nats.keys")).unwrap();
    let keys: vigil_bus::accounts::BusKeys = serde_json::from_str(&keys).unwrap();
    assert!(!error.contains(&keys.platform_user) && !error.contains(&keys.operator), "no seed is shown: {error}");
}

#[test]
fn config_print_never_shows_a_nats_seed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let output = vigil(
        &["--config", "/dev/null", "nats", "config", "--out", &format!("{data_dir}/out")],
        &[("VIGIL_DATA_DIR", &data_dir)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = vigil(&["--config", "/dev/null", "config", "print"], &[("VIGIL_DATA_DIR", &data_dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("  credentials_file: ''  # creds file"), "{printed}");
    let creds = std::fs::read_to_string(dir.path().join("nats.creds")).unwrap();
    let (_, seed) = vigil_bus::accounts::parse_creds(&creds, "test").unwrap();
    assert!(!printed.contains(&seed), "{printed}");
}

#[test]
fn nats_config_writes_the_server_configuration_a_separate_nats_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let out = dir.path().join("etc-nats");
    let port = vigil_testkit::free_port();
    let store = dir.path().join("store");
    let args = ["--config", "/dev/null", "nats", "config", "--out", out.to_str().unwrap(), "--listen"];
    let listen = format!("127.0.0.1:{port}");
    let output =
        vigil(&[&args[..], &[listen.as_str(), "--store", store.to_str().unwrap()]].concat(), &[("VIGIL_DATA_DIR", &data_dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let conf = out.join("nats-server.conf");
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("wrote {}", conf.display())));
    // a nats-server run on it takes the services' creds vigil derived in data_dir
    let mut server = std::process::Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    let creds = std::fs::read_to_string(dir.path().join("data/nats.creds")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let connected =
        runtime.block_on(vigil_testkit::try_eventually("the services' creds accepted", Duration::from_secs(10), || async {
            let client = async_nats::ConnectOptions::new()
                .credentials(&creds)
                .unwrap()
                .connect(format!("nats://{listen}"))
                .await
                .map_err(|error| error.to_string())?;
            client.request("$JS.API.INFO", "".into()).await.map(|_| ()).map_err(|error| error.to_string())
        }));
    let _ = server.kill();
    let _ = server.wait();
    connected.unwrap();
    assert!(store.join("jetstream").is_dir() && store.join("jwt").is_dir(), "the store is --store");
    let error = vigil(
        &["--config", "/dev/null", "nats", "config", "--out", out.to_str().unwrap(), "--listen", "nowhere"],
        &[("VIGIL_DATA_DIR", &data_dir)],
    );
    assert_eq!(error.status.code(), Some(1));
    assert!(stderr(&error).contains("--listen \"nowhere\" is not HOST:PORT"), "{}", stderr(&error));
}

#[test]
fn tls_ca_generates_the_material_once_and_prints_or_writes_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let env = [("VIGIL_DATA_DIR", data_dir.as_str()), ("VIGIL_GATEWAY_TLS_HOSTNAMES", "gateway")];
    let printed = vigil(&["--config", "/dev/null", "tls", "ca"], &env);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let ca = std::fs::read_to_string(dir.path().join("tls/ca.pem")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(String::from_utf8_lossy(&printed.stdout), ca, "stdout is the generated ca");
    assert!(dir.path().join("tls/server.pem").is_file() && dir.path().join("tls/server.key").is_file());

    let out = dir.path().join("enrol/ca.pem");
    std::fs::create_dir(dir.path().join("enrol")).unwrap();
    let written = vigil(&["--config", "/dev/null", "tls", "ca", "--out", out.to_str().unwrap()], &env);
    assert!(written.status.success(), "{}", stderr(&written));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), ca, "the same ca: nothing is generated twice");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o644, "agents read it");

    let refused = vigil(&["--config", "/dev/null", "tls", "ca", "--out", "/nonexistent/dir/ca.pem"], &env);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("/nonexistent/dir/ca.pem: cannot write the ca"), "{}", stderr(&refused));
}

#[test]
fn user_add_if_absent_leaves_an_existing_user_unchanged() {
    let database = FreshDatabase::new();
    let url = database.url();
    let env = [("VIGIL_DATABASE_URL", url.as_str())];
    let add = |password: &str| {
        let args = ["--config", "/dev/null", "user", "add", "--if-absent", "--tenant", "acme", "--email", "ops@acme.test"];
        vigil(&[&args[..], &["--role", "admin", "--password", password]].concat(), &env)
    };
    let hash = || {
        let output = Command::new("mysql")
            .args(["-uroot", "-h127.0.0.1", "-N", "-B", &database.name, "-e", "SELECT password_hash FROM users"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let first = add("first-password-1");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("user ops@acme.test (admin) added to tenant acme"));
    let stored = hash();
    assert!(!stored.is_empty());

    let again = add("second-password-2");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "user ops@acme.test exists; unchanged");
    assert_eq!(hash(), stored, "the password was not changed");
}

#[test]
fn ping_exits_0_while_the_service_answers_and_1_when_none_does() {
    let database = FreshDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let nats_dir = dir.path().join("nats");
    let port = vigil_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let written = vigil(
        &["--config", "/dev/null", "nats", "config", "--out", nats_dir.to_str().unwrap(), "--listen", &listen],
        &[("VIGIL_DATA_DIR", &data_dir)],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    let mut server = Command::new("nats-server")
        .arg("-c")
        .arg(nats_dir.join("nats-server.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    let url = format!("nats://{listen}");
    let env = [("VIGIL_DATA_DIR", data_dir.as_str()), ("VIGIL_NATS_URL", url.as_str()), ("VIGIL_DATABASE_URL", &database.url())]
        .map(|(k, v)| (k, v.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // the server up, no collector: an answer nobody gives
    let nobody = runtime.block_on(vigil_testkit::try_eventually("nats-server up", Duration::from_secs(10), || async {
        let output = vigil(&["--config", "/dev/null", "ping", "collector"], &env);
        match stderr(&output).contains("no collector answered its nats ping") {
            true => Ok(output),
            false => Err(stderr(&output)),
        }
    }));

    let mut collector = Command::new(env!("CARGO_BIN_EXE_vigil"));
    collector.args(["--config", "/dev/null", "run", "collector"]).env_clear().envs(env.iter().copied());
    let mut collector = collector.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let answered = runtime.block_on(vigil_testkit::try_eventually("the collector answers", Duration::from_secs(60), || async {
        let output = vigil(&["--config", "/dev/null", "ping", "collector"], &env);
        match output.status.success() {
            true => Ok(output),
            false => Err(stderr(&output)),
        }
    }));
    let _ = collector.kill();
    let _ = collector.wait();
    let _ = server.kill();
    let _ = server.wait();

    let nobody = nobody.unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    let answered = answered.unwrap();
    assert_eq!(String::from_utf8_lossy(&answered.stdout).trim(), "collector answers");
}

#[test]
fn migrate_from_several_processes_at_once_on_a_fresh_database() {
    let database = FreshDatabase::new();
    let url = database.url();
    // as compose's containers (or a restart of all of them) start together
    let children: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_vigil"))
                .args(["--config", "/dev/null", "migrate"])
                .env_clear()
                .env("VIGIL_DATABASE_URL", &url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a concurrent vigil migrate failed: {}", stderr(&output));
    }
    let again = vigil(&["--config", "/dev/null", "migrate"], &[("VIGIL_DATABASE_URL", &url)]);
    assert!(again.status.success(), "{}", stderr(&again));
}
