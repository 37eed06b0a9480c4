//! TOTP (RFC 6238) with the parameters every authenticator app reads: HMAC-SHA1, 6 digits, 30-second
//! steps, steps t-1..=t+1 accepted, 160-bit secrets; plus the `otpauth://` URI
//! (Key Uri Format) and its QR code. The arithmetic is `totp-rs`'s.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret};

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: u8 = 6;
/// Steps accepted either side of the current one.
const SKEW: u16 = 1;
/// Secret length: 160 bits, RFC 4226's recommendation.
const SECRET_BYTES: usize = 20;

/// Everything but unreserved URI characters is percent-encoded (space as `%20`,
/// never `+`), so labels and issuers with spaces or colons survive every app.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A TOTP shared secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// 160 fresh bits from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// Wraps stored bytes (after unsealing).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    /// The raw bytes, for sealing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        Secret::from(self.0.clone()).to_base32()
    }

    /// The step (counter) among t-1, t, t+1 whose code is `code`, if any,
    /// where t is the current step moved by `drift` steps (the authenticator's
    /// learned clock offset; the window is never wider than ±1 around it).
    /// `code` must be exactly six ASCII digits. All three candidates are
    /// computed and compared in constant time whatever matches, so the time
    /// taken says nothing about which step (if any) matched.
    pub fn matching_step(&self, code: &str, unix_time: u64, drift: i64) -> Option<u64> {
        if !is_six_digits(code) {
            return None;
        }
        let totp = self.totp()?;
        let now = step_of(unix_time).saturating_add_signed(drift);
        let mut found = None;
        for step in now.saturating_sub(u64::from(SKEW))..=now + u64::from(SKEW) {
            let candidate = totp.generate(step * STEP_SECONDS).to_string();
            let matches: bool = candidate.as_bytes().ct_eq(code.as_bytes()).into();
            if matches && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

impl TotpSecret {
    /// For a code that did not match: the offset in steps (at most `within`
    /// either way) at which it would have. Never accepts anything; it tells a
    /// person that their phone's clock is off instead of a bare "wrong code".
    pub fn offset_of(&self, code: &str, unix_time: u64, within: u64) -> Option<i64> {
        if !is_six_digits(code) {
            return None;
        }
        let totp = self.totp()?;
        let now = step_of(unix_time);
        let step = (now.saturating_sub(within)..=now + within)
            .find(|&step| totp.generate(step * STEP_SECONDS).to_string() == code)?;
        Some(i64::try_from(step).ok()? - i64::try_from(now).ok()?)
    }

    fn totp(&self) -> Option<totp_rs::Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.clone())
            .build()
            .ok()
    }
}

fn is_six_digits(code: &str) -> bool {
    code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The step a Unix time falls in.
pub fn step_of(unix_time: u64) -> u64 {
    unix_time / STEP_SECONDS
}

/// `otpauth://totp/ISSUER:USERNAME?secret=S&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`,
/// label and issuer percent-encoded.
pub fn otpauth_uri(issuer: &str, username: &str, secret: &TotpSecret) -> String {
    let issuer = utf8_percent_encode(issuer, URI_COMPONENT).to_string();
    let account = utf8_percent_encode(username, URI_COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret.to_base32()
    )
}

/// The base32 secret in groups of four, for typing by hand.
pub fn grouped(base32: &str) -> String {
    base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c)).collect::<Vec<_>>().join(" ")
}

/// The URI as an inline SVG QR code: medium error correction, the standard
/// four-module quiet zone, black on white (phones read dark-on-light best),
/// at least 264 px so a phone can read it off a laptop screen.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(264, 264)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline SVG must not carry an XML declaration.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's test secret, "12345678901234567890" in ASCII.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn rfc4226_appendix_d_values_match_as_totp_counters() {
        let vectors =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in vectors.iter().enumerate() {
            let time = counter as u64 * STEP_SECONDS;
            assert_eq!(rfc_secret().matching_step(code, time, 0), Some(counter as u64), "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors_match_in_six_digits() {
        // (time, 8-digit TOTP) from RFC 6238 Appendix B; six digits are the last six.
        let vectors = [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code8) in vectors {
            let code6 = &code8[2..];
            assert_eq!(rfc_secret().matching_step(code6, time, 0), Some(step_of(time)), "t={time}");
        }
    }

    #[test]
    fn only_steps_t_minus_1_to_t_plus_1_are_accepted() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let t = step_of(now);
        for (offset, accepted) in [(-3i64, false), (-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = (t as i64 + offset) as u64;
            let code = totp_rs::Builder::new()
                .with_secret(secret.as_bytes().to_vec())
                .build()
                .unwrap()
                .generate(step * STEP_SECONDS)
                .to_string();
            assert_eq!(secret.matching_step(&code, now, 0).is_some(), accepted, "offset {offset}");
        }
    }

    #[test]
    fn a_learned_drift_moves_the_window_but_never_widens_it() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let t = step_of(now);
        let code_at = |step: u64| {
            totp_rs::Builder::new()
                .with_secret(secret.as_bytes().to_vec())
                .build()
                .unwrap()
                .generate(step * STEP_SECONDS)
                .to_string()
        };
        assert_eq!(secret.matching_step(&code_at(t + 2), now, 0), None);
        assert_eq!(secret.matching_step(&code_at(t + 2), now, 1), Some(t + 2), "a phone one step fast");
        assert_eq!(secret.matching_step(&code_at(t - 1), now, 1), None, "the window moved, it did not grow");
        assert_eq!(secret.offset_of(&code_at(t + 4), now, 10), Some(4), "two minutes fast");
        assert_eq!(secret.offset_of(&code_at(t - 3), now, 10), Some(-3));
        assert_eq!(secret.offset_of("000000", now, 10).filter(|o| o.abs() > 10), None);
    }

    #[test]
    fn malformed_codes_never_match() {
        let secret = rfc_secret();
        for code in ["", "28708", "2870821", "28708a", "+87082", " 87082", "２８７０８２"] {
            assert_eq!(secret.matching_step(code, 59, 0), None, "{code:?}");
        }
    }

    #[test]
    fn secrets_are_160_bit_and_base32_without_padding() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), 20);
        let b32 = secret.to_base32();
        assert_eq!(b32.len(), 32);
        assert!(b32.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_ne!(secret, TotpSecret::generate());
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(grouped("GEZDGNBVGY3TQOJQ"), "GEZD GNBV GY3T QOJQ");
        assert!(!format!("{secret:?}").contains(&b32));
    }

    #[test]
    fn the_uri_follows_the_key_uri_format_with_encoded_label_and_issuer() {
        let uri = otpauth_uri("ACME Co: Login", "alice", &rfc_secret());
        assert_eq!(
            uri,
            "otpauth://totp/ACME%20Co%3A%20Login:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ACME%20Co%3A%20Login&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("otpauth://totp/Latchkey:alice?secret=AAAA").unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml") && !svg.contains("style="));
    }
}
