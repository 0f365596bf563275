//! Client secrets: generated at random, shown once, stored only as an argon2id hash (PHC
//! string format), checked in constant time by the argon2 crate.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a secret could not be made or hashed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
    /// Hashing failed.
    #[error("argon2: {0}")]
    Hash(String),
}

/// A new client secret: 32 random bytes, base64url (43 characters).
pub fn generate() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The argon2id hash of `secret` with a random salt (default parameters: 19 MiB, 2 passes).
pub fn hash(secret: &str) -> Result<String, SecretError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| SecretError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecretError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Whether `secret` is the one `hash` was made from. A malformed hash matches nothing.
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_secret_itself_matches_its_hash() {
        let secret = super::generate().unwrap();
        assert_eq!(secret.len(), 43);
        let hash = super::hash(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(&secret));
        assert!(super::verify(&secret, &hash));
        assert!(!super::verify(&format!("{secret}x"), &hash));
        assert!(!super::verify(&secret, "not a hash"));
        assert_ne!(super::hash(&secret).unwrap(), hash, "salted");
    }
}
