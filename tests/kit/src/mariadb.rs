//! A mariadbd of a test's own, for what the machine's shared MariaDB must
//! not go through: being stopped and started again (a database outage, a
//! cold read), or started with other server options (a storage engine
//! plugin, a bigger buffer pool).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::MySqlPool;

use crate::{eventually, free_port, migrate};

/// Kills (and reaps) a child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A mariadbd with its own datadir (created by `mariadb-install-db` in a
/// temporary directory) on a free port, `root` without a password. It can
/// be [stopped](Self::stop) (SIGKILL) or [shut down](Self::shutdown)
/// (cleanly) and [resumed](Self::resume) on the same datadir, port and
/// server arguments; the process dies and the datadir is removed on `Drop`.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    pub port: u16,
    /// Arguments given to mariadbd after the defaults (a later one wins).
    args: Vec<String>,
    process: Option<KillOnDrop>,
}

impl PrivateMariaDb {
    /// Creates the datadir and starts mariadbd; returns once it accepts connections.
    pub async fn start() -> PrivateMariaDb {
        PrivateMariaDb::start_with(Vec::new()).await
    }

    /// As [`Self::start`], with `args` given to mariadbd after the defaults
    /// (so they override them), at every start: e.g.
    /// `--plugin-load-add=ha_rocksdb.so`, `--innodb-buffer-pool-size=512M`.
    /// The datadir is made under `$TMPDIR` (`/tmp` by default).
    pub async fn start_with(args: Vec<String>) -> PrivateMariaDb {
        let dir = tempfile::tempdir().expect("temp dir for mariadb");
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run mariadb-install-db");
        assert!(status.success(), "mariadb-install-db failed");
        let mut db = PrivateMariaDb { dir, port: free_port(), args, process: None };
        db.resume().await;
        db
    }

    /// The server's datadir (one directory per database, `#rocksdb`, ...).
    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Connection options for `root` on this server (no database chosen).
    pub fn options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new().host("127.0.0.1").port(self.port).username("root")
    }

    /// Starts mariadbd (again) on the same datadir and port; returns once it
    /// accepts connections (within 30 s).
    pub async fn resume(&mut self) {
        let dir = self.dir.path();
        let process = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
            .args(["--bind-address=127.0.0.1", "--skip-grant-tables", "--innodb-buffer-pool-size=16M"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.process = Some(KillOnDrop(process));
        let what = format!("the private mariadbd on port {} to accept connections", self.port);
        eventually(&what, Duration::from_secs(30), || async {
            match MySqlPoolOptions::new().max_connections(1).connect_with(self.options()).await {
                Ok(pool) => {
                    pool.close().await;
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            }
        })
        .await;
    }

    /// Stops mariadbd (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Shuts mariadbd down cleanly (`SHUTDOWN`) and waits (up to 60 s) for
    /// its process to exit, killing it after that; [`Self::resume`] starts
    /// it again without a crash recovery.
    pub async fn shutdown(&mut self) {
        let Some(mut process) = self.process.take() else { return };
        if let Ok(pool) = MySqlPoolOptions::new().max_connections(1).connect_with(self.options()).await {
            // the server may close the connection before it answers
            let _ = sqlx::query("SHUTDOWN").execute(&pool).await;
            pool.close().await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if matches!(process.0.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("testkit: the private mariadbd on port {} did not shut down within 60s; killing it", self.port);
    }

    /// Creates the database `name`, migrated, and a pool on it (5
    /// connections, 2 s acquire timeout so an outage shows quickly).
    pub async fn create_db(&self, name: &str) -> MySqlPool {
        let admin =
            MySqlPoolOptions::new().max_connections(1).connect_with(self.options()).await.expect("connect private mariadb");
        sqlx::query(&format!("CREATE DATABASE `{name}`")).execute(&admin).await.expect("create database");
        admin.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(self.options().database(name))
            .await
            .expect("connect private db");
        migrate(&pool).await;
        pool
    }
}
