//! The operator's commands: each acts on the store `serve` uses and reports
//! in one line.

use anyhow::bail;
use latchkey_core::events::{verify_chain, ChainCheck};

use crate::config::Config;
use crate::startup;

/// `latchkey audit verify`: walks the event log's hash chain. A broken chain
/// is an error naming the first event that does not fit.
pub async fn audit_verify(config: &Config) -> anyhow::Result<()> {
    let store = startup::open_store(config).await?;
    match verify_chain(store.as_ref()).await? {
        ChainCheck::Intact { events } => {
            println!("audit: the security event log is intact ({events} events)");
            Ok(())
        }
        ChainCheck::BrokenAt { id } => {
            bail!("audit: the security event log is broken at event {id}: it, or one before it, was changed, removed or reordered")
        }
    }
}
