//! The keys ID tokens are signed with (contract section 9): RS256, which
//! every relying party must accept, and ES256 for those that ask. They are
//! made with OpenSSL, which the WebAuthn layer links already (ring cannot
//! make RSA keys; RustCrypto's `rsa` carries a timing advisory, RUSTSEC-2023-0071,
//! for decryption, which signing with OpenSSL does not raise). The private
//! half is kept sealed under the server key; the public half is the JWK
//! that `/oauth2/jwks` publishes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::error::CoreError;
use crate::secret_box::SecretBox;

/// RSA modulus size: 2048 bits, what RS256 relying parties expect.
const RSA_BITS: u32 = 2048;

/// How long a retired key stays published: relying parties cache the key
/// set for hours, and tokens signed just before a rotation must still check.
pub const PUBLISHED_AFTER_RETIREMENT: Duration = Duration::days(1);

/// How long relying parties may cache the key set (`/oauth2/jwks`'s `max-age`).
pub const KEY_SET_CACHED_FOR: Duration = Duration::minutes(5);

/// How long a new key is published before it signs: twice the key set's
/// cache time, so a relying party that fetched the set just before the new
/// key was written has fetched it again before a token needs it.
pub const PUBLISHED_BEFORE_SIGNING: Duration = Duration::minutes(10);

const _: () = assert!(PUBLISHED_BEFORE_SIGNING.whole_seconds() >= 2 * KEY_SET_CACHED_FOR.whole_seconds());

/// A signature algorithm of ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (required by OpenID Connect).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl SigningAlg {
    /// Every algorithm a key is kept for.
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Rs256, SigningAlg::Es256];

    /// The JOSE name (`RS256`, `ES256`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
        }
    }

    /// The algorithm a JOSE name names.
    pub fn parse(name: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|alg| alg.as_str() == name)
    }
}

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// The key id (the JWK's and the token header's `kid`).
    pub kid: String,
    /// What it signs with.
    pub alg: SigningAlg,
    /// The private key (PKCS#8 PEM), sealed under the server key.
    pub private_sealed: Vec<u8>,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops (or stopped) signing: a rotation sets it
    /// [`PUBLISHED_BEFORE_SIGNING`] ahead, while its successor is published
    /// first. `None`: the newest key of its algorithm, which signs once
    /// published long enough (see [`signing_key`]).
    pub retired_at: Option<OffsetDateTime>,
}

impl SigningKeyRecord {
    /// Whether the key set still publishes it at `now`.
    pub fn published_at(&self, now: OffsetDateTime) -> bool {
        self.retired_at.is_none_or(|retired| now < retired + PUBLISHED_AFTER_RETIREMENT)
    }
}

/// The key that signs `alg` tokens at `now`: of the keys not retired by
/// then, the newest published for [`PUBLISHED_BEFORE_SIGNING`]; the oldest
/// when none has been (the first key ever made signs at once, as no one can
/// have cached a set without it, and a rotation soon after it does not
/// jump to a key just written).
pub fn signing_key(keys: &[SigningKeyRecord], alg: SigningAlg, now: OffsetDateTime) -> Option<&SigningKeyRecord> {
    let live: Vec<&SigningKeyRecord> =
        keys.iter().filter(|k| k.alg == alg && k.retired_at.is_none_or(|retired| now < retired)).collect();
    let published = live.iter().filter(|k| k.created_at + PUBLISHED_BEFORE_SIGNING <= now);
    published.max_by_key(|k| k.created_at).or_else(|| live.iter().min_by_key(|k| k.created_at)).copied()
}

/// The associated data a signing key is sealed with: it opens only as this key.
pub fn sealing_context(kid: &str) -> Vec<u8> {
    format!("oidc-signing-key:{kid}").into_bytes()
}

fn crypto(e: openssl::error::ErrorStack) -> CoreError {
    CoreError::Internal(format!("a signing key: {e}"))
}

/// A new key for `alg`, made now, its private half sealed under `key`.
pub fn generate(alg: SigningAlg, key: &SecretBox, now: OffsetDateTime) -> Result<SigningKeyRecord, CoreError> {
    let kid = crate::token::random_token()[..16].to_string();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let (private, jwk) = match alg {
        SigningAlg::Rs256 => {
            let rsa = Rsa::generate(RSA_BITS).map_err(crypto)?;
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid,
                "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
            });
            (PKey::from_rsa(rsa).map_err(crypto)?, jwk)
        }
        SigningAlg::Es256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
            let ec = EcKey::generate(&group).map_err(crypto)?;
            let (mut x, mut y) = (BigNum::new().map_err(crypto)?, BigNum::new().map_err(crypto)?);
            let mut ctx = BigNumContext::new().map_err(crypto)?;
            ec.public_key().affine_coordinates(&group, &mut x, &mut y, &mut ctx).map_err(crypto)?;
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "P-256",
                "x": b64(&x.to_vec_padded(32).map_err(crypto)?), "y": b64(&y.to_vec_padded(32).map_err(crypto)?),
            });
            (PKey::from_ec_key(ec).map_err(crypto)?, jwk)
        }
    };
    let pem = private.private_key_to_pem_pkcs8().map_err(crypto)?;
    Ok(SigningKeyRecord {
        private_sealed: key.seal(&pem, &sealing_context(&kid)),
        kid,
        alg,
        public_jwk: jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}

/// The public key a stored JWK (ours, as [`generate`] wrote it) holds:
/// what a signature is checked with, so checking never opens the private half.
pub fn public_key(jwk: &str) -> Result<PKey<Public>, CoreError> {
    let corrupt = || CoreError::Internal("a stored JWK is not one of ours".into());
    let jwk: serde_json::Value = serde_json::from_str(jwk).map_err(|_| corrupt())?;
    let number = |field: &str| -> Result<BigNum, CoreError> {
        let bytes = jwk[field].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok()).ok_or_else(corrupt)?;
        BigNum::from_slice(&bytes).map_err(crypto)
    };
    match jwk["kty"].as_str() {
        Some("RSA") => PKey::from_rsa(Rsa::from_public_components(number("n")?, number("e")?).map_err(crypto)?),
        Some("EC") => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
            let (x, y) = (number("x")?, number("y")?);
            let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(crypto)?;
            PKey::from_ec_key(ec)
        }
        _ => return Err(corrupt()),
    }
    .map_err(crypto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_publish_their_public_half_only_and_open_only_as_themselves() {
        let (key, _) = SecretBox::generate();
        let now = OffsetDateTime::UNIX_EPOCH;
        for alg in SigningAlg::ALL {
            let made = generate(alg, &key, now).unwrap();
            let jwk: serde_json::Value = serde_json::from_str(&made.public_jwk).unwrap();
            assert_eq!((jwk["alg"].as_str(), jwk["kid"].as_str()), (Some(alg.as_str()), Some(made.kid.as_str())));
            assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "no private parameter");
            let pem = key.open(&made.private_sealed, &sealing_context(&made.kid)).unwrap();
            assert!(String::from_utf8(pem).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
            assert!(key.open(&made.private_sealed, &sealing_context("another")).is_err());
        }
        let retired = SigningKeyRecord { retired_at: Some(now), ..generate(SigningAlg::Es256, &key, now).unwrap() };
        assert!(retired.published_at(now + Duration::hours(23)));
        assert!(!retired.published_at(now + Duration::hours(25)));
    }

    #[test]
    fn a_rotated_key_signs_only_once_it_has_been_published_a_while() {
        let (key, _) = SecretBox::generate();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let first = generate(SigningAlg::Rs256, &key, t0).unwrap();
        let chosen = |keys: &[SigningKeyRecord], at| signing_key(keys, SigningAlg::Rs256, at).map(|k| k.kid.clone());
        assert_eq!(chosen(std::slice::from_ref(&first), t0), Some(first.kid.clone()), "the first key signs at once");
        assert_eq!(signing_key(std::slice::from_ref(&first), SigningAlg::Es256, t0).map(|k| &k.kid), None);

        // A rotation an hour later retires the old key five minutes on.
        let rotated_at = t0 + Duration::hours(1);
        let old = SigningKeyRecord { retired_at: Some(rotated_at + PUBLISHED_BEFORE_SIGNING), ..first };
        let new = generate(SigningAlg::Rs256, &key, rotated_at).unwrap();
        let keys = [new.clone(), old.clone()];
        assert_eq!(chosen(&keys, rotated_at), Some(old.kid.clone()), "published, not signing yet");
        assert_eq!(chosen(&keys, rotated_at + Duration::minutes(9)), Some(old.kid.clone()));
        assert_eq!(chosen(&keys, rotated_at + PUBLISHED_BEFORE_SIGNING), Some(new.kid.clone()), "then it signs");
        assert!(old.published_at(rotated_at + Duration::hours(24)), "the old key stays published");

        // A rotation a minute after the first key was made: the first key,
        // though not published long, signs until the new one has been.
        let young = generate(SigningAlg::Rs256, &key, t0).unwrap();
        let soon = t0 + Duration::minutes(1);
        let young = SigningKeyRecord { retired_at: Some(soon + PUBLISHED_BEFORE_SIGNING), ..young };
        let newer = generate(SigningAlg::Rs256, &key, soon).unwrap();
        let keys = [newer.clone(), young.clone()];
        assert_eq!(chosen(&keys, soon), Some(young.kid.clone()), "not the key just written");
        assert_eq!(chosen(&keys, soon + PUBLISHED_BEFORE_SIGNING), Some(newer.kid.clone()));
    }
}
