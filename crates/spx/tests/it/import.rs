//! `spx import` as a ministry relies on it, on each backend: an import cut short and run
//! again ends with every row exactly once, and every refused row is in the error file once,
//! with its line, field and reason.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail, ensure};
use registry::import::{ImportFiles, ImportOptions};
use store::{ColumnType, SqlValue, Statement, Store};

use crate::support::{
    Backend, Place, TempDir, TestRegistry, fixture, post_form, post_json, registry_config, runtime,
    texts,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "import::resumes_after_a_failure_without_duplicates",
        resumes_after_a_failure_without_duplicates,
    ),
    (
        "import::an_upload_is_imported_and_answers_every_refused_row",
        an_upload_is_imported_and_answers_every_refused_row,
    ),
];

/// The database refuses the member `uin` (as a lost connection or a full disk would refuse a
/// transaction), until [`heal`] drops the trigger that does it.
async fn refuse(store: &dyn Store, backend: Backend, uin: &str) -> Result<()> {
    let script = match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER cut BEFORE INSERT ON person WHEN NEW.uin = '{uin}' \
             BEGIN SELECT RAISE(ABORT, 'the database went away'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.uin = '{uin}' THEN RAISE EXCEPTION 'the database went away'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER cut BEFORE INSERT ON person FOR EACH ROW EXECUTE FUNCTION cut();"
        ),
    };
    Ok(store.execute_script(script).await?)
}

async fn heal(store: &dyn Store, backend: Backend) -> Result<()> {
    let script = match backend {
        Backend::Sqlite => "DROP TRIGGER cut;",
        Backend::Postgres => "DROP TRIGGER cut ON person; DROP FUNCTION cut();",
    };
    Ok(store.execute_script(script.into()).await?)
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
        // Batches of 100 rows; the database refuses the transaction holding the living member
        // a third of the way through, after the first spoiled row was refused and committed.
        let cut_at = living_lines(10)?[3];
        ensure!(at[0] < cut_at && cut_at < at[1], "{at:?}, {cut_at}");
        let persons_file = dir.0.join("persons.csv");
        let cut_uin = std::fs::read_to_string(&persons_file)?
            .lines()
            .nth(cut_at - 1)
            .and_then(|l| l.split(',').next().map(str::to_string))
            .unwrap_or_default();
        refuse(store.as_ref(), backend, &cut_uin).await?;
        let options = ImportOptions {
            batch: 100,
            errors: Some(errors.clone()),
            ..ImportOptions::default()
        };
        let cut = registry::import::import("social", store.as_ref(), &files, &options).await;
        ensure!(cut.is_err(), "the import went through: {cut:?}");
        let part = count(store.as_ref(), "SELECT count(*) FROM person").await?;
        ensure!(part > 0 && (part as u64) < living, "{part} of {living}");
        heal(store.as_ref(), backend).await?;

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

/// `POST /registrar/import`: the files uploaded as a form into an empty registry are imported,
/// and the answer names every refused row with its file, line, field and reason; nothing is
/// left in the import directory. A body that is not a form, and a file no import takes, are
/// refused with their code; the same upload into the loaded registry is refused (409) and
/// writes nothing.
fn an_upload_is_imported_and_answers_every_refused_row(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let dir = TempDir::new("upload");
        let at = living_lines(2)?;
        let (files, living) =
            spoiled_files(&dir.0, &[(at[0], 0, "12345"), (at[1], 4, "1990-13-01")])?;
        let spool = TempDir::new("imports");
        let mut config = registry_config();
        config.imports = Some(spool.0.clone());
        let registry =
            TestRegistry::spawn_empty(backend, &registry::social::PROFILE, config).await?;
        let url = registry.url("/registrar/import");

        let (status, answer) = post_json(&registry.client, &url, &serde_json::json!({})).await?;
        ensure!(
            status == 415 && answer["errors"][0]["code"] == "err.request.bad",
            "HTTP {status}: {answer}"
        );
        let stray = [("file", Some("passwords.txt"), b"secret".as_slice())];
        let (status, answer) = post_form(&registry.client, &url, &stray).await?;
        ensure!(
            status == 400
                && answer["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not an import file")),
            "HTTP {status}: {answer}"
        );

        let contents: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                Ok((name, std::fs::read(p)?))
            })
            .collect::<Result<_>>()?;
        let parts: Vec<(&str, Option<&str>, &[u8])> = contents
            .iter()
            .map(|(name, data)| ("file", Some(name.as_str()), data.as_slice()))
            .collect();
        let (status, answer) = post_form(&registry.client, &url, &parts).await?;
        ensure!(status == 200, "HTTP {status}: {answer}");
        ensure!(
            answer["report"]["persons"] == living
                && answer["report"]["households"].as_u64() > Some(0),
            "{}",
            answer["report"]
        );
        let total_lines = contents
            .iter()
            .find(|(name, _)| name == "persons.csv")
            .map_or(0, |(_, data)| data.iter().filter(|b| **b == b'\n').count());
        let expected = [
            (at[0], "uin", "is not a valid UIN"),
            (at[1], "birth_date", "is not a date"),
            (total_lines, "uin", "appears twice in the file"),
        ];
        let refused = answer["refused"].as_array().cloned().unwrap_or_default();
        ensure!(refused.len() == expected.len(), "{refused:?}");
        for (row, (line, field, reason)) in refused.iter().zip(expected) {
            ensure!(
                row["file"] == "persons.csv"
                    && row["line"] == line
                    && row["field"] == field
                    && row["reason"].as_str().is_some_and(|r| r.contains(reason)),
                "line {line} {field}: {row}"
            );
        }
        let loaded = count(registry.store.as_ref(), "SELECT count(*) FROM person").await?;
        ensure!(loaded as u64 == living, "{loaded} of {living}");
        let left: Vec<_> = std::fs::read_dir(&spool.0)?.collect();
        ensure!(left.is_empty(), "the import directory keeps {left:?}");

        // The same files again: the registry holds records now, so the upload is refused
        // before anything is written.
        let (status, answer) = post_form(&registry.client, &url, &parts).await?;
        ensure!(
            status == 409
                && answer["errors"][0]["code"] == "err.request.bad"
                && answer["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("already holds records (table location)")),
            "HTTP {status}: {answer}"
        );
        let after = count(registry.store.as_ref(), "SELECT count(*) FROM person").await?;
        ensure!(
            after == loaded,
            "{after} persons after the refused upload, {loaded} before"
        );
        Ok(())
    })
}
