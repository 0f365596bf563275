//! Subscribe, notify, unsubscribe and their errors over DCI; registrar changes raising events;
//! order per subscription across a subscriber's outage; a black-holed subscriber not delaying
//! a healthy one; on each backend.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::support::{
    Backend, Sink, TestRegistry, envelope, fixture, post_json, registry_config, runtime,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "subscription::matching_changes_are_notified_and_others_not",
        matching_changes_are_notified_and_others_not,
    ),
    (
        "subscription::bad_subscription_requests_get_their_codes",
        bad_subscription_requests_get_their_codes,
    ),
    (
        "subscription::a_subscriber_that_was_down_gets_every_notification_in_order",
        a_subscriber_that_was_down_gets_every_notification_in_order,
    ),
    (
        "subscription::a_black_holed_subscriber_does_not_delay_a_healthy_one",
        a_black_holed_subscriber_does_not_delay_a_healthy_one,
    ),
];

/// A subscribe criteria on `record_type` events of `event` with a text filter.
pub fn criteria(event: &str, record_type: &str, filter: &str) -> Value {
    json!({"reg_event_type": event, "notify_record_type": record_type, "filter_type": "expression",
           "filter": {"type": "ns:org:QueryType:text", "value": {"expression": filter}}})
}

/// A subscribe request from `sender` to `registry` whose callbacks go to `sink`.
fn subscribe_request(
    registry: &TestRegistry,
    sender: &str,
    sink: &Sink,
    items: Vec<Value>,
) -> Value {
    let now = dci::Timestamp::now().to_string();
    let mut body = registry.search_body(vec![]);
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, c)| json!({"reference_id": format!("s{}", i + 1), "timestamp": now, "subscribe_criteria": c}))
        .collect();
    body["header"]["action"] = json!("subscribe");
    body["header"]["sender_id"] = json!(sender);
    body["header"]["total_count"] = json!(items.len());
    body["header"]["sender_uri"] = json!(format!("http://{}/registry/on-subscribe", sink.addr));
    body["message"] = json!({"transaction_id": format!("sub-{}", uuid::Uuid::now_v7()), "subscribe_request": items});
    body
}

fn unsubscribe_request(sender: &str, sink: &Sink, codes: &[&str]) -> Value {
    let mut body = envelope(vec![]);
    body["header"]["action"] = json!("unsubscribe");
    body["header"]["sender_id"] = json!(sender);
    body["header"]["total_count"] = json!(codes.len());
    body["header"]["sender_uri"] = json!(format!("http://{}/registry/on-unsubscribe", sink.addr));
    body["message"] = json!({"transaction_id": format!("unsub-{}", uuid::Uuid::now_v7()),
        "timestamp": dci::Timestamp::now().to_string(), "subscription_codes": codes});
    body
}

/// Posts an async request and checks its ACK.
pub async fn acked(registry: &TestRegistry, path: &str, body: &Value) -> Result<String> {
    let (status, ack) = registry.search_at(path, body).await?;
    ensure!(
        status == 200 && ack["message"]["ack_status"] == "ACK",
        "HTTP {status}: {ack}"
    );
    Ok(ack["message"]["correlation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Waits for the callback with `action` and correlation id.
pub async fn callback(sink: &Sink, action: &str, correlation_id: &str) -> Result<Value> {
    let matches = |v: &Value| {
        v["header"]["action"] == action && v["message"]["correlation_id"] == correlation_id
    };
    let received = sink
        .wait(Duration::from_secs(10), |r| r.iter().any(matches))
        .await
        .with_context(|| format!("waiting for {action} {correlation_id}"))?;
    Ok(received.into_iter().find(matches).expect("found"))
}

/// Subscribes with `items` and returns each item's code (`None` for rejected items) and the
/// `on-subscribe` message.
pub async fn subscribe(
    registry: &TestRegistry,
    sender: &str,
    sink: &Sink,
    items: Vec<Value>,
) -> Result<(Vec<Option<String>>, Value)> {
    let correlation_id = acked(
        registry,
        "/registry/subscribe",
        &subscribe_request(registry, sender, sink, items),
    )
    .await?;
    let answer = callback(sink, "on-subscribe", &correlation_id).await?;
    let codes = answer["message"]["subscribe_response"]
        .as_array()
        .context("subscribe_response")?
        .iter()
        .map(|item| {
            item["subscriptions"][0]["code"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    Ok((codes, answer))
}

/// Notifications received for subscription `code`, in arrival order.
pub fn notifications(received: &[Value], code: &str) -> Vec<Value> {
    received
        .iter()
        .filter(|v| {
            v["header"]["action"] == "notify" && v["header"]["meta"]["subscription_code"] == code
        })
        .cloned()
        .collect()
}

/// A valid UIN that no one in the shared population has, from `seed`.
pub fn new_uin(seed: u64) -> String {
    let taken: std::collections::HashSet<&str> = fixture()
        .population
        .persons
        .iter()
        .map(|p| p.uin.as_str())
        .collect();
    (0..)
        .flat_map(|n| (0..10).map(move |d| format!("{:09}{d}", 900_000_000 + seed * 1000 + n)))
        .find(|uin| synth::uin_is_valid(uin) && !taken.contains(uin.as_str()))
        .expect("some UIN is free")
}

/// A person of household `household_id`, as the registrar sends it.
fn person(uin: &str, household_id: &str, relationship: &str) -> Value {
    json!({"uin": uin, "given_name": "Ama", "surname": "Test", "sex": "female", "birth_date": "1990-04-02",
           "marital_status": "M", "household_id": household_id, "relationship_to_head": relationship,
           "education_level": "3", "employment_status": "1", "is_disabled": false})
}

/// A household in `location` (a sub-county of the shared population), as the registrar sends it.
fn household(household_id: &str, location: &synth::Location, head_uin: &str, size: u32) -> Value {
    let district = location.parent.clone().unwrap_or_default();
    let region = district.split('-').next().unwrap_or_default().to_string();
    json!({"household_id": household_id, "group_type": "2", "poverty_score": 12.5, "poverty_score_type": "pmt",
           "region_code": region, "district_code": district, "location_code": location.code,
           "head_uin": head_uin, "size": size, "registration_date": "2026-11-20"})
}

fn sub_county(index: usize) -> &'static synth::Location {
    fixture()
        .population
        .locations
        .iter()
        .filter(|l| l.level == 3)
        .nth(index)
        .expect("sub-counties")
}

async fn registrar(registry: &TestRegistry, changes: Value) -> Result<Value> {
    let (status, report) = registry.search_at("/registrar/records", &changes).await?;
    ensure!(status == 200, "HTTP {status}: {report}");
    Ok(report)
}

fn matching_changes_are_notified_and_others_not(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        // `here` is in another region than `existing`, where `elsewhere` is.
        let existing = fixture().population.households[0].clone();
        let in_region = |l: &&synth::Location, region: &str| {
            l.level == 3 && l.code.split('-').next() == Some(region)
        };
        let locations = &fixture().population.locations;
        let elsewhere = locations
            .iter()
            .find(|l| in_region(l, &existing.region_code))
            .context("a sub-county in the existing household's region")?;
        let here = locations
            .iter()
            .find(|l| l.level == 3 && !in_region(l, &existing.region_code))
            .context("a sub-county in another region")?;
        let region = here.code.split('-').next().unwrap_or_default().to_string();
        let (codes, answer) = subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                criteria("REGISTER", "Member", &format!(r#"region_code = "{region}" AND sex = "female""#)),
                criteria("NewHouseHoldMember", "Group", &format!(r#"household_id = "{}""#, existing.household_id)),
                criteria("spdci:RegistryEventType:REGISTER", "Household", "group_size >= 1"),
                {
                    let mut daily = criteria("REGISTER", "Group", "group_size >= 1");
                    daily["frequency"] = json!({"start_time": "2026-01-01T00:00:00Z", "frequency": "daily"});
                    daily
                },
            ],
        )
        .await?;
        ensure!(
            answer["header"]["status"] == "succ" && codes.iter().all(Option::is_some),
            "{answer}"
        );
        let item = &answer["message"]["subscribe_response"][0];
        ensure!(
            item["status"] == "succ"
                && item["subscriptions"][0]["status"] == "subscribe"
                && item["subscriptions"][0]["reg_event_type"] == "REGISTER",
            "{item}"
        );
        let [member_code, group_code, any_group_code, daily_code] =
            [0, 1, 2, 3].map(|i| codes[i].clone().unwrap_or_default());

        // A household registered in the region, one elsewhere, a member joining `existing`.
        let (a, b, c) = (new_uin(1), new_uin(2), new_uin(3));
        let report = registrar(
            &registry,
            json!({
                "households": [household("HH90000001", here, &a, 1), household("HH90000002", elsewhere, &b, 1)],
                "persons": [person(&a, "HH90000001", "SELF"), person(&b, "HH90000002", "SELF"),
                            person(&c, &existing.household_id, "EXT")]
            }),
        )
        .await?;
        ensure!(report["created"] == 5 && report["updated"] == 0, "{report}");
        // 2 households and 3 members registered, and c joined a registered household (2 events).
        ensure!(report["events"] == 7, "{report}");
        let received = sink
            .wait(Duration::from_secs(10), |r| {
                notifications(r, &member_code).len() == 1
                    && notifications(r, &group_code).len() == 1
                    && notifications(r, &any_group_code).len() == 2
            })
            .await?;
        let member = &notifications(&received, &member_code)[0];
        ensure!(member["header"]["status"] == "succ" && member["header"]["receiver_id"] == "spmis.test");
        let event = &member["message"]["notify_event"][0];
        ensure!(
            event["reference_id"] == "s1"
                && event["data"]["reg_event_type"] == "REGISTER"
                && event["data"]["reg_record_type"] == "Member"
                && event["data"]["reg_records"]["member_identifier"][0]["identifier_value"] == a.as_str(),
            "{member}"
        );
        let group = &notifications(&received, &group_code)[0]["message"]["notify_event"][0]["data"];
        ensure!(
            group["reg_records"]["member_list"]
                .as_array()
                .is_some_and(|m| m.iter().any(|p| p["member_identifier"][0]["identifier_value"] == c.as_str())),
            "the group notified has its new member: {group}"
        );

        // An update raises UPDATE, to which nobody subscribed: nothing more arrives.
        let report = registrar(&registry, json!({"persons": [person(&a, "HH90000001", "SELF")]})).await?;
        ensure!(report["updated"] == 1 && report["events"] == 1, "{report}");

        // After unsubscribing, a matching registration is not notified.
        let correlation_id =
            acked(&registry, "/registry/unsubscribe", &unsubscribe_request("spmis.test", &sink, &[&member_code])).await?;
        let answer = callback(&sink, "on-unsubscribe", &correlation_id).await?;
        ensure!(
            answer["message"]["status"] == "succ"
                && answer["message"]["subscription_status"][0]["status"] == "unsubscribe",
            "{answer}"
        );
        let d = new_uin(4);
        registrar(&registry, json!({"households": [household("HH90000003", here, &d, 1)], "persons": [person(&d, "HH90000003", "SELF")]})).await?;
        sink.wait(Duration::from_secs(10), |r| notifications(r, &any_group_code).len() == 3)
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = sink.received();
        ensure!(notifications(&received, &member_code).len() == 1, "nothing after unsubscribing");
        ensure!(notifications(&received, &group_code).len() == 1);
        ensure!(notifications(&received, &any_group_code).len() == 3);
        // The daily subscription's three notifications wait in the outbox for midnight (UTC).
        ensure!(notifications(&received, &daily_code).is_empty());
        let held = registry
            .store
            .read(vec![store::Statement::new(
                format!("SELECT next_attempt_at FROM outbox WHERE ordering_key = '{daily_code}' AND state = 'pending'"),
                vec![],
                &[store::ColumnType::Integer],
            )])
            .await?;
        let midnight = {
            let now = time::OffsetDateTime::now_utc();
            (now.date().next_day().context("tomorrow")?.midnight().assume_utc().unix_timestamp()) * 1000
        };
        ensure!(held[0].len() == 3, "{held:?}");
        ensure!(
            held[0].iter().all(|row| matches!(row[0], Some(store::SqlValue::Integer(at)) if at >= midnight)),
            "held until {midnight}: {held:?}"
        );
        // Every notification arrived once.
        let ids: Vec<&str> = received
            .iter()
            .filter(|v| v["header"]["action"] == "notify")
            .filter_map(|v| v["header"]["message_id"].as_str())
            .collect();
        let unique: std::collections::HashSet<&&str> = ids.iter().collect();
        ensure!(ids.len() == unique.len(), "a notification arrived twice: {ids:?}");
        Ok(())
    })
}

fn bad_subscription_requests_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let sink = Sink::start().await?;
        let good = criteria("REGISTER", "Member", r#"sex = "female""#);
        // Five items at most per message in the tests' settings: two messages.
        let (codes, first) = subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                good.clone(),
                good.clone(),
                criteria("Birth", "Member", r#"sex = "female""#),
                criteria("REGISTER", "Tractor", r#"sex = "female""#),
            ],
        )
        .await?;
        let (_, second) = subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                criteria("REGISTER", "Member", "shoe_size > 3"),
                json!({"reg_event_type": "REGISTER", "notify_record_type": "Member", "filter_type": "idtype-value",
                       "filter": {"type": "PASSPORT", "value": "X1"}}),
                json!({"reg_event_type": "REGISTER", "notify_record_type": "Member", "filter_type": "idtype-value",
                       "filter": {"type": "UIN", "value": "1"}, "frequency": {"frequency": "0 0 0 5,15 * ? *"}}),
            ],
        )
        .await?;
        let reasons: Vec<&str> = [&first, &second]
            .iter()
            .flat_map(|answer| answer["message"]["subscribe_response"].as_array().into_iter().flatten())
            .map(|item| item["status_reason_code"].as_str().unwrap_or("succ"))
            .collect();
        ensure!(
            reasons
                == [
                    "succ",
                    "rjct.event.already_subscribed",
                    "rjct.notify_types.invalid",
                    "rjct.notify_types.invalid",
                    "rjct.notify_details.invalid",
                    "rjct.person_id.invalid",
                    "rjct.notify_details.invalid",
                ],
            "{reasons:?}"
        );
        let code = codes[0].clone().context("the good item's code")?;
        // The same criteria again, in a later message: already subscribed.
        let (_, again) = subscribe(&registry, "spmis.test", &sink, vec![good.clone()]).await?;
        ensure!(
            again["message"]["subscribe_response"][0]["status_reason_code"] == "rjct.event.already_subscribed",
            "{again}"
        );
        // Another participant may subscribe to the same, but not cancel this one.
        let (other_codes, _) = subscribe(&registry, "other.spmis", &sink, vec![good]).await?;
        ensure!(other_codes[0].is_some());
        let correlation_id = acked(
            &registry,
            "/registry/unsubscribe",
            &unsubscribe_request("other.spmis", &sink, &[&code, "no-such-code"]),
        )
        .await?;
        let answer = callback(&sink, "on-unsubscribe", &correlation_id).await?;
        let statuses = &answer["message"]["subscription_status"];
        ensure!(
            answer["message"]["status"] == "rjct"
                && statuses[0]["status_reason_code"] == "rjct.requester.invalid"
                && statuses[0]["status"] == "subscribe"
                && statuses[1]["status_reason_code"] == "rjct.subscription_code.invalid",
            "{answer}"
        );
        // The owner cancels it; cancelling again is refused.
        for expected in ["unsubscribe", "rjct.event.already_unsubscribed"] {
            let correlation_id = acked(
                &registry,
                "/registry/unsubscribe",
                &unsubscribe_request("spmis.test", &sink, &[&code]),
            )
            .await?;
            let answer = callback(&sink, "on-unsubscribe", &correlation_id).await?;
            let status = &answer["message"]["subscription_status"][0];
            let got = status["status_reason_code"].as_str().unwrap_or_else(|| status["status"].as_str().unwrap_or_default());
            ensure!(got == expected, "{answer}");
        }
        // Txn status by subscription code, async: the txn-on-status callback.
        let mut ask = envelope(vec![]);
        ask["header"]["action"] = json!("txn-status");
        ask["header"]["total_count"] = json!(1);
        ask["header"]["sender_uri"] = json!(format!("http://{}/registry/txn/on-status", sink.addr));
        ask["message"] = json!({"transaction_id": "status-2", "txnstatus_request": {"reference_id": "q", "txn_type": "subscribe",
            "attribute_type": "subscription_code_list", "attribute_value": [code, "no-such-code"]}});
        let correlation_id = acked(&registry, "/registry/txn/status", &ask).await?;
        let matches = |v: &Value| v["header"]["action"] == "txn-on-status" && v["header"]["message_id"] == format!("txn-on-status-{correlation_id}");
        let received = sink.wait(Duration::from_secs(10), |r| r.iter().any(matches)).await?;
        let status = &received.iter().find(|v| matches(v)).expect("found")["message"]["txnstatus_response"];
        ensure!(
            status["txn_type"] == "subscribe"
                && status["txn_status"]["subscribe_response"][0]["subscriptions"][0]["status"] == "unsubscribe"
                && status["txn_status"]["subscribe_response"][1]["status_reason_code"] == "rjct.subscription_code.invalid",
            "{status}"
        );
        // An unknown transaction is refused at once; so is a callback URL not allowed.
        ask["header"]["message_id"] = json!(uuid::Uuid::now_v7().to_string());
        ask["message"]["txnstatus_request"] = json!({"reference_id": "q", "txn_type": "search", "attribute_type": "transaction_id", "attribute_value": "nobody"});
        let (status, answer) = registry.search_at("/registry/txn/status", &ask).await?;
        ensure!(status == 404 && answer["message"]["error"]["code"] == "err.request.not_found", "{answer}");
        let mut elsewhere = subscribe_request(&registry, "spmis.test", &sink, vec![criteria("REGISTER", "Member", r#"sex = "male""#)]);
        elsewhere["header"]["sender_uri"] = json!("http://192.0.2.1/registry/on-subscribe");
        let (status, answer) = registry.search_at("/registry/subscribe", &elsewhere).await?;
        ensure!(
            status == 400 && answer["message"]["error"]["code"] == "err.sender_uri.invalid",
            "HTTP {status}: {answer}"
        );
        // A repeated message is acknowledged with the first correlation id, not applied twice.
        let request = subscribe_request(&registry, "spmis.test", &sink, vec![criteria("UPDATE", "Member", r#"sex = "male""#)]);
        let first = acked(&registry, "/registry/subscribe", &request).await?;
        let second = acked(&registry, "/registry/subscribe", &request).await?;
        ensure!(first == second);
        let answer = callback(&sink, "on-subscribe", &first).await?;
        ensure!(answer["message"]["subscribe_response"][0]["status"] == "succ", "{answer}");
        let (status, answer) = post_json(&registry.client, &registry.url("/registry/sync/txn/status"), &{
            let mut ask = envelope(vec![]);
            ask["header"]["action"] = json!("txn-status");
            ask["header"]["total_count"] = json!(1);
            ask["message"] = json!({"transaction_id": "status-3", "txnstatus_request": {"reference_id": "q", "txn_type": "subscribe",
                "attribute_type": "correlation_id", "attribute_value": first}});
            ask
        })
        .await?;
        ensure!(
            status == 200 && answer["message"]["txnstatus_response"]["txn_type"] == "subscribe"
                && answer["message"]["txnstatus_response"]["txn_status"]["subscribe_response"][0]["status"] == "succ",
            "{answer}"
        );
        Ok(())
    })
}

fn a_subscriber_that_was_down_gets_every_notification_in_order(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let mut config = registry_config();
        config.dispatch.max_attempts = 1000;
        let registry = TestRegistry::spawn_with(backend, config).await?;
        let sink = Sink::start().await?;
        let existing = fixture().population.households[1].clone();
        let (codes, _) = subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![criteria("NewHouseHoldMember", "Member", &format!(r#"household_id = "{}""#, existing.household_id))],
        )
        .await?;
        let code = codes[0].clone().context("code")?;
        sink.fail(true);
        let uins: Vec<String> = (10..16).map(new_uin).collect();
        for uin in &uins {
            registrar(&registry, json!({"persons": [person(uin, &existing.household_id, "EXT")]})).await?;
        }
        // Down for longer than several backoffs and a circuit-breaker cooldown.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ensure!(notifications(&sink.received(), &code).is_empty());
        sink.fail(false);
        let received = sink
            .wait(Duration::from_secs(20), |r| notifications(r, &code).len() >= uins.len())
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got: Vec<String> = notifications(&sink.received(), &code)
            .iter()
            .map(|n| n["message"]["notify_event"][0]["data"]["reg_records"]["member_identifier"][0]["identifier_value"]
                .as_str()
                .unwrap_or_default()
                .to_string())
            .collect();
        ensure!(got == uins, "in order, each once: got {got:?}, expected {uins:?} ({} received)", received.len());
        Ok(())
    })
}

fn a_black_holed_subscriber_does_not_delay_a_healthy_one(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let mut config = registry_config();
        config.dispatch.request_timeout = Duration::from_millis(1500);
        config.dispatch.max_attempts = 2;
        let registry = TestRegistry::spawn_with(backend, config).await?;
        let healthy = Sink::start().await?;
        // A black hole: accepts connections and never answers.
        let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let hole_addr = hole.local_addr()?;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = hole.accept().await {
                held.push(socket);
            }
        });
        let filter = |i: usize| criteria("REGISTER", "Group", &format!("group_size >= 1 AND group_size < {}", 100 + i));
        for i in 0..20 {
            let mut request = subscribe_request(&registry, &format!("lost-{i}"), &healthy, vec![filter(i)]);
            request["header"]["sender_uri"] = json!(format!("http://{hole_addr}/registry/on-subscribe"));
            acked(&registry, "/registry/subscribe", &request).await?;
        }
        let (codes, _) = subscribe(&registry, "spmis.test", &healthy, vec![filter(0)]).await?;
        let code = codes[0].clone().context("code")?;
        let started = Instant::now();
        let uin = new_uin(20);
        registrar(&registry, json!({"households": [household("HH90000020", sub_county(1), &uin, 1)], "persons": [person(&uin, "HH90000020", "SELF")]})).await?;
        healthy
            .wait(Duration::from_secs(10), |r| notifications(r, &code).len() == 1)
            .await?;
        let delay = started.elapsed();
        // 20 on-subscribe callbacks and 20 notifications are stuck in the black hole, each for
        // the 1.5 s timeout; the healthy subscriber must not wait for any of them.
        ensure!(delay < Duration::from_millis(1200), "the healthy subscriber waited {delay:?}");
        // The black hole's messages end dead-lettered.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let dead = dispatch::list(registry.store.as_ref(), Some(dispatch::DEAD), 100).await?;
            if dead.len() == 40 && dead.iter().all(|e| e.destination.contains(&hole_addr.to_string())) {
                break;
            }
            ensure!(Instant::now() < deadline, "{} dead so far", dead.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    })
}
