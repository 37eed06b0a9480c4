//! The otpauth URI and QR code for any issuer and secret: no panic, the
//! base32 secret round-trips, and the URI never carries a raw space or '+'.
#![no_main]

use latchkey_core::totp::{otpauth_uri, qr_svg, TotpSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, Vec<u8>)| {
    let (issuer, bytes) = input;
    if bytes.len() < 16 || bytes.len() > 64 || issuer.len() > 200 {
        return;
    }
    let secret = TotpSecret::from_bytes(bytes.clone());
    let base32 = secret.to_base32();
    assert!(!base32.contains('='));
    let uri = otpauth_uri(&issuer, "alice", &secret);
    assert!(!uri.contains(' ') && !uri[..uri.find('?').unwrap_or(uri.len())].contains('+'));
    assert!(uri.contains(&format!("secret={base32}&")));
    let _ = qr_svg(&uri);
});
