//! The second-factor code parser and matcher, and JSON bodies carrying a code,
//! on arbitrary input: no panic, and recognised codes have their shapes.
#![no_main]

use latchkey_core::recovery::SecondFactorCode;
use latchkey_core::totp::TotpSecret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(code) = body.get("code").and_then(|c| c.as_str()) {
            let _ = SecondFactorCode::parse(code);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    match SecondFactorCode::parse(text) {
        Some(SecondFactorCode::Totp(digits)) => {
            assert!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()));
            let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
            let step = secret.matching_step(&digits, 1_111_111_111, 0);
            let _ = secret.offset_of(&digits, 1_111_111_111, 20);
            assert!(step.is_none() || step.is_some_and(|s| s.abs_diff(37_037_037) <= 1));
        }
        Some(SecondFactorCode::Recovery(code)) => assert_eq!(code.len(), 16),
        None => {}
    }
});
