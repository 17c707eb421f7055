//! A snapshot stays small whatever the machine runs (issue 9): mounts and
//! interfaces past `collection.host.max_mounts` / `max_interfaces` are summed
//! into one `(other)` entry with exact totals, and a snapshot still over the
//! gRPC message limit is reduced before it is queued.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use prost::Message;
use sovigilant::collect::{cap_size, ENVELOPE_BYTES, MAX_SNAPSHOT_BYTES};
use sovigilant::config::{Config, HostMetric, DEFAULT_MAX_INTERFACES, DEFAULT_MAX_MOUNTS};
use sovigilant::host::{bound_interfaces, bound_mounts, HostCollector, OTHER};
use vigil_proto::{
    ContainerMetrics, CpuMetrics, CustomMetric, DiskMetrics, HostMetrics, InterfaceMetrics, LoadMetrics, MemoryMetrics, Metrics,
    MountMetrics, NetworkMetrics, SectionError, ServiceMetrics,
};

const NET_DEV_HEADER: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

/// A `/proc/net/dev` line with distinct counters derived from `i`.
fn net_dev_line(name: &str, i: u64) -> String {
    format!(
        "{name:>6}: {} {} {} 0 0 0 0 0 {} {} {} 0 0 0 0 0\n",
        1_000_000 + i * 7919,
        1000 + i * 13,
        i % 5,
        2_000_000 + i * 104_729,
        2000 + i * 17,
        i % 3
    )
}

/// A fixture `/proc` with only `net/dev`: lo, eth0, docker0, then `veths`
/// veth interfaces and finally wg0 (a VPN, listed after the veths).
fn proc_with_veths(veths: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut text = NET_DEV_HEADER.to_owned();
    text.push_str(&net_dev_line("lo", 0));
    text.push_str(&net_dev_line("eth0", 1));
    text.push_str(&net_dev_line("docker0", 2));
    for i in 0..veths {
        text.push_str(&net_dev_line(&format!("veth{i:05x}"), 10 + i));
    }
    text.push_str(&net_dev_line("wg0", 3));
    std::fs::create_dir(dir.path().join("net")).unwrap();
    std::fs::write(dir.path().join("net/dev"), text).unwrap();
    dir
}

fn sums(interfaces: &[InterfaceMetrics]) -> [u64; 6] {
    interfaces.iter().fold([0; 6], |acc, i| {
        [
            acc[0] + i.rx_bytes,
            acc[1] + i.tx_bytes,
            acc[2] + i.rx_packets,
            acc[3] + i.tx_packets,
            acc[4] + i.rx_errors,
            acc[5] + i.tx_errors,
        ]
    })
}

#[test]
fn two_hundred_veths_are_summed_into_other_with_exact_totals() {
    let dir = proc_with_veths(200);
    let network = |collector: &mut HostCollector| {
        let (host, errors) = collector.collect_with_errors();
        assert!(errors.is_empty(), "{errors:?}");
        host.network.expect("network section").interfaces
    };
    let metrics = BTreeSet::from([HostMetric::Network]);
    // every interface, as the kernel lists them (lo left out)
    let all = network(&mut HostCollector::new(dir.path(), metrics.clone()).with_bounds(32, 10_000));
    assert_eq!(all.len(), 203);

    let bounded = network(&mut HostCollector::new(dir.path(), metrics));
    assert_eq!(bounded.len(), DEFAULT_MAX_INTERFACES + 1, "32 kept and (other)");
    let names: Vec<&str> = bounded.iter().map(|i| i.name.as_str()).collect();
    // the host's own interfaces (eth0, wg0) and the bridge first, then the
    // first veths in kernel order; kept ones stay in kernel order
    let mut expected = vec!["eth0".to_owned(), "docker0".to_owned()];
    expected.extend((0..29).map(|i| format!("veth{i:05x}")));
    expected.push("wg0".into());
    expected.push(OTHER.into());
    assert_eq!(names, expected);

    let other = bounded.last().unwrap();
    let folded: Vec<InterfaceMetrics> = all.iter().filter(|i| !names.contains(&i.name.as_str())).cloned().collect();
    assert_eq!(folded.len(), 200 - 29);
    assert_eq!(sums(std::slice::from_ref(other)), sums(&folded), "(other) holds the exact sums of the folded ones");
    assert_eq!(sums(&bounded), sums(&all), "host network totals unchanged");

    // the same name from one snapshot to the next: one series
    let again = network(&mut HostCollector::new(dir.path(), BTreeSet::from([HostMetric::Network])));
    assert_eq!(again.iter().map(|i| &i.name).collect::<Vec<_>>(), bounded.iter().map(|i| &i.name).collect::<Vec<_>>());
}

#[test]
fn max_interfaces_from_the_config_reaches_the_collector() {
    let dir = proc_with_veths(10);
    let config = Config::parse(
        Path::new("test.yaml"),
        "server:\n  address: gw:9090\n  token: t\ncollection:\n  host:\n    max_interfaces: 2\n    max_mounts: 1\n",
    )
    .unwrap();
    let host = &config.collection.host;
    assert_eq!((host.max_mounts, host.max_interfaces), (1, 2));
    let mut collector =
        HostCollector::new(dir.path(), BTreeSet::from([HostMetric::Network])).with_bounds(host.max_mounts, host.max_interfaces);
    let (metrics, _) = collector.collect_with_errors();
    let names: Vec<String> = metrics.network.unwrap().interfaces.into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["eth0", "wg0", OTHER]);
}

#[test]
fn few_interfaces_are_left_as_they_are() {
    let interfaces: Vec<InterfaceMetrics> = ["veth1", "eth0"]
        .iter()
        .map(|name| InterfaceMetrics { name: (*name).into(), rx_bytes: 5, ..Default::default() })
        .collect();
    assert_eq!(bound_interfaces(interfaces.clone(), 2), interfaces);
    assert_eq!(bound_mounts(Vec::new(), 1), Vec::new());
}

fn mount(path: &str, total: u64, used: u64) -> MountMetrics {
    MountMetrics { path: path.into(), total, used, percent: used as f64 / total as f64 * 100.0, fs_type: "ext4".into() }
}

#[test]
fn sixty_four_mounts_keep_root_and_the_first_ones_and_sum_the_rest() {
    // `/` is not first (a container host's /proc/mounts can list it later)
    let mut mounts: Vec<MountMetrics> =
        (0..63).map(|i| mount(&format!("/srv/volume-{i:02}"), 1_000_000_000 + i * 1_000_003, 400_000_000 + i * 7_777)).collect();
    mounts.insert(40, mount("/", 50_000_000_000, 20_000_000_000));
    let total: u64 = mounts.iter().map(|m| m.total).sum();
    let used: u64 = mounts.iter().map(|m| m.used).sum();

    let bounded = bound_mounts(mounts.clone(), DEFAULT_MAX_MOUNTS);
    assert_eq!(bounded.len(), DEFAULT_MAX_MOUNTS + 1);
    let mut expected: Vec<String> = (0..31).map(|i| format!("/srv/volume-{i:02}")).collect();
    expected.push("/".into());
    expected.push(OTHER.into());
    assert_eq!(bounded.iter().map(|m| m.path.clone()).collect::<Vec<_>>(), expected, "/ kept, /proc/mounts order");
    assert_eq!(bounded[..32], [&mounts[..31], &mounts[40..41]].concat()[..], "kept mounts untouched");

    let other = bounded.last().unwrap();
    let folded: Vec<&MountMetrics> = mounts.iter().filter(|m| !expected.contains(&m.path)).collect();
    assert_eq!(folded.len(), 32);
    let (folded_total, folded_used) = (folded.iter().map(|m| m.total).sum::<u64>(), folded.iter().map(|m| m.used).sum::<u64>());
    assert_eq!((other.total, other.used), (folded_total, folded_used));
    assert_eq!(other.fs_type, OTHER);
    assert_eq!(other.percent, (folded_used as f64 / folded_total as f64 * 10_000.0).round() / 100.0);
    assert_eq!(bounded.iter().map(|m| m.total).sum::<u64>(), total, "host disk total unchanged");
    assert_eq!(bounded.iter().map(|m| m.used).sum::<u64>(), used, "host disk used unchanged");
}

#[test]
fn real_proc_respects_the_bounds_and_keeps_totals() {
    let mut unbounded = HostCollector::system().with_bounds(10_000, 10_000);
    let (full, errors) = unbounded.collect_with_errors();
    assert!(errors.is_empty(), "{errors:?}");
    let (bounded, errors) = HostCollector::system().with_bounds(1, 1).collect_with_errors();
    assert!(errors.is_empty(), "{errors:?}");
    let full_mounts = full.disk.unwrap().mounts;
    let mounts = bounded.disk.unwrap().mounts;
    assert!(mounts.len() <= 2, "{mounts:?}");
    if full_mounts.len() > 1 {
        assert_eq!(mounts.last().unwrap().path, OTHER);
        // the mounts do not change between the two reads; their sizes barely
        assert_eq!(mounts[0].path, if full_mounts.iter().any(|m| m.path == "/") { "/" } else { &full_mounts[0].path });
        let total = |list: &[MountMetrics]| list.iter().map(|m| m.total).sum::<u64>();
        assert_eq!(total(&mounts), total(&full_mounts));
    } else {
        assert_eq!(mounts, full_mounts);
    }
    let full_names: Vec<String> = full.network.unwrap().interfaces.into_iter().map(|i| i.name).collect();
    let names: Vec<String> = bounded.network.unwrap().interfaces.into_iter().map(|i| i.name).collect();
    assert_eq!(names.len(), full_names.len().min(2), "{names:?} from {full_names:?}");
}

#[test]
fn bad_bounds_are_rejected_naming_the_key_and_the_value() {
    let parse = |key: &str, value: &str| {
        Config::parse(
            Path::new("/etc/sovigilant/config.yaml"),
            &format!("server:\n  address: gw:9090\n  token: t\ncollection:\n  host:\n    {key}: {value}\n"),
        )
        .map(|config| (config.collection.host.max_mounts, config.collection.host.max_interfaces))
        .map_err(|error| error.to_string())
    };
    for key in ["max_mounts", "max_interfaces"] {
        for (value, shown) in [("0", "0"), ("lots", "\"lots\""), ("-3", "-3"), ("2.5", "2.5"), ("5000", "5000"), ("[1]", "1")] {
            let error = parse(key, value).unwrap_err();
            assert!(
                error.starts_with(&format!("/etc/sovigilant/config.yaml: collection.host.{key}: ")) && error.contains(shown),
                "{key}: {value}: {error}"
            );
            assert!(error.contains("between 1 and 4096"), "{error}");
        }
    }
    assert_eq!(parse("max_mounts", "8"), Ok((8, DEFAULT_MAX_INTERFACES)));
    assert_eq!(parse("max_interfaces", "\"64\""), Ok((DEFAULT_MAX_MOUNTS, 64)));
    assert_eq!(parse("max_mounts", "~"), Ok((DEFAULT_MAX_MOUNTS, DEFAULT_MAX_INTERFACES)));
    let defaults = Config::parse(Path::new("t.yaml"), "server:\n  address: gw:9090\n  token: t\n").unwrap();
    assert_eq!((defaults.collection.host.max_mounts, defaults.collection.host.max_interfaces), (32, 32));
}

/// The largest host section the default bounds allow: every interface name
/// at the kernel's 15-byte maximum, every mount path at PATH_MAX - 1 (4095
/// bytes), every counter and size at u64::MAX, 1024 cores.
fn worst_case_host(max_mounts: usize, max_interfaces: usize, path_len: usize) -> HostMetrics {
    let interfaces = (0..1000)
        .map(|i| InterfaceMetrics {
            name: format!("veth{i:011}"),
            rx_bytes: u64::MAX / 2,
            tx_bytes: u64::MAX / 2,
            rx_packets: u64::MAX / 2,
            tx_packets: u64::MAX / 2,
            rx_errors: u64::MAX / 2,
            tx_errors: u64::MAX / 2,
        })
        .collect();
    let mounts = (0..1000)
        .map(|i| MountMetrics {
            path: format!("/{i:0width$}", width = path_len - 1),
            total: u64::MAX / 2,
            used: u64::MAX / 4,
            percent: 33.33,
            fs_type: "fuse.some-long-filesystem-name".into(),
        })
        .collect();
    HostMetrics {
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        uptime: u64::MAX,
        cpu: Some(CpuMetrics {
            percent: 99.99,
            cores: 1024,
            model: "x".repeat(128),
            per_core: (0..1024).map(|i| 100.0 / (i as f64 + 3.0)).collect(),
        }),
        memory: Some(MemoryMetrics {
            total: u64::MAX,
            used: u64::MAX,
            available: u64::MAX,
            percent: 99.99,
            swap_total: u64::MAX,
            swap_used: u64::MAX,
        }),
        disk: Some(DiskMetrics { mounts: bound_mounts(mounts, max_mounts) }),
        network: Some(NetworkMetrics { interfaces: bound_interfaces(interfaces, max_interfaces) }),
        load: Some(LoadMetrics { load_1m: 1.5, load_5m: 1.5, load_15m: 1.5 }),
    }
}

#[test]
fn worst_case_default_bounded_snapshot_is_far_below_the_limit() {
    let mut report = String::new();
    let mut sizes = Vec::new();
    for (label, path_len) in [("mount paths of 4095 bytes", 4095), ("mount paths of 64 bytes", 64)] {
        let host = worst_case_host(DEFAULT_MAX_MOUNTS, DEFAULT_MAX_INTERFACES, path_len);
        let interfaces = host.network.as_ref().unwrap().interfaces.iter().map(Message::encoded_len).max().unwrap();
        let mounts = host.disk.as_ref().unwrap().mounts.iter().map(Message::encoded_len).max().unwrap();
        let metrics = Metrics {
            timestamp: host.timestamp.clone(),
            host: Some(host),
            seq: u64::MAX,
            errors: (0..8).map(|i| SectionError { section: format!("containers.{i}"), error: "e".repeat(200) }).collect(),
            ..Default::default()
        };
        let size = metrics.encoded_len();
        let _ = writeln!(
            report,
            "worst-case host snapshot, {label}: {size} bytes ({:.1} % of {}); largest interface {interfaces} B, largest mount {mounts} B",
            size as f64 * 100.0 / vigil_proto::MAX_MESSAGE_BYTES as f64,
            vigil_proto::MAX_MESSAGE_BYTES
        );
        sizes.push(size);
    }
    let service = ServiceMetrics {
        name: "php8.2-fpm".into(),
        status: "active".into(),
        pid: 4_000_000,
        memory: u64::MAX,
        cpu_percent: 12.5,
        ports: vec![65535; 4],
        uptime: u64::MAX,
    };
    let _ = writeln!(
        report,
        "one container (typical names, full numbers): {} B; one service with 4 ports: {} B",
        container(123_456).encoded_len() + 3,
        service.encoded_len() + 2
    );
    println!("{report}");
    assert!(sizes[0] < vigil_proto::MAX_MESSAGE_BYTES / 4, "{report}");
    assert!(sizes[1] < 32 * 1024, "{report}");
}

fn container(i: usize) -> ContainerMetrics {
    ContainerMetrics {
        name: format!("project_service_{i:06}_with_a_rather_long_compose_name"),
        runtime: "docker".into(),
        status: "running".into(),
        created: "2026-01-01T00:00:00Z".into(),
        image: format!("registry.example.com/team/some-image-{i}:1.2.3"),
        cpu_percent: 1.25,
        memory_used: 123_456_789,
        memory_limit: 8_000_000_000,
        memory_percent: 1.5,
        disk_used: 1_000_000,
        network_rx: 10_000_000,
        network_tx: 20_000_000,
        processes: 12,
    }
}

#[test]
fn oversized_snapshot_is_reduced_below_the_cap_saying_what_was_cut() {
    let host = worst_case_host(DEFAULT_MAX_MOUNTS, DEFAULT_MAX_INTERFACES, 64);
    let mut metrics = Metrics {
        timestamp: host.timestamp.clone(),
        host: Some(host.clone()),
        containers: (0..8000).map(container).collect(),
        services: (0..20_000)
            .map(|i| ServiceMetrics {
                name: format!("unit-{i}.service"),
                status: "active".into(),
                pid: 1000 + i,
                ports: vec![8080],
                ..Default::default()
            })
            .collect(),
        custom: (0..10)
            .map(|i| CustomMetric { name: format!("m{i}"), r#type: "gauge".into(), value: 1.0, error: String::new() })
            .collect(),
        errors: vec![SectionError { section: "services".into(), error: "systemctl timed out".into() }],
        ..Default::default()
    };
    let before = metrics.encoded_len();
    assert!(before > vigil_proto::MAX_MESSAGE_BYTES, "{before}");

    let reduction = cap_size(&mut metrics, MAX_SNAPSHOT_BYTES).expect("reduced");
    println!("oversized snapshot: {before} bytes -> {} bytes (cap {MAX_SNAPSHOT_BYTES})", reduction.after);
    assert_eq!(reduction.before, before);
    assert_eq!(reduction.after, metrics.encoded_len());
    assert!(reduction.after <= MAX_SNAPSHOT_BYTES);
    metrics.seq = u64::MAX;
    let message_len = sovigilant::client::message_len(&"h".repeat(50), &metrics);
    assert!(message_len <= vigil_proto::MAX_MESSAGE_BYTES, "{message_len} with the envelope ({ENVELOPE_BYTES} B room)");
    assert!(reduction.after > MAX_SNAPSHOT_BYTES * 9 / 10, "most of the room is used: {}", reduction.after);

    assert_eq!(metrics.host, Some(host), "the bounded host section is untouched");
    assert_eq!(metrics.custom.len(), 10, "the small list is kept whole");
    assert!(metrics.containers.len() < 8000 && metrics.services.len() < 20_000);
    assert_eq!(metrics.containers, (0..metrics.containers.len()).map(container).collect::<Vec<_>>(), "the first ones kept");
    let cut: Vec<(&str, &str)> = metrics.errors.iter().map(|e| (e.section.as_str(), e.error.as_str())).collect();
    assert_eq!(cut[0], ("services", "systemctl timed out"), "earlier errors kept");
    let note =
        |section: &str| cut.iter().find(|(s, e)| *s == section && e.starts_with("kept")).map(|(_, e)| *e).unwrap_or_default();
    let containers = note("containers");
    assert!(
        containers.contains(&format!("kept the first {} of 8000 containers", metrics.containers.len()))
            && containers.contains(&before.to_string())
            && containers.contains(&MAX_SNAPSHOT_BYTES.to_string()),
        "{cut:?}"
    );
    assert!(note("services").contains("of 20000 services"), "{cut:?}");
    assert_eq!(reduction.cuts.len(), 2, "{:?}", reduction.cuts);

    // a snapshot under the cap is left alone
    let mut small = Metrics { containers: (0..10).map(container).collect(), ..Default::default() };
    let copy = small.clone();
    assert_eq!(cap_size(&mut small, MAX_SNAPSHOT_BYTES), None);
    assert_eq!(small, copy);
}

#[test]
fn an_oversized_host_section_is_bounded_again_with_exact_totals() {
    // what a config with max_mounts/max_interfaces at 4096 and very long
    // mount paths could give: about 4 MB
    let mut host = worst_case_host(4096, 4096, 4095);
    for (i, mount) in host.disk.as_mut().unwrap().mounts.iter_mut().enumerate() {
        (mount.total, mount.used) = (1_000_000_000 + i as u64, 1000 + i as u64);
    }
    for (i, interface) in host.network.as_mut().unwrap().interfaces.iter_mut().enumerate() {
        (interface.rx_bytes, interface.tx_bytes) = (1_000_000 + i as u64, 7 * i as u64);
    }
    let mut metrics = Metrics { timestamp: host.timestamp.clone(), host: Some(host.clone()), ..Default::default() };
    assert!(metrics.encoded_len() > 2 * vigil_proto::MAX_MESSAGE_BYTES, "{}", metrics.encoded_len());
    let reduction = cap_size(&mut metrics, MAX_SNAPSHOT_BYTES).expect("reduced");
    assert!(reduction.after <= MAX_SNAPSHOT_BYTES, "{}", reduction.after);
    let reduced = metrics.host.as_ref().expect("host section kept");
    let mounts = &reduced.disk.as_ref().unwrap().mounts;
    assert_eq!(mounts.len(), DEFAULT_MAX_MOUNTS + 1);
    assert_eq!(mounts.last().unwrap().path, OTHER);
    let sum = |list: &[MountMetrics]| (list.iter().map(|m| m.total).sum::<u64>(), list.iter().map(|m| m.used).sum::<u64>());
    assert_eq!(sum(mounts), sum(&host.disk.as_ref().unwrap().mounts), "disk totals exact");
    let interfaces = &reduced.network.as_ref().unwrap().interfaces;
    assert_eq!(interfaces.len(), DEFAULT_MAX_INTERFACES + 1);
    let rx_tx =
        |list: &[InterfaceMetrics]| (list.iter().map(|i| i.rx_bytes).sum::<u64>(), list.iter().map(|i| i.tx_bytes).sum::<u64>());
    assert_eq!(rx_tx(interfaces), rx_tx(&host.network.as_ref().unwrap().interfaces), "network totals exact");
    assert_eq!(reduced.cpu, host.cpu, "per-core kept: the host fits after the first step");
    let sections: Vec<&str> = metrics.errors.iter().map(|e| e.section.as_str()).collect();
    assert_eq!(sections, ["host.disk", "host.network"]);
    assert!(metrics.errors[0].error.contains("kept 32 of 1000 mounts"), "{:?}", metrics.errors);
}
