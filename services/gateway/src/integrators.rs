//! Integrators: read access to the bus for a tenant's own programs, through a
//! NATS account of the tenant's own (operator mode, `vigil_bus::accounts`).
//! Owns `nats_accounts` and `integrators`.
//!
//! - [`create`] (`vigil integrator create`, `POST /api/config/integrators`):
//!   the tenant's account is made with its first integrator (its seed kept
//!   in `nats_accounts`, so any gateway can sign for it), its JWT (signed by
//!   the operator key of `data_dir/nats.keys`) pushed to the running server
//!   as the system user ([`vigil_bus::accounts::CLAIMS_UPDATE`]: no file, no
//!   reload), its `HISTORY` stream created in it; then a user signed by the
//!   account key, whose creds file is returned this once (its seed is never
//!   stored);
//! - [`revoke`] (`DELETE /api/config/integrators/{id}`): the account JWT is
//!   pushed again with the user's key in `revocations` (the server drops its
//!   connections and refuses it from then on);
//! - [`list`] (`GET /api/config/integrators`): never a seed;
//! - at start, the gateway pushes every account it knows again and ensures
//!   its stream ([`restore`]), so a nats-server that lost its store (or a new
//!   cluster member) gets the tenants back.
//!
//! Invariants: a change is committed only after the server took the account
//! JWT (a push that fails rolls it back, 503); the account row is locked
//! while its JWT is signed and pushed, so two gateways never push an older
//! revocation list over a newer one; a seed is never logged nor answered
//! except the new user's, once, inside its creds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{MySql, MySqlPool, Row, Transaction};
use vigil_bus::accounts::{self, AccountsError, BusKeys};
use vigil_bus::error::HasErrorCode;
use vigil_bus::ErrorCode;

use crate::error::ApiError;
use crate::rest::{ApiJson, Caller};
use crate::Shared;

type AppState = Arc<Shared>;

/// How long a push or the stream setup may take.
const NATS_TIMEOUT: Duration = Duration::from_secs(10);
/// Name of an integrator created without one.
const DEFAULT_NAME: &str = "integrator";

/// What the gateway signs and pushes tenant accounts with: the bus keys of
/// `data_dir/nats.keys` and the server to push to.
#[derive(Clone)]
pub struct NatsAuthority {
    pub keys: BusKeys,
    /// `nats.url`.
    pub url: String,
}

impl std::fmt::Debug for NatsAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuthority").field("url", &vigil_runtime::nats::mask_password(&self.url)).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntegratorError {
    #[error(transparent)]
    InvalidId(#[from] vigil_bus::IdError),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("integrator {id:?} does not exist in tenant {tenant_id:?}")]
    NotFound { tenant_id: String, id: String },
    #[error("this gateway has no nats operator keys (data_dir/nats.keys), so it cannot sign tenant accounts; run it with the data_dir of the stack's nats keys")]
    NoKeys,
    #[error("nats at {url} did not take the account of tenant {tenant_id:?}: {message}; nothing was changed, try again")]
    Push { url: String, tenant_id: String, message: String },
    #[error("cannot sign the account of tenant {tenant_id:?}: {source}")]
    Sign { tenant_id: String, source: AccountsError },
    #[error("database error while {action}: {source}")]
    Database { action: &'static str, source: sqlx::Error },
}

impl HasErrorCode for IntegratorError {
    fn error_code(&self) -> ErrorCode {
        match self {
            IntegratorError::InvalidId(_) => ErrorCode::BadRequest,
            IntegratorError::Invalid { .. } => ErrorCode::Unprocessable,
            IntegratorError::NotFound { .. } => ErrorCode::NotFound,
            IntegratorError::NoKeys | IntegratorError::Push { .. } => ErrorCode::Unavailable,
            IntegratorError::Sign { .. } | IntegratorError::Database { .. } => ErrorCode::Internal,
        }
    }
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> IntegratorError {
    move |source| IntegratorError::Database { action, source }
}

/// An integrator as listed: never a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntegratorInfo {
    pub id: String,
    pub name: String,
    /// The user's public nkey (what a revocation names).
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new integrator: `credentials` (a creds file) is shown once and never stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedIntegrator {
    #[serde(flatten)]
    pub integrator: IntegratorInfo,
    /// The tenant account's public key.
    pub account: String,
    /// The stream of the account that keeps the tenant's messages.
    pub stream: String,
    /// The subjects the account receives.
    pub subjects: Vec<String>,
    /// The creds file (user JWT + nkey seed) for `nats --creds`, nats.py, ...
    pub credentials: String,
}

/// The tenant's account row, locked for the transaction.
struct AccountRow {
    public_key: String,
    seed: String,
}

fn check_name(name: Option<&str>) -> Result<String, IntegratorError> {
    let name = name.map(str::trim).filter(|name| !name.is_empty()).unwrap_or(DEFAULT_NAME);
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(IntegratorError::Invalid {
            field: "name",
            message: format!("{name:?} must be 1 to 100 characters without control characters"),
        });
    }
    Ok(name.to_owned())
}

/// Creates an integrator of `tenant_id` (and the tenant's account with the
/// first one); see the module doc.
pub async fn create(
    pool: &MySqlPool,
    authority: Option<&NatsAuthority>,
    tenant_id: &str,
    name: Option<&str>,
) -> Result<CreatedIntegrator, IntegratorError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let name = check_name(name)?;
    let authority = authority.ok_or(IntegratorError::NoKeys)?;
    let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
    let account = lock_account(&mut tx, tenant_id).await?;
    let user_seed = accounts::new_user_seed();
    let sign = |source| IntegratorError::Sign { tenant_id: tenant_id.to_owned(), source };
    let user = accounts::public_key(&user_seed, "user").map_err(sign)?;
    let id = format!("int-{}", crate::admin::random_hex(8));
    let created_at = Utc::now();
    sqlx::query("INSERT INTO integrators (id, tenant_id, name, public_key, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&id)
        .bind(tenant_id)
        .bind(&name)
        .bind(&user)
        .bind(created_at.naive_utc())
        .execute(&mut *tx)
        .await
        .map_err(db("storing the integrator"))?;
    push_locked(&mut tx, authority, tenant_id, &account).await?;
    let credentials = accounts::integrator_creds(&account.seed, &user_seed, tenant_id, &name).map_err(sign)?;
    tx.commit().await.map_err(db("committing the integrator"))?;
    tracing::info!(tenant_id, integrator_id = %id, user = %user, "integrator created");
    Ok(CreatedIntegrator {
        integrator: IntegratorInfo { id, name, user, created_at, revoked_at: None },
        account: account.public_key,
        stream: accounts::HISTORY_STREAM.to_owned(),
        subjects: accounts::tenant_subjects(tenant_id),
        credentials,
    })
}

/// Revokes integrator `id` of `tenant_id` for good. Revoking a revoked one
/// pushes the account again and keeps the first revocation time.
pub async fn revoke(
    pool: &MySqlPool,
    authority: Option<&NatsAuthority>,
    tenant_id: &str,
    id: &str,
) -> Result<(), IntegratorError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let authority = authority.ok_or(IntegratorError::NoKeys)?;
    let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
    let exists = sqlx::query("SELECT 1 FROM integrators WHERE id = ? AND tenant_id = ?")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("looking up the integrator"))?;
    if exists.is_none() {
        return Err(IntegratorError::NotFound { tenant_id: tenant_id.to_owned(), id: id.to_owned() });
    }
    let account = lock_account(&mut tx, tenant_id).await?;
    sqlx::query("UPDATE integrators SET revoked_at = COALESCE(revoked_at, UTC_TIMESTAMP(3)) WHERE id = ? AND tenant_id = ?")
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(db("revoking the integrator"))?;
    push_locked(&mut tx, authority, tenant_id, &account).await?;
    tx.commit().await.map_err(db("committing the revocation"))?;
    tracing::info!(tenant_id, integrator_id = id, "integrator revoked");
    Ok(())
}

/// The tenant's integrators, newest first.
pub async fn list(pool: &MySqlPool, tenant_id: &str) -> Result<Vec<IntegratorInfo>, IntegratorError> {
    vigil_bus::ids::validate("tenant", tenant_id)?;
    let rows = sqlx::query(
        "SELECT id, name, public_key, created_at, revoked_at FROM integrators WHERE tenant_id = ? ORDER BY created_at DESC, id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await
    .map_err(db("listing integrators"))?;
    rows.iter()
        .map(|row| {
            Ok(IntegratorInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                user: row.try_get("public_key")?,
                created_at: row.try_get::<NaiveDateTime, _>("created_at")?.and_utc(),
                revoked_at: row.try_get::<Option<NaiveDateTime>, _>("revoked_at")?.map(|t| t.and_utc()),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("reading integrators"))
}

/// Pushes every tenant account again and ensures its stream (at start).
/// Failures are logged: the accounts already on the server keep working.
pub async fn restore(pool: &MySqlPool, authority: &NatsAuthority) {
    let tenants: Vec<String> = match sqlx::query_scalar("SELECT tenant_id FROM nats_accounts").fetch_all(pool).await {
        Ok(tenants) => tenants,
        Err(error) => {
            tracing::warn!(error = %error, "cannot list the tenant nats accounts to push them again");
            return;
        }
    };
    for tenant_id in tenants {
        let pushed = async {
            let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
            let account = lock_account(&mut tx, &tenant_id).await?;
            push_locked(&mut tx, authority, &tenant_id, &account).await?;
            tx.commit().await.map_err(db("committing the account"))
        };
        match pushed.await {
            Ok(()) => tracing::debug!(tenant_id = %tenant_id, "tenant nats account pushed"),
            Err(error) => tracing::warn!(tenant_id = %tenant_id, error = %error, "cannot push the tenant nats account again"),
        }
    }
}

/// The tenant's account row, created (with a new account key) if absent,
/// locked until the transaction ends.
async fn lock_account(tx: &mut Transaction<'_, MySql>, tenant_id: &str) -> Result<AccountRow, IntegratorError> {
    let seed = accounts::new_account_seed();
    let public_key = accounts::public_key(&seed, "tenant account")
        .map_err(|source| IntegratorError::Sign { tenant_id: tenant_id.to_owned(), source })?;
    // a new row or the existing one; the JWT is written by push_locked
    sqlx::query(
        "INSERT IGNORE INTO nats_accounts (tenant_id, public_key, seed, jwt, created_at, updated_at) \
         VALUES (?, ?, ?, '', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
    )
    .bind(tenant_id)
    .bind(&public_key)
    .bind(&seed)
    .execute(&mut **tx)
    .await
    .map_err(db("creating the tenant's nats account"))?;
    let row = sqlx::query("SELECT public_key, seed FROM nats_accounts WHERE tenant_id = ? FOR UPDATE")
        .bind(tenant_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db("locking the tenant's nats account"))?;
    Ok(AccountRow {
        public_key: row.try_get("public_key").map_err(db("reading the tenant's nats account"))?,
        seed: row.try_get("seed").map_err(db("reading the tenant's nats account"))?,
    })
}

/// Signs the account JWT (revocations as the transaction sees them), pushes
/// it, ensures the account's stream and records the JWT in the row.
async fn push_locked(
    tx: &mut Transaction<'_, MySql>,
    authority: &NatsAuthority,
    tenant_id: &str,
    account: &AccountRow,
) -> Result<(), IntegratorError> {
    let revoked =
        sqlx::query("SELECT public_key, created_at, revoked_at FROM integrators WHERE tenant_id = ? AND revoked_at IS NOT NULL")
            .bind(tenant_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db("reading the revoked integrators"))?;
    let mut revocations = BTreeMap::new();
    for row in revoked {
        let key: String = row.try_get("public_key").map_err(db("reading the revoked integrators"))?;
        let created: NaiveDateTime = row.try_get("created_at").map_err(db("reading the revoked integrators"))?;
        let revoked: NaiveDateTime = row.try_get("revoked_at").map_err(db("reading the revoked integrators"))?;
        // the server refuses a user JWT issued at or before this second; the
        // JWT's iat is the creating gateway's clock (created_at, same second
        // or the next), revoked_at the database's: the later, plus a margin
        revocations.insert(key, created.max(revoked).and_utc().timestamp() + 2);
    }
    let jwt = accounts::tenant_account_jwt(&authority.keys, &account.public_key, tenant_id, &revocations)
        .map_err(|source| IntegratorError::Sign { tenant_id: tenant_id.to_owned(), source })?;
    let push_error = |message: String| IntegratorError::Push {
        url: vigil_runtime::nats::mask_password(&authority.url),
        tenant_id: tenant_id.to_owned(),
        message,
    };
    let pushed = tokio::time::timeout(NATS_TIMEOUT, async {
        push(authority, &jwt).await?;
        ensure_history(authority, tenant_id, &account.seed).await
    })
    .await;
    pushed.map_err(|_| push_error(format!("no answer within {NATS_TIMEOUT:?}")))?.map_err(push_error)?;
    sqlx::query("UPDATE nats_accounts SET jwt = ?, updated_at = UTC_TIMESTAMP(3) WHERE tenant_id = ?")
        .bind(&jwt)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await
        .map_err(db("recording the account jwt"))?;
    Ok(())
}

/// Connects with a creds file text.
async fn connect(url: &str, creds: &str, name: &str) -> Result<async_nats::Client, String> {
    let options = async_nats::ConnectOptions::new().credentials(creds).map_err(|error| format!("bad creds: {error}"))?;
    options.name(name).connect(url).await.map_err(|error| format!("cannot connect ({error})"))
}

/// `$SYS.REQ.CLAIMS.UPDATE` as the system user; the server answers
/// `{"data":{"code":200,...}}` when it took the JWT.
async fn push(authority: &NatsAuthority, jwt: &str) -> Result<(), String> {
    let creds = authority.keys.system_user_creds().map_err(|error| error.to_string())?;
    let system = connect(&authority.url, &creds, "vigil gateway (account push)").await?;
    let reply = system
        .request(accounts::CLAIMS_UPDATE, jwt.to_owned().into())
        .await
        .map_err(|error| format!("the claims update got no answer ({error})"))?;
    let _ = system.drain().await;
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap_or_default();
    if answer["data"]["code"].as_u64() == Some(200) {
        return Ok(());
    }
    let said = answer["error"]["description"].as_str().or(answer["data"]["message"].as_str()).unwrap_or("no reason given");
    Err(format!("the claims update was refused ({said})"))
}

/// The account's `HISTORY` stream (created once, as a user of the account
/// with every permission in it).
async fn ensure_history(authority: &NatsAuthority, tenant_id: &str, account_seed: &str) -> Result<(), String> {
    let creds = accounts::tenant_admin_creds(account_seed).map_err(|error| error.to_string())?;
    let client = connect(&authority.url, &creds, "vigil gateway (tenant stream)").await?;
    let jetstream = async_nats::jetstream::new(client.clone());
    let config = async_nats::jetstream::stream::Config {
        name: accounts::HISTORY_STREAM.to_owned(),
        description: Some(format!("what tenant {tenant_id} receives from Vigil, for its integrators")),
        subjects: accounts::tenant_subjects(tenant_id),
        max_age: accounts::HISTORY_MAX_AGE,
        max_bytes: accounts::HISTORY_MAX_BYTES,
        storage: async_nats::jetstream::stream::StorageType::File,
        discard: async_nats::jetstream::stream::DiscardPolicy::Old,
        ..Default::default()
    };
    let made =
        jetstream.get_or_create_stream(config).await.map(|_| ()).map_err(|error| format!("cannot create the stream ({error})"));
    let _ = client.drain().await;
    made
}

// ---- REST ------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateIntegratorRequest {
    /// Default `integrator`.
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    get,
    path = "/config/integrators",
    tag = "integrators",
    responses(
        (status = 200, description = "the tenant's integrators, newest first (never a seed)", body = Vec<IntegratorInfo>),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_integrators(
    State(shared): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<IntegratorInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(list(&shared.pool, &caller.tenant_id).await?))
}

#[utoipa::path(
    post,
    path = "/config/integrators",
    tag = "integrators",
    request_body = CreateIntegratorRequest,
    responses(
        (status = 201, description = "the integrator with its creds file, shown this once", body = CreatedIntegrator),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 422, description = "a bad name", body = crate::openapi::ErrorBody),
        (status = 503, description = "nats did not take the account, or the gateway has no operator keys", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_integrator(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateIntegratorRequest>,
) -> Result<(StatusCode, Json<CreatedIntegrator>), ApiError> {
    caller.require_admin()?;
    let created = create(&shared.pool, shared.config.nats_authority.as_ref(), &caller.tenant_id, body.name.as_deref()).await?;
    tracing::info!(by = %caller.user_id, integrator_id = %created.integrator.id, "integrator created over rest");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete,
    path = "/config/integrators/{id}",
    tag = "integrators",
    params(("id" = String, Path, description = "integrator id")),
    responses(
        (status = 204, description = "revoked: its creds are refused from now on"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such integrator in the tenant", body = crate::openapi::ErrorBody),
        (status = 503, description = "nats did not take the account", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn revoke_integrator(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    revoke(&shared.pool, shared.config.nats_authority.as_ref(), &caller.tenant_id, &id).await?;
    tracing::info!(by = %caller.user_id, integrator_id = %id, "integrator revoked over rest");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_default_and_are_bounded() {
        assert_eq!(check_name(None).unwrap(), "integrator");
        assert_eq!(check_name(Some("  grafana  ")).unwrap(), "grafana");
        let error = check_name(Some(&"x".repeat(101))).unwrap_err().to_string();
        assert!(error.starts_with("name: "), "{error}");
        assert!(check_name(Some("a\nb")).is_err());
    }

    #[test]
    fn errors_map_to_their_codes_and_never_show_a_seed() {
        assert_eq!(IntegratorError::NoKeys.error_code(), ErrorCode::Unavailable);
        let push = IntegratorError::Push { url: "nats://x".into(), tenant_id: "acme".into(), message: "timeout".into() };
        assert_eq!(push.error_code(), ErrorCode::Unavailable);
        assert!(push.to_string().contains("nothing was changed"));
        let authority = NatsAuthority { keys: BusKeys::generate(), url: "nats://u:secret@h:4222".into() };
        let shown = format!("{authority:?}");
        assert!(!shown.contains(&authority.keys.operator) && !shown.contains("secret"), "{shown}");
    }
}
