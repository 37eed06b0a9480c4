//! The account's address (contract section 6): verifying it with a mailed
//! link, and changing it. A link is a 256-bit token kept hashed, single use,
//! alive 24 hours; it works without a session, on any device. A new address
//! is used only once its link is opened; until then the old one stays, and
//! is told of the change when it is asked for and when it happens.

use time::Duration;

use super::Accounts;
use crate::domain::{Email, User};
use crate::error::{CoreError, FieldErrors, Refusal};
use crate::events::{EventKind, Notice};
use crate::sessions::ClientInfo;
use crate::store::{EmailLinkPurpose, EmailLinkRecord, EmailLinkUse, StoreError};
use crate::throttle;
use crate::token::{random_token, token_hash};

/// How long an email link works.
pub const EMAIL_LINK_LASTS: Duration = Duration::hours(24);

/// What opening an email link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProven {
    /// The account's address is verified.
    Verified,
    /// The account's address changed to the one the link proved.
    Changed,
}

impl Accounts {
    /// Counts a link about to be mailed for `user` (5 an hour): before
    /// anything is looked up, so asking cannot be used to probe.
    async fn reserve_link(&self, user: &User) -> Result<(), CoreError> {
        if self.links.is_none() {
            return Err(CoreError::Refused(Refusal::NoMail));
        }
        let key = throttle::verification_key_for_account(user.id);
        self.throttle.reserve(&key, &throttle::VERIFICATIONS_PER_ACCOUNT).await?;
        Ok(())
    }

    /// Mails `user` a link proving `to` (the account's address, or the one
    /// it is to change to), reserved with [`Self::reserve_link`] first. The
    /// newest link of a purpose is the one that works.
    async fn mail_email_link(
        &self,
        user: &User,
        to: &Email,
        purpose: EmailLinkPurpose,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let Some(links) = &self.links else {
            return Err(CoreError::Refused(Refusal::NoMail));
        };
        let token = random_token();
        let now = self.clock.now();
        let record = EmailLinkRecord {
            token_hash: token_hash(&token),
            user_id: user.id,
            email: to.clone(),
            purpose,
            expires_at: now + EMAIL_LINK_LASTS,
        };
        self.email_links.insert_email_link(&record, now).await?;
        links.send_email_link(user, to, &token, purpose, client);
        Ok(())
    }

    /// The verification link of a new account, when mail is configured (a
    /// failure is logged: the account exists, and "send the link again" is there).
    pub(super) async fn mail_first_verification_link(&self, user: &User, client: &ClientInfo) {
        if self.links.is_none() {
            return;
        }
        if let Err(e) = self.send_verification_link(user, client).await {
            tracing::warn!(user_id = %user.id, error = %e, "could not mail the verification link");
        }
    }

    /// "Send the link again": a new verification link for the account's address.
    pub async fn send_verification_link(&self, user: &User, client: &ClientInfo) -> Result<(), CoreError> {
        if user.email_verified {
            return Err(CoreError::Refused(Refusal::EmailVerifiedAlready));
        }
        self.reserve_link(user).await?;
        self.mail_email_link(user, &user.email, EmailLinkPurpose::Verify, client).await
    }

    /// Opens an email link: verifies the account's address, or changes it
    /// to the link's. A dead link (unknown, used, expired, or for an address
    /// the account no longer has) is [`CoreError::InvalidEmailLink`], counted
    /// against the address as dead reset links are.
    pub async fn open_email_link(&self, token: &str, client: &ClientInfo) -> Result<EmailProven, CoreError> {
        let address_key = client.ip.as_deref().map(throttle::mailed_link_key_for_address);
        if let Some(key) = &address_key {
            self.throttle.check_slowly(key, &throttle::CODES_PER_ADDRESS).await?;
        }
        let used = match self.email_links.use_email_link(&token_hash(token), self.clock.now()).await {
            Ok(used) => used,
            Err(StoreError::Conflict(_)) => return Err(CoreError::Conflict("email")),
            Err(e) => return Err(e.into()),
        };
        match used {
            EmailLinkUse::Dead => {
                if let Some(key) = &address_key {
                    self.throttle.count_failure(key, &throttle::CODES_PER_ADDRESS).await?;
                }
                Err(CoreError::InvalidEmailLink)
            }
            EmailLinkUse::Verified(user) => {
                tracing::info!(user_id = %user, "email address verified");
                self.events.record(user, EventKind::EmailVerified, client).await?;
                Ok(EmailProven::Verified)
            }
            EmailLinkUse::Changed { user, old } => {
                tracing::info!(user_id = %user, "email address changed");
                let Some(now) = self.users.find_user(user).await? else {
                    return Err(CoreError::InvalidEmailLink);
                };
                let to = now.email.as_str().to_string();
                let owner = User { email: old, ..now };
                self.events
                    .record_telling(&owner, EventKind::EmailChanged, Notice::EmailChanged { to }, client)
                    .await?;
                Ok(EmailProven::Changed)
            }
        }
    }

    /// Asks to change `user`'s address to `new`: needs the current password,
    /// and a current code (TOTP or recovery) when MFA is on. Mails a link to
    /// the new address, which replaces the old only when it is opened, and
    /// tells the old one. A taken address is [`CoreError::Conflict`].
    pub async fn change_email(
        &self,
        user: &User,
        new: &str,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Email, CoreError> {
        if self.links.is_none() {
            return Err(CoreError::Refused(Refusal::NoMail));
        }
        let new = Email::parse(new).map_err(|e| CoreError::Validation(FieldErrors::from([("email", e)])))?;
        if new == user.email {
            let message = "This is the address the account has already.".to_string();
            return Err(CoreError::Validation(FieldErrors::from([("email", message)])));
        }
        self.check_owner(user, password, code, client).await?;
        // Counted before the lookup: an owner cannot probe many addresses.
        self.reserve_link(user).await?;
        if self.users.find_user_by_email(&new).await?.is_some() {
            return Err(CoreError::Conflict("email"));
        }
        self.mail_email_link(user, &new, EmailLinkPurpose::Change, client).await?;
        let notice = Notice::EmailChangeRequested { to: new.as_str().to_string() };
        self.events.record_telling(user, EventKind::EmailChangeRequested, notice, client).await?;
        Ok(new)
    }

    /// The address a change waits to be verified for, if one does.
    pub async fn pending_email_change(&self, user: &User) -> Result<Option<Email>, CoreError> {
        Ok(self.email_links.pending_email_change(user.id, self.clock.now()).await?)
    }

    /// Proves the owner for a change no stolen session may make alone: the
    /// current password, and with MFA on a current code too (a missing one
    /// is a [`CoreError::Validation`] on `code`; a wrong one is counted as
    /// at the code step).
    pub(super) async fn check_owner(
        &self,
        user: &User,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        if user.mfa_enabled && code.is_none() {
            let message = "Enter a current code from your authenticator app, or a recovery code.".to_string();
            return Err(CoreError::Validation(FieldErrors::from([("code", message)])));
        }
        self.check_current_password(user, password, client).await?;
        if let Some(code) = code.filter(|_| user.mfa_enabled) {
            self.mfa.verify_code(user.id, code, client).await?;
        }
        Ok(())
    }
}
