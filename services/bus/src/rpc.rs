//! Request/reply over NATS that never depends on a reply fitting in one
//! message (`max_payload`, 1 MiB by default).
//!
//! A reply no larger than one chunk leaves as one plain message, like any NATS
//! reply. A larger one leaves in chunks that the requester pulls: every chunk
//! but the last carries the header [`MORE_HEADER`] naming a private subject,
//! and the requester sends an empty request there to get the next chunk. The
//! chunks, concatenated, are the reply (`{"ok": ...}` or `{"error": ...}`).
//!
//! Invariants:
//! - a chunk is at most [`chunk_limit`] bytes, below the server's
//!   `max_payload` with room for headers;
//! - the responder produces at most one chunk ahead of what the requester
//!   pulled, so a large reply costs each side about two chunks of memory
//!   when it is streamed ([`respond_stream`], [`request_chunks`]), and a slow
//!   requester slows the responder instead of filling a buffer;
//! - a requester that stops pulling costs the responder [`PULL_TIMEOUT`];
//! - an error after the first chunk ends the reply with a chunk carrying
//!   [`ERROR_HEADER`], so a truncated reply is never taken for a whole one.

use std::time::Duration;

use async_nats::{service, HeaderMap, Subject};
use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{de::DeserializeOwned, Serialize};

use crate::messages::Reply;
use crate::subjects::Endpoint;
use crate::{ErrorCode, ServiceError};

/// Header of a chunk that has a successor: where to ask for it.
pub const MORE_HEADER: &str = "Vigil-More";
/// Header of the chunk that ends a reply which failed after it had started.
pub const ERROR_HEADER: &str = "Vigil-Error";
/// How long a responder waits for the requester to pull the next chunk.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest chunk, whatever the server allows: small enough that a pull is a
/// short stall for the connection, large enough that a 100 MB reply is 400
/// round trips.
pub const MAX_CHUNK_BYTES: usize = 256 * 1024;
/// Bytes of `max_payload` kept for a chunk's headers.
const HEADER_ROOM: usize = 4096;

/// Largest chunk on this connection's server.
pub fn chunk_limit(client: &async_nats::Client) -> usize {
    client.server_info().max_payload.saturating_sub(HEADER_ROOM).clamp(1024, MAX_CHUNK_BYTES)
}

/// The encoded reply to a request, as one buffer.
pub fn encode<T: Serialize>(reply: &Reply<T>) -> Bytes {
    serde_json::to_vec(reply)
        .unwrap_or_else(|e| {
            let message = format!("cannot encode reply: {e}");
            serde_json::to_vec(&Reply::<()>::Error(ServiceError::new(ErrorCode::Internal, message))).unwrap_or_default()
        })
        .into()
}

/// `reply` cut into chunks of at most `limit` bytes (one chunk when it fits).
pub fn chunks(mut reply: Bytes, limit: usize) -> impl Stream<Item = Result<Bytes, ServiceError>> + Send {
    let mut chunks = Vec::with_capacity(reply.len() / limit.max(1) + 1);
    while reply.len() > limit {
        chunks.push(Ok(reply.split_to(limit)));
    }
    chunks.push(Ok(reply));
    futures::stream::iter(chunks)
}

/// Answers `request` with `reply`, in chunks when it does not fit one.
pub async fn respond(client: &async_nats::Client, request: &service::Request, reply: Bytes) {
    respond_stream(client, request, chunks(reply, chunk_limit(client))).await;
}

/// Answers `request` with the chunks of `reply`, produced on demand: the
/// next chunk is awaited only after the previous one was sent. Each chunk
/// must be at most [`chunk_limit`] bytes. An `Err` after the first chunk
/// ends the reply with an error chunk; as the first item it is the reply.
pub async fn respond_stream<S>(client: &async_nats::Client, request: &service::Request, chunks: S)
where
    S: Stream<Item = Result<Bytes, ServiceError>> + Send,
{
    let subject = request.message.subject.clone();
    let mut chunks = std::pin::pin!(chunks);
    let first = match chunks.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(error)) => encode(&Reply::<()>::Error(error)),
        None => encode(&Reply::Ok(())),
    };
    let mut next = chunks.next().await;
    if next.is_none() {
        if let Err(error) = request.respond(Ok(first)).await {
            tracing::warn!(%subject, error = %error, "cannot send reply");
        }
        return;
    }
    // a private subject the requester pulls the next chunks from
    let more = client.new_inbox();
    let mut pulls = match client.subscribe(more.clone()).await {
        Ok(pulls) => pulls,
        Err(error) => {
            tracing::warn!(%subject, error = %error, "cannot subscribe for chunk pulls");
            let reply = encode(&Reply::<()>::Error(ServiceError::new(ErrorCode::Unavailable, "cannot send a chunked reply")));
            let _ = request.respond(Ok(reply)).await;
            return;
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(MORE_HEADER, more.as_str());
    if let Err(error) = request.respond_with_headers(Ok(first), headers.clone()).await {
        tracing::warn!(%subject, error = %error, "cannot send reply");
        return;
    }
    let mut sent = 1usize;
    while let Some(item) = next.take() {
        let pull = match tokio::time::timeout(PULL_TIMEOUT, pulls.next()).await {
            Ok(Some(pull)) => pull,
            Ok(None) | Err(_) => {
                tracing::debug!(%subject, chunks_sent = sent, "requester stopped pulling the reply; abandoned");
                return;
            }
        };
        let Some(reply_to) = pull.reply else { continue };
        let (payload, headers) = match item {
            Ok(chunk) => {
                next = chunks.next().await;
                (chunk, if next.is_some() { headers.clone() } else { HeaderMap::new() })
            }
            Err(error) => {
                tracing::warn!(%subject, error = %error, "reply failed after it had started");
                let mut failed = HeaderMap::new();
                failed.insert(ERROR_HEADER, error.message.as_str());
                (encode(&Reply::<()>::Error(error)), failed)
            }
        };
        if let Err(error) = client.publish_with_headers(reply_to, headers, payload).await {
            tracing::warn!(%subject, error = %error, "cannot send a reply chunk");
            return;
        }
        sent += 1;
    }
}

fn unavailable(subject: &str, error: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ErrorCode::Unavailable, format!("{subject} did not answer: {error}"))
}

/// The raw chunks of the reply to `request` sent to `endpoint`, pulled one at
/// a time as the stream is polled. Concatenated, they are the encoded
/// `Reply`. A transport failure, or a reply that failed after it had started,
/// is an `Err` item (and the last one).
pub async fn request_chunks<Req: Serialize, Resp>(
    client: &async_nats::Client,
    endpoint: Endpoint<Req, Resp>,
    request: &Req,
) -> Result<BoxStream<'static, Result<Bytes, ServiceError>>, ServiceError> {
    let subject = endpoint.subject();
    let payload = serde_json::to_vec(request)
        .map_err(|e| ServiceError::new(ErrorCode::Internal, format!("cannot encode request for {subject}: {e}")))?;
    let first = client.request(subject.clone(), payload.into()).await.map_err(|e| unavailable(&subject, e))?;
    let puller = Puller { client: client.clone(), subject, next: Pull::Have(first) };
    Ok(futures::stream::unfold(puller, Puller::step).boxed())
}

/// Where a chunked reply stands for its requester.
enum Pull {
    Have(async_nats::Message),
    Failed(ServiceError),
    Done,
}

struct Puller {
    client: async_nats::Client,
    subject: String,
    next: Pull,
}

impl Puller {
    /// Hands out the chunk in hand and pulls its successor, if any.
    async fn step(mut self) -> Option<(Result<Bytes, ServiceError>, Puller)> {
        let message = match std::mem::replace(&mut self.next, Pull::Done) {
            Pull::Done => return None,
            Pull::Failed(error) => return Some((Err(error), self)),
            Pull::Have(message) => message,
        };
        let headers = message.headers.as_ref();
        if let Some(error) = headers.and_then(|h| h.get(ERROR_HEADER)) {
            let failed = ServiceError::new(ErrorCode::Unavailable, format!("{} failed mid-reply: {error}", self.subject));
            return Some((Err(failed), self));
        }
        let more = headers.and_then(|h| h.get(MORE_HEADER)).map(|v| Subject::from(v.as_str()));
        if let Some(more) = more {
            self.next = match self.client.request(more, Bytes::new()).await {
                Ok(next) => Pull::Have(next),
                Err(error) => Pull::Failed(unavailable(&self.subject, error)),
            };
        }
        Some((Ok(message.payload), self))
    }
}

/// Sends `request` to `endpoint` and decodes the (possibly chunked) reply.
/// Transport failures (no responder, timeout) come back as `Unavailable`.
pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
    client: &async_nats::Client,
    endpoint: Endpoint<Req, Resp>,
    request: &Req,
) -> Result<Resp, ServiceError> {
    let subject = endpoint.subject();
    let mut chunks = request_chunks(client, endpoint, request).await?;
    let mut reply = Vec::new();
    while let Some(chunk) = chunks.next().await {
        reply.extend_from_slice(&chunk?);
    }
    match serde_json::from_slice::<Reply<Resp>>(&reply) {
        Ok(Reply::Ok(value)) => Ok(value),
        Ok(Reply::Error(error)) => Err(error),
        Err(e) => Err(ServiceError::new(ErrorCode::Internal, format!("bad reply from {subject}: {e}"))),
    }
}
