//! `spx bench import`: the social registry's import of a generated population (households and
//! members, each row validated and its published record built, the secondary indexes built at
//! the end), beside the store's floor for the same rows: the persons file's rows as they are
//! (sixteen text cells, no validation, no record, no index) loaded into a bare table through
//! the same store, SQLite prepared inserts or PostgreSQL binary COPY, in transactions of the
//! same size.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use registry::import::{ImportFiles, ImportOptions, Progress};
use store::{BulkTable, ColumnType, Migration, Store, StoreConfig};

use super::BenchArgs;
use crate::config::Config;

/// The bare table of the floor: the persons file's sixteen columns, as text.
const RAW: Migration = Migration {
    version: 1,
    name: "bench: raw persons",
    sqlite: RAW_TABLE,
    postgres: RAW_TABLE,
};

const RAW_TABLE: &str = "CREATE TABLE raw_person (uin TEXT, given_name TEXT, surname TEXT, \
    sex TEXT, birth_date TEXT, death_date TEXT, marital_status TEXT, household_id TEXT, \
    relationship_to_head TEXT, education_level TEXT, employment_status TEXT, is_disabled TEXT, \
    mother_uin TEXT, father_uin TEXT, spouse_uin TEXT, phone_number TEXT);";

const RAW_PERSON: BulkTable = BulkTable {
    table: "raw_person",
    columns: &[
        ("uin", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Text),
        ("death_date", ColumnType::Text),
        ("marital_status", ColumnType::Text),
        ("household_id", ColumnType::Text),
        ("relationship_to_head", ColumnType::Text),
        ("education_level", ColumnType::Text),
        ("employment_status", ColumnType::Text),
        ("is_disabled", ColumnType::Text),
        ("mother_uin", ColumnType::Text),
        ("father_uin", ColumnType::Text),
        ("spouse_uin", ColumnType::Text),
        ("phone_number", ColumnType::Text),
    ],
};

/// The time of each stage of the import, as it goes.
#[derive(Default)]
struct Stages(Mutex<Vec<(String, Instant, u64)>>);

impl Progress for Stages {
    fn stage(&self, what: &str, _: u64, rows: u64) {
        let mut stages = self.0.lock().expect("stages lock");
        stages.push((what.to_string(), Instant::now(), rows));
    }

    fn advance(&self, _: u64, _: u64) {}
}

/// Runs the benchmark.
pub async fn run(args: &BenchArgs, config: Config) -> Result<()> {
    let files = population(args)?;
    let persons = files.join("persons.csv");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "spx bench import: {} people (seed {}), files in {}, store {}; {cores} cores",
        args.people,
        args.seed,
        files.display(),
        args.database_url
            .as_deref()
            .map_or("SQLite".to_string(), |_| "PostgreSQL".to_string()),
    );

    let floor_store = fresh_store(args, &config, "raw").await?;
    let floor = store::open(&floor_store, &[RAW]).await?;
    let started = Instant::now();
    let rows = raw_load(floor.as_ref(), &persons).await?;
    let floor_time = started.elapsed();
    drop(floor);
    remove_store(args, &floor_store).await?;

    let import_store = fresh_store(args, &config, "social").await?;
    let store = registry::open_store_for_import(&registry::social::PROFILE, &import_store).await?;
    let stages = Stages::default();
    let options = ImportOptions {
        progress: &stages,
        ..ImportOptions::default()
    };
    let started = Instant::now();
    let report = registry::import::import(
        "social",
        store.as_ref(),
        &ImportFiles::classify(std::slice::from_ref(&files))?,
        &options,
    )
    .await?;
    let import_time = started.elapsed();
    drop(store);
    remove_store(args, &import_store).await?;
    let loaded = report.households + report.persons;
    let rate = |rows: u64, time: Duration| rows as f64 / time.as_secs_f64();
    println!(
        "{:<62} {:>10} {:>9} {:>11}",
        "workload", "rows", "seconds", "rows/s"
    );
    println!(
        "{:<62} {:>10} {:>9.1} {:>11.0}",
        "reference: the persons file's rows into a bare table",
        rows,
        floor_time.as_secs_f64(),
        rate(rows, floor_time)
    );
    println!(
        "{:<62} {:>10} {:>9.1} {:>11.0} ({:.0}% of the reference)",
        "import: households and members, validated, records, indexes",
        loaded,
        import_time.as_secs_f64(),
        rate(loaded, import_time),
        100.0 * rate(loaded, import_time) / rate(rows, floor_time)
    );
    let stages = stages.0.into_inner().expect("stages lock");
    for (i, (what, began, before)) in stages.iter().enumerate() {
        let (ended, after) = stages
            .get(i + 1)
            .map_or((started + import_time, *before), |(_, at, rows)| {
                (*at, *rows)
            });
        println!(
            "  {what:<60} {:>10} {:>9.1}",
            after - before,
            (ended - *began).as_secs_f64()
        );
    }
    if report.rejected_count > 0 {
        bail!(
            "{} rows were refused: {:?}",
            report.rejected_count,
            report.rejected
        );
    }
    Ok(())
}

/// The population's files for `args` under the data directory, generated (by a child
/// process, so that this one's memory is the import's) unless they are there.
fn population(args: &BenchArgs) -> Result<PathBuf> {
    let dir = args
        .data_dir
        .join(format!("population-{}-{}", args.people, args.seed));
    if dir.join("persons.csv").exists() && dir.join("households.csv").exists() {
        return Ok(dir);
    }
    let started = Instant::now();
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["generate", "--people"])
        .arg(args.people.to_string())
        .arg("--seed")
        .arg(args.seed.to_string())
        .arg("--out")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .context("spx generate")?;
    if !status.success() {
        bail!("spx generate failed: {status}");
    }
    println!(
        "generated {} people in {:.1} s",
        args.people,
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// An empty store named `name`: an SQLite file under the data directory, or a PostgreSQL
/// database on the server of `--database-url`; anything left of an earlier run is removed
/// first.
async fn fresh_store(args: &BenchArgs, config: &Config, name: &str) -> Result<StoreConfig> {
    let mut store = config.store(name);
    store.sqlite_path = args.data_dir.join(format!("bench-import-{name}.db"));
    let database = format!("spx_bench_import_{name}");
    if let Some(url) = &args.database_url {
        let base = url.split_once('?').map_or(url.as_str(), |(base, _)| base);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        store.database_url = Some(format!("{server}/{database}"));
    }
    remove_store(args, &store).await?;
    if let Some(url) = &args.database_url {
        admin(url, &format!("CREATE DATABASE {database}")).await?;
    }
    Ok(store)
}

/// Removes `store` (made by [`fresh_store`]): its SQLite files, or its PostgreSQL database.
/// A benchmark of ten million people leaves gigabytes behind otherwise.
async fn remove_store(args: &BenchArgs, store: &StoreConfig) -> Result<()> {
    match (&args.database_url, &store.database_url) {
        (Some(url), Some(own)) => {
            let database = own.rsplit_once('/').map_or(own.as_str(), |(_, db)| db);
            admin(
                url,
                &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            )
            .await
        }
        (Some(_), None) => Ok(()),
        (None, _) => {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = store.sqlite_path.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
    }
}

/// Runs `sql` on the database of `url` (database maintenance: create, drop).
async fn admin(url: &str, sql: &str) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute(sql).await?;
    Ok(())
}

/// Loads the rows of the persons CSV file as they are into `raw_person`, in transactions
/// of [`registry::import::BATCH`] rows; returns the rows loaded.
async fn raw_load(store: &dyn Store, persons: &Path) -> Result<u64> {
    let mut reader = csv::Reader::from_path(persons)?;
    let mut record = csv::StringRecord::new();
    let mut rows = Vec::with_capacity(registry::import::BATCH);
    let mut loaded = 0;
    while reader.read_record(&mut record)? {
        rows.push(
            record
                .iter()
                .map(|cell| (!cell.is_empty()).then(|| store::SqlValue::Text(cell.to_string())))
                .collect(),
        );
        if rows.len() == registry::import::BATCH {
            loaded += store
                .bulk_insert(RAW_PERSON, std::mem::take(&mut rows))
                .await?;
        }
    }
    loaded += store.bulk_insert(RAW_PERSON, rows).await?;
    Ok(loaded)
}
