//! Remote actions through a real `sovigilant run` process and the test
//! gateway: signed orders run, unsigned, forged, altered, foreign and
//! expired ones never do; an action id runs at most once (repeated, while it
//! runs, after a restart); the policy decides with its rules, service actions
//! run `systemctl` / `rc-service` with the exact argv; the registration
//! carries the policy. Every refusal is answered.

mod common;

use std::path::Path;
use std::time::Duration;

use common::actions::{script, unsigned, RunningAgent, Signer, REQUESTED_BY};
use common::eventually;
use vigil_proto::ActionResult;

fn statuses(results: &[ActionResult]) -> Vec<&str> {
    results.iter().map(|r| r.status.as_str()).collect()
}

fn only(results: &[ActionResult]) -> &ActionResult {
    assert_eq!(results.len(), 1, "{results:#?}");
    &results[0]
}

#[tokio::test]
async fn signed_orders_run_and_unsigned_forged_altered_foreign_or_expired_ones_never_do() {
    let signer = Signer::new();
    let mut agent = RunningAgent::start("enabled: true\nallowed:\n  - \"exec touch *\"\n").await;
    signer.pin(&agent.state);
    let marks = agent.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let touch = |name: &str| format!("touch {}", marks.join(name).display());
    let ran = |name: &str| marks.join(name).exists();

    // signed with the pinned key: runs, reported running then success
    let results = agent.act(signer.order("sig-ok", "exec", &[("command", &touch("ok"))])).await;
    assert_eq!(statuses(&results), ["running", "success"], "{results:#?}");
    let last = &results[1];
    assert!(last.success && last.exit_code == Some(0) && last.error.is_empty(), "{last:#?}");
    assert_eq!(last.command, format!("exec {}", touch("ok")));
    assert_eq!((results[0].rule.as_str(), last.rule.as_str()), ("exec touch *", "exec touch *"));
    assert!(!results[0].started_at.is_empty() && results[0].started_at == last.started_at);
    assert!(ran("ok"));

    let refused = |results: &[ActionResult], status: &str, needle: &str| {
        let result = only(results);
        assert_eq!(result.status, status, "{result:#?}");
        assert!(!result.success);
        assert!(result.error.contains(needle), "{needle:?} not in {:?}", result.error);
    };
    // unsigned
    let results = agent.act(unsigned("sig-none", "exec", &[("command", &touch("none"))])).await;
    refused(&results, "denied", "not signed");
    // signed by another key
    let results = agent.act(Signer::new().order("sig-forged", "exec", &[("command", &touch("forged"))])).await;
    refused(&results, "denied", "does not verify with the pinned action key");
    // signed, then altered on the way
    let mut altered = signer.order("sig-altered", "exec", &[("command", &touch("altered-before"))]);
    altered.params.insert("command".into(), touch("altered"));
    refused(&agent.act(altered).await, "denied", "does not verify");
    let mut later = signer.order("sig-later", "exec", &[("command", &touch("later"))]);
    later.expires_at = vigil_bus::actions::signed_time(chrono::Utc::now() + chrono::Duration::hours(5));
    refused(&agent.act(later).await, "denied", "does not verify");
    // signed for another host, another tenant
    let mut other_host = unsigned("sig-host", "exec", &[("command", &touch("host"))]);
    other_host.host_id = "host-other".into();
    refused(&agent.act(signer.sign(other_host)).await, "denied", "for host \"host-other\"");
    let mut other_tenant = unsigned("sig-tenant", "exec", &[("command", &touch("tenant"))]);
    other_tenant.tenant_id = "tenant-other".into();
    refused(&agent.act(signer.sign(other_tenant)).await, "denied", "for tenant \"tenant-other\"");
    // signed, valid, expired: never runs
    let mut expired = unsigned("sig-expired", "exec", &[("command", &touch("expired"))]);
    expired.expires_at = vigil_bus::actions::signed_time(chrono::Utc::now() - chrono::Duration::seconds(1));
    refused(&agent.act(signer.sign(expired)).await, "expired", "expired at");
    // a bad id is refused before anything
    refused(&agent.act(signer.order("../x", "exec", &[("command", &touch("id"))])).await, "denied", "action id");
    // no pinned key: nothing can be verified
    std::fs::remove_file(agent.state.join("actions.pub")).unwrap();
    refused(
        &agent.act(signer.order("sig-nokey", "exec", &[("command", &touch("nokey"))])).await,
        "denied",
        "no action key is pinned",
    );

    for name in ["none", "forged", "altered", "altered-before", "later", "host", "tenant", "expired", "id", "nokey"] {
        assert!(!ran(name), "{name} ran");
    }
    // the expired one is settled: its record answers a replay
    signer.pin(&agent.state);
    let mut expired = unsigned("sig-expired", "exec", &[("command", &touch("expired"))]);
    expired.expires_at = vigil_bus::actions::signed_time(chrono::Utc::now() + chrono::Duration::minutes(5));
    let replay = agent.act(signer.sign(expired)).await;
    assert_eq!(statuses(&replay), ["expired"], "answered from the record");
    assert!(!ran("expired"));

    // every decision is logged with the id, the requester, the command and the rule
    let log = agent.log_text();
    for needle in ["sig-ok", REQUESTED_BY, "action allowed", "exec touch *", "action succeeded", "sig-forged", "action refused"] {
        assert!(log.contains(needle), "{needle:?} not in the agent's log:\n{log}");
    }
    // the registration carried the policy
    let registered = agent.gateway.record.lock().unwrap().registers[0].actions.clone().expect("a policy is registered");
    assert!(registered.enabled);
    assert_eq!(registered.allowed, ["exec touch *"]);
    assert!(["systemd", "openrc", "none"].contains(&registered.service_manager.as_str()));
    agent.stop().await;
}

#[tokio::test]
async fn an_action_id_runs_at_most_once_repeated_while_running_and_after_a_restart() {
    let signer = Signer::new();
    let tmp = tempfile::tempdir().unwrap();
    let count =
        script(tmp.path(), "count.sh", &format!("echo run >> {}/marker-$1\nsleep $2\necho counted $1", tmp.path().display()));
    let allowed = format!("enabled: true\nallowed:\n  - \"exec {} *\"\n", count.display());
    let mut agent = RunningAgent::start(&allowed).await;
    signer.pin(&agent.state);
    let marker = |name: &str| std::fs::read_to_string(tmp.path().join(format!("marker-{name}"))).unwrap_or_default();
    let command = |name: &str, sleep: u32| format!("{} {name} {sleep}", count.display());

    // done once; repeated: answered from the record, not run again
    let once = signer.order("once-1", "exec", &[("command", &command("a", 0))]);
    let first = agent.act(once.clone()).await;
    assert_eq!(statuses(&first), ["running", "success"]);
    assert_eq!(first[1].output, "counted a\n");
    let again = agent.act(once.clone()).await;
    assert_eq!(again, [first[1].clone()], "answered with the recorded final report");
    assert_eq!(marker("a"), "run\n");

    // repeated while it runs: answered `running`, run once
    let slow = signer.order("once-2", "exec", &[("command", &command("b", 2))]);
    agent.gateway.send_action(slow.clone()).await;
    eventually("the slow action to start", Duration::from_secs(10), || async {
        !agent.gateway.action_results("once-2").is_empty()
    })
    .await;
    agent.gateway.send_action(slow.clone()).await;
    let results = agent.gateway.final_results("once-2", Duration::from_secs(20)).await;
    assert_eq!(statuses(&results), ["running", "running", "success"], "{results:#?}");
    assert_eq!(marker("b"), "run\n");

    // after a restart: still answered from the record
    agent.stop().await;
    // a record an agent left `running` when it died
    std::fs::write(
        agent.state.join("actions/once-3.json"),
        r#"{"action_id":"once-3","status":"running","command":"exec x","rule":"exec x *","started_at":"2026-12-06T10:00:00.000Z"}"#,
    )
    .unwrap();
    // as an agent older than remote actions left it: a host id, no tenant id
    std::fs::remove_file(agent.state.join("tenant_id")).unwrap();
    agent.spawn().await;
    // with a stored host id it registers again (its policy, its tenant)
    eventually("the registration refreshed at start", Duration::from_secs(10), || async {
        agent.state.join("tenant_id").exists() && agent.gateway.record.lock().unwrap().registers.len() == 2
    })
    .await;
    assert!(agent.gateway.record.lock().unwrap().registers[1].actions.as_ref().is_some_and(|p| p.enabled));
    assert_eq!(std::fs::read_to_string(agent.state.join("host_id")).unwrap().trim(), common::HOST_ID);
    let replayed = agent.act(once.clone()).await;
    assert_eq!(replayed, [first[1].clone()]);
    assert_eq!(marker("a"), "run\n", "never run again");
    let interrupted = only(&agent.act(signer.order("once-3", "exec", &[("command", &command("c", 0))])).await).clone();
    assert_eq!((interrupted.status.as_str(), interrupted.error.as_str()), ("failed", "the agent restarted while it ran"));
    assert_eq!(interrupted.command, "exec x");
    assert_eq!(marker("c"), "");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(agent.state.join("actions/once-1.json")).unwrap()).unwrap();
    assert_eq!((record["status"].as_str(), record["requested_by"].as_str()), (Some("success"), Some(REQUESTED_BY)));
    agent.stop().await;
}

#[tokio::test]
async fn a_report_made_while_disconnected_goes_out_on_the_next_connection() {
    let signer = Signer::new();
    let tmp = tempfile::tempdir().unwrap();
    let slow = script(tmp.path(), "slow.sh", "sleep $1; echo slept $1");
    let mut agent = RunningAgent::start(&format!("enabled: true\nallowed:\n  - \"exec {} *\"\n", slow.display())).await;
    signer.pin(&agent.state);
    let order = signer.order("late-1", "exec", &[("command", &format!("{} 3", slow.display()))]);
    assert!(agent.gateway.send_action(order).await);
    eventually("the running report", Duration::from_secs(10), || async { !agent.gateway.action_results("late-1").is_empty() })
        .await;
    agent.restart_gateway().await;
    let results = agent.gateway.final_results("late-1", Duration::from_secs(30)).await;
    assert_eq!(statuses(&results), ["running", "success"]);
    assert_eq!(results[1].output, "slept 3\n");
    let connections: Vec<usize> = {
        let record = agent.gateway.record.lock().unwrap();
        record.action_results.iter().filter(|(_, r)| r.action_id == "late-1").map(|(conn, _)| *conn).collect()
    };
    assert_eq!(connections, [1, 2], "the final report on the new connection");
    agent.stop().await;
}

#[tokio::test]
async fn stopping_the_agent_kills_the_groups_of_running_actions() {
    let signer = Signer::new();
    let tmp = tempfile::tempdir().unwrap();
    let forks = script(tmp.path(), "forks.sh", "(sleep 300; echo never) & echo $! > $1; sleep 300");
    let mut agent = RunningAgent::start(&format!("enabled: true\nallowed:\n  - \"exec {} *\"\n", forks.display())).await;
    signer.pin(&agent.state);
    let pid_file = tmp.path().join("grandchild");
    let order = signer.order("stop-1", "exec", &[("command", &format!("{} {}", forks.display(), pid_file.display()))]);
    assert!(agent.gateway.send_action(order).await);
    let grandchild: u32 = eventually("the grandchild's pid", Duration::from_secs(10), || async {
        std::fs::read_to_string(&pid_file).ok().and_then(|text| text.trim().parse().ok())
    })
    .await;
    agent.stop().await;
    eventually(&format!("the grandchild {grandchild} to be killed"), Duration::from_secs(5), || async {
        match std::fs::read_to_string(format!("/proc/{grandchild}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    })
    .await;
    // its record says so at the next start
    agent.spawn().await;
    let again = signer.order("stop-1", "exec", &[("command", &format!("{} {}", forks.display(), pid_file.display()))]);
    let result = only(&agent.act(again).await).clone();
    assert_eq!((result.status.as_str(), result.error.as_str()), ("failed", "the agent restarted while it ran"));
    agent.stop().await;
}

/// A fake `name` on the agent's PATH appending its argv to `dir/argv`.
fn recording(dir: &Path, name: &str) -> std::path::PathBuf {
    script(dir, name, &format!("echo \"$*\" >> {}/argv\necho {name} done", dir.display()));
    dir.join("argv")
}

#[tokio::test]
async fn the_policy_decides_and_service_actions_run_systemctl_with_the_exact_argv() {
    let signer = Signer::new();
    let config = "enabled: true\nservice_manager: systemd\nallowed:\n  - \"systemctl restart *\"\n  - \"docker restart *\"\n\
                  denied:\n  - \"systemctl restart sshd.service\"\n";
    let mut agent = RunningAgent::start(config).await;
    signer.pin(&agent.state);
    let argv = recording(&agent.bin, "systemctl");

    let results = agent.act(signer.order("svc-1", "restart_service", &[("service", "php8.2-fpm")])).await;
    assert_eq!(statuses(&results), ["running", "success"], "{results:#?}");
    assert_eq!(results[1].command, "systemctl restart php8.2-fpm.service");
    assert_eq!(results[1].rule, "systemctl restart *");
    assert_eq!(results[1].output, "systemctl done\n");
    assert_eq!(std::fs::read_to_string(&argv).unwrap(), "restart php8.2-fpm.service\n");

    let check = |results: &[ActionResult], command: &str, rule: &str, needle: &str| {
        let result = only(results);
        assert_eq!((result.status.as_str(), result.command.as_str(), result.rule.as_str()), ("denied", command, rule));
        assert!(result.error.contains(needle), "{needle:?} not in {:?}", result.error);
    };
    let denied = agent.act(signer.order("svc-2", "restart_service", &[("service", "sshd")])).await;
    check(&denied, "systemctl restart sshd.service", "systemctl restart sshd.service", "actions.denied");
    let by_default = agent.act(signer.order("svc-3", "stop_service", &[("service", "nginx")])).await;
    check(&by_default, "systemctl stop nginx.service", "", "no actions.allowed entry matches");
    let exec = agent.act(signer.order("svc-4", "exec", &[("command", "id")])).await;
    check(&exec, "exec id", "", "exec is refused by default");
    // names with shell metacharacters or a newline: refused before any rule
    let semicolon = agent.act(signer.order("svc-5", "restart_service", &[("service", "nginx;reboot")])).await;
    check(&semicolon, "", "", "contains ';'");
    let newline = agent.act(signer.order("svc-6", "restart_container", &[("container", "web\nreboot")])).await;
    check(&newline, "", "", "contains '\\n'");
    let substitution = agent.act(signer.order("svc-7", "restart_service", &[("service", "$(reboot)")])).await;
    check(&substitution, "", "", "contains '$'");
    assert_eq!(std::fs::read_to_string(&argv).unwrap(), "restart php8.2-fpm.service\n", "systemctl ran once");

    agent.stop().await;

    // actions off: refused, the command still named
    let mut off = RunningAgent::start("enabled: false\nservice_manager: systemd\nallowed:\n  - \"*\"\n").await;
    signer.pin(&off.state);
    let results = off.act(signer.order("svc-8", "restart_service", &[("service", "nginx")])).await;
    check(&results, "systemctl restart nginx.service", "", "actions.enabled: false");
    off.stop().await;
}

#[tokio::test]
async fn openrc_service_actions_run_rc_service_with_the_exact_argv() {
    let signer = Signer::new();
    let mut agent = RunningAgent::start("enabled: true\nservice_manager: openrc\nallowed:\n  - \"rc-service * restart\"\n").await;
    signer.pin(&agent.state);
    let argv = recording(&agent.bin, "rc-service");
    let results = agent.act(signer.order("rc-1", "restart_service", &[("service", "php8.2-fpm")])).await;
    assert_eq!(statuses(&results), ["running", "success"], "{results:#?}");
    assert_eq!(
        (results[1].command.as_str(), results[1].rule.as_str()),
        ("rc-service php8.2-fpm restart", "rc-service * restart")
    );
    assert_eq!(std::fs::read_to_string(&argv).unwrap(), "php8.2-fpm restart\n");
    let registered = agent.gateway.record.lock().unwrap().registers[0].actions.clone().unwrap();
    assert_eq!(registered.service_manager, "openrc");
    agent.stop().await;
}
