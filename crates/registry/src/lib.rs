//! The DCI registry engine: one engine, many registries.
//!
//! A registry is a [`profile::Profile`] (record types, queryable attributes, identifier types,
//! schema); the engine serves every profile with the same validation, search, pagination and
//! error handling. [`http::router`] exposes a registry over DCI; [`import`] loads files of the
//! synthetic population (or a ministry's exports in the same format) into its store.

use std::sync::Arc;

use store::Store;

pub mod audit;
pub mod auth;
mod criteria;
pub mod crvs;
pub mod dr;
pub mod exchange;
pub mod fr;
pub mod http;
pub mod ibr;
pub mod id;
pub mod import;
pub mod metrics;
pub mod multipart;
pub mod participants;
pub mod profile;
pub mod registrar;
pub mod replay;
mod rows;
pub mod search;
pub mod social;
pub mod subscribe;
pub mod upload;

pub use profile::Profile;

/// Settings of one registry service.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// This service's participant id (`sender_id` of its responses; the `receiver_id` it accepts).
    pub service_id: String,
    /// What request headers must satisfy.
    pub header: dci::validate::HeaderPolicy,
    /// Page size limits.
    pub search: search::SearchLimits,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Limits of the batches publishers push (IBR enrolment updates).
    pub updates: UpdateLimits,
    /// Callback URLs must start with one of these (until participants have their own).
    pub callback_url_prefixes: Vec<String>,
    /// How callbacks are delivered.
    pub dispatch: dispatch::DispatchConfig,
    /// How long answered requests, delivered callbacks and matched events are kept.
    pub retention: std::time::Duration,
    /// Signing and verification; `None` sends unsigned and accepts anything (tests only).
    pub trust: Option<Trust>,
    /// Where the files uploaded to `POST /registrar/import` are kept until imported; `None`:
    /// no uploads.
    pub imports: Option<std::path::PathBuf>,
}

/// Limits of the batches publishers push into a registry (the IBR's
/// `/registry/sync/enrollment/updates`), larger than a search's: an SP-MIS sends a whole
/// payment cycle at once.
#[derive(Debug, Clone, Copy)]
pub struct UpdateLimits {
    /// Most items in one message (`rjct.total_count.limit_exceeded` beyond).
    pub max_items: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
}

/// How a registry signs what it sends (sync responses, callbacks, notifications) and treats
/// the signatures of what it receives.
#[derive(Clone)]
pub struct Trust {
    /// Signs as this service, with its current key.
    pub signer: Arc<trust::Signer>,
    /// Finds the senders' keys.
    pub peers: Arc<dyn trust::KeyResolver>,
    /// What a missing or bad signature does.
    pub verify: Verify,
    /// Whether every DCI endpoint requires a bearer token from `POST /oauth2/client/token`
    /// (and so a registered participant).
    pub require_token: bool,
    /// How long the tokens it issues are valid.
    pub token_lifetime: std::time::Duration,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("signer", &self.signer)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// What a missing or bad signature on a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The request is refused with `err.signature.missing` or `err.signature.invalid`.
    Enforce,
    /// The request is served, and the failure logged.
    Log,
    /// Signatures are not looked at.
    Off,
}

/// A registry service: a profile served from a store.
pub struct Registry {
    /// What this registry holds.
    pub profile: &'static Profile,
    /// Where it holds it.
    pub store: Arc<dyn Store>,
    /// How it answers.
    pub config: RegistryConfig,
    /// Wakes the worker that answers async requests.
    pub work: tokio::sync::Notify,
    /// Wakes the notifier that matches registry events to subscriptions.
    pub events: tokio::sync::Notify,
    /// Signed sync requests already served.
    pub replays: replay::ReplayGuard,
    /// Delivers its callbacks.
    pub dispatcher: Arc<dispatch::Dispatcher>,
    /// Who may call it.
    pub participants: Arc<participants::Participants>,
    /// Issues and checks its access tokens (when it signs).
    pub tokens: Option<trust::TokenIssuer>,
    /// Where every exchange is recorded.
    pub audit: store::audit::AuditLog,
    /// What it answered, for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Held while an uploaded import runs (one at a time).
    pub importing: tokio::sync::Mutex<()>,
    /// A read replica its searches read, when it has one.
    replica: std::sync::OnceLock<Arc<dyn Store>>,
}

/// Why a registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Its store could not be read.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl Registry {
    /// Serves `profile` from `store`: starts the worker that answers async requests and the
    /// dispatcher that delivers callbacks (both resume whatever a previous run left undone).
    pub async fn start(
        profile: &'static Profile,
        store: Arc<dyn Store>,
        config: RegistryConfig,
    ) -> Result<Arc<Registry>, StartError> {
        let participants = Arc::new(participants::Participants::new(store.clone()));
        participants.reload().await?;
        participants.spawn_reload();
        let tokens = config
            .trust
            .as_ref()
            .map(|trust| trust::TokenIssuer::new(trust.signer.clone(), trust.token_lifetime));
        let dispatcher = dispatch::Dispatcher::new(store.clone(), config.dispatch.clone())?;
        if let Some(trust) = &config.trust {
            dispatcher.sign_with(trust.signer.clone());
        }
        dispatcher.spawn();
        let audit = store::audit::AuditLog::new(store.clone());
        let registry = Arc::new(Registry {
            profile,
            store,
            config,
            work: tokio::sync::Notify::new(),
            events: tokio::sync::Notify::new(),
            replays: replay::ReplayGuard::new(REPLAY_MEMORY),
            dispatcher,
            participants,
            tokens,
            audit,
            metrics: metrics::Metrics::default(),
            importing: tokio::sync::Mutex::new(()),
            replica: std::sync::OnceLock::new(),
        });
        exchange::spawn_worker(registry.clone());
        subscribe::spawn_notifier(registry.clone());
        exchange::spawn_pruner(registry.clone());
        Ok(registry)
    }
}

impl Registry {
    /// Sends the record searches (sync and async search, the profile's search-like endpoints)
    /// to `replica`, a read replica of its store; everything else (writes, the exchange's
    /// own tables, transaction status, access rules, audit) stays on the primary. Searches
    /// then see the replica's lag. Set once, before serving.
    pub fn search_from(&self, replica: Arc<dyn Store>) {
        let _ = self.replica.set(replica);
    }

    /// The store the record searches read: the replica when there is one.
    pub fn search_store(&self) -> &dyn Store {
        self.replica.get().unwrap_or(&self.store).as_ref()
    }
}

/// The location master list of a registry's store (every profile has the `location` table),
/// parents before children.
pub async fn location_hierarchy(
    store: &dyn Store,
) -> Result<dci::locations::LocationHierarchy, store::StoreError> {
    let rows = store
        .read(vec![store::Statement::new(
            "SELECT code, name, level, parent FROM location ORDER BY level, code",
            vec![],
            &[
                store::ColumnType::Text,
                store::ColumnType::Text,
                store::ColumnType::Integer,
                store::ColumnType::Text,
            ],
        )])
        .await?;
    let places = rows[0]
        .iter()
        .filter_map(|row| match row.as_slice() {
            [
                Some(store::SqlValue::Text(code)),
                Some(store::SqlValue::Text(name)),
                Some(store::SqlValue::Integer(level)),
                parent,
            ] => {
                let kind = match level {
                    1 => "spx:REGION",
                    2 => "spx:DISTRICT",
                    _ => "spx:SUB_COUNTY",
                };
                let parent = match parent {
                    Some(store::SqlValue::Text(p)) => Some(p.as_str()),
                    _ => None,
                };
                Some(dci::locations::Location::new(code, name, kind, parent))
            }
            _ => None,
        })
        .collect();
    Ok(dci::locations::LocationHierarchy::new(
        places,
        dci::Timestamp::now(),
    ))
}

/// Signed sync requests a node remembers, to refuse their replays.
const REPLAY_MEMORY: usize = 1_000_000;

/// The engine's tables in every registry's store, after the profile's own: the async
/// exchange, the outbox, subscriptions and events, the audit chain.
pub const ENGINE_MIGRATIONS: &[store::Migration] = &[
    exchange::MIGRATION,
    dispatch::MIGRATION,
    dispatch::ORDERING_MIGRATION,
    subscribe::MIGRATION,
    exchange::CLAIM_MIGRATION,
    dispatch::PARKING_MIGRATION,
    store::audit::MIGRATION,
    store::audit::RUNS_MIGRATION,
    participants::MIGRATION,
    subscribe::ENCRYPTED_MIGRATION,
    import::MIGRATION,
];

/// Opens the store of `profile`: applies its migrations and makes sure its indexes exist.
pub async fn open_store(
    profile: &Profile,
    config: &store::StoreConfig,
) -> Result<Arc<dyn Store>, store::StoreError> {
    let store = open_store_for_import(profile, config).await?;
    store
        .execute_script(profile.indexes.script(store.dialect()).to_string())
        .await?;
    Ok(store)
}

/// Opens the store of `profile` and applies its migrations, leaving its secondary indexes to
/// [`import::import`] (which drops them to load empty tables, and builds them at the end).
pub async fn open_store_for_import(
    profile: &Profile,
    config: &store::StoreConfig,
) -> Result<Arc<dyn Store>, store::StoreError> {
    store::open(config, &migrations(profile)).await
}

/// Opens a PostgreSQL read replica of `profile`'s database at `url`, for its searches (see
/// [`Registry::search_from`]).
pub async fn open_replica(
    profile: &Profile,
    url: &str,
    pool_size: usize,
) -> Result<Arc<dyn Store>, store::StoreError> {
    store::open_replica(url, pool_size, &migrations(profile)).await
}

/// Every migration of a registry's store: its profile's and the engine's.
fn migrations(profile: &Profile) -> Vec<store::Migration> {
    profile
        .migrations
        .iter()
        .chain(ENGINE_MIGRATIONS)
        .cloned()
        .collect()
}

/// Every registry the engine serves.
static PROFILES: [&Profile; 6] = [
    &social::PROFILE,
    &crvs::PROFILE,
    &ibr::PROFILE,
    &dr::PROFILE,
    &fr::PROFILE,
    &id::PROFILE,
];

/// The profile for a role name, if spx serves that registry.
pub fn profile(role: &str) -> Option<&'static Profile> {
    PROFILES.into_iter().find(|p| p.role == role)
}

/// The roles served by the registry engine.
pub fn roles() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.role).collect()
}
