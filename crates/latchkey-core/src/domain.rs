//! Domain newtypes: a value of one of these types has passed its rules (see each `parse`).

use std::fmt;
use std::marker::PhantomData;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

/// Passwords are compared after NFKC normalisation, so that the same text typed
/// on two keyboards (composed or decomposed accents) is the same password.
fn normalise(raw: &str) -> String {
    raw.nfkc().collect()
}

/// A user's stable identifier (a random UUID: it reveals neither order nor count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);

impl UserId {
    /// A fresh random id.
    pub fn random() -> Self {
        UserId(Uuid::new_v4())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The public id of a stored thing of kind `K` (a session, an authenticator,
/// a trusted browser): safe to show and to name in a request, and typed by
/// what it names, so that one kind of id cannot be passed for another.
pub struct PublicId<K> {
    value: String,
    names: PhantomData<fn() -> K>,
}

/// The kinds of things a [`PublicId`] names (types without values).
pub mod id_kinds {
    /// A session.
    #[derive(Debug)]
    pub enum Session {}
    /// A TOTP authenticator.
    #[derive(Debug)]
    pub enum Authenticator {}
    /// A browser trusted to skip the code.
    #[derive(Debug)]
    pub enum TrustedDevice {}
    /// An app token.
    #[derive(Debug)]
    pub enum AppToken {}
    /// A passkey or security key (WebAuthn credential).
    #[derive(Debug)]
    pub enum Passkey {}
}

/// A session's public id (not its token).
pub type SessionId = PublicId<id_kinds::Session>;
/// An authenticator's public id.
pub type AuthenticatorId = PublicId<id_kinds::Authenticator>;
/// A trusted browser's public id.
pub type TrustedDeviceId = PublicId<id_kinds::TrustedDevice>;
/// An app token's public id (not the token).
pub type AppTokenId = PublicId<id_kinds::AppToken>;
/// A passkey's public id (not its credential id).
pub type PasskeyId = PublicId<id_kinds::Passkey>;

impl<K> PublicId<K> {
    /// A fresh random id.
    pub fn random() -> Self {
        Self::from(Uuid::new_v4().to_string())
    }

    /// The id as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K> From<String> for PublicId<K> {
    /// Any text names at most one thing: an id from a request that names
    /// nothing of the caller's is simply not found.
    fn from(value: String) -> Self {
        PublicId { value, names: PhantomData }
    }
}

impl<K> From<&str> for PublicId<K> {
    fn from(value: &str) -> Self {
        Self::from(value.to_string())
    }
}

impl<K> Clone for PublicId<K> {
    fn clone(&self) -> Self {
        Self::from(self.value.clone())
    }
}

impl<K> PartialEq for PublicId<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K> Eq for PublicId<K> {}

impl<K> fmt::Debug for PublicId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> fmt::Display for PublicId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Folds ASCII upper case to lower case and checks the username rules
/// (3–32 characters of `a-z 0-9 . _ -`), which group names follow too.
/// Non-ASCII is refused before folding, so that e.g. the Kelvin sign cannot
/// pose as `k`. `what` names the value in the messages ("Username").
fn fold_name(raw: &str, what: &str) -> Result<String, String> {
    let len = raw.chars().count();
    if !(3..=32).contains(&len) {
        return Err(format!("{what} must be 3 to 32 characters long."));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !raw.chars().all(allowed) {
        return Err(format!("{what} may only use letters a-z, digits and . _ -"));
    }
    Ok(raw.to_ascii_lowercase())
}

/// The methods of a name kept folded by [`fold_name`]: checked from what
/// was typed, trusted from the store, shown as it is.
macro_rules! folded_name {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Folds and checks the rules (see [`fold_name`]).
            pub fn parse(raw: &str) -> Result<Self, String> {
                fold_name(raw, $what).map($name)
            }

            /// The stored form, trusted because it was parsed when written.
            pub fn from_trusted(stored: String) -> Self {
                $name(stored)
            }

            /// The folded name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A username: 3–32 characters of `a-z 0-9 . _ -`, folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

folded_name!(Username, "Username");

/// A group's name: the username rules, folded to lower case. It never holds
/// a comma, so a list of groups joins and splits on commas (`Remote-Groups`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

folded_name!(GroupName, "Group name");

/// An email address as a mail server reads it: one mailbox `local@domain`,
/// no display name, quotes, comments or brackets, at most 254 characters;
/// stored NFKC-normalised and in lower case, so that one mailbox written
/// two ways is still one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims surrounding whitespace, normalises, folds case and checks the rules.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised: String = raw.trim().nfkc().collect();
        let trimmed = normalised.trim();
        if trimmed.is_empty() {
            return Err("Email is required.".into());
        }
        if trimmed.chars().count() > 254 {
            return Err("Email must be at most 254 characters.".into());
        }
        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("Email must contain exactly one @.".into());
        };
        if local.is_empty() || domain.is_empty() {
            return Err("Email needs text before and after the @.".into());
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("Email must not contain spaces or control characters.".into());
        }
        // What would make a mail server read a name, a comment, a quoted part,
        // a route or a second address: `"a>,b"<x@evil.com` is not one mailbox.
        if trimmed.chars().any(|c| matches!(c, '"' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '[' | ']')) {
            return Err(
                "Email must be a plain address such as name@example.org, without a name, quotes or brackets.".into()
            );
        }
        let misplaced_dot = |part: &str| part.starts_with('.') || part.ends_with('.') || part.contains("..");
        if misplaced_dot(local) || misplaced_dot(domain) {
            return Err("Email has a dot at the start or end of a part, or two dots in a row.".into());
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    /// The stored form, trusted because it was parsed when written.
    pub fn from_trusted(stored: String) -> Self {
        Email(stored)
    }

    /// The folded address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules a new password must meet; the minimum length is configurable.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values); never below 8.
    pub min_length: usize,
}

impl PasswordPolicy {
    /// The hard floor for the configurable minimum (NIST SP 800-63B asks for 8).
    pub const FLOOR: usize = 8;
    /// The maximum (128 characters), which also bounds the cost of hashing.
    pub const MAX_LENGTH: usize = 128;
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_length: 12 }
    }
}

/// A password that passed the policy, normalised, ready to hash. Never printed.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Checks length, the username rule and the common-password rule.
    pub fn parse(raw: &str, username: Option<&Username>, policy: PasswordPolicy) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < policy.min_length {
            return Err(format!("Password must be at least {} characters.", policy.min_length));
        }
        if len > PasswordPolicy::MAX_LENGTH {
            return Err(format!("Password must be at most {} characters.", PasswordPolicy::MAX_LENGTH));
        }
        let normalised = normalise(raw);
        if let Some(name) = username {
            if normalised.to_lowercase().contains(name.as_str()) {
                return Err("Password must not contain your username.".into());
            }
        }
        if is_common(&normalised) {
            return Err("This password is too common; choose a longer phrase that is your own.".into());
        }
        Ok(NewPassword(SecretString::from(normalised)))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// A password as typed at sign-in, normalised like a new one. Never printed.
pub struct Password {
    normalised: SecretString,
    /// Measured as typed, like a new password: normalisation may lengthen it.
    over_long: bool,
}

impl Password {
    /// Wraps and normalises what the user typed.
    pub fn new(raw: &str) -> Self {
        let over_long = raw.chars().count() > PasswordPolicy::MAX_LENGTH;
        Password { normalised: SecretString::from(normalise(raw)), over_long }
    }

    pub(crate) fn expose(&self) -> &str {
        self.normalised.expose_secret()
    }

    /// Whether the password is longer than any new password may be; such a
    /// password is refused without spending a hash on it.
    pub(crate) fn is_over_long(&self) -> bool {
        self.over_long
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A common password is one that zxcvbn, which knows the leaked-password
/// lists, keyboard walks, repeats, sequences and dates, guesses in under a
/// million tries (score 0 or 1). A threshold this low refuses what an online
/// attacker tries first without imposing composition rules (NIST 800-63B).
fn is_common(password: &str) -> bool {
    let estimate = zxcvbn::zxcvbn(password, &["latchkey"]);
    u8::from(estimate.score()) <= 1
}

/// A user as the services and the API see it.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Folded username.
    pub username: Username,
    /// Folded email address.
    pub email: Email,
    /// Whether the owner proved they read `email` (opened a link mailed to it).
    pub email_verified: bool,
    /// Whether a TOTP factor is confirmed.
    pub mfa_enabled: bool,
    /// Whether an operator locked the account.
    pub locked: bool,
    /// When the account was made.
    pub created_at: OffsetDateTime,
    /// The groups the user is in, sorted by name.
    pub groups: Vec<GroupName>,
}

/// What an app token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppTokenScope {
    /// The JSON API (what a session may do outside the account's settings).
    Api,
    /// Forward authentication: passing a reverse proxy.
    Proxy,
}

impl AppTokenScope {
    /// Every scope.
    pub const ALL: [AppTokenScope; 2] = [AppTokenScope::Api, AppTokenScope::Proxy];

    /// The stored and shown word.
    pub fn as_str(self) -> &'static str {
        match self {
            AppTokenScope::Api => "api",
            AppTokenScope::Proxy => "proxy",
        }
    }

    /// The scope a word names.
    pub fn parse(word: &str) -> Option<AppTokenScope> {
        AppTokenScope::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_to_lower_case_and_keep_their_rules() {
        assert_eq!(Username::parse("Alice").map(|u| u.0), Ok("alice".to_string()));
        assert!(Username::parse("a.b_c-9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("ålice").is_err());
        assert!(Username::parse("\u{212A}elvin").is_err(), "the Kelvin sign is not a k");
    }

    #[test]
    fn emails_need_one_at_and_at_most_254_characters() {
        assert_eq!(Email::parse(" Bob@Example.COM ").map(|e| e.0), Ok("bob@example.com".to_string()));
        assert!(Email::parse("bob").is_err());
        assert!(Email::parse("a@b@c").is_err());
        assert!(Email::parse("@b").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Email::parse("a b@c").is_err());
        let long = format!("{}@example.com", "a".repeat(242));
        assert_eq!(long.len(), 254);
        assert!(Email::parse(&long).is_ok());
        assert!(Email::parse(&format!("a{long}")).is_err());
    }

    #[test]
    fn an_email_is_one_plain_mailbox_unique_once_normalised() {
        for bad in [
            "\"a>,b\"<x@evil.com",
            "Alice <alice@example.com>",
            "alice@example.com (work)",
            "a,b@example.com",
            "alice@[192.0.2.1]",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@example..com",
            "alice@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        for good in ["o'brien+tag@example.co.uk", "first.last@sub.example.org", "ünïcode@exämple.de"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        let fullwidth = Email::parse("ＡＬＩＣＥ@example.com").unwrap();
        assert_eq!(fullwidth.as_str(), "alice@example.com", "one mailbox, one account");
    }

    #[test]
    fn new_passwords_follow_length_username_and_commonness_rules() {
        let alice = Username::parse("alice").ok();
        let policy = PasswordPolicy::default();
        assert!(NewPassword::parse("short", alice.as_ref(), policy).is_err());
        assert!(NewPassword::parse(&"x".repeat(129), alice.as_ref(), policy).is_err());
        assert!(NewPassword::parse("password1234", alice.as_ref(), policy).is_err());
        assert!(NewPassword::parse("123456789012", alice.as_ref(), policy).is_err());
        assert!(NewPassword::parse("my-ALICE-garden-gate", alice.as_ref(), policy).is_err());
        assert!(NewPassword::parse("quiet otter mends the lamp", alice.as_ref(), policy).is_ok());
        assert!(NewPassword::parse("über café 🐴 correct horse", alice.as_ref(), policy).is_ok());
        let emoji = "🐴🦊🐙🦉🐢🦀🐝🦋🐌🐞🦎🐬";
        assert!(NewPassword::parse(emoji, alice.as_ref(), policy).is_ok());
    }

    #[test]
    fn a_password_that_normalisation_lengthens_still_fits_at_sign_in() {
        // U+FDFA becomes 18 characters under NFKC.
        let typed = format!("{}abcd", "\u{FDFA}".repeat(8));
        assert!(NewPassword::parse(&typed, None, PasswordPolicy::default()).is_ok());
        assert!(!Password::new(&typed).is_over_long());
        assert!(Password::new(&"x".repeat(129)).is_over_long());
    }

    #[test]
    fn passwords_are_compared_after_nfkc_normalisation() {
        let composed = Password::new("caf\u{e9}");
        let decomposed = Password::new("cafe\u{301}");
        assert_eq!(composed.expose(), decomposed.expose());
    }
}
