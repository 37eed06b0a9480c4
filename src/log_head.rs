//! Anchors the security log outside the database. The chain is keyed, so
//! whoever writes the database without the server key cannot extend it; but
//! they can still cut events off its end, or roll the whole store back. A
//! head (count and hash, signed) kept in the process log and posted to the
//! webhook lets `latchkey audit verify --head` find that (docs/SECURITY.md,
//! row LOG-05).

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::events::Events;
use time::OffsetDateTime;

use crate::webhook::WebhookNotifier;

/// Logs the head at start and then every `every` when it has moved since,
/// and posts it to the webhook when there is one. Runs until the process ends.
pub fn spawn(events: Events, webhook: Option<Arc<WebhookNotifier>>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None;
        loop {
            ticks.tick().await;
            match events.signed_head().await {
                Ok((head, line)) if last.as_ref() != Some(&head) => {
                    tracing::info!(events = head.count, head = %line, "security log head");
                    if let Some(webhook) = &webhook {
                        webhook.post_head(&head, &line, OffsetDateTime::now_utc());
                    }
                    last = Some(head);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the security log's head"),
            }
        }
    })
}
