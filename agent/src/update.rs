//! `sovigilant update`: installs the agent build the gateway publishes for
//! this os/arch (`/downloads/sovigilant-<os>-<arch>` and its `.json`
//! manifest), and the key pinning done by `sovigilant init` (the release key,
//! and with the same [`pin_served_key`] the action key of remote actions).
//!
//! Invariants:
//! - nothing is installed unless the manifest's Ed25519 signature verifies
//!   against the key pinned in `state_dir/release.pub` (no pinned key: no
//!   update), the manifest names this os/arch, and the downloaded bytes have
//!   the manifest's size and SHA-256. The signature covers
//!   [`release::signed_message`] (os, arch, version, SHA-256), so the plain
//!   HTTP transport cannot substitute a binary, a version or a platform;
//! - the new binary is written next to the current one (same file system),
//!   must print the manifest's version to `--version` within
//!   [`VERSION_CHECK_TIMEOUT`] before anything is replaced, and replaces the
//!   current one by rename (current → `<exe>.old`, new → `<exe>`), so the
//!   executable path always holds a complete binary;
//! - a pinned key is never replaced by `init`: a different key from the
//!   server is reported, not trusted.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use vigil_bus::release::{self, Manifest};
use vigil_runtime::signing::decode_public_key as decode_key;

use crate::http::{self, HttpError, Url};
use crate::services::InitSystem;

/// The pinned release public key, in `state_dir`.
pub const PINNED_KEY_FILE: &str = "release.pub";
/// How long the new binary has to answer `--version`.
pub const VERSION_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on fetching a manifest or the public key.
const SMALL_FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on downloading a build.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a restarted service must stay up to count as started.
const RESTART_SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no release key is pinned ({path} is missing), so no build can be verified; run `sovigilant init` again, or write the server's key (`vigil release key` on the server, or GET /downloads/release.pub) to that file")]
    NoPinnedKey { path: PathBuf },
    #[error("{path}: {reason}; it must hold the server's release key in base64 (`vigil release key`)")]
    BadPinnedKey { path: PathBuf, reason: String },
    #[error("server.http_url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: not a release manifest: {reason}")]
    BadManifest { url: String, reason: String },
    #[error("{url}: the manifest is for {got}, this agent runs on {expected}")]
    WrongPlatform { url: String, expected: String, got: String },
    #[error("{url}: the signature of version {version} does not verify with the pinned release key; refusing the build (was it published with another server's key?)")]
    BadSignature { url: String, version: String },
    #[error("the download is {got} bytes, the manifest says {expected}; refusing it")]
    SizeMismatch { expected: u64, got: u64 },
    #[error("the download's SHA-256 is {got}, the manifest says {expected}; refusing it")]
    ShaMismatch { expected: String, got: String },
    #[error("{path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("the new build {path} does not start: {reason}; nothing was replaced")]
    DoesNotStart { path: PathBuf, reason: String },
    #[error("the server's {what} {served} differs from the key pinned in {path} ({pinned}); keeping the pinned key")]
    KeyChanged { what: &'static str, path: PathBuf, pinned: String, served: String },
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> UpdateError {
    let path = path.to_owned();
    move |source| UpdateError::Io { path, action, source }
}

/// This agent's os and arch, as the gateway names its builds.
pub fn platform() -> (&'static str, &'static str) {
    (std::env::consts::OS, std::env::consts::ARCH)
}

/// `server.http_url` as a URL.
pub fn base_url(http_url: &str) -> Result<Url, UpdateError> {
    Url::parse(http_url).map_err(|reason| UpdateError::BadUrl { url: http_url.to_owned(), reason })
}

/// `state_dir/release.pub`.
pub fn pinned_key_path(state_dir: &Path) -> PathBuf {
    state_dir.join(PINNED_KEY_FILE)
}

/// The pinned release key (32 bytes).
pub fn read_pinned_key(state_dir: &Path) -> Result<Vec<u8>, UpdateError> {
    let path = pinned_key_path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(UpdateError::NoPinnedKey { path }),
        Err(error) => return Err(io(&path, "cannot read")(error)),
    };
    decode_key(&text).map_err(|reason| UpdateError::BadPinnedKey { path, reason })
}

/// What [`pin_server_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinned {
    /// The key was written now.
    New { key: String },
    /// The same key was pinned already.
    Same { key: String },
}

/// Fetches `/downloads/release.pub` and pins it in `state_dir` unless a key
/// is pinned already (a different one is [`UpdateError::KeyChanged`]).
pub async fn pin_server_key(http_url: &str, state_dir: &Path) -> Result<Pinned, UpdateError> {
    pin_served_key(http_url, state_dir, release::PUBLIC_KEY_FILE, "release key").await
}

/// Fetches the public key `/downloads/<file>` (`what` names it in errors) and
/// pins it in `state_dir/<file>` unless a key is pinned there already (trust
/// on first use: a different one is [`UpdateError::KeyChanged`], never
/// written). The release key and the action key are pinned this way.
pub async fn pin_served_key(http_url: &str, state_dir: &Path, file: &str, what: &'static str) -> Result<Pinned, UpdateError> {
    let url = base_url(http_url)?.join(&format!("/downloads/{file}"));
    let response = http::get_url(&url, SMALL_FETCH_TIMEOUT).await?;
    let served = String::from_utf8_lossy(&response.body).trim().to_owned();
    decode_key(&served).map_err(|reason| UpdateError::BadManifest { url: url.to_string(), reason })?;
    let path = state_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(pinned) if pinned.trim() == served => return Ok(Pinned::Same { key: served }),
        Ok(pinned) => return Err(UpdateError::KeyChanged { what, path, pinned: pinned.trim().to_owned(), served }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(&path, "cannot read")(error)),
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(state_dir).map_err(io(state_dir, "cannot create"))?;
    write_new(&path, format!("{served}\n").as_bytes(), 0o644)?;
    Ok(Pinned::New { key: served })
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), UpdateError> {
    vigil_runtime::files::replace(path, bytes, mode).map_err(io(path, "cannot write"))
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Fetches the manifest for `os`/`arch` and checks its shape (not its
/// signature: see [`verify_manifest`]).
pub async fn fetch_manifest(base: &Url, os: &str, arch: &str) -> Result<(Url, Manifest), UpdateError> {
    let url = base.join(&format!("/downloads/{}", release::manifest_name(os, arch)));
    let response = http::get_url(&url, SMALL_FETCH_TIMEOUT).await?;
    let manifest: Manifest = serde_json::from_slice(&response.body)
        .map_err(|e| UpdateError::BadManifest { url: url.to_string(), reason: e.to_string() })?;
    Ok((url, manifest))
}

/// Checks that `manifest` is for `os`/`arch`, is well formed and is signed by
/// `key`.
pub fn verify_manifest(url: &str, manifest: &Manifest, key: &[u8], os: &str, arch: &str) -> Result<(), UpdateError> {
    if manifest.os != os || manifest.arch != arch {
        return Err(UpdateError::WrongPlatform {
            url: url.to_owned(),
            expected: format!("{os}-{arch}"),
            got: format!("{}-{}", manifest.os, manifest.arch),
        });
    }
    let bad = |reason: String| UpdateError::BadManifest { url: url.to_owned(), reason };
    if !release::valid_version(&manifest.version) {
        return Err(bad(format!("version {:?} is not a version", manifest.version)));
    }
    if manifest.sha256.len() != 64 || !manifest.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad(format!("sha256 {:?} is not 64 lowercase hex digits", manifest.sha256)));
    }
    if manifest.size > http::MAX_BODY as u64 {
        return Err(bad(format!("size {} is above the {} bytes the agent downloads", manifest.size, http::MAX_BODY)));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(manifest.signature.trim())
        .map_err(|e| bad(format!("signature is not base64: {e}")))?;
    let message = release::signed_message(&manifest.os, &manifest.arch, &manifest.version, &manifest.sha256);
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&message, &signature)
        .map_err(|_| UpdateError::BadSignature { url: url.to_owned(), version: manifest.version.clone() })
}

/// Checks a download against its (verified) manifest.
pub fn verify_binary(bytes: &[u8], manifest: &Manifest) -> Result<(), UpdateError> {
    if bytes.len() as u64 != manifest.size {
        return Err(UpdateError::SizeMismatch { expected: manifest.size, got: bytes.len() as u64 });
    }
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
    if sha256 != manifest.sha256 {
        return Err(UpdateError::ShaMismatch { expected: manifest.sha256.clone(), got: sha256 });
    }
    Ok(())
}

/// Downloads the build of a verified manifest and checks size and SHA-256.
pub async fn download(base: &Url, manifest: &Manifest) -> Result<Vec<u8>, UpdateError> {
    let url = base.join(&format!("/downloads/{}", release::binary_name(&manifest.os, &manifest.arch)));
    let response = http::get_url(&url, DOWNLOAD_TIMEOUT).await?;
    verify_binary(&response.body, manifest)?;
    Ok(response.body)
}

/// The running executable, symlinks resolved (what gets replaced).
pub fn current_exe() -> Result<PathBuf, UpdateError> {
    let exe = std::env::current_exe().map_err(io(Path::new("/proc/self/exe"), "cannot find the running executable"))?;
    std::fs::canonicalize(&exe).map_err(io(&exe, "cannot resolve"))
}

/// Writes the new build next to `exe` as `<exe>.new` (mode 0755).
pub fn stage(exe: &Path, bytes: &[u8]) -> Result<PathBuf, UpdateError> {
    let staged = sibling(exe, ".new");
    let _ = std::fs::remove_file(&staged);
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&staged)
        .map_err(io(&staged, "cannot create (run the update as the user owning the agent's binary, usually root)"))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(error) = written {
        let _ = std::fs::remove_file(&staged);
        return Err(io(&staged, "cannot write")(error));
    }
    // the mode given at creation is masked by the umask
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).map_err(io(&staged, "cannot chmod"))?;
    Ok(staged)
}

/// Runs `binary --version`; it must exit 0 within [`VERSION_CHECK_TIMEOUT`]
/// and print `version` as a word.
pub async fn check_starts(binary: &Path, version: &str) -> Result<(), UpdateError> {
    let fail = |reason: String| UpdateError::DoesNotStart { path: binary.to_owned(), reason };
    let run =
        tokio::process::Command::new(binary).arg("--version").stdin(std::process::Stdio::null()).kill_on_drop(true).output();
    let output = tokio::time::timeout(VERSION_CHECK_TIMEOUT, run)
        .await
        .map_err(|_| fail(format!("`--version` did not answer within {}s", VERSION_CHECK_TIMEOUT.as_secs())))?
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(fail(format!("`--version` exited with {}", output.status)));
    }
    if !stdout.split_whitespace().any(|word| word == version) {
        return Err(fail(format!("`--version` printed {:?}, not version {version}", stdout.trim())));
    }
    Ok(())
}

/// The previous binary, kept at `<exe>.old` by [`swap`].
#[derive(Debug)]
pub struct Swapped {
    pub exe: PathBuf,
    pub old: PathBuf,
}

/// Replaces `exe` with `staged`: `exe` → `<exe>.old`, `staged` → `exe`. If
/// the second rename fails the first is undone.
pub fn swap(exe: &Path, staged: &Path) -> Result<Swapped, UpdateError> {
    let old = sibling(exe, ".old");
    std::fs::rename(exe, &old).map_err(io(exe, "cannot move aside"))?;
    if let Err(error) = std::fs::rename(staged, exe) {
        let _ = std::fs::rename(&old, exe);
        let _ = std::fs::remove_file(staged);
        return Err(io(exe, "cannot install the new build")(error));
    }
    Ok(Swapped { exe: exe.to_owned(), old })
}

impl Swapped {
    /// Puts the previous binary back (`<exe>.old` → `exe`).
    pub fn rollback(&self) -> Result<(), UpdateError> {
        std::fs::rename(&self.old, &self.exe).map_err(io(&self.exe, "cannot restore the previous build"))
    }
}

/// How the agent's service is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Systemd,
    OpenRc,
    /// No sovigilant service under a known init system: the operator restarts it.
    Manual,
}

impl Restart {
    /// systemd or OpenRC when it runs here and has a `sovigilant` service.
    pub async fn detect() -> Restart {
        match InitSystem::detect() {
            InitSystem::Systemd => {
                let loaded = tokio::process::Command::new("systemctl")
                    .args(["show", "--property=LoadState", "--value", "sovigilant.service"])
                    .output()
                    .await
                    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "loaded");
                if loaded {
                    Restart::Systemd
                } else {
                    Restart::Manual
                }
            }
            InitSystem::OpenRc if Path::new("/etc/init.d/sovigilant").exists() => Restart::OpenRc,
            _ => Restart::Manual,
        }
    }

    /// Restarts the service and checks it is running [`RESTART_SETTLE`] later.
    pub async fn run(self) -> Result<(), String> {
        let (restart, check): (&[&str], &[&str]) = match self {
            Restart::Systemd => (&["systemctl", "restart", "sovigilant"], &["systemctl", "is-active", "--quiet", "sovigilant"]),
            Restart::OpenRc => (&["rc-service", "sovigilant", "restart"], &["rc-service", "sovigilant", "status"]),
            Restart::Manual => return Ok(()),
        };
        run_command(restart).await?;
        tokio::time::sleep(RESTART_SETTLE).await;
        run_command(check).await.map_err(|error| format!("the service is not running after the restart ({error})"))
    }
}

async fn run_command(argv: &[&str]) -> Result<(), String> {
    let output = tokio::process::Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", argv.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("`{}` exited with {}: {}", argv.join(" "), output.status, String::from_utf8_lossy(&output.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn signed(key: &Ed25519KeyPair, bytes: &[u8], version: &str) -> Manifest {
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
        let signature = key.sign(&release::signed_message("linux", "x86_64", version, &sha256));
        Manifest {
            version: version.into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            sha256,
            size: bytes.len() as u64,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
        }
    }

    fn key() -> Ed25519KeyPair {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap()
    }

    #[test]
    fn manifest_signed_by_the_pinned_key_verifies_and_any_change_breaks_it() {
        let (release_key, other_key) = (key(), key());
        let public = release_key.public_key().as_ref().to_vec();
        let manifest = signed(&release_key, b"build", "1.3.0");
        verify_manifest("u", &manifest, &public, "linux", "x86_64").unwrap();

        let by_other = signed(&other_key, b"build", "1.3.0");
        assert!(matches!(verify_manifest("u", &by_other, &public, "linux", "x86_64"), Err(UpdateError::BadSignature { .. })));
        let mut bumped = manifest.clone();
        bumped.version = "1.3.1".into();
        assert!(matches!(verify_manifest("u", &bumped, &public, "linux", "x86_64"), Err(UpdateError::BadSignature { .. })));
        let mut other_build = manifest.clone();
        other_build.sha256 = "0".repeat(64);
        assert!(matches!(verify_manifest("u", &other_build, &public, "linux", "x86_64"), Err(UpdateError::BadSignature { .. })));
        assert!(matches!(verify_manifest("u", &manifest, &public, "linux", "aarch64"), Err(UpdateError::WrongPlatform { .. })));
    }

    #[test]
    fn download_must_match_size_and_sha256() {
        let manifest = signed(&key(), b"build", "1.3.0");
        verify_binary(b"build", &manifest).unwrap();
        assert!(matches!(verify_binary(b"build!", &manifest), Err(UpdateError::SizeMismatch { .. })));
        assert!(matches!(verify_binary(b"BUILD", &manifest), Err(UpdateError::ShaMismatch { .. })));
    }

    #[test]
    fn missing_or_damaged_pinned_key_refuses_the_update() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read_pinned_key(dir.path()), Err(UpdateError::NoPinnedKey { .. })));
        std::fs::write(pinned_key_path(dir.path()), "c2hvcnQ=\n").unwrap();
        let error = read_pinned_key(dir.path()).unwrap_err().to_string();
        assert!(error.contains("5 bytes, an Ed25519 public key is 32"), "{error}");
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn new_build_must_print_its_version_in_time() {
        let dir = tempfile::tempdir().unwrap();
        check_starts(&script(dir.path(), "good", "echo sovigilant 1.3.0"), "1.3.0").await.unwrap();
        let wrong = check_starts(&script(dir.path(), "wrong", "echo sovigilant 1.2.0"), "1.3.0").await.unwrap_err();
        assert!(wrong.to_string().contains("not version 1.3.0"), "{wrong}");
        let failing = check_starts(&script(dir.path(), "failing", "exit 3"), "1.3.0").await.unwrap_err();
        assert!(failing.to_string().contains("exited with"), "{failing}");
        let started = std::time::Instant::now();
        let hung = check_starts(&script(dir.path(), "hung", "sleep 30"), "1.3.0").await.unwrap_err();
        assert!(hung.to_string().contains("did not answer within 5s"), "{hung}");
        assert!(started.elapsed() < Duration::from_secs(10));
        std::fs::write(dir.path().join("garbage"), b"\x00\x01not an executable").unwrap();
        std::fs::set_permissions(dir.path().join("garbage"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_starts(&dir.path().join("garbage"), "1.3.0").await.is_err());
    }

    /// Answers each connection with the next of `answers` (status, body).
    async fn serve(answers: Vec<(u16, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 2048];
                let _ = socket.read(&mut request).await.unwrap();
                let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        url
    }

    #[tokio::test]
    async fn the_action_key_is_pinned_once_and_a_missing_one_is_a_404() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let encode = |key: &Ed25519KeyPair| base64::engine::general_purpose::STANDARD.encode(key.public_key().as_ref());
        let (first, second) = (encode(&key()), encode(&key()));
        let url =
            serve(vec![(200, format!("{first}\n")), (200, first.clone()), (200, second.clone()), (404, "nope".into())]).await;
        let pin = || pin_served_key(&url, dir.path(), "actions.pub", "action key");
        assert_eq!(pin().await.unwrap(), Pinned::New { key: first.clone() });
        assert_eq!(std::fs::read_to_string(dir.path().join("actions.pub")).unwrap(), format!("{first}\n"));
        assert_eq!(pin().await.unwrap(), Pinned::Same { key: first.clone() });
        let changed = pin().await.unwrap_err();
        assert!(matches!(&changed, UpdateError::KeyChanged { what: "action key", .. }), "{changed}");
        assert!(changed.to_string().starts_with("the server's action key"), "{changed}");
        assert_eq!(std::fs::read_to_string(dir.path().join("actions.pub")).unwrap(), format!("{first}\n"), "kept");
        let missing = pin().await.unwrap_err();
        assert!(matches!(missing, UpdateError::Http(HttpError::Status { status: 404, .. })), "{missing}");
    }

    #[test]
    fn swap_keeps_the_old_build_and_rollback_restores_it() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("sovigilant");
        std::fs::write(&exe, b"old").unwrap();
        let staged = stage(&exe, b"new").unwrap();
        assert_eq!(staged, dir.path().join("sovigilant.new"));
        assert_eq!(std::fs::metadata(&staged).unwrap().permissions().mode() & 0o777, 0o755);
        let swapped = swap(&exe, &staged).unwrap();
        assert_eq!(std::fs::read(&exe).unwrap(), b"new");
        assert_eq!(std::fs::read(dir.path().join("sovigilant.old")).unwrap(), b"old");
        assert!(!staged.exists());
        swapped.rollback().unwrap();
        assert_eq!(std::fs::read(&exe).unwrap(), b"old");
        assert!(!dir.path().join("sovigilant.old").exists());
    }
}
