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

/// `latchkey migrate-store --from URL --to URL`: copies every row into an
/// empty store (in one transaction there), then checks the copied event
/// chain. Serve from the new store with the same secret key.
pub async fn migrate_store(config: &Config, from: &str, to: &str) -> anyhow::Result<()> {
    let source = latchkey_store_sql::SqlStore::open_existing(from, config.database_max_connections)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the source store {}: {e}", startup::redact(from)))?;
    source.migrate().await?;
    let target = startup::open_sql_store(to, config.database_max_connections).await?;
    let report = source.copy_into(&target).await?;
    for (table, rows) in &report {
        println!("{table}: {rows} rows");
    }
    match verify_chain(&target).await? {
        ChainCheck::Intact { events } => {
            println!("copied; the event log in the new store is intact ({events} events)");
            Ok(())
        }
        ChainCheck::BrokenAt { id } => bail!("the copied event log is broken at event {id}"),
    }
}
