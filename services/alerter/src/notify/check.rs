//! Field checks shared by the channels' `validate`. Messages never repeat a
//! secret value (a URL that does not parse is not echoed).

use super::FieldError;

/// `config.<name>`.
pub(super) fn field(name: &str) -> String {
    format!("config.{name}")
}

/// A non-blank value.
pub(super) fn required(name: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field(name), "is required"));
    }
    Ok(())
}

/// When set, not blank.
pub(super) fn not_blank(name: &str, value: Option<&String>) -> Result<(), FieldError> {
    match value {
        Some(value) if value.trim().is_empty() => {
            Err(FieldError::new(field(name), "must not be empty when set (leave it out instead)"))
        }
        _ => Ok(()),
    }
}

/// An absolute `http` or `https` URL with a host.
pub(super) fn http_url(name: &str, value: &str) -> Result<reqwest::Url, FieldError> {
    required(name, value)?;
    let url = reqwest::Url::parse(value.trim())
        .map_err(|error| FieldError::new(field(name), format!("is not a valid URL ({error})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FieldError::new(field(name), format!("must be an http or https URL, not {}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(field(name), "must name a host"));
    }
    Ok(url)
}

/// An email address, optionally with a display name (`Vigil <alerts@example.com>`).
pub(super) fn mailbox(name: &str, value: &str) -> Result<lettre::message::Mailbox, FieldError> {
    required(name, value)?;
    value
        .trim()
        .parse::<lettre::message::Mailbox>()
        .map_err(|error| FieldError::new(field(name), format!("{value:?} is not an email address ({error})")))
}

/// No control characters or whitespace (a value that goes into a URL path or a header).
pub(super) fn token(name: &str, value: &str) -> Result<(), FieldError> {
    required(name, value)?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(FieldError::new(field(name), "must not contain whitespace, control characters or '/'"));
    }
    Ok(())
}
