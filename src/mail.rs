//! Notices and links to account owners by mail (SMTP via lettre), sent in
//! the background: a slow or broken mail server never slows or fails a
//! sign-in. Each mail is plain text with an HTML alternative ([`letter`]).

mod letter;

use latchkey_core::accounts::{EMAIL_LINK_LASTS, RESET_LINK_LASTS};
use latchkey_core::events::{Guesses, Notice, Notifier};
use latchkey_core::sessions::ClientInfo;
use latchkey_core::store::EmailLinkPurpose;
use latchkey_core::{Email, LinkMailer, User, UserId};
use letter::{Letter, Part};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Sends notices through one SMTP server.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sending: std::sync::Mutex<tokio::task::JoinSet<()>>,
    from: Mailbox,
    product: String,
    security_page: String,
    /// The public URL, without a trailing slash: links start with it.
    public_url: String,
}

impl SmtpNotifier {
    /// `smtp_url` as lettre reads it (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`); `from` like `Latchkey <latchkey@example.org>`.
    pub fn new(smtp_url: &str, from: &str, product: &str, public_url: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
            .build();
        let from = from.parse().map_err(|e| anyhow::anyhow!("mail_from: {e}"))?;
        Ok(SmtpNotifier {
            transport,
            sending: std::sync::Mutex::default(),
            from,
            product: product.to_string(),
            security_page: format!("{}/account/security", public_url.trim_end_matches('/')),
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// The notice's letter: what happened, when, from where, and what to do.
    fn compose(&self, user: &User, notice: &Notice, at: OffsetDateTime, client: &ClientInfo) -> Letter {
        let (subject, what) = match notice {
            Notice::MfaEnabled => {
                ("Multi-Factor Authentication is on", "Multi-Factor Authentication was turned on".into())
            }
            Notice::MfaDisabled => {
                ("Multi-Factor Authentication is off", "Multi-Factor Authentication was turned off".into())
            }
            Notice::MfaResetByOperator => (
                "Multi-Factor Authentication was reset",
                "The support team turned Multi-Factor Authentication off for your account (a lost device), \
                 so you can sign in with your password and set it up again"
                    .into(),
            ),
            Notice::AuthenticatorAdded => {
                ("An authenticator was added", "An authenticator app or token was added to your account".into())
            }
            Notice::AuthenticatorRemoved => {
                ("An authenticator was removed", "An authenticator app or token was removed from your account".into())
            }
            Notice::RecoveryCodeUsed => ("A recovery code was used", "One of your recovery codes was used".into()),
            Notice::RecoveryCodesLow { left } => (
                "Few recovery codes left",
                format!(
                    "You have {left} unused recovery code{} left. Make a new set on the \
                     Multi-Factor Authentication page before you run out",
                    if *left == 1 { "" } else { "s" }
                ),
            ),
            Notice::CodeReplayed { first_from } => (
                "Someone entered a code you had already used",
                format!(
                    "An authentication code that had already been used{} was entered again. This can mean \
                     someone who knows your password is trying to sign in as you right now",
                    first_from.as_deref().map(|ip| format!(" (first from {ip})")).unwrap_or_default()
                ),
            ),
            Notice::Lockout { of: Guesses::Codes } => (
                "Wrong codes on your account",
                "Several wrong authentication codes were entered for your account, so further attempts are \
                 slowed down"
                    .into(),
            ),
            Notice::Lockout { of: Guesses::Passwords } => (
                "Wrong passwords on your account",
                "Several wrong passwords were entered for your account, so further attempts are slowed down. \
                 If this was not you, someone may be guessing your password: choose a long, unique one"
                    .into(),
            ),
            Notice::NewDevice => {
                ("New sign-in to your account", "Your account was signed in to from a new device".into())
            }
            Notice::PasskeyAdded => {
                ("A passkey was added", "A passkey or security key was added to your account".into())
            }
            Notice::PasskeyRemoved => {
                ("A passkey was removed", "A passkey or security key was removed from your account".into())
            }
            Notice::PasskeyCloneSuspected => (
                "A passkey may have been copied",
                "A sign-in with one of your passkeys or security keys was refused because its signature counter \
                 went backwards, which happens when a key has been copied. Remove that key from your account"
                    .into(),
            ),
            Notice::PasswordReset => (
                "Your password was reset",
                "The password of your account was reset with a link mailed to you, and every session was \
                 signed out"
                    .into(),
            ),
            Notice::PasswordChanged => (
                "Your password was changed",
                "The password of your account was changed, and every other session was signed out".into(),
            ),
            Notice::DeviceTrusted => (
                "A browser no longer asks for your code",
                "A browser was trusted to sign in to your account without the 6-digit code for a while".into(),
            ),
            Notice::EmailChangeRequested { to } => (
                "Your address is about to change",
                format!(
                    "A change of your account's email address to {to} was asked for. It takes effect when the \
                     link mailed there is opened; until then mail keeps coming here. If it was not you, change \
                     your password: that cancels the change"
                ),
            ),
            Notice::EmailChanged { to } => (
                "Your address was changed",
                format!("The email address of your account was changed to {to}; mail goes there from now"),
            ),
            Notice::AccountDeleted => (
                "Your account was deleted",
                "Your account was deleted, with its sessions, factors and tokens; the security log keeps its \
                 events under the account's id only"
                    .into(),
            ),
            Notice::DataExported => (
                "Your data was downloaded",
                "A copy of everything the service holds about your account was downloaded".into(),
            ),
            Notice::AppConnected { app } => (
                "An application can sign you in",
                format!(
                    "{} was allowed to sign you in with your account and receive what it asked for. \
                     Connected apps on your security page lists it and can disconnect it",
                    app.name
                ),
            ),
            Notice::AppTokenReused { app } => (
                "A sign-in to an application was used twice",
                format!(
                    "A code or token that {} had already used was presented again, so every token of that \
                     sign-in was ended. It can mean someone copied it; the application will ask you to sign in \
                     again",
                    app.name
                ),
            ),
        };
        let when = at.format(&Rfc3339).unwrap_or_default();
        let from = client.ip.as_deref().unwrap_or("an unknown address");
        let device = client.device_name();
        let advice = if matches!(notice, Notice::AccountDeleted) {
            "If this was not you, tell the support team at once.".to_string()
        } else {
            "If this was you, there is nothing to do. If it was not, sign out everywhere else and check your \
             security activity, and tell the support team:"
                .to_string()
        };
        let mut parts =
            vec![Part::Text(format!("{what}, at {when} (UTC) from {from} ({device}).")), Part::Text(advice)];
        if !matches!(notice, Notice::AccountDeleted) {
            parts.push(Part::Link(self.security_page.clone()));
        }
        self.letter(user, subject, parts)
    }

    /// A letter to `user` from this service.
    fn letter(&self, user: &User, subject: &str, parts: Vec<Part>) -> Letter {
        Letter {
            subject: format!("[{}] {subject}", self.product),
            username: user.username.as_str().to_string(),
            parts,
            product: self.product.clone(),
        }
    }
}

impl SmtpNotifier {
    /// Waits (at most `limit`) for the mails still being sent: a command
    /// that exits right after an action must not cut its notice off.
    pub async fn finish_sending(&self, limit: std::time::Duration) {
        let sending = self.sending.lock().map(|mut set| std::mem::take(&mut *set));
        if let Ok(sending) = sending {
            let _ = tokio::time::timeout(limit, sending.join_all()).await;
        }
    }
}

impl SmtpNotifier {
    /// Mails `letter` to `to` (for `user`) in the background, as plain text
    /// with an HTML alternative; `what` names the message in the log (never
    /// its content).
    fn send(&self, user: UserId, to: &Email, letter: &Letter, what: &'static str) {
        let to = match to.as_str().parse::<Mailbox>() {
            Ok(to) => to,
            Err(e) => {
                tracing::warn!(user_id = %user, error = %e, "cannot mail this address");
                return;
            }
        };
        let builder = Message::builder().from(self.from.clone()).to(to).subject(letter.subject.clone());
        let built = match letter.html() {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(letter.text(), html)),
            None => builder.body(letter.text()),
        };
        let message = match built {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(user_id = %user, error = %e, "cannot build a mail");
                return;
            }
        };
        let transport = self.transport.clone();
        let Ok(mut sending) = self.sending.lock() else { return };
        // Finished sends are collected here, so the set does not grow.
        while sending.try_join_next().is_some() {}
        sending.spawn(async move {
            match transport.send(message).await {
                Ok(_) => tracing::info!(user_id = %user, what, "mailed"),
                Err(e) => tracing::warn!(user_id = %user, what, error = %e, "could not mail"),
            }
        });
    }
}

impl Notifier for SmtpNotifier {
    fn notify(&self, user: &User, notice: &Notice, at: OffsetDateTime, client: &ClientInfo) {
        let letter = self.compose(user, notice, at, client);
        self.send(user.id, &user.email, &letter, notice.as_str());
    }
}

impl LinkMailer for SmtpNotifier {
    fn send_reset_link(&self, user: &User, token: &str, client: &ClientInfo) {
        let from = client.ip.as_deref().unwrap_or("an unknown address");
        let minutes = RESET_LINK_LASTS.whole_minutes();
        let parts = vec![
            Part::Text(format!(
                "Someone (from {from}, {}) asked to reset the password of your account. To choose a new one, \
                 open this link within {minutes} minutes:",
                client.device_name()
            )),
            Part::Link(format!("{}/password/reset?token={token}", self.public_url)),
            Part::Text(
                "The link works once. Signing in afterwards still asks for your second step, if you have one. \
                 If you did not ask, ignore this mail: your password stays as it is."
                    .into(),
            ),
        ];
        let letter = self.letter(user, "Reset your password", parts);
        self.send(user.id, &user.email, &letter, "password reset link");
    }

    fn send_email_link(&self, user: &User, to: &Email, token: &str, purpose: EmailLinkPurpose, client: &ClientInfo) {
        let hours = EMAIL_LINK_LASTS.whole_hours();
        let (subject, why) = match purpose {
            EmailLinkPurpose::Verify => (
                "Verify your email address",
                format!("To confirm that {to} is your address, open this link within {hours} hours:"),
            ),
            EmailLinkPurpose::Change => (
                "Confirm your new email address",
                format!(
                    "Someone (from {}, {}) asked to make {to} the address of your account. To confirm, open this \
                     link within {hours} hours:",
                    client.ip.as_deref().unwrap_or("an unknown address"),
                    client.device_name()
                ),
            ),
        };
        let parts = vec![
            Part::Text(why),
            Part::Link(format!("{}/email/verify?token={token}", self.public_url)),
            Part::Text("The link works once, on any device. If you did not ask, ignore this mail.".into()),
        ];
        let letter = self.letter(user, subject, parts);
        self.send(user.id, to, &letter, "email link");
    }
}
