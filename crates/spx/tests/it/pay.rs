//! The payments service over DCI: the ID-to-account mapper (link, update, unlink, resolve,
//! sync and async, txn status, thousands of ids in one request) and disbursement (payees
//! resolved through the mapper, every bad input refused with its code and never paid, the
//! switch's failures and timeouts, callbacks once every item is final); on each backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::support::{Backend, Place, Sink, post_json, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "pay::mapper_links_resolves_updates_and_unlinks",
        mapper_links_resolves_updates_and_unlinks,
    ),
    (
        "pay::mapper_resolves_thousands_of_ids_in_one_request",
        mapper_resolves_thousands_of_ids_in_one_request,
    ),
    (
        "pay::mapper_async_calls_back_and_reports_status",
        mapper_async_calls_back_and_reports_status,
    ),
    (
        "pay::disburse_sync_resolves_pays_and_refuses_bad_input",
        disburse_sync_resolves_pays_and_refuses_bad_input,
    ),
    (
        "pay::disburse_async_retries_failures_and_calls_back_once",
        disburse_async_retries_failures_and_calls_back_once,
    ),
    (
        "pay::two_nodes_on_one_store_pay_each_payment_once",
        two_nodes_on_one_store_pay_each_payment_once,
    ),
    (
        "pay::receipts_of_paid_items_go_out_with_the_callback",
        receipts_of_paid_items_go_out_with_the_callback,
    ),
    (
        "pay::receipts_reach_the_ibr_as_benefits",
        receipts_reach_the_ibr_as_benefits,
    ),
];

/// Tests of `spx serve --role pay` as a process.
pub const PLAIN: &[(&str, crate::PlainTest)] = &[(
    "pay::kill_9_mid_cycle_pays_each_payee_once",
    kill_9_mid_cycle_pays_each_payee_once,
)];

/// The payments service's id in tests.
pub const PAY_ID: &str = "pay.test";

/// The engine settings payments tests run with.
pub fn engine_config() -> registry::RegistryConfig {
    let mut config = crate::support::registry_config();
    config.service_id = PAY_ID.into();
    config.header.service_id = PAY_ID.into();
    config.header.max_batch_size = 6000;
    config.max_body_bytes = 8 * 1024 * 1024;
    config
}

/// A payments service on a random port, with the switch simulator.
pub struct TestPay {
    pub addr: std::net::SocketAddr,
    pub pay: Arc<pay::Pay>,
    pub client: reqwest::Client,
    _place: Place,
}

impl TestPay {
    pub async fn spawn(backend: Backend) -> Result<Self> {
        Self::spawn_with(
            backend,
            engine_config(),
            pay::switch::SimulatorConfig::default(),
        )
        .await
    }

    pub async fn spawn_with(
        backend: Backend,
        engine: registry::RegistryConfig,
        simulator: pay::switch::SimulatorConfig,
    ) -> Result<Self> {
        Self::spawn_switched(backend, engine, test_settings(), |store| {
            Arc::new(pay::switch::Simulator::new(store, simulator))
        })
        .await
    }

    /// A payments service with `settings` and the switch `switch` makes on its store.
    pub async fn spawn_switched(
        backend: Backend,
        engine: registry::RegistryConfig,
        settings: pay::PayConfig,
        switch: impl FnOnce(Arc<dyn store::Store>) -> Arc<dyn pay::switch::Switch>,
    ) -> Result<Self> {
        Self::spawn_publishing(
            backend,
            engine,
            settings,
            switch,
            Arc::new(pay::receipts::NoReceipts),
        )
        .await
    }

    /// [`TestPay::spawn_switched`], publishing receipts through `receipts`.
    pub async fn spawn_publishing(
        backend: Backend,
        engine: registry::RegistryConfig,
        settings: pay::PayConfig,
        switch: impl FnOnce(Arc<dyn store::Store>) -> Arc<dyn pay::switch::Switch>,
        receipts: Arc<dyn pay::receipts::Receipts>,
    ) -> Result<Self> {
        let place = Place::new(backend).await?;
        let (addr, pay) = serve_pay_on(&place, engine, settings, switch, receipts).await?;
        Ok(TestPay {
            addr,
            pay,
            client: reqwest::Client::new(),
            _place: place,
        })
    }

    /// A second node on the same store (as `spx serve --role pay` on another machine, on the
    /// same PostgreSQL database): its own worker, dispatcher and switch.
    pub async fn another_node(
        &self,
        switch: impl FnOnce(Arc<dyn store::Store>) -> Arc<dyn pay::switch::Switch>,
    ) -> Result<std::net::SocketAddr> {
        let engine = self.pay.engine.config.clone();
        let receipts = self.pay.receipts.clone();
        let (addr, _) = serve_pay_on(
            &self._place,
            engine,
            self.pay.config.clone(),
            switch,
            receipts,
        )
        .await?;
        Ok(addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts `body` to `path`: the HTTP status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        post_json(&self.client, &self.url(path), body).await
    }

    /// Posts a sync request that must be served (HTTP 200): its answer's message.
    pub async fn sync(&self, path: &str, body: &Value) -> Result<Value> {
        let (status, answer) = self.post(path, body).await?;
        ensure!(status == 200, "{path}: HTTP {status}: {answer}");
        Ok(answer["message"].clone())
    }

    /// The one integer `sql` selects from the payments store.
    pub async fn count(&self, sql: &str) -> Result<i64> {
        let rows = self
            .pay
            .store()
            .read(vec![store::Statement::new(
                sql,
                vec![],
                &[store::ColumnType::Integer],
            )])
            .await?;
        match rows[0].first().and_then(|row| row.first()) {
            Some(Some(store::SqlValue::Integer(n))) => Ok(*n),
            other => anyhow::bail!("{sql}: {other:?}"),
        }
    }

    /// The items of a sync mapper request of `action` with `items`.
    pub async fn mapper(&self, action: &str, items: Vec<Value>) -> Result<Vec<Value>> {
        let body = request(action, &format!("{action}_request"), items);
        let message = self.sync(&format!("/mapper/sync/{action}"), &body).await?;
        message[format!("{action}_response")]
            .as_array()
            .cloned()
            .with_context(|| format!("no {action}_response: {message}"))
    }
}

/// The payment worker's settings in tests: quick retries.
pub fn test_settings() -> pay::PayConfig {
    pay::PayConfig {
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(200),
        ..pay::PayConfig::default()
    }
}

/// Opens the payments store at `place` and serves it on a random port, publishing receipts
/// through `receipts`.
async fn serve_pay_on(
    place: &Place,
    engine: registry::RegistryConfig,
    settings: pay::PayConfig,
    switch: impl FnOnce(Arc<dyn store::Store>) -> Arc<dyn pay::switch::Switch>,
    receipts: Arc<dyn pay::receipts::Receipts>,
) -> Result<(std::net::SocketAddr, Arc<pay::Pay>)> {
    let store = pay::open_store(&place.config()).await?;
    let switch = switch(store.clone());
    let pay = pay::Pay::start_with_receipts(store, engine, settings, switch, receipts).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(axum::serve(listener, pay.router()).into_future());
    Ok((addr, pay))
}

/// A switch that notes every payment id it is sent, then passes the call on.
struct Counting {
    inner: pay::switch::Simulator,
    sent: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl pay::switch::Switch for Counting {
    fn describe(&self) -> String {
        format!("counting {}", self.inner.describe())
    }

    async fn pay(
        &self,
        batch: &[pay::switch::Instruction],
    ) -> Vec<Result<pay::switch::Settlement, pay::switch::SwitchError>> {
        self.sent
            .lock()
            .unwrap()
            .extend(batch.iter().map(|i| i.payment_id.clone()));
        self.inner.pay(batch).await
    }
}

/// A request envelope of `action` whose message lists `items` under `list`.
pub fn request(action: &str, list: &str, items: Vec<Value>) -> Value {
    let now = dci::Timestamp::now().to_string();
    json!({
        "signature": "",
        "header": {"version": "1.0.0", "message_id": uuid::Uuid::now_v7().to_string(), "message_ts": now,
                   "action": action, "sender_id": "spmis.test", "receiver_id": PAY_ID, "total_count": items.len()},
        "message": {"transaction_id": format!("t-{}", uuid::Uuid::now_v7()), list: items}
    })
}

/// A mapper request item: `reference_id`, now, and `fields`.
pub fn item(reference_id: &str, fields: Value) -> Value {
    let mut item =
        json!({"reference_id": reference_id, "timestamp": dci::Timestamp::now().to_string()});
    item.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    item
}

/// `(status, status_reason_code)` of an answered item.
fn outcome(item: &Value) -> (&str, &str) {
    (
        item["status"].as_str().unwrap_or_default(),
        item["status_reason_code"].as_str().unwrap_or_default(),
    )
}

fn mapper_links_resolves_updates_and_unlinks(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let pay = TestPay::spawn(backend).await?;
        let (amina, baraka) = ("uin:5035049349@nid", "uin:7000000015@nid");
        let linked = pay
            .mapper(
                "link",
                vec![
                    item("1", json!({"id": amina, "fa": "account:001122@kcb.bank", "name": "Amina Otieno"})),
                    item("2", json!({"id": amina, "fa": "mobile:254712345678@mpesa", "phone_number": "+254712345678",
                                      "additional_info": [{"name": "primary", "value": true}]})),
                    item("3", json!({"id": baraka, "fa": "account:001122@kcb.bank"})),
                    item("4", json!({"id": "5035049349", "fa": "account:9@bank"})),
                    item("5", json!({"id": baraka, "fa": "iban:DE89@bank"})),
                    item("6", json!({"id": baraka, "fa": "mobile:1@mpesa", "phone_number": "call me"})),
                    item("6", json!({"id": baraka, "fa": "mobile:2@mpesa"})),
                    json!({"reference_id": "7", "id": baraka, "fa": "mobile:3@mpesa"}),
                    item("8", json!({"id": amina, "fa": "account:001122@kcb.bank"})),
                    item("9", json!({"id": baraka, "fa": "voucher:77@food.coupon-network"})),
                ],
            )
            .await?;
        let outcomes: Vec<(&str, &str)> = linked.iter().map(outcome).collect();
        ensure!(
            outcomes
                == [
                    ("succ", ""),
                    ("succ", ""),
                    ("rjct", "rjct.fa.invalid"),
                    ("rjct", "rjct.id.invalid"),
                    ("rjct", "rjct.fa.invalid"),
                    ("rjct", "rjct.mobile_number.invalid"),
                    ("rjct", "rjct.reference_id.duplicate"),
                    ("rjct", "rjct.timestamp.invalid"),
                    ("succ", ""),
                    ("succ", ""),
                ],
            "{outcomes:?}"
        );
        ensure!(linked[7]["status_reason_message"].as_str().unwrap_or_default().contains("timestamp"));
        ensure!(linked[8]["status_reason_message"] == "already linked", "{}", linked[8]);
        // Amina's second address was made primary; every address of hers is listed.
        let resolve = |fields: Value| item("r", fields);
        let answers = pay
            .mapper(
                "resolve",
                vec![
                    resolve(json!({"id": amina, "scope": "details"})),
                    resolve(json!({"id": amina})),
                    resolve(json!({"id": "uin:1111111111@nid"})),
                    resolve(json!({"fa": "account:001122@kcb.bank", "scope": "details"})),
                    resolve(json!({"fa": "account:001122@kcb.bank", "id": baraka})),
                    resolve(json!({"fa": "account:404@kcb.bank"})),
                    resolve(json!({"id": amina, "scope": "everything"})),
                    resolve(json!({})),
                ]
                .into_iter()
                .enumerate()
                .map(|(i, mut item)| {
                    item["reference_id"] = json!(i.to_string());
                    item
                })
                .collect(),
            )
            .await?;
        let outcomes: Vec<(&str, &str)> = answers.iter().map(outcome).collect();
        ensure!(
            outcomes
                == [
                    ("succ", "succ.id.active"),
                    ("succ", "succ.id.active"),
                    ("succ", "succ.id.not_found"),
                    ("succ", "succ.fa.active"),
                    ("succ", "succ.fa.not_linked_to_id"),
                    ("succ", "succ.fa.not_found"),
                    ("rjct", "rjct.resolve_type.not_supported"),
                    ("rjct", "rjct.id.invalid"),
                ],
            "{outcomes:?}"
        );
        let details = &answers[0];
        ensure!(details["fa"] == "mobile:254712345678@mpesa", "{details}");
        ensure!(details["account_provider_info"]["code"] == "mpesa", "{details}");
        let all = details["additional_info"][0]["value"].as_array().context("addresses")?;
        ensure!(all.len() == 2 && all.iter().filter(|a| a["primary"] == true).count() == 1, "{details}");
        // yes_no answers say nothing more than the code.
        ensure!(answers[1].get("fa").is_none() && answers[1].get("account_provider_info").is_none(), "{}", answers[1]);
        ensure!(answers[3]["id"] == amina, "{}", answers[3]);
        // Update: an address deactivated; a new address replaces Baraka's primary one.
        let updated = pay
            .mapper(
                "update",
                vec![
                    item("1", json!({"id": amina, "fa": "account:001122@kcb.bank", "additional_info": [{"name": "active", "value": false}]})),
                    item("2", json!({"id": baraka, "fa": "mobile:254700000001@airtel"})),
                    item("3", json!({"id": "uin:1111111111@nid", "fa": "mobile:5@mpesa"})),
                    item("4", json!({"id": baraka, "fa": "account:001122@kcb.bank"})),
                    item("5", json!({"id": amina, "fa": "mobile:254712345678@mpesa", "name": "  "})),
                ],
            )
            .await?;
        let outcomes: Vec<(&str, &str)> = updated.iter().map(outcome).collect();
        ensure!(
            outcomes
                == [
                    ("succ", ""),
                    ("succ", ""),
                    ("rjct", "rjct.id.invalid"),
                    ("rjct", "rjct.fa.invalid"),
                    ("rjct", "rjct.beneficiary_name.invalid"),
                ],
            "{outcomes:?}"
        );
        let answers = pay
            .mapper(
                "resolve",
                vec![
                    item("1", json!({"fa": "account:001122@kcb.bank"})),
                    item("2", json!({"id": baraka, "scope": "details"})),
                    item("3", json!({"fa": "voucher:77@food.coupon-network"})),
                ],
            )
            .await?;
        ensure!(outcome(&answers[0]) == ("succ", "succ.fa.inactive"), "{}", answers[0]);
        ensure!(answers[1]["fa"] == "mobile:254700000001@airtel", "{}", answers[1]);
        ensure!(outcome(&answers[2]) == ("succ", "succ.fa.not_found"), "the replaced primary is gone: {}", answers[2]);
        // Unlink: Amina's primary goes, her other address becomes primary (inactive, so the
        // id resolves inactive); then all of Baraka's.
        let unlinked = pay
            .mapper(
                "unlink",
                vec![
                    item("1", json!({"id": amina, "fa": "mobile:254712345678@mpesa"})),
                    item("2", json!({"id": baraka})),
                    item("3", json!({"id": baraka})),
                    item("4", json!({"id": amina, "fa": "mobile:254700000001@airtel"})),
                ],
            )
            .await?;
        let outcomes: Vec<(&str, &str)> = unlinked.iter().map(outcome).collect();
        ensure!(
            outcomes == [("succ", ""), ("succ", ""), ("rjct", "rjct.id.invalid"), ("rjct", "rjct.fa.invalid")],
            "{outcomes:?}"
        );
        let answers = pay
            .mapper(
                "resolve",
                vec![
                    item("1", json!({"id": amina, "scope": "details"})),
                    item("2", json!({"id": baraka})),
                ],
            )
            .await?;
        ensure!(outcome(&answers[0]) == ("succ", "succ.id.inactive"), "{}", answers[0]);
        ensure!(outcome(&answers[1]) == ("succ", "succ.id.not_found"), "{}", answers[1]);
        // The sync endpoints also take the action the standard's YAML gives them ("link").
        let mut body = request("resolve", "resolve_request", vec![item("1", json!({"id": amina}))]);
        body["header"]["action"] = json!("link");
        let message = pay.sync("/mapper/sync/resolve", &body).await?;
        ensure!(outcome(&message["resolve_response"][0]) == ("succ", "succ.id.inactive"), "{message}");
        body["header"]["action"] = json!("search");
        body["header"]["message_id"] = json!(uuid::Uuid::now_v7().to_string());
        let (status, refused) = pay.post("/mapper/sync/resolve", &body).await?;
        ensure!(status == 400 && refused["header"]["status_reason_code"] == "rjct.action.invalid", "HTTP {status}: {refused}");
        Ok(())
    })
}

fn mapper_resolves_thousands_of_ids_in_one_request(backend: Backend) -> Result<()> {
    const PEOPLE: usize = 5000;
    runtime().block_on(async {
        let pay = TestPay::spawn(backend).await?;
        let id = |i: usize| format!("uin:{:010}@nid", 6_000_000_000u64 + i as u64);
        let links: Vec<Value> = (0..PEOPLE)
            .map(|i| {
                item(
                    &i.to_string(),
                    json!({"id": id(i), "fa": format!("account:{i:08}@bank{}", i % 7)}),
                )
            })
            .collect();
        let linked = pay.mapper("link", links).await?;
        ensure!(
            linked.iter().all(|i| i["status"] == "succ"),
            "a link was refused"
        );
        let resolves: Vec<Value> = (0..PEOPLE)
            .map(|i| item(&i.to_string(), json!({"id": id(i), "scope": "details"})))
            .collect();
        let started = Instant::now();
        let answers = pay.mapper("resolve", resolves).await?;
        let took = started.elapsed();
        ensure!(answers.len() == PEOPLE);
        for (i, answer) in answers.iter().enumerate() {
            ensure!(
                outcome(answer) == ("succ", "succ.id.active")
                    && answer["fa"] == format!("account:{i:08}@bank{}", i % 7),
                "{answer}"
            );
        }
        println!(
            "resolved {PEOPLE} ids in one request in {:.0} ms ({backend:?})",
            took.as_secs_f64() * 1000.0
        );
        // One over the limit is refused whole, and links nothing.
        let over: Vec<Value> = (0..6001)
            .map(|i| {
                item(
                    &i.to_string(),
                    json!({"id": id(PEOPLE + i), "fa": format!("mobile:{i}@m")}),
                )
            })
            .collect();
        let (status, refused) = pay
            .post("/mapper/sync/link", &request("link", "link_request", over))
            .await?;
        ensure!(
            status == 413
                && refused["header"]["status_reason_code"] == "rjct.total_count.limit_exceeded",
            "HTTP {status}: {}",
            refused["header"]
        );
        let answers = pay
            .mapper("resolve", vec![item("1", json!({"id": id(PEOPLE)}))])
            .await?;
        ensure!(
            outcome(&answers[0]) == ("succ", "succ.id.not_found"),
            "{}",
            answers[0]
        );
        let links = pay.count("SELECT COUNT(*) FROM fa_link").await?;
        ensure!(links == PEOPLE as i64, "{links} links");
        Ok(())
    })
}

fn mapper_async_calls_back_and_reports_status(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let pay = TestPay::spawn(backend).await?;
        let sink = Sink::start().await?;
        let callback = format!("http://{}/mapper/on-link", sink.addr);
        let mut body = request(
            "link",
            "link_request",
            vec![
                item("1", json!({"id": "uin:1234567890@nid", "fa": "account:55@bank"})),
                item("2", json!({"id": "uin:1234567890@nid", "fa": "bad"})),
            ],
        );
        body["header"]["sender_uri"] = json!(callback);
        let (status, ack) = pay.post("/mapper/link", &body).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status}: {ack}");
        let correlation_id = ack["message"]["correlation_id"].clone();
        // The same message again is acknowledged as the first time and answered once.
        let (_, again) = pay.post("/mapper/link", &body).await?;
        ensure!(again["message"]["correlation_id"] == correlation_id, "{again}");
        let received = sink.wait(Duration::from_secs(10), |r| !r.is_empty()).await?;
        let on_link = &received[0];
        ensure!(on_link["header"]["action"] == "on-link" && on_link["header"]["status"] == "succ", "{on_link}");
        ensure!(on_link["message"]["correlation_id"] == correlation_id, "{on_link}");
        let items = on_link["message"]["link_response"].as_array().context("link_response")?;
        ensure!(outcome(&items[0]) == ("succ", "") && outcome(&items[1]) == ("rjct", "rjct.fa.invalid"), "{on_link}");
        // The link is made: the id resolves.
        let answers = pay.mapper("resolve", vec![item("1", json!({"id": "uin:1234567890@nid"}))]).await?;
        ensure!(outcome(&answers[0]) == ("succ", "succ.id.active"), "{}", answers[0]);
        // Txn status, sync, by transaction id and by reference id.
        let transaction_id = body["message"]["transaction_id"].clone();
        let status_request = |attribute_type: &str, value: Value| {
            let mut status = request("txn-status", "unused", vec![json!({})]);
            status["message"] = json!({"transaction_id": "status-1", "txnstatus_request":
                {"reference_id": "1", "txn_type": "link", "attribute_type": attribute_type, "attribute_value": value}});
            status
        };
        let answer = pay.sync("/mapper/sync/txn/status", &status_request("transaction_id", transaction_id.clone())).await?;
        ensure!(answer["txnstatus_response"]["txn_type"] == "on-link", "{answer}");
        ensure!(answer["txnstatus_response"]["txn_status"]["link_response"] == on_link["message"]["link_response"], "{answer}");
        ensure!(answer["correlation_id"] == correlation_id, "{answer}");
        let answer = pay.sync("/registry/sync/txn/status", &status_request("reference_id_list", json!(["2"]))).await?;
        ensure!(answer["txnstatus_response"]["txn_type"] == "on-link", "{answer}");
        let (status, missing) = pay.post("/mapper/sync/txn/status", &status_request("transaction_id", json!("nope"))).await?;
        ensure!(status == 404 && missing["message"]["error"]["code"] == "err.request.not_found", "HTTP {status}: {missing}");
        // Async txn status, answered in a callback.
        let mut asked = status_request("correlation_id", correlation_id.clone());
        asked["header"]["sender_uri"] = json!(format!("http://{}/mapper/txn/on-status", sink.addr));
        let (status, ack) = pay.post("/mapper/txn/status", &asked).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status}: {ack}");
        let received = sink.wait(Duration::from_secs(10), |r| r.len() >= 2).await?;
        let on_status = &received[1];
        ensure!(on_status["header"]["action"] == "txn-on-status", "{on_status}");
        ensure!(on_status["message"]["txnstatus_response"]["txn_status"]["link_response"][0]["status"] == "succ", "{on_status}");
        // A header-level refusal arrives in the callback, and changes nothing.
        let mut wrong = request("unlink", "unlink_request", vec![item("1", json!({"id": "uin:1234567890@nid"}))]);
        wrong["header"]["total_count"] = json!(3);
        wrong["header"]["sender_uri"] = json!(format!("http://{}/mapper/on-unlink", sink.addr));
        let (status, ack) = pay.post("/mapper/unlink", &wrong).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status}: {ack}");
        let received = sink.wait(Duration::from_secs(10), |r| r.len() >= 3).await?;
        let refused = &received[2];
        ensure!(
            refused["header"]["status"] == "rjct" && refused["header"]["status_reason_code"] == "rjct.total_count.invalid",
            "{refused}"
        );
        let answers = pay.mapper("resolve", vec![item("1", json!({"id": "uin:1234567890@nid"}))]).await?;
        ensure!(outcome(&answers[0]) == ("succ", "succ.id.active"), "{}", answers[0]);
        ensure!(sink.received().len() == 3, "one callback per message");
        Ok(())
    })
}

/// A simulator that pays everything at once.
pub fn reliable() -> pay::switch::SimulatorConfig {
    pay::switch::SimulatorConfig {
        latency: Duration::ZERO,
        failure_rate: 0.0,
        timeout_rate: 0.0,
        ..pay::switch::SimulatorConfig::default()
    }
}

/// A disbursement item: `reference_id`, paid from the treasury, `fields` added.
fn payment(reference_id: &str, fields: Value) -> Value {
    let mut item = json!({"reference_id": reference_id, "payer_fa": "account:0001@treasury.gov",
                          "payer_name": "Cash transfer programme", "currency_code": "KES", "purpose": "CT-2026-11"});
    item.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    item
}

impl TestPay {
    /// `GET path`: the HTTP status and the body.
    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let response = self.client.get(self.url(path)).send().await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// The reconciliation report of `spmis.test`'s `transaction_id` in `format`.
    async fn report(&self, transaction_id: &str, format: &str) -> Result<String> {
        let (status, body) = self
            .get(&format!(
                "/disburse/reconciliation?sender_id=spmis.test&transaction_id={transaction_id}&format={format}"
            ))
            .await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        Ok(body)
    }

    /// `(rows, sum of amounts)` of the switch's ledger entries with `outcome`.
    async fn ledger(&self, outcome: &str) -> Result<(i64, i64)> {
        let rows = self
            .count(&format!(
                "SELECT COUNT(*) FROM switch_ledger WHERE outcome = '{outcome}'"
            ))
            .await?;
        let sum = self
            .count(&format!(
                "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM switch_ledger WHERE outcome = '{outcome}'"
            ))
            .await?;
        Ok((rows, sum))
    }
}

fn disburse_sync_resolves_pays_and_refuses_bad_input(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let pay = TestPay::spawn_with(backend, engine_config(), reliable()).await?;
        let (amina, baraka) = ("uin:5035049349@nid", "uin:7000000015@nid");
        pay.mapper(
            "link",
            vec![
                item("1", json!({"id": amina, "fa": "account:001122@kcb.bank"})),
                item("2", json!({"id": baraka, "fa": "mobile:254700000001@mpesa",
                                  "additional_info": [{"name": "active", "value": false}]})),
            ],
        )
        .await?;
        let batch = vec![
            payment("1", json!({"payee_fa": amina, "amount": "1500.00", "payee_name": "Amina Otieno",
                                "meta": {"programme": "CT-OVC", "region": "R01"}})),
            payment("2", json!({"payee_fa": "mobile:254799000000@airtel", "amount": "250.5"})),
            payment("3", json!({"payee_fa": "mobile:254799000003@airtel", "amount": "-5.00"})),
            payment("4", json!({"payee_fa": "mobile:254799000004@airtel", "amount": "0.00"})),
            payment("5", json!({"payee_fa": "mobile:254799000005@airtel", "amount": "10.00", "currency_code": "XYZ"})),
            payment("6", json!({"payee_fa": "uin:9999999999@nid", "amount": "10.00"})),
            payment("1", json!({"payee_fa": "mobile:254799000007@airtel", "amount": "10.00"})),
            payment("8", json!({"payee_fa": "mobile:254799000008@airtel", "amount": "10.00", "payer_fa": "treasury"})),
            payment("9", json!({"payee_fa": "mobile:254799000009@airtel", "amount": "10.00", "scheduled_timestamp": "tomorrow"})),
            payment("10", json!({"payee_fa": "mobile:254799000010@airtel", "amount": 100})),
            payment("11", json!({"payee_fa": baraka, "amount": "10.00"})),
            payment("12", json!({"payee_fa": "mobile:254799000012@airtel", "amount": "10.50", "currency_code": "UGX"})),
            payment("13", json!({"payee_fa": "mobile:254799000013@airtel", "amount": "10.00", "currency_code": null})),
        ];
        let body = request("disburse", "disbursements", batch);
        let message = pay.sync("/disburse/sync/disburse", &body).await?;
        let items = message["disbursements_status"].as_array().context("disbursements_status")?.clone();
        let outcomes: Vec<(&str, &str)> = items.iter().map(outcome).collect();
        ensure!(
            outcomes
                == [
                    ("succ", ""),
                    ("succ", ""),
                    ("rjct", "rjct.amount.invalid"),
                    ("rjct", "rjct.amount.invalid"),
                    ("rjct", "rjct.currency_code.invalid"),
                    ("rjct", "rjct.payee_fa.invalid"),
                    ("rjct", "rjct.reference_id.duplicate"),
                    ("rjct", "rjct.payer_fa.invalid"),
                    ("rjct", "rjct.schedule_ts.invalid"),
                    ("rjct", "rjct.amount.invalid"),
                    ("rjct", "rjct.payee_fa.invalid"),
                    ("rjct", "rjct.amount.invalid"),
                    ("rjct", "rjct.currency_code.invalid"),
                ],
            "{outcomes:?}"
        );
        // The payee given by id was paid at its primary address, in minor units.
        ensure!(items[0]["payee_fa"] == "account:001122@kcb.bank" && items[0]["amount"] == "1500.00", "{}", items[0]);
        ensure!(items[1]["amount"] == "250.50" && items[1]["currency_code"] == "KES", "{}", items[1]);
        let reason = |i: usize| items[i]["status_reason_message"].as_str().unwrap_or_default().to_string();
        ensure!(reason(2).contains("negative") && reason(3).contains("zero"), "{} / {}", reason(2), reason(3));
        ensure!(reason(5).contains("unknown payee") && reason(10).contains("no active"), "{} / {}", reason(5), reason(10));
        ensure!(pay.ledger("paid").await? == (2, 150_000 + 25_050), "two payments, 1,750.50 KES");
        ensure!(pay.count("SELECT COUNT(*) FROM switch_ledger").await? == 2, "nothing else reached the switch");
        // The same message again: the same answer, nothing paid again.
        let again = pay.sync("/disburse/sync/disburse", &body).await?;
        ensure!(again["disbursements_status"] == message["disbursements_status"], "{again}");
        // Another message of the transaction repeating a reference id: refused, not paid.
        let mut repeat = request("disburse", "disbursements", vec![payment("2", json!({"payee_fa": "mobile:254799000000@airtel", "amount": "250.50"}))]);
        repeat["message"]["transaction_id"] = body["message"]["transaction_id"].clone();
        let repeated = pay.sync("/disburse/sync/disburse", &repeat).await?;
        ensure!(outcome(&repeated["disbursements_status"][0]) == ("rjct", "rjct.reference_id.duplicate"), "{repeated}");
        // A batch over the limit is refused whole.
        let over: Vec<Value> = (0..6001)
            .map(|i| payment(&format!("o{i}"), json!({"payee_fa": "mobile:254799000000@airtel", "amount": "1.00"})))
            .collect();
        let (status, refused) = pay.post("/disburse/sync/disburse", &request("disburse", "disbursements", over)).await?;
        ensure!(
            status == 413 && refused["header"]["status_reason_code"] == "rjct.total_count.limit_exceeded",
            "HTTP {status}: {}", refused["header"]
        );
        ensure!(pay.count("SELECT COUNT(*) FROM switch_ledger").await? == 2, "nothing paid");
        ensure!(pay.count("SELECT COUNT(*) FROM disbursement").await? == 14, "nothing of the refused batch stored");
        // Search by payee address, transaction and reference id; refusals with their codes.
        let criteria = |reference: &str, attribute: &str, value: &str| {
            json!({"reference_id": reference, "timestamp": dci::Timestamp::now().to_string(), "request_type": "disburse",
                   "attribute_type": attribute, "attribute_value": value})
        };
        let transaction_id = body["message"]["transaction_id"].as_str().unwrap_or_default();
        let mut search = request(
            "search",
            "search_criteria",
            vec![
                criteria("s1", "payee_fa", "account:001122@kcb.bank"),
                criteria("s2", "transaction_id", transaction_id),
                criteria("s3", "reference_id", "nope"),
                criteria("s4", "amount", "10.00"),
                json!({"reference_id": "s5", "request_type": "refund", "attribute_type": "payee_fa", "attribute_value": "x:y@z"}),
                criteria("s6", "payee_fa", "not an address"),
            ],
        );
        search["header"]["total_count"] = json!(6);
        let found = pay.sync("/disburse/sync/search", &search).await?;
        let found = found["disbursements_status"].as_array().context("disbursements_status")?;
        let outcomes: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|i| (i["reference_id"].as_str().unwrap_or_default(), outcome(i).0, outcome(i).1))
            .collect();
        let mut expected = vec![("1", "succ", "")];
        expected.extend(items.iter().map(|i| (i["reference_id"].as_str().unwrap_or_default(), outcome(i).0, outcome(i).1)));
        expected.extend([
            ("2", "rjct", "rjct.reference_id.duplicate"),
            ("s3", "rjct", "rjct_srch_reference_id.not_found"),
            ("s4", "rjct", "rjct.attribute_type.invalid"),
            ("s5", "rjct", "rjct.request_type.invalid"),
            ("s6", "rjct", "rjct.srch_payee_fa.invalid"),
        ]);
        ensure!(outcomes == expected, "{outcomes:?}");
        // Txn status by transaction id: every payment of the transaction (both messages).
        let mut status = request("txn-status", "unused", vec![json!({})]);
        status["message"] = json!({"transaction_id": "status-1", "txnstatus_request":
            {"reference_id": "1", "txn_type": "disburse", "attribute_type": "transaction_id", "attribute_value": transaction_id}});
        let answer = pay.sync("/disburse/sync/txn/status", &status).await?;
        ensure!(answer["txnstatus_response"]["txn_type"] == "on-disburse", "{answer}");
        let reported = answer["txnstatus_response"]["txn_status"]["disbursements_status"].as_array().context("statuses")?;
        ensure!(reported.len() == 14 && reported[..13] == items[..], "{answer}");
        Ok(())
    })
}

fn disburse_async_retries_failures_and_calls_back_once(backend: Backend) -> Result<()> {
    const PAYMENTS: usize = 300;
    runtime().block_on(async {
        let simulator = pay::switch::SimulatorConfig {
            latency: Duration::from_millis(5),
            failure_rate: 0.2,
            timeout_rate: 0.3,
            seed: 7,
            ..pay::switch::SimulatorConfig::default()
        };
        let mut engine = engine_config();
        engine.header.max_batch_size = PAYMENTS;
        let pay = TestPay::spawn_with(backend, engine, simulator).await?;
        let sink = Sink::start().await?;
        let batch: Vec<Value> = (0..PAYMENTS)
            .map(|i| payment(&i.to_string(), json!({"payee_fa": format!("mobile:2547{i:08}@mpesa"), "amount": format!("{}.{:02}", 100 + i, i % 100)})))
            .collect();
        let expected: i64 = (0..PAYMENTS as i64).map(|i| (100 + i) * 100 + i % 100).sum();
        let mut body = request("disburse", "disbursements", batch);
        body["header"]["sender_uri"] = json!(format!("http://{}/on-disburse", sink.addr));
        let started = Instant::now();
        let (status, ack) = pay.post("/disburse", &body).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status}: {ack}");
        let correlation_id = ack["message"]["correlation_id"].clone();
        let received = sink.wait(Duration::from_secs(60), |r| !r.is_empty()).await?;
        let took = started.elapsed();
        let on_disburse = &received[0];
        ensure!(on_disburse["header"]["action"] == "on-disburse" && on_disburse["header"]["status"] == "succ", "{}", on_disburse["header"]);
        ensure!(on_disburse["header"]["message_id"] == format!("on-disburse-{}", correlation_id.as_str().unwrap_or_default()));
        let items = on_disburse["message"]["disbursements_status"].as_array().context("statuses")?;
        ensure!(items.len() == PAYMENTS && items.iter().all(|i| i["status"] != "pdng"), "every item is final");
        // The callback agrees with the switch's ledger: what it says paid was paid, once.
        let minor = |i: &Value| -> i64 {
            let amount = i["amount"].as_str().unwrap_or_default().replace('.', "");
            amount.parse().unwrap_or_default()
        };
        let paid: Vec<&Value> = items.iter().filter(|i| i["status"] == "succ").collect();
        let (ledger_paid, ledger_sum) = pay.ledger("paid").await?;
        ensure!(paid.len() as i64 == ledger_paid && paid.iter().map(|i| minor(i)).sum::<i64>() == ledger_sum, "callback and switch disagree");
        let (failed, _) = pay.ledger("failed").await?;
        let (returned, returned_sum) = pay.ledger("returned").await?;
        ensure!(items.len() as i64 - ledger_paid == failed + returned, "every failure is the switch's");
        ensure!(pay.count("SELECT COUNT(*) FROM switch_ledger").await? == PAYMENTS as i64, "one ledger entry per payment");
        ensure!(items.iter().map(minor).sum::<i64>() == expected);
        ensure!(failed + returned > 0 && returned_sum >= 0, "the simulator fails some payments");
        for failure in items.iter().filter(|i| i["status"] == "rjct") {
            let code = failure["status_reason_code"].as_str().unwrap_or_default();
            let why = failure["status_reason_message"].as_str().unwrap_or_default();
            ensure!(
                (code == "rjct.payee_fa.invalid" && (why.starts_with("account_closed") || why.starts_with("name_mismatch") || why.starts_with("returned")))
                    || (code == "rjct.amount.invalid" && why.starts_with("limit_exceeded")),
                "{failure}"
            );
        }
        let retried = pay.count("SELECT COUNT(*) FROM disbursement WHERE attempts > 1").await?;
        ensure!(retried > 0, "timeouts were retried");
        println!("{PAYMENTS} payments through a switch failing 20% and timing out 30%: {ledger_paid} paid, {failed} failed, {returned} returned, {retried} retried, called back in {:.0} ms ({backend:?})", took.as_secs_f64() * 1000.0);
        // The cycle reconciles: every payment final; the report's paid total is the sum of
        // the items the callback says paid, and the switch's.
        let transaction_id = body["message"]["transaction_id"].as_str().unwrap_or_default();
        let report = pay.report(transaction_id, "json").await?;
        let report: Value = serde_json::from_str(&report)?;
        ensure!(report["reconciled"] == true && report["payments"] == PAYMENTS, "{report}");
        let line = |group: &str, key: &str| {
            report["lines"]
                .as_array()
                .and_then(|lines| lines.iter().find(|l| l["group"] == group && l["key"] == key))
                .cloned()
                .unwrap_or_default()
        };
        let paid_line = line("state", "paid");
        ensure!(paid_line["states"]["paid"]["amount_minor"] == ledger_sum && paid_line["states"]["paid"]["count"] == ledger_paid, "{paid_line}");
        let programme = line("programme", "CT-2026-11");
        let counted: i64 = programme["states"].as_object().map(|s| s.values().filter_map(|t| t["count"].as_i64()).sum()).unwrap_or_default();
        ensure!(counted == PAYMENTS as i64, "{programme}");
        ensure!(line("failure", "returned")["states"]["returned"]["count"] == returned, "{report}");
        let csv = pay.report(transaction_id, "csv").await?;
        ensure!(csv.starts_with("group,key,currency,state,count,amount_minor,amount\n"), "{csv}");
        ensure!(csv.contains(&format!("state,paid,KES,paid,{ledger_paid},{ledger_sum},")), "{csv}");
        let (status_code, missing) = pay.get("/disburse/reconciliation?sender_id=spmis.test&transaction_id=nope").await?;
        ensure!(status_code == 404 && missing.contains("err.request.not_found"), "HTTP {status_code}: {missing}");
        // Txn status by correlation id reports the same; an async one calls back.
        let mut status = request("txn-status", "unused", vec![json!({})]);
        status["message"] = json!({"transaction_id": "status-2", "txnstatus_request":
            {"reference_id": "1", "txn_type": "on-disburse", "attribute_type": "correlation_id", "attribute_value": correlation_id}});
        status["header"]["sender_uri"] = json!(format!("http://{}/disburse/txn/on-status", sink.addr));
        let (status_code, ack) = pay.post("/disburse/txn/status", &status).await?;
        ensure!(status_code == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status_code}: {ack}");
        let received = sink.wait(Duration::from_secs(10), |r| r.len() >= 2).await?;
        ensure!(received[1]["message"]["txnstatus_response"]["txn_status"]["disbursements_status"] == on_disburse["message"]["disbursements_status"], "{}", received[1]);
        // A batch over the limit: ACK, then refused whole in the callback; nothing stored.
        let over: Vec<Value> = (0..=PAYMENTS).map(|i| payment(&format!("o{i}"), json!({"payee_fa": "mobile:1234567@m", "amount": "1.00"}))).collect();
        let mut over = request("disburse", "disbursements", over);
        over["header"]["sender_uri"] = body["header"]["sender_uri"].clone();
        let (status_code, ack) = pay.post("/disburse", &over).await?;
        ensure!(status_code == 200 && ack["message"]["ack_status"] == "ACK", "HTTP {status_code}: {ack}");
        let received = sink.wait(Duration::from_secs(10), |r| r.len() >= 3).await?;
        ensure!(received[2]["header"]["status"] == "rjct" && received[2]["header"]["status_reason_code"] == "rjct.total_count.limit_exceeded", "{}", received[2]);
        ensure!(pay.count("SELECT COUNT(*) FROM disbursement").await? == PAYMENTS as i64, "nothing of the refused batch stored");
        // A payment scheduled two seconds ahead waits, then is paid; its callback follows.
        let at = dci::Timestamp(time::OffsetDateTime::now_utc() + time::Duration::seconds(2)).to_string();
        let mut later = request("disburse", "disbursements", vec![payment("later", json!({"payee_fa": "mobile:254711111111@mpesa", "amount": "5.00", "scheduled_timestamp": at}))]);
        later["header"]["sender_uri"] = body["header"]["sender_uri"].clone();
        let scheduled = Instant::now();
        let (_, ack) = pay.post("/disburse", &later).await?;
        ensure!(ack["message"]["ack_status"] == "ACK", "{ack}");
        let received = sink.wait(Duration::from_secs(30), |r| r.len() >= 4).await?;
        ensure!(scheduled.elapsed() >= Duration::from_millis(1900), "paid before its time");
        ensure!(received[3]["message"]["disbursements_status"][0]["reference_id"] == "later", "{}", received[3]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure!(sink.received().len() == 4, "one callback per message");
        Ok(())
    })
}

/// Starts `spx serve --role pay` on `port` with `data` (no tokens, signatures logged: the test
/// is about durability), a switch of `latency_ms` per call of 100 payments, failing 3% and
/// timing out 2%; waits until it listens.
fn serve_pay(data: &std::path::Path, port: u16) -> Result<crate::cli::Running> {
    use std::io::BufRead;
    let mut child = crate::cli::spx()
        .env("SPX__TRUST__VERIFY", "log")
        .env("SPX__TRUST__REQUIRE_TOKEN", "false")
        .env("SPX__PAY__SWITCH_BATCH", "100")
        .env("SPX__PAY__SIMULATOR_LATENCY_MS", "30")
        .env("SPX__PAY__SIMULATOR_FAILURE_RATE", "0.03")
        .env("SPX__PAY__SIMULATOR_TIMEOUT_RATE", "0.02")
        .args(["serve", "--role", "pay", "--service-id", PAY_ID])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    ensure!(
        line.contains("payments service on http://"),
        "serve did not start: {line}"
    );
    Ok(crate::cli::Running(child))
}

/// One integer from the payments store file of a running (or stopped) service.
fn query(db: &std::path::Path, sql: &str) -> Result<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn.query_row(sql, [], |row| row.get(0))?)
}

/// A payment cycle of 5,000 payments in five messages; the service is killed with SIGKILL
/// while the switch is paying them, and started again; the client sends again what was not
/// acknowledged. Every payment ends final, each payee is paid once, the state of every payment
/// is what the switch did, one callback per message, and the cycle reconciles.
fn kill_9_mid_cycle_pays_each_payee_once() -> Result<()> {
    const MESSAGES: usize = 5;
    const PER_MESSAGE: usize = 1000;
    const PAYMENTS: usize = MESSAGES * PER_MESSAGE;
    let dir = crate::support::TempDir::new("pay-kill9");
    let db = dir.0.join("pay.db");
    let port = crate::cli::free_port()?;
    let server = Arc::new(std::sync::Mutex::new(Some(serve_pay(&dir.0, port)?)));
    runtime().block_on(async {
        let sink = Sink::start().await?;
        let transaction_id = format!("cycle-{}", uuid::Uuid::now_v7());
        let bodies: Vec<Value> = (0..MESSAGES)
            .map(|m| {
                let items = (0..PER_MESSAGE)
                    .map(|i| {
                        let n = m * PER_MESSAGE + i;
                        payment(&format!("p{n}"), json!({"payee_fa": format!("mobile:2547{n:08}@mpesa"), "amount": format!("{}.00", 100 + n % 50),
                                                         "meta": {"programme": if n.is_multiple_of(2) { "CT-OVC" } else { "CT-ELDERLY" }, "region": format!("R0{}", n % 4)}}))
                    })
                    .collect();
                let mut body = request("disburse", "disbursements", items);
                body["message"]["transaction_id"] = json!(transaction_id);
                body["header"]["sender_uri"] = json!(format!("http://{}/on-disburse", sink.addr));
                body
            })
            .collect();
        let url = format!("http://127.0.0.1:{port}/disburse");
        let client = reqwest::Client::new();
        let mut acked = std::collections::HashMap::new();
        // The killer: SIGKILL once the switch has paid 300 of the payments, while messages are still being sent.
        let killer = {
            let (server, db) = (server.clone(), db.clone());
            tokio::spawn(async move {
                loop {
                    let paid = query(&db, "SELECT COUNT(*) FROM switch_ledger").unwrap_or(0);
                    if paid >= 300 {
                        if let Some(mut running) = server.lock().unwrap().take() {
                            running.0.kill().ok();
                            running.0.wait().ok();
                        }
                        return paid;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        for (m, body) in bodies.iter().enumerate() {
            if let Ok((200, ack)) = post_json(&client, &url, body).await {
                acked.insert(m, ack["message"]["correlation_id"].clone());
            }
        }
        let acked_before_kill = acked.len();
        let paid_at_kill = tokio::time::timeout(Duration::from_secs(60), killer).await??;
        let ledger_at_kill = query(&db, "SELECT COUNT(*) FROM switch_ledger")?;
        ensure!(ledger_at_kill < PAYMENTS as i64, "the cycle was over before the kill");
        // Payments the switch made whose answer the killed service had not recorded: paid
        // again after the restart under the same id, and not paid twice.
        let unrecorded = ledger_at_kill
            - query(&db, "SELECT COUNT(*) FROM disbursement WHERE state IN ('paid', 'failed', 'returned')")?;
        *server.lock().unwrap() = Some(serve_pay(&dir.0, port)?);
        // The client sends again, with the same message ids, what was not acknowledged.
        for _ in 0..5 {
            for (m, body) in bodies.iter().enumerate() {
                if acked.contains_key(&m) {
                    continue;
                }
                if let Ok((200, ack)) = post_json(&client, &url, body).await {
                    acked.insert(m, ack["message"]["correlation_id"].clone());
                }
            }
        }
        ensure!(acked.len() == MESSAGES, "only {} of {MESSAGES} messages acknowledged", acked.len());
        let on_disburse = |received: &[Value]| -> std::collections::HashMap<String, Value> {
            received
                .iter()
                .filter(|c| c["header"]["action"] == "on-disburse")
                .map(|c| (c["header"]["message_id"].as_str().unwrap_or_default().to_string(), c.clone()))
                .collect()
        };
        let received = sink.wait(Duration::from_secs(120), |r| on_disburse(r).len() >= MESSAGES).await?;
        let callbacks = on_disburse(&received);
        ensure!(callbacks.len() == MESSAGES, "{} distinct callbacks for {MESSAGES} messages", callbacks.len());
        for correlation_id in acked.values() {
            let id = format!("on-disburse-{}", correlation_id.as_str().unwrap_or_default());
            ensure!(callbacks.contains_key(&id), "no callback for {correlation_id}");
        }
        // Every payment final; exactly one ledger entry each; the state of each payment is
        // what the switch did with it, for the same payee and amount.
        ensure!(query(&db, "SELECT COUNT(*) FROM disbursement WHERE state = 'pending'")? == 0, "payments left pending");
        ensure!(query(&db, "SELECT COUNT(*) FROM disbursement")? == PAYMENTS as i64);
        ensure!(query(&db, "SELECT COUNT(*) FROM switch_ledger")? == PAYMENTS as i64, "a ledger entry per payment");
        let agreeing = query(
            &db,
            "SELECT COUNT(*) FROM disbursement d JOIN switch_ledger l ON l.payment_id = d.sender_id || '/' || d.transaction_id || '/' || d.reference_id
             WHERE l.outcome = d.state AND l.amount_minor = d.amount_minor AND l.payee_fa = d.payee_fa",
        )?;
        ensure!(agreeing == PAYMENTS as i64, "{agreeing} of {PAYMENTS} payments agree with the switch");
        ensure!(
            query(&db, "SELECT COUNT(*) FROM (SELECT payee_fa FROM switch_ledger WHERE outcome = 'paid' GROUP BY payee_fa HAVING COUNT(*) > 1)")? == 0,
            "a payee was paid twice"
        );
        // The callbacks' paid items, the report's paid total and the switch's agree.
        let paid_in_callbacks: i64 = callbacks
            .values()
            .flat_map(|c| c["message"]["disbursements_status"].as_array().cloned().unwrap_or_default())
            .filter(|i| i["status"] == "succ")
            .map(|i| i["amount"].as_str().unwrap_or_default().replace('.', "").parse::<i64>().unwrap_or_default())
            .sum();
        let ledger_paid = query(&db, "SELECT COALESCE(SUM(amount_minor), 0) FROM switch_ledger WHERE outcome = 'paid'")?;
        let report: Value = client
            .get(format!("http://127.0.0.1:{port}/disburse/reconciliation?sender_id=spmis.test&transaction_id={transaction_id}"))
            .send()
            .await?
            .json()
            .await?;
        let paid_line = report["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["group"] == "state" && l["key"] == "paid"))
            .context("no paid line")?;
        ensure!(report["reconciled"] == true && report["payments"] == PAYMENTS, "{report}");
        ensure!(paid_line["states"]["paid"]["amount_minor"] == ledger_paid && paid_in_callbacks == ledger_paid, "report {paid_line}, callbacks {paid_in_callbacks}, switch {ledger_paid}");
        let not_paid = query(&db, "SELECT COUNT(*) FROM disbursement WHERE state IN ('failed', 'returned')")?;
        ensure!((PAYMENTS as i64 / 100..=PAYMENTS as i64 * 6 / 100).contains(&not_paid), "{not_paid} failures of {PAYMENTS}");
        let retried = query(&db, "SELECT COUNT(*) FROM disbursement WHERE attempts > 1")?;
        println!(
            "kill -9 with {paid_at_kill} of {PAYMENTS} payments in the switch's ledger ({acked_before_kill} of {MESSAGES} messages acknowledged, {unrecorded} of them made by the switch but not recorded); after the restart: {} paid, {not_paid} failed or returned, {retried} paid again after a timeout or the crash, {} deliveries for {MESSAGES} callbacks; paid total {ledger_paid} minor units = report = callbacks = switch",
            PAYMENTS as i64 - not_paid,
            received.iter().filter(|c| c["header"]["action"] == "on-disburse").count()
        );
        Ok(())
    })
}

/// Two payments nodes on one store share a cycle sent to both. On PostgreSQL each payment is
/// claimed by one node (lease, `SKIP LOCKED`) and sent to the switch once; the embedded store is
/// one process's (two nodes may both send a payment, which the switch pays once). Either way,
/// each payment is recorded once, as the switch did it, and each message called back once.
fn two_nodes_on_one_store_pay_each_payment_once(backend: Backend) -> Result<()> {
    const MESSAGES: usize = 10;
    const PER_MESSAGE: usize = 200;
    runtime().block_on(async {
        let simulator = pay::switch::SimulatorConfig {
            latency: Duration::from_millis(5),
            ..reliable()
        };
        let settings = pay::PayConfig {
            switch_batch: 50,
            switch_concurrency: 2,
            ..test_settings()
        };
        let (sent_a, sent_b) = (Arc::default(), Arc::default());
        let counting = |sent: &Arc<std::sync::Mutex<Vec<String>>>| {
            let (sent, simulator) = (sent.clone(), simulator.clone());
            move |store| -> Arc<dyn pay::switch::Switch> {
                Arc::new(Counting {
                    inner: pay::switch::Simulator::new(store, simulator),
                    sent,
                })
            }
        };
        let first =
            TestPay::spawn_switched(backend, engine_config(), settings, counting(&sent_a)).await?;
        let second = first.another_node(counting(&sent_b)).await?;
        let sink = Sink::start().await?;
        let transaction_id = format!("cycle-{}", uuid::Uuid::now_v7());
        for m in 0..MESSAGES {
            let items = (0..PER_MESSAGE)
                .map(|i| {
                    let n = m * PER_MESSAGE + i;
                    payment(
                        &format!("p{n}"),
                        json!({"payee_fa": format!("mobile:2547{n:08}@mpesa"), "amount": "10.00"}),
                    )
                })
                .collect();
            let mut body = request("disburse", "disbursements", items);
            body["message"]["transaction_id"] = json!(transaction_id);
            body["header"]["sender_uri"] = json!(format!("http://{}/on-disburse", sink.addr));
            let node = if m % 2 == 0 {
                first.url("/disburse")
            } else {
                format!("http://{second}/disburse")
            };
            let (status, ack) = post_json(&first.client, &node, &body).await?;
            ensure!(
                status == 200 && ack["message"]["ack_status"] == "ACK",
                "{ack}"
            );
        }
        sink.wait(Duration::from_secs(60), |r| r.len() >= MESSAGES)
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ids: std::collections::HashSet<String> = sink
            .received()
            .iter()
            .map(|c| {
                c["header"]["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        ensure!(
            ids.len() == MESSAGES && sink.received().len() == MESSAGES,
            "one callback per message"
        );
        let payments = (MESSAGES * PER_MESSAGE) as i64;
        ensure!(first.count("SELECT COUNT(*) FROM switch_ledger").await? == payments);
        ensure!(
            first
                .count("SELECT COUNT(*) FROM disbursement WHERE state = 'paid'")
                .await?
                == payments
        );
        let (a, b) = (
            sent_a.lock().unwrap().clone(),
            sent_b.lock().unwrap().clone(),
        );
        let union: std::collections::HashSet<&String> = a.iter().chain(&b).collect();
        ensure!(
            union.len() == payments as usize,
            "{} payments sent",
            union.len()
        );
        if backend == Backend::Postgres {
            ensure!(
                a.len() + b.len() == payments as usize && !a.is_empty() && !b.is_empty(),
                "node A sent {}, node B {}: each payment once, both nodes working",
                a.len(),
                b.len()
            );
        }
        println!(
            "two nodes ({backend:?}): {} and {} payments sent to the switch, {payments} paid once",
            a.len(),
            b.len()
        );
        Ok(())
    })
}

/// A receipts publisher as the IBR's will be: one outbox message per completed disburse
/// message, its `message_id` derived from the correlation id, to `url`.
struct OutboxReceipts {
    url: String,
}

impl pay::receipts::Receipts for OutboxReceipts {
    fn publish(
        &self,
        dialect: store::Dialect,
        correlation_id: &str,
        receipts: &[pay::receipts::Receipt],
    ) -> Vec<store::Statement> {
        let receipts: Vec<Value> = receipts
            .iter()
            .map(|r| json!({"reference_id": r.reference_id, "payee": r.payee, "payee_fa": r.payee_fa,
                            "amount_minor": r.amount_minor, "currency": r.currency, "programme": r.programme,
                            "switch_ref": r.switch_ref}))
            .collect();
        let body = json!({"header": {"action": "receipts"}, "message": {"receipts": receipts}});
        vec![dispatch::enqueue(
            dialect,
            &format!("receipts-{correlation_id}"),
            Some(correlation_id),
            &self.url,
            body.to_string(),
        )]
    }
}

/// The receipts hook gets exactly the paid items of a message, in the transaction that
/// completes it: they go out with the `on-disburse`, through the outbox.
fn receipts_of_paid_items_go_out_with_the_callback(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let sink = Sink::start().await?;
        let receipts = Arc::new(OutboxReceipts {
            url: format!("http://{}/ibr/receipts", sink.addr),
        });
        let place = Place::new(backend).await?;
        let store = pay::open_store(&place.config()).await?;
        let simulator = pay::switch::SimulatorConfig {
            failure_rate: 0.2,
            ..reliable()
        };
        let switch = Arc::new(pay::switch::Simulator::new(store.clone(), simulator));
        let pay = pay::Pay::start_with_receipts(
            store,
            engine_config(),
            test_settings(),
            switch,
            receipts,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, pay.router()).into_future());
        let items: Vec<Value> = (0..100)
            .map(|i| {
                payment(
                    &format!("p{i}"),
                    json!({"payee_fa": format!("mobile:2547{i:08}@mpesa"), "amount": "25.00",
                                                       "meta": {"programme": "CT-OVC"}}),
                )
            })
            .chain([payment(
                "bad",
                json!({"payee_fa": "mobile:254700000000@mpesa", "amount": "0.00"}),
            )])
            .collect();
        let mut body = request("disburse", "disbursements", items);
        body["header"]["sender_uri"] = json!(format!("http://{}/on-disburse", sink.addr));
        let (status, ack) = post_json(
            &reqwest::Client::new(),
            &format!("http://{addr}/disburse"),
            &body,
        )
        .await?;
        ensure!(
            status == 200 && ack["message"]["ack_status"] == "ACK",
            "{ack}"
        );
        let received = sink.wait(Duration::from_secs(20), |r| r.len() >= 2).await?;
        let on_disburse = received
            .iter()
            .find(|c| c["header"]["action"] == "on-disburse")
            .context("on-disburse")?;
        let published = received
            .iter()
            .find(|c| c["header"]["action"] == "receipts")
            .context("receipts")?;
        let paid: Vec<&str> = on_disburse["message"]["disbursements_status"]
            .as_array()
            .context("statuses")?
            .iter()
            .filter(|i| i["status"] == "succ")
            .filter_map(|i| i["reference_id"].as_str())
            .collect();
        let receipted: Vec<&str> = published["message"]["receipts"]
            .as_array()
            .context("receipts")?
            .iter()
            .filter_map(|r| r["reference_id"].as_str())
            .collect();
        ensure!(
            !paid.is_empty() && paid.len() < 100,
            "{} paid of 100",
            paid.len()
        );
        ensure!(
            paid == receipted,
            "receipts {receipted:?} for paid {paid:?}"
        );
        let first = &published["message"]["receipts"][0];
        ensure!(
            first["amount_minor"] == 2500
                && first["currency"] == "KES"
                && first["programme"] == "CT-OVC",
            "{first}"
        );
        ensure!(
            first["switch_ref"]
                .as_str()
                .is_some_and(|r| r.starts_with("SIM-")),
            "{first}"
        );
        Ok(())
    })
}

/// Payments to beneficiaries enrolled at the IBR (a real one, loaded with the population):
/// once the message is final, each payment to a UIN is a benefit of that person's enrolment in
/// the payment's programme, with the payment's id; a payment to an address is not published.
fn receipts_reach_the_ibr_as_benefits(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let mut config = crate::support::registry_config();
        config.service_id = "ibr.test".into();
        config.header.service_id = "ibr.test".into();
        let ibr = crate::support::TestRegistry::spawn_profile(backend, &registry::ibr::PROFILE, config).await?;
        let ibr_base = format!("http://{}", ibr.addr);
        let enrolled: Vec<(String, String)> = crate::support::fixture()
            .benefits
            .enrolments
            .iter()
            .filter(|e| e.status == synth::benefits::ACTIVE && e.assistance_unit == "1")
            .take(3)
            .map(|e| (e.uin.clone(), e.programme.clone()))
            .collect();
        ensure!(enrolled.len() == 3, "active enrolments in the population");
        let receipts = Arc::new(pay::receipts::IbrReceipts::new(&ibr_base, PAY_ID, "ibr.test"));
        let place = Place::new(backend).await?;
        let store = pay::open_store(&place.config()).await?;
        let switch = Arc::new(pay::switch::Simulator::new(store.clone(), reliable()));
        let pay = pay::Pay::start_with_receipts(store, engine_config(), test_settings(), switch, receipts).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, pay.router()).into_future());
        let sink = Sink::start().await?;
        let mut items: Vec<Value> = enrolled
            .iter()
            .enumerate()
            .map(|(i, (uin, programme))| {
                payment(&format!("r{i}"), json!({"payee_fa": format!("uin:{uin}@nid"), "amount": "25.00",
                                                  "currency_code": "USD", "meta": {"programme": programme}}))
            })
            .collect();
        // Paid at an address (its payee's id unknown here): nothing to publish.
        items.push(payment("fa", json!({"payee_fa": "mobile:254700000099@mpesa", "amount": "25.00", "currency_code": "USD"})));
        // The payees by UIN must be linked in the mapper first.
        let client = reqwest::Client::new();
        let links: Vec<Value> = enrolled
            .iter()
            .enumerate()
            .map(|(i, (uin, _))| item(&i.to_string(), json!({"id": format!("uin:{uin}@nid"), "fa": format!("mobile:2547{:08}@mpesa", i)})))
            .collect();
        let (status, linked) = post_json(&client, &format!("http://{addr}/mapper/sync/link"), &request("link", "link_request", links)).await?;
        ensure!(status == 200, "{linked}");
        let mut body = request("disburse", "disbursements", items);
        body["header"]["sender_uri"] = json!(format!("http://{}/on-disburse", sink.addr));
        let transaction_id = body["message"]["transaction_id"].as_str().unwrap_or_default().to_string();
        let (status, ack) = post_json(&client, &format!("http://{addr}/disburse"), &body).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "{ack}");
        sink.wait(Duration::from_secs(20), |r| !r.is_empty()).await?;
        for (i, (uin, programme)) in enrolled.iter().enumerate() {
            let benefit_id = pay::worker::payment_id("spmis.test", &transaction_id, &format!("r{i}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            let benefit = loop {
                let found = ibr
                    .one(json!({"reg_record_type": "Benefit", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin},
                                "pagination": {"page_size": 100, "page_number": 1}}))
                    .await?;
                let benefit = found["data"]["reg_records"]
                    .as_array()
                    .and_then(|b| b.iter().find(|b| b["benefit_identifier"] == benefit_id.as_str()).cloned());
                match benefit {
                    Some(benefit) => break benefit,
                    None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                    None => anyhow::bail!("no benefit {benefit_id} at the IBR for {uin}: {found}"),
                }
            };
            ensure!(
                benefit["benefit_value"] == "USD 25.00" && benefit["payment_status"] == "1" && benefit["programme_identifier"] == programme.as_str(),
                "{benefit}"
            );
        }
        // One update for the message, of the three paid by UIN; none for the address.
        let published = pay
            .store()
            .read(vec![store::Statement::new(
                "SELECT body FROM outbox WHERE message_id LIKE 'receipts-%'",
                vec![],
                &[store::ColumnType::Text],
            )])
            .await?;
        ensure!(published[0].len() == 1, "{} receipt messages", published[0].len());
        let update: Value = match &published[0][0][0] {
            Some(store::SqlValue::Text(body)) => serde_json::from_str(body)?,
            other => anyhow::bail!("{other:?}"),
        };
        ensure!(update["header"]["action"] == "notify" && update["header"]["total_count"] == 3, "{update}");
        Ok(())
    })
}
