//! The REST API (axum) under `/api`.
//!
//! Invariants:
//! - every route but login, refresh and health needs `Authorization: Bearer
//!   <jwt>`; the JWT's tenant scopes every query (a host of another tenant is a
//!   404, never a 403, so ids of other tenants cannot be probed);
//! - ids from the path go through `ids::validate` before reaching a subject
//!   (400 otherwise);
//! - every error is `{"error":{"code","message"}}`; bad JSON syntax is 400,
//!   JSON of the wrong shape 422, bodies over [`BODY_LIMIT`] 413;
//! - hosts and metrics are asked to the collector; the gateway never reads
//!   its tables. A collector that does not answer is a 503.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vigil_bus::messages::Reply;
use vigil_bus::messages::{
    self, GetHost, HostRecord, HourlyPoint, HourlyRange, ListHosts, MetricsLatest, MetricsPoint, MetricsRange, MAX_RANGE_STEP,
};
use vigil_bus::rpc;
use vigil_bus::subjects::collector;
use vigil_bus::ErrorCode;

use crate::admin::{self, Role};
use crate::auth::{self, TokenRefused, User};
use crate::error::ApiError;
use crate::Shared;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Default and largest `limit` of a metrics query.
pub const DEFAULT_POINTS: u32 = 1000;
pub const MAX_POINTS: u32 = 10_000;
/// Default span of a metrics query without `from`.
pub const DEFAULT_SPAN: Duration = Duration::from_secs(3600);
/// How long the health check waits for NATS and the database.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

type AppState = Arc<Shared>;

pub(crate) async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no api route {}", uri.path()))
}

// ---------------------------------------------------------------------------
// Extractors

/// A JSON object body (`Json<T>`) whose rejections are our error body (400
/// syntax, 415 content type, 422 shape). The body must be an object: serde
/// would also read a struct from an array (`[]` as a struct whose fields
/// all have defaults), which the description does not allow.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (value, body) = json_body::<T, S>(request, state).await?;
        if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(ErrorCode::Unprocessable, "the JSON body has the wrong shape: send an object ({...})"));
        }
        Ok(ApiJson(value))
    }
}

/// A JSON array body (`PUT /api/config/notifications`), with the rejections of [`ApiJson`].
pub(crate) struct ApiJsonList<T>(pub Vec<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJsonList<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiJsonList(json_body::<Vec<T>, S>(request, state).await?.0))
    }
}

/// The body as `T` and as it came: JSON content type (415), at most
/// [`BODY_LIMIT`] (413), JSON (400), of `T`'s shape (422).
async fn json_body<T: DeserializeOwned, S: Send + Sync>(request: Request, state: &S) -> Result<(T, bytes::Bytes), ApiError> {
    let json_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        });
    if !json_type {
        return Err(ApiError::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with content-type: application/json",
        ));
    }
    let ApiBody(body) = ApiBody::from_request(request, state).await?;
    let Json(value) = Json::<T>::from_bytes(&body).map_err(json_rejection)?;
    Ok((value, body))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::JsonDataError(_) => format!("the JSON body has the wrong shape: {}", rejection.body_text()),
        JsonRejection::JsonSyntaxError(_) => format!("the body is not valid JSON: {}", rejection.body_text()),
        JsonRejection::MissingJsonContentType(_) => "send the body as JSON with content-type: application/json".to_owned(),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => format!("the body is larger than {BODY_LIMIT} bytes"),
        _ => rejection.body_text(),
    };
    ApiError::with_status(status, message)
}

/// The body as bytes (any content type) whose rejections are our error
/// body: over [`BODY_LIMIT`] a 413.
pub(crate) struct ApiBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match bytes::Bytes::from_request(request, state).await {
            Ok(body) => Ok(ApiBody(body)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::with_status(rejection.status(), format!("the body is larger than {BODY_LIMIT} bytes")))
            }
            Err(rejection) => Err(ApiError::with_status(rejection.status(), rejection.body_text())),
        }
    }
}

/// `Query<T>` whose rejection is our 400 body.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
}

/// The caller, from a valid access token.
pub(crate) struct Caller {
    pub user_id: String,
    pub tenant_id: String,
    pub role: Role,
}

impl Caller {
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Operator | Role::Viewer => {
                Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role; ask an admin of your tenant"))
            }
        }
    }

    /// Who did something (acknowledged, created, asked for an action): the
    /// user's email (the id when the user is gone).
    pub(crate) async fn email(&self, shared: &Shared) -> String {
        sqlx::query_scalar::<_, String>("SELECT email FROM users WHERE id = ? AND tenant_id = ?")
            .bind(&self.user_id)
            .bind(&self.tenant_id)
            .fetch_optional(&shared.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| self.user_id.clone())
    }

    /// Remote actions: operators and admins.
    pub(crate) fn require_operator(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Operator => Ok(()),
            Role::Viewer => Err(ApiError::new(
                ErrorCode::Forbidden,
                "running actions needs the operator or admin role; ask an admin of your tenant",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing access token; send Authorization: Bearer <access_token> (POST /api/auth/login)")
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("malformed Authorization header; expected Bearer <access_token>"))?;
        match auth::check_access_token(&state.config.jwt_secret, token) {
            Ok(claims) => Ok(Caller { user_id: claims.sub, tenant_id: claims.tenant, role: claims.role }),
            Err(TokenRefused::Expired) => {
                Err(ApiError::unauthorized("access token expired; refresh it (POST /api/auth/refresh)"))
            }
            Err(TokenRefused::Invalid) => Err(ApiError::unauthorized("invalid access token; log in again")),
        }
    }
}

pub(crate) fn host_id_from_path(id: &str) -> Result<(), ApiError> {
    id_from_path("host", id)
}

/// An id from the path or query (`rule-…`, `act-…`, `scenario-…`): a 400
/// naming it when it cannot be one.
pub(crate) fn id_from_path(kind: &'static str, id: &str) -> Result<(), ApiError> {
    Ok(vigil_bus::ids::validate(kind, id)?)
}

// ---------------------------------------------------------------------------
// Auth

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenPair {
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    user: User,
}

fn token_pair(shared: &Shared, user: User, refresh_token: String) -> Result<TokenPair, ApiError> {
    let ttl = shared.config.settings.access_token_ttl;
    let access_token = auth::issue_access_token(&shared.config.jwt_secret, &user.id, &user.tenant_id, user.role, ttl)
        .map_err(|e| ApiError::internal("signing an access token", e))?;
    Ok(TokenPair { access_token, refresh_token, token_type: "Bearer", expires_in: ttl.as_secs(), user })
}

#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "an access token and a refresh token", body = TokenPair),
        (status = 401, description = "wrong email or password", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn login(
    State(shared): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let found = auth::user_by_email(&shared.pool, &body.email).await.map_err(|e| ApiError::internal("looking up the user", e))?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = auth::verify_password(hash, body.password).await;
    let user = match (user, matches) {
        (Some(user), true) => user,
        _ => return Err(ApiError::unauthorized("wrong email or password")),
    };
    let refresh_token = auth::issue_refresh_token(&shared.pool, &user, shared.config.settings.refresh_token_ttl)
        .await
        .map_err(|e| ApiError::internal("storing a refresh token", e))?;
    tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, "user logged in");
    Ok(Json(token_pair(&shared, user, refresh_token)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "a new token pair; the refresh token sent is spent", body = TokenPair),
        (status = 401, description = "refresh token unknown, expired or already used", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn refresh(
    State(shared): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let rotated = auth::rotate_refresh_token(&shared.pool, &body.refresh_token, shared.config.settings.refresh_token_ttl)
        .await
        .map_err(|e| ApiError::internal("rotating a refresh token", e))?;
    let Some((user, refresh_token)) = rotated else {
        return Err(ApiError::unauthorized("refresh token unknown, expired or already used; log in again"));
    };
    Ok(Json(token_pair(&shared, user, refresh_token)?))
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "the refresh token is revoked (or was not the caller's)")),
)]
pub(crate) async fn logout(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let revoked = auth::revoke_refresh_token(&shared.pool, &caller.user_id, &body.refresh_token)
        .await
        .map_err(|e| ApiError::internal("revoking a refresh token", e))?;
    tracing::info!(user_id = %caller.user_id, revoked, "user logged out");
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// Health

#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "NATS and the database answer", body = Health),
        (status = 503, description = "NATS or the database does not answer", body = Health),
    ),
)]
pub(crate) async fn health(State(shared): State<AppState>) -> Response {
    let nats_ok = matches!(shared.nats.connection_state(), async_nats::connection::State::Connected)
        && tokio::time::timeout(HEALTH_TIMEOUT, shared.nats.flush()).await.map(|r| r.is_ok()).unwrap_or(false);
    let database_ok = tokio::time::timeout(HEALTH_TIMEOUT, sqlx::query("SELECT 1").execute(&shared.pool))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let word = |ok: bool| if ok { "ok" } else { "down" };
    let all_ok = nats_ok && database_ok;
    let status = if all_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health { status: if all_ok { "ok" } else { "unavailable" }, nats: word(nats_ok), database: word(database_ok) };
    (status, Json(body)).into_response()
}

/// `GET /api/health`: `ok` when NATS and the database both answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    #[schema(value_type = String, pattern = "^(ok|unavailable)$")]
    status: &'static str,
    #[schema(value_type = String, pattern = "^(ok|down)$")]
    nats: &'static str,
    #[schema(value_type = String, pattern = "^(ok|down)$")]
    database: &'static str,
}

// ---------------------------------------------------------------------------
// Hosts and metrics (answered by the collector)

#[utoipa::path(
    get,
    path = "/hosts",
    tag = "hosts",
    responses((status = 200, description = "the tenant's hosts", body = Vec<HostRecord>)),
)]
pub(crate) async fn list_hosts(State(shared): State<AppState>, caller: Caller) -> Result<Json<Vec<HostRecord>>, ApiError> {
    let hosts: Vec<HostRecord> =
        messages::request(&shared.nats, collector::LIST_HOSTS, &ListHosts { tenant_id: caller.tenant_id }).await?;
    Ok(Json(hosts))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HostWithLatest {
    #[serde(flatten)]
    host: HostRecord,
    latest: Option<MetricsPoint>,
}

#[utoipa::path(
    get,
    path = "/hosts/{id}",
    tag = "hosts",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$")),
    responses((status = 200, description = "the host and its latest snapshot", body = HostWithLatest)),
)]
pub(crate) async fn get_host(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HostWithLatest>, ApiError> {
    host_id_from_path(&id)?;
    let get = GetHost { tenant_id: caller.tenant_id.clone(), host_id: id.clone() };
    let latest: MetricsLatest = GetHost { tenant_id: caller.tenant_id, host_id: id };
    let (host, latest) = tokio::join!(
        messages::request::<_, HostRecord>(&shared.nats, collector::GET_HOST, &get),
        messages::request::<_, Option<MetricsPoint>>(&shared.nats, collector::METRICS_LATEST, &latest),
    );
    Ok(Json(HostWithLatest { host: host?, latest: latest? }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetricsQuery {
    /// Start of the window: RFC 3339 or unix seconds (default: an hour before `to`).
    #[param(value_type = Option<Instant>, inline)]
    from: Option<String>,
    /// End of the window: RFC 3339 or unix seconds (default: now).
    #[param(value_type = Option<Instant>, inline)]
    to: Option<String>,
    /// Most points answered (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
    /// Seconds per bucket: one point per bucket (its highest cpu).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 86400)]
    step: Option<String>,
}

/// The query of a window without `step` (`/api/containers/{id}/metrics`,
/// `/api/hosts/{id}/custom`), for their description: they read a
/// [`MetricsQuery`] and ignore its `step`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described only
pub(crate) struct WindowQuery {
    /// Start of the window: RFC 3339 or unix seconds (default: an hour before `to`).
    #[param(value_type = Option<Instant>, inline)]
    from: Option<String>,
    /// End of the window: RFC 3339 or unix seconds (default: now).
    #[param(value_type = Option<Instant>, inline)]
    to: Option<String>,
    /// Most points answered (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

/// `GET /api/hosts/{id}/metrics` answers `{host_id, from, to, points}`; the
/// points are the collector's reply bytes, streamed as they are pulled.
#[derive(Serialize)]
struct MetricsHead<'a> {
    host_id: &'a str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// What `GET /api/hosts/{id}/metrics` answers (written as a stream: the
/// head, then the collector's points as they arrive); for the description.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // never built: the answer is streamed
pub(crate) struct HostMetricsAnswer {
    host_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Oldest first.
    points: Vec<MetricsPoint>,
}

/// A `from` or `to` of a query, for the description: unix seconds (any
/// second chrono can hold) or an RFC 3339 date-time, as [`parse_time`] reads them.
pub(crate) struct Instant;

impl utoipa::PartialSchema for Instant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(DateTime::<Utc>::MIN_UTC.timestamp() as f64))
            .maximum(Some(DateTime::<Utc>::MAX_UTC.timestamp() as f64))
            .description(Some("unix seconds"));
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339, e.g. 2026-01-31T12:00:00Z"));
        OneOfBuilder::new().item(seconds).item(text).into()
    }
}

impl utoipa::ToSchema for Instant {}

/// RFC 3339 or unix seconds.
pub(crate) fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| ApiError::bad_request(format!("{name}={value} is out of range for unix seconds")));
    }
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        ApiError::bad_request(format!("{name}={value:?} is neither RFC 3339 (2026-01-31T12:00:00Z) nor unix seconds: {e}"))
    })
}

/// The times a stored point can have: the database binds times as
/// `TIMESTAMP` (1970-01-01 .. 2038-01-19 03:14:07 UTC), and the gateway
/// refuses snapshots outside its skew window, so nothing is stored outside.
pub(crate) fn storable_times() -> (DateTime<Utc>, DateTime<Utc>) {
    (DateTime::UNIX_EPOCH, DateTime::from_timestamp(i32::MAX as i64, 0).unwrap_or(DateTime::<Utc>::MAX_UTC))
}

/// `from` and `to` query values: `to` defaults to now, `from` to `span` before `to`.
/// Both are clamped to [`storable_times`]: `from=0000-01-01T00:00:00Z` reads
/// from the first stored point instead of silently matching nothing.
pub(crate) fn time_window(
    from: Option<&str>,
    to: Option<&str>,
    span: Duration,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.map(|v| parse_time("to", v)).transpose()?.unwrap_or(now);
    let span = chrono::Duration::from_std(span).unwrap_or(chrono::Duration::hours(1));
    // `to` may be the first instant chrono holds: the default `from` then stops there
    let from = from
        .map(|v| parse_time("from", v))
        .transpose()?
        .unwrap_or_else(|| to.checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC));
    if from > to {
        return Err(ApiError::bad_request(format!("from ({}) is after to ({}); swap them", from.to_rfc3339(), to.to_rfc3339())));
    }
    let (first, last) = storable_times();
    Ok((from.clamp(first, last), to.clamp(first, last)))
}

pub(crate) fn metrics_window(query: &MetricsQuery, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>, u32), ApiError> {
    let (from, to) = time_window(query.from.as_deref(), query.to.as_deref(), DEFAULT_SPAN, now)?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_POINTS,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_POINTS).contains(&n) => n,
            _ => return Err(ApiError::bad_request(format!("limit={text:?} must be a number from 1 to {MAX_POINTS}"))),
        },
    };
    Ok((from, to, limit))
}

#[utoipa::path(
    get,
    path = "/hosts/{id}/metrics",
    tag = "hosts",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$"), MetricsQuery),
    responses((status = 200, description = "the host's snapshots in the window, oldest first", body = HostMetricsAnswer)),
)]
pub(crate) async fn host_metrics(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> Result<Response, ApiError> {
    host_id_from_path(&id)?;
    let (from, to, limit) = metrics_window(&query, Utc::now())?;
    let step = match query.step.as_deref() {
        None => 0,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_RANGE_STEP).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "step={text:?} must be a number of seconds from 1 to {MAX_RANGE_STEP}"
                )))
            }
        },
    };
    let range = MetricsRange { tenant_id: caller.tenant_id, host_id: id.clone(), from, to, limit, step };
    // The collector answers NotFound for a host of another tenant. A large
    // answer (10,000 points of a host with 200 interfaces is ~300 MB) comes in
    // chunks pulled as the HTTP body is written: never whole in memory.
    let mut chunks = rpc::request_chunks(&shared.nats, collector::METRICS_RANGE, &range).await?;
    let first = match chunks.next().await {
        Some(chunk) => chunk?,
        None => return Err(ApiError::internal("reading metrics", "the collector sent an empty reply")),
    };
    // `{"ok":[...]}`: the points array and the closing brace pass through
    // unchanged after our own head; anything else is an error reply
    const OK_PREFIX: &[u8] = br#"{"ok":"#;
    let Some(points) = first.strip_prefix(OK_PREFIX).map(|rest| first.slice(first.len() - rest.len()..)) else {
        return Err(match serde_json::from_slice::<Reply<serde::de::IgnoredAny>>(&first) {
            Ok(Reply::Error(error)) => error.into(),
            _ => ApiError::internal("reading metrics", "the collector sent a malformed reply"),
        });
    };
    let mut head =
        serde_json::to_vec(&MetricsHead { host_id: &id, from, to }).map_err(|e| ApiError::internal("encoding metrics", e))?;
    head.pop(); // the closing brace comes with the points
    head.extend_from_slice(br#","points":"#);
    let body = futures::stream::iter([Ok(bytes::Bytes::from(head)), Ok(points)])
        .chain(chunks.map(|chunk| chunk.map_err(|error| std::io::Error::other(error.message))));
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], axum::body::Body::from_stream(body)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HourlyAnswer {
    host_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: Vec<HourlyPoint>,
}

/// Default window of `GET /api/hosts/{id}/metrics/hourly`: the last 30 days.
pub const DEFAULT_HOURLY_SPAN: Duration = Duration::from_secs(30 * 86_400);

/// Hourly aggregates of the host (complete hours; kept `collector.retention_hourly`).
#[utoipa::path(
    get,
    path = "/hosts/{id}/metrics/hourly",
    tag = "hosts",
    params(("id" = String, Path, description = "host id", pattern = "^[A-Za-z0-9_-]{1,50}$"), HourlyQuery),
    responses((status = 200, description = "the host's hourly aggregates in the window, oldest first", body = HourlyAnswer)),
)]
pub(crate) async fn host_metrics_hourly(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<HourlyQuery>,
) -> Result<Json<HourlyAnswer>, ApiError> {
    host_id_from_path(&id)?;
    let (from, to) = time_window(query.from.as_deref(), query.to.as_deref(), DEFAULT_HOURLY_SPAN, Utc::now())?;
    let range = HourlyRange { tenant_id: caller.tenant_id, host_id: id.clone(), from, to };
    let points: Vec<HourlyPoint> = messages::request(&shared.nats, collector::METRICS_HOURLY, &range).await?;
    Ok(Json(HourlyAnswer { host_id: id, from, to, points }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HourlyQuery {
    /// Start of the window: RFC 3339 or unix seconds (default: 30 days before `to`).
    #[param(value_type = Option<Instant>, inline)]
    from: Option<String>,
    /// End of the window: RFC 3339 or unix seconds (default: now).
    #[param(value_type = Option<Instant>, inline)]
    to: Option<String>,
}

// ---------------------------------------------------------------------------
// Agent tokens (admin only)

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "agent tokens",
    responses(
        (status = 200, description = "the tenant's agent tokens, newest first", body = Vec<admin::AgentTokenInfo>),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn list_tokens(
    State(shared): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<admin::AgentTokenInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(admin::list_agent_tokens(&shared.pool, &caller.tenant_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateTokenRequest {
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "agent tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "the new token, shown this once", body = admin::CreatedToken),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn create_token(
    State(shared): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<admin::CreatedToken>), ApiError> {
    caller.require_admin()?;
    let name = body.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let created = admin::create_agent_token(&shared.pool, &caller.tenant_id, name).await?;
    tracing::info!(user_id = %caller.user_id, token_id = %created.id, "agent token created over rest");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "agent tokens",
    params(("id" = String, Path, description = "token id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "the caller is not an admin", body = crate::openapi::ErrorBody),
    ),
)]
pub(crate) async fn revoke_token(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    admin::revoke_agent_token(&shared.pool, &caller.tenant_id, &id).await?;
    tracing::info!(user_id = %caller.user_id, token_id = %id, "agent token revoked over rest");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>, limit: Option<&str>) -> MetricsQuery {
        MetricsQuery { from: from.map(Into::into), to: to.map(Into::into), limit: limit.map(Into::into), step: None }
    }

    #[test]
    fn metrics_window_defaults_to_the_last_hour_and_1000_points() {
        let now = Utc::now();
        let (from, to, limit) = metrics_window(&query(None, None, None), now).unwrap();
        assert_eq!(to, now);
        assert_eq!(to - from, chrono::Duration::hours(1));
        assert_eq!(limit, DEFAULT_POINTS);
    }

    #[test]
    fn metrics_window_takes_rfc3339_or_unix_seconds() {
        let (from, to, limit) =
            metrics_window(&query(Some("1700000000"), Some("2023-11-14T23:13:20+01:00"), Some("5")), Utc::now()).unwrap();
        assert_eq!(from.timestamp(), 1_700_000_000);
        // 23:13:20 at +01:00 is the same instant as the unix time above.
        assert_eq!(to.timestamp(), 1_700_000_000);
        assert_eq!(limit, 5);
    }

    #[test]
    fn metrics_window_refuses_bad_times_reversed_ranges_and_limits() {
        let now = Utc::now();
        for (from, to, limit) in [
            (Some("yesterday"), None, None),
            (None, Some("12:00"), None),
            (Some("1700000100"), Some("1700000000"), None),
            (None, None, Some("0")),
            (None, None, Some("10001")),
            (None, None, Some("many")),
        ] {
            let error = metrics_window(&query(from, to, limit), now).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{from:?} {to:?} {limit:?}");
        }
    }

    fn json_request(body: &str) -> Request {
        Request::builder().header(header::CONTENT_TYPE, "application/json").body(axum::body::Body::from(body.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn a_json_body_is_an_object_and_a_list_body_an_array() {
        let Ok(ApiJson(body)) = ApiJson::<CreateTokenRequest>::from_request(json_request(r#"{"name": "a"}"#), &()).await else {
            panic!("an object is a body")
        };
        assert_eq!(body.name.as_deref(), Some("a"));
        for not_an_object in ["[]", "[null]", " [] "] {
            let Err(error) = ApiJson::<CreateTokenRequest>::from_request(json_request(not_an_object), &()).await else {
                panic!("{not_an_object} is not a body")
            };
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{not_an_object}");
            assert_eq!(error.message, "the JSON body has the wrong shape: send an object ({...})");
        }
        let Ok(ApiJsonList(list)) = ApiJsonList::<u32>::from_request(json_request("[1, 2]"), &()).await else {
            panic!("an array is a list body")
        };
        assert_eq!(list, vec![1, 2]);
        let Err(error) = ApiJsonList::<u32>::from_request(json_request("{}"), &()).await else {
            panic!("an object is not a list")
        };
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        let Err(error) = ApiJson::<CreateTokenRequest>::from_request(json_request("{"), &()).await else { panic!("not JSON") };
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        let plain = Request::builder().body(axum::body::Body::from("{}")).unwrap();
        let Err(error) = ApiJson::<CreateTokenRequest>::from_request(plain, &()).await else { panic!("no content type") };
        assert_eq!(
            (error.status, error.message.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON with content-type: application/json")
        );
    }

    #[test]
    fn a_window_ending_at_the_first_instant_chrono_holds_is_clamped_not_a_panic() {
        let first = DateTime::<Utc>::MIN_UTC.timestamp().to_string();
        let (from, to, _) = metrics_window(&query(None, Some(&first), None), Utc::now()).unwrap();
        assert_eq!((from, to), (DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH));
    }

    #[test]
    fn metrics_window_clamps_times_outside_what_the_database_binds() {
        let (from, to, _) =
            metrics_window(&query(Some("0000-01-01T00:00:00Z"), Some("9999-12-31T23:59:59Z"), None), Utc::now()).unwrap();
        assert_eq!(from, DateTime::UNIX_EPOCH);
        assert_eq!(to.to_rfc3339(), "2038-01-19T03:14:07+00:00");
    }
}
