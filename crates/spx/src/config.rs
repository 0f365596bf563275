//! Configuration: built-in defaults, then `spx.toml`, then `SPX__SECTION__KEY` environment
//! variables, then command-line flags; validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

/// Every setting of a service. `spx.toml` at the repository root documents each one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Who the service is and where it listens and keeps data.
    pub service: Service,
    /// What requests may ask for.
    pub limits: Limits,
    /// The embedded store.
    pub sqlite: Sqlite,
    /// The PostgreSQL store.
    pub postgres: Postgres,
    /// Async requests and the delivery of callbacks.
    pub exchange: Exchange,
    /// Signatures and keys.
    pub trust: Trust,
    /// The foundational ID registry's link to the civil registry.
    pub id: Id,
    /// The payments service (`spx serve --role pay`).
    pub pay: Pay,
    /// The SP-MIS (`spx serve --role mis`).
    pub mis: Mis,
    /// The pages (`spx serve --role web`).
    pub web: Web,
}

/// `[web]`: the coverage dashboard and the citizen status page, the registries they ask over
/// DCI and the registries' stores they read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// The IBR's base URL (a citizen's enrolments and payments, over DCI).
    pub ibr_url: String,
    /// The IBR's participant id.
    pub ibr_id: String,
    /// The web service's client secret at the IBR (its client id is `service.id`).
    pub ibr_client_secret: String,
    /// The foundational ID registry's base URL (whether a UIN goes with a birth date).
    pub id_url: String,
    /// The ID registry's participant id.
    pub id_id: String,
    /// The web service's client secret at the ID registry.
    pub id_client_secret: String,
    /// Where registries' stores are, as `role=location` (a SQLite file or a `postgres://`
    /// URL); a role not listed is where `service.data_dir` or `service.database_url` puts it.
    pub stores: Vec<String>,
    /// The registries whose audit chains the citizen page reads.
    pub audit_roles: Vec<String>,
    /// Mark cookies `Secure` (HTTPS only); off only for plain HTTP on loopback.
    pub secure_cookies: bool,
    /// How long a staff session lasts, in hours.
    pub session_hours: u64,
    /// Status look-ups one client address may make per minute (and at once).
    pub status_per_address_per_minute: u64,
    /// Status look-ups of one UIN per hour (and at once), whoever asks.
    pub status_per_uin_per_hour: u64,
    /// Sign-in attempts one client address may make per minute (and at once).
    pub logins_per_address_per_minute: u64,
    /// Members of households at or under this poverty score in no programme are the
    /// dashboard's gaps.
    pub gap_poverty_score: f64,
    /// Take the client's address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            ibr_url: String::new(),
            ibr_id: "ibr.spx.local".into(),
            ibr_client_secret: String::new(),
            id_url: String::new(),
            id_id: "id.spx.local".into(),
            id_client_secret: String::new(),
            stores: Vec::new(),
            audit_roles: ["social", "crvs", "ibr", "dr", "fr", "id"]
                .map(String::from)
                .to_vec(),
            secure_cookies: true,
            session_hours: 8,
            status_per_address_per_minute: 10,
            status_per_uin_per_hour: 5,
            logins_per_address_per_minute: 10,
            gap_poverty_score: 20.0,
            trust_forwarded_for: false,
        }
    }
}

/// `[mis]`: the SP-MIS, its programmes and the registries it asks and subscribes to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mis {
    /// A folder of programme files (`*.toml`); empty: the programmes spx ships.
    pub programmes_dir: PathBuf,
    /// Where the registries reach the SP-MIS (their notifications go to
    /// `<public_url>/registry/notify`); empty: the address it listens on.
    pub public_url: String,
    /// The civil registry: base URL, participant id, the SP-MIS's client secret there.
    pub crvs_url: String,
    /// The civil registry's participant id.
    pub crvs_id: String,
    /// The SP-MIS's client secret at the civil registry (its client id is `service.id`).
    pub crvs_client_secret: String,
    /// The foundational ID registry's base URL.
    pub id_url: String,
    /// The ID registry's participant id.
    pub id_id: String,
    /// The SP-MIS's client secret at the ID registry.
    pub id_client_secret: String,
    /// The social registry's base URL.
    pub social_url: String,
    /// The social registry's participant id.
    pub social_id: String,
    /// The SP-MIS's client secret at the social registry.
    pub social_client_secret: String,
    /// The integrated beneficiary registry's base URL.
    pub ibr_url: String,
    /// The IBR's participant id.
    pub ibr_id: String,
    /// The SP-MIS's client secret at the IBR.
    pub ibr_client_secret: String,
    /// The farmer registry's base URL.
    pub fr_url: String,
    /// The farmer registry's participant id.
    pub fr_id: String,
    /// The SP-MIS's client secret at the farmer registry.
    pub fr_client_secret: String,
    /// The disability registry's base URL.
    pub dr_url: String,
    /// The disability registry's participant id.
    pub dr_id: String,
    /// The SP-MIS's client secret at the disability registry.
    pub dr_client_secret: String,
    /// The payments service's base URL.
    pub pay_url: String,
    /// The payments service's participant id.
    pub pay_id: String,
    /// The SP-MIS's client secret at the payments service.
    pub pay_client_secret: String,
}

impl Default for Mis {
    fn default() -> Self {
        Mis {
            programmes_dir: PathBuf::new(),
            public_url: String::new(),
            crvs_url: String::new(),
            crvs_id: "crvs.spx.local".into(),
            crvs_client_secret: String::new(),
            id_url: String::new(),
            id_id: "id.spx.local".into(),
            id_client_secret: String::new(),
            social_url: String::new(),
            social_id: "social.spx.local".into(),
            social_client_secret: String::new(),
            ibr_url: String::new(),
            ibr_id: "ibr.spx.local".into(),
            ibr_client_secret: String::new(),
            fr_url: String::new(),
            fr_id: "fr.spx.local".into(),
            fr_client_secret: String::new(),
            dr_url: String::new(),
            dr_id: "dr.spx.local".into(),
            dr_client_secret: String::new(),
            pay_url: String::new(),
            pay_id: "pay.spx.local".into(),
            pay_client_secret: String::new(),
        }
    }
}

impl Mis {
    /// Each registry the SP-MIS talks to: (role, base URL, participant id, client secret).
    pub fn registries(&self) -> [(&'static str, &str, &str, &str); 7] {
        [
            (
                "crvs",
                &self.crvs_url,
                &self.crvs_id,
                &self.crvs_client_secret,
            ),
            ("id", &self.id_url, &self.id_id, &self.id_client_secret),
            (
                "social",
                &self.social_url,
                &self.social_id,
                &self.social_client_secret,
            ),
            ("ibr", &self.ibr_url, &self.ibr_id, &self.ibr_client_secret),
            ("fr", &self.fr_url, &self.fr_id, &self.fr_client_secret),
            ("dr", &self.dr_url, &self.dr_id, &self.dr_client_secret),
            ("pay", &self.pay_url, &self.pay_id, &self.pay_client_secret),
        ]
    }
}

/// `[pay]`: the payments service, its limits and its payment switch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Pay {
    /// Most items in one disburse or mapper message (`rjct.total_count.limit_exceeded`
    /// beyond); replaces `limits.max_batch_size` for this service.
    pub max_batch_size: u64,
    /// Largest request body, in bytes; replaces `limits.max_body_bytes` for this service.
    pub max_body_bytes: u64,
    /// How long `/disburse/sync/disburse` waits for its payments, in milliseconds.
    pub sync_wait_ms: u64,
    /// Payments sent to the switch in one call.
    pub switch_batch: u64,
    /// Calls to the switch in flight at once.
    pub switch_concurrency: u64,
    /// Delay before paying again after the switch did not answer, in milliseconds.
    pub first_retry_ms: u64,
    /// Longest delay between attempts, in seconds.
    pub max_retry_secs: u64,
    /// Most payments one txn status or disburse search item reports.
    pub max_status_items: u64,
    /// The payment switch: `simulator` (the only one built in).
    pub switch: String,
    /// Simulator: milliseconds each call to the switch takes.
    pub simulator_latency_ms: u64,
    /// Simulator: share of payments that fail for good (0.03 is 3%).
    pub simulator_failure_rate: f64,
    /// Simulator: the kinds of failure, spread evenly over the failing payments.
    pub simulator_failure_kinds: Vec<String>,
    /// Simulator: share of attempts that time out (retried; never paid twice).
    pub simulator_timeout_rate: f64,
    /// Simulator: the seed outcomes follow.
    pub simulator_seed: u64,
    /// Base URL of the integrated beneficiary registry the receipts of successful payments
    /// are published to (`enrollment/updates`); empty: none.
    pub ibr_url: String,
    /// The IBR's participant id.
    pub ibr_id: String,
    /// The payments service's client secret at the IBR (its client id is `service.id`).
    pub ibr_client_secret: String,
}

impl Default for Pay {
    fn default() -> Self {
        let engine = pay::PayConfig::default();
        let simulator = pay::switch::SimulatorConfig::default();
        Pay {
            max_batch_size: 10_000,
            max_body_bytes: 16 * 1024 * 1024,
            sync_wait_ms: engine.sync_wait.as_millis() as u64,
            switch_batch: engine.switch_batch as u64,
            switch_concurrency: engine.switch_concurrency as u64,
            first_retry_ms: engine.first_retry.as_millis() as u64,
            max_retry_secs: engine.max_retry.as_secs(),
            max_status_items: engine.max_status_items as u64,
            switch: "simulator".into(),
            simulator_latency_ms: simulator.latency.as_millis() as u64,
            simulator_failure_rate: simulator.failure_rate,
            simulator_failure_kinds: simulator
                .failure_kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            simulator_timeout_rate: simulator.timeout_rate,
            simulator_seed: simulator.seed,
            ibr_url: String::new(),
            ibr_id: "ibr.spx.local".into(),
            ibr_client_secret: String::new(),
        }
    }
}

/// `[id]`: where the ID registry (`spx serve --role id`) learns of deaths.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Id {
    /// Base URL of the civil registry whose registered deaths mark identities deceased
    /// (the ID service subscribes there at start); empty: no link.
    pub crvs_url: String,
    /// The civil registry's participant id.
    pub crvs_id: String,
    /// The ID service's client secret at the civil registry (its client id is `service.id`).
    pub crvs_client_secret: String,
    /// Where the civil registry reaches the ID service (its notifications go to
    /// `<public_url>/registry/notify`); empty: the address it listens on.
    pub public_url: String,
}

impl Default for Id {
    fn default() -> Self {
        Id {
            crvs_url: String::new(),
            crvs_id: "crvs.spx.local".into(),
            crvs_client_secret: String::new(),
            public_url: String::new(),
        }
    }
}

/// `[trust]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// Incoming DCI requests: `enforce` refuses a missing or bad signature, `log` accepts it
    /// and logs a warning, `off` does not look.
    pub verify: String,
    /// Directory of the service's signing keys; empty means `<data_dir>/keys/<role>`.
    pub key_dir: PathBuf,
    /// Base64 of the 32-byte key that encrypts the private keys at rest; empty means a key
    /// file `store.key` next to the keys, made on first start.
    pub store_key: String,
    /// Days a replaced key keeps verifying after `spx keys rotate`.
    pub rotation_overlap_days: u64,
    /// Peers' key sets, as `sender_id=JWKS URL` (participants' own keys come first).
    pub peers: Vec<String>,
    /// Every DCI endpoint requires a bearer token from `POST /oauth2/client/token`, which only
    /// registered participants (`spx participants add`) get.
    pub require_token: bool,
    /// Lifetime of the access tokens the service issues, in seconds.
    pub token_lifetime_seconds: u64,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            verify: "enforce".into(),
            key_dir: PathBuf::new(),
            store_key: String::new(),
            rotation_overlap_days: 7,
            peers: Vec::new(),
            require_token: true,
            token_lifetime_seconds: 600,
        }
    }
}

/// How incoming signatures are treated (`trust.verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// Refused when missing or bad.
    Enforce,
    /// Accepted, with a warning, when missing or bad.
    Log,
    /// Not looked at.
    Off,
}

/// `[service]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    /// Participant id of this service; empty means `<role>.spx.local`.
    pub id: String,
    /// Address and port to listen on.
    pub listen: String,
    /// Directory of the embedded store and other files.
    pub data_dir: PathBuf,
    /// `postgres://user@host:port/database` to use PostgreSQL instead of the embedded store.
    pub database_url: String,
    /// PEM certificate chain: with `tls_key`, the service terminates TLS itself (HTTPS).
    pub tls_cert: PathBuf,
    /// PEM private key of `tls_cert`.
    pub tls_key: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Most items in one message (`rjct.total_count.limit_exceeded` beyond).
    pub max_batch_size: u64,
    /// Largest page a search may ask for (`rjct.pagination.invalid` beyond).
    pub max_page_size: u64,
    /// Page size of a search that asks for none; more matches are refused with
    /// `rjct.search.too_many_records_found`.
    pub default_page_size: u64,
    /// Milliseconds each store query of a sync search by expression may run before it is
    /// stopped and the search refused with `err.request.timeout` (send it async instead); 0:
    /// no budget.
    pub sync_search_budget_ms: u64,
    /// How far ahead of this clock `message_ts` may be, in seconds.
    pub message_ts_max_future_secs: u64,
    /// How old `message_ts` may be, in seconds; 0 accepts any age.
    pub message_ts_max_age_secs: u64,
    /// Most beneficiaries in one IBR enrolment update.
    pub max_update_batch_size: u64,
    /// Largest IBR enrolment update body, in bytes.
    pub max_update_body_bytes: u64,
}

/// `[exchange]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Exchange {
    /// Callback URLs (`header.sender_uri`) must start with one of these.
    pub callback_url_prefixes: Vec<String>,
    /// Callbacks in flight at once.
    pub delivery_concurrency: u64,
    /// Attempts before a callback is dead-lettered.
    pub max_attempts: u64,
    /// Delay before the first retry, in milliseconds; doubles with each attempt.
    pub first_retry_ms: u64,
    /// Longest delay between attempts, in seconds.
    pub max_retry_secs: u64,
    /// Time allowed for one delivery, in seconds.
    pub delivery_timeout_secs: u64,
    /// Consecutive failures after which a destination is held back.
    pub breaker_threshold: u64,
    /// How long a failing destination is held back, in seconds.
    pub breaker_cooldown_secs: u64,
    /// Deliveries in flight at once to one destination (scheme, host and port).
    pub delivery_per_origin_concurrency: u64,
    /// Days answered requests, delivered callbacks and matched events are kept.
    pub retention_days: u64,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange {
            callback_url_prefixes: vec![
                "http://127.0.0.1:".into(),
                "http://localhost:".into(),
                "http://[::1]:".into(),
            ],
            delivery_concurrency: 64,
            max_attempts: 12,
            first_retry_ms: 500,
            max_retry_secs: 300,
            delivery_timeout_secs: 10,
            breaker_threshold: 5,
            breaker_cooldown_secs: 10,
            delivery_per_origin_concurrency: 8,
            retention_days: 30,
        }
    }
}

/// `[sqlite]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sqlite {
    /// Read-only connections (searches run on these in parallel).
    pub readers: u64,
}

/// `[postgres]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    /// Most connections each spx node opens.
    pub pool_size: u64,
    /// A read replica (hot standby) of `service.database_url` that the registry's record
    /// searches read; empty: they read the primary.
    pub replica_url: String,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            id: String::new(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("spx-data"),
            database_url: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 * 1024 * 1024,
            max_batch_size: 100,
            max_page_size: 1000,
            default_page_size: 100,
            sync_search_budget_ms: 1000,
            message_ts_max_future_secs: 300,
            message_ts_max_age_secs: 86_400,
            max_update_batch_size: 10_000,
            max_update_body_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for Sqlite {
    fn default() -> Self {
        Sqlite { readers: 4 }
    }
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            pool_size: 16,
            replica_url: String::new(),
        }
    }
}

const ENV_PREFIX: &str = "SPX__";

impl Config {
    /// Loads the configuration: defaults, then `file` (or `./spx.toml` if it exists), then
    /// `SPX__…` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let defaults = toml::Value::try_from(Config::default()).context("default configuration")?;
        let mut merged = defaults.clone();
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| Some(PathBuf::from("spx.toml")).filter(|p| p.exists()));
        if let Some(path) = &path {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let from_file: toml::Value = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            overlay(&mut merged, from_file);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            set_from_env(&mut merged, &defaults, &keys, &value)
                .with_context(|| format!("environment variable {name}"))?;
        }
        let config: Config = merged.try_into().map_err(|e: toml::de::Error| {
            anyhow!(
                "configuration{}: {}",
                path.map(|p| format!(" ({})", p.display()))
                    .unwrap_or_default(),
                e.message()
            )
        })?;
        Ok(config)
    }

    /// Checks that the settings can work together, with a message that says what to change.
    pub fn validate(&self) -> Result<()> {
        self.listen_addr()?;
        let (cert, key) = (&self.service.tls_cert, &self.service.tls_key);
        if cert.as_os_str().is_empty() != key.as_os_str().is_empty() {
            bail!("service.tls_cert and service.tls_key go together: set both or neither");
        }
        let l = &self.limits;
        if l.max_batch_size == 0 || l.max_update_batch_size == 0 {
            bail!("limits.max_batch_size and limits.max_update_batch_size must be at least 1");
        }
        if l.max_page_size == 0 || l.default_page_size == 0 {
            bail!("limits.max_page_size and limits.default_page_size must be at least 1");
        }
        if l.default_page_size > l.max_page_size {
            bail!(
                "limits.default_page_size ({}) cannot exceed limits.max_page_size ({})",
                l.default_page_size,
                l.max_page_size
            );
        }
        if l.max_body_bytes < 1024 {
            bail!(
                "limits.max_body_bytes ({}) is too small for any DCI envelope; use at least 1024",
                l.max_body_bytes
            );
        }
        let x = &self.exchange;
        if x.delivery_concurrency == 0
            || x.delivery_per_origin_concurrency == 0
            || x.max_attempts == 0
            || x.delivery_timeout_secs == 0
        {
            bail!(
                "exchange.delivery_concurrency, exchange.delivery_per_origin_concurrency, exchange.max_attempts and exchange.delivery_timeout_secs must be at least 1"
            );
        }
        // A repeated message_id is recognised as long as its inbox row is kept; older messages
        // are refused by their message_ts anyway.
        if x.retention_days * 86_400 < l.message_ts_max_age_secs || x.retention_days == 0 {
            bail!(
                "exchange.retention_days ({}) must be at least 1 and cover limits.message_ts_max_age_secs ({} s), or repeated messages could be accepted twice",
                x.retention_days,
                l.message_ts_max_age_secs
            );
        }
        if let Some(bad) = x
            .callback_url_prefixes
            .iter()
            .find(|p| !(p.starts_with("http://") || p.starts_with("https://")))
        {
            bail!("exchange.callback_url_prefixes: '{bad}' is not an http:// or https:// prefix");
        }
        self.verify_mode()?;
        self.peers()?;
        if self.sqlite.readers == 0 || self.postgres.pool_size == 0 {
            bail!("sqlite.readers and postgres.pool_size must be at least 1");
        }
        for (name, url) in [
            ("id.crvs_url", &self.id.crvs_url),
            ("id.public_url", &self.id.public_url),
            ("pay.ibr_url", &self.pay.ibr_url),
            ("mis.public_url", &self.mis.public_url),
            ("mis.crvs_url", &self.mis.crvs_url),
            ("mis.id_url", &self.mis.id_url),
            ("mis.social_url", &self.mis.social_url),
            ("mis.ibr_url", &self.mis.ibr_url),
            ("mis.fr_url", &self.mis.fr_url),
            ("mis.dr_url", &self.mis.dr_url),
            ("mis.pay_url", &self.mis.pay_url),
        ] {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                bail!("{name} must be an http:// or https:// URL (or empty), not '{url}'");
            }
        }
        self.pay_settings()?;
        self.simulator()?;
        let url = &self.service.database_url;
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!(
                "service.database_url must start with postgres:// (or be empty for the embedded store), not '{url}'"
            );
        }
        let replica = &self.postgres.replica_url;
        if !replica.is_empty() {
            if url.is_empty() {
                bail!(
                    "postgres.replica_url needs service.database_url: a replica of the embedded store cannot be"
                );
            }
            if !(replica.starts_with("postgres://") || replica.starts_with("postgresql://")) {
                bail!("postgres.replica_url must start with postgres://, not '{replica}'");
            }
        }
        Ok(())
    }

    /// `trust.verify`, read.
    pub fn verify_mode(&self) -> Result<VerifyMode> {
        match self.trust.verify.as_str() {
            "enforce" => Ok(VerifyMode::Enforce),
            "log" => Ok(VerifyMode::Log),
            "off" => Ok(VerifyMode::Off),
            other => bail!("trust.verify '{other}' is not enforce, log or off"),
        }
    }

    /// `trust.peers`, read: (sender_id, JWKS URL) pairs.
    pub fn peers(&self) -> Result<Vec<(String, String)>> {
        self.trust
            .peers
            .iter()
            .map(|entry| {
                let (sender, url) = entry
                    .split_once('=')
                    .filter(|(s, u)| !s.trim().is_empty() && u.trim().starts_with("http"))
                    .ok_or_else(|| {
                        anyhow!("trust.peers: '{entry}' is not sender_id=http(s)://…/jwks.json")
                    })?;
                Ok((sender.trim().to_string(), url.trim().to_string()))
            })
            .collect()
    }

    /// Where the signing keys of `role` live.
    pub fn key_dir(&self, role: &str) -> PathBuf {
        if self.trust.key_dir.as_os_str().is_empty() {
            self.service.data_dir.join("keys").join(role)
        } else {
            self.trust.key_dir.clone()
        }
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.service.listen.parse().map_err(|_| {
            anyhow!(
                "service.listen '{}' is not an address:port such as 127.0.0.1:8080",
                self.service.listen
            )
        })
    }

    /// The participant id of the service serving `role`.
    pub fn service_id(&self, role: &str) -> String {
        if self.service.id.is_empty() {
            format!("{role}.spx.local")
        } else {
            self.service.id.clone()
        }
    }

    /// Where the store of `role` lives.
    pub fn store(&self, role: &str) -> store::StoreConfig {
        store::StoreConfig {
            sqlite_path: self.service.data_dir.join(format!("{role}.db")),
            sqlite_readers: self.sqlite.readers as usize,
            database_url: Some(self.service.database_url.clone()).filter(|u| !u.is_empty()),
            postgres_pool_size: self.postgres.pool_size as usize,
        }
    }

    /// The registry engine's settings for `role`.
    pub fn registry(&self, role: &str) -> registry::RegistryConfig {
        let l = &self.limits;
        registry::RegistryConfig {
            service_id: self.service_id(role),
            header: dci::validate::HeaderPolicy {
                service_id: self.service_id(role),
                max_batch_size: l.max_batch_size as usize,
                max_future_skew: time::Duration::seconds(l.message_ts_max_future_secs as i64),
                max_age: time::Duration::seconds(l.message_ts_max_age_secs as i64),
            },
            search: registry::search::SearchLimits {
                max_page_size: l.max_page_size as i64,
                default_page_size: l.default_page_size as i64,
                sync_budget: (l.sync_search_budget_ms > 0)
                    .then(|| std::time::Duration::from_millis(l.sync_search_budget_ms)),
            },
            max_body_bytes: l.max_body_bytes as usize,
            updates: registry::UpdateLimits {
                max_items: l.max_update_batch_size as usize,
                max_body_bytes: l.max_update_body_bytes as usize,
            },
            callback_url_prefixes: self.exchange.callback_url_prefixes.clone(),
            dispatch: dispatch::DispatchConfig {
                concurrency: self.exchange.delivery_concurrency as usize,
                max_attempts: self.exchange.max_attempts as i64,
                base_backoff: std::time::Duration::from_millis(self.exchange.first_retry_ms),
                max_backoff: std::time::Duration::from_secs(self.exchange.max_retry_secs),
                request_timeout: std::time::Duration::from_secs(
                    self.exchange.delivery_timeout_secs,
                ),
                breaker_threshold: self.exchange.breaker_threshold as u32,
                breaker_cooldown: std::time::Duration::from_secs(
                    self.exchange.breaker_cooldown_secs,
                ),
                per_origin_concurrency: self.exchange.delivery_per_origin_concurrency as usize,
                ..dispatch::DispatchConfig::default()
            },
            retention: std::time::Duration::from_secs(self.exchange.retention_days * 86_400),
            // Keys need I/O: `keys::trust` opens them when the service starts.
            trust: None,
            imports: Some(self.service.data_dir.join("imports").join(role)),
        }
    }
}

impl Config {
    /// The web service's settings (`[web]`).
    pub fn web_settings(&self) -> Result<web::Settings> {
        let w = &self.web;
        let per = |count: u64, seconds: f64, name: &str| {
            if count == 0 {
                bail!("web.{name} must be at least 1");
            }
            Ok(registry::participants::RateLimit {
                per_second: count as f64 / seconds,
                burst: u32::try_from(count).unwrap_or(u32::MAX),
            })
        };
        Ok(web::Settings {
            secure_cookies: w.secure_cookies,
            session_ttl: std::time::Duration::from_secs(w.session_hours.max(1) * 3600),
            citizen_per_address: per(
                w.status_per_address_per_minute,
                60.0,
                "status_per_address_per_minute",
            )?,
            citizen_per_uin: per(w.status_per_uin_per_hour, 3600.0, "status_per_uin_per_hour")?,
            login_per_address: per(
                w.logins_per_address_per_minute,
                60.0,
                "logins_per_address_per_minute",
            )?,
            gap_poverty_score: w.gap_poverty_score,
            trust_forwarded_for: w.trust_forwarded_for,
        })
    }

    /// Where the store of the registry `role` is, for the web service to read.
    pub fn web_store(&self, role: &str) -> Result<store::StoreConfig> {
        let mut config = self.store(role);
        for entry in &self.web.stores {
            let Some((name, location)) = entry.split_once('=') else {
                bail!("web.stores: '{entry}' is not role=location");
            };
            if name.trim() != role {
                continue;
            }
            let location = location.trim();
            if location.starts_with("postgres://") || location.starts_with("postgresql://") {
                config.database_url = Some(location.to_string());
            } else {
                config.database_url = None;
                config.sqlite_path = PathBuf::from(location);
            }
        }
        Ok(config)
    }

    /// The payments service's settings (`[pay]`).
    pub fn pay_settings(&self) -> Result<pay::PayConfig> {
        let p = &self.pay;
        if p.max_batch_size == 0
            || p.switch_batch == 0
            || p.switch_concurrency == 0
            || p.max_status_items == 0
        {
            bail!(
                "pay.max_batch_size, pay.switch_batch, pay.switch_concurrency and pay.max_status_items must be at least 1"
            );
        }
        if p.max_body_bytes < 1024 {
            bail!(
                "pay.max_body_bytes ({}) is too small for any DCI envelope",
                p.max_body_bytes
            );
        }
        if p.switch != "simulator" {
            bail!(
                "pay.switch '{}' is not a switch spx has (simulator)",
                p.switch
            );
        }
        Ok(pay::PayConfig {
            sync_wait: std::time::Duration::from_millis(p.sync_wait_ms),
            switch_batch: p.switch_batch as usize,
            switch_concurrency: p.switch_concurrency as usize,
            first_retry: std::time::Duration::from_millis(p.first_retry_ms.max(1)),
            max_retry: std::time::Duration::from_secs(p.max_retry_secs.max(1)),
            max_status_items: p.max_status_items as usize,
        })
    }

    /// The payment switch simulator's settings (`[pay] simulator_*`).
    pub fn simulator(&self) -> Result<pay::switch::SimulatorConfig> {
        let p = &self.pay;
        for (name, rate) in [
            ("pay.simulator_failure_rate", p.simulator_failure_rate),
            ("pay.simulator_timeout_rate", p.simulator_timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                bail!("{name} ({rate}) must be between 0 and 1");
            }
        }
        let failure_kinds = p
            .simulator_failure_kinds
            .iter()
            .map(|name| {
                pay::switch::FailureKind::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = pay::switch::FailureKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect();
                    anyhow!(
                        "pay.simulator_failure_kinds: '{name}' is not one of {}",
                        known.join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(pay::switch::SimulatorConfig {
            latency: std::time::Duration::from_millis(p.simulator_latency_ms),
            failure_rate: p.simulator_failure_rate,
            failure_kinds,
            timeout_rate: p.simulator_timeout_rate,
            seed: p.simulator_seed,
        })
    }

    /// The engine's settings for the payments service: those of any service, with the
    /// batch and body limits of `[pay]`.
    pub fn pay_engine(&self) -> registry::RegistryConfig {
        let mut engine = self.registry(pay::ROLE);
        engine.header.max_batch_size = self.pay.max_batch_size as usize;
        engine.max_body_bytes = self.pay.max_body_bytes as usize;
        engine
    }
}

fn overlay(base: &mut toml::Value, top: toml::Value) {
    match (base, top) {
        (toml::Value::Table(base), toml::Value::Table(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(existing) => overlay(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

/// Sets `keys` in `merged` to `value`, typed like the same setting in `defaults`.
fn set_from_env(
    merged: &mut toml::Value,
    defaults: &toml::Value,
    keys: &[String],
    value: &str,
) -> Result<()> {
    let mut default = defaults;
    let mut target = merged;
    for key in keys {
        default = default
            .get(key)
            .ok_or_else(|| anyhow!("'{}' is not a setting", keys.join(".")))?;
        target = target
            .as_table_mut()
            .ok_or_else(|| anyhow!("'{}' is not a setting", keys.join(".")))?
            .entry(key.clone())
            .or_insert_with(|| default.clone());
    }
    *target = match default {
        toml::Value::String(_) => toml::Value::String(value.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| anyhow!("'{value}' is not a whole number"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(
            value
                .trim()
                .parse()
                .map_err(|_| anyhow!("'{value}' is not true or false"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            value
                .trim()
                .parse()
                .map_err(|_| anyhow!("'{value}' is not a number"))?,
        ),
        _ => bail!("'{}' is a section, not a setting", keys.join(".")),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("spx-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("spx.toml");
        std::fs::write(
            &file,
            "[service]\nlisten = \"127.0.0.1:9000\"\n[limits]\nmax_batch_size = 50\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[("SPX__LIMITS__MAX_BATCH_SIZE", "7"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(config.service.listen, "127.0.0.1:9000");
        assert_eq!(config.limits.max_batch_size, 7);
        assert_eq!(config.limits.max_page_size, Limits::default().max_page_size);
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = Config::load(None, env(&[("SPX__LIMITS__MAX_BATCH", "7")])).unwrap_err();
        assert!(
            format!("{unknown:#}").contains("SPX__LIMITS__MAX_BATCH"),
            "{unknown:#}"
        );
        let not_a_number =
            Config::load(None, env(&[("SPX__LIMITS__MAX_BATCH_SIZE", "many")])).unwrap_err();
        assert!(format!("{not_a_number:#}").contains("not a whole number"));
        let mut config = Config::default();
        config.limits.default_page_size = 5000;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("default_page_size")
        );
        config = Config::default();
        config.service.database_url = "mysql://x".into();
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("postgres://")
        );
        config = Config::default();
        config.service.listen = "localhost".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_documented_file_matches_the_defaults() {
        // spx.toml at the repository root documents every setting with its default.
        let documented: Config = toml::from_str(include_str!("../../../spx.toml")).unwrap();
        assert_eq!(documented, Config::default());
    }
}
