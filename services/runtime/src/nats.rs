//! The NATS connection of a service: always authenticated.
//!
//! Invariants: the password never reaches a log or an error message (errors
//! name where it came from instead); a server that lets anonymous clients in
//! is refused, because an open bus is one anyone can read and write.

/// Who a service is on the bus.
#[derive(Clone)]
pub struct NatsLogin {
    pub url: String,
    pub user: String,
    pub password: String,
    /// Where the password came from (a file path), named in errors.
    pub password_source: String,
}

impl std::fmt::Debug for NatsLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsLogin")
            .field("url", &mask_password(&self.url))
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("password_source", &self.password_source)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NatsConnectError {
    #[error("cannot connect to nats at {url}: {source}; check nats.url and that nats-server is running")]
    Unreachable { url: String, source: async_nats::ConnectError },
    #[error(
        "nats at {url} refused user {user:?} (authorization violation); check nats.user and nats.password_file \
         ({password_source}): the server must have that user with that password (see nats/nats-server.conf)"
    )]
    Refused { url: String, user: String, password_source: String },
    #[error(
        "the nats-server at {url} lets anonymous clients in: anyone reaching it could read every tenant's snapshots \
         and publish forged ones; run it with Vigil's configuration (nats/nats-server.conf: the VIGIL account with \
         nats.user and the password in nats.password_file), or let vigil up run its own (up.nats: true)"
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
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .user_and_password(login.user.clone(), login.password.clone())
        .connect(login.url.as_str())
        .await
        .map_err(|source| match source.kind() {
            async_nats::ConnectErrorKind::AuthorizationViolation => NatsConnectError::Refused {
                url: url.clone(),
                user: login.user.clone(),
                password_source: login.password_source.clone(),
            },
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
    fn masks_the_password_of_a_url_and_debug_redacts_it() {
        assert_eq!(mask_password("nats://vigil:s3cret@127.0.0.1:4222"), "nats://vigil:***@127.0.0.1:4222");
        assert_eq!(mask_password("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        let login = NatsLogin {
            url: "nats://127.0.0.1:4222".into(),
            user: "vigil".into(),
            password: "s3cret-s3cret".into(),
            password_source: "/var/lib/vigil/nats.password".into(),
        };
        assert!(!format!("{login:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn connects_with_its_login_and_names_the_password_file_when_refused() {
        let server = vigil_testkit::NatsServer::start().await;
        let mut login = NatsLogin {
            url: server.url.clone(),
            user: server.user.clone(),
            password: server.password.clone(),
            password_source: "the test".into(),
        };
        let client = connect(&login, "runtime test").await.expect("the right login connects");
        assert!(client.server_info().auth_required);
        login.password = "wrong-password-123".into();
        let error = connect(&login, "runtime test").await.unwrap_err();
        assert!(matches!(error, NatsConnectError::Refused { .. }), "{error}");
        assert!(error.to_string().contains("the test") && !error.to_string().contains("wrong-password"), "{error}");
    }
}
