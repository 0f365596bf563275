//! `spx bench`: workloads measured over real HTTP on loopback, each printed beside the same
//! run's reference, so the ratio is what we track: `search` (sync searches under load and
//! unloaded) and `async` (async searches: ACKs, then callbacks to a `client::Receiver`) beside
//! a bare axum JSON echo; `notify` (one event to many subscriptions) beside posts straight to
//! the subscribers; `pay` (a payment cycle, reconciled) beside the store's floor for the same
//! writes; `import` (the social registry's import) beside a raw load of the same rows.
//!
//! Client and server share the machine's cores, as on a single 2-core node: the figures are a
//! floor for a server with cores of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::post;
use clap::Args;
use client::{Client, Receiver, ReceiverConfig, SearchItem};
use dci::Action;
use serde_json::{Value, json};
use store::{ColumnType, SqlValue, Statement};

use crate::config::Config;
use crate::service;

mod import;
mod notify;
mod pay;

/// Options of `spx bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The workload: `search` (sync identifier and expression search), `async` (async
    /// searches by UIN answered by callbacks), `notify` (one event fanned out to many
    /// subscriptions, some of them black-holed), `pay` (a payment cycle through the mapper
    /// and the switch simulator, reconciled) or `import` (the social registry's import of the
    /// population's files, beside a raw load of the same rows).
    #[arg(default_value = "search")]
    pub workload: String,
    /// Living people in the generated registry.
    #[arg(long, default_value_t = 1_000_000)]
    pub people: usize,
    /// Seed of the population.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the benchmark keeps its store (reused when people and seed match).
    #[arg(long, default_value = "spx-bench")]
    pub data_dir: PathBuf,
    /// Seconds of load per workload.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections under load.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Sequential requests for the unloaded latency (a tenth as many of the 1,000-UIN batches
    /// and of the search no index serves).
    #[arg(long, default_value_t = 1000)]
    pub unloaded: usize,
    /// PostgreSQL instead of the embedded store (an empty database; it is loaded once).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Subscriptions the `notify` workload fans one event out to.
    #[arg(long, default_value_t = 10_000)]
    pub subscriptions: usize,
    /// Share of those subscriptions whose subscriber never answers (`notify` workload).
    #[arg(long, default_value_t = 0.1)]
    pub black_holed: f64,
    /// Async searches sent by the `async` workload.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Async searches started per second by the `async` workload (default: as fast as the
    /// connections go).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Payments in the `pay` workload's cycle.
    #[arg(long, default_value_t = 100_000)]
    pub payments: usize,
    /// Payments (and mapper items) per message of the `pay` workload.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Share of payments the switch simulator fails for good (`pay` workload).
    #[arg(long, default_value_t = 0.03)]
    pub failure_rate: f64,
    /// Milliseconds each call to the switch simulator takes (`pay` workload).
    #[arg(long, default_value_t = 20)]
    pub switch_latency_ms: u64,
}

const SENDER: &str = "bench.spx.local";

/// Identifiers in one request of the batch workload.
const BATCH_IDS: usize = 1_000;

/// Makes the `i`-th request body of a workload.
type MakeRequest = Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>;

/// A sync search envelope of one item, serialised.
fn search_body(client: &Client, item: SearchItem) -> Vec<u8> {
    let envelope = client.envelope(
        Action::Search,
        1,
        None,
        Client::search_request(vec![item], None),
    );
    serde_json::to_vec(&envelope).expect("a search envelope serialises")
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs, mut config: Config) -> Result<()> {
    if !["search", "async", "notify", "pay", "import"].contains(&args.workload.as_str()) {
        bail!(
            "unknown workload '{}'; available: search, async, notify, pay, import",
            args.workload
        );
    }
    if args.workload == "pay" {
        return pay::run(&args, config).await;
    }
    if args.workload == "import" {
        return import::run(&args, config).await;
    }
    let profile = &registry::social::PROFILE;
    config.service.data_dir = args.data_dir.clone();
    config.service.listen = "127.0.0.1:0".into();
    // One token serves the whole run, however long a slow machine makes it.
    config.trust.token_lifetime_seconds = config.trust.token_lifetime_seconds.max(86_400);
    // The bench signs some of its load with keys of its own, published by the echo server:
    // with `log`, signed requests are verified and unsigned ones served (responses and
    // callbacks are signed either way, as in production).
    let requester = bench_signer(&args.data_dir)?;
    let echo = start_echo(&requester).await?;
    if let Some(url) = &args.database_url {
        config.service.database_url = url.clone();
    }
    config.validate()?;
    let running = service::start(profile, &config).await?;
    load_population(&args, &running).await?;
    let samples = sample_uins(&running).await?;
    let registry = format!("http://{}/registry/sync/search", running.addr);
    let (secret, token) = admit(&running, &requester).await?;
    let client = Client::new(
        format!("http://{}", running.addr),
        SENDER,
        Some(&config.service_id("social")),
    )
    .with_credentials(SENDER, &secret);
    BEARER.set(token).ok();
    if args.workload == "notify" {
        return notify::run(&args, &running, &client).await;
    }
    if args.workload == "async" {
        return run_async(&args, &running, &client, &samples, echo).await;
    }
    println!(
        "spx bench search: {} people, store {}, {} connections for {} s per workload, {} sequential requests unloaded; {} cores shared by client and server",
        args.people,
        running.store,
        args.concurrency,
        args.seconds,
        args.unloaded,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let uin_request = uin_request(&client, &samples);
    let expression_request = {
        let client = client.clone();
        move |i: usize| {
            let region = format!("R{:02}", i % 10 + 1);
            let query = json!({"$and": [{"poverty_score": {"$lte": 30}}, {"region_code": region},
                {"group_size": {"$gte": 5}}, {"group_size": {"$lte": 7}}]});
            let item = SearchItem::by_expression("Group", query)
                .sort("poverty_score", false)
                .page(20, 1);
            search_body(&client, item)
        }
    };
    // No index serves it: every member is read to count the matches.
    let worst_item = || {
        let query = json!({"$and": [{"employment_status": "2"}, {"relationship_to_head": "DAU"}]});
        SearchItem::by_expression("Member", query).page(20, 1)
    };
    let worst_request = {
        let client = client.clone();
        move |_: usize| search_body(&client, worst_item())
    };
    let batch_request = {
        let (client, samples) = (client.clone(), samples.clone());
        move |i: usize| {
            let uins: Vec<&String> = (0..BATCH_IDS)
                .map(|k| &samples[(i * BATCH_IDS + k) % samples.len()])
                .collect();
            let item = SearchItem::by_expression("Member", json!({"uin": {"$in": uins}}))
                .page(BATCH_IDS as i64, 1);
            search_body(&client, item)
        }
    };
    let signed_uin_request = Arc::new(signed(uin_request.clone(), requester.clone()));
    // Each workload's name, URL, requests, and the identifiers each request resolves (none:
    // a reference, which the rows after it are compared with). The signed lookups have a
    // reference of their own, the echo of the same signed bodies, so that the client's work
    // of signing each request counts on both sides of the comparison. Last, the sequential
    // requests for the unloaded latency: a tenth as many for a batch (a thousand records) and
    // for a search no index serves (it reads every member).
    let (all, tenth) = (args.unloaded, args.unloaded.div_ceil(10));
    let workloads: Vec<(&str, String, MakeRequest, Option<usize>, usize)> = vec![
        (
            "reference: axum JSON echo",
            format!("http://{echo}/echo"),
            Arc::new(uin_request.clone()),
            None,
            all,
        ),
        (
            "sync search by UIN (Member)",
            registry.clone(),
            Arc::new(uin_request.clone()),
            Some(1),
            all,
        ),
        (
            "sync search of 1,000 UINs (uin $in, page 1,000)",
            registry.clone(),
            Arc::new(batch_request),
            Some(BATCH_IDS),
            tenth,
        ),
        (
            "expression search (Group, page 20, total_count)",
            registry.clone(),
            Arc::new(expression_request),
            Some(0),
            all,
        ),
        (
            "reference: axum JSON echo of signed requests",
            format!("http://{echo}/echo"),
            signed_uin_request.clone(),
            None,
            all,
        ),
        (
            "sync search by UIN, signed and verified",
            registry.clone(),
            signed_uin_request,
            Some(1),
            all,
        ),
        // Last: its searches hold both cores for seconds, which a reference after it would
        // share.
        (
            "expression search, no index (Member, page 20, total_count)",
            registry,
            Arc::new(worst_request),
            Some(0),
            tenth,
        ),
    ];
    println!(
        "{:<50} {:>10} {:>9} {:>9} {:>9} | {:>9} {:>9}",
        "workload", "req/s", "p50 ms", "p90 ms", "p99 ms", "idle p50", "idle p99"
    );
    let mut reference = f64::NAN;
    for (name, url, make, ids, unloaded) in workloads {
        let idle = measure(&url, make.clone(), 1, Duration::ZERO, Some(unloaded)).await?;
        let loaded = measure(
            &url,
            make,
            args.concurrency,
            Duration::from_secs(args.seconds),
            None,
        )
        .await?;
        let throughput = loaded.throughput();
        let mut note = match ids {
            None => {
                reference = throughput;
                String::new()
            }
            Some(ids) => {
                let resolved = match ids {
                    0 | 1 => String::new(),
                    ids => format!(", {:.0} IDs/s", throughput * ids as f64),
                };
                format!(
                    " ({:.0}% of echo){resolved}",
                    100.0 * throughput / reference
                )
            }
        };
        let over_budget = idle.over_budget + loaded.over_budget;
        if over_budget > 0 {
            note += &format!(
                "; {over_budget} of {} refused over the sync budget (504 err.request.timeout)",
                idle.latencies_ms.len() + loaded.latencies_ms.len()
            );
        }
        println!(
            "{:<50} {:>10.0} {:>9.2} {:>9.2} {:>9.2} | {:>9.2} {:>9.2}{note}",
            name,
            throughput,
            loaded.percentile(50.0),
            loaded.percentile(90.0),
            loaded.percentile(99.0),
            idle.percentile(50.0),
            idle.percentile(99.0)
        );
    }
    let (took, answer) = answered_async(&client, worst_item()).await?;
    println!(
        "expression search, no index, sent async: callback {:.0} ms after the ACK, status {}, total_count {}",
        ms(took),
        answer["status"],
        answer["pagination"]["total_count"]
    );
    Ok(())
}

/// Sends `item` as an async search and waits for its callback: the time from the ACK to the
/// callback, and the callback's answer to the item.
async fn answered_async(client: &Client, item: SearchItem) -> Result<(Duration, Value)> {
    let (receiver, _) = Receiver::bind("127.0.0.1:0".parse()?).await?;
    let (mut callbacks, url) = on_search_callbacks(&receiver)?;
    let transaction_id = uuid::Uuid::now_v7().to_string();
    client.search_in(&transaction_id, vec![item], &url).await?;
    let accepted = Instant::now();
    let callback = tokio::time::timeout(Duration::from_secs(600), callbacks.recv())
        .await
        .context("no callback within 10 minutes")?
        .context("the receiver stopped")?;
    let took = accepted.elapsed();
    receiver.shutdown();
    Ok((took, callback.message["search_response"][0].clone()))
}

/// The callbacks a serving `receiver` gets, and the URL of its `on-search` endpoint.
fn on_search_callbacks(
    receiver: &Receiver,
) -> Result<(tokio::sync::mpsc::Receiver<client::Callback>, String)> {
    let callbacks = receiver
        .take_callbacks()
        .context("the receiver's channel")?;
    let url = receiver
        .callback_url("/registry/on-search")
        .context("the receiver's URL")?;
    Ok((callbacks, url))
}

/// The `i`-th sync search by UIN, over the sampled UINs.
fn uin_request(
    client: &Client,
    samples: &Arc<Vec<String>>,
) -> impl Fn(usize) -> Vec<u8> + Clone + use<> {
    let (client, samples) = (client.clone(), samples.clone());
    move |i: usize| search_body(&client, uin_item(&samples[i % samples.len()]))
}

fn uin_item(uin: &str) -> SearchItem {
    SearchItem::by_identifier("Member", "UIN", uin).reg_type("ns:org:RegistryType:Social")
}

/// One async search as the `async` workload saw it.
struct Sent {
    transaction_id: String,
    sent: Instant,
    accepted: Instant,
}

/// The `async` workload: `args.requests` async searches by UIN from `args.concurrency`
/// connections, each answered by an `on-search` callback to a `client::Receiver` on loopback.
async fn run_async(
    args: &BenchArgs,
    running: &service::Running,
    client: &Client,
    samples: &Arc<Vec<String>>,
    echo: std::net::SocketAddr,
) -> Result<()> {
    let requests = args.requests.max(1);
    let receiver = Receiver::new(ReceiverConfig {
        channel_capacity: requests.max(1024),
        // Nobody waits by transaction here: the channel gets every callback.
        max_kept_callbacks: 1,
        ..ReceiverConfig::default()
    });
    let receiver_addr = receiver.serve("127.0.0.1:0".parse()?).await?;
    let (mut callbacks, callback_url) = on_search_callbacks(&receiver)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pace = args.rate.filter(|r| *r > 0.0);
    println!(
        "spx bench async: {} people, store {}, {requests} async searches by UIN from {} connections{}, callbacks to a client::Receiver on {receiver_addr}; references for {} s each; {cores} cores shared by client, server and receiver",
        args.people,
        running.store,
        args.concurrency,
        pace.map(|r| format!(" at {r:.0}/s")).unwrap_or_default(),
        args.seconds,
    );
    println!(
        "{:<50} {:>10} {:>9} {:>9} {:>9}",
        "workload", "per s", "p50 ms", "p90 ms", "p99 ms"
    );
    let uin_request = uin_request(client, samples);
    let echo_figures = measure(
        &format!("http://{echo}/echo"),
        Arc::new(uin_request.clone()),
        args.concurrency,
        Duration::from_secs(args.seconds),
        None,
    )
    .await?;
    let reference = echo_figures.throughput();
    let of_echo = |rate: f64| format!(" ({:.0}% of echo)", 100.0 * rate / reference);
    let row = |name: &str, rate: f64, figures: &Measured, note: String| {
        println!(
            "{name:<50} {rate:>10.0} {:>9.2} {:>9.2} {:>9.2}{note}",
            figures.percentile(50.0),
            figures.percentile(90.0),
            figures.percentile(99.0),
        );
    };
    row(
        "reference: axum JSON echo",
        reference,
        &echo_figures,
        String::new(),
    );
    let sync = measure(
        &format!("http://{}/registry/sync/search", running.addr),
        Arc::new(uin_request),
        args.concurrency,
        Duration::from_secs(args.seconds),
        None,
    )
    .await?;
    row(
        "reference: sync search by UIN (Member)",
        sync.throughput(),
        &sync,
        of_echo(sync.throughput()),
    );

    // Callbacks are timed as they come off the receiver's channel.
    let collector = tokio::spawn(async move {
        let mut arrived: HashMap<String, (Instant, bool)> = HashMap::with_capacity(requests);
        while arrived.len() < requests {
            let Some(callback) = callbacks.recv().await else {
                break;
            };
            let at = Instant::now();
            let item = &callback.message["search_response"][0];
            let found = item["status"] == "succ"
                && item["data"]["reg_records"]
                    .as_array()
                    .is_some_and(|records| !records.is_empty());
            if let Some(txn) = callback.transaction_id() {
                arrived.entry(txn.to_string()).or_insert((at, found));
            }
        }
        arrived
    });

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, samples, next, callback_url) = (
            client.clone(),
            samples.clone(),
            next.clone(),
            callback_url.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                if let Some(rate) = pace {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let transaction_id = uuid::Uuid::now_v7().to_string();
                let at = Instant::now();
                let item = uin_item(&samples[i % samples.len()]);
                client
                    .search_in(&transaction_id, vec![item], &callback_url)
                    .await
                    .with_context(|| format!("async search {i}"))?;
                sent.push(Sent {
                    transaction_id,
                    sent: at,
                    accepted: Instant::now(),
                });
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = Vec::with_capacity(requests);
    for worker in workers {
        sent.extend(worker.await??);
    }
    let last_accept = sent.iter().map(|s| s.accepted).max().unwrap_or(started);
    let first_accept = sent.iter().map(|s| s.accepted).min().unwrap_or(started);
    let accept_rate = requests as f64 / (last_accept - started).as_secs_f64();
    let acks = Measured::new(
        sent.iter().map(|s| ms(s.accepted - s.sent)).collect(),
        last_accept - started,
    );
    row(
        "async search: accepted (ACK)",
        accept_rate,
        &acks,
        of_echo(accept_rate),
    );

    // Generous: every callback should be in long before.
    let patience = Duration::from_secs(60 + requests as u64 / 100);
    let arrived = match tokio::time::timeout(patience, collector).await {
        Ok(arrived) => arrived?,
        Err(_) => bail!("not every callback arrived within {patience:?}"),
    };
    let last_callback = arrived
        .values()
        .map(|(at, _)| *at)
        .max()
        .unwrap_or(last_accept);
    let latency = Measured::new(
        sent.iter()
            .filter_map(|s| {
                let (at, _) = arrived.get(&s.transaction_id)?;
                Some(ms(at.saturating_duration_since(s.accepted)))
            })
            .collect(),
        last_callback - first_accept,
    );
    let delivery_rate = arrived.len() as f64 / latency.elapsed.as_secs_f64();
    row(
        "async search: callbacks (accept → callback)",
        delivery_rate,
        &latency,
        String::new(),
    );
    let found = arrived.values().filter(|(_, found)| *found).count();
    let answered = sent
        .iter()
        .filter(|s| arrived.contains_key(&s.transaction_id))
        .count();
    println!(
        "{answered} of {requests} transactions answered by a callback ({found} found their person); accepts in {:.2} s, last callback {:.2} s after the first accept",
        acks.elapsed.as_secs_f64(),
        latency.elapsed.as_secs_f64()
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let latency_target = verdict(latency.percentile(99.0) <= 1000.0);
    match pace {
        None => println!(
            "targets: accepts >= 5,000/s {}; callbacks >= 2,000/s {}; accept -> callback p99 <= 1 s {latency_target}",
            verdict(accept_rate >= 5000.0),
            verdict(delivery_rate >= 2000.0),
        ),
        // Paced, the rates are the pace: only the latency says something.
        Some(rate) => println!(
            "target: accept -> callback p99 <= 1 s {latency_target} at {rate:.0}/s (the throughput targets are measured without --rate)"
        ),
    }
    if answered != requests || found != requests {
        bail!(
            "{} callbacks missing, {} searches found no one",
            requests - answered,
            answered - found
        );
    }
    receiver.shutdown();
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Generates and imports the population, unless the store already holds it.
async fn load_population(args: &BenchArgs, running: &service::Running) -> Result<()> {
    let store = running.registry.store.as_ref();
    let count = store
        .read(vec![Statement::new(
            "SELECT count(*) FROM person",
            vec![],
            &[ColumnType::Integer],
        )])
        .await?;
    let have = match count[0].first().and_then(|row| row.first()) {
        Some(Some(SqlValue::Integer(n))) => *n as usize,
        _ => 0,
    };
    if have == args.people {
        println!("reusing the {have} people in {}", running.store);
        return Ok(());
    }
    if have != 0 {
        bail!(
            "{} holds {have} people, not {}: use another --data-dir or an empty database",
            running.store,
            args.people
        );
    }
    let config = synth::Config {
        people: args.people,
        seed: args.seed,
        today: time::OffsetDateTime::now_utc().date(),
    };
    let done = service::populate(
        store,
        &[],
        |dir| synth::write(&synth::generate(&config), dir, synth::Format::Csv),
        &args.data_dir,
    )
    .await?;
    println!(
        "generated {} people in {:.1} s; imported {} households and {} members in {:.1} s",
        args.people,
        done.generated_in.as_secs_f64(),
        done.households,
        done.persons,
        done.loaded_in.as_secs_f64()
    );
    Ok(())
}

async fn sample_uins(running: &service::Running) -> Result<Arc<Vec<String>>> {
    let rows = running
        .registry
        .store
        .read(vec![Statement::new(
            "SELECT uin FROM person ORDER BY random() LIMIT 10000",
            vec![],
            &[ColumnType::Text],
        )])
        .await?;
    let uins: Vec<String> = rows[0]
        .iter()
        .filter_map(|row| match row.first() {
            Some(Some(SqlValue::Text(uin))) => Some(uin.clone()),
            _ => None,
        })
        .collect();
    if uins.is_empty() {
        bail!("the registry holds no one to search for");
    }
    Ok(Arc::new(uins))
}

/// The reference: axum parsing a JSON body and answering it back, nothing else.
/// The bench's own signing keys (kept in its data directory).
fn bench_signer(data_dir: &std::path::Path) -> Result<Arc<trust::Signer>> {
    let dir = data_dir.join("bench-keys");
    let key_file = dir.join("store.key");
    let store_key = match std::fs::read_to_string(&key_file) {
        Ok(text) => trust::StoreKey::parse(text.trim())?,
        Err(_) => {
            std::fs::create_dir_all(&dir)?;
            let key = trust::StoreKey::generate()?;
            std::fs::write(&key_file, key.to_base64())?;
            key
        }
    };
    let store = trust::KeyStore::open(&dir, store_key, std::time::SystemTime::now())?;
    Ok(Arc::new(trust::Signer::new(
        SENDER,
        Arc::new(std::sync::RwLock::new(store)),
    )))
}

/// Request bodies of `make`, signed by `signer` as they are made.
fn signed(
    make: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    signer: Arc<trust::Signer>,
) -> impl Fn(usize) -> Vec<u8> + Send + Sync + 'static {
    move |i| {
        let mut envelope: Value = serde_json::from_slice(&make(i)).expect("a request is JSON");
        signer.sign(&mut envelope).expect("the bench's key signs");
        serde_json::to_vec(&envelope).expect("serialises")
    }
}

/// The reference server: a bare axum JSON echo, which also publishes the bench's keys.
async fn start_echo(requester: &Arc<trust::Signer>) -> Result<std::net::SocketAddr> {
    let jwks = requester.jwks();
    let app = Router::new()
        .route(
            "/echo",
            post(|axum::Json(body): axum::Json<Value>| async move { axum::Json(body) }),
        )
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

struct Measured {
    /// Every request's latency, answered or refused over the sync budget.
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    /// Requests refused because they ran out of the sync search budget.
    over_budget: usize,
}

impl Measured {
    fn new(mut latencies_ms: Vec<f64>, elapsed: Duration) -> Measured {
        latencies_ms.sort_by(f64::total_cmp);
        Measured {
            latencies_ms,
            elapsed,
            over_budget: 0,
        }
    }

    fn throughput(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (self.latencies_ms.len() - 1) as f64).round() as usize;
        self.latencies_ms[rank]
    }
}

/// The access token every request of the load carries (the echo's too, so that both sides
/// of a comparison send the same bytes).
static BEARER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Registers the bench's requester as a participant of the registry under test: its keys
/// inline, unsigned messages allowed (the unsigned rows), every scope. Its client secret and a
/// token issued for the run.
async fn admit(running: &service::Running, requester: &trust::Signer) -> Result<(String, String)> {
    let registry = &running.registry;
    let secret = trust::secret::generate()?;
    let participant = registry::participants::Participant {
        sender_id: SENDER.into(),
        keys: Some(requester.jwks()),
        allow_unsigned: true,
        callback_prefixes: vec!["http://127.0.0.1:".into()],
        scopes: registry::participants::scope::ALL
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    };
    let store = registry.store.as_ref();
    registry::participants::remove(store, SENDER).await?;
    registry::participants::add(store, &participant, &trust::secret::hash(&secret)?).await?;
    registry.participants.reload().await?;
    let tokens = registry
        .tokens
        .as_ref()
        .context("the registry issues no tokens")?;
    let token = tokens.issue(SENDER, &participant.scopes, std::time::SystemTime::now())?;
    Ok((secret, token.access_token))
}

/// Sends requests from `concurrency` connections, for `duration` or until `count` requests.
async fn measure(
    url: &str,
    make: MakeRequest,
    concurrency: usize,
    duration: Duration,
    count: Option<usize>,
) -> Result<Measured> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, make, next) =
            (client.clone(), url.to_string(), make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut over_budget) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match count {
                    Some(n) if i >= n => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let body = make(i);
                let sent = Instant::now();
                let mut request = client.post(&url).header("content-type", "application/json");
                if let Some(token) = BEARER.get() {
                    request = request.bearer_auth(token);
                }
                let response = request.body(body).send().await.context("request failed")?;
                let status = response.status();
                let bytes = response.bytes().await?;
                let refused = status == reqwest::StatusCode::GATEWAY_TIMEOUT
                    && String::from_utf8_lossy(&bytes).contains("err.request.timeout");
                if refused {
                    over_budget += 1;
                } else if !status.is_success() {
                    bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok((latencies, over_budget))
        }));
    }
    let (mut latencies_ms, mut over_budget) = (Vec::new(), 0);
    for worker in workers {
        let (latencies, refused) = worker.await??;
        latencies_ms.extend(latencies);
        over_budget += refused;
    }
    Ok(Measured {
        over_budget,
        ..Measured::new(latencies_ms, started.elapsed())
    })
}
