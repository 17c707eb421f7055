//! The secret signing user JWTs.
//!
//! Invariants: the secret file is read as given (surrounding whitespace
//! trimmed) and must hold at least 32 bytes; when absent it is generated once
//! (64 random bytes, hex-encoded) with mode 0600 and never rewritten, so every
//! gateway sharing the file accepts the others' tokens across restarts.
//! Blocking file work: call from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::tls::{write_file, TlsError};

/// Shortest secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: the jwt secret is {len} bytes; give at least {MIN_SECRET_BYTES} (or remove the file to generate one)")]
    TooShort { path: String, len: usize },
}

/// Reads the jwt secret at `path`, generating it first when the file is absent.
pub fn ensure_jwt_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    let io = |action: &'static str| move |source| SecretError::Io { path: path.display().to_string(), action, source };
    if !path.exists() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io("cannot create its directory"))?;
        }
        let secret = hex::encode(rand::random::<[u8; 32]>()) + &hex::encode(rand::random::<[u8; 32]>());
        match write_file(path, &secret, 0o600) {
            Ok(()) => tracing::info!(path = %path.display(), "generated the jwt secret"),
            // another start created it first: use theirs
            Err(TlsError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(TlsError::Io { source, .. }) => return Err(io("cannot write")(source)),
            Err(other) => return Err(io("cannot write")(std::io::Error::other(other.to_string()))),
        }
    }
    let bytes = std::fs::read(path).map_err(io("cannot read"))?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort { path: path.display().to_string(), len: secret.len() });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn jwt_secret_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt.secret");
        let first = ensure_jwt_secret(&path).unwrap();
        assert_eq!(first.len(), 128);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(ensure_jwt_secret(&path).unwrap(), first);
    }

    #[test]
    fn short_jwt_secret_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.secret");
        std::fs::write(&path, "short\n").unwrap();
        let error = ensure_jwt_secret(&path).unwrap_err().to_string();
        assert!(error.contains("is 5 bytes"), "{error}");
    }
}
