//! `spx import`: a registry's population files loaded with a progress bar (rows per second,
//! time left), the refused rows written to an error file, and an interrupted import finished
//! by running it again.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use registry::import::{ImportFiles, ImportOptions, Progress};

use crate::ServiceFlags;

/// Load population files (or a directory of them) into a registry's store.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which registry (social, crvs, ibr, dr, fr, id).
    #[arg(long)]
    role: String,
    #[command(flatten)]
    service: ServiceFlags,
    /// Write every refused row here, as CSV: file, line, field, reason.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Rows per transaction (each one commits a checkpoint an interrupted import resumes
    /// from).
    #[arg(long, default_value_t = registry::import::BATCH)]
    batch: usize,
    /// locations.json, programmes.json, households, persons, marriages, disabilities,
    /// farmers, parcels, enrolments, benefits (.csv|.jsonl), or a directory with them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// A progress bar on standard error (drawn only on a terminal), and a line for each stage
/// done: its rows and time.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    /// The rows an earlier run had loaded, when this one resumes it.
    before: OnceLock<u64>,
    /// The stage under way: its name, start, and the rows loaded before it.
    stage: Mutex<Option<(String, Instant, u64)>>,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} {wide_bar} {percent:>3}% {elapsed:>4} ETA {eta:>4}  {msg}",
            )
            .expect("a valid template"),
        );
        Bar {
            bar,
            started: Instant::now(),
            before: OnceLock::new(),
            stage: Mutex::new(None),
        }
    }

    /// Prints the stage under way as done, with `rows` rows loaded in all (0: not known).
    fn end_stage(&self, rows: u64) {
        let ended = self.stage.lock().expect("stage lock").take();
        if let Some((what, began, before)) = ended {
            let seconds = began.elapsed().as_secs_f64();
            let loaded = match rows.saturating_sub(before) {
                0 => String::new(),
                n => format!("{n} rows in "),
            };
            self.bar
                .suspend(|| eprintln!("{what:>14}: {loaded}{seconds:.1} s"));
        }
    }
}

impl Progress for Bar {
    fn stage(&self, what: &str, bytes: u64, rows: u64) {
        self.end_stage(rows);
        *self.stage.lock().expect("stage lock") = Some((what.to_string(), Instant::now(), rows));
        self.bar.set_prefix(what.to_string());
        self.bar.set_length(bytes.max(1));
        self.bar.set_position(0);
        self.bar.reset_eta();
    }

    fn advance(&self, read: u64, rows: u64) {
        self.bar.set_position(read);
        let loaded = rows - *self.before.get_or_init(|| rows);
        let rate = loaded as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{rows} rows loaded, {rate:.0} rows/s"));
    }
}

/// Runs `spx import`.
pub async fn run(args: ImportArgs, config_file: Option<&PathBuf>) -> Result<()> {
    let profile = crate::check_role(&args.role)?;
    let config = crate::load_config(config_file, &args.service)?;
    let store = registry::open_store_for_import(profile, &config.store(&args.role)).await?;
    let files = ImportFiles::classify(&args.files)?;
    let bar = Bar::new();
    let options = ImportOptions {
        batch: args.batch,
        errors: args.errors.clone(),
        progress: &bar,
    };
    let started = Instant::now();
    let report = registry::import::import(&args.role, store.as_ref(), &files, &options).await;
    bar.end_stage(0);
    bar.bar.finish_and_clear();
    let report = report?;
    println!(
        "imported into {}: {} in {:.1} s ({} rows rejected)",
        store.describe(),
        report.loaded(&args.role),
        started.elapsed().as_secs_f64(),
        report.rejected_count
    );
    for line in &report.rejected {
        println!("  rejected {line}");
    }
    if report.rejected_count > report.rejected.len() as u64 {
        println!(
            "  ... and {} more",
            report.rejected_count - report.rejected.len() as u64
        );
    }
    if let Some(errors) = &args.errors {
        println!("  every rejected row: {}", errors.display());
    }
    Ok(())
}
