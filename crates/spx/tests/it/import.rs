//! `spx import` as a ministry relies on it, on each backend: an import cut short and run
//! again ends with every row exactly once, and every refused row is in the error file once,
//! with its line, field and reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail, ensure};
use registry::import::{ImportFiles, ImportOptions};
use store::{BulkLoad, ColumnType, Dialect, Migration, Row, SqlValue, Statement, Store, WritePlan};

use crate::support::{Backend, Place, TempDir, fixture, runtime, texts};

pub const TESTS: &[(&str, crate::BackendTest)] = &[(
    "import::resumes_after_a_failure_without_duplicates",
    resumes_after_a_failure_without_duplicates,
)];

/// A store whose bulk loads fail after the first `left` (a database lost mid-import).
struct Failing {
    inner: Arc<dyn Store>,
    left: AtomicUsize,
}

#[async_trait::async_trait]
impl Store for Failing {
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
        self.inner.write(statements).await
    }

    async fn read_then_write(
        &self,
        reads: Vec<Statement>,
        plan: WritePlan,
    ) -> store::Result<Vec<u64>> {
        self.inner.read_then_write(reads, plan).await
    }

    async fn write_query(&self, statement: Statement) -> store::Result<Vec<Row>> {
        self.inner.write_query(statement).await
    }

    async fn bulk_load(&self, load: BulkLoad) -> store::Result<u64> {
        let left = self.left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(store::StoreError::Internal("the database went away".into()));
        }
        self.left.store(left - 1, Ordering::SeqCst);
        self.inner.bulk_load(load).await
    }

    async fn execute_script(&self, script: String) -> store::Result<()> {
        self.inner.execute_script(script).await
    }
}

/// The fixture's location, household and person files, with persons spoiled at some living
/// persons' lines: (line, column, value, field named in the error file), and the first
/// living person's row repeated at the end. Returns the directory and the living persons
/// that must load.
fn spoiled_files(dir: &Path, spoil: &[(usize, usize, &str)]) -> Result<(Vec<PathBuf>, u64)> {
    let mut kept = Vec::new();
    for path in &fixture().files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if ["locations.json", "households.csv"].contains(&name.as_ref()) {
            let copy = dir.join(name.as_ref());
            std::fs::copy(path, &copy)?;
            kept.push(copy);
        }
    }
    let original = fixture()
        .files
        .iter()
        .find(|p| p.ends_with("persons.csv"))
        .ok_or_else(|| anyhow::anyhow!("no persons.csv in the fixture"))?;
    let mut lines: Vec<String> = std::fs::read_to_string(original)?
        .lines()
        .map(str::to_string)
        .collect();
    let living = |line: &str| line.split(',').nth(7).is_some_and(|h| !h.is_empty());
    let mut loaded = lines.iter().skip(1).filter(|l| living(l)).count() as u64;
    for (line, column, value) in spoil {
        let text = &mut lines[line - 1];
        let mut cells: Vec<&str> = text.split(',').collect();
        ensure!(cells.len() == 16 && living(text), "line {line}: {text}");
        cells[*column] = value;
        *text = cells.join(",");
        loaded -= 1;
    }
    let first_living = lines
        .iter()
        .skip(1)
        .find(|l| living(l))
        .cloned()
        .unwrap_or_default();
    lines.push(first_living);
    let persons = dir.join("persons.csv");
    std::fs::write(&persons, lines.join("\n") + "\n")?;
    kept.push(persons);
    Ok((kept, loaded))
}

async fn count(store: &dyn Store, sql: &str) -> Result<i64> {
    let rows = store
        .read(vec![Statement::new(sql, vec![], &[ColumnType::Integer])])
        .await?;
    match rows[0].first().and_then(|r| r.first()) {
        Some(Some(SqlValue::Integer(n))) => Ok(*n),
        other => bail!("{sql}: {other:?}"),
    }
}

/// Living persons' lines of the fixture's persons file, spread over it.
fn living_lines(count: usize) -> Result<Vec<usize>> {
    let original = fixture()
        .files
        .iter()
        .find(|p| p.ends_with("persons.csv"))
        .ok_or_else(|| anyhow::anyhow!("no persons.csv"))?;
    let text = std::fs::read_to_string(original)?;
    let living: Vec<usize> = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| l.split(',').nth(7).is_some_and(|h| !h.is_empty()))
        .map(|(i, _)| i + 1)
        .collect();
    let step = living.len() / count;
    Ok((0..count).map(|i| living[i * step + step / 2]).collect())
}

fn resumes_after_a_failure_without_duplicates(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let dir = TempDir::new("import");
        let at = living_lines(3)?;
        let (files, living) = spoiled_files(
            &dir.0,
            &[
                (at[0], 0, "12345"),
                (at[1], 4, "1990-13-01"),
                (at[2], 3, "X"),
            ],
        )?;
        let place = Place::new(backend).await?;
        let profile = &registry::social::PROFILE;
        let store = registry::open_store_for_import(profile, &place.config()).await?;
        let errors = dir.0.join("errors.csv");
        let files = ImportFiles::classify(&files)?;
        // Batches of 100 rows: the database goes away after 20 of them (locations and
        // households, then about a third of the persons).
        let failing = Failing {
            inner: store.clone(),
            left: AtomicUsize::new(20),
        };
        let options = ImportOptions {
            batch: 100,
            errors: Some(errors.clone()),
            ..ImportOptions::default()
        };
        let cut = registry::import::import("social", &failing, &files, &options).await;
        ensure!(cut.is_err(), "the import went through: {cut:?}");
        let part = count(store.as_ref(), "SELECT count(*) FROM person").await?;
        ensure!(part > 0 && (part as u64) < living, "{part} of {living}");

        let report = registry::import::import("social", store.as_ref(), &files, &options).await?;
        ensure!(report.persons == living, "{} != {living}", report.persons);
        let loaded = count(store.as_ref(), "SELECT count(*) FROM person").await?;
        let distinct = count(store.as_ref(), "SELECT count(DISTINCT uin) FROM person").await?;
        ensure!(
            loaded as u64 == living && distinct == loaded,
            "{loaded}, {distinct}"
        );
        let households = count(store.as_ref(), "SELECT count(*) FROM household").await?;
        ensure!(households as u64 == report.households && households > 0);
        ensure!(count(store.as_ref(), "SELECT count(*) FROM import_checkpoint").await? == 0);
        let indexes = texts(
            store.as_ref(),
            match backend {
                Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
                Backend::Postgres => "SELECT indexname FROM pg_indexes",
            },
        )
        .await?;
        for name in profile.index_names(store.dialect()) {
            ensure!(indexes.iter().any(|i| i == name), "{name} not rebuilt");
        }

        // Each refused row once, in line order, the first run's and the second's.
        let persons = dir.0.join("persons.csv");
        let total_lines = std::fs::read_to_string(&persons)?.lines().count();
        let expected = [
            (at[0], "uin", "is not a valid UIN"),
            (at[1], "birth_date", "is not a date"),
            (at[2], "sex", "is not in the code directory"),
            (total_lines, "uin", "appears twice in the file"),
        ];
        let mut reader = csv::Reader::from_path(&errors)?;
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
        ensure!(
            rows.len() == expected.len() && report.rejected_count == expected.len() as u64,
            "{rows:?}"
        );
        for (row, (line, field, reason)) in rows.iter().zip(expected) {
            ensure!(
                row[0] == *persons.to_string_lossy()
                    && row[1] == *line.to_string()
                    && &row[2] == field
                    && row[3].contains(reason),
                "expected line {line}, {field}: {reason}; got {row:?}"
            );
        }
        ensure!(
            at[0] < 1000,
            "the first spoiled row is not in the first run"
        );
        Ok(())
    })
}
