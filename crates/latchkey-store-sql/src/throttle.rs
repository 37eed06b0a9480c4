//! Throttle windows: each attempt counted by one atomic upsert, so parallel guesses see each other.

use async_trait::async_trait;
use latchkey_core::store::{Attempt, Outcome, Reservation, StoreError, ThrottleStore};
use latchkey_core::throttle::{Policy, IN_FLIGHT_LASTS};
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
    count_sql(policy, "", condition)
}

/// [`count_attempt_sql`] that also sets `also` (`, column = …`) on an existing row.
fn count_sql(policy: &Policy, also: &str, condition: &str) -> String {
    const COUNTED: &str = "(CASE WHEN throttles.updated_at <= $2 - $5 THEN 1 ELSE throttles.failures + 1 END)";
    let delay = delay_case(&format!("({COUNTED} - $3)"), policy);
    let first_delay = policy.delays().first().map_or(0, |d| d.whole_seconds());
    format!(
        "INSERT INTO throttles (key, failures, blocked_until, updated_at) \
         VALUES ($1, 1, CASE WHEN $3 <= 1 THEN $2 + {first_delay} ELSE 0 END, $2) \
         ON CONFLICT (key) DO UPDATE SET \
             failures = {COUNTED}, \
             blocked_until = CASE WHEN {COUNTED} >= $3 THEN $2 + {delay} ELSE 0 END, \
             updated_at = $2{also} \
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

/// Guesses in flight on a key, leaving out those begun longer than
/// `IN_FLIGHT_LASTS` before `$2` (their process died with them).
fn live_in_flight() -> String {
    let lasts = IN_FLIGHT_LASTS.whole_seconds();
    format!("(CASE WHEN throttles.in_flight_at <= $2 - {lasts} THEN 0 ELSE throttles.in_flight END)")
}

/// One guess fewer in flight (`, in_flight = …`).
const ONE_LESS_IN_FLIGHT: &str =
    ", in_flight = CASE WHEN throttles.in_flight > 0 THEN throttles.in_flight - 1 ELSE 0 END";

/// The largest count the store keeps for a lock that is not set.
const NEVER: i64 = u32::MAX as i64;

impl SqlStore {
    /// Runs a counting statement with the parameters they all take (`$1`
    /// key, `$2` now, `$3` free, `$4` lock-after, `$5` forget-after; a
    /// statement may leave some unused); the number it returns, if a row.
    async fn counted(
        &self,
        sql: &str,
        key: &str,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(sql)
            .bind(key)
            .bind(seconds(now))
            .bind(i64::from(policy.free))
            .bind(policy.lock_after.map_or(NEVER, i64::from))
            .bind(policy.forget_after.map_or(NEVER, |d| d.whole_seconds()))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()
    }

    /// Why a key refuses, as stored: `None` without a row; `Some(None)`
    /// when locked; else the end of its delay (perhaps past).
    async fn delay_of(&self, key: &str, policy: &Policy) -> Result<Option<Option<OffsetDateTime>>, StoreError> {
        let row = sqlx::query("SELECT failures, blocked_until FROM throttles WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        let Some(row) = row else { return Ok(None) };
        let failures = count(&row, "failures")?;
        if policy.lock_after.is_some_and(|lock| failures >= lock) {
            return Ok(Some(None));
        }
        Ok(Some(Some(instant(&row, "blocked_until")?)))
    }
}

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
            if let Some(failures) = self.counted(&sql, key, now, policy).await? {
                return Ok(Reservation::Granted { failures: u32::try_from(failures).unwrap_or(u32::MAX) });
            }
            if let Some(blocked_until) = self.delay_of(key, policy).await? {
                return Ok(Reservation::Refused { blocked_until });
            }
        }
        Err(StoreError::Unavailable("a throttle key keeps changing".into()))
    }

    async fn begin_attempt(&self, key: &str, now: OffsetDateTime, policy: &Policy) -> Result<Attempt, StoreError> {
        // `$1` key, `$2` now, `$3` free, `$4` lock-after, `$5` forget-after.
        let live = live_in_flight();
        let failures = "(CASE WHEN throttles.updated_at <= $2 - $5 THEN 0 ELSE throttles.failures END)";
        let sql = format!(
            "INSERT INTO throttles (key, failures, blocked_until, updated_at, in_flight, in_flight_at) \
             VALUES ($1, 0, 0, $2, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET in_flight = {live} + 1, in_flight_at = $2 \
             WHERE throttles.blocked_until <= $2 AND throttles.failures < $4 \
               AND {live} < (CASE WHEN $3 - {failures} > 1 THEN $3 - {failures} ELSE 1 END) \
             RETURNING in_flight"
        );
        if self.counted(&sql, key, now, policy).await?.is_some() {
            return Ok(Attempt::Granted);
        }
        // No row (a reset deleted it in between) or no delay: the guesses in
        // flight filled the attempts; the next look may be granted.
        Ok(match self.delay_of(key, policy).await? {
            Some(None) => Attempt::Refused { blocked_until: None },
            Some(Some(until)) if until > now => Attempt::Refused { blocked_until: Some(until) },
            _ => Attempt::Busy,
        })
    }

    async fn end_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        policy: &Policy,
        outcome: Outcome,
    ) -> Result<u32, StoreError> {
        let sql = match outcome {
            Outcome::Failed => count_sql(policy, ONE_LESS_IN_FLIGHT, ""),
            Outcome::Succeeded => format!(
                "UPDATE throttles SET failures = 0, blocked_until = 0, updated_at = $2{ONE_LESS_IN_FLIGHT} \
                 WHERE key = $1 RETURNING failures"
            ),
            Outcome::Abandoned => {
                format!("UPDATE throttles SET updated_at = updated_at{ONE_LESS_IN_FLIGHT} WHERE key = $1 RETURNING failures")
            }
        };
        let failures = self.counted(&sql, key, now, policy).await?;
        Ok(failures.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    async fn count_failure(&self, key: &str, now: OffsetDateTime, policy: &Policy) -> Result<(), StoreError> {
        self.counted(&count_attempt_sql(policy, ""), key, now, policy).await?;
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
