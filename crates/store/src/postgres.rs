//! The scale-out store: PostgreSQL through a deadpool connection pool.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row as PgRow};

use crate::migrate::{self, Migration};
use crate::{
    BulkLoad, Cell, ColumnType, Dialect, Result, Row, SqlValue, Statement, Store, StoreError,
    WritePlan,
};

/// PostgreSQL behind the [`Store`] trait.
pub struct PostgresStore {
    pool: Pool,
    description: String,
}

/// Any key: every spx node takes it before migrating, so migrations run once.
const MIGRATION_LOCK: i64 = 0x5350_5800_0001;

impl PostgresStore {
    /// Connects to `url` with a pool of at most `pool_size` connections, and checks that a
    /// connection can be had. With `sslmode=require` (or libpq's `verify-ca`, `verify-full`)
    /// the connections use TLS, the server's certificate verified against the CAs of
    /// `sslrootcert` (a PEM file), or the system's when it is not given, and its name against
    /// the URL's host; otherwise they are plain.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self> {
        let (parsed, roots) = tls_options(url);
        let config: tokio_postgres::Config = parsed
            .parse()
            .map_err(|e| StoreError::Config(format!("database URL '{url}': {e}")))?;
        let description = format!(
            "postgres:{}/{}",
            config
                .get_hosts()
                .first()
                .map(|h| format!("{h:?}"))
                .unwrap_or_default(),
            config.get_dbname().unwrap_or("")
        );
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            Manager::from_config(config, tls(roots.as_deref())?, manager_config)
        } else {
            Manager::from_config(config, NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let store = PostgresStore { pool, description };
        drop(store.client().await?);
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| {
            // The pool's message alone hides why (a TLS handshake: which certificate).
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            StoreError::Pool(message)
        })
    }
}

/// `url` without what tokio-postgres does not read, libpq's `sslrootcert` (returned) and the
/// `sslmode`s `verify-ca` and `verify-full` (read as `require`, which verifies as much).
fn tls_options(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut roots = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter_map(|pair| match pair.split_once('=') {
            Some(("sslrootcert", path)) => {
                roots = Some(path.to_string());
                None
            }
            Some(("sslmode", "verify-ca" | "verify-full")) => Some("sslmode=require"),
            _ => Some(pair),
        })
        .collect();
    if kept.is_empty() {
        return (base.to_string(), roots);
    }
    (format!("{base}?{}", kept.join("&")), roots)
}

/// The TLS connector: the CAs of the PEM file `roots`, or the system's.
fn tls(roots: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let fault = |e: &dyn std::fmt::Display| StoreError::Config(format!("database TLS: {e}"));
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| fault(&format!("sslrootcert {path}: {e}")))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|e| fault(&format!("sslrootcert {path}: {e}")))?;
                store.add(certificate).map_err(|e| fault(&e))?;
            }
            if store.is_empty() {
                return Err(fault(&format!("sslrootcert {path} holds no certificate")));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fault(&e))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn param(value: &SqlValue) -> &(dyn ToSql + Sync) {
    match value {
        SqlValue::Text(s) => s,
        SqlValue::Integer(i) => i,
        SqlValue::Float(f) => f,
        SqlValue::Date(d) => d,
        SqlValue::Bool(b) => b,
    }
}

/// A NULL of the column's type (binary COPY checks each value's type).
fn null(ty: ColumnType) -> &'static (dyn ToSql + Sync) {
    const TEXT: Option<String> = None;
    const INTEGER: Option<i64> = None;
    const FLOAT: Option<f64> = None;
    const DATE: Option<time::Date> = None;
    const BOOL: Option<bool> = None;
    match ty {
        ColumnType::Text => &TEXT,
        ColumnType::Integer => &INTEGER,
        ColumnType::Float => &FLOAT,
        ColumnType::Date => &DATE,
        ColumnType::Bool => &BOOL,
    }
}

fn pg_type(ty: ColumnType) -> Type {
    match ty {
        ColumnType::Text => Type::TEXT,
        ColumnType::Integer => Type::INT8,
        ColumnType::Float => Type::FLOAT8,
        ColumnType::Date => Type::DATE,
        ColumnType::Bool => Type::BOOL,
    }
}

fn decode(row: &PgRow, columns: &[ColumnType]) -> Result<Row> {
    columns
        .iter()
        .enumerate()
        .map(|(i, ty)| -> Result<Cell> {
            Ok(match ty {
                ColumnType::Text => row.try_get::<_, Option<String>>(i)?.map(SqlValue::Text),
                ColumnType::Integer => row.try_get::<_, Option<i64>>(i)?.map(SqlValue::Integer),
                ColumnType::Float => row.try_get::<_, Option<f64>>(i)?.map(SqlValue::Float),
                ColumnType::Date => row.try_get::<_, Option<time::Date>>(i)?.map(SqlValue::Date),
                ColumnType::Bool => row.try_get::<_, Option<bool>>(i)?.map(SqlValue::Bool),
            })
        })
        .collect()
}

/// Runs `statement` in `tx` and decodes its rows.
async fn query(tx: &Transaction<'_>, statement: &Statement) -> Result<Vec<Row>> {
    let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(param).collect();
    let prepared = tx.prepare_cached(&statement.sql).await?;
    tx.query(&prepared, &params)
        .await?
        .iter()
        .map(|r| decode(r, &statement.columns))
        .collect()
}

/// Executes `statements` in `tx`, in order; returns the rows each one changed.
async fn execute_all(tx: &Transaction<'_>, statements: &[Statement]) -> Result<Vec<u64>> {
    let mut counts = Vec::with_capacity(statements.len());
    for statement in statements {
        let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(param).collect();
        let prepared = tx.prepare_cached(&statement.sql).await?;
        counts.push(tx.execute(&prepared, &params).await?);
    }
    Ok(counts)
}

/// Loads `load`'s rows with binary COPY, one table after the other, then runs its statements,
/// in one transaction. Its commit does not wait for the WAL to reach the disk: the rows and
/// the statements (an import's checkpoint) are lost together or not at all.
async fn copy_in(pool: &Pool, load: BulkLoad) -> Result<u64> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| StoreError::Pool(e.to_string()))?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let mut written = 0;
    for (table, rows) in &load.tables {
        let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let types: Vec<Type> = table.columns.iter().map(|(_, ty)| pg_type(*ty)).collect();
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN BINARY",
                table.table,
                names.join(", ")
            ))
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        pin_mut!(writer);
        for row in rows {
            let values: Vec<&(dyn ToSql + Sync)> = row
                .iter()
                .zip(table.columns)
                .map(|(cell, (_, ty))| match cell {
                    Some(value) => param(value),
                    None => null(*ty),
                })
                .collect();
            writer.as_mut().write(&values).await?;
        }
        written += writer.finish().await?;
    }
    execute_all(&tx, &load.then).await?;
    tx.commit().await?;
    Ok(written)
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(migrate::CREATE_TABLE).await?;
        let applied: Vec<(i64, i64)> = tx
            .query("SELECT version, checksum FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for m in migrate::pending(migrations, &applied, |m| m.postgres)? {
            tx.batch_execute(m.postgres)
                .await
                .map_err(|e| StoreError::Migration(format!("{} ({}): {e}", m.version, m.name)))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, now()::text)",
                &[&m.version, &m.name, &Migration::checksum(m.postgres)],
            )
            .await?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
        }
        tx.commit().await?;
        Ok(())
    }

    async fn read(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>> {
        let mut client = self.client().await?;
        let budget = statements.iter().filter_map(|s| s.budget).min();
        if let ([statement], None) = (statements.as_slice(), budget) {
            // One statement sees one snapshot by itself: no transaction, two round trips fewer.
            let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(param).collect();
            let prepared = client.prepare_cached(&statement.sql).await?;
            let rows = client.query(&prepared, &params).await?;
            return Ok(vec![
                rows.iter()
                    .map(|r| decode(r, &statement.columns))
                    .collect::<Result<Vec<Row>>>()?,
            ]);
        }
        // Several statements share one snapshot (REPEATABLE READ).
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        if let Some(budget) = budget {
            // The server cancels a statement that runs longer.
            if budget < std::time::Duration::from_millis(1) {
                return Err(StoreError::Timeout);
            }
            let ms = budget.as_millis();
            tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))
                .await?;
        }
        let mut out = Vec::with_capacity(statements.len());
        for statement in &statements {
            match query(&tx, statement).await {
                Ok(rows) => out.push(rows),
                Err(StoreError::Postgres(e))
                    if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) =>
                {
                    return Err(StoreError::Timeout);
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        let mut client = self.client().await?;
        if let [statement] = statements.as_slice() {
            // One statement is atomic by itself: no BEGIN and COMMIT round trips.
            let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(param).collect();
            let prepared = client.prepare_cached(&statement.sql).await?;
            return Ok(vec![client.execute(&prepared, &params).await?]);
        }
        let tx = client.transaction().await?;
        let counts = execute_all(&tx, &statements).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn read_then_write(&self, reads: Vec<Statement>, plan: WritePlan) -> Result<Vec<u64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut rows = Vec::with_capacity(reads.len());
        for statement in &reads {
            rows.push(query(&tx, statement).await?);
        }
        let counts = execute_all(&tx, &plan(rows)?).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn bulk_load(&self, load: BulkLoad) -> Result<u64> {
        // A task of its own: the load goes on while the caller prepares the next one.
        let pool = self.pool.clone();
        tokio::spawn(async move { copy_in(&pool, load).await })
            .await
            .map_err(|e| StoreError::Internal(format!("the bulk load stopped: {e}")))?
    }

    async fn execute_script(&self, script: String) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&script).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settle(&self, tables: &[&str]) -> Result<()> {
        // Alone, outside a transaction block, where VACUUM must run.
        let client = self.client().await?;
        client
            .batch_execute(&format!("VACUUM (ANALYZE) {}", tables.join(", ")))
            .await?;
        Ok(())
    }

    async fn write_query(&self, statement: Statement) -> Result<Vec<Row>> {
        // One statement is atomic by itself (autocommit).
        let client = self.client().await?;
        let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(param).collect();
        let prepared = client.prepare_cached(&statement.sql).await?;
        let rows = client.query(&prepared, &params).await?;
        rows.iter()
            .map(|r| decode(r, &statement.columns))
            .collect::<Result<Vec<Row>>>()
    }
}

#[cfg(test)]
mod tests {
    use super::tls_options;

    #[test]
    fn libpq_tls_options_are_read_and_left_out_of_the_url() {
        let url = "postgres://spx@db:5432/spx?sslmode=verify-full&sslrootcert=/etc/spx/ca.pem&application_name=spx";
        assert_eq!(
            tls_options(url),
            (
                "postgres://spx@db:5432/spx?sslmode=require&application_name=spx".to_string(),
                Some("/etc/spx/ca.pem".to_string())
            )
        );
        assert_eq!(
            tls_options("postgres://spx@db/spx?sslrootcert=ca.pem"),
            (
                "postgres://spx@db/spx".to_string(),
                Some("ca.pem".to_string())
            )
        );
        assert_eq!(
            tls_options("postgres://spx@db/spx"),
            ("postgres://spx@db/spx".to_string(), None)
        );
    }
}
