//! What the host took: on a virtual machine, the hypervisor runs other guests on this
//! machine's CPUs now and then ("steal" time in `/proc/stat`). Stolen time stops every
//! thread of a benchmark at random moments, and a design that passes work between
//! threads more often (acknowledgements: a reader's ACK wakes the sink's task, which
//! wakes the sender) loses more to it. Every section of the runtime bench prints the
//! share stolen while it ran, so its figures are read with it.

use std::fs;

/// CPU time counters of the whole machine, in clock ticks (`/proc/stat`'s first line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    /// All time: user, nice, system, idle, iowait, irq, softirq and steal.
    pub total: u64,
    /// Time the hypervisor gave this machine's CPUs to someone else.
    pub steal: u64,
}

impl CpuTicks {
    /// The counters now; `None` where `/proc/stat` is missing or unreadable.
    pub fn now() -> Option<CpuTicks> {
        parse(&fs::read_to_string("/proc/stat").ok()?)
    }

    /// Percent of all CPU time stolen between `self` and `later`; `None` when no tick
    /// passed.
    pub fn stolen_until(&self, later: &CpuTicks) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| 100.0 * steal as f64 / total as f64)
    }
}

/// Percent of CPU time stolen since `start`; `None` when unknown.
pub fn stolen_percent_since(start: Option<CpuTicks>) -> Option<f64> {
    start?.stolen_until(&CpuTicks::now()?)
}

/// [`stolen_percent_since`] as text: "12.3%", or "unknown".
pub fn stolen_since(start: Option<CpuTicks>) -> String {
    stolen_percent_since(start).map_or_else(|| "unknown".into(), |p| format!("{p:.1}%"))
}

/// Reads the `cpu` line: user nice system idle iowait irq softirq steal [guest ...]
/// (guest time is already counted in user time, so it is left out of the total).
fn parse(stat: &str) -> Option<CpuTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if fields.len() < 8 {
        return None;
    }
    Some(CpuTicks {
        total: fields.iter().sum(),
        steal: fields[7],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_line_and_the_stolen_share() {
        let a = parse("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n").unwrap();
        assert_eq!(
            a,
            CpuTicks {
                total: 1000,
                steal: 35
            }
        );
        let b = parse("cpu  200 0 100 1495 10 0 10 185 7 0\n").unwrap();
        // 1,000 ticks passed, 150 of them stolen.
        assert_eq!(a.stolen_until(&b), Some(15.0));
        assert_eq!(a.stolen_until(&a), None);
    }

    #[test]
    fn refuses_what_is_not_a_cpu_line() {
        assert_eq!(parse("intr 1 2 3\n"), None);
        assert_eq!(parse("cpu  1 2 3\n"), None);
        assert_eq!(parse("cpu  1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn this_machine_counts_time() {
        // Linux always has /proc/stat; its counters never go back.
        let a = CpuTicks::now().expect("/proc/stat");
        let b = CpuTicks::now().expect("/proc/stat");
        assert!(b.total >= a.total && b.steal >= a.steal);
    }
}
