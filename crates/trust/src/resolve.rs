//! Finding a peer's keys: the verifying key by `sender_id` and `kid`, and the key to encrypt
//! messages to it; from keys configured inline, or from the peer's JWKS URL with a cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::jwe::EncryptionKey;
use crate::keys::{Jwks, KeyError, VerifyingKey};

/// Looks up peers' public keys: the key a sender signed with, and the key to encrypt to a
/// receiver with.
#[async_trait]
pub trait KeyResolver: Send + Sync {
    /// The key `kid` of `sender_id`.
    async fn resolve(&self, sender_id: &str, kid: &str) -> Result<VerifyingKey, ResolveError>;

    /// The key to encrypt messages to `receiver_id` with: the first usable `"use": "enc"` key
    /// of its JWKS (spx lists its current key first), or `None` when it publishes none.
    async fn encryption_key(
        &self,
        receiver_id: &str,
    ) -> Result<Option<EncryptionKey>, ResolveError>;
}

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No keys are configured for this sender.
    #[error("no keys are known for sender '{sender_id}'")]
    UnknownSender {
        /// The sender.
        sender_id: String,
    },
    /// The sender has no key with this id.
    #[error("sender '{sender_id}' has no key '{kid}'")]
    UnknownKey {
        /// The sender.
        sender_id: String,
        /// The key id.
        kid: String,
    },
    /// The sender's JWKS could not be fetched or read, and no cached copy has the key.
    #[error("the keys of sender '{sender_id}' are unavailable: {reason}")]
    Unavailable {
        /// The sender.
        sender_id: String,
        /// What went wrong.
        reason: String,
    },
}

/// Keys configured in memory, e.g. from an inline JWKS in a participant's configuration.
#[derive(Debug, Clone, Default)]
pub struct StaticKeys {
    senders: HashMap<String, HashMap<String, VerifyingKey>>,
    encryption: HashMap<String, EncryptionKey>,
}

impl StaticKeys {
    /// No keys.
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }

    /// Adds one key of `sender_id`, under its `kid`.
    pub fn insert(&mut self, sender_id: &str, key: VerifyingKey) {
        self.senders
            .entry(sender_id.to_owned())
            .or_default()
            .insert(key.kid().to_owned(), key);
    }

    /// Adds every signature key of `jwks` for `sender_id` and returns how many; configuration
    /// is strict, so one unusable signature key refuses the whole set. The first usable
    /// encryption key of the set, if any, becomes the key to encrypt to `sender_id` with
    /// (encryption keys of algorithms spx does not do are skipped, as before spx encrypted).
    pub fn insert_jwks(&mut self, sender_id: &str, jwks: &Jwks) -> Result<usize, KeyError> {
        let keys: Vec<VerifyingKey> = jwks.verifying_keys().collect::<Result<_, _>>()?;
        let count = keys.len();
        for key in keys {
            self.insert(sender_id, key);
        }
        if let Some(key) = first_encryption_key(sender_id, jwks) {
            self.encryption.insert(sender_id.to_owned(), key);
        }
        Ok(count)
    }

    /// The key `kid` of `sender_id`, if configured.
    pub fn get(&self, sender_id: &str, kid: &str) -> Option<&VerifyingKey> {
        self.senders.get(sender_id)?.get(kid)
    }
}

#[async_trait]
impl KeyResolver for StaticKeys {
    async fn resolve(&self, sender_id: &str, kid: &str) -> Result<VerifyingKey, ResolveError> {
        let keys = self
            .senders
            .get(sender_id)
            .ok_or_else(|| ResolveError::UnknownSender {
                sender_id: sender_id.to_owned(),
            })?;
        keys.get(kid)
            .cloned()
            .ok_or_else(|| ResolveError::UnknownKey {
                sender_id: sender_id.to_owned(),
                kid: kid.to_owned(),
            })
    }

    async fn encryption_key(
        &self,
        receiver_id: &str,
    ) -> Result<Option<EncryptionKey>, ResolveError> {
        match self.encryption.get(receiver_id) {
            Some(key) => Ok(Some(key.clone())),
            None if self.senders.contains_key(receiver_id) => Ok(None),
            None => Err(ResolveError::UnknownSender {
                sender_id: receiver_id.to_owned(),
            }),
        }
    }
}

/// The first encryption key of `jwks` spx can use; the others are logged and skipped.
fn first_encryption_key(participant: &str, jwks: &Jwks) -> Option<EncryptionKey> {
    jwks.encryption_keys().find_map(|key| {
        key.inspect_err(|e| tracing::warn!(participant, "skipping an encryption JWK: {e}"))
            .ok()
    })
}

/// How [`JwksFetcher`] caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksFetchOptions {
    /// How long a fetched JWKS is used before it is fetched again.
    pub ttl: Duration,
    /// An unknown `kid` refetches the JWKS at most this often per peer, so that messages
    /// with made-up key ids cannot make us hammer the peer.
    pub min_refetch_interval: Duration,
    /// Time limit of one fetch.
    pub timeout: Duration,
    /// Largest JWKS body accepted.
    pub max_body_bytes: usize,
}

impl Default for JwksFetchOptions {
    /// 10 min TTL, refetch on an unknown kid at most every 30 s, 5 s timeout, 256 KiB.
    fn default() -> Self {
        JwksFetchOptions {
            ttl: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
        }
    }
}

/// Resolves keys from each peer's JWKS URL (`GET {url}`, RFC 7517 key set), caching them for
/// [`JwksFetchOptions::ttl`] and refetching once when a message names a `kid` the cache does
/// not have (the peer rotated). When a refetch fails, cached keys keep being used.
#[derive(Debug)]
pub struct JwksFetcher {
    client: reqwest::Client,
    options: JwksFetchOptions,
    peers: Mutex<HashMap<String, Arc<Peer>>>,
}

#[derive(Debug)]
struct Peer {
    url: String,
    cache: Mutex<Option<Arc<CachedKeys>>>,
    /// Held while fetching, so that concurrent misses make one request.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct CachedKeys {
    keys: HashMap<String, VerifyingKey>,
    encryption: Option<EncryptionKey>,
    fetched_at: Instant,
}

impl JwksFetcher {
    /// A fetcher with no peers yet.
    pub fn new(client: reqwest::Client, options: JwksFetchOptions) -> JwksFetcher {
        JwksFetcher {
            client,
            options,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Where to fetch the keys of `sender_id`; replaces (and forgets the cache of) an earlier
    /// URL.
    pub fn add_peer(&self, sender_id: &str, jwks_url: &str) {
        let peer = Arc::new(Peer {
            url: jwks_url.to_owned(),
            cache: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        lock(&self.peers).insert(sender_id.to_owned(), peer);
    }

    /// Fetches the JWKS of `sender_id` now and returns how many signature keys it has.
    pub async fn refresh(&self, sender_id: &str) -> Result<usize, ResolveError> {
        let peer = self.peer(sender_id)?;
        let _fetching = peer.fetching.lock().await;
        let cached = self.fetch(sender_id, &peer).await?;
        Ok(cached.keys.len())
    }

    fn peer(&self, sender_id: &str) -> Result<Arc<Peer>, ResolveError> {
        lock(&self.peers)
            .get(sender_id)
            .cloned()
            .ok_or_else(|| ResolveError::UnknownSender {
                sender_id: sender_id.to_owned(),
            })
    }

    async fn fetch(&self, sender_id: &str, peer: &Peer) -> Result<Arc<CachedKeys>, ResolveError> {
        let unavailable = |reason: String| ResolveError::Unavailable {
            sender_id: sender_id.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(&peer.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.options.timeout)
            .send()
            .await
            .map_err(|e| unavailable(format!("GET {}: {e}", peer.url)))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "GET {} answered HTTP {}",
                peer.url,
                response.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(format!("GET {}: {e}", peer.url)))?
        {
            if body.len() + chunk.len() > self.options.max_body_bytes {
                return Err(unavailable(format!(
                    "GET {}: the JWKS is larger than {} bytes",
                    peer.url, self.options.max_body_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let jwks = Jwks::parse(&body)
            .map_err(|e| unavailable(format!("GET {}: not a JWKS: {e}", peer.url)))?;
        let mut keys = HashMap::new();
        for key in jwks.verifying_keys() {
            match key {
                Ok(key) => {
                    keys.insert(key.kid().to_owned(), key);
                }
                // A peer may publish keys of other algorithms; they cannot sign to us.
                Err(e) => tracing::warn!(sender_id, url = %peer.url, "skipping a JWK: {e}"),
            }
        }
        let cached = Arc::new(CachedKeys {
            keys,
            encryption: first_encryption_key(sender_id, &jwks),
            fetched_at: Instant::now(),
        });
        *lock(&peer.cache) = Some(cached.clone());
        tracing::debug!(sender_id, url = %peer.url, keys = cached.keys.len(), "fetched JWKS");
        Ok(cached)
    }

    /// What `find` finds in the cached keys of `sender_id`. The keys are fetched first when
    /// the cache is older than the TTL, or when `find` finds nothing in a cache older than the
    /// minimum refetch interval (the peer may have rotated); when that fetch fails, the cached
    /// keys are used.
    async fn lookup<T>(
        &self,
        sender_id: &str,
        find: impl Fn(&CachedKeys) -> Option<T>,
    ) -> Result<Option<T>, ResolveError> {
        let peer = self.peer(sender_id)?;
        let asked_at = Instant::now();
        let cached = lock(&peer.cache).clone();
        if let Some(cached) = &cached {
            let age = cached.fetched_at.elapsed();
            if age < self.options.ttl {
                if let Some(found) = find(cached) {
                    return Ok(Some(found));
                }
                if age < self.options.min_refetch_interval {
                    return Ok(None);
                }
            }
        }
        let _fetching = peer.fetching.lock().await;
        // Another task may have fetched while we waited for the lock.
        let latest = lock(&peer.cache).clone();
        let fetched = match latest {
            Some(latest) if latest.fetched_at >= asked_at => Ok(latest),
            _ => self.fetch(sender_id, &peer).await,
        };
        match fetched {
            Ok(fresh) => Ok(find(&fresh)),
            Err(error) => match cached.as_deref().and_then(find) {
                Some(stale) => {
                    tracing::warn!(sender_id, "using a cached key: {error}");
                    Ok(Some(stale))
                }
                None => Err(error),
            },
        }
    }
}

#[async_trait]
impl KeyResolver for JwksFetcher {
    async fn resolve(&self, sender_id: &str, kid: &str) -> Result<VerifyingKey, ResolveError> {
        self.lookup(sender_id, |cached| cached.keys.get(kid).cloned())
            .await?
            .ok_or_else(|| ResolveError::UnknownKey {
                sender_id: sender_id.to_owned(),
                kid: kid.to_owned(),
            })
    }

    async fn encryption_key(
        &self,
        receiver_id: &str,
    ) -> Result<Option<EncryptionKey>, ResolveError> {
        self.lookup(receiver_id, |cached| cached.encryption.clone())
            .await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A JWKS server on 127.0.0.1:0 whose document the test can swap, counting requests.
    struct JwksServer {
        url: String,
        jwks: Arc<Mutex<(u16, String)>>,
        hits: Arc<AtomicUsize>,
    }

    impl JwksServer {
        async fn start(jwks: &Jwks) -> JwksServer {
            let state = Arc::new(Mutex::new((200, serde_json::to_string(jwks).unwrap())));
            let hits = Arc::new(AtomicUsize::new(0));
            let (served, counted) = (state.clone(), hits.clone());
            let app = axum::Router::new().route(
                "/.well-known/jwks.json",
                axum::routing::get(move || {
                    let (served, counted) = (served.clone(), counted.clone());
                    async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = lock(&served).clone();
                        (axum::http::StatusCode::from_u16(status).unwrap(), body)
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!(
                "http://{}/.well-known/jwks.json",
                listener.local_addr().unwrap()
            );
            tokio::spawn(async move { axum::serve(listener, app).await });
            JwksServer {
                url,
                jwks: state,
                hits,
            }
        }

        fn serve(&self, status: u16, jwks: &Jwks) {
            *lock(&self.jwks) = (status, serde_json::to_string(jwks).unwrap());
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn jwks_of(keys: &[&SigningKey]) -> Jwks {
        Jwks {
            keys: keys.iter().map(|k| k.verifying_key().to_jwk()).collect(),
        }
    }

    fn options(ttl_ms: u64, min_refetch_ms: u64) -> JwksFetchOptions {
        JwksFetchOptions {
            ttl: Duration::from_millis(ttl_ms),
            min_refetch_interval: Duration::from_millis(min_refetch_ms),
            ..JwksFetchOptions::default()
        }
    }

    #[tokio::test]
    async fn static_keys_resolve_by_sender_and_kid() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let mut keys = StaticKeys::new();
        assert_eq!(keys.insert_jwks("mis.example", &jwks_of(&[&key])), Ok(1));
        let found = keys.resolve("mis.example", key.kid()).await.unwrap();
        assert_eq!(&found, key.verifying_key());
        assert_eq!(
            keys.resolve("other.example", key.kid()).await,
            Err(ResolveError::UnknownSender {
                sender_id: "other.example".into()
            })
        );
        assert_eq!(
            keys.resolve("mis.example", "nope").await,
            Err(ResolveError::UnknownKey {
                sender_id: "mis.example".into(),
                kid: "nope".into()
            })
        );
    }

    #[tokio::test]
    async fn fetcher_caches_and_refetches_once_on_an_unknown_kid() {
        let (old, new) = (
            SigningKey::generate(Algorithm::Ed25519).unwrap(),
            SigningKey::generate(Algorithm::Es256).unwrap(),
        );
        let server = JwksServer::start(&jwks_of(&[&old])).await;
        let fetcher = JwksFetcher::new(reqwest::Client::new(), options(60_000, 0));
        fetcher.add_peer("crvs.example", &server.url);

        // First use fetches; the second is served from the cache.
        assert_eq!(
            &fetcher.resolve("crvs.example", old.kid()).await.unwrap(),
            old.verifying_key()
        );
        assert_eq!(
            &fetcher.resolve("crvs.example", old.kid()).await.unwrap(),
            old.verifying_key()
        );
        assert_eq!(server.hits(), 1);

        // The peer rotates: a message with the new kid refetches once and finds it.
        server.serve(200, &jwks_of(&[&old, &new]));
        assert_eq!(
            &fetcher.resolve("crvs.example", new.kid()).await.unwrap(),
            new.verifying_key()
        );
        assert_eq!(server.hits(), 2);

        // A kid the peer does not publish: one refetch, then UnknownKey.
        let missing = fetcher.resolve("crvs.example", "made-up").await;
        assert_eq!(
            missing,
            Err(ResolveError::UnknownKey {
                sender_id: "crvs.example".into(),
                kid: "made-up".into()
            })
        );
        assert_eq!(server.hits(), 3);

        assert!(matches!(
            fetcher.resolve("unknown.example", old.kid()).await,
            Err(ResolveError::UnknownSender { .. })
        ));
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_per_interval() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let server = JwksServer::start(&jwks_of(&[&key])).await;
        let fetcher = JwksFetcher::new(reqwest::Client::new(), options(60_000, 60_000));
        fetcher.add_peer("crvs.example", &server.url);
        fetcher.resolve("crvs.example", key.kid()).await.unwrap();
        for _ in 0..5 {
            assert!(matches!(
                fetcher.resolve("crvs.example", "made-up").await,
                Err(ResolveError::UnknownKey { .. })
            ));
        }
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn expired_cache_refetches_and_falls_back_to_cached_keys_when_the_peer_is_down() {
        let (key, other) = (
            SigningKey::generate(Algorithm::Ed25519).unwrap(),
            SigningKey::generate(Algorithm::Ed25519).unwrap(),
        );
        let server = JwksServer::start(&jwks_of(&[&key])).await;
        let fetcher = JwksFetcher::new(reqwest::Client::new(), options(50, 0));
        fetcher.add_peer("crvs.example", &server.url);
        fetcher.resolve("crvs.example", key.kid()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        fetcher.resolve("crvs.example", key.kid()).await.unwrap();
        assert_eq!(
            server.hits(),
            2,
            "the TTL passed, so the JWKS is fetched again"
        );

        // The peer fails: the cached key still resolves, a key never seen is unavailable.
        server.serve(500, &Jwks::default());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            &fetcher.resolve("crvs.example", key.kid()).await.unwrap(),
            key.verifying_key()
        );
        let error = fetcher
            .resolve("crvs.example", other.kid())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ResolveError::Unavailable { reason, .. } if reason.contains("HTTP 500")),
            "{error}"
        );
        assert!(matches!(
            fetcher.refresh("crvs.example").await,
            Err(ResolveError::Unavailable { .. })
        ));
    }

    #[tokio::test]
    async fn encryption_keys_of_peers_from_configuration_and_from_their_jwks() {
        use crate::jwe::{DecryptionKey, KeyManagement};
        let signing = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let encryption = DecryptionKey::generate(KeyManagement::EcdhEs).unwrap();
        let signing_only = jwks_of(&[&signing]);
        let mut with_encryption = signing_only.clone();
        // An encryption key spx cannot use comes first; it is skipped.
        with_encryption.keys.push(crate::keys::Jwk {
            alg: Some("RSA-OAEP".into()),
            ..encryption.encryption_key().to_jwk()
        });
        with_encryption
            .keys
            .push(encryption.encryption_key().to_jwk());
        let expected = Some(encryption.encryption_key().clone());

        let mut keys = StaticKeys::new();
        assert_eq!(keys.insert_jwks("mis.example", &signing_only), Ok(1));
        assert_eq!(keys.insert_jwks("crvs.example", &with_encryption), Ok(1));
        assert_eq!(keys.encryption_key("mis.example").await, Ok(None));
        assert_eq!(
            keys.encryption_key("crvs.example").await,
            Ok(expected.clone())
        );
        assert_eq!(
            keys.encryption_key("other.example").await,
            Err(ResolveError::UnknownSender {
                sender_id: "other.example".into()
            })
        );

        // From the JWKS URL: a peer without an encryption key, then with one (a refetch, as
        // for an unknown kid), then from the cache.
        let server = JwksServer::start(&signing_only).await;
        let fetcher = JwksFetcher::new(reqwest::Client::new(), options(60_000, 0));
        fetcher.add_peer("crvs.example", &server.url);
        assert_eq!(fetcher.encryption_key("crvs.example").await, Ok(None));
        server.serve(200, &with_encryption);
        assert_eq!(
            fetcher.encryption_key("crvs.example").await,
            Ok(expected.clone())
        );
        assert_eq!(fetcher.encryption_key("crvs.example").await, Ok(expected));
        assert_eq!(server.hits(), 2);
        // The signature key still resolves from the same fetch.
        assert!(fetcher.resolve("crvs.example", signing.kid()).await.is_ok());
        assert_eq!(server.hits(), 2);
        assert!(matches!(
            fetcher.encryption_key("unknown.example").await,
            Err(ResolveError::UnknownSender { .. })
        ));
    }

    #[tokio::test]
    async fn an_unreachable_jwks_url_is_unavailable_not_invalid() {
        // Bind and drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fetcher = JwksFetcher::new(reqwest::Client::new(), options(60_000, 0));
        fetcher.add_peer(
            "crvs.example",
            &format!("http://127.0.0.1:{port}/jwks.json"),
        );
        assert!(matches!(
            fetcher.resolve("crvs.example", "any").await,
            Err(ResolveError::Unavailable { .. })
        ));
    }
}
