//! Changing the password (contract section 6): the current password proves
//! the account (checked and throttled as at sign-in), the new one follows
//! the password rules, every other session and pending sign-in of the user
//! ends in the same transaction as the new hash is written, and the owner
//! is told. Known-client tokens are bound to the password hash, so the
//! change voids them too.

use super::{hashing_client, Accounts};
use crate::domain::{NewPassword, SessionId, User};
use crate::error::{CoreError, FieldErrors};
use crate::events::EventKind;
use crate::sessions::ClientInfo;

impl Accounts {
    /// Changes `user`'s password from `session`: returns how many other
    /// sessions ended. A wrong current password is
    /// [`CoreError::InvalidCredentials`] (counted as a wrong password at
    /// sign-in is); a new one out of the rules is a
    /// [`CoreError::Validation`] on `new_password`, checked first so that a
    /// typo in it costs no guess.
    pub async fn change_password(
        &self,
        user: &User,
        session: &SessionId,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let new = NewPassword::parse(new, Some(&user.username), self.policy)
            .map_err(|e| CoreError::Validation(FieldErrors::from([("new_password", e)])))?;
        self.check_current_password(user, current, client).await?;
        let hash = self.hasher.admit(&hashing_client(client)).await?.hash(&new).await?;
        let ended = self.users.change_password(user.id, &hash, session).await?.ok_or(CoreError::Unauthenticated)?;
        tracing::info!(user_id = %user.id, sessions_ended = ended, "password changed");
        if let Err(e) = self.events.record(user.id, EventKind::PasswordChanged, client).await {
            tracing::error!(user_id = %user.id, error = %e, "could not record a security event");
        }
        Ok(ended)
    }
}
