//! The gateway's TLS identity.
//!
//! Either the operator gives `gateway.tls.{cert,key,ca}` (all three), or, when
//! all are empty, a private CA and a server certificate signed by it are
//! generated once in `data_dir/tls` and reused on every later start.
//!
//! Invariants:
//! - generated material is never regenerated while it exists: the four files
//!   are written into a temporary directory that is then renamed to
//!   `data_dir/tls` in one step, so a crash or a concurrent start never leaves
//!   a mix of two generations (the loser of a race reads the winner's files);
//! - private keys are created with mode 0600, the directory with 0700;
//! - a `data_dir/tls` holding only some of the four files is an error (never
//!   silently completed), because agents already trust the CA it held.
//!
//! Blocking file work: call [`ensure`] from `spawn_blocking` in async code.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use crate::config::{hostname, Config};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";
const FILES: [&str; 4] = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("gateway.tls.{missing} is empty while gateway.tls.{given} is set; set cert, key and ca together, or none to generate them")]
    Partial { missing: &'static str, given: &'static str },
    #[error("{dir}: holds {present} but not {missing}; restore the missing files, or remove the directory to generate a new CA (agents must then get the new ca.pem)")]
    Incomplete { dir: String, present: String, missing: String },
    #[error("{path}: {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("{path}: holds no PEM {what}; give a PEM file")]
    NotPem { path: String, what: &'static str },
    #[error("cannot generate the tls material: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The server side of TLS and where agents find the CA to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert_chain_pem: String,
    pub private_key_pem: String,
    /// PEM file of the CA agents trust (`sovigilant --ca-cert`).
    pub ca_path: PathBuf,
    /// True when this call generated the material.
    pub generated: bool,
}

/// Returns the configured TLS material, generating it in `data_dir/tls` when
/// `gateway.tls` is empty and nothing was generated before.
pub fn ensure(config: &Config) -> Result<ServerTls, TlsError> {
    let files = &config.gateway.tls;
    let given: Vec<(&'static str, &String)> =
        [("cert", &files.cert), ("key", &files.key), ("ca", &files.ca)].into_iter().filter(|(_, v)| !v.is_empty()).collect();
    match given.len() {
        0 => {}
        3 => {
            let cert_chain_pem = read_pem(Path::new(&files.cert), "certificate")?;
            let private_key_pem = read_pem(Path::new(&files.key), "private key")?;
            read_pem(Path::new(&files.ca), "certificate")?;
            return Ok(ServerTls { cert_chain_pem, private_key_pem, ca_path: PathBuf::from(&files.ca), generated: false });
        }
        _ => {
            let missing = ["cert", "key", "ca"].into_iter().find(|name| !given.iter().any(|(g, _)| g == name)).unwrap_or("ca");
            return Err(TlsError::Partial { missing, given: given[0].0 });
        }
    }

    let dir = config.tls_dir();
    let generated = if all_present(&dir)? {
        false
    } else {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned(), hostname()];
        for name in &config.gateway.tls_hostnames {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        generate_into(&dir, names)?
    };
    Ok(ServerTls {
        cert_chain_pem: read_pem(&dir.join(SERVER_CERT), "certificate")?,
        private_key_pem: read_pem(&dir.join(SERVER_KEY), "private key")?,
        ca_path: dir.join(CA_CERT),
        generated,
    })
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> TlsError + 'a {
    move |source| TlsError::Io { path: path.display().to_string(), action, source }
}

fn read_pem(path: &Path, what: &'static str) -> Result<String, TlsError> {
    let text = std::fs::read_to_string(path).map_err(io(path, "cannot read"))?;
    if !text.contains("-----BEGIN ") {
        return Err(TlsError::NotPem { path: path.display().to_string(), what });
    }
    Ok(text)
}

/// True when all four files exist, false when none does, an error otherwise.
fn all_present(dir: &Path) -> Result<bool, TlsError> {
    let (present, missing): (Vec<&str>, Vec<&str>) = FILES.iter().partition(|name| dir.join(name).exists());
    match (present.is_empty(), missing.is_empty()) {
        (_, true) => Ok(true),
        (true, _) => Ok(false),
        _ => {
            Err(TlsError::Incomplete { dir: dir.display().to_string(), present: present.join(", "), missing: missing.join(", ") })
        }
    }
}

/// Generates a CA and a server certificate for `names` into `dir`, unless
/// another process won the race; returns whether this call's files were kept.
fn generate_into(dir: &Path, names: Vec<String>) -> Result<bool, TlsError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io(parent, "cannot create the directory"))?;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::OrganizationName, "vigil");
    ca_params.distinguished_name.push(DnType::CommonName, format!("vigil ca ({})", hostname()));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(names)?;
    server_params.distinguished_name.push(DnType::OrganizationName, "vigil");
    server_params.distinguished_name.push(DnType::CommonName, "vigil gateway");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    let server_cert = server_params.signed_by(&server_key, &ca_cert, &ca_key)?;

    let staging = parent.join(format!(".tls-{}", hex::encode(rand::random::<[u8; 8]>())));
    std::fs::DirBuilder::new().mode(0o700).create(&staging).map_err(io(&staging, "cannot create the directory"))?;
    let written = (|| {
        write_file(&staging.join(CA_CERT), &ca_cert.pem(), 0o644)?;
        write_file(&staging.join(CA_KEY), &ca_key.serialize_pem(), 0o600)?;
        write_file(&staging.join(SERVER_CERT), &server_cert.pem(), 0o644)?;
        write_file(&staging.join(SERVER_KEY), &server_key.serialize_pem(), 0o600)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    // an empty leftover directory is replaced; a filled one means another start won
    if dir.exists() && std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(false) {
        let _ = std::fs::remove_dir(dir);
    }
    match std::fs::rename(&staging, dir) {
        Ok(()) => {
            tracing::info!(dir = %dir.display(), "generated a ca and a server certificate");
            Ok(true)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            if all_present(dir)? {
                Ok(false)
            } else {
                Err(io(dir, "cannot move the generated tls material into place")(error))
            }
        }
    }
}

/// Writes `contents` to `path` with `mode`, atomically.
pub(crate) fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), TlsError> {
    vigil_runtime::files::replace(path, contents.as_bytes(), mode).map_err(io(path, "cannot write"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut config = Config { data_dir: dir.to_path_buf(), ..Config::default() };
        config.gateway.tls_hostnames = vec!["vigil.example.com".into(), "10.9.8.7".into()];
        config
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn material_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let first = ensure(&config).unwrap();
        assert!(first.generated);
        assert_eq!(first.ca_path, dir.path().join("tls/ca.pem"));
        let bytes: Vec<Vec<u8>> = FILES.iter().map(|name| std::fs::read(dir.path().join("tls").join(name)).unwrap()).collect();

        let second = ensure(&config).unwrap();
        assert!(!second.generated);
        assert_eq!(second.cert_chain_pem, first.cert_chain_pem);
        assert_eq!(second.private_key_pem, first.private_key_pem);
        let again: Vec<Vec<u8>> = FILES.iter().map(|name| std::fs::read(dir.path().join("tls").join(name)).unwrap()).collect();
        assert_eq!(bytes, again, "files changed on the second start");
    }

    #[test]
    fn private_keys_are_only_readable_by_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        ensure(&config_in(dir.path())).unwrap();
        assert_eq!(mode(&dir.path().join("tls/ca.key")), 0o600);
        assert_eq!(mode(&dir.path().join("tls/server.key")), 0o600);
        assert_eq!(mode(&dir.path().join("tls")), 0o700);
    }

    #[test]
    fn server_certificate_verifies_against_the_ca_for_its_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ensure(&config_in(dir.path())).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(&tls.ca_path).unwrap();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        let server = CertificateDer::from_pem_slice(tls.cert_chain_pem.as_bytes()).unwrap();
        for name in ["localhost", "127.0.0.1", "::1", "vigil.example.com", "10.9.8.7", hostname().as_str()] {
            let server_name = ServerName::try_from(name.to_owned()).unwrap();
            verifier
                .verify_server_cert(&server, &[], &server_name, &[], UnixTime::now())
                .unwrap_or_else(|error| panic!("{name} rejected: {error}"));
        }
        let other = ServerName::try_from("not-vigil.example.org").unwrap();
        assert!(verifier.verify_server_cert(&server, &[], &other, &[], UnixTime::now()).is_err());
    }

    #[test]
    fn incomplete_generated_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        ensure(&config).unwrap();
        std::fs::remove_file(dir.path().join("tls/server.key")).unwrap();
        let error = ensure(&config).unwrap_err().to_string();
        assert!(error.contains("but not server.key"), "{error}");
    }

    #[test]
    fn partially_configured_files_name_the_missing_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.gateway.tls.cert = "/x/server.pem".into();
        config.gateway.tls.ca = "/x/ca.pem".into();
        let error = ensure(&config).unwrap_err().to_string();
        assert!(error.starts_with("gateway.tls.key is empty"), "{error}");
    }

    #[test]
    fn configured_files_are_used_as_given() {
        let generated = tempfile::tempdir().unwrap();
        let tls = ensure(&config_in(generated.path())).unwrap();
        let mut config = config_in(tempfile::tempdir().unwrap().path());
        config.gateway.tls.cert = generated.path().join("tls/server.pem").display().to_string();
        config.gateway.tls.key = generated.path().join("tls/server.key").display().to_string();
        config.gateway.tls.ca = generated.path().join("tls/ca.pem").display().to_string();
        let given = ensure(&config).unwrap();
        assert!(!given.generated);
        assert_eq!(given.cert_chain_pem, tls.cert_chain_pem);
        assert_eq!(given.ca_path, generated.path().join("tls/ca.pem"));
        assert!(!config.tls_dir().exists(), "nothing is generated when files are given");
    }
}
