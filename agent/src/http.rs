//! A minimal HTTP/1.1 client over a unix socket, enough for the Docker,
//! Podman and Incus REST APIs: one `GET` per connection (`Connection: close`),
//! body delimited by `Content-Length`, `Transfer-Encoding: chunked`, or the end
//! of the connection.
//!
//! Invariants: every request is bounded by the given timeout (connect, write
//! and the whole read); a body larger than [`MAX_BODY`] is refused; anything
//! that is not a well-formed HTTP/1.x response is an [`HttpError::Malformed`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Largest response body accepted (a list of thousands of containers fits).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest header block accepted.
const MAX_HEADERS: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {socket}: {source}")]
    Connect { socket: PathBuf, source: std::io::Error },
    #[error("{socket}: GET {path}: {source}")]
    Io { socket: PathBuf, path: String, source: std::io::Error },
    #[error("{socket}: GET {path}: no answer within {}s", .timeout.as_secs_f64())]
    Timeout { socket: PathBuf, path: String, timeout: Duration },
    #[error("{socket}: GET {path}: malformed HTTP response: {reason}")]
    Malformed { socket: PathBuf, path: String, reason: String },
    #[error("{socket}: GET {path}: HTTP {status}: {body}")]
    Status { socket: PathBuf, path: String, status: u16, body: String },
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET path` on the unix socket `socket`; the whole exchange must finish
/// within `timeout`. Any status other than 2xx is an [`HttpError::Status`].
pub async fn get(socket: &Path, path: &str, timeout: Duration) -> Result<Response, HttpError> {
    match tokio::time::timeout(timeout, exchange(socket, path)).await {
        Ok(Ok(response)) if (200..300).contains(&response.status) => Ok(response),
        Ok(Ok(response)) => Err(HttpError::Status {
            socket: socket.to_owned(),
            path: path.to_owned(),
            status: response.status,
            body: String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).trim().to_owned(),
        }),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(HttpError::Timeout { socket: socket.to_owned(), path: path.to_owned(), timeout }),
    }
}

async fn exchange(socket: &Path, path: &str) -> Result<Response, HttpError> {
    let io = |source| HttpError::Io { socket: socket.to_owned(), path: path.to_owned(), source };
    let mut stream =
        UnixStream::connect(socket).await.map_err(|source| HttpError::Connect { socket: socket.to_owned(), source })?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sovigilant/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::with_capacity(16 * 1024);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut buffer).await.map_err(io)?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
        if raw.len() > MAX_BODY + MAX_HEADERS {
            return Err(malformed(socket, path, format!("response larger than {MAX_BODY} bytes")));
        }
        // Stop as soon as the body is complete (some servers keep the
        // connection open despite `Connection: close`).
        if let Ok(Some(response)) = parse(&raw, false) {
            return Ok(response);
        }
    }
    match parse(&raw, true) {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(malformed(socket, path, format!("connection closed after {} bytes, before the end of the response", raw.len()))),
        Err(reason) => Err(malformed(socket, path, reason)),
    }
}

fn malformed(socket: &Path, path: &str, reason: String) -> HttpError {
    HttpError::Malformed { socket: socket.to_owned(), path: path.to_owned(), reason }
}

/// Parses `raw`: `Ok(None)` when more bytes are needed; `eof` says the
/// connection is closed (a body without length then ends there).
pub fn parse(raw: &[u8], eof: bool) -> Result<Option<Response>, String> {
    let Some(header_end) = find(raw, b"\r\n\r\n") else {
        if raw.len() > MAX_HEADERS || (eof && !raw.is_empty() && !raw.starts_with(b"HTTP/")) {
            return Err(format!("no HTTP header block in {:?}", preview(raw)));
        }
        return if eof && raw.is_empty() { Err("empty response".into()) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&raw[..header_end]).map_err(|_| "header block is not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("status line {:?} is not HTTP/1.x", preview(status_line.as_bytes())));
    }
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or_else(|| format!("status line {status_line:?} has no status code"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("header line {line:?} has no ':'"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| format!("Content-Length {value:?} is not a number"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    let body = &raw[header_end + 4..];
    if chunked {
        return match dechunk(body)? {
            Some(body) => Ok(Some(Response { status, body })),
            None if eof => Err("connection closed in the middle of a chunked body".into()),
            None => Ok(None),
        };
    }
    if let Some(length) = content_length {
        if length > MAX_BODY {
            return Err(format!("Content-Length {length} is above the {MAX_BODY} bytes limit"));
        }
        return if body.len() >= length {
            Ok(Some(Response { status, body: body[..length].to_vec() }))
        } else if eof {
            Err(format!("connection closed after {} of {length} body bytes", body.len()))
        } else {
            Ok(None)
        };
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(Response { status, body: Vec::new() }));
    }
    Ok(eof.then(|| Response { status, body: body.to_vec() }))
}

/// Decodes a chunked body; `Ok(None)` when incomplete.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else { return Ok(None) };
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "chunk size is not text".to_owned())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("chunk size {size_text:?} is not hexadecimal"))?;
        if body.len() + size > MAX_BODY {
            return Err(format!("chunked body larger than {MAX_BODY} bytes"));
        }
        data = &data[line_end + 2..];
        if size == 0 {
            // trailers end with an empty line; accept a missing final CRLF
            return Ok(Some(body));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        if &data[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body_is_cut_at_its_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(parse(raw, false).unwrap(), Some(Response { status: 200, body: b"hello".to_vec() }));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false).unwrap(), None);
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true).is_err());
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
        assert_eq!(parse(raw, false).unwrap().unwrap().body, b"Wikipedia in \r\n\r\nchunks.".to_vec());
        assert_eq!(parse(&raw[..raw.len() - 10], false).unwrap(), None);
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false).is_err());
    }

    #[test]
    fn body_without_length_ends_at_eof() {
        let raw = b"HTTP/1.0 200 OK\r\n\r\n[1,2]";
        assert_eq!(parse(raw, false).unwrap(), None);
        assert_eq!(parse(raw, true).unwrap().unwrap().body, b"[1,2]".to_vec());
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(parse(b"SSH-2.0-OpenSSH_9.2\r\n", true).is_err());
        assert!(parse(b"HTTP/1.1 abc OK\r\n\r\n", true).is_err());
        assert!(parse(b"", true).is_err());
    }
}
