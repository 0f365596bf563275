//! `spx bench pay`: a payment cycle of `--payments` disbursements (default 100,000) through
//! the switch simulator failing `--failure-rate` of them (default 3%), after linking and
//! resolving as many ids in the mapper; then the cycle's reconciliation, checked three ways
//! (the report's paid total, the sum of the items the callbacks say paid, the switch's ledger).
//! The reference is the store's floor for the same work: a bare table, one row inserted and
//! one update per payment, in the same batch sizes, on the same backend. The receipts of the
//! paid go to an IBR (a fresh embedded one beside the payments store) through the outbox, as
//! in production: the run waits for them and checks their sum against the paid total too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::Router;
use axum::routing::post;
use client::Client;
use dci::Action;
use dci::disburse::{DisburseRequest, Disbursement};
use dci::mapper::{Link, MapperRequest, MapperRequestItem, Resolve};
use serde_json::{Value, json};
use store::{ColumnType, SqlValue, Statement, Store};

use super::BenchArgs;
use crate::config::Config;
use crate::service;

const SENDER: &str = "bench.spx.local";

/// The programmes the cycle's payments belong to.
const PROGRAMMES: [&str; 3] = ["CT-OVC", "CT-ELDERLY", "CT-PWD"];

/// What the callbacks said: per `on-disburse` message id, the items it reported and the sum
/// of those paid (minor units).
#[derive(Default)]
struct Callbacks {
    messages: std::collections::HashMap<String, (usize, usize, i64)>,
    last: Option<Instant>,
}

/// A receiver that ACKs every callback and tallies the `on-disburse` ones.
async fn start_receiver(callbacks: Arc<Mutex<Callbacks>>) -> Result<std::net::SocketAddr> {
    let app = Router::new().route(
        "/{*path}",
        post(move |axum::Json(body): axum::Json<Value>| {
            let callbacks = callbacks.clone();
            async move {
                if body["header"]["action"] == "on-disburse" {
                    let items = body["message"]["disbursements_status"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let paid: Vec<&Value> =
                        items.iter().filter(|i| i["status"] == "succ").collect();
                    let sum = paid.iter().map(|i| minor(&i["amount"])).sum();
                    let id = body["header"]["message_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let mut callbacks = callbacks.lock().unwrap_or_else(|e| e.into_inner());
                    callbacks
                        .messages
                        .insert(id, (items.len(), paid.len(), sum));
                    callbacks.last = Some(Instant::now());
                }
                axum::Json(json!({"message": {"ack_status": "ACK",
                    "timestamp": dci::Timestamp::now().to_string(), "correlation_id": "bench"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(addr)
}

/// `"1500.00"` as minor units of a two-decimal currency.
fn minor(amount: &Value) -> i64 {
    amount
        .as_str()
        .unwrap_or_default()
        .replace('.', "")
        .parse()
        .unwrap_or_default()
}

/// Runs the benchmark.
pub async fn run(args: &BenchArgs, mut config: Config) -> Result<()> {
    let payments = args.payments;
    let per_message = args.batch.min(payments).max(1);
    config.service.data_dir = args.data_dir.join("pay");
    config.service.listen = "127.0.0.1:0".into();
    if let Some(url) = &args.database_url {
        config.service.database_url = url.clone();
    } else {
        // A fresh embedded store for each run (its keys are kept).
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(config.service.data_dir.join(format!("pay.db{suffix}")));
        }
    }
    config.pay.max_batch_size = config.pay.max_batch_size.max(per_message as u64);
    config.pay.simulator_failure_rate = args.failure_rate;
    config.pay.simulator_latency_ms = args.switch_latency_ms;
    // The IBR the receipts go to, admitting the payments service by the address it will have.
    let mut ibr_config = config.clone();
    ibr_config.service.data_dir = args.data_dir.join("ibr");
    ibr_config.service.database_url = String::new();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ibr_config.service.data_dir.join(format!("ibr.db{suffix}")));
    }
    let ibr = service::start(&registry::ibr::PROFILE, &ibr_config).await?;
    config.service.listen = crate::sandbox::with_a_port("127.0.0.1:0")?;
    config.pay.ibr_url = ibr.base_url.clone();
    config.pay.ibr_id = config.service_id("ibr");
    config.pay.ibr_client_secret = crate::sandbox::admit_pay_service(&ibr, &config).await?;
    config.validate()?;
    let (running, pay) = service::start_pay(&config).await?;
    let secret = admit(&pay).await?;
    let client = Client::new(
        &running.base_url,
        SENDER,
        Some(&config.service_id(pay::ROLE)),
    )
    .with_credentials(SENDER, &secret)
    .with_timeout(Duration::from_secs(120));
    let callbacks = Arc::new(Mutex::new(Callbacks::default()));
    let receiver = start_receiver(callbacks.clone()).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let messages = payments.div_ceil(per_message);
    println!(
        "spx bench pay: {payments} payments in {messages} messages of up to {per_message}; switch: {}; store {}; {cores} cores shared by client, service and switch",
        pay.switch.describe(),
        running.store
    );
    let floor = store_floor(pay.store(), payments, per_message).await?;
    let id = |n: usize| format!("uin:{:010}@nid", 1_000_000_000 + n);
    let fa = |n: usize| format!("mobile:2547{n:08}@mpesa");
    let item = |n: usize, with_fa: bool| MapperRequestItem {
        reference_id: Some(n.to_string()),
        timestamp: Some(dci::Timestamp::now().to_string()),
        id: Some(id(n)),
        fa: with_fa.then(|| fa(n)),
        ..Default::default()
    };
    // The mapper: every payee's id linked to a wallet, then resolved, 10,000 per request.
    let started = Instant::now();
    for chunk in (0..payments).collect::<Vec<_>>().chunks(per_message) {
        let items = chunk.iter().map(|&n| item(n, true)).collect();
        let request: MapperRequest<Link> = MapperRequest::new(format!("link-{}", chunk[0]), items);
        let envelope = client.envelope(Action::Link, chunk.len(), None, request);
        let answer: Value = client.send("/mapper/sync/link", &envelope).await?;
        let refused = answer["message"]["link_response"]
            .as_array()
            .map_or(0, |items| {
                items.iter().filter(|i| i["status"] != "succ").count()
            });
        ensure!(refused == 0, "{refused} links refused");
    }
    let linked = started.elapsed();
    let started = Instant::now();
    for chunk in (0..payments).collect::<Vec<_>>().chunks(per_message) {
        let items = chunk.iter().map(|&n| item(n, false)).collect();
        let request: MapperRequest<Resolve> =
            MapperRequest::new(format!("resolve-{}", chunk[0]), items);
        let envelope = client.envelope(Action::Resolve, chunk.len(), None, request);
        let answer: Value = client.send("/mapper/sync/resolve", &envelope).await?;
        let active = answer["message"]["resolve_response"]
            .as_array()
            .map_or(0, |items| {
                items
                    .iter()
                    .filter(|i| i["status_reason_code"] == "succ.id.active")
                    .count()
            });
        ensure!(
            active == chunk.len(),
            "{} of {} ids resolved",
            active,
            chunk.len()
        );
    }
    let resolved = started.elapsed();
    // The cycle: payees by id, amounts 100.00 to 499.00 KES, async, one callback per message.
    let transaction_id = format!("cycle-{}", uuid::Uuid::now_v7());
    let callback = format!("http://{receiver}/on-disburse");
    let started = Instant::now();
    for chunk in (0..payments).collect::<Vec<_>>().chunks(per_message) {
        let disbursements = chunk
            .iter()
            .map(|&n| Disbursement {
                reference_id: Some(n.to_string()),
                payer_fa: Some("account:0001@treasury.gov".into()),
                payee_fa: Some(id(n)),
                amount: Some(Value::String(format!("{}.00", 100 + n % 400))),
                currency_code: Some("KES".into()),
                purpose: Some("bench cycle".into()),
                meta: json!({"programme": PROGRAMMES[n % 3], "region": format!("R{:02}", n % 10)})
                    .as_object()
                    .cloned(),
                ..Default::default()
            })
            .collect();
        let request = DisburseRequest {
            transaction_id: transaction_id.clone(),
            disbursements,
        };
        let envelope = client.envelope(Action::Disburse, chunk.len(), Some(&callback), request);
        let ack: Value = client.send("/disburse", &envelope).await?;
        ensure!(ack["message"]["ack_status"] == "ACK", "{ack}");
    }
    let accepted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let done = callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .messages
            .len();
        if done >= messages {
            break;
        }
        if Instant::now() > deadline {
            bail!("{done} of {messages} callbacks in an hour");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cycle, reported, paid_in_callbacks, paid_sum_in_callbacks) = {
        let callbacks = callbacks.lock().unwrap_or_else(|e| e.into_inner());
        let last = callbacks.last.context("no callback")?;
        let totals = callbacks
            .messages
            .values()
            .fold((0, 0, 0), |a, m| (a.0 + m.0, a.1 + m.1, a.2 + m.2));
        (last - started, totals.0, totals.1, totals.2)
    };
    ensure!(
        reported == payments,
        "the callbacks reported {reported} of {payments} payments"
    );
    // Reconciliation, three ways.
    let started = Instant::now();
    let report = pay::report::reconcile(pay.store(), SENDER, &transaction_id).await?;
    let reconciled_in = started.elapsed();
    let total = |state| report.total(state, "KES");
    let (paid, failed, returned) = (
        total(pay::disburse::PaymentState::Paid),
        total(pay::disburse::PaymentState::Failed),
        total(pay::disburse::PaymentState::Returned),
    );
    let (ledger_paid, ledger_sum) = ledger(pay.store(), &transaction_id).await?;
    ensure!(report.reconciled, "payments are still pending");
    ensure!(
        paid.amount_minor == paid_sum_in_callbacks
            && paid.amount_minor == ledger_sum
            && paid.count == paid_in_callbacks as i64
            && paid.count == ledger_paid,
        "paid totals differ: report {} ({}), callbacks {paid_sum_in_callbacks} ({paid_in_callbacks}), switch {ledger_sum} ({ledger_paid})",
        paid.amount_minor,
        paid.count
    );
    // The receipts at the IBR: as many benefits as payments paid, summing to the paid total.
    let waited = Instant::now();
    let (receipts, receipts_sum) = loop {
        let (count, sum) = benefits(ibr.registry.store.as_ref()).await?;
        if count >= paid.count || waited.elapsed() > Duration::from_secs(600) {
            break (count, sum);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let receipts_after = cycle + waited.elapsed();
    ensure!(
        receipts == paid.count && receipts_sum == paid.amount_minor,
        "the IBR holds {receipts} receipts summing to {receipts_sum}, the report {} paid summing to {}",
        paid.count,
        paid.amount_minor
    );
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let cycle_rate = rate(payments, cycle);
    println!("| workload | per s | time |");
    println!("|---|---:|---:|");
    println!(
        "| reference: store floor (a row inserted and updated once per payment, same batches) | {:.0} | {:.2} s |",
        rate(payments, floor),
        floor.as_secs_f64()
    );
    println!(
        "| mapper: link {payments} ids (sync, {per_message} per request) | {:.0} | {:.2} s |",
        rate(payments, linked),
        linked.as_secs_f64()
    );
    println!(
        "| mapper: resolve {payments} ids (sync, {per_message} per request) | {:.0} | {:.2} s |",
        rate(payments, resolved),
        resolved.as_secs_f64()
    );
    println!(
        "| disburse: {messages} messages accepted (async, ACK) | {:.0} | {:.2} s |",
        rate(payments, accepted),
        accepted.as_secs_f64()
    );
    println!(
        "| **disburse: cycle, first request → last on-disburse** | **{cycle_rate:.0}** ({:.0}% of the floor) | **{:.2} s** |",
        100.0 * cycle_rate / rate(payments, floor),
        cycle.as_secs_f64()
    );
    println!(
        "reconciled in {:.0} ms: {} paid ({} KES), {} failed ({} KES), {} returned ({} KES); paid total {} KES = the callbacks' paid items = the switch's ledger",
        reconciled_in.as_secs_f64() * 1000.0,
        paid.count,
        paid.amount,
        failed.count,
        failed.amount,
        returned.count,
        returned.amount,
        paid.amount
    );
    println!(
        "IBR receipts: {receipts} benefits summing to {} KES = the paid total; the last arrived {:.2} s after the first request ({})",
        dci::money::format_minor(receipts_sum, dci::money::Currency::parse("KES")?),
        receipts_after.as_secs_f64(),
        ibr.store
    );
    Ok(())
}

/// The benefits the IBR holds, and their sum in minor units.
async fn benefits(store: &dyn Store) -> Result<(i64, i64)> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM benefit",
            vec![],
            &[ColumnType::Integer, ColumnType::Integer],
        )])
        .await?;
    match rows[0].first().map(Vec::as_slice) {
        Some([Some(SqlValue::Integer(count)), Some(SqlValue::Integer(sum))]) => Ok((*count, *sum)),
        other => bail!("the IBR's benefits: {other:?}"),
    }
}

/// Registers the bench as a participant of the payments service (unsigned messages allowed,
/// callbacks to loopback, every G2P scope); its client secret.
async fn admit(pay: &pay::Pay) -> Result<String> {
    let secret = trust::secret::generate()?;
    let participant = registry::participants::Participant {
        sender_id: SENDER.into(),
        allow_unsigned: true,
        callback_prefixes: vec!["http://127.0.0.1:".into()],
        scopes: registry::participants::scope::PAY_DEFAULT
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    };
    let store = pay.store();
    registry::participants::remove(store, SENDER).await?;
    registry::participants::add(store, &participant, &trust::secret::hash(&secret)?).await?;
    pay.engine.participants.reload().await?;
    Ok(secret)
}

/// Paid entries of the switch's ledger for the cycle, and their sum.
async fn ledger(store: &dyn Store, transaction_id: &str) -> Result<(i64, i64)> {
    let rows = store
        .read(vec![Statement::new(
            store::numbered(
                store.dialect(),
                "SELECT COUNT(*), CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM switch_ledger
                 WHERE outcome = 'paid' AND payment_id LIKE ?1",
            ),
            vec![SqlValue::Text(format!("{SENDER}/{transaction_id}/%"))],
            &[ColumnType::Integer, ColumnType::Integer],
        )])
        .await?;
    match rows[0].first().map(Vec::as_slice) {
        Some([Some(SqlValue::Integer(count)), Some(SqlValue::Integer(sum))]) => Ok((*count, *sum)),
        other => bail!("the ledger: {other:?}"),
    }
}

/// The store's floor for a cycle of `payments`: a bare table, `payments` rows inserted in
/// transactions of `per_message` (80 rows per statement, as intake does), then each row
/// updated once, 500 per transaction (as the worker records a switch call).
async fn store_floor(store: &dyn Store, payments: usize, per_message: usize) -> Result<Duration> {
    store
        .execute_script(
            "DROP TABLE IF EXISTS bench_floor;
             CREATE TABLE bench_floor (id BIGINT PRIMARY KEY, amount_minor BIGINT NOT NULL, state TEXT NOT NULL, switch_ref TEXT)"
                .into(),
        )
        .await?;
    let dialect = store.dialect();
    let started = Instant::now();
    for message in (0..payments).collect::<Vec<_>>().chunks(per_message) {
        let statements = message
            .chunks(80)
            .map(|rows| {
                let values: Vec<String> = (0..rows.len())
                    .map(|i| format!("(?{}, ?{}, 'pending')", 2 * i + 1, 2 * i + 2))
                    .collect();
                Statement::new(
                    store::numbered(
                        dialect,
                        &format!(
                            "INSERT INTO bench_floor (id, amount_minor, state) VALUES {}",
                            values.join(", ")
                        ),
                    ),
                    rows.iter()
                        .flat_map(|&n| [SqlValue::Integer(n as i64), SqlValue::Integer(10_000)])
                        .collect(),
                    &[],
                )
            })
            .collect();
        store.write(statements).await?;
    }
    for batch in (0..payments).collect::<Vec<_>>().chunks(500) {
        let statements = batch
            .iter()
            .map(|&n| {
                Statement::new(
                    store::numbered(
                        dialect,
                        "UPDATE bench_floor SET state = 'paid', switch_ref = ?2 WHERE id = ?1 AND state = 'pending'",
                    ),
                    vec![SqlValue::Integer(n as i64), SqlValue::Text(format!("REF-{n}"))],
                    &[],
                )
            })
            .collect();
        store.write(statements).await?;
    }
    let took = started.elapsed();
    store
        .execute_script("DROP TABLE bench_floor".into())
        .await?;
    Ok(took)
}
