//! A dashboard's side of the live WebSocket (`/ws?token=`), for the whole-stack
//! tests and the live benchmark: connect, subscribe, read JSON frames.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `ws://127.0.0.1:<port>/ws?token=<token>`.
pub fn url(http_port: u16, token: &str) -> String {
    format!("ws://127.0.0.1:{http_port}/ws?token={token}")
}

/// Opens the socket; an HTTP refusal comes back as `tungstenite::Error::Http`.
pub async fn connect(http_port: u16, token: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let (ws, _) = tokio_tungstenite::connect_async(url(http_port, token)).await?;
    Ok(ws)
}

/// Like [`connect`] over a socket whose receive buffer is `recv_buffer`
/// bytes: a client that stops reading backs up the server quickly.
pub async fn connect_small_buffer(http_port: u16, token: &str, recv_buffer: u32) -> Result<Ws> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(recv_buffer)?;
    let stream = socket.connect(([127, 0, 0, 1], http_port).into()).await?;
    let (ws, _) = tokio_tungstenite::client_async(url(http_port, token), MaybeTlsStream::Plain(stream)).await?;
    Ok(ws)
}

/// Sends `subscribe` (all hosts of the tenant when `hosts` is `None`).
pub async fn subscribe(ws: &mut Ws, hosts: Option<&[String]>) -> Result<()> {
    let message = match hosts {
        Some(hosts) => serde_json::json!({"type": "subscribe", "hosts": hosts}),
        None => serde_json::json!({"type": "subscribe"}),
    };
    ws.send(Message::text(message.to_string())).await.context("send subscribe")?;
    Ok(())
}

/// The next JSON text frame, or `None` when nothing came within `timeout`
/// (control frames are skipped; a closed socket is an error).
pub async fn next_frame(ws: &mut Ws, timeout: Duration) -> Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => bail!("the socket closed"),
            Ok(Some(message)) => message?,
        };
        match message {
            Message::Text(text) => return Ok(Some(serde_json::from_str(text.as_str()).context("frame is not json")?)),
            Message::Close(frame) => bail!("the server closed the socket: {frame:?}"),
            _ => continue,
        }
    }
}

/// Reads frames until one satisfies `wanted` (returned) or `timeout` passes.
pub async fn wait_frame(ws: &mut Ws, timeout: Duration, mut wanted: impl FnMut(&Value) -> bool) -> Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_frame(ws, left).await? {
            None => return Ok(None),
            Some(frame) if wanted(&frame) => return Ok(Some(frame)),
            Some(_) => {}
        }
    }
}
