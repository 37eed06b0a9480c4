//! Throttling of password and code guesses, kept in the store so that every
//! process sees the same counts.
//!
//! A guess first *reserves* an attempt against the account (one atomic
//! statement that counts it and, past the free attempts, starts a delay),
//! then is evaluated; a success clears the account's count. Counting before
//! evaluating means parallel guesses cannot slip past an account's limit
//! between a check and an update. The per-address keys are only *checked*
//! first and count failures afterwards: one busy address has many right
//! sign-ins in flight, which must not add up to a block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use crate::clock::SharedClock;
use crate::error::CoreError;
use crate::store::{Reservation, ThrottleStore};

/// How one counter reacts to consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed before delays start; the attempt that reaches this
    /// count is the last one allowed without waiting.
    pub free: u32,
    /// The first delay; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Consecutive failures after which no more attempts are allowed until a
    /// success elsewhere (a recovery code) or an operator clears the count.
    pub lock_after: Option<u32>,
    /// A count left alone this long starts again from zero (per-address
    /// counters, which no single success should reset).
    pub forget_after: Option<Duration>,
}

impl Policy {
    /// The delay after the `free + n`-th consecutive failure, for n = 0, 1, …:
    /// the first delay doubled n times, up to the longest. The last entry is
    /// the longest delay, which holds for every n beyond the list.
    pub fn delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = vec![self.first_delay.min(self.max_delay)];
        let mut last = delays[0];
        while last < self.max_delay && delays.len() < 63 {
            last = last.saturating_mul(2).min(self.max_delay);
            delays.push(last);
        }
        delays
    }
}

/// Codes per account: 5 free, then 30 s doubling to 1 h,
/// locked after 100 consecutive failures. Never forgotten: only a success resets it.
pub const CODES_PER_ACCOUNT: Policy = Policy {
    free: 5,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: Some(100),
    forget_after: None,
};

/// Recovery codes share the account's code counter but pass its lock: a
/// recovery code is how a locked factor is unlocked. 80-bit codes do not fall
/// to the guesses the delays still allow.
pub const RECOVERY_CODES_PER_ACCOUNT: Policy = Policy { lock_after: None, ..CODES_PER_ACCOUNT };

/// Codes per client address, across accounts.
pub const CODES_PER_ADDRESS: Policy = Policy {
    free: 20,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// Passwords per login name (existing or not, so the answer says nothing about
/// existence): 5 free, so three typos never wait, then 30 s doubling to 1 h —
/// at most about 30 guesses a day, and never a lock a stranger could impose.
pub const PASSWORDS_PER_LOGIN: Policy = Policy {
    free: 5,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::days(1)),
};

/// Passwords per known client (a token from an earlier right password for
/// the account, docs/SECURITY.md row AA-08): the back-off of a login name,
/// counted on the token alone, so a stolen token guesses no faster than a
/// name does, and nobody else's guesses hold its holder back.
pub const PASSWORDS_PER_KNOWN_CLIENT: Policy = PASSWORDS_PER_LOGIN;

/// Passwords per client address, across accounts (credential stuffing).
pub const PASSWORDS_PER_ADDRESS: Policy = Policy {
    free: 20,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// Sign-ups per client address: every well-formed attempt counts (a taken
/// name too, so 409 answers cannot list the accounts), none is ever cleared;
/// 20 an hour free, then 30 s doubling to 1 h (docs/SECURITY.md, row DOS-01).
pub const SIGNUPS_PER_ADDRESS: Policy = Policy {
    free: 20,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// New enrolment secrets per account (a first authenticator or a further
/// one): 10 an hour free, then 30 s doubling to 1 h, never cleared, so a
/// script cannot fill the account's security log with enrolment starts.
/// Resuming a pending enrolment (a page reload) makes no new secret and
/// does not count.
pub const ENROLMENTS_PER_ACCOUNT: Policy = Policy {
    free: 10,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// WebAuthn ceremonies begun without a session, per client address (each
/// writes a challenge to the store; every sign-in page load asks for one,
/// for autofill): 120 an hour free, then 30 s doubling to 1 h, never cleared.
pub const CEREMONIES_PER_ADDRESS: Policy = Policy {
    free: 120,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// Password reset links asked for per client address (each may send a
/// mail): 20 an hour free, then 30 s doubling to 1 h, never cleared.
pub const RESETS_PER_ADDRESS: Policy = SIGNUPS_PER_ADDRESS;

/// Password reset links asked for per email address, whoever asks (a mailbox
/// is not to be flooded): 5 an hour free, then 30 s doubling to 1 h.
pub const RESETS_PER_EMAIL: Policy = Policy {
    free: 5,
    first_delay: Duration::seconds(30),
    max_delay: Duration::hours(1),
    lock_after: None,
    forget_after: Some(Duration::hours(1)),
};

/// Verification links mailed per account (sign-up, "send the link again",
/// an email change): the same as reset links per email.
pub const VERIFICATIONS_PER_ACCOUNT: Policy = RESETS_PER_EMAIL;

/// The most blocks a process remembers (a flood from more addresses than
/// this is still refused, by the store).
const REMEMBERED_BLOCKS: usize = 10_000;

/// How long a refusal by a per-address counter takes to be answered. A
/// client that goes on sending from a blocked address (a flood, closed
/// loop) is slowed to one answer a second per connection, so the answers
/// cannot take the cores that right sign-ins hash on (row DOS-03); a
/// person told to wait 30 s or more loses nothing.
pub const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reserves and clears attempts.
#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn ThrottleStore>,
    clock: SharedClock,
    /// Blocks of checked keys (the per-address ones) this process has seen,
    /// until they end, so a flood from a blocked address is refused without
    /// a store round trip (docs/SECURITY.md, row DOS-03). Safe to keep: no
    /// one clears a per-address count, so a block the store reported holds
    /// to its end in every process.
    blocks: Arc<Mutex<HashMap<String, OffsetDateTime>>>,
}

impl Throttle {
    /// Builds the service.
    pub fn new(store: Arc<dyn ThrottleStore>, clock: SharedClock) -> Self {
        Throttle { store, clock, blocks: Arc::default() }
    }

    /// Refuses while this process remembers a block of `key` (from
    /// [`Throttle::check`]), asking no one: the cheap first look at a
    /// request, before any work is queued for it. A refusal is answered
    /// after [`REFUSAL_DELAY`]: nothing may be held meanwhile.
    pub async fn check_remembered(&self, key: &str, policy: &Policy) -> Result<(), CoreError> {
        let now = self.clock.now();
        match self.remembered(key, now) {
            Some(until) => Err(answered_slowly(rate_limited((until - now).min(policy.max_delay))).await),
            None => Ok(()),
        }
    }

    /// The end of a block of `key` this process remembers, if it is still on.
    fn remembered(&self, key: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.blocks.lock().ok().and_then(|blocks| blocks.get(key).copied()).filter(|until| *until > now)
    }

    fn remember(&self, key: &str, until: OffsetDateTime, now: OffsetDateTime) {
        let Ok(mut blocks) = self.blocks.lock() else { return };
        if let Some(known) = blocks.get_mut(key) {
            *known = until;
            return;
        }
        // Ended blocks are swept only when a new one would not fit.
        if blocks.len() >= REMEMBERED_BLOCKS {
            blocks.retain(|_, until| *until > now);
        }
        if blocks.len() < REMEMBERED_BLOCKS {
            blocks.insert(key.to_string(), until);
        }
    }

    /// Counts an attempt on `key` before it is evaluated and returns the count
    /// (this attempt included); refused attempts are [`CoreError::RateLimited`]
    /// and must not be evaluated at all.
    pub async fn reserve(&self, key: &str, policy: &Policy) -> Result<u32, CoreError> {
        let now = self.clock.now();
        match self.store.reserve_attempt(key, now, policy).await? {
            Reservation::Granted { failures } => Ok(failures),
            Reservation::Refused { blocked_until } => {
                Err(rate_limited(blocked_until.map_or(policy.max_delay, |until| until - now)))
            }
        }
    }

    /// A success on an account: its count starts again from zero.
    pub async fn clear(&self, key: &str) -> Result<(), CoreError> {
        Ok(self.store.clear_attempts(key).await?)
    }

    /// Refuses while `key` is delayed, counting nothing. For the per-address
    /// keys: a busy address (an office behind one NAT, an app's backend) has
    /// many sign-ins in flight at once, which reserving would count as
    /// failures. Its failures are counted after they fail
    /// ([`Throttle::count_failure`]), so parallel wrong guesses from one
    /// address can pass its free attempts by at most the guesses in flight,
    /// while every account's own limit stays exact (reserved first).
    ///
    /// A block found is remembered until it ends ([`Throttle::check_remembered`]):
    /// only keys that no one clears may be checked.
    ///
    /// Refuses at once: the caller lets go of what it holds (a hashing
    /// slot) and then answers through [`answered_slowly`].
    pub async fn check(&self, key: &str, policy: &Policy) -> Result<(), CoreError> {
        let now = self.clock.now();
        let until = match self.remembered(key, now) {
            Some(until) => until,
            None => match self.store.blocked_until(key, now).await? {
                Some(until) => {
                    self.remember(key, until, now);
                    until
                }
                None => return Ok(()),
            },
        };
        Err(rate_limited((until - now).min(policy.max_delay)))
    }

    /// [`Throttle::check`] for a caller that holds nothing (no hashing
    /// slot): a refusal is answered after [`REFUSAL_DELAY`].
    pub async fn check_slowly(&self, key: &str, policy: &Policy) -> Result<(), CoreError> {
        match self.check(key, policy).await {
            Err(refused) => Err(answered_slowly(refused).await),
            ok => ok,
        }
    }

    /// Counts a failure on a key that is checked rather than reserved, also
    /// while it is delayed (failures that were in flight when the delay
    /// started still count and lengthen it).
    pub async fn count_failure(&self, key: &str, policy: &Policy) -> Result<(), CoreError> {
        Ok(self.store.count_failure(key, self.clock.now(), policy).await?)
    }
}

/// `refusal`, after [`REFUSAL_DELAY`] when it is one of a per-address
/// counter's (a rate limit); any other error at once.
pub async fn answered_slowly(refusal: CoreError) -> CoreError {
    if matches!(refusal, CoreError::RateLimited { .. }) {
        tokio::time::sleep(REFUSAL_DELAY).await;
    }
    refusal
}

/// A refusal that says to come back after `wait` (at least a second).
fn rate_limited(wait: Duration) -> CoreError {
    CoreError::RateLimited { retry_after: u64::try_from(wait.whole_seconds()).unwrap_or(0).max(1) }
}

/// What an address counts as: itself for IPv4, its /64 network for IPv6
/// (one subscriber's share, RFC 6177: whoever holds one address of it can
/// use any of the 2^64, so counting per address would count nothing).
/// An IPv4 address mapped into IPv6 counts as the IPv4 address.
pub fn address_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
        _ => ip.to_string(),
    }
}

/// The counter of code guesses on an account.
pub fn code_key_for_account(user: crate::UserId) -> String {
    format!("code:user:{user}")
}

/// The counter of code guesses from an address.
pub fn code_key_for_address(ip: &str) -> String {
    format!("code:ip:{}", address_bucket(ip))
}

/// The counter of password guesses on a login name, folded so `Alice` and
/// `alice` share it.
pub fn password_key_for_login(login: &str) -> String {
    format!("password:login:{}", login.trim().to_lowercase())
}

/// The counter of password guesses with one known client's token (its nonce).
pub fn password_key_for_known_client(nonce: &str) -> String {
    format!("password:known:{nonce}")
}

/// The counter of password guesses from an address.
pub fn password_key_for_address(ip: &str) -> String {
    format!("password:ip:{}", address_bucket(ip))
}

/// The counter of WebAuthn ceremonies begun from an address without a session.
pub fn ceremony_key_for_address(ip: &str) -> String {
    format!("webauthn:ip:{}", address_bucket(ip))
}

/// The counter of reset links asked for from an address.
pub fn reset_key_for_address(ip: &str) -> String {
    format!("reset:ip:{}", address_bucket(ip))
}

/// The counter of reset links asked for an email address.
pub fn reset_key_for_email(email: &str) -> String {
    format!("reset:email:{email}")
}

/// The counter of dead mailed links (password reset, email verification)
/// tried from an address.
pub fn mailed_link_key_for_address(ip: &str) -> String {
    format!("reset-link:ip:{}", address_bucket(ip))
}

/// The counter of verification links mailed for an account.
pub fn verification_key_for_account(user: crate::UserId) -> String {
    format!("verify:user:{user}")
}

/// The counter of sign-ups from an address.
pub fn signup_key_for_address(ip: &str) -> String {
    format!("signup:ip:{}", address_bucket(ip))
}

/// The counter of new enrolment secrets of an account.
pub fn enrolment_key_for_account(user: crate::UserId) -> String {
    format!("enrolment:user:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_network_counts_as_one_address_and_ipv4_as_itself() {
        let key = password_key_for_address;
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:eeee:dddd:cccc"));
        assert_eq!(key("2001:db8:1:2::1"), "password:ip:2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"), "another /64 is another subscriber");
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(address_bucket("not an address"), "not an address");
    }

    #[test]
    fn delays_double_from_30_seconds_to_an_hour() {
        let secs: Vec<i64> = CODES_PER_ACCOUNT.delays().iter().map(|d| d.whole_seconds()).collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480, 960, 1920, 3600]);
    }
}
