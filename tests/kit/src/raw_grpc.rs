//! Puts arbitrary bytes on the wire as gRPC messages of `Connect`: how tests
//! send what no generated client would (garbage, truncated protobuf).

use std::time::Duration;

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Opens `Connect` as agent `host_id` with `token`, sends `payload` as one
/// message, and returns how the stream ended (`Ok` status if it just closed).
pub async fn connect_and_send_raw(
    channel: tonic::transport::Channel,
    token: &str,
    host_id: &str,
    payload: Vec<u8>,
) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    let mut request = tonic::Request::new(tokio_stream::iter(vec![payload]));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii token"));
    request.metadata_mut().insert(vigil_proto::HOST_ID_METADATA, host_id.parse().expect("ascii host id"));
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/vigil.VigilService/Connect");
    match grpc.streaming(request, path, RawCodec).await {
        Err(status) => status,
        Ok(response) => {
            let mut replies = response.into_inner();
            loop {
                match tokio::time::timeout(Duration::from_secs(10), replies.message()).await.expect("an answer within 10s") {
                    Err(status) => return status,
                    Ok(Some(_)) => continue,
                    Ok(None) => return tonic::Status::ok("stream ended"),
                }
            }
        }
    }
}
