//! The actioner's errors, under the policy of `vigil_bus::error`:
//! [`ActionerError`] (building and running) and database errors answered as
//! `Unavailable` without their detail.

use vigil_bus::error::HasErrorCode;
use vigil_bus::{ErrorCode, ServiceError};

/// Names the log with the detail of an internal error.
pub(crate) const SERVICE: &str = vigil_bus::subjects::actioner::SERVICE_NAME;

#[derive(Debug, thiserror::Error)]
pub enum ActionerError {
    #[error("invalid actioner config: {0}")]
    Config(String),
    #[error(transparent)]
    Key(#[from] vigil_runtime::signing::KeyError),
    #[error(transparent)]
    Setup(#[from] vigil_runtime::setup::SetupError),
    #[error("actioner task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl HasErrorCode for ActionerError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ActionerError::Config(_) | ActionerError::Key(_) => ErrorCode::Unprocessable,
            ActionerError::Setup(error) => error.error_code(),
            ActionerError::Join(_) => ErrorCode::Unavailable,
        }
    }
}

/// Why an order could not be published (the bus's cause, as text).
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("the bus did not take the order: {0}; retry later")]
    Publish(String),
}

impl HasErrorCode for QueryError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Unavailable
    }
}

impl From<QueryError> for ServiceError {
    fn from(error: QueryError) -> Self {
        ServiceError::from_error(&error, SERVICE)
    }
}

pub(crate) use vigil_runtime::errors::bad_id;

/// `.map_err(db("reading actions"))`: a database error while doing that.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> ServiceError {
    vigil_runtime::errors::db(SERVICE, action)
}

/// A 422 naming the field.
pub(crate) fn unprocessable(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::Unprocessable, message)
}
