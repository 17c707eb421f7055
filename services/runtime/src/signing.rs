//! Ed25519 keys the server signs with (agent releases, remote actions) and
//! the one verification the agent does.
//!
//! Invariants: a key file is PKCS#8 PEM with mode 0600, generated once when
//! absent (a concurrent first start reads the winner's key) and never
//! rewritten; a damaged one is reported, not replaced, since agents pinned
//! its public half. The private half never leaves [`SigningKey`] (its
//! `Debug` shows the public key only). Signatures and public keys travel as
//! standard base64.
//! Blocking file work: call from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

const PEM_LABEL: &str = "PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: not a usable Ed25519 {what} ({reason}); restore it from a backup (agents pinned its public key), or remove it to generate a new one and pin the new key on every agent")]
    Bad { path: String, what: &'static str, reason: String },
    #[error("cannot generate the {what}: {reason}")]
    Generate { what: &'static str, reason: String },
}

/// An Ed25519 key pair read from (or generated into) a file.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public_key_base64()).finish()
    }
}

impl SigningKey {
    /// Reads the key at `path`, generating it first when absent. `what`
    /// names it in logs and errors ("release key", "action key").
    pub fn ensure(path: &Path, what: &'static str) -> Result<SigningKey, KeyError> {
        let io = |action: &'static str| move |source| KeyError::Io { path: path.display().to_string(), action, source };
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io("cannot create its directory"))?;
            }
            let rng = ring::rand::SystemRandom::new();
            let document =
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| KeyError::Generate { what, reason: e.to_string() })?;
            match crate::files::create_new(path, pem_encode(document.as_ref()).as_bytes(), 0o600) {
                Ok(()) => tracing::info!(path = %path.display(), "generated the {what}"),
                // another start created it first: use theirs
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(io("cannot create")(error)),
            }
        }
        Self::load(path, what)
    }

    /// Reads a PKCS#8 PEM Ed25519 key.
    pub fn load(path: &Path, what: &'static str) -> Result<SigningKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            action: "cannot read",
            source,
        })?;
        let bad = |reason: String| KeyError::Bad { path: path.display().to_string(), what, reason };
        let der = pem_decode(&text).map_err(bad)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| bad(e.to_string()))?;
        Ok(SigningKey { pair })
    }

    /// The public key, standard base64 of its 32 bytes.
    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// Signs `message`; the signature in standard base64.
    pub fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.sign(message).as_ref())
    }
}

/// Decodes a base64 Ed25519 public key (32 bytes).
pub fn decode_public_key(text: &str) -> Result<Vec<u8>, String> {
    let key = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| format!("not base64: {e}"))?;
    if key.len() != 32 {
        return Err(format!("{} bytes, an Ed25519 public key is 32", key.len()));
    }
    Ok(key)
}

/// `true` when `signature` (raw bytes) is `public_key`'s signature of `message`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key).verify(message, signature).is_ok()
}

fn pem_encode(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    pem
}

fn pem_decode(text: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let start = text.find(&begin).ok_or_else(|| format!("no {begin} line"))? + begin.len();
    let stop = text[start..].find(&end).ok_or_else(|| format!("no {end} line"))? + start;
    let body: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("bad base64: {e}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_is_generated_once_private_and_reused_and_its_signatures_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/actions.key");
        let first = SigningKey::ensure(&path, "action key").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = SigningKey::ensure(&path, "action key").unwrap();
        assert_eq!(first.public_key_base64(), again.public_key_base64());
        let public = decode_public_key(&first.public_key_base64()).unwrap();
        let signature = base64::engine::general_purpose::STANDARD.decode(first.sign(b"restart nginx")).unwrap();
        assert!(verify(&public, b"restart nginx", &signature));
        assert!(!verify(&public, b"restart nginx ", &signature));
        assert!(!format!("{first:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_damaged_key_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let error = SigningKey::ensure(&path, "release key").unwrap_err().to_string();
        assert!(error.contains("release.key: not a usable Ed25519 release key"), "{error}");
        assert!(std::fs::read_to_string(&path).unwrap().contains("AAAA"));
    }
}
