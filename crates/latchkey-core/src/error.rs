//! The errors the services return: expected outcomes are values, failures are opaque.

use std::collections::BTreeMap;

use crate::store::StoreError;

/// Validation messages keyed by field name, as the API's `fields` map shows them.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// An action the account's state forbids, named so that each audience (the
/// pages, the API) words it once, in its own voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Enrolment or confirmation asked for while MFA is already on.
    MfaAlreadyOn,
    /// An MFA action (turn off, new recovery codes, another authenticator)
    /// for an account with MFA off.
    MfaOff,
    /// A confirmation without a live enrolment of this session: none was
    /// started, it expired, or another session's replaced it.
    NoEnrolment,
    /// A confirmation whose enrolment another session of the account
    /// replaced by starting its own (one pending enrolment per account).
    EnrolmentReplaced,
    /// Adding an authenticator past [`crate::mfa::MAX_AUTHENTICATORS`].
    TooManyAuthenticators,
    /// Removing the only authenticator (turning MFA off does that).
    LastAuthenticator,
    /// The authenticator to remove went, or the others did, meanwhile.
    AuthenticatorsChanged,
    /// A sign-in with the password alone, while MFA was turned on for the
    /// account: it has to start again (and will ask for a code).
    MfaTurnedOnMeanwhile,
    /// Making an app token past the most an account may hold.
    TooManyAppTokens,
    /// Making an app token, with MFA on, from a session whose sign-in did
    /// not pass a second factor: a token carries the strength of its maker.
    SecondFactorRequired,
    /// A passkey call where passkeys cannot work: the public URL's host is
    /// an IP address, which browsers refuse as a relying party.
    WebauthnUnavailable,
    /// Adding a passkey past [`crate::passkeys::MAX_PASSKEYS`].
    TooManyPasskeys,
    /// Adding a credential that is registered already (to any account).
    PasskeyRegistered,
    /// A link (password reset, email verification) asked for where no
    /// mail is configured.
    NoMail,
    /// A verification link asked for an address that is verified already.
    EmailVerifiedAlready,
    /// Removing an OpenID Connect client that the config file defines.
    ClientInConfig,
}

/// Why a service call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// One or more fields break their rules (username, email, password, name).
    #[error("validation failed")]
    Validation(FieldErrors),
    /// A unique value (username, email) is taken; the field says which.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// Wrong login or password; deliberately silent about which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password for an account an operator locked.
    #[error("account locked")]
    AccountLocked,
    /// A wrong, expired or already used TOTP or recovery code.
    #[error("invalid code")]
    InvalidCode,
    /// The code typed for a new authenticator is wrong (as
    /// [`CoreError::InvalidCode`], but naming which of two codes it was).
    #[error("invalid code for the new authenticator")]
    InvalidNewCode,
    /// A passkey's answer that does not verify (unknown or used challenge,
    /// wrong origin or relying party, bad signature, no user verification,
    /// a counter that did not grow), or that names no stored passkey.
    #[error("invalid passkey")]
    InvalidPasskey,
    /// A password reset link that is unknown, used, expired, or older than
    /// the password.
    #[error("invalid reset link")]
    InvalidResetLink,
    /// An email link that is unknown, used, expired, or for an address the
    /// account no longer has.
    #[error("invalid email link")]
    InvalidEmailLink,
    /// A right sign-in to an account whose address is not verified, where
    /// `require_verified_email` is set.
    #[error("email unverified")]
    EmailUnverified,
    /// A wrong code that would have been right this many seconds away: the
    /// device's clock is off (said only at enrolment, nothing is accepted).
    #[error("the device clock is off by {seconds} s")]
    ClockOff {
        /// Positive: the device is ahead.
        seconds: i64,
    },
    /// An action the account's state forbids; the reason says which rule.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// Too many failed attempts: try again after this many seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// A change to how the account is proven, asked for by a session whose
    /// last proof of the account is too old, with no password or code along:
    /// the caller must prove it again (docs/SECURITY.md, row P2-SUDO-01).
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// A missing, unknown, expired or revoked session token.
    #[error("unauthenticated")]
    Unauthenticated,
    /// The thing asked for does not exist (or is not the caller's).
    #[error("not found")]
    NotFound,
    /// Too many password hashes are queued; the caller should retry shortly.
    #[error("busy")]
    Busy,
    /// The store failed; details are logged, never shown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen (a poisoned hash task, corrupt data).
    #[error("internal error: {0}")]
    Internal(String),
}
