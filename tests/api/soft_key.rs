//! A software passkey for the tests: it answers WebAuthn options as an
//! authenticator would (P-256 key, `none` attestation, CBOR as CTAP2 writes
//! it), signing with OpenSSL. Every field a real authenticator fixes (the
//! origin, the relying party id, the flags, the counter) can be set wrong on
//! purpose, so the tests can attack the server's checks one by one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sha::sha256;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Builder, X509Extension, X509Name, X509NameBuilder, X509};
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
    /// Its model (AAGUID); zeros: none said.
    aaguid: [u8; 16],
    /// With `packed` attestation: its attestation key and certificate.
    attestation: Option<(EcKey<Private>, X509)>,
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
            aaguid: [0; 16],
            attestation: None,
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
            aaguid: self.aaguid,
            attestation: self.attestation.clone(),
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
            data.extend(self.aaguid);
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
        let auth_data = self.auth_data(true);
        let (format, statement) = match &self.attestation {
            None => ("none", Cbor::Map(Default::default())),
            Some((key, certificate)) => {
                // Packed attestation: the model's key signs what the new credential's would.
                let mut signed = auth_data.clone();
                signed.extend(sha256(&client_data));
                let signature = EcdsaSig::sign(&sha256(&signed), key).unwrap().to_der().unwrap();
                let x5c = Cbor::Array(vec![Cbor::Bytes(certificate.to_der().unwrap())]);
                let statement =
                    [(text("alg"), Cbor::Integer(-7)), (text("sig"), Cbor::Bytes(signature)), (text("x5c"), x5c)];
                ("packed", Cbor::Map(statement.into_iter().collect()))
            }
        };
        let attestation = Cbor::Map(
            [(text("fmt"), text(format)), (text("attStmt"), statement), (text("authData"), Cbor::Bytes(auth_data))]
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

/// A maker of hardware keys: its attestation root, and keys of its models
/// whose attestation certificates it signs (with the model's AAGUID, as
/// FIDO's `id-fido-gen-ce-aaguid` extension carries it).
pub struct Vendor {
    key: PKey<Private>,
    root: X509,
}

fn p256() -> EcKey<Private> {
    EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()
}

fn name(entries: &[(&str, &str)]) -> X509Name {
    let mut name = X509NameBuilder::new().unwrap();
    for (field, value) in entries {
        name.append_entry_by_text(field, value).unwrap();
    }
    name.build()
}

/// A certificate for `key`, valid from now for a year, to be signed.
fn certificate(subject: &X509Name, issuer: &X509Name, key: &PKey<Private>, ca: bool) -> X509Builder {
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false).unwrap();
    builder.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
    builder.set_subject_name(subject).unwrap();
    builder.set_issuer_name(issuer).unwrap();
    builder.set_pubkey(key).unwrap();
    builder.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    builder.set_not_after(&Asn1Time::days_from_now(365).unwrap()).unwrap();
    let mut constraints = BasicConstraints::new();
    constraints.critical();
    if ca {
        constraints.ca();
    }
    builder.append_extension(constraints.build().unwrap()).unwrap();
    builder
}

impl Vendor {
    /// A vendor with a fresh root certificate.
    pub fn new(company: &str) -> Vendor {
        let key = PKey::from_ec_key(p256()).unwrap();
        let subject = name(&[("C", "SE"), ("O", company), ("CN", &format!("{company} Attestation Root"))]);
        let mut root = certificate(&subject, &subject, &key, true);
        root.sign(&key, MessageDigest::sha256()).unwrap();
        Vendor { key, root: root.build() }
    }

    /// Its root certificate, PEM (what an operator lists in `webauthn_attestation_cas`).
    pub fn root_pem(&self) -> Vec<u8> {
        self.root.to_pem().unwrap()
    }

    /// A key of the model `aaguid`, attested by this vendor, for `origin`.
    pub fn key(&self, origin: &str, aaguid: uuid::Uuid) -> SoftKey {
        let attestation_key = p256();
        let public = PKey::from_ec_key(attestation_key.clone()).unwrap();
        let subject = name(&[("C", "SE"), ("O", "Test Keys"), ("OU", "Authenticator Attestation"), ("CN", "Test Key")]);
        let issuer = self.root.subject_name().to_owned().unwrap();
        let mut leaf = certificate(&subject, &issuer, &public, false);
        let oid = Asn1Object::from_str("1.3.6.1.4.1.45724.1.1.4").unwrap();
        let value = [&[0x04, 0x10][..], aaguid.as_bytes()].concat();
        let extension =
            X509Extension::new_from_der(&oid, false, &Asn1OctetString::new_from_bytes(&value).unwrap()).unwrap();
        leaf.append_extension(extension).unwrap();
        leaf.sign(&self.key, MessageDigest::sha256()).unwrap();
        let mut key = SoftKey::new(origin);
        key.aaguid = *aaguid.as_bytes();
        key.attestation = Some((attestation_key, leaf.build()));
        key
    }
}
