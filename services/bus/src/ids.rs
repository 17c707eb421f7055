//! Tenant and host ids are used as NATS subject tokens, so they are restricted
//! to `[A-Za-z0-9_-]{1,50}` at every entry point (gRPC, REST, CLI, config).
//!
//! A container is named on the REST API by [`ContainerId`]:
//! `<host_id>:<container_name>`, the name being `[A-Za-z0-9_.-]{1,100}` (what
//! Docker, Podman and Incus allow). Container ids never reach a subject.

/// Longest id accepted (the `VARCHAR(50)` of the tables).
pub const MAX_ID_LEN: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} id is empty")]
    Empty { kind: &'static str },
    #[error("{kind} id {value:?} is longer than {MAX_ID_LEN} characters")]
    TooLong { kind: &'static str, value: String },
    #[error("{kind} id {value:?} contains {found:?}; only letters, digits, '_' and '-' are allowed")]
    BadCharacter { kind: &'static str, value: String, found: char },
}

/// Checks that `value` can be used as a subject token. `kind` names the id in
/// the error ("tenant", "host").
pub fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, value: value.to_owned() });
    }
    if let Some(found) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(IdError::BadCharacter { kind, value: value.to_owned(), found });
    }
    Ok(())
}

/// Longest container name accepted (the `VARCHAR(100)` of `metrics_container`).
pub const MAX_CONTAINER_NAME_LEN: usize = 100;
/// Between the host id and the container name in a [`ContainerId`].
pub const CONTAINER_ID_SEPARATOR: char = ':';

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerNameError {
    #[error("container name {name:?} is empty or longer than {MAX_CONTAINER_NAME_LEN} characters")]
    Length { name: String },
    #[error("container name {name:?} contains {found:?}; only letters, digits, '_', '.' and '-' are allowed")]
    Character { name: String, found: char },
}

/// Why a [`ContainerId`] was refused; every variant names the whole id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerIdError {
    #[error("container id {value:?} is not <host_id>:<container_name> (e.g. \"host-1a2b3c:web\")")]
    Format { value: String },
    #[error("container id {value:?}: {source}")]
    Host {
        value: String,
        #[source]
        source: IdError,
    },
    #[error("container id {value:?}: {source}")]
    Name {
        value: String,
        #[source]
        source: ContainerNameError,
    },
}

/// Checks a container name as Docker, Podman and Incus spell them.
pub fn validate_container_name(name: &str) -> Result<(), ContainerNameError> {
    if name.is_empty() || name.len() > MAX_CONTAINER_NAME_LEN {
        return Err(ContainerNameError::Length { name: name.to_owned() });
    }
    if let Some(found) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(ContainerNameError::Character { name: name.to_owned(), found });
    }
    Ok(())
}

/// A container of a host: `<host_id>:<container_name>` on the REST API.
/// Both parts are valid once constructed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId {
    host_id: String,
    name: String,
}

impl ContainerId {
    pub fn new(host_id: &str, name: &str) -> Result<ContainerId, ContainerIdError> {
        let value = || format!("{host_id}{CONTAINER_ID_SEPARATOR}{name}");
        validate("host", host_id).map_err(|source| ContainerIdError::Host { value: value(), source })?;
        validate_container_name(name).map_err(|source| ContainerIdError::Name { value: value(), source })?;
        Ok(ContainerId { host_id: host_id.to_owned(), name: name.to_owned() })
    }

    /// Parses `<host_id>:<container_name>`.
    pub fn parse(value: &str) -> Result<ContainerId, ContainerIdError> {
        let (host_id, name) =
            value.split_once(CONTAINER_ID_SEPARATOR).ok_or_else(|| ContainerIdError::Format { value: value.to_owned() })?;
        ContainerId::new(host_id, name)
    }

    /// The id of a container as stored, without checking the name (a name
    /// outside the alphabet still gets an id to show; it will not parse).
    pub fn format(host_id: &str, name: &str) -> String {
        format!("{host_id}{CONTAINER_ID_SEPARATOR}{name}")
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{CONTAINER_ID_SEPARATOR}{}", self.host_id, self.name)
    }
}

impl std::str::FromStr for ContainerId {
    type Err = ContainerIdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        ContainerId::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_subject_safe_ids() {
        assert!(validate("host", "host-abc_123").is_ok());
        assert!(validate("tenant", &"a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn rejects_subject_wildcards_and_separators() {
        for bad in ["a.b", "*", ">", "a b", "é", "a/b"] {
            let error = validate("host", bad).unwrap_err();
            assert!(matches!(error, IdError::BadCharacter { .. }), "{bad}: {error}");
        }
        assert_eq!(validate("tenant", ""), Err(IdError::Empty { kind: "tenant" }));
        assert!(matches!(validate("host", &"a".repeat(51)), Err(IdError::TooLong { .. })));
    }

    #[test]
    fn container_id_round_trips() {
        let id = ContainerId::parse("host-1a2b:my_app.web-1").unwrap();
        assert_eq!((id.host_id(), id.name()), ("host-1a2b", "my_app.web-1"));
        assert_eq!(id.to_string(), "host-1a2b:my_app.web-1");
        assert_eq!(ContainerId::format("host-1a2b", "my_app.web-1"), id.to_string());
        assert_eq!("h:c".parse::<ContainerId>().unwrap(), ContainerId::new("h", "c").unwrap());
    }

    #[test]
    fn container_ids_outside_the_format_are_refused_naming_the_value() {
        let name_error = |value: &str| match ContainerId::parse(value) {
            Err(ContainerIdError::Name { source, .. }) => source,
            other => panic!("{value}: {other:?}"),
        };
        assert!(matches!(ContainerId::parse("no-separator"), Err(ContainerIdError::Format { .. })));
        assert!(matches!(ContainerId::parse(":web"), Err(ContainerIdError::Host { .. })));
        assert!(matches!(ContainerId::parse("a.b:web"), Err(ContainerIdError::Host { .. })));
        assert!(matches!(name_error("h:"), ContainerNameError::Length { .. }));
        assert!(matches!(name_error(&format!("h:{}", "a".repeat(101))), ContainerNameError::Length { .. }));
        for bad in ["h:a/b", "h:a:b", "h:a b", "h:é", "h:*"] {
            assert!(matches!(name_error(bad), ContainerNameError::Character { .. }), "{bad}");
            assert!(ContainerId::parse(bad).unwrap_err().to_string().contains(&format!("{bad:?}")), "{bad}");
        }
        assert!(ContainerId::parse("bad host:web").unwrap_err().to_string().contains("\"bad host:web\""));
        assert!(ContainerId::parse("nope").unwrap_err().to_string().contains("\"nope\""));
    }
}
