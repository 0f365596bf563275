//! `spx bench notify`: one registry event fanned out to `--subscriptions` subscriptions, a
//! tenth of them (`--black-holed`) pointing at listeners that accept connections and never
//! answer. Measures how long the healthy subscribers wait for their notification, beside the
//! same run's reference: the same number of notify-sized posts sent straight to the same
//! receivers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::Router;
use axum::routing::post;
use client::{Client, RegistryQuery, SubscribeItem};
use serde_json::{Value, json};
use store::{ColumnType, SqlValue, Statement};

use super::{BenchArgs, Measured, ms};
use crate::service;

/// Receivers that answer, and black holes.
const HEALTHY_RECEIVERS: usize = 10;
const BLACK_HOLES: usize = 5;

/// What the healthy receivers got: each notification's subscription code and arrival time, and
/// how many `on-subscribe` callbacks.
#[derive(Default)]
struct Arrivals {
    notifications: Vec<(String, Instant)>,
    on_subscribe: usize,
}

/// A receiver that ACKs everything and records what arrives.
async fn start_receiver(arrivals: Arc<Mutex<Arrivals>>) -> Result<SocketAddr> {
    let app = Router::new().route(
        "/{*path}",
        post(move |axum::Json(body): axum::Json<Value>| {
            let arrivals = arrivals.clone();
            async move {
                let at = Instant::now();
                let mut arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner());
                match body["header"]["action"].as_str() {
                    Some("notify") => {
                        let code = body["header"]["meta"]["subscription_code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        arrivals.notifications.push((code, at));
                    }
                    Some("on-subscribe") => arrivals.on_subscribe += 1,
                    _ => {}
                }
                axum::Json(json!({"message": {"ack_status": "ACK",
                    "timestamp": dci::Timestamp::now().to_string(), "correlation_id": "bench"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A listener that accepts connections, holds them and never answers.
async fn start_black_hole() -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(addr)
}

/// Runs the workload.
pub async fn run(args: &BenchArgs, running: &service::Running, client: &Client) -> Result<()> {
    let registry = &running.registry;
    // The benchmark's store keeps its population between runs, not earlier runs' subscribers.
    registry
        .store
        .write(
            [
                "subscription_key",
                "subscription",
                "outbox",
                "registry_event",
            ]
            .iter()
            .map(|table| Statement::new(format!("DELETE FROM {table}"), vec![], &[]))
            .collect(),
        )
        .await?;
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let mut healthy = Vec::new();
    for _ in 0..HEALTHY_RECEIVERS {
        healthy.push(start_receiver(arrivals.clone()).await?);
    }
    let mut holes = Vec::new();
    for _ in 0..BLACK_HOLES {
        holes.push(start_black_hole().await?);
    }
    let total = args.subscriptions.max(1);
    let black_holed = ((total as f64) * args.black_holed.clamp(0.0, 1.0)).round() as usize;
    println!(
        "spx bench notify: one REGISTER event fanned out to {total} subscriptions ({black_holed} at {BLACK_HOLES} listeners that never answer, the others at {HEALTHY_RECEIVERS} receivers); store {}; delivery concurrency {}, per-origin start {}, timeout {} s",
        running.store,
        registry.config.dispatch.concurrency,
        registry.config.dispatch.per_origin_concurrency,
        registry.config.dispatch.request_timeout.as_secs()
    );

    // Subscriptions, in batches of one destination each: every i-th of ten goes to a hole
    // until the black-holed share is reached. Filters differ so that none is a duplicate.
    let batch = registry.config.header.max_batch_size.max(1);
    let mut destinations: HashMap<String, Vec<SubscribeItem>> = HashMap::new();
    for i in 0..total {
        let to_hole = black_holed > 0 && i * black_holed / total != (i + 1) * black_holed / total;
        let addr = if to_hole {
            holes[i % BLACK_HOLES]
        } else {
            healthy[i % HEALTHY_RECEIVERS]
        };
        let filter = format!("group_size >= 1 AND group_size < {}", 1_000_000 + i);
        destinations
            .entry(format!("http://{addr}/registry/on-subscribe"))
            .or_default()
            .push(SubscribeItem::new(
                "REGISTER",
                "Group",
                RegistryQuery::expression(Value::String(filter)),
            ));
    }
    let started = Instant::now();
    let mut healthy_requests = 0;
    for (url, items) in destinations {
        let to_hole = holes.iter().any(|h| url.contains(&h.to_string()));
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<SubscribeItem> = items.by_ref().take(batch).collect();
            client
                .subscribe(chunk, &url)
                .await
                .with_context(|| format!("subscribing at {url}"))?;
            healthy_requests += usize::from(!to_hole);
        }
    }
    let subscribed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(&arrivals).on_subscribe < healthy_requests {
        ensure!(Instant::now() < deadline, "on-subscribe callbacks missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let count = registry
        .store
        .read(vec![Statement::new(
            "SELECT count(*) FROM subscription WHERE status = 'subscribe'",
            vec![],
            &[ColumnType::Integer],
        )])
        .await?;
    ensure!(
        count[0][0][0] == Some(SqlValue::Integer(total as i64)),
        "expected {total} subscriptions, found {:?}",
        count[0][0][0]
    );
    println!(
        "{total} subscriptions made in {:.2} s ({:.0}/s, batches of {batch})",
        subscribed.as_secs_f64(),
        total as f64 / subscribed.as_secs_f64()
    );

    // The event: a household registered through the registrar's endpoint.
    let location = registry
        .store
        .read(vec![Statement::new(
            "SELECT code FROM location WHERE level = 3 ORDER BY code LIMIT 1",
            vec![],
            &[ColumnType::Text],
        )])
        .await?;
    let Some(Some(SqlValue::Text(location))) = location[0].first().and_then(|r| r.first()) else {
        bail!("the benchmark's registry has no locations");
    };
    let parts: Vec<&str> = location.split('-').collect();
    // A household id of this run: registering it is a REGISTER event.
    let household_id = format!("HH9{}", dispatch::now_ms());
    let household = json!({"household_id": household_id, "group_type": "2", "poverty_score": 10.0,
        "poverty_score_type": "pmt", "region_code": parts[0], "district_code": parts[..2].join("-"),
        "location_code": location, "head_uin": "", "size": 1, "registration_date": "2026-11-24"});
    let raised = Instant::now();
    client
        .send::<serde_json::Value>("/registrar/records", &json!({"households": [household]}))
        .await
        .context("registrar")?;
    let expected = total - black_holed;
    let patience = Instant::now() + Duration::from_secs(120);
    while lock(&arrivals).notifications.len() < expected {
        ensure!(
            Instant::now() < patience,
            "{} of {expected} healthy notifications after 120 s",
            lock(&arrivals).notifications.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = std::mem::take(&mut lock(&arrivals).notifications);
    let mut codes: Vec<&str> = got.iter().map(|(code, _)| code.as_str()).collect();
    codes.sort();
    codes.dedup();
    ensure!(codes.len() == got.len(), "a subscriber was notified twice");
    let fan_out = Measured::new(
        got.iter().map(|(_, at)| ms(*at - raised)).collect(),
        got.iter()
            .map(|(_, at)| *at - raised)
            .max()
            .unwrap_or_default(),
    );

    // The reference: the same number of posts of a notification's size, straight to the
    // receivers, from as many connections as the dispatcher may use.
    let body = serde_json::to_vec(
        &json!({"header": {"action": "notify", "meta": {"subscription_code": "reference"}},
        "message": {"notify_event": [{"data": {"reg_records": {"padding": "x".repeat(900)}}}]}}),
    )?;
    let reference = post_all(
        &healthy,
        expected,
        registry.config.dispatch.concurrency,
        body,
    )
    .await?;

    println!(
        "{:<50} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "workload", "per s", "first ms", "p50 ms", "p90 ms", "p99 ms", "last ms"
    );
    for (name, figures) in [
        ("reference: posts straight to the receivers", &reference),
        ("notify fan-out (event → healthy subscriber)", &fan_out),
    ] {
        println!(
            "{name:<50} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            figures.throughput(),
            figures.percentile(0.0),
            figures.percentile(50.0),
            figures.percentile(90.0),
            figures.percentile(99.0),
            ms(figures.elapsed)
        );
    }
    let verdict = if fan_out.elapsed <= Duration::from_secs(5) {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "{expected} healthy subscribers notified once each, the last {:.2} s after the event, while {black_holed} notifications wait on the black holes; target: all healthy within 5 s {verdict}",
        fan_out.elapsed.as_secs_f64()
    );
    Ok(())
}

fn lock(arrivals: &Mutex<Arrivals>) -> std::sync::MutexGuard<'_, Arrivals> {
    arrivals.lock().unwrap_or_else(|e| e.into_inner())
}

/// Posts `body` `count` times over the receivers from `concurrency` tasks; the figures of
/// those posts.
async fn post_all(
    receivers: &[SocketAddr],
    count: usize,
    concurrency: usize,
    body: Vec<u8>,
) -> Result<Measured> {
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (http, next, body, receivers) =
            (http.clone(), next.clone(), body.clone(), receivers.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let at = Instant::now();
                http.post(format!(
                    "http://{}/registry/notify",
                    receivers[i % receivers.len()]
                ))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?
                .error_for_status()?;
                latencies.push(ms(at.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies_ms = Vec::with_capacity(count);
    for task in tasks {
        latencies_ms.extend(task.await??);
    }
    Ok(Measured::new(latencies_ms, started.elapsed()))
}
