//! `spx audit verify|who-saw`: check a service's audit chain, and list who was shown a
//! person's records.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use store::Store;
use store::audit::{self, Head, Record, Verdict};
use time::format_description::FormatItem;

/// Times as RFC 3339 in UTC, always to the microsecond (so that table columns line up).
const TIME: &[FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// `spx audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check every entry of the chain and print the count and head hash; name the first bad
    /// entry (and exit non-zero) if there is one.
    Verify {
        /// A head printed by an earlier verify (SEQ:HASH): also notice entries cut off the end
        /// of the log, and a chain recomputed up to that entry.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<Head>,
    },
    /// List every response that disclosed one person's (or record's) data, oldest first.
    WhoSaw {
        /// A UIN, or any reference as the log keeps them: `TYPE:VALUE` (`BRN:…`,
        /// `Member:M-000001`).
        subject: String,
    },
}

/// Runs `action` on the audit log in `store`, printing a table or, with `json`, JSON.
pub async fn run(action: AuditAction, store: &dyn Store, json: bool) -> Result<()> {
    match action {
        AuditAction::Verify { anchor } => verify(store, anchor, json).await,
        AuditAction::WhoSaw { subject } => who_saw(store, &subject, json).await,
    }
}

async fn verify(store: &dyn Store, anchor: Option<Head>, json: bool) -> Result<()> {
    let place = store.describe();
    match audit::verify(store, anchor).await? {
        Verdict::Intact(head) => {
            if json {
                let report = json!({"store": place, "intact": true, "count": head.seq, "head": head.to_string()});
                println!("{report}");
            } else {
                println!("audit chain of {place}: {} entries, intact", head.seq);
                println!("head {head}");
                println!(
                    "(keep it apart from the database: `spx audit verify --anchor {head}` will notice entries cut off the end or a chain rewritten up to here)"
                );
            }
            Ok(())
        }
        Verdict::Broken(bad) => {
            if json {
                let report = json!({
                    "store": place,
                    "intact": false,
                    "seq": bad.seq,
                    "fault": bad.fault.code(),
                    "reason": bad.fault.to_string(),
                });
                println!("{report}");
            }
            let before = match bad.seq - 1 {
                0 => String::new(),
                n => format!("; the {n} entries before it verify"),
            };
            bail!(
                "audit chain of {place}: entry {} is bad: {}{before}",
                bad.seq,
                bad.fault
            )
        }
    }
}

/// A bare value is a UIN; anything with a colon is a reference already.
fn reference(subject: &str) -> String {
    if subject.contains(':') {
        subject.to_string()
    } else {
        format!("UIN:{subject}")
    }
}

async fn who_saw(store: &dyn Store, subject: &str, json: bool) -> Result<()> {
    let subject = reference(subject);
    let records = audit::who_saw(store, &subject).await?;
    if json {
        let entries: Vec<Value> = records.iter().map(record_json).collect::<Result<_>>()?;
        println!("{}", json!({"subject": subject, "entries": entries}));
        return Ok(());
    }
    println!(
        "{:>8}  {:<27} {:<20} {:<10} {:<28} {:>6} {:>9}  transaction_id",
        "seq", "time (UTC)", "participant", "action", "outcome", "status", "ms"
    );
    for record in &records {
        let e = &record.entry;
        println!(
            "{:>8}  {:<27} {:<20} {:<10} {:<28} {:>6} {:>9.1}  {}",
            record.seq,
            e.at.format(TIME)?,
            e.participant.as_deref().unwrap_or("-"),
            e.action.as_deref().unwrap_or("-"),
            e.outcome,
            e.status,
            e.duration.as_secs_f64() * 1000.0,
            e.transaction_id.as_deref().unwrap_or("-"),
        );
    }
    println!(
        "{} disclosure(s) of {subject} in {}",
        records.len(),
        store.describe()
    );
    Ok(())
}

fn record_json(record: &Record) -> Result<Value> {
    let e = &record.entry;
    Ok(json!({
        "seq": record.seq,
        "at": e.at.format(TIME)?,
        "participant": e.participant,
        "endpoint": e.endpoint,
        "action": e.action,
        "message_id": e.message_id,
        "transaction_id": e.transaction_id,
        "correlation_id": e.correlation_id,
        "outcome": e.outcome,
        "status": e.status,
        "duration_us": e.duration.as_micros() as u64,
        "disclosed": e.disclosed,
        "prev_hash": record.prev_hash.to_string(),
        "hash": record.hash.to_string(),
    }))
}
