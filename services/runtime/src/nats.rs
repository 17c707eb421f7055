//! The NATS connection of a service: always authenticated, with a creds
//! file (a user JWT and its nkey seed; NATS operator mode, see
//! `vigil_bus::accounts`).
//!
//! Invariants: the seed never reaches a log or an error message (errors
//! name the file it came from instead); a server that lets anonymous clients
//! in is refused, because an open bus is one anyone can read and write.

/// Who a service is on the bus.
#[derive(Clone)]
pub struct NatsLogin {
    pub url: String,
    /// The text of a creds file (user JWT + nkey seed).
    pub credentials: String,
    /// Where the creds came from (a file path), named in errors.
    pub credentials_source: String,
}

impl std::fmt::Debug for NatsLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsLogin")
            .field("url", &mask_password(&self.url))
            .field("credentials", &"<redacted>")
            .field("credentials_source", &self.credentials_source)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NatsConnectError {
    #[error("cannot connect to nats at {url}: {source}; check nats.url and that nats-server is running")]
    Unreachable { url: String, source: async_nats::ConnectError },
    #[error(
        "nats at {url} refused the creds of nats.credentials_file ({credentials_source}) (authorization violation): \
         the server must trust the operator that signed them; run it with the configuration vigil nats config writes \
         from the same data_dir"
    )]
    Refused { url: String, credentials_source: String },
    #[error("nats.credentials_file ({credentials_source}) is not a nats creds file (a user JWT and its nkey seed)")]
    BadCredentials { credentials_source: String },
    #[error(
        "the nats-server at {url} lets anonymous clients in: anyone reaching it could read every tenant's snapshots \
         and publish forged ones; run it with Vigil's configuration (nats/nats-server.conf in operator mode, \
         as vigil nats config writes it), or let vigil up run its own (up.nats: true)"
    )]
    Anonymous { url: String },
}

/// `scheme://user:secret@host` → `scheme://user:***@host` (NATS and MariaDB urls).
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.split_once('@') else { return url.to_owned() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Connects as `login`, naming the connection `name` (seen in `/connz`).
pub async fn connect(login: &NatsLogin, name: &str) -> Result<async_nats::Client, NatsConnectError> {
    let url = mask_password(&login.url);
    let options = async_nats::ConnectOptions::new()
        .credentials(&login.credentials)
        .map_err(|_| NatsConnectError::BadCredentials { credentials_source: login.credentials_source.clone() })?;
    let client = options.name(name).connect(login.url.as_str()).await.map_err(|source| match source.kind() {
        async_nats::ConnectErrorKind::AuthorizationViolation => {
            NatsConnectError::Refused { url: url.clone(), credentials_source: login.credentials_source.clone() }
        }
        _ => NatsConnectError::Unreachable { url: url.clone(), source },
    })?;
    if !client.server_info().auth_required {
        let _ = client.drain().await;
        return Err(NatsConnectError::Anonymous { url });
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_of_a_url_and_debug_redacts_the_creds() {
        assert_eq!(mask_password("nats://vigil:s3cret@127.0.0.1:4222"), "nats://vigil:***@127.0.0.1:4222");
        assert_eq!(mask_password("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        let login = NatsLogin {
            url: "nats://127.0.0.1:4222".into(),
            credentials: "-----BEGIN USER NKEY SEED-----\nSUs3cret\n".into(),
            credentials_source: "/var/lib/vigil/nats.creds".into(),
        };
        assert!(!format!("{login:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn connects_with_its_creds_and_names_the_creds_file_when_refused() {
        let server = vigil_testkit::NatsServer::start().await;
        let mut login =
            NatsLogin { url: server.url.clone(), credentials: server.credentials.clone(), credentials_source: "the test".into() };
        let client = connect(&login, "runtime test").await.expect("the right creds connect");
        assert!(client.server_info().auth_required);
        // a user of another operator: well-formed, never signed by this server's
        login.credentials = vigil_bus::accounts::BusKeys::generate().platform_user_creds().unwrap();
        let (_, stranger_seed) = vigil_bus::accounts::parse_creds(&login.credentials, "t").unwrap();
        let error = connect(&login, "runtime test").await.unwrap_err();
        assert!(matches!(error, NatsConnectError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("the test") && !error.to_string().contains(&stranger_seed), "{error}");
        login.credentials = "user: vigil\npassword: hunter2\n".into();
        let error = connect(&login, "runtime test").await.unwrap_err();
        assert!(matches!(error, NatsConnectError::BadCredentials { .. }), "{error}");
        assert!(error.to_string().contains("the test") && !error.to_string().contains("hunter2"), "{error}");
    }
}
