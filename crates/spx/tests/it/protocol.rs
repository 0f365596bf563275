//! The DCI error model over real HTTP: every kind of bad input gets its specific code and HTTP
//! status, and nothing panics. (The store is not involved in these answers, so SQLite serves.)

use anyhow::{Result, ensure};
use serde_json::{Value, json};

use crate::support::{Backend, TestRegistry, envelope, living_uin, runtime};

pub const TESTS: &[(&str, crate::PlainTest)] = &[
    (
        "protocol::communication_errors_are_err_acks",
        communication_errors_are_err_acks,
    ),
    (
        "protocol::header_rejections_carry_their_reason",
        header_rejections_carry_their_reason,
    ),
    (
        "protocol::item_rejections_carry_their_reason",
        item_rejections_carry_their_reason,
    ),
    (
        "protocol::unknown_paths_and_methods",
        unknown_paths_and_methods,
    ),
];

/// A change that spoils a good request.
type Change = Box<dyn Fn(&mut Value)>;

fn criteria_by_uin(uin: &str) -> Value {
    json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}})
}

/// Asserts an ERR acknowledgement with `code` and HTTP `status`.
fn expect_err_ack(
    what: &str,
    (status, body): (u16, Value),
    expected_status: u16,
    code: &str,
) -> Result<()> {
    ensure!(
        status == expected_status,
        "{what}: HTTP {status}, wanted {expected_status}: {body}"
    );
    ensure!(body["message"]["ack_status"] == "ERR", "{what}: {body}");
    ensure!(
        body["message"]["error"]["code"] == code,
        "{what}: wanted {code}: {body}"
    );
    ensure!(
        body["message"]["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{what}: {body}"
    );
    Ok(())
}

async fn post_raw(
    registry: &TestRegistry,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(u16, Value)> {
    let response = registry
        .client
        .post(registry.url("/registry/sync/search"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, serde_json::from_slice(&response.bytes().await?)?))
}

fn communication_errors_are_err_acks() -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(Backend::Sqlite).await?;
        let good = envelope(vec![criteria_by_uin(&living_uin())]);
        expect_err_ack(
            "garbage",
            post_raw(&registry, "application/json", b"{not json".to_vec()).await?,
            400,
            "err.request.bad",
        )?;
        expect_err_ack(
            "array",
            post_raw(&registry, "application/json", b"[1,2]".to_vec()).await?,
            400,
            "err.request.bad",
        )?;
        let text = serde_json::to_vec(&good)?;
        expect_err_ack(
            "content type",
            post_raw(&registry, "text/plain", text).await?,
            415,
            "err.request.bad",
        )?;
        let mut huge = good.clone();
        huge["message"]["padding"] = json!("x".repeat(70 * 1024));
        expect_err_ack(
            "oversize",
            registry.search(&huge).await?,
            413,
            "err.request.bad",
        )?;
        let mut no_message = good.clone();
        no_message.as_object_mut().unwrap().remove("message");
        expect_err_ack(
            "no message",
            registry.search(&no_message).await?,
            400,
            "err.request.bad",
        )?;
        let mut no_header = good.clone();
        no_header.as_object_mut().unwrap().remove("header");
        expect_err_ack(
            "no header",
            registry.search(&no_header).await?,
            400,
            "err.request.bad",
        )?;
        let mut no_items = good.clone();
        no_items["message"]["search_request"] = json!("none");
        expect_err_ack(
            "items not a list",
            registry.search(&no_items).await?,
            400,
            "err.request.bad",
        )?;
        let mut long_txn = good.clone();
        long_txn["message"]["transaction_id"] = json!("t".repeat(100));
        expect_err_ack(
            "transaction_id of 100",
            registry.search(&long_txn).await?,
            400,
            "err.request.bad",
        )?;
        let mut ok_txn = good.clone();
        ok_txn["message"]["transaction_id"] = json!("t".repeat(99));
        ensure!(
            registry.search(&ok_txn).await?.0 == 200,
            "transaction_id of 99 must pass"
        );
        let mut version = good.clone();
        version["header"]["version"] = json!("2.0.0");
        expect_err_ack(
            "version",
            registry.search(&version).await?,
            400,
            "err.version.not_supported",
        )?;
        let mut receiver = good.clone();
        receiver["header"]["receiver_id"] = json!("crvs.test");
        expect_err_ack(
            "receiver",
            registry.search(&receiver).await?,
            400,
            "err.receiver_id.invalid",
        )?;
        let mut sender = good.clone();
        sender["header"]["sender_id"] = json!("");
        expect_err_ack(
            "sender",
            registry.search(&sender).await?,
            403,
            "err.sender_id.invalid",
        )?;
        let mut encrypted = good.clone();
        encrypted["header"]["is_msg_encrypted"] = json!(true);
        expect_err_ack(
            "encrypted",
            registry.search(&encrypted).await?,
            400,
            "err.encryption.invalid",
        )?;
        Ok(())
    })
}

fn header_rejections_carry_their_reason() -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(Backend::Sqlite).await?;
        let good = envelope(vec![criteria_by_uin(&living_uin())]);
        let cases: Vec<(&str, Change, u16, &str)> = vec![
            (
                "bad message_ts",
                Box::new(|b| b["header"]["message_ts"] = json!("2024-02-01 12:15")),
                400,
                "rjct.message_ts.invalid",
            ),
            (
                "no timezone",
                Box::new(|b| b["header"]["message_ts"] = json!("2024-02-01T12:15:04")),
                400,
                "rjct.message_ts.invalid",
            ),
            (
                "version",
                Box::new(|b| b["header"]["version"] = json!("v1")),
                400,
                "rjct.version.invalid",
            ),
            (
                "action",
                Box::new(|b| b["header"]["action"] = json!("subscribe")),
                400,
                "rjct.action.invalid",
            ),
            (
                "total_count",
                Box::new(|b| b["header"]["total_count"] = json!(2)),
                400,
                "rjct.total_count.invalid",
            ),
            (
                "total_count as text",
                Box::new(|b| b["header"]["total_count"] = json!("3")),
                400,
                "rjct.total_count.invalid",
            ),
            (
                "batch over the limit",
                Box::new(|b| {
                    let item = b["message"]["search_request"][0].clone();
                    let items: Vec<Value> = (1..=6)
                        .map(|i| {
                            let mut it = item.clone();
                            it["reference_id"] = json!(i.to_string());
                            it
                        })
                        .collect();
                    b["message"]["search_request"] = json!(items);
                    b["header"]["total_count"] = json!(6);
                }),
                413,
                "rjct.total_count.limit_exceeded",
            ),
        ];
        for (what, change, expected_status, code) in cases {
            let mut body = good.clone();
            change(&mut body);
            let (status, answer) = registry.search(&body).await?;
            ensure!(status == expected_status, "{what}: HTTP {status}: {answer}");
            ensure!(answer["header"]["status"] == "rjct", "{what}: {answer}");
            ensure!(
                answer["header"]["status_reason_code"] == code,
                "{what}: wanted {code}: {answer}"
            );
            ensure!(
                answer["header"]["action"] == "on-search" && answer.get("message").is_none(),
                "{what}: {answer}"
            );
        }
        // A total_count sent as a string that matches is fine (samples do it).
        let mut text_count = good.clone();
        text_count["header"]["total_count"] = json!("1");
        ensure!(registry.search(&text_count).await?.0 == 200);
        Ok(())
    })
}

fn item_rejections_carry_their_reason() -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(Backend::Sqlite).await?;
        let nosql = |expression: Value| json!({"query_type": "expression", "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": expression}}, "pagination": {"page_size": 10}});
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("unknown query_type", json!({"query_type": "sql", "query": {"type": "UIN", "value": "1"}}), "rjct.search_criteria.invalid", "unknown query_type"),
            ("graphql", json!({"query_type": "graphql", "query": {"type": "g", "value": {"expression": "query {}"}}}), "rjct.search_criteria.invalid", "graphql"),
            ("unknown attribute", nosql(json!({"income": {"$lt": 5}})), "rjct.search_criteria.invalid", "income"),
            ("unknown operator", nosql(json!({"poverty_score": {"$regex": "5"}})), "rjct.search_criteria.invalid", "$regex"),
            ("wrong operand type", nosql(json!({"group_size": {"$gt": "large"}})), "rjct.search_criteria.invalid", "group_size"),
            ("unknown code", nosql(json!({"group_type": "tribe"})), "rjct.search_criteria.invalid", "tribe"),
            ("unknown record type", json!({"reg_record_type": "Farmer", "query_type": "idtype-value", "query": {"type": "UIN", "value": "1"}}), "rjct.search_criteria.invalid", "Farmer"),
            ("identifier type not held", json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "BRN", "value": "1"}}), "rjct.search_criteria.invalid", "BRN"),
            ("other registry", json!({"reg_type": "ns:org:RegistryType:Civil", "query_type": "idtype-value", "query": {"type": "UIN", "value": "1"}}), "rjct.search_criteria.invalid", "Civil"),
            ("sort on unknown attribute", json!({"query_type": "idtype-value", "query": {"type": "HHID", "value": "1"}, "sort": [{"attribute_name": "wealth", "sort_order": "asc"}]}), "rjct.sort.invalid", "wealth"),
            ("sort order", json!({"query_type": "idtype-value", "query": {"type": "HHID", "value": "1"}, "sort": [{"attribute_name": "poverty_score", "sort_order": "up"}]}), "rjct.sort.invalid", "up"),
            ("page too large", json!({"query_type": "idtype-value", "query": {"type": "HHID", "value": "1"}, "pagination": {"page_size": 501}}), "rjct.pagination.invalid", "501"),
            ("page zero", json!({"query_type": "idtype-value", "query": {"type": "HHID", "value": "1"}, "pagination": {"page_size": 5, "page_number": 0}}), "rjct.pagination.invalid", "page_number"),
            ("too many without pagination", json!({"query_type": "expression", "query": {"type": "t", "value": {"expression": "group_size >= 1"}}}), "rjct.search.too_many_records_found", "pagination"),
            ("no criteria", Value::Null, "rjct.search_criteria.invalid", "search_criteria"),
        ];
        for (what, criteria, code, mentions) in cases {
            let (status, answer) = registry.search(&envelope(vec![criteria])).await?;
            let item = &answer["message"]["search_response"][0];
            ensure!(status == 200, "{what}: HTTP {status}: {answer}");
            ensure!(item["status"] == "rjct" && item["status_reason_code"] == code, "{what}: wanted {code}: {item}");
            ensure!(item["status_reason_message"].as_str().unwrap_or_default().contains(mentions), "{what}: message should mention {mentions}: {item}");
            ensure!(item.get("data").is_none(), "{what}: {item}");
        }
        let mut body = envelope(vec![criteria_by_uin(&living_uin())]);
        body["message"]["search_request"][0]["timestamp"] = json!("yesterday");
        let (_, answer) = registry.search(&body).await?;
        ensure!(answer["message"]["search_response"][0]["status_reason_code"] == "rjct.timestamp.invalid", "{answer}");
        body = envelope(vec![criteria_by_uin(&living_uin())]);
        body["message"]["search_request"][0]["reference_id"] = json!("");
        let (_, answer) = registry.search(&body).await?;
        ensure!(answer["message"]["search_response"][0]["status_reason_code"] == "rjct.reference_id.invalid", "{answer}");
        body = envelope(vec![criteria_by_uin(&living_uin())]);
        body["message"]["search_request"][0]["locale"] = json!("EN/GB");
        let (_, answer) = registry.search(&body).await?;
        ensure!(answer["message"]["search_response"][0]["status_reason_code"] == "rjct.search_criteria.invalid", "{answer}");
        Ok(())
    })
}

fn unknown_paths_and_methods() -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(Backend::Sqlite).await?;
        let response = registry
            .client
            .post(registry.url("/registry/sync/nothing"))
            .json(&json!({}))
            .send()
            .await?;
        ensure!(response.status() == 404);
        let body: Value = response.json().await?;
        ensure!(
            body["errors"][0]["code"] == "err.request.not_found",
            "{body}"
        );
        let response = registry
            .client
            .get(registry.url("/registry/sync/search"))
            .send()
            .await?;
        ensure!(response.status() == 405);
        let body: Value = response.json().await?;
        ensure!(
            body["errors"][0]["code"] == "err.request.not_found",
            "{body}"
        );
        let response = registry
            .client
            .post(registry.url("/registry/sync/search"))
            .json(&envelope(vec![criteria_by_uin(&living_uin())]))
            .send()
            .await?;
        ensure!(response.headers()["content-type"] == "application/json");
        Ok(())
    })
}
