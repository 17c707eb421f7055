//! Errors: [`GatewayError`] for building and running the gateway, [`ApiError`]
//! for REST answers (`{"error":{"code","message"}}` with the status of its
//! [`ErrorCode`]), and [`status`] for gRPC answers. Every typed error
//! (`HasErrorCode`) reaches a client through [`ApiError::from_error`] or
//! [`status`] only, under the policy of `vigil_bus::error`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_bus::error::{caller_message, HasErrorCode};
use vigil_bus::ErrorCode;

/// Names the log with the detail of an internal error.
const SERVICE: &str = vigil_bus::subjects::gateway::SERVICE_NAME;

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
    Service(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the live hub: {0}")]
    Live(String),
    #[error("grpc server failed: {0}")]
    Grpc(#[source] tonic::transport::Error),
    #[error("http server failed: {0}")]
    Http(#[source] std::io::Error),
}

impl HasErrorCode for GatewayError {
    fn error_code(&self) -> ErrorCode {
        match self {
            // values that cannot be used as given
            GatewayError::Config(_) | GatewayError::Tls(_) => ErrorCode::Unprocessable,
            // the bus
            GatewayError::Streams(_) | GatewayError::Service(_) => ErrorCode::Unavailable,
            GatewayError::Live(_) => ErrorCode::Internal,
            GatewayError::Listener { .. } | GatewayError::Grpc(_) | GatewayError::Http(_) => ErrorCode::Internal,
        }
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
            code: code.name(),
            message: message.into(),
        }
    }

    /// The one conversion of a typed error (also `?`, through `From`): the
    /// status and name of its code, its message; an internal error is logged
    /// with its causes and answered with a generic message.
    pub fn from_error<E: HasErrorCode>(error: &E) -> Self {
        ApiError::new(error.error_code(), caller_message(error, SERVICE))
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

    /// An internal error with what the gateway was doing: logs the detail,
    /// answers a generic 500 naming `context` (no internals leak to clients).
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        ApiError::new(ErrorCode::Internal, format!("internal error while {context}; see the gateway log"))
    }
}

impl<E: HasErrorCode> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError::from_error(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// The one conversion of a typed error into the gRPC status an agent sees:
/// the gRPC code of its [`ErrorCode`], its message (generic for an internal
/// error, which is logged with its causes).
pub(crate) fn status(error: &impl HasErrorCode) -> tonic::Status {
    tonic::Status::new(tonic::Code::from_i32(error.error_code().grpc_code()), caller_message(error, SERVICE))
}

#[cfg(test)]
mod tests {
    use vigil_bus::ServiceError;

    use super::*;

    #[test]
    fn rest_answers_carry_the_status_and_name_of_the_code_and_hide_internal_detail() {
        for code in ErrorCode::ALL {
            let answer = ApiError::from(ServiceError::new(code, "the message"));
            assert_eq!(answer.status.as_u16(), code.http_status(), "{code:?}");
            assert_eq!(answer.code, code.name(), "{code:?}");
            let expected = if code == ErrorCode::Internal { "internal error; see the gateway log" } else { "the message" };
            assert_eq!(answer.message, expected, "{code:?}");
        }
    }

    #[test]
    fn grpc_statuses_carry_the_grpc_code_of_the_code_and_hide_internal_detail() {
        let expected = [
            (ErrorCode::BadRequest, tonic::Code::InvalidArgument),
            (ErrorCode::Unauthorized, tonic::Code::Unauthenticated),
            (ErrorCode::Forbidden, tonic::Code::PermissionDenied),
            (ErrorCode::NotFound, tonic::Code::NotFound),
            (ErrorCode::Conflict, tonic::Code::AlreadyExists),
            (ErrorCode::Unprocessable, tonic::Code::InvalidArgument),
            (ErrorCode::Unavailable, tonic::Code::Unavailable),
            (ErrorCode::Internal, tonic::Code::Internal),
        ];
        assert_eq!(expected.map(|row| row.0), ErrorCode::ALL);
        for (code, grpc) in expected {
            let answer = status(&ServiceError::new(code, "the message"));
            assert_eq!(answer.code(), grpc, "{code:?}");
            let message = if code == ErrorCode::Internal { "internal error; see the gateway log" } else { "the message" };
            assert_eq!(answer.message(), message, "{code:?}");
        }
    }

    #[tokio::test]
    async fn the_error_body_is_code_and_message() {
        let response = ApiError::from(vigil_bus::ids::validate("host", "").unwrap_err()).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, serde_json::json!({"error": {"code": "bad_request", "message": "host id is empty"}}));
    }

    #[test]
    fn agents_are_told_why_their_token_was_refused_but_not_the_database_error() {
        use crate::auth::AgentAuthError;
        let missing = status(&AgentAuthError::Missing);
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        assert_eq!(missing.message(), "missing agent token; send metadata `authorization: Bearer <token>`");
        for refused in [AgentAuthError::Malformed, AgentAuthError::Unknown, AgentAuthError::Revoked, AgentAuthError::Expired] {
            assert_eq!(status(&refused).code(), tonic::Code::Unauthenticated, "{refused:?}");
        }
        let down = status(&AgentAuthError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(down.code(), tonic::Code::Unavailable);
        assert_eq!(down.message(), "cannot check the agent token right now; retry");
    }

    #[test]
    fn admin_errors_answer_their_code_and_hide_database_detail() {
        use crate::admin::AdminError;
        let exists = ApiError::from(AdminError::UserExists { email: "a@b.c".into() });
        assert_eq!((exists.status, exists.code), (StatusCode::CONFLICT, "conflict"));
        assert!(exists.message.contains("a@b.c"), "{}", exists.message);
        let invalid = ApiError::from(AdminError::Invalid { field: "email", message: "no".into() });
        assert_eq!((invalid.status, invalid.message.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "email: no"));
        let database = ApiError::from(AdminError::Database { action: "listing users", source: sqlx::Error::PoolTimedOut });
        assert_eq!(database.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(database.message, "internal error; see the gateway log");
    }

    #[test]
    fn gateway_errors_have_codes() {
        assert_eq!(GatewayError::Config("x".into()).error_code(), ErrorCode::Unprocessable);
        assert_eq!(GatewayError::Service("x".into()).error_code(), ErrorCode::Unavailable);
        assert_eq!(GatewayError::Live("started twice".into()).error_code(), ErrorCode::Internal);
        let listener = GatewayError::Listener { which: "grpc", source: std::io::Error::other("x") };
        assert_eq!(status(&listener).code(), tonic::Code::Internal);
    }
}
