//! Second-factor codes as typed: a 6-digit TOTP code or a recovery code
//! (`xxxx-xxxx-xxxx-xxxx` of `a-z2-7`, 80 bits), forgiving case, spaces and dashes.

use rand::rngs::OsRng;
use rand::RngCore;
use totp_rs::Secret;

/// Recovery codes per set.
pub const CODES_PER_SET: usize = 10;
/// Characters in a recovery code without its dashes (16 × 5 bits = 80 bits).
const RECOVERY_LEN: usize = 16;

/// A code as the user typed it, recognised by its shape.
#[derive(PartialEq, Eq)]
pub enum SecondFactorCode {
    /// Six ASCII digits (spaces removed, so a paste of "123 456" works).
    Totp(String),
    /// Sixteen base32 characters, lower-cased, without separators.
    Recovery(String),
}

impl SecondFactorCode {
    /// Recognises a TOTP or recovery code; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
            return Some(SecondFactorCode::Totp(compact));
        }
        let recovery: String = compact.chars().filter(|&c| c != '-').map(|c| c.to_ascii_lowercase()).collect();
        let alphabet = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
        if recovery.len() == RECOVERY_LEN && recovery.chars().all(alphabet) {
            return Some(SecondFactorCode::Recovery(recovery));
        }
        None
    }
}

/// A fresh set of recovery codes, formatted for display: `xxxx-xxxx-xxxx-xxxx`.
pub fn generate_set() -> Vec<String> {
    (0..CODES_PER_SET).map(|_| generate_one()).collect()
}

fn generate_one() -> String {
    let mut bytes = [0u8; 10];
    OsRng.fill_bytes(&mut bytes);
    let encoded = Secret::from(bytes.to_vec()).to_base32().to_ascii_lowercase();
    encoded.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c)).collect::<Vec<_>>().join("-")
}

/// The form a recovery code is hashed in: what [`SecondFactorCode::parse`] yields.
pub fn normalise(displayed: &str) -> String {
    displayed.replace('-', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_a_totp_code_even_pasted_with_a_space() {
        assert!(SecondFactorCode::parse("123456") == Some(SecondFactorCode::Totp("123456".into())));
        assert!(SecondFactorCode::parse(" 123 456 ") == Some(SecondFactorCode::Totp("123456".into())));
        for bad in ["12345", "1234567", "12345a", "１２３４５６", "", "-12345"] {
            assert!(SecondFactorCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_forgive_case_spaces_and_dashes() {
        let expected = Some(SecondFactorCode::Recovery("abcd2345efgh6723".into()));
        for typed in ["abcd-2345-efgh-6723", "ABCD-2345-EFGH-6723", "abcd 2345 efgh 6723", "abcd2345efgh6723"] {
            assert!(SecondFactorCode::parse(typed) == expected, "{typed:?}");
        }
        for bad in ["abcd-2345-efgh-672", "abcd-2345-efgh-6781", "abcd-2345-efgh-672!"] {
            assert!(SecondFactorCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_set_is_ten_distinct_80_bit_codes_in_the_contract_format() {
        let set = generate_set();
        assert_eq!(set.len(), 10);
        for code in &set {
            assert_eq!(code.len(), 19, "{code}");
            let parts: Vec<_> = code.split('-').collect();
            assert_eq!(parts.len(), 4);
            assert!(parts.iter().all(|p| p.len() == 4));
            assert!(SecondFactorCode::parse(code) == Some(SecondFactorCode::Recovery(normalise(code))));
        }
        let mut unique = set.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }
}
