//! The agent release contract shared by `vigil release add` (signs), the
//! gateway (serves `/downloads/…`) and `sovigilant update` (verifies): file
//! names, the manifest, the exact bytes the release key signs, and version
//! ordering. No cryptography here; the signer and the verifier both build the
//! message with [`signed_message`].
//!
//! Invariants: an artifact name is exactly `sovigilant-<os>-<arch>` (plus
//! `.json` for its manifest) with `os` and `arch` in `[a-z0-9_]{1,32}`, so a
//! name accepted by [`parse_artifact`] never contains `/`, `.` or `..` other
//! than the manifest suffix; the signature covers os, arch, version and the
//! SHA-256 of the binary, so a manifest cannot be replayed for another
//! platform or version.

use serde::{Deserialize, Serialize};

/// Prefix of every agent artifact.
pub const ARTIFACT_PREFIX: &str = "sovigilant-";
/// Suffix of a manifest file.
pub const MANIFEST_SUFFIX: &str = ".json";
/// The release public key file served under `/downloads/`.
pub const PUBLIC_KEY_FILE: &str = "release.pub";
/// The gateway's CA certificate served under `/downloads/`.
pub const CA_FILE: &str = "ca.pem";
/// Longest os or arch accepted.
pub const MAX_PLATFORM_PART: usize = 32;

/// `sovigilant-<os>-<arch>.json`: what the gateway serves next to a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: String,
    pub os: String,
    pub arch: String,
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    /// Size of the binary in bytes.
    pub size: u64,
    /// Ed25519 signature of [`signed_message`], standard base64.
    pub signature: String,
}

/// What a `/downloads/` name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    Binary { os: String, arch: String },
    Manifest { os: String, arch: String },
}

/// `true` for an os or arch usable in a file name: `[a-z0-9_]{1,32}`.
pub fn valid_platform_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_PLATFORM_PART
        && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `sovigilant-<os>-<arch>`.
pub fn binary_name(os: &str, arch: &str) -> String {
    format!("{ARTIFACT_PREFIX}{os}-{arch}")
}

/// `sovigilant-<os>-<arch>.json`.
pub fn manifest_name(os: &str, arch: &str) -> String {
    format!("{ARTIFACT_PREFIX}{os}-{arch}{MANIFEST_SUFFIX}")
}

/// Reads a `/downloads/` file name; `None` for anything that is not exactly
/// a binary or manifest name with a valid os and arch.
pub fn parse_artifact(name: &str) -> Option<Artifact> {
    let rest = name.strip_prefix(ARTIFACT_PREFIX)?;
    let (platform, manifest) = match rest.strip_suffix(MANIFEST_SUFFIX) {
        Some(platform) => (platform, true),
        None => (rest, false),
    };
    let (os, arch) = platform.split_once('-')?;
    if !valid_platform_part(os) || !valid_platform_part(arch) {
        return None;
    }
    let (os, arch) = (os.to_owned(), arch.to_owned());
    Some(if manifest { Artifact::Manifest { os, arch } } else { Artifact::Binary { os, arch } })
}

/// The exact bytes the release key signs:
/// `sovigilant-release-v1\n<os>\n<arch>\n<version>\n<sha256 hex>\n`.
pub fn signed_message(os: &str, arch: &str, version: &str, sha256_hex: &str) -> Vec<u8> {
    format!("sovigilant-release-v1\n{os}\n{arch}\n{version}\n{sha256_hex}\n").into_bytes()
}

/// `true` for a version usable in a manifest: 1 to 64 characters of
/// `[0-9A-Za-z.+-]`, starting with a digit.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
}

/// Orders two versions by their dot-separated numeric parts (`1.10.0` after
/// `1.9.3`, `1.2` equal to `1.2.0`); a pre-release or build suffix after `-`
/// or `+` is ignored for ordering except that `1.2.0-rc1` sorts before
/// `1.2.0`. `None` when a part is not a number.
pub fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    fn split(version: &str) -> Option<(Vec<u64>, bool)> {
        let version = version.split('+').next().unwrap_or_default();
        let (core, pre) = match version.split_once('-') {
            Some((core, _)) => (core, true),
            None => (version, false),
        };
        let parts = core.split('.').map(|part| part.parse::<u64>().ok()).collect::<Option<Vec<_>>>()?;
        Some((parts, pre))
    }
    let (mut a_parts, a_pre) = split(a)?;
    let (mut b_parts, b_pre) = split(b)?;
    let len = a_parts.len().max(b_parts.len());
    a_parts.resize(len, 0);
    b_parts.resize(len, 0);
    // a pre-release comes before its release: `false` (release) > `true` (pre)
    Some(a_parts.cmp(&b_parts).then((!a_pre).cmp(&!b_pre)))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    #[test]
    fn artifact_names_are_parsed_strictly() {
        assert_eq!(
            parse_artifact("sovigilant-linux-x86_64"),
            Some(Artifact::Binary { os: "linux".into(), arch: "x86_64".into() })
        );
        assert_eq!(
            parse_artifact("sovigilant-linux-aarch64.json"),
            Some(Artifact::Manifest { os: "linux".into(), arch: "aarch64".into() })
        );
        for bad in [
            "sovigilant-linux",
            "sovigilant-..-x86_64",
            "sovigilant-linux-x86_64.json.json",
            "sovigilant-linux-x86_64/..",
            "sovigilant-Linux-x86_64",
            "sovigilant-linux-x86-64",
            "release.key",
            "../release.key",
            "sovigilant--x86_64",
            "xsovigilant-linux-x86_64",
        ] {
            assert_eq!(parse_artifact(bad), None, "{bad}");
        }
        assert_eq!(binary_name("linux", "x86_64"), "sovigilant-linux-x86_64");
        assert_eq!(manifest_name("linux", "x86_64"), "sovigilant-linux-x86_64.json");
    }

    #[test]
    fn versions_are_ordered_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Some(Ordering::Greater));
        assert_eq!(compare_versions("1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare_versions("0.1.0", "9.9.9"), Some(Ordering::Less));
        assert_eq!(compare_versions("1.2.0-rc1", "1.2.0"), Some(Ordering::Less));
        assert_eq!(compare_versions("1.2.0+build5", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare_versions("1.x", "1.0"), None);
    }

    #[test]
    fn versions_are_restricted_to_safe_characters() {
        assert!(valid_version("1.2.3"));
        assert!(valid_version("1.2.3-rc.1+g1234"));
        assert!(!valid_version(""));
        assert!(!valid_version("v1.2"));
        assert!(!valid_version("1.2\n3"));
        assert!(!valid_version("1 2"));
    }

    #[test]
    fn signed_message_binds_platform_version_and_digest() {
        let message = signed_message("linux", "x86_64", "1.2.3", "ab");
        assert_eq!(message, b"sovigilant-release-v1\nlinux\nx86_64\n1.2.3\nab\n");
        assert_ne!(message, signed_message("linux", "aarch64", "1.2.3", "ab"));
    }
}
