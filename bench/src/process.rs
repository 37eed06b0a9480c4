//! A server process's peak resident memory and CPU time, from `/proc`.

/// Clock ticks per second of `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time at the start of a run.
pub struct ProcessStats {
    pid: u32,
    cpu_ticks: Option<u64>,
}

/// What a run cost the server.
pub struct Usage {
    /// The most memory resident at once during the run (VmHWM).
    pub peak_rss_mib: Option<f64>,
    /// Server CPU time (user + system) per request.
    pub cpu_ms_per_request: Option<f64>,
}

impl ProcessStats {
    /// Resets the process's peak-RSS mark (`clear_refs` 5) and notes its CPU time.
    pub fn start(pid: u32) -> Self {
        // Not fatal where /proc is read-only: the peak then covers the process's life.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        ProcessStats { pid, cpu_ticks: cpu_ticks(pid) }
    }

    /// The peak RSS since [`ProcessStats::start`] and the CPU per request.
    pub fn finish(self, requests: u64) -> Usage {
        let peak_rss_mib = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok().and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        });
        let cpu_ms_per_request = match (self.cpu_ticks, cpu_ticks(self.pid)) {
            (Some(before), Some(after)) if requests > 0 => {
                Some((after - before) as f64 / TICKS_PER_SECOND * 1000.0 / requests as f64)
            }
            _ => None,
        };
        Usage { peak_rss_mib, cpu_ms_per_request }
    }
}

/// utime + stime of the process (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from the ')' that ends it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_and_cpu_time() {
        let stats = ProcessStats::start(std::process::id());
        let burn: u64 = (0..20_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(burn > 0);
        let usage = stats.finish(1);
        assert!(usage.peak_rss_mib.is_some_and(|mib| mib > 1.0));
        assert!(usage.cpu_ms_per_request.is_some());
    }
}
