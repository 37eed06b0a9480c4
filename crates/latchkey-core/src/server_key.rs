//! Binding the server key to a store, so a wrong or new key is noticed at start.
//!
//! The first start seals a known value under the key and keeps it in the
//! store's metadata; every later start must open it. Without this, a lost key
//! file would silently be replaced and every sealed TOTP secret lost.

use crate::secret_box::SecretBox;
use time::OffsetDateTime;

use crate::store::{Resealed, Store, StoreError};

const META_KEY: &str = "key_check";
const PLAINTEXT: &[u8] = b"latchkey server key";
const ASSOCIATED: &[u8] = b"latchkey key check";

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

/// Moves every sealed secret from `old` to `new`, re-links the security
/// log under `new`'s chain key and binds `new` to the store, in one
/// transaction, unless a process was seen serving at or after
/// `serving_since` (it holds `old` and would fail every sealed secret).
pub async fn rotate_key(
    store: &dyn Store,
    old: &SecretBox,
    new: &SecretBox,
    serving_since: OffsetDateTime,
) -> Result<Resealed, KeyCheckError> {
    let reseal = |user: crate::UserId, sealed: &[u8]| -> Option<Vec<u8>> {
        let plain = old.open(sealed, user.0.as_bytes()).ok()?;
        Some(new.seal(&plain, user.0.as_bytes()))
    };
    let chains = (old.chain_key(), new.chain_key());
    Ok(store.reseal_secrets(&reseal, &new.seal(PLAINTEXT, ASSOCIATED), chains, serving_since).await?)
}

/// Whether the store already has a key bound to it (so a new key must not be made).
pub async fn store_has_key(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.get_meta(META_KEY).await?.is_some())
}

/// Binds `key` to a fresh store, or checks that it is the key already bound.
pub async fn bind_key(store: &dyn Store, key: &SecretBox) -> Result<(), KeyCheckError> {
    let sealed = key.seal(PLAINTEXT, ASSOCIATED);
    if store.put_meta_if_absent(META_KEY, &sealed).await? {
        return Ok(());
    }
    let stored = store.get_meta(META_KEY).await?.ok_or(KeyCheckError::Mismatch)?;
    match key.open(&stored, ASSOCIATED) {
        Ok(plain) if plain == PLAINTEXT => Ok(()),
        _ => Err(KeyCheckError::Mismatch),
    }
}
