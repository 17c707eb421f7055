//! Agent updates through the real stack: `vigil release add` publishes a
//! signed build in the data dir, the gateway serves it at `/downloads/…`,
//! `sovigilant init` pins the release key and `sovigilant update` installs
//! the build only when its signature, size, SHA-256 and `--version` check
//! out; `install.sh` installs a verified agent from the same downloads.
//!
//! The "new version" is a shell script printing `sovigilant 9.9.9`: the
//! update checks what the build answers to `--version`, and a script is the
//! only build here that can answer with another version than this one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;
use vigil_tests::{bin, Stack, TenantFixture};

const NEW_VERSION: &str = "9.9.9";

/// An agent installed in a temp dir: a copy of the real sovigilant binary as
/// the executable `update` replaces, its config and state.
struct InstalledAgent {
    dir: TempDir,
}

impl InstalledAgent {
    fn exe(&self) -> PathBuf {
        self.dir.path().join("bin").join("sovigilant")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.exe()).arg("--config").arg(self.config()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Files next to the executable other than itself (`.new`, `.old`).
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.exe().parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "sovigilant")
            .collect();
        names.sort();
        names
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `sovigilant init` against the stack, from a copy of the real binary.
fn install_agent(stack: &Stack, fixture: &TenantFixture) -> InstalledAgent {
    let agent = InstalledAgent { dir: TempDir::new().unwrap() };
    std::fs::create_dir_all(agent.exe().parent().unwrap()).unwrap();
    std::fs::copy(bin("sovigilant"), agent.exe()).unwrap();
    let output = agent.run(&[
        "init",
        "--server",
        &stack.grpc_address(),
        "--token",
        &fixture.token,
        "--ca-cert",
        &stack.ca_path().display().to_string(),
        "--http-url",
        &stack.http(""),
        "--state-dir",
        &agent.state().display().to_string(),
    ]);
    assert!(output.status.success(), "init: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Pinned the release key"), "init: {}", text(&output));
    agent
}

/// `vigil <args>` with the stack's configuration (and `data_dir`, unless given).
fn vigil(stack: &Stack, data_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(bin("vigil"));
    command.args(args).envs(stack.env());
    if let Some(dir) = data_dir {
        command.env("VIGIL_DATA_DIR", dir);
    }
    command.output().unwrap()
}

/// Publishes `script` (a `#!/bin/sh` body) as version `version` of this
/// machine's build, signed with the release key of `data_dir` (default: the
/// stack's).
fn publish_script(stack: &Stack, data_dir: Option<&Path>, work: &Path, body: &str, version: &str) {
    let path = work.join(format!("build-{}", rand::random::<u32>()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = vigil(stack, data_dir, &["release", "add", "--version", version, &path.display().to_string()]);
    assert!(output.status.success(), "vigil release add: {}", text(&output));
}

fn downloads(stack: &Stack) -> PathBuf {
    stack.data_dir.path().join("downloads")
}

fn build_name() -> String {
    format!("sovigilant-{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_installs_only_a_signed_build_that_starts() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let agent = install_agent(&stack, &acme);
    let work = TempDir::new().unwrap();
    let original = std::fs::read(bin("sovigilant")).unwrap();
    let unchanged = |agent: &InstalledAgent, what: &str| {
        assert_eq!(std::fs::read(agent.exe()).unwrap(), original, "{what}: the executable was replaced");
        assert!(agent.leftovers().is_empty(), "{what}: left {:?}", agent.leftovers());
    };

    // init pinned the key the server signs with
    let key = vigil(&stack, None, &["release", "key"]);
    let key = String::from_utf8_lossy(&key.stdout).trim().to_owned();
    assert_eq!(std::fs::read_to_string(agent.state().join("release.pub")).unwrap().trim(), key);
    let served = reqwest::get(stack.http("/downloads/release.pub")).await.unwrap().text().await.unwrap();
    assert_eq!(served.trim(), key);

    // nothing published yet: update says so and changes nothing
    let output = agent.run(&["update", "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("HTTP 404"), "{}", text(&output));
    unchanged(&agent, "nothing published");

    // a build whose bytes were changed after signing (same size): SHA-256 mismatch
    publish_script(&stack, None, work.path(), &format!("echo sovigilant {NEW_VERSION}"), NEW_VERSION);
    let binary = downloads(&stack).join(build_name());
    let mut bytes = std::fs::read(&binary).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = b'8'; // `9.9.9` → `9.9.8`
    std::fs::write(&binary, &bytes).unwrap();
    let output = agent.run(&["update", "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Downloading... FAILED"), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SHA-256"), "{}", text(&output));
    unchanged(&agent, "tampered build");

    // a build signed by another server's key
    let other = TempDir::new().unwrap();
    publish_script(&stack, Some(other.path()), work.path(), &format!("echo sovigilant {NEW_VERSION}"), NEW_VERSION);
    for name in [build_name(), format!("{}.json", build_name())] {
        std::fs::copy(other.path().join("downloads").join(&name), downloads(&stack).join(&name)).unwrap();
    }
    let output = agent.run(&["update", "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not verify with the pinned release key"), "{}", text(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("Downloading"), "{}", text(&output));
    unchanged(&agent, "foreign signature");

    // a signed build that does not start (fails `--version`): nothing replaced
    publish_script(&stack, None, work.path(), "echo 'segmentation fault' >&2; exit 139", NEW_VERSION);
    let output = agent.run(&["update", "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Downloading... OK") && stdout.contains("Installing... FAILED"), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not start"), "{}", text(&output));
    unchanged(&agent, "build that does not start");

    // a signed build reporting another version than its manifest: same
    publish_script(&stack, None, work.path(), "echo sovigilant 1.0.0", NEW_VERSION);
    let output = agent.run(&["update", "--yes"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not version 9.9.9"), "{}", text(&output));
    unchanged(&agent, "build with the wrong version");

    // a good build: --check and a missing --yes install nothing…
    publish_script(&stack, None, work.path(), &format!("echo sovigilant {NEW_VERSION}"), NEW_VERSION);
    let output = agent.run(&["update", "--check"]);
    assert!(output.status.success(), "{}", text(&output));
    let current = format!("Current version: {}", env!("CARGO_PKG_VERSION"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&current) && stdout.contains("Latest version: 9.9.9") && stdout.contains("update is available"),
        "{}",
        text(&output)
    );
    let output = agent.run(&["update"]);
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    unchanged(&agent, "--check and no --yes");

    // …and --yes installs it, keeping the previous build
    let output = agent.run(&["update", "--yes"]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [current.as_str(), "Latest version: 9.9.9", "Downloading... OK", "Installing... OK", "Restarting..."] {
        assert!(stdout.contains(line), "missing {line:?}: {}", text(&output));
    }
    let installed = Command::new(agent.exe()).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&installed.stdout).trim(), "sovigilant 9.9.9");
    assert_eq!(std::fs::read(agent.exe()).unwrap(), std::fs::read(downloads(&stack).join(build_name())).unwrap());
    assert_eq!(agent.leftovers(), ["sovigilant.old"]);
    assert_eq!(std::fs::read(agent.exe().with_file_name("sovigilant.old")).unwrap(), original);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_script_installs_a_verified_agent_that_registers() {
    let stack = Stack::new().await.unwrap();
    let _services = stack.spawn(&["gateway", "collector"]).await.unwrap();
    let acme = stack.tenant("acme").await.unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let output = vigil(&stack, None, &["release", "add", "--version", version, &bin("sovigilant").display().to_string()]);
    assert!(output.status.success(), "vigil release add: {}", text(&output));
    let script = reqwest::get(stack.http("/install.sh")).await.unwrap().text().await.unwrap();

    let run_script = |root: &Path| {
        let path = root.join("install.sh");
        std::fs::write(&path, &script).unwrap();
        Command::new("sh")
            .arg(&path)
            .args([stack.grpc_address().as_str(), acme.token.as_str()])
            .env("PREFIX", root.join("bin"))
            .env("CONFIG_DIR", root.join("etc"))
            .env("STATE_DIR", root.join("state"))
            .env("NO_SERVICE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let root = TempDir::new().unwrap();
    let output = run_script(root.path());
    assert!(output.status.success(), "install.sh: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("SHA-256 OK"), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Registered: host id"), "{}", text(&output));
    assert_eq!(std::fs::read(root.path().join("bin/sovigilant")).unwrap(), std::fs::read(bin("sovigilant")).unwrap());
    assert_eq!(std::fs::read(root.path().join("etc/ca.pem")).unwrap(), std::fs::read(stack.ca_path()).unwrap());
    let config = std::fs::read_to_string(root.path().join("etc/config.yaml")).unwrap();
    assert!(config.contains("http_url:") && config.contains(&stack.http("")), "{config}");
    let key = String::from_utf8_lossy(&vigil(&stack, None, &["release", "key"]).stdout).trim().to_owned();
    assert_eq!(std::fs::read_to_string(root.path().join("state/release.pub")).unwrap().trim(), key);

    // a build changed after publishing is refused and nothing is installed
    let binary = downloads(&stack).join(build_name());
    let mut bytes = std::fs::read(&binary).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&binary, &bytes).unwrap();
    let root = TempDir::new().unwrap();
    let output = run_script(root.path());
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SHA-256 mismatch"), "{}", text(&output));
    assert!(!root.path().join("bin/sovigilant").exists());
    assert!(!root.path().join("etc/config.yaml").exists());
}
