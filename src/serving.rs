//! Which `latchkey serve` processes use a store. Each says so every few
//! seconds (stamped with the database's clock, which all share) and
//! withdraws when it stops, so that `latchkey key rotate` can refuse while
//! any of them holds the old key (a process serving with a key the store no
//! longer takes would fail every code sign-in and break the log's chain),
//! and name them. Should a rotation pass anyway (a process whose heartbeats
//! failed longer than [`GONE_AFTER`]), the process finds the key changed at
//! its next heartbeat and stops (docs/SECURITY.md, row KEY-02).

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::server_key::still_bound;
use latchkey_core::store::ServingProcess;
use latchkey_core::{SecretBox, Store};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// How often a serving process says it still serves.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// After how long without a heartbeat a process is taken to be gone (one
/// killed without a chance to withdraw holds a rotation back this long).
pub const GONE_AFTER: Duration = Duration::from_secs(30);

/// A serving process's entry: registered before the key is checked, so a
/// rotation either sees it or the process sees the new key and refuses to
/// start; refreshed until [`Registration::withdraw`].
pub struct Registration {
    store: Arc<dyn Store>,
    process: ServingProcess,
}

impl Registration {
    /// Registers this process as serving `store` on `listen`.
    pub async fn register(store: Arc<dyn Store>, listen: std::net::SocketAddr) -> anyhow::Result<Self> {
        let now = OffsetDateTime::now_utc();
        let process = ServingProcess {
            id: uuid::Uuid::new_v4().to_string(),
            host: host_name(),
            pid: std::process::id(),
            listen: listen.to_string(),
            started_at: now,
            seen_at: now,
        };
        store.heartbeat_process(&process).await?;
        Ok(Registration { store, process })
    }

    /// Refreshes the entry every [`HEARTBEAT`] until the returned task is
    /// aborted, each time checking that `key` is still the store's; when it
    /// is not, says so, wakes `stop` and ends (the only way it ends by
    /// itself): this process must not go on.
    pub fn keep_alive(&self, key: SecretBox, stop: Arc<Notify>) -> tokio::task::JoinHandle<()> {
        let (store, process) = (self.store.clone(), self.process.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HEARTBEAT);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match still_bound(store.as_ref(), &key).await {
                    Ok(false) => {
                        tracing::error!(
                            "the store's secret key was rotated while this process served it: stopping; start it again with the new key"
                        );
                        stop.notify_one();
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "could not check the store's key"),
                    Ok(true) => {}
                }
                if let Err(e) = store.heartbeat_process(&process).await {
                    tracing::warn!(error = %e, "could not tell the store this process still serves");
                }
            }
        })
    }

    /// Removes the entry: this process no longer serves.
    pub async fn withdraw(self) {
        if let Err(e) = self.store.forget_process(&self.process.id).await {
            tracing::warn!(error = %e, "could not withdraw this process from the store's serving list");
        }
    }
}

/// One line naming a serving process, for the operator.
pub fn describe(process: &ServingProcess) -> String {
    let seen = process.seen_at.format(&Rfc3339).unwrap_or_default();
    format!("pid {} on {} (listening on {}, last seen {seen})", process.pid, process.host, process.listen)
}

/// This machine's name, as the kernel has it; `unknown` where it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}
