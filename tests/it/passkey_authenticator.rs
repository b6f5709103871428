//! A software authenticator for the tests, written from the WebAuthn specification (not
//! from Sésame's code): it answers creation and request options in their WebAuthn JSON
//! forms with the JSON forms a browser gives a page (`RegistrationResponseJSON`,
//! `AuthenticationResponseJSON`). ECDSA P-256 ("none" attestation); discoverable (it
//! keeps the user handle); and every knob an attacker or a broken device has: the
//! origin it claims, user verification, the counter, a copy of itself.

use aws_lc_rs::{
    digest,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const ATTESTED: u8 = 0x40;

#[derive(Clone)]
pub struct SoftAuthenticator {
    pkcs8: Vec<u8>,
    pub credential_id: Vec<u8>,
    pub user_handle: Option<String>,
    /// The origin put in the client data (a browser puts the page's).
    pub origin: String,
    pub verifies_user: bool,
    pub backup_eligible: bool,
    pub counter: u32,
    /// Counts up at each signature (false: always 0, like a synchronised passkey).
    pub counts: bool,
    pub aaguid: [u8; 16],
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let credential_id = aws_lc_rs::rand::generate::<[u8; 32]>(&SystemRandom::new()).unwrap().expose().to_vec();
        Self {
            pkcs8: pair.to_pkcs8v1().unwrap().as_ref().to_vec(),
            credential_id,
            user_handle: None,
            origin: origin.to_string(),
            verifies_user: true,
            backup_eligible: false,
            counter: 0,
            counts: true,
            aaguid: [0x5e; 16],
        }
    }

    fn pair(&self) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap()
    }

    fn flags(&self) -> u8 {
        let mut flags = USER_PRESENT;
        if self.verifies_user {
            flags |= USER_VERIFIED;
        }
        if self.backup_eligible {
            flags |= BACKUP_ELIGIBLE;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// The public key as a COSE_Key (EC2, P-256, ES256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.pair().public_key().as_ref().to_vec();
        let entries = [
            (1, Cbor::Integer(2)),
            (3, Cbor::Integer(-7)),
            (-1, Cbor::Integer(1)),
            (-2, Cbor::Bytes(point[1..33].to_vec())),
            (-3, Cbor::Bytes(point[33..65].to_vec())),
        ];
        let map = entries.into_iter().map(|(k, v)| (Cbor::Integer(k), v)).collect();
        serde_cbor_2::to_vec(&Cbor::Map(map)).unwrap()
    }

    /// `navigator.credentials.create()`: the answer to creation options (the JSON the
    /// server sent, `{"publicKey": …}`).
    pub fn register(&mut self, options: &Value) -> Value {
        let options = &options["publicKey"];
        let challenge = options["challenge"].as_str().expect("challenge");
        let rp_id = options["rp"]["id"].as_str().expect("rp.id");
        self.user_handle = options["user"]["id"].as_str().map(str::to_string);
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags() | ATTESTED);
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend(self.aaguid);
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let object = [
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ];
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(object.into_iter().collect())).unwrap();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get()`: the answer to request options. An authenticator
    /// signs only for its relying party, and only when the options list it (or list none:
    /// a discoverable sign-in).
    pub fn authenticate(&mut self, options: &Value) -> Value {
        let options = &options["publicKey"];
        let challenge = options["challenge"].as_str().expect("challenge");
        let rp_id = options["rpId"].as_str().expect("rpId");
        let allowed = options["allowCredentials"].as_array().cloned().unwrap_or_default();
        let mine = b64(&self.credential_id);
        assert!(allowed.is_empty() || allowed.iter().any(|c| c["id"] == mine.as_str()), "not asked for this passkey");
        if self.counts {
            self.counter += 1;
        }
        let client_data = self.client_data("webauthn.get", challenge);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags());
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = self.pair().sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": mine,
            "rawId": mine,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": self.user_handle,
            },
            "clientExtensionResults": {},
        })
    }
}
