//! Hourly chunks: the snapshots of one host in one UTC hour as one
//! compressed value (`metrics_chunk.data`, written by [`crate::compact`]).
//!
//! A chunk holds what the readers answer, not the raw rows: each snapshot's
//! host metrics, containers, services and custom metrics as the bus types
//! the readers build from the raw rows ([`Snapshot`]). A point read from a
//! chunk is therefore the point read from the rows it replaced, field for
//! field.
//!
//! Format, version 1: the bytes `V 1`, then one zstd frame of
//! - `N` (varint) snapshots and their times in milliseconds: the first as a
//!   zigzag varint, then zigzag delta-of-deltas (0 for a steady interval);
//! - `C` (varint) columns, each one field of one series (a core, a mount, a
//!   container's memory...): its key, its kind, which snapshots carry it
//!   (all, or a bitmap) and their values, oldest first:
//!   - integers: deltas divided by their greatest common divisor (memory
//!     moves in 4 KiB pages, uptime by the interval), as zigzag varints;
//!   - reals: integer hundredths coded like integers when every value is
//!     exactly one (percentages, load), else IEEE bits XORed with the
//!     previous value's, 8 bytes each;
//!   - texts: the column's distinct values once, then an index per value.
//!
//! Names, paths, images and other values that do not move cost a few bytes
//! per chunk, not per snapshot; a column of a value that does not move is
//! a run of zeros that zstd folds away.
//!
//! Invariants:
//! - `decode(encode(s)) == s` for snapshots in ascending time order with
//!   distinct times, reals bit for bit (NaN, -0.0 included);
//! - containers, services and custom metrics decode ordered by name, byte
//!   order (as the raw readers' `ORDER BY` on `utf8mb4_bin` names); mounts,
//!   interfaces, cores and ports keep their stored order;
//! - a chunk that does not decode is an error saying why, never a panic;
//!   what a chunk claims to hold is bounded before anything is allocated.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use chrono::{DateTime, Utc};
use vigil_bus::messages::{ContainerMetrics, CustomPoint, HostMetrics, InterfaceMetrics, MountMetrics, ServiceMetrics};

/// zstd level of a chunk: level 9 makes chunks ~8 % smaller than the
/// default 3 for ~3x the (small) compression time; decompression speed is
/// the same.
const LEVEL: i32 = 9;
/// Most bytes a chunk may decompress to (a host of 1,000 containers holds
/// ~5 MB an hour); a chunk claiming more is refused as corrupt.
const MAX_DECOMPRESSED: u64 = 256 << 20;
const MAGIC: u8 = b'V';
const VERSION: u8 = 1;

/// One stored snapshot, as the readers answer it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Millisecond precision (`DATETIME(3)`).
    pub timestamp: DateTime<Utc>,
    /// `None` when the snapshot has no `metrics_host` row.
    pub host: Option<HostMetrics>,
    pub containers: Vec<ContainerMetrics>,
    pub services: Vec<ServiceMetrics>,
    /// `timestamp` of each point is the snapshot's.
    pub custom: Vec<CustomPoint>,
}

/// Which sections [`decode`] builds (the others are skipped, not built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sections {
    pub host: bool,
    pub containers: bool,
    pub services: bool,
    pub custom: bool,
}

impl Sections {
    pub const ALL: Sections = Sections { host: true, containers: true, services: true, custom: true };
    pub const HOST: Sections = Sections { host: true, containers: false, services: false, custom: false };
    pub const CONTAINERS: Sections = Sections { host: false, containers: true, services: false, custom: false };
    pub const CUSTOM: Sections = Sections { host: false, containers: false, services: false, custom: true };

    fn wants(self, key: &[u8]) -> bool {
        match key.first() {
            Some(&HOST) => self.host,
            Some(&CONTAINER) => self.containers,
            Some(&SERVICE) => self.services,
            Some(&CUSTOM) => self.custom,
            _ => false,
        }
    }
}

/// Why a chunk could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChunkError {
    #[error("not a chunk of format version {VERSION} (starts with {0:?})")]
    Format(Vec<u8>),
    #[error("chunk does not decompress: {0}")]
    Compression(std::io::Error),
    #[error("chunk decompresses to more than {MAX_DECOMPRESSED} bytes")]
    TooLarge,
    #[error("chunk is corrupt: {0}")]
    Corrupt(&'static str),
}

// ---------------------------------------------------------------------------
// keys: which field of which series a column holds

const HOST: u8 = b'h';
const CONTAINER: u8 = b'c';
const SERVICE: u8 = b's';
const CUSTOM: u8 = b'u';

// host fields
const H_PRESENT: u8 = 0;
const H_UPTIME: u8 = 1;
const H_CPU: u8 = 2;
const H_CORES: u8 = 3;
const H_MEM_TOTAL: u8 = 4;
const H_MEM_USED: u8 = 5;
const H_MEM_AVAILABLE: u8 = 6;
const H_SWAP_TOTAL: u8 = 7;
const H_SWAP_USED: u8 = 8;
const H_LOAD_1: u8 = 9;
const H_LOAD_5: u8 = 10;
const H_LOAD_15: u8 = 11;
const H_CORE_COUNT: u8 = 12;
const H_MOUNT_COUNT: u8 = 13;
const H_IFACE_COUNT: u8 = 14;
const H_MEM_PERCENT: u8 = 15;
const H_CORE: u8 = 20; // + index
const H_MOUNT: u8 = 21; // + index + field
const H_IFACE: u8 = 22; // + index + field

// container fields (after the name)
const C_PRESENT: u8 = 0;
const C_RUNTIME: u8 = 1;
const C_STATUS: u8 = 2;
const C_CREATED: u8 = 3;
const C_IMAGE: u8 = 4;
const C_CPU: u8 = 5;
const C_MEM_USED: u8 = 6;
const C_MEM_LIMIT: u8 = 7;
const C_MEM_PERCENT: u8 = 8;
const C_DISK: u8 = 9;
const C_RX: u8 = 10;
const C_TX: u8 = 11;
const C_PROCESSES: u8 = 12;

// service fields (after the name)
const S_PRESENT: u8 = 0;
const S_STATUS: u8 = 1;
const S_PID: u8 = 2;
const S_MEMORY: u8 = 3;
const S_CPU: u8 = 4;
const S_UPTIME: u8 = 5;
const S_PORT_COUNT: u8 = 6;
const S_PORT: u8 = 7; // + index

// custom metric fields (after the name)
const U_KIND: u8 = 0;
const U_VALUE: u8 = 1;
const U_ERROR: u8 = 2;

fn host_key(field: u8) -> Vec<u8> {
    vec![HOST, field]
}

fn indexed_key(field: u8, index: usize, sub: Option<u8>) -> Vec<u8> {
    let mut key = vec![HOST, field];
    put_varint(&mut key, index as u64);
    key.extend(sub);
    key
}

fn named_key(section: u8, name: &str, field: u8) -> Vec<u8> {
    let mut key = vec![section];
    put_varint(&mut key, name.len() as u64);
    key.extend_from_slice(name.as_bytes());
    key.push(field);
    key
}

// ---------------------------------------------------------------------------
// encoding

enum Value<'a> {
    Int(u64),
    Real(f64),
    Text(&'a str),
}

enum Values<'a> {
    Int(Vec<u64>),
    Real(Vec<f64>),
    Text(Vec<&'a str>),
}

struct Column<'a> {
    key: Vec<u8>,
    present: Vec<bool>,
    values: Values<'a>,
}

#[derive(Default)]
struct Columns<'a> {
    columns: Vec<Column<'a>>,
    index: HashMap<Vec<u8>, usize>,
    snapshots: usize,
}

impl<'a> Columns<'a> {
    fn push(&mut self, snapshot: usize, key: Vec<u8>, value: Value<'a>) {
        let at = match self.index.get(&key) {
            Some(at) => *at,
            None => {
                let values = match value {
                    Value::Int(_) => Values::Int(Vec::new()),
                    Value::Real(_) => Values::Real(Vec::new()),
                    Value::Text(_) => Values::Text(Vec::new()),
                };
                self.index.insert(key.clone(), self.columns.len());
                self.columns.push(Column { key, present: vec![false; self.snapshots], values });
                self.columns.len() - 1
            }
        };
        let column = &mut self.columns[at];
        if column.present[snapshot] {
            return; // a key twice in one snapshot (two containers of one name): the first wins
        }
        column.present[snapshot] = true;
        match (&mut column.values, value) {
            (Values::Int(values), Value::Int(v)) => values.push(v),
            (Values::Real(values), Value::Real(v)) => values.push(v),
            (Values::Text(values), Value::Text(v)) => values.push(v),
            // keys fix their kind; cannot happen, and would only lose this value
            _ => column.present[snapshot] = false,
        }
    }
}

/// Encodes `snapshots` (ascending times, distinct) as one chunk.
pub(crate) fn encode(snapshots: &[Snapshot]) -> Vec<u8> {
    let mut columns = Columns { snapshots: snapshots.len(), ..Columns::default() };
    for (at, snapshot) in snapshots.iter().enumerate() {
        flatten(&mut columns, at, snapshot);
    }
    let mut body = Vec::with_capacity(64 * 1024);
    put_varint(&mut body, snapshots.len() as u64);
    let mut previous = 0i64;
    let mut previous_delta = 0i64;
    for (at, snapshot) in snapshots.iter().enumerate() {
        let ms = snapshot.timestamp.timestamp_millis();
        if at == 0 {
            put_varint(&mut body, zigzag(ms));
        } else {
            let delta = ms.wrapping_sub(previous);
            put_varint(&mut body, zigzag(delta.wrapping_sub(previous_delta)));
            previous_delta = delta;
        }
        previous = ms;
    }
    put_varint(&mut body, columns.columns.len() as u64);
    for column in &columns.columns {
        put_bytes(&mut body, &column.key);
        let kind = match column.values {
            Values::Int(_) => 0,
            Values::Real(_) => 1,
            Values::Text(_) => 2,
        };
        body.push(kind);
        if column.present.iter().all(|p| *p) {
            body.push(1);
        } else {
            body.push(0);
            let mut bits = vec![0u8; column.present.len().div_ceil(8)];
            for (i, present) in column.present.iter().enumerate() {
                if *present {
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
            body.extend_from_slice(&bits);
        }
        match &column.values {
            Values::Int(values) => put_ints(&mut body, values),
            Values::Real(values) => put_reals(&mut body, values),
            Values::Text(values) => put_texts(&mut body, values),
        }
    }
    let mut out = vec![MAGIC, VERSION];
    // compressing an in-memory buffer cannot fail
    out.extend(zstd::bulk::compress(&body, LEVEL).unwrap_or_default());
    out
}

fn flatten<'a>(columns: &mut Columns<'a>, at: usize, snapshot: &'a Snapshot) {
    if let Some(host) = &snapshot.host {
        let mut int = |field: u8, v: u64| columns.push(at, host_key(field), Value::Int(v));
        int(H_PRESENT, 0);
        int(H_UPTIME, host.uptime);
        int(H_CORES, u64::from(host.cpu.cores));
        int(H_MEM_TOTAL, host.memory.total);
        int(H_MEM_USED, host.memory.used);
        int(H_MEM_AVAILABLE, host.memory.available);
        int(H_SWAP_TOTAL, host.memory.swap_total);
        int(H_SWAP_USED, host.memory.swap_used);
        int(H_CORE_COUNT, host.cpu.per_core.len() as u64);
        int(H_MOUNT_COUNT, host.disk.mounts.len() as u64);
        int(H_IFACE_COUNT, host.network.interfaces.len() as u64);
        if host.memory.percent.to_bits() != memory_percent(host.memory.used, host.memory.total).to_bits() {
            columns.push(at, host_key(H_MEM_PERCENT), Value::Real(host.memory.percent));
        }
        for (field, v) in [
            (H_CPU, host.cpu.percent),
            (H_LOAD_1, host.load.load_1m),
            (H_LOAD_5, host.load.load_5m),
            (H_LOAD_15, host.load.load_15m),
        ] {
            columns.push(at, host_key(field), Value::Real(v));
        }
        for (i, core) in host.cpu.per_core.iter().enumerate() {
            columns.push(at, indexed_key(H_CORE, i, None), Value::Real(*core));
        }
        for (i, mount) in host.disk.mounts.iter().enumerate() {
            let key = |sub| indexed_key(H_MOUNT, i, Some(sub));
            columns.push(at, key(0), Value::Text(&mount.path));
            columns.push(at, key(1), Value::Int(mount.total));
            columns.push(at, key(2), Value::Int(mount.used));
            if mount.percent.to_bits() != percent(mount.used, mount.total).to_bits() {
                columns.push(at, key(3), Value::Real(mount.percent));
            }
            columns.push(at, key(4), Value::Text(&mount.fs_type));
        }
        for (i, nic) in host.network.interfaces.iter().enumerate() {
            let key = |sub| indexed_key(H_IFACE, i, Some(sub));
            columns.push(at, key(0), Value::Text(&nic.name));
            for (sub, v) in [
                (1, nic.rx_bytes),
                (2, nic.tx_bytes),
                (3, nic.rx_packets),
                (4, nic.tx_packets),
                (5, nic.rx_errors),
                (6, nic.tx_errors),
            ] {
                columns.push(at, key(sub), Value::Int(v));
            }
        }
    }
    for c in &snapshot.containers {
        let key = |field| named_key(CONTAINER, &c.name, field);
        columns.push(at, key(C_PRESENT), Value::Int(0));
        columns.push(at, key(C_RUNTIME), Value::Text(&c.runtime));
        columns.push(at, key(C_STATUS), Value::Text(&c.status));
        columns.push(at, key(C_CREATED), Value::Text(&c.created));
        columns.push(at, key(C_IMAGE), Value::Text(&c.image));
        columns.push(at, key(C_CPU), Value::Real(c.cpu_percent));
        if c.memory_percent.to_bits() != percent(c.memory_used, c.memory_limit).to_bits() {
            columns.push(at, key(C_MEM_PERCENT), Value::Real(c.memory_percent));
        }
        for (field, v) in [
            (C_MEM_USED, c.memory_used),
            (C_MEM_LIMIT, c.memory_limit),
            (C_DISK, c.disk_used),
            (C_RX, c.network_rx),
            (C_TX, c.network_tx),
            (C_PROCESSES, u64::from(c.processes)),
        ] {
            columns.push(at, key(field), Value::Int(v));
        }
    }
    for s in &snapshot.services {
        let key = |field| named_key(SERVICE, &s.name, field);
        columns.push(at, key(S_PRESENT), Value::Int(0));
        columns.push(at, key(S_STATUS), Value::Text(&s.status));
        columns.push(at, key(S_PID), Value::Int(u64::from(s.pid)));
        columns.push(at, key(S_MEMORY), Value::Int(s.memory));
        columns.push(at, key(S_CPU), Value::Real(s.cpu_percent));
        columns.push(at, key(S_UPTIME), Value::Int(s.uptime));
        columns.push(at, key(S_PORT_COUNT), Value::Int(s.ports.len() as u64));
        for (i, port) in s.ports.iter().enumerate() {
            let mut port_key = key(S_PORT);
            put_varint(&mut port_key, i as u64);
            columns.push(at, port_key, Value::Int(u64::from(*port)));
        }
    }
    for u in &snapshot.custom {
        let key = |field| named_key(CUSTOM, &u.name, field);
        columns.push(at, key(U_KIND), Value::Text(&u.kind));
        columns.push(at, key(U_VALUE), Value::Real(u.value));
        if let Some(error) = &u.error {
            columns.push(at, key(U_ERROR), Value::Text(error));
        }
    }
}

/// A host's memory percentage as the raw reader derives it
/// (`metrics::point`): a chunk stores it only when it differs.
pub(crate) fn memory_percent(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (used as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

/// `part` of `whole` in percent at 2 places, as the agent computes a mount's
/// or a container's: a chunk stores those only when they differ.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 100.0 * 100.0).round() / 100.0
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The first value, then the deltas from the previous value (mode 0) or
/// the deltas of those (mode 1: a counter growing at a steady rate), the
/// cheaper of the two, divided by their common divisor, zigzagged, and
/// written as byte planes (every low byte, then every next byte...): the
/// high bytes of small residuals are runs of zeros, and each plane's bytes
/// look alike for zstd's entropy coder. Wrapping arithmetic: a `u64`
/// column holds any value.
fn put_ints(out: &mut Vec<u8>, values: &[u64]) {
    let Some((first, rest)) = values.split_first() else { return };
    put_varint(out, *first);
    let mut previous = *first;
    let deltas: Vec<i64> = rest
        .iter()
        .map(|v| {
            let delta = v.wrapping_sub(previous) as i64;
            previous = *v;
            delta
        })
        .collect();
    let mut last = 0i64;
    let second: Vec<i64> = deltas
        .iter()
        .map(|d| {
            let dd = d.wrapping_sub(last);
            last = *d;
            dd
        })
        .collect();
    let cost = |residuals: &[i64]| -> u64 { residuals.iter().map(|r| u64::from(64 - zigzag(*r).leading_zeros())).sum() };
    let (mode, residuals) = if cost(&second) < cost(&deltas) { (1u8, second) } else { (0u8, deltas) };
    let divisor = residuals.iter().fold(0, |g, r| gcd(g, r.unsigned_abs()));
    // a divisor past i64::MAX would not divide as an i64: keep 1
    let divisor = if divisor == 0 || divisor > i64::MAX as u64 { 1 } else { divisor };
    out.push(mode);
    put_varint(out, divisor);
    let zigzagged: Vec<u64> = residuals.iter().map(|r| zigzag(r / divisor as i64)).collect();
    let width = zigzagged.iter().map(|z| 8 - z.leading_zeros() / 8).max().unwrap_or(0);
    out.push(width as u8);
    for plane in 0..width {
        out.extend(zigzagged.iter().map(|z| (z >> (8 * plane)) as u8));
    }
}

/// The value as whole hundredths, when it is exactly one.
fn hundredths(v: f64) -> Option<i64> {
    let scaled = (v * 100.0).round();
    if !scaled.is_finite() || scaled.abs() >= 9e15 {
        return None;
    }
    let cents = scaled as i64;
    ((cents as f64 / 100.0).to_bits() == v.to_bits()).then_some(cents)
}

fn put_reals(out: &mut Vec<u8>, values: &[f64]) {
    let cents: Option<Vec<i64>> = values.iter().map(|v| hundredths(*v)).collect();
    match cents {
        Some(cents) => {
            out.push(0);
            put_ints(out, &cents.iter().map(|c| *c as u64).collect::<Vec<_>>());
        }
        None => {
            out.push(1);
            let mut previous = 0u64;
            for v in values {
                let bits = v.to_bits();
                out.extend_from_slice(&(bits ^ previous).to_le_bytes());
                previous = bits;
            }
        }
    }
}

fn put_texts(out: &mut Vec<u8>, values: &[&str]) {
    let mut distinct: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut indices = Vec::with_capacity(values.len());
    for v in values {
        let index = *seen.entry(v).or_insert_with(|| {
            distinct.push(v);
            distinct.len() as u64 - 1
        });
        indices.push(index);
    }
    put_varint(out, distinct.len() as u64);
    for v in distinct {
        put_bytes(out, v.as_bytes());
    }
    for index in indices {
        put_varint(out, index);
    }
}

// ---------------------------------------------------------------------------
// decoding

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, ChunkError> {
        let b = *self.bytes.get(self.at).ok_or(ChunkError::Corrupt("ends early"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError::Corrupt("varint longer than 10 bytes"))
    }

    /// A count of things each at least one byte long: never more than the bytes left.
    fn count(&mut self) -> Result<usize, ChunkError> {
        let n = self.varint()?;
        if n > (self.bytes.len() - self.at) as u64 + 1 {
            return Err(ChunkError::Corrupt("a count is larger than the chunk"));
        }
        Ok(n as usize)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or(ChunkError::Corrupt("ends early"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ChunkError> {
        let n = self.count()?;
        self.take(n)
    }

    fn ints(&mut self, n: usize) -> Result<Vec<u64>, ChunkError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let first = self.varint()?;
        let mode = self.byte()?;
        let divisor = self.varint()? as i64;
        let width = usize::from(self.byte()?);
        if mode > 1 || width > 8 {
            return Err(ChunkError::Corrupt("unknown integer encoding"));
        }
        let planes = self.take(width.checked_mul(n - 1).ok_or(ChunkError::Corrupt("ends early"))?)?;
        let mut values = Vec::with_capacity(n);
        values.push(first);
        let (mut previous, mut delta) = (first, 0i64);
        for i in 0..n - 1 {
            let z = (0..width).fold(0u64, |z, plane| z | u64::from(planes[plane * (n - 1) + i]) << (8 * plane));
            let residual = unzigzag(z).wrapping_mul(divisor);
            delta = if mode == 1 { delta.wrapping_add(residual) } else { residual };
            previous = previous.wrapping_add(delta as u64);
            values.push(previous);
        }
        Ok(values)
    }

    fn reals(&mut self, n: usize) -> Result<Vec<f64>, ChunkError> {
        match self.byte()? {
            0 => Ok(self.ints(n)?.into_iter().map(|c| c as i64 as f64 / 100.0).collect()),
            1 => {
                let mut previous = 0u64;
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    let raw: [u8; 8] = self.take(8)?.try_into().map_err(|_| ChunkError::Corrupt("ends early"))?;
                    previous ^= u64::from_le_bytes(raw);
                    values.push(f64::from_bits(previous));
                }
                Ok(values)
            }
            _ => Err(ChunkError::Corrupt("unknown real encoding")),
        }
    }

    /// Moves past a column of `n` values of `kind` without building them.
    fn skip(&mut self, kind: u8, n: usize) -> Result<(), ChunkError> {
        let skip_ints = |r: &mut Reader<'_>| -> Result<(), ChunkError> {
            if n == 0 {
                return Ok(());
            }
            r.varint()?;
            r.byte()?;
            r.varint()?;
            let width = usize::from(r.byte()?);
            r.take(width.checked_mul(n - 1).ok_or(ChunkError::Corrupt("ends early"))?)?;
            Ok(())
        };
        match kind {
            0 => skip_ints(self),
            1 => match self.byte()? {
                0 => skip_ints(self),
                1 => self.take(n.checked_mul(8).ok_or(ChunkError::Corrupt("ends early"))?).map(|_| ()),
                _ => Err(ChunkError::Corrupt("unknown real encoding")),
            },
            2 => {
                for _ in 0..self.count()? {
                    self.bytes()?;
                }
                for _ in 0..n {
                    self.varint()?;
                }
                Ok(())
            }
            _ => Err(ChunkError::Corrupt("unknown column kind")),
        }
    }

    fn texts(&mut self, n: usize) -> Result<(Vec<String>, Vec<u32>), ChunkError> {
        let distinct = self.count()?;
        let mut strings = Vec::with_capacity(distinct);
        for _ in 0..distinct {
            let text = std::str::from_utf8(self.bytes()?).map_err(|_| ChunkError::Corrupt("text is not UTF-8"))?;
            strings.push(text.to_owned());
        }
        let mut indices = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.varint()?;
            if index >= strings.len() as u64 {
                return Err(ChunkError::Corrupt("text index out of range"));
            }
            indices.push(index as u32);
        }
        Ok((strings, indices))
    }
}

enum Decoded {
    Int(Vec<u64>),
    Real(Vec<f64>),
    /// The distinct texts, and an index into them per value.
    Text(Vec<String>, Vec<u32>),
}

struct DecodedColumn {
    key: Vec<u8>,
    /// Snapshot → value index (`u32::MAX`: not in that snapshot); `None`
    /// when every snapshot has a value.
    index: Option<Vec<u32>>,
    values: Decoded,
}

impl DecodedColumn {
    fn at(&self, snapshot: usize) -> Option<Got<'_>> {
        let i = match &self.index {
            None => snapshot,
            Some(index) => match index[snapshot] {
                u32::MAX => return None,
                i => i as usize,
            },
        };
        // lengths were checked when the chunk was opened
        Some(match &self.values {
            Decoded::Int(v) => Got::Int(v[i]),
            Decoded::Real(v) => Got::Real(v[i]),
            Decoded::Text(texts, v) => Got::Text(&texts[v[i] as usize]),
        })
    }
}

/// An opened chunk: its columns decoded, its snapshots built one at a time
/// ([`Chunk::snapshot`]), so a reader that keeps one snapshot of many (a
/// chart's bucket) builds only that one.
pub(crate) struct Chunk {
    times: Vec<DateTime<Utc>>,
    columns: Vec<DecodedColumn>,
    /// The columns of the host's presence and CPU percentage, when decoded.
    host: Option<usize>,
    cpu: Option<usize>,
    /// The columns of memory used and total, and of each mount's used and total.
    memory: [Option<usize>; 2],
    mounts: Vec<[Option<usize>; 2]>,
}

/// What a fleet history needs of a host snapshot (see [`Chunk::usage`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    pub cpu: f64,
    pub memory_used: u64,
    pub memory_total: u64,
    pub disk_used: u64,
    pub disk_total: u64,
}

impl Chunk {
    /// Decompresses and decodes the columns of `sections`.
    pub(crate) fn open(chunk: &[u8], sections: Sections) -> Result<Chunk, ChunkError> {
        if chunk.len() < 2 || chunk[0] != MAGIC || chunk[1] != VERSION {
            return Err(ChunkError::Format(chunk.iter().take(2).copied().collect()));
        }
        let mut body = Vec::new();
        zstd::stream::read::Decoder::new(&chunk[2..])
            .map_err(ChunkError::Compression)?
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut body)
            .map_err(ChunkError::Compression)?;
        if body.len() as u64 > MAX_DECOMPRESSED {
            return Err(ChunkError::TooLarge);
        }
        let mut r = Reader { bytes: &body, at: 0 };
        let n = r.count()?;
        let mut times = Vec::with_capacity(n);
        let (mut previous, mut previous_delta) = (0i64, 0i64);
        for at in 0..n {
            let v = unzigzag(r.varint()?);
            let ms = if at == 0 {
                v
            } else {
                previous_delta = previous_delta.wrapping_add(v);
                previous.wrapping_add(previous_delta)
            };
            times.push(DateTime::from_timestamp_millis(ms).ok_or(ChunkError::Corrupt("time out of range"))?);
            previous = ms;
        }
        let column_count = r.count()?;
        let mut columns = Vec::with_capacity(column_count);
        let (mut host, mut cpu) = (None, None);
        let mut memory = [None, None];
        let mut mounts: Vec<[Option<usize>; 2]> = Vec::new();
        for _ in 0..column_count {
            let key = r.bytes()?.to_vec();
            let kind = r.byte()?;
            let (index, count) = match r.byte()? {
                1 => (None, n),
                0 => {
                    let bits = r.take(n.div_ceil(8))?;
                    let mut next = 0u32;
                    let index: Vec<u32> = (0..n)
                        .map(|at| {
                            if bits[at / 8] & (1 << (at % 8)) != 0 {
                                next += 1;
                                next - 1
                            } else {
                                u32::MAX
                            }
                        })
                        .collect();
                    (Some(index), next as usize)
                }
                _ => return Err(ChunkError::Corrupt("unknown presence flag")),
            };
            if !sections.wants(&key) {
                r.skip(kind, count)?;
                continue;
            }
            let values = match kind {
                0 => Decoded::Int(r.ints(count)?),
                1 => Decoded::Real(r.reals(count)?),
                2 => {
                    let (texts, indices) = r.texts(count)?;
                    Decoded::Text(texts, indices)
                }
                _ => return Err(ChunkError::Corrupt("unknown column kind")),
            };
            if key == host_key(H_CPU) {
                if !matches!(values, Decoded::Real(_)) {
                    return Err(ChunkError::Corrupt("a field holds another kind than its key says"));
                }
                cpu = Some(columns.len());
            }
            if key == host_key(H_PRESENT) {
                host = Some(columns.len());
            }
            if key == host_key(H_MEM_USED) || key == host_key(H_MEM_TOTAL) {
                memory[usize::from(key[1] == H_MEM_TOTAL)] = Some(columns.len());
            }
            if let [HOST, H_MOUNT, .., sub @ (1 | 2)] = key[..] {
                let mut r = Reader { bytes: &key[2..], at: 0 };
                let index = usize::try_from(r.varint()?).map_err(|_| ChunkError::Corrupt("index out of range"))?;
                if r.at + 3 == key.len() && index < (1 << 16) {
                    if mounts.len() <= index {
                        mounts.resize(index + 1, [None, None]);
                    }
                    // sub 1 is the total, 2 the used bytes
                    mounts[index][usize::from(sub == 1)] = Some(columns.len());
                }
            }
            columns.push(DecodedColumn { key, index, values });
        }
        Ok(Chunk { times, columns, host, cpu, memory, mounts })
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    pub(crate) fn time(&self, at: usize) -> DateTime<Utc> {
        self.times[at]
    }

    /// Whether snapshot `at` has host metrics (when the host section was decoded).
    pub(crate) fn has_host(&self, at: usize) -> bool {
        self.host.and_then(|column| self.columns[column].at(at)).is_some()
    }

    /// The host's CPU percentage in snapshot `at` (when the host section
    /// was decoded and the snapshot has one).
    pub(crate) fn cpu(&self, at: usize) -> Option<f64> {
        match self.columns.get(self.cpu?)?.at(at)? {
            Got::Real(v) => Some(v),
            _ => None,
        }
    }

    /// The host's usage in snapshot `at` without building the snapshot
    /// (disk summed over its mounts, as `DiskMetrics::used` and `total`);
    /// `None` when it has no host metrics or the host section was not decoded.
    pub(crate) fn usage(&self, at: usize) -> Option<Usage> {
        if !self.has_host(at) {
            return None;
        }
        let int = |column: Option<usize>| match column.and_then(|c| self.columns[c].at(at)) {
            Some(Got::Int(v)) => v,
            _ => 0,
        };
        let (mut disk_used, mut disk_total) = (0u64, 0u64);
        for [used, total] in &self.mounts {
            disk_used = disk_used.saturating_add(int(*used));
            disk_total = disk_total.saturating_add(int(*total));
        }
        Some(Usage {
            cpu: self.cpu(at).unwrap_or(0.0),
            memory_used: int(self.memory[0]),
            memory_total: int(self.memory[1]),
            disk_used,
            disk_total,
        })
    }

    /// Snapshot `at`, with the sections the chunk was opened with.
    pub(crate) fn snapshot(&self, at: usize) -> Result<Snapshot, ChunkError> {
        let mut builder = Builder::default();
        for column in &self.columns {
            if let Some(value) = column.at(at) {
                builder.set(&column.key, value)?;
            }
        }
        Ok(builder.finish(self.times[at]))
    }
}

/// The snapshots of a chunk, oldest first, with the `sections` asked for
/// (the others left empty / `None`).
pub(crate) fn decode(chunk: &[u8], sections: Sections) -> Result<Vec<Snapshot>, ChunkError> {
    let chunk = Chunk::open(chunk, sections)?;
    (0..chunk.len()).map(|at| chunk.snapshot(at)).collect()
}

enum Got<'a> {
    Int(u64),
    Real(f64),
    Text(&'a str),
}

impl Got<'_> {
    fn int(&self) -> Result<u64, ChunkError> {
        match self {
            Got::Int(v) => Ok(*v),
            _ => Err(ChunkError::Corrupt("a field holds another kind than its key says")),
        }
    }
    fn real(&self) -> Result<f64, ChunkError> {
        match self {
            Got::Real(v) => Ok(*v),
            _ => Err(ChunkError::Corrupt("a field holds another kind than its key says")),
        }
    }
    fn text(&self) -> Result<String, ChunkError> {
        match self {
            Got::Text(v) => Ok((*v).to_owned()),
            _ => Err(ChunkError::Corrupt("a field holds another kind than its key says")),
        }
    }
}

/// Builds one snapshot from its columns. Percentages a chunk leaves out
/// (they equal what [`memory_percent`] and [`percent`] derive) are derived
/// when it is finished.
#[derive(Default)]
struct Builder {
    host: Option<HostMetrics>,
    host_memory_percent: bool,
    mount_percents: Vec<bool>,
    container_memory_percents: BTreeSet<String>,
    containers: BTreeMap<String, ContainerMetrics>,
    services: BTreeMap<String, ServiceMetrics>,
    custom: BTreeMap<String, CustomPoint>,
}

/// `v[index]`: an item of a series (core, mount, interface, port), whose
/// count column came first and sized `v`.
fn slot<T>(v: &mut [T], index: u64) -> Result<&mut T, ChunkError> {
    let index = usize::try_from(index).map_err(|_| ChunkError::Corrupt("index out of range"))?;
    v.get_mut(index).ok_or(ChunkError::Corrupt("an item past its series' count"))
}

fn narrow<T: TryFrom<u64>>(v: u64) -> Result<T, ChunkError> {
    T::try_from(v).map_err(|_| ChunkError::Corrupt("a value too large for its field"))
}

impl Builder {
    fn set(&mut self, key: &[u8], value: Got<'_>) -> Result<(), ChunkError> {
        let mut r = Reader { bytes: key, at: 0 };
        match r.byte()? {
            HOST => {
                let host = self.host.get_or_insert_with(HostMetrics::default);
                match r.byte()? {
                    H_PRESENT => {}
                    H_UPTIME => host.uptime = value.int()?,
                    H_CPU => host.cpu.percent = value.real()?,
                    H_CORES => host.cpu.cores = narrow(value.int()?)?,
                    H_MEM_TOTAL => host.memory.total = value.int()?,
                    H_MEM_USED => host.memory.used = value.int()?,
                    H_MEM_AVAILABLE => host.memory.available = value.int()?,
                    H_MEM_PERCENT => {
                        host.memory.percent = value.real()?;
                        self.host_memory_percent = true;
                    }
                    H_SWAP_TOTAL => host.memory.swap_total = value.int()?,
                    H_SWAP_USED => host.memory.swap_used = value.int()?,
                    H_LOAD_1 => host.load.load_1m = value.real()?,
                    H_LOAD_5 => host.load.load_5m = value.real()?,
                    H_LOAD_15 => host.load.load_15m = value.real()?,
                    H_CORE_COUNT => host.cpu.per_core = vec![0.0; bounded(value.int()?)?],
                    H_MOUNT_COUNT => {
                        let count = bounded(value.int()?)?;
                        host.disk.mounts = vec![MountMetrics::default(); count];
                        self.mount_percents = vec![false; count];
                    }
                    H_IFACE_COUNT => host.network.interfaces = vec![InterfaceMetrics::default(); bounded(value.int()?)?],
                    H_CORE => *slot(&mut host.cpu.per_core, r.varint()?)? = value.real()?,
                    H_MOUNT => {
                        let index = r.varint()?;
                        let mount = slot(&mut host.disk.mounts, index)?;
                        match r.byte()? {
                            0 => mount.path = value.text()?,
                            1 => mount.total = value.int()?,
                            2 => mount.used = value.int()?,
                            3 => {
                                mount.percent = value.real()?;
                                *slot(&mut self.mount_percents, index)? = true;
                            }
                            4 => mount.fs_type = value.text()?,
                            _ => return Err(ChunkError::Corrupt("unknown mount field")),
                        }
                    }
                    H_IFACE => {
                        let nic = slot(&mut host.network.interfaces, r.varint()?)?;
                        match r.byte()? {
                            0 => nic.name = value.text()?,
                            1 => nic.rx_bytes = value.int()?,
                            2 => nic.tx_bytes = value.int()?,
                            3 => nic.rx_packets = value.int()?,
                            4 => nic.tx_packets = value.int()?,
                            5 => nic.rx_errors = value.int()?,
                            6 => nic.tx_errors = value.int()?,
                            _ => return Err(ChunkError::Corrupt("unknown interface field")),
                        }
                    }
                    _ => return Err(ChunkError::Corrupt("unknown host field")),
                }
            }
            CONTAINER => {
                let name = name(&mut r)?;
                let c = self.containers.entry(name.clone()).or_insert_with(|| ContainerMetrics { name, ..Default::default() });
                match r.byte()? {
                    C_PRESENT => {}
                    C_RUNTIME => c.runtime = value.text()?,
                    C_STATUS => c.status = value.text()?,
                    C_CREATED => c.created = value.text()?,
                    C_IMAGE => c.image = value.text()?,
                    C_CPU => c.cpu_percent = value.real()?,
                    C_MEM_USED => c.memory_used = value.int()?,
                    C_MEM_LIMIT => c.memory_limit = value.int()?,
                    C_MEM_PERCENT => {
                        c.memory_percent = value.real()?;
                        self.container_memory_percents.insert(c.name.clone());
                    }
                    C_DISK => c.disk_used = value.int()?,
                    C_RX => c.network_rx = value.int()?,
                    C_TX => c.network_tx = value.int()?,
                    C_PROCESSES => c.processes = narrow(value.int()?)?,
                    _ => return Err(ChunkError::Corrupt("unknown container field")),
                }
            }
            SERVICE => {
                let name = name(&mut r)?;
                let s = self.services.entry(name.clone()).or_insert_with(|| ServiceMetrics { name, ..Default::default() });
                match r.byte()? {
                    S_PRESENT => {}
                    S_STATUS => s.status = value.text()?,
                    S_PID => s.pid = narrow(value.int()?)?,
                    S_MEMORY => s.memory = value.int()?,
                    S_CPU => s.cpu_percent = value.real()?,
                    S_UPTIME => s.uptime = value.int()?,
                    S_PORT_COUNT => s.ports = vec![0; bounded(value.int()?)?],
                    S_PORT => *slot(&mut s.ports, r.varint()?)? = narrow(value.int()?)?,
                    _ => return Err(ChunkError::Corrupt("unknown service field")),
                }
            }
            CUSTOM => {
                let name = name(&mut r)?;
                let u = self.custom.entry(name.clone()).or_insert_with(|| CustomPoint {
                    name,
                    kind: String::new(),
                    value: 0.0,
                    error: None,
                    timestamp: DateTime::UNIX_EPOCH,
                });
                match r.byte()? {
                    U_KIND => u.kind = value.text()?,
                    U_VALUE => u.value = value.real()?,
                    U_ERROR => u.error = Some(value.text()?),
                    _ => return Err(ChunkError::Corrupt("unknown custom metric field")),
                }
            }
            _ => return Err(ChunkError::Corrupt("unknown section")),
        }
        Ok(())
    }

    fn finish(mut self, timestamp: DateTime<Utc>) -> Snapshot {
        if let Some(host) = &mut self.host {
            if !self.host_memory_percent {
                host.memory.percent = memory_percent(host.memory.used, host.memory.total);
            }
            for (mount, set) in host.disk.mounts.iter_mut().zip(&self.mount_percents) {
                if !set {
                    mount.percent = percent(mount.used, mount.total);
                }
            }
        }
        for c in self.containers.values_mut() {
            if !self.container_memory_percents.contains(&c.name) {
                c.memory_percent = percent(c.memory_used, c.memory_limit);
            }
        }
        Snapshot {
            timestamp,
            host: self.host,
            containers: self.containers.into_values().collect(),
            services: self.services.into_values().collect(),
            custom: self.custom.into_values().map(|point| CustomPoint { timestamp, ..point }).collect(),
        }
    }
}

/// A series count (cores, mounts, interfaces, ports): bounded so a corrupt
/// chunk cannot ask for a huge allocation.
fn bounded(count: u64) -> Result<usize, ChunkError> {
    const MAX_ITEMS: u64 = 1 << 16;
    if count > MAX_ITEMS {
        return Err(ChunkError::Corrupt("a series count over 65,536"));
    }
    Ok(count as usize)
}

fn name(r: &mut Reader<'_>) -> Result<String, ChunkError> {
    let bytes = r.bytes()?;
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| ChunkError::Corrupt("a name is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use vigil_bus::messages::{CpuMetrics, DiskMetrics, LoadMetrics, MemoryMetrics, NetworkMetrics};

    fn host(rng: &mut StdRng, step: u64) -> HostMetrics {
        HostMetrics {
            uptime: 86_400 + step * 10,
            cpu: CpuMetrics {
                percent: (rng.gen_range(0..10_000) as f64) / 100.0,
                cores: 4,
                model: String::new(),
                per_core: (0..4).map(|_| rng.gen_range(0.0..100.0)).collect(),
            },
            memory: MemoryMetrics {
                total: 8 << 30,
                used: (2 << 30) + rng.gen_range(0..1000) * 4096,
                available: 5 << 30,
                percent: 25.5,
                swap_total: 1 << 30,
                swap_used: 0,
            },
            disk: DiskMetrics {
                mounts: vec![MountMetrics {
                    path: "/".into(),
                    total: 100 << 30,
                    used: (40 << 30) + step * 4096,
                    percent: 40.0,
                    fs_type: "ext4".into(),
                }],
            },
            network: NetworkMetrics {
                interfaces: vec![InterfaceMetrics {
                    name: "eth0".into(),
                    rx_bytes: 1_000_000 + step * rng.gen_range(0..10_000),
                    tx_bytes: u64::MAX - step,
                    ..Default::default()
                }],
            },
            load: LoadMetrics { load_1m: 0.5, load_5m: -0.0, load_15m: f64::NAN },
        }
    }

    fn series(n: usize) -> Vec<Snapshot> {
        let mut rng = StdRng::seed_from_u64(7);
        let start = DateTime::from_timestamp_millis(1_765_000_000_123).unwrap();
        (0..n)
            .map(|i| {
                let mut containers = vec![ContainerMetrics {
                    name: "web".into(),
                    runtime: "podman".into(),
                    status: if i % 7 == 0 { "exited".into() } else { "running".into() },
                    image: "nginx:1.25".into(),
                    created: "2026-12-01T00:00:00Z".into(),
                    cpu_percent: rng.gen_range(0..500) as f64 / 100.0,
                    memory_used: rng.gen_range(0..100) * 4096,
                    memory_limit: 1 << 30,
                    memory_percent: 1.25,
                    processes: 3,
                    ..Default::default()
                }];
                if i % 3 == 0 {
                    // a container that comes and goes, its name sorting first, with a NUL in it
                    containers.insert(0, ContainerMetrics { name: "Api\0x".into(), ..Default::default() });
                }
                Snapshot {
                    timestamp: start + chrono::Duration::milliseconds(10_000 * i as i64 + rng.gen_range(0..40)),
                    host: (i != 5).then(|| host(&mut rng, i as u64)),
                    containers,
                    services: vec![ServiceMetrics {
                        name: "sshd".into(),
                        status: "running".into(),
                        pid: 812,
                        memory: 5 << 20,
                        cpu_percent: 0.01,
                        ports: if i % 2 == 0 { vec![22, 2222] } else { vec![22] },
                        uptime: 1000 + i as u64,
                    }],
                    custom: vec![
                        CustomPoint {
                            name: "queue".into(),
                            kind: "gauge".into(),
                            value: rng.gen_range(-1e9..1e9),
                            error: (i % 4 == 0).then(|| "timeout".to_owned()),
                            timestamp: DateTime::UNIX_EPOCH,
                        },
                        CustomPoint {
                            name: "jobs_total".into(),
                            kind: "counter".into(),
                            value: i as f64,
                            error: None,
                            timestamp: DateTime::UNIX_EPOCH,
                        },
                    ],
                }
            })
            .map(|mut s| {
                let at = s.timestamp;
                s.custom.iter_mut().for_each(|c| c.timestamp = at);
                s.custom.sort_by(|a, b| a.name.cmp(&b.name));
                s
            })
            .collect()
    }

    /// Compares field by field, reals bit for bit (NaN != NaN for `==`).
    fn same(a: &[Snapshot], b: &[Snapshot]) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let bits = |s: &[Snapshot]| -> Vec<u64> {
            s.iter().flat_map(|s| s.host.iter()).flat_map(|h| [h.load.load_5m.to_bits(), h.load.load_15m.to_bits()]).collect()
        };
        assert_eq!(bits(a), bits(b));
    }

    #[test]
    fn a_chunk_decodes_to_the_snapshots_it_encodes() {
        let snapshots = series(360);
        let chunk = encode(&snapshots);
        same(&decode(&chunk, Sections::ALL).unwrap(), &snapshots);
    }

    #[test]
    fn one_section_decodes_alone() {
        let snapshots = series(20);
        let chunk = encode(&snapshots);
        let hosts = decode(&chunk, Sections::HOST).unwrap();
        assert_eq!(hosts.len(), 20);
        assert!(hosts.iter().all(|s| s.containers.is_empty() && s.services.is_empty() && s.custom.is_empty()));
        assert_eq!(format!("{:?}", hosts[3].host), format!("{:?}", snapshots[3].host)); // NaN != NaN
        assert_eq!(hosts[5].host, None);
        let custom = decode(&chunk, Sections::CUSTOM).unwrap();
        assert_eq!(custom[4].custom, snapshots[4].custom);
        assert!(custom[4].host.is_none());
    }

    #[test]
    fn usage_is_read_without_building_the_snapshot() {
        let snapshots = series(40);
        let chunk = Chunk::open(&encode(&snapshots), Sections::HOST).unwrap();
        for (at, snapshot) in snapshots.iter().enumerate() {
            let expected = snapshot.host.as_ref().map(|host| Usage {
                cpu: host.cpu.percent,
                memory_used: host.memory.used,
                memory_total: host.memory.total,
                disk_used: host.disk.used(),
                disk_total: host.disk.total(),
            });
            assert_eq!(chunk.usage(at), expected, "snapshot {at}");
        }
        let no_host = Chunk::open(&encode(&snapshots), Sections::CUSTOM).unwrap();
        assert_eq!(no_host.usage(0), None);
    }

    #[test]
    fn empty_and_single_chunks_round_trip() {
        assert!(decode(&encode(&[]), Sections::ALL).unwrap().is_empty());
        let one = series(1);
        same(&decode(&encode(&one), Sections::ALL).unwrap(), &one);
    }

    #[test]
    fn steady_values_cost_almost_nothing() {
        // 360 snapshots whose values never move but the time
        let mut snapshots = series(1);
        for i in 1..360 {
            let mut next = snapshots[0].clone();
            next.timestamp += chrono::Duration::seconds(10 * i);
            next.custom.iter_mut().for_each(|c| c.timestamp = next.timestamp);
            snapshots.push(next);
        }
        let chunk = encode(&snapshots);
        assert!(chunk.len() < 2 * 360, "{} bytes for 360 unchanging snapshots: 2 a snapshot at most", chunk.len());
        same(&decode(&chunk, Sections::ALL).unwrap(), &snapshots);
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        let chunk = encode(&series(30));
        assert!(matches!(decode(b"", Sections::ALL), Err(ChunkError::Format(_))));
        assert!(matches!(decode(b"V\x09abc", Sections::ALL), Err(ChunkError::Format(_))));
        assert!(matches!(decode(b"V\x01not zstd", Sections::ALL), Err(ChunkError::Compression(_))));
        // every truncation and a byte flipped at every position of the body
        let body = zstd::bulk::decompress(&chunk[2..], 1 << 24).unwrap();
        for cut in 0..body.len() {
            let mut bad = vec![MAGIC, VERSION];
            bad.extend(zstd::bulk::compress(&body[..cut], 1).unwrap());
            assert!(decode(&bad, Sections::ALL).is_err(), "cut at {cut} decoded");
        }
        for at in (0..body.len()).step_by(7) {
            let mut flipped = body.clone();
            flipped[at] ^= 0xff;
            let mut bad = vec![MAGIC, VERSION];
            bad.extend(zstd::bulk::compress(&flipped, 1).unwrap());
            let _ = decode(&bad, Sections::ALL); // an error or other values; never a panic
        }
    }

    #[test]
    fn integers_round_trip_and_steady_ones_cost_little() {
        let cases: [&[u64]; 6] = [
            &[8192, 12288, 4096, 4096, u64::MAX, 0],
            &[0, u64::MAX, 0, u64::MAX],
            &[1 << 63, 0, 1 << 63],
            &[i64::MAX as u64, i64::MIN as u64, 7],
            &[42],
            &[],
        ];
        for values in cases {
            let mut out = Vec::new();
            put_ints(&mut out, values);
            let mut r = Reader { bytes: &out, at: 0 };
            assert_eq!(r.ints(values.len()).unwrap(), values, "{out:?}");
            assert_eq!(r.at, out.len(), "every byte read back");
        }
        // memory in pages, a counter at a steady rate: one byte a value
        let pages: Vec<u64> = (0..100).map(|i| (1u64 << 30) + 4096 * (i % 3)).collect();
        let steady: Vec<u64> = (0..100).map(|i| 1_000_000_007 + 123_457 * i).collect();
        for values in [pages, steady] {
            let mut out = Vec::new();
            put_ints(&mut out, &values);
            assert!(out.len() <= 100 + 12, "{} bytes for 100 values", out.len());
        }
    }

    #[test]
    fn hundredths_only_when_exact() {
        assert_eq!(hundredths(12.34), Some(1234));
        assert_eq!(hundredths(-0.5), Some(-50));
        assert_eq!(hundredths(-0.0), None);
        assert_eq!(hundredths(0.001), None);
        assert_eq!(hundredths(f64::NAN), None);
        assert_eq!(hundredths(1e300), None);
    }
}
