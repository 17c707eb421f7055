//! Agent releases: the server's Ed25519 release key and the agent builds
//! published in `data_dir/downloads/`, which the gateway serves at
//! `/downloads/…` and `sovigilant update` installs after checking them.
//!
//! Invariants:
//! - the release key (`data_dir/release.key`, PKCS#8 PEM, mode 0600) is
//!   generated once and never rewritten; a concurrent first start reads the
//!   winner's key; its private half never leaves this module;
//! - a published build is `sovigilant-<os>-<arch>` (mode 0755) plus its
//!   manifest `sovigilant-<os>-<arch>.json`, each written to a temporary file
//!   and renamed into place, so the gateway never serves a half-written file;
//!   the manifest's signature covers [`release::signed_message`] (os, arch,
//!   version, SHA-256);
//! - os, arch and version are checked with [`vigil_bus::release`] before any
//!   file name is built from them.
//!
//! Blocking file work: call from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_bus::release::{self, Manifest};
use vigil_runtime::signing::{KeyError, SigningKey};

/// The release key's file in `data_dir`.
pub const KEY_FILE: &str = "release.key";
/// The published builds' directory in `data_dir`.
pub const DOWNLOADS_DIR: &str = "downloads";

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("--{which} {value:?} cannot be used; give lowercase letters, digits or '_' (e.g. linux, x86_64, aarch64)")]
    BadPlatform { which: &'static str, value: String },
    #[error("--version {0:?} cannot be used; give a version starting with a digit, e.g. 1.3.0")]
    BadVersion(String),
    #[error("{path}: {message}")]
    BadManifest { path: String, message: String },
    #[error("{binary} --version: {message}")]
    LocalVersion { binary: String, message: String },
    #[error("release task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> ReleaseError {
    let path = path.display().to_string();
    move |source| ReleaseError::Io { path, action, source }
}

/// `data_dir/downloads`.
pub fn downloads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DOWNLOADS_DIR)
}

/// The server's release key (`data_dir/release.key`).
pub struct ReleaseKey;

impl ReleaseKey {
    /// Reads `data_dir/release.key`, generating it first when absent.
    pub fn ensure(data_dir: &Path) -> Result<SigningKey, ReleaseError> {
        Ok(SigningKey::ensure(&data_dir.join(KEY_FILE), "release key")?)
    }
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct Publish<'a> {
    pub os: &'a str,
    pub arch: &'a str,
    pub version: &'a str,
    /// The agent build to copy.
    pub binary: &'a Path,
}

/// Copies `what.binary` into `dir` as `sovigilant-<os>-<arch>` with its
/// signed manifest; returns the manifest.
pub fn publish(dir: &Path, key: &SigningKey, what: &Publish<'_>) -> Result<Manifest, ReleaseError> {
    if !release::valid_platform_part(what.os) {
        return Err(ReleaseError::BadPlatform { which: "os", value: what.os.to_owned() });
    }
    if !release::valid_platform_part(what.arch) {
        return Err(ReleaseError::BadPlatform { which: "arch", value: what.arch.to_owned() });
    }
    if !release::valid_version(what.version) {
        return Err(ReleaseError::BadVersion(what.version.to_owned()));
    }
    let bytes = std::fs::read(what.binary).map_err(io(what.binary, "cannot read the agent build"))?;
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    let signature = key.sign(&release::signed_message(what.os, what.arch, what.version, &sha256));
    let manifest = Manifest {
        version: what.version.to_owned(),
        os: what.os.to_owned(),
        arch: what.arch.to_owned(),
        sha256,
        size: bytes.len() as u64,
        signature,
    };
    let json = serde_json::to_vec(&manifest).map_err(|e| ReleaseError::BadManifest {
        path: dir.join(release::manifest_name(what.os, what.arch)).display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(io(dir, "cannot create"))?;
    replace(&dir.join(release::binary_name(what.os, what.arch)), &bytes, 0o755)?;
    replace(&dir.join(release::manifest_name(what.os, what.arch)), &json, 0o644)?;
    tracing::info!(os = what.os, arch = what.arch, version = what.version, dir = %dir.display(), "published an agent build");
    Ok(manifest)
}

/// Writes `path` through a temporary file renamed into place.
fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ReleaseError> {
    vigil_runtime::files::replace(path, bytes, mode).map_err(io(path, "cannot write"))
}

/// The manifest published for `os`/`arch` in `dir`, if any.
pub fn published(dir: &Path, os: &str, arch: &str) -> Result<Option<Manifest>, ReleaseError> {
    let path = dir.join(release::manifest_name(os, arch));
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(&path, "cannot read")(error)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| ReleaseError::BadManifest { path: path.display().to_string(), message: e.to_string() })
}

/// The version a `sovigilant` build reports (`sovigilant 1.2.3` → `1.2.3`),
/// within 5 s.
pub async fn binary_version(binary: &Path) -> Result<String, ReleaseError> {
    let shown = binary.display().to_string();
    let fail = |message: String| ReleaseError::LocalVersion { binary: shown.clone(), message };
    let run = tokio::process::Command::new(binary).arg("--version").kill_on_drop(true).output();
    let output = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .map_err(|_| fail("no answer within 5 s".into()))?
        .map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        return Err(fail(format!("exited with {}", output.status)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .last()
        .filter(|version| release::valid_version(version))
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("printed {:?}, not `sovigilant VERSION`", text.trim())))
}

/// `vigil up`: publishes the local agent build for this machine's os/arch
/// when `downloads/` has none for it or an older version. Returns the new
/// manifest when it published.
pub async fn publish_local(data_dir: &Path, binary: &Path) -> Result<Option<Manifest>, ReleaseError> {
    let version = binary_version(binary).await?;
    let (data_dir, binary) = (data_dir.to_owned(), binary.to_owned());
    tokio::task::spawn_blocking(move || {
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        let dir = downloads_dir(&data_dir);
        if let Some(current) = published(&dir, os, arch).unwrap_or(None) {
            match release::compare_versions(&current.version, &version) {
                Some(std::cmp::Ordering::Less) => {}
                Some(_) => return Ok(None),
                None if current.version == version => return Ok(None),
                None => {}
            }
        }
        let key = ReleaseKey::ensure(&data_dir)?;
        publish(&dir, &key, &Publish { os, arch, version: &version, binary: &binary }).map(Some)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use base64::Engine;
    use ring::signature::{UnparsedPublicKey, ED25519};

    use super::*;

    #[test]
    fn release_key_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ReleaseKey::ensure(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = ReleaseKey::ensure(dir.path()).unwrap();
        assert_eq!(first.public_key_base64(), again.public_key_base64());
        let public = base64::engine::general_purpose::STANDARD.decode(first.public_key_base64()).unwrap();
        assert_eq!(public.len(), 32);
    }

    #[test]
    fn damaged_release_key_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let error = ReleaseKey::ensure(dir.path()).unwrap_err().to_string();
        assert!(error.contains("release.key: not a usable Ed25519 release key"), "{error}");
    }

    #[test]
    fn published_build_has_a_manifest_whose_signature_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key = ReleaseKey::ensure(dir.path()).unwrap();
        let build = dir.path().join("build");
        std::fs::write(&build, b"#!/bin/sh\necho sovigilant 1.2.3\n").unwrap();
        let downloads = downloads_dir(dir.path());
        let manifest =
            publish(&downloads, &key, &Publish { os: "linux", arch: "x86_64", version: "1.2.3", binary: &build }).unwrap();
        let served = std::fs::read(downloads.join("sovigilant-linux-x86_64")).unwrap();
        assert_eq!(served, std::fs::read(&build).unwrap());
        assert_eq!(std::fs::metadata(downloads.join("sovigilant-linux-x86_64")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(published(&downloads, "linux", "x86_64").unwrap(), Some(manifest.clone()));
        assert_eq!(manifest.size, served.len() as u64);
        assert_eq!(manifest.sha256, hex::encode(ring::digest::digest(&ring::digest::SHA256, &served)));
        let public = base64::engine::general_purpose::STANDARD.decode(key.public_key_base64()).unwrap();
        let signature = base64::engine::general_purpose::STANDARD.decode(&manifest.signature).unwrap();
        let message = release::signed_message("linux", "x86_64", "1.2.3", &manifest.sha256);
        UnparsedPublicKey::new(&ED25519, &public).verify(&message, &signature).unwrap();
        let other = release::signed_message("linux", "x86_64", "1.2.4", &manifest.sha256);
        assert!(UnparsedPublicKey::new(&ED25519, &public).verify(&other, &signature).is_err());
        // no temporary files left behind
        let mut names: Vec<_> = std::fs::read_dir(&downloads).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["sovigilant-linux-x86_64", "sovigilant-linux-x86_64.json"]);
    }

    #[test]
    fn unsafe_platform_or_version_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let key = ReleaseKey::ensure(dir.path()).unwrap();
        let build = dir.path().join("build");
        std::fs::write(&build, b"x").unwrap();
        let downloads = downloads_dir(dir.path());
        for (os, arch, version) in [("../x", "x86_64", "1.0"), ("linux", "x86-64", "1.0"), ("linux", "x86_64", "v1")] {
            assert!(publish(&downloads, &key, &Publish { os, arch, version, binary: &build }).is_err());
        }
        assert!(!downloads.exists());
    }

    #[tokio::test]
    async fn local_build_is_published_only_when_newer() {
        let dir = tempfile::tempdir().unwrap();
        let write_build = |version: &str| {
            let path = dir.path().join(format!("sovigilant-{version}"));
            std::fs::write(&path, format!("#!/bin/sh\necho sovigilant {version}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let (v1, v2) = (write_build("1.0.0"), write_build("1.1.0"));
        assert_eq!(publish_local(dir.path(), &v1).await.unwrap().unwrap().version, "1.0.0");
        assert!(publish_local(dir.path(), &v1).await.unwrap().is_none(), "same version: nothing to do");
        assert_eq!(publish_local(dir.path(), &v2).await.unwrap().unwrap().version, "1.1.0");
        assert!(publish_local(dir.path(), &v1).await.unwrap().is_none(), "older: the newer build stays");
        let dir_downloads = downloads_dir(dir.path());
        let manifest = published(&dir_downloads, std::env::consts::OS, std::env::consts::ARCH).unwrap().unwrap();
        assert_eq!(manifest.version, "1.1.0");
    }
}
