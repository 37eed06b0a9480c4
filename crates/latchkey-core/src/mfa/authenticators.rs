//! Several named authenticators per user ("Pixel", "YubiKey OATH"): any of
//! them signs in. Adding one takes a code from the new one (it works) and a
//! current code from one the user already has (the holder of a stolen
//! session cannot plant their own); removing one takes a current code and
//! never takes the last (turning MFA off does that, with its own warning).

use time::OffsetDateTime;

use super::{Enrolment, Mfa};
use crate::domain::{AuthenticatorId, SessionId, User, UserId};
use crate::error::{CoreError, FieldErrors, Refusal};
use crate::events::EventKind;
use crate::sessions::ClientInfo;
use crate::store::AuthenticatorRecord;
use crate::totp;

/// At most this many authenticators per user. Every guess is tried against
/// each of them, so n authenticators make a guess n times likelier: with 3,
/// the required odds still hold (NIST SP 800-63B 5.2.2; 100 guesses: 9e-4 < 1e-3; the first 15
/// minutes' 9 guesses: 8.1e-5 < 1e-4; docs/SECURITY.md).
pub const MAX_AUTHENTICATORS: u32 = 3;
/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 40;
/// The name of an authenticator added without one.
pub(super) const DEFAULT_NAME: &str = "Authenticator";

/// What adding an authenticator takes. No `Debug`: it holds codes.
pub struct Adding<'a> {
    /// The name to give it.
    pub name: &'a str,
    /// The code the new authenticator shows now.
    pub code: &'a str,
    /// A current code of an authenticator the user has, or a recovery code.
    pub current_code: &'a str,
}

/// One of a user's authenticators, as its owner sees it.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// Public id (to remove it).
    pub id: AuthenticatorId,
    /// The owner's name for it.
    pub name: String,
    /// When it was added.
    pub added_at: OffsetDateTime,
    /// When its last accepted code was current.
    pub last_used_at: OffsetDateTime,
    /// How far its clock seems off, in seconds (positive: ahead).
    pub clock_offset_seconds: i64,
}

impl From<AuthenticatorRecord> for Authenticator {
    fn from(record: AuthenticatorRecord) -> Self {
        let step = i64::try_from(totp::STEP_SECONDS).unwrap_or(30);
        Authenticator {
            id: record.id,
            name: record.name,
            added_at: record.created_at,
            last_used_at: OffsetDateTime::from_unix_timestamp(record.last_used_step.saturating_mul(step))
                .unwrap_or(record.created_at),
            clock_offset_seconds: record.drift_steps * step,
        }
    }
}

/// A name as typed: trimmed, at most 40 characters, no control characters;
/// empty gets `default`.
pub(crate) fn parse_name(raw: &str, default: &str) -> Result<String, CoreError> {
    let name = raw.trim();
    let problem = if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("Use at most {MAX_NAME_CHARS} characters."))
    } else if name.chars().any(char::is_control) {
        Some("Use letters, digits, spaces and punctuation only.".to_string())
    } else {
        None
    };
    match problem {
        Some(message) => Err(CoreError::Validation(FieldErrors::from([("name", message)]))),
        None if name.is_empty() => Ok(default.to_string()),
        None => Ok(name.to_string()),
    }
}

impl Mfa {
    /// The user's authenticators, oldest first.
    pub async fn authenticators(&self, user: UserId) -> Result<Vec<Authenticator>, CoreError> {
        Ok(self.store.list_authenticators(user).await?.into_iter().map(Authenticator::from).collect())
    }

    /// A pending secret for a further authenticator, of `session` (kept
    /// across reloads unless `fresh`). Needs MFA on: the first one is
    /// [`Mfa::enrolment`].
    pub async fn begin_adding(
        &self,
        user: &User,
        session: &SessionId,
        fresh: bool,
        client: &ClientInfo,
    ) -> Result<Enrolment, CoreError> {
        if !user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaOff));
        }
        self.pending_enrolment(user, session, fresh, client).await
    }

    /// Adds the pending authenticator of `session` when the new code is right
    /// for it and the current code (of an authenticator the user has, or a
    /// recovery code) is right too.
    pub async fn add_authenticator(
        &self,
        user: &User,
        session: &SessionId,
        adding: &Adding<'_>,
        client: &ClientInfo,
    ) -> Result<Authenticator, CoreError> {
        if !user.mfa_enabled {
            return Err(CoreError::Refused(Refusal::MfaOff));
        }
        let name = parse_name(adding.name, DEFAULT_NAME)?;
        if self.store.list_authenticators(user.id).await?.len() >= MAX_AUTHENTICATORS as usize {
            return Err(CoreError::Refused(Refusal::TooManyAuthenticators));
        }
        // The new code first: a wrong one spends nothing. Its success clears
        // no throttle, so guesses at the current code stay counted.
        let (sealed, step) = match self.check_enrolment_code(user, session, adding.code, client).await {
            Err(CoreError::InvalidCode) => return Err(CoreError::InvalidNewCode),
            checked => checked?,
        };
        self.verify_code(user.id, adding.current_code, client).await?;
        let record = self.new_authenticator(name, sealed, step, client);
        if !self.store.add_authenticator(user.id, &record, MAX_AUTHENTICATORS).await? {
            return Err(CoreError::Refused(Refusal::TooManyAuthenticators));
        }
        self.record_after_change(user.id, EventKind::AuthenticatorAdded, client).await;
        Ok(record.into())
    }

    /// Removes one of the user's authenticators for a current code; the last
    /// one stays (turning MFA off removes it).
    pub async fn remove_authenticator(
        &self,
        user: &User,
        id: &AuthenticatorId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let all = self.store.list_authenticators(user.id).await?;
        if !all.iter().any(|a| &a.id == id) {
            return Err(CoreError::NotFound);
        }
        if all.len() == 1 && self.passkeys.list_passkeys(user.id).await?.is_empty() {
            return Err(CoreError::Refused(Refusal::LastAuthenticator));
        }
        self.verify_code(user.id, code, client).await?;
        if !self.store.remove_authenticator(user.id, id).await? {
            // Removed meanwhile, or the others were.
            return Err(CoreError::Refused(Refusal::AuthenticatorsChanged));
        }
        self.record_after_change(user.id, EventKind::AuthenticatorRemoved, client).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_default_when_empty() {
        assert_eq!(parse_name("  Pixel 8 ", DEFAULT_NAME).unwrap(), "Pixel 8");
        assert_eq!(parse_name("", DEFAULT_NAME).unwrap(), DEFAULT_NAME);
        assert_eq!(parse_name("Ünïcödé ключ 🔑", DEFAULT_NAME).unwrap(), "Ünïcödé ключ 🔑");
        assert!(parse_name(&"x".repeat(41), DEFAULT_NAME).is_err());
        assert!(parse_name("a\u{0}b", DEFAULT_NAME).is_err());
        assert!(parse_name("line\nbreak", DEFAULT_NAME).is_err());
    }
}
