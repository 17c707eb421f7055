//! The REST API's description at `/api/openapi.json` and its page at
//! `/api/docs`, on a running gateway. That every route the router serves is
//! described is the router's own unit test (`every_api_route_is_described`);
//! here, every described operation is answered by the running gateway as
//! described: the route exists, and it asks for the token it says it needs.

use reqwest::{Client, Method};
use serde_json::Value;

use crate::common::*;

/// A path of the description with its parameters filled: `{id}` of a
/// container is `<host>:<name>`, any other id a plain one.
fn filled(path: &str) -> String {
    if path.starts_with("/api/containers/{id}") {
        path.replace("{id}", "h1:web")
    } else {
        path.replace("{id}", "h1")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_is_openapi_3_1_and_every_described_operation_is_served_as_described() {
    let gateway = TestGateway::start().await;
    let response = Client::new().get(gateway.http("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let description: Value = response.json().await.unwrap();
    assert!(description["openapi"].as_str().unwrap().starts_with("3.1."), "{}", description["openapi"]);
    assert_eq!(description["info"]["title"], "Vigil REST API");
    assert_eq!(description["components"]["securitySchemes"]["bearer"]["bearerFormat"], "JWT");
    assert!(description["components"]["securitySchemes"]["scrape_token"].is_object());

    let paths = description["paths"].as_object().unwrap();
    for known in
        ["/api/auth/login", "/api/hosts/{id}/metrics", "/api/alerts/rules/{id}", "/api/scenarios/{id}/run", "/api/users/{id}"]
    {
        assert!(paths.contains_key(known), "{known} is not described");
    }
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let anonymous = operation["security"] == serde_json::json!([{}]);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = Client::new().request(method.clone(), gateway.http(&filled(path))).send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is described but not served: {body}");
            assert!(!body.contains("no api route"), "{method} {path} is described but not served: {body}");
            if anonymous {
                assert_ne!(status, 401, "{method} {path} is described as needing no token: {body}");
            } else {
                assert_eq!(status, 401, "{method} {path} is described as needing a token: {body}");
                let error: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(error["error"]["code"], "unauthorized", "{method} {path}");
                assert!(operation["responses"]["401"].is_object(), "{method} {path} does not describe its 401");
            }
        }
    }
    assert!(operations >= 50, "only {operations} operations described");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_without_a_cdn_and_reads_openapi_json() {
    let gateway = TestGateway::start().await;
    let response = Client::new().get(gateway.http("/api/docs")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("fetch(\"/api/openapi.json\")"), "the page reads the description");
    for external in ["http://", "https://", "//cdn"] {
        assert!(!page.contains(external), "the page loads nothing from elsewhere ({external})");
    }
}
