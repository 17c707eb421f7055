//! What the benchmarks read of a process from `/proc`: CPU time and RSS.

/// Clock ticks per second (`_SC_CLK_TCK`), the unit of `/proc/PID/stat` times.
pub fn ticks_per_second() -> f64 {
    #[allow(unsafe_code)]
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// CPU times of one process, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// utime + stime: the process itself (all its threads)
    pub own: u64,
    /// cutime + cstime: its reaped children
    pub children: u64,
}

/// Parses the text of `/proc/PID/stat`.
pub fn parse_stat(stat: &str) -> Option<CpuTicks> {
    // the comm is parenthesised and may hold spaces: fields start after the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3 of proc(5)); utime is field 14
    let field = |n: usize| fields.get(n - 3)?.parse::<i64>().ok().map(|v| v.max(0) as u64);
    Some(CpuTicks { own: field(14)? + field(15)?, children: field(16)? + field(17)? })
}

/// The CPU times of `pid` now; `None` when it is gone.
pub fn cpu_ticks(pid: u32) -> Option<CpuTicks> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// The pid of the first process whose `comm` is `name`.
pub fn pid_of(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim_end() == name).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_reads_times_after_a_comm_with_spaces_and_parens() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 11 5 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(CpuTicks { own: 10, children: 16 }));
    }

    #[test]
    fn own_process_has_cpu_and_rss() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(rss_kib(pid).unwrap_or(0) > 0);
    }
}
