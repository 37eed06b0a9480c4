//! Deleting an account (contract section 6): by its owner, with the
//! password and a current code when MFA is on, or by the support team. What
//! names the person goes in one transaction (sessions, factors, recovery
//! codes, passkeys, trusted browsers, tokens, memberships, pending flows,
//! and the counters keyed by the names); the username and the address are
//! free again. The security log keeps its events, which hold the user's id
//! but neither name, so `latchkey audit verify` still passes.

use super::Accounts;
use crate::domain::User;
use crate::error::CoreError;
use crate::events::{EventKind, Events, Notice};
use crate::sessions::ClientInfo;
use crate::store::UserStore;
use crate::throttle::{self, Throttle};

impl Accounts {
    /// Deletes the caller's own account, proven by `password` (and `code`
    /// when MFA is on) as an email change is.
    pub async fn delete_account(
        &self,
        user: &User,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        self.check_owner(user, password, code, client).await?;
        erase(self.users.as_ref(), &self.throttle, &self.events, user, client).await
    }
}

/// Deletes `user`'s account and records `account_deleted` (told to the
/// address it had). [`CoreError::NotFound`] when it went meanwhile.
pub(crate) async fn erase(
    users: &dyn UserStore,
    throttle: &Throttle,
    events: &Events,
    user: &User,
    client: &ClientInfo,
) -> Result<(), CoreError> {
    if !users.delete_user(user.id).await? {
        return Err(CoreError::NotFound);
    }
    tracing::info!(user_id = %user.id, "account deleted");
    if let Err(e) = events.record_telling(user, EventKind::AccountDeleted, Notice::AccountDeleted, client).await {
        // The deletion happened: answering an error would say otherwise.
        tracing::error!(user_id = %user.id, error = %e, "could not record the deletion");
    }
    // The account is gone whatever follows: the counters keyed by its names
    // are cleared as well as they can be, and a failure is only logged.
    for key in [
        throttle::code_key_for_account(user.id),
        throttle::enrolment_key_for_account(user.id),
        throttle::verification_key_for_account(user.id),
        throttle::password_key_for_login(user.username.as_str()),
        throttle::password_key_for_login(user.email.as_str()),
        throttle::reset_key_for_email(user.email.as_str()),
    ] {
        if let Err(e) = throttle.clear(&key).await {
            tracing::warn!(user_id = %user.id, error = %e, "could not clear a deleted account's counter");
        }
    }
    Ok(())
}
