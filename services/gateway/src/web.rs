//! Serves the dashboard embedded at build time (`build.rs` includes every file
//! of `dashboard/dist/`, with a gzip copy of each compressible one).
//!
//! Rules (dashboard/README.md):
//! - a known file is served with its content type; `/assets/*` (hashed names)
//!   as `public, max-age=31536000, immutable`, everything else `no-cache`;
//! - a file with a gzip copy is sent gzipped (`Content-Encoding: gzip`) when
//!   the request's `Accept-Encoding` allows gzip, as is otherwise; its answers
//!   carry `Vary: Accept-Encoding` either way, so shared caches keep both;
//! - every file has a strong `ETag` (its hash; the gzip copy's ends in
//!   `-gz`), and a matching `If-None-Match` is answered `304`;
//! - any other GET/HEAD path outside `/api/*` and `/ws` gets `index.html`
//!   (the SPA's router decides), except a missing `/assets/*` file: 404;
//! - `/api/*` is never answered here (the REST router's JSON 404 stays);
//! - without a built dashboard, every page is a short HTML explanation of how
//!   to build it.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use vigil_bus::ErrorCode;

use crate::error::ApiError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

use embedded::Asset;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

const NOT_BUILT: &str =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Vigil: dashboard not built</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5\">\
<h1>The dashboard was not built</h1>\
<p>This gateway was compiled without <code>dashboard/dist/</code>, so it has no web app to serve. \
The REST API (<code>/api</code>) and live updates (<code>/ws</code>) work.</p>\
<p>Build the dashboard, then the gateway again:</p>\
<pre>cd dashboard &amp;&amp; npm install &amp;&amp; npm run build\ncd .. &amp;&amp; cargo build --release -p vigil</pre>\
<p><code>scripts/up</code> does both.</p></body></html>\n";

fn find(path: &str) -> Option<&'static Asset> {
    embedded::ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &embedded::ASSETS[i])
}

/// Whether `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) with a
/// non-zero q, or `*` with a non-zero q when gzip is not refused by name.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut star = false;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => named = Some(named.unwrap_or(false) || q > 0.0),
                "*" => star = q > 0.0,
                _ => {}
            }
        }
    }
    named.unwrap_or(star)
}

/// The representation chosen for a request: body, encoding and validator.
struct Chosen {
    body: &'static [u8],
    gzip: bool,
    etag: Option<String>,
    /// The file has a gzip copy: the answer depends on Accept-Encoding.
    varies: bool,
}

fn choose(asset: &'static Asset, headers: &HeaderMap) -> Chosen {
    match asset.gzip {
        Some(gz) if accepts_gzip(headers) => {
            let etag = format!("{}-gz\"", asset.etag.trim_end_matches('"'));
            Chosen { body: gz, gzip: true, etag: Some(etag), varies: true }
        }
        other => Chosen { body: asset.bytes, gzip: false, etag: Some(asset.etag.to_owned()), varies: other.is_some() },
    }
}

/// `If-None-Match` lists this ETag (or `*`); weak comparison, as RFC 9110 asks for GET.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| value.split(',').any(|candidate| candidate.trim() == "*" || strip(candidate) == strip(etag)))
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    chosen: Chosen,
    request: &HeaderMap,
    head: bool,
) -> Response {
    let fresh = status == StatusCode::OK && chosen.etag.as_deref().is_some_and(|etag| not_modified(request, etag));
    let (status, send_body) = if fresh { (StatusCode::NOT_MODIFIED, false) } else { (status, !head) };
    let mut response = if send_body { (status, chosen.body).into_response() } else { status.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if chosen.gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if chosen.varies {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(etag) = chosen.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    if head && !fresh {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(chosen.body.len()));
    }
    if fresh {
        headers.remove(header::CONTENT_LENGTH);
    }
    response
}

fn plain(body: &'static [u8]) -> Chosen {
    Chosen { body, gzip: false, etag: None, varies: false }
}

fn json_not_found(path: &str) -> Response {
    ApiError::new(ErrorCode::NotFound, format!("no route {path}")).into_response()
}

pub(crate) async fn serve(method: Method, uri: Uri, request: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path == "/ws" {
        return json_not_found(path);
    }
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        let message = format!("{method} {path} is not allowed; the dashboard answers GET");
        let mut response = ApiError::with_status(StatusCode::METHOD_NOT_ALLOWED, message).into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if !embedded::BUILT {
        return respond(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, plain(NOT_BUILT.as_bytes()), &request, head);
    }
    if let Some(asset) = find(path) {
        let cache = if path.starts_with("/assets/") { IMMUTABLE } else { NO_CACHE };
        return respond(StatusCode::OK, asset.content_type, cache, choose(asset, &request), &request, head);
    }
    if path.starts_with("/assets/") {
        return respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", NO_CACHE, plain(b"no such asset\n"), &request, head);
    }
    match find("/index.html") {
        Some(asset) => respond(StatusCode::OK, asset.content_type, NO_CACHE, choose(asset, &request), &request, head),
        None => respond(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, plain(NOT_BUILT.as_bytes()), &request, head),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    /// The dashboard fallback alone, as the gateway's router ends.
    fn router() -> axum::Router {
        axum::Router::new().fallback(serve)
    }

    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn send(request: Request<Body>) -> Response {
        router().oneshot(request).await.unwrap()
    }

    async fn get(path: &str) -> Response {
        send(Request::get(path).body(Body::empty()).unwrap()).await
    }

    async fn get_with(path: &str, name: header::HeaderName, value: &str) -> Response {
        send(Request::get(path).header(name, value).body(Body::empty()).unwrap()).await
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap().to_vec()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a valid gzip stream");
        out
    }

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_q_values() {
        for yes in
            ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5", "GZIP", "x-gzip", "*", "deflate, *;q=0.1", "gzip;q=0.001"]
        {
            assert!(accepts_gzip(&accept(yes)), "{yes}");
        }
        for no in ["", "identity", "br", "gzip;q=0", "gzip;q=0.0, br", "*;q=0", "*, gzip;q=0", "deflate"] {
            assert!(!accepts_gzip(&accept(no)), "{no:?}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()), "no header: identity");
    }

    #[tokio::test]
    async fn spa_paths_get_index_html_without_caching() {
        for path in ["/", "/login", "/hosts/h-1", "/settings"] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, header::CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
            assert_eq!(header(&response, header::CACHE_CONTROL), NO_CACHE, "{path}");
        }
    }

    #[tokio::test]
    async fn api_and_ws_paths_are_never_the_spa() {
        for path in ["/api", "/api/nope", "/ws"] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&response, header::CONTENT_TYPE), "application/json", "{path}");
        }
    }

    #[tokio::test]
    async fn embedded_files_have_their_types_and_cache_rules() {
        if !embedded::BUILT {
            let response = get("/").await;
            let body = body(response).await;
            assert!(String::from_utf8_lossy(&body).contains("npm run build"));
            return;
        }
        for asset in embedded::ASSETS {
            let response = get(asset.path).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            assert_eq!(header(&response, header::CONTENT_TYPE), asset.content_type, "{}", asset.path);
            let expected = if asset.path.starts_with("/assets/") { IMMUTABLE } else { NO_CACHE };
            assert_eq!(header(&response, header::CACHE_CONTROL), expected, "{}", asset.path);
        }
        assert_eq!(get("/assets/missing-123.js").await.status(), StatusCode::NOT_FOUND);
        if find("/manifest.webmanifest").is_some() {
            assert_eq!(header(&get("/manifest.webmanifest").await, header::CONTENT_TYPE), "application/manifest+json");
        }
        if find("/sw.js").is_some() {
            let response = get("/sw.js").await;
            assert_eq!(header(&response, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
            assert_eq!(header(&response, header::CACHE_CONTROL), NO_CACHE);
        }
    }

    #[tokio::test]
    async fn scripts_styles_and_index_html_are_gzipped_when_the_client_accepts_it() {
        if !embedded::BUILT {
            return;
        }
        let scripts: Vec<&Asset> =
            embedded::ASSETS.iter().filter(|a| a.path.starts_with("/assets/") && a.path.ends_with(".js")).collect();
        assert!(!scripts.is_empty(), "the dashboard has scripts");
        let index = find("/index.html").expect("index.html");
        for asset in scripts.iter().copied().chain([index]).chain(embedded::ASSETS.iter().filter(|a| a.path.ends_with(".css"))) {
            let gz = asset.gzip.unwrap_or_else(|| panic!("{} has a gzip copy", asset.path));
            assert!(gz.len() * 10 <= asset.bytes.len() * 9, "{} shrinks", asset.path);

            let zipped = get_with(asset.path, header::ACCEPT_ENCODING, "gzip, deflate, br").await;
            assert_eq!(zipped.status(), StatusCode::OK, "{}", asset.path);
            assert_eq!(header(&zipped, header::CONTENT_ENCODING), "gzip", "{}", asset.path);
            assert_eq!(header(&zipped, header::VARY), "Accept-Encoding", "{}", asset.path);
            assert_eq!(header(&zipped, header::CONTENT_TYPE), asset.content_type, "the type of the content, not of the encoding");
            let etag = header(&zipped, header::ETAG).to_owned();
            assert!(etag.starts_with('"') && etag.ends_with("-gz\""), "{etag}");
            assert_eq!(gunzip(&body(zipped).await), asset.bytes, "{} decodes to the file", asset.path);

            let plain = get(asset.path).await;
            assert_eq!(header(&plain, header::CONTENT_ENCODING), "", "{}: no Accept-Encoding, no gzip", asset.path);
            assert_eq!(header(&plain, header::VARY), "Accept-Encoding", "{}: the identity answer varies too", asset.path);
            assert_eq!(header(&plain, header::ETAG), asset.etag);
            assert_ne!(header(&plain, header::ETAG), etag, "each representation has its own validator");
            assert_eq!(body(plain).await, asset.bytes);

            let refused = get_with(asset.path, header::ACCEPT_ENCODING, "gzip;q=0, br").await;
            assert_eq!(header(&refused, header::CONTENT_ENCODING), "", "{}: gzip;q=0 is a refusal", asset.path);
        }
        // a file without a gzip copy (too small, or not text) is sent as is, and does not vary
        for asset in embedded::ASSETS.iter().filter(|a| a.gzip.is_none()) {
            let response = get_with(asset.path, header::ACCEPT_ENCODING, "gzip").await;
            assert_eq!(header(&response, header::CONTENT_ENCODING), "", "{}", asset.path);
            assert_eq!(header(&response, header::VARY), "", "{}", asset.path);
            assert_eq!(body(response).await, asset.bytes, "{}", asset.path);
        }
        // the SPA fallback is index.html, gzipped the same way
        let fallback = get_with("/hosts/h-1", header::ACCEPT_ENCODING, "gzip").await;
        assert_eq!(header(&fallback, header::CONTENT_ENCODING), "gzip");
        assert_eq!(gunzip(&body(fallback).await), index.bytes);
        // HEAD tells the length of what GET would send
        let head =
            send(Request::head(scripts[0].path).header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap()).await;
        assert_eq!(header(&head, header::CONTENT_LENGTH), scripts[0].gzip.unwrap().len().to_string());
        assert_eq!(header(&head, header::CONTENT_ENCODING), "gzip");
        assert!(body(head).await.is_empty());
    }

    #[tokio::test]
    async fn a_matching_if_none_match_is_304_with_the_same_headers_and_no_body() {
        if !embedded::BUILT {
            return;
        }
        let asset = find("/index.html").expect("index.html");
        let first = get_with("/", header::ACCEPT_ENCODING, "gzip").await;
        let etag = header(&first, header::ETAG).to_owned();
        let again = send(
            Request::get("/")
                .header(header::ACCEPT_ENCODING, "gzip")
                .header(header::IF_NONE_MATCH, etag.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&again, header::ETAG), etag);
        assert_eq!(header(&again, header::CACHE_CONTROL), NO_CACHE);
        assert_eq!(header(&again, header::VARY), "Accept-Encoding");
        assert!(body(again).await.is_empty());
        // the identity validator does not match the gzip representation, nor an old one
        for stale in [asset.etag, "\"0123456789abcdef0123\""] {
            let response = send(
                Request::get("/")
                    .header(header::ACCEPT_ENCODING, "gzip")
                    .header(header::IF_NONE_MATCH, stale)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK, "{stale}");
        }
        let weak =
            send(Request::get("/").header(header::IF_NONE_MATCH, format!("W/{}", asset.etag)).body(Body::empty()).unwrap()).await;
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED, "weak comparison for GET");
    }

    #[tokio::test]
    async fn other_methods_are_refused() {
        let response = router().oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
