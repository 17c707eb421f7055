//! What every service's endpoints answer for failures that are not the
//! requester's own: the database failing (`Unavailable`, the cause logged
//! under the service's name, never sent), a missing item (`NotFound` naming
//! it) and a malformed id (`BadRequest`); and what they answer for a value a
//! user wrote that cannot be used ([`FieldError`], `Unprocessable` naming
//! the field). Under the policy of `vigil_bus::error`.

use vigil_bus::error::HasErrorCode;
use vigil_bus::{ErrorCode, ServiceError};

/// A database error while doing `action`.
#[derive(Debug, thiserror::Error)]
#[error("database error while {action}; retry later")]
pub struct DatabaseError {
    pub action: &'static str,
    #[source]
    pub source: sqlx::Error,
}

impl HasErrorCode for DatabaseError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Unavailable
    }
}

/// A value a user wrote that cannot be used: its path as written
/// (`steps[1].params.service`, `config.to[1]`, `schedule`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl HasErrorCode for FieldError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Unprocessable
    }
}

impl From<FieldError> for ServiceError {
    fn from(error: FieldError) -> Self {
        ServiceError::new(ErrorCode::Unprocessable, error.to_string())
    }
}

/// `.map_err(db(SERVICE, "reading rules"))`: a database error while doing
/// that, answered `Unavailable` (the cause goes to `service`'s log).
pub fn db(service: &'static str, action: &'static str) -> impl FnOnce(sqlx::Error) -> ServiceError {
    move |source| ServiceError::from_error(&DatabaseError { action, source }, service)
}

/// A `NotFound` naming what was looked for: `no rule "rule-1"`.
pub fn not_found(what: &str, id: &str) -> ServiceError {
    ServiceError::new(ErrorCode::NotFound, format!("no {what} {id:?}"))
}

/// `BadRequest` when `value` is not a valid `kind` id.
pub fn bad_id(kind: &'static str, value: &str) -> Result<(), ServiceError> {
    vigil_bus::ids::validate(kind, value).map_err(|e| ServiceError::new(ErrorCode::BadRequest, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_unavailable_without_their_detail() {
        let reply = db("collector", "reading a host")(sqlx::Error::PoolTimedOut);
        assert_eq!(reply, ServiceError::new(ErrorCode::Unavailable, "database error while reading a host; retry later"));
    }

    #[test]
    fn a_field_error_is_unprocessable_and_names_the_field() {
        let reply = ServiceError::from(FieldError::new("steps[1].params.service", "is empty"));
        assert_eq!(reply, ServiceError::new(ErrorCode::Unprocessable, "steps[1].params.service: is empty"));
    }

    #[test]
    fn missing_items_and_bad_ids_name_what_was_asked() {
        assert_eq!(not_found("rule", "rule-1"), ServiceError::new(ErrorCode::NotFound, "no rule \"rule-1\""));
        let refused = bad_id("host", "a.b").unwrap_err();
        assert_eq!(refused.code, ErrorCode::BadRequest);
        assert!(refused.message.contains("\"a.b\""), "{}", refused.message);
        assert!(bad_id("host", "host-1").is_ok());
    }
}
