//! The payments service over DCI: the ID-to-account mapper (link, update, unlink, resolve,
//! sync and async, txn status, thousands of ids in one request); on each backend.

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
];

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
        let place = Place::new(backend).await?;
        let store = pay::open_store(&place.config()).await?;
        let switch = Arc::new(pay::switch::Simulator::new(store.clone(), simulator));
        let settings = pay::PayConfig {
            first_retry: Duration::from_millis(20),
            max_retry: Duration::from_millis(200),
            ..pay::PayConfig::default()
        };
        let pay = pay::Pay::start(store, engine, settings, switch).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(axum::serve(listener, pay.router()).into_future());
        Ok(TestPay {
            addr,
            pay,
            client: reqwest::Client::new(),
            _place: place,
        })
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
