//! A service's own keys at work: the [`Signer`] signs its outgoing envelopes (requests, sync
//! responses, callbacks, notifications), always with the current key of its [`KeyStore`], and
//! the [`Decrypter`] decrypts the messages peers encrypt to it.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::jcs;
use crate::jwe::JweError;
use crate::keys::Jwks;
use crate::keystore::KeyStore;
use crate::signature::{DEFAULT_VALIDITY, SignError, sign_canonical, sign_envelope};

/// Signs envelopes as one participant, with the current key of a key store.
#[derive(Clone)]
pub struct Signer {
    sender_id: String,
    keys: Arc<RwLock<KeyStore>>,
    validity: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("Signer")
            .field("sender_id", &self.sender_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Signs as `sender_id` with `keys`' current key; signatures are valid for
    /// [`DEFAULT_VALIDITY`].
    pub fn new(sender_id: impl Into<String>, keys: Arc<RwLock<KeyStore>>) -> Self {
        Signer {
            sender_id: sender_id.into(),
            keys,
            validity: DEFAULT_VALIDITY,
        }
    }

    /// The participant it signs as.
    pub fn sender_id(&self) -> &str {
        &self.sender_id
    }

    /// A compact JWS of `payload` (RFC 7515) with the current key: what access tokens are.
    pub fn sign_compact(&self, payload: &[u8]) -> Result<String, crate::KeyError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        crate::jws::sign_compact_jws(payload, keys.current())
    }

    /// The payload of a compact JWS that one of this service's own published keys signed.
    pub fn verify_own_compact(&self, jws: &str) -> Result<Vec<u8>, crate::SignatureError> {
        let parsed = crate::jws::Jws::parse(jws)?;
        let kid = parsed
            .kid()
            .ok_or_else(|| crate::SignatureError::Malformed("the JWS header has no kid".into()))?;
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let key = keys
            .verifying_key(kid, SystemTime::now())
            .ok_or_else(|| crate::SignatureError::Malformed(format!("no key '{kid}' of ours")))?
            .clone();
        drop(keys);
        parsed.verify_with_key(&key, None)
    }

    /// Puts a fresh `signature` into `envelope` (replacing any).
    pub fn sign(&self, envelope: &mut Value) -> Result<(), SignError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let signature = sign_envelope(
            envelope,
            &self.sender_id,
            keys.current(),
            SystemTime::now(),
            self.validity,
        )?;
        if let Some(map) = envelope.as_object_mut() {
            map.insert("signature".into(), Value::String(signature));
        }
        Ok(())
    }

    /// `body` (an envelope as JSON text) signed, as JSON text.
    ///
    /// The text is kept as it is and the `signature` member appended to it (the signature does
    /// not depend on member order or spacing), which spares serialising the envelope again.
    pub fn sign_text(&self, body: &str) -> Result<String, SignError> {
        // The digest is taken from the text's canonical form: the envelope is never parsed
        // into a `Value` (only its header is).
        let canonical = jcs::canonical_text(body).map_err(|_| SignError::NoHeader)?;
        let trimmed = body.trim_end();
        if canonical.member("signature").is_some() || !trimmed.ends_with('}') {
            let mut envelope: Value =
                serde_json::from_str(body).map_err(|_| SignError::NoHeader)?;
            self.sign(&mut envelope)?;
            return Ok(envelope.to_string());
        }
        let signature = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            sign_canonical(
                &canonical,
                &self.sender_id,
                keys.current(),
                SystemTime::now(),
                self.validity,
            )?
        };
        let signature = Value::String(signature).to_string();
        let open = &trimmed[..trimmed.len() - 1];
        let separator = if open.trim_end().ends_with('{') {
            ""
        } else {
            ","
        };
        let mut signed = String::with_capacity(open.len() + signature.len() + 16);
        signed.push_str(open);
        signed.push_str(separator);
        signed.push_str("\"signature\":");
        signed.push_str(&signature);
        signed.push('}');
        Ok(signed)
    }

    /// The key set to publish at `/.well-known/jwks.json`: the current signing and encryption
    /// keys and those still in their overlap period.
    pub fn jwks(&self) -> Jwks {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.jwks(SystemTime::now())
    }

    /// The decrypter of the same key store, for the messages peers encrypt to this
    /// participant.
    pub fn decrypter(&self) -> Decrypter {
        Decrypter::new(self.keys.clone())
    }
}

/// Decrypts the `EncryptedMessage`s (dci-spec §2.8) peers send to a service, with the
/// encryption key of its key store that the message's `kid` names: the current one, or one
/// still in its overlap period.
#[derive(Clone)]
pub struct Decrypter {
    keys: Arc<RwLock<KeyStore>>,
}

impl std::fmt::Debug for Decrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypter").finish_non_exhaustive()
    }
}

impl Decrypter {
    /// Decrypts with the encryption keys of `keys`.
    pub fn new(keys: Arc<RwLock<KeyStore>>) -> Self {
        Decrypter { keys }
    }

    /// The message inside `encrypted` (the envelope's `message` when
    /// `header.is_msg_encrypted` is true). Any error is answered with
    /// `err.encryption.invalid`.
    pub fn decrypt(&self, encrypted: &Value) -> Result<Value, JweError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.decrypt(encrypted, SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::StoreKey;
    use crate::resolve::StaticKeys;
    use crate::signature::{VerifyPolicy, verify_envelope};
    use serde_json::json;

    #[tokio::test]
    async fn signed_envelopes_verify_against_the_published_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            KeyStore::open(dir.path(), StoreKey::generate().unwrap(), SystemTime::now()).unwrap();
        let signer = Signer::new("registry.example", Arc::new(RwLock::new(store)));
        let mut envelope = json!({"signature": "old", "header": {"sender_id": "registry.example", "action": "on-search"}, "message": {"a": 1}});
        signer.sign(&mut envelope).unwrap();
        assert!(
            envelope["signature"]
                .as_str()
                .unwrap()
                .starts_with("Signature: ")
        );
        let mut peers = StaticKeys::default();
        peers
            .insert_jwks("registry.example", &signer.jwks())
            .unwrap();
        let policy = VerifyPolicy::default();
        let verified = verify_envelope(&envelope, &peers, SystemTime::now(), &policy).await;
        assert!(verified.is_ok(), "{verified:?}");
        let text = signer.sign_text(&envelope.to_string()).unwrap();
        let appended = signer
            .sign_text(r#"{"header": {"sender_id": "registry.example"}, "message": {"b": 2}}"#)
            .unwrap();
        let appended: Value = serde_json::from_str(&appended).unwrap();
        assert!(
            verify_envelope(&appended, &peers, SystemTime::now(), &policy)
                .await
                .is_ok()
        );
        let mut tampered: Value = serde_json::from_str(&text).unwrap();
        tampered["message"]["a"] = json!(2);
        let refused = verify_envelope(&tampered, &peers, SystemTime::now(), &policy).await;
        assert!(refused.is_err());
    }
}
