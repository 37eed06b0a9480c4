//! WebAuthn below the passkeys service and the code step, which both use it:
//! the relying party, the ceremonies' state kept in the store between the
//! options and the answer (any process may finish what another began; a
//! challenge answers once and lives 5 minutes), and the check of an
//! assertion against a stored passkey, with its counter.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::Duration;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AuthenticationResult, DiscoverableAuthentication, DiscoverableKey,
    Passkey, PasskeyAuthentication, PublicKeyCredential, Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::clock::SharedClock;
use crate::domain::UserId;
use crate::error::{CoreError, Refusal};
use crate::events::{EventKind, Events};
use crate::sessions::{ClientInfo, Factor};
use crate::store::{CeremonyRecord, PasskeyRecord, PasskeyStore};
use crate::throttle::{self, Throttle};
use crate::token::token_hash;

/// Who the relying party is: the host passkeys are bound to, and the
/// origin the browser must report.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// The relying party id: the public URL's host, or a parent domain of it.
    pub id: String,
    /// The public URL's origin.
    pub origin: Url,
    /// The name authenticators show ("Latchkey").
    pub name: String,
    /// Which authenticators may be added: `None`, any (no attestation asked).
    pub attestation: Option<Attestation>,
}

/// `webauthn_attestation = "direct"`: only authenticators whose attestation
/// statement chains to one of these roots, of one of these models, may be
/// added (for operators who require specific hardware keys). The AAGUID
/// alone would prove nothing: any software can claim one; the vendor's
/// signature over it is what counts.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// The vendors' attestation root certificates, PEM.
    pub roots_pem: Vec<Vec<u8>>,
    /// The models (AAGUIDs) allowed.
    pub aaguids: Vec<Uuid>,
}

impl Attestation {
    /// The library's list: each root admits each of the models.
    fn ca_list(&self) -> Result<AttestationCaList, String> {
        let mut builder = AttestationCaListBuilder::new();
        for (i, pem) in self.roots_pem.iter().enumerate() {
            for aaguid in &self.aaguids {
                builder
                    .insert_device_pem(pem, *aaguid, aaguid.to_string(), Default::default())
                    .map_err(|e| format!("certificate {} is not a PEM certificate: {e}", i + 1))?;
            }
        }
        Ok(builder.build())
    }

    /// Whether every root reads as a certificate.
    pub fn check(&self) -> Result<(), String> {
        self.ca_list().map(|_| ())
    }
}

impl RelyingParty {
    /// The relying party for a public URL, or `None` when WebAuthn cannot
    /// work there: browsers refuse an IP address as a relying party id.
    pub fn for_public_url(
        public_url: &str,
        rp_id: Option<&str>,
        name: &str,
        attestation: Option<Attestation>,
    ) -> Option<RelyingParty> {
        let origin = Url::parse(public_url).ok()?;
        let host = match origin.host()? {
            url::Host::Domain(host) => host.to_string(),
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
        };
        let id = rp_id.map(str::to_string).unwrap_or(host);
        Some(RelyingParty { id, origin, name: name.to_string(), attestation })
    }

    /// The library's relying party and the attestation roots, if asked for;
    /// an id that is not the origin's host or a parent of it is refused
    /// here, at start.
    pub(crate) fn build(&self) -> Result<(Webauthn, Option<AttestationCaList>), CoreError> {
        let webauthn = WebauthnBuilder::new(&self.id, &self.origin)
            .and_then(|builder| builder.rp_name(&self.name).build())
            .map_err(|e| CoreError::Internal(format!("WebAuthn relying party {:?}: {e}", self.id)))?;
        let cas = self.attestation.as_ref().map(Attestation::ca_list).transpose().map_err(CoreError::Internal)?;
        Ok((webauthn, cas))
    }
}

/// How long a challenge waits for its answer.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// What a ceremony is for; a challenge begun for one cannot finish another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Adding a passkey to a signed-in account.
    Register,
    /// Signing in with a passkey alone.
    SignIn,
    /// The second step of a sign-in that passed the password.
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
            Purpose::SecondFactor => "second_factor",
        }
    }
}

/// The state an assertion is checked against.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum AssertionState {
    /// The passkeys of a known user were offered.
    OfUser(PasskeyAuthentication),
    /// Any discoverable passkey may answer (the user is found from it).
    Discoverable(DiscoverableAuthentication),
}

/// An assertion that verified, and the passkey that made it.
pub(crate) struct Verified {
    /// The passkey, as recorded after this use.
    pub passkey: PasskeyRecord,
    /// What the sign-in passed: the passkey, and user verification.
    pub factors: Vec<Factor>,
}

/// The WebAuthn relying party and the store of its ceremonies.
#[derive(Clone)]
pub(crate) struct Ceremonies {
    webauthn: Option<Arc<Webauthn>>,
    attestation: Option<Arc<AttestationCaList>>,
    throttle: Throttle,
    store: Arc<dyn PasskeyStore>,
    clock: SharedClock,
    events: Events,
}

/// The base64url text of a credential id, as the browser and the store name it.
pub(crate) fn credential_id_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Any failure to read or verify what the browser sent: one refusal, with
/// the library's reason logged (it helps an operator, never an attacker).
fn refused(e: impl std::fmt::Display) -> CoreError {
    tracing::info!(reason = %e, "a WebAuthn answer was refused");
    CoreError::InvalidPasskey
}

impl Ceremonies {
    pub(crate) fn new(
        relying_party: Option<(Webauthn, Option<AttestationCaList>)>,
        store: Arc<dyn PasskeyStore>,
        clock: SharedClock,
        events: Events,
        throttle: Throttle,
    ) -> Self {
        let (webauthn, attestation) = match relying_party {
            Some((webauthn, cas)) => (Some(Arc::new(webauthn)), cas.map(Arc::new)),
            None => (None, None),
        };
        Ceremonies { webauthn, attestation, throttle, store, clock, events }
    }

    /// The attestation roots a new passkey must chain to, when the operator
    /// requires specific hardware keys.
    pub(crate) fn attestation(&self) -> Option<&AttestationCaList> {
        self.attestation.as_deref()
    }

    /// The relying party, or the refusal when passkeys cannot work here (a
    /// public URL with an IP address).
    pub(crate) fn webauthn(&self) -> Result<&Webauthn, CoreError> {
        self.webauthn.as_deref().ok_or(CoreError::Refused(Refusal::WebauthnUnavailable))
    }

    /// Whether passkeys can be offered at all.
    pub(crate) fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Keeps a ceremony's state under `name` (a random challenge id, or a
    /// pending sign-in's token).
    pub(crate) async fn keep(
        &self,
        name: &str,
        purpose: Purpose,
        user: Option<UserId>,
        bound_to: &str,
        state: &impl Serialize,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let state = serde_json::to_string(state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let record = CeremonyRecord {
            key: token_hash(name),
            purpose: purpose.as_str().to_string(),
            user_id: user,
            bound_to: bound_to.to_string(),
            state,
            expires_at: now + CEREMONY_TTL,
        };
        Ok(self.store.put_ceremony(&record, now).await?)
    }

    /// Takes (once) the ceremony kept under `name` for `purpose`, bound to
    /// `bound_to`: unknown, expired, another's or already taken is
    /// [`CoreError::InvalidPasskey`].
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        name: &str,
        purpose: Purpose,
        bound_to: &str,
    ) -> Result<(CeremonyRecord, T), CoreError> {
        let record = self
            .store
            .take_ceremony(&token_hash(name), purpose.as_str(), bound_to, self.clock.now())
            .await?
            .ok_or(CoreError::InvalidPasskey)?;
        let state = serde_json::from_str(&record.state).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok((record, state))
    }

    /// Checks an assertion: the passkey it names must be stored (and be
    /// `expected`'s when given), the library's checks must pass (challenge,
    /// origin, relying party id, signature, user verification), and the
    /// counter must grow. A counter that did not is refused and recorded as
    /// `passkey_clone_suspected`.
    /// An answer to the assertion ceremony kept under `name`: taken once,
    /// for `expected`'s account when given (else the passkey names it), and
    /// verified. The address's limit of wrong codes is checked first, and a
    /// refused answer counts against it as a wrong code does.
    pub(crate) async fn answer(
        &self,
        name: &str,
        purpose: Purpose,
        expected: Option<UserId>,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<Verified, CoreError> {
        self.webauthn()?;
        let address_key = client.ip.as_deref().map(throttle::code_key_for_address);
        if let Some(key) = &address_key {
            self.throttle.check_slowly(key, &throttle::CODES_PER_ADDRESS).await?;
        }
        let checked = async {
            let (ceremony, state) = self.take::<AssertionState>(name, purpose, "").await?;
            if expected.is_some() && ceremony.user_id != expected {
                return Err(CoreError::InvalidPasskey);
            }
            self.verify(credential, state, expected, client).await
        };
        let result = checked.await;
        if let (Err(CoreError::InvalidPasskey), Some(key)) = (&result, &address_key) {
            self.throttle.count_failure(key, &throttle::CODES_PER_ADDRESS).await?;
        }
        result
    }

    async fn verify(
        &self,
        credential: &serde_json::Value,
        state: AssertionState,
        expected: Option<UserId>,
        client: &ClientInfo,
    ) -> Result<Verified, CoreError> {
        let webauthn = self.webauthn()?;
        let answer: PublicKeyCredential = serde_json::from_value(credential.clone()).map_err(refused)?;
        let cred_id = credential_id_text(answer.get_credential_id());
        let record = self.store.find_passkey(&cred_id).await?.ok_or(CoreError::InvalidPasskey)?;
        if expected.is_some_and(|user| user != record.user_id) {
            return Err(CoreError::InvalidPasskey);
        }
        let mut passkey = passkey_of(&record)?;
        let result = match state {
            AssertionState::OfUser(state) => webauthn.finish_passkey_authentication(&answer, &state),
            AssertionState::Discoverable(state) => {
                let (user, _) = webauthn.identify_discoverable_authentication(&answer).map_err(refused)?;
                if user != record.user_id.0 {
                    return Err(CoreError::InvalidPasskey);
                }
                let key = DiscoverableKey::from(&passkey);
                webauthn.finish_discoverable_authentication(&answer, state, &[key])
            }
        };
        // The library compares the counter with the one the options were
        // made with; the stored one may have moved since: compare again.
        let cloned = match &result {
            Err(WebauthnError::CredentialPossibleCompromise) => true,
            Ok(result) => result.counter() <= record.sign_count && (result.counter() > 0 || record.sign_count > 0),
            Err(_) => false,
        };
        if cloned {
            self.clone_suspected(&record, client).await;
            return Err(CoreError::InvalidPasskey);
        }
        let result = result.map_err(refused)?;
        let used = self.used(record, &mut passkey, &result)?;
        if !self.store.record_passkey_use(&used.0, used.1).await? {
            // Another use of the same passkey moved its counter meanwhile.
            return Err(CoreError::InvalidPasskey);
        }
        let mut factors = vec![Factor::Passkey];
        if result.user_verified() {
            factors.push(Factor::UserVerified);
        }
        Ok(Verified { passkey: used.0, factors })
    }

    /// A counter that did not grow: the key may have been copied. The use is
    /// refused whether or not the event can be written (a failure is logged).
    async fn clone_suspected(&self, record: &PasskeyRecord, client: &ClientInfo) {
        tracing::warn!(user_id = %record.user_id, passkey = %record.id, "a passkey's counter did not grow");
        if let Err(e) = self.events.record(record.user_id, EventKind::PasskeyCloneSuspected, client).await {
            tracing::error!(user_id = %record.user_id, error = %e, "could not record a security event");
        }
    }

    /// The record after a use, and the counter it had before.
    fn used(
        &self,
        record: PasskeyRecord,
        passkey: &mut Passkey,
        result: &AuthenticationResult,
    ) -> Result<(PasskeyRecord, u32), CoreError> {
        passkey.update_credential(result);
        let previous = record.sign_count;
        let credential = serde_json::to_string(passkey).map_err(|e| CoreError::Internal(e.to_string()))?;
        let used = PasskeyRecord {
            credential,
            sign_count: result.counter(),
            backup_eligible: result.backup_eligible(),
            backed_up: result.backup_state(),
            last_used_at: Some(self.clock.now()),
            ..record
        };
        Ok((used, previous))
    }
}

/// The library's record of a stored passkey.
pub(crate) fn passkey_of(record: &PasskeyRecord) -> Result<Passkey, CoreError> {
    serde_json::from_str(&record.credential)
        .map_err(|e| CoreError::Internal(format!("passkey {} does not read back: {e}", record.id)))
}
