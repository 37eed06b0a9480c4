//! A software passkey for the tests: it answers WebAuthn options as an
//! authenticator would (P-256 key, `none` attestation, CBOR as CTAP2 writes
//! it), signing with OpenSSL. Every field a real authenticator fixes (the
//! origin, the relying party id, the flags, the counter) can be set wrong on
//! purpose, so the tests can attack the server's checks one by one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use openssl::sha::sha256;
use serde_cbor_2::Value as Cbor;
use serde_json::{json, Value};

/// User present.
const UP: u8 = 0x01;
/// User verified.
const UV: u8 = 0x04;
/// Backup eligible.
const BE: u8 = 0x08;
/// Backed up.
const BS: u8 = 0x10;
/// Attested credential data follows.
const AT: u8 = 0x40;

/// One credential on a software authenticator.
pub struct SoftKey {
    key: EcKey<Private>,
    /// The credential id.
    pub id: Vec<u8>,
    /// The user handle it was created for (the account's id).
    user_handle: Vec<u8>,
    /// The origin it reports in `clientDataJSON`.
    pub origin: String,
    /// The relying party id whose hash it puts in the authenticator data.
    pub rp_id: String,
    /// Its signature counter; 0 stays 0 (a synced passkey), else it grows by one per use.
    pub counter: u32,
    /// Whether it says it verified the person.
    pub user_verified: bool,
    /// Whether it is a synced passkey (backup eligible and backed up).
    pub synced: bool,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().expect("a base64url string")).expect("base64url")
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

impl SoftKey {
    /// A new key for `origin` (the relying party id is its host).
    pub fn new(origin: &str) -> SoftKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let host = origin.split("://").nth(1).unwrap().split([':', '/']).next().unwrap().to_string();
        let mut id = vec![0u8; 16];
        openssl::rand::rand_bytes(&mut id).unwrap();
        SoftKey {
            key: EcKey::generate(&group).unwrap(),
            id,
            user_handle: Vec::new(),
            origin: origin.to_string(),
            rp_id: host,
            counter: 1,
            user_verified: true,
            synced: false,
        }
    }

    /// A copy of this credential (the same key and counter): what a cloned
    /// security key would be.
    pub fn clone_key(&self) -> SoftKey {
        SoftKey {
            key: self.key.clone(),
            id: self.id.clone(),
            user_handle: self.user_handle.clone(),
            origin: self.origin.clone(),
            rp_id: self.rp_id.clone(),
            counter: self.counter,
            user_verified: self.user_verified,
            synced: self.synced,
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = UP;
        if self.user_verified {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        flags
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("options carry a challenge");
        let data = json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false});
        serde_json::to_vec(&data).unwrap()
    }

    fn cose_key(&self) -> Vec<u8> {
        let group = self.key.group();
        let mut ctx = BigNumContext::new().unwrap();
        let point = self.key.public_key().to_bytes(group, PointConversionForm::UNCOMPRESSED, &mut ctx).unwrap();
        let (x, y) = (point[1..33].to_vec(), point[33..65].to_vec());
        let map = [(1, Cbor::Integer(2)), (3, Cbor::Integer(-7)), (-1, Cbor::Integer(1))]
            .into_iter()
            .map(|(k, v)| (Cbor::Integer(k), v))
            .chain([(Cbor::Integer(-2), Cbor::Bytes(x)), (Cbor::Integer(-3), Cbor::Bytes(y))])
            .collect();
        serde_cbor_2::to_vec(&Cbor::Map(map)).unwrap()
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut data = sha256(self.rp_id.as_bytes()).to_vec();
        data.push(self.flags() | if attested { AT } else { 0 });
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([0u8; 16]); // AAGUID: none
            data.extend(u16::try_from(self.id.len()).unwrap().to_be_bytes());
            data.extend(&self.id);
            data.extend(self.cose_key());
        }
        data
    }

    /// Answers creation options (the `publicKey` member) as
    /// `PublicKeyCredential.toJSON()` would.
    pub fn register(&mut self, options: &Value) -> Value {
        self.user_handle = unb64(&options["user"]["id"]);
        let client_data = self.client_data("webauthn.create", options);
        let attestation = Cbor::Map(
            [
                (text("fmt"), text("none")),
                (text("attStmt"), Cbor::Map(Default::default())),
                (text("authData"), Cbor::Bytes(self.auth_data(true))),
            ]
            .into_iter()
            .collect(),
        );
        self.credential(json!({
            "clientDataJSON": b64(&client_data),
            "attestationObject": b64(&serde_cbor_2::to_vec(&attestation).unwrap()),
            "transports": ["internal"],
        }))
    }

    /// Answers request options (the `publicKey` member) with an assertion,
    /// moving the counter first (unless it is 0).
    pub fn assert(&mut self, options: &Value) -> Value {
        if self.counter > 0 {
            self.counter += 1;
        }
        self.assertion(options)
    }

    /// An assertion with the counter as it is now (a replayed or cloned use).
    pub fn assertion(&self, options: &Value) -> Value {
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = EcdsaSig::sign(&sha256(&signed), &self.key).unwrap().to_der().unwrap();
        self.credential(json!({
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(&signature),
            "userHandle": b64(&self.user_handle),
        }))
    }

    /// A `PublicKeyCredential.toJSON()` of this key around `response`.
    fn credential(&self, response: Value) -> Value {
        json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}
