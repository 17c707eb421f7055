//! The alerter's errors, under the policy of `vigil_bus::error`:
//! [`AlerterError`] (building and running), [`FieldError`] (a value a user
//! wrote that cannot be used: 422 naming the field), database errors
//! (answered as a [`ServiceError`] through [`ServiceError::from_error`]
//! only).

use vigil_bus::error::HasErrorCode;
use vigil_bus::{ErrorCode, ServiceError};

pub use vigil_runtime::errors::FieldError;

/// Names the log with the detail of an internal error.
pub(crate) const SERVICE: &str = vigil_bus::subjects::alerter::SERVICE_NAME;

/// A [`FieldError`] naming `field`.
pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

#[derive(Debug, thiserror::Error)]
pub enum AlerterError {
    #[error("invalid alerter config: {0}")]
    Config(String),
    #[error(transparent)]
    Setup(#[from] vigil_runtime::setup::SetupError),
}

impl HasErrorCode for AlerterError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AlerterError::Config(_) => ErrorCode::Unprocessable,
            AlerterError::Setup(error) => error.error_code(),
        }
    }
}

pub(crate) use vigil_runtime::errors::not_found;

/// `.map_err(db("reading rules"))`: a database error while doing that.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> ServiceError {
    vigil_runtime::errors::db(SERVICE, action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_unprocessable_and_name_the_field() {
        let reply = ServiceError::from(field_error("condition", "column 3: expected a number"));
        assert_eq!(reply.code, ErrorCode::Unprocessable);
        assert_eq!(reply.message, "condition: column 3: expected a number");
    }

    #[test]
    fn database_errors_are_unavailable_without_their_detail() {
        let reply = db("reading rules")(sqlx::Error::PoolTimedOut);
        assert_eq!(reply.code, ErrorCode::Unavailable);
        assert!(!reply.message.contains("pool"), "{}", reply.message);
    }
}
