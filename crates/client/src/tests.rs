//! Real HTTP on 127.0.0.1: the receiver with a plain HTTP client, the client against a small
//! stub registry served in the test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dci::{Action, ReasonCode, RequestStatus, Timestamp};
use serde_json::{Value, json};

use crate::*;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn callback(action: &str, message_id: &str, sender: &str, txn: &str) -> Value {
    json!({
        "header": {
            "version": "1.0.0",
            "message_id": message_id,
            "message_ts": Timestamp::now().to_string(),
            "action": action,
            "status": "succ",
            "total_count": 1,
            "completed_count": 1,
            "sender_id": sender,
            "receiver_id": "mis.example.org"
        },
        "message": search_response(txn, &["1"])
    })
}

fn search_response(txn: &str, references: &[&str]) -> Value {
    let items: Vec<Value> = references
        .iter()
        .map(|r| {
            json!({
                "reference_id": r,
                "timestamp": Timestamp::now().to_string(),
                "status": "succ",
                "data": {"version": "1.0.0", "reg_record_type": "Group", "reg_records": [{"id": format!("g-{r}")}]},
                "pagination": {"page_size": 10, "page_number": 1, "total_count": 1}
            })
        })
        .collect();
    json!({"transaction_id": txn, "correlation_id": "corr-reg-1", "search_response": items})
}

async fn post_raw(url: &str, content_type: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    post_raw(url, "application/json", body.to_string()).await
}

async fn receiver_with_channel() -> (Receiver, String, tokio::sync::mpsc::Receiver<Callback>) {
    let (receiver, addr) = Receiver::bind(localhost()).await.unwrap();
    let channel = receiver.take_callbacks().unwrap();
    (receiver, format!("http://{addr}"), channel)
}

fn assert_err(status: u16, body: &Value, want_status: u16, code: &str) -> String {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["message"]["ack_status"], "ERR", "{body}");
    assert_eq!(body["message"]["error"]["code"], code, "{body}");
    assert!(body.get("header").is_none());
    body["message"]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---- Receiver ----------------------------------------------------------------------------

#[tokio::test]
async fn a_valid_callback_is_acked_and_delivered_once() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    let url = format!("{base}/registry/on-search");
    let body = callback("on-search", "m-1", "social.example.org", "txn-1");

    let (status, ack) = post_json(&url, &body).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["message"]["ack_status"], "ACK");
    assert!(Timestamp::parse(ack["message"]["timestamp"].as_str().unwrap()).is_ok());
    let correlation = ack["message"]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!correlation.is_empty());
    assert!(ack["message"].get("error").is_none());

    let delivered = channel.recv().await.unwrap();
    assert_eq!(delivered.action, Action::OnSearch);
    assert_eq!(delivered.header.message_id(), "m-1");
    assert_eq!(delivered.header.status(), Some(RequestStatus::Succ));
    assert_eq!(delivered.transaction_id(), Some("txn-1"));
    let typed: dci::SearchResponse = delivered.message_as().unwrap();
    assert_eq!(typed.search_response.len(), 1);

    // The same message again: acknowledged (with the same correlation id), not delivered.
    let (status, again) = post_json(&url, &body).await;
    assert_eq!(status, 200);
    assert_eq!(again["message"]["ack_status"], "ACK");
    assert_eq!(again["message"]["correlation_id"], correlation.as_str());
    // A new message afterwards is the next thing on the channel, so the repeat was dropped.
    let next = callback("on-search", "m-2", "social.example.org", "txn-1");
    assert_eq!(post_json(&url, &next).await.0, 200);
    assert_eq!(channel.recv().await.unwrap().header.message_id(), "m-2");
    assert!(channel.try_recv().is_err());
}

#[tokio::test]
async fn deduplication_is_per_sender() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    let url = format!("{base}/registry/on-search");
    for sender in ["social.example.org", "crvs.example.org"] {
        let (status, _) = post_json(&url, &callback("on-search", "m-1", sender, "t")).await;
        assert_eq!(status, 200);
    }
    let first = channel.recv().await.unwrap();
    let second = channel.recv().await.unwrap();
    assert_eq!(first.header.sender_id(), Some("social.example.org"));
    assert_eq!(second.header.sender_id(), Some("crvs.example.org"));
}

#[tokio::test]
async fn a_wrong_action_is_err_request_bad_naming_the_action() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    let (status, body) = post_json(
        &format!("{base}/registry/on-search"),
        &callback("notify", "m-1", "s", "t"),
    )
    .await;
    let message = assert_err(status, &body, 400, "err.request.bad");
    assert!(
        message.contains("'notify'") && message.contains("'on-search'"),
        "{message}"
    );
    assert!(channel.try_recv().is_err());
}

#[tokio::test]
async fn garbage_json_is_400_err_request_bad() {
    let (_receiver, base, _channel) = receiver_with_channel().await;
    let (status, body) = post_raw(
        &format!("{base}/registry/on-search"),
        "application/json",
        "{\"header\": ".into(),
    )
    .await;
    assert_err(status, &body, 400, "err.request.bad");
}

#[tokio::test]
async fn text_plain_is_415() {
    let (_receiver, base, _channel) = receiver_with_channel().await;
    let body = callback("on-search", "m-1", "s", "t").to_string();
    let (status, body) = post_raw(&format!("{base}/registry/on-search"), "text/plain", body).await;
    let message = assert_err(status, &body, 415, "err.request.bad");
    assert!(message.contains("application/json"), "{message}");
}

#[tokio::test]
async fn a_message_ts_without_timezone_is_400_saying_why() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    let mut body = callback("on-search", "m-1", "s", "t");
    body["header"]["message_ts"] = json!("2024-02-01T12:15:04");
    let (status, body) = post_json(&format!("{base}/registry/on-search"), &body).await;
    let message = assert_err(status, &body, 400, "err.request.bad");
    assert!(
        message.contains("message_ts") && message.contains("timezone"),
        "{message}"
    );
    assert!(channel.try_recv().is_err());
}

#[tokio::test]
async fn header_faults_get_their_codes() {
    let (_receiver, base, _channel) = receiver_with_channel().await;
    let url = format!("{base}/registry/on-search");
    let good = callback("on-search", "m-1", "s", "t");
    type Fault = fn(&mut Value);
    let cases: Vec<(Fault, u16, &str, &str)> = vec![
        (
            |b| {
                b.as_object_mut().unwrap().remove("header");
            },
            400,
            "err.request.bad",
            "no header",
        ),
        (
            |b| b["header"]["version"] = json!("2.0.0"),
            400,
            "err.version.not_supported",
            "2.0.0",
        ),
        (
            |b| b["header"]["version"] = json!("one"),
            400,
            "err.request.bad",
            "MAJOR.MINOR.PATCH",
        ),
        (
            |b| b["header"]["message_id"] = json!(""),
            400,
            "err.request.bad",
            "message_id",
        ),
        (
            |b| {
                b["header"].as_object_mut().unwrap().remove("status");
            },
            400,
            "err.request.bad",
            "status",
        ),
        (
            |b| b["header"]["is_msg_encrypted"] = json!(true),
            400,
            "err.encryption.invalid",
            "encrypted",
        ),
        (
            |b| b["message"] = json!([1, 2]),
            400,
            "err.request.bad",
            "object",
        ),
    ];
    for (fault, want_status, code, mentions) in cases {
        let mut body = good.clone();
        fault(&mut body);
        let (status, answer) = post_json(&url, &body).await;
        let message = assert_err(status, &answer, want_status, code);
        assert!(message.contains(mentions), "{code}: {message}");
    }
}

#[tokio::test]
async fn every_endpoint_takes_its_own_action() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    for (i, &(path, action)) in ENDPOINTS.iter().enumerate() {
        let body = callback(action.as_str(), &format!("m-{i}"), "s", &format!("t-{i}"));
        let (status, ack) = post_json(&format!("{base}{path}"), &body).await;
        assert_eq!(status, 200, "{path}: {ack}");
        assert_eq!(channel.recv().await.unwrap().action, action, "{path}");
    }
}

#[tokio::test]
async fn on_subscribe_accepts_the_request_header_but_on_search_does_not() {
    let (_receiver, base, mut channel) = receiver_with_channel().await;
    let request_header = |action: &str| {
        json!({
            "header": {
                "version": "1.0.0", "message_id": "m-req", "message_ts": Timestamp::now().to_string(),
                "action": action, "sender_id": "crvs.example.org", "total_count": 1
            },
            "message": {"transaction_id": "sub-1", "correlation_id": "c", "subscribe_response": []}
        })
    };
    let (status, ack) = post_json(
        &format!("{base}/registry/on-subscribe"),
        &request_header("on-subscribe"),
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    let delivered = channel.recv().await.unwrap();
    assert!(matches!(delivered.header, CallbackHeader::Request(_)));
    assert_eq!(delivered.header.sender_id(), Some("crvs.example.org"));

    let (status, body) = post_json(
        &format!("{base}/registry/on-search"),
        &request_header("on-search"),
    )
    .await;
    assert_err(status, &body, 400, "err.request.bad");

    // on-unsubscribe requires a message, unlike on-search.
    let mut without_message = request_header("on-unsubscribe");
    without_message.as_object_mut().unwrap().remove("message");
    let (status, body) =
        post_json(&format!("{base}/registry/on-unsubscribe"), &without_message).await;
    assert_err(status, &body, 400, "err.request.bad");
}

#[tokio::test]
async fn a_foreign_receiver_id_is_refused_when_configured() {
    let receiver = Receiver::new(ReceiverConfig {
        participant_id: Some("other.example.org".into()),
        ..ReceiverConfig::default()
    });
    let addr = receiver.serve(localhost()).await.unwrap();
    let (status, body) = post_json(
        &format!("http://{addr}/registry/on-search"),
        &callback("on-search", "m-1", "s", "t"),
    )
    .await;
    assert_err(status, &body, 400, "err.receiver_id.invalid");
}

#[tokio::test]
async fn a_full_channel_refuses_with_503_and_the_retry_is_delivered() {
    let receiver = Receiver::new(ReceiverConfig {
        channel_capacity: 1,
        ..ReceiverConfig::default()
    });
    let addr = receiver.serve(localhost()).await.unwrap();
    let mut channel = receiver.take_callbacks().unwrap();
    let url = format!("http://{addr}/registry/on-search");
    assert_eq!(
        post_json(&url, &callback("on-search", "m-1", "s", "t"))
            .await
            .0,
        200
    );
    let second = callback("on-search", "m-2", "s", "t");
    let (status, body) = post_json(&url, &second).await;
    assert_err(status, &body, 503, "err.service.unavailable");
    assert_eq!(channel.recv().await.unwrap().header.message_id(), "m-1");
    // Refused means not remembered: the sender's retry goes through.
    assert_eq!(post_json(&url, &second).await.0, 200);
    assert_eq!(channel.recv().await.unwrap().header.message_id(), "m-2");
}

#[tokio::test]
async fn a_handler_takes_each_callback_before_its_ack_and_a_refusal_is_retried() {
    let handled = Arc::new(Mutex::new(Vec::<String>::new()));
    let refuse = Arc::new(AtomicUsize::new(1));
    let (taken, failing) = (handled.clone(), refuse.clone());
    let receiver = Receiver::default().handle_with(move |callback: Callback| {
        let (taken, failing) = (taken.clone(), failing.clone());
        async move {
            if failing.load(Ordering::SeqCst) > 0 {
                failing.fetch_sub(1, Ordering::SeqCst);
                return Err(dci::Rejection::new(
                    ReasonCode::ServiceUnavailable,
                    "the store is down",
                ));
            }
            taken
                .lock()
                .unwrap()
                .push(callback.header.message_id().to_string());
            Ok(())
        }
    });
    let addr = receiver.serve(localhost()).await.unwrap();
    let url = format!("http://{addr}/registry/on-search");
    let body = callback("on-search", "m-1", "s", "t-1");
    // Refused by the handler: no ACK, nothing kept, nothing for the waiters.
    let (status, answer) = post_json(&url, &body).await;
    assert_err(status, &answer, 503, "err.service.unavailable");
    assert!(handled.lock().unwrap().is_empty());
    assert!(
        receiver
            .wait_for("t-1", Duration::from_millis(50))
            .await
            .is_err()
    );
    // The retry is handled, then acknowledged and delivered; a repeat is acknowledged again
    // with the same correlation id and not handled twice.
    let (status, first) = post_json(&url, &body).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = post_json(&url, &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        first["message"]["correlation_id"],
        again["message"]["correlation_id"]
    );
    assert_eq!(*handled.lock().unwrap(), vec!["m-1".to_string()]);
    let delivered = receiver
        .wait_for("t-1", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(delivered.header.message_id(), "m-1");
}

#[tokio::test]
async fn wait_for_gets_callbacks_that_came_before_and_after_it_started() {
    let (receiver, addr) = Receiver::bind(localhost()).await.unwrap();
    let url = format!("http://{addr}/registry/on-search");

    // Before the wait began.
    assert_eq!(
        post_json(&url, &callback("on-search", "m-1", "s", "txn-early"))
            .await
            .0,
        200
    );
    let early = receiver
        .wait_for("txn-early", Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(early.header.message_id(), "m-1");

    // After it began.
    let waiting = {
        let receiver = receiver.clone();
        tokio::spawn(async move { receiver.wait_for("txn-late", Duration::from_secs(5)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        post_json(&url, &callback("on-search", "m-2", "s", "txn-late"))
            .await
            .0,
        200
    );
    let late = waiting.await.unwrap().unwrap();
    assert_eq!(late.header.message_id(), "m-2");

    // By correlation id too.
    assert_eq!(
        post_json(&url, &callback("on-search", "m-3", "s", "txn-other"))
            .await
            .0,
        200
    );
    let by_correlation = receiver
        .wait_for("corr-reg-1", Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(by_correlation.header.message_id(), "m-3");
}

#[tokio::test]
async fn wait_for_times_out_cleanly() {
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let started = Instant::now();
    let error = receiver
        .wait_for("txn-never", Duration::from_millis(100))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&error, ClientError::Timeout { key, .. } if key == "txn-never"),
        "{error}"
    );
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // A callback already handed to a waiter is not handed out again.
    let url = format!("{}/registry/on-search", receiver.base_url().unwrap());
    post_json(&url, &callback("on-search", "m-1", "s", "txn-once")).await;
    assert!(
        receiver
            .wait_for("txn-once", Duration::from_millis(10))
            .await
            .is_ok()
    );
    assert!(
        receiver
            .wait_for("txn-once", Duration::from_millis(10))
            .await
            .is_err()
    );
}

// ---- Stub registry ----------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Stub {
    /// Every request body, by path.
    received: Arc<Mutex<Vec<(String, Value)>>>,
    /// 503s to answer `/registry/search` with before accepting.
    unavailable: Arc<AtomicUsize>,
    /// Whether `/registry/search`, `/registry/subscribe`, `/registry/unsubscribe` and
    /// `/registry/txn/status` post their answers to `sender_uri` (and `subscribe` its
    /// notifications to the notify URL).
    calls_back: bool,
    /// `sync/txn/status` answers `pdng` this many times before the final state.
    pending_polls: Arc<AtomicUsize>,
    /// A fixed error answer for `/registry/sync/search`.
    sync_failure: Option<(u16, Value)>,
}

impl Stub {
    fn bodies(&self, path: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn record(&self, path: &str, body: &Value) {
        self.received
            .lock()
            .unwrap()
            .push((path.to_string(), body.clone()));
    }
}

fn response_header(action: &str, status: &str) -> Value {
    json!({
        "version": "1.0.0", "message_id": uuid::Uuid::now_v7().to_string(),
        "message_ts": Timestamp::now().to_string(), "action": action, "status": status,
        "sender_id": "social.example.org", "receiver_id": "mis.example.org"
    })
}

fn ack(correlation_id: &str) -> Value {
    json!({"message": {"ack_status": "ACK", "timestamp": Timestamp::now().to_string(), "correlation_id": correlation_id}})
}

fn references(body: &Value) -> Vec<String> {
    body["message"]["search_request"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference_id"].as_str().unwrap().to_string())
        .collect()
}

async fn sync_search(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/sync/search", &body);
    if let Some((status, answer)) = stub.sync_failure.clone() {
        return (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response();
    }
    let refs = references(&body);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let txn = body["message"]["transaction_id"].as_str().unwrap();
    Json(json!({
        "header": response_header("on-search", "succ"),
        "message": search_response(txn, &refs)
    }))
    .into_response()
}

async fn async_search(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/search", &body);
    if stub
        .unavailable
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        let error =
            json!({"errors": [{"code": "err.service.unavailable", "message": "warming up"}]});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response();
    }
    if stub.calls_back {
        let url = body["header"]["sender_uri"].as_str().unwrap().to_string();
        let txn = body["message"]["transaction_id"].as_str().unwrap();
        let envelope = json!({
            "header": response_header("on-search", "succ"),
            "message": search_response(txn, &["1"])
        });
        call_back_later(vec![(url, envelope)]);
    }
    Json(ack("corr-async-1")).into_response()
}

/// The answer of a `txn_type` transaction `txn`, every item with `status`.
fn answer_of_type(txn_type: &str, txn: &str, status: &str) -> Value {
    let mut answer = match txn_type {
        "subscribe" => subscribe_response(txn, "sub-1"),
        "unsubscribe" => unsubscribe_response(txn, &["sub-1"]),
        _ => search_response(txn, &["1"]),
    };
    for key in ["search_response", "subscribe_response"] {
        if let Some(Value::Array(items)) = answer.get_mut(key) {
            for item in items {
                item["status"] = json!(status);
            }
        }
    }
    if txn_type == "unsubscribe" {
        answer["status"] = json!(status);
    }
    answer
}

async fn sync_txn_status(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/sync/txn/status", &body);
    let own = body["message"]["transaction_id"].clone();
    let request = &body["message"]["txnstatus_request"];
    let txn_type = request["txn_type"].as_str().unwrap_or("search");
    let original = request["attribute_value"].as_str().unwrap_or("unknown");
    // As the registry answers a transaction still being processed: items `pdng`.
    let pending = stub
        .pending_polls
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if pending { "pdng" } else { "succ" };
    Json(json!({
        "header": response_header("txn-on-status", "succ"),
        "message": {
            "transaction_id": own, "correlation_id": "c-status",
            "txnstatus_response": {"txn_type": format!("on-{txn_type}"), "txn_status": answer_of_type(txn_type, original, status)}
        }
    }))
    .into_response()
}

/// Posts each envelope to its URL, one after the other, after a short pause, as a registry's
/// outbox would.
fn call_back_later(posts: Vec<(String, Value)>) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        for (url, envelope) in posts {
            let (status, ack) = post_json(&url, &envelope).await;
            assert_eq!(status, 200, "{ack}");
        }
    });
}

async fn async_txn_status(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/txn/status", &body);
    if stub.calls_back {
        let own = body["message"]["transaction_id"].clone();
        let request = &body["message"]["txnstatus_request"];
        let txn_type = request["txn_type"].as_str().unwrap_or("search");
        let original = request["attribute_value"].as_str().unwrap_or("unknown");
        let envelope = json!({
            "header": response_header("txn-on-status", "succ"),
            "message": {
                "transaction_id": own, "correlation_id": "corr-status-1",
                "txnstatus_response": {"txn_type": format!("on-{txn_type}"), "txn_status": answer_of_type(txn_type, original, "succ")}
            }
        });
        let url = body["header"]["sender_uri"].as_str().unwrap().to_string();
        call_back_later(vec![(url, envelope)]);
    }
    Json(ack("corr-status-1")).into_response()
}

fn subscribe_response(txn: &str, code: &str) -> Value {
    json!({
        "transaction_id": txn, "correlation_id": "corr-sub-1",
        "subscribe_response": [{
            "reference_id": "1", "timestamp": Timestamp::now().to_string(), "status": "succ",
            "subscriptions": [{"code": code, "status": "subscribe", "timestamp": Timestamp::now().to_string(),
                "reg_event_type": "REGISTER", "notify_record_type": "Group"}]
        }]
    })
}

fn unsubscribe_response(txn: &str, codes: &[&str]) -> Value {
    let statuses: Vec<Value> = codes
        .iter()
        .map(|code| json!({"code": code, "status": "unsubscribe"}))
        .collect();
    json!({
        "transaction_id": txn, "correlation_id": "corr-unsub-1",
        "timestamp": Timestamp::now().to_string(), "status": "succ", "subscription_status": statuses
    })
}

/// A `notify` envelope of subscription `code`, as spx registries send it.
fn notify(message_id: &str, code: &str, txn: &str, record: &str) -> Value {
    let mut header = response_header("notify", "succ");
    header["message_id"] = json!(message_id);
    header["meta"] = json!({"subscription_code": code, "reg_event_type": "REGISTER"});
    json!({
        "header": header,
        "message": {"transaction_id": txn, "notify_event": [{
            "reference_id": "1", "timestamp": Timestamp::now().to_string(),
            "data": {"version": "1.0.0", "reg_record_type": "Group", "reg_records": {"id": record}}
        }]}
    })
}

async fn async_subscribe(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/subscribe", &body);
    if stub.calls_back {
        let url = body["header"]["sender_uri"].as_str().unwrap().to_string();
        let notify_url = format!("{}/notify", url.trim_end_matches("/on-subscribe"));
        let txn = body["message"]["transaction_id"].as_str().unwrap();
        let on_subscribe = json!({
            "header": response_header("on-subscribe", "succ"),
            "message": subscribe_response(txn, "sub-1")
        });
        let to_notify = |message_id, code, txn, record| {
            (notify_url.clone(), notify(message_id, code, txn, record))
        };
        call_back_later(vec![
            // A notification that overtakes the on-subscribe carries the same transaction id.
            to_notify("n-early", "sub-1", txn, "g-0"),
            (url, on_subscribe),
            to_notify("n-1", "sub-1", txn, "g-1"),
            to_notify("n-2", "sub-1", txn, "g-2"),
            to_notify("n-other", "sub-2", "txn-other", "g-9"),
            to_notify("n-1", "sub-1", txn, "g-1"),
            to_notify("n-3", "sub-1", txn, "g-3"),
        ]);
    }
    Json(ack("corr-sub-1")).into_response()
}

async fn async_unsubscribe(State(stub): State<Stub>, Json(body): Json<Value>) -> Response {
    stub.record("/registry/unsubscribe", &body);
    if stub.calls_back {
        let url = body["header"]["sender_uri"].as_str().unwrap().to_string();
        let txn = body["message"]["transaction_id"].as_str().unwrap();
        let codes: Vec<&str> = body["message"]["subscription_codes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let envelope = json!({
            "header": response_header("on-unsubscribe", "succ"),
            "message": unsubscribe_response(txn, &codes)
        });
        call_back_later(vec![(url, envelope)]);
    }
    Json(ack("corr-unsub-1")).into_response()
}

async fn spawn_stub(stub: Stub) -> (Stub, String) {
    let router = Router::new()
        .route("/registry/sync/search", post(sync_search))
        .route("/registry/search", post(async_search))
        .route("/registry/sync/txn/status", post(sync_txn_status))
        .route("/registry/txn/status", post(async_txn_status))
        .route("/registry/subscribe", post(async_subscribe))
        .route("/registry/unsubscribe", post(async_unsubscribe))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (stub, format!("http://{addr}"))
}

fn client(base: &str) -> Client {
    Client::new(base, "mis.example.org", Some("social.example.org"))
        .with_timeout(Duration::from_secs(5))
        .with_retry(RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        })
}

fn assert_request_header(body: &Value, action: &str, total: i64) {
    let header = &body["header"];
    assert_eq!(header["version"], "1.0.0");
    assert_eq!(header["action"], action);
    assert_eq!(header["sender_id"], "mis.example.org");
    assert_eq!(header["receiver_id"], "social.example.org");
    assert_eq!(header["total_count"], total);
    let id = uuid::Uuid::parse_str(header["message_id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert!(Timestamp::parse(header["message_ts"].as_str().unwrap()).is_ok());
    assert!(body.get("signature").is_none());
}

// ---- Client -------------------------------------------------------------------------------------

#[tokio::test]
async fn sync_search_sends_a_numbered_batch_and_decodes_the_answer() {
    let (stub, base) = spawn_stub(Stub::default()).await;
    let client = client(&base);
    let items = vec![
        SearchItem::by_identifier("Group", "UIN", "847951632"),
        SearchItem::by_expression("Group", json!({"poverty_score": {"$lt": 5}}))
            .page(10, 2)
            .sort("poverty_score", true),
    ];
    let answer = client.sync_search(items).await.unwrap();
    assert_eq!(answer.header.action, "on-search");
    let message = answer.message.unwrap();
    assert_eq!(message.search_response.len(), 2);

    let sent = stub.bodies("/registry/sync/search");
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_request_header(body, "search", 2);
    assert!(body["header"].get("sender_uri").is_none());
    assert_eq!(
        message.transaction_id,
        body["message"]["transaction_id"].as_str().unwrap()
    );
    assert_eq!(references(body), ["1", "2"]);
    let items = body["message"]["search_request"].as_array().unwrap();
    for item in items {
        assert!(Timestamp::parse(item["timestamp"].as_str().unwrap()).is_ok());
    }
    assert_eq!(
        items[0]["search_criteria"]["query"],
        json!({"type": "UIN", "value": "847951632"})
    );
    assert_eq!(items[0]["search_criteria"]["query_type"], "idtype-value");
    let second = &items[1]["search_criteria"];
    assert_eq!(second["query_type"], "expression");
    assert_eq!(
        second["query"]["value"]["expression"]["poverty_score"]["$lt"],
        5
    );
    assert_eq!(
        second["pagination"],
        json!({"page_size": 10, "page_number": 2})
    );
    assert_eq!(
        second["sort"],
        json!([{"attribute_name": "poverty_score", "sort_order": "desc"}])
    );

    // Two calls never share a message or transaction id.
    client
        .sync_search(vec![SearchItem::by_identifier("Group", "UIN", "1")])
        .await
        .unwrap();
    let sent = stub.bodies("/registry/sync/search");
    assert_ne!(
        sent[0]["header"]["message_id"],
        sent[1]["header"]["message_id"]
    );
    assert_ne!(
        sent[0]["message"]["transaction_id"],
        sent[1]["message"]["transaction_id"]
    );
}

#[test]
fn search_item_builders_make_the_published_shapes() {
    let text = SearchItem::by_expression("Member", json!("age > 60")).sort("age", false);
    assert_eq!(text.criteria()["query"]["type"], NOSQL);
    assert_eq!(text.criteria()["query"]["value"]["expression"], "age > 60");
    let text = text.sort("name", true);
    assert_eq!(
        text.criteria()["sort"],
        json!([{"attribute_name": "age", "sort_order": "asc"}, {"attribute_name": "name", "sort_order": "desc"}])
    );
    let predicates = json!([{"seq_num": 1, "expression1": {"attribute_name": "UIN", "operator": "eq", "attribute_value": "1"}}]);
    let item = SearchItem::by_predicates("Person", predicates.clone())
        .reg_type("ns:org:RegistryType:Civil")
        .locale(None);
    assert_eq!(item.criteria()["query_type"], "predicate");
    assert_eq!(item.criteria()["query"], predicates);
    assert_eq!(item.criteria()["reg_type"], "ns:org:RegistryType:Civil");
    assert_eq!(item.criteria()["reg_record_type"], "Person");
    let wire = item.into_wire("7".into());
    assert_eq!(wire.reference_id.as_deref(), Some("7"));
    assert_eq!(wire.locale, None);
    // The criteria parse back through the registry-side model with the same query.
    let criteria = wire.criteria().unwrap();
    assert!(matches!(
        criteria.query().unwrap(),
        dci::Query::Predicate(_)
    ));
}

#[tokio::test]
async fn async_search_retries_a_503_with_the_same_message_id() {
    let stub = Stub {
        unavailable: Arc::new(AtomicUsize::new(1)),
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let accepted = client(&base)
        .search(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            "http://mis.local/registry/on-search",
        )
        .await
        .unwrap();
    let sent = stub.bodies("/registry/search");
    assert_eq!(sent.len(), 2, "one 503, one accepted attempt");
    assert_eq!(sent[0], sent[1], "the retry is the same message");
    assert_request_header(&sent[0], "search", 1);
    assert_eq!(
        sent[0]["header"]["sender_uri"],
        "http://mis.local/registry/on-search"
    );
    assert_eq!(accepted.message_id, sent[0]["header"]["message_id"]);
    assert_eq!(
        accepted.transaction_id,
        sent[0]["message"]["transaction_id"]
    );
    assert_eq!(accepted.correlation_id, "corr-async-1");
}

#[tokio::test]
async fn retries_are_bounded() {
    let stub = Stub {
        unavailable: Arc::new(AtomicUsize::new(10)),
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let error = client(&base)
        .search(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            "http://mis.local/cb",
        )
        .await
        .unwrap_err();
    assert_eq!(stub.bodies("/registry/search").len(), 3);
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(error.reason_code(), Some(ReasonCode::ServiceUnavailable));
    assert!(error.to_string().contains("warming up"), "{error}");
}

#[tokio::test]
async fn transport_failures_name_the_url() {
    // Bind then drop a listener: the port is free and refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let error = client(&base)
        .search(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            "http://cb",
        )
        .await
        .unwrap_err();
    match &error {
        ClientError::Transport { url, .. } => assert_eq!(url, &format!("{base}/registry/search")),
        other => panic!("expected a transport error, got {other}"),
    }
    assert!(error.is_retryable());
    // Three attempts with 10 ms and 20 ms pauses in between.
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn error_answers_carry_their_dci_code() {
    let cases = [
        (
            401,
            json!({"message": {"ack_status": "ERR", "timestamp": "2024-01-01T00:00:00Z", "correlation_id": "c",
                "error": {"code": "err.signature.invalid", "message": "bad signature"}}}),
            ReasonCode::SignatureInvalid,
            "bad signature",
        ),
        (
            403,
            json!({"errors": [{"code": "err.request.forbidden", "message": "not for you"}]}),
            ReasonCode::RequestForbidden,
            "not for you",
        ),
        (
            400,
            json!({"header": {"message_id": "x", "message_ts": "2024-01-01T00:00:00Z", "action": "on-search",
                "status": "rjct", "status_reason_code": "rjct.total_count.invalid",
                "status_reason_message": "total_count is 3 but the message has 1 item(s)"}}),
            ReasonCode::TotalCountInvalid,
            "total_count is 3",
        ),
    ];
    for (status, answer, code, mentions) in cases {
        let stub = Stub {
            sync_failure: Some((status, answer)),
            ..Stub::default()
        };
        let (stub, base) = spawn_stub(stub).await;
        let error = client(&base)
            .sync_search(vec![SearchItem::by_identifier("Group", "UIN", "1")])
            .await
            .unwrap_err();
        assert_eq!(error.http_status(), Some(status), "{error}");
        assert_eq!(error.reason_code(), Some(code), "{error}");
        assert!(error.to_string().contains(mentions), "{error}");
        // Sync calls are not retried.
        assert_eq!(stub.bodies("/registry/sync/search").len(), 1);
    }
}

#[tokio::test]
async fn txn_status_queries_map_to_the_core_shape() {
    let (stub, base) = spawn_stub(Stub::default()).await;
    let client = client(&base);
    let queries = [
        (
            TxnLookup::TransactionId("txn-9".into()),
            "transaction_id",
            json!("txn-9"),
        ),
        (
            TxnLookup::ReferenceIds(vec!["1".into(), "2".into()]),
            "reference_id_list",
            json!(["1", "2"]),
        ),
        (
            TxnLookup::CorrelationId("corr-9".into()),
            "correlation_id",
            json!("corr-9"),
        ),
    ];
    for (query, attribute_type, value) in queries.clone() {
        let answer = client
            .sync_txn_status(TxnType::Search, query)
            .await
            .unwrap();
        assert_eq!(answer.header.action, "txn-on-status");
        let message = answer.message.unwrap();
        assert!(crate::client::answer_of::<dci::SearchResponse>(&message).is_some());
        let sent = stub.bodies("/registry/sync/txn/status");
        let body = sent.last().unwrap();
        assert_request_header(body, "txn-status", 1);
        let request = &body["message"]["txnstatus_request"];
        assert_eq!(request["txn_type"], "search");
        assert_eq!(request["attribute_type"], attribute_type);
        assert_eq!(request["attribute_value"], value);
        assert!(request["reference_id"].is_string());
        assert_eq!(
            message.transaction_id,
            body["message"]["transaction_id"].as_str().unwrap()
        );
        assert_ne!(body["message"]["transaction_id"], value);
    }
    let accepted = client
        .txn_status(
            TxnType::Search,
            queries[0].0.clone(),
            "http://mis.local/registry/txn/on-status",
        )
        .await
        .unwrap();
    let sent = stub.bodies("/registry/txn/status");
    assert_eq!(
        sent[0]["header"]["sender_uri"],
        "http://mis.local/registry/txn/on-status"
    );
    assert_eq!(
        accepted.transaction_id,
        sent[0]["message"]["transaction_id"]
    );
    assert_eq!(accepted.correlation_id, "corr-status-1");
}

#[tokio::test]
async fn search_and_wait_takes_the_callback() {
    let stub = Stub {
        calls_back: true,
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let outcome = client(&base)
        .search_and_wait(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            &receiver,
            Duration::from_secs(5),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(matches!(outcome.source, AnswerSource::Callback(_)));
    assert_eq!(
        outcome.response.transaction_id,
        outcome.accepted.transaction_id
    );
    let sent = stub.bodies("/registry/search");
    assert_eq!(
        sent[0]["header"]["sender_uri"].as_str().unwrap(),
        format!("{}/registry/on-search", receiver.base_url().unwrap())
    );
    assert!(stub.bodies("/registry/sync/txn/status").is_empty());
}

#[tokio::test]
async fn search_and_wait_falls_back_to_polling_until_final() {
    let stub = Stub {
        pending_polls: Arc::new(AtomicUsize::new(2)),
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let outcome = client(&base)
        .search_and_wait(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            &receiver,
            Duration::from_secs(5),
            Duration::from_millis(30),
        )
        .await
        .unwrap();
    assert!(matches!(outcome.source, AnswerSource::TxnStatus(_)));
    assert_eq!(
        outcome.response.transaction_id,
        outcome.accepted.transaction_id
    );
    let polls = stub.bodies("/registry/sync/txn/status");
    assert_eq!(polls.len(), 3, "two pending answers, then the final one");
    for poll in polls {
        assert_eq!(
            poll["message"]["txnstatus_request"]["attribute_value"],
            outcome.accepted.transaction_id.as_str()
        );
    }
}

#[tokio::test]
async fn search_and_wait_times_out_reporting_the_last_poll_error() {
    // No txn-status endpoint at all: the poll is refused with 404, the wait runs out.
    let router = Router::new().route(
        "/registry/search",
        post(|| async { Json(ack("c")).into_response() }),
    );
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (receiver, _) = Receiver::bind(localhost()).await.unwrap();
    let error = client(&format!("http://{addr}"))
        .search_and_wait(
            vec![SearchItem::by_identifier("Group", "UIN", "1")],
            &receiver,
            Duration::from_millis(200),
            Duration::from_millis(20),
        )
        .await
        .unwrap_err();
    match error {
        ClientError::Timeout {
            last_poll_error, ..
        } => assert!(last_poll_error.unwrap().contains("404")),
        other => panic!("expected a timeout, got {other}"),
    }
}

#[test]
fn txn_queries_read_back_as_the_same_lookup() {
    for (txn_type, lookup) in [
        (TxnType::Search, TxnLookup::TransactionId("t-1".into())),
        (
            TxnType::Search,
            TxnLookup::ReferenceIds(vec!["1".into(), "2".into()]),
        ),
        (TxnType::Unsubscribe, TxnLookup::CorrelationId("c-1".into())),
        (
            TxnType::Subscribe,
            TxnLookup::SubscriptionCodes(vec!["s-1".into(), "s-2".into()]),
        ),
    ] {
        let wire = txn_status_query(txn_type, &lookup);
        assert_eq!(wire.txn_type.as_deref(), Some(txn_type.as_str()));
        assert_eq!(wire.lookup().unwrap(), lookup);
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let policy = RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(350),
    };
    let pauses: Vec<u128> = (1..=4).map(|a| policy.backoff(a).as_millis()).collect();
    assert_eq!(pauses, [100, 200, 350, 350]);
}

// ---- Subscriptions, unsubscriptions, async txn status ---------------------------------------

#[test]
fn subscribe_items_share_the_search_query_shapes_and_read_back() {
    let text = "region_code = \"R01\"";
    let search = SearchItem::new("Group", RegistryQuery::expression(json!(text)));
    let item = SubscribeItem::new("REGISTER", "Group", RegistryQuery::expression(json!(text)))
        .frequency(Frequency::Daily)
        .reg_type("ns:org:RegistryType:Social");
    let criteria = item.criteria();
    assert_eq!(criteria["version"], "1.0.0");
    assert_eq!(criteria["reg_event_type"], "REGISTER");
    assert_eq!(criteria["notify_record_type"], "Group");
    // The filter is the search's query, under the subscription's names.
    assert_eq!(criteria["filter_type"], search.criteria()["query_type"]);
    assert_eq!(criteria["filter"], search.criteria()["query"]);
    assert_eq!(criteria["filter"]["value"]["expression"], text);
    assert_eq!(criteria["frequency"]["frequency"], "daily");
    assert!(Timestamp::parse(criteria["frequency"]["start_time"].as_str().unwrap()).is_ok());
    assert!(criteria.get("reg_record_type").is_none() && criteria.get("query").is_none());

    // The registry-side model reads the item back as the same subscription.
    let wire = item.into_wire("3".into());
    assert_eq!(wire.reference_id.as_deref(), Some("3"));
    assert_eq!(wire.locale.as_deref(), Some("eng"));
    let spec = wire.criteria().unwrap().spec().unwrap();
    assert_eq!(spec.reg_event_type, "REGISTER");
    assert_eq!(spec.notify_record_type, "Group");
    assert_eq!(spec.frequency, Frequency::Daily);
    assert!(matches!(spec.filter, dci::Query::Expression { .. }));

    let by_uin = SubscribeItem::new(
        "REGISTER",
        "Member",
        RegistryQuery::identifier("UIN", "847951632"),
    );
    let spec = by_uin
        .into_wire("1".into())
        .criteria()
        .unwrap()
        .spec()
        .unwrap();
    assert_eq!(spec.frequency, Frequency::Immediate);
    assert!(matches!(spec.filter, dci::Query::IdTypeValue { ref id_type, .. } if id_type == "UIN"));
    let predicates = json!([{"seq_num": 1, "expression1": {"attribute_name": "region_code", "operator": "eq", "attribute_value": "R01"}}]);
    let spec = SubscribeItem::new("REGISTER", "Group", RegistryQuery::predicates(predicates))
        .into_wire("1".into())
        .criteria()
        .unwrap()
        .spec()
        .unwrap();
    assert!(matches!(spec.filter, dci::Query::Predicate(_)));
}

#[tokio::test]
async fn subscribe_and_wait_takes_the_on_subscribe_and_notifications_follow_by_code() {
    let stub = Stub {
        calls_back: true,
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let items = vec![SubscribeItem::new(
        "REGISTER",
        "Group",
        RegistryQuery::expression(json!("region_code = \"R01\"")),
    )];
    let outcome = client(&base)
        .subscribe_and_wait(
            items,
            &receiver,
            Duration::from_secs(5),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    // The notification that came first, with the same transaction id, is not the answer.
    assert!(
        matches!(outcome.source, AnswerSource::Callback(ref c) if c.action == Action::OnSubscribe)
    );
    assert_eq!(outcome.codes(), ["sub-1"]);
    assert_eq!(outcome.accepted.correlation_id, "corr-sub-1");
    let sent = stub.bodies("/registry/subscribe");
    assert_eq!(sent.len(), 1);
    assert_request_header(&sent[0], "subscribe", 1);
    assert_eq!(
        sent[0]["header"]["sender_uri"].as_str().unwrap(),
        format!("{}/registry/on-subscribe", receiver.base_url().unwrap())
    );
    let item = &sent[0]["message"]["subscribe_request"][0];
    assert_eq!(item["reference_id"], "1");
    assert_eq!(item["subscribe_criteria"]["reg_event_type"], "REGISTER");
    assert_eq!(
        outcome.response.transaction_id,
        sent[0]["message"]["transaction_id"]
    );

    // Four distinct notifications of sub-1, in order of arrival; the repeat of n-1 is dropped
    // and sub-2's is not among them.
    let notifications = receiver
        .wait_for_notifications("sub-1", 4, Duration::from_secs(5))
        .await
        .unwrap();
    let ids: Vec<&str> = notifications
        .iter()
        .map(|n| n.header.message_id.as_str())
        .collect();
    assert_eq!(ids, ["n-early", "n-1", "n-2", "n-3"]);
    for n in &notifications {
        assert_eq!(n.subscription_code.as_deref(), Some("sub-1"));
        assert_eq!(n.reg_event_type.as_deref(), Some("REGISTER"));
        assert_eq!(n.message.transaction_id, outcome.accepted.transaction_id);
        assert_eq!(n.message.notify_event[0].data.reg_record_type, "Group");
    }
    assert_eq!(
        notifications[3].message.notify_event[0].data.reg_records["id"],
        "g-3"
    );
    assert!(
        receiver
            .next_notification(Some("sub-1"), Duration::from_millis(100))
            .await
            .is_err()
    );
    let other = receiver
        .next_notification(None, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(other.subscription_code.as_deref(), Some("sub-2"));
}

#[tokio::test]
async fn waiting_for_too_many_notifications_keeps_those_that_came() {
    let (receiver, addr) = Receiver::bind(localhost()).await.unwrap();
    let url = format!("http://{addr}/registry/notify");
    let (status, ack) = post_json(&url, &notify("n-1", "sub-7", "t-7", "g-1")).await;
    assert_eq!(status, 200, "{ack}");
    // A notification is never the answer to its (subscribe) transaction.
    assert!(
        receiver
            .wait_for("t-7", Duration::from_millis(50))
            .await
            .is_err()
    );
    let error = receiver
        .wait_for_notifications("sub-7", 2, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Timeout { key, .. } if key.contains("sub-7") && key.contains("1 came")),
        "{error}"
    );
    let kept = receiver
        .wait_for_notifications("sub-7", 1, Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(kept[0].header.message_id, "n-1");

    // A notify without the code in its meta still reaches a waiter for any subscription, with
    // the event type from its data.
    let mut bare = notify("n-2", "x", "t-8", "g-2");
    bare["header"].as_object_mut().unwrap().remove("meta");
    bare["message"]["notify_event"][0]["data"]["reg_event_type"] = json!("NewHouseHoldMember");
    assert_eq!(post_json(&url, &bare).await.0, 200);
    assert!(
        receiver
            .next_notification(Some("x"), Duration::from_millis(50))
            .await
            .is_err()
    );
    let any = receiver
        .next_notification(None, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(any.subscription_code, None);
    assert_eq!(any.reg_event_type.as_deref(), Some("NewHouseHoldMember"));
}

#[tokio::test]
async fn subscribe_and_wait_polls_the_subscribe_transaction_without_a_callback() {
    let stub = Stub {
        pending_polls: Arc::new(AtomicUsize::new(1)),
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let outcome = client(&base)
        .subscribe_and_wait(
            vec![SubscribeItem::new(
                "REGISTER",
                "Member",
                RegistryQuery::identifier("UIN", "1"),
            )],
            &receiver,
            Duration::from_secs(5),
            Duration::from_millis(30),
        )
        .await
        .unwrap();
    assert!(matches!(outcome.source, AnswerSource::TxnStatus(_)));
    assert_eq!(outcome.codes(), ["sub-1"]);
    let polls = stub.bodies("/registry/sync/txn/status");
    assert_eq!(polls.len(), 2, "one pending answer, then the final one");
    let asked = &polls[0]["message"]["txnstatus_request"];
    assert_eq!(asked["txn_type"], "subscribe");
    assert_eq!(asked["attribute_type"], "transaction_id");
    assert_eq!(
        asked["attribute_value"],
        outcome.accepted.transaction_id.as_str()
    );
}

#[tokio::test]
async fn unsubscribe_and_wait_sends_the_codes_and_takes_the_on_unsubscribe() {
    let stub = Stub {
        calls_back: true,
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let outcome = client(&base)
        .unsubscribe_and_wait(
            vec!["sub-1".into(), "sub-2".into()],
            &receiver,
            Duration::from_secs(5),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(matches!(outcome.source, AnswerSource::Callback(_)));
    assert_eq!(outcome.response.status, RequestStatus::Succ);
    let codes: Vec<&str> = outcome
        .response
        .subscription_status
        .iter()
        .map(|s| s.code.as_str())
        .collect();
    assert_eq!(codes, ["sub-1", "sub-2"]);
    let sent = stub.bodies("/registry/unsubscribe");
    assert_request_header(&sent[0], "unsubscribe", 2);
    assert_eq!(
        sent[0]["header"]["sender_uri"].as_str().unwrap(),
        format!("{}/registry/on-unsubscribe", receiver.base_url().unwrap())
    );
    let message = &sent[0]["message"];
    assert_eq!(message["subscription_codes"], json!(["sub-1", "sub-2"]));
    assert!(Timestamp::parse(message["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(
        message["transaction_id"].as_str().unwrap(),
        outcome.accepted.transaction_id
    );
    assert!(stub.bodies("/registry/sync/txn/status").is_empty());
}

#[tokio::test]
async fn txn_status_and_wait_takes_the_txn_on_status_callback() {
    let stub = Stub {
        calls_back: true,
        ..Stub::default()
    };
    let (stub, base) = spawn_stub(stub).await;
    let (receiver, _addr) = Receiver::bind(localhost()).await.unwrap();
    let outcome = client(&base)
        .txn_status_and_wait(
            TxnType::Subscribe,
            TxnLookup::SubscriptionCodes(vec!["sub-1".into()]),
            &receiver,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome.source, AnswerSource::Callback(ref c) if c.action == Action::TxnOnStatus)
    );
    assert_eq!(outcome.response.txnstatus_response.txn_type, "on-subscribe");
    let sent = stub.bodies("/registry/txn/status");
    assert_eq!(
        sent[0]["header"]["sender_uri"].as_str().unwrap(),
        format!("{}/registry/txn/on-status", receiver.base_url().unwrap())
    );
    let asked = &sent[0]["message"]["txnstatus_request"];
    assert_eq!(asked["txn_type"], "subscribe");
    assert_eq!(asked["attribute_type"], "subscription_code_list");
    assert_eq!(asked["attribute_value"], json!(["sub-1"]));
    assert_eq!(
        outcome.response.transaction_id,
        outcome.accepted.transaction_id
    );
    // There is nothing to poll for a status request: none was made.
    assert!(stub.bodies("/registry/sync/txn/status").is_empty());
}
