//! The errors the services return: expected outcomes are values, failures are opaque.

use std::collections::BTreeMap;

use crate::store::StoreError;

/// Validation messages keyed by field name, as the contract's `fields` map shows them.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// Why a service call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// One or more fields break the rules of contract section 4.
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
    /// A wrong code that would have been right this many seconds away: the
    /// device's clock is off (said only at enrolment, nothing is accepted).
    #[error("the device clock is off by {seconds} s")]
    ClockOff {
        /// Positive: the device is ahead.
        seconds: i64,
    },
    /// Enrolment asked for while MFA is already on.
    #[error("multi-factor authentication is already on")]
    MfaAlreadyOn,
    /// An MFA action for a user without MFA, or a confirmation without an enrolment.
    #[error("{0}")]
    MfaMissing(&'static str),
    /// An action the account's state forbids (removing the last
    /// authenticator, adding one past the limit); the text says why.
    #[error("{0}")]
    Refused(&'static str),
    /// Too many failed attempts: try again after this many seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
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
