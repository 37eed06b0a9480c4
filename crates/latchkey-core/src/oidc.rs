//! The OpenID Connect provider (contract section 9). The signing keys are
//! in [`keys`], made when first needed and rotated by `latchkey key
//! rotate-signing`; the relying parties in [`clients`], from the CLI (the
//! store) and the config file (memory); the authorize endpoint's rules and
//! codes in [`authorize`]; the token endpoint and what tokens say in
//! [`tokens`], signed and checked in [`jws`]; what a client may do with a
//! token afterwards in [`introspection`] and [`revocation`]; the end of a
//! sign-in a client asks for in [`logout`].

pub mod authorize;
pub mod clients;
pub mod introspection;
mod jws;
pub mod keys;
pub mod logout;
pub mod revocation;
pub mod tokens;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::{CoreError, Refusal};
use crate::events::Events;
use crate::secret_box::SecretBox;
use crate::sessions::ClientInfo;
use crate::store::{OidcStore, StoreError, UserStore};
use clients::{CheckedClient, ClientRecord, NewClient};
use keys::{SigningAlg, SigningKeyRecord, PUBLISHED_AFTER_RETIREMENT, PUBLISHED_BEFORE_SIGNING};

/// Where a client was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// `latchkey client add`: kept in the store, removable.
    Store,
    /// `[[oidc_clients]]` in the config file: changed there.
    Config,
}

/// A client the user let in, as "Connected apps" lists it.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    /// The `client_id`.
    pub client_id: String,
    /// Its name (its id when the client is gone from the configuration).
    pub name: String,
    /// What it was granted.
    pub scopes: Vec<String>,
    /// When it was last granted.
    pub granted_at: time::OffsetDateTime,
}

/// Signing keys and clients.
#[derive(Clone)]
pub struct Oidc {
    store: Arc<dyn OidcStore>,
    users: Arc<dyn UserStore>,
    key: SecretBox,
    clock: SharedClock,
    config_clients: Arc<[ClientRecord]>,
    issuer: String,
    events: Events,
}

/// The parts [`Oidc`] is built from.
pub struct OidcParts {
    /// Keys, clients, codes and tokens.
    pub store: Arc<dyn OidcStore>,
    /// The accounts tokens are about.
    pub users: Arc<dyn UserStore>,
    /// Seals the signing keys.
    pub key: SecretBox,
    /// The clock.
    pub clock: SharedClock,
    /// The clients of the config file, checked.
    pub config_clients: Vec<ClientRecord>,
    /// The issuer (`iss`): the public URL.
    pub issuer: String,
    /// Records grants, consents and reused codes.
    pub events: Events,
}

impl Oidc {
    /// Builds the service.
    pub fn new(parts: OidcParts) -> Self {
        let OidcParts { store, users, key, clock, config_clients, issuer, events } = parts;
        Oidc { store, users, key, clock, config_clients: config_clients.into(), issuer, events }
    }

    /// The issuer: the public URL, as `iss` and the discovery document say it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The published key set (`/oauth2/jwks`): the signing keys and the
    /// retired ones still within [`PUBLISHED_AFTER_RETIREMENT`]. Makes the
    /// signing keys on first use.
    pub async fn key_set(&self) -> Result<serde_json::Value, CoreError> {
        let now = self.clock.now();
        let keys = self.signing_keys().await?;
        let published: Result<Vec<serde_json::Value>, _> =
            keys.iter().filter(|k| k.published_at(now)).map(|k| serde_json::from_str(&k.public_jwk)).collect();
        let published = published.map_err(|e| StoreError::Corrupt(format!("a stored JWK: {e}")))?;
        Ok(serde_json::json!({ "keys": published }))
    }

    /// Every stored key, after making the signing key of any algorithm that
    /// has none (of two processes making one at once, one key is kept).
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, CoreError> {
        let keys = self.store.signing_keys().await?;
        let missing: Vec<SigningAlg> = SigningAlg::ALL
            .into_iter()
            .filter(|alg| !keys.iter().any(|k| k.alg == *alg && k.retired_at.is_none()))
            .collect();
        if missing.is_empty() {
            return Ok(keys);
        }
        for made in self.generate(&missing).await? {
            if self.store.add_signing_key(&made).await? {
                tracing::info!(kid = made.kid, alg = made.alg.as_str(), "made an ID token signing key");
            }
        }
        Ok(self.store.signing_keys().await?)
    }

    /// New signing keys for every algorithm, published now and signing
    /// from [`PUBLISHED_BEFORE_SIGNING`] on, when the ones they replace
    /// retire (and stay published for [`PUBLISHED_AFTER_RETIREMENT`]); keys
    /// retired longer ago than that are deleted. Returns the new keys.
    pub async fn rotate_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, CoreError> {
        let fresh = self.generate(&SigningAlg::ALL).await?;
        let now = self.clock.now();
        let retiring = now + PUBLISHED_BEFORE_SIGNING;
        self.store.rotate_signing_keys(&fresh, retiring, now - PUBLISHED_AFTER_RETIREMENT).await?;
        Ok(fresh)
    }

    /// Makes keys off the async threads (an RSA key takes a while).
    async fn generate(&self, algs: &[SigningAlg]) -> Result<Vec<SigningKeyRecord>, CoreError> {
        let (algs, key, now) = (algs.to_vec(), self.key.clone(), self.clock.now());
        tokio::task::spawn_blocking(move || algs.into_iter().map(|alg| keys::generate(alg, &key, now)).collect())
            .await
            .map_err(|e| CoreError::Internal(format!("making signing keys: {e}")))?
    }

    /// Adds a client from the CLI; its secret (if any) is in the answer,
    /// and nowhere else ever again. An id taken (by the store or the config
    /// file) is [`CoreError::Conflict`].
    pub async fn add_client(&self, new: NewClient) -> Result<CheckedClient, CoreError> {
        let checked = clients::check(new, self.clock.now())?;
        if self.config_clients.iter().any(|c| c.id == checked.record.id) {
            return Err(CoreError::Conflict("client"));
        }
        match self.store.insert_client(&checked.record).await {
            Ok(()) => Ok(checked),
            Err(StoreError::Conflict(_)) => Err(CoreError::Conflict("client")),
            Err(e) => Err(e.into()),
        }
    }

    /// Every client, the config file's first, each with where it comes from.
    pub async fn clients(&self) -> Result<Vec<(ClientRecord, ClientSource)>, CoreError> {
        let mut all: Vec<_> = self.config_clients.iter().map(|c| (c.clone(), ClientSource::Config)).collect();
        all.extend(self.store.list_clients().await?.into_iter().map(|c| (c, ClientSource::Store)));
        Ok(all)
    }

    /// The client with this id.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>, CoreError> {
        if let Some(client) = self.config_clients.iter().find(|c| c.id == id) {
            return Ok(Some(client.clone()));
        }
        Ok(self.store.find_client(id).await?)
    }

    /// Where an event about the client `name` (`id`) came from: the
    /// address, and the client named where the device would be (the log has
    /// no other place for it).
    pub(crate) fn about(name: &str, id: &str, from: &ClientInfo) -> ClientInfo {
        ClientInfo::new(from.ip.clone(), Some(&format!("OpenID Connect client {name} ({id})")))
    }

    /// The clients `user` let in (consent, or a first-party sign-in), newest first.
    pub async fn connected_apps(&self, user: &crate::User) -> Result<Vec<ConnectedApp>, CoreError> {
        let mut apps = Vec::new();
        for (client_id, scopes, granted_at) in self.store.list_consents(user.id).await? {
            let name = self.client(&client_id).await?.map_or_else(|| client_id.clone(), |c| c.name);
            apps.push(ConnectedApp { client_id, name, scopes, granted_at });
        }
        Ok(apps)
    }

    /// Disconnects a client from `user`'s account: its consent and every
    /// token it holds end (an `oidc_access_revoked` event). False when it
    /// held nothing.
    pub async fn disconnect(&self, user: &crate::User, client_id: &str, from: &ClientInfo) -> Result<bool, CoreError> {
        if !self.store.revoke_client_access(user.id, client_id).await? {
            return Ok(false);
        }
        // A client gone from the configuration is named by its id.
        let name = self.client(client_id).await?.map_or_else(|| client_id.to_string(), |c| c.name);
        let about = Oidc::about(&name, client_id, from);
        self.events.record(user.id, crate::events::EventKind::OidcAccessRevoked, &about).await?;
        Ok(true)
    }

    /// Removes a client added from the CLI; false when there is none. One
    /// from the config file is refused: it is removed there.
    pub async fn remove_client(&self, id: &str) -> Result<bool, CoreError> {
        if self.config_clients.iter().any(|c| c.id == id) {
            return Err(CoreError::Refused(Refusal::ClientInConfig));
        }
        Ok(self.store.delete_client(id).await?)
    }
}
