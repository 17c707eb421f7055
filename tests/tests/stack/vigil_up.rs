//! `vigil up`: one command, the whole stack plus a local sovigilant watching
//! this machine, on a nats-server of its own that refuses anonymous clients;
//! the first admin's credentials are printed once, a nats seed never.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use vigil_testkit::eventually;
use vigil_tests::{bin, free_port, Stack};

use crate::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_up_runs_the_stack_and_monitors_this_machine() {
    let stack = Stack::new().await.unwrap();
    let mut env = stack.env();
    env.insert("VIGIL_UP_AGENT_BINARY".into(), bin("sovigilant").display().to_string());
    // vigil up runs its own nats-server (up.nats defaults to true) on
    // nats.url, trusting keys it generates into data_dir/nats.keys, the
    // services connecting with the creds it derives into data_dir/nats.creds
    let nats_url = format!("nats://127.0.0.1:{}", free_port());
    env.insert("VIGIL_NATS_URL".into(), nats_url.clone());
    env.remove("VIGIL_NATS_CREDENTIALS_FILE");
    std::fs::remove_file(stack.nats_credentials_file()).unwrap();
    std::fs::remove_file(stack.nats_keys_file()).unwrap();
    let log = stack.data_dir.path().join("vigil-up.log");
    let mut child = Command::new(bin("vigil"))
        .arg("up")
        .envs(&env)
        .env("VIGIL_LOG_LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut password = None;
    let mut up_line = None;
    let mut nats_line = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (password.is_none() || up_line.is_none()) && std::time::Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.strip_prefix("admin: admin@localhost / ") {
                password = Some(rest.trim().to_owned());
            }
            if line.starts_with("nats: ") {
                nats_line = Some(line.clone());
            }
            if line.starts_with("vigil is up") {
                up_line = Some(line);
            }
        }
    }
    let password = password.unwrap_or_else(|| panic!("the first admin's password is printed; log:\n{}", read(&log)));
    let up_line = up_line.expect("vigil up says where it listens");
    assert!(up_line.contains(&stack.http_port.to_string()), "{up_line}");

    // Its nats-server listens on nats.url and refuses anonymous and wrong clients.
    let creds = std::fs::read_to_string(stack.nats_credentials_file()).expect("the services' creds were generated");
    let keys = std::fs::read_to_string(stack.nats_keys_file()).expect("the nats keys were generated");
    let nats_line = nats_line.expect("vigil up says where its nats-server is");
    assert!(nats_line.contains(&nats_url), "{nats_line}");
    assert!(nats_line.contains(&stack.nats_credentials_file().display().to_string()), "{nats_line}");
    let anonymous = async_nats::connect(nats_url.as_str()).await.map(|_| ()).expect_err("an anonymous client got in");
    assert_eq!(anonymous.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{anonymous}");
    let connect = |creds: String| {
        let url = nats_url.clone();
        async move { async_nats::ConnectOptions::new().credentials(&creds).unwrap().connect(url).await }
    };
    let stranger = vigil_bus::accounts::BusKeys::generate().platform_user_creds().unwrap();
    let wrong = connect(stranger).await.map(|_| ()).expect_err("another operator's user got in");
    assert_eq!(wrong.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{wrong}");
    let platform = connect(creds.clone()).await.expect("the platform user connects");
    assert_eq!(platform.server_info().max_payload, 4 * 1024 * 1024, "the project's limits are in force");
    drop(platform);

    let response = reqwest::Client::new()
        .post(stack.http("/api/auth/login"))
        .json(&serde_json::json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let jwt = response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // The local agent registers this machine and its snapshots are stored.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let host_id = eventually("this machine in GET /api/hosts", Duration::from_secs(60), || async {
        let (_, hosts) = get(&stack, "/api/hosts", &jwt).await;
        hosts.as_array()?.iter().find(|h| h["hostname"] == hostname.as_str()).and_then(|h| h["id"].as_str()).map(str::to_owned)
    })
    .await;
    eventually("a stored snapshot of this machine", Duration::from_secs(60), || async {
        let (_, detail) = get(&stack, &format!("/api/hosts/{host_id}"), &jwt).await;
        (detail["status"] == "online" && !detail["latest"].is_null()).then_some(())
    })
    .await;

    // The local agent build is published for `sovigilant update` and install.sh.
    let manifest_path = format!("/downloads/sovigilant-{}-{}.json", std::env::consts::OS, std::env::consts::ARCH);
    let manifest: serde_json::Value = reqwest::get(stack.http(&manifest_path)).await.unwrap().json().await.unwrap();
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["size"].as_u64(), Some(std::fs::metadata(bin("sovigilant")).unwrap().len()));

    // SIGTERM stops everything cleanly.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "vigil up exited with {status}");
    assert!(std::net::TcpStream::connect(nats_url.trim_start_matches("nats://")).is_err(), "its nats-server stopped with it");
    let logged = read(&log);
    assert!(logged.contains("nats-server ready"), "{logged}");
    let keys: vigil_bus::accounts::BusKeys = serde_json::from_str(&keys).unwrap();
    for seed in [&keys.operator, &keys.system_account, &keys.system_user, &keys.platform_account, &keys.platform_user] {
        assert!(!logged.contains(seed.as_str()), "a nats seed is never logged");
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
