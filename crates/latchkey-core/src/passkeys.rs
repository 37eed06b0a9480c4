//! Passkeys and security keys (WebAuthn Level 2, on webauthn-rs): adding
//! them to an account, signing in with one alone, and managing them. A
//! passkey is a factor like an authenticator app: the first one turns MFA on
//! (with recovery codes), and the last factor never goes while MFA is on.
//! Every ceremony asks for user verification (`userVerification:
//! required`), so a passkey alone counts as both factors.

use std::sync::Arc;

use serde::Serialize;
use webauthn_rs::prelude::{AttestedPasskeyRegistration, Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use crate::accounts::RecentProof;
use crate::clock::SharedClock;
use crate::domain::{PasskeyId, SessionId, User, UserId};
use crate::error::{CoreError, Refusal};
use crate::events::{EventKind, Events};
use crate::mfa::{authenticators, Mfa};
use crate::recovery;
use crate::sessions::{ClientInfo, Sessions, SignInFrom, SignedIn};
use crate::store::{PasskeyAdded, PasskeyRecord, Store, StoreError};
use crate::throttle::{self, Throttle};
use crate::token::random_token;
use crate::webauthn::{credential_id_text, passkey_of, AssertionState, Ceremonies, Purpose};

/// The most passkeys an account may hold.
pub const MAX_PASSKEYS: u32 = 10;
/// The name a passkey gets when its owner gives none.
const DEFAULT_NAME: &str = "Passkey";

/// A registration's state between the options and the answer.
#[derive(serde::Serialize, serde::Deserialize)]
enum Registration {
    /// Any authenticator (`webauthn_attestation = "none"`).
    Any(PasskeyRegistration),
    /// Only the operator's hardware keys (`direct`): the attestation must
    /// chain to one of their roots and name one of their models.
    Attested(AttestedPasskeyRegistration),
}

/// The options a browser passes to `navigator.credentials.create` or
/// `.get` (`publicKey`, binary fields base64url), and the id that names
/// the ceremony when its answer comes back.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    /// Names the ceremony in the answer.
    pub challenge_id: String,
    /// WebAuthn's options.
    #[serde(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

/// A passkey just added; `recovery_codes` when it turned MFA on (shown this once).
#[derive(Debug)]
pub struct AddedPasskey {
    /// The passkey.
    pub passkey: PasskeyRecord,
    /// The new recovery codes, when this passkey was the account's first factor.
    pub recovery_codes: Option<Vec<String>>,
}

/// The passkeys service.
#[derive(Clone)]
pub struct Passkeys {
    ceremonies: Ceremonies,
    store: Arc<dyn Store>,
    clock: SharedClock,
    events: Events,
    sessions: Sessions,
    mfa: Mfa,
    throttle: Throttle,
}

/// The parts [`Passkeys`] is built from.
pub(crate) struct PasskeysParts {
    pub ceremonies: Ceremonies,
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub events: Events,
    pub sessions: Sessions,
    pub mfa: Mfa,
    pub throttle: Throttle,
}

/// The `publicKey` member of what the library hands the browser.
fn public_key_of(options: &impl Serialize) -> Result<serde_json::Value, CoreError> {
    let mut value = serde_json::to_value(options).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(value.get_mut("publicKey").map(serde_json::Value::take).unwrap_or_default())
}

impl Passkeys {
    pub(crate) fn new(parts: PasskeysParts) -> Self {
        let PasskeysParts { ceremonies, store, clock, events, sessions, mfa, throttle } = parts;
        Passkeys { ceremonies, store, clock, events, sessions, mfa, throttle }
    }

    /// Whether passkeys work here (the public URL has a domain name).
    pub fn available(&self) -> bool {
        self.ceremonies.available()
    }

    /// Starts adding a passkey: needs a recent proof of the account. The
    /// options ask for a discoverable credential with user verification, so
    /// that the passkey can also sign in on its own; the user's passkeys
    /// are excluded (an authenticator holding one says so).
    pub async fn begin_registration(
        &self,
        user: &User,
        session: &SessionId,
        proof: &RecentProof,
    ) -> Result<Challenge, CoreError> {
        proof.check(user)?;
        let webauthn = self.ceremonies.webauthn()?;
        let existing = self.store.list_passkeys(user.id).await?;
        if existing.len() >= MAX_PASSKEYS as usize {
            return Err(CoreError::Refused(Refusal::TooManyPasskeys));
        }
        let exclude = existing.iter().map(|r| passkey_of(r).map(|p| p.cred_id().clone())).collect::<Result<_, _>>()?;
        let name = user.username.as_str();
        let internal = |e: webauthn_rs::prelude::WebauthnError| CoreError::Internal(e.to_string());
        let (mut public_key, state) = match self.ceremonies.attestation() {
            None => {
                let (options, state) =
                    webauthn.start_passkey_registration(user.id.0, name, name, Some(exclude)).map_err(internal)?;
                (public_key_of(&options)?, Registration::Any(state))
            }
            Some(roots) => {
                let (options, state) = webauthn
                    .start_attested_passkey_registration(user.id.0, name, name, Some(exclude), roots.clone(), None)
                    .map_err(internal)?;
                (public_key_of(&options)?, Registration::Attested(state))
            }
        };
        // The library asks for a resident key only as "discouraged"; a
        // passkey that signs in on its own must be discoverable.
        if let Some(selection) = public_key.get_mut("authenticatorSelection").and_then(|s| s.as_object_mut()) {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let challenge_id = random_token();
        self.ceremonies.keep(&challenge_id, Purpose::Register, Some(user.id), session.as_str(), &state).await?;
        Ok(Challenge { challenge_id, public_key })
    }

    /// Finishes adding a passkey, from the session that began it. The first
    /// passkey of an account with MFA off turns MFA on (recovery codes, the
    /// other sessions ended) in one transaction.
    pub async fn finish_registration(
        &self,
        user: &User,
        session: &SessionId,
        challenge_id: &str,
        name: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<AddedPasskey, CoreError> {
        let webauthn = self.ceremonies.webauthn()?;
        let name = authenticators::parse_name(name, DEFAULT_NAME)?;
        let taken = self.ceremonies.take::<Registration>(challenge_id, Purpose::Register, session.as_str());
        let (ceremony, state) = taken.await?;
        if ceremony.user_id != Some(user.id) {
            return Err(CoreError::InvalidPasskey);
        }
        let answer: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| CoreError::InvalidPasskey)?;
        let passkey = match &state {
            Registration::Any(state) => webauthn.finish_passkey_registration(&answer, state),
            Registration::Attested(state) => {
                webauthn.finish_attested_passkey_registration(&answer, state).map(Passkey::from)
            }
        }
        .map_err(|e| {
            tracing::info!(reason = %e, "a passkey registration was refused");
            CoreError::InvalidPasskey
        })?;
        let record = self.new_record(user.id, name, &passkey)?;
        // With MFA off, this passkey turns it on with recovery codes. MFA may
        // have been turned off since `user` was read: the store then says
        // so and writes nothing, and the codes are made after all.
        let mut recovery_codes = None;
        if !user.mfa_enabled {
            recovery_codes = Some(recovery::generate_set());
        }
        let added = loop {
            let hashes = match &recovery_codes {
                Some(codes) => self.mfa.hash_codes(codes, client).await?,
                None => Vec::new(),
            };
            match self.store.add_passkey(&record, &hashes, session, MAX_PASSKEYS).await {
                Ok(PasskeyAdded::MfaIsOff) if recovery_codes.is_none() => {
                    recovery_codes = Some(recovery::generate_set())
                }
                Ok(PasskeyAdded::MfaIsOff) => return Err(CoreError::Internal("MFA-on with codes refused".into())),
                Ok(added) => break added,
                Err(StoreError::Conflict(_)) => return Err(CoreError::Refused(Refusal::PasskeyRegistered)),
                Err(e) => return Err(e.into()),
            }
        };
        let recovery_codes = match added {
            PasskeyAdded::TooMany => return Err(CoreError::Refused(Refusal::TooManyPasskeys)),
            PasskeyAdded::TurnedMfaOn => recovery_codes,
            // MFA was on (perhaps turned on meanwhile by another session):
            // codes made here were not stored and are not shown.
            PasskeyAdded::Added | PasskeyAdded::MfaIsOff => None,
        };
        self.record_after_change(user.id, EventKind::PasskeyAdded, client).await;
        if recovery_codes.is_some() {
            self.record_after_change(user.id, EventKind::MfaEnabled, client).await;
        }
        Ok(AddedPasskey { passkey: record, recovery_codes })
    }

    /// The stored record of a passkey just registered: the library's own
    /// record, its counter and backup flags read from it.
    fn new_record(&self, user: UserId, name: String, passkey: &Passkey) -> Result<PasskeyRecord, CoreError> {
        let json = serde_json::to_value(passkey).map_err(|e| CoreError::Internal(e.to_string()))?;
        let cred = &json["cred"];
        let flag = |name: &str| cred[name].as_bool().unwrap_or(false);
        Ok(PasskeyRecord {
            id: PasskeyId::random(),
            user_id: user,
            credential_id: credential_id_text(passkey.cred_id().as_ref()),
            name,
            credential: json.to_string(),
            sign_count: cred["counter"].as_u64().and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            backup_eligible: flag("backup_eligible"),
            backed_up: flag("backup_state"),
            created_at: self.clock.now(),
            last_used_at: None,
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<PasskeyRecord>, CoreError> {
        Ok(self.store.list_passkeys(user).await?)
    }

    /// Renames one of the user's passkeys.
    pub async fn rename(&self, user: UserId, id: &PasskeyId, name: &str) -> Result<(), CoreError> {
        let name = authenticators::parse_name(name, DEFAULT_NAME)?;
        if self.store.rename_passkey(user, id, &name).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// Removes one of the user's passkeys, with a recent proof of the
    /// account; never the last factor (turning MFA off does that).
    pub async fn remove(
        &self,
        user: &User,
        id: &PasskeyId,
        proof: &RecentProof,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        proof.check(user)?;
        if !self.store.list_passkeys(user.id).await?.iter().any(|p| &p.id == id) {
            return Err(CoreError::NotFound);
        }
        if !self.store.remove_passkey(user.id, id).await? {
            return Err(CoreError::Refused(Refusal::LastAuthenticator));
        }
        self.record_after_change(user.id, EventKind::PasskeyRemoved, client).await;
        Ok(())
    }

    /// Starts a sign-in with a passkey alone: any discoverable passkey may
    /// answer, and names its account itself (nothing here says whether an
    /// account exists or has passkeys). Each request counts against the
    /// address, as it writes a ceremony.
    pub async fn begin_sign_in(&self, client: &ClientInfo) -> Result<Challenge, CoreError> {
        let webauthn = self.ceremonies.webauthn()?;
        self.count_ceremony(client).await?;
        let (options, state) =
            webauthn.start_discoverable_authentication().map_err(|e| CoreError::Internal(e.to_string()))?;
        let challenge_id = random_token();
        self.ceremonies.keep(&challenge_id, Purpose::SignIn, None, "", &AssertionState::Discoverable(state)).await?;
        Ok(Challenge { challenge_id, public_key: public_key_of(&options)? })
    }

    /// Counts a ceremony begun without a session against the address.
    async fn count_ceremony(&self, client: &ClientInfo) -> Result<(), CoreError> {
        match &client.ip {
            Some(ip) => {
                let key = throttle::ceremony_key_for_address(ip);
                self.throttle.reserve(&key, &throttle::CEREMONIES_PER_ADDRESS).await.map(|_| ())
            }
            None => Ok(()),
        }
    }

    /// Finishes a sign-in with a passkey alone: a session that passed the
    /// passkey and user verification. Refusals count against the address
    /// (see [`Ceremonies::answer`]).
    pub async fn finish_sign_in(
        &self,
        challenge_id: &str,
        credential: &serde_json::Value,
        from: &SignInFrom<'_>,
    ) -> Result<SignedIn, CoreError> {
        let verified = self.ceremonies.answer(challenge_id, Purpose::SignIn, None, credential, from.client).await?;
        let user = self.store.find_user(verified.passkey.user_id).await?.ok_or(CoreError::InvalidPasskey)?;
        let factors = verified.factors;
        if user.locked {
            return Err(CoreError::AccountLocked);
        }
        self.sessions.open(user, from, factors, None).await
    }

    /// Starts the passkey answer to a pending sign-in's second step: the
    /// options offer the user's passkeys. The ceremony is named by the
    /// pending sign-in's token (a new call replaces it).
    pub async fn begin_second_factor(
        &self,
        pending_token: &str,
        client: &ClientInfo,
    ) -> Result<serde_json::Value, CoreError> {
        let webauthn = self.ceremonies.webauthn()?;
        let pending = self.mfa.pending_sign_in(pending_token).await?;
        self.count_ceremony(client).await?;
        let passkeys =
            self.store.list_passkeys(pending.user_id).await?.iter().map(passkey_of).collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(CoreError::NotFound);
        }
        let (options, state) =
            webauthn.start_passkey_authentication(&passkeys).map_err(|e| CoreError::Internal(e.to_string()))?;
        let state = AssertionState::OfUser(state);
        self.ceremonies.keep(pending_token, Purpose::SecondFactor, Some(pending.user_id), "", &state).await?;
        public_key_of(&options)
    }

    /// Whether the code step offers a passkey: passkeys work here and the
    /// user has one.
    pub async fn offered_at_code_step(&self, user: UserId) -> Result<bool, CoreError> {
        Ok(self.available() && !self.store.list_passkeys(user).await?.is_empty())
    }

    /// Records an event for a change already committed (a failure is logged).
    async fn record_after_change(&self, user: UserId, kind: EventKind, client: &ClientInfo) {
        if let Err(e) = self.events.record(user, kind, client).await {
            tracing::error!(user_id = %user, event = kind.as_str(), error = %e, "could not record a security event");
        }
    }
}
