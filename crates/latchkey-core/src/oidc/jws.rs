//! ID tokens as JWS compact serialisations (RFC 7515): signed here with the
//! store's signing keys through OpenSSL, and checked again when a relying
//! party hands one back (`id_token_hint` at logout). Only the algorithms
//! of [`SigningAlg`] are accepted; `alg: none` or an unknown `kid` is not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use serde_json::{json, Map, Value};

use super::keys::{public_key, sealing_context, signing_key, SigningAlg, SigningKeyRecord};
use super::Oidc;
use crate::error::CoreError;

/// An ECDSA P-256 signature as JWS writes it: r and s, 32 bytes each.
const ES256_SIGNATURE: usize = 64;

fn failed(e: openssl::error::ErrorStack) -> CoreError {
    CoreError::Internal(format!("an ID token signature: {e}"))
}

impl Oidc {
    /// The private half of a stored key, opened with the server key (to sign only).
    fn private_key(&self, key: &SigningKeyRecord) -> Result<PKey<Private>, CoreError> {
        let pem = self
            .key
            .open(&key.private_sealed, &sealing_context(&key.kid))
            .map_err(|_| CoreError::Internal(format!("the signing key {} does not open", key.kid)))?;
        PKey::private_key_from_pem(&pem).map_err(failed)
    }

    /// A JWS (compact) of `claims` under the signing key of `alg`.
    pub(super) async fn sign(&self, alg: SigningAlg, claims: &Value) -> Result<String, CoreError> {
        let keys = self.signing_keys().await?;
        let key = signing_key(&keys, alg, self.clock.now())
            .ok_or_else(|| CoreError::Internal(format!("no {} signing key", alg.as_str())))?;
        let header = json!({"alg": alg.as_str(), "typ": "JWT", "kid": key.kid});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let private = self.private_key(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &private).map_err(failed)?;
        let signature = signer.sign_oneshot_to_vec(signing_input.as_bytes()).map_err(failed)?;
        let signature = match alg {
            SigningAlg::Rs256 => signature,
            // JWS wants ECDSA's r and s side by side, not OpenSSL's DER.
            SigningAlg::Es256 => {
                let der = EcdsaSig::from_der(&signature).map_err(failed)?;
                [der.r().to_vec_padded(32).map_err(failed)?, der.s().to_vec_padded(32).map_err(failed)?].concat()
            }
        };
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The claims of an ID token this provider signed with a key it still
    /// publishes and whose `iss` is this issuer; `None` for anything else
    /// (malformed, `alg: none`, an unknown or forgotten `kid`, a signature
    /// that does not check, a `crit` header it cannot honour). Its expiry is
    /// the caller's to judge: a logout hint may be an expired token
    /// (RP-Initiated Logout 1.0, section 2). Checked with the published
    /// public key, so an unauthenticated request never opens a private one.
    pub async fn verified_claims(&self, jws: &str) -> Result<Option<Map<String, Value>>, CoreError> {
        let Some((signed, signature)) = jws.rsplit_once('.') else { return Ok(None) };
        let Some((header, payload)) = signed.split_once('.').filter(|(_, payload)| !payload.contains('.')) else {
            return Ok(None);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let Some(header) = decode(header).and_then(|h| serde_json::from_slice::<Value>(&h).ok()) else {
            return Ok(None);
        };
        if header.get("crit").is_some() {
            // RFC 7515 4.1.11: no extension is understood here.
            return Ok(None);
        }
        let (Some(alg), Some(kid)) = (header["alg"].as_str().and_then(SigningAlg::parse), header["kid"].as_str())
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        let keys = self.signing_keys().await?;
        let Some(key) = keys.iter().find(|k| k.kid == kid && k.alg == alg && k.published_at(now)) else {
            return Ok(None);
        };
        let Some(signature) = decode(signature) else { return Ok(None) };
        let signature = match alg {
            SigningAlg::Rs256 => signature,
            SigningAlg::Es256 if signature.len() == ES256_SIGNATURE => {
                let (r, s) = signature.split_at(ES256_SIGNATURE / 2);
                let der = EcdsaSig::from_private_components(
                    BigNum::from_slice(r).map_err(failed)?,
                    BigNum::from_slice(s).map_err(failed)?,
                )
                .and_then(|sig| sig.to_der());
                der.map_err(failed)?
            }
            SigningAlg::Es256 => return Ok(None),
        };
        let public = public_key(&key.public_jwk)?;
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).map_err(failed)?;
        if !verifier.verify_oneshot(&signature, signed.as_bytes()).unwrap_or(false) {
            return Ok(None);
        }
        let claims = decode(payload).and_then(|p| serde_json::from_slice::<Map<String, Value>>(&p).ok());
        Ok(claims.filter(|claims| claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str())))
    }
}
