//! A tiny HTTP/1.1 server on a unix socket standing in for the Docker,
//! Podman and Incus engines: it serves the recorded responses of
//! `tests/fixtures/` by `METHOD path` or by path (query included), with
//! any status, and can answer garbage or never answer. It records each
//! request's method, path and body.

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
    /// This status with this body (Content-Length; none for 204 and 304).
    Status(u16, String),
    /// Accept the request and never answer.
    Hang,
    /// Bytes that are not HTTP, then close.
    Garbage,
}

/// A request as received: (method, path, body).
pub type Request = (String, String, Vec<u8>);

pub struct Engine {
    pub socket: PathBuf,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
    /// (method, path, body) of every request.
    pub full: Arc<Mutex<Vec<Request>>>,
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
        let full: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (routes_task, requests_task, full_task) = (routes.clone(), requests.clone(), full.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let routes = routes_task.clone();
                let requests = requests_task.clone();
                let full = full_task.clone();
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buffer = [0u8; 1024];
                    let head_end = loop {
                        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end + 4;
                        }
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buffer[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                        .and_then(|value| value.parse().ok())
                        .unwrap_or(0);
                    while raw.len() < head_end + length {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let body = raw[head_end..head_end + length].to_vec();
                    let method = head.split_whitespace().next().unwrap_or_default().to_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    requests.lock().unwrap().push(path.clone());
                    full.lock().unwrap().push((method.clone(), path.clone(), body));
                    let reply = {
                        let routes = routes.lock().unwrap();
                        routes.get(&format!("{method} {path}")).or_else(|| routes.get(&path)).or_else(|| routes.get("*")).cloned()
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
                        Some(Reply::Status(status, body)) => {
                            let length =
                                if status == 204 || status == 304 { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
                            format!("HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n{length}\r\n{body}").into_bytes()
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
        Engine { socket, routes, requests, full, task }
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

    /// (method, path, body) of every request so far.
    pub fn full_requests(&self) -> Vec<Request> {
        self.full.lock().unwrap().clone()
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
