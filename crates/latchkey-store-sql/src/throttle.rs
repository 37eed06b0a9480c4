//! Throttle windows: each attempt counted by one atomic upsert, so parallel guesses see each other.

use async_trait::async_trait;
use latchkey_core::store::{Reservation, StoreError, ThrottleStore};
use latchkey_core::throttle::Policy;
use time::OffsetDateTime;

use crate::rows::{count, instant, seconds, OrUnavailable};
use crate::SqlStore;

/// `CASE n WHEN 0 THEN d0 WHEN 1 THEN d1 … ELSE longest END`: the policy's
/// delays as SQL (numbers from our own constants, never from a request).
/// The upsert that counts an attempt on a throttle key: `$1` key, `$2` now,
/// `$3` free attempts, `$4` lock-after, `$5` forget-after. `counted` is the
/// count after this attempt (1 when the last failure is older than
/// `forget_after`); past `free`, the same statement sets the delay from the
/// policy's table. `condition` (a `WHERE` on the existing row) makes it a
/// reservation that a delayed key refuses.
fn count_attempt_sql(policy: &Policy, condition: &str) -> String {
    const COUNTED: &str = "(CASE WHEN throttles.updated_at <= $2 - $5 THEN 1 ELSE throttles.failures + 1 END)";
    let delay = delay_case(&format!("({COUNTED} - $3)"), policy);
    let first_delay = policy.delays().first().map_or(0, |d| d.whole_seconds());
    format!(
        "INSERT INTO throttles (key, failures, blocked_until, updated_at) \
         VALUES ($1, 1, CASE WHEN $3 <= 1 THEN $2 + {first_delay} ELSE 0 END, $2) \
         ON CONFLICT (key) DO UPDATE SET \
             failures = {COUNTED}, \
             blocked_until = CASE WHEN {COUNTED} >= $3 THEN $2 + {delay} ELSE 0 END, \
             updated_at = $2 \
         {condition} \
         RETURNING failures"
    )
}

fn delay_case(n: &str, policy: &Policy) -> String {
    let delays = policy.delays();
    let mut case = format!("CASE {n}");
    for (i, delay) in delays.iter().enumerate() {
        case.push_str(&format!(" WHEN {i} THEN {}", delay.whole_seconds()));
    }
    case.push_str(&format!(" ELSE {} END", policy.max_delay.whole_seconds()));
    case
}

/// The largest count the store keeps for a lock that is not set.
const NEVER: i64 = u32::MAX as i64;

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn reserve_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Reservation, StoreError> {
        let sql = count_attempt_sql(policy, "WHERE throttles.blocked_until <= $2 AND throttles.failures < $4");
        // A refusal is explained by a second read; if a success cleared the
        // key in between, the attempt is simply tried again.
        for _ in 0..3 {
            let granted: Option<i64> = sqlx::query_scalar(&sql)
                .bind(key)
                .bind(seconds(now))
                .bind(i64::from(policy.free))
                .bind(policy.lock_after.map_or(NEVER, i64::from))
                .bind(policy.forget_after.map_or(NEVER, |d| d.whole_seconds()))
                .fetch_optional(&self.pool)
                .await
                .or_unavailable()?;
            if let Some(failures) = granted {
                return Ok(Reservation::Granted { failures: u32::try_from(failures).unwrap_or(u32::MAX) });
            }
            let row = sqlx::query("SELECT failures, blocked_until FROM throttles WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .or_unavailable()?;
            if let Some(row) = row {
                let failures = count(&row, "failures")?;
                let locked = policy.lock_after.is_some_and(|lock| failures >= lock);
                let blocked_until = if locked { None } else { Some(instant(&row, "blocked_until")?) };
                return Ok(Reservation::Refused { blocked_until });
            }
        }
        Err(StoreError::Unavailable("a throttle key keeps changing".into()))
    }

    async fn count_failure(&self, key: &str, now: OffsetDateTime, policy: &Policy) -> Result<(), StoreError> {
        let sql = count_attempt_sql(policy, "");
        sqlx::query(&sql)
            .bind(key)
            .bind(seconds(now))
            .bind(i64::from(policy.free))
            .bind(policy.lock_after.map_or(NEVER, i64::from))
            .bind(policy.forget_after.map_or(NEVER, |d| d.whole_seconds()))
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(())
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttles WHERE key = $1").bind(key).execute(&self.pool).await.or_unavailable()?;
        Ok(())
    }

    async fn blocked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT blocked_until FROM throttles WHERE key = $1 AND blocked_until > $2")
                .bind(key)
                .bind(seconds(now))
                .fetch_optional(&self.pool)
                .await
                .or_unavailable()?;
        until
            .map(|t| OffsetDateTime::from_unix_timestamp(t).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }
}
