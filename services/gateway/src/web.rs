//! Serves the dashboard embedded at build time (`build.rs` includes every file
//! of `dashboard/dist/`).
//!
//! Rules (dashboard/README.md):
//! - a known file is served with its content type; `/assets/*` (hashed names)
//!   as `public, max-age=31536000, immutable`, everything else `no-cache`;
//! - any other GET/HEAD path outside `/api/*` and `/ws` gets `index.html`
//!   (the SPA's router decides), except a missing `/assets/*` file: 404;
//! - `/api/*` is never answered here (the REST router's JSON 404 stays);
//! - without a built dashboard, every page is a short HTML explanation of how
//!   to build it.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Vigil: dashboard not built</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5\">\
<h1>The dashboard was not built</h1>\
<p>This gateway was compiled without <code>dashboard/dist/</code>, so it has no web app to serve. \
The REST API (<code>/api</code>) and live updates (<code>/ws</code>) work.</p>\
<p>Build the dashboard, then the gateway again:</p>\
<pre>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build\ncd .. &amp;&amp; cargo build --release -p vigil</pre>\
<p><code>scripts/up</code> does both.</p></body></html>\n";

/// The dashboard routes: a fallback, so merge it after every other router.
pub(crate) fn router() -> Router {
    Router::new().fallback(serve)
}

fn find(path: &str) -> Option<(&'static str, &'static [u8])> {
    embedded::ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, ct, bytes)| (*ct, *bytes))
}

fn respond(status: StatusCode, content_type: &'static str, cache: &'static str, body: &'static [u8], head: bool) -> Response {
    let mut response = if head { (status, ()).into_response() } else { (status, body).into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    response
}

fn json_not_found(path: &str) -> Response {
    let body = serde_json::json!({"error": {"code": "not_found", "message": format!("no route {path}")}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path == "/ws" {
        return json_not_found(path);
    }
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        let body = serde_json::json!({"error": {"code": "method_not_allowed", "message": format!("{method} {path} is not allowed; the dashboard answers GET")}});
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if !embedded::BUILT {
        return respond(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, NOT_BUILT.as_bytes(), head);
    }
    if let Some((content_type, body)) = find(path) {
        let cache = if path.starts_with("/assets/") { IMMUTABLE } else { NO_CACHE };
        return respond(StatusCode::OK, content_type, cache, body, head);
    }
    if path.starts_with("/assets/") {
        return respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", NO_CACHE, b"no such asset\n", head);
    }
    match find("/index.html") {
        Some((content_type, body)) => respond(StatusCode::OK, content_type, NO_CACHE, body, head),
        None => respond(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, NOT_BUILT.as_bytes(), head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap()
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
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
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            assert!(String::from_utf8_lossy(&body).contains("npm run build"));
            return;
        }
        for (path, content_type, _) in embedded::ASSETS {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, header::CONTENT_TYPE), *content_type, "{path}");
            let expected = if path.starts_with("/assets/") { IMMUTABLE } else { NO_CACHE };
            assert_eq!(header(&response, header::CACHE_CONTROL), expected, "{path}");
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
    async fn other_methods_are_refused() {
        let response = router().oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
