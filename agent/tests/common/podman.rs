//! A real Podman for the agent's tests: its API service on a private unix
//! socket (`podman system service`), the `podman` CLI, and the busybox image
//! scripts/lib/infra.sh imports once per machine. Without podman a test
//! fails with [`HINT`] (scripts/test installs it), it does not skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::eventually;

/// The image scripts/lib/infra.sh builds once per machine.
pub const IMAGE: &str = "localhost/vigil-test-busybox:latest";
pub const HINT: &str = "apt-get install -y podman runc busybox-static, and write /etc/containers/containers.conf with \
                        runtime = \"runc\" (scripts/lib/infra.sh ensure_test_packages does both)";

/// Runs the podman CLI; panics with its stderr when it fails.
pub fn podman(args: &[&str]) -> String {
    let output = std::process::Command::new("podman").args(args).output().unwrap();
    assert!(output.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Panics with [`HINT`] when podman is not installed.
pub fn require() {
    let installed = std::process::Command::new("podman").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(installed.is_ok_and(|s| s.success()), "podman is not installed: {HINT}");
}

/// Podman's API service on `dir/podman.sock`, killed when dropped.
pub struct Service {
    pub socket: PathBuf,
    _child: tokio::process::Child,
}

impl Service {
    pub async fn start(dir: &Path) -> Service {
        require();
        let socket = dir.join("podman.sock");
        let child = tokio::process::Command::new("podman")
            .args(["system", "service", "--time=0", &format!("unix://{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        eventually(&format!("the podman service to create {}", socket.display()), Duration::from_secs(20), || async {
            socket.exists()
        })
        .await;
        Service { socket, _child: child }
    }
}

/// Imports the busybox image when this machine has none yet.
pub fn ensure_image(dir: &Path) {
    let exists = std::process::Command::new("podman").args(["image", "exists", IMAGE]).status().unwrap();
    if exists.success() {
        return;
    }
    assert!(Path::new("/bin/busybox").exists(), "/bin/busybox is missing: {HINT}");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let tarball = dir.join("rootfs.tar");
    let tarred = std::process::Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".").status().unwrap();
    assert!(tarred.success());
    podman(&["import", "--quiet", tarball.to_str().unwrap(), IMAGE]);
}
