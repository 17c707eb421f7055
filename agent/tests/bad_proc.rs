//! A `/proc` with garbage or missing files still yields a snapshot: only the
//! broken sections are empty, and each is reported.

use std::collections::BTreeSet;
use std::fs;

use sovigilant::config::HostMetric;
use sovigilant::host::HostCollector;

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("stat"), "this is not /proc/stat\ncpu x y z\n").unwrap();
    fs::write(dir.path().join("meminfo"), "MemTotal: lots\n\u{0}\u{1}garbage\n").unwrap();
    fs::write(dir.path().join("loadavg"), "0.50 0.40 0.30 1/100 1234\n").unwrap();
    fs::write(dir.path().join("uptime"), "12345.67 2345.00\n").unwrap();
    fs::create_dir(dir.path().join("net")).unwrap();
    fs::write(
        dir.path().join("net/dev"),
        "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 1 2 3 0 0 0 0 0 4 5 6 0 0 0 0 0\n  eth9: 10 20 30 0 0 0 0 0 40 50 60 0 0 0 0 0\n",
    )
    .unwrap();
    // "mounts" is missing on purpose
    dir
}

#[test]
fn garbage_stat_and_meminfo_leave_only_those_sections_empty() {
    let dir = fixture();
    let mut collector = HostCollector::new(dir.path(), HostMetric::ALL.into_iter().collect());
    let (host, errors) = collector.collect_with_errors();

    assert!(host.cpu.is_none(), "cpu from garbage: {:?}", host.cpu);
    assert!(host.memory.is_none(), "memory from garbage: {:?}", host.memory);
    assert!(host.disk.is_none(), "disk without a mounts file: {:?}", host.disk);
    let load = host.load.expect("load still collected");
    assert_eq!((load.load_1m, load.load_5m, load.load_15m), (0.50, 0.40, 0.30));
    assert_eq!(host.uptime, 12345);
    let network = host.network.expect("network still collected");
    assert_eq!(network.interfaces.len(), 1);
    assert_eq!(network.interfaces[0].name, "eth9");
    assert!(!host.timestamp.is_empty());

    let sections: BTreeSet<&str> = errors.iter().map(|e| e.section()).collect();
    assert_eq!(sections, BTreeSet::from(["cpu", "memory", "disk"]), "{errors:?}");
    let memory_error = errors.iter().find(|e| e.section() == "memory").unwrap().to_string();
    assert!(memory_error.contains("meminfo"), "{memory_error}");
    let disk_error = errors.iter().find(|e| e.section() == "disk").unwrap().to_string();
    assert!(disk_error.contains("mounts") && disk_error.contains("cannot read"), "{disk_error}");
}

#[test]
fn snapshot_goes_out_even_when_every_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = HostCollector::new(dir.path(), HostMetric::ALL.into_iter().collect());
    let snapshot = sovigilant::agent::snapshot(&mut collector, true);
    let host = snapshot.host.expect("host section present");
    assert!(host.cpu.is_none() && host.memory.is_none() && host.disk.is_none());
    assert!(host.network.is_none() && host.load.is_none());
    assert_eq!(host.uptime, 0);
    assert_eq!(snapshot.timestamp, host.timestamp);
}

#[test]
fn unlisted_metrics_are_not_collected() {
    let dir = fixture();
    let mut collector = HostCollector::new(dir.path(), BTreeSet::from([HostMetric::Load]));
    let (host, errors) = collector.collect_with_errors();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(host.load.is_some());
    assert!(host.network.is_none());
    assert_eq!(host.uptime, 0);
}
