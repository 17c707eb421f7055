//! A tiny HTTP/1.1 server on a unix socket standing in for the Docker,
//! Podman and Incus engines: it serves the recorded responses of
//! `tests/fixtures/` by request path (query included), and can answer
//! garbage or never answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with Content-Length.
    Json(String),
    /// 200 with Transfer-Encoding: chunked (in 100-byte chunks).
    Chunked(String),
    /// Accept the request and never answer.
    Hang,
    /// Bytes that are not HTTP, then close.
    Garbage,
}

pub struct Engine {
    pub socket: PathBuf,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

impl Engine {
    pub async fn start(socket: PathBuf) -> Engine {
        let listener = UnixListener::bind(&socket).unwrap();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (routes_task, requests_task) = (routes.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let routes = routes_task.clone();
                let requests = requests_task.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    requests.lock().unwrap().push(path.clone());
                    let reply = {
                        let routes = routes.lock().unwrap();
                        routes.get(&path).or_else(|| routes.get("*")).cloned()
                    };
                    let response = match reply {
                        Some(Reply::Json(body)) => format!(
                            "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .into_bytes(),
                        Some(Reply::Chunked(body)) => {
                            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                            for chunk in body.as_bytes().chunks(100) {
                                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                                out.extend_from_slice(chunk);
                                out.extend_from_slice(b"\r\n");
                            }
                            out.extend_from_slice(b"0\r\n\r\n");
                            out
                        }
                        Some(Reply::Hang) => {
                            std::future::pending::<()>().await;
                            return;
                        }
                        Some(Reply::Garbage) => b"\x00\x01this is not http at all\r\n\r\n".to_vec(),
                        None => {
                            let body = format!("{{\"message\":\"page not found: {path}\"}}");
                            format!("HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
                        }
                    };
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Engine { socket, routes, requests, task }
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub fn remove(&self, path: &str) {
        self.routes.lock().unwrap().remove(path);
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const LIST: &str = "/containers/json?all=1&size=1";
pub const INCUS_LIST: &str = "/1.0/instances?recursion=2";

pub fn stats_path(id: &str) -> String {
    format!("/containers/{id}/stats?stream=false")
}

/// A Docker engine serving the v1.43 fixtures (stats chunked, like dockerd).
pub async fn docker_v143(socket: PathBuf) -> Engine {
    let engine = Engine::start(socket).await;
    engine.set(LIST, Reply::Json(fixture("docker-v1.43-containers.json")));
    engine.set(
        &stats_path("8dfafdbc3a40d5ad2b3b6d1f6c0c2e6f0a1b8d9c4e5f6a7b8c9d0e1f2a3b4c5d"),
        Reply::Chunked(fixture("docker-v1.43-stats-web.json")),
    );
    engine
}
