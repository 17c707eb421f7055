//! `/api/users`: listing, adding (with a generated password shown once),
//! changing a role and deleting users, admins only and tenant-scoped.

use reqwest::Client;
use serde_json::{json, Value};
use vigil_gateway::admin::Role;

use crate::common::*;

async fn send(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, token: &str, body: Value) -> (u16, Value) {
    send(reqwest::Method::POST, url, token, Some(body)).await
}

async fn patch(url: &str, token: &str, body: Value) -> (u16, Value) {
    send(reqwest::Method::PATCH, url, token, Some(body)).await
}

async fn delete(url: &str, token: &str) -> (u16, Value) {
    send(reqwest::Method::DELETE, url, token, None).await
}

async fn login_status(gateway: &TestGateway, email: &str, password: &str) -> u16 {
    Client::new()
        .post(gateway.http("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An admin of `tenant`: (user id, access token).
async fn admin_of(gateway: &TestGateway, tenant: &str) -> (String, String) {
    let (email, password) = gateway.user(tenant, Role::Admin).await;
    let pair = gateway.login(&email, &password).await;
    (pair["user"]["id"].as_str().unwrap().to_owned(), pair["access_token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_the_users_of_their_tenant_only_without_hashes() {
    let gateway = TestGateway::start().await;
    let (admin_id, admin_jwt) = admin_of(&gateway, "acme").await;
    let (viewer_email, _) = gateway.user("acme", Role::Viewer).await;
    let (globex_email, _) = gateway.user("globex", Role::Viewer).await;

    let (status, list) = get(&gateway.http("/api/users"), &admin_jwt).await;
    assert_eq!(status, 200, "{list}");
    let users = list.as_array().unwrap();
    assert_eq!(users.len(), 2, "{list}");
    let me = users.iter().find(|u| u["id"] == admin_id.as_str()).expect("the admin is listed");
    assert_eq!(me["role"], "admin");
    assert!(me["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{me}");
    let viewer = users.iter().find(|u| u["email"] == viewer_email.as_str()).expect("the viewer is listed");
    assert_eq!(viewer["role"], "viewer");
    let mut keys: Vec<&str> = viewer.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "id", "role"]);
    assert!(!list.to_string().contains("argon2"), "no hash: {list}");
    assert!(!list.to_string().contains(&globex_email), "no user of another tenant: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_get_403_on_every_users_route() {
    let gateway = TestGateway::start().await;
    let viewer_jwt = gateway.access_token("acme", Role::Viewer).await;
    let (target_id, _) = admin_of(&gateway, "acme").await;
    let users = gateway.http("/api/users");
    let one = gateway.http(&format!("/api/users/{target_id}"));
    for (status, body) in [
        get(&users, &viewer_jwt).await,
        post(&users, &viewer_jwt, json!({"email": "v@acme.test", "role": "admin"})).await,
        patch(&one, &viewer_jwt, json!({"role": "viewer"})).await,
        delete(&one, &viewer_jwt).await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _) = get(&users, "not-a-jwt").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_user_with_a_password_lets_them_log_in_with_their_role() {
    let gateway = TestGateway::start().await;
    let (_, admin_jwt) = admin_of(&gateway, "acme").await;
    let (status, created) = post(
        &gateway.http("/api/users"),
        &admin_jwt,
        json!({"email": "  ops@acme.test ", "password": "correct horse", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["id"].as_str().unwrap().starts_with("usr-"));
    assert_eq!(created["email"], "ops@acme.test", "trimmed");
    assert_eq!(created["role"], "viewer");
    assert!(created["created_at"].is_string());
    assert!(created.get("password").is_none(), "a chosen password is never echoed: {created}");
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(created["id"].as_str().unwrap())
        .fetch_one(&gateway.db.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let pair = gateway.login("ops@acme.test", "correct horse").await;
    assert_eq!(pair["user"]["role"], "viewer");
    assert_eq!(pair["user"]["tenant_id"], "acme");
    let (status, _) = get(&gateway.http("/api/users"), pair["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 403, "the new viewer is a viewer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_password_one_is_generated_and_returned_once() {
    let gateway = TestGateway::start().await;
    let (_, admin_jwt) = admin_of(&gateway, "acme").await;
    let (status, created) =
        post(&gateway.http("/api/users"), &admin_jwt, json!({"email": "new@acme.test", "role": "admin"})).await;
    assert_eq!(status, 201, "{created}");
    let password = created["password"].as_str().expect("generated password in the answer");
    assert_eq!(password.len(), 20);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()), "{password}");
    let pair = gateway.login("new@acme.test", password).await;
    assert_eq!(pair["user"]["role"], "admin");
    let (_, list) = get(&gateway.http("/api/users"), &admin_jwt).await;
    assert!(!list.to_string().contains(password), "never shown again: {list}");

    // role defaults to viewer
    let (status, created) = post(&gateway.http("/api/users"), &admin_jwt, json!({"email": "quiet@acme.test"})).await;
    assert_eq!((status, created["role"].as_str()), (201, Some("viewer")), "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_email_is_409_even_across_tenants() {
    let gateway = TestGateway::start().await;
    let (_, acme_jwt) = admin_of(&gateway, "acme").await;
    let (_, globex_jwt) = admin_of(&gateway, "globex").await;
    let users = gateway.http("/api/users");
    assert_eq!(post(&users, &acme_jwt, json!({"email": "dup@example.test", "role": "viewer"})).await.0, 201);
    for jwt in [&acme_jwt, &globex_jwt] {
        let (status, body) = post(&users, jwt, json!({"email": "dup@example.test", "role": "admin"})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        assert!(body["error"]["message"].as_str().unwrap().contains("dup@example.test"), "{body}");
    }
    let (_, list) = get(&users, &globex_jwt).await;
    assert!(!list.to_string().contains("dup@example.test"), "nothing added to globex: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_emails_roles_and_short_passwords_are_422_naming_the_field() {
    let gateway = TestGateway::start().await;
    let (_, admin_jwt) = admin_of(&gateway, "acme").await;
    let users = gateway.http("/api/users");
    for (body, field) in [
        (json!({"email": "not-an-email", "role": "viewer"}), "email"),
        (json!({"email": "a b@acme.test", "role": "viewer"}), "email"),
        (json!({"email": "", "role": "viewer"}), "email"),
        (json!({"email": "ok@acme.test", "role": "owner"}), "role"),
        (json!({"email": "ok@acme.test", "role": "viewer", "password": "short"}), "password"),
    ] {
        let (status, answer) = post(&users, &admin_jwt, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "unprocessable", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{body}: {message}");
    }
    let (status, answer) = post(&users, &admin_jwt, json!({"role": "viewer"})).await;
    assert_eq!(status, 422);
    assert!(answer["error"]["message"].as_str().unwrap().contains("email"), "names the missing field: {answer}");
    let (_, list) = get(&users, &admin_jwt).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing was added: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_revokes_their_refresh_tokens_and_login() {
    let gateway = TestGateway::start().await;
    let (_, admin_jwt) = admin_of(&gateway, "acme").await;
    let (email, password) = gateway.user("acme", Role::Viewer).await;
    let first = gateway.login(&email, &password).await;
    let second = gateway.login(&email, &password).await;
    let id = first["user"]["id"].as_str().unwrap().to_owned();

    let (status, body) = delete(&gateway.http(&format!("/api/users/{id}")), &admin_jwt).await;
    assert_eq!(status, 204, "{body}");
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ? AND revoked_at IS NULL")
        .bind(&id)
        .fetch_one(&gateway.db.pool)
        .await
        .unwrap();
    assert_eq!(live, 0, "every refresh token of the user is revoked");
    for pair in [&first, &second] {
        let response = Client::new()
            .post(gateway.http("/api/auth/refresh"))
            .json(&json!({"refresh_token": pair["refresh_token"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_eq!(login_status(&gateway, &email, &password).await, 401, "the user is gone");
    let (_, list) = get(&gateway.http("/api/users"), &admin_jwt).await;
    assert!(!list.to_string().contains(&email), "{list}");

    let (status, body) = delete(&gateway.http(&format!("/api/users/{id}")), &admin_jwt).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "deleting twice: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_another_tenant_are_404_and_untouched() {
    let gateway = TestGateway::start().await;
    let (_, acme_jwt) = admin_of(&gateway, "acme").await;
    let (email, password) = gateway.user("globex", Role::Viewer).await;
    let globex_user = gateway.login(&email, &password).await["user"]["id"].as_str().unwrap().to_owned();
    let url = gateway.http(&format!("/api/users/{globex_user}"));
    let (status, body) = delete(&url, &acme_jwt).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = patch(&url, &acme_jwt, json!({"role": "admin"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(gateway.login(&email, &password).await["user"]["role"], "viewer", "still there, still a viewer");
    let (status, _) = delete(&gateway.http("/api/users/usr-does-not-exist"), &acme_jwt).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cannot_delete_themself_or_change_their_own_role() {
    let gateway = TestGateway::start().await;
    let (admin_id, admin_jwt) = admin_of(&gateway, "acme").await;
    let url = gateway.http(&format!("/api/users/{admin_id}"));
    let (status, body) = delete(&url, &admin_jwt).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("your own account"), "{body}");
    let (status, body) = patch(&url, &admin_jwt, json!({"role": "viewer"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, list) = get(&gateway.http("/api/users"), &admin_jwt).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["role"], "admin", "still an admin: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_a_role_which_the_next_refresh_carries() {
    let gateway = TestGateway::start().await;
    let (_, admin_jwt) = admin_of(&gateway, "acme").await;
    let (email, password) = gateway.user("acme", Role::Viewer).await;
    let pair = gateway.login(&email, &password).await;
    let id = pair["user"]["id"].as_str().unwrap().to_owned();
    let url = gateway.http(&format!("/api/users/{id}"));

    let (status, body) = patch(&url, &admin_jwt, json!({"role": "boss"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("role: "), "{body}");

    let (status, user) = patch(&url, &admin_jwt, json!({"role": "admin"})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        (user["id"].as_str(), user["email"].as_str(), user["role"].as_str()),
        (Some(id.as_str()), Some(email.as_str()), Some("admin"))
    );
    let (status, _) = patch(&url, &admin_jwt, json!({"role": "admin"})).await;
    assert_eq!(status, 200, "setting the same role again is fine");

    let response = Client::new()
        .post(gateway.http("/api/auth/refresh"))
        .json(&json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .unwrap();
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(refreshed["user"]["role"], "admin", "{refreshed}");
    let (status, _) = get(&gateway.http("/api/users"), refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "the refreshed token carries the admin role");
}
