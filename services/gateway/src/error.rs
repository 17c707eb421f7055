//! Errors: [`GatewayError`] for building and running the gateway, [`ApiError`]
//! for REST answers (`{"error":{"code","message"}}` with the status of its
//! [`ErrorCode`]), and the mapping of collector [`ServiceError`]s to gRPC
//! statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_bus::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway config: {0}")]
    Config(String),
    #[error("gateway tls: {0}")]
    Tls(String),
    #[error("cannot read the address of the {which} listener: {source}")]
    Listener { which: &'static str, source: std::io::Error },
    #[error(transparent)]
    Streams(#[from] vigil_bus::streams::StreamSetupError),
    #[error("cannot register the gateway nats service: {0}")]
    Service(String),
    #[error("grpc server failed: {0}")]
    Grpc(#[source] tonic::transport::Error),
    #[error("http server failed: {0}")]
    Http(#[source] std::io::Error),
}

/// The snake_case name of a code, as it appears in JSON.
pub(crate) fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "bad_request",
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NotFound => "not_found",
        ErrorCode::Conflict => "conflict",
        ErrorCode::Unprocessable => "unprocessable",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::Internal => "internal",
    }
}

/// A REST error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code_name(code),
            message: message.into(),
        }
    }

    /// An answer whose status has no [`ErrorCode`] (413, 415, 405...).
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::NOT_FOUND => "not_found",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        ApiError { status, code, message: message.into() }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// Logs the detail, answers a generic 500 (no internals leak to clients).
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        ApiError::new(ErrorCode::Internal, format!("internal error while {context}; see the gateway log"))
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        if error.code == ErrorCode::Internal {
            tracing::error!(error = %error.message, "collector reported an internal error");
        }
        ApiError::new(error.code, error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Maps a collector error to the gRPC status an agent sees.
pub(crate) fn status_from_service(error: ServiceError) -> tonic::Status {
    let message = error.message;
    match error.code {
        ErrorCode::BadRequest | ErrorCode::Unprocessable => tonic::Status::invalid_argument(message),
        ErrorCode::Unauthorized => tonic::Status::unauthenticated(message),
        ErrorCode::Forbidden => tonic::Status::permission_denied(message),
        ErrorCode::NotFound => tonic::Status::not_found(message),
        ErrorCode::Conflict => tonic::Status::already_exists(message),
        ErrorCode::Unavailable => tonic::Status::unavailable(message),
        ErrorCode::Internal => {
            tracing::error!(error = %message, "collector reported an internal error");
            tonic::Status::internal(message)
        }
    }
}
