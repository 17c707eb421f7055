//! `vigil migrate` against the real MariaDB: the database named in the url is
//! created when absent, the schema is applied, and running it again changes nothing.

use sqlx::Row;

const SERVER: &str = "mysql://root@127.0.0.1:3306";

fn fresh_name() -> String {
    format!("vigil_t_{}", hex::encode(rand::random::<[u8; 6]>()))
}

async fn tables(pool: &sqlx::MySqlPool, database: &str) -> Vec<String> {
    sqlx::query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name")
        .bind(database)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("name"))
        .collect()
}

async fn drop_database(pool: sqlx::MySqlPool, database: &str) {
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{database}`")).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn migrate_creates_the_missing_database_and_its_tables() {
    let name = fresh_name();
    let pool = vigil::db::connect_and_migrate(&format!("{SERVER}/{name}"), 2).await.unwrap();
    let found = tables(&pool, &name).await;
    for table in ["hosts", "metrics_host", "tenants", "users", "agent_tokens", "_sqlx_migrations"] {
        assert!(found.iter().any(|t| t == table), "{table} missing from {found:?}");
    }
    drop_database(pool, &name).await;
}

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let name = fresh_name();
    let pool = vigil::db::connect_and_migrate(&format!("{SERVER}/{name}"), 2).await.unwrap();
    let before = tables(&pool, &name).await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    vigil::migrate(&pool).await.unwrap();
    // a second process connecting to the now existing database migrates cleanly too
    let again = vigil::db::connect_and_migrate(&format!("{SERVER}/{name}"), 1).await.unwrap();
    again.close().await;
    assert_eq!(tables(&pool, &name).await, before);
    let applied_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(applied_after, applied);
    drop_database(pool, &name).await;
}

#[tokio::test]
async fn unreachable_database_error_names_the_url_without_its_password() {
    let error = vigil::db::connect("mysql://root:hunter2@127.0.0.1:1/vigil", 1).await.unwrap_err().to_string();
    assert!(error.contains("mysql://root:***@127.0.0.1:1/vigil"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}
