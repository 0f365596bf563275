//! The envelope signature profile (dci-spec §8.4 recommendation): producing and checking the
//! `signature` string of a DCI envelope. The crate documentation states the exact format.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use blake2::{Blake2b512, Digest as _};
use dci::{ReasonCode, Rejection};
use serde_json::Value;

use crate::jcs;
use crate::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
use crate::resolve::{KeyResolver, ResolveError};
use crate::{unix_seconds, unix_time};

/// The `namespace` parameter spx writes.
pub const NAMESPACE: &str = "spdci";

/// The `headers` parameter: the pseudo-headers the signing string is made of, in order.
pub const SIGNED_HEADERS: &str = "(created) (expires) digest";

/// How long a signature spx makes is valid by default (dci-spec §8.4 suggests 300 s).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(300);

/// Signs the `header` and `message` of `envelope` (any `signature` member is ignored) and
/// returns the `signature` string to put in it.
///
/// `sender_id` goes into `kidId`; when the header has a `sender_id` it must be the same, or
/// every receiver would refuse the message.
pub fn sign_envelope(
    envelope: &Value,
    sender_id: &str,
    key: &SigningKey,
    now: SystemTime,
    validity: Duration,
) -> Result<String, SignError> {
    let header = envelope
        .get("header")
        .filter(|h| h.is_object())
        .ok_or(SignError::NoHeader)?;
    check_signer(header, sender_id)?;
    signature_of(&envelope_digest(envelope), sender_id, key, now, validity)
}

/// [`sign_envelope`] of an envelope's canonical text ([`jcs::canonical_text`]): the same
/// signature, without parsing the envelope into a `Value` (only its header).
pub fn sign_canonical(
    envelope: &jcs::CanonicalText,
    sender_id: &str,
    key: &SigningKey,
    now: SystemTime,
    validity: Duration,
) -> Result<String, SignError> {
    let header = envelope
        .member("header")
        .filter(|h| h.starts_with('{'))
        .ok_or(SignError::NoHeader)?;
    let parsed: Value = serde_json::from_str(header).map_err(|_| SignError::NoHeader)?;
    check_signer(&parsed, sender_id)?;
    let digest = digest_of_parts(Some(header), envelope.member("message"));
    signature_of(&digest, sender_id, key, now, validity)
}

/// The `signature` string over an envelope's `digest`, valid from `now` for `validity`.
fn signature_of(
    digest: &str,
    sender_id: &str,
    key: &SigningKey,
    now: SystemTime,
    validity: Duration,
) -> Result<String, SignError> {
    let created = unix_seconds(now);
    let expires = created.saturating_add(validity.as_secs());
    let (created, expires) = (created.to_string(), expires.to_string());
    let signing_string = signing_string(&created, &expires, digest);
    let signature = key.sign(signing_string.as_bytes())?;
    let algorithm = key.algorithm();
    Ok(format!(
        "Signature: namespace=\"{NAMESPACE}\", kidId=\"{sender_id}|{kid}|{algorithm}\", \
         algorithm=\"{algorithm}\", created=\"{created}\", expires=\"{expires}\", \
         headers=\"{SIGNED_HEADERS}\", signature=\"{signature}\"",
        kid = key.kid(),
        signature = STANDARD.encode(signature),
    ))
}

/// Refuses to sign as `sender_id` a header whose `sender_id` is another participant.
fn check_signer(header: &Value, sender_id: &str) -> Result<(), SignError> {
    match header.get("sender_id").and_then(Value::as_str) {
        Some(in_header) if in_header != sender_id => Err(SignError::SenderMismatch {
            sender_id: sender_id.to_owned(),
            header: in_header.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The `digest` pseudo-header value of an envelope:
/// `BLAKE-512=` + base64(BLAKE2b-512(JCS({"header": …, "message": …}))). A member missing from
/// the envelope is missing from the hashed object too.
pub fn envelope_digest(envelope: &Value) -> String {
    let header = envelope.get("header").map(jcs::to_string);
    let message = envelope.get("message").map(jcs::to_string);
    digest_of_parts(header.as_deref(), message.as_deref())
}

/// The digest of the object holding the canonical `header` and `message` that are present
/// (in JCS order: "header" sorts before "message"), hashed as it is written.
fn digest_of_parts(header: Option<&str>, message: Option<&str>) -> String {
    let mut hash = Blake2b512::new();
    hash.update(b"{");
    let parts = [("header", header), ("message", message)];
    for (i, (name, part)) in parts
        .into_iter()
        .filter_map(|(name, part)| Some((name, part?)))
        .enumerate()
    {
        if i > 0 {
            hash.update(b",");
        }
        hash.update(format!("\"{name}\":").as_bytes());
        hash.update(part.as_bytes());
    }
    hash.update(b"}");
    format!("BLAKE-512={}", STANDARD.encode(hash.finalize()))
}

/// The bytes that get signed: three lines joined by `\n`, no trailing newline.
pub fn signing_string(created: &str, expires: &str, digest: &str) -> String {
    format!("(created): {created}\n(expires): {expires}\ndigest: {digest}")
}

/// Why an envelope could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The envelope has no `header` object.
    #[error("the envelope has no header object to sign")]
    NoHeader,
    /// `header.sender_id` is not the identity the signature is made for.
    #[error("header.sender_id is '{header}' but the message is signed as '{sender_id}'")]
    SenderMismatch {
        /// The identity the caller signs as.
        sender_id: String,
        /// The header's `sender_id`.
        header: String,
    },
    /// The key failed to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What the receiver accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Allowed difference between the sender's clock and ours, both ways.
    pub clock_skew: Duration,
    /// The longest `expires - created` accepted; `None` accepts any.
    pub max_validity: Option<Duration>,
}

impl Default for VerifyPolicy {
    /// 60 s of clock skew; signatures valid for at most 24 h (the standard's own example is
    /// valid for 16 h 40 min).
    fn default() -> Self {
        VerifyPolicy {
            clock_skew: Duration::from_secs(60),
            max_validity: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// What a valid signature established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender that signed: the first part of `kidId`, equal to `header.sender_id` when the
    /// header has one. The caller decides whether this sender may make this request.
    pub sender_id: String,
    /// The key that signed.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// `created`.
    pub created: SystemTime,
    /// `expires`.
    pub expires: SystemTime,
}

/// Why a signature was refused; [`SignatureError::code`] gives the DCI error code and the
/// `Display` text the precise reason for logs and `error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature where one is required.
    #[error("the message is not signed")]
    Missing,
    /// The signature string (or JWS) cannot be read.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The algorithm is not one of ed25519, es256, rs256.
    #[error("unsupported signature algorithm '{0}'")]
    UnsupportedAlgorithm(String),
    /// The signature names another algorithm than the key's.
    #[error("the signature says {signature} but key '{kid}' is {key}")]
    AlgorithmMismatch {
        /// The algorithm the signature claims.
        signature: Algorithm,
        /// The key's id.
        kid: String,
        /// The key's algorithm.
        key: Algorithm,
    },
    /// `kidId` names another sender than `header.sender_id`.
    #[error("signed by '{signed_by}' but header.sender_id is '{header}'")]
    SenderMismatch {
        /// The sender in `kidId`.
        signed_by: String,
        /// `header.sender_id`.
        header: String,
    },
    /// `expires` has passed (beyond the allowed skew).
    #[error("the signature expired at {expires} (now {now})")]
    Expired {
        /// `expires`, Unix seconds.
        expires: u64,
        /// Our clock, Unix seconds.
        now: u64,
    },
    /// `created` is in the future (beyond the allowed skew).
    #[error("the signature is created at {created}, in the future (now {now})")]
    NotYetValid {
        /// `created`, Unix seconds.
        created: u64,
        /// Our clock, Unix seconds.
        now: u64,
    },
    /// `expires - created` is longer than the policy accepts.
    #[error("the signature is valid for {seconds} s, more than the {max} s accepted")]
    ValidityTooLong {
        /// `expires - created`.
        seconds: u64,
        /// The policy's maximum.
        max: u64,
    },
    /// The sender is not a known participant (no keys configured for it).
    #[error("no keys are known for sender '{sender_id}'")]
    UnknownSender {
        /// The sender.
        sender_id: String,
    },
    /// The sender has no (published, unretired) key with this id.
    #[error("sender '{sender_id}' has no key '{kid}'")]
    UnknownKey {
        /// The sender.
        sender_id: String,
        /// The key id.
        kid: String,
    },
    /// The sender's keys could not be fetched; the message may be retried later.
    #[error("the keys of sender '{sender_id}' are unavailable: {reason}")]
    KeysUnavailable {
        /// The sender.
        sender_id: String,
        /// What went wrong fetching them.
        reason: String,
    },
    /// The signature does not verify: the header, the message or the signature was altered,
    /// or another key signed.
    #[error("the signature does not verify with key '{kid}'")]
    BadSignature {
        /// The key tried.
        kid: String,
    },
}

impl SignatureError {
    /// The DCI code: `err.signature.missing`, `err.signature.invalid`, or
    /// `err.service.unavailable` when the sender's keys could not be fetched.
    pub fn code(&self) -> ReasonCode {
        match self {
            SignatureError::Missing => ReasonCode::SignatureMissing,
            SignatureError::KeysUnavailable { .. } => ReasonCode::ServiceUnavailable,
            _ => ReasonCode::SignatureInvalid,
        }
    }
}

impl From<SignatureError> for Rejection {
    fn from(error: SignatureError) -> Rejection {
        Rejection::new(error.code(), error.to_string())
    }
}

impl From<ResolveError> for SignatureError {
    fn from(error: ResolveError) -> SignatureError {
        match error {
            ResolveError::UnknownSender { sender_id } => {
                SignatureError::UnknownSender { sender_id }
            }
            ResolveError::UnknownKey { sender_id, kid } => {
                SignatureError::UnknownKey { sender_id, kid }
            }
            ResolveError::Unavailable { sender_id, reason } => {
                SignatureError::KeysUnavailable { sender_id, reason }
            }
        }
    }
}

/// A parsed `signature` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgSignature {
    /// `namespace`, if given (not covered by the signature).
    pub namespace: Option<String>,
    /// The sender in `kidId`.
    pub sender_id: String,
    /// The key id in `kidId`.
    pub kid: String,
    /// The algorithm (from `algorithm`, or the third part of `kidId`; they must agree).
    pub algorithm: Algorithm,
    /// `created`, Unix seconds.
    pub created: u64,
    /// `expires`, Unix seconds.
    pub expires: u64,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// `created` and `expires` as written, which is what the sender signed.
    created_text: String,
    expires_text: String,
    /// The pseudo-headers in the order `headers` lists them.
    headers: Vec<SignedHeader>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedHeader {
    Created,
    Expires,
    Digest,
}

impl MsgSignature {
    /// Reads a signature string. Accepted: with or without the `Signature:` prefix; `kidId` or
    /// `keyId`; parameters in any order, separated by commas, values quoted or not (`created`
    /// and `expires` are often unquoted); `headers` absent (meaning the profile's list) or any
    /// order of `(created)`, `(expires)` and `digest`.
    pub fn parse(text: &str) -> Result<MsgSignature, SignatureError> {
        let malformed = |reason: String| SignatureError::Malformed(reason);
        let mut rest = text.trim();
        if rest
            .get(..10)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("signature:"))
        {
            rest = rest[10..].trim_start();
        }
        let params = parse_params(rest).map_err(malformed)?;
        let get = |name: &str| -> Option<&str> {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let key_id = get("kidId")
            .or_else(|| get("keyId"))
            .ok_or_else(|| malformed("no kidId (or keyId) parameter".into()))?;
        // sender_id|kid|algorithm; split from the right so that a '|' in a sender id survives.
        let mut parts = key_id.rsplitn(3, '|');
        let (Some(triple_alg), Some(kid), Some(sender_id)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(format!(
                "kidId '{key_id}' is not sender_id|key_id|algorithm"
            )));
        };
        if sender_id.is_empty() || kid.is_empty() {
            return Err(malformed(format!(
                "kidId '{key_id}' has an empty sender_id or key_id"
            )));
        }
        let algorithm_name = match (get("algorithm"), triple_alg) {
            (Some(param), triple) if !triple.is_empty() && !param.eq_ignore_ascii_case(triple) => {
                return Err(malformed(format!(
                    "algorithm=\"{param}\" but kidId says '{triple}'"
                )));
            }
            (Some(param), _) => param,
            (None, "") => return Err(malformed("no algorithm".into())),
            (None, triple) => triple,
        };
        let algorithm = Algorithm::parse(algorithm_name)
            .ok_or_else(|| SignatureError::UnsupportedAlgorithm(algorithm_name.to_owned()))?;
        let time = |name: &str| -> Result<(u64, String), SignatureError> {
            let text = get(name).ok_or_else(|| malformed(format!("no {name} parameter")))?;
            let valid =
                !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
            match text.parse::<u64>() {
                Ok(value) if valid => Ok((value, text.to_owned())),
                _ => Err(malformed(format!("{name}=\"{text}\" is not Unix seconds"))),
            }
        };
        let (created, created_text) = time("created")?;
        let (expires, expires_text) = time("expires")?;
        if expires < created {
            return Err(malformed(format!(
                "expires ({expires}) is before created ({created})"
            )));
        }
        let headers = match get("headers") {
            None => vec![
                SignedHeader::Created,
                SignedHeader::Expires,
                SignedHeader::Digest,
            ],
            Some(list) => {
                let mut headers = Vec::new();
                for name in list.split_ascii_whitespace() {
                    let header = match name.to_ascii_lowercase().as_str() {
                        "(created)" => SignedHeader::Created,
                        "(expires)" => SignedHeader::Expires,
                        "digest" => SignedHeader::Digest,
                        other => {
                            return Err(malformed(format!(
                                "headers lists '{other}'; only (created) (expires) digest can be signed in a body"
                            )));
                        }
                    };
                    if headers.contains(&header) {
                        return Err(malformed(format!("headers lists '{name}' twice")));
                    }
                    headers.push(header);
                }
                if headers.len() != 3 {
                    return Err(malformed(format!(
                        "headers=\"{list}\" must cover (created) (expires) digest"
                    )));
                }
                headers
            }
        };
        let encoded = get("signature").ok_or_else(|| malformed("no signature parameter".into()))?;
        let signature = decode_base64(encoded)
            .ok_or_else(|| malformed("the signature parameter is not base64".into()))?;
        Ok(MsgSignature {
            namespace: get("namespace").map(str::to_owned),
            sender_id: sender_id.to_owned(),
            kid: kid.to_owned(),
            algorithm,
            created,
            expires,
            signature,
            created_text,
            expires_text,
            headers,
        })
    }

    /// Checks the validity window against `now` and `policy`.
    pub fn check_time(&self, now: SystemTime, policy: &VerifyPolicy) -> Result<(), SignatureError> {
        let now = unix_seconds(now);
        let skew = policy.clock_skew.as_secs();
        if self.created > now.saturating_add(skew) {
            return Err(SignatureError::NotYetValid {
                created: self.created,
                now,
            });
        }
        if self.expires.saturating_add(skew) < now {
            return Err(SignatureError::Expired {
                expires: self.expires,
                now,
            });
        }
        let validity = self.expires.saturating_sub(self.created);
        if let Some(max) = policy.max_validity
            && validity > max.as_secs()
        {
            return Err(SignatureError::ValidityTooLong {
                seconds: validity,
                max: max.as_secs(),
            });
        }
        Ok(())
    }

    /// Checks that the signer is the header's `sender_id` (when the header has one).
    pub fn check_sender(&self, envelope: &Value) -> Result<(), SignatureError> {
        match envelope
            .get("header")
            .and_then(|h| h.get("sender_id"))
            .and_then(Value::as_str)
        {
            Some(header) if header != self.sender_id => Err(SignatureError::SenderMismatch {
                signed_by: self.sender_id.clone(),
                header: header.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Verifies this signature over `envelope` with `key`: the sender, the time window, the
    /// algorithm and the signature itself.
    pub fn verify_with_key(
        &self,
        envelope: &Value,
        key: &VerifyingKey,
        now: SystemTime,
        policy: &VerifyPolicy,
    ) -> Result<Verified, SignatureError> {
        self.check_sender(envelope)?;
        self.check_time(now, policy)?;
        if key.algorithm() != self.algorithm {
            return Err(SignatureError::AlgorithmMismatch {
                signature: self.algorithm,
                kid: key.kid().to_owned(),
                key: key.algorithm(),
            });
        }
        let digest = envelope_digest(envelope);
        let lines: Vec<String> = self
            .headers
            .iter()
            .map(|header| match header {
                SignedHeader::Created => format!("(created): {}", self.created_text),
                SignedHeader::Expires => format!("(expires): {}", self.expires_text),
                SignedHeader::Digest => format!("digest: {digest}"),
            })
            .collect();
        if !key.verify(lines.join("\n").as_bytes(), &self.signature) {
            return Err(SignatureError::BadSignature {
                kid: key.kid().to_owned(),
            });
        }
        Ok(Verified {
            sender_id: self.sender_id.clone(),
            kid: self.kid.clone(),
            algorithm: self.algorithm,
            created: unix_time(self.created),
            expires: unix_time(self.expires),
        })
    }
}

/// Verifies the `signature` of `envelope` (a whole DCI envelope), looking the key up with
/// `resolver`. Checks, in order: a signature is present; it parses; `kidId`'s sender is
/// `header.sender_id`; the time window; the key exists; its algorithm; the signature.
pub async fn verify_envelope(
    envelope: &Value,
    resolver: &dyn KeyResolver,
    now: SystemTime,
    policy: &VerifyPolicy,
) -> Result<Verified, SignatureError> {
    let text = match envelope.get("signature") {
        None | Some(Value::Null) => return Err(SignatureError::Missing),
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err(SignatureError::Missing);
        }
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(SignatureError::Malformed(
                "the signature member is not a string".into(),
            ));
        }
    };
    let signature = MsgSignature::parse(text)?;
    // The cheap checks first, so that a stale or misaddressed message costs no key fetch.
    signature.check_sender(envelope)?;
    signature.check_time(now, policy)?;
    let key = resolver
        .resolve(&signature.sender_id, &signature.kid)
        .await?;
    signature.verify_with_key(envelope, &key, now, policy)
}

/// `name="value"` or `name=value` pairs separated by commas.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("'{rest}' is not name=value"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!("'{name}' is not a parameter name"));
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("the value of {name} has no closing quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end(), &after[end..])
        };
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(format!("{name} is given twice"));
        }
        params.push((name.to_owned(), value.to_owned()));
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start(),
            None if after.is_empty() => after,
            None => return Err(format!("expected ',' before '{after}'")),
        };
    }
    Ok(params)
}

/// Standard base64, padded or not; base64url too, as some peers send it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
        .filter(|bytes| !bytes.is_empty())
}
