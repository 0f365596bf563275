//! The audit chain on SQLite and (when a server answers at `SPX_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) PostgreSQL, each test in a fresh database.
//! `SPX_REQUIRE_POSTGRES=1` turns a missing server into a failure instead of a skip.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use store::audit::{self, AuditLog, BATCH_MAX, Break, Entry, EntryHash, Fault, Head, Verdict};
use store::{
    BulkLoad, Dialect, Migration, Row, SqlValue, Statement, Store, StoreConfig, WritePlan,
};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Where a test's log lives; removed when dropped.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl Place {
    /// A fresh place on `backend`, or `None` when PostgreSQL is not there and not required.
    async fn new(backend: Backend) -> Option<Place> {
        match backend {
            Backend::Sqlite => Some(Place::Sqlite(tempfile::tempdir().expect("temp dir"))),
            Backend::Postgres => {
                let admin =
                    std::env::var("SPX_TEST_DATABASE_URL").unwrap_or_else(|_| ADMIN_URL.into());
                let client = match tokio::time::timeout(
                    Duration::from_secs(3),
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls),
                )
                .await
                {
                    Ok(Ok((client, connection))) => {
                        tokio::spawn(connection);
                        client
                    }
                    failed => {
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "no answer within 3 s".to_string(),
                        };
                        let required = std::env::var("SPX_REQUIRE_POSTGRES")
                            .is_ok_and(|v| v == "1" || v == "true");
                        assert!(!required, "PostgreSQL at {admin}: {why}");
                        eprintln!("skipped: PostgreSQL at {admin}: {why}");
                        return None;
                    }
                };
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let name = format!(
                    "spx_audit_{}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed),
                    OffsetDateTime::now_utc().unix_timestamp_nanos()
                );
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                Some(Place::Postgres { admin, name })
            }
        }
    }

    /// Opens a store on this place (each call a new one: a new node, for PostgreSQL).
    async fn open(&self) -> Arc<dyn Store> {
        self.open_with(&[audit::MIGRATION, audit::RUNS_MIGRATION])
            .await
    }

    /// Opens a store on this place with `migrations` applied.
    async fn open_with(&self, migrations: &[Migration]) -> Arc<dyn Store> {
        let config = match self {
            Place::Sqlite(dir) => StoreConfig {
                sqlite_path: dir.path().join("audit.db"),
                sqlite_readers: 2,
                database_url: None,
                postgres_pool_size: 4,
            },
            Place::Postgres { admin, name } => StoreConfig {
                sqlite_path: PathBuf::new(),
                sqlite_readers: 1,
                database_url: Some(database_url(admin, name)),
                postgres_pool_size: 4,
            },
        };
        store::open(&config, migrations)
            .await
            .expect("open the store")
    }
}

/// `admin` with its database replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{authority}/{name}{query}")
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Postgres { admin, name } = self {
            let (admin, name) = (admin.clone(), name.clone());
            // Outside the test's runtime, which may be shutting down.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let (client, connection) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                            .await
                            .ok()?;
                    tokio::spawn(connection);
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// Runs `test` on `backend` in a runtime of two workers, like a server's.
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test());
}

/// The `i`-th test entry: every third one rejected, every fourth discloses nothing, the others
/// disclose two people (and person `1` whenever `i % 5 == 1`). Already normalised (whole
/// microseconds, references sorted without repeats), so it reads back equal.
fn entry(i: i64) -> Entry {
    let mut disclosed = Vec::new();
    if i % 4 != 0 {
        disclosed.push(format!("UIN:{:010}", 100 + i));
        disclosed.push(format!("Member:M-{i:06}"));
    }
    if i % 5 == 1 {
        disclosed.push(subject_one());
    }
    disclosed.sort();
    Entry {
        at: OffsetDateTime::from_unix_timestamp(1_700_000_000 + i).expect("a time")
            + time::Duration::microseconds(i),
        participant: (i % 7 != 0).then(|| format!("mis.node{}", i % 3)),
        endpoint: "/registry/sync/search".into(),
        action: Some("search".into()),
        message_id: Some(format!("msg-{i}")),
        transaction_id: Some(format!("txn-{}", i / 2)),
        correlation_id: (i % 2 == 0).then(|| format!("corr-{i}")),
        outcome: if i % 3 == 0 {
            "rjct.reference_id.invalid".into()
        } else {
            "succ".into()
        },
        status: if i % 3 == 0 { 400 } else { 200 },
        duration: Duration::from_micros(500 + i as u64),
        disclosed,
    }
}

fn subject_one() -> String {
    "UIN:0000000001".to_string()
}

/// Appends entries `1..=count` in order; returns each one's head.
async fn append_in_order(log: &AuditLog, count: i64) -> Vec<Head> {
    let mut heads = Vec::new();
    for i in 1..=count {
        heads.push(log.append(entry(i)).await.expect("append"));
    }
    heads
}

async fn verdict(store: &dyn Store, anchor: Option<Head>) -> Verdict {
    audit::verify(store, anchor).await.expect("verify")
}

fn broken(seq: i64, fault: Fault) -> Verdict {
    Verdict::Broken(Break { seq, fault })
}

async fn concurrent_appends_form_one_chain(backend: Backend) {
    const APPENDS: i64 = 1000;
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::new(store.clone());
    let tasks: Vec<_> = (1..=APPENDS)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(entry(i)).await.expect("append") })
        })
        .collect();
    let mut heads = Vec::new();
    for task in tasks {
        heads.push(task.await.expect("task"));
    }
    let seqs: BTreeSet<i64> = heads.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, (1..=APPENDS).collect::<BTreeSet<_>>());
    let last = heads.iter().find(|h| h.seq == APPENDS).copied();
    assert_eq!(
        Some(verdict(store.as_ref(), None).await),
        last.map(Verdict::Intact)
    );
}

#[test]
fn sqlite_concurrent_appends_form_one_chain() {
    run(|| concurrent_appends_form_one_chain(Backend::Sqlite));
}

#[test]
fn postgres_concurrent_appends_form_one_chain() {
    run(|| concurrent_appends_form_one_chain(Backend::Postgres));
}

/// Two nodes (two stores on one database, each with its own writer) append at once.
async fn two_nodes_keep_one_chain(backend: Backend) {
    const EACH: i64 = 300;
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let nodes = [place.open().await, place.open().await];
    let logs = nodes.clone().map(AuditLog::new);
    let tasks: Vec<_> = (1..=2 * EACH)
        .map(|i| {
            let log = logs[(i % 2) as usize].clone();
            tokio::spawn(async move { log.append(entry(i)).await.expect("append") })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for task in tasks {
        seqs.insert(task.await.expect("task").seq);
    }
    assert_eq!(seqs, (1..=2 * EACH).collect::<BTreeSet<_>>());
    match verdict(nodes[1].as_ref(), None).await {
        Verdict::Intact(head) => assert_eq!(head.seq, 2 * EACH),
        broken => panic!("{broken:?}"),
    }
}

#[test]
fn sqlite_two_nodes_keep_one_chain() {
    run(|| two_nodes_keep_one_chain(Backend::Sqlite));
}

#[test]
fn postgres_two_nodes_keep_one_chain() {
    run(|| two_nodes_keep_one_chain(Backend::Postgres));
}

/// A store that counts the writes it is asked for, and refuses those after the first
/// `fail_after` (as if the process had stopped there).
struct Counting {
    inner: Arc<dyn Store>,
    writes: AtomicUsize,
    fail_after: usize,
}

impl Counting {
    fn new(inner: Arc<dyn Store>, fail_after: usize) -> Counting {
        Counting {
            inner,
            writes: AtomicUsize::new(0),
            fail_after,
        }
    }

    /// Counts a write; refuses it past `fail_after`.
    fn count(&self) -> store::Result<()> {
        if self.writes.fetch_add(1, Ordering::Relaxed) < self.fail_after {
            Ok(())
        } else {
            Err(store::StoreError::Internal("stopped".into()))
        }
    }
}

#[async_trait::async_trait]
impl Store for Counting {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn migrate(&self, migrations: &[Migration]) -> store::Result<()> {
        self.inner.migrate(migrations).await
    }

    async fn read(&self, statements: Vec<Statement>) -> store::Result<Vec<Vec<Row>>> {
        self.inner.read(statements).await
    }

    async fn write(&self, statements: Vec<Statement>) -> store::Result<Vec<u64>> {
        self.count()?;
        self.inner.write(statements).await
    }

    async fn read_then_write(
        &self,
        reads: Vec<Statement>,
        plan: WritePlan,
    ) -> store::Result<Vec<u64>> {
        self.count()?;
        self.inner.read_then_write(reads, plan).await
    }

    async fn write_query(&self, statement: Statement) -> store::Result<Vec<Row>> {
        self.count()?;
        self.inner.write_query(statement).await
    }

    async fn bulk_load(&self, load: BulkLoad) -> store::Result<u64> {
        self.count()?;
        self.inner.bulk_load(load).await
    }

    async fn execute_script(&self, script: String) -> store::Result<()> {
        self.count()?;
        self.inner.execute_script(script).await
    }
}

/// 1,000 appends from concurrent tasks take a few store writes, not 1,000, and none holds
/// more than a batch. (On one thread the tasks queue their entries while a batch is written.)
fn appends_share_writes(backend: Backend) {
    const APPENDS: i64 = 1000;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let Some(place) = Place::new(backend).await else {
                return;
            };
            let counting = Arc::new(Counting::new(place.open().await, usize::MAX));
            let log = AuditLog::new(counting.clone());
            let tasks: Vec<_> = (1..=APPENDS)
                .map(|i| {
                    let log = log.clone();
                    tokio::spawn(async move { log.append(entry(i)).await.expect("append") })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
            let writes = counting.writes.load(Ordering::Relaxed);
            let fewest = (APPENDS as usize).div_ceil(BATCH_MAX);
            assert!(
                (fewest..=10).contains(&writes),
                "{APPENDS} appends in {writes} writes"
            );
            match verdict(counting.as_ref(), None).await {
                Verdict::Intact(head) => assert_eq!(head.seq, APPENDS),
                broken => panic!("{broken:?}"),
            }
        });
}

#[test]
fn sqlite_appends_share_writes() {
    appends_share_writes(Backend::Sqlite);
}

#[test]
fn postgres_appends_share_writes() {
    appends_share_writes(Backend::Postgres);
}

/// A fresh log of 20 entries, then `tamper` run as one write; returns the verdicts without
/// an anchor and with the original head of entry `anchor_at`.
async fn after_tampering(
    backend: Backend,
    tamper: &[&str],
    anchor_at: i64,
) -> Option<(Verdict, Verdict)> {
    let place = Place::new(backend).await?;
    let store = place.open().await;
    let heads = append_in_order(&AuditLog::indexing_every(store.clone(), usize::MAX), 20).await;
    audit::index(store.as_ref()).await.expect("index");
    assert_eq!(runs(store.as_ref()).await, [(20, 0)]);
    assert_eq!(
        verdict(store.as_ref(), None).await,
        Verdict::Intact(heads[19])
    );
    store
        .write(
            tamper
                .iter()
                .map(|sql| Statement::new(*sql, vec![], &[]))
                .collect(),
        )
        .await
        .expect("tamper");
    let anchor = heads[anchor_at as usize - 1];
    Some((
        verdict(store.as_ref(), None).await,
        verdict(store.as_ref(), Some(anchor)).await,
    ))
}

async fn tampering_is_found(backend: Backend) {
    let cases: [(&str, &[&str], Fault, i64); 11] = [
        (
            "edit a field",
            &["UPDATE audit_log SET outcome = 'succ' WHERE seq = 9"],
            Fault::Edited,
            9,
        ),
        (
            "edit a disclosure",
            &["UPDATE audit_log SET disclosed = '[\"Member:M-000006\"]' WHERE seq = 6"],
            Fault::Edited,
            6,
        ),
        (
            "delete an entry",
            &["DELETE FROM audit_log WHERE seq = 7"],
            Fault::Missing,
            7,
        ),
        (
            "swap two entries",
            &[
                "UPDATE audit_log SET seq = -1 WHERE seq = 11",
                "UPDATE audit_log SET seq = 11 WHERE seq = 12",
                "UPDATE audit_log SET seq = 12 WHERE seq = -1",
            ],
            Fault::Unlinked,
            11,
        ),
        (
            "hide a disclosure from the index",
            &["DELETE FROM audit_disclosure WHERE seq = 13 AND subject = 'UIN:0000000113'"],
            Fault::Index,
            13,
        ),
        (
            "add a disclosure to the index",
            &["INSERT INTO audit_disclosure (run, subject, seq) VALUES (1, 'UIN:0000000001', 14)"],
            Fault::Index,
            14,
        ),
        (
            "move a disclosure out of the runs",
            &["UPDATE audit_disclosure SET run = 9 WHERE seq = 13 AND subject = 'UIN:0000000113'"],
            Fault::Index,
            13,
        ),
        (
            "list a disclosure in two runs",
            &[
                "INSERT INTO audit_run (run, last_seq, level) VALUES (2, 20, 0)",
                "INSERT INTO audit_disclosure (run, subject, seq) VALUES (2, 'UIN:0000000105', 5)",
            ],
            Fault::Index,
            5,
        ),
        (
            "say fewer entries are indexed than are",
            &["UPDATE audit_run SET last_seq = 10"],
            Fault::Index,
            11,
        ),
        ("drop the run", &["DELETE FROM audit_run"], Fault::Index, 1),
        (
            "write what no entry holds",
            &["UPDATE audit_log SET disclosed = 'none' WHERE seq = 3"],
            Fault::Unreadable("disclosed \"none\" is not a JSON list of strings".into()),
            3,
        ),
    ];
    for (what, tamper, fault, seq) in cases {
        let Some((plain, anchored)) = after_tampering(backend, tamper, 20).await else {
            return;
        };
        let expected = broken(seq, fault);
        assert_eq!(plain, expected, "{what}");
        assert_eq!(anchored, expected, "{what}, anchored");
    }
}

#[test]
fn sqlite_tampering_is_found() {
    run(|| tampering_is_found(Backend::Sqlite));
}

#[test]
fn postgres_tampering_is_found() {
    run(|| tampering_is_found(Backend::Postgres));
}

/// Cutting entries off the end leaves a valid chain: only an anchor past the new end sees it.
async fn truncation_needs_an_anchor(backend: Backend) {
    let tamper = ["DELETE FROM audit_log WHERE seq >= 18"];
    let Some((plain, anchored)) = after_tampering(backend, &tamper, 19).await else {
        return;
    };
    match plain {
        Verdict::Intact(head) => assert_eq!(head.seq, 17),
        broken => panic!("{broken:?}"),
    }
    assert_eq!(anchored, broken(18, Fault::Truncated));
}

#[test]
fn sqlite_truncation_needs_an_anchor() {
    run(|| truncation_needs_an_anchor(Backend::Sqlite));
}

#[test]
fn postgres_truncation_needs_an_anchor() {
    run(|| truncation_needs_an_anchor(Backend::Postgres));
}

/// An edit whose author recomputed every later hash leaves a valid chain: only the anchor
/// sees it, at the anchored entry.
async fn rewriting_needs_an_anchor(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let heads = append_in_order(&AuditLog::new(store.clone()), 20).await;
    let mut prev = heads[3].hash;
    let mut rewrite = vec![Statement::new(
        "UPDATE audit_log SET participant = 'nobody' WHERE seq = 5",
        vec![],
        &[],
    )];
    for seq in 5..=20 {
        let mut forged = entry(seq);
        if seq == 5 {
            forged.participant = Some("nobody".into());
        }
        let hash = EntryHash::of(seq, &prev, &forged);
        rewrite.push(Statement::new(
            store::numbered(
                store.dialect(),
                "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            ),
            vec![
                SqlValue::Text(prev.to_string()),
                SqlValue::Text(hash.to_string()),
                SqlValue::Integer(seq),
            ],
            &[],
        ));
        prev = hash;
    }
    store.write(rewrite).await.expect("rewrite");
    match verdict(store.as_ref(), None).await {
        Verdict::Intact(head) => assert!(head.seq == 20 && head != heads[19], "{head:?}"),
        broken => panic!("{broken:?}"),
    }
    assert_eq!(
        verdict(store.as_ref(), Some(heads[9])).await,
        broken(10, Fault::NotAnchored)
    );
    assert_eq!(
        verdict(store.as_ref(), Some(heads[2])).await,
        Verdict::Intact(Head {
            seq: 20,
            hash: prev
        })
    );
}

#[test]
fn sqlite_rewriting_needs_an_anchor() {
    run(|| rewriting_needs_an_anchor(Backend::Sqlite));
}

#[test]
fn postgres_rewriting_needs_an_anchor() {
    run(|| rewriting_needs_an_anchor(Backend::Postgres));
}

/// More entries than a page of `verify` and a batch of the writer.
async fn long_logs_verify_across_pages(backend: Backend) {
    let count = audit::PAGE * 2 + 1;
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::new(store.clone());
    let heads = futures::future::join_all((1..=count).map(|i| log.append(entry(i)))).await;
    let last = heads
        .into_iter()
        .map(|h| h.expect("append"))
        .max_by_key(|h| h.seq);
    assert_eq!(
        Some(verdict(store.as_ref(), None).await),
        last.map(Verdict::Intact)
    );
    // A break in the last page is found there.
    store
        .write(vec![Statement::new(
            format!("UPDATE audit_log SET endpoint = '/elsewhere' WHERE seq = {count}"),
            vec![],
            &[],
        )])
        .await
        .expect("tamper");
    assert_eq!(
        verdict(store.as_ref(), None).await,
        broken(count, Fault::Edited)
    );
}

#[test]
fn sqlite_long_logs_verify_across_pages() {
    run(|| long_logs_verify_across_pages(Backend::Sqlite));
}

#[test]
fn postgres_long_logs_verify_across_pages() {
    run(|| long_logs_verify_across_pages(Backend::Postgres));
}

/// The index's runs, oldest first: the last entry each covers, and its level.
async fn runs(store: &dyn Store) -> Vec<(i64, i64)> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT last_seq, level FROM audit_run ORDER BY run",
            vec![],
            &[store::ColumnType::Integer; 2],
        )])
        .await
        .expect("read the runs")
        .pop()
        .unwrap_or_default();
    rows.iter()
        .map(|row| match row.as_slice() {
            [
                Some(SqlValue::Integer(last)),
                Some(SqlValue::Integer(level)),
            ] => (*last, *level),
            other => panic!("a run reads as {other:?}"),
        })
        .collect()
}

/// The rows of the disclosure index.
async fn indexed(store: &dyn Store) -> i64 {
    let rows = store
        .read(vec![Statement::new(
            "SELECT count(*) FROM audit_disclosure",
            vec![],
            &[store::ColumnType::Integer],
        )])
        .await
        .expect("count the index");
    match rows[0][0].as_slice() {
        [Some(SqlValue::Integer(count))] => *count,
        other => panic!("a count reads as {other:?}"),
    }
}

/// The seqs of the entries that disclosed `subject`.
async fn seen_by(store: &dyn Store, subject: &str) -> Vec<i64> {
    audit::who_saw(store, subject)
        .await
        .expect("who saw")
        .iter()
        .map(|r| r.seq)
        .collect()
}

/// The entries among `1..=count` that disclosed person one.
fn saw_one(count: i64) -> Vec<i64> {
    (1..=count).filter(|i| i % 5 == 1).collect()
}

/// References: `who_saw` finds them in the runs and after the last run alike.
async fn who_saw_finds_exactly_the_disclosures(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::indexing_every(store.clone(), usize::MAX);
    let heads = append_in_order(&log, 30).await;
    assert_eq!(seen_by(store.as_ref(), &subject_one()).await, saw_one(30));
    audit::index(store.as_ref()).await.expect("index");
    // Listed twice, and beside a NUL that PostgreSQL cannot store: kept once, cleaned.
    let mut repeated = entry(31);
    repeated.disclosed = vec![subject_one(), "Member:M\0X".into(), subject_one()];
    let last = log.append(repeated.clone()).await.expect("append");

    // Entries 1 to 30 in the run, 31 after it.
    assert_eq!(runs(store.as_ref()).await, [(30, 0)]);
    let seen = audit::who_saw(store.as_ref(), &subject_one())
        .await
        .expect("who saw");
    let expected: Vec<i64> = saw_one(30).into_iter().chain([31]).collect();
    assert_eq!(seen.iter().map(|r| r.seq).collect::<Vec<_>>(), expected);
    for record in &seen[..seen.len() - 1] {
        assert_eq!(record.entry, entry(record.seq));
        assert_eq!(record.hash, heads[record.seq as usize - 1].hash);
    }
    let newest = &seen[seen.len() - 1];
    assert_eq!(
        newest.entry.disclosed,
        vec!["Member:M\u{FFFD}X".to_string(), subject_one()]
    );
    assert_eq!((newest.hash, newest.prev_hash), (last.hash, heads[29].hash));

    assert_eq!(seen_by(store.as_ref(), "Member:M-000006").await, [6]);
    assert_eq!(seen_by(store.as_ref(), "Member:M\u{FFFD}X").await, [31]);
    assert!(seen_by(store.as_ref(), "UIN:9999999999").await.is_empty());
    assert_eq!(verdict(store.as_ref(), None).await, Verdict::Intact(last));
    audit::index(store.as_ref()).await.expect("index");
    assert_eq!(seen_by(store.as_ref(), &subject_one()).await, expected);
    assert_eq!(runs(store.as_ref()).await, [(30, 0), (31, 0)]);
    assert_eq!(verdict(store.as_ref(), None).await, Verdict::Intact(last));
}

#[test]
fn sqlite_who_saw_finds_exactly_the_disclosures() {
    run(|| who_saw_finds_exactly_the_disclosures(Backend::Sqlite));
}

#[test]
fn postgres_who_saw_finds_exactly_the_disclosures() {
    run(|| who_saw_finds_exactly_the_disclosures(Backend::Postgres));
}

/// Runs merge [`audit::FANOUT`] at a time into the next level, and no further than
/// [`audit::TOP_LEVEL`]; `who_saw` and `verify` read the same through every merge.
async fn runs_merge_up_to_the_top_level(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::indexing_every(store.clone(), usize::MAX);
    let fanout = audit::FANOUT as i64;
    let top = fanout.pow(audit::TOP_LEVEL as u32);
    let count = (fanout + 1) * top;
    let mut references = 0;
    for i in 1..=count {
        references += entry(i).disclosed.len() as i64;
        log.append(entry(i)).await.expect("append");
        audit::index(store.as_ref()).await.expect("index");
        if i == 2 * fanout - 1 {
            // Runs 1 to FANOUT merged into one of level 1.
            let expected: Vec<(i64, i64)> = [(fanout, 1)]
                .into_iter()
                .chain((fanout + 1..i).map(|last| (last, 0)))
                .chain([(i, 0)])
                .collect();
            assert_eq!(runs(store.as_ref()).await, expected);
            assert_eq!(seen_by(store.as_ref(), &subject_one()).await, saw_one(i));
        }
    }
    // FANOUT + 1 runs of the top level: none merged.
    let expected: Vec<(i64, i64)> = (1..=fanout + 1)
        .map(|k| (k * top, audit::TOP_LEVEL))
        .collect();
    assert_eq!(runs(store.as_ref()).await, expected);
    assert_eq!(indexed(store.as_ref()).await, references);
    assert_eq!(
        seen_by(store.as_ref(), &subject_one()).await,
        saw_one(count)
    );
    assert_eq!(
        seen_by(store.as_ref(), &format!("UIN:{:010}", 100 + count - 1)).await,
        [count - 1]
    );
    match verdict(store.as_ref(), None).await {
        Verdict::Intact(head) => assert_eq!(head.seq, count),
        broken => panic!("{broken:?}"),
    }
}

#[test]
fn sqlite_runs_merge_up_to_the_top_level() {
    run(|| runs_merge_up_to_the_top_level(Backend::Sqlite));
}

#[test]
fn postgres_runs_merge_up_to_the_top_level() {
    run(|| runs_merge_up_to_the_top_level(Backend::Postgres));
}

/// Entry `k` of a run: 1,000 references of its own, `UIN:k000` to `UIN:k999`.
fn thousand(k: i64) -> Entry {
    Entry {
        disclosed: (0..1000)
            .map(|j| format!("UIN:{:010}", k * 1000 + j))
            .collect(),
        ..entry(k)
    }
}

/// Runs larger than [`audit::MERGE_CHUNK`] merge a chunk a transaction: cut off between two
/// chunks, `who_saw` and `verify` read the same, and the next index step finishes the merge.
async fn large_runs_merge_a_chunk_at_a_time(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::indexing_every(store.clone(), usize::MAX);
    // FANOUT runs of 9 entries, 9,000 references each: the oldest run's 8,192nd reference is
    // `UIN:9191`, and the other runs' references all come after it.
    let per_run = 9;
    let count = per_run * audit::FANOUT as i64;
    let mut last = Head::EMPTY;
    for k in 1..=count {
        last = log.append(thousand(k)).await.expect("append");
        if k % per_run == 0 && k < count {
            audit::index(store.as_ref()).await.expect("index");
        }
    }
    // Build, start the merge, move the first chunk: then stop.
    let cut = Counting::new(store.clone(), 3);
    assert!(audit::index(&cut).await.is_err());
    assert_eq!(runs(store.as_ref()).await.len(), audit::FANOUT + 1);
    let check = async || {
        assert_eq!(indexed(store.as_ref()).await, count * 1000);
        for (uin, seq) in [(1000, 1), (9191, 9), (9192, 9), (9999, 9), (10_000, 10)] {
            assert_eq!(
                seen_by(store.as_ref(), &format!("UIN:{uin:010}")).await,
                [seq]
            );
        }
        let newest = format!("UIN:{:010}", count * 1000 + 999);
        assert_eq!(seen_by(store.as_ref(), &newest).await, [count]);
        assert_eq!(verdict(store.as_ref(), None).await, Verdict::Intact(last));
    };
    check().await;
    // The rest moves in one more step; then nothing is left to do.
    let rest = Counting::new(store.clone(), usize::MAX);
    audit::index(&rest).await.expect("index");
    assert_eq!(rest.writes.load(Ordering::Relaxed), 3);
    assert_eq!(runs(store.as_ref()).await, [(count, 1)]);
    check().await;
}

#[test]
fn sqlite_large_runs_merge_a_chunk_at_a_time() {
    run(|| large_runs_merge_a_chunk_at_a_time(Backend::Sqlite));
}

#[test]
fn postgres_large_runs_merge_a_chunk_at_a_time() {
    run(|| large_runs_merge_a_chunk_at_a_time(Backend::Postgres));
}

/// The writer task indexes by itself once [`audit::INDEX_EVERY`] entries and references are
/// written.
async fn the_writer_indexes_as_it_goes(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let store = place.open().await;
    let log = AuditLog::new(store.clone());
    let mut count = 0;
    let mut work = 0;
    while work < audit::INDEX_EVERY {
        count += 1;
        work += 1 + entry(count).disclosed.len();
    }
    let heads = futures::future::join_all((1..=count).map(|i| log.append(entry(i)))).await;
    let heads: Vec<Head> = heads.into_iter().map(|h| h.expect("append")).collect();
    // Appended at once, the entries are numbered in the order the writer took them.
    let mut saw = saw_one(count)
        .iter()
        .map(|i| heads[*i as usize - 1].seq)
        .collect::<Vec<_>>();
    saw.sort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let indexed_up_to = loop {
        if let Some(&(last, _)) = runs(store.as_ref()).await.last() {
            break last;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run after {count} entries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(indexed_up_to, count);
    assert_eq!(seen_by(store.as_ref(), &subject_one()).await, saw);
    match verdict(store.as_ref(), None).await {
        Verdict::Intact(head) => assert_eq!(head.seq, count),
        broken => panic!("{broken:?}"),
    }
}

#[test]
fn sqlite_the_writer_indexes_as_it_goes() {
    run(|| the_writer_indexes_as_it_goes(Backend::Sqlite));
}

#[test]
fn postgres_the_writer_indexes_as_it_goes() {
    run(|| the_writer_indexes_as_it_goes(Backend::Postgres));
}

/// A writer task that starts after another left entries unindexed indexes them.
async fn a_new_writer_indexes_what_the_last_one_left(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let first = place.open().await;
    append_in_order(&AuditLog::indexing_every(first.clone(), usize::MAX), 100).await;
    assert_eq!(runs(first.as_ref()).await, []);
    let store = place.open().await;
    let _log = AuditLog::new(store.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while runs(store.as_ref()).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(runs(store.as_ref()).await, [(100, 0)]);
    assert_eq!(seen_by(store.as_ref(), &subject_one()).await, saw_one(100));
}

#[test]
fn sqlite_a_new_writer_indexes_what_the_last_one_left() {
    run(|| a_new_writer_indexes_what_the_last_one_left(Backend::Sqlite));
}

#[test]
fn postgres_a_new_writer_indexes_what_the_last_one_left() {
    run(|| a_new_writer_indexes_what_the_last_one_left(Backend::Postgres));
}

/// A log written before the index had runs: its index becomes the first run, of the top level.
async fn an_older_index_becomes_the_first_run(backend: Backend) {
    let Some(place) = Place::new(backend).await else {
        return;
    };
    let old = place.open_with(&[audit::MIGRATION]).await;
    let heads = append_in_order(&AuditLog::indexing_every(old.clone(), usize::MAX), 20).await;
    let references = match backend {
        Backend::Sqlite => "SELECT j.value, a.seq FROM audit_log a, json_each(a.disclosed) j",
        Backend::Postgres => {
            "SELECT j.value, a.seq FROM audit_log a, jsonb_array_elements_text(a.disclosed::jsonb) j(value)"
        }
    };
    old.write(vec![Statement::new(
        format!("INSERT INTO audit_disclosure (subject, seq) {references}"),
        vec![],
        &[],
    )])
    .await
    .expect("the old index");
    drop(old);
    let store = place.open().await;
    assert_eq!(runs(store.as_ref()).await, [(20, audit::TOP_LEVEL)]);
    assert_eq!(seen_by(store.as_ref(), &subject_one()).await, saw_one(20));
    assert_eq!(
        verdict(store.as_ref(), None).await,
        Verdict::Intact(heads[19])
    );
}

#[test]
fn sqlite_an_older_index_becomes_the_first_run() {
    run(|| an_older_index_becomes_the_first_run(Backend::Sqlite));
}

#[test]
fn postgres_an_older_index_becomes_the_first_run() {
    run(|| an_older_index_becomes_the_first_run(Backend::Postgres));
}
