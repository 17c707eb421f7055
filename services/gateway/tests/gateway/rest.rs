//! The users' side: login, refresh, logout, JWT checks, tenant scoping,
//! error bodies, agent token administration.

use std::time::Duration;

use chrono::Utc;
use reqwest::Client;
use serde_json::{json, Value};
use vigil_gateway::admin::{self, AdminError, Role};

use crate::common::*;

async fn post(url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = Client::new().post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_token_pair_and_wrong_credentials_are_401_alike() {
    let gateway = TestGateway::start().await;
    let (email, password) = gateway.user("acme", Role::Viewer).await;
    let body = gateway.login(&email, &password).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 15 * 60);
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["tenant_id"], "acme");
    assert_eq!(body["user"]["role"], "viewer");
    assert!(body["user"]["id"].as_str().unwrap().starts_with("usr-"));
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() > 32));
    let (status, _) = get(&gateway.http("/api/hosts"), body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    let (status, wrong_password) =
        post(&gateway.http("/api/auth/login"), None, json!({"email": email, "password": "nope-nope-nope"})).await;
    assert_eq!(status, 401);
    let (status, wrong_email) =
        post(&gateway.http("/api/auth/login"), None, json!({"email": "who@acme.test", "password": password})).await;
    assert_eq!(status, 401);
    assert_eq!(wrong_password, wrong_email, "same answer for both");
    assert_eq!(wrong_password["error"]["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_logout_revokes_refresh_tokens() {
    let gateway = TestGateway::start().await;
    let (email, password) = gateway.user("acme", Role::Admin).await;
    let first = gateway.login(&email, &password).await;
    let refresh_url = gateway.http("/api/auth/refresh");

    let (status, second) = post(&refresh_url, None, json!({"refresh_token": first["refresh_token"]})).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    assert_eq!(second["user"]["role"], "admin");
    assert_eq!(get(&gateway.http("/api/hosts"), second["access_token"].as_str().unwrap()).await.0, 200);
    let (status, body) = post(&refresh_url, None, json!({"refresh_token": first["refresh_token"]})).await;
    assert_eq!(status, 401, "the rotated-out token is refused: {body}");
    let (status, _) = post(&refresh_url, None, json!({"refresh_token": "vgr_unknown"})).await;
    assert_eq!(status, 401);

    // Logout needs the access token, then the refresh token is dead.
    let logout_url = gateway.http("/api/auth/logout");
    let (status, _) = post(&logout_url, None, json!({"refresh_token": second["refresh_token"]})).await;
    assert_eq!(status, 401, "logout without an access token");
    let (status, _) = post(&logout_url, second["access_token"].as_str(), json!({"refresh_token": second["refresh_token"]})).await;
    assert_eq!(status, 204);
    let (status, _) = post(&refresh_url, None, json!({"refresh_token": second["refresh_token"]})).await;
    assert_eq!(status, 401, "refresh after logout");

    // An expired refresh token is refused.
    let third = gateway.login(&email, &password).await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND")
        .execute(&gateway.db.pool)
        .await
        .unwrap();
    let (status, _) = post(&refresh_url, None, json!({"refresh_token": third["refresh_token"]})).await;
    assert_eq!(status, 401);
}

fn sign(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_garbage_forged_and_expired_access_tokens_are_401() {
    let gateway = TestGateway::start().await;
    let hosts = gateway.http("/api/hosts");
    let response = Client::new().get(&hosts).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let response = Client::new().get(&hosts).header("authorization", "Basic eDp5").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(get(&hosts, "not.a.jwt").await.0, 401);

    let acme = gateway.access_token("acme", Role::Viewer).await;
    let globex = gateway.access_token("globex", Role::Admin).await;
    let (a, g): (Vec<&str>, Vec<&str>) = (acme.split('.').collect(), globex.split('.').collect());
    let forged = format!("{}.{}.{}", a[0], g[1], a[2]);
    assert_eq!(get(&hosts, &forged).await.0, 401, "payload swapped, signature kept");
    let now = Utc::now().timestamp();
    let other_key = sign(
        json!({"sub": "usr-x", "tenant": "acme", "role": "admin", "iat": now, "exp": now + 600}),
        b"another-secret-another-secret-0123456789",
    );
    assert_eq!(get(&hosts, &other_key).await.0, 401, "signed with another key");

    let expired = sign(json!({"sub": "usr-x", "tenant": "acme", "role": "admin", "iat": now - 120, "exp": now - 1}), JWT_SECRET);
    let (status, body) = get(&hosts, &expired).await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
    let valid = sign(json!({"sub": "usr-x", "tenant": "acme", "role": "admin", "iat": now, "exp": now + 60}), JWT_SECRET);
    assert_eq!(get(&hosts, &valid).await.0, 200, "the same claims, not expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_after_their_ttl() {
    let gateway = TestGateway::start_with(|config| config.settings.access_token_ttl = Duration::from_secs(1)).await;
    let token = gateway.access_token("acme", Role::Viewer).await;
    assert_eq!(get(&gateway.http("/api/hosts"), &token).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = get(&gateway.http("/api/hosts"), &token).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_their_tenants_hosts_and_metrics() {
    let gateway = TestGateway::start().await;
    gateway.collector.add_host("acme", "acme-1");
    gateway.collector.add_host("globex", "globex-1");
    let now = Utc::now();
    for minutes in [90, 30, 20, 10] {
        gateway.collector.add_point("acme-1", now - chrono::Duration::minutes(minutes), minutes as f64);
    }
    let acme = gateway.access_token("acme", Role::Viewer).await;

    let (status, hosts) = get(&gateway.http("/api/hosts"), &acme).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = hosts.as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["acme-1"]);

    let (status, host) = get(&gateway.http("/api/hosts/acme-1"), &acme).await;
    assert_eq!(status, 200, "{host}");
    assert_eq!(host["tenant_id"], "acme");
    assert_eq!(host["latest"]["host"]["cpu"]["percent"], 10.0);

    // Default window: the last hour.
    let (status, answer) = get(&gateway.http("/api/hosts/acme-1/metrics"), &acme).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["host_id"], "acme-1");
    assert_eq!(answer["points"].as_array().unwrap().len(), 3);
    let from = (now - chrono::Duration::minutes(100)).timestamp();
    let to = (now - chrono::Duration::minutes(15)).to_rfc3339();
    let url = format!("/api/hosts/acme-1/metrics?from={from}&to={}&limit=2", urlencode(&to));
    let (status, answer) = get(&gateway.http(&url), &acme).await;
    assert_eq!(status, 200, "{answer}");
    let cpu: Vec<f64> =
        answer["points"].as_array().unwrap().iter().map(|p| p["host"]["cpu"]["percent"].as_f64().unwrap()).collect();
    assert_eq!(cpu, vec![90.0, 30.0]);
    for bad in
        ["?from=yesterday", "?limit=0", "?limit=10001", "?from=1700000100&to=1700000000", "?step=0", "?step=86401", "?step=5m"]
    {
        let (status, body) = get(&gateway.http(&format!("/api/hosts/acme-1/metrics{bad}")), &acme).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let name = bad.trim_start_matches('?').split('=').next().unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(name), "{bad}: the error names {name}: {body}");
    }

    for path in ["/api/hosts/globex-1", "/api/hosts/globex-1/metrics"] {
        let (status, body) = get(&gateway.http(path), &acme).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ids_that_would_change_a_subject_are_400() {
    let gateway = TestGateway::start().await;
    let token = gateway.access_token("acme", Role::Viewer).await;
    for bad in ["a.b", "a*", "%3E", "a%3Eb", "a%20b"] {
        for suffix in ["", "/metrics"] {
            let (status, body) = get(&gateway.http(&format!("/api/hosts/{bad}{suffix}")), &token).await;
            assert_eq!(status, 400, "{bad}{suffix}: {body}");
            assert_eq!(body["error"]["code"], "bad_request");
        }
    }
    let requests = gateway.collector.state.lock().unwrap().requests.len();
    assert_eq!(requests, 0, "nothing reached the bus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_is_400_wrong_shape_422_and_huge_bodies_413() {
    let gateway = TestGateway::start().await;
    let login = gateway.http("/api/auth/login");
    let http = Client::new();
    let response = http.post(&login).header("content-type", "application/json").body("{\"email\": ").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = post(&login, None, json!({"email": "x@y"})).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "unprocessable");
    assert!(body["error"]["message"].as_str().unwrap().contains("password"), "names the missing field: {body}");
    let (status, _) = post(&login, None, json!({"email": 5, "password": "x"})).await;
    assert_eq!(status, 422);

    // every /api route has the same 1 MiB limit (users had axum's 2 MB)
    let admin = gateway.access_token("acme", Role::Admin).await;
    let over = format!("{{\"email\": \"{}@y\", \"role\": \"viewer\"}}", "a".repeat(1536 * 1024));
    for (url, token) in
        [(login.clone(), None), (gateway.http("/api/users"), Some(&admin)), (gateway.http("/api/tokens"), Some(&admin))]
    {
        let mut request = http.post(&url).header("content-type", "application/json").body(over.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 413, "{url}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("1048576"), "{url}: {body}");
    }

    let (status, body) = get(&gateway.http("/api/nothing-here"), "x").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_is_503_and_health_stays_ok() {
    let mut gateway = TestGateway::start().await;
    let token = gateway.access_token("acme", Role::Viewer).await;
    let response = Client::new().get(gateway.http("/api/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok", "nats": "ok", "database": "ok"}));

    gateway.stop_collector();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for path in ["/api/hosts", "/api/hosts/h1", "/api/hosts/h1/metrics"] {
        let (status, body) = get(&gateway.http(path), &token).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unavailable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_naming_the_database_when_it_is_down() {
    let gateway = TestGateway::start().await;
    gateway.db.pool.close().await;
    let response = Client::new().get(gateway.http("/api/health")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health, json!({"status": "unavailable", "nats": "ok", "database": "down"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tokens_are_managed_by_admins_only_and_deleted_tokens_are_refused() {
    let gateway = TestGateway::start().await;
    let viewer = gateway.access_token("acme", Role::Viewer).await;
    let admin_jwt = gateway.access_token("acme", Role::Admin).await;
    let tokens = gateway.http("/api/tokens");

    assert_eq!(get(&tokens, &viewer).await.0, 403);
    let (status, body) = post(&tokens, Some(&viewer), json!({"name": "x"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));

    let (status, created) = post(&tokens, Some(&admin_jwt), json!({"name": "web servers"})).await;
    assert_eq!(status, 201, "{created}");
    let (id, token) = (created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned());
    assert!(token.starts_with("vgl_") && token.len() == 68, "{token}");
    let registered = register(gateway.channel().await, &token, "m1").await.expect("the new token works");
    assert_eq!(registered.tenant_id, "acme");

    let (status, list) = get(&tokens, &admin_jwt).await;
    assert_eq!(status, 200);
    let listed = list.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).expect("listed").clone();
    assert_eq!(listed["name"], "web servers");
    assert!(listed["revoked_at"].is_null());
    assert!(listed.get("token_hash").is_none() && !list.to_string().contains(&token[4..]), "no secret in the list: {list}");

    let response = Client::new().delete(gateway.http(&format!("/api/tokens/{id}"))).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = Client::new().delete(gateway.http(&format!("/api/tokens/{id}"))).bearer_auth(&admin_jwt).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let status = register(gateway.channel().await, &token, "m1").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let (_, list) = get(&tokens, &admin_jwt).await;
    assert!(list.as_array().unwrap().iter().any(|t| t["id"] == id.as_str() && !t["revoked_at"].is_null()));

    // Another tenant's admin cannot see or revoke it.
    let globex_admin = gateway.access_token("globex", Role::Admin).await;
    let (_, list) = get(&tokens, &globex_admin).await;
    assert_eq!(list, json!([]));
    let response =
        Client::new().delete(gateway.http(&format!("/api/tokens/{id}"))).bearer_auth(&globex_admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_checks_tenants_emails_and_ids() {
    let gateway = TestGateway::start().await;
    let pool = &gateway.db.pool;
    let error = admin::create_agent_token(pool, "nobody", None).await.unwrap_err();
    assert!(matches!(error, AdminError::TenantNotFound { .. }), "{error}");
    let error = admin::add_user(pool, "nobody", "a@b.c", "password-1", Role::Admin).await.unwrap_err();
    assert!(matches!(error, AdminError::TenantNotFound { .. }), "{error}");
    let error = admin::ensure_tenant(pool, "a.b", "x").await.unwrap_err();
    assert!(matches!(error, AdminError::InvalidId(_)), "{error}");

    admin::ensure_tenant(pool, "acme", "Acme").await.unwrap();
    admin::ensure_tenant(pool, "acme", "Acme again").await.expect("idempotent");
    assert!(!admin::user_exists(pool, "a@acme.test").await.unwrap());
    let id = admin::add_user(pool, "acme", "a@acme.test", "password-1", Role::Admin).await.unwrap();
    assert!(id.starts_with("usr-"));
    assert!(admin::user_exists(pool, "a@acme.test").await.unwrap());
    let error = admin::add_user(pool, "acme", "a@acme.test", "password-2", Role::Viewer).await.unwrap_err();
    assert!(matches!(error, AdminError::UserExists { .. }), "{error}");
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?").bind(&id).fetch_one(pool).await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    let token = admin::create_agent_token(pool, "acme", None).await.unwrap();
    let hash: String =
        sqlx::query_scalar("SELECT token_hash FROM agent_tokens WHERE id = ?").bind(&token.id).fetch_one(pool).await.unwrap();
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, token.token);
    admin::revoke_agent_token(pool, "acme", &token.id).await.unwrap();
    admin::revoke_agent_token(pool, "acme", &token.id).await.expect("revoking twice is fine");
    let error = admin::revoke_agent_token(pool, "acme", "tok-missing").await.unwrap_err();
    assert!(matches!(error, AdminError::TokenNotFound { .. }), "{error}");
}
