//! The embedded store: SQLite in WAL mode, one writer connection and a pool of read-only
//! connections, each used from tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, Value as SqliteValue, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use time::Date;
use time::macros::format_description;
use tokio::sync::Semaphore;

use crate::migrate::{self, Migration};
use crate::{
    BulkTable, Cell, ColumnType, Dialect, Result, Row, SqlValue, Statement, Store, StoreError,
};

/// SQLite behind the [`Store`] trait.
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<Semaphore>,
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with `readers` read-only connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self> {
        let writer = Connection::open(path)?;
        // WAL lets readers run while the single writer commits; NORMAL sync is durable at
        // each checkpoint and survives process crashes (only an OS crash can lose the last commits).
        writer.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;",
        )?;
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
            pool.push(reader);
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(pool)),
            reader_permits: Arc::new(Semaphore::new(readers)),
        })
    }

    async fn with_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer
                .lock()
                .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }
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
            let conn = readers
                .lock()
                .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
                .pop()
                .ok_or_else(|| StoreError::Internal("reader pool empty".into()))?;
            let result = (|| {
                if statements.len() == 1 {
                    return Ok(vec![run_query(&conn, &statements[0])?]);
                }
                // Several statements share one snapshot.
                conn.execute_batch("BEGIN")?;
                let result: Result<Vec<Vec<Row>>> =
                    statements.iter().map(|s| run_query(&conn, s)).collect();
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
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut counts = Vec::with_capacity(statements.len());
            for statement in &statements {
                let mut prepared = tx.prepare_cached(&statement.sql)?;
                let params: Vec<Param<'_>> = statement.params.iter().map(Param).collect();
                counts.push(prepared.execute(rusqlite::params_from_iter(params.iter()))? as u64);
            }
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    async fn bulk_insert(&self, table: BulkTable, rows: Vec<Row>) -> Result<u64> {
        self.with_writer(move |conn| {
            let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.table,
                names.join(", "),
                placeholders.join(", ")
            );
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(&sql)?;
                for row in &rows {
                    let params: Vec<CellParam<'_>> = row.iter().map(CellParam).collect();
                    insert.execute(rusqlite::params_from_iter(params.iter()))?;
                }
            }
            tx.commit()?;
            Ok(rows.len() as u64)
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
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let rows = run_query(&tx, &statement)?;
            tx.commit()?;
            Ok(rows)
        })
        .await
    }
}
