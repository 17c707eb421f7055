//! A minimal HTTP/1.1 client, enough for the Docker, Podman and Incus REST
//! APIs over their unix sockets ([`get`], and [`request`] for the container
//! actions' `POST` and `PUT`) and for the gateway's `/downloads/` over plain
//! TCP ([`get_url`], `http://` only: what it downloads is verified by
//! signature, see `update`): one request per connection (`Connection:
//! close`), body delimited by `Content-Length`, `Transfer-Encoding: chunked`,
//! or the end of the connection.
//!
//! Invariants: every request is bounded by the given timeout (connect, write
//! and the whole read); a body larger than [`MAX_BODY`] is refused; anything
//! that is not a well-formed HTTP/1.x response is an [`HttpError::Malformed`].

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Largest response body accepted (a list of thousands of containers fits).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest header block accepted.
const MAX_HEADERS: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect { endpoint: String, source: std::io::Error },
    #[error("{endpoint}: {method} {path}: {source}")]
    Io { endpoint: String, method: &'static str, path: String, source: std::io::Error },
    #[error("{endpoint}: {method} {path}: no answer within {}s", .timeout.as_secs_f64())]
    Timeout { endpoint: String, method: &'static str, path: String, timeout: Duration },
    #[error("{endpoint}: {method} {path}: malformed HTTP response: {reason}")]
    Malformed { endpoint: String, method: &'static str, path: String, reason: String },
    #[error("{endpoint}: {method} {path}: HTTP {status}: {body}")]
    Status { endpoint: String, method: &'static str, path: String, status: u16, body: String },
}

/// An `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host as written, without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    /// Parses a plain-HTTP URL; `https://`, user info, queries and fragments
    /// are refused.
    pub fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err("https is not supported by the agent's download client; give the gateway's plain http:// address (builds are verified by their signature)".into())
            }
            _ => return Err("is not an http:// URL".into()),
        };
        let (authority, path) = match rest.find('/') {
            Some(index) => (&rest[..index], &rest[index..]),
            None => (rest, "/"),
        };
        if authority.contains('@') || path.contains(['?', '#', ' ']) {
            return Err("must not hold user info, a query, a fragment or spaces".into());
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or("has an unclosed '['")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || (!authority.starts_with('[') && host.contains(':')) {
            return Err("has no usable host".into());
        }
        let port = match port {
            None => 80,
            Some(port) => {
                port.parse::<u16>().ok().filter(|p| *p != 0).ok_or("has a port that is not a number between 1 and 65535")?
            }
        };
        Ok(Url { host: host.to_owned(), port, path: path.to_owned() })
    }

    /// This URL with `path` appended to its own path (`/` between them).
    pub fn join(&self, path: &str) -> Url {
        let base = self.path.trim_end_matches('/');
        Url { path: format!("{base}/{}", path.trim_start_matches('/')), ..self.clone() }
    }

    /// `host:port`, bracketed for IPv6 (the `Host` header).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
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
    let endpoint = socket.display().to_string();
    let response = request(socket, "GET", path, None, timeout).await?;
    success(response, &endpoint, "GET", path)
}

/// `method path` on the unix socket `socket`, with `body` as JSON when
/// given; the whole exchange must finish within `timeout`. Every HTTP status
/// is returned as it is (the engines' 304 and 404 mean something).
pub async fn request(
    socket: &Path,
    method: &'static str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let endpoint = socket.display().to_string();
    let exchange = async {
        let stream =
            UnixStream::connect(socket).await.map_err(|source| HttpError::Connect { endpoint: endpoint.clone(), source })?;
        exchange(stream, &endpoint, Request { method, host: "localhost", path, accept: "application/json", body }).await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout { endpoint, method, path: path.to_owned(), timeout }),
    }
}

/// `GET url` over TCP (plain HTTP); the whole exchange must finish within
/// `timeout`. Any status other than 2xx is an [`HttpError::Status`].
pub async fn get_url(url: &Url, timeout: Duration) -> Result<Response, HttpError> {
    let endpoint = format!("http://{}", url.authority());
    let exchange = async {
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|source| HttpError::Connect { endpoint: endpoint.clone(), source })?;
        let request = Request { method: "GET", host: &url.authority(), path: &url.path, accept: "*/*", body: None };
        exchange(stream, &endpoint, request).await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => success(result?, &endpoint, "GET", &url.path),
        Err(_) => Err(HttpError::Timeout { endpoint, method: "GET", path: url.path.clone(), timeout }),
    }
}

/// `response` when its status is 2xx, else an [`HttpError::Status`].
fn success(response: Response, endpoint: &str, method: &'static str, path: &str) -> Result<Response, HttpError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    Err(HttpError::Status {
        endpoint: endpoint.to_owned(),
        method,
        path: path.to_owned(),
        status: response.status,
        body: response.text_preview(),
    })
}

impl Response {
    /// The start of the body, as text (for messages).
    pub fn text_preview(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).trim().to_owned()
    }
}

/// One request's line and headers.
struct Request<'a> {
    method: &'static str,
    host: &'a str,
    path: &'a str,
    accept: &'a str,
    /// Sent as `application/json`.
    body: Option<&'a [u8]>,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    endpoint: &str,
    request: Request<'_>,
) -> Result<Response, HttpError> {
    let Request { method, host, path, accept, body } = request;
    let io = |source| HttpError::Io { endpoint: endpoint.to_owned(), method, path: path.to_owned(), source };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sovigilant/{}\r\nAccept: {accept}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    match body {
        Some(body) => head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len())),
        // POST without a body still says so (Docker's API wants a length)
        None if method != "GET" => head.push_str("Content-Length: 0\r\n\r\n"),
        None => head.push_str("\r\n"),
    }
    let mut request = head.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&request).await.map_err(io)?;
    let mut raw = Vec::with_capacity(16 * 1024);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut buffer).await.map_err(io)?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
        if raw.len() > MAX_BODY + MAX_HEADERS {
            return Err(malformed(endpoint, method, path, format!("response larger than {MAX_BODY} bytes")));
        }
        // Stop as soon as the body is complete (some servers keep the
        // connection open despite `Connection: close`).
        if let Ok(Some(response)) = parse(&raw, false) {
            return Ok(response);
        }
    }
    match parse(&raw, true) {
        Ok(Some(response)) => Ok(response),
        Ok(None) => {
            let reason = format!("connection closed after {} bytes, before the end of the response", raw.len());
            Err(malformed(endpoint, method, path, reason))
        }
        Err(reason) => Err(malformed(endpoint, method, path, reason)),
    }
}

fn malformed(endpoint: &str, method: &'static str, path: &str, reason: String) -> HttpError {
    HttpError::Malformed { endpoint: endpoint.to_owned(), method, path: path.to_owned(), reason }
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
    fn http_urls_are_parsed_and_joined() {
        let url = Url::parse("http://gw.example.com:8081/vigil/").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("gw.example.com", 8081, "/vigil/"));
        assert_eq!(url.join("/downloads/release.pub").to_string(), "http://gw.example.com:8081/vigil/downloads/release.pub");
        let url = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!((url.host.as_str(), url.authority()), ("::1", "[::1]:8080".to_owned()));
        assert_eq!(Url::parse("http://gw").unwrap().port, 80);
        assert!(Url::parse("https://gw").unwrap_err().contains("https is not supported"));
        for bad in ["gw:8080", "http://", "http://user@gw", "http://gw:0", "http://gw:x", "http://gw/?q=1", "http://::1:80"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn get_url_fetches_over_tcp_and_reports_statuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for answer in [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"[..],
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
            ] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 1024];
                let read = socket.read(&mut request).await.unwrap();
                let request = String::from_utf8_lossy(&request[..read]).into_owned();
                assert!(request.starts_with("GET /downloads/x HTTP/1.1\r\n"), "{request}");
                assert!(request.contains(&format!("Host: 127.0.0.1:{port}\r\n")), "{request}");
                socket.write_all(answer).await.unwrap();
            }
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/downloads/x")).unwrap();
        assert_eq!(get_url(&url, Duration::from_secs(5)).await.unwrap().body, b"abc");
        let error = get_url(&url, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(error, HttpError::Status { status: 404, .. }), "{error}");
        server.await.unwrap();
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(parse(b"SSH-2.0-OpenSSH_9.2\r\n", true).is_err());
        assert!(parse(b"HTTP/1.1 abc OK\r\n\r\n", true).is_err());
        assert!(parse(b"", true).is_err());
    }
}
