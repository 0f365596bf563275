//! `spx`: the social protection exchange, one binary.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

mod audit;
mod bench;
mod config;
mod crvs;
mod import;
mod keys;
mod pages;
mod participants;
mod requester;
mod sandbox;
mod scenarios;
mod service;
mod tls;

use config::Config;

/// spx: DCI registries, an SP-MIS and payments, in one binary.
#[derive(Debug, Parser)]
#[command(name = "spx", version, about)]
struct Cli {
    /// Configuration file (default: ./spx.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one registry, the payments service or the SP-MIS, over DCI; or the pages (web).
    Serve {
        /// Which service (social, crvs, ibr, dr, fr, id, pay, mis, web).
        #[arg(long)]
        role: String,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Start every service built so far on loopback ports, with a generated population, and
    /// run the scenarios of the delivery chain.
    Sandbox(sandbox::SandboxArgs),
    /// Run scenarios (UC-01 ...) again against a running sandbox.
    Scenario(scenarios::ScenarioArgs),
    /// Generate a synthetic population as CSV or JSON Lines.
    Generate {
        /// How many living people.
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        /// Seed: the same seed gives the same population.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        /// The generation date (YYYY-MM-DD); default today.
        #[arg(long)]
        today: Option<String>,
    },
    /// Load population files (or a directory of them) into a registry's store; run again, it
    /// finishes an import that was interrupted.
    Import(import::ImportArgs),
    /// Search a registry (sync, or async with a temporary callback receiver) and print the
    /// answer as JSON.
    Search(requester::SearchArgs),
    /// Subscribe to a registry's events and print each notification as a JSON line.
    Subscribe(requester::SubscribeArgs),
    /// Cancel subscriptions by code and print the registry's answer as JSON.
    Unsubscribe(requester::UnsubscribeArgs),
    /// Register a birth, death or marriage at the civil registry and print its report.
    Crvs(crvs::CrvsArgs),
    /// Measure a workload and print its figures beside the same run's reference figures.
    Bench(bench::BenchArgs),
    /// List, rotate or publish a service's signing keys.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
        /// Which service (social, crvs, ibr, dr, fr, id, pay, mis).
        #[arg(long, global = true, default_value = "social")]
        role: String,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Register, list or remove the participants that may call a service.
    Participants {
        #[command(subcommand)]
        action: participants::ParticipantsAction,
        /// Which service (social, crvs, ibr, dr, fr, id, pay).
        #[arg(long, global = true, default_value = "social")]
        role: String,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// List a registry's subscriptions (the active ones unless --all), newest first.
    Subscriptions {
        /// Which registry (social, crvs, ibr, dr, fr, id).
        #[arg(long, default_value = "social")]
        role: String,
        /// Only this subscriber's.
        #[arg(long)]
        sender: Option<String>,
        /// Cancelled subscriptions too.
        #[arg(long)]
        all: bool,
        /// How many at most.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// The integrated beneficiary registry's findings, read from its store.
    Ibr {
        #[command(subcommand)]
        action: IbrAction,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Look at, or send again, the callbacks and notifications of a service's outbox.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
        /// Which service (social, crvs, ibr, dr, fr, id, pay, mis).
        #[arg(long, global = true, default_value = "social")]
        role: String,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Manage the web service's staff users.
    Web {
        #[command(subcommand)]
        action: pages::WebAction,
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Check a service's audit chain, or list who was shown a person's records.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
        /// Which service (social, crvs, ibr, dr, fr, id, pay).
        #[arg(long, global = true, default_value = "social")]
        role: String,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        service: ServiceFlags,
    },
}

#[derive(Debug, Subcommand)]
enum IbrAction {
    /// People (or households) active in more than one programme giving the same benefit
    /// type; the same set a DCI search for `duplicate = true` returns.
    Duplicates,
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// List messages, newest first.
    List {
        /// Only messages in this state: pending, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send dead messages again (all of them, or those given with --id).
    Replay {
        /// Outbox row ids, as `list` shows them.
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
}

/// Flags that override `[service]` settings.
#[derive(Debug, Args, Clone, Default)]
struct ServiceFlags {
    /// Address and port to listen on.
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Directory of the embedded store.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres:// URL, to use PostgreSQL instead of the embedded store.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// This service's participant id.
    #[arg(long, global = true)]
    service_id: Option<String>,
}

impl ServiceFlags {
    fn apply(&self, config: &mut Config) {
        if let Some(listen) = &self.listen {
            config.service.listen = listen.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.service.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.service.database_url = url.clone();
        }
        if let Some(id) = &self.service_id {
            config.service.id = id.clone();
        }
    }
}

fn load_config(cli_config: Option<&PathBuf>, flags: &ServiceFlags) -> Result<Config> {
    let mut config = Config::load(cli_config.map(PathBuf::as_path), std::env::vars())?;
    flags.apply(&mut config);
    config.validate()?;
    Ok(config)
}

/// The store of the service `role`, as configured, with its migrations applied.
async fn open_role_store(
    cli_config: Option<&PathBuf>,
    role: &str,
    flags: &ServiceFlags,
) -> Result<std::sync::Arc<dyn store::Store>> {
    let profile = check_role(role)?;
    let config = load_config(cli_config, flags)?;
    Ok(registry::open_store(profile, &config.store(role)).await?)
}

/// The store whose outbox `spx outbox` looks at: a registry's, the payments service's, or
/// the SP-MIS's (its enrolments and the outbox of its IBR updates).
async fn open_outbox_store(
    cli_config: Option<&PathBuf>,
    role: &str,
    flags: &ServiceFlags,
) -> Result<std::sync::Arc<dyn store::Store>> {
    if role != mis::ROLE {
        return open_role_store(cli_config, role, flags).await;
    }
    let config = load_config(cli_config, flags)?;
    Ok(store::open(&config.store(role), mis::store::MIGRATIONS).await?)
}

/// The engine's profile of the service `role`: a registry's, or the payments service's.
fn check_role(role: &str) -> Result<&'static registry::Profile> {
    match registry::profile(role) {
        Some(profile) => Ok(profile),
        None if role == pay::ROLE => Ok(&pay::PROFILE),
        None => bail!(
            "unknown role '{role}'; this spx serves: {}, {}",
            registry::roles().join(", "),
            pay::ROLE
        ),
    }
}

fn parse_date(text: &str) -> Result<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, format)
        .map_err(|_| anyhow::anyhow!("'{text}' is not a date (YYYY-MM-DD)"))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The sandbox, benchmarks and requester commands print their own account; services log
    // their work.
    let default_level = match cli.command {
        Command::Sandbox(_)
        | Command::Scenario(_)
        | Command::Bench(_)
        | Command::Search(_)
        | Command::Subscribe(_)
        | Command::Unsubscribe(_)
        | Command::Crvs(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { role, service } if role == pay::ROLE => {
            let config = load_config(cli.config.as_ref(), &service)?;
            let (running, pay) = service::start_pay(&config).await?;
            println!(
                "spx: payments service on {} ({}; switch: {})",
                running.base_url,
                running.store,
                pay.switch.describe()
            );
            service::wait_for_shutdown().await;
            Ok(())
        }
        Command::Serve { role, service } if role == mis::ROLE => {
            let config = load_config(cli.config.as_ref(), &service)?;
            let running = service::start_mis(&config).await?;
            println!(
                "spx: SP-MIS on {} ({}; {} programmes)",
                running.base_url,
                running.store,
                running.mis.programmes().len()
            );
            service::wait_for_shutdown().await;
            Ok(())
        }
        Command::Serve { role, service } if role == web::ROLE => {
            let config = load_config(cli.config.as_ref(), &service)?;
            let signer = pages::signer(&config)?;
            let sources = pages::sources(&config, &signer).await?;
            let running = pages::start(&config, sources, signer).await?;
            println!(
                "spx: pages on {} (citizen status {0}/status, staff {0}/login; {})",
                running.base_url,
                running.pages.store().describe()
            );
            service::wait_for_shutdown().await;
            Ok(())
        }
        Command::Web { action, service } => {
            let config = load_config(cli.config.as_ref(), &service)?;
            pages::run(action, &config).await
        }
        Command::Serve { role, service } => {
            let profile = check_role(&role)?;
            let config = load_config(cli.config.as_ref(), &service)?;
            let running = service::start(profile, &config).await?;
            println!(
                "spx: {} registry on {} ({})",
                role, running.base_url, running.store
            );
            service::wait_for_shutdown().await;
            Ok(())
        }
        Command::Sandbox(args) => {
            let config = load_config(cli.config.as_ref(), &ServiceFlags::default())?;
            sandbox::run(args, config).await
        }
        Command::Scenario(args) => scenarios::run(args).await,
        Command::Generate {
            people,
            seed,
            out,
            format,
            today,
        } => {
            let format = match format.as_str() {
                "csv" => synth::Format::Csv,
                "jsonl" => synth::Format::JsonLines,
                other => bail!("format '{other}' is not csv or jsonl"),
            };
            let today = match today {
                Some(text) => parse_date(&text)?,
                None => time::OffsetDateTime::now_utc().date(),
            };
            let started = std::time::Instant::now();
            let data = synth::Dataset::generate(&synth::Config {
                people,
                seed,
                today,
            });
            let paths = data.write(&out, format)?;
            println!(
                "generated {} households, {} persons ({} living) with seed {seed} in {:.2} s:",
                data.population.households.len(),
                data.population.persons.len(),
                people,
                started.elapsed().as_secs_f64()
            );
            for path in paths {
                println!("  {}", path.display());
            }
            Ok(())
        }
        Command::Import(args) => import::run(args, cli.config.as_ref()).await,
        Command::Participants {
            action,
            role,
            service,
        } => {
            let store = open_role_store(cli.config.as_ref(), &role, &service).await?;
            participants::run(action, store.as_ref(), &role).await
        }
        Command::Outbox {
            action,
            role,
            service,
        } => {
            let store = open_outbox_store(cli.config.as_ref(), &role, &service).await?;
            match action {
                OutboxAction::List { state, limit } => {
                    if let Some(state) = &state
                        && ![dispatch::PENDING, dispatch::DELIVERED, dispatch::DEAD]
                            .contains(&state.as_str())
                    {
                        bail!("state '{state}' is not pending, delivered or dead");
                    }
                    let entries = dispatch::list(store.as_ref(), state.as_deref(), limit).await?;
                    println!(
                        "{:>8}  {:<10} {:>8}  {:<40} destination (last error)",
                        "id", "state", "attempts", "message_id"
                    );
                    for e in &entries {
                        println!(
                            "{:>8}  {:<10} {:>8}  {:<40} {}{}",
                            e.id,
                            e.state,
                            e.attempts,
                            e.message_id,
                            e.destination,
                            e.last_error
                                .as_deref()
                                .map(|err| format!(" ({err})"))
                                .unwrap_or_default()
                        );
                    }
                    println!("{} message(s) in {}", entries.len(), store.describe());
                }
                OutboxAction::Replay { ids } => {
                    let only = (!ids.is_empty()).then_some(ids.as_slice());
                    let count = dispatch::replay(store.as_ref(), only).await?;
                    println!(
                        "{count} dead message(s) put back for delivery in {}",
                        store.describe()
                    );
                }
            }
            Ok(())
        }
        Command::Audit {
            action,
            role,
            json,
            service,
        } => {
            let store = open_role_store(cli.config.as_ref(), &role, &service).await?;
            audit::run(action, store.as_ref(), json).await
        }
        Command::Keys {
            action,
            role,
            service,
        } => {
            // The SP-MIS signs with keys of its own too (`spx serve --role mis`).
            if role != mis::ROLE {
                check_role(&role)?;
            }
            let config = load_config(cli.config.as_ref(), &service)?;
            keys::run(action, &config, &role)
        }
        Command::Subscriptions {
            role,
            sender,
            all,
            limit,
            service,
        } => {
            let store = open_role_store(cli.config.as_ref(), &role, &service).await?;
            let listed =
                registry::subscribe::list(store.as_ref(), sender.as_deref(), all, limit).await?;
            for s in &listed {
                println!(
                    "{}  {:<11} {:<20} {} {}/{} {:<9} -> {}  where {}",
                    s.created_at,
                    s.status,
                    s.sender_id,
                    s.code,
                    s.reg_event_type,
                    s.record_type,
                    s.frequency,
                    s.notify_url,
                    s.filter
                );
            }
            println!("{} subscription(s) in {}", listed.len(), store.describe());
            Ok(())
        }
        Command::Ibr {
            action: IbrAction::Duplicates,
            json,
            service,
        } => {
            let role = registry::ibr::PROFILE.role;
            let store = open_role_store(cli.config.as_ref(), role, &service).await?;
            let found = registry::ibr::duplicates(store.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
                return Ok(());
            }
            for d in &found {
                let kind = dci::directory::BENEFIT_TYPE
                    .iter()
                    .find(|(code, _)| *code == d.benefit_type)
                    .and_then(|(_, labels)| labels.first())
                    .unwrap_or(&"?");
                println!(
                    "{:<12} {:<4} {:<8} {}",
                    d.beneficiary_id,
                    d.region_code.as_deref().unwrap_or("-"),
                    kind,
                    d.programmes.join(" + ")
                );
            }
            println!(
                "{} beneficiaries receive the same benefit type from more than one programme ({})",
                found.len(),
                store.describe()
            );
            Ok(())
        }
        Command::Bench(args) => {
            let config = load_config(cli.config.as_ref(), &ServiceFlags::default())?;
            bench::run(args, config).await
        }
        Command::Search(args) => requester::search(args).await,
        Command::Subscribe(args) => requester::subscribe(args).await,
        Command::Unsubscribe(args) => requester::unsubscribe(args).await,
        Command::Crvs(args) => crvs::run(args).await,
    }
}
