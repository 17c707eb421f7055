//! Serving a service's request/reply endpoints from a table of handlers.
//!
//! A service lists its endpoints once ([`EndpointTable::handle`] with the
//! typed [`Endpoint`] constants of `vigil_bus::subjects`), and the table
//! does the rest: the NATS `service` API registration (discoverable through
//! `$SRV.PING`/`INFO`/`STATS`, one queue group so one instance answers each
//! request), decoding, a `BadRequest` reply for a malformed request, and
//! replies of any size ([`vigil_bus::rpc`]).
//!
//! Invariants: every request gets a reply; a failing or panicking request
//! never stops the endpoint; at most [`CONCURRENT_REQUESTS`] requests of one
//! endpoint run at once; after shutdown, requests in hand are answered and
//! the service is stopped.

use std::future::Future;
use std::sync::Arc;

use async_nats::service::{endpoint::Endpoint as ServiceEndpoint, Request, ServiceExt};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use vigil_bus::messages::Reply;
use vigil_bus::rpc;
use vigil_bus::subjects::Endpoint;
use vigil_bus::{ErrorCode, ServiceError};

use crate::shutdown::CancellationToken;

/// Requests one endpoint handles at the same time.
pub const CONCURRENT_REQUESTS: usize = 16;

type Handler<S> = Arc<dyn Fn(Arc<S>, async_nats::Client, Request) -> BoxFuture<'static, ()> + Send + Sync>;

/// What a service answers, endpoint by endpoint; `S` is the state every
/// handler receives (the service's shared state).
pub struct EndpointTable<S> {
    group: &'static str,
    handlers: Vec<(&'static str, Handler<S>)>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the nats service {service:?} (endpoint {endpoint:?}): {message}")]
pub struct EndpointError {
    pub service: String,
    pub endpoint: String,
    pub message: String,
}

fn decode<Req: DeserializeOwned>(request: &Request) -> Result<Req, ServiceError> {
    serde_json::from_slice::<Req>(&request.message.payload).map_err(|error| {
        tracing::warn!(subject = %request.message.subject, error = %error, "malformed request");
        ServiceError::new(ErrorCode::BadRequest, format!("malformed request: {error}"))
    })
}

impl<S: Send + Sync + 'static> EndpointTable<S> {
    /// A table for the endpoints of `group` (e.g. `vigil.collector`).
    pub fn new(group: &'static str) -> Self {
        EndpointTable { group, handlers: Vec::new() }
    }

    /// Answers `endpoint` with `handler`, whose reply is sent whole (in
    /// chunks when it is larger than one bus message).
    pub fn handle<Req, Resp, F, Fut>(self, endpoint: Endpoint<Req, Resp>, handler: F) -> Self
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        F: Fn(Arc<S>, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, ServiceError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.stream(endpoint, move |state, client, request| {
            let handler = handler.clone();
            async move {
                let reply = handler(state, request).await?;
                Ok(rpc::chunks(rpc::encode(&Reply::Ok(reply)), rpc::chunk_limit(&client)))
            }
        })
    }

    /// Answers `endpoint` with a reply `handler` produces chunk by chunk (a
    /// large read, encoded as its rows arrive). The chunks, concatenated,
    /// must be the JSON of `Reply<Resp>`; an `Err` before the stream is the
    /// reply.
    pub fn stream<Req, Resp, F, Fut, St>(mut self, endpoint: Endpoint<Req, Resp>, handler: F) -> Self
    where
        Req: DeserializeOwned + Send + 'static,
        F: Fn(Arc<S>, async_nats::Client, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<St, ServiceError>> + Send + 'static,
        St: Stream<Item = Result<Bytes, ServiceError>> + Send + 'static,
    {
        debug_assert_eq!(endpoint.group, self.group, "{endpoint:?} is not of group {}", self.group);
        let handler = Arc::new(handler);
        self.handlers.push((
            endpoint.name,
            Arc::new(move |state, client, request| {
                let handler = handler.clone();
                async move {
                    let chunks = match decode::<Req>(&request) {
                        Ok(decoded) => handler(state, client.clone(), decoded).await,
                        Err(error) => Err(error),
                    };
                    match chunks {
                        Ok(chunks) => rpc::respond_stream(&client, &request, chunks).await,
                        Err(error) => rpc::respond(&client, &request, rpc::encode(&Reply::<()>::Error(error))).await,
                    }
                }
                .boxed()
            }),
        ));
        self
    }

    /// Registers the service `service_name` and subscribes every endpoint;
    /// requests wait in their subscriptions until [`Serving::serve`] runs.
    /// When this returns, the endpoints are reachable (one round trip to the
    /// server after subscribing).
    pub async fn start(
        self,
        nats: &async_nats::Client,
        service_name: &str,
        description: &str,
        queue_group: &str,
        state: Arc<S>,
    ) -> Result<Serving<S>, crate::setup::SetupError> {
        let error = |endpoint: &str, message: String| EndpointError {
            service: service_name.to_owned(),
            endpoint: endpoint.to_owned(),
            message,
        };
        let service = nats
            .service_builder()
            .description(description)
            .queue_group(queue_group)
            .start(service_name, env!("CARGO_PKG_VERSION"))
            .await
            .map_err(|e| error("", e.to_string()))?;
        let group = service.group(self.group);
        let mut endpoints = Vec::with_capacity(self.handlers.len());
        for (name, handler) in self.handlers {
            let subscription = group
                .endpoint_builder()
                .name(name)
                .add(name)
                .await
                .map_err(|e| error(&format!("{}.{name}", self.group), e.to_string()))?;
            endpoints.push((subscription, handler));
        }
        nats.flush().await.map_err(|e| error(self.group, format!("cannot flush the subscriptions: {e}")))?;
        // `flush` only writes the socket: a request is answered after the
        // server processed what was sent before it
        nats.request("$SRV.PING", Bytes::new()).await.map_err(|e| error(self.group, format!("no round trip to nats: {e}")))?;
        Ok(Serving { service, endpoints, nats: nats.clone(), state })
    }
}

/// A service whose endpoints are subscribed, ready to answer.
pub struct Serving<S> {
    service: async_nats::service::Service,
    endpoints: Vec<(ServiceEndpoint, Handler<S>)>,
    nats: async_nats::Client,
    state: Arc<S>,
}

impl<S: Send + Sync + 'static> Serving<S> {
    /// Answers requests until `shutdown`, then stops the service (its
    /// subscriptions end after the requests in hand are answered).
    pub async fn serve(self, shutdown: CancellationToken) {
        let Serving { service, endpoints, nats, state } = self;
        let mut tasks = tokio::task::JoinSet::new();
        for (requests, handler) in endpoints {
            let (nats, state) = (nats.clone(), state.clone());
            tasks.spawn(requests.for_each_concurrent(CONCURRENT_REQUESTS, move |request| {
                let subject = request.message.subject.clone();
                let answer = handler(state.clone(), nats.clone(), request);
                async move {
                    // a panicking handler costs its request, not the endpoint
                    if let Err(panic) = tokio::spawn(answer).await {
                        tracing::error!(%subject, error = %panic, "request handler panicked");
                    }
                }
            }));
        }
        shutdown.cancelled().await;
        if let Err(error) = service.stop().await {
            tracing::warn!(error = %error, "cannot stop the nats service cleanly");
        }
        while tasks.join_next().await.is_some() {}
    }
}
