//! Secrets kept in files of their own: the secret signing user JWTs and the
//! password Vigil's services authenticate to NATS with.
//!
//! Invariants: a secret file is read as given (surrounding whitespace
//! trimmed) and must hold at least its minimum of bytes; when absent it is
//! generated once (random bytes, hex-encoded) with mode 0600 and never
//! rewritten, so every process sharing the file agrees across restarts (the
//! gateways accept each other's tokens; the services and the nats-server of
//! `vigil up` share one password). A secret is never logged: messages name
//! its file only.
//! Blocking file work: call from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Shortest jwt secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;
/// Shortest NATS password accepted (a generated one has 64 characters).
pub const MIN_NATS_PASSWORD_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: the {what} is {len} bytes; give at least {min} (or remove the file to generate one)")]
    TooShort { path: String, what: &'static str, len: usize, min: usize },
    #[error("{path}: the {what} must be printable ASCII without spaces (or remove the file to generate one)")]
    NotPrintable { path: String, what: &'static str },
}

/// Reads the jwt secret at `path`, generating it first when the file is absent.
pub fn ensure_jwt_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    ensure(path, "jwt secret", 64, MIN_SECRET_BYTES)
}

/// Reads the NATS password at `path` (`nats.password_file`), generating it
/// first when the file is absent. It goes into the nats-server config and a
/// CONNECT, so only printable ASCII without spaces is accepted.
pub fn ensure_nats_password(path: &Path) -> Result<String, SecretError> {
    let what = "nats password";
    let bytes = ensure(path, what, 32, MIN_NATS_PASSWORD_BYTES)?;
    if !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(SecretError::NotPrintable { path: path.display().to_string(), what });
    }
    Ok(String::from_utf8(bytes).expect("ascii is utf-8"))
}

/// Reads the secret at `path`, first writing `random_bytes` random bytes
/// (hex) there when the file is absent.
fn ensure(path: &Path, what: &'static str, random_bytes: usize, min: usize) -> Result<Vec<u8>, SecretError> {
    let io = |action: &'static str| move |source| SecretError::Io { path: path.display().to_string(), action, source };
    if !path.exists() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io("cannot create its directory"))?;
        }
        let secret: String = (0..random_bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        match vigil_runtime::files::create_new(path, secret.as_bytes(), 0o600) {
            Ok(()) => tracing::info!(path = %path.display(), "generated the {what}"),
            // another start created it first: use theirs
            Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(io("cannot write")(source)),
        }
    }
    let bytes = std::fs::read(path).map_err(io("cannot read"))?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < min {
        return Err(SecretError::TooShort { path: path.display().to_string(), what, len: secret.len(), min });
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
        assert!(error.contains("the jwt secret is 5 bytes"), "{error}");
    }

    #[test]
    fn nats_password_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nats.password");
        let first = ensure_nats_password(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(ensure_nats_password(&path).unwrap(), first);
        assert_ne!(ensure_nats_password(&dir.path().join("other")).unwrap(), first);
    }

    #[test]
    fn an_operators_nats_password_is_read_trimmed_and_checked_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nats.password");
        std::fs::write(&path, "  Correct-Horse+Battery/Staple=  \n").unwrap();
        assert_eq!(ensure_nats_password(&path).unwrap(), "Correct-Horse+Battery/Staple=");
        std::fs::write(&path, "s3cret-with a space\n").unwrap();
        let error = ensure_nats_password(&path).unwrap_err().to_string();
        assert!(error.contains("printable ASCII without spaces") && !error.contains("s3cret"), "{error}");
        std::fs::write(&path, "s3cret\n").unwrap();
        let error = ensure_nats_password(&path).unwrap_err().to_string();
        assert!(error.contains("the nats password is 6 bytes; give at least 16") && !error.contains("s3cret"), "{error}");
    }
}
