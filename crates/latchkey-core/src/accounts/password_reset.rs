//! Password reset by email (contract section 6). Asking for a link answers
//! the same, in the same time, whether or not the address belongs to an
//! account: the lookup, the link and the mail happen after the answer. The
//! link is a 256-bit token, kept hashed, single use, alive 30 minutes and
//! only while the password is still the one it was issued under. Using it
//! sets the password and ends every session, trusted browser, pending
//! sign-in and app token (a reset is how a taken-over account is won
//! back), and does not sign in: the next sign-in still asks for the
//! second factor, so a reset is never the way around MFA.

use time::Duration;

use super::{hashing_client, Accounts};
use crate::domain::{Email, NewPassword, User};
use crate::error::{CoreError, FieldErrors, Refusal};
use crate::events::EventKind;
use crate::sessions::ClientInfo;
use crate::store::{EmailLinkPurpose, PasswordResetRecord, UserRecord};
use crate::throttle;
use crate::token::{random_token, token_hash};

/// How long a reset link works.
pub const RESET_LINK_LASTS: Duration = Duration::minutes(30);

/// Mails the links that prove their holder reads the account's mailbox.
/// Implementations must not block the caller (queue or spawn), and never
/// put the token anywhere but the one message.
pub trait LinkMailer: Send + Sync + 'static {
    /// Sends `user` the password reset link holding `token`, asked for from `client`.
    fn send_reset_link(&self, user: &User, token: &str, client: &ClientInfo);
    /// Sends `to` (the account's address, or the one it is to change to)
    /// the link holding `token` that proves it.
    fn send_email_link(&self, user: &User, to: &Email, token: &str, purpose: EmailLinkPurpose, client: &ClientInfo);
}

impl Accounts {
    /// Whether links can be mailed (else the pages point to support).
    pub fn can_mail_links(&self) -> bool {
        self.links.is_some()
    }

    /// Asks for a reset link for `email`. Counted per address and per email
    /// before anything is looked up; the rest (is there such an account,
    /// the link, the mail) runs after this returns, so neither the answer
    /// nor its time says whether the address is known.
    pub async fn request_password_reset(&self, email: &str, client: &ClientInfo) -> Result<(), CoreError> {
        let Some(links) = self.links.clone() else {
            return Err(CoreError::Refused(Refusal::NoMail));
        };
        let email = Email::parse(email).map_err(|e| CoreError::Validation(FieldErrors::from([("email", e)])))?;
        if let Some(ip) = &client.ip {
            let key = throttle::reset_key_for_address(ip);
            self.throttle.reserve(&key, &throttle::RESETS_PER_ADDRESS).await?;
        }
        let key = throttle::reset_key_for_email(email.as_str());
        self.throttle.reserve(&key, &throttle::RESETS_PER_EMAIL).await?;
        let accounts = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = accounts.mail_reset_link(&email, &*links, &client).await {
                tracing::warn!(error = %e, "could not make a password reset link");
            }
        });
        Ok(())
    }

    async fn mail_reset_link(
        &self,
        email: &Email,
        links: &dyn LinkMailer,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let Some(record) = self.users.find_user_by_email(email).await? else {
            tracing::info!(ip = client.ip.as_deref(), "a password reset for an unknown address");
            return Ok(());
        };
        if record.user.locked {
            // A new password would not get a locked account in: the support team does.
            tracing::info!(user_id = %record.user.id, "no password reset link for a locked account");
            return Ok(());
        }
        let token = random_token();
        let now = self.clock.now();
        let reset = PasswordResetRecord {
            token_hash: token_hash(&token),
            user_id: record.user.id,
            password_fingerprint: token_hash(&record.password_hash),
            expires_at: now + RESET_LINK_LASTS,
        };
        self.users.insert_password_reset(&reset, now).await?;
        links.send_reset_link(&record.user, &token, client);
        Ok(())
    }

    /// The account a live reset link is for (the page then asks for its new
    /// password), or `None` when the link is dead: unknown, used, expired,
    /// or older than the password.
    pub async fn reset_link_user(&self, token: &str) -> Result<Option<User>, CoreError> {
        Ok(self.live_reset_link(&token_hash(token)).await?.map(|record| record.user))
    }

    /// The account of the live link with this token hash: stored, not
    /// expired, and issued under the password the account has now.
    async fn live_reset_link(&self, hashed: &str) -> Result<Option<UserRecord>, CoreError> {
        let found = self.users.find_password_reset(hashed, self.clock.now()).await?;
        Ok(found.filter(|(reset, r)| token_hash(&r.password_hash) == reset.password_fingerprint).map(|(_, r)| r))
    }

    /// Uses a reset link: the new password (under the rules, checked before
    /// the link is spent) replaces the old, and every session, trusted
    /// browser and pending sign-in of the user ends. Does not sign in. A
    /// dead link (unknown, used, expired, or older than the password) is
    /// [`CoreError::InvalidResetLink`], counted against the address.
    pub async fn reset_password(&self, token: &str, password: &str, client: &ClientInfo) -> Result<(), CoreError> {
        let address_key = client.ip.as_deref().map(throttle::mailed_link_key_for_address);
        if let Some(key) = &address_key {
            self.throttle.check_slowly(key, &throttle::CODES_PER_ADDRESS).await?;
        }
        let hashed = token_hash(token);
        let Some(record) = self.live_reset_link(&hashed).await? else {
            if let Some(key) = &address_key {
                self.throttle.count_failure(key, &throttle::CODES_PER_ADDRESS).await?;
            }
            return Err(CoreError::InvalidResetLink);
        };
        let new = NewPassword::parse(password, Some(&record.user.username), self.policy)
            .map_err(|e| CoreError::Validation(FieldErrors::from([("password", e)])))?;
        let hash = self.hasher.admit(&hashing_client(client)).await?.hash(&new).await?;
        let Some(user) = self.users.complete_password_reset(&hashed, &hash, self.clock.now()).await? else {
            return Err(CoreError::InvalidResetLink);
        };
        tracing::info!(user_id = %user, "password reset by email");
        // The owner proved the mailbox: the delays strangers' guesses started on the names end.
        self.throttle.clear(&throttle::password_key_for_login(record.user.username.as_str())).await?;
        self.throttle.clear(&throttle::password_key_for_login(record.user.email.as_str())).await?;
        if let Err(e) = self.events.record(user, EventKind::PasswordReset, client).await {
            tracing::error!(user_id = %user, error = %e, "could not record a security event");
        }
        Ok(())
    }
}
