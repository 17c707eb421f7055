//! Credentials: argon2id passwords, HS256 JWT access tokens, rotating refresh
//! tokens, agent token checks.
//!
//! Invariants:
//! - argon2 work runs in `spawn_blocking`, never on the async runtime;
//! - login answers the same 401 for an unknown email and a wrong password, and
//!   verifies a password hash in both cases (no timing oracle for emails);
//! - a refresh token is usable once: rotation revokes it with a conditional
//!   `UPDATE ... WHERE revoked_at IS NULL` so two concurrent refreshes with the
//!   same token cannot both succeed;
//! - JWT expiry is checked with zero leeway;
//! - an agent token's `last_used` is written at most once per
//!   [`LAST_USED_PRECISION`], not on every call.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{NaiveDateTime, Utc};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::{MySqlPool, Row};
use vigil_bus::error::HasErrorCode;
use vigil_bus::ErrorCode;

use crate::admin::{random_hex, sha256_hex, utc, Role};

/// How stale `agent_tokens.last_used` may get before a call refreshes it.
pub const LAST_USED_PRECISION: Duration = Duration::from_secs(5 * 60);

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordHashError {
    #[error("argon2: {0}")]
    Argon2(#[source] argon2::password_hash::Error),
    #[error("hashing task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Hashes a password with argon2id (PHC string), off the async runtime.
pub(crate) async fn hash_password(password: String) -> Result<String, PasswordHashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(PasswordHashError::Argon2)
    })
    .await
    .map_err(PasswordHashError::Task)?
}

/// A valid hash of a password nobody knows, verified when the email is
/// unknown so both 401 paths cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(random_hex(16).as_bytes(), &salt).map(|hash| hash.to_string()).unwrap_or_default()
    })
}

/// True when `password` matches the PHC `hash` (`None`: check a dummy hash
/// and answer false). Off the async runtime.
pub(crate) async fn verify_password(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = match PasswordHash::new(&hash) {
            Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(error) => {
                tracing::error!(error = %error, "a stored password hash is not a PHC string");
                false
            }
        };
        known && matches
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// JWT access tokens

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// User id.
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

pub(crate) fn issue_access_token(
    secret: &[u8],
    user_id: &str,
    tenant_id: &str,
    role: Role,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user_id.to_owned(),
        tenant: tenant_id.to_owned(),
        role,
        iat: now,
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
}

/// Why an access token was refused (each is a 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRefused {
    Expired,
    Invalid,
}

pub(crate) fn check_access_token(secret: &[u8], token: &str) -> Result<Claims, TokenRefused> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation) {
        Ok(data) => {
            if vigil_bus::ids::validate("tenant", &data.claims.tenant).is_err() {
                return Err(TokenRefused::Invalid);
            }
            Ok(data.claims)
        }
        Err(error) if matches!(error.kind(), ErrorKind::ExpiredSignature) => Err(TokenRefused::Expired),
        Err(_) => Err(TokenRefused::Invalid),
    }
}

// ---------------------------------------------------------------------------
// Users and refresh tokens

/// A user row, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct User {
    pub id: String,
    pub email: String,
    pub tenant_id: String,
    pub role: Role,
}

fn user_from_row(row: &sqlx::mysql::MySqlRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        tenant_id: row.try_get("tenant_id")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role:?}").into()))?,
    })
}

/// The user with that email and their password hash.
pub(crate) async fn user_by_email(pool: &MySqlPool, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    let row = sqlx::query("SELECT id, email, tenant_id, CAST(role AS CHAR) AS role, password_hash FROM users WHERE email = ?")
        .bind(email.trim())
        .fetch_optional(pool)
        .await?;
    row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?))).transpose()
}

async fn user_by_id(executor: impl sqlx::MySqlExecutor<'_>, user_id: &str) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query("SELECT id, email, tenant_id, CAST(role AS CHAR) AS role FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_optional(executor)
        .await?;
    row.map(|row| user_from_row(&row)).transpose()
}

/// Stores a new refresh token for the user; returns the secret (shown once).
pub(crate) async fn issue_refresh_token(
    executor: impl sqlx::MySqlExecutor<'_>,
    user: &User,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let token = format!("vgr_{}", random_hex(32));
    let expires_at = Utc::now().naive_utc() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, tenant_id, created_at, expires_at) VALUES (?, ?, ?, UTC_TIMESTAMP(), ?)",
    )
    .bind(sha256_hex(&token))
    .bind(&user.id)
    .bind(&user.tenant_id)
    .bind(expires_at)
    .execute(executor)
    .await?;
    Ok(token)
}

/// Revokes `refresh_token` and issues its successor, in one transaction.
/// `Ok(None)`: the token is unknown, revoked, expired or its user is gone.
pub(crate) async fn rotate_refresh_token(
    pool: &MySqlPool,
    refresh_token: &str,
    ttl: Duration,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let hash = sha256_hex(refresh_token);
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = UTC_TIMESTAMP() \
         WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > UTC_TIMESTAMP()",
    )
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    if revoked.rows_affected() != 1 {
        return Ok(None);
    }
    let user_id: String = sqlx::query("SELECT user_id FROM refresh_tokens WHERE token_hash = ?")
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await?
        .try_get("user_id")?;
    let Some(user) = user_by_id(&mut *tx, &user_id).await? else {
        return Ok(None);
    };
    let next = issue_refresh_token(&mut *tx, &user, ttl).await?;
    tx.commit().await?;
    Ok(Some((user, next)))
}

/// Revokes the user's refresh token (a no-op for an unknown one or another
/// user's). Returns whether a token was revoked now.
pub(crate) async fn revoke_refresh_token(pool: &MySqlPool, user_id: &str, refresh_token: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = UTC_TIMESTAMP() WHERE token_hash = ? AND user_id = ? AND revoked_at IS NULL",
    )
    .bind(sha256_hex(refresh_token))
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Agent tokens

/// Who an agent token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentIdentity {
    pub tenant_id: String,
    pub token_id: String,
    token_hash: String,
}

/// Why an agent token was refused (each answered through [`crate::error::status`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentAuthError {
    #[error("missing agent token; send metadata `authorization: Bearer <token>`")]
    Missing,
    #[error("malformed authorization metadata; expected `Bearer vgl_...` (create a token with `vigil token create`)")]
    Malformed,
    #[error("unknown agent token; create one with `vigil token create`")]
    Unknown,
    #[error("agent token revoked; give the agent a new token")]
    Revoked,
    #[error("agent token expired; give the agent a new token")]
    Expired,
    /// The cause is logged, never sent to the agent.
    #[error("cannot check the agent token right now; retry")]
    Database(#[source] sqlx::Error),
}

impl HasErrorCode for AgentAuthError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AgentAuthError::Database(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// Extracts the bearer token from gRPC metadata (never logged).
pub(crate) fn bearer_from_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<String, AgentAuthError> {
    let value = metadata.get("authorization").ok_or(AgentAuthError::Missing)?;
    let text = value.to_str().map_err(|_| AgentAuthError::Malformed)?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AgentAuthError::Malformed)?;
    Ok(token.to_owned())
}

/// Checks an agent token against `agent_tokens`: known, not revoked, not
/// expired. Refreshes `last_used` when it is stale (in the background).
pub(crate) async fn authenticate_agent(pool: &MySqlPool, token: &str) -> Result<AgentIdentity, AgentAuthError> {
    check_agent_token_hash(pool, sha256_hex(token)).await
}

/// Checks again a token that was accepted before (long-lived streams).
pub(crate) async fn recheck_agent(pool: &MySqlPool, identity: &AgentIdentity) -> Result<AgentIdentity, AgentAuthError> {
    check_agent_token_hash(pool, identity.token_hash.clone()).await
}

async fn check_agent_token_hash(pool: &MySqlPool, token_hash: String) -> Result<AgentIdentity, AgentAuthError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, CAST(revoked_at IS NOT NULL AS SIGNED) AS revoked, \
                CAST(expires_at IS NOT NULL AND expires_at <= UTC_TIMESTAMP() AS SIGNED) AS expired, last_used \
         FROM agent_tokens WHERE token_hash = ?",
    )
    .bind(&token_hash)
    .fetch_optional(pool)
    .await
    .map_err(AgentAuthError::Database)?
    .ok_or(AgentAuthError::Unknown)?;
    let flag = |column: &str| row.try_get::<i64, _>(column).map(|v| v != 0).map_err(AgentAuthError::Database);
    if flag("revoked")? {
        return Err(AgentAuthError::Revoked);
    }
    if flag("expired")? {
        return Err(AgentAuthError::Expired);
    }
    let identity = AgentIdentity {
        tenant_id: row.try_get("tenant_id").map_err(AgentAuthError::Database)?,
        token_id: row.try_get("id").map_err(AgentAuthError::Database)?,
        token_hash,
    };
    let last_used: Option<NaiveDateTime> = row.try_get("last_used").map_err(AgentAuthError::Database)?;
    let stale = match last_used {
        None => true,
        Some(at) => (Utc::now() - utc(at)).to_std().map(|age| age >= LAST_USED_PRECISION).unwrap_or(false),
    };
    if stale {
        let pool = pool.clone();
        let hash = identity.token_hash.clone();
        let token_id = identity.token_id.clone();
        tokio::spawn(async move {
            if let Err(error) = sqlx::query("UPDATE agent_tokens SET last_used = UTC_TIMESTAMP() WHERE token_hash = ?")
                .bind(hash)
                .execute(&pool)
                .await
            {
                tracing::warn!(token_id = %token_id, error = %error, "cannot update last_used of an agent token");
            }
        });
    }
    Ok(identity)
}
