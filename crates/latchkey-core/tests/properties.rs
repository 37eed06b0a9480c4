//! Property tests for the parsers that take untrusted text: whatever comes in,
//! they do not panic, and what they accept keeps the rules they state.

// A failed unwrap in a test is a failed test.
#![allow(clippy::unwrap_used)]

use latchkey_core::recovery::{generate_set, normalise, SecondFactorCode};
use latchkey_core::totp::TotpSecret;
use latchkey_core::{Email, Username};
use proptest::prelude::*;

proptest! {
    #[test]
    fn an_accepted_username_keeps_the_rules_and_parses_to_itself(raw in "([A-Za-z0-9._-]|\\PC){0,40}") {
        if let Ok(name) = Username::parse(&raw) {
            let text = name.as_str();
            prop_assert!((3..=32).contains(&text.chars().count()));
            prop_assert!(text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)));
            prop_assert_eq!(Username::parse(text).unwrap(), name.clone());
            prop_assert_eq!(text, raw.to_ascii_lowercase());
        }
    }

    #[test]
    fn every_name_of_the_allowed_characters_and_length_is_accepted(raw in "[A-Za-z0-9._-]{3,32}") {
        prop_assert!(Username::parse(&raw).is_ok());
    }

    #[test]
    fn an_accepted_email_has_one_at_and_at_most_254_characters(raw in "([a-zA-Z0-9.@ ]|\\PC){0,300}") {
        if let Ok(email) = Email::parse(&raw) {
            let text = email.as_str();
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(text.chars().count() <= 254);
            prop_assert!(!text.chars().any(char::is_whitespace));
            prop_assert_eq!(text.to_lowercase(), text);
        }
    }

    #[test]
    fn six_digits_parse_as_a_totp_code_wherever_spaces_fall(code in "[0-9]{6}", cut in 0usize..7) {
        let typed = format!(" {} {} ", &code[..cut], &code[cut..]);
        prop_assert!(SecondFactorCode::parse(&typed) == Some(SecondFactorCode::Totp(code)));
    }

    #[test]
    fn the_code_parser_and_matcher_take_any_text(raw in "\\PC{0,64}", time in any::<u32>(), drift in -2i8..=2) {
        let parsed = SecondFactorCode::parse(&raw);
        if let Some(SecondFactorCode::Totp(digits)) = &parsed {
            prop_assert_eq!(digits.len(), 6);
        }
        if let Some(SecondFactorCode::Recovery(code)) = &parsed {
            prop_assert_eq!(code.len(), 16);
        }
        let secret = TotpSecret::from_bytes(vec![7; 20]);
        let _ = secret.matching_step(&raw, u64::from(time), i64::from(drift));
        let _ = secret.offset_of(&raw, u64::from(time), 20);
    }
}

#[test]
fn recovery_codes_parse_back_however_they_are_retyped() {
    for code in generate_set() {
        let expected = Some(SecondFactorCode::Recovery(normalise(&code)));
        for typed in [code.clone(), code.to_uppercase(), code.replace('-', " "), code.replace('-', "")] {
            assert!(SecondFactorCode::parse(&typed) == expected, "{typed}");
        }
    }
}
