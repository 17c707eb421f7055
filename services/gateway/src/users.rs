//! REST routes of the tenant's users (admins only), under `/api`:
//!
//! - `GET /api/users`: `[{id, email, role, created_at}]`, oldest first;
//! - `POST /api/users {email, password?, role?}` → 201 `{id, email, role,
//!   created_at, password?}`; without a password one is generated and
//!   returned this once (`password` is present only then); `role` defaults to
//!   `viewer`;
//! - `PATCH /api/users/{id} {role}` → 200 the user;
//! - `DELETE /api/users/{id}` → 204; the user's refresh tokens are revoked.
//!
//! Invariants (besides those of [`crate::rest`]):
//! - a viewer gets 403 on every route; a user of another tenant is a 404;
//! - no answer carries a password hash; a password is returned only when the
//!   gateway generated it;
//! - a bad email, role or password is a 422 whose message starts with the
//!   field's name; an email already used (by any tenant) is a 409;
//! - an admin cannot delete themself nor change their own role (409), so a
//!   tenant always keeps the admin who is making changes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use vigil_bus::ErrorCode;

use crate::admin::{self, Role, UserInfo};
use crate::error::ApiError;
use crate::rest::{ApiJson, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

fn parse_role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value.trim()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unprocessable,
            format!("role: {value:?} is not a role; use \"admin\", \"operator\" or \"viewer\""),
        )
    })
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    responses(
        (status = 200, description = "the tenant's users, oldest first", body = Vec<UserInfo>),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_users(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<UserInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(admin::list_users(&shared.pool, &caller.tenant_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateUserRequest {
    email: String,
    /// None: one is generated and answered this once.
    #[serde(default)]
    password: Option<String>,
    /// Default `viewer`.
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedUser {
    #[serde(flatten)]
    user: UserInfo,
    /// Only when the gateway generated it: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "the user (with the generated password, when none was sent)", body = CreatedUser),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 409, description = "the email is already used", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_user(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    caller.require_admin()?;
    let role = match body.role.as_deref() {
        None => Role::Viewer,
        Some(value) => parse_role(value)?,
    };
    let email = body.email.trim();
    admin::check_email(email)?;
    let (password, generated) = match body.password {
        Some(password) => {
            admin::check_password(&password)?;
            (password, false)
        }
        None => (admin::generate_password(), true),
    };
    let id = admin::add_user(&shared.pool, &caller.tenant_id, email, &password, role).await?;
    let user = admin::get_user(&shared.pool, &caller.tenant_id, &id).await?;
    tracing::info!(by = %caller.user_id, user_id = %id, role = %role, "user added over rest");
    Ok((StatusCode::CREATED, Json(CreatedUser { user, password: generated.then_some(password) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateUserRequest {
    #[schema(value_type = Role)]
    role: String,
}

#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "user id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "the user with its new role", body = UserInfo),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 409, description = "the caller's own role", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn update_user(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserInfo>, ApiError> {
    caller.require_admin()?;
    let role = parse_role(&body.role)?;
    if id == caller.user_id {
        return Err(ApiError::new(ErrorCode::Conflict, "you cannot change your own role; ask another admin"));
    }
    let user = admin::set_user_role(&shared.pool, &caller.tenant_id, &id, role).await?;
    tracing::info!(by = %caller.user_id, user_id = %id, role = %role, "user role changed over rest");
    Ok(Json(user))
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "user id")),
    responses(
        (status = 204, description = "deleted; their refresh tokens are revoked"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 409, description = "the caller's own account", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn delete_user(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if id == caller.user_id {
        return Err(ApiError::new(ErrorCode::Conflict, "you cannot delete your own account; ask another admin"));
    }
    let revoked = admin::delete_user(&shared.pool, &caller.tenant_id, &id).await?;
    tracing::info!(by = %caller.user_id, user_id = %id, refresh_tokens_revoked = revoked, "user deleted over rest");
    Ok(StatusCode::NO_CONTENT)
}
