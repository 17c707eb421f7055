//! Secrets kept in files of their own: the secret signing user JWTs, the
//! keys of the NATS bus (`data_dir/nats.keys`: the operator's, the system and
//! platform accounts' and their users' nkey seeds, `vigil_bus::accounts`) and
//! the creds file Vigil's services authenticate to NATS with
//! (`nats.credentials_file`, derived from those keys).
//!
//! Invariants: a secret file is read as given (surrounding whitespace
//! trimmed) and must hold at least its minimum of bytes; when absent it is
//! generated once with mode 0600 and never rewritten, so every process
//! sharing the file agrees across restarts (the gateways accept each other's
//! tokens; the services, the gateways and every nats-server rendered from
//! the keys trust one operator). A secret is never logged: messages name its
//! file only.
//! Blocking file work: call from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Shortest jwt secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;
use vigil_bus::accounts::{parse_creds, BusKeys};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: the {what} is {len} bytes; give at least {min} (or remove the file to generate one)")]
    TooShort { path: String, what: &'static str, len: usize, min: usize },
    #[error("{path}: not the nats keys vigil generates ({message}); restore the file (every nats-server and creds file of this stack trusts its operator)")]
    BadKeys { path: String, message: String },
    #[error("{path}: not a nats creds file (a user JWT and its nkey seed); point nats.credentials_file to the creds vigil wrote, or remove the file to generate one")]
    BadCredentials { path: String },
}

/// Reads the jwt secret at `path`, generating it first when the file is absent.
pub fn ensure_jwt_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    ensure(path, "jwt secret", 64, MIN_SECRET_BYTES)
}

/// Reads the bus keys at `path` (`data_dir/nats.keys`), generating them
/// first when the file is absent.
pub fn ensure_nats_keys(path: &Path) -> Result<BusKeys, SecretError> {
    let bad = |message: String| SecretError::BadKeys { path: path.display().to_string(), message };
    let generate = || serde_json::to_vec_pretty(&BusKeys::generate()).expect("keys serialize");
    let bytes = ensure_with(path, "nats keys", generate)?;
    let keys: BusKeys = serde_json::from_slice(&bytes).map_err(|error| bad(error.to_string()))?;
    keys.check().map_err(|error| bad(error.to_string()))?;
    Ok(keys)
}

/// The bus keys at `path` when the file exists (a gateway signs tenant
/// accounts with them); `None`, logged, when it does not: the services may
/// connect with creds made elsewhere, and new keys would be trusted by no
/// server.
pub fn nats_keys_if_present(path: &Path) -> Result<Option<BusKeys>, SecretError> {
    if !path.exists() {
        tracing::warn!(path = %path.display(), "no nats keys: integrators cannot be created by this gateway");
        return Ok(None);
    }
    ensure_nats_keys(path).map(Some)
}

/// Reads the creds file at `path` (`nats.credentials_file`), first writing
/// the services' user's creds there (from the keys at `keys_path`, generated
/// if absent) when the file is absent.
pub fn ensure_nats_credentials(path: &Path, keys_path: &Path) -> Result<String, SecretError> {
    if !path.exists() {
        let keys = ensure_nats_keys(keys_path)?;
        let creds = keys
            .platform_user_creds()
            .map_err(|error| SecretError::BadKeys { path: keys_path.display().to_string(), message: error.to_string() })?;
        ensure_with(path, "nats creds", || creds.into_bytes())?;
    }
    let bytes = std::fs::read(path).map_err(|source| SecretError::Io {
        path: path.display().to_string(),
        action: "cannot read",
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::BadCredentials { path: path.display().to_string() })?;
    parse_creds(&text, &path.display().to_string())
        .map_err(|_| SecretError::BadCredentials { path: path.display().to_string() })?;
    Ok(text)
}

/// Reads the secret at `path`, first writing `random_bytes` random bytes
/// (hex) there when the file is absent.
fn ensure(path: &Path, what: &'static str, random_bytes: usize, min: usize) -> Result<Vec<u8>, SecretError> {
    let generate = || (0..random_bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect::<String>().into_bytes();
    let bytes = ensure_with(path, what, generate)?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < min {
        return Err(SecretError::TooShort { path: path.display().to_string(), what, len: secret.len(), min });
    }
    Ok(secret)
}

/// The bytes of the file at `path`, first written once (0600, its directory
/// 0700) with `generate()` when it is absent.
fn ensure_with(path: &Path, what: &'static str, generate: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, SecretError> {
    let io = |action: &'static str| move |source| SecretError::Io { path: path.display().to_string(), action, source };
    if !path.exists() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io("cannot create its directory"))?;
        }
        match vigil_runtime::files::create_new(path, &generate(), 0o600) {
            Ok(()) => tracing::info!(path = %path.display(), "generated the {what}"),
            // another start created it first: use theirs
            Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(io("cannot write")(source)),
        }
    }
    std::fs::read(path).map_err(io("cannot read"))
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
    fn nats_keys_and_creds_are_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (keys_path, creds_path) = (dir.path().join("nats.keys"), dir.path().join("nats.creds"));
        let creds = ensure_nats_credentials(&creds_path, &keys_path).unwrap();
        let keys = ensure_nats_keys(&keys_path).unwrap();
        for path in [&keys_path, &creds_path] {
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
        }
        let (jwt, seed) = parse_creds(&creds, "t").unwrap();
        assert_eq!(seed, keys.platform_user);
        assert!(vigil_bus::accounts::verify(&jwt, &keys.platform_account_public().unwrap()));
        assert_eq!(ensure_nats_keys(&keys_path).unwrap().operator, keys.operator, "never rewritten");
        assert_eq!(ensure_nats_credentials(&creds_path, &keys_path).unwrap(), creds, "never rewritten");
        assert_ne!(ensure_nats_keys(&dir.path().join("other")).unwrap().operator, keys.operator);
    }

    #[test]
    fn bad_nats_keys_and_creds_are_refused_naming_the_file_never_a_seed() {
        let dir = tempfile::tempdir().unwrap();
        let keys_path = dir.path().join("nats.keys");
        let keys = BusKeys::generate();
        let swapped = BusKeys { operator: keys.platform_user.clone(), ..keys };
        std::fs::write(&keys_path, serde_json::to_string(&swapped).unwrap()).unwrap();
        let error = ensure_nats_keys(&keys_path).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: not the nats keys", keys_path.display())), "{error}");
        assert!(error.contains("operator") && !error.contains(&swapped.operator), "{error}");
        let creds_path = dir.path().join("nats.creds");
        std::fs::write(&creds_path, "user: vigil\npassword: SUAsecret\n").unwrap();
        let error = ensure_nats_credentials(&creds_path, &keys_path).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: not a nats creds file", creds_path.display())), "{error}");
        assert!(!error.contains("SUAsecret"), "{error}");
    }
}
