//! Test support: backends, a registry on a random port loaded with a generated population,
//! and request helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use libtest_mimic::Failed;
use registry::{Registry, RegistryConfig};
use serde_json::{Value, json};
use store::StoreConfig;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("SPX_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string())
}

/// Whether CI demands the PostgreSQL suite.
pub fn postgres_required() -> bool {
    std::env::var("SPX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// The admin URL when a PostgreSQL server answers there, or why not.
pub fn postgres_availability() -> Result<String, String> {
    let url = admin_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match tokio::time::timeout(
            Duration::from_secs(3),
            tokio_postgres::connect(&url, tokio_postgres::NoTls),
        )
        .await
        {
            Ok(Ok(_)) => Ok(url.clone()),
            Ok(Err(e)) => Err(format!("cannot connect to {url}: {e}")),
            Err(_) => Err(format!("no answer from {url} within 3 s")),
        }
    })
}

/// Runs `test` on `backend` in a runtime of its own, and reports a failure with its causes.
pub fn run(backend: Backend, test: fn(Backend) -> Result<()>) -> Result<(), Failed> {
    test(backend).map_err(|e| format!("{e:#}").into())
}

/// A runtime like the server's: two workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("spx-it-{label}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh PostgreSQL database, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin = admin_url();
        let name = format!("spx_test_{}", uuid::Uuid::now_v7().simple());
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let config: tokio_postgres::Config = admin.parse()?;
        let mut url = format!("postgres://{}@", config.get_user().unwrap_or("postgres"));
        match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => url.push_str(host),
            _ => url.push_str("127.0.0.1"),
        }
        url.push_str(&format!(
            ":{}/{name}",
            config.get_ports().first().copied().unwrap_or(5432)
        ));
        Ok(TestDatabase { url, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Dropped outside the test's runtime, which may be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Where a test's store lives; keeps it alive for the test.
pub enum Place {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Place {
    pub async fn new(backend: Backend) -> Result<Self> {
        Ok(match backend {
            Backend::Sqlite => Place::Sqlite(TempDir::new("store")),
            Backend::Postgres => Place::Postgres(TestDatabase::create().await?),
        })
    }

    pub fn config(&self) -> StoreConfig {
        match self {
            Place::Sqlite(dir) => StoreConfig {
                sqlite_path: dir.0.join("social.db"),
                sqlite_readers: 2,
                database_url: None,
                postgres_pool_size: 4,
            },
            Place::Postgres(db) => StoreConfig {
                sqlite_path: PathBuf::new(),
                sqlite_readers: 2,
                database_url: Some(db.url.clone()),
                postgres_pool_size: 4,
            },
        }
    }
}

/// The population every search test shares: generated once, written once (with the
/// marriages the civil registry loads, the disability registrations, the farms and the
/// beneficiary registry's programmes, enrolments and benefits).
pub struct Fixture {
    pub data: synth::Dataset,
    pub files: Vec<PathBuf>,
    _dir: TempDir,
}

impl std::ops::Deref for Fixture {
    type Target = synth::Dataset;

    fn deref(&self) -> &synth::Dataset {
        &self.data
    }
}

/// Living people in the shared population.
pub const PEOPLE: usize = 3000;

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = synth::Dataset::generate(&synth::Config {
            people: PEOPLE,
            seed: 11,
            today: time::OffsetDateTime::now_utc().date(),
        });
        let dir = TempDir::new("population");
        let files = data
            .write(&dir.0, synth::Format::Csv)
            .expect("write population");
        Fixture {
            data,
            files,
            _dir: dir,
        }
    })
}

/// The settings tests run the registry with.
pub fn registry_config() -> RegistryConfig {
    RegistryConfig {
        service_id: "social.test".into(),
        header: dci::validate::HeaderPolicy {
            service_id: "social.test".into(),
            max_batch_size: 5,
            max_future_skew: time::Duration::minutes(5),
            max_age: time::Duration::hours(24),
        },
        search: registry::search::SearchLimits {
            max_page_size: 500,
            default_page_size: 50,
            sync_budget: None,
        },
        max_body_bytes: 64 * 1024,
        updates: registry::UpdateLimits {
            max_items: 10_000,
            max_body_bytes: 32 * 1024 * 1024,
        },
        callback_url_prefixes: vec!["http://127.0.0.1:".into()],
        dispatch: dispatch::DispatchConfig {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            request_timeout: Duration::from_secs(2),
            breaker_cooldown: Duration::from_millis(500),
            max_attempts: 4,
            ..dispatch::DispatchConfig::default()
        },
        retention: Duration::from_secs(86_400),
        trust: None,
        imports: None,
    }
}

/// A social registry loaded with the shared population, serving on a random port.
pub struct TestRegistry {
    pub addr: SocketAddr,
    pub store: Arc<dyn store::Store>,
    pub registry: Arc<Registry>,
    pub client: reqwest::Client,
    _place: Place,
}

impl TestRegistry {
    pub async fn spawn(backend: Backend) -> Result<Self> {
        Self::spawn_with(backend, registry_config()).await
    }

    /// The same, with other settings.
    pub async fn spawn_with(backend: Backend, config: RegistryConfig) -> Result<Self> {
        Self::spawn_profile(backend, &registry::social::PROFILE, config).await
    }

    /// The registry of `profile` under the participant id `service_id`, loaded with the
    /// shared population.
    pub async fn spawn_as(
        backend: Backend,
        profile: &'static registry::Profile,
        service_id: &str,
    ) -> Result<Self> {
        let mut config = registry_config();
        config.service_id = service_id.into();
        config.header.service_id = service_id.into();
        Self::spawn_profile(backend, profile, config).await
    }

    /// The registry of `profile`, loaded with the shared population.
    pub async fn spawn_profile(
        backend: Backend,
        profile: &'static registry::Profile,
        config: RegistryConfig,
    ) -> Result<Self> {
        Self::spawn_store(backend, profile, config, true).await
    }

    /// The registry of `profile` with an empty store.
    pub async fn spawn_empty(
        backend: Backend,
        profile: &'static registry::Profile,
        config: RegistryConfig,
    ) -> Result<Self> {
        Self::spawn_store(backend, profile, config, false).await
    }

    async fn spawn_store(
        backend: Backend,
        profile: &'static registry::Profile,
        config: RegistryConfig,
        loaded: bool,
    ) -> Result<Self> {
        let place = Place::new(backend).await?;
        let store = registry::open_store(profile, &place.config()).await?;
        if loaded {
            let files = registry::import::ImportFiles::classify(&fixture().files)?;
            registry::import::import(profile.role, store.as_ref(), &files, &Default::default())
                .await?;
        }
        let registry = Registry::start(profile, store.clone(), config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, registry::http::router(registry.clone())).into_future());
        Ok(TestRegistry {
            addr,
            store,
            registry,
            client: reqwest::Client::new(),
            _place: place,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A second node serving the same store (as `spx serve` on another machine would, on the
    /// same PostgreSQL database): its own store handle, worker, notifier and dispatcher.
    pub async fn another_node(&self) -> Result<SocketAddr> {
        let profile = self.registry.profile;
        let store = registry::open_store(profile, &self._place.config()).await?;
        let registry = Registry::start(profile, store, self.registry.config.clone()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, registry::http::router(registry)).into_future());
        Ok(addr)
    }

    /// Posts `body` to `path`; returns the HTTP status and the JSON answer.
    pub async fn search_at(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        post_json(&self.client, &self.url(path), body).await
    }

    /// Tells the dispatcher to look at the outbox now.
    pub fn wake_dispatcher(&self) {
        self.registry.dispatcher.wake();
    }

    /// Posts `body` to the sync search endpoint; returns the HTTP status and the JSON answer.
    pub async fn search(&self, body: &Value) -> Result<(u16, Value)> {
        post_json(&self.client, &self.url("/registry/sync/search"), body).await
    }

    /// A search envelope addressed to this registry, one item per criteria.
    pub fn search_body(&self, criteria: Vec<Value>) -> Value {
        let mut body = envelope(criteria);
        body["header"]["receiver_id"] = json!(self.registry.config.service_id);
        body
    }

    /// The answer to a one-item search, whatever its status (the message must be served).
    pub async fn item(&self, criteria: Value) -> Result<Value> {
        let (status, body) = self.search(&self.search_body(vec![criteria])).await?;
        if status != 200 {
            return Err(anyhow!("HTTP {status}: {body}"));
        }
        Ok(body["message"]["search_response"][0].clone())
    }

    /// The answers to a search item per criteria, whatever their status, sent in as many
    /// messages as the registry's batch limit needs.
    pub async fn items(&self, criteria: Vec<Value>) -> Result<Vec<Value>> {
        let mut items = Vec::with_capacity(criteria.len());
        for batch in criteria.chunks(self.registry.config.header.max_batch_size) {
            let (status, body) = self.search(&self.search_body(batch.to_vec())).await?;
            let answers = body["message"]["search_response"].as_array();
            match answers {
                Some(answers) if status == 200 => items.extend(answers.iter().cloned()),
                _ => return Err(anyhow!("HTTP {status}: {body}")),
            }
        }
        Ok(items)
    }

    /// Searches with one item of `criteria` and returns that item's answer, which must be `succ`.
    pub async fn one(&self, criteria: Value) -> Result<Value> {
        let item = self.item(criteria).await?;
        if item["status"] != "succ" {
            return Err(anyhow!("expected a successful item, got {item}"));
        }
        Ok(item)
    }

    /// How many records of `record_type` match `query` of `query_type`.
    pub async fn count(&self, record_type: &str, query_type: &str, query: Value) -> Result<i64> {
        let item = self
            .one(
                json!({"reg_record_type": record_type, "query_type": query_type, "query": query,
                        "pagination": {"page_size": 1, "page_number": 1}}),
            )
            .await?;
        item["pagination"]["total_count"]
            .as_i64()
            .ok_or_else(|| anyhow!("no total_count: {item}"))
    }
}

/// Checks that search `items` are rejected without data, in order, each with the code and a
/// message containing the text of `expected`, and that there are as many.
pub fn rejected_as(items: &[Value], expected: &[(&str, &str)]) -> Result<()> {
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["status_reason_code"].as_str().unwrap_or("succ"),
                i["status_reason_message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    anyhow::ensure!(got.len() == expected.len(), "{got:?}");
    for ((code, message), (want_code, want_message)) in got.iter().zip(expected) {
        anyhow::ensure!(
            code == want_code && message.contains(want_message),
            "got {got:?}"
        );
    }
    anyhow::ensure!(
        items
            .iter()
            .all(|i| i["status"] == "rjct" && i.get("data").is_none()),
        "{items:?}"
    );
    Ok(())
}

/// A text expression, as the `query` of an `expression` search.
pub fn text(expression: &str) -> Value {
    json!({"type": "ns:org:QueryType:text", "value": {"expression": expression}})
}

/// The criteria of an `idtype-value` search of `record_type`s.
pub fn by_id(record_type: &str, kind: &str, value: &str) -> Value {
    json!({"reg_record_type": record_type, "query_type": "idtype-value", "query": {"type": kind, "value": value}})
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Result<(u16, Value)> {
    post_json_with(client, url, body, None).await
}

/// [`post_json`] with `Authorization: Bearer token` when a token is given.
pub async fn post_json_with(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    token: Option<&str>,
) -> Result<(u16, Value)> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.context("request")?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let json = serde_json::from_str(&text)
        .with_context(|| format!("HTTP {status}, body is not JSON: {text}"))?;
    Ok((status, json))
}

/// A request envelope with one search item per criteria, `reference_id`s "1", "2", ...
pub fn envelope(criteria: Vec<Value>) -> Value {
    let now = dci::Timestamp::now().to_string();
    let items: Vec<Value> = criteria
        .into_iter()
        .enumerate()
        .map(|(i, c)| json!({"reference_id": (i + 1).to_string(), "timestamp": now, "search_criteria": c, "locale": "eng"}))
        .collect();
    json!({
        "signature": "",
        "header": {"version": "1.0.0", "message_id": uuid::Uuid::now_v7().to_string(), "message_ts": now,
                   "action": "search", "sender_id": "spmis.test", "receiver_id": "social.test", "total_count": items.len()},
        "message": {"transaction_id": "txn-1", "search_request": items}
    })
}

/// The identifier values of the records of a search item (`HHID` of groups, `UIN` of members).
pub fn record_ids(item: &Value) -> Vec<String> {
    item["data"]["reg_records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| {
                    let ids = if r["@type"] == "Group" {
                        &r["group_identifier"]
                    } else {
                        &r["member_identifier"]
                    };
                    ids[0]["identifier_value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whole years from `birth` to `today`, counted independently of the registry's lowering
/// (a Feb 29 birthday comes on Mar 1 in other years).
pub fn age(birth: time::Date, today: time::Date) -> i32 {
    let mut years = today.year() - birth.year();
    if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years
}

/// The UIN of some living member of the shared population.
pub fn living_uin() -> String {
    fixture()
        .population
        .persons
        .iter()
        .find(|p| p.household_id.is_some())
        .expect("a living person")
        .uin
        .clone()
}

/// A callback receiver for tests: records every body it is sent, answers with an ACK, or with
/// 503 while `failing` is set.
pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Value>>>,
    failing: Arc<AtomicBool>,
}

impl Sink {
    pub async fn start() -> Result<Self> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (store, fail) = (received.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (store, fail) = (store.clone(), fail.clone());
                async move {
                    if fail.load(Ordering::SeqCst) {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"errors": []})));
                    }
                    store.lock().unwrap().push(body);
                    let ack = json!({"message": {"ack_status": "ACK", "timestamp": dci::Timestamp::now().to_string(), "correlation_id": "sink"}});
                    (axum::http::StatusCode::OK, axum::Json(ack))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, app).into_future());
        Ok(Sink {
            addr,
            received,
            failing,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/registry/on-search", self.addr)
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received, or `timeout`.
    pub async fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return Ok(received);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(anyhow!(
                    "timed out with {} callbacks received",
                    received.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An async search envelope (one item per criteria) whose callbacks go to `callback`.
/// A `multipart/form-data` body of `parts` (field name, file name, content): its
/// Content-Type and bytes.
pub fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("spx-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        let file = filename.map_or(String::new(), |f| format!("; filename=\"{f}\""));
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts a `multipart/form-data` body of `parts` to `url`; the HTTP status and JSON answer.
pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Result<(u16, Value)> {
    let (content_type, body) = form(parts);
    let response = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

pub fn async_envelope(criteria: Vec<Value>, callback: &str) -> Value {
    let mut body = envelope(criteria);
    body["header"]["sender_uri"] = json!(callback);
    body["message"]["transaction_id"] = json!(format!("txn-{}", uuid::Uuid::now_v7()));
    body
}

/// Asks `base`'s token endpoint for a token of `client_id` (client credentials); the HTTP
/// status and the JSON answer.
pub async fn token_answer(base: &str, client_id: &str, secret: &str) -> Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/client/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        ))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// An access token of `client_id` at `base`.
pub async fn token(base: &str, client_id: &str, secret: &str) -> Result<String> {
    let (status, answer) = token_answer(base, client_id, secret).await?;
    anyhow::ensure!(status == 200, "token refused: {answer}");
    Ok(answer["access_token"]
        .as_str()
        .context("access_token")?
        .to_string())
}

/// Serves `app` on `listener` until the sender is used (a graceful shutdown: its
/// connections are closed, so the address stops answering); the task ends then.
pub fn serve_until_stopped(
    app: axum::Router,
    listener: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, server)
}

/// The first column of the rows `sql` reads from `store`, as text (empty when not text).
pub async fn texts(store: &dyn store::Store, sql: &str) -> Result<Vec<String>> {
    let rows = store
        .read(vec![store::Statement::new(
            sql,
            vec![],
            &[store::ColumnType::Text],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .map(|row| match row.first() {
            Some(Some(store::SqlValue::Text(text))) => text.clone(),
            _ => String::new(),
        })
        .collect())
}
