//! Who may call a service: its participant registry (architecture principle 6; issue 4 §3).
//!
//! A participant is a peer system, known by the `sender_id` it puts in its headers. Its row
//! holds the argon2 hash of its client secret (for `POST /oauth2/client/token`) and, as one
//! JSON document, everything else: where its signing keys are (a JWKS URL or inline keys),
//! which signature form it sends, whether it may send unsigned messages, the URL prefixes its
//! callbacks may go to, the scopes its tokens may carry, its access rules and its rate limit.
//!
//! Operators manage the table with `spx participants add|list|remove`; a running service
//! reads it again every few seconds, so a change needs no restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store::{ColumnType, Migration, SqlValue, Statement, Store, StoreError};
use trust::access::AccessRules;

/// The participant table.
pub const MIGRATION: Migration = Migration {
    version: 1007,
    name: "participants",
    sqlite: "CREATE TABLE participant (
        sender_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        doc TEXT NOT NULL,
        created_at TEXT NOT NULL
    );",
    postgres: "CREATE TABLE participant (
        sender_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        doc TEXT NOT NULL,
        created_at TEXT NOT NULL
    );",
};

/// The scopes of the DCI registry endpoints (dci-spec §8.2's `OidcScope` names).
pub mod scope {
    /// `/registry/sync/search`, `/registry/search`.
    pub const SEARCH: &str = "registry.search";
    /// `/registry/subscribe`, `/registry/unsubscribe`.
    pub const SUBSCRIBE: &str = "registry.subscribe";
    /// `/registry/txn/status`, `/registry/sync/txn/status`.
    pub const TXN_STATUS: &str = "registry.txn-status";
    /// The registrar's endpoints (`/registrar/...`): changing records.
    pub const REGISTRAR: &str = "registrar.records";
    /// `/registry/sync/enrollment/updates`: an SP-MIS publishing its programmes' enrolments
    /// and benefits to the IBR.
    pub const PUBLISH: &str = "registry.publish";
    /// `/mapper/link` and its sync twin (G2P Connect scopes, dci-spec §8.2).
    pub const MAPPER_LINK: &str = "mapper.link";
    /// `/mapper/update`, `/mapper/sync/update`.
    pub const MAPPER_UPDATE: &str = "mapper.update";
    /// `/mapper/unlink`, `/mapper/sync/unlink`.
    pub const MAPPER_UNLINK: &str = "mapper.unlink";
    /// `/mapper/resolve`, `/mapper/sync/resolve`.
    pub const MAPPER_RESOLVE: &str = "mapper.resolve";
    /// The mapper's txn status.
    pub const MAPPER_STATUS: &str = "mapper.status";
    /// `/disburse`, `/disburse/sync/disburse`: paying.
    pub const DISBURSE: &str = "disburse.disburse";
    /// Disburse search, txn status and the reconciliation report.
    pub const DISBURSE_STATUS: &str = "disburse.status";
    /// What a participant gets when none are named.
    pub const DEFAULT: &[&str] = &[SEARCH, SUBSCRIBE, TXN_STATUS];
    /// What a participant of the payments service gets when none are named.
    pub const PAY_DEFAULT: &[&str] = &[
        MAPPER_LINK,
        MAPPER_UPDATE,
        MAPPER_UNLINK,
        MAPPER_RESOLVE,
        MAPPER_STATUS,
        DISBURSE,
        DISBURSE_STATUS,
    ];
    /// Every scope a service knows.
    pub const ALL: &[&str] = &[
        SEARCH,
        SUBSCRIBE,
        TXN_STATUS,
        REGISTRAR,
        PUBLISH,
        MAPPER_LINK,
        MAPPER_UPDATE,
        MAPPER_UNLINK,
        MAPPER_RESOLVE,
        MAPPER_STATUS,
        DISBURSE,
        DISBURSE_STATUS,
    ];
}

/// How a participant signs its messages (chosen per participant, never guessed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureForm {
    /// The DCI `signature` member of the envelope (the spx profile, `docs/security.md`).
    #[default]
    Dci,
    /// A detached JWS over the exact body bytes in an HTTP `Signature` header (OpenG2P).
    JwsDetached,
    /// A compact JWS in the envelope's `signature` member whose embedded payload is
    /// `{"header": …, "message": …}` of the envelope.
    JwsCompact,
}

impl SignatureForm {
    /// Its name in configuration and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureForm::Dci => "dci",
            SignatureForm::JwsDetached => "jws-detached",
            SignatureForm::JwsCompact => "jws-compact",
        }
    }

    /// The form called `name`.
    pub fn parse(name: &str) -> Option<SignatureForm> {
        [
            SignatureForm::Dci,
            SignatureForm::JwsDetached,
            SignatureForm::JwsCompact,
        ]
        .into_iter()
        .find(|f| f.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// A request rate: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests that may arrive at once.
    pub burst: u32,
}

/// One peer allowed to call the service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// Its participant id: `header.sender_id`, the OAuth2 `client_id`.
    #[serde(skip)]
    pub sender_id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where its signing keys are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Its signing keys, given inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<trust::Jwks>,
    /// How it signs.
    #[serde(default)]
    pub signature: SignatureForm,
    /// Whether its messages may come unsigned (legacy peers, conformance test clients).
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Its callbacks (`sender_uri`) must start with one of these.
    #[serde(default)]
    pub callback_prefixes: Vec<String>,
    /// The scopes its tokens may carry.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What it may see.
    #[serde(default)]
    pub access: AccessRules,
    /// How fast it may call; none: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl Participant {
    /// Whether its callbacks may go to `url` (a plain http(s) URL under one of its prefixes).
    pub fn callback_allowed(&self, url: &str) -> bool {
        crate::exchange::url_under(url, &self.callback_prefixes)
    }
}

/// Adds `participant` with the client secret whose argon2 hash is `secret_hash`; refuses a
/// participant id already present.
pub async fn add(
    store: &dyn Store,
    participant: &Participant,
    secret_hash: &str,
) -> Result<bool, StoreError> {
    let doc = serde_json::to_string(participant).expect("a participant serializes");
    let sql = match store.dialect() {
        expr::Dialect::Sqlite => {
            "INSERT INTO participant (sender_id, secret_hash, doc, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sender_id) DO NOTHING"
        }
        expr::Dialect::Postgres => {
            "INSERT INTO participant (sender_id, secret_hash, doc, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sender_id) DO NOTHING"
        }
    };
    let added = store
        .write(vec![Statement::new(
            sql,
            vec![
                SqlValue::Text(participant.sender_id.clone()),
                SqlValue::Text(secret_hash.to_owned()),
                SqlValue::Text(doc),
                SqlValue::Text(dci::Timestamp::now().to_string()),
            ],
            &[],
        )])
        .await?;
    Ok(added.first().copied().unwrap_or(0) == 1)
}

/// Removes the participant `sender_id`; whether it was there.
pub async fn remove(store: &dyn Store, sender_id: &str) -> Result<bool, StoreError> {
    let sql = match store.dialect() {
        expr::Dialect::Sqlite => "DELETE FROM participant WHERE sender_id = ?1",
        expr::Dialect::Postgres => "DELETE FROM participant WHERE sender_id = $1",
    };
    let removed = store
        .write(vec![Statement::new(
            sql,
            vec![SqlValue::Text(sender_id.to_owned())],
            &[],
        )])
        .await?;
    Ok(removed.first().copied().unwrap_or(0) == 1)
}

/// A participant as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The participant.
    pub participant: Participant,
    /// The argon2 hash of its client secret.
    pub secret_hash: String,
    /// When it was added.
    pub created_at: String,
}

/// Every participant, by id.
pub async fn list(store: &dyn Store) -> Result<Vec<Stored>, StoreError> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT sender_id, secret_hash, doc, created_at FROM participant ORDER BY sender_id",
            vec![],
            &[ColumnType::Text; 4],
        )])
        .await?;
    let text = crate::search::text_cell;
    Ok(rows[0]
        .iter()
        .filter_map(|row| {
            let mut participant: Participant = match serde_json::from_str(&text(row, 2)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(sender_id = %text(row, 0), error = %e, "unreadable participant row; ignored");
                    return None;
                }
            };
            participant.sender_id = text(row, 0);
            Some(Stored {
                participant,
                secret_hash: text(row, 1),
                created_at: text(row, 3),
            })
        })
        .collect())
}

/// How often a running service reads the participant table again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The participants of a running service, read from its store and kept fresh; also their
/// signing keys and their rate-limit buckets.
pub struct Participants {
    store: Arc<dyn Store>,
    known: RwLock<HashMap<String, Arc<Known>>>,
    fetcher: Arc<trust::JwksFetcher>,
    buckets: RateBuckets,
}

struct Known {
    participant: Arc<Participant>,
    secret_hash: String,
    keys: Keys,
}

enum Keys {
    None,
    Inline(Arc<trust::StaticKeys>),
    Url,
}

/// Token buckets by key (a participant, a client address, a UIN): each key may make `burst`
/// requests at once and `per_second` sustained.
#[derive(Default)]
pub struct RateBuckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateBuckets {
    /// Buckets kept before the full ones (keys quiet long enough to have refilled) are dropped:
    /// keys that callers choose (addresses, UINs) cannot grow the map without bound.
    const PRUNE_ABOVE: usize = 10_000;

    /// Admits one request of `key` under `limit`, or says how long to wait.
    pub fn admit(&self, key: &str, limit: RateLimit) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let burst = f64::from(limit.burst.max(1));
        let refill = |bucket: &Bucket| {
            let elapsed = now.duration_since(bucket.at).as_secs_f64();
            (bucket.tokens + elapsed * limit.per_second).min(burst)
        };
        if buckets.len() > Self::PRUNE_ABOVE {
            buckets.retain(|_, bucket| refill(bucket) < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refill(bucket);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / limit.per_second.max(f64::MIN_POSITIVE);
        Err(Duration::from_secs_f64(wait.min(3600.0)))
    }
}

impl Participants {
    /// The participants of `store`, not read yet (see [`Participants::reload`]).
    pub fn new(store: Arc<dyn Store>) -> Participants {
        Participants {
            store,
            known: RwLock::new(HashMap::new()),
            fetcher: Arc::new(trust::JwksFetcher::new(
                reqwest::Client::new(),
                trust::JwksFetchOptions::default(),
            )),
            buckets: RateBuckets::default(),
        }
    }

    /// Reads the table again. A participant whose JWKS URL is unchanged keeps its cached keys.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let stored = list(self.store.as_ref()).await?;
        let before = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut known = HashMap::with_capacity(stored.len());
        for Stored {
            participant,
            secret_hash,
            ..
        } in stored
        {
            let keys = match (&participant.keys, &participant.jwks_url) {
                (Some(jwks), _) => {
                    let mut keys = trust::StaticKeys::new();
                    if let Err(e) = keys.insert_jwks(&participant.sender_id, jwks) {
                        tracing::error!(sender_id = %participant.sender_id, error = %e, "a participant's inline key is unusable");
                    }
                    Keys::Inline(Arc::new(keys))
                }
                (None, Some(url)) => {
                    let unchanged = before.get(&participant.sender_id).is_some_and(|k| {
                        matches!(k.keys, Keys::Url) && k.participant.jwks_url.as_ref() == Some(url)
                    });
                    if !unchanged {
                        self.fetcher.add_peer(&participant.sender_id, url);
                    }
                    Keys::Url
                }
                (None, None) => Keys::None,
            };
            known.insert(
                participant.sender_id.clone(),
                Arc::new(Known {
                    participant: Arc::new(participant),
                    secret_hash,
                    keys,
                }),
            );
        }
        *self.known.write().unwrap_or_else(PoisonError::into_inner) = known;
        Ok(())
    }

    /// Reads the table every [`RELOAD_EVERY`] for as long as the service runs.
    pub fn spawn_reload(self: &Arc<Self>) {
        let participants = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let Some(participants) = participants.upgrade() else {
                    return;
                };
                if let Err(e) = participants.reload().await {
                    tracing::warn!(error = %e, "cannot read the participant table; keeping the last one read");
                }
            }
        });
    }

    /// The participant `sender_id`, if registered.
    pub fn get(&self, sender_id: &str) -> Option<Arc<Participant>> {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sender_id)
            .map(|k| k.participant.clone())
    }

    /// The participant `client_id` if `secret` is its client secret (argon2, off the async
    /// threads).
    pub async fn authenticate(&self, client_id: &str, secret: &str) -> Option<Arc<Participant>> {
        let known = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_id)
            .cloned()?;
        let secret = secret.to_owned();
        let checked = known.clone();
        let matches = tokio::task::spawn_blocking(move || {
            trust::secret::verify(&secret, &checked.secret_hash)
        })
        .await
        .unwrap_or(false);
        matches.then(|| known.participant.clone())
    }

    /// Admits one request of `participant` under its rate limit, or says how long to wait.
    pub fn admit(&self, participant: &Participant) -> Result<(), Duration> {
        match participant.rate_limit {
            Some(limit) => self.buckets.admit(&participant.sender_id, limit),
            None => Ok(()),
        }
    }
}

impl Participants {
    /// The resolver that holds the keys of `sender_id`: its inline keys or the JWKS fetcher.
    fn resolver_of(
        &self,
        sender_id: &str,
    ) -> Result<Arc<dyn trust::KeyResolver>, trust::ResolveError> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        match known.get(sender_id).map(|k| &k.keys) {
            Some(Keys::Inline(keys)) => Ok(keys.clone()),
            Some(Keys::Url) => Ok(self.fetcher.clone()),
            Some(Keys::None) | None => Err(trust::ResolveError::UnknownSender {
                sender_id: sender_id.to_owned(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl trust::KeyResolver for Participants {
    async fn resolve(
        &self,
        sender_id: &str,
        kid: &str,
    ) -> Result<trust::VerifyingKey, trust::ResolveError> {
        self.resolver_of(sender_id)?.resolve(sender_id, kid).await
    }

    async fn encryption_key(
        &self,
        receiver_id: &str,
    ) -> Result<Option<trust::EncryptionKey>, trust::ResolveError> {
        self.resolver_of(receiver_id)?
            .encryption_key(receiver_id)
            .await
    }
}
