//! Real receivers for the notification channels' tests, on 127.0.0.1 and a
//! free port, stopped on `Drop`:
//! - [`HttpReceiver`]: an HTTP server (axum) that records every request and
//!   answers with scripted responses in order, then with a fixed one (200 by
//!   default, 204 for a Discord-like receiver);
//! - [`SmtpReceiver`]: an SMTP server speaking the protocol (greeting,
//!   EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET,
//!   NOOP, QUIT, and STARTTLS with a fresh self-signed certificate whose PEM
//!   [`SmtpReceiver::ca_pem`] gives the client), recording every message.
//!
//! Nothing of the code under test is mocked: a channel talks to these over TCP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How one request is answered.
#[derive(Clone, Debug)]
pub struct ScriptedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ScriptedResponse {
    /// `status` with no header and an empty body.
    pub fn status(status: u16) -> ScriptedResponse {
        ScriptedResponse { status, headers: Vec::new(), body: String::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> ScriptedResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> ScriptedResponse {
        self.body = body.to_owned();
        self
    }
}

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    /// Names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    /// The first value of a header (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("request body is not JSON ({error}): {}", self.text()))
    }
}

/// What the receivers share with their server tasks: what was recorded,
/// and a wake-up for [`wait_for`](HttpReceiver::wait_for).
struct Log<T> {
    items: Mutex<Vec<T>>,
    added: Notify,
}

impl<T: Clone> Log<T> {
    fn new() -> Log<T> {
        Log { items: Mutex::new(Vec::new()), added: Notify::new() }
    }

    fn push(&self, item: T) {
        self.items.lock().expect("receiver log").push(item);
        self.added.notify_waiters();
    }

    fn all(&self) -> Vec<T> {
        self.items.lock().expect("receiver log").clone()
    }

    /// The first `n` items once there are that many; panics after `timeout`.
    async fn wait_for(&self, what: &str, n: usize, timeout: Duration) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let added = self.added.notified();
            let items = self.all();
            if items.len() >= n {
                return items.into_iter().take(n).collect();
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                panic!("timed out after {timeout:?} waiting for {n} {what}; got {}", self.all().len());
            }
        }
    }
}

struct HttpState {
    script: Mutex<VecDeque<ScriptedResponse>>,
    then: ScriptedResponse,
    requests: Log<Recorded>,
}

/// An HTTP server on 127.0.0.1 that records every request.
pub struct HttpReceiver {
    address: SocketAddr,
    state: Arc<HttpState>,
    server: JoinHandle<()>,
}

impl HttpReceiver {
    /// Answers with `responses` in order, then 200 with an empty body forever.
    pub async fn start(responses: Vec<ScriptedResponse>) -> HttpReceiver {
        HttpReceiver::start_then(responses, ScriptedResponse::status(200)).await
    }

    /// Answers with `responses` in order, then with `then` forever (e.g. 204
    /// for a Discord-like receiver).
    pub async fn start_then(responses: Vec<ScriptedResponse>, then: ScriptedResponse) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an HTTP receiver on 127.0.0.1");
        let address = listener.local_addr().expect("the receiver's address");
        let state = Arc::new(HttpState { script: Mutex::new(responses.into()), then, requests: Log::new() });
        let app = axum::Router::new().fallback(record).with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the HTTP receiver serves");
        });
        HttpReceiver { address, state, server }
    }

    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.all()
    }

    /// The first `n` requests once they arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        self.state.requests.wait_for("HTTP requests", n, timeout).await
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(state): State<Arc<HttpState>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path_and_query = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| uri.path().to_owned());
    let headers = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let answer = state.script.lock().expect("receiver script").pop_front().unwrap_or_else(|| state.then.clone());
    state.requests.push(Recorded {
        method: method.to_string(),
        path_and_query,
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let mut response = (StatusCode::from_u16(answer.status).expect("a scripted status is valid"), answer.body).into_response();
    for (name, value) in &answer.headers {
        let name = axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a scripted header name is valid");
        response.headers_mut().insert(name, value.parse().expect("a scripted header value is valid"));
    }
    response
}

/// One message as the SMTP receiver took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The `MAIL FROM` address, without brackets.
    pub from: String,
    /// The `RCPT TO` addresses, without brackets.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed, lines ending in CRLF.
    pub data: String,
    /// The user that authenticated on the connection, if any.
    pub auth_user: Option<String>,
    /// Whether the connection was upgraded with STARTTLS.
    pub tls: bool,
    /// The EHLO/HELO name the client gave.
    pub helo: String,
}

impl Mail {
    /// A header's value, folded lines joined (first match, any case).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = value.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':') {
                if key.trim().eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_owned());
                }
            }
        }
        value
    }

    /// What follows the headers.
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default()
    }
}

/// How an [`SmtpReceiver`] behaves; [`SmtpReceiver::builder`].
#[derive(Clone, Debug, Default)]
pub struct SmtpReceiverBuilder {
    credentials: Option<(String, String)>,
    starttls: bool,
    mail_reply: Option<(u16, String)>,
}

impl SmtpReceiverBuilder {
    /// Advertises AUTH PLAIN and LOGIN (after STARTTLS when that is on),
    /// accepts only this user and password, and refuses MAIL before AUTH.
    pub fn auth(mut self, user: &str, password: &str) -> SmtpReceiverBuilder {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Advertises STARTTLS with a self-signed certificate for `127.0.0.1` and
    /// `localhost` ([`SmtpReceiver::ca_pem`]).
    pub fn starttls(mut self) -> SmtpReceiverBuilder {
        self.starttls = true;
        self
    }

    /// Answers every `MAIL FROM` with this reply (e.g. `451` or `550`).
    pub fn reply_to_mail(mut self, code: u16, text: &str) -> SmtpReceiverBuilder {
        self.mail_reply = Some((code, text.to_owned()));
        self
    }

    pub async fn start(self) -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an SMTP receiver on 127.0.0.1");
        let address = listener.local_addr().expect("the receiver's address");
        let (tls, ca_pem) = if self.starttls {
            let (config, pem) = self_signed_tls();
            (Some(tokio_rustls::TlsAcceptor::from(config)), Some(pem))
        } else {
            (None, None)
        };
        let state = Arc::new(SmtpState { options: self, tls, mails: Log::new() });
        let accept_state = Arc::clone(&state);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    if let Err(error) = serve_smtp(stream, state).await {
                        eprintln!("testkit smtp receiver: connection ended: {error}");
                    }
                });
            }
        });
        SmtpReceiver { address, state, ca_pem, server }
    }
}

struct SmtpState {
    options: SmtpReceiverBuilder,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mails: Log<Mail>,
}

/// An SMTP server on 127.0.0.1 that records every message.
pub struct SmtpReceiver {
    address: SocketAddr,
    state: Arc<SmtpState>,
    ca_pem: Option<String>,
    server: JoinHandle<()>,
}

impl SmtpReceiver {
    /// Plain SMTP, no AUTH.
    pub async fn start() -> SmtpReceiver {
        SmtpReceiver::builder().start().await
    }

    /// STARTTLS advertised, no AUTH.
    pub async fn start_starttls() -> SmtpReceiver {
        SmtpReceiver::builder().starttls().start().await
    }

    pub fn builder() -> SmtpReceiverBuilder {
        SmtpReceiverBuilder::default()
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> String {
        self.address.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The self-signed certificate of STARTTLS (PEM), to trust as a root.
    pub fn ca_pem(&self) -> &str {
        self.ca_pem.as_deref().expect("the SMTP receiver was started without STARTTLS")
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.mails.all()
    }

    /// The first `n` messages once they arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        self.state.mails.wait_for("mails", n, timeout).await
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A rustls server config with a fresh self-signed certificate for
/// `127.0.0.1` and `localhost`, and the certificate's PEM.
fn self_signed_tls() -> (Arc<rustls::ServerConfig>, String) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("the self-signed certificate and its key");
    (Arc::new(config), cert.pem())
}

/// How a session over one stream ended.
enum SessionEnd {
    Closed,
    StartTls,
}

/// The longest line read (a command, or one line of DATA).
const MAX_LINE: u64 = 1 << 20;

async fn serve_smtp(stream: TcpStream, state: Arc<SmtpState>) -> std::io::Result<()> {
    let mut plain = BufReader::new(stream);
    plain.get_mut().write_all(b"220 vigil-testkit ESMTP ready\r\n").await?;
    match session(&mut plain, &state, false).await? {
        SessionEnd::Closed => Ok(()),
        SessionEnd::StartTls => {
            let acceptor = state.tls.clone().expect("STARTTLS is accepted only when configured");
            let mut secure = BufReader::new(acceptor.accept(plain.into_inner()).await?);
            session(&mut secure, &state, true).await.map(drop)
        }
    }
}

/// What the client has said so far on a connection.
#[derive(Default)]
struct Envelope {
    helo: String,
    from: Option<String>,
    to: Vec<String>,
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut BufReader<S>, line: &str) -> std::io::Result<()> {
    stream.get_mut().write_all(format!("{line}\r\n").as_bytes()).await?;
    stream.get_mut().flush().await
}

/// A line without its CRLF; `None` at the end of the stream.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let read = tokio::io::AsyncReadExt::take(&mut *stream, MAX_LINE).read_until(b'\n', &mut bytes).await?;
    if read == 0 {
        return Ok(None);
    }
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The address of `FROM:<a@b> SIZE=1` / `TO:<a@b>`.
fn path_argument(argument: &str, prefix: &str) -> Option<String> {
    let rest =
        argument.get(..prefix.len()).filter(|head| head.eq_ignore_ascii_case(prefix)).map(|_| &argument[prefix.len()..])?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('<')?.split('>').next()?;
    Some(inner.to_owned())
}

fn decode_base64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    state: &SmtpState,
    tls: bool,
) -> std::io::Result<SessionEnd> {
    let options = &state.options;
    let offer_starttls = state.tls.is_some() && !tls;
    let offer_auth = options.credentials.is_some() && !offer_starttls;
    let mut envelope = Envelope::default();
    let mut auth_user: Option<String> = None;
    while let Some(line) = read_line(stream).await? {
        let (verb, argument) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                envelope = Envelope { helo: argument.trim().to_owned(), ..Envelope::default() };
                let mut lines = vec!["vigil-testkit".to_owned(), "8BITMIME".to_owned(), "SIZE 10485760".to_owned()];
                if offer_starttls {
                    lines.push("STARTTLS".to_owned());
                }
                if offer_auth {
                    lines.push("AUTH PLAIN LOGIN".to_owned());
                }
                let last = lines.len() - 1;
                for (index, text) in lines.iter().enumerate() {
                    reply(stream, &format!("250{}{text}", if index == last { ' ' } else { '-' })).await?;
                }
            }
            "HELO" => {
                envelope = Envelope { helo: argument.trim().to_owned(), ..Envelope::default() };
                reply(stream, "250 vigil-testkit").await?;
            }
            "STARTTLS" if offer_starttls => {
                reply(stream, "220 2.0.0 ready to start TLS").await?;
                return Ok(SessionEnd::StartTls);
            }
            "STARTTLS" => reply(stream, "454 4.7.0 TLS not available").await?,
            "AUTH" if !offer_auth => reply(stream, "503 5.5.1 AUTH not available").await?,
            "AUTH" if auth_user.is_some() => reply(stream, "503 5.5.1 already authenticated").await?,
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let given = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            reply(stream, "334 ").await?;
                            read_line(stream).await?.unwrap_or_default()
                        } else {
                            initial.to_owned()
                        };
                        decode_base64(&response).and_then(|text| {
                            let mut parts = text.split('\0');
                            let _authorization = parts.next()?;
                            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
                        })
                    }
                    "LOGIN" => {
                        let user = if initial.is_empty() {
                            reply(stream, "334 VXNlcm5hbWU6").await?;
                            read_line(stream).await?.unwrap_or_default()
                        } else {
                            initial.to_owned()
                        };
                        reply(stream, "334 UGFzc3dvcmQ6").await?;
                        let password = read_line(stream).await?.unwrap_or_default();
                        decode_base64(&user).zip(decode_base64(&password))
                    }
                    _ => {
                        reply(stream, "504 5.5.4 mechanism not supported").await?;
                        continue;
                    }
                };
                match given {
                    Some(given) if Some(&given) == options.credentials.as_ref() => {
                        auth_user = Some(given.0);
                        reply(stream, "235 2.7.0 authentication succeeded").await?;
                    }
                    _ => reply(stream, "535 5.7.8 authentication credentials invalid").await?,
                }
            }
            "MAIL" => {
                if options.credentials.is_some() && auth_user.is_none() {
                    reply(stream, "530 5.7.0 authentication required").await?;
                } else if let Some((code, text)) = &options.mail_reply {
                    reply(stream, &format!("{code} {text}")).await?;
                } else if let Some(from) = path_argument(argument, "FROM:") {
                    envelope.from = Some(from);
                    envelope.to.clear();
                    reply(stream, "250 2.1.0 ok").await?;
                } else {
                    reply(stream, "501 5.5.4 syntax: MAIL FROM:<address>").await?;
                }
            }
            "RCPT" => match (envelope.from.is_some(), path_argument(argument, "TO:")) {
                (false, _) => reply(stream, "503 5.5.1 MAIL first").await?,
                (true, Some(to)) => {
                    envelope.to.push(to);
                    reply(stream, "250 2.1.5 ok").await?;
                }
                (true, None) => reply(stream, "501 5.5.4 syntax: RCPT TO:<address>").await?,
            },
            "DATA" => {
                if envelope.to.is_empty() {
                    reply(stream, "503 5.5.1 RCPT first").await?;
                    continue;
                }
                reply(stream, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(stream).await? else {
                        return Ok(SessionEnd::Closed);
                    };
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                state.mails.push(Mail {
                    from: envelope.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut envelope.to),
                    data,
                    auth_user: auth_user.clone(),
                    tls,
                    helo: envelope.helo.clone(),
                });
                reply(stream, "250 2.0.0 queued").await?;
            }
            "RSET" => {
                envelope.from = None;
                envelope.to.clear();
                reply(stream, "250 2.0.0 ok").await?;
            }
            "NOOP" => reply(stream, "250 2.0.0 ok").await?,
            "QUIT" => {
                reply(stream, "221 2.0.0 bye").await?;
                return Ok(SessionEnd::Closed);
            }
            _ => reply(stream, "500 5.5.2 command not recognized").await?,
        }
    }
    Ok(SessionEnd::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `lines` one by one, each after the server's whole answer to the
    /// previous one (none inside DATA), and returns everything it said.
    async fn converse(port: u16, lines: &[&str]) -> String {
        let mut stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        let mut transcript = String::new();
        let mut in_data = false;
        read_reply(&mut stream, &mut transcript).await;
        for line in lines {
            stream.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
            match (in_data, *line) {
                (true, ".") => in_data = false,
                (true, _) => continue,
                (false, "DATA") => in_data = true,
                _ => {}
            }
            read_reply(&mut stream, &mut transcript).await;
        }
        transcript
    }

    /// Reads reply lines up to the last one (`ddd text`, not `ddd-text`).
    async fn read_reply(stream: &mut BufReader<TcpStream>, transcript: &mut String) {
        loop {
            let mut line = String::new();
            assert_ne!(stream.read_line(&mut line).await.unwrap(), 0, "the server closed early: {transcript}");
            transcript.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }

    #[tokio::test]
    async fn the_smtp_receiver_speaks_the_protocol_and_unstuffs_dots() {
        let receiver = SmtpReceiver::builder().auth("alice", "s3cret").start().await;
        let plain = base64::engine::general_purpose::STANDARD.encode("\0alice\0s3cret");
        let auth = format!("AUTH PLAIN {plain}");
        let transcript = converse(
            receiver.port(),
            &[
                "EHLO client.test",
                "MAIL FROM:<a@example.com>",
                &auth,
                "NOOP",
                "MAIL FROM:<a@example.com> SIZE=10",
                "RCPT TO:<b@example.com>",
                "RCPT TO:<c@example.com>",
                "DATA",
                "Subject: hi",
                "",
                "..leading dot",
                ".",
                "RSET",
                "QUIT",
            ],
        )
        .await;
        assert!(transcript.starts_with("220 "), "{transcript}");
        assert!(
            transcript.contains("250-AUTH PLAIN LOGIN\r\n") || transcript.contains("250 AUTH PLAIN LOGIN\r\n"),
            "{transcript}"
        );
        assert!(transcript.contains("530 5.7.0"), "MAIL before AUTH is refused: {transcript}");
        assert!(transcript.contains("235 2.7.0") && transcript.contains("221 2.0.0"), "{transcript}");
        let mails = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(mails[0].from, "a@example.com");
        assert_eq!(mails[0].to, vec!["b@example.com", "c@example.com"]);
        assert_eq!(mails[0].data, "Subject: hi\r\n\r\n.leading dot\r\n");
        assert_eq!(mails[0].header("subject").as_deref(), Some("hi"));
        assert_eq!((mails[0].auth_user.as_deref(), mails[0].tls, mails[0].helo.as_str()), (Some("alice"), false, "client.test"));
    }

    #[tokio::test]
    async fn the_smtp_receiver_refuses_wrong_credentials_with_login() {
        let receiver = SmtpReceiver::builder().auth("alice", "s3cret").start().await;
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let (user, password) = (encode("alice"), encode("wrong"));
        let transcript = converse(receiver.port(), &["HELO c", "AUTH LOGIN", &user, &password, "QUIT"]).await;
        assert!(transcript.contains("334 VXNlcm5hbWU6") && transcript.contains("334 UGFzc3dvcmQ6"), "{transcript}");
        assert!(transcript.contains("535 5.7.8"), "{transcript}");
    }

    #[tokio::test]
    async fn the_http_receiver_answers_its_script_then_the_default() {
        let receiver = HttpReceiver::start_then(
            vec![ScriptedResponse::status(429).header("Retry-After", "2").body("slow down")],
            ScriptedResponse::status(204),
        )
        .await;
        let client = reqwest::Client::new();
        let first = client.post(format!("{}/hook?x=1", receiver.url())).body("one").send().await.unwrap();
        assert_eq!(first.status(), 429);
        assert_eq!(first.headers()["retry-after"], "2");
        assert_eq!(first.text().await.unwrap(), "slow down");
        let second = client.put(format!("{}/other", receiver.url())).header("X-Test", "yes").body("two").send().await.unwrap();
        assert_eq!(second.status(), 204);
        let requests = receiver.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!((requests[0].method.as_str(), requests[0].path_and_query.as_str()), ("POST", "/hook?x=1"));
        assert_eq!(requests[0].text(), "one");
        assert_eq!((requests[1].method.as_str(), requests[1].header("x-test")), ("PUT", Some("yes")));
        assert!(requests[0].at <= requests[1].at);
    }
}
