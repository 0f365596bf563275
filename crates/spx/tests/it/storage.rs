//! The store's own behaviour, on each backend: migrations, typed round trips, snapshots.

use anyhow::{Result, ensure};
use store::{BulkTable, ColumnType, Migration, SqlValue, Statement};

use crate::support::{Backend, Place, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "storage::migrations_apply_once_and_refuse_edits",
        migrations_apply_once_and_refuse_edits,
    ),
    (
        "storage::every_column_type_round_trips",
        every_column_type_round_trips,
    ),
    ("storage::writes_are_atomic", writes_are_atomic),
    (
        "storage::concurrent_writes_fail_alone",
        concurrent_writes_fail_alone,
    ),
    (
        "storage::imports_keep_every_index",
        imports_keep_every_index,
    ),
    (
        "storage::a_read_running_out_of_its_budget_is_stopped",
        a_read_running_out_of_its_budget_is_stopped,
    ),
    (
        "storage::a_social_store_made_with_unique_constraints_migrates",
        a_social_store_made_with_unique_constraints_migrates,
    ),
];

/// Tests of PostgreSQL alone.
pub const POSTGRES: &[(&str, crate::PlainTest)] = &[
    (
        "postgres::storage::tls_to_postgresql_verifies_the_server",
        tls_to_postgresql_verifies_the_server,
    ),
    (
        "postgres::storage::searches_read_the_replica",
        searches_read_the_replica,
    ),
];

/// With a read replica (`postgres.replica_url`), record searches read it and the rest stays
/// on the primary: a person the "replica" (here another database, loaded alike, then missing
/// that person, as a lagging standby would) does not hold is not found by a sync search,
/// though the primary holds them. A replica without the registry's migrations is refused.
fn searches_read_the_replica() -> Result<()> {
    runtime().block_on(async {
        let registry = crate::support::TestRegistry::spawn(Backend::Postgres).await?;
        let uin = crate::support::living_uin();
        let search = crate::support::envelope(vec![serde_json::json!({
            "reg_record_type": "Member", "query_type": "idtype-value",
            "query": {"type": "UIN", "value": uin}})]);
        let found = |answer: &serde_json::Value| {
            answer["message"]["search_response"][0]["data"]["reg_records"]
                .as_array()
                .map_or(0, Vec::len)
        };
        let (status, answer) = registry.search(&search).await?;
        ensure!(status == 200 && found(&answer) == 1, "{answer}");

        let profile = &registry::social::PROFILE;
        let empty = Place::new(Backend::Postgres).await?;
        let url = |place: &Place| place.config().database_url.unwrap_or_default();
        let refused = registry::open_replica(profile, &url(&empty), 2).await;
        ensure!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("lacks migration")),
            "{:?}",
            refused.map(|_| ())
        );

        let replica = Place::new(Backend::Postgres).await?;
        let store = registry::open_store(profile, &replica.config()).await?;
        let files = registry::import::ImportFiles::classify(&crate::support::fixture().files)?;
        registry::import::import(profile.role, store.as_ref(), &files, &Default::default()).await?;
        store
            .execute_script(format!("DELETE FROM person WHERE uin = '{uin}'"))
            .await?;
        registry
            .registry
            .search_from(registry::open_replica(profile, &url(&replica), 2).await?);
        let (status, answer) = registry.search(&search).await?;
        ensure!(status == 200 && found(&answer) == 0, "{answer}");
        let primary = crate::support::texts(
            registry.store.as_ref(),
            &format!("SELECT uin FROM person WHERE uin = '{uin}'"),
        )
        .await?;
        ensure!(primary == [uin.clone()], "{primary:?}");
        Ok(())
    })
}

/// The certificate Debian's PostgreSQL serves (`ssl = on`, `ssl_cert_file`): self-signed,
/// for the name `localhost`.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// With `sslmode=require` the store talks TLS and verifies the server's certificate: trusted
/// through `sslrootcert`, refused when another CA is given; without it, the connection is
/// plain.
fn tls_to_postgresql_verifies_the_server() -> Result<()> {
    runtime().block_on(async {
        let admin = crate::support::admin_url();
        let config: tokio_postgres::Config = admin.parse()?;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        let url = |query: &str| format!("postgres://{user}@localhost:{port}/postgres{query}");
        let ssl = |store: std::sync::Arc<dyn store::Store>| async move {
            let rows = store
                .read(vec![Statement::new(
                    "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    vec![],
                    &[ColumnType::Text],
                )])
                .await?;
            anyhow::Ok(rows[0][0][0].clone())
        };
        let open = |url: String| async move {
            store::open(
                &store::StoreConfig {
                    sqlite_path: Default::default(),
                    sqlite_readers: 1,
                    database_url: Some(url),
                    postgres_pool_size: 1,
                },
                &[],
            )
            .await
        };
        let server_tls = ssl(open(url("")).await?).await?;
        ensure!(server_tls == Some(SqlValue::Text("false".into())), "{server_tls:?}");
        ensure!(
            std::path::Path::new(SNAKEOIL).exists(),
            "this PostgreSQL server's certificate {SNAKEOIL} is missing: the TLS test needs Debian's ssl = on"
        );
        let verified = open(url(&format!("?sslmode=verify-full&sslrootcert={SNAKEOIL}"))).await?;
        ensure!(ssl(verified).await? == Some(SqlValue::Text("true".into())));
        // Another CA (the test certificate of spx's own TLS): the server is not trusted.
        let other = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/tls/cert.pem");
        let refused = open(url(&format!("?sslmode=require&sslrootcert={other}")))
            .await
            .err()
            .map(|e| e.to_string());
        ensure!(
            refused.as_deref().is_some_and(|e| e.contains("certificate")),
            "{refused:?}"
        );
        Ok(())
    })
}

const SAMPLE: Migration = Migration {
    version: 1,
    name: "sample",
    sqlite: "CREATE TABLE sample (id INTEGER PRIMARY KEY, t TEXT, i INTEGER, f REAL, d TEXT, b INTEGER)",
    postgres: "CREATE TABLE sample (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION, d DATE, b BOOLEAN)",
};

const TABLE: BulkTable = BulkTable {
    table: "sample",
    columns: &[
        ("t", ColumnType::Text),
        ("i", ColumnType::Integer),
        ("f", ColumnType::Float),
        ("d", ColumnType::Date),
        ("b", ColumnType::Bool),
    ],
};

const COLUMNS: &[ColumnType] = &[
    ColumnType::Text,
    ColumnType::Integer,
    ColumnType::Float,
    ColumnType::Date,
    ColumnType::Bool,
];

fn placeholder(backend: Backend, i: usize) -> String {
    let dialect = match backend {
        Backend::Sqlite => store::Dialect::Sqlite,
        Backend::Postgres => store::Dialect::Postgres,
    };
    store::placeholder(dialect, i)
}

fn migrations_apply_once_and_refuse_edits(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), &[SAMPLE]).await?;
        store
            .bulk_insert(
                TABLE,
                vec![vec![
                    Some(SqlValue::Text("kept".into())),
                    None,
                    None,
                    None,
                    None,
                ]],
            )
            .await?;
        drop(store);
        // Opening again applies nothing (the table and its row survive).
        let store = store::open(&place.config(), &[SAMPLE]).await?;
        let rows = store
            .read(vec![Statement::new(
                "SELECT t FROM sample",
                vec![],
                &[ColumnType::Text],
            )])
            .await?;
        ensure!(
            rows[0] == vec![vec![Some(SqlValue::Text("kept".into()))]],
            "{rows:?}"
        );
        drop(store);
        let edited = Migration {
            sqlite: "CREATE TABLE other (x TEXT)",
            postgres: "CREATE TABLE other (x TEXT)",
            ..SAMPLE
        };
        let refused = store::open(&place.config(), &[edited])
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        ensure!(
            refused.contains("changed after it was applied"),
            "{refused}"
        );
        let unknown = store::open(&place.config(), &[])
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        ensure!(unknown.contains("does not know"), "{unknown}");
        Ok(())
    })
}

fn every_column_type_round_trips(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), &[SAMPLE]).await?;
        let date = time::macros::date!(2024 - 02 - 29);
        let full = vec![
            Some(SqlValue::Text("Ngozi O'Brien \u{e9}".into())),
            Some(SqlValue::Integer(-9_007_199_254_740_993)),
            Some(SqlValue::Float(12.25)),
            Some(SqlValue::Date(date)),
            Some(SqlValue::Bool(true)),
        ];
        let empty = vec![None, None, None, None, None];
        ensure!(
            store
                .bulk_insert(TABLE, vec![full.clone(), empty.clone()])
                .await?
                == 2
        );
        let all = Statement::new(
            "SELECT t, i, f, d, b FROM sample ORDER BY id",
            vec![],
            COLUMNS,
        );
        let rows = store.read(vec![all.clone()]).await?;
        ensure!(rows[0] == vec![full.clone(), empty.clone()], "{rows:?}");
        // Typed parameters select by value, the date included.
        let by_date = Statement::new(
            format!(
                "SELECT t, i, f, d, b FROM sample WHERE d = {} AND b = {}",
                placeholder(backend, 1),
                placeholder(backend, 2)
            ),
            vec![SqlValue::Date(date), SqlValue::Bool(true)],
            COLUMNS,
        );
        let counted = Statement::new(
            "SELECT count(*) FROM sample",
            vec![],
            &[ColumnType::Integer],
        );
        let rows = store.read(vec![by_date, counted]).await?;
        ensure!(
            rows[0] == vec![full] && rows[1] == vec![vec![Some(SqlValue::Integer(2))]],
            "{rows:?}"
        );
        Ok(())
    })
}

/// A read given a time budget is stopped in the database when it runs longer (a count to a
/// billion would take minutes), and answers `Timeout`; the connection serves the next read,
/// and a read within its budget is not stopped.
fn a_read_running_out_of_its_budget_is_stopped(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), &[]).await?;
        let endless = Statement::new(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT count(*) FROM c",
            vec![],
            &[ColumnType::Integer],
        );
        let budget = Some(std::time::Duration::from_millis(200));
        let stopped = store.read(vec![endless.within(budget)]).await;
        ensure!(
            matches!(stopped, Err(store::StoreError::Timeout)),
            "{stopped:?}"
        );
        let short = Statement::new(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000) SELECT count(*) FROM c",
            vec![],
            &[ColumnType::Integer],
        );
        let ample = Some(std::time::Duration::from_secs(60));
        for statement in [short.clone(), short.within(ample)] {
            let rows = store.read(vec![statement]).await?;
            ensure!(rows[0] == vec![vec![Some(SqlValue::Integer(1000))]], "{rows:?}");
        }
        Ok(())
    })
}

fn writes_are_atomic(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), &[SAMPLE]).await?;
        let insert = Statement::new(
            format!(
                "INSERT INTO sample (t, i) VALUES ({}, {})",
                placeholder(backend, 1),
                placeholder(backend, 2)
            ),
            vec![SqlValue::Text("a".into()), SqlValue::Integer(1)],
            &[],
        );
        let broken = Statement::new("INSERT INTO no_such_table (x) VALUES (1)", vec![], &[]);
        ensure!(store.write(vec![insert.clone(), broken]).await.is_err());
        let count = Statement::new(
            "SELECT count(*) FROM sample",
            vec![],
            &[ColumnType::Integer],
        );
        ensure!(
            store.read(vec![count.clone()]).await?[0] == vec![vec![Some(SqlValue::Integer(0))]],
            "a failed transaction left rows"
        );
        ensure!(store.write(vec![insert.clone(), insert]).await? == vec![1, 1]);
        ensure!(store.read(vec![count]).await?[0] == vec![vec![Some(SqlValue::Integer(2))]]);
        Ok(())
    })
}

/// Many transactions at once (on SQLite, committed in groups): each failing one is rolled back
/// alone and reported; every other one is committed and reported.
fn concurrent_writes_fail_alone(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), &[SAMPLE]).await?;
        let writes = (0..200i64).map(|n| {
            let store = store.clone();
            let insert = Statement::new(
                format!(
                    "INSERT INTO sample (t, i) VALUES ({}, {})",
                    placeholder(backend, 1),
                    placeholder(backend, 2)
                ),
                vec![SqlValue::Text(format!("row {n}")), SqlValue::Integer(n)],
                &[],
            );
            let mut statements = vec![insert.clone(), insert];
            if n % 7 == 0 {
                statements.push(Statement::new(
                    "INSERT INTO no_such_table (x) VALUES (1)",
                    vec![],
                    &[],
                ));
            }
            tokio::spawn(async move { (n, store.write(statements).await) })
        });
        let mut failed = 0;
        for write in futures::future::join_all(writes).await {
            let (n, result) = write?;
            ensure!(result.is_err() == (n % 7 == 0), "write {n}: {result:?}");
            failed += usize::from(result.is_err());
        }
        let rows = store
            .read(vec![Statement::new(
                "SELECT i FROM sample",
                vec![],
                &[ColumnType::Integer],
            )])
            .await?;
        let mut kept: Vec<i64> = rows[0]
            .iter()
            .filter_map(|row| match row[0] {
                Some(SqlValue::Integer(i)) => Some(i),
                _ => None,
            })
            .collect();
        kept.sort();
        let expected: Vec<i64> = (0..200)
            .filter(|n| n % 7 != 0)
            .flat_map(|n| [n, n])
            .collect();
        ensure!(
            failed == 29 && kept == expected,
            "{failed} failed; kept {kept:?}"
        );
        Ok(())
    })
}

fn index_names(backend: Backend) -> Statement {
    let sql = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
        Backend::Postgres => "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
    };
    Statement::new(sql, vec![], &[ColumnType::Text])
}

fn imports_keep_every_index(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let profile = &registry::social::PROFILE;
        let store = registry::open_store(profile, &place.config()).await?;
        let wanted = profile.index_names(store.dialect());
        ensure!(
            wanted.len() >= 15
                && wanted.contains(&"person_uin")
                && wanted.contains(&"household_key"),
            "{wanted:?}"
        );
        let present = |rows: Vec<Vec<store::Row>>| -> Vec<String> {
            rows[0]
                .iter()
                .filter_map(|r| match r.first() {
                    Some(Some(SqlValue::Text(n))) => Some(n.clone()),
                    _ => None,
                })
                .collect()
        };
        let files = registry::import::ImportFiles::classify(&crate::support::fixture().files)?;
        // The first import loads empty tables (indexes dropped, then rebuilt); a second one
        // into the loaded tables is refused before it drops anything.
        registry::import::import("social", store.as_ref(), &files, &Default::default()).await?;
        let after = present(store.read(vec![index_names(backend)]).await?);
        for name in &wanted {
            ensure!(
                after.iter().any(|n| n == name),
                "index {name} missing after import: {after:?}"
            );
        }
        // Migration 5's wider targeting indexes replace the two-column ones.
        ensure!(!after.iter().any(|n| n == "household_region"), "{after:?}");
        // The planner knows the loaded tables: statistics on SQLite; on PostgreSQL the
        // vacuum also marked the pages all-visible, for index-only counts.
        let settled = match backend {
            Backend::Sqlite => "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'household'",
            Backend::Postgres => {
                "SELECT relallvisible::bigint FROM pg_class WHERE relname = 'household'"
            }
        };
        let settled = store
            .read(vec![Statement::new(
                settled,
                vec![],
                &[ColumnType::Integer],
            )])
            .await?;
        ensure!(
            matches!(settled[0][0][0], Some(SqlValue::Integer(n)) if n > 0),
            "{settled:?}"
        );
        let again =
            registry::import::import("social", store.as_ref(), &files, &Default::default()).await;
        ensure!(
            matches!(
                again,
                Err(registry::import::ImportError::NotEmpty("location"))
            ),
            "{again:?}"
        );
        // An interrupted bulk load leaves no index behind; opening the store restores them.
        store
            .execute_script(format!("DROP INDEX {};", wanted[0]))
            .await?;
        drop(store);
        let store = registry::open_store(profile, &place.config()).await?;
        let reopened = present(store.read(vec![index_names(backend)]).await?);
        ensure!(
            reopened.iter().any(|n| n == wanted[0]),
            "{} not restored: {reopened:?}",
            wanted[0]
        );
        Ok(())
    })
}

/// The social registry's rows as published: every household's and member's key and record.
fn social_records() -> Vec<Statement> {
    [
        "SELECT household_id, doc FROM household ORDER BY id",
        "SELECT uin, doc FROM person ORDER BY id",
    ]
    .into_iter()
    .map(|sql| Statement::new(sql, vec![], &[ColumnType::Text, ColumnType::Text]))
    .collect()
}

/// A social store made before the keys became unique indexes of their own (migrations 1 and
/// 2, with UNIQUE constraints) migrates: every record as it was, every index of the profile
/// there, and the keys and the members' foreign key still enforced.
fn a_social_store_made_with_unique_constraints_migrates(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let place = Place::new(backend).await?;
        let profile = &registry::social::PROFILE;
        let before: Vec<Migration> = profile.migrations[..2]
            .iter()
            .chain(registry::ENGINE_MIGRATIONS)
            .cloned()
            .collect();
        let store = store::open(&place.config(), &before).await?;
        let population = &crate::support::fixture().data.population;
        let locations = registry::social::Locations::new(&population.locations);
        let households: std::collections::HashMap<&str, &synth::Household> = population
            .households
            .iter()
            .map(|h| (h.household_id.as_str(), h))
            .collect();
        store
            .bulk_insert(
                registry::social::LOCATION_TABLE,
                population
                    .locations
                    .iter()
                    .map(registry::social::location_row)
                    .collect(),
            )
            .await?;
        let updated = "2026-11-25T00:00:00Z";
        store
            .bulk_insert(
                registry::social::HOUSEHOLD_TABLE,
                population
                    .households
                    .iter()
                    .map(|h| registry::social::household_row(h, &locations, updated))
                    .collect(),
            )
            .await?;
        let members: Vec<store::Row> = population
            .persons
            .iter()
            .filter(|p| p.death_date.is_none())
            .filter_map(|p| {
                let household = households.get(p.household_id.as_deref()?)?;
                Some(registry::social::person_row(
                    p,
                    (*household).into(),
                    &locations,
                ))
            })
            .collect();
        ensure!(!members.is_empty());
        store
            .bulk_insert(registry::social::PERSON_TABLE, members)
            .await?;
        let published = store.read(social_records()).await?;
        drop(store);

        let store = registry::open_store(profile, &place.config()).await?;
        ensure!(
            store.read(social_records()).await? == published,
            "the records changed in the migration"
        );
        let present: Vec<String> = store.read(vec![index_names(backend)]).await?[0]
            .iter()
            .filter_map(|r| match r.first() {
                Some(Some(SqlValue::Text(n))) => Some(n.clone()),
                _ => None,
            })
            .collect();
        for name in profile.index_names(store.dialect()) {
            ensure!(
                present.iter().any(|n| n == name),
                "{name} missing: {present:?}"
            );
        }
        let (uin, household) = match &published[1][0][..] {
            [Some(SqlValue::Text(uin)), _] => {
                (uin.clone(), population.households[0].household_id.clone())
            }
            other => anyhow::bail!("{other:?}"),
        };
        let member = |uin: &str, household: &str| {
            Statement::new(
                format!(
                    "INSERT INTO person (uin, household_id, given_name, surname, sex, birth_date, \
                     is_disabled, doc) VALUES ({}, {}, 'A', 'B', 'F', '2000-01-01', {}, '{{}}')",
                    placeholder(backend, 1),
                    placeholder(backend, 2),
                    match backend {
                        Backend::Sqlite => "0",
                        Backend::Postgres => "false",
                    }
                ),
                vec![SqlValue::Text(uin.into()), SqlValue::Text(household.into())],
                &[],
            )
        };
        ensure!(
            store.write(vec![member(&uin, &household)]).await.is_err(),
            "a second member {uin} was taken"
        );
        ensure!(
            store
                .write(vec![member("9999999999", "NO-SUCH-HOUSEHOLD")])
                .await
                .is_err(),
            "a member of no household was taken"
        );
        store.write(vec![member("9999999999", &household)]).await?;
        Ok(())
    })
}
