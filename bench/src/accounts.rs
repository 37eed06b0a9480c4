//! The benchmark's accounts, named and keyed the same way on every system
//! (`bench/parse/fixture.mjs` follows the same rules), so the load generator
//! can sign any of them in and compute their codes.

use sha2::{Digest, Sha256};

/// Account `i` without MFA (password sign-ins and `me`).
pub fn plain_username(i: usize) -> String {
    format!("bench{i}")
}

/// Account `i` with MFA.
pub fn mfa_username(i: usize) -> String {
    format!("benchmfa{i}")
}

/// The password of account `i` (of either kind).
pub fn password(i: usize) -> String {
    format!("bench-password-{i}")
}

/// The TOTP secret of MFA account `i`: the first 20 bytes of
/// SHA-256("latchkey-bench:" + i).
pub fn mfa_secret(i: usize) -> Vec<u8> {
    Sha256::digest(format!("latchkey-bench:{i}").as_bytes())[..20].to_vec()
}

/// The 6-digit code of `secret` at `unix_time` (RFC 6238, by totp-rs).
pub fn code_at(secret: &[u8], unix_time: u64) -> anyhow::Result<String> {
    let totp = totp_rs::Builder::new().with_secret(secret.to_vec()).build().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(totp.generate(unix_time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_the_parse_fixture() {
        // bench/parse/fixture.mjs prints this for i = 0.
        assert_eq!(totp_rs::Secret::from(mfa_secret(0)).to_base32(), "AFZL6BCBIJEKVDF2U6LFUSUY4AXUKLNS");
    }

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082, of which six digits.
        assert_eq!(code_at(b"12345678901234567890", 59).unwrap(), "287082");
    }
}
