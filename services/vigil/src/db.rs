//! The database: connect (creating the database named in the url when it does
//! not exist yet) and run the embedded migrations.
//!
//! Invariants: migrations are embedded at build time from `migrations/`, so a
//! `vigil` binary always carries the schema it was built against; running them
//! is idempotent and safe from several processes at once: [`migrate`] holds a
//! named lock of the database while it runs them (sqlx's own lock asks
//! `GET_LOCK(name, -1)`, which MariaDB answers at once with NULL, and sqlx
//! does not look: six `vigil migrate` on a fresh database failed with
//! duplicate keys in `_sqlx_migrations`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, MySqlPool};

/// MySQL/MariaDB error number of "Unknown database".
const UNKNOWN_DATABASE: u16 = 1049;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database.url {url}: {message}")]
    Url { url: String, message: String },
    #[error("cannot connect to the database at {url}: {source}; check database.url and that mariadb is running")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the database {name:?}: {source}")]
    Create { name: String, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot migrate the database: {MIGRATION_LOCK_WAIT_SECONDS} s without the migration lock, which another vigil holds (still migrating?); try again")]
    LockTimeout,
    #[error("cannot take the migration lock of the database: {0}")]
    Lock(sqlx::Error),
}

/// How long [`migrate`] waits for another process's migrations.
pub const MIGRATION_LOCK_WAIT_SECONDS: u32 = 120;

/// The schema, embedded from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Connects a pool of `max_connections` to `url`, creating the database first
/// when the server does not have it.
pub async fn connect(url: &str, max_connections: u32) -> Result<MySqlPool, DbError> {
    let shown = crate::config::mask_password(url);
    let options =
        MySqlConnectOptions::from_str(url).map_err(|error| DbError::Url { url: shown.clone(), message: error.to_string() })?;
    let name = options
        .get_database()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| DbError::Url { url: shown.clone(), message: "names no database; end it with /<database>".into() })?
        .to_owned();
    let pool_options = || MySqlPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10));
    // one plain connection first: it fails at once where a pool would retry
    // until its acquire timeout
    match options.connect().await {
        Ok(connection) => {
            let _ = connection.close().await;
        }
        Err(error) if is_unknown_database(&error) => create_database(&options, &name).await?,
        Err(source) => return Err(DbError::Connect { url: shown, source }),
    }
    pool_options().connect_with(options).await.map_err(|source| DbError::Connect { url: shown, source })
}

/// Connects and brings the schema up to date (what `vigil migrate` does).
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> Result<MySqlPool, DbError> {
    let pool = connect(url, max_connections).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Runs every embedded migration not yet applied, holding the database's
/// migration lock (one name per database) on the connection that runs them.
/// Idempotent; another process migrating the same database is waited for.
pub async fn migrate(pool: &MySqlPool) -> Result<(), DbError> {
    let mut connection = pool.acquire().await.map_err(DbError::Lock)?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT('vigil_migrate.', DATABASE()), ?)")
        .bind(MIGRATION_LOCK_WAIT_SECONDS)
        .fetch_one(&mut *connection)
        .await
        .map_err(DbError::Lock)?;
    if locked != Some(1) {
        return Err(DbError::LockTimeout);
    }
    let result = MIGRATOR.run(&mut *connection).await;
    // the lock also ends with the connection, should this fail
    let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT('vigil_migrate.', DATABASE()))").execute(&mut *connection).await;
    result?;
    Ok(())
}

fn is_unknown_database(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.try_downcast_ref::<MySqlDatabaseError>().is_some_and(|mysql| mysql.number() == UNKNOWN_DATABASE)
        }
        _ => false,
    }
}

async fn create_database(options: &MySqlConnectOptions, name: &str) -> Result<(), DbError> {
    let create = |source| DbError::Create { name: name.to_owned(), source };
    // information_schema exists on every server and needs no privilege to open
    let mut connection = options.clone().database("information_schema").connect().await.map_err(create)?;
    let quoted = format!("`{}`", name.replace('`', "``"));
    sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        .execute(&mut connection)
        .await
        .map_err(create)?;
    tracing::info!(database = %name, "created the database");
    connection.close().await.map_err(create)?;
    Ok(())
}
