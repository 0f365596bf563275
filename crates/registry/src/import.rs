//! Loading population files (`spx generate`'s output, or exports in the same format) into a
//! registry's store: streamed, validated row by row, written in large transactions.
//!
//! The social registry loads the households and their living members. The civil register
//! (CRVS) loads every person, living or deceased, as a person with a birth record (and a
//! death record for the deceased), numbered and placed as [`synth::vital`] describes, and the
//! marriages of `marriages.*`; generated records are registered on the day of their event.
//! The disability registry loads the registrations of `disabilities.*` and the farmer
//! registry the farmers and parcels of `farmers.*` and `parcels.*`; both take the person's
//! name, sex and birth date from `persons.*` and their home from `households.*`. The
//! foundational ID registry loads an identity for every person, living or deceased, with the
//! home of their household (placed as the civil register places them). The integrated
//! beneficiary registry loads the programmes of `programmes.json`, the enrolments of
//! `enrolments.*` (with the name, sex and birth date of the person enrolled, or of the head
//! who receives for a household, and their home) and the benefits of `benefits.*`, then marks
//! the duplicates.
//!
//! An import is resumable: each transaction commits its rows with a checkpoint (the stage of
//! the import, the last line of its file committed, the report so far and the length of the
//! error file), so an import cut short (`kill -9`, a lost database) and run again with the same
//! files reads them from the start, keeps what it needs from the rows already loaded, and loads
//! only the rows after the checkpoint: no row twice, none lost. Each transaction is handed to
//! the store while the next one is prepared (the SQLite writer thread or a PostgreSQL task
//! writes while the import parses). An import loads an empty registry (it refuses one that
//! holds records, before writing anything): its secondary indexes and keys are dropped and
//! built once, at the end.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;

use serde::{Deserialize, Serialize};
use store::{
    BulkLoad, BulkTable, ColumnType, Migration, Row, SqlValue, Statement, Store, StoreError,
    numbered,
};

use crate::crvs::{self, RegisteredPerson};
use crate::dr::{self, DisabledPerson};
use crate::fr::{self, RegisteredFarmer};
use crate::ibr::{self, Enrolled, ProgrammeInfo};
use crate::id::{self, RegisteredIdentity};
use crate::social::{self, Locations};

/// Rows per transaction by default: large enough to amortise commits, small enough to bound
/// memory.
pub const BATCH: usize = 20_000;

/// Most rejected rows kept in a report (the count covers all).
const KEPT_REJECTIONS: usize = 100;

/// The files of one import, found by name: `locations.json`, `households.*`, `persons.*`,
/// `marriages.*`, `disabilities.*`, `farmers.*`, `parcels.*`, `programmes.json`,
/// `enrolments.*`, `benefits.*`.
#[derive(Debug, Default, Clone)]
pub struct ImportFiles {
    /// The location master list.
    pub locations: Option<PathBuf>,
    /// Households (CSV or JSON Lines).
    pub households: Option<PathBuf>,
    /// Persons (CSV or JSON Lines).
    pub persons: Option<PathBuf>,
    /// Marriages (CSV or JSON Lines), for the civil register.
    pub marriages: Option<PathBuf>,
    /// Disability registrations (CSV or JSON Lines), for the disability registry.
    pub disabilities: Option<PathBuf>,
    /// Farmers (CSV or JSON Lines), for the farmer registry.
    pub farmers: Option<PathBuf>,
    /// Land parcels (CSV or JSON Lines), for the farmer registry.
    pub parcels: Option<PathBuf>,
    /// The programme catalogue (JSON), for the beneficiary registry.
    pub programmes: Option<PathBuf>,
    /// Enrolments (CSV or JSON Lines), for the beneficiary registry.
    pub enrolments: Option<PathBuf>,
    /// Benefits paid (CSV or JSON Lines), for the beneficiary registry.
    pub benefits: Option<PathBuf>,
}

impl ImportFiles {
    /// Sorts `paths` (files, or directories holding them) by what they hold.
    pub fn classify(paths: &[PathBuf]) -> Result<Self, ImportError> {
        let mut files = ImportFiles::default();
        for path in paths {
            if path.is_dir() {
                let entries = std::fs::read_dir(path)
                    .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
                let mut inner: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                inner.sort();
                let found = ImportFiles::classify(
                    &inner
                        .into_iter()
                        .filter(|p| p.is_file())
                        .collect::<Vec<_>>(),
                )?;
                files.locations = files.locations.or(found.locations);
                files.households = files.households.or(found.households);
                files.persons = files.persons.or(found.persons);
                files.marriages = files.marriages.or(found.marriages);
                files.disabilities = files.disabilities.or(found.disabilities);
                files.farmers = files.farmers.or(found.farmers);
                files.parcels = files.parcels.or(found.parcels);
                files.programmes = files.programmes.or(found.programmes);
                files.enrolments = files.enrolments.or(found.enrolments);
                files.benefits = files.benefits.or(found.benefits);
                continue;
            }
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let slot = match stem {
                "locations" => &mut files.locations,
                "households" => &mut files.households,
                "persons" => &mut files.persons,
                "marriages" => &mut files.marriages,
                "disabilities" => &mut files.disabilities,
                "farmers" => &mut files.farmers,
                "parcels" => &mut files.parcels,
                "programmes" => &mut files.programmes,
                "enrolments" => &mut files.enrolments,
                "benefits" => &mut files.benefits,
                _ => {
                    return Err(ImportError::File(
                        path.clone(),
                        "not an import file (expected locations.json, programmes.json, or households, persons, marriages, disabilities, farmers, parcels, enrolments or benefits .csv|jsonl)".into(),
                    ));
                }
            };
            *slot = Some(path.clone());
        }
        Ok(files)
    }

    /// The files, each with its kind and size: what a resumed import must be given again.
    fn fingerprint(&self) -> String {
        [
            ("locations", &self.locations),
            ("households", &self.households),
            ("persons", &self.persons),
            ("marriages", &self.marriages),
            ("disabilities", &self.disabilities),
            ("farmers", &self.farmers),
            ("parcels", &self.parcels),
            ("programmes", &self.programmes),
            ("enrolments", &self.enrolments),
            ("benefits", &self.benefits),
        ]
        .into_iter()
        .filter_map(|(kind, path)| {
            let path = path.as_ref()?;
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let name = path.file_name()?.to_string_lossy();
            Some(format!("{kind}={name} ({size} bytes)"))
        })
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ImportReport {
    /// Places loaded.
    pub locations: u64,
    /// Households loaded.
    pub households: u64,
    /// Living members loaded.
    pub persons: u64,
    /// Deceased persons in the files, which a social registry does not hold.
    pub skipped_deceased: u64,
    /// Birth records loaded (civil register).
    pub births: u64,
    /// Death records loaded (civil register).
    pub deaths: u64,
    /// Marriage records loaded (civil register).
    pub marriages: u64,
    /// Persons with a disability certificate or application loaded (disability registry).
    pub disabled: u64,
    /// Farmers loaded (farmer registry).
    pub farmers: u64,
    /// Land parcels loaded (farmer registry).
    pub parcels: u64,
    /// Identities loaded (ID registry).
    pub identities: u64,
    /// Of those, the identities of deceased persons.
    pub deceased_identities: u64,
    /// Programmes loaded (beneficiary registry).
    pub programmes: u64,
    /// Enrolments loaded (beneficiary registry).
    pub enrolments: u64,
    /// Benefits loaded (beneficiary registry).
    pub benefits: u64,
    /// Enrolments marked duplicate (beneficiary registry).
    pub duplicates: u64,
    /// Rows refused, in all.
    pub rejected_count: u64,
    /// The first refused rows: `file:line: reason`.
    pub rejected: Vec<String>,
}

impl ImportReport {
    /// What was loaded into the registry `role`, in words.
    pub fn loaded(&self, role: &str) -> String {
        if role == crvs::PROFILE.role {
            format!(
                "{} locations, {} persons, {} births, {} deaths, {} marriages",
                self.locations, self.persons, self.births, self.deaths, self.marriages
            )
        } else if role == dr::PROFILE.role {
            format!(
                "{} locations, {} persons with a disability certificate or application",
                self.locations, self.disabled
            )
        } else if role == fr::PROFILE.role {
            format!(
                "{} locations, {} farmers, {} parcels",
                self.locations, self.farmers, self.parcels
            )
        } else if role == id::PROFILE.role {
            format!(
                "{} locations, {} identities ({} deceased)",
                self.locations, self.identities, self.deceased_identities
            )
        } else if role == ibr::PROFILE.role {
            format!(
                "{} locations, {} programmes, {} enrolments ({} duplicates), {} benefits",
                self.locations, self.programmes, self.enrolments, self.duplicates, self.benefits
            )
        } else {
            format!(
                "{} locations, {} households, {} persons ({} deceased persons skipped)",
                self.locations, self.households, self.persons, self.skipped_deceased
            )
        }
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or is not an import file.
    #[error("{path}: {message}", path = .0.display(), message = .1)]
    File(PathBuf, String),
    /// The store refused the rows.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// This role has no import yet.
    #[error("import into the {0} registry is not supported yet")]
    Unsupported(String),
    /// An import of other files stopped part-way in this store.
    #[error(
        "an import of other files stopped part-way in this store ({0}); run it again with those files to finish it"
    )]
    OtherFiles(String),
    /// The registry already holds records (in this table): an import loads an empty one.
    #[error(
        "the registry already holds records (table {0}): an import loads an empty registry, or finishes one cut short with the same files; send changes to a loaded registry through its DCI endpoints (such as the file variant of its update endpoint)"
    )]
    NotEmpty(&'static str),
}

/// The table of the checkpoint of an import under way (one row; none when no import is).
pub const MIGRATION: Migration = Migration {
    version: 1090,
    name: "import checkpoint",
    sqlite: CHECKPOINT_TABLE,
    postgres: CHECKPOINT_TABLE,
};

const CHECKPOINT_TABLE: &str =
    "CREATE TABLE import_checkpoint (id INTEGER PRIMARY KEY, state TEXT NOT NULL);";

/// Told how an import goes.
pub trait Progress: Sync {
    /// A stage begins: `what` (a file's kind, `indexes`), reading a file of `bytes` (0 when
    /// the stage reads none), with `rows` rows loaded so far.
    fn stage(&self, what: &str, bytes: u64, rows: u64);
    /// `read` bytes of the stage's file are read; `rows` rows are loaded in all.
    fn advance(&self, read: u64, rows: u64);
}

/// Progress told to no one.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
}

/// How an import runs.
pub struct ImportOptions<'a> {
    /// Rows per transaction, and so per checkpoint.
    pub batch: usize,
    /// Where every refused row goes, as CSV: `file,line,field,reason`.
    pub errors: Option<PathBuf>,
    /// Told how the import goes.
    pub progress: &'a dyn Progress,
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            batch: BATCH,
            errors: None,
            progress: &Quiet,
        }
    }
}

/// Where an import stands, as each transaction commits it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// The files of the import ([`ImportFiles::fingerprint`]).
    files: String,
    /// The stage (1 for the first file read), and the last line of its file committed
    /// (`u64::MAX`: all of it).
    stage: u32,
    line: u64,
    /// Rows loaded in all.
    rows: u64,
    /// The length of the error file.
    errors_len: u64,
    report: ImportReport,
}

/// A store write under way.
type Writing<'a> = Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send + 'a>>;

/// The refused rows' file.
struct ErrorFile {
    path: PathBuf,
    out: csv::Writer<File>,
}

impl ErrorFile {
    /// Opens `path`, cut back to `len` bytes (what the last checkpoint recorded; a new file
    /// when 0).
    fn open(path: &Path, len: u64) -> Result<Self, ImportError> {
        let fail = |e: std::io::Error| ImportError::File(path.to_path_buf(), e.to_string());
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(fail)?;
        file.set_len(len).map_err(fail)?;
        file.seek(SeekFrom::End(0)).map_err(fail)?;
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        if len == 0 {
            out.write_record(["file", "line", "field", "reason"])
                .map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))?;
        }
        Ok(ErrorFile {
            path: path.to_path_buf(),
            out,
        })
    }

    fn write(&mut self, file: &Path, line: u64, field: Option<&str>, reason: &str) {
        // A failed write shows at the next flush, which stops the import.
        let _ = self.out.write_record([
            file.display().to_string().as_str(),
            &line.to_string(),
            field.unwrap_or(""),
            reason,
        ]);
    }

    /// Writes what is buffered; returns the file's length.
    fn flush(&mut self) -> Result<u64, ImportError> {
        let fail = |e: std::io::Error| ImportError::File(self.path.clone(), e.to_string());
        self.out.flush().map_err(fail)?;
        self.out.get_ref().metadata().map(|m| m.len()).map_err(fail)
    }
}

/// An import under way: the rows waiting for their transaction, the checkpoint each one
/// commits, and where the last run stopped.
struct Loader<'a> {
    store: &'a dyn Store,
    profile: &'static crate::Profile,
    tables: &'a [BulkTable],
    batch: usize,
    progress: &'a dyn Progress,
    /// The last run's checkpoint: (stage, line). Rows at or before it are in the store.
    resume: Option<(u32, u64)>,
    /// Where this run stands.
    at: Checkpoint,
    pending: Vec<(BulkTable, Vec<Row>)>,
    pending_rows: usize,
    writing: Option<Writing<'a>>,
    errors: Option<ErrorFile>,
}

impl<'a> Loader<'a> {
    /// Starts the import of `files` into `tables` of `profile`, or resumes the one that
    /// stopped part-way; refuses a registry that holds records. The secondary indexes and keys
    /// are dropped (and built once at the end).
    async fn begin(
        store: &'a dyn Store,
        profile: &'static crate::Profile,
        tables: &'a [BulkTable],
        files: &ImportFiles,
        options: &'a ImportOptions<'a>,
    ) -> Result<Loader<'a>, ImportError> {
        let files = files.fingerprint();
        let saved = store
            .read(vec![Statement::new(
                "SELECT state FROM import_checkpoint WHERE id = 1",
                vec![],
                &[ColumnType::Text],
            )])
            .await?;
        let saved = match saved.first().and_then(|rows| rows.first()) {
            Some(row) => match row.first() {
                Some(Some(SqlValue::Text(state))) => Some(
                    serde_json::from_str::<Checkpoint>(state)
                        .map_err(|e| StoreError::Decode(format!("import checkpoint: {e}")))?,
                ),
                _ => None,
            },
            None => None,
        };
        let (resume, mut at) = match saved {
            Some(saved) if saved.files != files => {
                return Err(ImportError::OtherFiles(saved.files));
            }
            Some(saved) => (Some((saved.stage, saved.line)), saved),
            None => {
                if let Some(table) = holding_rows(store, tables).await? {
                    return Err(ImportError::NotEmpty(table));
                }
                let at = Checkpoint {
                    files,
                    ..Checkpoint::default()
                };
                (None, at)
            }
        };
        (at.stage, at.line) = (0, 0);
        // Again on a resumed import: a server started in between restores them. The keys go
        // too (on PostgreSQL with the foreign keys that need them, which the index script adds
        // back; SQLite checks no foreign key in bulk mode): the import itself refuses a key
        // listed twice and a member of a household not in the files.
        let cascade = match store.dialect() {
            store::Dialect::Postgres => " CASCADE",
            store::Dialect::Sqlite => "",
        };
        let drops: Vec<String> = profile
            .index_names(store.dialect())
            .iter()
            .map(|name| format!("DROP INDEX IF EXISTS {name}{cascade};"))
            .collect();
        store.execute_script(drops.join("\n")).await?;
        store.bulk_mode(true).await?;
        let errors = match &options.errors {
            Some(path) => Some(ErrorFile::open(path, at.errors_len)?),
            None => None,
        };
        Ok(Loader {
            store,
            profile,
            tables,
            batch: options.batch.max(1),
            progress: options.progress,
            resume,
            at,
            pending: Vec::new(),
            pending_rows: 0,
            writing: None,
            errors,
        })
    }

    /// The report so far.
    fn report(&mut self) -> &mut ImportReport {
        &mut self.at.report
    }

    /// Ends the stage under way (its file is all read) and begins the next: reading `path`.
    async fn stage(&mut self, what: &str, path: Option<&Path>) -> Result<(), ImportError> {
        if self.at.stage > 0 {
            self.at.line = u64::MAX;
            if !self.skips(u64::MAX) {
                self.flush().await?;
            }
        }
        self.at.stage += 1;
        self.at.line = 0;
        let bytes = path
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        self.progress.stage(what, bytes, self.at.rows);
        Ok(())
    }

    /// Whether the row at `line` of the stage's file was committed by an earlier run.
    fn skips(&self, line: u64) -> bool {
        matches!(self.resume, Some(stop) if (self.at.stage, line) <= stop)
    }

    /// Queues `row` for `table`.
    fn push(&mut self, table: BulkTable, row: Row) {
        match self
            .pending
            .iter_mut()
            .find(|(t, _)| t.table == table.table)
        {
            Some((_, rows)) => rows.push(row),
            None => self.pending.push((table, vec![row])),
        }
        self.pending_rows += 1;
        self.at.rows += 1;
    }

    /// Refuses the row at `line` of `file` (unless an earlier run did).
    fn reject(&mut self, file: &Path, line: u64, field: Option<&str>, reason: &str) {
        if self.skips(line) {
            return;
        }
        let report = &mut self.at.report;
        report.rejected_count += 1;
        if report.rejected.len() < KEPT_REJECTIONS {
            report
                .rejected
                .push(format!("{}:{line}: {reason}", file.display()));
        }
        if let Some(errors) = &mut self.errors {
            errors.write(file, line, field, reason);
        }
    }

    /// Refuses an unreadable row of `file`; returns its line.
    fn unreadable(&mut self, file: &Path, error: &synth::ReadError) -> u64 {
        self.reject(file, error.line, error.field, &error.message);
        error.line
    }

    /// Refuses the rows of `file` that were never loaded (`left`: each one's line and key), in
    /// line order, each for `why` of its key. In a stage of its own: the lines are not the
    /// stage file's.
    async fn reject_left(
        &mut self,
        file: &Path,
        mut left: Vec<(u64, String)>,
        field: &str,
        why: impl Fn(&str) -> String,
    ) -> Result<(), ImportError> {
        self.stage("unmatched rows", None).await?;
        if self.skips(u64::MAX) {
            return Ok(());
        }
        left.sort();
        for (line, key) in left {
            self.reject(file, line, Some(field), &why(&key));
        }
        Ok(())
    }

    /// The row at `line` is done (`read`: bytes of the file read); commits the rows queued
    /// when they fill a transaction.
    async fn next(&mut self, line: u64, read: u64) -> Result<(), ImportError> {
        self.at.line = line;
        if line.is_multiple_of(1024) {
            self.progress.advance(read, self.at.rows);
        }
        if self.pending_rows >= self.batch {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hands the rows queued to the store, with the checkpoint, once the previous
    /// transaction committed; the store writes them while the import goes on.
    async fn flush(&mut self) -> Result<(), ImportError> {
        if let Some(writing) = self.writing.take() {
            writing.await?;
        }
        if let Some(errors) = &mut self.errors {
            self.at.errors_len = errors.flush()?;
        }
        let state = serde_json::to_string(&self.at).expect("a checkpoint always serializes");
        let checkpoint = Statement::new(
            numbered(
                self.store.dialect(),
                "INSERT INTO import_checkpoint (id, state) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            ),
            vec![SqlValue::Text(state)],
            &[],
        );
        let load = BulkLoad {
            tables: std::mem::take(&mut self.pending),
            then: vec![checkpoint],
        };
        self.pending_rows = 0;
        let mut writing = self.store.bulk_load(load);
        // The first poll hands the work over (to the SQLite writer thread, or a PostgreSQL
        // task); a yield lets another worker take this task while the store writes.
        if let Poll::Ready(done) = futures::poll!(writing.as_mut()) {
            done?;
        } else {
            self.writing = Some(writing);
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Commits the last rows, builds the indexes a bulk load dropped, refreshes the planner's
    /// statistics (and on PostgreSQL the visibility map), and ends the import with `after` (in
    /// the transaction that removes the checkpoint).
    async fn finish(mut self, after: Vec<Statement>) -> Result<ImportReport, ImportError> {
        self.stage("indexes", None).await?;
        if let Some(writing) = self.writing.take() {
            writing.await?;
        }
        let script = self.profile.indexes.script(self.store.dialect());
        let script = match self.store.dialect() {
            // Each index sorted in memory rather than in temporary files.
            store::Dialect::Postgres => {
                format!("SET LOCAL maintenance_work_mem = '256MB';\n{script}")
            }
            store::Dialect::Sqlite => script.to_string(),
        };
        self.store.execute_script(script).await?;
        // On PostgreSQL, a generic plan otherwise keeps judging the tables by what they were
        // before the load and scans a million rows for one household.
        let tables: Vec<&str> = self.tables.iter().map(|t| t.table).collect();
        self.store.settle(&tables).await?;
        let mut end = after;
        end.push(Statement::new("DELETE FROM import_checkpoint", vec![], &[]));
        self.store.write(end).await?;
        self.store.bulk_mode(false).await?;
        Ok(self.at.report)
    }

    /// Reads every row of `path` (`rows`: a `synth::read_*` of it) in a stage of its own,
    /// `what`: hands each readable one to `row` with its line, refuses the others, and
    /// commits the rows queued as they fill transactions.
    async fn each<T: synth::Row>(
        &mut self,
        what: &str,
        path: &Path,
        rows: Result<synth::Rows<T>, synth::ReadError>,
        mut row: impl FnMut(&mut Self, u64, T),
    ) -> Result<(), ImportError> {
        self.stage(what, Some(path)).await?;
        let mut rows = rows.map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))?;
        while let Some(read) = rows.next() {
            let line = match read {
                Ok((line, value)) => {
                    row(self, line, value);
                    line
                }
                Err(e) => self.unreadable(path, &e),
            };
            self.next(line, rows.offset()).await?;
        }
        Ok(())
    }

    /// The readable rows of `path`, read in a stage of its own (see [`Loader::each`]), with
    /// their lines.
    async fn read_all<T: synth::Row>(
        &mut self,
        what: &str,
        path: &Path,
        rows: Result<synth::Rows<T>, synth::ReadError>,
    ) -> Result<Vec<(u64, T)>, ImportError> {
        let mut good = Vec::new();
        self.each(what, path, rows, |_, line, row| good.push((line, row)))
            .await?;
        Ok(good)
    }
}

/// The registrations of `path` by UIN (`uin` of each), with their lines; a second
/// registration of a UIN is rejected.
fn by_uin<T>(
    path: &Path,
    rows: Vec<(u64, T)>,
    uin: fn(&T) -> &str,
    load: &mut Loader<'_>,
) -> HashMap<String, (u64, T)> {
    let mut found: HashMap<String, (u64, T)> = HashMap::with_capacity(rows.len());
    for (line, row) in rows {
        match found.entry(uin(&row).to_string()) {
            std::collections::hash_map::Entry::Occupied(taken) => {
                let reason = format!("{} is registered twice", taken.key());
                load.reject(path, line, Some("uin"), &reason);
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert((line, row));
            }
        }
    }
    found
}

/// Reads a location master list written by `spx generate`.
pub fn read_locations(path: &Path) -> Result<Vec<synth::Location>, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))
}

/// Imports `files` into the store of the registry `role`, or finishes the import of the same
/// files that stopped part-way.
pub async fn import(
    role: &str,
    store: &dyn Store,
    files: &ImportFiles,
    options: &ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let (profile, tables): (&'static crate::Profile, &[BulkTable]) = if role == social::PROFILE.role
    {
        (
            &social::PROFILE,
            &[social::HOUSEHOLD_TABLE, social::PERSON_TABLE],
        )
    } else if role == crvs::PROFILE.role {
        (
            &crvs::PROFILE,
            &[
                crvs::PERSON_TABLE,
                crvs::BIRTH_TABLE,
                crvs::DEATH_TABLE,
                crvs::MARRIAGE_TABLE,
            ],
        )
    } else if role == dr::PROFILE.role {
        (
            &dr::PROFILE,
            &[dr::PWD_TABLE, dr::DIFFICULTY_TABLE, dr::SUPPORT_TABLE],
        )
    } else if role == fr::PROFILE.role {
        (
            &fr::PROFILE,
            &[
                fr::FARMER_TABLE,
                fr::PARCEL_TABLE,
                fr::CROP_TABLE,
                fr::LIVESTOCK_TABLE,
            ],
        )
    } else if role == id::PROFILE.role {
        (&id::PROFILE, &[id::IDENTITY_TABLE])
    } else if role == ibr::PROFILE.role {
        (
            &ibr::PROFILE,
            &[
                ibr::PROGRAMME_TABLE,
                ibr::ENROLMENT_TABLE,
                ibr::BENEFIT_TABLE,
            ],
        )
    } else {
        return Err(ImportError::Unsupported(role.to_string()));
    };
    let mut load = Loader::begin(store, profile, tables, files, options).await?;
    let locations = load_locations(&mut load, files).await?;
    if role == social::PROFILE.role {
        import_social(&mut load, files, &locations).await?;
    } else if role == crvs::PROFILE.role {
        import_crvs(&mut load, files, &locations).await?;
    } else if role == dr::PROFILE.role {
        import_dr(&mut load, files, &locations).await?;
    } else if role == fr::PROFILE.role {
        import_fr(&mut load, files, &locations).await?;
    } else if role == id::PROFILE.role {
        import_id(&mut load, files, &locations).await?;
    } else {
        import_ibr(&mut load, files, &locations).await?;
    }
    if role == ibr::PROFILE.role {
        // After the indexes: marking looks up each beneficiary's other enrolments.
        let mut report = load
            .finish(vec![ibr::mark_duplicates(store.dialect(), None)])
            .await?;
        report.duplicates = ibr::duplicate_count(store).await?;
        Ok(report)
    } else {
        load.finish(Vec::new()).await
    }
}

/// Loads the location master list (parents before children, so the hierarchy's references
/// hold at every row); returns it.
async fn load_locations(
    load: &mut Loader<'_>,
    files: &ImportFiles,
) -> Result<Locations, ImportError> {
    load.stage("locations", files.locations.as_deref()).await?;
    let places = match &files.locations {
        Some(path) => read_locations(path)?,
        None => Vec::new(),
    };
    if !load.skips(1) {
        let mut ordered = places.clone();
        ordered.sort_by_key(|l| l.level);
        for place in &ordered {
            load.push(social::LOCATION_TABLE, social::location_row(place));
        }
        load.report().locations = ordered.len() as u64;
    }
    load.next(1, 0).await?;
    Ok(Locations::new(&places))
}

/// The number of a UIN (ten digits, as the readers check).
fn uin_number(uin: &str) -> u64 {
    uin.parse().unwrap_or(u64::MAX)
}

/// What the members' rows take from each household, kept small (a country has millions of
/// households): the head's UIN as a number, the place as an index into `places`.
#[derive(Default)]
struct Households {
    by_id: HashMap<Box<str>, Household>,
    /// Each place met: (sub-county, district, region) codes.
    places: Vec<[String; 3]>,
    place_index: HashMap<[String; 3], u32>,
}

struct Household {
    head_uin: u64,
    place: u32,
    registered: time::Date,
}

impl Households {
    fn insert(&mut self, household: &synth::Household) {
        let place = [
            household.location_code.clone(),
            household.district_code.clone(),
            household.region_code.clone(),
        ];
        let next = self.places.len() as u32;
        let index = *self.place_index.entry(place.clone()).or_insert(next);
        if index == next {
            self.places.push(place);
        }
        self.by_id.insert(
            household.household_id.as_str().into(),
            Household {
                head_uin: uin_number(&household.head_uin),
                place: index,
                registered: household.registration_date,
            },
        );
    }
}

async fn import_social(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    let updated = dci::Timestamp::now().to_string();
    let mut households = Households::default();
    if let Some(path) = &files.households {
        load.each(
            "households",
            path,
            synth::read_households(path),
            |load, line, household| {
                if households
                    .by_id
                    .contains_key(household.household_id.as_str())
                {
                    let reason = format!(
                        "household {} appears twice in the file",
                        household.household_id
                    );
                    load.reject(path, line, Some("household_id"), &reason);
                } else {
                    if !load.skips(line) {
                        let row = social::household_row(&household, locations, &updated);
                        load.push(social::HOUSEHOLD_TABLE, row);
                        load.report().households += 1;
                    }
                    households.insert(&household);
                }
            },
        )
        .await?;
    }

    if let Some(path) = &files.persons {
        let mut seen: HashSet<u64> = HashSet::new();
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| {
                let first = seen.insert(uin_number(&person.uin));
                if load.skips(line) {
                } else if !first {
                    let reason = format!("uin {} appears twice in the file", person.uin);
                    load.reject(path, line, Some("uin"), &reason);
                } else {
                    match person.household_id.as_deref() {
                        None => load.report().skipped_deceased += 1,
                        Some(id) => match households.by_id.get(id) {
                            Some(household) => {
                                let head_uin = format!("{:010}", household.head_uin);
                                let [location, district, region] =
                                    &households.places[household.place as usize];
                                let of = social::MemberOf {
                                    household_id: id,
                                    head_uin: &head_uin,
                                    location_code: location,
                                    district_code: district,
                                    region_code: region,
                                    registration_date: household.registered,
                                };
                                let row = social::person_row(&person, of, locations);
                                load.push(social::PERSON_TABLE, row);
                                load.report().persons += 1;
                            }
                            None => load.reject(
                                path,
                                line,
                                Some("household_id"),
                                &format!("household {id} is not in the households file"),
                            ),
                        },
                    }
                }
            },
        )
        .await?;
    }
    Ok(())
}

async fn import_crvs(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    // Where each household lives: where its members were born, married and died.
    let homes = homes(load, files).await?;

    let mut married: HashMap<String, Vec<time::Date>> = HashMap::new();
    if let Some(path) = &files.marriages {
        load.each(
            "marriages",
            path,
            synth::read_marriages(path),
            |load, line, marriage| {
                for spouse in [&marriage.spouse1_uin, &marriage.spouse2_uin] {
                    married
                        .entry(spouse.clone())
                        .or_default()
                        .push(marriage.marriage_date);
                }
                if !load.skips(line) {
                    let row = crvs::marriage_row(&marriage, marriage.marriage_date, locations);
                    load.push(crvs::MARRIAGE_TABLE, row);
                    load.report().marriages += 1;
                }
            },
        )
        .await?;
    }

    if let Some(path) = &files.persons {
        let mut placed = synth::vital::Homes::default();
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| {
                let place = placed_home(&mut placed, &person, &homes, files);
                let mut dates = married.remove(&person.uin).unwrap_or_default();
                match place {
                    _ if load.skips(line) => {}
                    Err(reason) => load.reject(path, line, Some("household_id"), &reason),
                    Ok(place) => {
                        dates.sort();
                        let entry = RegisteredPerson::from_population(&person, place, dates);
                        load.push(crvs::PERSON_TABLE, entry.row(locations));
                        load.push(
                            crvs::BIRTH_TABLE,
                            entry.birth_row(entry.birth_date, locations),
                        );
                        let report = load.report();
                        report.persons += 1;
                        report.births += 1;
                        if let Some(death) = entry.death_date
                            && let Some(row) = entry.death_row(death, locations)
                        {
                            load.push(crvs::DEATH_TABLE, row);
                            load.report().deaths += 1;
                        }
                    }
                }
            },
        )
        .await?;
    }
    Ok(())
}

/// Where each household of the households file lives: its sub-county, by household id.
async fn homes(
    load: &mut Loader<'_>,
    files: &ImportFiles,
) -> Result<HashMap<String, String>, ImportError> {
    let mut homes = HashMap::new();
    if let Some(path) = &files.households {
        for (_, household) in load
            .read_all("households", path, synth::read_households(path))
            .await?
        {
            homes.insert(household.household_id, household.location_code);
        }
    }
    Ok(homes)
}

/// The home of `person` (living, in a household of the households file), if known; the
/// reason to refuse their row when their household is not in that file.
fn home<'a>(
    person: &synth::Person,
    homes: &'a HashMap<String, String>,
    files: &ImportFiles,
) -> Result<Option<&'a str>, String> {
    match &person.household_id {
        Some(id) if files.households.is_some() => homes
            .get(id)
            .map(|code| Some(code.as_str()))
            .ok_or_else(|| format!("household {id} is not in the households file")),
        _ => Ok(None),
    }
}

/// Where the civil register places `person`, the next person of the persons file (see
/// [`synth::vital::Homes`]): the home of their household, or for the deceased of the household
/// they are listed with, if known; the reason to refuse their row when that household is not
/// in the households file.
fn placed_home<'a>(
    placed: &mut synth::vital::Homes,
    person: &synth::Person,
    homes: &'a HashMap<String, String>,
    files: &ImportFiles,
) -> Result<Option<&'a str>, String> {
    match placed.of(person) {
        Some(id) if files.households.is_some() => homes
            .get(id)
            .map(|code| Some(code.as_str()))
            .ok_or_else(|| format!("household {id} is not in the households file")),
        _ => Ok(None),
    }
}

async fn import_dr(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    let updated = dci::Timestamp::now().to_string();
    let homes = homes(load, files).await?;

    // The registrations by UIN (about one person in twenty), with their lines.
    let mut registrations = HashMap::new();
    if let Some(path) = &files.disabilities {
        let rows = load
            .read_all("disabilities", path, synth::read_disabilities(path))
            .await?;
        registrations = by_uin(path, rows, |d| &d.uin, load);
    }

    if let Some(path) = &files.persons {
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| {
                if let Some((_, disability)) = registrations.remove(&person.uin) {
                    match home(&person, &homes, files) {
                        _ if load.skips(line) => {}
                        Err(reason) => load.reject(path, line, Some("household_id"), &reason),
                        Ok(home) => {
                            let registered =
                                DisabledPerson::from_population(&person, home, disability);
                            load.push(dr::PWD_TABLE, registered.row(locations, &updated));
                            for row in registered.difficulty_rows() {
                                load.push(dr::DIFFICULTY_TABLE, row);
                            }
                            for row in registered.support_rows() {
                                load.push(dr::SUPPORT_TABLE, row);
                            }
                            load.report().disabled += 1;
                        }
                    }
                }
            },
        )
        .await?;
    }
    if let Some(path) = &files.disabilities {
        let left = registrations.into_values().map(|(line, d)| (line, d.uin));
        load.reject_left(path, left.collect(), "uin", |uin| {
            format!("person {uin} is not in the persons file")
        })
        .await?;
    }
    Ok(())
}

async fn import_fr(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    let updated = dci::Timestamp::now().to_string();
    let homes = homes(load, files).await?;

    let mut farmers = HashMap::new();
    if let Some(path) = &files.farmers {
        let rows = load
            .read_all("farmers", path, synth::read_farmers(path))
            .await?;
        farmers = by_uin(path, rows, |f| &f.uin, load);
    }
    // Each farmer's parcels, by farmer number, with their lines.
    let mut parcels: HashMap<String, Vec<(u64, synth::farming::Parcel)>> = HashMap::new();
    if let Some(path) = &files.parcels {
        for (line, parcel) in load
            .read_all("parcels", path, synth::read_parcels(path))
            .await?
        {
            if locations.get(&parcel.location_code).is_none() {
                let reason = format!(
                    "location_code '{}' is not in the location master list",
                    parcel.location_code
                );
                load.reject(path, line, Some("location_code"), &reason);
            } else {
                parcels
                    .entry(parcel.fid.clone())
                    .or_default()
                    .push((line, parcel));
            }
        }
    }

    if let Some(path) = &files.persons {
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| {
                if let Some((_, farmer)) = farmers.remove(&person.uin) {
                    match home(&person, &homes, files) {
                        Err(reason) => load.reject(path, line, Some("household_id"), &reason),
                        Ok(home) => {
                            let own: Vec<synth::farming::Parcel> = parcels
                                .remove(&farmer.fid)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(_, parcel)| parcel)
                                .collect();
                            if !load.skips(line) {
                                let registered =
                                    RegisteredFarmer::from_population(&person, home, farmer, own);
                                farmer_rows(load, &registered, locations, &updated);
                            }
                        }
                    }
                }
            },
        )
        .await?;
    }
    if let Some(path) = &files.farmers {
        let left = farmers.into_values().map(|(line, f)| (line, f.uin));
        load.reject_left(path, left.collect(), "uin", |uin| {
            format!("person {uin} is not in the persons file")
        })
        .await?;
    }
    if let Some(path) = &files.parcels {
        let left = parcels
            .into_values()
            .flatten()
            .map(|(line, p)| (line, p.fid));
        load.reject_left(path, left.collect(), "fid", |fid| {
            format!("farmer {fid} is not in the farmers file")
        })
        .await?;
    }
    Ok(())
}

/// Queues the rows of `registered`: the farmer, their parcels, crops and livestock.
fn farmer_rows(
    load: &mut Loader<'_>,
    registered: &RegisteredFarmer,
    locations: &Locations,
    updated: &str,
) {
    load.push(fr::FARMER_TABLE, registered.row(locations, updated));
    let parcel_rows = registered.parcel_rows(locations);
    load.report().farmers += 1;
    load.report().parcels += parcel_rows.len() as u64;
    for row in parcel_rows {
        load.push(fr::PARCEL_TABLE, row);
    }
    for row in registered.crop_rows() {
        load.push(fr::CROP_TABLE, row);
    }
    for row in registered.livestock_rows() {
        load.push(fr::LIVESTOCK_TABLE, row);
    }
}

async fn import_id(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    let updated = dci::Timestamp::now();
    let homes = homes(load, files).await?;

    if let Some(path) = &files.persons {
        let mut placed = synth::vital::Homes::default();
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| match placed_home(&mut placed, &person, &homes, files) {
                _ if load.skips(line) => {}
                Err(reason) => load.reject(path, line, Some("household_id"), &reason),
                Ok(home) => {
                    let identity = RegisteredIdentity::from_population(
                        &person,
                        home,
                        updated.0.date(),
                        &updated.to_string(),
                    );
                    load.push(id::IDENTITY_TABLE, identity.row(locations));
                    let report = load.report();
                    report.identities += 1;
                    report.deceased_identities += u64::from(person.death_date.is_some());
                }
            },
        )
        .await?;
    }
    Ok(())
}

async fn import_ibr(
    load: &mut Loader<'_>,
    files: &ImportFiles,
    locations: &Locations,
) -> Result<(), ImportError> {
    let updated = dci::Timestamp::now().to_string();
    let homes = homes(load, files).await?;

    let mut programmes: HashMap<String, ProgrammeInfo> = HashMap::new();
    if let Some(path) = &files.programmes {
        load.stage("programmes", Some(path)).await?;
        let catalogue = synth::read_programmes(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        for programme in &catalogue {
            programmes.insert(
                programme.code.clone(),
                ProgrammeInfo::from_catalogue(programme),
            );
        }
        if !load.skips(1) {
            for programme in programmes.values() {
                load.push(ibr::PROGRAMME_TABLE, programme.row());
            }
            load.report().programmes = programmes.len() as u64;
        }
        load.next(1, 0).await?;
    }
    // The benefits of each enrolment, by programme and beneficiary.
    let mut paid: HashMap<(String, String), Vec<(u64, synth::benefits::Benefit)>> = HashMap::new();
    if let Some(path) = &files.benefits {
        for (line, benefit) in load
            .read_all("benefits", path, synth::read_benefits(path))
            .await?
        {
            paid.entry((benefit.programme.clone(), benefit.beneficiary_id.clone()))
                .or_default()
                .push((line, benefit));
        }
    }
    // The enrolments, by the UIN of the person enrolled (or receiving), with their lines.
    let mut enrolments: HashMap<String, Vec<(u64, synth::benefits::Enrolment)>> = HashMap::new();
    if let Some(path) = &files.enrolments {
        for (line, enrolment) in load
            .read_all("enrolments", path, synth::read_enrolments(path))
            .await?
        {
            if programmes.contains_key(&enrolment.programme) {
                enrolments
                    .entry(enrolment.uin.clone())
                    .or_default()
                    .push((line, enrolment));
            } else {
                let reason = format!(
                    "programme '{}' is not in the programmes file",
                    enrolment.programme
                );
                load.reject(path, line, Some("programme"), &reason);
            }
        }
    }

    if let Some(path) = &files.persons {
        let mut placed = synth::vital::Homes::default();
        load.each(
            "persons",
            path,
            synth::read_persons(path),
            |load, line, person| {
                let home = placed_home(&mut placed, &person, &homes, files);
                if let Some(own) = enrolments.remove(&person.uin) {
                    match home {
                        Err(reason) => load.reject(path, line, Some("household_id"), &reason),
                        Ok(home) => {
                            for (_, enrolment) in &own {
                                let benefits: Vec<synth::benefits::Benefit> = paid
                                    .remove(&(
                                        enrolment.programme.clone(),
                                        enrolment.beneficiary_id.clone(),
                                    ))
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|(_, benefit)| benefit)
                                    .collect();
                                if load.skips(line) {
                                    continue;
                                }
                                let programme = &programmes[&enrolment.programme];
                                let enrolled = Enrolled::from_population(
                                    enrolment,
                                    programme,
                                    Some(&person),
                                    home,
                                    &benefits,
                                );
                                load.push(ibr::ENROLMENT_TABLE, enrolled.row(locations, &updated));
                                let payments: Vec<ibr::Payment> =
                                    benefits.iter().map(ibr::Payment::from_population).collect();
                                let benefit_rows = enrolled.benefit_rows(&payments, locations);
                                load.report().enrolments += 1;
                                load.report().benefits += benefit_rows.len() as u64;
                                for row in benefit_rows {
                                    load.push(ibr::BENEFIT_TABLE, row);
                                }
                            }
                        }
                    }
                }
            },
        )
        .await?;
    }
    if let Some(path) = &files.enrolments {
        let left = enrolments
            .into_values()
            .flatten()
            .map(|(line, e)| (line, e.uin));
        load.reject_left(path, left.collect(), "uin", |uin| {
            format!("person {uin} is not in the persons file")
        })
        .await?;
    }
    if let Some(path) = &files.benefits {
        let left = paid
            .into_values()
            .flatten()
            .map(|(line, b)| (line, b.benefit_id));
        load.reject_left(path, left.collect(), "beneficiary_id", |id| {
            format!("benefit {id} is of no enrolment in the enrolments file")
        })
        .await?;
    }
    Ok(())
}

/// The first of `tables` (or the location list they all refer to) that holds a row.
async fn holding_rows(
    store: &dyn Store,
    tables: &[BulkTable],
) -> Result<Option<&'static str>, StoreError> {
    let tables: Vec<&'static str> = std::iter::once(social::LOCATION_TABLE.table)
        .chain(tables.iter().map(|t| t.table))
        .collect();
    let statements = tables
        .iter()
        .map(|table| {
            Statement::new(
                format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS any_row"),
                vec![],
                &[ColumnType::Integer],
            )
        })
        .collect();
    let counts = store.read(statements).await?;
    Ok(tables.into_iter().zip(counts).find_map(|(table, rows)| {
        let empty = matches!(
            rows.first().and_then(|r| r.first()),
            Some(Some(SqlValue::Integer(0)))
        );
        (!empty).then_some(table)
    }))
}
