//! The collector's request/reply endpoints, served with the async-nats
//! `service` API (group `vigil.collector`, queue group `collector`, so with
//! several collectors exactly one answers each request).
//!
//! Invariants: every request gets a `Reply<T>` (a malformed one gets a
//! `BadRequest` error reply); a failing request never stops the endpoint.

use std::sync::Arc;

use async_nats::service::{endpoint::Endpoint as ServiceEndpoint, Request, Service, ServiceExt};
use futures::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use vigil_bus::messages::Reply;
use vigil_bus::rpc::encode;
use vigil_bus::subjects::{collector, Endpoint};
use vigil_bus::{ErrorCode, ServiceError};

use crate::{downsample, hosts, inventory, metrics, CollectorError, Shared};

/// Requests one endpoint handles at the same time.
const CONCURRENT_REQUESTS: usize = 16;

/// Starts the service and subscribes every endpoint. Requests queue in the
/// subscriptions until [`serve`] runs.
pub(crate) async fn start_service(
    nats: &async_nats::Client,
) -> Result<(Service, Vec<(Endpoint, ServiceEndpoint)>), CollectorError> {
    let service = nats
        .service_builder()
        .description("vigil collector: hosts, stored metrics and inventory")
        .queue_group(collector::QUEUE_GROUP)
        .start(collector::SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| CollectorError::Service {
            name: collector::SERVICE_NAME.to_owned(),
            endpoint: String::new(),
            message: e.to_string(),
        })?;
    let group = service.group(collector::GROUP);
    let mut endpoints = Vec::with_capacity(collector::ALL.len());
    for endpoint in collector::ALL {
        let stream =
            group.endpoint_builder().name(endpoint.name).add(endpoint.name).await.map_err(|e| CollectorError::Service {
                name: collector::SERVICE_NAME.to_owned(),
                endpoint: endpoint.subject(),
                message: e.to_string(),
            })?;
        endpoints.push((endpoint, stream));
    }
    Ok((service, endpoints))
}

/// Answers the requests of one endpoint until the service stops (its
/// subscription then ends, after the requests in hand are answered).
pub(crate) async fn serve(shared: Arc<Shared>, endpoint: Endpoint, requests: ServiceEndpoint) {
    requests
        .for_each_concurrent(CONCURRENT_REQUESTS, |request| {
            let shared = shared.clone();
            async move { answer(&shared, endpoint, request).await }
        })
        .await;
}

async fn answer(shared: &Shared, endpoint: Endpoint, request: Request) {
    let payload = if endpoint == collector::REGISTER_HOST {
        reply(&request, |r| hosts::register(shared, r)).await
    } else if endpoint == collector::LIST_HOSTS {
        reply(&request, |r| hosts::list(&shared.pool, r)).await
    } else if endpoint == collector::GET_HOST {
        reply(&request, |r| hosts::get(&shared.pool, r)).await
    } else if endpoint == collector::METRICS_RANGE {
        // streamed: rows are encoded and sent as the requester pulls them
        let chunk_bytes = vigil_bus::rpc::chunk_limit(&shared.nats);
        match serde_json::from_slice(&request.message.payload) {
            Ok(range) => match metrics::range(&shared.pool, range, chunk_bytes).await {
                Ok(chunks) => return vigil_bus::rpc::respond_stream(&shared.nats, &request, chunks).await,
                Err(error) => encode(&Reply::<()>::Error(error)),
            },
            Err(error) => {
                tracing::warn!(subject = %request.message.subject, error = %error, "malformed request");
                encode(&Reply::<()>::Error(ServiceError::new(ErrorCode::BadRequest, format!("malformed request: {error}"))))
            }
        }
    } else if endpoint == collector::METRICS_LATEST {
        reply(&request, |r| metrics::latest(&shared.pool, r)).await
    } else if endpoint == collector::METRICS_HOURLY {
        reply(&request, |r| downsample::hourly(&shared.pool, r)).await
    } else if endpoint == collector::HOST_CONTAINERS {
        reply(&request, |r| inventory::host_containers(&shared.pool, r)).await
    } else if endpoint == collector::LIST_CONTAINERS {
        reply(&request, |r| inventory::list_containers(&shared.pool, r)).await
    } else if endpoint == collector::GET_CONTAINER {
        reply(&request, |r| inventory::get_container(&shared.pool, r)).await
    } else if endpoint == collector::CONTAINER_RANGE {
        reply(&request, |r| inventory::container_range(&shared.pool, r)).await
    } else if endpoint == collector::HOST_SERVICES {
        reply(&request, |r| inventory::host_services(&shared.pool, r)).await
    } else if endpoint == collector::CUSTOM_RANGE {
        reply(&request, |r| inventory::custom_range(&shared.pool, r)).await
    } else if endpoint == collector::CUSTOM_LATEST {
        reply(&request, |r| inventory::custom_latest(&shared.pool, r)).await
    } else {
        encode(&Reply::<()>::Error(ServiceError::new(ErrorCode::Internal, format!("no handler for {}", endpoint.subject()))))
    };
    // in chunks when the reply does not fit one bus message
    vigil_bus::rpc::respond(&shared.nats, &request, payload).await;
}

async fn reply<Req, Resp, F, Fut>(request: &Request, handler: F) -> bytes::Bytes
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, ServiceError>>,
{
    let result = match serde_json::from_slice::<Req>(&request.message.payload) {
        Ok(decoded) => handler(decoded).await,
        Err(error) => {
            tracing::warn!(subject = %request.message.subject, error = %error, "malformed request");
            Err(ServiceError::new(ErrorCode::BadRequest, format!("malformed request: {error}")))
        }
    };
    encode(&Reply::from(result))
}
