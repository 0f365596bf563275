//! `spx bench`: workloads measured over real HTTP on loopback, each printed beside the same
//! run's reference, a bare axum JSON echo, so the ratio is what we track.
//!
//! Client and server share the machine's cores, as on a single 2-core node: the figures are a
//! floor for a server with cores of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::post;
use clap::Args;
use serde_json::{Value, json};
use store::{ColumnType, SqlValue, Statement};

use crate::config::Config;
use crate::{request, service};

/// Options of `spx bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The workload: `search` (sync identifier and expression search).
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
    /// Sequential requests for the unloaded latency.
    #[arg(long, default_value_t = 1000)]
    pub unloaded: usize,
    /// PostgreSQL instead of the embedded store (an empty database; it is loaded once).
    #[arg(long)]
    pub database_url: Option<String>,
}

const SENDER: &str = "bench.spx.local";

/// Makes the `i`-th request body of a workload.
type MakeRequest = Arc<dyn Fn(usize) -> Value + Send + Sync>;

/// Runs the benchmark.
pub async fn run(args: BenchArgs, mut config: Config) -> Result<()> {
    if args.workload != "search" {
        bail!("unknown workload '{}'; available: search", args.workload);
    }
    let profile = &registry::social::PROFILE;
    config.service.data_dir = args.data_dir.clone();
    config.service.listen = "127.0.0.1:0".into();
    if let Some(url) = &args.database_url {
        config.service.database_url = url.clone();
    }
    config.validate()?;
    let running = service::start(profile, &config).await?;
    load_population(&args, &running).await?;
    let samples = sample_uins(&running).await?;
    let echo = start_echo().await?;
    let registry = format!("http://{}/registry/sync/search", running.addr);
    let receiver = config.service_id("social");
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
    let uin_request = {
        let samples = samples.clone();
        let receiver = receiver.clone();
        move |i: usize| {
            request::search(
                SENDER,
                &receiver,
                request::by_identifier("Member", "UIN", &samples[i % samples.len()]),
            )
        }
    };
    let expression_request = {
        let receiver = receiver.clone();
        move |i: usize| {
            let region = format!("R{:02}", i % 10 + 1);
            let query = json!({"$and": [{"poverty_score": {"$lte": 30}}, {"region_code": region},
                {"group_size": {"$gte": 5}}, {"group_size": {"$lte": 7}}]});
            request::search(
                SENDER,
                &receiver,
                request::by_expression("Group", query, 20),
            )
        }
    };
    let workloads: Vec<(&str, String, MakeRequest)> = vec![
        (
            "reference: axum JSON echo",
            format!("http://{echo}/echo"),
            Arc::new(uin_request.clone()),
        ),
        (
            "sync search by UIN (Member)",
            registry.clone(),
            Arc::new(uin_request),
        ),
        (
            "expression search (Group, page 20, total_count)",
            registry,
            Arc::new(expression_request),
        ),
    ];
    println!(
        "{:<50} {:>10} {:>9} {:>9} {:>9} | {:>9} {:>9}",
        "workload", "req/s", "p50 ms", "p90 ms", "p99 ms", "idle p50", "idle p99"
    );
    let mut reference = None;
    for (name, url, make) in workloads {
        let idle = measure(&url, make.clone(), 1, Duration::ZERO, Some(args.unloaded)).await?;
        let loaded = measure(
            &url,
            make,
            args.concurrency,
            Duration::from_secs(args.seconds),
            None,
        )
        .await?;
        let throughput = loaded.throughput();
        let ratio = reference
            .map(|r: f64| format!(" ({:.0}% of echo)", 100.0 * throughput / r))
            .unwrap_or_default();
        reference.get_or_insert(throughput);
        println!(
            "{:<50} {:>10.0} {:>9.2} {:>9.2} {:>9.2} | {:>9.2} {:>9.2}{ratio}",
            name,
            throughput,
            loaded.percentile(50.0),
            loaded.percentile(90.0),
            loaded.percentile(99.0),
            idle.percentile(50.0),
            idle.percentile(99.0)
        );
    }
    Ok(())
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
    let done = service::populate(store, args.people, args.seed, &args.data_dir).await?;
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

async fn sample_uins(running: &service::Running) -> Result<Vec<String>> {
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
    Ok(uins)
}

/// The reference: axum parsing a JSON body and answering it back, nothing else.
async fn start_echo() -> Result<std::net::SocketAddr> {
    let app = Router::new().route(
        "/echo",
        post(|axum::Json(body): axum::Json<Value>| async move { axum::Json(body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

struct Measured {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
}

impl Measured {
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
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match count {
                    Some(n) if i >= n => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let body = serde_json::to_vec(&make(i))?;
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .context("request failed")?;
                let status = response.status();
                let bytes = response.bytes().await?;
                if !status.is_success() {
                    bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies_ms = Vec::new();
    for worker in workers {
        latencies_ms.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Measured {
        latencies_ms,
        elapsed,
    })
}
