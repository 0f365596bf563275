//! Signing and verifying keys for the three algorithms, and their JWK (RFC 7517) form. The
//! encryption keys are in [`crate::jwe`].

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, UnparsedPublicKey,
};
use aws_lc_rs::{digest, signature::RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jcs;
use crate::jwe::EncryptionKey;

/// A signature algorithm of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Ed25519 (RFC 8032); JOSE `EdDSA`. The default.
    Ed25519,
    /// ECDSA over P-256 with SHA-256; JOSE `ES256`. Signatures are `r || s`, 64 bytes.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; JOSE `RS256`. Keys of 2048 to 8192 bits.
    Rs256,
}

impl Algorithm {
    /// Every algorithm, default first.
    pub const ALL: [Algorithm; 3] = [Algorithm::Ed25519, Algorithm::Es256, Algorithm::Rs256];

    /// The name in the `algorithm` parameter and the `kidId` triple: `ed25519`, `es256`, `rs256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Es256 => "es256",
            Algorithm::Rs256 => "rs256",
        }
    }

    /// The JOSE `alg` name (RFC 7518, RFC 8037): `EdDSA`, `ES256`, `RS256`.
    pub const fn jose_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "EdDSA",
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }

    /// Reads a signature-profile algorithm name, ignoring case; also accepts the
    /// draft-cavage and JOSE spellings peers use (`eddsa`, `ecdsa-p256-sha256`, `rsa-sha256`).
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ed25519" | "eddsa" => Some(Algorithm::Ed25519),
            "es256" | "ecdsa-p256-sha256" => Some(Algorithm::Es256),
            "rs256" | "rsa-sha256" | "rsa-v1_5-sha256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }

    /// Reads a JOSE `alg` value (case-sensitive, as JOSE is); `Ed25519` is RFC 9864's name
    /// for EdDSA over Ed25519.
    pub fn from_jose_name(alg: &str) -> Option<Algorithm> {
        match alg {
            "EdDSA" | "Ed25519" => Some(Algorithm::Ed25519),
            "ES256" => Some(Algorithm::Es256),
            "RS256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key could not be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The JWK does not describe a key this crate can verify with.
    #[error("unusable JWK{}: {reason}", kid_suffix(.kid.as_deref()))]
    Jwk {
        /// The JWK's `kid`, if it has one.
        kid: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key bytes are not a PKCS#8 key of the stated algorithm.
    #[error("not a PKCS#8 {algorithm} private key: {reason}")]
    Pkcs8 {
        /// The algorithm the key was expected to be for: a signature algorithm's profile name
        /// (`ed25519`) or a JWE key-management algorithm's JOSE name (`ECDH-ES`).
        algorithm: &'static str,
        /// What the crypto library said.
        reason: String,
    },
    /// The crypto library failed (key generation, signing); not expected in practice.
    #[error("{algorithm} {operation} failed")]
    Crypto {
        /// The algorithm in use, named as in [`KeyError::Pkcs8`].
        algorithm: &'static str,
        /// `generate`, `sign`, `export`.
        operation: &'static str,
    },
}

fn kid_suffix(kid: Option<&str>) -> String {
    kid.map(|kid| format!(" '{kid}'")).unwrap_or_default()
}

pub(crate) fn jwk_error(jwk: &Jwk, reason: impl Into<String>) -> KeyError {
    KeyError::Jwk {
        kid: jwk.kid.clone(),
        reason: reason.into(),
    }
}

/// A private signing key with its public half and `kid` (the RFC 7638 thumbprint).
pub struct SigningKey {
    pair: SigningPair,
    verifying: VerifyingKey,
}

enum SigningPair {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl SigningKey {
    /// A fresh key (RSA keys are 2048 bits).
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        let failed = KeyError::Crypto {
            algorithm: algorithm.as_str(),
            operation: "generate",
        };
        let pair = match algorithm {
            Algorithm::Ed25519 => {
                SigningPair::Ed25519(Ed25519KeyPair::generate().map_err(|_| failed)?)
            }
            Algorithm::Es256 => SigningPair::Es256(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| failed)?,
            ),
            Algorithm::Rs256 => {
                SigningPair::Rs256(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed)?)
            }
        };
        SigningKey::from_pair(pair)
    }

    /// Reads a PKCS#8 (RFC 5208 / RFC 5958) DER private key of `algorithm`.
    pub fn from_pkcs8(algorithm: Algorithm, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Pkcs8 {
            algorithm: algorithm.as_str(),
            reason: e.to_string(),
        };
        let pair = match algorithm {
            Algorithm::Ed25519 => {
                SigningPair::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?)
            }
            Algorithm::Es256 => SigningPair::Es256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            Algorithm::Rs256 => SigningPair::Rs256(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
        };
        SigningKey::from_pair(pair)
    }

    /// An Ed25519 key from its 32-byte seed (the JWK `d` of RFC 8037).
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<SigningKey, KeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| KeyError::Pkcs8 {
            algorithm: Algorithm::Ed25519.as_str(),
            reason: e.to_string(),
        })?;
        SigningKey::from_pair(SigningPair::Ed25519(pair))
    }

    fn from_pair(pair: SigningPair) -> Result<SigningKey, KeyError> {
        let jwk = match &pair {
            SigningPair::Ed25519(pair) => Jwk::okp_ed25519(pair.public_key().as_ref()),
            SigningPair::Es256(pair) => Jwk::ec_p256(pair.public_key().as_ref()),
            SigningPair::Rs256(pair) => {
                let public = pair.public_key();
                Jwk::rsa(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                )
            }
        };
        let verifying = VerifyingKey::from_jwk(&jwk)?;
        Ok(SigningKey { pair, verifying })
    }

    /// The PKCS#8 DER form of the private key. Secret: seal it before it touches a disk.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        let failed = KeyError::Crypto {
            algorithm: self.algorithm().as_str(),
            operation: "export",
        };
        let der = match &self.pair {
            SigningPair::Ed25519(pair) => pair.to_pkcs8().map_err(|_| failed)?.as_ref().to_vec(),
            SigningPair::Es256(pair) => pair.to_pkcs8v1().map_err(|_| failed)?.as_ref().to_vec(),
            SigningPair::Rs256(pair) => {
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| failed)?;
                der.as_ref().to_vec()
            }
        };
        Ok(der)
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.algorithm()
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint of the public JWK, base64url.
    pub fn kid(&self) -> &str {
        self.verifying.kid()
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs `message`: 64 bytes for Ed25519, `r || s` (64 bytes) for ES256, the modulus
    /// length for RS256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = KeyError::Crypto {
            algorithm: self.algorithm().as_str(),
            operation: "sign",
        };
        match &self.pair {
            SigningPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            SigningPair::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| failed),
            SigningPair::Rs256(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| failed)?;
                Ok(sig)
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// A public key that verifies signatures of one algorithm; cheap to clone.
#[derive(Clone)]
pub struct VerifyingKey(Arc<VerifyingInner>);

struct VerifyingInner {
    algorithm: Algorithm,
    kid: String,
    jwk: Jwk,
    parsed: ParsedPublicKey,
    /// The SEC1 point of an ES256 key, to also accept DER-encoded ECDSA signatures.
    ec_point: Option<Vec<u8>>,
}

impl VerifyingKey {
    /// Reads a public JWK: `OKP`/`Ed25519`, `EC`/`P-256` or `RSA`. Its `kid` is kept as
    /// given (peers pick their own) and is the RFC 7638 thumbprint when absent. A key marked
    /// `"use": "enc"`, or whose `alg` names another algorithm, is refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, KeyError> {
        jwk.check_use("sig")?;
        let (algorithm, parsed, ec_point) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x = jwk.member_bytes("x", &jwk.x)?;
                if x.len() != 32 {
                    return Err(jwk_error(jwk, "\"x\" is not 32 bytes"));
                }
                let parsed = ParsedPublicKey::new(&signature::ED25519, &x)
                    .map_err(|e| jwk_error(jwk, e.to_string()))?;
                (Algorithm::Ed25519, parsed, None)
            }
            ("EC", Some("P-256")) => {
                let point = jwk.p256_point()?;
                let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                    .map_err(|e| jwk_error(jwk, format!("not a P-256 point: {e}")))?;
                (Algorithm::Es256, parsed, Some(point))
            }
            ("RSA", _) => {
                let parsed = jwk
                    .rsa_components()?
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|e| jwk_error(jwk, e.to_string()))?;
                (Algorithm::Rs256, parsed, None)
            }
            _ => return Err(jwk.unsupported_type()),
        };
        if let Some(alg) = jwk.alg.as_deref()
            && Algorithm::from_jose_name(alg) != Some(algorithm)
        {
            return Err(jwk_error(
                jwk,
                format!(
                    "\"alg\" is \"{alg}\" but the key is for {}",
                    algorithm.jose_name()
                ),
            ));
        }
        let public = jwk.published("sig", algorithm.jose_name())?;
        Ok(VerifyingKey(Arc::new(VerifyingInner {
            algorithm,
            kid: public.kid.clone().unwrap_or_default(),
            jwk: public,
            parsed,
            ec_point,
        })))
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }

    /// The key id: the JWK's `kid`, or its RFC 7638 thumbprint when it had none.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The public JWK, with `kid`, `"use": "sig"` and `alg`, as published in a JWKS.
    pub fn to_jwk(&self) -> Jwk {
        self.0.jwk.clone()
    }

    /// Whether `signature` is this key's signature of `message`. ES256 signatures are
    /// `r || s`; a DER-encoded ECDSA signature is accepted too.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if self.0.parsed.verify_sig(message, signature).is_ok() {
            return true;
        }
        match &self.0.ec_point {
            Some(point) if signature.len() != 64 => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid())
            .finish()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.algorithm == other.0.algorithm && self.0.jwk == other.0.jwk
    }
}

/// A JSON Web Key (RFC 7517) holding a public key. Members other than the ones below are kept
/// in `other` so that a peer's JWKS round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC` or `RSA`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `sig` or `enc`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Intended JOSE algorithm, e.g. `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Curve of an `OKP` or `EC` key: `Ed25519`, `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public key (`OKP`) or x coordinate (`EC`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// y coordinate (`EC`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Modulus (`RSA`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// Public exponent (`RSA`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Any other member (`x5c`, `key_ops`, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Jwk {
    fn okp_ed25519(public: &[u8]) -> Jwk {
        Jwk {
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(public)),
            ..Jwk::empty("OKP")
        }
    }

    pub(crate) fn ec_p256(point: &[u8]) -> Jwk {
        // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        let coordinates = point.get(1..).unwrap_or_default();
        let (x, y) = coordinates.split_at(coordinates.len() / 2);
        Jwk {
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            ..Jwk::empty("EC")
        }
    }

    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Jwk {
        Jwk {
            n: Some(URL_SAFE_NO_PAD.encode(n)),
            e: Some(URL_SAFE_NO_PAD.encode(e)),
            ..Jwk::empty("RSA")
        }
    }

    fn empty(kty: &str) -> Jwk {
        Jwk {
            kty: kty.to_owned(),
            kid: None,
            key_use: None,
            alg: None,
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            other: Map::new(),
        }
    }

    /// Refuses a key whose `use` is present and not `expected`.
    pub(crate) fn check_use(&self, expected: &str) -> Result<(), KeyError> {
        match self.key_use.as_deref() {
            Some(key_use) if key_use != expected => Err(jwk_error(
                self,
                format!("\"use\" is \"{key_use}\", not \"{expected}\""),
            )),
            _ => Ok(()),
        }
    }

    /// The bytes of the base64url member `name` (whose value is `value`).
    fn member_bytes(&self, name: &str, value: &Option<String>) -> Result<Vec<u8>, KeyError> {
        let text = value
            .as_deref()
            .ok_or_else(|| jwk_error(self, format!("no \"{name}\"")))?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| jwk_error(self, format!("\"{name}\" is not base64url")))
    }

    /// The uncompressed SEC1 point (`0x04 || x || y`) of an `EC` key; the caller checks that
    /// the curve is P-256 and the crypto library that the point is on it.
    pub(crate) fn p256_point(&self) -> Result<Vec<u8>, KeyError> {
        let (x, y) = (
            self.member_bytes("x", &self.x)?,
            self.member_bytes("y", &self.y)?,
        );
        if x.len() != 32 || y.len() != 32 {
            return Err(jwk_error(self, "\"x\" and \"y\" must be 32 bytes each"));
        }
        Ok([&[4u8][..], &x, &y].concat())
    }

    /// The modulus and exponent of an `RSA` key of at least 2048 bits.
    pub(crate) fn rsa_components(&self) -> Result<RsaPublicKeyComponents<Vec<u8>>, KeyError> {
        let strip = |b: Vec<u8>| -> Vec<u8> {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[first..].to_vec()
        };
        let components = RsaPublicKeyComponents {
            n: strip(self.member_bytes("n", &self.n)?),
            e: strip(self.member_bytes("e", &self.e)?),
        };
        if components.n.len() < 256 {
            return Err(jwk_error(self, "RSA keys must have at least 2048 bits"));
        }
        Ok(components)
    }

    /// The error for a key type (and curve) no algorithm of this crate uses.
    pub(crate) fn unsupported_type(&self) -> KeyError {
        jwk_error(
            self,
            format!(
                "unsupported key type {}{}",
                self.kty,
                self.crv
                    .as_deref()
                    .map(|c| format!("/{c}"))
                    .unwrap_or_default()
            ),
        )
    }

    /// The JWK to publish for this key: its public members, its `kid` (the RFC 7638
    /// thumbprint when it has none), `use` and `alg`.
    pub(crate) fn published(&self, key_use: &str, alg: &str) -> Result<Jwk, KeyError> {
        let kid = match &self.kid {
            Some(kid) => kid.clone(),
            None => self.thumbprint()?,
        };
        Ok(Jwk {
            kid: Some(kid),
            key_use: Some(key_use.to_owned()),
            alg: Some(alg.to_owned()),
            ..self.public_members()
        })
    }

    /// Only the members that make up the public key of this key type.
    fn public_members(&self) -> Jwk {
        let mut public = Jwk::empty(&self.kty);
        match self.kty.as_str() {
            "OKP" => (public.crv, public.x) = (self.crv.clone(), self.x.clone()),
            "EC" => {
                (public.crv, public.x, public.y) =
                    (self.crv.clone(), self.x.clone(), self.y.clone())
            }
            "RSA" => (public.n, public.e) = (self.n.clone(), self.e.clone()),
            _ => {}
        }
        public
    }

    /// The RFC 7638 JWK thumbprint: base64url(SHA-256) of the required members in
    /// lexicographic order (`crv,kty,x` for OKP per RFC 8037, `crv,kty,x,y` for EC, `e,kty,n`
    /// for RSA).
    pub fn thumbprint(&self) -> Result<String, KeyError> {
        let required = |name: &str, value: &Option<String>| {
            value
                .clone()
                .ok_or_else(|| jwk_error(self, format!("no \"{name}\"")))
        };
        let members: Vec<(&str, String)> = match self.kty.as_str() {
            "OKP" => vec![
                ("crv", required("crv", &self.crv)?),
                ("kty", self.kty.clone()),
                ("x", required("x", &self.x)?),
            ],
            "EC" => vec![
                ("crv", required("crv", &self.crv)?),
                ("kty", self.kty.clone()),
                ("x", required("x", &self.x)?),
                ("y", required("y", &self.y)?),
            ],
            "RSA" => vec![
                ("e", required("e", &self.e)?),
                ("kty", self.kty.clone()),
                ("n", required("n", &self.n)?),
            ],
            other => return Err(jwk_error(self, format!("unsupported key type {other}"))),
        };
        let mut canonical = String::from("{");
        for (i, (name, value)) in members.iter().enumerate() {
            if i > 0 {
                canonical.push(',');
            }
            jcs::write_string(&mut canonical, name);
            canonical.push(':');
            jcs::write_string(&mut canonical, value);
        }
        canonical.push('}');
        let hash = digest::digest(&digest::SHA256, canonical.as_bytes());
        Ok(URL_SAFE_NO_PAD.encode(hash.as_ref()))
    }
}

/// A JWK Set (RFC 7517 §5), the body of `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// Reads a JWK Set document.
    pub fn parse(body: &[u8]) -> Result<Jwks, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The signature keys of the set, each read or refused; keys marked `"use": "enc"` are
    /// left out, as they are no business of signature verification.
    pub fn verifying_keys(&self) -> impl Iterator<Item = Result<VerifyingKey, KeyError>> + '_ {
        self.keys
            .iter()
            .filter(|jwk| jwk.key_use.as_deref() != Some("enc"))
            .map(VerifyingKey::from_jwk)
    }

    /// The encryption keys of the set (`"use": "enc"`), each read or refused, in the set's
    /// order (spx publishes its current key first).
    pub fn encryption_keys(&self) -> impl Iterator<Item = Result<EncryptionKey, KeyError>> + '_ {
        self.keys
            .iter()
            .filter(|jwk| jwk.key_use.as_deref() == Some("enc"))
            .map(EncryptionKey::from_jwk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_thumbprint_example() {
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // A peer's own kid is kept; the key is usable for RS256.
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.kid(), "2011-04-29");
        assert_eq!(key.algorithm(), Algorithm::Rs256);
    }

    /// RFC 8037 §A.3: the thumbprint of the example Ed25519 key.
    #[test]
    fn rfc8037_okp_thumbprint_example() {
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // Without a kid, the thumbprint becomes the kid.
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        // The seed of RFC 8037 §A.1 gives that public key.
        let seed = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let signing = SigningKey::ed25519_from_seed(&seed).unwrap();
        assert_eq!(signing.kid(), key.kid());
    }

    #[test]
    fn own_keys_publish_a_jwk_whose_thumbprint_is_the_kid_and_that_verifies() {
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm).unwrap();
            let jwk = key.verifying_key().to_jwk();
            assert_eq!(jwk.thumbprint().unwrap(), key.kid(), "{algorithm}");
            assert_eq!(jwk.kid.as_deref(), Some(key.kid()));
            assert_eq!(jwk.key_use.as_deref(), Some("sig"));
            assert_eq!(jwk.alg.as_deref(), Some(algorithm.jose_name()));
            // Through JSON and back, as a peer would read it.
            let text = serde_json::to_string(&Jwks { keys: vec![jwk] }).unwrap();
            let peer = Jwks::parse(text.as_bytes()).unwrap();
            let read: Vec<VerifyingKey> = peer.verifying_keys().map(Result::unwrap).collect();
            assert_eq!(read.len(), 1);
            let signature = key.sign(b"payload").unwrap();
            assert!(read[0].verify(b"payload", &signature), "{algorithm}");
            assert!(!read[0].verify(b"payloaD", &signature), "{algorithm}");
            // The private key survives PKCS#8.
            let again = SigningKey::from_pkcs8(algorithm, &key.to_pkcs8().unwrap()).unwrap();
            assert_eq!(again.kid(), key.kid());
        }
    }

    #[test]
    fn es256_accepts_der_signatures_too() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let fixed = key.sign(b"m").unwrap();
        assert_eq!(fixed.len(), 64);
        // DER: SEQUENCE { INTEGER r, INTEGER s }, each with a leading zero when the top bit is set.
        let int = |b: &[u8]| {
            let b = &b[b.iter().position(|&x| x != 0).unwrap_or(31)..];
            let mut v = vec![0x02];
            if b[0] & 0x80 != 0 {
                v.extend([b.len() as u8 + 1, 0]);
            } else {
                v.push(b.len() as u8);
            }
            v.extend(b);
            v
        };
        let body = [int(&fixed[..32]), int(&fixed[32..])].concat();
        let der = [vec![0x30, body.len() as u8], body].concat();
        assert!(key.verifying_key().verify(b"m", &der));
        assert!(!key.verifying_key().verify(b"n", &der));
    }

    #[test]
    fn refuses_encryption_keys_wrong_alg_and_short_rsa() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let mut jwk = key.verifying_key().to_jwk();
        jwk.key_use = Some("enc".into());
        assert!(
            matches!(VerifyingKey::from_jwk(&jwk), Err(KeyError::Jwk { reason, .. }) if reason.contains("\"use\""))
        );
        let mut jwk = key.verifying_key().to_jwk();
        jwk.alg = Some("ES256".into());
        assert!(
            matches!(VerifyingKey::from_jwk(&jwk), Err(KeyError::Jwk { reason, .. }) if reason.contains("\"alg\""))
        );
        let short: Jwk =
            serde_json::from_value(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).unwrap();
        assert!(VerifyingKey::from_jwk(&short).is_err());
        let enc_only = Jwks {
            keys: vec![jwk_with_use(&key, "enc")],
        };
        assert_eq!(enc_only.verifying_keys().count(), 0);
    }

    fn jwk_with_use(key: &SigningKey, key_use: &str) -> Jwk {
        Jwk {
            key_use: Some(key_use.into()),
            ..key.verifying_key().to_jwk()
        }
    }
}
