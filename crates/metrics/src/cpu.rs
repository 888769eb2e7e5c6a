//! The harness process's own CPU time, from `/proc/self/stat`, and the
//! whole machine's, from `/proc/stat` (Linux).
//!
//! Fields 14 and 15 of proc(5)'s `/proc/[pid]/stat` are `utime` and
//! `stime`, in clock ticks of `sysconf(_SC_CLK_TCK)`, which the kernel's
//! user-visible ABI fixes at 100 (`USER_HZ`) whatever the kernel's own HZ.
//! Parsing those two numbers is a few lines; a crate (procfs, or libc for
//! getrusage, which needs `unsafe`) would not earn its place. This module
//! does not judge the figures; [`crate::health`] does.

/// Clock ticks per second in `/proc` times (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// CPU seconds spent so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuTime {
    /// In user mode.
    pub user: f64,
    /// In the kernel on the process's behalf.
    pub system: f64,
}

impl CpuTime {
    /// User plus system.
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

/// The machine's CPU time since boot, all cores summed: busy, and in all.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MachineTime {
    /// Seconds not idle (user, nice, system, irq, softirq, steal).
    pub busy: f64,
    /// Seconds in all, idle and iowait included.
    pub total: f64,
}

/// The machine's CPU time, or `None` where `/proc/stat` is unreadable.
pub fn machine() -> Option<MachineTime> {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_proc_stat(&s))
}

/// The `cpu` line of `/proc/stat`: user, nice, system, idle, iowait, irq,
/// softirq, steal, in `USER_HZ` ticks (proc(5)); guest time is already
/// inside user and nice, so it is not added again.
pub fn parse_proc_stat(text: &str) -> Option<MachineTime> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    if ticks.len() < 5 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Some(MachineTime {
        busy: total.saturating_sub(idle) as f64 / USER_HZ,
        total: total as f64 / USER_HZ,
    })
}

/// This process's CPU time, or `None` where `/proc/self/stat` is missing
/// or unreadable (not Linux).
pub fn process() -> Option<CpuTime> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
}

/// `utime` and `stime` of a `/proc/[pid]/stat` line. The second field, the
/// command name in parentheses, may itself hold spaces and parentheses, so
/// the fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<CpuTime> {
    let (_, rest) = line.rsplit_once(')')?;
    // After the `)`: field 3 (state) onwards, so utime (14) is the 12th.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user: user as f64 / USER_HZ,
        system: system as f64 / USER_HZ,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// proc(5), /proc/[pid]/stat: "(14) utime %lu ... (15) stime %lu",
    /// measured in clock ticks; (2) comm is in parentheses and may hold
    /// spaces.
    #[test]
    fn proc_5_stat_utime_and_stime() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 2012 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 0 0 18446744073709551615";
        let t = parse_stat(line).unwrap();
        assert_eq!(t.user, 12.34);
        assert_eq!(t.system, 5.67);
        assert!((t.total() - 18.01).abs() < 1e-9);
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(parse_stat(""), None);
    }

    /// proc(5), /proc/stat: "cpu 10132153 290696 3084719 46828483 16683 0
    /// 25195 0 175628 0" — user, nice, system, idle, iowait, irq, softirq,
    /// steal, guest, guest_nice, in USER_HZ units; guest is counted in user.
    #[test]
    fn proc_5_stat_cpu_line() {
        let text = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        let t = parse_proc_stat(text).unwrap();
        let total = 10132153 + 290696 + 3084719 + 46828483 + 16683 + 25195;
        let idle = 46828483 + 16683;
        assert!((t.total - f64::from(total) / 100.0).abs() < 1e-6);
        assert!((t.busy - f64::from(total - idle) / 100.0).abs() < 1e-6);
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2 x 4 5\n"), None);
    }

    #[test]
    fn this_process_has_spent_some_cpu() {
        if let Some(t) = process() {
            assert!(t.user >= 0.0 && t.system >= 0.0);
        }
    }
}
