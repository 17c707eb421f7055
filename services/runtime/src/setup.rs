//! What a service sets up on the bus at build — the JetStream streams, its
//! durable consumers, its endpoints — and the one error for all of it, so a
//! service's own error enum has one `Setup` variant instead of three.

use async_nats::jetstream::{self, consumer::PullConsumer};
use vigil_bus::error::HasErrorCode;
use vigil_bus::ErrorCode;

use crate::endpoints::EndpointError;

/// Why a service could not set up its part of the bus.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Streams(#[from] vigil_bus::streams::StreamSetupError),
    #[error("cannot create the durable consumer {consumer:?} on stream {stream:?}: {source}; check that nats-server runs with jetstream enabled")]
    Consumer { stream: String, consumer: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(transparent)]
    Endpoints(#[from] EndpointError),
}

/// The bus is not there or not as expected: retry later.
impl HasErrorCode for SetupError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Unavailable
    }
}

/// Creates the streams if absent and brings their config up to date.
pub async fn ensure_streams(jetstream: &jetstream::Context) -> Result<(), SetupError> {
    Ok(vigil_bus::streams::ensure_streams(jetstream).await?)
}

/// The durable pull consumer `config.durable_name` on `stream`, created
/// when absent.
pub async fn durable_consumer(
    jetstream: &jetstream::Context,
    stream: &str,
    config: jetstream::consumer::pull::Config,
) -> Result<PullConsumer, SetupError> {
    let name = config.durable_name.clone().unwrap_or_default();
    let error = |source: Box<dyn std::error::Error + Send + Sync>| SetupError::Consumer {
        stream: stream.to_owned(),
        consumer: name.clone(),
        source,
    };
    let found = jetstream.get_stream(stream).await.map_err(|e| error(Box::new(e)))?;
    found.get_or_create_consumer(&name, config).await.map_err(|e| error(Box::new(e)))
}
