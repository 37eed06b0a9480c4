//! TOTP multi-factor authentication: enrolment, code checks with replay
//! protection, recovery codes, and the second step of signing in.

pub(crate) mod authenticators;

pub use authenticators::{Adding, Authenticator, MAX_AUTHENTICATORS};

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::accounts::{hashing_client, RecentProof};
use crate::clock::SharedClock;
use crate::domain::{AuthenticatorId, SessionId, TrustedDeviceId, User, UserId};
use crate::error::{CoreError, Refusal};
use crate::events::{EventKind, Events, Guesses};
use crate::password::PasswordHasher;
use crate::recovery::{self, SecondFactorCode};
use crate::secret_box::SecretBox;
use crate::sessions::{ClientInfo, DeviceTrust, Factor, Session, Sessions, SignInFrom, SignedIn};
use crate::store::{
    AuthenticatorRecord, MfaStore, PasskeyStore, PendingSignInRecord, SessionStore, Store, TrustedDeviceRecord,
    UserStore,
};
use crate::throttle::{self, Throttle};
use crate::token::token_hash;
use crate::totp::{self, TotpSecret};
use crate::webauthn::{Ceremonies, Purpose};

/// How long a pending enrolment keeps its secret (a reload shows the same QR
/// code); a secret handed out but never confirmed dies within 10 minutes
/// (docs/SECURITY.md, row ENR-02).
const ENROLMENT_TTL: Duration = Duration::minutes(10);
/// How long a pending sign-in waits for its code: 5 minutes.
pub const PENDING_SIGN_IN_TTL: Duration = Duration::minutes(5);
/// The largest clock offset, in steps, learned for an authenticator (1 min).
const MAX_DRIFT_STEPS: i64 = 2;
/// How far (in steps) a wrong enrolment code is looked up to tell a person
/// their phone's clock is off (10 minutes either way).
const CLOCK_DIAGNOSIS_STEPS: u64 = 20;

/// Wrong codes after which a pending sign-in dies: 5.
pub const PENDING_SIGN_IN_MAX_FAILURES: u32 = 5;

/// A secret being enrolled, with what the user needs to add it to an app.
/// `Debug` shows neither: the URI holds the secret too.
pub struct Enrolment {
    /// The shared secret.
    pub secret: TotpSecret,
    /// The Key Uri Format URI the QR code holds.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

impl Enrolment {
    /// The secret in base32, as apps take it typed in.
    pub fn secret_base32(&self) -> String {
        self.secret.to_base32()
    }

    /// The QR code of the URI, as inline SVG.
    pub fn qr_svg(&self) -> Result<String, CoreError> {
        totp::qr_svg(&self.otpauth_uri).ok_or_else(|| CoreError::Internal("QR code too large".into()))
    }
}

/// What the second step of a sign-in offers. No `Debug`: it holds a code.
#[derive(Clone, Copy)]
pub enum SecondStep<'a> {
    /// A TOTP or recovery code.
    Code(&'a str),
    /// A passkey's answer to the options of `Passkeys::begin_second_factor`.
    Passkey(&'a serde_json::Value),
}

/// A sign-in that passed the password and waits for a code.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    /// Who is signing in.
    pub user_id: UserId,
    /// The CSRF token of the code form.
    pub csrf_token: String,
}

/// The MFA service.
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn MfaStore>,
    passkeys: Arc<dyn PasskeyStore>,
    sign_ins: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    clock: SharedClock,
    key: SecretBox,
    hasher: PasswordHasher,
    sessions: Sessions,
    events: Events,
    throttle: Throttle,
    issuer: Arc<str>,
    trust_devices_for: Option<Duration>,
    ceremonies: Ceremonies,
}

/// The parts [`Mfa`] is built from.
pub struct MfaParts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: SharedClock,
    /// Seals TOTP secrets at rest.
    pub key: SecretBox,
    /// Hashes recovery codes.
    pub hasher: PasswordHasher,
    /// Starts the session a completed sign-in gets.
    pub sessions: Sessions,
    /// The event log.
    pub events: Events,
    /// Counts failed guesses.
    pub throttle: Throttle,
    /// The issuer named in authenticator apps.
    pub issuer: String,
    /// How long a trusted browser skips the code; `None`: trusting is off.
    pub trust_devices_for: Option<Duration>,
    /// Passkey ceremonies (a passkey answers the second step too).
    pub(crate) ceremonies: Ceremonies,
}

impl Mfa {
    /// Builds the service.
    pub fn new(parts: MfaParts) -> Self {
        let MfaParts { store, clock, key, hasher, sessions, events, throttle, issuer, trust_devices_for, ceremonies } =
            parts;
        Mfa {
            store: store.clone(),
            passkeys: store.clone(),
            sign_ins: store.clone(),
            users: store,
            clock,
            key,
            hasher,
            sessions,
            events,
            throttle,
            issuer: issuer.into(),
            trust_devices_for,
            ceremonies,
        }
    }

    /// The pending enrolment of `session`: the one in progress when `fresh`
    /// is false and one exists (a page reload shows the same secret), else a
    /// new secret that replaces any. Refused while MFA is on, and without a
    /// recent proof of the account.
    pub async fn enrolment(
        &self,
        user: &User,
        session: &SessionId,
        fresh: bool,
        proof: &RecentProof,
        client: &ClientInfo,
    ) -> Result<Enrolment, CoreError> {
        proof.check(user)?;
        if user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaAlreadyOn));
        }
        self.pending_enrolment(user, session, fresh, client).await
    }

    /// The pending secret (kept or fresh), for a first or a further
    /// authenticator. It belongs to `session`: another session of the account
    /// gets a fresh one, never this one's secret.
    async fn pending_enrolment(
        &self,
        user: &User,
        session: &SessionId,
        fresh: bool,
        client: &ClientInfo,
    ) -> Result<Enrolment, CoreError> {
        let now = self.clock.now();
        let pending = self.store.get_totp_enrolment(user.id, session, now).await?;
        if let (false, Some(sealed)) = (fresh, &pending) {
            return Ok(self.enrolment_for(user, self.unseal(user.id, sealed)?));
        }
        self.throttle.reserve(&throttle::enrolment_key_for_account(user.id), &throttle::ENROLMENTS_PER_ACCOUNT).await?;
        let secret = TotpSecret::generate();
        let sealed = self.seal(user.id, &secret);
        self.store.put_totp_enrolment(user.id, session, &sealed, now + ENROLMENT_TTL).await?;
        // A new secret for this session's own enrolment continues it: one
        // event per enrolment, however often the app asks again.
        if pending.is_none() {
            self.events.record(user.id, EventKind::MfaEnrolmentStarted, client).await?;
        }
        Ok(self.enrolment_for(user, secret))
    }

    fn enrolment_for(&self, user: &User, secret: TotpSecret) -> Enrolment {
        let otpauth_uri = totp::otpauth_uri(&self.issuer, user.username.as_str(), &secret);
        Enrolment { secret, otpauth_uri }
    }

    /// Turns MFA on when `code` is right for the pending secret; returns the
    /// recovery codes, shown this once. A wrong code keeps the enrolment.
    /// Every other session of the user ends: one opened before MFA (perhaps
    /// by whoever had the password) must not outlive it. Needs a recent
    /// proof of the account, as starting the enrolment did.
    pub async fn confirm_enrolment(
        &self,
        user: &User,
        name: &str,
        code: &str,
        session: &SessionId,
        proof: &RecentProof,
        client: &ClientInfo,
    ) -> Result<Vec<String>, CoreError> {
        proof.check(user)?;
        if user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaAlreadyOn));
        }
        let name = authenticators::parse_name(name, authenticators::DEFAULT_NAME)?;
        let (sealed, step) = self.check_enrolment_code(user, session, code, client).await?;
        self.code_accepted(user.id).await?;
        let codes = recovery::generate_set();
        let hashes = self.hash_codes(&codes, client).await?;
        let first = self.new_authenticator(name, sealed, step, client);
        // Every other session ends in the same transaction (no trusted
        // browser survives: none is stored while MFA is off).
        if !self.store.confirm_totp(user.id, &first, &hashes, session).await? {
            return Err(CoreError::Refused(Refusal::MfaAlreadyOn));
        }
        self.record_after_change(user.id, EventKind::MfaEnabled, client).await;
        Ok(codes)
    }

    /// Checks a code against the pending enrolment (counted like any code,
    /// its success not yet clearing the count): the sealed secret and the
    /// step it matched. A code from minutes away is [`CoreError::ClockOff`]:
    /// the phone's clock needs fixing, not the code.
    async fn check_enrolment_code(
        &self,
        user: &User,
        session: &SessionId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(Vec<u8>, i64), CoreError> {
        let now = self.clock.now();
        let Some(sealed) = self.store.get_totp_enrolment(user.id, session, now).await? else {
            return Err(CoreError::Refused(if self.store.totp_enrolment_elsewhere(user.id, session, now).await? {
                Refusal::EnrolmentReplaced
            } else {
                Refusal::NoEnrolment
            }));
        };
        let secret = self.unseal(user.id, &sealed)?;
        let failures = self.reserve_code_attempt(user.id, &throttle::CODES_PER_ACCOUNT, client).await?;
        let digits = match SecondFactorCode::parse(code) {
            Some(SecondFactorCode::Totp(digits)) => digits,
            _ => String::new(),
        };
        let Some(step) = secret.matching_step(&digits, unix(now), 0) else {
            self.record_wrong_code(user.id, failures, client).await?;
            return match secret.offset_of(&digits, unix(now), CLOCK_DIAGNOSIS_STEPS) {
                Some(steps) if steps.abs() >= 2 => Err(CoreError::ClockOff { seconds: steps * 30 }),
                _ => Err(CoreError::InvalidCode),
            };
        };
        Ok((sealed, step_i64(step)))
    }

    /// A confirmed authenticator's record, its confirming step spent.
    fn new_authenticator(&self, name: String, sealed: Vec<u8>, step: i64, client: &ClientInfo) -> AuthenticatorRecord {
        AuthenticatorRecord {
            id: AuthenticatorId::random(),
            name,
            secret_sealed: sealed,
            created_at: self.clock.now(),
            last_used_step: step,
            drift_steps: 0,
            last_used_ip: client.ip.clone(),
        }
    }

    /// Checks a TOTP or recovery code of a user with MFA on, spending it:
    /// a TOTP step is accepted once (a conditional update in the store), a
    /// recovery code once. Every refusal is [`CoreError::InvalidCode`].
    /// Every attempt is counted before it is evaluated (per account, shared by
    /// sign-in, disabling and regenerating, and per address); a throttled
    /// attempt is [`CoreError::RateLimited`] and not evaluated at all, so a
    /// right code then says nothing either. Returns which factor it was.
    pub async fn verify_code(&self, user: UserId, code: &str, client: &ClientInfo) -> Result<Factor, CoreError> {
        let parsed = SecondFactorCode::parse(code);
        let (policy, factor) = match parsed {
            Some(SecondFactorCode::Recovery(_)) => (&throttle::RECOVERY_CODES_PER_ACCOUNT, Factor::RecoveryCode),
            _ => (&throttle::CODES_PER_ACCOUNT, Factor::Totp),
        };
        let failures = self.reserve_code_attempt(user, policy, client).await?;
        let outcome = match parsed {
            Some(SecondFactorCode::Totp(digits)) => self.verify_totp(user, &digits, client).await?,
            Some(SecondFactorCode::Recovery(typed)) => self.spend_recovery_code(user, typed, client).await?,
            None => Outcome::Wrong,
        };
        match outcome {
            Outcome::Accepted(kind) => {
                self.code_accepted(user).await?;
                if let Some(kind) = kind {
                    self.record_after_change(user, kind, client).await;
                }
                Ok(factor)
            }
            Outcome::Wrong => {
                self.record_wrong_code(user, failures, client).await?;
                Err(CoreError::InvalidCode)
            }
            Outcome::Replayed { first_from } => {
                self.address_failed(client).await?;
                tracing::warn!(user_id = %user, "a code was replayed");
                self.events.record_replay(user, client, first_from).await?;
                Err(CoreError::InvalidCode)
            }
        }
    }

    /// A right code resets the account's count.
    async fn code_accepted(&self, user: UserId) -> Result<(), CoreError> {
        self.throttle.clear(&throttle::code_key_for_account(user)).await
    }

    /// A wrong (or replayed) code counts against the address it came from.
    async fn address_failed(&self, client: &ClientInfo) -> Result<(), CoreError> {
        match &client.ip {
            Some(ip) => {
                self.throttle.count_failure(&throttle::code_key_for_address(ip), &throttle::CODES_PER_ADDRESS).await
            }
            None => Ok(()),
        }
    }

    /// Checks the address, then counts the attempt against the account;
    /// returns the account's count, this attempt included.
    async fn reserve_code_attempt(
        &self,
        user: UserId,
        policy: &throttle::Policy,
        client: &ClientInfo,
    ) -> Result<u32, CoreError> {
        if let Some(ip) = &client.ip {
            self.throttle.check_slowly(&throttle::code_key_for_address(ip), &throttle::CODES_PER_ADDRESS).await?;
        }
        self.throttle.reserve(&throttle::code_key_for_account(user), policy).await
    }

    /// Records a wrong code, and the lockout when this failure started the
    /// delays or locked the factor.
    async fn record_wrong_code(&self, user: UserId, failures: u32, client: &ClientInfo) -> Result<(), CoreError> {
        self.address_failed(client).await?;
        self.events.record(user, EventKind::WrongCode, client).await?;
        if failures == throttle::CODES_PER_ACCOUNT.free {
            self.events.record_lockout(user, Guesses::Codes, client).await?;
        }
        if Some(failures) == throttle::CODES_PER_ACCOUNT.lock_after {
            tracing::warn!(user_id = %user, "TOTP factor locked after consecutive wrong codes");
            self.events.record(user, EventKind::MfaLocked, client).await?;
        }
        Ok(())
    }

    /// Tries the code against each of the user's authenticators; the first
    /// that matches decides.
    async fn verify_totp(&self, user: UserId, digits: &str, client: &ClientInfo) -> Result<Outcome, CoreError> {
        let now = unix(self.clock.now());
        for authenticator in self.store.list_authenticators(user).await? {
            let secret = self.unseal(user, &authenticator.secret_sealed)?;
            let drift = authenticator.drift_steps;
            // The window follows the learned offset; a phone whose clock was set
            // right again still gets the plain window, so fixing it locks no one out.
            let (matched, plain_fallback) = match secret.matching_step(digits, now, drift) {
                Some(step) => (Some(step), false),
                None if drift != 0 => (secret.matching_step(digits, now, 0), true),
                None => (None, false),
            };
            let Some(step) = matched.map(step_i64) else { continue };
            // RFC 6238 section 6: learn the offset from accepted codes only, bounded.
            let learned = (step - step_i64(totp::step_of(now))).clamp(-MAX_DRIFT_STEPS, MAX_DRIFT_STEPS);
            let ip = client.ip.as_deref();
            if self.store.use_totp_step(user, &authenticator.id, step, learned, ip).await? {
                return Ok(Outcome::Accepted(None));
            }
            // Refused. Only this authenticator's own code used twice is the
            // phishing sign; a step another authenticator spent, or the
            // trailing codes of a corrected clock, are refused quietly.
            let spent_here = self.store.list_authenticators(user).await?.into_iter().find(|a| a.id == authenticator.id);
            return Ok(match spent_here {
                Some(a) if a.last_used_step >= step && !plain_fallback => {
                    Outcome::Replayed { first_from: a.last_used_ip }
                }
                _ => Outcome::Wrong,
            });
        }
        Ok(Outcome::Wrong)
    }

    async fn spend_recovery_code(
        &self,
        user: UserId,
        typed: String,
        client: &ClientInfo,
    ) -> Result<Outcome, CoreError> {
        let stored = self.store.unused_recovery_codes(user).await?;
        let candidates = stored.iter().map(|c| (c.id, c.code_hash.clone())).collect();
        let Some(id) = self.hasher.find_code(typed, candidates, &hashing_client(client)).await? else {
            return Ok(Outcome::Wrong);
        };
        let Some(code) = stored.iter().find(|c| c.id == id) else {
            return Ok(Outcome::Wrong);
        };
        if self.store.use_recovery_code(user, code, self.clock.now()).await? {
            Ok(Outcome::Accepted(Some(EventKind::RecoveryCodeUsed)))
        } else {
            Ok(Outcome::Replayed { first_from: None })
        }
    }

    /// The hashes of a new set of recovery codes.
    pub(crate) async fn hash_codes(&self, codes: &[String], client: &ClientInfo) -> Result<Vec<String>, CoreError> {
        let normalised = codes.iter().map(|c| recovery::normalise(c)).collect();
        self.hasher.hash_codes(normalised, &hashing_client(client)).await
    }

    /// Turns MFA off with a current code; the recovery codes die with it,
    /// and the code renews `session`'s proof of the account (in the store and
    /// in the caller's copy).
    pub async fn disable(
        &self,
        user: &User,
        session: &mut Session,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        if !user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaOff));
        }
        self.verify_code(user.id, code, client).await?;
        self.store.delete_totp_factor(user.id).await?;
        // The code just proved the account: enrolling again straight away
        // asks for nothing more.
        let now = self.clock.now();
        if self.sessions.mark_proven(&session.id, now).await? {
            session.proven_at = now;
        }
        self.record_after_change(user.id, EventKind::MfaDisabled, client).await;
        Ok(())
    }

    /// A new set of recovery codes for a current code; the old set is void.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &User,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, CoreError> {
        if !user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaOff));
        }
        self.verify_code(user.id, code, client).await?;
        let codes = recovery::generate_set();
        let hashes = self.hash_codes(&codes, client).await?;
        if !self.store.replace_recovery_codes(user.id, &hashes).await? {
            return Err(CoreError::Refused(Refusal::MfaOff));
        }
        self.record_after_change(user.id, EventKind::RecoveryCodesRegenerated, client).await;
        Ok(codes)
    }

    /// How many unspent recovery codes the user has left.
    pub async fn recovery_codes_left(&self, user: UserId) -> Result<usize, CoreError> {
        Ok(self.store.unused_recovery_codes(user).await?.len())
    }

    /// Opens a pending sign-in for a user whose password was right.
    pub(crate) async fn begin_sign_in(
        &self,
        user: &User,
        password_fingerprint: String,
        client: &ClientInfo,
    ) -> Result<(String, PendingSignIn), CoreError> {
        let token = crate::token::random_token();
        let now = self.clock.now();
        let record = PendingSignInRecord {
            token_hash: token_hash(&token),
            user_id: user.id,
            csrf_token: crate::token::random_token(),
            expires_at: now + PENDING_SIGN_IN_TTL,
            failures: 0,
            client: client.clone(),
            password_fingerprint,
        };
        self.sign_ins.insert_pending_sign_in(&record, now).await?;
        Ok((token, PendingSignIn { user_id: user.id, csrf_token: record.csrf_token }))
    }

    /// The live pending sign-in behind a token (unknown, expired or used up:
    /// [`CoreError::Unauthenticated`]).
    pub async fn pending_sign_in(&self, token: &str) -> Result<PendingSignIn, CoreError> {
        let record = self
            .sign_ins
            .get_pending_sign_in(&token_hash(token), self.clock.now(), PENDING_SIGN_IN_MAX_FAILURES)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        Ok(PendingSignIn { user_id: record.user_id, csrf_token: record.csrf_token })
    }

    /// The second step: every attempt counts against the pending sign-in
    /// before its code (or passkey) is checked (so parallel guesses cannot
    /// exceed five); a right one turns it into a session, once, and with
    /// `trust` also trusts the client (a trust that cannot be saved is
    /// logged: the sign-in stands).
    pub async fn complete_sign_in(
        &self,
        token: &str,
        step: SecondStep<'_>,
        trust: bool,
        from: &SignInFrom<'_>,
    ) -> Result<SignedIn, CoreError> {
        let client = from.client;
        let hash = token_hash(token);
        let now = self.clock.now();
        let pending = self
            .sign_ins
            .claim_pending_attempt(&hash, now, PENDING_SIGN_IN_MAX_FAILURES)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let user = self.users.find_user(pending.user_id).await?.ok_or(CoreError::Unauthenticated)?;
        if user.locked {
            return Err(CoreError::AccountLocked);
        }
        let mut factors = vec![Factor::Password];
        match step {
            SecondStep::Code(code) => factors.push(self.verify_code(pending.user_id, code, client).await?),
            SecondStep::Passkey(credential) => {
                // The ceremony is named by the pending sign-in's token (an answer counts once).
                let answer = self.ceremonies.answer(token, Purpose::SecondFactor, Some(user.id), credential, client);
                factors.extend(answer.await?.factors)
            }
        }
        if !self.sign_ins.take_pending_sign_in(&hash, self.clock.now()).await? {
            return Err(CoreError::Unauthenticated);
        }
        let checked = Some(pending.password_fingerprint);
        let mut signed_in = self.sessions.open(user, from, factors, checked).await?;
        if trust {
            signed_in.device = match self.trust_device(signed_in.user.id, client).await {
                Ok(device) => device,
                Err(e) => {
                    tracing::warn!(user_id = %signed_in.user.id, error = %e, "could not trust the browser");
                    None
                }
            };
        }
        Ok(signed_in)
    }

    /// The issuer authenticator apps show the account under (the code step
    /// names it, so people look for the right entry).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long a trusted browser skips the code, or `None` when an operator
    /// turned trusting off.
    pub fn trust_devices_for(&self) -> Option<Duration> {
        self.trust_devices_for
    }

    /// Trusts the browser the user signs in from: returns the token its
    /// cookie (or the API client) keeps. `None` when trusting is off.
    async fn trust_device(&self, user: UserId, client: &ClientInfo) -> Result<Option<DeviceTrust>, CoreError> {
        let Some(period) = self.trust_devices_for else { return Ok(None) };
        let token = crate::token::random_token();
        let now = self.clock.now();
        let record = TrustedDeviceRecord {
            id: TrustedDeviceId::random(),
            user_id: user,
            token_hash: token_hash(&token),
            created_at: now,
            expires_at: now + period,
            client: client.clone(),
        };
        // False: MFA was turned off meanwhile, and a trust must not outlive it.
        if !self.store.insert_trusted_device(&record).await? {
            return Ok(None);
        }
        self.record_after_change(user, EventKind::DeviceTrusted, client).await;
        Ok(Some(DeviceTrust { token, lasts: period }))
    }

    /// Whether `token` names a browser this user trusted, still in force.
    pub(crate) async fn is_trusted_device(&self, user: UserId, token: &str) -> Result<bool, CoreError> {
        if self.trust_devices_for.is_none() {
            return Ok(false);
        }
        Ok(self.store.is_trusted_device(user, &token_hash(token), self.clock.now()).await?)
    }

    /// The user's trusted browsers, newest first.
    pub async fn trusted_devices(&self, user: UserId) -> Result<Vec<TrustedDeviceRecord>, CoreError> {
        Ok(self.store.list_trusted_devices(user, self.clock.now()).await?)
    }

    /// Forgets one trusted browser: the next sign-in there asks for a code.
    pub async fn forget_device(&self, user: UserId, id: &TrustedDeviceId) -> Result<(), CoreError> {
        if self.store.delete_trusted_device(user, id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// Records an event for a change already committed: a failure to record
    /// is logged, not returned, so the user is not told "failed" about a
    /// change that happened (and, for new codes, never shown them).
    async fn record_after_change(&self, user: UserId, kind: EventKind, client: &ClientInfo) {
        if let Err(e) = self.events.record(user, kind, client).await {
            tracing::error!(user_id = %user, event = kind.as_str(), error = %e, "could not record a security event");
        }
    }

    fn seal(&self, user: UserId, secret: &TotpSecret) -> Vec<u8> {
        self.key.seal(secret.as_bytes(), user.0.as_bytes())
    }

    /// Fails closed: a secret that does not open (wrong key, a row copied to
    /// another user) is an error, never a pass.
    fn unseal(&self, user: UserId, sealed: &[u8]) -> Result<TotpSecret, CoreError> {
        self.key.open(sealed, user.0.as_bytes()).map(TotpSecret::from_bytes).map_err(|_| {
            CoreError::Internal(format!("the TOTP secret of user {user} does not open under the server key"))
        })
    }
}

/// What checking a code found.
enum Outcome {
    /// Right and unspent; the event to record, if any beyond the caller's.
    Accepted(Option<EventKind>),
    /// Not a code of this user.
    Wrong,
    /// Right, but already spent; where it was first used, when known.
    Replayed {
        /// The address of the first use.
        first_from: Option<String>,
    },
}

fn unix(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp()).unwrap_or(0)
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}
