//! The embedded store: SQLite in WAL mode, one writer connection owned by a writer thread, and
//! a pool of read-only connections used from tokio's blocking pool.
//!
//! The writer commits in groups: the transactions of [`Store::write`] and
//! [`Store::write_query`] that are waiting when it is free run in one SQLite transaction, each
//! under a savepoint of its own (a failing one is rolled back alone), and the group commits
//! once. Each caller is answered after the commit that holds its work, so what is acknowledged
//! is committed, and a busy service writes its WAL pages once per group instead of once per
//! request.

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::config::DbConfig;
use rusqlite::hooks::Wal;
use rusqlite::types::{ToSqlOutput, Value as SqliteValue, ValueRef};
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags, ToSql};
use time::Date;
use time::macros::format_description;
use tokio::sync::Semaphore;

use crate::migrate::{self, Migration};
use crate::{
    BulkLoad, Cell, ColumnType, Dialect, Result, Row, SqlValue, Statement, Store, StoreError,
    WritePlan,
};

/// The writer's settings when serving: a 64 MiB page cache, foreign keys checked.
const SERVING: &str = "PRAGMA cache_size = -65536; PRAGMA foreign_keys = ON;";

/// The writer's settings for a bulk load: a 128 MiB page cache (the unique indexes being
/// filled at random places stay in it longer), no foreign key checked (a bulk load drops the
/// keys they are checked against; the import checks the references itself).
const BULK: &str = "PRAGMA cache_size = -131072; PRAGMA foreign_keys = OFF;";

/// WAL pages after which the checkpointer copies them into the database: SQLite's default of
/// 1,000 (4 MiB) when serving, 16,384 (64 MiB) for a bulk load.
const SERVING_CHECKPOINT: u32 = 1000;
const BULK_CHECKPOINT: u32 = 16_384;

/// How many times its threshold the WAL may grow while the checkpointer is behind (a long
/// read holds old pages, or the disk is slow) before the writer checkpoints itself, as SQLite
/// would without the checkpointer.
const CHECKPOINT_BEHIND: u32 = 8;

/// SQLite behind the [`Store`] trait.
pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    /// The WAL pages after which the checkpointer runs (see [`SERVING_CHECKPOINT`]).
    checkpoint_at: Arc<AtomicU32>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<Semaphore>,
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with `readers` read-only connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self> {
        let mut writer = Connection::open(path)?;
        plan_once(&writer)?;
        // WAL lets readers run while the single writer commits; NORMAL sync is durable at
        // each checkpoint and survives process crashes (only an OS crash can lose the last commits).
        writer.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000;
             PRAGMA temp_store = MEMORY;",
        )?;
        writer.execute_batch(SERVING)?;
        let checkpoint_at = Arc::new(AtomicU32::new(SERVING_CHECKPOINT));
        checkpoint_off_the_writer(path, &mut writer, checkpoint_at.clone())?;
        let readers = readers.max(1);
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            reader.execute_batch(
                "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA query_only = ON;",
            )?;
            plan_once(&reader)?;
            pool.push(reader);
        }
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, queue))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: jobs,
            checkpoint_at,
            readers: Arc::new(Mutex::new(pool)),
            reader_permits: Arc::new(Semaphore::new(readers)),
        })
    }

    /// Runs `work` on the writer connection alone (it manages its own transaction).
    async fn with_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job::Alone(Box::new(move |conn| {
            let _ = reply.send(work(conn));
        })))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Runs `work` in the writer's next group commit; answers once that group is committed.
    async fn in_group<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job::Grouped(Box::new(Grouped {
            work: Some(Box::new(work)),
            result: None,
            reply,
        })))?;
        answer.await.map_err(|_| writer_gone())?
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.writer.send(job).map_err(|_| writer_gone())
    }
}

/// Makes `conn` plan each statement once, whatever values are bound to it (SQLite's query
/// planner stability guarantee). Otherwise SQLite marks a parameter that might change the plan
/// (`p.uin = ?1` in a join, where a small integer would be estimated differently; any
/// parameter compared with an indexed column once `ANALYZE` has run) and prepares the cached
/// statement again after every new binding: a member looked up by UIN was parsed and planned
/// anew on every request (90 µs instead of 28 µs on 1M people; a batch of 1,000 UINs parsed
/// its `IN` list of 1,000 parameters each time). Plans come from the statistics and the
/// shapes of the queries alone.
fn plan_once(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn writer_gone() -> StoreError {
    StoreError::Internal("the SQLite writer thread has stopped".into())
}

/// Moves the WAL's checkpoints off the writer: SQLite's own (`wal_autocheckpoint`) run on the
/// connection that committed, in its commit, with the `fsync`s of the WAL and the database, so
/// that every writer of the store waited for them. A thread of its own, with its own
/// connection, copies the WAL into the database (a passive checkpoint, which never blocks the
/// writer or the readers) when a commit leaves `checkpoint_at` pages or more in the WAL; the
/// writer starts the WAL again from its beginning once it has all been copied. Should the
/// checkpointer fall behind by [`CHECKPOINT_BEHIND`] times its threshold, the writer
/// checkpoints as SQLite would have.
fn checkpoint_off_the_writer(
    path: &Path,
    writer: &mut Connection,
    checkpoint_at: Arc<AtomicU32>,
) -> Result<()> {
    let checkpointer = Connection::open(path)?;
    checkpointer.execute_batch("PRAGMA synchronous = NORMAL;")?;
    // One wake-up waiting is enough: the checkpoint copies whatever the WAL holds by then.
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            // Ends when the writer connection (which holds `wake`) is closed.
            while woken.recv().is_ok() {
                match checkpointer.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
                    Ok(_) => {}
                    // The writer is checkpointing itself: this one's work is being done.
                    Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the WAL checkpoint failed; the next commit retries")
                    }
                }
            }
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the checkpointer thread: {e}")))?;
    writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
        let at = checkpoint_at.load(Ordering::Relaxed);
        let pages = u32::try_from(pages).unwrap_or(0);
        if pages >= at.saturating_mul(CHECKPOINT_BEHIND) {
            // As SQLite's own hook does, whatever the checkpoint's outcome (busy while the
            // checkpointer runs): an error here would fail a commit that is already done.
            if let Err(e) = wal.checkpoint() {
                tracing::debug!(error = %e, pages, "the writer's checkpoint did not run");
            }
        } else if pages >= at {
            let _ = wake.try_send(());
        }
        Ok(())
    }))?;
    Ok(())
}

/// Work for the writer thread.
enum Job {
    /// Runs inside a group's transaction under its own savepoint.
    Grouped(Box<dyn GroupedJob>),
    /// Runs between groups, managing its own transaction.
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// A transaction that can share a group commit.
trait GroupedJob: Send {
    /// Runs the work under a savepoint, keeping its result.
    fn run(&mut self, conn: &Connection);
    /// Answers the caller once the group committed, or failed to.
    fn finish(self: Box<Self>, group: std::result::Result<(), String>);
}

/// Work on the writer connection inside a group's transaction.
type GroupWork<T> = Box<dyn FnOnce(&Connection) -> Result<T> + Send>;

struct Grouped<T> {
    work: Option<GroupWork<T>>,
    result: Option<Result<T>>,
    reply: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T: Send> GroupedJob for Grouped<T> {
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else {
            return;
        };
        let result = conn
            .execute_batch("SAVEPOINT job")
            .map_err(StoreError::from)
            .and_then(|()| {
                let result = work(conn);
                let end = if result.is_ok() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                conn.execute_batch(end)?;
                result
            });
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, group: std::result::Result<(), String>) {
        let answer = match (self.result, group) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(StoreError::Internal(format!(
                "the group commit failed: {e}"
            ))),
            (None, Ok(())) => Err(StoreError::Internal("the job did not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Most transactions in one group commit.
const GROUP_MAX: usize = 256;

/// The writer thread: runs jobs until every sender is gone.
fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    let mut carried: Option<Job> = None;
    loop {
        let Some(job) = carried.take().or_else(|| queue.recv().ok()) else {
            return;
        };
        match job {
            Job::Alone(work) => work(&mut conn),
            Job::Grouped(first) => {
                let mut group = vec![first];
                while group.len() < GROUP_MAX {
                    match queue.try_recv() {
                        Ok(Job::Grouped(job)) => group.push(job),
                        Ok(alone) => {
                            carried = Some(alone);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let outcome = commit_group(&conn, &mut group);
                for job in group {
                    job.finish(outcome.clone());
                }
            }
        }
    }
}

/// Runs a group in one transaction and commits it.
fn commit_group(
    conn: &Connection,
    group: &mut [Box<dyn GroupedJob>],
) -> std::result::Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    for job in group.iter_mut() {
        job.run(conn);
    }
    conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}

fn bind(value: &SqlValue) -> ToSqlOutput<'_> {
    match value {
        SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        SqlValue::Integer(i) => ToSqlOutput::Owned(SqliteValue::Integer(*i)),
        SqlValue::Float(f) => ToSqlOutput::Owned(SqliteValue::Real(*f)),
        SqlValue::Date(d) => ToSqlOutput::Owned(SqliteValue::Text(format_date(*d))),
        SqlValue::Bool(b) => ToSqlOutput::Owned(SqliteValue::Integer(i64::from(*b))),
    }
}

struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(bind(self.0))
    }
}

struct CellParam<'a>(&'a Cell);

impl ToSql for CellParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            None => ToSqlOutput::Owned(SqliteValue::Null),
            Some(value) => bind(value),
        })
    }
}

fn format_date(date: Date) -> String {
    date.format(DATE_FORMAT)
        .expect("a calendar date always formats")
}

fn decode(value: ValueRef<'_>, ty: ColumnType) -> Result<Cell> {
    let wrong = |what: &str| StoreError::Decode(format!("expected {ty:?}, found {what}"));
    Ok(match (value, ty) {
        (ValueRef::Null, _) => None,
        (ValueRef::Text(t), ColumnType::Text) => {
            Some(SqlValue::Text(String::from_utf8_lossy(t).into_owned()))
        }
        (ValueRef::Text(t), ColumnType::Date) => {
            let text = std::str::from_utf8(t).map_err(|_| wrong("non-UTF-8 text"))?;
            Some(SqlValue::Date(
                Date::parse(text, DATE_FORMAT).map_err(|_| wrong(text))?,
            ))
        }
        (ValueRef::Integer(i), ColumnType::Integer) => Some(SqlValue::Integer(i)),
        (ValueRef::Integer(i), ColumnType::Bool) => Some(SqlValue::Bool(i != 0)),
        (ValueRef::Integer(i), ColumnType::Float) => Some(SqlValue::Float(i as f64)),
        (ValueRef::Real(f), ColumnType::Float) => Some(SqlValue::Float(f)),
        (other, _) => return Err(wrong(&format!("{:?}", other.data_type()))),
    })
}

/// How many SQLite virtual machine steps a read with a budget runs between looks at the clock.
const STEPS_BETWEEN_CLOCK_CHECKS: i32 = 10_000;

/// Runs a read on a reader connection, interrupted when it runs out of its budget if it has
/// one.
fn run_read(conn: &mut Connection, statement: &Statement) -> Result<Vec<Row>> {
    let Some(deadline) = statement.deadline()? else {
        return run_query(conn, statement);
    };
    // SQLite interrupts the statement when the handler says so.
    conn.progress_handler(
        STEPS_BETWEEN_CLOCK_CHECKS,
        Some(move || std::time::Instant::now() >= deadline),
    )?;
    let result = run_query(conn, statement);
    conn.progress_handler(0, None::<fn() -> bool>)?;
    match result {
        Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            Err(StoreError::Timeout)
        }
        other => other,
    }
}

fn run_query(conn: &Connection, statement: &Statement) -> Result<Vec<Row>> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    let params: Vec<Param<'_>> = statement.params.iter().map(Param).collect();
    let mut rows = prepared.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(statement.columns.len());
        for (i, &ty) in statement.columns.iter().enumerate() {
            cells.push(decode(row.get_ref(i)?, ty)?);
        }
        out.push(cells);
    }
    Ok(out)
}

/// Executes `statements` in order; returns the rows each one changed.
fn execute_all(conn: &Connection, statements: &[Statement]) -> Result<Vec<u64>> {
    let mut counts = Vec::with_capacity(statements.len());
    for statement in statements {
        let mut prepared = conn.prepare_cached(&statement.sql)?;
        let params: Vec<Param<'_>> = statement.params.iter().map(Param).collect();
        counts.push(prepared.execute(rusqlite::params_from_iter(params.iter()))? as u64);
    }
    Ok(counts)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<()> {
        let migrations = migrations.to_vec();
        self.with_writer(move |conn| {
            conn.execute_batch(migrate::CREATE_TABLE)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let applied: Vec<(i64, i64)> = tx
                .prepare("SELECT version, checksum FROM schema_migrations")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for m in migrate::pending(&migrations, &applied, |m| m.sqlite)? {
                tx.execute_batch(m.sqlite)
                    .map_err(|e| StoreError::Migration(format!("{} ({}): {e}", m.version, m.name)))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, datetime('now'))",
                    rusqlite::params![m.version, m.name, Migration::checksum(m.sqlite)],
                )?;
                tracing::info!(version = m.version, name = m.name, "applied migration");
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn read(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>> {
        let permit = self
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = readers
                .lock()
                .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
                .pop()
                .ok_or_else(|| StoreError::Internal("reader pool empty".into()))?;
            let result = (|| {
                if statements.len() == 1 {
                    return Ok(vec![run_read(&mut conn, &statements[0])?]);
                }
                // Several statements share one snapshot.
                conn.execute_batch("BEGIN")?;
                let result: Result<Vec<Vec<Row>>> =
                    statements.iter().map(|s| run_read(&mut conn, s)).collect();
                conn.execute_batch("COMMIT")?;
                result
            })();
            readers
                .lock()
                .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
                .push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }

    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        self.in_group(move |conn| execute_all(conn, &statements))
            .await
    }

    async fn read_then_write(&self, reads: Vec<Statement>, plan: WritePlan) -> Result<Vec<u64>> {
        self.in_group(move |conn| {
            let rows = reads
                .iter()
                .map(|s| run_query(conn, s))
                .collect::<Result<Vec<_>>>()?;
            execute_all(conn, &plan(rows)?)
        })
        .await
    }

    async fn bulk_load(&self, load: BulkLoad) -> Result<u64> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (table, rows) in &load.tables {
                let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
                let placeholders: Vec<String> =
                    (1..=names.len()).map(|i| format!("?{i}")).collect();
                let sql = format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    table.table,
                    names.join(", "),
                    placeholders.join(", ")
                );
                let mut insert = tx.prepare_cached(&sql)?;
                for row in rows {
                    let params: Vec<CellParam<'_>> = row.iter().map(CellParam).collect();
                    insert.execute(rusqlite::params_from_iter(params.iter()))?;
                }
            }
            execute_all(&tx, &load.then)?;
            tx.commit()?;
            Ok(load.rows())
        })
        .await
    }

    async fn bulk_mode(&self, on: bool) -> Result<()> {
        let checkpoint_at = self.checkpoint_at.clone();
        self.with_writer(move |conn| {
            if on {
                conn.execute_batch(BULK)?;
                checkpoint_at.store(BULK_CHECKPOINT, Ordering::Relaxed);
            } else {
                conn.execute_batch(SERVING)?;
                checkpoint_at.store(SERVING_CHECKPOINT, Ordering::Relaxed);
            }
            Ok(())
        })
        .await
    }

    async fn execute_script(&self, script: String) -> Result<()> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(&script)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn write_query(&self, statement: Statement) -> Result<Vec<Row>> {
        self.in_group(move |conn| run_query(conn, &statement)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in a directory of its own, removed when the directory is dropped.
    fn temporary_store(name: &str) -> Result<(tempfile::TempDir, PathBuf, SqliteStore)> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Internal(e.to_string()))?;
        let path = dir.path().join(name);
        let store = SqliteStore::open(&path, 1)?;
        Ok((dir, path, store))
    }

    /// Commits of a serving store keep the WAL near its threshold: the checkpointer copies it
    /// into the database as it fills, so the writer starts it again from its beginning. Twenty
    /// megabytes are committed, five times the threshold; without checkpoints the WAL would
    /// hold them all (the writer's own checkpoint comes only at eight times the threshold).
    /// Every row is there after.
    #[tokio::test]
    async fn the_checkpointer_keeps_the_wal_small() -> Result<()> {
        let (_dir, path, store) = temporary_store("wal.db")?;
        store
            .execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);".into())
            .await?;
        let commits = 100;
        for _ in 0..commits {
            // 50 pages a commit, paced as a service's commits are.
            store
                .write(vec![Statement::new(
                    "INSERT INTO t (body) VALUES (zeroblob(200000))",
                    vec![],
                    &[],
                )])
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let wal = std::fs::metadata(path.with_extension("db-wal"))
            .map_err(|e| StoreError::Internal(e.to_string()))?
            .len();
        let threshold = u64::from(SERVING_CHECKPOINT) * 4096;
        assert!(
            wal <= 3 * threshold,
            "the WAL grew to {wal} bytes (threshold {threshold})"
        );
        let rows = store
            .read(vec![Statement::new(
                "SELECT count(*) FROM t",
                vec![],
                &[ColumnType::Integer],
            )])
            .await?;
        assert_eq!(rows[0][0][0], Some(SqlValue::Integer(commits)));
        Ok(())
    }

    /// A statement served from a connection's cache is not prepared again for new values:
    /// the lookup of a member by UIN in a join with the household, as a search runs it, with
    /// statistics gathered, run for three UINs on the reader, is prepared once.
    #[tokio::test]
    async fn a_cached_statement_is_planned_once() -> Result<()> {
        let (_dir, _, store) = temporary_store("plan.db")?;
        store
            .execute_script(
                "CREATE TABLE household (id INTEGER PRIMARY KEY, household_id TEXT NOT NULL);
                 CREATE UNIQUE INDEX household_key ON household (household_id);
                 CREATE TABLE person (id INTEGER PRIMARY KEY, uin TEXT NOT NULL,
                     household_id TEXT NOT NULL, doc TEXT NOT NULL);
                 CREATE UNIQUE INDEX person_uin ON person (uin);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO household (household_id) SELECT 'H' || i FROM n;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 900)
                 INSERT INTO person (uin, household_id, doc)
                     SELECT 'U' || i, 'H' || (i % 300 + 1), '{}' FROM n;
                 ANALYZE;"
                    .into(),
            )
            .await?;
        let sql = "SELECT p.doc FROM person p JOIN household h ON h.household_id = p.household_id \
                   WHERE p.id IN (SELECT p.id FROM person p JOIN household h \
                   ON h.household_id = p.household_id WHERE p.uin = ?1 ORDER BY p.id LIMIT 2) \
                   ORDER BY p.id";
        for uin in ["U1", "U2", "U3"] {
            let rows = store
                .read(vec![Statement::new(
                    sql,
                    vec![SqlValue::Text(uin.into())],
                    &[ColumnType::Text],
                )])
                .await?;
            assert_eq!(rows[0].len(), 1, "{uin} is found");
        }
        let readers = store.readers.lock().expect("the readers' lock");
        let prepared = readers[0].prepare_cached(sql)?;
        assert_eq!(prepared.get_status(rusqlite::StatementStatus::RePrepare), 0);
        Ok(())
    }
}
