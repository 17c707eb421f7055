//! Error policy: each service keeps its own `thiserror` enums (typed causes kept with `#[source]`, never `Result<_, String>`)
//! and implements [`HasErrorCode`] for them: the [`ErrorCode`] alone decides the HTTP status and the gRPC code.
//! The caller is told the error's message (its `Display`), except for `Internal`: that one is logged with its causes and
//! the caller gets a generic message; `Unavailable` is answered as it is and logged as a warning ([`caller_message`]).
//! The gateway converts in one place per protocol; between services an error travels as a [`ServiceError`] (code + message).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unprocessable,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unprocessable,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Unprocessable => 422,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The numeric gRPC status code (`tonic::Code::from_i32` takes it; this
    /// crate does not depend on tonic, the agent uses it without gRPC):
    /// - `BadRequest` → 3 `INVALID_ARGUMENT`
    /// - `Unauthorized` → 16 `UNAUTHENTICATED`
    /// - `Forbidden` → 7 `PERMISSION_DENIED`
    /// - `NotFound` → 5 `NOT_FOUND`
    /// - `Conflict` → 6 `ALREADY_EXISTS` (what a conflict is for our callers: a host id or email already taken)
    /// - `Unprocessable` → 3 `INVALID_ARGUMENT` (well-formed but refused values are still the caller's arguments)
    /// - `Unavailable` → 14 `UNAVAILABLE` (retry later)
    /// - `Internal` → 13 `INTERNAL`
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorCode::BadRequest | ErrorCode::Unprocessable => 3,
            ErrorCode::Unauthorized => 16,
            ErrorCode::Forbidden => 7,
            ErrorCode::NotFound => 5,
            ErrorCode::Conflict => 6,
            ErrorCode::Unavailable => 14,
            ErrorCode::Internal => 13,
        }
    }

    /// The snake_case name, as in JSON (`{"error":{"code":"not_found"}}`).
    pub fn name(self) -> &'static str {
        match self {
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
}

/// An error that knows its [`ErrorCode`]: every error a caller can see
/// implements it, and protocols convert through it only.
pub trait HasErrorCode: std::error::Error {
    fn error_code(&self) -> ErrorCode;

    /// What the caller is told (unless the code is `Internal`): the `Display` text.
    fn error_message(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// The message a caller gets for `error` under the policy: its own message,
/// or for `Internal` a generic one pointing at the log of `service`, which
/// gets the detail (with every cause). `Unavailable` is logged as a warning.
pub fn caller_message<E: HasErrorCode>(error: &E, service: &str) -> String {
    match error.error_code() {
        ErrorCode::Internal => {
            tracing::error!(error = %detail(error), "internal error; the caller gets a generic message");
            format!("internal error; see the {service} log")
        }
        ErrorCode::Unavailable => {
            tracing::warn!(error = %detail(error), "unavailable");
            error.error_message().into_owned()
        }
        _ => error.error_message().into_owned(),
    }
}

/// `error` and each of its causes not already spelled out by its message,
/// joined with `: ` (for logs).
pub fn detail(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

/// The error half of a service endpoint's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The one conversion of a service's typed error into its reply, under
    /// the policy ([`caller_message`]; `service` names the log with the detail).
    pub fn from_error<E: HasErrorCode>(error: &E, service: &str) -> Self {
        Self { code: error.error_code(), message: caller_message(error, service) }
    }
}

impl HasErrorCode for ServiceError {
    fn error_code(&self) -> ErrorCode {
        self.code
    }

    /// The message alone (`Display` prefixes the code).
    fn error_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.message)
    }
}

/// A malformed id is the caller's mistake.
impl HasErrorCode for crate::ids::IdError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

impl HasErrorCode for crate::ids::ContainerIdError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

impl HasErrorCode for crate::ids::ContainerNameError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_http_status_grpc_code_and_name() {
        // (code, HTTP status, gRPC code, JSON name)
        let table = [
            (ErrorCode::BadRequest, 400, 3, "bad_request"),
            (ErrorCode::Unauthorized, 401, 16, "unauthorized"),
            (ErrorCode::Forbidden, 403, 7, "forbidden"),
            (ErrorCode::NotFound, 404, 5, "not_found"),
            (ErrorCode::Conflict, 409, 6, "conflict"),
            (ErrorCode::Unprocessable, 422, 3, "unprocessable"),
            (ErrorCode::Unavailable, 503, 14, "unavailable"),
            (ErrorCode::Internal, 500, 13, "internal"),
        ];
        assert_eq!(table.map(|row| row.0), ErrorCode::ALL);
        for (code, http, grpc, name) in table {
            assert_eq!((code.http_status(), code.grpc_code(), code.name()), (http, grpc, name), "{code:?}");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(name), "{code:?}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("no such thing")]
        Missing,
        #[error("database error while reading: {0}")]
        Database(#[source] std::io::Error),
        #[error("cannot reach the database")]
        Down(#[source] std::io::Error),
    }

    impl HasErrorCode for Sample {
        fn error_code(&self) -> ErrorCode {
            match self {
                Sample::Missing => ErrorCode::NotFound,
                Sample::Database(_) => ErrorCode::Internal,
                Sample::Down(_) => ErrorCode::Unavailable,
            }
        }
    }

    #[test]
    fn callers_get_the_message_but_never_the_detail_of_an_internal_error() {
        assert_eq!(
            ServiceError::from_error(&Sample::Missing, "collector"),
            ServiceError::new(ErrorCode::NotFound, "no such thing")
        );
        let internal = ServiceError::from_error(&Sample::Database(std::io::Error::other("disk on fire")), "collector");
        assert_eq!(internal, ServiceError::new(ErrorCode::Internal, "internal error; see the collector log"));
        let down = ServiceError::from_error(&Sample::Down(std::io::Error::other("refused")), "collector");
        assert_eq!(down, ServiceError::new(ErrorCode::Unavailable, "cannot reach the database"));
        // a relayed ServiceError keeps its message, without the code prefix of its Display
        let relayed = ServiceError::new(ErrorCode::Conflict, "taken");
        assert_eq!(ServiceError::from_error(&relayed, "gateway"), relayed);
        let bad_id = crate::ids::validate("host", "a.b").unwrap_err();
        assert_eq!(ServiceError::from_error(&bad_id, "collector"), ServiceError::new(ErrorCode::BadRequest, bad_id.to_string()));
    }

    #[test]
    fn the_detail_names_each_cause_once() {
        assert_eq!(
            detail(&Sample::Database(std::io::Error::other("disk on fire"))),
            "database error while reading: disk on fire"
        );
        assert_eq!(detail(&Sample::Down(std::io::Error::other("refused"))), "cannot reach the database: refused");
        assert_eq!(detail(&Sample::Missing), "no such thing");
    }
}
