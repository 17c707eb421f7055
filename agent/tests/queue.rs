//! The on-disk queue: order, acks, restarts, the bound, corrupt files.

use std::fs;

use sovigilant::queue::Queue;
use vigil_proto::{HostMetrics, Metrics};

fn snapshot(marker: u64) -> Metrics {
    Metrics {
        timestamp: format!("2025-01-15T10:30:{:02}.000Z", marker % 60),
        host: Some(HostMetrics { uptime: marker, ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn acked_snapshots_leave_and_the_rest_survive_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    let seqs: Vec<u64> = (0..10).map(|i| queue.push(snapshot(i)).unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    for seq in seqs.iter().filter(|s| *s % 2 == 0) {
        assert!(queue.ack(*seq).unwrap());
    }
    assert!(!queue.ack(2).unwrap(), "a second ack finds nothing");
    drop(queue);

    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.seqs(), vec![1, 3, 5, 7, 9]);
    for seq in queue.seqs() {
        let metrics = queue.read(seq).unwrap().unwrap();
        assert_eq!(metrics.seq, seq);
        assert_eq!(metrics.host.unwrap().uptime, seq - 1, "content kept");
    }
    assert_eq!(queue.push(snapshot(99)).unwrap(), 11, "seq continues after a restart");
}

#[test]
fn seq_keeps_increasing_after_everything_was_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    for i in 0..5 {
        let seq = queue.push(snapshot(i)).unwrap();
        queue.ack(seq).unwrap();
    }
    drop(queue);
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert!(queue.is_empty());
    assert_eq!(queue.push(snapshot(5)).unwrap(), 6);
}

#[test]
fn bound_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 3).unwrap();
    for i in 0..7 {
        queue.push(snapshot(i)).unwrap();
    }
    assert_eq!(queue.seqs(), vec![5, 6, 7]);
    assert_eq!(fs::read_dir(queue.dir()).unwrap().count(), 3, "dropped files are removed");
    drop(queue);
    // a smaller bound at restart trims too
    let queue = Queue::open(dir.path(), 2).unwrap();
    assert_eq!(queue.seqs(), vec![6, 7]);
}

#[test]
fn corrupt_and_half_written_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    for i in 0..3 {
        queue.push(snapshot(i)).unwrap();
    }
    let queue_dir = queue.dir().to_owned();
    drop(queue);
    let corrupt = queue_dir.join(format!("{:020}.pb", 2));
    fs::write(&corrupt, b"\xff\xff\xff\xff not protobuf").unwrap();
    let half = queue_dir.join(format!("{:020}.pb.tmp", 4));
    fs::write(&half, b"partial").unwrap();

    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.seqs(), vec![1, 3]);
    assert!(!corrupt.exists(), "corrupt file removed");
    assert!(!half.exists(), "half-written file removed");
    assert_eq!(queue.push(snapshot(9)).unwrap(), 4);
}

#[test]
fn file_corrupted_while_queued_is_removed_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    let seq = queue.push(snapshot(1)).unwrap();
    let other = queue.push(snapshot(2)).unwrap();
    // a valid snapshot under the wrong name counts as corrupt too
    let mut wrong = snapshot(3);
    wrong.seq = 77;
    fs::write(queue.dir().join(format!("{seq:020}.pb")), prost::Message::encode_to_vec(&wrong)).unwrap();
    assert_eq!(queue.read(seq).unwrap(), None);
    assert_eq!(queue.seqs(), vec![other]);
    assert_eq!(queue.seqs_after(0, 10), vec![other]);
}

#[test]
fn corrupt_seq_file_falls_back_to_the_newest_queued_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    for i in 0..4 {
        queue.push(snapshot(i)).unwrap();
    }
    drop(queue);
    fs::write(dir.path().join("seq"), "garbage").unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.push(snapshot(9)).unwrap(), 5);
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn the_newest_acked_snapshot_stays_as_the_record_of_the_last_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    let queue_dir = queue.dir().to_owned();
    let acked_dir = dir.path().join("acked");
    for i in 0..3 {
        queue.push(snapshot(i)).unwrap();
    }
    assert!(!dir.path().join("seq").exists(), "one fsynced file per snapshot: no separate seq file");
    // an older one leaves, the newest becomes the record
    queue.ack(1).unwrap();
    queue.ack(3).unwrap();
    assert_eq!(queue.seqs(), vec![2]);
    assert_eq!(names(&queue_dir), vec![format!("{:020}.pb", 2)]);
    assert_eq!(names(&acked_dir), vec![format!("{:020}.pb", 3)]);
    // a newer record replaces it; records are never queued or sent
    let four = queue.push(snapshot(3)).unwrap();
    queue.ack(2).unwrap();
    queue.ack(four).unwrap();
    assert!(queue.is_empty());
    assert!(names(&queue_dir).is_empty());
    assert_eq!(names(&acked_dir), vec![format!("{:020}.pb", 4)]);
    drop(queue);
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert!(queue.is_empty());
    assert_eq!(queue.seqs_after(0, 10), Vec::<u64>::new());
    assert_eq!(queue.push(snapshot(4)).unwrap(), 5);
}

#[test]
fn stray_older_records_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    let seq = queue.push(snapshot(0)).unwrap();
    queue.ack(seq).unwrap();
    drop(queue);
    let acked_dir = dir.path().join("acked");
    fs::write(acked_dir.join(format!("{:020}.pb", 7)), b"").unwrap();
    fs::write(acked_dir.join(format!("{:020}.pb.tmp", 9)), b"").unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(names(&acked_dir), vec![format!("{:020}.pb", 7)]);
    assert_eq!(queue.push(snapshot(1)).unwrap(), 8);
}

#[test]
fn a_corrupt_newest_snapshot_does_not_give_its_seq_again() {
    // removed at open
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    for i in 0..3 {
        queue.push(snapshot(i)).unwrap();
    }
    let queue_dir = queue.dir().to_owned();
    drop(queue);
    fs::write(queue_dir.join(format!("{:020}.pb", 3)), b"\xff\xff not protobuf").unwrap();
    let queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.seqs(), vec![1, 2]);
    drop(queue);
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.push(snapshot(9)).unwrap(), 4);

    // removed when read, with nothing else queued
    let dir = tempfile::tempdir().unwrap();
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    let seq = queue.push(snapshot(1)).unwrap();
    fs::write(queue.dir().join(format!("{seq:020}.pb")), b"\xff\xff not protobuf").unwrap();
    assert_eq!(queue.read(seq).unwrap(), None);
    assert!(queue.is_empty());
    drop(queue);
    let mut queue = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(queue.push(snapshot(2)).unwrap(), seq + 1);
}
