//! Known clients: OWASP's "device cookies". Every right password hands the
//! browser (a cookie) or the API client (`client_token`) a token signed
//! under a key derived from the server key. A later sign-in of the same
//! account that sends it back is counted on that token alone, past the
//! login name's and the address's limits, so a stranger's wrong passwords
//! for the name, or a spray from the same office address, cannot keep the
//! owner out; a client without one stays throttled as before, and so does a
//! stolen token, on its own counter (docs/SECURITY.md, row AA-08).
//!
//! The token names no account: it is checked against the account the login
//! names, and its signature covers that account's id and a digest of its
//! password hash, so a new password voids every token issued before it.
//! Nothing is stored: a token is `lkc1.ISSUED.NONCE.MAC`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::UserId;

/// How long a known client stays known without signing in again.
pub const KNOWN_CLIENT_LASTS: Duration = Duration::days(90);

const PREFIX: &str = "lkc1";

/// The key that signs known clients' tokens. `Debug` never shows it.
#[derive(Clone)]
pub struct KnownClientKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KnownClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownClientKey(<redacted>)")
    }
}

/// A token for a client that just gave the right password. `Debug` shows no token.
pub struct KnownClient {
    /// What the client keeps and sends with its next sign-in.
    pub token: String,
    /// How long it is good for (the cookie's `Max-Age`).
    pub lasts: Duration,
}

impl std::fmt::Debug for KnownClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KnownClient(lasts {})", self.lasts)
    }
}

impl KnownClientKey {
    /// What the key is derived from the server key under.
    pub(crate) const LABEL: &'static [u8] = b"latchkey known client v1";

    /// The key, from the key derived for it.
    pub(crate) fn new(derived: &[u8; 32]) -> Self {
        KnownClientKey { mac: crate::secret_box::hmac_sha256(derived) }
    }

    /// The known-client key of a server key (derived from it).
    pub fn of(key: &crate::SecretBox) -> Self {
        KnownClientKey::new(&key.derive(Self::LABEL))
    }

    /// The MAC over what a token vouches for, fields length-prefixed.
    fn mac_of(&self, user: UserId, password_hash: &str, issued: i64, nonce: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        let digest = Sha256::digest(password_hash.as_bytes());
        let issued = issued.to_string();
        let fields = [user.0.as_bytes().as_slice(), &digest, issued.as_bytes(), nonce.as_bytes()];
        crate::secret_box::length_prefixed(&fields, |bytes| mac.update(bytes));
        mac
    }

    /// A new token for `user`, whose password hash is `password_hash`.
    pub fn issue(&self, user: UserId, password_hash: &str, now: OffsetDateTime) -> KnownClient {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let issued = now.unix_timestamp();
        let signature =
            URL_SAFE_NO_PAD.encode(self.mac_of(user, password_hash, issued, &nonce).finalize().into_bytes());
        KnownClient { token: format!("{PREFIX}.{issued}.{nonce}.{signature}"), lasts: KNOWN_CLIENT_LASTS }
    }

    /// The token's nonce (its own throttle key) when this key issued it for
    /// `user` with this password hash and it has not run out; else `None`.
    pub fn check(&self, token: &str, user: UserId, password_hash: &str, now: OffsetDateTime) -> Option<String> {
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(issued), Some(nonce), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let issued: i64 = issued.parse().ok()?;
        let age = now.unix_timestamp().checked_sub(issued)?;
        if !(0..=KNOWN_CLIENT_LASTS.whole_seconds()).contains(&age) {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        // verify_slice compares in constant time.
        let authentic = self.mac_of(user, password_hash, issued, nonce).verify_slice(&signature).is_ok();
        authentic.then(|| nonce.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    fn key(byte: u8) -> KnownClientKey {
        KnownClientKey::new(&[byte; 32])
    }

    #[test]
    fn a_token_is_known_only_for_its_account_password_and_key_until_it_runs_out() {
        let (user, other) = (UserId(uuid::Uuid::from_u128(1)), UserId(uuid::Uuid::from_u128(2)));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let issued = key(1).issue(user, HASH, now);
        assert!(issued.token.starts_with("lkc1."), "{}", issued.token);
        let nonce = key(1).check(&issued.token, user, HASH, now + Duration::days(1));
        assert!(nonce.as_deref().is_some_and(|n| issued.token.contains(n)));
        assert_eq!(key(1).check(&issued.token, other, HASH, now), None, "another account");
        assert_eq!(key(1).check(&issued.token, user, "$argon2id$new", now), None, "a new password");
        assert_eq!(key(2).check(&issued.token, user, HASH, now), None, "another server key");
        assert_eq!(key(1).check(&issued.token, user, HASH, now + KNOWN_CLIENT_LASTS + Duration::SECOND), None);
        assert_eq!(key(1).check(&issued.token, user, HASH, now - Duration::hours(1)), None, "from the future");
        let later =
            issued.token.replacen(&now.unix_timestamp().to_string(), &(now.unix_timestamp() + 60).to_string(), 1);
        assert_eq!(key(1).check(&later, user, HASH, now + Duration::days(2)), None, "a changed date");
        for garbage in ["", "lkc1", "lkc1.x.y.z", "lkc1.1.a.b.c", "lkc2.1800000000.AAAA.AAAA"] {
            assert_eq!(key(1).check(garbage, user, HASH, now), None, "{garbage:?}");
        }
    }
}
