//! Async search over DCI: ACK after a durable write, callback through the outbox, transaction
//! status, idempotency on `message_id`, retries and dead letters; on each backend.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};

use crate::support::{
    Backend, Sink, TestRegistry, async_envelope, envelope, living_uin, post_form, post_json,
    runtime,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "exchange::async_search_calls_back_and_reports_status",
        async_search_calls_back_and_reports_status,
    ),
    (
        "exchange::repeated_message_id_is_answered_once",
        repeated_message_id_is_answered_once,
    ),
    (
        "exchange::old_answered_requests_are_pruned_and_undelivered_work_kept",
        old_answered_requests_are_pruned_and_undelivered_work_kept,
    ),
    (
        "exchange::two_nodes_on_one_store_answer_each_request_once",
        two_nodes_on_one_store_answer_each_request_once,
    ),
    (
        "exchange::the_file_variant_carries_the_envelope_in_a_form",
        the_file_variant_carries_the_envelope_in_a_form,
    ),
    (
        "exchange::header_rejection_arrives_in_the_callback",
        header_rejection_arrives_in_the_callback,
    ),
    (
        "exchange::failing_receiver_is_retried_then_dead_lettered_and_replayed",
        failing_receiver_is_retried_then_dead_lettered_and_replayed,
    ),
    (
        "exchange::sync_search_over_its_budget_is_refused_and_answered_async",
        sync_search_over_its_budget_is_refused_and_answered_async,
    ),
];

fn by_uin(uin: &str) -> Value {
    json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}})
}

async fn accept(registry: &TestRegistry, body: &Value) -> Result<String> {
    let (status, ack) =
        post_json(&registry.client, &registry.url("/registry/search"), body).await?;
    ensure!(
        status == 200 && ack["message"]["ack_status"] == "ACK",
        "HTTP {status}: {ack}"
    );
    Ok(ack["message"]["correlation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn txn_status(attribute_type: &str, value: Value) -> Value {
    let mut body = envelope(vec![]);
    body["header"]["action"] = json!("txn-status");
    body["header"]["total_count"] = json!(1);
    body["message"] = json!({"transaction_id": "status-1", "txnstatus_request": {
        "reference_id": "q-1", "txn_type": "search", "attribute_type": attribute_type, "attribute_value": value}});
    body
}

fn async_search_calls_back_and_reports_status(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let uin = living_uin();
        let body = async_envelope(vec![by_uin(&uin), by_uin("0000000000")], &sink.url());
        let correlation_id = accept(&registry, &body).await?;
        let callbacks = sink
            .wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        let callback = &callbacks[0];
        ensure!(
            callback["header"]["action"] == "on-search" && callback["header"]["status"] == "succ",
            "{callback}"
        );
        ensure!(
            callback["header"]["receiver_id"] == "spmis.test"
                && callback["header"]["completed_count"] == 2
        );
        ensure!(callback["message"]["correlation_id"] == correlation_id.as_str());
        ensure!(callback["message"]["transaction_id"] == body["message"]["transaction_id"]);
        let items = &callback["message"]["search_response"];
        ensure!(
            items[0]["data"]["reg_records"][0]["member_identifier"][0]["identifier_value"]
                == uin.as_str(),
            "{items}"
        );
        ensure!(items[1]["pagination"]["total_count"] == 0);
        // The same answer by each way of asking for it.
        let ways = [
            txn_status("transaction_id", body["message"]["transaction_id"].clone()),
            txn_status("correlation_id", json!(correlation_id)),
            txn_status("reference_id_list", json!(["2"])),
        ];
        for ask in ways {
            let (status, answer) = registry
                .search_at("/registry/sync/txn/status", &ask)
                .await?;
            ensure!(status == 200, "{answer}");
            ensure!(answer["header"]["action"] == "txn-on-status", "{answer}");
            let found = &answer["message"]["txnstatus_response"];
            ensure!(
                answer["message"]["correlation_id"] == correlation_id.as_str(),
                "{answer}"
            );
            ensure!(
                found["txn_type"] == "search"
                    && found["txn_status"]["search_response"][0]["status"] == "succ",
                "{answer}"
            );
        }
        let (status, answer) = registry
            .search_at(
                "/registry/sync/txn/status",
                &txn_status("transaction_id", json!("nobody")),
            )
            .await?;
        ensure!(
            status == 404 && answer["message"]["error"]["code"] == "err.request.not_found",
            "{answer}"
        );
        // A callback URL outside the allowed prefixes, or none, is refused before anything is stored.
        for uri in [
            json!("http://10.1.2.3:9/registry/on-search"),
            // As text this starts with an allowed prefix; the host is 10.1.2.3.
            json!("http://127.0.0.1:1@10.1.2.3:9/registry/on-search"),
            json!("not a url"),
            Value::Null,
        ] {
            let mut refused = async_envelope(vec![by_uin(&uin)], "");
            refused["header"]["sender_uri"] = uri;
            let (status, ack) = post_json(
                &registry.client,
                &registry.url("/registry/search"),
                &refused,
            )
            .await?;
            ensure!(
                status == 400 && ack["message"]["error"]["code"] == "err.sender_uri.invalid",
                "{ack}"
            );
        }
        Ok(())
    })
}

fn repeated_message_id_is_answered_once(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let body = async_envelope(vec![by_uin(&living_uin())], &sink.url());
        let first = accept(&registry, &body).await?;
        let again = accept(&registry, &body).await?;
        ensure!(
            first == again,
            "a retried message got a new correlation id: {first} vs {again}"
        );
        // Another message under the same id is refused, and not processed.
        let mut other = body.clone();
        other["message"]["transaction_id"] = json!("another-transaction");
        let (status, answer) = registry.search_at("/registry/search", &other).await?;
        ensure!(
            status == 409
                && answer["header"]["status"] == "rjct"
                && answer["header"]["status_reason_code"] == "rjct.message_id.duplicate"
                && answer["header"]["action"] == "on-search",
            "HTTP {status}: {answer}"
        );
        sink.wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(
            sink.received().len() == 1,
            "{} callbacks for one message",
            sink.received().len()
        );
        Ok(())
    })
}

fn header_rejection_arrives_in_the_callback(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let mut body = async_envelope(vec![by_uin(&living_uin())], &sink.url());
        body["header"]["message_ts"] = json!("2020-01-01T00:00:00Z");
        let correlation_id = accept(&registry, &body).await?;
        let callbacks = sink
            .wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        let header = &callbacks[0]["header"];
        ensure!(
            header["status"] == "rjct" && header["status_reason_code"] == "rjct.message_ts.invalid",
            "{header}"
        );
        ensure!(callbacks[0].get("message").is_none());
        let (_, answer) = registry
            .search_at(
                "/registry/sync/txn/status",
                &txn_status("correlation_id", json!(correlation_id)),
            )
            .await?;
        let item = &answer["message"]["txnstatus_response"]["txn_status"]["search_response"][0];
        ensure!(
            item["status"] == "rjct" && item["status_reason_code"] == "rjct.message_ts.invalid",
            "{answer}"
        );
        Ok(())
    })
}

/// The outbox messages in `state`, as soon as there are some (or none after `patience`).
async fn outbox_in_state(
    registry: &TestRegistry,
    state: &str,
    patience: Duration,
) -> Result<Vec<dispatch::Entry>> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let listed = dispatch::list(registry.store.as_ref(), Some(state), 10).await?;
        if !listed.is_empty() || tokio::time::Instant::now() > deadline {
            return Ok(listed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn failing_receiver_is_retried_then_dead_lettered_and_replayed(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        sink.fail(true);
        accept(
            &registry,
            &async_envelope(vec![by_uin(&living_uin())], &sink.url()),
        )
        .await?;
        // Four attempts 50-400 ms apart (the tests' settings), then dead.
        let dead = outbox_in_state(&registry, dispatch::DEAD, Duration::from_secs(15)).await?;
        ensure!(
            dead.len() == 1,
            "no dead letter after retries: {:?}",
            dispatch::list(registry.store.as_ref(), None, 10).await?
        );
        ensure!(
            dead[0].attempts == 4
                && dead[0]
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("503"),
            "{dead:?}"
        );
        ensure!(sink.received().is_empty());
        sink.fail(false);
        ensure!(dispatch::replay(registry.store.as_ref(), None).await? == 1);
        registry.wake_dispatcher();
        let callbacks = sink
            .wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        ensure!(callbacks[0]["header"]["action"] == "on-search");
        // Deliveries are recorded in batches, shortly after the receiver's answer.
        let delivered =
            outbox_in_state(&registry, dispatch::DELIVERED, Duration::from_secs(10)).await?;
        ensure!(
            delivered.len() == 1 && delivered[0].message_id == dead[0].message_id,
            "{delivered:?}"
        );
        Ok(())
    })
}

fn old_answered_requests_are_pruned_and_undelivered_work_kept(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let delivered = async_envelope(vec![by_uin(&living_uin())], &sink.url());
        accept(&registry, &delivered).await?;
        sink.wait(Duration::from_secs(10), |r| r.len() == 1).await?;
        // A second callback that cannot be delivered yet.
        sink.fail(true);
        let pending = async_envelope(vec![by_uin(&living_uin())], &sink.url());
        accept(&registry, &pending).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let count = |sql: &'static str| {
            let store = registry.store.clone();
            async move {
                let rows = store
                    .read(vec![store::Statement::new(
                        sql.to_string(),
                        vec![],
                        &[store::ColumnType::Integer],
                    )])
                    .await?;
                Ok::<_, anyhow::Error>(match rows[0][0][0] {
                    Some(store::SqlValue::Integer(n)) => n,
                    _ => -1,
                })
            }
        };
        ensure!(count("SELECT count(*) FROM txn").await? == 2);
        // Nothing is old enough under the configured retention.
        let kept = registry::exchange::prune(&registry.registry, Duration::from_secs(3600)).await?;
        ensure!(kept == 0, "{kept} rows pruned too early");
        let removed = registry::exchange::prune(&registry.registry, Duration::ZERO).await?;
        // Both answered requests (inbox, txn and item rows) and the delivered callback.
        ensure!(removed == 7, "{removed} rows pruned");
        ensure!(count("SELECT count(*) FROM txn").await? == 0);
        ensure!(count("SELECT count(*) FROM outbox WHERE state = 'pending'").await? == 1);
        sink.fail(false);
        registry.wake_dispatcher();
        sink.wait(Duration::from_secs(10), |r| r.len() == 2).await?;
        Ok(())
    })
}

fn two_nodes_on_one_store_answer_each_request_once(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let second = registry.another_node().await?;
        let sink = Sink::start().await?;
        let uin = living_uin();
        let mut transactions = Vec::new();
        for i in 0..200 {
            let body = async_envelope(vec![by_uin(&uin)], &sink.url());
            let node = if i % 2 == 0 {
                registry.url("/registry/search")
            } else {
                format!("http://{second}/registry/search")
            };
            let (status, ack) = post_json(&registry.client, &node, &body).await?;
            ensure!(
                status == 200 && ack["message"]["ack_status"] == "ACK",
                "{ack}"
            );
            transactions.push(
                body["message"]["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        sink.wait(Duration::from_secs(30), |r| r.len() >= 200)
            .await?;
        // Anything sent twice would come within this.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let received = sink.received();
        let mut answered: Vec<String> = received
            .iter()
            .filter_map(|c| c["message"]["transaction_id"].as_str().map(str::to_string))
            .collect();
        answered.sort();
        transactions.sort();
        ensure!(
            answered == transactions,
            "{} callbacks for {} transactions: each must be answered exactly once",
            answered.len(),
            transactions.len()
        );
        Ok(())
    })
}

/// The file variant (dci-spec §2.10): the envelope as a file in a `multipart/form-data` form
/// with `action` and `fileFormat`, answered as the JSON request is; a form whose action is not
/// the envelope's, a file format other than JSON, a form without the file and a form on
/// the sync search (which does not take the variant) each get their code.
fn the_file_variant_carries_the_envelope_in_a_form(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let uin = living_uin();
        let body = async_envelope(vec![by_uin(&uin)], &sink.url());
        let file = serde_json::to_vec(&body)?;
        let url = registry.url("/registry/search");
        let with = |action: &'static str, format: &'static str| {
            vec![
                ("action", None, action.as_bytes()),
                ("fileName", Some("request.json"), file.as_slice()),
                ("fileFormat", None, format.as_bytes()),
            ]
        };
        let (status, ack) = post_form(&registry.client, &url, &with("search", "json")).await?;
        ensure!(
            status == 200 && ack["message"]["ack_status"] == "ACK",
            "HTTP {status}: {ack}"
        );
        let callbacks = sink
            .wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        let found = &callbacks[0]["message"]["search_response"][0]["data"]["reg_records"][0];
        ensure!(
            found["member_identifier"][0]["identifier_value"] == uin.as_str(),
            "{}",
            callbacks[0]
        );

        let refused = [
            (with("subscribe", "json"), 400, "rjct.action.invalid"),
            (with("search", "csv"), 415, "err.request.bad"),
            (
                vec![("action", None, b"search".as_slice())],
                400,
                "err.request.bad",
            ),
        ];
        for (parts, wanted, code) in refused {
            let (status, answer) = post_form(&registry.client, &url, &parts).await?;
            let got = answer["message"]["error"]["code"].clone();
            ensure!(status == wanted && got == code, "HTTP {status}: {answer}");
        }
        let sync = registry.url("/registry/sync/search");
        let (status, answer) = post_form(&registry.client, &sync, &with("search", "json")).await?;
        ensure!(
            status == 415 && answer["message"]["error"]["code"] == "err.request.bad",
            "HTTP {status}: {answer}"
        );
        Ok(())
    })
}

/// A sync search by expression whose query runs out of its budget is refused with
/// `err.request.timeout`, whose message points to the async search, which answers it; a
/// lookup by identifier has no budget.
fn sync_search_over_its_budget_is_refused_and_answered_async(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let mut config = crate::support::registry_config();
        // Under the databases' millisecond: every search by expression runs out of time.
        config.search.sync_budget = Some(Duration::from_nanos(1));
        let registry = TestRegistry::spawn_with(backend, config).await?;
        let expression = json!({"reg_record_type": "Member", "query_type": "expression",
            "query": {"type": "NoSql", "value": {"given_name": {"$ne": "nobody"}}},
            "pagination": {"page_size": 5, "page_number": 1}});
        let (status, answer) = registry
            .search(&registry.search_body(vec![expression.clone()]))
            .await?;
        ensure!(status == 504, "HTTP {status}: {answer}");
        ensure!(answer["message"]["ack_status"] == "ERR", "{answer}");
        let error = &answer["message"]["error"];
        ensure!(error["code"] == "err.request.timeout", "{answer}");
        ensure!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("async search (POST /registry/search)")),
            "{answer}"
        );
        let uin = living_uin();
        let found = registry.one(by_uin(&uin)).await?;
        ensure!(found["pagination"]["total_count"] == 1, "{found}");
        // The async path answers the same search, with its total.
        let sink = Sink::start().await?;
        accept(&registry, &async_envelope(vec![expression], &sink.url())).await?;
        let callbacks = sink
            .wait(Duration::from_secs(10), |r| !r.is_empty())
            .await?;
        let item = &callbacks[0]["message"]["search_response"][0];
        ensure!(item["status"] == "succ", "{item}");
        ensure!(
            item["data"]["reg_records"].as_array().map(Vec::len) == Some(5),
            "{item}"
        );
        ensure!(
            item["pagination"]["total_count"].as_i64() == Some(crate::support::PEOPLE as i64),
            "{item}"
        );
        Ok(())
    })
}
