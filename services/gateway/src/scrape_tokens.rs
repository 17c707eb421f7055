//! Scrape tokens: the credential Prometheus sends to read one tenant's
//! latest metrics (`GET /api/metrics/prometheus`, [`crate::prometheus`]).
//!
//! REST (admins only), under `/api`:
//! - `GET /api/config/scrape-tokens`: `[{id, name, created_at, last_used,
//!   revoked_at}]`, newest first, never a hash;
//! - `POST /api/config/scrape-tokens {name?}` → 201 `{id, name, token}`: the
//!   token is returned this once;
//! - `DELETE /api/config/scrape-tokens/{id}` → 204: revoked (final; the row
//!   stays listed with `revoked_at`).
//!
//! Invariants (those of agent tokens, `crate::admin`):
//! - a scrape token is `vgs_` + 64 hex digits (32 random bytes), stored only
//!   as its SHA-256 hex in `scrape_tokens` (owned by the gateway);
//! - it is bound to one tenant and reads only that tenant's hosts;
//! - a revoked or unknown token is a 401, answered the same way as a missing
//!   one apart from the message; it is never logged;
//! - `last_used` is written at most once per [`crate::auth::LAST_USED_PRECISION`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{MySqlPool, Row};
use vigil_bus::error::HasErrorCode;
use vigil_bus::ErrorCode;

use crate::admin::{random_hex, sha256_hex, utc};
use crate::error::ApiError;
use crate::rest::{ApiJson, Caller};
use crate::Shared;

/// Prefix of every scrape token (secret scanners and humans spot one).
pub const SCRAPE_TOKEN_PREFIX: &str = "vgs_";
/// Longest token name, in characters (`VARCHAR(100)`).
pub const MAX_NAME_CHARS: usize = 100;

/// Why a scrape token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeTokenError {
    #[error(transparent)]
    InvalidId(#[from] vigil_bus::IdError),
    #[error("name: {0}")]
    InvalidName(String),
    #[error("tenant {tenant_id:?} does not exist; create it first")]
    TenantNotFound { tenant_id: String },
    #[error("scrape token {token_id:?} does not exist in tenant {tenant_id:?}")]
    NotFound { tenant_id: String, token_id: String },
    #[error("missing scrape token; send Authorization: Bearer <scrape token> (create one in Settings or POST /api/config/scrape-tokens)")]
    Missing,
    #[error("malformed Authorization header; expected Bearer vgs_...")]
    Malformed,
    #[error("unknown or revoked scrape token; create a new one")]
    Refused,
    #[error("database error while {action}: {source}")]
    Database { action: &'static str, source: sqlx::Error },
}

impl HasErrorCode for ScrapeTokenError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ScrapeTokenError::InvalidId(_) => ErrorCode::BadRequest,
            ScrapeTokenError::InvalidName(_) => ErrorCode::Unprocessable,
            ScrapeTokenError::TenantNotFound { .. } | ScrapeTokenError::NotFound { .. } => ErrorCode::NotFound,
            ScrapeTokenError::Missing | ScrapeTokenError::Malformed | ScrapeTokenError::Refused => ErrorCode::Unauthorized,
            ScrapeTokenError::Database { .. } => ErrorCode::Internal,
        }
    }
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> ScrapeTokenError {
    move |source| ScrapeTokenError::Database { action, source }
}

/// A new scrape token: `token` is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedScrapeToken {
    pub id: String,
    pub name: Option<String>,
    pub token: String,
}

/// What the list shows: never the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScrapeTokenInfo {
    pub id: String,
    pub name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A name as given: trimmed, empty is none, at most [`MAX_NAME_CHARS`].
pub fn check_name(name: Option<&str>) -> Result<Option<String>, ScrapeTokenError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ScrapeTokenError::InvalidName(format!("is longer than {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ScrapeTokenError::InvalidName(format!("{name:?} holds a control character")));
    }
    Ok(Some(name.to_owned()))
}

/// Creates a scrape token for an existing tenant; the returned `token` is the
/// only copy of the secret.
pub async fn create_scrape_token(
    pool: &MySqlPool,
    tenant_id: &str,
    name: Option<&str>,
) -> Result<CreatedScrapeToken, ScrapeTokenError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let name = check_name(name)?;
    let tenant = sqlx::query("SELECT 1 FROM tenants WHERE id = ?")
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
        .map_err(db("looking up the tenant"))?;
    if tenant.is_none() {
        return Err(ScrapeTokenError::TenantNotFound { tenant_id: tenant_id.to_owned() });
    }
    let token = format!("{SCRAPE_TOKEN_PREFIX}{}", random_hex(32));
    let id = format!("scr-{}", random_hex(8));
    sqlx::query("INSERT INTO scrape_tokens (token_hash, id, tenant_id, name, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP())")
        .bind(sha256_hex(&token))
        .bind(&id)
        .bind(tenant_id)
        .bind(&name)
        .execute(pool)
        .await
        .map_err(db("storing the scrape token"))?;
    tracing::info!(tenant_id, token_id = %id, "scrape token created");
    Ok(CreatedScrapeToken { id, name, token })
}

/// The tenant's scrape tokens, newest first.
pub async fn list_scrape_tokens(pool: &MySqlPool, tenant_id: &str) -> Result<Vec<ScrapeTokenInfo>, ScrapeTokenError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used, revoked_at FROM scrape_tokens WHERE tenant_id = ? ORDER BY created_at DESC, id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await
    .map_err(db("listing scrape tokens"))?;
    rows.iter()
        .map(|row| {
            let time = |column: &str| row.try_get::<Option<NaiveDateTime>, _>(column).map(|t| t.map(utc));
            Ok(ScrapeTokenInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_at: time("created_at")?,
                last_used: time("last_used")?,
                revoked_at: time("revoked_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("decoding scrape tokens"))
}

/// Revokes a scrape token of the tenant (revoking twice keeps the first
/// time); another tenant's token is not found.
pub async fn revoke_scrape_token(pool: &MySqlPool, tenant_id: &str, token_id: &str) -> Result<(), ScrapeTokenError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    vigil_bus::ids::validate("scrape token", token_id)?;
    sqlx::query("UPDATE scrape_tokens SET revoked_at = COALESCE(revoked_at, UTC_TIMESTAMP()) WHERE id = ? AND tenant_id = ?")
        .bind(token_id)
        .bind(tenant_id)
        .execute(pool)
        .await
        .map_err(db("revoking the scrape token"))?;
    // MariaDB counts only changed rows: tell "already revoked" from "absent"
    let exists = sqlx::query("SELECT 1 FROM scrape_tokens WHERE id = ? AND tenant_id = ?")
        .bind(token_id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
        .map_err(db("looking up the scrape token"))?;
    if exists.is_none() {
        return Err(ScrapeTokenError::NotFound { tenant_id: tenant_id.to_owned(), token_id: token_id.to_owned() });
    }
    tracing::info!(tenant_id, token_id, "scrape token revoked");
    Ok(())
}

/// The bearer token of an `Authorization` header value (never logged).
pub(crate) fn bearer(header: Option<&axum::http::HeaderValue>) -> Result<&str, ScrapeTokenError> {
    let value = header.ok_or(ScrapeTokenError::Missing)?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ScrapeTokenError::Malformed)
}

/// The tenant a live scrape token reads. Refreshes a stale `last_used` in
/// the background.
pub(crate) async fn authenticate(pool: &MySqlPool, token: &str) -> Result<String, ScrapeTokenError> {
    let hash = sha256_hex(token);
    let row = sqlx::query("SELECT id, tenant_id, revoked_at, last_used FROM scrape_tokens WHERE token_hash = ?")
        .bind(&hash)
        .fetch_optional(pool)
        .await
        .map_err(db("checking a scrape token"))?
        .ok_or(ScrapeTokenError::Refused)?;
    let revoked: Option<NaiveDateTime> = row.try_get("revoked_at").map_err(db("decoding a scrape token"))?;
    if revoked.is_some() {
        return Err(ScrapeTokenError::Refused);
    }
    let tenant_id: String = row.try_get("tenant_id").map_err(db("decoding a scrape token"))?;
    let last_used: Option<NaiveDateTime> = row.try_get("last_used").map_err(db("decoding a scrape token"))?;
    let stale = match last_used {
        None => true,
        Some(at) => (Utc::now() - utc(at)).to_std().map(|age| age >= crate::auth::LAST_USED_PRECISION).unwrap_or(false),
    };
    if stale {
        let pool = pool.clone();
        let token_id: String = row.try_get("id").unwrap_or_default();
        tokio::spawn(async move {
            if let Err(error) = sqlx::query("UPDATE scrape_tokens SET last_used = UTC_TIMESTAMP() WHERE token_hash = ?")
                .bind(hash)
                .execute(&pool)
                .await
            {
                tracing::warn!(token_id = %token_id, error = %error, "cannot update last_used of a scrape token");
            }
        });
    }
    Ok(tenant_id)
}

// ---------------------------------------------------------------------------
// REST (admins only)

type AppState = Arc<Shared>;

#[utoipa::path(
    get,
    path = "/config/scrape-tokens",
    tag = "prometheus",
    responses(
        (status = 200, description = "the tenant's scrape tokens, newest first", body = Vec<ScrapeTokenInfo>),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<ScrapeTokenInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(list_scrape_tokens(&shared.pool, &caller.tenant_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/config/scrape-tokens",
    tag = "prometheus",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "the new scrape token, shown this once", body = CreatedScrapeToken),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<CreatedScrapeToken>), ApiError> {
    caller.require_admin()?;
    let created = create_scrape_token(&shared.pool, &caller.tenant_id, body.name.as_deref()).await?;
    tracing::info!(user_id = %caller.user_id, token_id = %created.id, "scrape token created over rest");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete,
    path = "/config/scrape-tokens/{id}",
    tag = "prometheus",
    params(("id" = String, Path, description = "scrape token id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn revoke(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    revoke_scrape_token(&shared.pool, &caller.tenant_id, &id).await?;
    tracing::info!(user_id = %caller.user_id, token_id = %id, "scrape token revoked over rest");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_optional_and_bounded() {
        assert_eq!(check_name(None).unwrap(), None);
        assert_eq!(check_name(Some("  ")).unwrap(), None);
        assert_eq!(check_name(Some(" prod prometheus ")).unwrap().as_deref(), Some("prod prometheus"));
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let error = check_name(Some(&long)).unwrap_err();
        assert!(error.to_string().starts_with("name: "), "{error}");
        assert_eq!(error.error_code(), ErrorCode::Unprocessable);
        assert!(check_name(Some("a\nb")).is_err());
    }

    #[test]
    fn the_bearer_is_read_from_the_header_and_refusals_are_401() {
        let header = axum::http::HeaderValue::from_static("Bearer vgs_abc");
        assert_eq!(bearer(Some(&header)).unwrap(), "vgs_abc");
        for bad in
            [None, Some(axum::http::HeaderValue::from_static("Basic x")), Some(axum::http::HeaderValue::from_static("Bearer "))]
        {
            let error = bearer(bad.as_ref()).unwrap_err();
            assert_eq!(error.error_code(), ErrorCode::Unauthorized);
        }
    }
}
