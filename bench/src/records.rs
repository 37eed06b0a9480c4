//! What the tools hand each other, one JSON object per line: a load run's
//! measurements and a store's floors, written by `load` and `floors` and read
//! by `report`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::{Target, Workload};

/// What one load run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// The report's name for the system ("Latchkey SQLite").
    pub label: String,
    /// The system's kind.
    pub target: Target,
    /// What was sent.
    pub workload: Workload,
    /// Accounts with MFA in the store.
    pub mfa_accounts: usize,
    /// Open connections.
    pub connections: usize,
    /// Requests per second offered (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    /// How long it ran.
    pub seconds: f64,
    /// Answers received.
    pub requests: u64,
    /// Answers that were not 2xx, and transport errors.
    pub errors: u64,
    /// Successful answers per second.
    pub requests_per_second: f64,
    /// Latency quantiles and maximum, in milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// See `p50_ms`.
    pub p999_ms: f64,
    /// See `p50_ms`.
    pub max_ms: f64,
    /// The server's peak resident memory during the run.
    pub peak_rss_mib: Option<f64>,
    /// The server's CPU time per answer.
    pub cpu_ms_per_request: Option<f64>,
    /// Answers by status (0: transport error).
    pub statuses: BTreeMap<u16, u64>,
}

/// The floors of the hot paths on one store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Floors {
    /// The store's name ("SQLite").
    pub label: String,
    /// One Argon2id verification (m=19456 KiB, t=2, p=1), on one core.
    pub argon2_ms: f64,
    /// Checking a code against the steps t-1, t, t+1 (three HMAC-SHA1).
    pub totp_window_us: f64,
    /// The code step's one transaction: spend the step (`use_totp_step`).
    pub store_step_us: f64,
    /// One indexed read: a user by id.
    pub store_read_us: f64,
}

/// Appends `record` to `file` as one line (and shows it on stderr).
pub fn append<T: Serialize>(file: &Path, record: &T) -> anyhow::Result<()> {
    let line = serde_json::to_string(record)?;
    eprintln!("{line}");
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(out, "{line}")?;
    Ok(())
}

/// Every record in `file`.
pub fn read<T: serde::de::DeserializeOwned>(file: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| Ok(serde_json::from_str(l)?)).collect()
}
