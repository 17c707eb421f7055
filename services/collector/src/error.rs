//! The collector's error codes, under the policy of `vigil_bus::error`:
//! [`CollectorError`] (building and running, in lib.rs), [`PartitionError`]
//! and [`QueryError`], which endpoints answer as a [`ServiceError`] through
//! [`ServiceError::from_error`] only.

use vigil_bus::error::HasErrorCode;
use vigil_bus::{ErrorCode, ServiceError};

use crate::CollectorError;

/// Names the log with the detail of an internal error.
pub(crate) const SERVICE: &str = vigil_bus::subjects::collector::SERVICE_NAME;

impl HasErrorCode for CollectorError {
    fn error_code(&self) -> ErrorCode {
        match self {
            CollectorError::Config(_) => ErrorCode::Unprocessable,
            CollectorError::Setup(error) => error.error_code(),
            CollectorError::Partition { source, .. } => source.error_code(),
        }
    }
}

/// Why the daily partitions of a table could not be maintained.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("cannot read information_schema.PARTITIONS: {0}")]
    Read(#[source] sqlx::Error),
    #[error("table has no p_future VALUES LESS THAN MAXVALUE partition; run the migrations on this database")]
    NoFuture,
    #[error("cannot {action} (after {attempts} attempts): {source}")]
    Alter {
        action: &'static str,
        attempts: usize,
        #[source]
        source: sqlx::Error,
    },
}

impl HasErrorCode for PartitionError {
    fn error_code(&self) -> ErrorCode {
        match self {
            PartitionError::Read(_) | PartitionError::Alter { .. } => ErrorCode::Unavailable,
            // the database is not what this code was migrated for
            PartitionError::NoFuture => ErrorCode::Internal,
        }
    }
}

/// Why an endpoint could not answer (besides the requester's mistakes, which
/// are answered as they are found).
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("cannot encode {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl HasErrorCode for QueryError {
    fn error_code(&self) -> ErrorCode {
        match self {
            QueryError::Encode { .. } => ErrorCode::Internal,
        }
    }
}

impl From<QueryError> for ServiceError {
    fn from(error: QueryError) -> Self {
        ServiceError::from_error(&error, SERVICE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_unavailable_without_their_detail() {
        let source = serde_json::from_str::<u32>("x").unwrap_err();
        let reply = ServiceError::from(QueryError::Encode { what: "a metrics point", source });
        assert_eq!(reply, ServiceError::new(ErrorCode::Internal, "internal error; see the collector log"));
    }

    #[test]
    fn collector_errors_have_codes() {
        assert_eq!(CollectorError::Config("x".into()).error_code(), ErrorCode::Unprocessable);
        let partition = CollectorError::Partition { table: "metrics_host".into(), source: PartitionError::NoFuture };
        assert_eq!(partition.error_code(), ErrorCode::Internal);
        assert!(partition.to_string().starts_with("partition maintenance of table metrics_host failed: table has no p_future"));
        let alter = PartitionError::Alter { action: "add daily partitions", attempts: 3, source: sqlx::Error::PoolTimedOut };
        assert_eq!(alter.error_code(), ErrorCode::Unavailable);
    }
}
