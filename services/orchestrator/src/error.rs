//! The orchestrator's errors, under the policy of `vigil_bus::error`:
//! [`OrchestratorError`] (building and running), [`FieldError`] (a scenario
//! field that cannot be used: 422 whose message starts with its path), and
//! database errors answered as `Unavailable` without their detail.

use vigil_bus::error::HasErrorCode;
use vigil_bus::{ErrorCode, ServiceError};

/// Names the log with the detail of an internal error.
pub(crate) const SERVICE: &str = vigil_bus::subjects::orchestrator::SERVICE_NAME;

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error("invalid orchestrator config: {0}")]
    Config(String),
    #[error(transparent)]
    Setup(#[from] vigil_runtime::setup::SetupError),
}

impl HasErrorCode for OrchestratorError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OrchestratorError::Config(_) => ErrorCode::Unprocessable,
            OrchestratorError::Setup(error) => error.error_code(),
        }
    }
}

/// A scenario field that cannot be used: its path as written
/// (`steps[1].params.service`, `trigger`) and why.
pub use vigil_runtime::errors::FieldError;

pub(crate) use vigil_runtime::errors::{bad_id, not_found};

/// `.map_err(db("reading scenarios"))`: a database error while doing that.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> ServiceError {
    vigil_runtime::errors::db(SERVICE, action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_unprocessable_and_start_with_the_field() {
        let reply = ServiceError::from(FieldError::new("steps[1].params.service", "is required for restart_service"));
        assert_eq!(reply.code, ErrorCode::Unprocessable);
        assert_eq!(reply.message, "steps[1].params.service: is required for restart_service");
    }

    #[test]
    fn database_errors_are_unavailable_without_their_detail() {
        let reply = db("reading scenarios")(sqlx::Error::PoolTimedOut);
        assert_eq!(reply.code, ErrorCode::Unavailable);
        assert!(!reply.message.contains("pool"), "{}", reply.message);
    }
}
