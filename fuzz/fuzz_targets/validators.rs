//! Sign-up validators on arbitrary text: no panic, and what passes keeps the rules.
#![no_main]

use latchkey_core::domain::PasswordPolicy;
use latchkey_core::{Email, NewPassword, Username};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let username = Username::parse(text).ok();
    if let Some(name) = &username {
        assert!((3..=32).contains(&name.as_str().len()));
    }
    if let Ok(email) = Email::parse(text) {
        assert_eq!(email.as_str().matches('@').count(), 1);
    }
    let _ = NewPassword::parse(text, username.as_ref(), PasswordPolicy::default());
});
