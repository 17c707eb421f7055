//! One HTTP delivery and what its outcome means: 2xx delivered; connection
//! errors, timeouts, 5xx and 429 retried (after the receiver's `Retry-After`
//! when it gives one, at most an hour); any other status never retried.
//! Messages name the channel kind and the host, never the URL (it is often
//! the secret).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use super::{Delivered, Retry, SendError, MAX_RETRY_AFTER};

/// What the receiver answered.
pub(super) struct Reply {
    /// `host[:port]` of the receiver, for messages.
    pub host: String,
    pub status: StatusCode,
    /// `Retry-After`, parsed and capped.
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// `host` or `host:port` of a request, for messages.
pub(super) fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Sends `request` and reads the whole answer; a failure to get one is a
/// retryable [`SendError`].
pub(super) async fn execute(client: &reqwest::Client, kind: &str, request: reqwest::RequestBuilder) -> Result<Reply, SendError> {
    let request =
        request.build().map_err(|error| SendError::never(kind, format!("could not build the request: {}", cause(&error))))?;
    let host = host_of(request.url());
    let response = client.execute(request).await.map_err(|error| transport_error(kind, &host, &error))?;
    let status = response.status();
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let body = response.text().await.map_err(|error| transport_error(kind, &host, &error))?;
    Ok(Reply { host, status, retry_after, body })
}

/// Sends `request` and classifies the answer.
pub(super) async fn deliver(
    client: &reqwest::Client,
    kind: &str,
    request: reqwest::RequestBuilder,
) -> Result<Delivered, SendError> {
    classify(kind, execute(client, kind, request).await?)
}

/// 2xx → delivered; 429 and 5xx → retry; anything else → never.
pub(super) fn classify(kind: &str, reply: Reply) -> Result<Delivered, SendError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(Delivered { status: Some(status.as_u16()) });
    }
    let retry = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Retry::After(reply.retry_after)
    } else {
        Retry::Never
    };
    let mut message = format!("{kind}: {} answered {status}", reply.host);
    let excerpt = excerpt(&reply.body);
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    Err(SendError { status: Some(status.as_u16()), retry, message })
}

/// A connection error or timeout: retry.
fn transport_error(kind: &str, host: &str, error: &reqwest::Error) -> SendError {
    let what = if error.is_timeout() {
        format!("no answer from {host} within {}s", super::HTTP_TIMEOUT.as_secs())
    } else if error.is_connect() {
        format!("could not connect to {host}: {}", cause(error))
    } else {
        format!("request to {host} failed: {}", cause(error))
    };
    SendError { status: None, retry: Retry::After(None), message: format!("{kind}: {what}") }
}

/// The innermost cause of an error, starting lowercase (reqwest's own
/// message holds the URL, lettre's repeats its kind).
pub(super) fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let mut text = innermost.to_string();
    if let Some(first) = text.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    text
}

/// The first 200 characters of a body, on one line.
fn excerpt(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    super::text::truncate(&line, 200)
}

/// `Retry-After` as seconds or an HTTP date, at most [`MAX_RETRY_AFTER`];
/// a date in the past is zero.
pub(super) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.timestamp()).ok()?);
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().unwrap());
        headers
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date_capped_at_an_hour() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(retry_after(&headers("2"), now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers(" 120 "), now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers("86400"), now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("Mon, 07 Nov 1994 08:49:37 GMT"), now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    fn reply(status: u16, retry_after: Option<u64>, body: &str) -> Reply {
        Reply {
            host: "hooks.slack.com".to_owned(),
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
            body: body.to_owned(),
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify("slack", reply(200, None, "ok")).unwrap().status, Some(200));
        assert_eq!(classify("discord", reply(204, None, "")).unwrap().status, Some(204));
        let error = classify("slack", reply(500, None, "  oops\n  broken ")).unwrap_err();
        assert_eq!((error.status, error.retry), (Some(500), Retry::After(None)));
        assert_eq!(error.message, "slack: hooks.slack.com answered 500 Internal Server Error: oops broken");
        let error = classify("ntfy", reply(429, Some(7), "")).unwrap_err();
        assert_eq!(error.retry, Retry::After(Some(Duration::from_secs(7))));
        assert_eq!(error.message, "ntfy: hooks.slack.com answered 429 Too Many Requests");
        for status in [301, 400, 401, 403, 404, 410] {
            assert_eq!(classify("webhook", reply(status, Some(1), "")).unwrap_err().retry, Retry::Never, "{status}");
        }
        assert_eq!(classify("webhook", reply(503, Some(9), "")).unwrap_err().retry, Retry::After(Some(Duration::from_secs(9))));
    }
}
