//! Gateway tests against a real nats-server (private per test), a real
//! MariaDB (a database per test), real TLS and real HTTP clients.

mod common;
mod grpc;
mod openapi;
mod rest;
mod users;
