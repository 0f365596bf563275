//! The audit chain: every request a service answers is appended to a log whose entries each
//! carry the hash of the entry before, so that an edited, deleted or reordered entry is found.
//!
//! An [`Entry`] says who asked (`participant`), what (`endpoint`, `action`), in which exchange
//! (`message_id`, `transaction_id`, `correlation_id`), how it ended (`outcome`, the DCI code:
//! `succ`, `rjct.*` or `err.*`, and the HTTP `status`), how long it took, and which records were
//! disclosed. The log numbers entries from 1 (`seq`) and stores each one's SHA-256
//! [`EntryHash`] over a canonical encoding of its fields and the previous entry's hash (see
//! [`EntryHash::of`]).
//!
//! **Disclosed records** are named by references the caller chooses, by convention
//! `IDENTIFIER_TYPE:VALUE` for a person (`UIN:1234567890`, `BRN:…`) and `RecordType:key` for
//! other records (`Member:M-000001`, `Household:H-000001`). Name a person by the identifier a
//! citizen or an ombudsman would ask about; one entry may list a person under several
//! references. An entry keeps its references sorted and without repeats.
//!
//! **The disclosure index.** [`who_saw`] must not read the whole log, yet writing each
//! reference into one index ordered by reference would put every disclosure at a random place
//! of a large B-tree, inside the transaction that appends the entry: a batch of 1,000 people
//! answered would dirty about 1,000 pages. So the index is built behind the log, in sorted
//! runs ([`index`]):
//! - An entry is appended with its references in its own row (`audit_log.disclosed`), so a
//!   batch writes a few sequential pages.
//! - Every [`INDEX_EVERY`] entries and references, the writer task indexes the entries written
//!   since the last run: their references, sorted, become a new run of `audit_disclosure`
//!   (`run`, reference, seq), written at the end of the table, and `audit_run` records the
//!   run and the last entry it covers.
//! - When the newest [`FANOUT`] runs have the same level, they are merged into one run of the
//!   next level, up to [`TOP_LEVEL`]: the number of runs stays logarithmic up to runs of about
//!   half a million references, and grows by one per such run beyond. A merge marks its runs
//!   (`audit_run.merging_into`) and moves their rows [`MERGE_CHUNK`] references at a time,
//!   one transaction each, so that no step holds the writer for long; until the last step,
//!   every reference is in exactly one of the runs.
//! - [`who_saw`] seeks the reference in every run, and reads the entries after the last run
//!   (fewer than a few [`INDEX_EVERY`]) for the rest.
//!
//! **Writing.** [`AuditLog::append`] hands the entry to one background task per handle, which
//! writes whatever is queued (at most [`BATCH_MAX`] entries) in one store transaction and
//! answers each caller once that transaction is committed; on SQLite that transaction also
//! shares the writer's group commit. The transaction reads the chain's last entry and
//! inserts after it; on PostgreSQL it first takes a transaction-scoped advisory lock, so
//! nodes sharing one database take turns and the log stays one chain.
//!
//! **Checking.** [`verify`] walks the log in pages of [`PAGE`] entries, then compares the
//! disclosure index with the references of the entries before the first bad one, and names
//! the first bad entry ([`Fault`]). It cannot see entries cut off the end of the log: the
//! remaining log is a valid chain. Keep the [`Head`] that verify returns (count and hash)
//! somewhere the database's administrators cannot write, and pass it back as an anchor: a log
//! shorter than the anchor, or one whose entry at the anchor has another hash (the chain was
//! recomputed), is then reported too.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::{
    Cell, ColumnType, Dialect, Migration, Result, Row, SqlValue, Statement, Store, StoreError,
    numbered,
};

/// The audit log and its disclosure index (migration version 1006).
///
/// SQLite tables are `STRICT`, so a value of the wrong type cannot be written into them.
pub const MIGRATION: Migration = Migration {
    version: 1006,
    name: "audit chain",
    sqlite: "CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at_us INTEGER NOT NULL,
        participant TEXT,
        endpoint TEXT NOT NULL,
        action TEXT,
        message_id TEXT,
        transaction_id TEXT,
        correlation_id TEXT,
        outcome TEXT NOT NULL,
        status INTEGER NOT NULL,
        duration_us INTEGER NOT NULL,
        disclosed TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    CREATE TABLE audit_disclosure (
        subject TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (subject, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX audit_disclosure_by_seq ON audit_disclosure (seq);",
    postgres: "CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        at_us BIGINT NOT NULL,
        participant TEXT COLLATE \"C\",
        endpoint TEXT COLLATE \"C\" NOT NULL,
        action TEXT COLLATE \"C\",
        message_id TEXT COLLATE \"C\",
        transaction_id TEXT COLLATE \"C\",
        correlation_id TEXT COLLATE \"C\",
        outcome TEXT COLLATE \"C\" NOT NULL,
        status BIGINT NOT NULL,
        duration_us BIGINT NOT NULL,
        disclosed TEXT NOT NULL,
        prev_hash TEXT COLLATE \"C\" NOT NULL,
        hash TEXT COLLATE \"C\" NOT NULL
    );
    CREATE TABLE audit_disclosure (
        subject TEXT COLLATE \"C\" NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (subject, seq)
    );
    CREATE INDEX audit_disclosure_by_seq ON audit_disclosure (seq, subject);",
};

/// The disclosure index in sorted runs (migration version 1009): an index written before it
/// becomes the first run, at [`TOP_LEVEL`] (it is never merged). PostgreSQL analyses the new
/// tables at once: without statistics its planner would scan the whole index for `who_saw`.
pub const RUNS_MIGRATION: Migration = Migration {
    version: 1009,
    name: "audit disclosure runs",
    sqlite: "CREATE TABLE audit_run (
        run INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        level INTEGER NOT NULL,
        merging_into INTEGER
    ) STRICT;
    ALTER TABLE audit_disclosure RENAME TO audit_disclosure_1006;
    CREATE TABLE audit_disclosure (
        run INTEGER NOT NULL,
        subject TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (run, subject, seq)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO audit_run (run, last_seq, level) SELECT 1, max(seq), 3 FROM audit_log HAVING count(*) > 0;
    INSERT INTO audit_disclosure (run, subject, seq)
        SELECT 1, subject, seq FROM audit_disclosure_1006 ORDER BY subject, seq;
    DROP TABLE audit_disclosure_1006;",
    postgres: "CREATE TABLE audit_run (
        run BIGINT PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        level BIGINT NOT NULL,
        merging_into BIGINT
    );
    ALTER TABLE audit_disclosure RENAME TO audit_disclosure_1006;
    ALTER INDEX audit_disclosure_pkey RENAME TO audit_disclosure_1006_pkey;
    CREATE TABLE audit_disclosure (
        run BIGINT NOT NULL,
        subject TEXT COLLATE \"C\" NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (run, subject, seq)
    );
    INSERT INTO audit_run (run, last_seq, level) SELECT 1, max(seq), 3 FROM audit_log HAVING count(*) > 0;
    INSERT INTO audit_disclosure (run, subject, seq)
        SELECT 1, subject, seq FROM audit_disclosure_1006 ORDER BY subject, seq;
    DROP TABLE audit_disclosure_1006;
    ANALYZE audit_run, audit_disclosure;",
};

/// Entries plus references written by one handle's writer task between two runs of [`index`]
/// (the entries after the last run, which [`who_saw`] reads one by one, are about this many
/// per node).
pub const INDEX_EVERY: usize = 8192;

/// Entries after the last run that a starting writer task indexes at once: what an earlier
/// process left (it indexes every [`INDEX_EVERY`] of its own).
const LEFT_OVER: i64 = 64;

/// References one step of a merge moves from the oldest run being merged (and about as many
/// from each of the others): a few tens of milliseconds of the writer's time.
pub const MERGE_CHUNK: usize = 8192;

/// Runs of one level merged into one of the next.
pub const FANOUT: usize = 4;

/// The level whose runs are not merged: [`INDEX_EVERY`] × [`FANOUT`]³, about half a million
/// references each, the most one merge rewrites.
pub const TOP_LEVEL: i64 = 3;

/// Most entries written in one transaction.
pub const BATCH_MAX: usize = 512;

/// Entries [`verify`] reads at a time.
pub const PAGE: i64 = 1000;

/// Appends that may wait for the writer before `append` itself waits to queue.
const QUEUE: usize = 4 * BATCH_MAX;

/// The PostgreSQL advisory lock that makes batch writes from every node take turns.
const AUDIT_LOCK: i64 = 1006;

/// The PostgreSQL advisory lock that makes [`index`] on every node take turns.
const INDEX_LOCK: i64 = 1009;

/// Prefixed to every hashed encoding, naming its format.
const FORMAT: &[u8] = b"spx-audit-1";

/// One request and its answer, as the service that answered it saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the request arrived (kept to the microsecond).
    pub at: OffsetDateTime,
    /// Who asked: the envelope's `sender_id` (or the token's client), when known.
    pub participant: Option<String>,
    /// The path that was called, e.g. `/registry/sync/search`.
    pub endpoint: String,
    /// The DCI action (`search`, `subscribe`, …), when the envelope said.
    pub action: Option<String>,
    /// The request's `message_id`, when it had one.
    pub message_id: Option<String>,
    /// The request's `transaction_id`, when it had one.
    pub transaction_id: Option<String>,
    /// The `correlation_id` the service gave the exchange, when it gave one.
    pub correlation_id: Option<String>,
    /// How it ended: `succ`, or the DCI code of the rejection or error (`rjct.*`, `err.*`).
    pub outcome: String,
    /// The HTTP status of the response.
    pub status: u16,
    /// How long the service took to answer (kept to the microsecond).
    pub duration: Duration,
    /// References to the records the response disclosed (see the module's documentation).
    pub disclosed: Vec<String>,
}

impl Entry {
    /// The entry as the log keeps it: times to the microsecond, references sorted without
    /// repeats, and NUL characters (which PostgreSQL text cannot hold) replaced by U+FFFD, so
    /// that what is hashed is exactly what is stored and read back.
    fn normalised(mut self) -> Entry {
        self.at = from_unix_us(unix_us(self.at)).expect("a time truncated to the microsecond");
        self.duration = Duration::from_micros(duration_us(self.duration) as u64);
        let clean = |s: &mut String| {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{FFFD}");
            }
        };
        for field in [
            &mut self.participant,
            &mut self.action,
            &mut self.message_id,
            &mut self.transaction_id,
            &mut self.correlation_id,
        ] {
            field.iter_mut().for_each(clean);
        }
        clean(&mut self.endpoint);
        clean(&mut self.outcome);
        self.disclosed.iter_mut().for_each(clean);
        self.disclosed.sort_unstable();
        self.disclosed.dedup();
        self
    }
}

fn unix_us(at: OffsetDateTime) -> i64 {
    // Every OffsetDateTime (years ±9999) fits in i64 microseconds.
    (at.unix_timestamp_nanos().div_euclid(1000)) as i64
}

fn from_unix_us(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

fn duration_us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The SHA-256 hash of an entry, chained to the previous one; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The previous hash of the first entry: 32 zero bytes.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

    /// The hash of `entry` as number `seq` after an entry hashed `prev`: SHA-256 over
    ///
    /// ```text
    /// "spx-audit-1" ‖ prev (32 bytes) ‖ int(seq) ‖ int(at, µs since 1970 UTC)
    ///   ‖ opt(participant) ‖ text(endpoint) ‖ opt(action) ‖ opt(message_id)
    ///   ‖ opt(transaction_id) ‖ opt(correlation_id) ‖ text(outcome) ‖ int(status)
    ///   ‖ int(duration, µs) ‖ int(number of references) ‖ text(reference)…
    /// ```
    ///
    /// where `int` is 8 bytes big-endian two's complement, `text` is `int(byte length)` then
    /// the UTF-8 bytes, and `opt` is one byte 0 for none or 1 followed by `text`. Every field
    /// has a fixed size or a length, so no two entries share an encoding.
    pub fn of(seq: i64, prev: &EntryHash, entry: &Entry) -> EntryHash {
        let mut bytes = Vec::with_capacity(256);
        let int = |bytes: &mut Vec<u8>, value: i64| bytes.extend_from_slice(&value.to_be_bytes());
        let text = |bytes: &mut Vec<u8>, value: &str| {
            int(bytes, value.len() as i64);
            bytes.extend_from_slice(value.as_bytes());
        };
        let opt = |bytes: &mut Vec<u8>, value: Option<&str>| match value {
            None => bytes.push(0),
            Some(value) => {
                bytes.push(1);
                text(bytes, value);
            }
        };
        bytes.extend_from_slice(FORMAT);
        bytes.extend_from_slice(&prev.0);
        int(&mut bytes, seq);
        int(&mut bytes, unix_us(entry.at));
        opt(&mut bytes, entry.participant.as_deref());
        text(&mut bytes, &entry.endpoint);
        opt(&mut bytes, entry.action.as_deref());
        opt(&mut bytes, entry.message_id.as_deref());
        opt(&mut bytes, entry.transaction_id.as_deref());
        opt(&mut bytes, entry.correlation_id.as_deref());
        text(&mut bytes, &entry.outcome);
        int(&mut bytes, i64::from(entry.status));
        int(&mut bytes, duration_us(entry.duration));
        int(&mut bytes, entry.disclosed.len() as i64);
        for reference in &entry.disclosed {
            text(&mut bytes, reference);
        }
        let digest = digest::digest(&digest::SHA256, &bytes);
        EntryHash(
            digest
                .as_ref()
                .try_into()
                .expect("SHA-256 digests are 32 bytes"),
        )
    }

    fn from_hex(text: &str) -> Option<EntryHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut hash = [0; 32];
        for (byte, pair) in hash.iter_mut().zip(bytes.chunks(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(EntryHash(hash))
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

/// A point of the chain: an entry's `seq` (the number of entries up to it) and hash. The
/// head of an empty log is `0` and [`EntryHash::GENESIS`]. Written `SEQ:HASH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The entry's number, from 1.
    pub seq: i64,
    /// The entry's hash.
    pub hash: EntryHash,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: EntryHash::GENESIS,
    };
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Why a text is not a [`Head`].
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not an audit head (SEQ:HASH, as `spx audit verify` prints it)")]
pub struct NotAHead(String);

impl FromStr for Head {
    type Err = NotAHead;

    fn from_str(text: &str) -> std::result::Result<Head, NotAHead> {
        let not = || NotAHead(text.to_string());
        let (seq, hash) = text.split_once(':').ok_or_else(not)?;
        Ok(Head {
            seq: seq.parse().ok().filter(|s: &i64| *s >= 0).ok_or_else(not)?,
            hash: EntryHash::from_hex(&hash.to_ascii_lowercase()).ok_or_else(not)?,
        })
    }
}

/// An entry as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its number, from 1.
    pub seq: i64,
    /// What was recorded.
    pub entry: Entry,
    /// The hash of the entry before it.
    pub prev_hash: EntryHash,
    /// Its own hash.
    pub hash: EntryHash,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry is where it was written and as it was written; the last one is this head.
    Intact(Head),
    /// The first bad entry.
    Broken(Break),
}

/// The first entry that is not as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The entry's number (for [`Fault::Missing`] and [`Fault::Truncated`], the first number
    /// that is not there).
    pub seq: i64,
    /// What is wrong with it.
    pub fault: Fault,
}

/// What is wrong with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// There is no entry with this number, though later ones exist: it was deleted.
    Missing,
    /// Its `prev_hash` is not the previous entry's hash: entries before it were deleted or
    /// reordered.
    Unlinked,
    /// Its fields do not hash to its stored hash: it was edited.
    Edited,
    /// A field holds what no entry can (the reason says which): it was edited.
    Unreadable(String),
    /// The disclosure index disagrees with the entry's references, so `who_saw` would not
    /// answer truly.
    Index,
    /// Its hash is not the anchored one: the chain up to it was written again.
    NotAnchored,
    /// The log ends before the anchored entry: entries were cut off its end.
    Truncated,
}

impl Fault {
    /// A short name for reports: `missing`, `unlinked`, `edited`, `unreadable`, `index`,
    /// `not-anchored` or `truncated`.
    pub fn code(&self) -> &'static str {
        match self {
            Fault::Missing => "missing",
            Fault::Unlinked => "unlinked",
            Fault::Edited => "edited",
            Fault::Unreadable(_) => "unreadable",
            Fault::Index => "index",
            Fault::NotAnchored => "not-anchored",
            Fault::Truncated => "truncated",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Missing => write!(f, "missing, though later entries exist (deleted)"),
            Fault::Unlinked => write!(
                f,
                "its prev_hash is not the previous entry's hash (entries deleted or reordered)"
            ),
            Fault::Edited => write!(f, "its fields do not match its hash (edited)"),
            Fault::Unreadable(why) => write!(f, "unreadable: {why} (edited)"),
            Fault::Index => write!(
                f,
                "the disclosure index disagrees with its disclosed records (index edited)"
            ),
            Fault::NotAnchored => write!(
                f,
                "its hash is not the anchored one (the chain was rewritten)"
            ),
            Fault::Truncated => write!(f, "missing: the log ends before the anchored entry"),
        }
    }
}

/// A handle that appends entries to a store's audit log. Clones share one writer task, which
/// stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    entry: Entry,
    written: oneshot::Sender<Result<Head>>,
}

impl AuditLog {
    /// Starts the writer task for the audit log in `store` (whose migrations must include
    /// [`MIGRATION`]); call it inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>) -> AuditLog {
        AuditLog::indexing_every(store, INDEX_EVERY)
    }

    /// [`AuditLog::new`], indexing every `every` entries and references written (and what an
    /// earlier process left, once, at the start); `usize::MAX` leaves the index to [`index`].
    pub fn indexing_every(store: Arc<dyn Store>, every: usize) -> AuditLog {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, pending, every));
        AuditLog { queue }
    }

    /// Appends `entry` and returns its place in the chain once it is committed.
    pub async fn append(&self, entry: Entry) -> Result<Head> {
        let (written, answer) = oneshot::channel();
        let entry = entry.normalised();
        self.queue
            .send(Pending { entry, written })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Internal("the audit writer has stopped".into())
}

/// The columns of `audit_log`, in the order of [`Sql::page`]'s results and of the JSON rows
/// [`seal`] makes.
const COLUMNS: [(&str, ColumnType); 14] = [
    ("seq", ColumnType::Integer),
    ("at_us", ColumnType::Integer),
    ("participant", ColumnType::Text),
    ("endpoint", ColumnType::Text),
    ("action", ColumnType::Text),
    ("message_id", ColumnType::Text),
    ("transaction_id", ColumnType::Text),
    ("correlation_id", ColumnType::Text),
    ("outcome", ColumnType::Text),
    ("status", ColumnType::Integer),
    ("duration_us", ColumnType::Integer),
    ("disclosed", ColumnType::Text),
    ("prev_hash", ColumnType::Text),
    ("hash", ColumnType::Text),
];

/// The audit statements in one dialect.
struct Sql {
    dialect: Dialect,
    insert_entries: String,
    /// Entries after seq `?1`, at most `?2` of them.
    page: String,
    /// The entries that disclosed reference `?1`: found in the runs, and among the entries
    /// after the last run.
    who_saw: String,
    /// The least seq up to `?1` where the disclosure index and the entries' references
    /// disagree (NULL when they agree).
    index_fault: String,
    /// The newest run, the last entry indexed, and the last entry.
    tail: String,
    /// Writes the references of the entries numbered `?2 < seq <= ?3` as run `?1`.
    build_run: String,
    /// The newest [`FANOUT`] runs that are not being merged, newest first.
    newest_runs: String,
    /// The runs being merged, and the run they are merged into.
    merging: String,
    /// The [`MERGE_CHUNK`]-th reference of the oldest run being merged (none when it holds
    /// fewer): what one step of the merge moves up to.
    merge_bound: String,
    /// Marks runs `?2..` as being merged into run `?1`.
    start_merge: String,
    /// Copies into run `?1` the rows of runs `?2..` up to the reference after them, and deletes
    /// them from runs `?1..` (up to the reference after those).
    move_chunk: [String; 2],
    /// The same for all their rows.
    move_rest: [String; 2],
    /// Deletes the runs merged into run `?1` that have no rows left.
    drop_merged: String,
    /// Records run `?1`, covering the entries up to `?2`, at level `?3`.
    insert_run: String,
}

impl Sql {
    fn new(dialect: Dialect) -> Sql {
        let names = |prefix: &str| {
            COLUMNS
                .iter()
                .map(|(name, _)| format!("{prefix}{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Each reference of entry `a` as `j.value`, ordered as `audit_disclosure.subject` is.
        let (references, reference) = match dialect {
            Dialect::Sqlite => ("json_each(a.disclosed) AS j", "j.value"),
            Dialect::Postgres => (
                "jsonb_array_elements_text(a.disclosed::jsonb) AS j(value)",
                "j.value COLLATE \"C\"",
            ),
        };
        // The entries `a` whose reference `?1` is in a run: a seek in each run, whatever the
        // planner knows of the tables (PostgreSQL 15 would scan the whole key for the
        // reference, not knowing how few runs there are).
        let in_runs = match dialect {
            Dialect::Sqlite => {
                "audit_disclosure d JOIN audit_log a ON a.seq = d.seq
                 WHERE d.subject = ?1 AND d.run IN (SELECT run FROM audit_run)"
            }
            Dialect::Postgres => {
                "audit_run r CROSS JOIN LATERAL (
                     SELECT seq FROM audit_disclosure d WHERE d.run = r.run AND d.subject = ?1
                 ) AS d JOIN audit_log a ON a.seq = d.seq"
            }
        };
        let indexed = "(SELECT coalesce(max(last_seq), 0) FROM audit_run)";
        let sql = |text: &str| numbered(dialect, text);
        // `FANOUT` parameters from `?first`: the runs being merged.
        let runs = |first: usize| {
            (first..first + FANOUT)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Copying into run `?1` the rows of runs `?2..`, deleting those of runs `?1..`; with a
        // bound, only the rows up to the reference after the runs.
        let moves = |bounded: bool| {
            let bound = |at: usize| {
                if bounded {
                    format!("AND subject <= ?{at}")
                } else {
                    String::new()
                }
            };
            [
                sql(&format!(
                    "INSERT INTO audit_disclosure (run, subject, seq)
                     SELECT CAST(?1 AS BIGINT), subject, seq FROM audit_disclosure
                     WHERE run IN ({}) {} ORDER BY subject, seq",
                    runs(2),
                    bound(FANOUT + 2)
                )),
                sql(&format!(
                    "DELETE FROM audit_disclosure WHERE run IN ({}) {}",
                    runs(1),
                    bound(FANOUT + 1)
                )),
            ]
        };
        Sql {
            dialect,
            insert_entries: insert_from_json(dialect, "audit_log", &COLUMNS),
            page: sql(&format!(
                "SELECT {} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                names("")
            )),
            who_saw: sql(&format!(
                "SELECT {cols} FROM {in_runs}
                 UNION ALL
                 SELECT {cols} FROM audit_log a
                 WHERE a.seq > {indexed}
                   AND EXISTS (SELECT 1 FROM {references} WHERE j.value = ?1)
                 ORDER BY 1",
                cols = names("a.")
            )),
            index_fault: sql(&format!(
                "WITH expected AS (
                     SELECT {reference} AS subject, a.seq FROM audit_log a, {references}
                     WHERE a.seq <= ?1 AND a.seq <= {indexed}),
                 actual AS (
                     SELECT d.subject, d.seq FROM audit_disclosure d
                     JOIN audit_run r ON r.run = d.run WHERE d.seq <= ?1)
                 SELECT min(seq) FROM (
                     SELECT seq FROM (
                         SELECT subject, seq FROM expected EXCEPT SELECT subject, seq FROM actual
                     ) AS missing
                     UNION ALL SELECT seq FROM (
                         SELECT subject, seq FROM actual EXCEPT SELECT subject, seq FROM expected
                     ) AS extra
                     UNION ALL SELECT seq FROM actual GROUP BY subject, seq HAVING count(*) > 1
                     UNION ALL SELECT seq FROM audit_disclosure
                         WHERE seq <= ?1 AND run NOT IN (SELECT run FROM audit_run)
                 ) AS faults"
            )),
            tail: format!(
                "SELECT coalesce(max(run), 0), {indexed}, (SELECT coalesce(max(seq), 0) FROM audit_log)
                 FROM audit_run"
            ),
            build_run: sql(&format!(
                "INSERT INTO audit_disclosure (run, subject, seq)
                 SELECT CAST(?1 AS BIGINT), {reference}, a.seq FROM audit_log a, {references}
                 WHERE a.seq > ?2 AND a.seq <= ?3 ORDER BY 2, 3"
            )),
            newest_runs: format!(
                "SELECT run, last_seq, level FROM audit_run WHERE merging_into IS NULL
                 ORDER BY run DESC LIMIT {FANOUT}"
            ),
            merging: "SELECT run, merging_into FROM audit_run WHERE merging_into IS NOT NULL
                 ORDER BY run"
                .into(),
            merge_bound: format!(
                "SELECT subject FROM audit_disclosure
                 WHERE run = (SELECT min(run) FROM audit_run WHERE merging_into IS NOT NULL)
                 ORDER BY subject LIMIT 1 OFFSET {}",
                MERGE_CHUNK - 1
            ),
            start_merge: sql(&format!(
                "UPDATE audit_run SET merging_into = ?1 WHERE run IN ({})",
                runs(2)
            )),
            move_chunk: moves(true),
            move_rest: moves(false),
            drop_merged: sql("DELETE FROM audit_run WHERE merging_into = ?1
                 AND NOT EXISTS (SELECT 1 FROM audit_disclosure d WHERE d.run = audit_run.run)"),
            insert_run: sql("INSERT INTO audit_run (run, last_seq, level) VALUES (?1, ?2, ?3)"),
        }
    }

    /// `reads`, after taking the PostgreSQL advisory lock `lock` for the transaction, so that
    /// the writers that take it on every node take turns.
    fn locked(&self, lock: i64, reads: Vec<Statement>) -> Vec<Statement> {
        match self.dialect {
            Dialect::Sqlite => reads,
            Dialect::Postgres => {
                let mut locked = vec![Statement::new(
                    format!("SELECT pg_advisory_xact_lock({lock})"),
                    vec![],
                    &[],
                )];
                locked.extend(reads);
                locked
            }
        }
    }

    /// The statements that read the chain's last entry before a batch is written after it.
    fn head(&self) -> Vec<Statement> {
        self.locked(
            AUDIT_LOCK,
            vec![Statement::new(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                vec![],
                &[ColumnType::Integer, ColumnType::Text],
            )],
        )
    }
}

/// An INSERT of the rows of a JSON array of arrays (one parameter, one statement, however
/// many rows), each array holding `columns` in order.
fn insert_from_json(dialect: Dialect, table: &str, columns: &[(&str, ColumnType)]) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| match (dialect, ty) {
            (Dialect::Postgres, ColumnType::Integer) => format!("(value ->> {i})::bigint"),
            _ => format!("value ->> {i}"),
        })
        .collect();
    let rows = match dialect {
        Dialect::Sqlite => "json_each(?1)",
        Dialect::Postgres => "jsonb_array_elements($1::text::jsonb) AS value",
    };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {rows}",
        names.join(", "),
        values.join(", ")
    )
}

/// The writer task: writes what is queued, a batch at a time, until every handle is gone.
async fn write_batches(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>, every: usize) {
    let sql = Arc::new(Sql::new(store.dialect()));
    let mut batch = Vec::with_capacity(BATCH_MAX);
    // Entries and references written since the last index step, and that step while it runs
    // (the first one indexes what an earlier process left, when it left some).
    let mut unindexed = 0;
    let mut indexing =
        (every < usize::MAX).then(|| spawn_index(store.clone(), sql.clone(), LEFT_OVER));
    while pending.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let (entries, answers): (Vec<Entry>, Vec<_>) =
            batch.drain(..).map(|p| (p.entry, p.written)).unzip();
        let work: usize = entries.iter().map(|e| 1 + e.disclosed.len()).sum();
        match write_batch(store.as_ref(), &sql, entries).await {
            Ok(heads) => {
                for (answer, head) in answers.into_iter().zip(heads) {
                    let _ = answer.send(Ok(head));
                }
                unindexed += work;
            }
            Err(e) => {
                tracing::error!(error = %e, entries = answers.len(), "audit entries not written");
                let why = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Internal(format!(
                        "the audit batch was not written: {why}"
                    ))));
                }
            }
        }
        if unindexed >= every && indexing.as_ref().is_none_or(|step| step.is_finished()) {
            unindexed = 0;
            indexing = Some(spawn_index(store.clone(), sql.clone(), 1));
        }
    }
}

/// Runs [`index_from`] in a task of its own, logging its failure.
fn spawn_index(store: Arc<dyn Store>, sql: Arc<Sql>, least: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = index_from(store.as_ref(), &sql, least).await {
            tracing::error!(error = %e, "the audit's disclosure index was not brought up to date; run `spx audit verify`");
        }
    })
}

/// Writes `entries` after the chain's last entry in one transaction; returns their heads.
async fn write_batch(store: &dyn Store, sql: &Arc<Sql>, entries: Vec<Entry>) -> Result<Vec<Head>> {
    let (sealed, heads) = oneshot::channel();
    let plan_sql = sql.clone();
    store
        .read_then_write(
            sql.head(),
            Box::new(move |reads| {
                let head = match reads.last().and_then(|rows| rows.first()).map(Vec::as_slice) {
                    None => Head::EMPTY,
                    Some([Some(SqlValue::Integer(seq)), Some(SqlValue::Text(hash))]) => Head {
                        seq: *seq,
                        hash: EntryHash::from_hex(hash).ok_or_else(|| {
                            StoreError::Decode(format!(
                                "the last audit entry ({seq}) has a damaged hash; run `spx audit verify`"
                            ))
                        })?,
                    },
                    Some(other) => {
                        return Err(StoreError::Decode(format!(
                            "the last audit entry reads as {other:?}"
                        )));
                    }
                };
                let (statements, written) = seal(&plan_sql, head, &entries);
                let _ = sealed.send(written);
                Ok(statements)
            }),
        )
        .await?;
    heads
        .await
        .map_err(|_| StoreError::Internal("the audit batch was not sealed".into()))
}

/// Chains `entries` after `head`: the statement that inserts them, and each entry's head.
fn seal(sql: &Sql, mut head: Head, entries: &[Entry]) -> (Vec<Statement>, Vec<Head>) {
    let mut rows = Vec::with_capacity(entries.len());
    let mut heads = Vec::with_capacity(entries.len());
    for entry in entries {
        let seq = head.seq + 1;
        let hash = EntryHash::of(seq, &head.hash, entry);
        rows.push(serde_json::json!([
            seq,
            unix_us(entry.at),
            entry.participant,
            entry.endpoint,
            entry.action,
            entry.message_id,
            entry.transaction_id,
            entry.correlation_id,
            entry.outcome,
            entry.status,
            duration_us(entry.duration),
            serde_json::Value::from(entry.disclosed.clone()).to_string(),
            head.hash.to_string(),
            hash.to_string(),
        ]));
        head = Head { seq, hash };
        heads.push(head);
    }
    let insert = Statement::new(
        &sql.insert_entries,
        vec![SqlValue::Text(serde_json::Value::from(rows).to_string())],
        &[],
    );
    (vec![insert], heads)
}

/// An `audit_log` row: its fields may not decode when it was edited.
struct Stored {
    seq: i64,
    entry: std::result::Result<Entry, String>,
    prev_hash: String,
    hash: String,
}

impl Stored {
    fn read(row: Row) -> Result<Stored> {
        let cells = <[Cell; COLUMNS.len()]>::try_from(row)
            .map_err(|row| StoreError::Decode(format!("audit row of {} cells", row.len())))?;
        let [seq, fields @ .., prev_hash, hash] = cells;
        let text = |cell| match cell {
            Some(SqlValue::Text(text)) => text,
            _ => String::new(),
        };
        Ok(Stored {
            seq: match seq {
                Some(SqlValue::Integer(seq)) => seq,
                other => return Err(StoreError::Decode(format!("audit seq {other:?}"))),
            },
            entry: entry_of(fields),
            prev_hash: text(prev_hash),
            hash: text(hash),
        })
    }
}

/// The entry in the cells of an `audit_log` row between `seq` and `prev_hash`, or what in
/// them no entry can hold.
fn entry_of(cells: [Cell; COLUMNS.len() - 3]) -> std::result::Result<Entry, String> {
    let [
        at,
        participant,
        endpoint,
        action,
        message_id,
        transaction_id,
        correlation_id,
        outcome,
        status,
        duration,
        disclosed,
    ] = cells;
    let int = |cell: Cell, name: &str| match cell {
        Some(SqlValue::Integer(i)) => Ok(i),
        other => Err(format!("{name} is {other:?}")),
    };
    let text = |cell: Cell, name: &str| match cell {
        Some(SqlValue::Text(t)) => Ok(t),
        other => Err(format!("{name} is {other:?}")),
    };
    let opt = |cell: Cell, name: &str| match cell {
        None => Ok(None),
        other => text(other, name).map(Some),
    };
    let at_us = int(at, "at_us")?;
    let status = int(status, "status")?;
    let duration = int(duration, "duration_us")?;
    let disclosed = text(disclosed, "disclosed")?;
    Ok(Entry {
        at: from_unix_us(at_us).ok_or_else(|| format!("at_us {at_us} is out of range"))?,
        participant: opt(participant, "participant")?,
        endpoint: text(endpoint, "endpoint")?,
        action: opt(action, "action")?,
        message_id: opt(message_id, "message_id")?,
        transaction_id: opt(transaction_id, "transaction_id")?,
        correlation_id: opt(correlation_id, "correlation_id")?,
        outcome: text(outcome, "outcome")?,
        status: u16::try_from(status)
            .map_err(|_| format!("status {status} is not an HTTP status"))?,
        duration: Duration::from_micros(
            u64::try_from(duration).map_err(|_| format!("duration_us {duration} is negative"))?,
        ),
        disclosed: serde_json::from_str(&disclosed)
            .map_err(|_| format!("disclosed {disclosed:?} is not a JSON list of strings"))?,
    })
}

/// Brings the disclosure index up to date: the references of the entries after the last run
/// become a new run, then the newest runs are merged while [`FANOUT`] of them share a level
/// below [`TOP_LEVEL`]. Each step is one transaction, so a crash leaves the index whole. The
/// writer task calls it as it goes (see the module's documentation); call it to index
/// everything now.
pub async fn index(store: &dyn Store) -> Result<()> {
    index_from(store, &Arc::new(Sql::new(store.dialect())), 1).await
}

/// [`index`] with the statements of `sql`, building a run only when at least `least` entries
/// follow the last one.
async fn index_from(store: &dyn Store, sql: &Arc<Sql>, least: i64) -> Result<()> {
    let plan_sql = sql.clone();
    store
        .read_then_write(
            sql.locked(
                INDEX_LOCK,
                vec![Statement::new(
                    sql.tail.as_str(),
                    vec![],
                    &[ColumnType::Integer; 3],
                )],
            ),
            Box::new(move |reads| {
                let row = reads.last().and_then(|rows| rows.first());
                let [run, indexed, last] = integers(row, "the audit's last run")?;
                if last - indexed < least {
                    return Ok(Vec::new());
                }
                let run = run + 1;
                Ok(vec![
                    statement(&plan_sql.build_run, [run, indexed, last]),
                    statement(&plan_sql.insert_run, [run, last, 0]),
                ])
            }),
        )
        .await?;
    // One merge step a transaction, so that appends are written between them.
    loop {
        let plan_sql = sql.clone();
        let reads = vec![
            Statement::new(sql.merging.as_str(), vec![], &[ColumnType::Integer; 2]),
            Statement::new(sql.merge_bound.as_str(), vec![], &[ColumnType::Text]),
            Statement::new(sql.newest_runs.as_str(), vec![], &[ColumnType::Integer; 3]),
        ];
        let stepped = store
            .read_then_write(
                sql.locked(INDEX_LOCK, reads),
                Box::new(move |reads| {
                    let [merging, bound, newest] = <[Vec<Row>; 3]>::try_from(
                        reads.into_iter().rev().take(3).rev().collect::<Vec<_>>(),
                    )
                    .map_err(|_| StoreError::Decode("the audit's runs were not read".into()))?;
                    let merging: Vec<[i64; 2]> = merging
                        .iter()
                        .map(|row| integers(Some(row), "a run being merged"))
                        .collect::<Result<_>>()?;
                    if let Some([_, into]) = merging.first() {
                        return Ok(merge_step(&plan_sql, *into, &merging, bound));
                    }
                    let newest: Vec<[i64; 3]> = newest
                        .iter()
                        .map(|row| integers(Some(row), "an audit run"))
                        .collect::<Result<_>>()?;
                    Ok(start_merge(&plan_sql, &newest))
                }),
            )
            .await?;
        if stepped.is_empty() {
            return Ok(());
        }
    }
}

/// Starts merging the `newest` runs (newest first) into a run of the next level, if there are
/// [`FANOUT`] of them and they share a level below [`TOP_LEVEL`].
fn start_merge(sql: &Sql, newest: &[[i64; 3]]) -> Vec<Statement> {
    let level = newest.first().map_or(TOP_LEVEL, |[.., level]| *level);
    if newest.len() < FANOUT || level >= TOP_LEVEL || newest.iter().any(|[.., l]| *l != level) {
        return Vec::new();
    }
    let [run, last, _] = newest[0];
    let into = run + 1;
    let mut params = vec![SqlValue::Integer(into)];
    params.extend(newest.iter().map(|[run, ..]| SqlValue::Integer(*run)));
    vec![
        statement(&sql.insert_run, [into, last, level + 1]),
        Statement::new(&sql.start_merge, params, &[]),
    ]
}

/// Moves the rows of the runs being merged into run `into`, up to `bound` (the
/// [`MERGE_CHUNK`]-th reference of the oldest of them), or all of them when it holds fewer;
/// then drops the runs left empty.
fn merge_step(sql: &Sql, into: i64, merging: &[[i64; 2]], bound: Vec<Row>) -> Vec<Statement> {
    // A run emptied by an earlier step is gone, so `merging` may list fewer than FANOUT:
    // repeat the last one.
    let runs: Vec<SqlValue> = (0..FANOUT)
        .map(|i| SqlValue::Integer(merging[i.min(merging.len() - 1)][0]))
        .collect();
    let bound = bound
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten());
    let ([copy, delete], bound) = match bound {
        Some(bound) => (&sql.move_chunk, vec![bound]),
        None => (&sql.move_rest, vec![]),
    };
    let mut copied = vec![SqlValue::Integer(into)];
    copied.extend(runs.iter().cloned());
    copied.extend(bound.iter().cloned());
    let mut deleted = runs;
    deleted.extend(bound);
    vec![
        Statement::new(copy, copied, &[]),
        Statement::new(delete, deleted, &[]),
        statement(&sql.drop_merged, [into]),
    ]
}

/// A statement of `sql` with integer parameters.
fn statement<const N: usize>(sql: &str, params: [i64; N]) -> Statement {
    Statement::new(sql, params.map(SqlValue::Integer).to_vec(), &[])
}

/// The `N` integers of `row`.
fn integers<const N: usize>(row: Option<&Row>, what: &str) -> Result<[i64; N]> {
    let values = row
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Some(SqlValue::Integer(i)) => Some(*i),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()
        })
        .and_then(|values| <[i64; N]>::try_from(values?).ok());
    values.ok_or_else(|| StoreError::Decode(format!("{what} reads as {row:?}")))
}

/// Checks the whole audit log in `store`, a page at a time, against `anchor` too when given
/// (a head an earlier run returned), then the disclosure index against the entries' references
/// up to the first bad entry. Returns the last entry's head, or the first bad entry.
pub async fn verify(store: &dyn Store, anchor: Option<Head>) -> Result<Verdict> {
    let sql = Sql::new(store.dialect());
    let walked = walk(store, &sql, anchor).await?;
    // The entries before the first bad one are as written, so their references are too.
    let checked = match &walked {
        Verdict::Intact(head) => head.seq,
        Verdict::Broken(first) => first.seq - 1,
    };
    let fault = store
        .read(vec![Statement::new(
            sql.index_fault.as_str(),
            vec![SqlValue::Integer(checked)],
            &[ColumnType::Integer],
        )])
        .await?
        .pop()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|row| row.into_iter().next().flatten());
    Ok(match fault {
        Some(SqlValue::Integer(seq)) => Verdict::Broken(Break {
            seq,
            fault: Fault::Index,
        }),
        _ => walked,
    })
}

/// Walks the chain from its first entry: the last entry's head, or the first bad entry.
async fn walk(store: &dyn Store, sql: &Sql, anchor: Option<Head>) -> Result<Verdict> {
    let mut head = Head::EMPTY;
    loop {
        let page = store
            .read(vec![Statement::new(
                sql.page.as_str(),
                vec![SqlValue::Integer(head.seq), SqlValue::Integer(PAGE)],
                &COLUMNS.map(|(_, ty)| ty),
            )])
            .await?
            .pop()
            .unwrap_or_default();
        if page.is_empty() {
            break;
        }
        for row in page {
            let stored = Stored::read(row)?;
            let seq = head.seq + 1;
            let broken = |fault| Ok(Verdict::Broken(Break { seq, fault }));
            if stored.seq != seq {
                return broken(Fault::Missing);
            }
            if stored.prev_hash != head.hash.to_string() {
                return broken(Fault::Unlinked);
            }
            let entry = match stored.entry {
                Ok(entry) => entry,
                Err(why) => return broken(Fault::Unreadable(why)),
            };
            let hash = EntryHash::of(seq, &head.hash, &entry);
            if hash.to_string() != stored.hash {
                return broken(Fault::Edited);
            }
            if anchor.is_some_and(|a| a.seq == seq && a.hash != hash) {
                return broken(Fault::NotAnchored);
            }
            head = Head { seq, hash };
        }
    }
    if anchor.is_some_and(|a| a.seq > head.seq) {
        return Ok(Verdict::Broken(Break {
            seq: head.seq + 1,
            fault: Fault::Truncated,
        }));
    }
    Ok(Verdict::Intact(head))
}

/// The entries that disclosed `subject` (a reference as [`Entry::disclosed`] holds them),
/// oldest first.
pub async fn who_saw(store: &dyn Store, subject: &str) -> Result<Vec<Record>> {
    let sql = Sql::new(store.dialect());
    let rows = store
        .read(vec![Statement::new(
            sql.who_saw,
            vec![SqlValue::Text(subject.to_string())],
            &COLUMNS.map(|(_, ty)| ty),
        )])
        .await?
        .pop()
        .unwrap_or_default();
    rows.into_iter()
        .map(|row| {
            let stored = Stored::read(row)?;
            let seq = stored.seq;
            let damaged = |why: String| {
                StoreError::Decode(format!("audit entry {seq}: {why}; run `spx audit verify`"))
            };
            let hash = |text: &str, name: &str| {
                EntryHash::from_hex(text)
                    .ok_or_else(|| damaged(format!("{name} {text:?} is not a SHA-256 hash")))
            };
            let (prev_hash, hash) = (
                hash(&stored.prev_hash, "prev_hash")?,
                hash(&stored.hash, "hash")?,
            );
            let entry = stored.entry.map_err(damaged)?;
            Ok(Record {
                seq,
                entry,
                prev_hash,
                hash,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Entry {
        Entry {
            at: time::macros::datetime!(2024-01-02 03:04:05.678901 UTC),
            participant: Some("mis.example".into()),
            endpoint: "/registry/sync/search".into(),
            action: Some("search".into()),
            message_id: Some("m-1".into()),
            transaction_id: Some("t-1".into()),
            correlation_id: None,
            outcome: "succ".into(),
            status: 200,
            duration: Duration::from_micros(1234),
            disclosed: vec!["Member:M-000001".into(), "UIN:1234567890".into()],
        }
    }

    /// The documented encoding, computed independently (Python's hashlib, from the doc
    /// comment of `EntryHash::of`): a change here breaks every log written before it.
    #[test]
    fn hashes_follow_the_documented_encoding() {
        let first = EntryHash::of(1, &EntryHash::GENESIS, &example());
        assert_eq!(
            first.to_string(),
            "9849c807a5bda480223f2953603415d06c564786326d09c349213e5efebf20cc"
        );
        let second = Entry {
            participant: None,
            ..example()
        };
        assert_eq!(
            EntryHash::of(2, &first, &second).to_string(),
            "32da9e2ffb7f4f32b773ed9a0997f73e1ac04c649b18d4aa42f19c111ab2e505"
        );
    }

    #[test]
    fn no_two_entries_share_an_encoding() {
        let base = example();
        let hash = |entry: &Entry| EntryHash::of(1, &EntryHash::GENESIS, entry);
        let variants = [
            // A byte moved from one field to the next.
            Entry {
                endpoint: "/registry/sync/searchs".into(),
                action: Some("earch".into()),
                ..base.clone()
            },
            // Absent and empty differ.
            Entry {
                correlation_id: Some(String::new()),
                ..base.clone()
            },
            // Two references are not one with a separator in it.
            Entry {
                disclosed: vec!["Member:M-000001\",\"UIN:1234567890".into()],
                ..base.clone()
            },
            Entry {
                disclosed: vec!["Member:M-000001".into()],
                ..base.clone()
            },
            Entry {
                status: 201,
                ..base.clone()
            },
        ];
        let mut hashes: Vec<String> = variants.iter().map(|e| hash(e).to_string()).collect();
        hashes.push(hash(&base).to_string());
        hashes.push(EntryHash::of(2, &EntryHash::GENESIS, &base).to_string());
        let count = hashes.len();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), count);
    }

    #[test]
    fn entries_are_kept_as_stored() {
        let entry = Entry {
            at: time::macros::datetime!(2024-01-02 03:04:05.678901234 UTC),
            duration: Duration::from_nanos(1_234_567),
            outcome: "rjct\0x".into(),
            disclosed: vec!["UIN:2".into(), "UIN:1".into(), "UIN:2".into()],
            ..example()
        }
        .normalised();
        assert_eq!(entry.at, example().at);
        assert_eq!(entry.duration, Duration::from_micros(1234));
        assert_eq!(entry.outcome, "rjct\u{FFFD}x");
        assert_eq!(entry.disclosed, ["UIN:1", "UIN:2"]);
    }

    #[test]
    fn heads_read_as_written() {
        let head = Head {
            seq: 42,
            hash: EntryHash::of(42, &EntryHash::GENESIS, &example()),
        };
        assert_eq!(head.to_string().parse::<Head>().ok(), Some(head));
        assert_eq!(Head::EMPTY.to_string(), format!("0:{}", "0".repeat(64)));
        let hex = head.hash.to_string();
        for bad in [
            hex.clone(),
            format!("-1:{hex}"),
            format!("x:{hex}"),
            format!("42:{}", &hex[..62]),
            format!("42:{}g", &hex[..63]),
        ] {
            assert!(bad.parse::<Head>().is_err(), "{bad}");
        }
        let shouted = format!("42:{}", hex.to_uppercase());
        assert_eq!(shouted.parse::<Head>().ok(), Some(head));
    }
}
