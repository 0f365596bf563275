//! Message encryption (dci-spec §2.8, §8.5): the DCI `EncryptedMessage`, which is an RFC 7516
//! flattened JWE JSON serialization whose only header is the per-recipient `header`.
//!
//! ```json
//! {"header": {"alg": "ECDH-ES", "enc": "A256GCM", "kid": "<recipient's key id>",
//!             "epk": {"kty": "EC", "crv": "P-256", "x": "…", "y": "…"}},
//!  "encrypted_key": "", "iv": "…", "ciphertext": "…", "tag": "…"}
//! ```
//!
//! **Profile.** The plaintext is the JSON text of the message object. Content encryption is
//! `A256GCM` (AES-256-GCM, 96-bit `iv`, 128-bit `tag`). Key management is one of
//! [`KeyManagement`]: `ECDH-ES` (the default: direct key agreement on P-256, Concat KDF with
//! SHA-256, `encrypted_key` empty), `ECDH-ES+A256KW` (the same agreement wrapping a random
//! content key with AES Key Wrap) or `RSA-OAEP-256`. `kid` names the recipient's key, published
//! in its JWKS with `"use": "enc"` (§8.3).
//!
//! **AAD.** spx sends no `protected` member, so by RFC 7516 §5.1 the additional authenticated
//! data is the empty string: the header travels unauthenticated, but a changed `alg`, `enc`,
//! `kid` or `epk` only makes decryption fail. For interoperability, a received `protected`
//! member (and `aad` member) is honoured as RFC 7516 says: its parameters join the header and
//! `ASCII(protected)` (`|| "." || aad`) is the AAD. A received `encrypted_key` may be absent
//! for `ECDH-ES` (RFC 7516 §7.2.1 omits empty members); spx always sends it, as the DCI schema
//! requires it.
//!
//! Every failure is a [`JweError`], which callers answer with `err.encryption.invalid`.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap as _};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dci::{ReasonCode, Rejection};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::keys::{Jwk, KeyError, jwk_error};

/// The content encryption (`enc`) of the profile: AES-256-GCM.
pub const CONTENT_ENCRYPTION: &str = "A256GCM";

/// Bytes of an A256GCM content key, and of the ECDH-ES+A256KW key-encryption key.
const CEK_LEN: usize = 32;
/// Bytes of an AES-GCM tag.
const TAG_LEN: usize = 16;

/// A JWE key-management algorithm (`alg`) of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyManagement {
    /// ECDH-ES on P-256, direct key agreement (RFC 7518 §4.6): the Concat KDF output is the
    /// content key and `encrypted_key` is empty. The default.
    #[serde(rename = "ECDH-ES")]
    EcdhEs,
    /// ECDH-ES on P-256 whose KDF output wraps a random content key with AES-256 Key Wrap
    /// (RFC 3394).
    #[serde(rename = "ECDH-ES+A256KW")]
    EcdhEsA256Kw,
    /// RSAES-OAEP with SHA-256 and MGF1 with SHA-256 (RFC 7518 §4.3); keys of 2048 bits or more.
    #[serde(rename = "RSA-OAEP-256")]
    RsaOaep256,
}

impl KeyManagement {
    /// Every algorithm, default first.
    pub const ALL: [KeyManagement; 3] = [
        KeyManagement::EcdhEs,
        KeyManagement::EcdhEsA256Kw,
        KeyManagement::RsaOaep256,
    ];

    /// The JOSE `alg` name: `ECDH-ES`, `ECDH-ES+A256KW`, `RSA-OAEP-256`.
    pub const fn jose_name(self) -> &'static str {
        match self {
            KeyManagement::EcdhEs => "ECDH-ES",
            KeyManagement::EcdhEsA256Kw => "ECDH-ES+A256KW",
            KeyManagement::RsaOaep256 => "RSA-OAEP-256",
        }
    }

    /// Reads a JOSE `alg` value (case-sensitive, as JOSE is).
    pub fn from_jose_name(alg: &str) -> Option<KeyManagement> {
        KeyManagement::ALL
            .into_iter()
            .find(|candidate| candidate.jose_name() == alg)
    }

    /// The JWK key type (`kty`) the algorithm works with: `EC` (P-256) or `RSA`.
    pub const fn key_type(self) -> &'static str {
        match self {
            KeyManagement::EcdhEs | KeyManagement::EcdhEsA256Kw => "EC",
            KeyManagement::RsaOaep256 => "RSA",
        }
    }
}

impl fmt::Display for KeyManagement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jose_name())
    }
}

/// Why a message could not be encrypted or decrypted. Every variant is answered with the DCI
/// code `err.encryption.invalid` ([`JweError::code`]); the `Display` text is the precise
/// reason, for logs and `error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    /// The message is not an `EncryptedMessage`: not an object, a member missing or of the
    /// wrong type, a header parameter given twice, a value of the wrong size.
    #[error("malformed encrypted message: {0}")]
    Malformed(String),
    /// A member that must be base64url is not.
    #[error("malformed encrypted message: \"{0}\" is not base64url")]
    Base64(&'static str),
    /// A header parameter names something this profile does not do: an `alg` other than
    /// ECDH-ES, ECDH-ES+A256KW and RSA-OAEP-256, an `enc` other than A256GCM, compression
    /// (`zip`) or critical extensions (`crit`).
    #[error("unsupported {parameter} \"{value}\"")]
    Unsupported {
        /// The header parameter.
        parameter: &'static str,
        /// Its value.
        value: String,
    },
    /// No encryption key with this `kid` (for the service's own keys: none current or in its
    /// overlap period).
    #[error("no encryption key '{0}'")]
    UnknownKey(String),
    /// The key named by `kid` is not of the type the `alg` needs.
    #[error("key '{kid}' cannot be used with {algorithm}")]
    KeyMismatch {
        /// The key id.
        kid: String,
        /// The message's `alg`.
        algorithm: KeyManagement,
    },
    /// Decryption failed: another key encrypted it, or the ciphertext, tag, iv, encrypted key,
    /// ephemeral key or authenticated data were altered. Deliberately not more precise.
    #[error("the message does not decrypt (wrong key, or altered in transit)")]
    Decrypt,
    /// It decrypted, but the plaintext is not JSON.
    #[error("the decrypted message is not JSON: {0}")]
    NotJson(String),
    /// The crypto library failed while encrypting; not expected in practice.
    #[error("encryption failed: {0}")]
    Crypto(&'static str),
}

impl JweError {
    /// The DCI code: always `err.encryption.invalid`.
    pub fn code(&self) -> ReasonCode {
        ReasonCode::EncryptionInvalid
    }
}

impl From<JweError> for Rejection {
    fn from(error: JweError) -> Rejection {
        Rejection::new(error.code(), error.to_string())
    }
}

/// A recipient's public encryption key, read from its JWKS; cheap to clone.
#[derive(Clone)]
pub struct EncryptionKey(Arc<EncryptionInner>);

struct EncryptionInner {
    algorithm: KeyManagement,
    kid: String,
    jwk: Jwk,
    public: PublicPart,
}

enum PublicPart {
    /// The uncompressed SEC1 point.
    P256(Vec<u8>),
    Rsa(PublicEncryptingKey),
}

impl EncryptionKey {
    /// Reads a public JWK: `EC`/`P-256` or `RSA` (2048 bits or more). Its `kid` is kept as
    /// given and is the RFC 7638 thumbprint when absent. Its `alg` is the algorithm messages
    /// to it are encrypted with; without one, `ECDH-ES` for an EC key and `RSA-OAEP-256` for
    /// an RSA key. A key marked `"use": "sig"`, or whose `alg` is not a key-management
    /// algorithm for its key type, is refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<EncryptionKey, KeyError> {
        jwk.check_use("enc")?;
        let public = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let point = jwk.p256_point()?;
                ParsedPublicKey::try_from(&UnparsedPublicKey::new(&ECDH_P256, &point))
                    .map_err(|e| jwk_error(jwk, format!("not a P-256 point: {e}")))?;
                PublicPart::P256(point)
            }
            ("RSA", _) => PublicPart::Rsa(
                jwk.rsa_components()?
                    .try_into()
                    .map_err(|_| jwk_error(jwk, "not a usable RSA public key"))?,
            ),
            _ => return Err(jwk.unsupported_type()),
        };
        let algorithm = match jwk.alg.as_deref() {
            None if jwk.kty == "RSA" => KeyManagement::RsaOaep256,
            None => KeyManagement::EcdhEs,
            Some(alg) => KeyManagement::from_jose_name(alg)
                .filter(|algorithm| algorithm.key_type() == jwk.kty)
                .ok_or_else(|| {
                    jwk_error(
                        jwk,
                        format!(
                            "\"alg\" is \"{alg}\", not a key-management algorithm for an {} key",
                            jwk.kty
                        ),
                    )
                })?,
        };
        let published = jwk.published("enc", algorithm.jose_name())?;
        Ok(EncryptionKey(Arc::new(EncryptionInner {
            algorithm,
            kid: published.kid.clone().unwrap_or_default(),
            jwk: published,
            public,
        })))
    }

    /// The algorithm messages to this key are encrypted with.
    pub fn algorithm(&self) -> KeyManagement {
        self.0.algorithm
    }

    /// The key id, sent as the `kid` of the messages encrypted to this key.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The public JWK, with `kid`, `"use": "enc"` and `alg`, as published in a JWKS.
    pub fn to_jwk(&self) -> Jwk {
        self.0.jwk.clone()
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid())
            .finish()
    }
}

impl PartialEq for EncryptionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.jwk == other.0.jwk
    }
}

/// A private encryption key, with its public half and `kid` (the RFC 7638 thumbprint).
pub struct DecryptionKey {
    private: PrivatePart,
    public: EncryptionKey,
}

enum PrivatePart {
    P256(agreement::PrivateKey),
    Rsa(PrivateDecryptingKey),
}

impl DecryptionKey {
    /// A fresh key for `algorithm`: P-256 for the ECDH-ES algorithms, RSA 2048 bits for
    /// RSA-OAEP-256.
    pub fn generate(algorithm: KeyManagement) -> Result<DecryptionKey, KeyError> {
        let failed = crypto_failure(algorithm, "generate");
        let private = match algorithm {
            KeyManagement::EcdhEs | KeyManagement::EcdhEsA256Kw => {
                PrivatePart::P256(agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| failed)?)
            }
            KeyManagement::RsaOaep256 => PrivatePart::Rsa(
                PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(|_| failed)?,
            ),
        };
        DecryptionKey::from_private(algorithm, private)
    }

    /// Reads a PKCS#8 (RFC 5208 / RFC 5958) DER private key for `algorithm`: P-256 for the
    /// ECDH-ES algorithms, RSA for RSA-OAEP-256.
    pub fn from_pkcs8(algorithm: KeyManagement, der: &[u8]) -> Result<DecryptionKey, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Pkcs8 {
            algorithm: algorithm.jose_name(),
            reason: e.to_string(),
        };
        let private = match algorithm {
            KeyManagement::EcdhEs | KeyManagement::EcdhEsA256Kw => PrivatePart::P256(
                agreement::PrivateKey::from_private_key_der(&ECDH_P256, der).map_err(rejected)?,
            ),
            KeyManagement::RsaOaep256 => {
                PrivatePart::Rsa(PrivateDecryptingKey::from_pkcs8(der).map_err(rejected)?)
            }
        };
        DecryptionKey::from_private(algorithm, private)
    }

    fn from_private(
        algorithm: KeyManagement,
        private: PrivatePart,
    ) -> Result<DecryptionKey, KeyError> {
        let failed = || crypto_failure(algorithm, "export");
        let jwk = match &private {
            PrivatePart::P256(key) => {
                Jwk::ec_p256(key.compute_public_key().map_err(|_| failed())?.as_ref())
            }
            PrivatePart::Rsa(key) => {
                let der: PublicKeyX509Der<'static> =
                    key.public_key().as_der().map_err(|_| failed())?;
                let public = rsa::PublicKey::from_der(der.as_ref()).map_err(|_| failed())?;
                Jwk::rsa(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                )
            }
        };
        let public = EncryptionKey::from_jwk(&Jwk {
            alg: Some(algorithm.jose_name().to_owned()),
            ..jwk
        })?;
        Ok(DecryptionKey { private, public })
    }

    /// The PKCS#8 DER form of the private key. Secret: seal it before it touches a disk.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        let failed = || crypto_failure(self.algorithm(), "export");
        let der: Pkcs8V1Der<'static> = match &self.private {
            PrivatePart::P256(key) => key.as_der().map_err(|_| failed())?,
            PrivatePart::Rsa(key) => key.as_der().map_err(|_| failed())?,
        };
        Ok(der.as_ref().to_vec())
    }

    /// The algorithm the key is published for. A P-256 key also decrypts messages of the
    /// other ECDH-ES algorithm (the KDF binds each to its own name).
    pub fn algorithm(&self) -> KeyManagement {
        self.public.algorithm()
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint of the public JWK, base64url.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The public half, to publish in the JWKS.
    pub fn encryption_key(&self) -> &EncryptionKey {
        &self.public
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

fn crypto_failure(algorithm: KeyManagement, operation: &'static str) -> KeyError {
    KeyError::Crypto {
        algorithm: algorithm.jose_name(),
        operation,
    }
}

/// Encrypts `message` (its JSON text) to `recipient` with the recipient key's algorithm and
/// A256GCM, and returns the `EncryptedMessage` object to put in the envelope's `message`
/// (with `header.is_msg_encrypted = true`). Sign the envelope afterwards: the signature then
/// covers the ciphertext object.
pub fn encrypt(message: &Value, recipient: &EncryptionKey) -> Result<Value, JweError> {
    let random = SystemRandom::new();
    let mut fresh = Fresh {
        cek: [0; CEK_LEN],
        iv: [0; NONCE_LEN],
        ephemeral: None,
    };
    random
        .fill(&mut fresh.cek)
        .and_then(|()| random.fill(&mut fresh.iv))
        .map_err(|_| JweError::Crypto("random generation failed"))?;
    if let PublicPart::P256(_) = recipient.0.public {
        fresh.ephemeral = Some(
            agreement::PrivateKey::generate(&ECDH_P256)
                .map_err(|_| JweError::Crypto("ephemeral key generation failed"))?,
        );
    }
    encrypt_with(message, recipient, fresh)
}

/// The random inputs of one encryption; tests choose them to compare with known output.
struct Fresh {
    /// The content key (unused by ECDH-ES, whose content key is the agreed one).
    cek: [u8; CEK_LEN],
    iv: [u8; NONCE_LEN],
    /// The ephemeral key of the ECDH-ES algorithms.
    ephemeral: Option<agreement::PrivateKey>,
}

fn encrypt_with(
    message: &Value,
    recipient: &EncryptionKey,
    fresh: Fresh,
) -> Result<Value, JweError> {
    let algorithm = recipient.algorithm();
    let mut header = json!({
        "alg": algorithm.jose_name(),
        "enc": CONTENT_ENCRYPTION,
        "kid": recipient.kid(),
    });
    let (cek, encrypted_key) = match &recipient.0.public {
        PublicPart::Rsa(public) => {
            let oaep = OaepPublicEncryptingKey::new(public.clone())
                .map_err(|_| JweError::Crypto("RSA-OAEP key"))?;
            let mut encrypted = vec![0; oaep.ciphertext_size()];
            let length = oaep
                .encrypt(&OAEP_SHA256_MGF1SHA256, &fresh.cek, &mut encrypted, None)
                .map_err(|_| JweError::Crypto("RSA-OAEP encryption failed"))?
                .len();
            encrypted.truncate(length);
            (fresh.cek, encrypted)
        }
        PublicPart::P256(point) => {
            let ephemeral = fresh
                .ephemeral
                .as_ref()
                .ok_or(JweError::Crypto("no ephemeral key"))?;
            let epk = ephemeral
                .compute_public_key()
                .map_err(|_| JweError::Crypto("ephemeral public key"))?;
            header["epk"] = serde_json::to_value(Jwk::ec_p256(epk.as_ref()))
                .map_err(|_| JweError::Crypto("ephemeral public key"))?;
            let agreed = ecdh_es_key(
                ephemeral,
                point,
                algorithm,
                &[],
                &[],
                JweError::Crypto("ECDH failed"),
            )?;
            if algorithm == KeyManagement::EcdhEsA256Kw {
                let mut wrapped = vec![0; CEK_LEN + 8];
                AesKek::new(&AES_256, &agreed)
                    .and_then(|kek| kek.wrap(&fresh.cek, &mut wrapped).map(|w| w.len()))
                    .map_err(|_| JweError::Crypto("AES key wrap failed"))?;
                (fresh.cek, wrapped)
            } else {
                (agreed, Vec::new())
            }
        }
    };
    let mut ciphertext =
        serde_json::to_vec(message).map_err(|_| JweError::Crypto("serialising the message"))?;
    let tag = content_key(&cek)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(fresh.iv),
            Aad::empty(),
            &mut ciphertext,
        )
        .map_err(|_| JweError::Crypto("AES-GCM sealing failed"))?;
    Ok(json!({
        "header": header,
        "encrypted_key": URL_SAFE_NO_PAD.encode(encrypted_key),
        "iv": URL_SAFE_NO_PAD.encode(fresh.iv),
        "ciphertext": URL_SAFE_NO_PAD.encode(ciphertext),
        "tag": URL_SAFE_NO_PAD.encode(tag.as_ref()),
    }))
}

fn content_key(cek: &[u8]) -> Result<LessSafeKey, JweError> {
    let key = UnboundKey::new(&AES_256_GCM, cek).map_err(|_| JweError::Crypto("AES key"))?;
    Ok(LessSafeKey::new(key))
}

/// The ECDH-ES agreement of `private` with `peer_point`, through the Concat KDF: the content
/// key for `ECDH-ES`, the key-encryption key for `ECDH-ES+A256KW`. `failed` is returned when
/// the agreement fails.
fn ecdh_es_key(
    private: &agreement::PrivateKey,
    peer_point: &[u8],
    algorithm: KeyManagement,
    apu: &[u8],
    apv: &[u8],
    failed: JweError,
) -> Result<[u8; CEK_LEN], JweError> {
    // RFC 7518 §4.6.2: AlgorithmID is the `enc` for direct agreement, else the `alg`.
    let algorithm_id = match algorithm {
        KeyManagement::EcdhEs => CONTENT_ENCRYPTION,
        other => other.jose_name(),
    };
    let peer = UnparsedPublicKey::new(&ECDH_P256, peer_point);
    agreement::agree(private, peer, failed, |z| {
        let mut key = [0; CEK_LEN];
        key.copy_from_slice(&concat_kdf(z, algorithm_id, apu, apv, CEK_LEN));
        Ok(key)
    })
}

/// The Concat KDF of NIST SP 800-56A §5.8.1 with SHA-256, as RFC 7518 §4.6.2 instantiates it:
/// `length` bytes of `SHA-256(round || Z || OtherInfo)` for rounds 1, 2, …, where OtherInfo is
/// `AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo`, the first three each prefixed
/// with their 32-bit big-endian length and SuppPubInfo the key length in bits.
fn concat_kdf(z: &[u8], algorithm_id: &str, apu: &[u8], apv: &[u8], length: usize) -> Vec<u8> {
    let prefixed = |context: &mut digest::Context, data: &[u8]| {
        context.update(&(data.len() as u32).to_be_bytes());
        context.update(data);
    };
    let mut key = Vec::with_capacity(length + 32);
    let mut round: u32 = 1;
    while key.len() < length {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(&round.to_be_bytes());
        context.update(z);
        prefixed(&mut context, algorithm_id.as_bytes());
        prefixed(&mut context, apu);
        prefixed(&mut context, apv);
        context.update(&((length * 8) as u32).to_be_bytes());
        key.extend_from_slice(context.finish().as_ref());
        round += 1;
    }
    key.truncate(length);
    key
}

/// A received `EncryptedMessage`, read and checked but not yet decrypted: first its `kid`, to
/// choose the key, then [`EncryptedMessage::decrypt`].
#[derive(Debug, Clone)]
pub struct EncryptedMessage {
    algorithm: KeyManagement,
    kid: String,
    /// The ephemeral public point of the ECDH-ES algorithms.
    epk: Option<Vec<u8>>,
    apu: Vec<u8>,
    apv: Vec<u8>,
    encrypted_key: Vec<u8>,
    iv: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag, as AES-GCM opens it.
    sealed: Vec<u8>,
    aad: Vec<u8>,
}

impl EncryptedMessage {
    /// Reads an `EncryptedMessage` object. The JOSE header is the union of the decoded
    /// `protected` member (if any), the `unprotected` member (if any) and `header`; a
    /// parameter in two of them is refused. `alg`, `enc` and `kid` are required, and `epk`
    /// for the ECDH-ES algorithms.
    pub fn parse(message: &Value) -> Result<EncryptedMessage, JweError> {
        let malformed = |reason: &str| JweError::Malformed(reason.to_owned());
        let object = message
            .as_object()
            .ok_or_else(|| malformed("not a JSON object"))?;
        let text = |name: &'static str| -> Result<Option<&str>, JweError> {
            match object.get(name) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(JweError::Malformed(format!("\"{name}\" is not a string"))),
            }
        };
        let bytes = |name: &'static str| -> Result<Option<Vec<u8>>, JweError> {
            text(name)?.map(|text| base64url(name, text)).transpose()
        };
        let required = |name: &'static str| {
            bytes(name)?.ok_or_else(|| JweError::Malformed(format!("no \"{name}\"")))
        };

        let protected = text("protected")?.unwrap_or("");
        let header = jose_header(object, protected)?;
        let parameter = |name: &'static str| -> Result<Option<&str>, JweError> {
            match header.get(name) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(JweError::Malformed(format!(
                    "header parameter \"{name}\" is not a string"
                ))),
            }
        };
        let needed = |name: &'static str| {
            parameter(name)?
                .ok_or_else(|| JweError::Malformed(format!("no \"{name}\" in the header")))
        };
        let alg = needed("alg")?;
        let algorithm =
            KeyManagement::from_jose_name(alg).ok_or_else(|| JweError::Unsupported {
                parameter: "alg",
                value: alg.to_owned(),
            })?;
        let enc = needed("enc")?;
        if enc != CONTENT_ENCRYPTION {
            return Err(JweError::Unsupported {
                parameter: "enc",
                value: enc.to_owned(),
            });
        }
        let kid = needed("kid")?.to_owned();
        for unsupported in ["zip", "crit"] {
            if let Some(value) = header.get(unsupported) {
                return Err(JweError::Unsupported {
                    parameter: unsupported,
                    value: value.to_string(),
                });
            }
        }
        let header_bytes = |name: &'static str| -> Result<Vec<u8>, JweError> {
            parameter(name)?
                .map(|text| base64url(name, text))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let (apu, apv) = (header_bytes("apu")?, header_bytes("apv")?);

        let encrypted_key = bytes("encrypted_key")?.unwrap_or_default();
        let epk = match algorithm {
            KeyManagement::RsaOaep256 => None,
            KeyManagement::EcdhEs | KeyManagement::EcdhEsA256Kw => {
                let epk = header
                    .get("epk")
                    .ok_or_else(|| malformed("no \"epk\" in the header"))?;
                Some(ephemeral_point(epk)?)
            }
        };
        if algorithm == KeyManagement::EcdhEs && !encrypted_key.is_empty() {
            return Err(malformed("\"encrypted_key\" must be empty with ECDH-ES"));
        }
        let iv: [u8; NONCE_LEN] = required("iv")?
            .try_into()
            .map_err(|_| malformed("\"iv\" is not 96 bits"))?;
        let tag = required("tag")?;
        if tag.len() != TAG_LEN {
            return Err(malformed("\"tag\" is not 128 bits"));
        }
        let mut sealed = required("ciphertext")?;
        sealed.extend_from_slice(&tag);
        // RFC 7516 §5.1 step 14.
        let mut aad = protected.as_bytes().to_vec();
        if let Some(extra) = text("aad")? {
            base64url("aad", extra)?;
            aad.push(b'.');
            aad.extend_from_slice(extra.as_bytes());
        }
        Ok(EncryptedMessage {
            algorithm,
            kid,
            epk,
            apu,
            apv,
            encrypted_key,
            iv,
            sealed,
            aad,
        })
    }

    /// The `kid` of the recipient key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key-management algorithm.
    pub fn algorithm(&self) -> KeyManagement {
        self.algorithm
    }

    /// Decrypts with `key`, which must be the key named by `kid`, and returns the message.
    pub fn decrypt(&self, key: &DecryptionKey) -> Result<Value, JweError> {
        if key.kid() != self.kid {
            return Err(JweError::UnknownKey(self.kid.clone()));
        }
        let cek = match (&key.private, self.algorithm) {
            (PrivatePart::Rsa(private), KeyManagement::RsaOaep256) => {
                let oaep = OaepPrivateDecryptingKey::new(private.clone())
                    .map_err(|_| JweError::Decrypt)?;
                let mut cek = vec![0; oaep.min_output_size()];
                match oaep.decrypt(&OAEP_SHA256_MGF1SHA256, &self.encrypted_key, &mut cek, None) {
                    Ok(cek) if cek.len() == CEK_LEN => {
                        let mut key = [0; CEK_LEN];
                        key.copy_from_slice(cek);
                        key
                    }
                    // RFC 7516 §11.5: go on with a random key, so that a bad encrypted_key
                    // fails as late, and the same, as a bad tag (no padding oracle).
                    _ => {
                        let mut random = [0; CEK_LEN];
                        SystemRandom::new()
                            .fill(&mut random)
                            .map_err(|_| JweError::Decrypt)?;
                        random
                    }
                }
            }
            (PrivatePart::P256(private), KeyManagement::EcdhEs | KeyManagement::EcdhEsA256Kw) => {
                let epk = self.epk.as_deref().ok_or(JweError::Decrypt)?;
                let agreed = ecdh_es_key(
                    private,
                    epk,
                    self.algorithm,
                    &self.apu,
                    &self.apv,
                    JweError::Decrypt,
                )?;
                if self.algorithm == KeyManagement::EcdhEs {
                    agreed
                } else {
                    let mut cek = [0; CEK_LEN];
                    let unwrapped = AesKek::new(&AES_256, &agreed)
                        .and_then(|kek| kek.unwrap(&self.encrypted_key, &mut cek).map(|c| c.len()))
                        .map_err(|_| JweError::Decrypt)?;
                    if unwrapped != CEK_LEN {
                        return Err(JweError::Decrypt);
                    }
                    cek
                }
            }
            _ => {
                return Err(JweError::KeyMismatch {
                    kid: self.kid.clone(),
                    algorithm: self.algorithm,
                });
            }
        };
        let mut in_out = self.sealed.clone();
        let plaintext = content_key(&cek)
            .map_err(|_| JweError::Decrypt)?
            .open_in_place(
                Nonce::assume_unique_for_key(self.iv),
                Aad::from(&self.aad),
                &mut in_out,
            )
            .map_err(|_| JweError::Decrypt)?;
        serde_json::from_slice(plaintext).map_err(|e| JweError::NotJson(e.to_string()))
    }
}

fn base64url(name: &'static str, text: &str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JweError::Base64(name))
}

/// The JOSE header (RFC 7516 §7.2.1): the parameters of the decoded `protected` text, of
/// `unprotected` and of `header`, each given once.
fn jose_header(
    object: &Map<String, Value>,
    protected: &str,
) -> Result<Map<String, Value>, JweError> {
    let mut header = Map::new();
    if !protected.is_empty() {
        match serde_json::from_slice(&base64url("protected", protected)?) {
            Ok(Value::Object(parameters)) => header = parameters,
            _ => {
                return Err(JweError::Malformed(
                    "\"protected\" is not a JSON object".into(),
                ));
            }
        }
    }
    for name in ["unprotected", "header"] {
        match object.get(name) {
            None => {}
            Some(Value::Object(parameters)) => {
                for (parameter, value) in parameters {
                    if header.insert(parameter.clone(), value.clone()).is_some() {
                        return Err(JweError::Malformed(format!(
                            "header parameter \"{parameter}\" is given twice"
                        )));
                    }
                }
            }
            Some(_) => return Err(JweError::Malformed(format!("\"{name}\" is not an object"))),
        }
    }
    Ok(header)
}

/// The SEC1 point of the `epk` header parameter, a P-256 JWK (whether the point is on the
/// curve, the agreement checks).
fn ephemeral_point(epk: &Value) -> Result<Vec<u8>, JweError> {
    let jwk: Jwk = serde_json::from_value(epk.clone())
        .map_err(|e| JweError::Malformed(format!("\"epk\" is not a JWK: {e}")))?;
    if (jwk.kty.as_str(), jwk.crv.as_deref()) != ("EC", Some("P-256")) {
        return Err(JweError::Malformed("\"epk\" is not a P-256 key".into()));
    }
    jwk.p256_point()
        .map_err(|e| JweError::Malformed(format!("\"epk\": {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Jwks;

    /// The P-256 key "Bob" of RFC 7518 Appendix C, PKCS#8 DER, base64url.
    const BOB_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdyhRANCAATB40nLYexwJIzoAQNMODThuI6-EWHLJa84dB94X8_ExHvJZwjvgJUrU_jSVV_nK4Qe0EWIYosdN4pZSTlQDsnJ";
    /// Its RFC 7638 thumbprint.
    const BOB_KID: &str = "Vy57XrArUrW0NbpI12tEzDHABxMwrTh6HHXRenSpnCo";
    /// The private scalar of the ephemeral key "Alice" of RFC 7518 Appendix C.
    const ALICE_D: &str = "0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo";
    /// An RSA 2048 key made with Python's `cryptography`, PKCS#8 DER, base64url.
    const RSA_PKCS8: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC3qcfiOQ0XAtrQMcumi1HX-w0D41kwriNu7dNzJYl3iG-WwVM-rl0eI2ce6C_mOa7w7t0eI1VPXS_igj5lAbfqNKGWr5FFd2TKScmCE10LJlblNQaXCRPuyULzFm_XCp_Dkx7l8RE_8YG43l_03LXWLG8M8dWoOaYP7tYvcjJqQXYRwI8XwwvflfkyZs9NVrIAsDYa3Qw7i2MSgZHHAj99aqeZn3zolfHXCCjuT8v2Nt0j258PNJ0gOWGQKsQE0GeveFdHxZcwbc20PY3bC4JnqmD0mxTl1XD4s2KsgKf4GKQekHjLzscR1cfLGDR1CpDCp-c1gwxzRNwZ-lfYMn6BAgMBAAECgf850eFzfrJ4RBXO5V5PmByz-f0m9DPn92qASa7_2Rll4DYBJ-ulGA-IpWyZdk9eE1rXztsd2dHJonSowogSFHBp8xfL8ImzbNr2NDSUFrR8Bh3lGsRwWBNGYWYKUU30TQvu7ioUCch8cPN918Qtui4ktuhfEuNIip2U9oPHfBQTDvAgqG4Bmf2qrHQT6QuRrZjXcDrnGZzBTy7ipTdg4eUDTOH-GprMNz-ixtmYq82LgZfTnV0BmY22kjHFML8GH7ArLg6q1dBLagng8EzjcfKjYMtIU8h-lp6GvM9oilqmIwocVOgOKbf0ESO9BGAQOfbG9UgVLPpeLRkOLnI8XyECgYEA3sp517om3hTjSrUlbVEaBVYzk52dEiDUWUeAgpLXEGz_qFgn3uP3UC4PZdPPKJhg_1ADUjXkOOvqIEbARd5RrjGZW5jIuF6DTzs7dcEfgSqt7d6aWtXBuBZ85gNwBSv_9zcu_PVIco4XX-eAKbiSsyk81eAwE787afFCrE09W2ECgYEA0wo472yZTy-F7en8ARIPenm8O8KUNCMaf2W0Zyy1SQG0FqUSD0rF_cBRQC5jLdjuvYCZD9CYw0wI34UkKX4pFOCo9gOz-Ok2wwbUEB0c3bwy9jLmaW58x09DBGLdLY-sebEYke-EXkUYVzxVePXqoFen1CgYtalStjaFcAyUFyECgYEArPw92tj5MNq7GNjKNLUSJS6nYWix-s9u0duI1tm5D1Hyt_2rB4-uCZ2Z6xCo-vZF6jdwPLcHe4MCCQmmZRmYBk8QqmRZBX6tKintoyLOmXZQEjATXZA3l_4uAFKO-hUN7B_25gZ1uCzHzXlss_hSP7Y3PEGUUuDa-wmPIUXf7EECgYAil0xZwh0m4406P930dvdehdGaofwUx6QyOYNmXeeg_cx84bWiGAl33Cv1LyVGgIYxPYDZHMHNUQsrR_Fzc6BcMa7AFD9NjzxQny_nLD5tAcoAnLszkM6XBKDheSrzqtcEY0i5st6pbP3eXp9L4lMA0R1LIv9Z11UdVLZudUFYwQKBgQDadVCRUaPBenv0v_KLcZipmHRYUbLk4ad22OHKHl_P7fw4IAkqgZ-K4Dpmdm-1nM3MFHJj2QCaIdZTndbvfLbOg83eigLZMKlLq7RuH1tiExF7q4b7WYWQdopGLSJSyWfXloROYP04xJRMY6gTMP49kCtqmLPql1H0wQxYh-7eWQ";
    /// Its RFC 7638 thumbprint.
    const RSA_KID: &str = "7Ye6HIQn3TGwqqIHgZ4Dz83ycfQ-bQrELrnNLT620yY";
    /// The plaintext of every vector below: the compact JSON of [`message`].
    const PLAINTEXT: &str =
        r#"{"note":"Zoë, ñ ✓","search_request":[{"reference_id":"R-1"}],"transaction_id":"T-1"}"#;

    /// Computed step by step with Python's `cryptography` (ECDH, `ConcatKDFHash`, `AESGCM`):
    /// Alice's ephemeral key to Bob, iv 00 01 … 0b.
    const HAND_ECDH_ES: &str = r#"{"header": {"alg": "ECDH-ES", "enc": "A256GCM", "kid": "Vy57XrArUrW0NbpI12tEzDHABxMwrTh6HHXRenSpnCo", "epk": {"kty": "EC", "crv": "P-256", "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}}, "encrypted_key": "", "iv": "AAECAwQFBgcICQoL", "ciphertext": "LWN2EbSJKmex0S26Xs1RGFrKrpN_e6uufKXAZkVBzh8LOAN9-mqorstuC35BMhw65U9Cc6ghoWNJtRBhr5BUhPZ0FzYvbo585OVBb92CDeTLxKvTbl1ebg", "tag": "-9fEovPbidbEWwgkwgAm0A"}"#;
    /// The same with ECDH-ES+A256KW (`aes_key_wrap`) and the content key 20 21 … 3f.
    const HAND_ECDH_ES_A256KW: &str = r#"{"header": {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": "Vy57XrArUrW0NbpI12tEzDHABxMwrTh6HHXRenSpnCo", "epk": {"kty": "EC", "crv": "P-256", "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}}, "encrypted_key": "iEqJNdobBBA7nNB3qy7GgdIJDrp8yMhpjWwtfpsd7oROj56ijxwgwA", "iv": "AAECAwQFBgcICQoL", "ciphertext": "J3AzyD5Qydaeo6YFjV9-_6JQC_j5M4ozV2iyyNjplOpJr2dYaGtm37EA2IqprU_DV2eOmwU6k6ecH16EFJ8e8mnl_2iXs8-4MBX_HDcmkvGlB73m7SxwZg", "tag": "C9GU8aRh3uLh53oByOVG9g"}"#;
    /// Made by jwcrypto 1.6.1 (an independent JOSE implementation) to the RSA key.
    const JWCRYPTO_RSA_OAEP_256: &str = r#"{"ciphertext": "SvL4xZYAHCaQhOfEEUKs5TnXYKz8yBnq7NSxPmIHKioRouL13etgNtKG_VnK5iZpJULJXnAEXIdpRX1HN2p9cBbU1n9rKoDAdhX8TS1bEqjjNB2PM_16_g", "encrypted_key": "AZpOuYSbGXAkR_CzLCPOXfgOAV3NFYUd17S1U0gkuLz5AzbrN1Smau06y-t2dzZA8UlIUhj9EDk4KHk9vacpnU1ceHJhFXsc-_hUqvyPY_24-i-Iuk7vrIQ4D5207_CRxHuCmig-N7NJCEO093-QLAb_43H3lvK5QyejLL-qZYJsUEHv4WKqf7Co33EEFqSUjaoqQTARNmpm0P4cjVsnACf77qQ5r9a3GdTfTxhQJwYU6g3PGH00Y9GMt_5hTW9TvODwgmuHIjrYd0iJaB7cq_L-v4kEIYhSMEXB9e42BwX9AW_OuXHXrkAXR73mfCn3eurLOSgXLkfMn0JDbIfnmg", "header": {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "7Ye6HIQn3TGwqqIHgZ4Dz83ycfQ-bQrELrnNLT620yY"}, "iv": "MxqsgyWQmxFN1Pu6", "tag": "u7iy-ROmi_l6N5gD75loig"}"#;
    /// Made by jwcrypto to Bob, with `alg`, `enc` and `kid` in a protected header and an
    /// `aad` member (the RFC 7516 form, not DCI's), and no `encrypted_key`.
    const JWCRYPTO_ECDH_ES_PROTECTED_AAD: &str = r#"{"aad": "RENJIGVudmVsb3Bl", "ciphertext": "E_EaUZ1GjfRdfIyxbmaQ-5AZ2-mSk2kCDMZ4G1tuoakz6IoR5ql1-wIzph_D5ArkxCtVz-gDaY2cQGfyV9AH7O7TvH6wpdcdYlUQVt3-tcP16x_ouVXWMA", "header": {"epk": {"crv": "P-256", "kty": "EC", "x": "XlRqswKyxc-CK_yPdoleYdWviOoCJBqdtBOpHf6FGh4", "y": "wDUBFt8n9YYkmZLgH6_n-z6ifrdLwgd2xdsYyi4gODA"}}, "iv": "1FVBv02oNrfm3luU", "protected": "eyJhbGciOiAiRUNESC1FUyIsICJlbmMiOiAiQTI1NkdDTSIsICJraWQiOiAiVnk1N1hyQXJVclcwTmJwSTEydEV6REhBQnhNd3JUaDZISFhSZW5TcG5DbyJ9", "tag": "YchcCvvAifM1MUnN02ommg"}"#;
    /// Made by jwcrypto to Bob with ECDH-ES+A256KW.
    const JWCRYPTO_ECDH_ES_A256KW: &str = r#"{"ciphertext": "xlK53JKWWfVIC7HT3KnFB0kalxccQcj-gqFgmZ7XLm6Sip1B-I8BQV2rjqetXajlWCsaPgT6j6YOJ7YDJB7lXQGK9dcy6eQQqsOHryJWsgN8Yl3wBcp9Sw", "encrypted_key": "DpNqPLduQVI3pI4pVdvwKAgP9pws37IbekJk4TpCEm1wHTrh1PP61g", "header": {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "epk": {"crv": "P-256", "kty": "EC", "x": "ZCvp9oSAObaEBG32YY2Uql9zc5RP4tcEWQtMmqshN4Y", "y": "OCWPci1g1use2-2g9E0vGJHhdAV2Wbv5k-B4wU-yzEw"}, "kid": "Vy57XrArUrW0NbpI12tEzDHABxMwrTh6HHXRenSpnCo"}, "iv": "HGGniH8C6iyGzcV5", "tag": "OcANcT0Y5zbH6UMbcCaDYQ"}"#;

    fn message() -> Value {
        // Members in sorted order, so that the JSON text is the same with or without
        // serde_json's preserve_order.
        json!({
            "note": "Zoë, ñ ✓",
            "search_request": [{"reference_id": "R-1"}],
            "transaction_id": "T-1"
        })
    }

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    fn vector(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn bob() -> DecryptionKey {
        DecryptionKey::from_pkcs8(KeyManagement::EcdhEs, &b64(BOB_PKCS8)).unwrap()
    }

    fn rsa_key() -> DecryptionKey {
        DecryptionKey::from_pkcs8(KeyManagement::RsaOaep256, &b64(RSA_PKCS8)).unwrap()
    }

    /// The recipient key a peer reads from `key`'s JWK, through JSON.
    fn peer_view(key: &DecryptionKey) -> EncryptionKey {
        let text = serde_json::to_string(&key.encryption_key().to_jwk()).unwrap();
        EncryptionKey::from_jwk(&serde_json::from_str(&text).unwrap()).unwrap()
    }

    fn decrypt(message: &Value, key: &DecryptionKey) -> Result<Value, JweError> {
        EncryptedMessage::parse(message)?.decrypt(key)
    }

    #[test]
    fn the_plaintext_is_the_json_text_of_the_message() {
        assert_eq!(serde_json::to_string(&message()).unwrap(), PLAINTEXT);
    }

    #[test]
    fn round_trip_for_each_algorithm() {
        for algorithm in KeyManagement::ALL {
            let key = DecryptionKey::generate(algorithm).unwrap();
            let recipient = peer_view(&key);
            assert_eq!(recipient.algorithm(), algorithm);
            assert_eq!(recipient.kid(), key.kid());
            let encrypted = encrypt(&message(), &recipient).unwrap();
            let header = encrypted["header"].as_object().unwrap();
            assert_eq!(header["alg"], algorithm.jose_name());
            assert_eq!(header["enc"], "A256GCM");
            assert_eq!(header["kid"], key.kid());
            assert_eq!(header.contains_key("epk"), algorithm.key_type() == "EC");
            let sizes: Vec<usize> = ["encrypted_key", "iv", "tag"]
                .map(|member| b64(encrypted[member].as_str().unwrap()).len())
                .into();
            let key_size = match algorithm {
                KeyManagement::EcdhEs => 0,
                KeyManagement::EcdhEsA256Kw => 40,
                KeyManagement::RsaOaep256 => 256,
            };
            assert_eq!(sizes, [key_size, 12, 16], "{algorithm}");
            assert_eq!(decrypt(&encrypted, &key), Ok(message()), "{algorithm}");
            // Fresh randomness each time.
            let again = encrypt(&message(), &recipient).unwrap();
            assert_ne!(again["ciphertext"], encrypted["ciphertext"]);
            assert_ne!(again["iv"], encrypted["iv"]);
            // The private key survives PKCS#8.
            let reread = DecryptionKey::from_pkcs8(algorithm, &key.to_pkcs8().unwrap()).unwrap();
            assert_eq!(reread.kid(), key.kid());
            assert_eq!(decrypt(&encrypted, &reread), Ok(message()));
        }
    }

    /// spx's output equals, byte for byte, what an independent computation of the same steps
    /// gives with the same random inputs.
    #[test]
    fn encrypts_exactly_as_computed_by_hand() {
        let bob = bob();
        assert_eq!(bob.kid(), BOB_KID);
        for (algorithm, expected) in [
            (KeyManagement::EcdhEs, HAND_ECDH_ES),
            (KeyManagement::EcdhEsA256Kw, HAND_ECDH_ES_A256KW),
        ] {
            let recipient = EncryptionKey::from_jwk(&Jwk {
                alg: Some(algorithm.jose_name().into()),
                ..bob.encryption_key().to_jwk()
            })
            .unwrap();
            let alice = agreement::PrivateKey::from_private_key(&ECDH_P256, &b64(ALICE_D)).unwrap();
            let mut cek = [0; CEK_LEN];
            cek.iter_mut().zip(32u8..).for_each(|(b, i)| *b = i);
            let fresh = Fresh {
                cek,
                iv: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
                ephemeral: Some(alice),
            };
            let encrypted = encrypt_with(&message(), &recipient, fresh).unwrap();
            assert_eq!(encrypted, vector(expected), "{algorithm}");
            assert_eq!(decrypt(&vector(expected), &bob), Ok(message()));
        }
    }

    #[test]
    fn decrypts_what_jwcrypto_encrypted() {
        let rsa = rsa_key();
        assert_eq!(rsa.kid(), RSA_KID);
        assert_eq!(decrypt(&vector(JWCRYPTO_RSA_OAEP_256), &rsa), Ok(message()));
        let bob = bob();
        assert_eq!(
            decrypt(&vector(JWCRYPTO_ECDH_ES_A256KW), &bob),
            Ok(message())
        );
        // The protected header is read, and authenticated with the aad member.
        let protected = vector(JWCRYPTO_ECDH_ES_PROTECTED_AAD);
        assert_eq!(decrypt(&protected, &bob), Ok(message()));
        let mut altered = protected.clone();
        altered["aad"] = URL_SAFE_NO_PAD.encode("DCI envelopf").into();
        assert_eq!(decrypt(&altered, &bob), Err(JweError::Decrypt));
        let mut altered = protected.clone();
        altered.as_object_mut().unwrap().remove("aad");
        assert_eq!(decrypt(&altered, &bob), Err(JweError::Decrypt));
        // The same parameters re-encoded (another member order) are other AAD bytes.
        let mut altered = protected.clone();
        altered["protected"] = URL_SAFE_NO_PAD
            .encode(format!(
                r#"{{"kid":"{BOB_KID}","enc":"A256GCM","alg":"ECDH-ES"}}"#
            ))
            .into();
        assert_eq!(decrypt(&altered, &bob), Err(JweError::Decrypt));
        // A parameter both protected and unprotected is refused.
        let mut altered = protected;
        altered["header"]["kid"] = BOB_KID.into();
        assert!(matches!(
            decrypt(&altered, &bob),
            Err(JweError::Malformed(reason)) if reason.contains("\"kid\" is given twice")
        ));
    }

    /// RFC 7518 Appendix C: the ECDH-ES shared secret of Alice and Bob, and the Concat KDF
    /// output for A128GCM with `apu` "Alice" and `apv` "Bob".
    #[test]
    fn rfc7518_appendix_c_agreement_and_concat_kdf() {
        let alice = agreement::PrivateKey::from_private_key(&ECDH_P256, &b64(ALICE_D)).unwrap();
        let bob_point = bob().encryption_key().to_jwk().p256_point().unwrap();
        let z = agreement::agree(
            &alice,
            UnparsedPublicKey::new(&ECDH_P256, &bob_point),
            (),
            |z| Ok(z.to_vec()),
        )
        .unwrap();
        assert_eq!(
            z,
            [
                158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
                110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196
            ]
        );
        let derived = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16);
        assert_eq!(URL_SAFE_NO_PAD.encode(derived), "VqqN6vgjbSBcIijNcacQGg");
        // More than one round: the second block continues with counter 2.
        let long = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 40);
        assert_eq!(long.len(), 40);
        assert_ne!(long[..32], long[8..40]);
    }

    /// One changed bit anywhere in the ciphertext, tag, iv, encrypted key or ephemeral key
    /// makes decryption fail, the same way each time.
    #[test]
    fn any_altered_member_fails_to_decrypt() {
        for algorithm in KeyManagement::ALL {
            let key = DecryptionKey::generate(algorithm).unwrap();
            let encrypted = encrypt(&message(), &peer_view(&key)).unwrap();
            let mut members = vec!["ciphertext", "tag", "iv"];
            if algorithm != KeyManagement::EcdhEs {
                members.push("encrypted_key");
            }
            for member in members {
                for position in [0, 5] {
                    let mut bytes = b64(encrypted[member].as_str().unwrap());
                    bytes[position] ^= 0x01;
                    let mut altered = encrypted.clone();
                    altered[member] = URL_SAFE_NO_PAD.encode(&bytes).into();
                    assert_eq!(
                        decrypt(&altered, &key),
                        Err(JweError::Decrypt),
                        "{algorithm} {member}[{position}]"
                    );
                }
            }
            if algorithm.key_type() == "EC" {
                let other = DecryptionKey::generate(algorithm).unwrap();
                let mut altered = encrypted.clone();
                altered["header"]["epk"] = serde_json::to_value(Jwk {
                    kid: None,
                    key_use: None,
                    alg: None,
                    ..other.encryption_key().to_jwk()
                })
                .unwrap();
                assert_eq!(decrypt(&altered, &key), Err(JweError::Decrypt));
            }
            // The header is not authenticated, but another alg of the same key type does not
            // decrypt either.
            if algorithm.key_type() == "EC" {
                let mut altered = encrypted.clone();
                let swapped = match algorithm {
                    KeyManagement::EcdhEs => KeyManagement::EcdhEsA256Kw,
                    _ => KeyManagement::EcdhEs,
                };
                altered["header"]["alg"] = swapped.jose_name().into();
                altered["encrypted_key"] = "".into();
                assert_eq!(
                    decrypt(&altered, &key),
                    Err(JweError::Decrypt),
                    "{algorithm}"
                );
            }
        }
    }

    #[test]
    fn another_key_unknown_kid_and_unusable_messages_are_refused() {
        let bob = bob();
        let valid = vector(HAND_ECDH_ES);
        let with = |change: &dyn Fn(&mut Value)| {
            let mut message = valid.clone();
            change(&mut message);
            decrypt(&message, &bob)
        };
        // Another key of the right type, under Bob's kid: the tag does not verify.
        let mut pretender = EncryptedMessage::parse(&valid).unwrap();
        let other = DecryptionKey::generate(KeyManagement::EcdhEs).unwrap();
        pretender.kid = other.kid().to_owned();
        assert_eq!(pretender.decrypt(&other), Err(JweError::Decrypt));
        // A kid that is not the key's.
        assert_eq!(
            with(&|m| m["header"]["kid"] = "made-up".into()),
            Err(JweError::UnknownKey("made-up".into()))
        );
        // An RSA message to an EC key.
        let mut rsa_message = vector(JWCRYPTO_RSA_OAEP_256);
        rsa_message["header"]["kid"] = BOB_KID.into();
        assert_eq!(
            decrypt(&rsa_message, &bob),
            Err(JweError::KeyMismatch {
                kid: BOB_KID.into(),
                algorithm: KeyManagement::RsaOaep256
            })
        );
        let unsupported = |parameter: &'static str, value: &str| {
            Err(JweError::Unsupported {
                parameter,
                value: value.into(),
            })
        };
        assert_eq!(
            with(&|m| m["header"]["alg"] = "RSA-OAEP".into()),
            unsupported("alg", "RSA-OAEP")
        );
        assert_eq!(
            with(&|m| m["header"]["enc"] = "A128GCM".into()),
            unsupported("enc", "A128GCM")
        );
        assert_eq!(
            with(&|m| m["header"]["zip"] = "DEF".into()),
            unsupported("zip", "\"DEF\"")
        );
        assert_eq!(
            with(&|m| m["ciphertext"] = "not base64!".into()),
            Err(JweError::Base64("ciphertext"))
        );
        assert_eq!(
            with(&|m| m["tag"] = "+9fEovPbidbEWwgkwgAm0A".into()),
            Err(JweError::Base64("tag"))
        );
        for (change, reason) in [
            (
                Box::new(|m: &mut Value| {
                    m.as_object_mut().unwrap().remove("iv");
                }) as Box<dyn Fn(&mut Value)>,
                "no \"iv\"",
            ),
            (
                Box::new(|m: &mut Value| m["header"] = "ECDH-ES".into()),
                "\"header\" is not an object",
            ),
            (
                Box::new(|m: &mut Value| {
                    m["header"].as_object_mut().unwrap().remove("kid");
                }),
                "no \"kid\" in the header",
            ),
            (
                Box::new(|m: &mut Value| {
                    m["header"].as_object_mut().unwrap().remove("epk");
                }),
                "no \"epk\" in the header",
            ),
            (
                Box::new(|m: &mut Value| m["header"]["epk"]["crv"] = "P-384".into()),
                "\"epk\" is not a P-256 key",
            ),
            (
                Box::new(|m: &mut Value| m["encrypted_key"] = "AAAA".into()),
                "\"encrypted_key\" must be empty with ECDH-ES",
            ),
            (
                Box::new(|m: &mut Value| m["iv"] = "AAECAwQFBgcICQ".into()),
                "\"iv\" is not 96 bits",
            ),
            (
                Box::new(|m: &mut Value| m["tag"] = "-9fEovPbidbEWwgkwgAm".into()),
                "\"tag\" is not 128 bits",
            ),
            (
                Box::new(|m: &mut Value| *m = json!([])),
                "not a JSON object",
            ),
        ] {
            assert_eq!(
                with(&*change),
                Err(JweError::Malformed(reason.into())),
                "{reason}"
            );
        }
        // A point not on the curve is refused by the agreement.
        assert_eq!(
            with(&|m| m["header"]["epk"]["y"] = m["header"]["epk"]["x"].clone()),
            Err(JweError::Decrypt)
        );
        // encrypted_key may be absent with ECDH-ES, as RFC 7516 writes empty members.
        assert_eq!(
            with(&|m| {
                m.as_object_mut().unwrap().remove("encrypted_key");
            }),
            Ok(message())
        );
    }

    #[test]
    fn every_error_is_err_encryption_invalid() {
        for error in [
            JweError::Decrypt,
            JweError::UnknownKey("k".into()),
            JweError::Malformed("m".into()),
        ] {
            assert_eq!(error.code(), ReasonCode::EncryptionInvalid);
            let rejection = Rejection::from(error.clone());
            assert_eq!(rejection.code.as_str(), "err.encryption.invalid");
            assert_eq!(rejection.message, error.to_string());
        }
    }

    #[test]
    fn encryption_keys_are_read_from_jwks_entries_with_use_enc() {
        let bob = bob();
        let jwk = bob.encryption_key().to_jwk();
        assert_eq!(jwk.key_use.as_deref(), Some("enc"));
        assert_eq!(jwk.alg.as_deref(), Some("ECDH-ES"));
        assert_eq!(jwk.thumbprint().unwrap(), BOB_KID);
        // Without alg or kid, the algorithm follows the key type and the kid is the
        // thumbprint.
        for (key, algorithm) in [
            (&bob, KeyManagement::EcdhEs),
            (&rsa_key(), KeyManagement::RsaOaep256),
        ] {
            let bare = Jwk {
                alg: None,
                kid: None,
                key_use: None,
                ..key.encryption_key().to_jwk()
            };
            let read = EncryptionKey::from_jwk(&bare).unwrap();
            assert_eq!((read.algorithm(), read.kid()), (algorithm, key.kid()));
        }
        let refused = |jwk: Jwk, expected: &str| {
            let error = EncryptionKey::from_jwk(&jwk).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        };
        refused(
            Jwk {
                key_use: Some("sig".into()),
                ..jwk.clone()
            },
            "\"use\" is \"sig\", not \"enc\"",
        );
        refused(
            Jwk {
                alg: Some("RSA-OAEP-256".into()),
                ..jwk.clone()
            },
            "not a key-management algorithm for an EC key",
        );
        refused(
            Jwk {
                alg: Some("ES256".into()),
                ..jwk.clone()
            },
            "not a key-management algorithm",
        );
        refused(
            Jwk {
                y: jwk.x.clone(),
                ..jwk.clone()
            },
            "not a P-256 point",
        );
        refused(
            serde_json::from_value(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"}))
                .unwrap(),
            "at least 2048 bits",
        );
        refused(
            serde_json::from_value(json!({"kty": "OKP", "crv": "X25519", "x": "AQAB"})).unwrap(),
            "unsupported key type OKP/X25519",
        );
        // A JWKS: signature keys for verification, encryption keys for encryption.
        let signing = crate::keys::SigningKey::generate(crate::keys::Algorithm::Es256).unwrap();
        let jwks = Jwks {
            keys: vec![signing.verifying_key().to_jwk(), jwk.clone()],
        };
        let encryption: Vec<EncryptionKey> = jwks.encryption_keys().map(Result::unwrap).collect();
        assert_eq!(encryption, [bob.encryption_key().clone()]);
        assert_eq!(jwks.verifying_keys().count(), 1);
    }
}
