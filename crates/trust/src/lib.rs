//! The trust layer's first slice: the DCI envelope signature profile, message encryption
//! (JWE), JCS canonical JSON, keys and JWKS, an encrypted key store with rotation, and
//! resolution of peers' keys.
//!
//! No I/O except the key store's directory and the JWKS fetcher's HTTP GETs.
//!
//! # The signature profile (dci-spec §8.4 recommendation)
//!
//! This is what another implementation must do to interoperate with spx.
//!
//! **What is signed.** The envelope's `header` and `message`, exactly as sent, in an object
//! with just those two members (a member absent from the envelope is absent from this object;
//! `signature` is never part of it):
//!
//! ```text
//! canonical = JCS({"header": <header>, "message": <message>})     RFC 8785, UTF-8
//! digest    = "BLAKE-512=" + base64(BLAKE2b-512(canonical))      RFC 7693, 64-byte output,
//!                                                                 standard base64 with padding
//! signing string = "(created): " + created + "\n"
//!                + "(expires): " + expires + "\n"
//!                + "digest: " + digest                            (no trailing newline)
//! ```
//!
//! `created` and `expires` are Unix seconds as decimal integers. spx signs with
//! `expires = created + 300` by default.
//!
//! **The `signature` member** of the envelope is one string:
//!
//! ```text
//! Signature: namespace="spdci", kidId="{sender_id}|{kid}|{algorithm}", algorithm="{algorithm}",
//!     created="{created}", expires="{expires}", headers="(created) (expires) digest",
//!     signature="{base64(signature over the signing string)}"
//! ```
//!
//! on one line, parameters separated by `", "`. `sender_id` is the sender's participant id
//! (the `header.sender_id` of the envelope); `kid` is the key id published in the sender's
//! JWKS (for spx keys, the RFC 7638 SHA-256 thumbprint of the public JWK); `{algorithm}` and
//! the signature bytes are:
//!
//! | `algorithm` | JOSE `alg` | signature bytes |
//! |---|---|---|
//! | `ed25519` (default) | `EdDSA` | Ed25519 (RFC 8032), 64 bytes |
//! | `es256` | `ES256` | ECDSA P-256 SHA-256, `r ‖ s` as two 32-byte big-endian integers (as in JWS); DER is also accepted on input |
//! | `rs256` | `RS256` | RSASSA-PKCS1-v1_5 SHA-256, key of 2048–8192 bits |
//!
//! **Keys** are found in the sender's JWKS (`GET /.well-known/jwks.json`, RFC 7517), entries
//! with `"use": "sig"` (or no `use`), by `kid`.
//!
//! **Verification** (in this order): a `signature` is present, else `err.signature.missing`;
//! it parses; the `kidId` sender equals `header.sender_id` when the header has one;
//! `created ≤ now + skew` and `now ≤ expires + skew` (skew 60 s by default) and
//! `expires − created ≤ 24 h` by default; the sender's key `kid` exists and is of the stated
//! algorithm; the signature verifies over the signing string recomputed from the received
//! header and message. Any failure is `err.signature.invalid`, with a precise reason in the
//! message; a sender whose JWKS cannot be fetched gives `err.service.unavailable` so that the
//! sender retries.
//!
//! **Accepted on input**: with or without the `Signature:` prefix; `keyId` for `kidId`;
//! parameters in any order and case, with values quoted or not (`created=1700000000`); no
//! `namespace`, or any; `algorithm` absent when `kidId` names it (they must agree when both
//! do); `headers` absent (meaning `(created) (expires) digest`) or those three in any order (the
//! signing string then follows that order); the signature in base64 or base64url, padded or
//! not; algorithm names `eddsa`, `ecdsa-p256-sha256`, `rsa-sha256` as aliases.
//!
//! **Worked example** (the RFC 8037 §A.1 Ed25519 key, whose `kid` is
//! `kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k`; checked in the tests against a digest and
//! signature computed with Python's `hashlib` and `cryptography`). The envelope
//!
//! ```json
//! {"header": {"version": "1.0.0", "message_id": "0191d3c4-6f1a-7b2e-9c3d-4e5f60718293",
//!             "message_ts": "2024-01-01T10:00:00.000Z", "action": "search",
//!             "sender_id": "mis.example.org", "receiver_id": "crvs.example.org",
//!             "total_count": 1, "is_msg_encrypted": false},
//!  "message": {"transaction_id": "T-1", "note": "Zoë, ñ ✓",
//!              "search_request": [{"reference_id": "R-1", "timestamp": "2024-01-01T10:00:00.000Z",
//!                 "search_criteria": {"reg_type": "ns:org:RegistryType:Civil",
//!                    "query_type": "idtype-value", "query": {"type": "UIN", "value": "8234567890"}}}]}}
//! ```
//!
//! signed at `created = 1700000000` for 300 s has the digest
//! `BLAKE-512=lvF8YRGIRmShynxj6oteRXlzltZe3pooBwcQbZpVrGdp3MXOflQaeREDA0gIrBAdx/6jcgMpxA4W1jazzlwmPg==`
//! and the signature
//!
//! ```text
//! Signature: namespace="spdci", kidId="mis.example.org|kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k|ed25519", algorithm="ed25519", created="1700000000", expires="1700000300", headers="(created) (expires) digest", signature="XyLfmwOAcVY/MF/R+oqjRG2zocPd0mIuTpKs7HEw49vWFRbLPSvXiUdAtVNT1h5oYjV9+dBvzyDqTCYHPXW3AA=="
//! ```
//!
//! **Canonical JSON caveats** (see [`jcs`]): numbers are IEEE 754 doubles, so integers beyond
//! ±2^53 lose precision (send them as strings); duplicate member names are not detected.
//!
//! # JWS, for peers that sign that way
//!
//! Chosen per participant, never guessed: [`verify_detached_jws`] checks an RFC 7515
//! detached JWS (`base64url(protected header)..base64url(signature)`, as OpenG2P's G2P Connect
//! libraries send in a `Signature` HTTP header) over **the exact bytes of the HTTP request
//! body as received** (OpenG2P signs the compact JSON of the whole body and sends those same
//! bytes; a body re-serialised in transit will not verify). [`verify_compact_jws`] checks a
//! compact JWS and returns its embedded payload. The protected header must carry `alg`
//! (`EdDSA`, `ES256`, `RS256`) and the `kid` to look up under the sender given by the caller;
//! RFC 7797 `"b64": false` is understood.
//!
//! # Encryption (JWE)
//!
//! [`jwe`] encrypts and decrypts the DCI `EncryptedMessage` (dci-spec §2.8): a flattened
//! RFC 7516 JWE with an empty protected header (so the AAD is empty), A256GCM, and `ECDH-ES`
//! (P-256, the default), `ECDH-ES+A256KW` or `RSA-OAEP-256`. A sender encrypts with
//! [`encrypt`] to the receiver's [`EncryptionKey`] (from [`KeyResolver::encryption_key`]),
//! sets `header.is_msg_encrypted`, then signs the envelope, whose `message` is now the
//! ciphertext object (encrypt then sign). A receiver verifies the signature, then decrypts
//! with its [`Decrypter`] ([`Signer::decrypter`]), which picks its own key by `kid`. Every
//! [`JweError`] is answered with `err.encryption.invalid`.
//!
//! # Keys
//!
//! [`SigningKey`] and [`VerifyingKey`] cover the three algorithms on aws-lc-rs;
//! [`DecryptionKey`] and [`EncryptionKey`] the encryption keys. A [`KeyStore`] keeps a
//! service's own keys, a signing key and an encryption key (`"use": "enc"`) rotated together,
//! in a directory (private keys sealed with AES-256-GCM under a caller-supplied
//! [`StoreKey`]); its [`KeyStore::jwks`] is the document for `GET /.well-known/jwks.json`.
//! Peers' keys come from a [`KeyResolver`]: [`StaticKeys`] (inline JWKS from configuration)
//! or [`JwksFetcher`] (JWKS URL, cached, refetched once on an unknown `kid`).

pub mod access;
pub mod jcs;
pub mod jwe;
pub mod jws;
pub mod keys;
pub mod keystore;
pub mod resolve;
pub mod secret;
pub mod signature;
pub mod signer;
pub mod token;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use jwe::{
    CONTENT_ENCRYPTION, DecryptionKey, EncryptedMessage, EncryptionKey, JweError, KeyManagement,
    encrypt,
};
pub use jws::{
    Jws, VerifiedJws, sign_compact_jws, sign_detached_jws, verify_compact_jws, verify_detached_jws,
};
pub use keys::{Algorithm, Jwk, Jwks, KeyError, SigningKey, VerifyingKey};
pub use keystore::{KeyStatus, KeyStore, KeyStoreError, StoreKey};
pub use resolve::{JwksFetchOptions, JwksFetcher, KeyResolver, ResolveError, StaticKeys};
pub use signature::{
    DEFAULT_VALIDITY, MsgSignature, SignError, SignatureError, Verified, VerifyPolicy,
    envelope_digest, sign_envelope, verify_envelope,
};
pub use signer::{Decrypter, Signer};
pub use token::{Claims, TokenError, TokenIssuer};

/// Seconds since the Unix epoch; 0 for an instant before it.
fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unix_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}
