//! The `process_*` metrics every Prometheus exporter gives (resident and
//! virtual memory, CPU time, open and allowed file descriptors, start time)
//! and `latchkey_build_info`, read from `/proc/self` at each scrape. Where
//! there is no `/proc` (not Linux), the `process_*` lines are left out.

use std::fmt::Write as _;

/// The kernel's unit for CPU times in `/proc` (`USER_HZ`, 100 on Linux
/// whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// Writes the process metrics to `out`; `started` is the Unix time the
/// process started serving.
pub fn write(out: &mut String, started: f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    if let Some(rss) = kib("VmRSS:") {
        gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", rss * 1024);
    }
    if let Some(size) = kib("VmSize:") {
        gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", size * 1024);
    }
    if let Some(ticks) = cpu_ticks() {
        let _ = writeln!(out, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.");
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {}", ticks as f64 / USER_HZ);
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        gauge(out, "process_open_fds", "Number of open file descriptors.", entries.count() as u64);
    }
    if let Some(max) = max_open_files() {
        gauge(out, "process_max_fds", "Maximum number of open file descriptors.", max);
    }
    let _ = writeln!(out, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.");
    let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
    let _ = writeln!(out, "process_start_time_seconds {started}");
    let _ = writeln!(out, "# HELP latchkey_build_info The running version of Latchkey.");
    let _ = writeln!(out, "# TYPE latchkey_build_info gauge");
    let _ = writeln!(out, "latchkey_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

/// User plus system time, in `USER_HZ` ticks: fields 14 and 15 of
/// `/proc/self/stat`, counted after the command name (which may hold spaces).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so field 14 is index 11.
    let (user, system): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some(user + system)
}

/// The soft limit on open files, from `/proc/self/limits`.
fn max_open_files() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}
