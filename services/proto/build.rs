//! Compiles `proto/vigil.proto` with protox (pure Rust), so no system `protoc`
//! is needed.
fn main() {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let proto_file = format!("{proto_dir}/vigil.proto");
    println!("cargo:rerun-if-changed={proto_file}");
    let file_descriptors =
        protox::compile([&proto_file], [proto_dir]).unwrap_or_else(|error| panic!("cannot compile {proto_file}: {error}"));
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // the rpc `Connect` would clash with the generated `connect()` constructor;
        // clients build their own `Channel` (with TLS) and call `new(channel)`.
        .build_transport(false)
        .compile_fds(file_descriptors)
        .unwrap_or_else(|error| panic!("cannot generate code for {proto_file}: {error}"));
}
