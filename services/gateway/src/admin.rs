//! Tenants, users and agent tokens: the gateway's own tables, used by the
//! `vigil` CLI (`token create`, `user add`), by `vigil up`'s bootstrap, by the
//! admin REST routes (`/api/tokens`, `/api/users`) and by tests.
//!
//! Invariants:
//! - an agent token is `vgl_` + 64 hex digits (32 random bytes), returned once
//!   by [`create_agent_token`] and stored only as its SHA-256 hex;
//! - a token is bound to one tenant; revocation sets `revoked_at` and is
//!   final; an `expires_at` in the past refuses the token;
//! - passwords are stored as argon2id PHC strings, hashed off the async
//!   runtime (`spawn_blocking`); no function here returns a hash;
//! - every user function but [`add_user`]'s email check is scoped to a
//!   tenant: a user of another tenant is "not found"; deleting a user revokes
//!   their refresh tokens in the same transaction;
//! - times are written as UTC (`UTC_TIMESTAMP()`), independent of the
//!   session time zone.

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, Row};
use vigil_bus::error::HasErrorCode;
use vigil_bus::ErrorCode;

/// Prefix of every agent token (lets secret scanners and humans spot one).
pub const AGENT_TOKEN_PREFIX: &str = "vgl_";

/// A new agent token: `token` is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
}

/// A user's role in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    /// Runs remote actions; reads like a viewer; administers nothing.
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    InvalidId(#[from] vigil_bus::IdError),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("tenant {tenant_id:?} does not exist; create it first (vigil tenant add, or ensure_tenant)")]
    TenantNotFound { tenant_id: String },
    #[error("agent token {token_id:?} does not exist in tenant {tenant_id:?}")]
    TokenNotFound { tenant_id: String, token_id: String },
    #[error("a user with email {email:?} already exists; pick another email")]
    UserExists { email: String },
    #[error("user {user_id:?} does not exist in tenant {tenant_id:?}")]
    UserNotFound { tenant_id: String, user_id: String },
    #[error("cannot hash the password: {0}")]
    PasswordHash(#[source] crate::auth::PasswordHashError),
    #[error("database error while {action}: {source}")]
    Database { action: &'static str, source: sqlx::Error },
}

/// The code of REST answers (and of the CLI's exit code).
impl HasErrorCode for AdminError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AdminError::InvalidId(_) => ErrorCode::BadRequest,
            AdminError::Invalid { .. } => ErrorCode::Unprocessable,
            AdminError::TenantNotFound { .. } | AdminError::TokenNotFound { .. } | AdminError::UserNotFound { .. } => {
                ErrorCode::NotFound
            }
            AdminError::UserExists { .. } => ErrorCode::Conflict,
            AdminError::PasswordHash(_) | AdminError::Database { .. } => ErrorCode::Internal,
        }
    }
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> AdminError {
    move |source| AdminError::Database { action, source }
}

/// Hex of `bytes` random bytes from the OS.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// SHA-256 hex of a secret: what the tables store instead of the secret.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

/// Creates the tenant if absent; an existing tenant keeps its name.
pub async fn ensure_tenant(pool: &MySqlPool, tenant_id: &str, name: &str) -> Result<(), AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(AdminError::Invalid { field: "tenant name", message: format!("{name:?} must be 1 to 100 characters") });
    }
    sqlx::query("INSERT IGNORE INTO tenants (id, name, created_at) VALUES (?, ?, UTC_TIMESTAMP())")
        .bind(tenant_id)
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("creating the tenant"))?;
    Ok(())
}

async fn require_tenant(pool: &MySqlPool, tenant_id: &str) -> Result<(), AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let found = sqlx::query("SELECT 1 FROM tenants WHERE id = ?")
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
        .map_err(db("looking up the tenant"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(AdminError::TenantNotFound { tenant_id: tenant_id.to_owned() }),
    }
}

/// Creates an agent token for an existing tenant. The returned `token` is the
/// only copy of the secret.
pub async fn create_agent_token(pool: &MySqlPool, tenant_id: &str, name: Option<&str>) -> Result<CreatedToken, AdminError> {
    if let Some(name) = name {
        if name.chars().count() > 100 {
            return Err(AdminError::Invalid { field: "token name", message: "is longer than 100 characters".to_owned() });
        }
    }
    require_tenant(pool, tenant_id).await?;
    let token = format!("{AGENT_TOKEN_PREFIX}{}", random_hex(32));
    let id = format!("tok-{}", random_hex(8));
    sqlx::query("INSERT INTO agent_tokens (token_hash, id, tenant_id, name, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP())")
        .bind(sha256_hex(&token))
        .bind(&id)
        .bind(tenant_id)
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("storing the agent token"))?;
    tracing::info!(tenant_id, token_id = %id, "agent token created");
    Ok(CreatedToken { id, token })
}

/// Revokes a token of the tenant. Revoking a revoked token is a no-op (the
/// first revocation time is kept); a token of another tenant is not found.
pub async fn revoke_agent_token(pool: &MySqlPool, tenant_id: &str, token_id: &str) -> Result<(), AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let result =
        sqlx::query("UPDATE agent_tokens SET revoked_at = COALESCE(revoked_at, UTC_TIMESTAMP()) WHERE id = ? AND tenant_id = ?")
            .bind(token_id)
            .bind(tenant_id)
            .execute(pool)
            .await
            .map_err(db("revoking the agent token"))?;
    if result.rows_affected() == 0 {
        // MariaDB counts only changed rows: tell "already revoked" from "absent".
        let exists = sqlx::query("SELECT 1 FROM agent_tokens WHERE id = ? AND tenant_id = ?")
            .bind(token_id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await
            .map_err(db("looking up the agent token"))?;
        if exists.is_none() {
            return Err(AdminError::TokenNotFound { tenant_id: tenant_id.to_owned(), token_id: token_id.to_owned() });
        }
    }
    tracing::info!(tenant_id, token_id, "agent token revoked");
    Ok(())
}

/// What the token list shows: never the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentTokenInfo {
    pub id: String,
    pub name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The tenant's agent tokens, newest first.
pub async fn list_agent_tokens(pool: &MySqlPool, tenant_id: &str) -> Result<Vec<AgentTokenInfo>, AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let rows = sqlx::query(
        "SELECT id, name, created_at, expires_at, last_used, revoked_at FROM agent_tokens \
         WHERE tenant_id = ? ORDER BY created_at DESC, id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await
    .map_err(db("listing agent tokens"))?;
    rows.iter()
        .map(|row| {
            let time = |column: &str| row.try_get::<Option<NaiveDateTime>, _>(column).map(|t| t.map(utc));
            Ok(AgentTokenInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_at: time("created_at")?,
                expires_at: time("expires_at")?,
                last_used: time("last_used")?,
                revoked_at: time("revoked_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("decoding agent tokens"))
}

/// Length of a generated password (letters and digits).
pub const GENERATED_PASSWORD_LEN: usize = 20;
/// Shortest and longest password accepted, in characters.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;

/// A random password of [`GENERATED_PASSWORD_LEN`] letters and digits (shown once by its callers).
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, GENERATED_PASSWORD_LEN)
}

/// `local@domain`: one `@`, both parts non-empty, no spaces, at most 255 bytes
/// (`admin@localhost` is fine: no dot is required in the domain).
pub fn check_email(email: &str) -> Result<(), AdminError> {
    let valid = !email.is_empty()
        && email.len() <= 255
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(())
    } else {
        Err(AdminError::Invalid { field: "email", message: format!("{email:?} is not an email address (name@domain)") })
    }
}

pub fn check_password(password: &str) -> Result<(), AdminError> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(AdminError::Invalid { field: "password", message: format!("must be at least {PASSWORD_MIN} characters") });
    }
    if length > PASSWORD_MAX {
        return Err(AdminError::Invalid { field: "password", message: format!("must be at most {PASSWORD_MAX} characters") });
    }
    Ok(())
}

/// Adds a user to an existing tenant; returns the new user's id.
pub async fn add_user(pool: &MySqlPool, tenant_id: &str, email: &str, password: &str, role: Role) -> Result<String, AdminError> {
    let email = email.trim();
    check_email(email)?;
    check_password(password)?;
    require_tenant(pool, tenant_id).await?;
    if user_exists(pool, email).await? {
        return Err(AdminError::UserExists { email: email.to_owned() });
    }
    let hash = crate::auth::hash_password(password.to_owned()).await.map_err(AdminError::PasswordHash)?;
    let id = format!("usr-{}", random_hex(8));
    let inserted = sqlx::query(
        "INSERT INTO users (id, tenant_id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP())",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(email)
    .bind(&hash)
    .bind(role.as_str())
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => {}
        // Lost a race with another add of the same email (uq_email).
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(AdminError::UserExists { email: email.to_owned() });
        }
        Err(source) => return Err(AdminError::Database { action: "storing the user", source }),
    }
    tracing::info!(tenant_id, user_id = %id, role = %role, "user added");
    Ok(id)
}

/// True when a user (of any tenant) has this email.
pub async fn user_exists(pool: &MySqlPool, email: &str) -> Result<bool, AdminError> {
    let found = sqlx::query("SELECT 1 FROM users WHERE email = ?")
        .bind(email.trim())
        .fetch_optional(pool)
        .await
        .map_err(db("looking up the user"))?;
    Ok(found.is_some())
}

/// What the users list shows: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str = "id, email, CAST(role AS CHAR) AS role, created_at";

fn user_info(row: &sqlx::mysql::MySqlRow) -> Result<UserInfo, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserInfo {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role:?}").into()))?,
        created_at: row.try_get::<Option<NaiveDateTime>, _>("created_at")?.map(utc),
    })
}

/// The tenant's users, oldest first (the first admin on top).
pub async fn list_users(pool: &MySqlPool, tenant_id: &str) -> Result<Vec<UserInfo>, AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? ORDER BY created_at, email"))
        .bind(tenant_id)
        .fetch_all(pool)
        .await
        .map_err(db("listing users"))?;
    rows.iter().map(user_info).collect::<Result<_, _>>().map_err(db("decoding users"))
}

/// One user of the tenant.
pub async fn get_user(pool: &MySqlPool, tenant_id: &str, user_id: &str) -> Result<UserInfo, AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ? AND tenant_id = ?"))
        .bind(user_id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
        .map_err(db("looking up the user"))?;
    match row {
        Some(row) => user_info(&row).map_err(db("decoding the user")),
        None => Err(AdminError::UserNotFound { tenant_id: tenant_id.to_owned(), user_id: user_id.to_owned() }),
    }
}

/// Changes a user's role. Their current access tokens keep the old role
/// until they expire; the next refresh reads the new one.
pub async fn set_user_role(pool: &MySqlPool, tenant_id: &str, user_id: &str, role: Role) -> Result<UserInfo, AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    // MariaDB counts only changed rows, so "absent" is told apart by get_user below.
    sqlx::query("UPDATE users SET role = ? WHERE id = ? AND tenant_id = ?")
        .bind(role.as_str())
        .bind(user_id)
        .bind(tenant_id)
        .execute(pool)
        .await
        .map_err(db("changing the user's role"))?;
    let user = get_user(pool, tenant_id, user_id).await?;
    tracing::info!(tenant_id, user_id, role = %role, "user role changed");
    Ok(user)
}

/// Deletes a user of the tenant and revokes their refresh tokens, in one
/// transaction; returns how many refresh tokens were revoked. Access tokens
/// already issued stay valid until they expire (`access_token_ttl`).
pub async fn delete_user(pool: &MySqlPool, tenant_id: &str, user_id: &str) -> Result<u64, AdminError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let mut tx = pool.begin().await.map_err(db("deleting the user"))?;
    let deleted = sqlx::query("DELETE FROM users WHERE id = ? AND tenant_id = ?")
        .bind(user_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(db("deleting the user"))?;
    if deleted.rows_affected() == 0 {
        return Err(AdminError::UserNotFound { tenant_id: tenant_id.to_owned(), user_id: user_id.to_owned() });
    }
    let revoked = sqlx::query("UPDATE refresh_tokens SET revoked_at = UTC_TIMESTAMP() WHERE user_id = ? AND revoked_at IS NULL")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db("revoking the user's refresh tokens"))?
        .rows_affected();
    tx.commit().await.map_err(db("deleting the user"))?;
    tracing::info!(tenant_id, user_id, refresh_tokens_revoked = revoked, "user deleted");
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_sign_and_no_spaces() {
        for good in ["a@b.c", "admin@localhost", "first.last+tag@sub.example.org"] {
            check_email(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["", "plain", "@b.c", "a@", "a@b@c", "a b@c.d", "a@.c", "a@c.", "a@b\n.c"] {
            let error = check_email(bad).unwrap_err();
            assert!(error.to_string().starts_with("email: "), "{bad}: {error}");
            assert_eq!(error.error_code(), ErrorCode::Unprocessable);
        }
        check_email(&format!("{}@b.c", "a".repeat(300))).unwrap_err();
    }

    #[test]
    fn passwords_are_8_to_1024_characters_and_generated_ones_are_20_alphanumerics() {
        assert!(check_password("1234567").unwrap_err().to_string().starts_with("password: "));
        check_password("12345678").unwrap();
        check_password(&"x".repeat(PASSWORD_MAX + 1)).unwrap_err();
        let generated = generate_password();
        assert_eq!(generated.len(), GENERATED_PASSWORD_LEN);
        assert!(generated.chars().all(|c| c.is_ascii_alphanumeric()));
        check_password(&generated).unwrap();
        assert_ne!(generated, generate_password());
    }
}
