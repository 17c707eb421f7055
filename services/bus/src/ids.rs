//! Tenant and host ids are used as NATS subject tokens, so they are restricted
//! to `[A-Za-z0-9_-]{1,50}` at every entry point (gRPC, REST, CLI, config).

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
}
