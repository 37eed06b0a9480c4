//! Re-authentication ("sudo mode"): a change to how an account is proven
//! needs a recent proof of the account, not just a session. A stolen
//! session cookie or token alone must not be able to turn MFA on with the
//! thief's app (docs/SECURITY.md, row P2-SUDO-01).

use time::Duration;

use super::{Accounts, PasswordCheck};
use crate::domain::{User, UserId};
use crate::error::CoreError;
use crate::sessions::{ClientInfo, Session};

/// How long a session's last proof of the account (its sign-in, or a
/// re-authentication) lets it change how the account is proven.
pub const PROOF_LASTS: Duration = Duration::minutes(5);

/// What a request offers as a fresh proof of the account. No `Debug`: it
/// holds secrets.
#[derive(Clone, Copy, Default)]
pub struct Offered<'a> {
    /// The account's current password.
    pub password: Option<&'a str>,
    /// A current TOTP or recovery code (counts only while MFA is on).
    pub code: Option<&'a str>,
}

impl Offered<'_> {
    /// Nothing offered: the session's own proof has to be recent enough.
    pub const NOTHING: Offered<'static> = Offered { password: None, code: None };
}

/// Evidence that the account was proven within [`PROOF_LASTS`], which the
/// services that change how it is proven take. Only [`Accounts::prove`]
/// makes one, so a caller cannot skip the check.
#[derive(Debug)]
pub struct RecentProof {
    user: UserId,
}

impl RecentProof {
    /// Refuses a proof made for another account.
    pub(crate) fn check(&self, user: &User) -> Result<(), CoreError> {
        if self.user == user.id {
            Ok(())
        } else {
            Err(CoreError::ReauthenticationRequired)
        }
    }
}

impl Accounts {
    /// A recent proof of `user`'s account for `session`: the password or a
    /// current code when offered (checked and throttled as at sign-in; a
    /// right one renews the session's proof), else the session's own proof
    /// when it is under [`PROOF_LASTS`] old, else
    /// [`CoreError::ReauthenticationRequired`].
    pub async fn prove(
        &self,
        session: &Session,
        user: &User,
        offered: Offered<'_>,
        client: &ClientInfo,
    ) -> Result<RecentProof, CoreError> {
        let now = self.clock.now();
        let proof = RecentProof { user: user.id };
        if let Some(password) = offered.password {
            self.check_current_password(user, password, client).await?;
        } else if let Some(code) = offered.code.filter(|_| user.mfa_enabled) {
            self.mfa.verify_code(user.id, code, client).await?;
        } else if now - session.proven_at < PROOF_LASTS {
            return Ok(proof);
        } else {
            return Err(CoreError::ReauthenticationRequired);
        }
        if !self.sessions.mark_proven(&session.id, now).await? {
            return Err(CoreError::Unauthenticated);
        }
        Ok(proof)
    }

    /// The user's own password, checked under the sign-in throttles (by
    /// username): a wrong one is [`CoreError::InvalidCredentials`], counted.
    pub(super) async fn check_current_password(
        &self,
        user: &User,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let login = user.username.as_str();
        let PasswordCheck { record, verified, failures } = self.check_password(login, password, client, None).await?;
        match record {
            Some(record) if record.user.id == user.id && verified => Ok(()),
            _ => {
                self.password_failed(user.id, failures, client).await?;
                Err(CoreError::InvalidCredentials)
            }
        }
    }
}
