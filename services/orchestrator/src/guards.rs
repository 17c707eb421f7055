//! Whether a triggered run starts, without I/O: the facts are read in the
//! transaction that records the run (under the scenario's row lock, so
//! orchestrators side by side decide on the same facts), then [`decide`]
//! says start, skip (recorded `skipped` with why) or stop (recorded
//! `stopped`; the first stop of a window notifies every channel).
//!
//! In order: the tenant's kill switch, a silenced alert (`skip_silenced`),
//! the cooldown since the last run that started on the host, the attempts
//! started on the host within `window` (`max_attempts`), the runs running
//! on the host (`host_concurrency`) and across the tenant
//! (`fleet_concurrency`). Runs that "started" are those recorded running,
//! success or failed: skipped, stopped and dry runs never count.

use chrono::{DateTime, Utc};
use vigil_bus::messages::GuardSpec;

/// What the guards look at, for one scenario and host at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The tenant's kill switch: `false` when scenarios are turned off.
    pub enabled: bool,
    /// The triggering alert is silenced (silence or maintenance window).
    pub silenced: bool,
    /// When the last run that started on the host started.
    pub last_started: Option<DateTime<Utc>>,
    /// Runs started on the host within `window`.
    pub started_in_window: u32,
    /// Runs stopped (too many attempts) on the host within `window`.
    pub stopped_in_window: u32,
    /// Runs of the scenario running on the host.
    pub running_on_host: u32,
    /// Runs of the scenario running anywhere.
    pub running_in_fleet: u32,
}

/// What a trigger becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Start,
    /// Recorded `skipped` with this reason.
    Skip(String),
    /// Recorded `stopped` with this reason; `notify`: the first stop of its
    /// window, which tells every channel.
    Stop {
        reason: String,
        notify: bool,
    },
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn runs(n: u32) -> String {
    if n == 1 {
        "1 run".to_owned()
    } else {
        format!("{n} runs")
    }
}

/// The verdict of `guards` on `facts` at `now`.
pub fn decide(guards: &GuardSpec, facts: &Facts, now: DateTime<Utc>) -> Verdict {
    if !facts.enabled {
        return Verdict::Skip("scenarios are turned off for this tenant (kill switch)".to_owned());
    }
    if guards.skip_silenced && facts.silenced {
        return Verdict::Skip("the alert is silenced (skip_silenced)".to_owned());
    }
    if let Some(last) = facts.last_started {
        let until = last + chrono::Duration::from_std(guards.cooldown).unwrap_or(chrono::Duration::MAX);
        if now < until {
            return Verdict::Skip(format!(
                "cooldown until {} (a run started on this host at {}; cooldown {})",
                time(until),
                time(last),
                vigil_bus::duration::format(guards.cooldown)
            ));
        }
    }
    if facts.started_in_window >= guards.max_attempts {
        return Verdict::Stop {
            reason: format!(
                "{} started on this host within {} (max_attempts {}): stopped",
                runs(facts.started_in_window),
                vigil_bus::duration::format(guards.window),
                guards.max_attempts
            ),
            notify: facts.stopped_in_window == 0,
        };
    }
    if facts.running_on_host >= guards.host_concurrency {
        return Verdict::Skip(format!(
            "{} of this scenario already running on this host (host_concurrency {})",
            runs(facts.running_on_host),
            guards.host_concurrency
        ));
    }
    if facts.running_in_fleet >= guards.fleet_concurrency {
        return Verdict::Skip(format!(
            "{} of this scenario already running (fleet_concurrency {})",
            runs(facts.running_in_fleet),
            guards.fleet_concurrency
        ));
    }
    Verdict::Start
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
    }

    fn open() -> Facts {
        Facts { enabled: true, ..Facts::default() }
    }

    fn skipped(verdict: Verdict) -> String {
        match verdict {
            Verdict::Skip(reason) => reason,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn a_first_run_starts() {
        assert_eq!(decide(&GuardSpec::default(), &open(), now()), Verdict::Start);
    }

    #[test]
    fn the_kill_switch_skips_before_anything_else() {
        let facts = Facts { enabled: false, silenced: true, started_in_window: 99, ..Facts::default() };
        assert_eq!(
            skipped(decide(&GuardSpec::default(), &facts, now())),
            "scenarios are turned off for this tenant (kill switch)"
        );
    }

    #[test]
    fn a_silenced_alert_skips_unless_told_otherwise() {
        let facts = Facts { silenced: true, ..open() };
        assert_eq!(skipped(decide(&GuardSpec::default(), &facts, now())), "the alert is silenced (skip_silenced)");
        let guards = GuardSpec { skip_silenced: false, ..GuardSpec::default() };
        assert_eq!(decide(&guards, &facts, now()), Verdict::Start);
    }

    #[test]
    fn the_cooldown_runs_from_the_last_start_on_the_host() {
        let guards = GuardSpec { cooldown: Duration::from_secs(600), ..GuardSpec::default() };
        let recent = Facts { last_started: Some(now() - chrono::Duration::minutes(4)), started_in_window: 1, ..open() };
        assert_eq!(
            skipped(decide(&guards, &recent, now())),
            "cooldown until 2026-12-06 12:06:00 UTC (a run started on this host at 2026-12-06 11:56:00 UTC; cooldown 10m)"
        );
        let over = Facts { last_started: Some(now() - chrono::Duration::minutes(10)), ..recent };
        assert_eq!(decide(&guards, &over, now()), Verdict::Start, "the cooldown's end is out of it");
    }

    #[test]
    fn too_many_attempts_stop_and_only_the_first_stop_of_a_window_notifies() {
        let guards = GuardSpec { cooldown: Duration::ZERO, max_attempts: 3, ..GuardSpec::default() };
        let two = Facts { started_in_window: 2, last_started: Some(now()), ..open() };
        assert_eq!(decide(&guards, &two, now()), Verdict::Start);
        let three = Facts { started_in_window: 3, ..two.clone() };
        assert_eq!(
            decide(&guards, &three, now()),
            Verdict::Stop { reason: "3 runs started on this host within 1h (max_attempts 3): stopped".into(), notify: true }
        );
        let stopped_before = Facts { stopped_in_window: 1, ..three };
        assert!(matches!(decide(&guards, &stopped_before, now()), Verdict::Stop { notify: false, .. }));
    }

    #[test]
    fn concurrency_on_the_host_then_across_the_fleet() {
        let guards = GuardSpec { cooldown: Duration::ZERO, host_concurrency: 1, fleet_concurrency: 2, ..GuardSpec::default() };
        let busy_host = Facts { running_on_host: 1, running_in_fleet: 1, ..open() };
        assert_eq!(
            skipped(decide(&guards, &busy_host, now())),
            "1 run of this scenario already running on this host (host_concurrency 1)"
        );
        let busy_fleet = Facts { running_in_fleet: 2, ..open() };
        assert_eq!(skipped(decide(&guards, &busy_fleet, now())), "2 runs of this scenario already running (fleet_concurrency 2)");
        assert_eq!(decide(&guards, &Facts { running_in_fleet: 1, ..open() }, now()), Verdict::Start);
    }
}
