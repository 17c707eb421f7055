//! The host collector's numbers agree with what the system's own tools
//! (`free`, `df`, `getconf`, `/sys/class/net`) report on this machine.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use sovigilant::host::HostCollector;

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn collect() -> vigil_proto::HostMetrics {
    let (host, errors) = HostCollector::system().collect_blocking_once(Duration::from_millis(250));
    assert!(errors.is_empty(), "sections failed on a real /proc: {errors:?}");
    host
}

#[test]
fn memory_total_and_available_match_free() {
    let host = collect();
    let memory = host.memory.expect("memory section");
    let free = run("free", &["-b"]);
    let mem_line: Vec<u64> = free
        .lines()
        .find(|line| line.starts_with("Mem:"))
        .expect("free prints a Mem: line")
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap())
        .collect();
    let (total, available) = (mem_line[0], mem_line[5]);
    assert_eq!(memory.total, total, "MemTotal differs from free -b");
    let drift = memory.available.abs_diff(available);
    assert!(drift < 256 * 1024 * 1024, "available {} vs free's {available}", memory.available);
    assert_eq!(memory.used, memory.total - memory.available);
    let expected_percent = memory.used as f64 / memory.total as f64 * 100.0;
    assert!((memory.percent - expected_percent).abs() < 0.01);
}

#[test]
fn every_mount_matches_df_and_real_filesystems_are_listed() {
    let host = collect();
    let mounts = host.disk.expect("disk section").mounts;
    assert!(!mounts.is_empty(), "no mount collected");
    let df = run("df", &["-B1", "--output=target,size,used,fstype"]);
    let df_rows: Vec<(String, u64, u64, String)> = df
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let n = fields.len();
            (n >= 4).then(|| {
                (
                    fields[..n - 3].join(" "),
                    fields[n - 3].parse().unwrap(),
                    fields[n - 2].parse().unwrap(),
                    fields[n - 1].to_owned(),
                )
            })
        })
        .collect();
    for mount in &mounts {
        let (_, size, used, fs_type) = df_rows
            .iter()
            .find(|(target, ..)| *target == mount.path)
            .unwrap_or_else(|| panic!("mount {} is not in df's output:\n{df}", mount.path));
        assert_eq!(mount.total, *size, "total of {}", mount.path);
        assert!(mount.used.abs_diff(*used) < 64 * 1024 * 1024, "used of {}: {} vs df's {used}", mount.path, mount.used);
        assert_eq!(&mount.fs_type, fs_type);
        assert!((0.0..=100.0).contains(&mount.percent));
        assert!(!sovigilant::host::PSEUDO_FILESYSTEMS.contains(&mount.fs_type.as_str()) || mount.path == "/");
    }
    let listed: BTreeSet<&str> = mounts.iter().map(|m| m.path.as_str()).collect();
    for (target, size, _, fs_type) in &df_rows {
        let real = *size > 0 && !sovigilant::host::PSEUDO_FILESYSTEMS.contains(&fs_type.as_str());
        if real && target == "/" {
            assert!(listed.contains(target.as_str()), "df lists {target} ({fs_type}) but the agent does not: {listed:?}");
        }
    }
}

#[test]
fn cores_match_online_processors() {
    let host = collect();
    let cpu = host.cpu.expect("cpu section");
    let online: u32 = run("getconf", &["_NPROCESSORS_ONLN"]).trim().parse().unwrap();
    let nproc: u32 = run("nproc", &[]).trim().parse().unwrap();
    assert_eq!(cpu.cores, online);
    assert!(cpu.cores >= nproc, "cores {} < nproc {nproc}", cpu.cores);
    assert_eq!(cpu.per_core.len(), cpu.cores as usize);
    assert!((0.0..=100.0).contains(&cpu.percent), "{}", cpu.percent);
    assert!(cpu.per_core.iter().all(|p| (0.0..=100.0).contains(p)));
}

#[test]
fn interfaces_match_sys_class_net_without_loopback() {
    let host = collect();
    let names: BTreeSet<String> = host.network.expect("network section").interfaces.into_iter().map(|i| i.name).collect();
    let mut system: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    system.remove("lo");
    // bonding_masters is a control file, not an interface
    system.remove("bonding_masters");
    assert_eq!(names, system);
}

#[test]
fn load_and_uptime_agree_with_proc_read_separately() {
    let host = collect();
    let load = host.load.expect("load section");
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    let values: Vec<f64> = loadavg.split_whitespace().take(3).map(|v| v.parse().unwrap()).collect();
    assert!((load.load_1m - values[0]).abs() < 1.0, "{} vs {}", load.load_1m, values[0]);
    assert!((load.load_5m - values[1]).abs() < 0.5);
    assert!((load.load_15m - values[2]).abs() < 0.5);
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(host.uptime > 0);
    assert!((uptime - host.uptime as f64).abs() < 5.0, "{} vs {uptime}", host.uptime);
}

#[test]
fn timestamp_is_rfc3339_utc_with_milliseconds() {
    let host = collect();
    let parsed = chrono::DateTime::parse_from_rfc3339(&host.timestamp).unwrap();
    assert!(host.timestamp.ends_with('Z'), "{}", host.timestamp);
    assert_eq!(host.timestamp.len(), "2025-01-15T10:30:00.123Z".len(), "{}", host.timestamp);
    assert!((chrono::Utc::now() - parsed.with_timezone(&chrono::Utc)).num_seconds().abs() < 5);
}
