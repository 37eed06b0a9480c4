//! Notices for the operator's own alerting, as signed webhooks: one JSON
//! POST per notice, its body signed with HMAC-SHA256 under a shared secret
//! (`X-Latchkey-Signature: sha256=<hex>`), retried with exponential back-off
//! when the receiver is down or answers 5xx or 429. Sent in the background:
//! a slow receiver never slows or fails a sign-in.

use std::time::Duration;

use hmac::{Hmac, Mac};
use latchkey_core::events::{Head, Notice, Notifier};
use latchkey_core::sessions::ClientInfo;
use latchkey_core::{User, UserId};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Deliveries tried per notice.
const ATTEMPTS: u32 = 5;
/// The wait before the first retry; it doubles after each (1, 2, 4, 8 s).
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// How long one delivery may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-latchkey-signature";

/// Posts notices to one URL.
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
    sending: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier posting to `url`, signing with `secret`.
    pub fn new(url: &str, secret: &str) -> anyhow::Result<Self> {
        // reqwest's rustls needs a process-wide crypto provider; ring is the
        // one lettre already uses. Already installed (a second notifier): fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("webhook client: {e}"))?;
        let url = url.parse().map_err(|e| anyhow::anyhow!("webhook_url: {e}"))?;
        Ok(WebhookNotifier { client, url, secret: secret.as_bytes().to_vec(), sending: std::sync::Mutex::default() })
    }

    /// Waits (at most `limit`) for the deliveries still under way.
    pub async fn finish_sending(&self, limit: Duration) {
        let sending = self.sending.lock().map(|mut set| std::mem::take(&mut *set));
        if let Ok(sending) = sending {
            let _ = tokio::time::timeout(limit, sending.join_all()).await;
        }
    }
}

/// The JSON body of a notice. `id` is the same on every retry, so a receiver
/// can drop duplicates; no email address or secret is ever in it.
fn body(user: &User, notice: &Notice, at: OffsetDateTime, client: &ClientInfo) -> Vec<u8> {
    let mut details = serde_json::Map::new();
    match notice {
        Notice::RecoveryCodesLow { left } => {
            details.insert("recovery_codes_left".into(), (*left).into());
        }
        Notice::Lockout { of } => {
            details.insert("of".into(), of.as_str().into());
        }
        Notice::CodeReplayed { first_from } => {
            details.insert("first_used_from".into(), first_from.clone().into());
        }
        Notice::AppConnected { app } | Notice::AppTokenReused { app } => {
            details.insert("client_id".into(), app.client_id.clone().into());
            details.insert("client_name".into(), app.name.clone().into());
        }
        _ => {}
    }
    let user = serde_json::json!({"id": user.id.to_string(), "username": user.username.as_str()});
    envelope(notice.as_str(), at, user, client, details)
}

/// The shape every delivery shares: `id`, `event`, `at`, `user` (or null),
/// `ip`, `user_agent` and `details`.
fn envelope(
    event: &str,
    at: OffsetDateTime,
    user: serde_json::Value,
    client: &ClientInfo,
    details: serde_json::Map<String, serde_json::Value>,
) -> Vec<u8> {
    let body = serde_json::json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "event": event,
        "at": at.format(&Rfc3339).unwrap_or_default(),
        "user": user,
        "ip": client.ip,
        "user_agent": client.user_agent,
        "details": details,
    });
    body.to_string().into_bytes()
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Delivers one body, retrying with back-off; true once the receiver took it.
async fn deliver(client: reqwest::Client, url: reqwest::Url, body: Vec<u8>, signed: String) -> bool {
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signed)
            .body(body.clone())
            .send()
            .await;
        let retry = match sent {
            Ok(answer) if answer.status().is_success() => return true,
            Ok(answer) => {
                let status = answer.status();
                tracing::warn!(attempt, %status, "the webhook receiver refused a notice");
                status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "could not deliver a notice to the webhook");
                true
            }
        };
        if !retry || attempt == ATTEMPTS {
            break;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    false
}

impl WebhookNotifier {
    /// Signs `body` and delivers it in the background.
    fn send(&self, body: Vec<u8>, event: &'static str, user: Option<UserId>) {
        let signed = signature(&self.secret, &body);
        let (http, url) = (self.client.clone(), self.url.clone());
        let Ok(mut sending) = self.sending.lock() else { return };
        // Finished deliveries are collected here, so the set does not grow.
        while sending.try_join_next().is_some() {}
        sending.spawn(async move {
            if deliver(http, url, body, signed).await {
                tracing::info!(user_id = user.map(tracing::field::display), event, "notice delivered to the webhook");
            } else {
                tracing::error!(
                    user_id = user.map(tracing::field::display),
                    event,
                    "gave up delivering a notice to the webhook"
                );
            }
        });
    }

    /// Posts the security log's head (`event: "log_head"`, no user): a copy
    /// of the anchor kept where the database's writers cannot reach.
    pub fn post_head(&self, head: &Head, line: &str, at: OffsetDateTime) {
        let mut details = serde_json::Map::new();
        details.insert("events".into(), head.count.into());
        details.insert("head".into(), line.into());
        let body = envelope(LOG_HEAD, at, serde_json::Value::Null, &ClientInfo::default(), details);
        self.send(body, LOG_HEAD, None);
    }
}

/// The webhook's `event` for the security log's head.
pub const LOG_HEAD: &str = "log_head";

impl Notifier for WebhookNotifier {
    fn notify(&self, user: &User, notice: &Notice, at: OffsetDateTime, client: &ClientInfo) {
        self.send(body(user, notice, at, client), notice.as_str(), Some(user.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        let signed = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(signed, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
