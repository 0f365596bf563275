//! Delivery behaviour against a real HTTP receiver, on SQLite and (when a server answers at
//! `SPX_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`) PostgreSQL.
//! `SPX_REQUIRE_POSTGRES=1` turns a missing server into a failure instead of a skip.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use dispatch::{DispatchConfig, Dispatcher, enqueue, enqueue_ordered, now_ms};
use store::{Store, StoreConfig};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// An outbox in a store of its own, removed when dropped.
struct Outbox {
    store: Arc<dyn Store>,
    _place: Place,
}

enum Place {
    Sqlite(PathBuf),
    Postgres(Schema),
}

impl Drop for Place {
    fn drop(&mut self) {
        match self {
            Place::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Postgres(Schema { admin_url, name }) => {
                let (url, name) = (admin_url.clone(), name.clone());
                // Outside the test's runtime, which may be shutting down.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        let admin = store::postgres::PostgresStore::connect(&url, 1)
                            .await
                            .ok()?;
                        admin
                            .execute_script(format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .await
                            .ok()
                    })
                })
                .join();
            }
        }
    }
}

/// A PostgreSQL schema of the test's own, dropped with it.
struct Schema {
    admin_url: String,
    name: String,
}

fn unique(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{label}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        now_ms()
    )
}

const MIGRATIONS: [store::Migration; 3] = [
    dispatch::MIGRATION,
    dispatch::ORDERING_MIGRATION,
    dispatch::PARKING_MIGRATION,
];

/// A fresh outbox on `backend`, or `None` when PostgreSQL is not there and not required.
async fn outbox(backend: Backend) -> Option<Outbox> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(unique("dispatch-test"));
            let config = StoreConfig {
                sqlite_path: dir.join("outbox.db"),
                sqlite_readers: 2,
                database_url: None,
                postgres_pool_size: 4,
            };
            let store = store::open(&config, &MIGRATIONS)
                .await
                .expect("open sqlite");
            Some(Outbox {
                store,
                _place: Place::Sqlite(dir),
            })
        }
        Backend::Postgres => {
            let admin_url = std::env::var("SPX_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
            let admin = match tokio::time::timeout(
                Duration::from_secs(3),
                store::postgres::PostgresStore::connect(&admin_url, 1),
            )
            .await
            {
                Ok(Ok(admin)) => admin,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no answer within 3 s".to_string(),
                    };
                    let required = std::env::var("SPX_REQUIRE_POSTGRES")
                        .is_ok_and(|v| v == "1" || v == "true");
                    assert!(!required, "PostgreSQL at {admin_url}: {why}");
                    eprintln!("skipped: PostgreSQL at {admin_url}: {why}");
                    return None;
                }
            };
            let name = unique("dispatch_test");
            admin
                .execute_script(format!("CREATE SCHEMA {name}"))
                .await
                .expect("create schema");
            let schema = Schema {
                admin_url: admin_url.clone(),
                name: name.clone(),
            };
            let separator = if admin_url.contains('?') { '&' } else { '?' };
            let config = StoreConfig {
                sqlite_path: PathBuf::new(),
                sqlite_readers: 1,
                database_url: Some(format!(
                    "{admin_url}{separator}options=-c%20search_path%3D{name}"
                )),
                postgres_pool_size: 4,
            };
            let store = store::open(&config, &MIGRATIONS)
                .await
                .expect("open postgres");
            Some(Outbox {
                store,
                _place: Place::Postgres(schema),
            })
        }
    }
}

/// Settings that make a test fast: short backoffs and polls, no breaker unless asked.
fn quick() -> DispatchConfig {
    DispatchConfig {
        concurrency: 8,
        per_origin_concurrency: 8,
        max_attempts: 20,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(5),
        breaker_threshold: 1000,
        breaker_cooldown: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
    }
}

/// One request a receiver saw.
#[derive(Debug, Clone)]
struct Hit {
    body: String,
    status: u16,
    at_ms: i64,
}

#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    failures_left: Arc<AtomicUsize>,
}

impl Receiver {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Bodies answered 2xx, in arrival order.
    fn delivered(&self) -> Vec<String> {
        self.hits()
            .into_iter()
            .filter(|h| h.status == 200)
            .map(|h| h.body)
            .collect()
    }
}

/// An HTTP receiver on a random port that answers 503 to its first `fail_first` requests, 400
/// to bodies starting with `poison`, and 200 to the rest. Returns its URL.
async fn receiver(fail_first: usize) -> (String, Receiver) {
    async fn hook(State(receiver): State<Receiver>, body: String) -> StatusCode {
        let status = if receiver
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            StatusCode::SERVICE_UNAVAILABLE
        } else if body.starts_with("poison") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        receiver.hits.lock().unwrap().push(Hit {
            body,
            status: status.as_u16(),
            at_ms: now_ms(),
        });
        status
    }
    let receiver = Receiver {
        hits: Arc::default(),
        failures_left: Arc::new(AtomicUsize::new(fail_first)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

/// A destination that accepts connections and never answers. Returns its URL and the count
/// of connections it accepted.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            open.push(socket);
        }
    });
    (url, accepted)
}

/// Waits until `done` holds, at most `limit`; whether it did.
async fn until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// Messages of two interleaved ordering keys, to a receiver whose first requests fail, each
/// arrive once and in the order they were enqueued.
async fn ordered_messages_arrive_in_enqueue_order_through_failures(backend: Backend) {
    let Some(outbox) = outbox(backend).await else {
        return;
    };
    let (url, receiver) = receiver(3).await;
    let dialect = outbox.store.dialect();
    let mut statements = Vec::new();
    for seq in 0..6 {
        for key in ["sub-a", "sub-b"] {
            statements.push(enqueue_ordered(
                dialect,
                &format!("{key}-{seq}"),
                &url,
                format!("{key}:{seq}"),
                key,
                0,
            ));
        }
    }
    outbox.store.write(statements).await.unwrap();
    Dispatcher::new(outbox.store.clone(), quick())
        .unwrap()
        .spawn();

    assert!(
        until(Duration::from_secs(15), || receiver.delivered().len() >= 12).await,
        "not all delivered: {:?}",
        receiver.hits()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let delivered = receiver.delivered();
    for key in ["sub-a", "sub-b"] {
        let got: Vec<&String> = delivered
            .iter()
            .filter(|b| b.starts_with(&format!("{key}:")))
            .collect();
        let want: Vec<String> = (0..6).map(|seq| format!("{key}:{seq}")).collect();
        assert_eq!(got, want.iter().collect::<Vec<_>>(), "{key}: {delivered:?}");
    }
    assert_eq!(delivered.len(), 12, "{delivered:?}");
    assert_eq!(
        receiver.hits().iter().filter(|h| h.status == 503).count(),
        3
    );
    let rows = dispatch::list(outbox.store.as_ref(), Some(dispatch::DELIVERED), 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
}

/// A dead message stops holding back the later messages of its key.
async fn dead_message_does_not_hold_back_its_key(backend: Backend) {
    let Some(outbox) = outbox(backend).await else {
        return;
    };
    let (url, receiver) = receiver(0).await;
    let dialect = outbox.store.dialect();
    let statements = ["poison:0", "sub:1", "sub:2"]
        .iter()
        .map(|body| enqueue_ordered(dialect, body, &url, body.to_string(), "sub", 0))
        .collect();
    outbox.store.write(statements).await.unwrap();
    Dispatcher::new(outbox.store.clone(), quick())
        .unwrap()
        .spawn();

    assert!(
        until(Duration::from_secs(10), || receiver.delivered().len() >= 2).await,
        "{:?}",
        receiver.hits()
    );
    assert_eq!(receiver.delivered(), ["sub:1", "sub:2"]);
    let dead = dispatch::list(outbox.store.as_ref(), Some(dispatch::DEAD), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, "poison:0");
}

/// A destination that never answers holds at most its per-origin share of the slots: a
/// healthy destination's messages, enqueued behind many for the black hole, all arrive long
/// before the black hole's first request times out.
async fn black_hole_does_not_delay_a_healthy_origin(backend: Backend) {
    let Some(outbox) = outbox(backend).await else {
        return;
    };
    let (hole, accepted) = black_hole().await;
    let (url, receiver) = receiver(0).await;
    let dialect = outbox.store.dialect();
    let mut statements: Vec<_> = (0..30)
        .map(|i| enqueue(dialect, &format!("hole-{i}"), None, &hole, "{}".into()))
        .collect();
    statements.extend(
        (0..10).map(|i| enqueue(dialect, &format!("ok-{i}"), None, &url, format!("ok:{i}"))),
    );
    outbox.store.write(statements).await.unwrap();
    let timeout = Duration::from_secs(4);
    let config = DispatchConfig {
        per_origin_concurrency: 2,
        request_timeout: timeout,
        ..quick()
    };
    let started = Instant::now();
    Dispatcher::new(outbox.store.clone(), config)
        .unwrap()
        .spawn();

    let arrived = until(timeout / 2, || receiver.delivered().len() >= 10).await;
    assert!(
        arrived,
        "after {:?} the healthy origin had {} of 10 messages",
        started.elapsed(),
        receiver.delivered().len()
    );
    assert!(
        accepted.load(Ordering::SeqCst) <= 2,
        "the black hole got {} connections",
        accepted.load(Ordering::SeqCst)
    );
}

/// `not_before` holds a message, and the later messages of its key, until its time; other
/// keys go on.
async fn not_before_holds_a_message_until_its_time(backend: Backend) {
    let Some(outbox) = outbox(backend).await else {
        return;
    };
    let (url, receiver) = receiver(0).await;
    let dialect = outbox.store.dialect();
    let not_before = now_ms() + 1500;
    let statements = vec![
        enqueue_ordered(
            dialect,
            "later-0",
            &url,
            "later:0".into(),
            "later",
            not_before,
        ),
        enqueue_ordered(dialect, "later-1", &url, "later:1".into(), "later", 0),
        enqueue_ordered(dialect, "now-0", &url, "now:0".into(), "now", 0),
    ];
    outbox.store.write(statements).await.unwrap();
    let started = now_ms();
    Dispatcher::new(outbox.store.clone(), quick())
        .unwrap()
        .spawn();

    assert!(
        until(Duration::from_secs(10), || receiver.delivered().len() >= 3).await,
        "{:?}",
        receiver.hits()
    );
    let hits = receiver.hits();
    let at = |body: &str| hits.iter().find(|h| h.body == body).unwrap().at_ms;
    assert!(at("now:0") < not_before, "an unscheduled key was held");
    assert!(
        at("now:0") - started < 1000,
        "took {} ms",
        at("now:0") - started
    );
    assert!(
        at("later:0") >= not_before,
        "arrived {} ms early",
        not_before - at("later:0")
    );
    assert!(at("later:1") >= at("later:0"));
    assert_eq!(receiver.delivered().len(), 3, "{hits:?}");
    assert_eq!(
        receiver
            .delivered()
            .iter()
            .filter(|b| b.starts_with("later"))
            .collect::<Vec<_>>(),
        ["later:0", "later:1"]
    );
}

macro_rules! on {
    ($backend:ident: $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test(super::Backend::$backend).await
            }
        )*
    };
}

mod sqlite {
    on!(Sqlite:
        ordered_messages_arrive_in_enqueue_order_through_failures,
        dead_message_does_not_hold_back_its_key,
        black_hole_does_not_delay_a_healthy_origin,
        not_before_holds_a_message_until_its_time,
    );
}

mod postgres {
    on!(Postgres:
        ordered_messages_arrive_in_enqueue_order_through_failures,
        dead_message_does_not_hold_back_its_key,
        black_hole_does_not_delay_a_healthy_origin,
        not_before_holds_a_message_until_its_time,
    );
}
