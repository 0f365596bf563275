//! Storage for spx services: one [`Store`] trait, two backends.
//!
//! - [`sqlite::SqliteStore`], the embedded default: a file under the data directory, WAL
//!   journal, one writer connection and a pool of read-only connections.
//! - [`postgres::PostgresStore`], to scale out: a connection pool on one PostgreSQL database
//!   shared by any number of stateless `spx` nodes.
//!
//! The store executes SQL that callers compose (the registry engine builds it from
//! `expr::lower`, whose placeholders follow [`Store::dialect`]); values travel as typed
//! [`SqlValue`]s in both directions, so nothing is ever spliced into SQL text. Schemas are
//! versioned [`Migration`]s with one script per backend.
//!
//! [`audit`] keeps the hash-chained audit log of the requests a service answers, on either
//! backend.

use std::path::Path;
use std::sync::Arc;

pub use expr::{Dialect, SqlValue};

pub mod audit;
pub mod migrate;
pub mod postgres;
pub mod sqlite;

pub use migrate::Migration;

/// A value read from or written to a column; `None` is SQL NULL.
pub type Cell = Option<SqlValue>;

/// A row of cells, in the order of the statement's columns.
pub type Row = Vec<Cell>;

/// The type of a column as the store reads and writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// TEXT (PostgreSQL: `text COLLATE "C"`, so ordering is bytewise on both backends).
    Text,
    /// 64-bit integer (PostgreSQL: `bigint`).
    Integer,
    /// Double precision float.
    Float,
    /// A calendar date (SQLite: `YYYY-MM-DD` text; PostgreSQL: `date`).
    Date,
    /// A boolean (SQLite: 0/1).
    Bool,
}

/// A statement with its bound parameters and the types of the columns it returns.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL, with placeholders in the store's dialect.
    pub sql: String,
    /// The values bound to the placeholders, in order.
    pub params: Vec<SqlValue>,
    /// The types of the result columns (empty for statements that return nothing).
    pub columns: Vec<ColumnType>,
    /// How long a read may run in the database before it is stopped
    /// ([`StoreError::Timeout`]).
    pub budget: Option<std::time::Duration>,
}

impl Statement {
    /// A statement returning `columns`.
    pub fn new(sql: impl Into<String>, params: Vec<SqlValue>, columns: &[ColumnType]) -> Self {
        Statement {
            sql: sql.into(),
            params,
            columns: columns.to_vec(),
            budget: None,
        }
    }

    /// The same statement, read with a time budget: [`Store::read`] stops it in the database
    /// and answers [`StoreError::Timeout`] when it has run that long (counted from when it
    /// starts, not from when it waits for a connection). A budget under a millisecond, the
    /// databases' granularity, refuses it at once.
    pub fn within(mut self, budget: Option<std::time::Duration>) -> Self {
        self.budget = budget;
        self
    }

    /// When this statement, started now, must be done by; `Err` when its budget leaves it
    /// no time at all.
    pub fn deadline(&self) -> Result<Option<std::time::Instant>> {
        match self.budget {
            None => Ok(None),
            Some(budget) if budget < std::time::Duration::from_millis(1) => {
                Err(StoreError::Timeout)
            }
            Some(budget) => Ok(Some(std::time::Instant::now() + budget)),
        }
    }
}

/// A table and the columns a bulk load writes.
#[derive(Debug, Clone, Copy)]
pub struct BulkTable {
    /// Table name.
    pub table: &'static str,
    /// Column names and types, in the order of each row's cells.
    pub columns: &'static [(&'static str, ColumnType)],
}

/// Rows for several tables and the statements that follow them (such as an import's
/// checkpoint), for [`Store::bulk_load`]: all committed in one transaction, or none.
#[derive(Debug, Default)]
pub struct BulkLoad {
    /// Each table's rows, loaded in this order.
    pub tables: Vec<(BulkTable, Vec<Row>)>,
    /// Statements run after the rows, in the same transaction.
    pub then: Vec<Statement>,
}

impl BulkLoad {
    /// The rows loaded in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows.len() as u64).sum()
    }
}

/// Makes the write statements of [`Store::read_then_write`] from the rows its reads returned.
pub type WritePlan = Box<dyn FnOnce(Vec<Vec<Row>>) -> Result<Vec<Statement>> + Send>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL error.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("postgres pool: {0}")]
    Pool(String),
    /// A migration could not be applied, or an applied one was changed.
    #[error("migration: {0}")]
    Migration(String),
    /// The configuration cannot work (bad URL, unwritable data directory ...).
    #[error("configuration: {0}")]
    Config(String),
    /// A value read back does not have the expected type.
    #[error("decode: {0}")]
    Decode(String),
    /// A blocking task died.
    #[error("internal: {0}")]
    Internal(String),
    /// A read ran out of its time budget ([`Statement::within`]) and was stopped.
    #[error("the query did not finish within its time budget")]
    Timeout,
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The operations every backend provides.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The SQL dialect statements for this store must be written in.
    fn dialect(&self) -> Dialect;

    /// Which backend this is, for logs and reports (`sqlite:/path` or `postgres:host/db`).
    fn describe(&self) -> String;

    /// Applies the migrations not yet applied, in version order; refuses to start if an
    /// applied migration's script has changed since.
    async fn migrate(&self, migrations: &[Migration]) -> Result<()>;

    /// Runs read statements in one read transaction (one snapshot) and returns each one's rows.
    async fn read(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>>;

    /// Runs write statements in one transaction; returns the rows each one changed.
    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<u64>>;

    /// Runs `reads`, then the statements `plan` makes of their rows, in one write transaction:
    /// what is written may depend on what was read, and no other write comes between. The
    /// SQLite writer runs one transaction at a time; PostgreSQL runs them side by side, so
    /// writers that must take turns start `reads` with the same transaction-scoped lock
    /// (`SELECT pg_advisory_xact_lock(key)`). Returns the rows each written statement changed.
    async fn read_then_write(&self, reads: Vec<Statement>, plan: WritePlan) -> Result<Vec<u64>>;

    /// Runs one data-changing statement that returns rows (`UPDATE … RETURNING`) in its own
    /// transaction, and returns them.
    async fn write_query(&self, statement: Statement) -> Result<Vec<Row>>;

    /// Loads rows into a table in one transaction, by the fastest path the backend has.
    async fn bulk_insert(&self, table: BulkTable, rows: Vec<Row>) -> Result<u64> {
        self.bulk_load(BulkLoad {
            tables: vec![(table, rows)],
            then: Vec::new(),
        })
        .await
    }

    /// Loads rows into tables, then runs `load.then`, in one transaction, by the fastest path
    /// the backend has; returns the rows loaded. The work starts at the first poll and goes on
    /// on the backend's own thread or task, so a caller may prepare its next load meanwhile.
    async fn bulk_load(&self, load: BulkLoad) -> Result<u64>;

    /// Sets the store up for a bulk load (`on`), or back as it was opened. The embedded store
    /// gives its writer a larger page cache and checkpoints its WAL less often; PostgreSQL
    /// needs nothing.
    async fn bulk_mode(&self, on: bool) -> Result<()> {
        let _ = on;
        Ok(())
    }

    /// Runs a script of statements without parameters (schema maintenance such as building
    /// indexes) in one transaction.
    async fn execute_script(&self, script: String) -> Result<()>;

    /// Brings what the query planner knows of `tables` up to date after a bulk load:
    /// `ANALYZE`. PostgreSQL overrides it with `VACUUM (ANALYZE)`, which also marks the loaded
    /// pages all-visible, so that a count answered from an index need not visit the table
    /// (autovacuum would, but only later).
    async fn settle(&self, tables: &[&str]) -> Result<()> {
        let analyze: Vec<String> = tables.iter().map(|t| format!("ANALYZE {t};")).collect();
        self.execute_script(analyze.join(" ")).await
    }
}

/// The `i`-th (1-based) bound parameter in `dialect`: `?i` for SQLite, `$i` for PostgreSQL.
pub fn placeholder(dialect: Dialect, i: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{i}"),
        Dialect::Postgres => format!("${i}"),
    }
}

/// SQL written with SQLite's `?N` placeholders, in `dialect`. Only for SQL that spx writes
/// itself: a `?` inside a string literal would be rewritten too.
pub fn numbered(dialect: Dialect, sql: &str) -> String {
    match dialect {
        Dialect::Sqlite => sql.to_string(),
        Dialect::Postgres => sql.replace('?', "$"),
    }
}

/// Where a service keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The embedded database file, used when `database_url` is empty.
    pub sqlite_path: std::path::PathBuf,
    /// Read-only SQLite connections to keep.
    pub sqlite_readers: usize,
    /// A `postgres://` URL: use PostgreSQL instead of the embedded store.
    pub database_url: Option<String>,
    /// Most PostgreSQL connections the pool opens.
    pub postgres_pool_size: usize,
}

/// Opens a PostgreSQL read replica (a hot standby of a registry's database) for searches:
/// nothing is written to it, and it must hold exactly the migrations this build knows (a
/// replica behind the primary's schema, or of another registry's database, is refused).
pub async fn open_replica(
    url: &str,
    pool_size: usize,
    migrations: &[Migration],
) -> Result<Arc<dyn Store>> {
    let store = postgres::PostgresStore::connect(url, pool_size).await?;
    let exists = store
        .read(vec![Statement::new(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass('schema_migrations')",
            vec![],
            &[ColumnType::Integer],
        )])
        .await?;
    let mut applied: Vec<(i64, i64)> = Vec::new();
    if exists[0].first().and_then(|r| r.first()) == Some(&Some(SqlValue::Integer(1))) {
        let rows = store
            .read(vec![Statement::new(
                "SELECT version, checksum FROM schema_migrations",
                vec![],
                &[ColumnType::Integer, ColumnType::Integer],
            )])
            .await?;
        applied = rows[0]
            .iter()
            .filter_map(|row| match row.as_slice() {
                [Some(SqlValue::Integer(v)), Some(SqlValue::Integer(c))] => Some((*v, *c)),
                _ => None,
            })
            .collect();
    }
    let missing = migrate::pending(migrations, &applied, |m| m.postgres)?;
    if let Some(first) = missing.first() {
        return Err(StoreError::Migration(format!(
            "the replica lacks migration {} ({}) and {} more: is it a replica of this registry's database, and has it caught up?",
            first.version,
            first.name,
            missing.len() - 1
        )));
    }
    Ok(Arc::new(store))
}

/// Opens the store `config` names and applies `migrations`.
pub async fn open(config: &StoreConfig, migrations: &[Migration]) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match config.database_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            Arc::new(postgres::PostgresStore::connect(url, config.postgres_pool_size).await?)
        }
        None => {
            if let Some(dir) = config
                .sqlite_path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            Arc::new(sqlite::SqliteStore::open(
                Path::new(&config.sqlite_path),
                config.sqlite_readers,
            )?)
        }
    };
    store.migrate(migrations).await?;
    Ok(store)
}
