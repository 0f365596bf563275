//! spx's one integration-test binary.
//!
//! Behaviour that touches storage runs twice, on SQLite and on PostgreSQL. PostgreSQL is found
//! at `SPX_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); each
//! test gets a fresh database, dropped afterwards. Without a reachable server those tests are
//! reported as ignored and a banner says so, unless `SPX_REQUIRE_POSTGRES=1` (as in CI), which
//! turns a missing server into a failure.

use libtest_mimic::{Arguments, Trial};

mod access;
mod browser;
mod cli;
mod crvs;
mod dr;
mod exchange;
mod fr;
mod ibr;
mod idreg;
mod import;
mod metrics;
mod mis;
mod mis_cycles;
mod mis_events;
mod pay;
mod protocol;
mod scenarios;
mod search;
mod signatures;
mod storage;
mod subscription;
mod support;
mod web;

use support::Backend;

/// A test that runs against one backend.
type BackendTest = fn(Backend) -> anyhow::Result<()>;

/// A test that needs no store of its own choosing.
type PlainTest = fn() -> anyhow::Result<()>;

fn main() {
    let args = Arguments::from_args();
    let postgres = support::postgres_availability();
    match &postgres {
        Ok(url) => println!("PostgreSQL suite: running against {url}"),
        Err(reason) if support::postgres_required() => {
            eprintln!("PostgreSQL suite: REQUIRED but unavailable: {reason}");
            std::process::exit(1);
        }
        Err(reason) => {
            println!("PostgreSQL suite: SKIPPED ({reason}); set SPX_TEST_DATABASE_URL to run it")
        }
    }
    let mut trials = Vec::new();
    let backend_tests: Vec<(&str, BackendTest)> = [
        storage::TESTS,
        search::TESTS,
        exchange::TESTS,
        subscription::TESTS,
        crvs::TESTS,
        access::TESTS,
        dr::TESTS,
        fr::TESTS,
        ibr::TESTS,
        idreg::TESTS,
        import::TESTS,
        mis::TESTS,
        mis_cycles::TESTS,
        mis_events::TESTS,
        pay::TESTS,
        scenarios::TESTS,
        web::TESTS,
        metrics::TESTS,
    ]
    .concat();
    for (name, test) in backend_tests {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            support::run(Backend::Sqlite, test)
        }));
        let pg = Trial::test(format!("postgres::{name}"), move || {
            support::run(Backend::Postgres, test)
        });
        trials.push(pg.with_ignored_flag(postgres.is_err()));
    }
    let plain: Vec<(&str, PlainTest)> = [
        protocol::TESTS,
        signatures::TESTS,
        cli::TESTS,
        pay::PLAIN,
        mis_events::PLAIN,
        web::PLAIN,
    ]
    .concat();
    for (name, test) in storage::POSTGRES {
        let pg = Trial::test(name.to_string(), move || {
            test().map_err(|e| format!("{e:#}").into())
        });
        trials.push(pg.with_ignored_flag(postgres.is_err()));
    }
    for (name, test) in plain {
        trials.push(Trial::test(name.to_string(), move || {
            test().map_err(|e| format!("{e:#}").into())
        }));
    }
    // The browser test: ignored where Chromium is not installed, unless CI requires it.
    let browser_ignored = !browser::available() && !browser::required();
    if browser_ignored {
        println!(
            "browser tests: SKIPPED (no {} or {}); apt-get install chromium chromium-driver to run them",
            browser::CHROMIUM,
            browser::CHROMEDRIVER
        );
    }
    for (name, test) in browser::TESTS {
        let trial = Trial::test(name.to_string(), move || {
            test().map_err(|e| format!("{e:#}").into())
        });
        trials.push(trial.with_ignored_flag(browser_ignored));
    }
    libtest_mimic::run(&args, trials).exit();
}
