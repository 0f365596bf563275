//! JWS (RFC 7515) signatures for peers that sign that way instead of with the envelope
//! `signature` string: a compact JWS carrying its payload, and a detached JWS
//! (`<header>..<signature>`, RFC 7515 Appendix F) over content sent beside it.
//!
//! Algorithms are `EdDSA` (Ed25519), `ES256` and `RS256`; the protected header must name one
//! of them and a `kid`. `"b64": false` (RFC 7797, listed in `crit`) is understood for detached
//! signatures. `jwk`, `jku`, `x5u` and `x5c` headers are ignored: keys come from the resolver.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
use crate::resolve::KeyResolver;
use crate::signature::SignatureError;

/// A compact JWS of `payload`: `base64url(header).base64url(payload).base64url(signature)`,
/// with the protected header `{"alg": …, "kid": …}`.
pub fn sign_compact_jws(payload: &[u8], key: &SigningKey) -> Result<String, KeyError> {
    let header = protected_header(key);
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A detached JWS of `payload`: the compact form with the payload segment left empty,
/// `base64url(header)..base64url(signature)`. The receiver needs the same payload bytes.
pub fn sign_detached_jws(payload: &[u8], key: &SigningKey) -> Result<String, KeyError> {
    let compact = sign_compact_jws(payload, key)?;
    let mut parts = compact.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    Ok(format!(
        "{}..{}",
        header.unwrap_or_default(),
        signature.unwrap_or_default()
    ))
}

fn protected_header(key: &SigningKey) -> String {
    let header = serde_json::json!({"alg": key.algorithm().jose_name(), "kid": key.kid()});
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// What a verified JWS established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The sender whose key verified it.
    pub sender_id: String,
    /// The `kid` of the protected header.
    pub kid: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The payload: the embedded one of a compact JWS, or the detached content given.
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS signed by `sender_id` and returns its payload.
pub async fn verify_compact_jws(
    jws: &str,
    sender_id: &str,
    resolver: &dyn KeyResolver,
) -> Result<VerifiedJws, SignatureError> {
    let parsed = Jws::parse(jws)?;
    if parsed.is_detached() {
        return Err(SignatureError::Malformed(
            "the JWS has no payload (it is detached)".into(),
        ));
    }
    verify_with_resolver(&parsed, None, sender_id, resolver).await
}

/// Verifies a detached JWS signed by `sender_id` over `payload`: the exact bytes of the
/// request body as received.
pub async fn verify_detached_jws(
    jws: &str,
    payload: &[u8],
    sender_id: &str,
    resolver: &dyn KeyResolver,
) -> Result<VerifiedJws, SignatureError> {
    let parsed = Jws::parse(jws)?;
    if !parsed.is_detached() {
        return Err(SignatureError::Malformed(
            "expected a detached JWS (header..signature)".into(),
        ));
    }
    verify_with_resolver(&parsed, Some(payload), sender_id, resolver).await
}

async fn verify_with_resolver(
    jws: &Jws,
    detached: Option<&[u8]>,
    sender_id: &str,
    resolver: &dyn KeyResolver,
) -> Result<VerifiedJws, SignatureError> {
    let kid = jws
        .kid()
        .ok_or_else(|| SignatureError::Malformed("the JWS header has no kid".into()))?;
    let key = resolver.resolve(sender_id, kid).await?;
    let payload = jws.verify_with_key(&key, detached)?;
    Ok(VerifiedJws {
        sender_id: sender_id.to_owned(),
        kid: kid.to_owned(),
        algorithm: jws.algorithm(),
        payload,
    })
}

/// A parsed compact or detached JWS, not yet verified.
#[derive(Debug, Clone)]
pub struct Jws {
    algorithm: Algorithm,
    kid: Option<String>,
    encoded_payload: bool,
    header_segment: String,
    payload_segment: String,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    b64: Option<bool>,
    #[serde(default)]
    crit: Option<Vec<String>>,
}

impl Jws {
    /// Reads `header.payload.signature` (the payload segment empty when detached).
    pub fn parse(text: &str) -> Result<Jws, SignatureError> {
        let malformed = |reason: &str| SignatureError::Malformed(format!("JWS: {reason}"));
        let text = text.trim();
        let mut parts = text.split('.');
        let (Some(header_segment), Some(payload_segment), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated segments"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_segment)
            .map_err(|_| malformed("the header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header_json)
            .map_err(|e| SignatureError::Malformed(format!("JWS header: {e}")))?;
        let algorithm = Algorithm::from_jose_name(&header.alg)
            .ok_or_else(|| SignatureError::UnsupportedAlgorithm(header.alg.clone()))?;
        // RFC 7515 §4.1.11: every extension listed in crit must be understood.
        for name in header.crit.iter().flatten() {
            if name != "b64" {
                return Err(malformed(&format!("unsupported critical header '{name}'")));
            }
        }
        let encoded_payload = header.b64.unwrap_or(true);
        if !encoded_payload && !header.crit.iter().flatten().any(|n| n == "b64") {
            return Err(malformed("\"b64\": false must be listed in crit"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| malformed("the signature is not base64url"))?;
        if signature.is_empty() {
            return Err(malformed("the signature is empty"));
        }
        Ok(Jws {
            algorithm,
            kid: header.kid,
            encoded_payload,
            header_segment: header_segment.to_owned(),
            payload_segment: payload_segment.to_owned(),
            signature,
        })
    }

    /// The `alg` of the protected header.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` of the protected header.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether the payload segment is empty (the content travels separately).
    pub fn is_detached(&self) -> bool {
        self.payload_segment.is_empty()
    }

    /// Verifies with `key` and returns the payload. `detached` is the content of a detached
    /// JWS and must be `None` for a compact one.
    pub fn verify_with_key(
        &self,
        key: &VerifyingKey,
        detached: Option<&[u8]>,
    ) -> Result<Vec<u8>, SignatureError> {
        if key.algorithm() != self.algorithm {
            return Err(SignatureError::AlgorithmMismatch {
                signature: self.algorithm,
                kid: key.kid().to_owned(),
                key: key.algorithm(),
            });
        }
        let payload = match detached {
            Some(_) if !self.is_detached() => {
                return Err(SignatureError::Malformed(
                    "JWS: detached content given for a JWS that has a payload".into(),
                ));
            }
            Some(content) => content.to_vec(),
            None if self.is_detached() => {
                return Err(SignatureError::Malformed(
                    "JWS: detached JWS without its content".into(),
                ));
            }
            None if self.encoded_payload => {
                URL_SAFE_NO_PAD.decode(&self.payload_segment).map_err(|_| {
                    SignatureError::Malformed("JWS: the payload is not base64url".into())
                })?
            }
            None => self.payload_segment.as_bytes().to_vec(),
        };
        let mut signing_input =
            Vec::with_capacity(self.header_segment.len() + payload.len() * 4 / 3 + 8);
        signing_input.extend_from_slice(self.header_segment.as_bytes());
        signing_input.push(b'.');
        if self.encoded_payload {
            signing_input.extend_from_slice(URL_SAFE_NO_PAD.encode(&payload).as_bytes());
        } else {
            signing_input.extend_from_slice(&payload);
        }
        if !key.verify(&signing_input, &self.signature) {
            return Err(SignatureError::BadSignature {
                kid: key.kid().to_owned(),
            });
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Jwk;
    use crate::resolve::StaticKeys;
    use serde_json::json;

    fn keys_of(sender_id: &str, key: &SigningKey) -> StaticKeys {
        let mut keys = StaticKeys::new();
        keys.insert(sender_id, key.verifying_key().clone());
        keys
    }

    #[tokio::test]
    async fn compact_jws_round_trips_for_each_algorithm_and_fails_on_tampering() {
        let payload = br#"{"header":{"sender_id":"pay.example"},"message":{"amount":"10.00"}}"#;
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm).unwrap();
            let keys = keys_of("pay.example", &key);
            let jws = sign_compact_jws(payload, &key).unwrap();
            let verified = verify_compact_jws(&jws, "pay.example", &keys)
                .await
                .unwrap();
            assert_eq!(verified.payload, payload, "{algorithm}");
            assert_eq!(verified.kid, key.kid());
            assert_eq!(verified.algorithm, algorithm);

            // Another payload under the same header and signature.
            let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(br#"{"message":{"amount":"99.00"}}"#);
            let error = verify_compact_jws(&parts.join("."), "pay.example", &keys)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SignatureError::BadSignature { .. }),
                "{algorithm}: {error}"
            );

            // Another header (same kid, extra member).
            let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
            parts[0] = URL_SAFE_NO_PAD.encode(
                json!({"alg": algorithm.jose_name(), "kid": key.kid(), "typ": "JWT"}).to_string(),
            );
            let error = verify_compact_jws(&parts.join("."), "pay.example", &keys)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SignatureError::BadSignature { .. }),
                "{algorithm}: {error}"
            );

            // The right key under another sender is not found.
            let error = verify_compact_jws(&jws, "mis.example", &keys)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SignatureError::UnknownSender { .. }),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn detached_jws_round_trips_for_each_algorithm_and_fails_on_tampering() {
        let body = br#"{"header":{"sender_id":"pay.example"},"message":{"amount":"10.00"}}"#;
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm).unwrap();
            let keys = keys_of("pay.example", &key);
            let jws = sign_detached_jws(body, &key).unwrap();
            assert!(jws.contains(".."), "{jws}");
            let verified = verify_detached_jws(&jws, body, "pay.example", &keys)
                .await
                .unwrap();
            assert_eq!(verified.payload, body);

            let mut altered = body.to_vec();
            altered[60] ^= 1;
            let error = verify_detached_jws(&jws, &altered, "pay.example", &keys)
                .await
                .unwrap_err();
            assert!(
                matches!(error, SignatureError::BadSignature { .. }),
                "{algorithm}: {error}"
            );

            // Each form only through its own function.
            assert!(matches!(
                verify_compact_jws(&jws, "pay.example", &keys).await,
                Err(SignatureError::Malformed(_))
            ));
            let compact = sign_compact_jws(body, &key).unwrap();
            assert!(matches!(
                verify_detached_jws(&compact, body, "pay.example", &keys).await,
                Err(SignatureError::Malformed(_))
            ));
        }
    }

    #[test]
    fn refuses_alg_none_hmac_unknown_crit_and_algorithm_confusion() {
        let header = |h: serde_json::Value| URL_SAFE_NO_PAD.encode(h.to_string());
        let none = format!("{}.e30.", header(json!({"alg": "none"})));
        assert!(
            matches!(Jws::parse(&none), Err(SignatureError::UnsupportedAlgorithm(a)) if a == "none")
        );
        let hmac = format!("{}.e30.AAAA", header(json!({"alg": "HS256", "kid": "k"})));
        assert!(matches!(
            Jws::parse(&hmac),
            Err(SignatureError::UnsupportedAlgorithm(_))
        ));
        let crit = format!(
            "{}.e30.AAAA",
            header(json!({"alg": "EdDSA", "kid": "k", "crit": ["exp"], "exp": 1}))
        );
        assert!(matches!(
            Jws::parse(&crit),
            Err(SignatureError::Malformed(_))
        ));

        // An ES256 key cannot verify a JWS that claims EdDSA.
        let ed = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let es = SigningKey::generate(Algorithm::Es256).unwrap();
        let jws = Jws::parse(&sign_compact_jws(b"x", &ed).unwrap()).unwrap();
        assert!(matches!(
            jws.verify_with_key(es.verifying_key(), None),
            Err(SignatureError::AlgorithmMismatch { .. })
        ));
    }

    /// RFC 8037 §A.4: the Ed25519 compact JWS, verified with the §A.2 public key.
    #[test]
    fn rfc8037_ed25519_vector() {
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
                   hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        let parsed = Jws::parse(jws).unwrap();
        assert_eq!(parsed.kid(), None);
        assert_eq!(
            parsed.verify_with_key(&key, None).unwrap(),
            b"Example of Ed25519 signing"
        );
        let tampered = jws.replace(
            "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
            "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd",
        );
        assert!(
            Jws::parse(&tampered)
                .unwrap()
                .verify_with_key(&key, None)
                .is_err()
        );
        // Ed25519 is deterministic: the RFC's private key reproduces the RFC's signature.
        let seed = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let signing = SigningKey::ed25519_from_seed(&seed).unwrap();
        let signature = signing
            .sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
            .unwrap();
        assert!(jws.ends_with(&URL_SAFE_NO_PAD.encode(signature)));
    }

    /// RFC 7515 §A.3: the ES256 compact JWS.
    #[test]
    fn rfc7515_es256_vector() {
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }))
        .unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let jws = "eyJhbGciOiJFUzI1NiJ9.\
                   eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
                   DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let payload = Jws::parse(jws)
            .unwrap()
            .verify_with_key(&key, None)
            .unwrap();
        assert!(payload.starts_with(b"{\"iss\":\"joe\""));
        let tampered = jws.replace("DtEhU3", "DtEhU4");
        assert!(
            Jws::parse(&tampered)
                .unwrap()
                .verify_with_key(&key, None)
                .is_err()
        );
    }

    /// RFC 7797: `"b64": false` signs the raw content instead of its base64url.
    #[test]
    fn unencoded_detached_payload() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let header = URL_SAFE_NO_PAD.encode(
            json!({"alg": "ES256", "kid": key.kid(), "b64": false, "crit": ["b64"]}).to_string(),
        );
        let content = b"$.02";
        let signature = key
            .sign(&[header.as_bytes(), b".", content].concat())
            .unwrap();
        let jws = format!("{header}..{}", URL_SAFE_NO_PAD.encode(signature));
        let parsed = Jws::parse(&jws).unwrap();
        assert_eq!(
            parsed
                .verify_with_key(key.verifying_key(), Some(content))
                .unwrap(),
            content
        );
        assert!(
            parsed
                .verify_with_key(key.verifying_key(), Some(b"$.03"))
                .is_err()
        );
        // b64 false without crit is refused.
        let loose = URL_SAFE_NO_PAD
            .encode(json!({"alg": "ES256", "kid": key.kid(), "b64": false}).to_string());
        assert!(Jws::parse(&format!("{loose}..AAAA")).is_err());
    }
}
