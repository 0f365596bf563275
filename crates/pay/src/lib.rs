//! Payments: the G2P Connect ID-to-financial-address mapper and disbursement APIs
//! (dci-spec §11), a payment switch behind a trait with a simulator, and reconciliation.
//!
//! The payments service runs on the DCI engine of the `registry` crate: the same envelope
//! checks, signatures, tokens and access scopes, audit chain, async exchange (inbox, `txn`)
//! and outbox. It adds its own tables ([`MIGRATIONS`]) and endpoints:
//!
//! - [`mapper`]: link, update, unlink and resolve, sync and async, and their txn status;
//! - [`disburse`]: batches of payments checked, resolved through the mapper and stored as
//!   items of a durable state machine (`pending` → `paid` | `failed` | `returned`, or
//!   `refused` at once), their status by search and txn status;
//! - [`worker`]: pays the pending items through the [`switch::Switch`], and sends each
//!   message's `on-disburse` once its items are final;
//! - [`report`]: a payment cycle's reconciliation, as JSON or CSV.
//!
//! Money is integer minor units of an ISO 4217 currency ([`dci::money`]); every state change
//! commits in one store transaction with the messages it causes.

use std::sync::Arc;
use std::time::Duration;

use registry::{Profile, Registry, RegistryConfig};
use store::{Migration, Store};

pub mod disburse;
mod handler;
pub mod mapper;
pub mod receipts;
pub mod report;
pub mod switch;
pub mod worker;

/// The service's role name (`spx serve --role pay`).
pub const ROLE: &str = "pay";

const TABLES: Migration = Migration {
    version: 601,
    name: "payments tables: mapper links, disbursements, switch ledger",
    sqlite: include_str!("../migrations/sqlite/pay_0601_init.sql"),
    postgres: include_str!("../migrations/postgres/pay_0601_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/pay_0602_indexes.sql");

const INDEXES: Migration = Migration {
    version: 602,
    name: "payments indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// The same SQL on both backends.
const RECEIPT_SCRIPT: &str = include_str!("../migrations/pay_0603_receipt_details.sql");

const RECEIPT_DETAILS: Migration = Migration {
    version: 603,
    name: "payments: household and benefit type of each payment, for its receipt",
    sqlite: RECEIPT_SCRIPT,
    postgres: RECEIPT_SCRIPT,
};

/// The payments service's own migrations (the engine's follow, see
/// [`registry::ENGINE_MIGRATIONS`]).
pub const MIGRATIONS: &[Migration] = &[TABLES, INDEXES, RECEIPT_DETAILS];

/// The payments service as the engine sees it: a profile with no records to search (its
/// endpoints are its own, see [`Pay::router`]).
pub static PROFILE: Profile = Profile {
    role: ROLE,
    reg_type: "ns:org:RegistryType:Payments",
    reg_type_aliases: &[],
    event_types: &[],
    event_aliases: &[],
    record_types: &[],
    migrations: MIGRATIONS,
    indexes: &INDEXES,
    routes: axum::Router::new,
};

/// Opens the payments store: its tables and the engine's.
pub async fn open_store(config: &store::StoreConfig) -> Result<Arc<dyn Store>, store::StoreError> {
    registry::open_store(&PROFILE, config).await
}

/// Settings of the payments service (`[pay]` in `spx.toml`), beside the engine's.
#[derive(Debug, Clone)]
pub struct PayConfig {
    /// How long a sync disburse waits for its payments before answering with those still
    /// pending as `pdng`.
    pub sync_wait: Duration,
    /// Payments sent to the switch in one call.
    pub switch_batch: usize,
    /// Calls to the switch in flight at once.
    pub switch_concurrency: usize,
    /// Delay before paying again after the switch did not answer; doubles with each attempt.
    pub first_retry: Duration,
    /// Longest delay between attempts.
    pub max_retry: Duration,
    /// Most payments one txn status (by transaction id) or one disburse search item reports.
    pub max_status_items: usize,
}

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            sync_wait: Duration::from_secs(5),
            switch_batch: 500,
            switch_concurrency: 4,
            first_retry: Duration::from_millis(200),
            max_retry: Duration::from_secs(60),
            max_status_items: 10_000,
        }
    }
}

/// The payments service.
pub struct Pay {
    /// The DCI engine it runs on: its store, trust, participants, audit, outbox.
    pub engine: Arc<Registry>,
    /// Its settings.
    pub config: PayConfig,
    /// Where payments go.
    pub switch: Arc<dyn switch::Switch>,
    /// Where the receipts of successful payments go (the IBR, once wired).
    pub receipts: Arc<dyn receipts::Receipts>,
    /// Wakes the payment worker.
    pub payments: tokio::sync::Notify,
}

impl std::fmt::Debug for Pay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pay")
            .field("service_id", &self.engine.config.service_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pay {
    /// Serves payments from `store` (opened with [`open_store`]) through `switch`: starts the
    /// engine (its dispatcher delivers callbacks) and the payment worker, which first finishes
    /// whatever a previous run left undone.
    pub async fn start(
        store: Arc<dyn Store>,
        engine: RegistryConfig,
        config: PayConfig,
        switch: Arc<dyn switch::Switch>,
    ) -> Result<Arc<Pay>, registry::StartError> {
        Pay::start_with_receipts(
            store,
            engine,
            config,
            switch,
            Arc::new(receipts::NoReceipts),
        )
        .await
    }

    /// [`Pay::start`], publishing the receipts of successful payments through `receipts`.
    pub async fn start_with_receipts(
        store: Arc<dyn Store>,
        engine: RegistryConfig,
        config: PayConfig,
        switch: Arc<dyn switch::Switch>,
        receipts: Arc<dyn receipts::Receipts>,
    ) -> Result<Arc<Pay>, registry::StartError> {
        let engine = Registry::start(&PROFILE, store, engine).await?;
        let pay = Arc::new(Pay {
            engine,
            config,
            switch,
            receipts,
            payments: tokio::sync::Notify::new(),
        });
        worker::spawn(pay.clone());
        Ok(pay)
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.engine.store.as_ref()
    }

    /// The HTTP routes: the mapper's and disbursement's DCI endpoints behind the engine's
    /// guard, the reconciliation report, and what every service serves (token, JWKS, health).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let endpoints = mapper::routes()
            .merge(disburse::routes())
            .merge(report::routes())
            .with_state(self.clone());
        registry::http::service_router(self.engine.clone(), endpoints)
    }
}
