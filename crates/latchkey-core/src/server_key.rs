//! Binding the server key to a store, so a wrong or new key is noticed at start.
//!
//! The first start seals a known value under the key and keeps it in the
//! store's metadata; every later start must open it. Without this, a lost key
//! file would silently be replaced and every sealed TOTP secret lost.
//!
//! The same sealed value says whether the security log's chain is keyed:
//! stores from before the keyed chain sealed it with other associated data.
//! Only a holder of the key can make either, so someone who writes the
//! database cannot make a keyed store pass for an older one whose log would
//! then be re-keyed, rewrite and all (docs/SECURITY.md, row LOG-05).

use crate::events::ChainKey;
use crate::secret_box::SecretBox;
use crate::store::{Resealed, Store, StoreError};

const META_KEY: &str = "key_check";
const PLAINTEXT: &[u8] = b"latchkey server key";
/// The associated data of a store whose log is still the plain SHA-256 chain.
const UNKEYED_LOG: &[u8] = b"latchkey key check";
/// The associated data of a store whose log is keyed under the server key.
const KEYED_LOG: &[u8] = b"latchkey key check; event chain keyed v1";

/// Why the key does not fit the store.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// The store was sealed under another key.
    #[error("the secret key does not match the one this store was created with")]
    Mismatch,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The security log's format, as the key check tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Keyed under the server key (this version's).
    Keyed,
    /// The plain SHA-256 chain of the versions before: keyed by
    /// [`key_the_log`] the first time a writing command runs.
    Unkeyed,
}

/// Moves every sealed secret from `old` to `new`, re-links the security
/// log under `new`'s chain key and binds `new` to the store, in one
/// transaction, unless a process was seen serving within `serving_within`
/// seconds by the database's clock (it holds `old` and would fail every
/// sealed secret). The log must be keyed already ([`key_the_log`]).
pub async fn rotate_key(
    store: &dyn Store,
    old: &SecretBox,
    new: &SecretBox,
    serving_within: i64,
) -> Result<Resealed, KeyCheckError> {
    let reseal = |associated: &[u8], sealed: &[u8]| -> Option<Vec<u8>> {
        let plain = old.open(sealed, associated).ok()?;
        Some(new.seal(&plain, associated))
    };
    let (old_chain, new_chain) = (ChainKey::of(old), ChainKey::of(new));
    let chains = (&old_chain, &new_chain);
    Ok(store.reseal_secrets(&reseal, &new.seal(PLAINTEXT, KEYED_LOG), chains, serving_within).await?)
}

/// Whether the store already has a key bound to it (so a new key must not be made).
pub async fn store_has_key(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.get_meta(META_KEY).await?.is_some())
}

/// Binds `key` to a fresh store, or checks that it is the key already
/// bound; either way, says whether the log is keyed. Writes only to a
/// fresh store.
pub async fn bind_key(store: &dyn Store, key: &SecretBox) -> Result<LogFormat, KeyCheckError> {
    if store.put_meta_if_absent(META_KEY, &key.seal(PLAINTEXT, KEYED_LOG)).await? {
        return Ok(LogFormat::Keyed);
    }
    let stored = store.get_meta(META_KEY).await?.ok_or(KeyCheckError::Mismatch)?;
    let opens = |associated| key.open(&stored, associated).is_ok_and(|plain| plain == PLAINTEXT);
    if opens(KEYED_LOG) {
        Ok(LogFormat::Keyed)
    } else if opens(UNKEYED_LOG) {
        Ok(LogFormat::Unkeyed)
    } else {
        Err(KeyCheckError::Mismatch)
    }
}

/// Keys the log of a store from before the keyed chain: re-links it under
/// the key's chain key and marks the key check keyed, in one transaction
/// serialised with appends. `None` when it is keyed already (another
/// process was first); else how many events were re-linked.
pub async fn key_the_log(store: &dyn Store, key: &SecretBox) -> Result<Option<u64>, KeyCheckError> {
    let Some(stored) = store.get_meta(META_KEY).await? else { return Err(KeyCheckError::Mismatch) };
    if key.open(&stored, UNKEYED_LOG).ok().as_deref() != Some(PLAINTEXT) {
        return Ok(None);
    }
    Ok(store.key_event_chain(&ChainKey::of(key), &stored, &key.seal(PLAINTEXT, KEYED_LOG)).await?)
}

/// Whether `key` is still the store's: a serving process asks at each
/// heartbeat, since a rotation elsewhere changes it. Reads only: a missing
/// key check is not the key's.
pub async fn still_bound(store: &dyn Store, key: &SecretBox) -> Result<bool, StoreError> {
    let Some(stored) = store.get_meta(META_KEY).await? else { return Ok(false) };
    Ok([KEYED_LOG, UNKEYED_LOG].iter().any(|associated| key.open(&stored, associated).is_ok_and(|p| p == PLAINTEXT)))
}
