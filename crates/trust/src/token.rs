//! OAuth2 client-credentials access tokens (dci-spec §8.1, §8.2): short-lived JWTs that a
//! service issues at `POST /oauth2/client/token` and checks on every DCI request.
//!
//! A token is a compact JWS (RFC 7515) signed with the service's own current signing key, so
//! anyone can verify it against the service's JWKS, and a key rotation keeps outstanding
//! tokens valid through the overlap. Its claims (RFC 7519, RFC 9068 names):
//!
//! | claim | value |
//! |---|---|
//! | `iss` | the issuing service's participant id |
//! | `sub`, `client_id` | the client's participant id (its `sender_id`) |
//! | `aud` | the issuing service's participant id (tokens are only good where they were issued) |
//! | `iat`, `exp` | Unix seconds; lifetime 10 minutes by default |
//! | `jti` | a random id |
//! | `scope` | the granted scopes, space-separated (`registry.search registry.subscribe`) |

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::signer::Signer;

/// How long an access token is valid unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// Tokens issued by this process, to make `jti`s unique.
static ISSUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tolerated clock difference when checking `iat` and `exp`.
const SKEW: u64 = 30;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer.
    pub iss: String,
    /// The client (its participant id).
    pub sub: String,
    /// The client, again, as RFC 9068 names it.
    pub client_id: String,
    /// Where the token is good.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// The token's id.
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl Claims {
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_whitespace().any(|s| s == scope)
    }
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// Why a token is refused. Every variant is `err.request.unauthorized` (HTTP 401) for the
/// caller; the detail goes to the log and the error message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or its claims are not ours.
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    /// Its signature does not verify with any of the service's published keys.
    #[error("the access token's signature does not verify: {0}")]
    BadSignature(String),
    /// Past its `exp`, or issued in the future.
    #[error("the access token has expired")]
    Expired,
    /// Issued by or for another service.
    #[error("the access token was issued for '{0}', not for this service")]
    WrongAudience(String),
}

/// Issues and checks the access tokens of one service.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    signer: std::sync::Arc<Signer>,
    lifetime: Duration,
    /// Tokens whose signature was checked, with their claims: a client sends the same token
    /// for minutes, and a signature check costs more than the lookup it guards.
    checked: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Claims>>>,
}

/// Most checked tokens remembered; the memory is emptied when it is full.
const CHECKED: usize = 100_000;

impl TokenIssuer {
    /// Tokens signed by `signer` (whose participant id is issuer and audience), valid for
    /// `lifetime`.
    pub fn new(signer: std::sync::Arc<Signer>, lifetime: Duration) -> TokenIssuer {
        TokenIssuer {
            signer,
            lifetime,
            checked: Default::default(),
        }
    }

    /// A token for `client_id` with `scopes`, issued at `now`.
    pub fn issue(
        &self,
        client_id: &str,
        scopes: &[String],
        now: SystemTime,
    ) -> Result<Issued, crate::KeyError> {
        let iat = crate::unix_seconds(now);
        let jti = format!(
            "{:x}-{:x}",
            now.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
            ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let claims = Claims {
            iss: self.signer.sender_id().to_owned(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            aud: self.signer.sender_id().to_owned(),
            iat,
            exp: iat + self.lifetime.as_secs(),
            jti,
            scope: scopes.join(" "),
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        Ok(Issued {
            access_token: self.signer.sign_compact(&payload)?,
            expires_in: self.lifetime.as_secs(),
            scope: claims.scope,
        })
    }

    /// The claims of `token` if this service issued it, for itself, and it is valid at `now`.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<Claims, TokenError> {
        let remembered = self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.check_signature(token)?;
                let mut checked = self
                    .checked
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if checked.len() >= CHECKED {
                    checked.clear();
                }
                checked.insert(token.to_owned(), claims.clone());
                claims
            }
        };
        let now = crate::unix_seconds(now);
        if now > claims.exp + SKEW || claims.iat > now + SKEW {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The claims of `token` if one of this service's keys signed it, for this service.
    fn check_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let payload = self.signer.verify_own_compact(token).map_err(|e| match e {
            crate::SignatureError::Malformed(reason) => TokenError::Malformed(reason),
            other => TokenError::BadSignature(other.to_string()),
        })?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
        let me = self.signer.sender_id();
        if claims.aud != me || claims.iss != me {
            return Err(TokenError::WrongAudience(claims.aud));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{KeyStore, StoreKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::sync::{Arc, RwLock};

    fn issuer(dir: &std::path::Path, id: &str) -> TokenIssuer {
        let store = KeyStore::open(dir, StoreKey::generate().unwrap(), SystemTime::now()).unwrap();
        let signer = Signer::new(id, Arc::new(RwLock::new(store)));
        TokenIssuer::new(Arc::new(signer), DEFAULT_LIFETIME)
    }

    #[test]
    fn a_token_carries_its_client_and_scopes_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = issuer(dir.path(), "crvs.example");
        let now = SystemTime::now();
        let scopes = vec!["registry.search".to_string(), "registry.subscribe".into()];
        let issued = tokens.issue("mis.example", &scopes, now).unwrap();
        assert_eq!(issued.expires_in, 600);
        let claims = tokens.validate(&issued.access_token, now).unwrap();
        assert_eq!(claims.sub, "mis.example");
        assert!(claims.has_scope("registry.subscribe"));
        assert!(!claims.has_scope("registry"));
        let later = now + DEFAULT_LIFETIME + Duration::from_secs(SKEW + 1);
        assert_eq!(
            tokens.validate(&issued.access_token, later),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_of_another_service_or_tampered_ones_are_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ours = issuer(a.path(), "crvs.example");
        let theirs = issuer(b.path(), "social.example");
        let now = SystemTime::now();
        let foreign = theirs.issue("mis.example", &[], now).unwrap();
        assert!(matches!(
            ours.validate(&foreign.access_token, now),
            Err(TokenError::Malformed(_))
        ));
        let token = ours.issue("mis.example", &[], now).unwrap().access_token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims.sub = "intruder.example".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert!(matches!(
            ours.validate(&parts.join("."), now),
            Err(TokenError::BadSignature(_))
        ));
        assert!(matches!(
            ours.validate("not a token", now),
            Err(TokenError::Malformed(_))
        ));
    }
}
