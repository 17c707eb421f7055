//! Agent downloads, without authentication (seed §3.2, §7.2):
//!
//! - `GET /downloads/sovigilant-<os>-<arch>`: an agent build
//!   (`application/octet-stream`), from [`GatewayConfig::downloads_dir`];
//! - `GET /downloads/sovigilant-<os>-<arch>.json`: its manifest (version,
//!   SHA-256, size, Ed25519 signature by the release key);
//! - `GET /downloads/release.pub`: the release public key (base64), which
//!   `sovigilant init` pins;
//! - `GET /downloads/ca.pem`: the CA agents trust for gRPC;
//! - `GET /install.sh`: the installer script (seed §7.2, adapted).
//!
//! Invariants: only names accepted by [`release::parse_artifact`] (exactly
//! `sovigilant-<os>-<arch>[.json]`, `[a-z0-9_]` parts) are read, and only as
//! direct children of the downloads directory; any other path under
//! `/downloads/` is a 404 (never the dashboard's fallback). Nothing here needs
//! a secret: the binaries are verified by their signature and SHA-256 on the
//! agent, so serving them over plain HTTP gives an attacker nothing to forge.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use vigil_bus::release::{self, Artifact};

use crate::GatewayConfig;

/// What the download routes serve.
#[derive(Debug, Clone, Default)]
struct Downloads {
    dir: Option<PathBuf>,
    ca_pem: Option<String>,
    release_public_key: Option<String>,
    actions_public_key: Option<String>,
}

type AppState = Arc<Downloads>;

/// The `/downloads/…` and `/install.sh` routes.
pub(crate) fn router(config: &GatewayConfig) -> Router {
    let state = Arc::new(Downloads {
        dir: config.downloads_dir.clone(),
        ca_pem: config.ca_pem.clone(),
        release_public_key: config.release_public_key.clone(),
        actions_public_key: config.actions_public_key.clone(),
    });
    Router::new()
        .route("/install.sh", get(install_script))
        .route("/downloads", get(not_found_root))
        .route("/downloads/", get(not_found_root))
        .route("/downloads/{*name}", get(download))
        .with_state(state)
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn not_found(name: &str) -> Response {
    plain(StatusCode::NOT_FOUND, format!("no download named {name:?}\n"))
}

async fn not_found_root() -> Response {
    not_found("")
}

fn file(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn download(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match name.as_str() {
        release::PUBLIC_KEY_FILE => {
            return match &state.release_public_key {
                Some(key) => file("text/plain; charset=utf-8", format!("{key}\n")),
                None => not_found(&name),
            }
        }
        vigil_bus::actions::PUBLIC_KEY_FILE => {
            return match &state.actions_public_key {
                Some(key) => file("text/plain; charset=utf-8", format!("{key}\n")),
                None => not_found(&name),
            }
        }
        release::CA_FILE => {
            return match &state.ca_pem {
                Some(pem) => file("application/x-pem-file", pem.clone()),
                None => not_found(&name),
            }
        }
        _ => {}
    }
    let (Some(artifact), Some(dir)) = (release::parse_artifact(&name), state.dir.as_ref()) else {
        return not_found(&name);
    };
    let content_type = match artifact {
        Artifact::Binary { .. } => "application/octet-stream",
        Artifact::Manifest { .. } => "application/json",
    };
    // `name` passed parse_artifact: one path component, no `/` or `..`
    let path = dir.join(&name);
    match tokio::fs::read(&path).await {
        Ok(bytes) => file(content_type, bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => not_found(&name),
        Err(error) => {
            tracing::error!(path = %path.display(), error = %error, "cannot read a download");
            plain(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {name}; see the gateway log\n"))
        }
    }
}

/// `true` for a `Host` header safe to paste into a shell script:
/// `name[:port]` or `[v6]:port` made of `[A-Za-z0-9.-:[]]`.
fn safe_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && !host.starts_with(['-', '.', ':'])
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

async fn install_script(headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).filter(|host| safe_host(host));
    let base_url = match host {
        Some(host) => format!("http://{host}"),
        None => "http://${SERVER_HOST}:8080".to_owned(),
    };
    file("text/x-shellscript; charset=utf-8", render_install_script(&base_url))
}

/// The installer; `base_url` is the default gateway HTTP base URL (shell
/// syntax allowed; already checked to hold no quote or space).
fn render_install_script(base_url: &str) -> String {
    INSTALL_SH.replace("@BASE_URL@", base_url)
}

const INSTALL_SH: &str = r#"#!/bin/sh
# sovigilant installer, served by the Vigil gateway at /install.sh.
#
#   curl -fsSL http://GATEWAY:8080/install.sh | sh -s -- SERVER[:GRPC_PORT] TOKEN
#
# Downloads the agent build for this machine from the gateway, checks its
# SHA-256 against the manifest, fetches the gateway's CA, writes the config
# with `sovigilant init` (which also pins the release key `sovigilant update`
# verifies new builds with) and installs the service (systemd or OpenRC).
#
# Environment: VIGIL_HTTP_URL (gateway HTTP base URL, default @BASE_URL@),
# PREFIX (default /usr/local/bin), CONFIG_DIR (default /etc/sovigilant),
# STATE_DIR (default /var/lib/sovigilant), NO_SERVICE=1 (do not install or
# start the service).
set -eu

usage="usage: install.sh SERVER[:GRPC_PORT] TOKEN"
VIGIL_SERVER="${1:?$usage}"
VIGIL_TOKEN="${2:?$usage}"
case "$VIGIL_SERVER" in
    *:*) ADDRESS="$VIGIL_SERVER"; SERVER_HOST="${VIGIL_SERVER%:*}" ;;
    *) ADDRESS="$VIGIL_SERVER:9090"; SERVER_HOST="$VIGIL_SERVER" ;;
esac
BASE_URL="${VIGIL_HTTP_URL:-@BASE_URL@}"
BASE_URL="${BASE_URL%/}"
PREFIX="${PREFIX:-/usr/local/bin}"
CONFIG_DIR="${CONFIG_DIR:-/etc/sovigilant}"
STATE_DIR="${STATE_DIR:-/var/lib/sovigilant}"
OS="$(uname -s | tr 'A-Z' 'a-z')"
ARCH="$(uname -m)"
NAME="sovigilant-$OS-$ARCH"

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        echo "install.sh: neither curl nor wget is installed" >&2
        exit 1
    fi
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "Downloading $BASE_URL/downloads/$NAME"
if ! fetch "$BASE_URL/downloads/$NAME.json" "$TMP/manifest.json"; then
    echo "install.sh: the gateway has no agent build for $OS-$ARCH (publish one with: vigil release add --os $OS --arch $ARCH --version VERSION PATH)" >&2
    exit 1
fi
fetch "$BASE_URL/downloads/$NAME" "$TMP/sovigilant"
expected="$(tr -d ' \n\r\t' < "$TMP/manifest.json" | sed -n 's/.*"sha256":"\([0-9a-f]\{64\}\)".*/\1/p')"
actual="$(sha256sum "$TMP/sovigilant" | cut -d ' ' -f 1)"
if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    echo "install.sh: SHA-256 mismatch for $NAME (manifest: ${expected:-none}, download: $actual); nothing installed" >&2
    exit 1
fi
echo "SHA-256 OK ($actual)"

mkdir -p "$PREFIX" "$CONFIG_DIR"
# copy next to the target, then rename: a running sovigilant is never overwritten in place
cp "$TMP/sovigilant" "$PREFIX/.sovigilant.new"
chmod 0755 "$PREFIX/.sovigilant.new"
mv -f "$PREFIX/.sovigilant.new" "$PREFIX/sovigilant"
echo "Installed $PREFIX/sovigilant"

CA_ARGS=""
if fetch "$BASE_URL/downloads/ca.pem" "$TMP/ca.pem"; then
    cp "$TMP/ca.pem" "$CONFIG_DIR/ca.pem"
    CA_ARGS="--ca-cert $CONFIG_DIR/ca.pem"
else
    echo "install.sh: the gateway serves no CA; the agent will trust the system's roots" >&2
fi

if [ -f "$CONFIG_DIR/config.yaml" ]; then
    echo "Keeping the existing $CONFIG_DIR/config.yaml"
else
    # shellcheck disable=SC2086
    "$PREFIX/sovigilant" --config "$CONFIG_DIR/config.yaml" init --server "$ADDRESS" --token "$VIGIL_TOKEN" \
        --http-url "$BASE_URL" --state-dir "$STATE_DIR" $CA_ARGS \
        || echo "install.sh: registration did not succeed yet; the agent keeps trying when it runs" >&2
fi

if [ "${NO_SERVICE:-0}" = "1" ]; then
    echo "Not installing the service (NO_SERVICE=1); start the agent with: $PREFIX/sovigilant --config $CONFIG_DIR/config.yaml run"
    exit 0
fi
"$PREFIX/sovigilant" --config "$CONFIG_DIR/config.yaml" install-service --binary "$PREFIX/sovigilant"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable sovigilant
    systemctl restart sovigilant
elif [ -d /run/openrc ]; then
    rc-update add sovigilant default
    rc-service sovigilant restart
fi
echo "sovigilant is installed; check it with: $PREFIX/sovigilant --config $CONFIG_DIR/config.yaml status"
"#;

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::TlsMaterial;

    struct Fixture {
        _dir: tempfile::TempDir,
        router: Router,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sovigilant-linux-x86_64"), b"\x7fELF binary").unwrap();
        std::fs::write(dir.path().join("sovigilant-linux-x86_64.json"), br#"{"version":"1.2.3"}"#).unwrap();
        std::fs::write(dir.path().join("release.key"), b"secret").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not a download").unwrap();
        let mut config =
            GatewayConfig::new(vec![0; 32], TlsMaterial { cert_chain_pem: String::new(), private_key_pem: String::new() });
        config.downloads_dir = Some(dir.path().to_owned());
        config.ca_pem = Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into());
        config.release_public_key = Some("cHVibGljLWtleQ==".into());
        Fixture { router: router(&config), _dir: dir }
    }

    async fn get(router: &Router, uri: &str, host: Option<&str>) -> (StatusCode, String, Vec<u8>) {
        let mut request = Request::get(uri);
        if let Some(host) = host {
            request = request.header(header::HOST, host);
        }
        let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap().to_vec();
        (status, content_type, body)
    }

    #[tokio::test]
    async fn binary_manifest_key_and_ca_are_served_with_their_types() {
        let f = fixture();
        let (status, content_type, body) = get(&f.router, "/downloads/sovigilant-linux-x86_64", None).await;
        assert_eq!(
            (status, content_type.as_str(), body.as_slice()),
            (StatusCode::OK, "application/octet-stream", &b"\x7fELF binary"[..])
        );
        let (status, content_type, body) = get(&f.router, "/downloads/sovigilant-linux-x86_64.json", None).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
        assert_eq!(body, br#"{"version":"1.2.3"}"#);
        let (status, _, body) = get(&f.router, "/downloads/release.pub", None).await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"cHVibGljLWtleQ==\n"[..]));
        let (status, content_type, body) = get(&f.router, "/downloads/ca.pem", None).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/x-pem-file"));
        assert!(body.starts_with(b"-----BEGIN CERTIFICATE-----"));
    }

    #[tokio::test]
    async fn unknown_names_and_traversal_are_not_found() {
        let f = fixture();
        for uri in [
            "/downloads/release.key",
            "/downloads/notes.txt",
            "/downloads/../release.key",
            "/downloads/..%2Frelease.key",
            "/downloads/sovigilant-linux-x86_64/..",
            "/downloads/%2E%2E/outside-sovigilant-linux-x86_64",
            "/downloads/sub/sovigilant-linux-x86_64",
            "/downloads/sovigilant-linux-aarch64",
            "/downloads/sovigilant-Linux-x86_64",
            "/downloads/",
            "/downloads",
        ] {
            let (status, _, body) = get(&f.router, uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {}", String::from_utf8_lossy(&body));
        }
    }

    #[tokio::test]
    async fn nothing_is_served_without_a_downloads_dir_key_or_ca() {
        let config =
            GatewayConfig::new(vec![0; 32], TlsMaterial { cert_chain_pem: String::new(), private_key_pem: String::new() });
        let router = router(&config);
        for uri in ["/downloads/sovigilant-linux-x86_64", "/downloads/release.pub", "/downloads/ca.pem"] {
            assert_eq!(get(&router, uri, None).await.0, StatusCode::NOT_FOUND, "{uri}");
        }
        // the script itself is always there
        assert_eq!(get(&router, "/install.sh", None).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn install_script_downloads_verifies_and_initialises_from_this_gateway() {
        let f = fixture();
        let (status, content_type, body) = get(&f.router, "/install.sh", Some("gw.example.com:8080")).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/x-shellscript; charset=utf-8"));
        let script = String::from_utf8(body).unwrap();
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains(r#"BASE_URL="${VIGIL_HTTP_URL:-http://gw.example.com:8080}""#), "{script}");
        assert!(script.contains(r#"NAME="sovigilant-$OS-$ARCH""#));
        assert!(script.contains("uname -s | tr 'A-Z' 'a-z'"));
        assert!(script.contains("sha256sum"));
        assert!(script.contains("/downloads/ca.pem"));
        assert!(script.contains("init --server \"$ADDRESS\" --token \"$VIGIL_TOKEN\""));
        assert!(script.contains("install-service"));
        // the shell accepts it
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("install.sh");
        std::fs::write(&path, &script).unwrap();
        let check = std::process::Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(check.status.success(), "sh -n: {}", String::from_utf8_lossy(&check.stderr));
    }

    #[tokio::test]
    async fn install_script_ignores_a_host_header_that_could_inject_shell() {
        let f = fixture();
        let (_, _, body) = get(&f.router, "/install.sh", Some("evil$(reboot)")).await;
        let script = String::from_utf8(body).unwrap();
        assert!(!script.contains("reboot"));
        assert!(script.contains(r#"BASE_URL="${VIGIL_HTTP_URL:-http://${SERVER_HOST}:8080}""#));
    }
}
