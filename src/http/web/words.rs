//! What the pages say about each outcome the core reports: one wording per
//! reason, so every page that meets it says the same thing.

use latchkey_core::Refusal;

/// The same words for an unknown login and a wrong password.
pub const INVALID_CREDENTIALS: &str = "That username, email or password is not right. Check them and try again.";
/// The right password for an account an operator locked.
pub const ACCOUNT_LOCKED: &str = "This account is locked. Contact our Support Team to unlock it.";
/// A wrong password where the account is known (confirming it is you).
pub const WRONG_PASSWORD: &str = "That password is not right. Enter the one you sign in with.";
/// A change to how the account is proven, from a session that proved it too long ago.
pub const CONFIRM_FIRST: &str = "For this change, confirm your password first: go back and reload the page.";
/// A wrong, expired or already used code (TOTP or recovery).
pub const WRONG_CODE: &str =
    "That code is not right, or was already used. Wait for the next code in your app and try again.";
/// The code typed for a new authenticator is wrong.
pub const WRONG_NEW_CODE: &str = "That code is not right. Enter the one the new authenticator shows now.";
/// The second step of a sign-in died (5 wrong codes, or 5 minutes).
pub const START_AGAIN: &str = "Too many wrong codes, or too much time passed. Sign in again.";

/// A passkey's answer was refused.
pub const PASSKEY_REFUSED: &str =
    "That passkey could not be used here, or took too long. Try again, or use another way to sign in.";

/// A password reset link that no longer works.
pub const RESET_LINK_DEAD: &str =
    "This reset link no longer works: it was used, it is over 30 minutes old, or the password changed since. Ask for a new one.";

/// An email link that no longer works.
pub const EMAIL_LINK_DEAD: &str = "This link no longer works: it was used, it is over 24 hours old, a newer one was sent, or the account's address changed since. Sign in and ask for a new one.";

/// An address verified with its link.
pub const EMAIL_VERIFIED: &str = "Your email address is verified. Thank you.";

/// An address changed with its link.
pub const EMAIL_CHANGED: &str =
    "Your email address is changed: mail goes to the new one from now, and the old one was told.";

/// A right password for an account whose address must be verified first.
pub const EMAIL_UNVERIFIED: &str =
    "Your email address is not verified yet. We mailed you a new link: open it, then sign in.";

/// A refusal, in the pages' words.
pub fn refusal(reason: Refusal) -> &'static str {
    match reason {
        Refusal::MfaAlreadyOn => "Multi-Factor Authentication is already on.",
        Refusal::MfaOff => "Multi-Factor Authentication is not on; turn it on first.",
        Refusal::NoEnrolment => "That setup expired; scan this new QR code.",
        Refusal::EnrolmentReplaced => {
            "You started a setup from another browser or app since then, which replaced this one: that QR code no longer works. Scan this new one instead (it replaces the other)."
        }
        Refusal::TooManyAuthenticators => "You have as many authenticators as an account may have; remove one first.",
        Refusal::LastAuthenticator => {
            "This is your only authenticator. To remove it, turn Multi-Factor Authentication off."
        }
        Refusal::AuthenticatorsChanged => "That authenticator cannot be removed now; reload the page.",
        Refusal::MfaTurnedOnMeanwhile => {
            "Multi-Factor Authentication was turned on for this account while you signed in. Sign in again: it will ask for a code."
        }
        Refusal::TooManyAppTokens => "You have as many app tokens as an account may have; revoke one first.",
        Refusal::WebauthnUnavailable => {
            "Passkeys do not work at this address: the service needs a public address with a domain name."
        }
        Refusal::TooManyPasskeys => "You have as many passkeys as an account may have; remove one first.",
        Refusal::PasskeyRegistered => "This passkey is registered already.",
        Refusal::NoMail => "This service sends no mail, so it cannot send the link. Contact support.",
        Refusal::EmailVerifiedAlready => "Your email address is verified already.",
        Refusal::ClientInConfig => "This client is defined in the config file; remove it there.",
        Refusal::SecondFactorRequired => {
            "This session signed in with the password alone. Log out and sign in again with your code to make an app token."
        }
    }
}
