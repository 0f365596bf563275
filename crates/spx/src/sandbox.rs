//! `spx sandbox`: every service built so far (the social, civil, beneficiary, disability,
//! farmer and identity registries, and payments), on loopback, loaded with one generated
//! population, and a short demonstration of what each one answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use client::{
    Client, ClientError, Receiver, ReceiverConfig, RegistryQuery, SearchItem, SubscribeItem,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dci::disburse::{DisburseRequest, Disbursement};
use dci::mapper::{Link, MapperRequest, MapperRequestItem, Resolve};

use crate::config::Config;
use crate::service;

/// Options of `spx sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Living people in the generated population.
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// Seed of the population.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the sandbox keeps its stores and population files.
    #[arg(long, default_value = "spx-sandbox")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub at: Addresses,
    /// Run the scenarios, then exit: non-zero when one of them fails (instead of serving until
    /// Ctrl-C).
    #[arg(long, alias = "exit")]
    pub run_scenarios_and_exit: bool,
}

/// Where the sandbox's services listen.
#[derive(Debug, Args)]
pub struct Addresses {
    /// Address of the social registry.
    #[arg(long, default_value = "127.0.0.1:8401")]
    pub listen: String,
    /// Address of the civil registry (CRVS).
    #[arg(long, default_value = "127.0.0.1:8402")]
    pub crvs_listen: String,
    /// Address of the integrated beneficiary registry (IBR).
    #[arg(long, default_value = "127.0.0.1:8405")]
    pub ibr_listen: String,
    /// Address of the disability registry (DR).
    #[arg(long, default_value = "127.0.0.1:8403")]
    pub dr_listen: String,
    /// Address of the farmer registry (FR).
    #[arg(long, default_value = "127.0.0.1:8404")]
    pub fr_listen: String,
    /// Address of the foundational identity registry (ID).
    #[arg(long, default_value = "127.0.0.1:8406")]
    pub id_listen: String,
    /// Address of the payments service (G2P Connect mapper and disbursement).
    #[arg(long, default_value = "127.0.0.1:8407")]
    pub pay_listen: String,
    /// Address of the SP-MIS (its API, and the notifications of the civil registry).
    #[arg(long, default_value = "127.0.0.1:8408")]
    pub mis_listen: String,
    /// Address of the scenario endpoint (`spx scenario` runs scenarios again there).
    #[arg(long, default_value = "127.0.0.1:8409")]
    pub scenarios_listen: String,
    /// Address of the pages: the coverage dashboard and the citizen status page.
    #[arg(long, default_value = "127.0.0.1:8410")]
    pub web_listen: String,
}

/// What a sandbox data directory holds, to reuse it when the population is the same.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    people: usize,
    seed: u64,
    today: String,
    store: String,
    registries: Vec<String>,
}

impl Marker {
    const FILE: &str = "sandbox.json";

    /// The marker of the sandbox in `dir`, if there is one.
    fn read(dir: &Path) -> Result<Option<Marker>> {
        let Ok(text) = std::fs::read_to_string(dir.join(Self::FILE)) else {
            return Ok(None);
        };
        let marker = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a sandbox marker", dir.join(Self::FILE).display())
        })?;
        Ok(Some(marker))
    }
}

pub(crate) const SENDER: &str = "sandbox.spx.local";

/// Runs the sandbox.
pub async fn run(args: SandboxArgs, mut config: Config) -> Result<()> {
    let profile = &registry::social::PROFILE;
    config.service.data_dir = args.data_dir.clone();
    config.service.listen = args.at.listen.clone();
    config.validate()?;
    let listening = |listen: &str| -> Result<Config> {
        let mut other = config.clone();
        other.service.listen = listen.to_string();
        other.validate()?;
        Ok(other)
    };
    let crvs_config = listening(&args.at.crvs_listen)?;
    let ibr_config = listening(&args.at.ibr_listen)?;
    let dr_config = listening(&args.at.dr_listen)?;
    let fr_config = listening(&args.at.fr_listen)?;
    // The IBR admits the payments service by its address (its keys): known before it starts.
    let mut pay_config = listening(&with_a_port(&args.at.pay_listen)?)?;
    // The civil registry admits the ID service by its address: known before it starts.
    let mut id_config = listening(&with_a_port(&args.at.id_listen)?)?;
    // Each registry admits the SP-MIS by its address (its keys and callbacks).
    let mut mis_config = listening(&with_a_port(&args.at.mis_listen)?)?;
    let today = time::OffsetDateTime::now_utc().date();
    let marker = Marker {
        people: args.people,
        seed: args.seed,
        today: today.to_string(),
        store: config.service.database_url.clone(),
        registries: registry::roles().iter().map(|r| r.to_string()).collect(),
    };
    let marker_path = args.data_dir.join(Marker::FILE);
    let reuse = Marker::read(&args.data_dir)
        .ok()
        .flatten()
        .is_some_and(|old| old == marker);
    let started = Instant::now();
    let data = synth::Dataset::generate(&synth::Config {
        people: args.people,
        seed: args.seed,
        today,
    });
    println!(
        "[sandbox] generated {} people and what each registry holds of them (seed {}) in {:.1} s",
        args.people,
        args.seed,
        started.elapsed().as_secs_f64()
    );
    if !reuse {
        prepare(&args, &config, &data).await?;
        std::fs::write(&marker_path, serde_json::to_string_pretty(&marker)?)?;
    } else {
        println!(
            "[sandbox] reusing the population in {} (seed {}, {} people)",
            args.data_dir.display(),
            args.seed,
            args.people
        );
    }
    let running = start_registry(profile, &config, "social registry", &[]).await?;
    let base = running.base_url.clone();
    println!(
        "[sandbox] responses, callbacks and notifications are signed (keys: {base}/.well-known/jwks.json)"
    );
    let civil = start_registry(
        &registry::crvs::PROFILE,
        &crvs_config,
        "civil registry (CRVS)",
        &[],
    )
    .await?;
    let crvs_base = civil.base_url.clone();
    let beneficiaries = start_registry(
        &registry::ibr::PROFILE,
        &ibr_config,
        "integrated beneficiary registry (IBR)",
        &[
            "/registry/sync/enrolled",
            "/registry/sync/enrollment/updates",
        ],
    )
    .await?;
    let ibr_base = beneficiaries.base_url.clone();
    let disability = start_registry(
        &registry::dr::PROFILE,
        &dr_config,
        "disability registry (DR)",
        &["/registry/sync/disabled"],
    )
    .await?;
    let dr_base = disability.base_url.clone();
    let farmer = start_registry(
        &registry::fr::PROFILE,
        &fr_config,
        "farmer registry (FR)",
        &[],
    )
    .await?;
    let fr_base = farmer.base_url.clone();
    // The ID registry learns of deaths from the civil registry, as one of its participants.
    id_config.id.crvs_url = crvs_base.clone();
    id_config.id.crvs_id = config.service_id("crvs");
    id_config.id.crvs_client_secret = admit_id_service(&civil, &id_config).await?;
    let mut identity = service::start(&registry::id::PROFILE, &id_config).await?;
    let id_base = identity.base_url.clone();
    println!(
        "[sandbox] identity registry (ID): {id_base}/registry/sync/search, deaths from the CRVS notified to {id_base}/registry/notify ({})",
        identity.store
    );
    // The payments service publishes the receipts of its payments to the IBR.
    pay_config.pay.ibr_url = ibr_base.clone();
    pay_config.pay.ibr_id = config.service_id("ibr");
    pay_config.pay.ibr_client_secret = admit_pay_service(&beneficiaries, &pay_config).await?;
    let (paying, pay) = service::start_pay(&pay_config).await?;
    let pay_base = paying.base_url.clone();
    println!(
        "[sandbox] payments (G2P Connect): {pay_base}/mapper/sync/resolve, {pay_base}/disburse/sync/disburse, {pay_base}/disburse/reconciliation ({}; switch: {})",
        paying.store,
        pay.switch.describe()
    );
    let secret = admit_participants(
        &[
            &running,
            &civil,
            &beneficiaries,
            &disability,
            &farmer,
            &identity,
            &paying,
        ],
        &args.data_dir,
    )
    .await?;
    admit_verifier(&identity, &secret).await?;
    // The SP-MIS asks every registry, pays through the payments service, and subscribes to the
    // civil registry's deaths and births.
    let mis_secret = admit_mis_service(
        &[
            &running,
            &civil,
            &beneficiaries,
            &disability,
            &farmer,
            &identity,
            &paying,
        ],
        &mis_config,
    )
    .await?;
    mis_config.mis = crate::config::Mis {
        crvs_url: crvs_base.clone(),
        crvs_id: config.service_id("crvs"),
        crvs_client_secret: mis_secret.clone(),
        id_url: id_base.clone(),
        id_id: config.service_id("id"),
        id_client_secret: mis_secret.clone(),
        social_url: base.clone(),
        social_id: config.service_id("social"),
        social_client_secret: mis_secret.clone(),
        ibr_url: ibr_base.clone(),
        ibr_id: config.service_id("ibr"),
        ibr_client_secret: mis_secret.clone(),
        fr_url: fr_base.clone(),
        fr_id: config.service_id("fr"),
        fr_client_secret: mis_secret.clone(),
        dr_url: dr_base.clone(),
        dr_id: config.service_id("dr"),
        dr_client_secret: mis_secret.clone(),
        pay_url: pay_base.clone(),
        pay_id: config.service_id(pay::ROLE),
        pay_client_secret: mis_secret,
        ..crate::config::Mis::default()
    };
    let spmis = service::start_mis(&mis_config).await?;
    println!(
        "[sandbox] SP-MIS ({}): {}/mis/programmes, /mis/applications; deaths and births from the CRVS, certifications from the DR notified to {}/registry/notify ({})",
        mis_config.service_id(mis::ROLE),
        spmis.base_url,
        spmis.base_url,
        spmis.store
    );
    // The pages ask the IBR and the ID registry over DCI, and read the registries' stores.
    let (pages, password) = crate::pages::start_in_sandbox(
        &listening(&with_a_port(&args.at.web_listen)?)?,
        &[
            ("social", &running),
            ("crvs", &civil),
            ("ibr", &beneficiaries),
            ("dr", &disability),
            ("fr", &farmer),
            ("id", &identity),
        ],
    )
    .await?;
    println!(
        "[sandbox] pages: citizen status {0}/status, coverage dashboard {0}/dashboard, programmes {0}/programmes (sign in as admin, password {password})",
        pages.base_url
    );
    if let Some(link) = identity.link.take() {
        tokio::time::timeout(SUBSCRIPTION_WAIT, link)
            .await
            .context("the ID registry did not subscribe to the CRVS's deaths in time")??;
        println!(
            "[sandbox] the ID registry ({}) holds its subscription to the CRVS's DEATH_REGISTERED events",
            id_config.service_id("id")
        );
    }
    let client = |base: &str, role: &str| {
        Client::new(base, SENDER, Some(&config.service_id(role))).with_credentials(SENDER, &secret)
    };
    demonstrate(&client(&base, "social"), &config).await?;
    demonstrate_crvs(&client(&crvs_base, "crvs"), &config).await?;
    demonstrate_ibr(&client(&ibr_base, "ibr"), &config).await?;
    demonstrate_dr(&client(&dr_base, "dr"), &config).await?;
    demonstrate_fr(&client(&fr_base, "fr")).await?;
    demonstrate_id(
        &client(&id_base, "id"),
        &client(&crvs_base, "crvs"),
        &config,
        &secret,
    )
    .await?;
    demonstrate_pay(
        &client(&pay_base, pay::ROLE),
        &client(&ibr_base, "ibr"),
        &pay,
    )
    .await?;
    // The scenarios check what the registries hold as the sandbox's own participant.
    let registries = mis::Registries {
        crvs: client(&crvs_base, "crvs"),
        id: client(&id_base, "id"),
        social: client(&base, "social"),
        ibr: client(&ibr_base, "ibr"),
        fr: client(&fr_base, "fr"),
        dr: client(&dr_base, "dr"),
        pay: client(&pay_base, pay::ROLE),
    };
    let stage = Arc::new(crate::scenarios::Stage::new(
        scenario::Truth::new(data),
        spmis.mis,
        registries,
    ));
    let (outcomes, _) = stage
        .play(&scenario::all().iter().collect::<Vec<_>>())
        .await?;
    if args.run_scenarios_and_exit {
        return crate::scenarios::passed(&outcomes);
    }
    let scenarios = stage.serve(&args.at.scenarios_listen).await?;
    println!(
        "[sandbox] run a scenario again: spx scenario UC-01 --url {scenarios} (POST {scenarios}/scenarios/UC-01)"
    );
    println!(
        "[sandbox] serving; try the requests of README.md against {base}, {crvs_base}, {ibr_base}, {dr_base}, {fr_base}, {id_base}, {pay_base} and {}. Ctrl-C stops.",
        spmis.base_url
    );
    service::wait_for_shutdown().await;
    Ok(())
}

/// Starts the registry of `profile` and says where it answers: its search, and `also` (its
/// API's own endpoints).
async fn start_registry(
    profile: &'static registry::Profile,
    config: &Config,
    name: &str,
    also: &[&str],
) -> Result<service::Running> {
    let running = service::start(profile, config).await?;
    let also: String = also.iter().map(|path| format!(", {path}")).collect();
    println!(
        "[sandbox] {name}: {}/registry/sync/search{also} ({})",
        running.base_url, running.store
    );
    Ok(running)
}

/// The participants every registry of the sandbox admits: the sandbox's own demonstration
/// client and `cli.spx.local` (the README's `spx search` and curl requests), with one new
/// client secret, printed and written to `client-secret.txt`. Both may send unsigned
/// messages (curl cannot sign), which every registry logs; anyone else is refused.
async fn admit_participants(services: &[&service::Running], data_dir: &Path) -> Result<String> {
    let secret = trust::secret::generate()?;
    let hash = trust::secret::hash(&secret)?;
    for running in services {
        let store = running.registry.store.as_ref();
        for sender_id in [SENDER, "cli.spx.local"] {
            let participant = registry::participants::Participant {
                sender_id: sender_id.into(),
                name: Some("spx sandbox".into()),
                allow_unsigned: true,
                callback_prefixes: vec!["http://127.0.0.1:".into()],
                scopes: registry::participants::scope::ALL
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                ..Default::default()
            };
            registry::participants::remove(store, sender_id).await?;
            registry::participants::add(store, &participant, &hash).await?;
        }
        running.registry.participants.reload().await?;
    }
    let file = data_dir.join("client-secret.txt");
    std::fs::write(&file, format!("{secret}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!(
        "[sandbox] participants {SENDER} and cli.spx.local may call every registry with a token (unsigned messages allowed and logged); client secret in {}:",
        file.display()
    );
    println!("  export SPX_CLIENT_SECRET={secret}");
    Ok(secret)
}

/// The ID service as a participant of the civil registry `civil`: signed with the keys it
/// publishes at its own address, its callbacks there, allowed the deceased's identifiers and
/// date of death only; with a new client secret, returned.
async fn admit_id_service(civil: &service::Running, id_config: &Config) -> Result<String> {
    let id_base = format!("http://{}", id_config.service.listen);
    let participant = registry::participants::Participant {
        sender_id: id_config.service_id("id"),
        name: Some("spx sandbox identity registry".into()),
        jwks_url: Some(format!("{id_base}/.well-known/jwks.json")),
        callback_prefixes: vec![format!("{id_base}/")],
        scopes: registry::participants::scope::DEFAULT
            .iter()
            .map(|s| s.to_string())
            .collect(),
        access: trust::access::AccessRules {
            record_types: Some(vec!["Person".into()]),
            fields: Some(vec![
                "identifier".into(),
                "death_date".into(),
                "is_deceased".into(),
            ]),
            ..Default::default()
        },
        ..Default::default()
    };
    let secret = trust::secret::generate()?;
    admit(civil, &participant, &secret).await?;
    Ok(secret)
}

/// Registers `participant` at `service` (replacing it) with `secret`.
pub(crate) async fn admit(
    service: &service::Running,
    participant: &registry::participants::Participant,
    secret: &str,
) -> Result<()> {
    let store = service.registry.store.as_ref();
    registry::participants::remove(store, &participant.sender_id).await?;
    registry::participants::add(store, participant, &trust::secret::hash(secret)?).await?;
    service.registry.participants.reload().await?;
    Ok(())
}

/// The SP-MIS as a participant of each of `services`: signed with the keys it publishes at its
/// own address, its callbacks (notifications) there, with every scope (it searches,
/// subscribes, publishes to the IBR and pays); with one new client secret, returned.
async fn admit_mis_service(services: &[&service::Running], mis_config: &Config) -> Result<String> {
    let secret = trust::secret::generate()?;
    let mis_base = format!("http://{}", mis_config.service.listen);
    let participant = registry::participants::Participant {
        sender_id: mis_config.service_id(mis::ROLE),
        name: Some("spx sandbox SP-MIS".into()),
        jwks_url: Some(format!("{mis_base}/.well-known/jwks.json")),
        callback_prefixes: vec![format!("{mis_base}/")],
        scopes: registry::participants::scope::ALL
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    };
    for service in services {
        admit(service, &participant, &secret).await?;
    }
    Ok(secret)
}

/// The payments service as a participant of the IBR `beneficiaries`: signed with the keys it
/// publishes at its own address, allowed to publish (receipts); with a new client secret,
/// returned.
pub(crate) async fn admit_pay_service(
    beneficiaries: &service::Running,
    pay_config: &Config,
) -> Result<String> {
    let secret = trust::secret::generate()?;
    let participant = registry::participants::Participant {
        sender_id: pay_config.service_id(pay::ROLE),
        name: Some("spx sandbox payments service".into()),
        jwks_url: Some(format!(
            "http://{}/.well-known/jwks.json",
            pay_config.service.listen
        )),
        scopes: vec![registry::participants::scope::PUBLISH.into()],
        ..Default::default()
    };
    admit(beneficiaries, &participant, &secret).await?;
    Ok(secret)
}

/// A verify-only participant of the ID registry, `verifier.spx.local` (the sandbox's client
/// secret): it sees identifiers only and may match names and birth dates, so a verification
/// tells it yes or no and nothing else.
async fn admit_verifier(identity: &service::Running, secret: &str) -> Result<()> {
    let participant = registry::participants::Participant {
        sender_id: VERIFIER.into(),
        name: Some("verify-only demonstration".into()),
        allow_unsigned: true,
        scopes: vec![registry::participants::scope::SEARCH.into()],
        access: trust::access::AccessRules {
            fields: Some(vec!["identifier".into()]),
            match_fields: Some(vec!["name".into(), "birth_date".into()]),
            query_types: Some(vec!["expression".into(), "predicate".into()]),
            ..Default::default()
        },
        ..Default::default()
    };
    admit(identity, &participant, secret).await?;
    println!(
        "[sandbox] participant {VERIFIER} may verify identities at the ID registry (sees identifiers only; matches names and birth dates)"
    );
    Ok(())
}

const VERIFIER: &str = "verifier.spx.local";

/// `listen`, with a free port chosen now when it asks for any (port 0).
pub(crate) fn with_a_port(listen: &str) -> Result<String> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("'{listen}' is not an address:port"))?;
    if addr.port() != 0 {
        return Ok(listen.to_string());
    }
    Ok(std::net::TcpListener::bind(addr)?.local_addr()?.to_string())
}

/// The registries loaded beside the social registry, with the name the sandbox gives them.
const OTHERS: [(&registry::Profile, &str); 5] = [
    (&registry::crvs::PROFILE, "civil registry"),
    (&registry::ibr::PROFILE, "integrated beneficiary registry"),
    (&registry::dr::PROFILE, "disability registry"),
    (&registry::fr::PROFILE, "farmer registry"),
    (&registry::id::PROFILE, "identity registry"),
];

/// Generates the population, writes its files and loads them into fresh stores.
async fn prepare(args: &SandboxArgs, config: &Config, data: &synth::Dataset) -> Result<()> {
    let profile = &registry::social::PROFILE;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    remove_sqlite(&config.store(profile.role).sqlite_path)?;
    remove_sqlite(&config.store("mis").sqlite_path)?;
    for (other, _) in OTHERS {
        remove_sqlite(&config.store(other.role).sqlite_path)?;
    }
    if !config.service.database_url.is_empty() {
        anyhow::bail!(
            "the sandbox loads a fresh population and needs an empty store: use the embedded store, or point service.database_url at an empty database and import with `spx import`"
        );
    }
    let store = registry::open_store(profile, &config.store(profile.role)).await?;
    let mut stores = Vec::with_capacity(OTHERS.len());
    for (other, _) in OTHERS {
        stores.push((
            other,
            registry::open_store(other, &config.store(other.role)).await?,
        ));
    }
    let others: Vec<(&'static registry::Profile, &dyn store::Store)> = stores
        .iter()
        .map(|(profile, store)| (*profile, store.as_ref()))
        .collect();
    let done = service::populate(
        store.as_ref(),
        &others,
        |dir| data.write(dir, synth::Format::Csv),
        &args.data_dir,
    )
    .await?;
    println!(
        "[sandbox] wrote {} people in {} households (seed {}) in {:.1} s -> {}",
        args.people,
        done.households,
        args.seed,
        done.generated_in.as_secs_f64(),
        done.files.display()
    );
    println!(
        "[sandbox] loaded the social registry: {} households, {} members in {:.1} s",
        done.households,
        done.persons,
        done.loaded_in.as_secs_f64()
    );
    for (profile, report, took) in &done.others {
        let name = OTHERS
            .iter()
            .find(|(other, _)| other.role == profile.role)
            .map_or(profile.role, |(_, name)| name);
        println!(
            "[sandbox] loaded the {name}: {} in {:.1} s",
            report.loaded(profile.role),
            took.as_secs_f64()
        );
    }
    Ok(())
}

fn remove_sqlite(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove {}", file.display()))?;
        }
    }
    Ok(())
}

/// Runs one request of each kind against the registry and prints what came back.
async fn demonstrate(client: &Client, config: &Config) -> Result<()> {
    let search = |item: SearchItem| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let answer = client.sync_search(vec![item]).await?;
            anyhow::Ok((serde_json::to_value(answer)?, started.elapsed()))
        }
    };
    let poorest = json!({"$and": [{"poverty_score": {"$lte": 20}}, {"group_size": {"$gte": 5}}, {"group_size": {"$lte": 7}}]});
    let (body, took) = search(
        SearchItem::by_expression("Group", poorest)
            .sort("poverty_score", false)
            .page(1, 1),
    )
    .await?;
    let item = &body["message"]["search_response"][0];
    let total = item["pagination"]["total_count"]
        .as_i64()
        .unwrap_or_default();
    let uin = item["data"]["reg_records"][0]["group_head_info"]["member_identifier"][0]["identifier_value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!(
        "[sandbox] expression search poverty_score <= 20, household size 5-7: HTTP {OK}, {total} households, {:.1} ms",
        ms(took)
    );
    let household_id = item["data"]["reg_records"][0]["group_identifier"][0]["identifier_value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let by_uin = || SearchItem::by_identifier("Member", "UIN", uin.as_str()).reg_type(SOCIAL);
    let (body, took) = search(by_uin()).await?;
    let person =
        &body["message"]["search_response"][0]["data"]["reg_records"][0]["demographic_info"];
    println!(
        "[sandbox] identifier search UIN {uin}: HTTP {OK}, {} {} born {}, {:.1} ms",
        person["name"]["given_name"].as_str().unwrap_or("?"),
        person["name"]["surname"].as_str().unwrap_or("?"),
        person["birth_date"].as_str().unwrap_or("?"),
        ms(took)
    );
    let widows = json!([
        {"seq_num": 1, "expression1": {"attribute_name": "sex", "operator": "eq", "attribute_value": "female"},
         "condition": "and", "expression2": {"attribute_name": "marital_status", "operator": "eq", "attribute_value": "W"}},
        {"seq_num": 2, "expression1": {"attribute_name": "poverty_score", "operator": "le", "attribute_value": 25}}]);
    let (body, took) = search(SearchItem::by_predicates("Member", widows).page(10, 1)).await?;
    println!(
        "[sandbox] predicate search for poor widows: HTTP {OK}, {} women, {:.1} ms",
        body["message"]["search_response"][0]["pagination"]["total_count"],
        ms(took)
    );
    let mut bad = client.envelope(
        dci::Action::Search,
        1,
        None,
        Client::search_request(vec![by_uin()], None),
    );
    bad.header.message_ts = "yesterday".into();
    match client.send::<Value>("/registry/sync/search", &bad).await {
        Err(ClientError::Http { status, code, .. }) => println!(
            "[sandbox] a bad message_ts is refused: HTTP {}, {}",
            reqwest::StatusCode::from_u16(status)?,
            code.as_deref().unwrap_or("?")
        ),
        Ok(_) => println!("[sandbox] a bad message_ts was accepted: HTTP {OK}"),
        Err(other) => return Err(other.into()),
    }
    notify_a_new_member(
        client.base_url(),
        client,
        &household_id,
        &config.service_id("social"),
    )
    .await
}

/// How long the demonstrations wait for a callback or a notification.
const SUBSCRIPTION_WAIT: Duration = Duration::from_secs(10);

/// Cancels the subscription `code` and waits for the registry's answer at `receiver`.
async fn unsubscribe(
    client: &Client,
    code: String,
    receiver: &Receiver,
) -> Result<client::Outcome<dci::subscribe::UnSubscribeResponse>> {
    Ok(client
        .unsubscribe_and_wait(
            vec![code],
            receiver,
            SUBSCRIPTION_WAIT,
            Duration::from_secs(1),
        )
        .await?)
}

/// Subscribes at the registry at `base` to `(event, record type, text filter)` with a
/// verifying receiver of its own; the receiver and the subscription code.
async fn subscribe(
    base: &str,
    registry_id: &str,
    client: &Client,
    (event, record_type, filter): (&str, &str, &str),
) -> Result<(Receiver, String)> {
    let receiver = verifying_receiver(base, registry_id);
    receiver.serve("127.0.0.1:0".parse()?).await?;
    let filter = RegistryQuery::expression(Value::String(filter.to_string()));
    let subscribed = client
        .subscribe_and_wait(
            vec![SubscribeItem::new(event, record_type, filter)],
            &receiver,
            SUBSCRIPTION_WAIT,
            Duration::from_secs(1),
        )
        .await?;
    let code = subscribed
        .codes()
        .into_iter()
        .next()
        .context("the subscription was refused")?;
    Ok((receiver, code))
}

/// A callback receiver that accepts only callbacks signed by the registry at `base`, whose
/// keys it fetches from the registry's `/.well-known/jwks.json`.
fn verifying_receiver(base: &str, registry_id: &str) -> Receiver {
    let keys = trust::JwksFetcher::new(reqwest::Client::new(), trust::JwksFetchOptions::default());
    keys.add_peer(registry_id, &format!("{base}/.well-known/jwks.json"));
    Receiver::new(ReceiverConfig::default()).verify_with(Arc::new(keys))
}

/// Subscribes to new members of `household_id`, registers one through the registrar's
/// endpoint, and prints the notification that comes back.
async fn notify_a_new_member(
    base: &str,
    client: &Client,
    household_id: &str,
    registry_id: &str,
) -> Result<()> {
    let filter = format!(r#"household_id = "{household_id}""#);
    let (receiver, code) = subscribe(
        base,
        registry_id,
        client,
        ("NewHouseHoldMember", "Member", &filter),
    )
    .await?;
    let wait = SUBSCRIPTION_WAIT;
    println!("[sandbox] subscribed to new members of household {household_id}: code {code}");
    // A UIN that is free in this registry (each run of the sandbox adds one member).
    let mut uin = None;
    for base_number in 700_000_000u64.. {
        let candidate = (0..10)
            .map(|d| format!("{base_number:09}{d}"))
            .find(|c| synth::uin_is_valid(c))
            .context("a check digit")?;
        let answer = client
            .sync_search(vec![SearchItem::by_identifier(
                "Member",
                "UIN",
                candidate.as_str(),
            )])
            .await?;
        let free = answer.message.as_ref().is_some_and(|m| {
            m.search_response[0]
                .pagination
                .as_ref()
                .is_some_and(|p| p.total_count == 0)
        });
        if free {
            uin = Some(candidate);
            break;
        }
    }
    let uin = uin.context("no free UIN")?;
    let started = Instant::now();
    let member = json!({"uin": uin, "given_name": "Amina", "surname": "Newborn", "sex": "female",
        "birth_date": time::OffsetDateTime::now_utc().date().to_string(), "marital_status": "S",
        "household_id": household_id, "relationship_to_head": "GRNDCHILD", "is_disabled": false});
    let report: Value = client
        .send("/registrar/records", &json!({"persons": [member]}))
        .await?;
    let notified = receiver
        .wait_for_notifications(&code, 1, wait)
        .await?
        .remove(0);
    let event = &notified.message.notify_event[0];
    println!(
        "[sandbox] registrar added member {uin} ({} events); notify {} for {} {} arrived in {:.1} ms",
        report["events"],
        notified.reg_event_type.as_deref().unwrap_or("?"),
        event.data.reg_records["demographic_info"]["name"]["given_name"]
            .as_str()
            .unwrap_or("?"),
        event.data.reg_records["member_identifier"][0]["identifier_value"]
            .as_str()
            .unwrap_or("?"),
        ms(started.elapsed())
    );
    let cancelled = unsubscribe(client, code.clone(), &receiver).await?;
    println!(
        "[sandbox] unsubscribed {code}: {}",
        cancelled
            .response
            .subscription_status
            .first()
            .map_or("?", |s| s.status.as_str())
    );
    receiver.shutdown();
    Ok(())
}

/// Asks the civil registry what the SP-MIS asks it (UC-01, UC-03, UC-02): a person by UIN, a
/// widow's marriage and her husband's death, and a death notified to a subscriber as soon as
/// the registrar registers it.
async fn demonstrate_crvs(client: &Client, config: &Config) -> Result<()> {
    let base = client.base_url();
    let id = |record: &Value, kind: &str| {
        record["identifier"]
            .as_array()
            .and_then(|ids| ids.iter().find(|i| i["identifier_type"] == kind))
            .and_then(|i| i["identifier_value"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let widows = json!([
        {"expression1": {"attribute_name": "sex", "operator": "eq", "attribute_value": "female"},
         "condition": "and", "expression2": {"attribute_name": "marital_status", "operator": "eq", "attribute_value": "W"}},
        {"expression1": {"attribute_name": "is_deceased", "operator": "eq", "attribute_value": false}}]);
    let started = Instant::now();
    let answer = client
        .sync_search(vec![
            SearchItem::by_predicates("Person", widows)
                .sort("uin", false)
                .page(1, 1),
        ])
        .await?;
    let (total, widow) = first_record(&answer)?;
    let widow = widow.context("a living widow")?;
    let widow_uin = id(&widow, "UIN");
    println!(
        "[sandbox] CRVS predicate search for living widows: HTTP {OK}, {total} women; {} {} (UIN {widow_uin}, BRN {}), {:.1} ms",
        widow["name"]["given_name"].as_str().unwrap_or("?"),
        widow["name"]["surname"].as_str().unwrap_or("?"),
        id(&widow, "BRN"),
        ms(started.elapsed())
    );
    let answer = client
        .sync_search(vec![SearchItem::by_identifier(
            "MarriageRecord",
            "UIN",
            widow_uin.as_str(),
        )])
        .await?;
    let (_, marriage) = first_record(&answer)?;
    let marriage = marriage.context("the widow's marriage")?;
    let husband = [
        &marriage["spouse1_identifier"],
        &marriage["spouse2_identifier"],
    ]
    .into_iter()
    .filter_map(|s| s["identifier_value"].as_str())
    .find(|uin| *uin != widow_uin)
    .unwrap_or("?")
    .to_string();
    let answer = client
        .sync_search(vec![SearchItem::by_identifier(
            "DeathRecord",
            "UIN",
            husband.as_str(),
        )])
        .await?;
    let (_, death) = first_record(&answer)?;
    let death = death.context("the husband's death")?;
    println!(
        "[sandbox] her marriage {} on {} to {husband}, who died on {} (DRN {})",
        id(&marriage, "MRN"),
        marriage["marriage_date"].as_str().unwrap_or("?"),
        death["death_date"].as_str().unwrap_or("?"),
        id(&death, "DRN")
    );

    // The oldest living person (each run of the sandbox registers one death).
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("Person", Value::String("is_deceased = false".into()))
                .sort("birth_date", false)
                .page(1, 1),
        ])
        .await?;
    let (_, pensioner) = first_record(&answer)?;
    let pensioner = pensioner.context("a living person")?;
    let uin = id(&pensioner, "UIN");
    let place = pensioner["birth_place"]["identifier"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let filter = format!(r#"uin = "{uin}""#);
    let (receiver, code) = subscribe(
        base,
        &config.service_id("crvs"),
        client,
        ("Death", "Person", &filter),
    )
    .await?;
    let wait = SUBSCRIPTION_WAIT;
    println!("[sandbox] subscribed to the death of pensioner {uin}: code {code}");
    let started = Instant::now();
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let report: Value = client
        .send(
            "/registrar/crvs/records",
            &json!({"deaths": [{"uin": uin, "death_date": today, "death_place": place}]}),
        )
        .await?;
    let notified = receiver
        .wait_for_notifications(&code, 1, wait)
        .await?
        .remove(0);
    let record = &notified.message.notify_event[0].data.reg_records;
    println!(
        "[sandbox] registrar registered death {} ({} events); notify {} for {} (died {}) arrived in {:.1} ms",
        report["deaths"][0].as_str().unwrap_or("?"),
        report["events"],
        notified.reg_event_type.as_deref().unwrap_or("?"),
        id(record, "UIN"),
        record["death_date"].as_str().unwrap_or("?"),
        ms(started.elapsed())
    );
    unsubscribe(client, code, &receiver).await?;
    receiver.shutdown();
    Ok(())
}

/// The first record of a one-item sync search answer, and how many match.
fn first_record(
    answer: &dci::Envelope<dci::MsgCallbackHeader, dci::search::SearchResponse>,
) -> Result<(i64, Option<Value>)> {
    let item = answer
        .message
        .as_ref()
        .and_then(|m| m.search_response.first())
        .context("a search item")?;
    let total = item.pagination.as_ref().map_or(0, |p| p.total_count);
    let record = item
        .data
        .as_ref()
        .and_then(|d| d.reg_records.first())
        .and_then(|r| serde_json::from_str(r.get()).ok());
    Ok((total, record))
}

/// Asks the beneficiary registry what a programme officer asks it: who draws the same
/// benefit from two programmes (duplicates), everything one of them receives (real coverage)
/// and whether they are enrolled (`/registry/sync/enrolled`); then that person's second
/// programme exits them (`/registry/sync/enrollment/updates`), which a subscriber to status
/// changes is notified of, and the duplicate is gone.
async fn demonstrate_ibr(client: &Client, config: &Config) -> Result<()> {
    let base = client.base_url();
    let duplicates = r#"duplicate = true AND assistance_unit = "member""#;
    let started = Instant::now();
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("Beneficiary", Value::String(duplicates.into()))
                .sort("beneficiary_id", false)
                .page(1, 1),
        ])
        .await?;
    let (count, record) = first_record(&answer)?;
    let Some(record) = record else {
        println!("[sandbox] IBR: no duplicates left (each run of the sandbox resolves one)");
        return Ok(());
    };
    let uin = record["member"]["member_identifier"][0]["identifier_value"]
        .as_str()
        .context("a UIN")?
        .to_string();
    println!(
        "[sandbox] IBR expression search, {duplicates}: HTTP {OK}, {count} enrolments, e.g. UIN {uin}, {:.1} ms",
        ms(started.elapsed())
    );
    let started = Instant::now();
    let answer = client
        .sync_search(vec![SearchItem::by_identifier(
            "Beneficiary",
            "UIN",
            uin.as_str(),
        )])
        .await?;
    let enrolments: Vec<Value> = answer
        .message
        .iter()
        .flat_map(|m| &m.search_response)
        .flat_map(|item| &item.data)
        .flat_map(|data| &data.reg_records)
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect();
    let mut second = None;
    for enrolment in &enrolments {
        let programme = enrolment["programme_identifier"][0]["programme_identifier"]
            .as_str()
            .unwrap_or("?");
        let benefits = enrolment["benefits"].as_array().map_or(0, Vec::len);
        println!(
            "[sandbox]   {programme:<6} {:<40} status {} since {}, {benefits} benefit(s), last {} on {}",
            enrolment["programme_identifier"][0]["programme_name"]
                .as_str()
                .unwrap_or("?"),
            enrolment["enrollment_status"].as_str().unwrap_or("?"),
            enrolment["enrollment_date"].as_str().unwrap_or("?"),
            enrolment["benefits"][0]["benefit_value"]
                .as_str()
                .unwrap_or("-"),
            enrolment["benefits"][0]["benefit_date"]
                .as_str()
                .unwrap_or("-"),
        );
        if programme != "OAA" && enrolment["enrollment_status"] == "1" {
            second = Some(programme.to_string());
        }
    }
    println!(
        "[sandbox] IBR idtype-value search UIN {uin} (real coverage): HTTP {OK}, {} programmes, {:.1} ms",
        enrolments.len(),
        ms(started.elapsed())
    );
    let enrolled = |uin: &str| {
        let criteria: dci::criteria::Criteria = serde_json::from_value(json!({
            "query_type": "expression", "query": {"person_identifier": {"eq": uin}}}))
        .expect("criteria");
        client.enrolled(vec![criteria])
    };
    let started = Instant::now();
    let answer = enrolled(&uin).await?;
    let item = answer
        .message
        .as_ref()
        .and_then(|m| m.enrolled_response.first())
        .context("an enrolled answer")?;
    println!(
        "[sandbox] IBR /registry/sync/enrolled for UIN {uin}: enrolled_status {}, in {}, {:.1} ms",
        serde_json::to_value(item.enrolled_status)?
            .as_str()
            .unwrap_or("?"),
        item.enrollments
            .iter()
            .map(|e| format!("{} ({})", e.programme_identifier, e.enrollment_status))
            .collect::<Vec<_>>()
            .join(", "),
        ms(started.elapsed())
    );
    let second = second.context("a second active programme")?;
    let filter = format!(r#"uin = "{uin}""#);
    let (receiver, code) = subscribe(
        base,
        &config.service_id("ibr"),
        client,
        (registry::ibr::STATUS_CHANGE, "Beneficiary", &filter),
    )
    .await?;
    let exit: dci::records::ibr::Beneficiary = serde_json::from_value(json!({
        "assistance_unit": "1",
        "member": {"member_identifier": [{"identifier_type": "UIN", "identifier_value": uin}]},
        "programme_identifier": [{"programme_identifier": second}],
        "enrollment_status": "exited",
        "status_reason": "receives the same benefit type from another programme"
    }))?;
    let started = Instant::now();
    let answer = client
        .publish_enrolments(&format!("t-{}", uuid::Uuid::now_v7()), vec![exit])
        .await?;
    let status = answer
        .message
        .as_ref()
        .and_then(|m| m.enrolled_response.first())
        .map_or("?", |a| a.status.as_str());
    let notified = receiver
        .wait_for_notifications(&code, 1, SUBSCRIPTION_WAIT)
        .await?
        .remove(0);
    let record = &notified.message.notify_event[0].data.reg_records;
    println!(
        "[sandbox] IBR /registry/sync/enrollment/updates: {second} exits UIN {uin}: {status}; notify {} (status {}, {}) arrived in {:.1} ms",
        notified.reg_event_type.as_deref().unwrap_or("?"),
        record["enrollment_status"].as_str().unwrap_or("?"),
        record["status_reason"].as_str().unwrap_or("?"),
        ms(started.elapsed())
    );
    unsubscribe(client, code, &receiver).await?;
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("Beneficiary", Value::String(duplicates.into())).page(1, 1),
        ])
        .await?;
    let (left, _) = first_record(&answer)?;
    println!("[sandbox] IBR duplicates left: {left} enrolments (was {count})");
    Ok(())
}

/// Asks the disability registry what an SP-MIS asks it: who is certified with a mobility
/// difficulty, whether one of them is registered as disabled (`/registry/sync/disabled`), and
/// an approval notified to a subscriber as soon as the registry decides it.
async fn demonstrate_dr(client: &Client, config: &Config) -> Result<()> {
    let base = client.base_url();
    let certified = json!({"$and": [{"disability_status": {"$eq": "Approved"}},
        {"disability_details.impairment_type": {"$eq": "Mobility"}}]});
    let started = Instant::now();
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("DisabledPerson", certified)
                .sort("dcn", false)
                .page(1, 1),
        ])
        .await?;
    let (total, person) = first_record(&answer)?;
    let person = person.context("a certified person")?;
    let details = &person["personal_details"];
    let uin = details["member_identifier"][1]["identifier_value"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    println!(
        "[sandbox] DR expression search, approved with a mobility impairment: HTTP {OK}, {total} persons; {} {} (DCN {}, valid until {}), {:.1} ms",
        details["demographic_info"]["name"]["given_name"]
            .as_str()
            .unwrap_or("?"),
        details["demographic_info"]["name"]["surname"]
            .as_str()
            .unwrap_or("?"),
        details["member_identifier"][0]["identifier_value"]
            .as_str()
            .unwrap_or("?"),
        person["expiry_date"].as_str().unwrap_or("?"),
        ms(started.elapsed())
    );
    let started = Instant::now();
    let request = json!({"transaction_id": format!("t-{}", uuid::Uuid::now_v7()),
        "disabled_criteria": {"query_type": "expression",
            "query": {"personal_details.member_identifier": {"eq": uin}}}});
    let answer: Value = client
        .send(
            "/registry/sync/disabled",
            &client.envelope(dci::Action::Search, 1, None, request),
        )
        .await?;
    println!(
        "[sandbox] DR /registry/sync/disabled for UIN {uin}: disabled_status {}, {:.1} ms",
        answer["message"]["disabled_response"][0]["disabled_status"]
            .as_str()
            .unwrap_or("?"),
        ms(started.elapsed())
    );

    // The oldest pending application (each run of the sandbox approves one).
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression(
                "DisabledPerson",
                Value::String(r#"disability_status = "Pending""#.into()),
            )
            .sort("application_date", false)
            .page(1, 1),
        ])
        .await?;
    let (pending, applicant) = first_record(&answer)?;
    let applicant = applicant.context("a pending application")?;
    let dcn = applicant["personal_details"]["member_identifier"][0]["identifier_value"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let filter = format!(r#"dcn = "{dcn}""#);
    let (receiver, code) = subscribe(
        base,
        &config.service_id("dr"),
        client,
        ("DisabilityApproved", "DisabledPerson", &filter),
    )
    .await?;
    println!(
        "[sandbox] subscribed to the approval of application {dcn} (the oldest of {pending} pending): code {code}"
    );
    let started = Instant::now();
    let report: Value = client
        .send(
            "/registrar/dr/records",
            &json!({"decisions": [{"dcn": dcn, "status": "Approved", "disability_level": "3"}]}),
        )
        .await?;
    let notified = receiver
        .wait_for_notifications(&code, 1, SUBSCRIPTION_WAIT)
        .await?
        .remove(0);
    let record = &notified.message.notify_event[0].data.reg_records;
    println!(
        "[sandbox] registry approved {dcn} ({} events); notify {} (status {}, valid until {}) arrived in {:.1} ms",
        report["events"],
        notified.reg_event_type.as_deref().unwrap_or("?"),
        record["disability_status"].as_str().unwrap_or("?"),
        record["expiry_date"].as_str().unwrap_or("?"),
        ms(started.elapsed())
    );
    unsubscribe(client, code, &receiver).await?;
    receiver.shutdown();
    Ok(())
}

/// Asks the farmer registry for smallholders: land under 2 ha in a region, growing maize (a
/// text expression), and leased parcels that are irrigated (a predicate list on parcels).
async fn demonstrate_fr(client: &Client) -> Result<()> {
    let started = Instant::now();
    let smallholders = r#"land_size < 2 AND location = "R03" AND crop = "maize""#;
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("Farmer", Value::String(smallholders.into()))
                .sort("land_size", true)
                .page(1, 1),
        ])
        .await?;
    let (total, farmer) = first_record(&answer)?;
    let farmer = farmer.context("a smallholder")?;
    let details = &farmer["farmer_personal_details"];
    println!(
        "[sandbox] FR expression search, land under 2 ha in R03 growing maize: HTTP {OK}, {total} farmers; largest: {} {} (FID {}), {} ha in {} parcel(s), {:.1} ms",
        details["demographic_info"]["name"]["given_name"]
            .as_str()
            .unwrap_or("?"),
        details["demographic_info"]["name"]["surname"]
            .as_str()
            .unwrap_or("?"),
        details["member_identifier"][0]["identifier_value"]
            .as_str()
            .unwrap_or("?"),
        farmer["total_land_size"],
        farmer["farm_details"].as_array().map_or(0, Vec::len),
        ms(started.elapsed())
    );
    let leased = json!([
        {"seq_num": 1, "expression1": {"attribute_name": "land_tenure", "operator": "eq", "attribute_value": "Leased"},
         "condition": "and", "expression2": {"attribute_name": "irrigated", "operator": "eq", "attribute_value": true}}]);
    let started = Instant::now();
    let answer = client
        .sync_search(vec![
            SearchItem::by_predicates("FarmInfo", leased).page(1, 1),
        ])
        .await?;
    let (total, _) = first_record(&answer)?;
    println!(
        "[sandbox] FR predicate search, leased irrigated parcels: HTTP {OK}, {total} parcels, {:.1} ms",
        ms(started.elapsed())
    );
    Ok(())
}

/// Asks the identity registry what a programme asks it: whether a UIN goes with a name and
/// birth date (as the sandbox, and as a verify-only participant), and shows a death registered
/// at the civil registry turn the identity deceased and reach the ID registry's subscriber.
async fn demonstrate_id(
    client: &Client,
    civil: &Client,
    config: &Config,
    secret: &str,
) -> Result<()> {
    let base = client.base_url();
    // The oldest living identity (each run of the sandbox registers one death).
    let answer = client
        .sync_search(vec![
            SearchItem::by_expression("Identity", Value::String(r#"status = "alive""#.into()))
                .sort("birth_date", false)
                .page(1, 1),
        ])
        .await?;
    let (alive, elder) = first_record(&answer)?;
    let elder = elder.context("a living identity")?;
    let uin = elder["identifier"][0]["identifier_value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (given, surname, born) = (
        elder["name"]["given_name"].as_str().unwrap_or_default(),
        elder["name"]["surname"].as_str().unwrap_or_default(),
        elder["birth_date"].as_str().unwrap_or_default(),
    );
    let verification = |birth_date: &str| {
        SearchItem::by_expression(
            "Identity",
            Value::String(format!(
                r#"uin = "{uin}" AND given_name = "{given}" AND surname = "{surname}" AND birth_date = "{birth_date}""#
            )),
        )
    };
    let started = Instant::now();
    let answer = client.sync_search(vec![verification(born)]).await?;
    let (matched, _) = first_record(&answer)?;
    let answer = client.sync_search(vec![verification("1900-01-01")]).await?;
    let (wrong, _) = first_record(&answer)?;
    println!(
        "[sandbox] ID verification of UIN {uin} as {given} {surname} born {born}: {} match(es); born 1900-01-01: {wrong} ({alive} living identities), {:.1} ms",
        matched,
        ms(started.elapsed())
    );
    let verifier = Client::new(base, VERIFIER, Some(&config.service_id("id")))
        .with_credentials(VERIFIER, secret);
    let answer = verifier.sync_search(vec![verification(born)]).await?;
    let (_, seen) = first_record(&answer)?;
    println!(
        "[sandbox] the same verification by {VERIFIER}: it is shown {}",
        seen.map_or_else(|| "nothing".into(), |r| r.to_string())
    );

    let filter = format!(r#"uin = "{uin}""#);
    let (receiver, code) = subscribe(
        base,
        &config.service_id("id"),
        client,
        ("IdentityDeceased", "Identity", &filter),
    )
    .await?;
    println!("[sandbox] subscribed at the ID registry to the death of {uin}: code {code}");
    let place = elder["address"][0]["sub_region_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (started, started_at) = (Instant::now(), time::OffsetDateTime::now_utc());
    let report: Value = civil
        .send(
            "/registrar/crvs/records",
            &json!({"deaths": [{"uin": uin, "death_date": today, "death_place": place}]}),
        )
        .await?;
    let registered = started.elapsed();
    let deceased = loop {
        let answer = client
            .sync_search(vec![SearchItem::by_identifier(
                "Identity",
                "UIN",
                uin.as_str(),
            )])
            .await?;
        if let (_, Some(record)) = first_record(&answer)?
            && record["status"] == "deceased"
        {
            break started.elapsed();
        }
        anyhow::ensure!(
            started.elapsed() < SUBSCRIPTION_WAIT,
            "the identity of {uin} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let notified = receiver
        .wait_for_notifications(&code, 1, SUBSCRIPTION_WAIT)
        .await?
        .remove(0);
    let record = &notified.message.notify_event[0].data.reg_records;
    println!(
        "[sandbox] CRVS registered death {} (answered in {:.1} ms); the ID registry showed {uin} {} (died {}) {:.1} ms after the registration was sent; its subscriber's notify {} arrived after {:.1} ms",
        report["deaths"][0].as_str().unwrap_or("?"),
        ms(registered),
        record["status"].as_str().unwrap_or("?"),
        record["death_date"].as_str().unwrap_or("?"),
        ms(deceased),
        notified.reg_event_type.as_deref().unwrap_or("?"),
        (notified.received_at.0 - started_at).as_seconds_f64() * 1000.0,
    );
    unsubscribe(client, code, &receiver).await?;
    receiver.shutdown();
    Ok(())
}

/// Pays a month of the old-age allowance to five of its beneficiaries, as its SP-MIS would:
/// finds them at the IBR, links their UINs to mobile wallets in the mapper, resolves one,
/// disburses to them by UIN (with two bad items, refused with their codes), reconciles the
/// cycle, and waits for the receipt of a payment to reach the IBR as a benefit.
async fn demonstrate_pay(client: &Client, ibr: &Client, pay: &pay::Pay) -> Result<()> {
    let programme = "OAA";
    let answer = ibr
        .sync_search(vec![
            SearchItem::by_expression(
                "Beneficiary",
                Value::String(format!(
                    r#"programme_identifier = "{programme}" AND enrollment_status = "active" AND assistance_unit = "member""#
                )),
            )
            .sort("uin", false)
            .page(5, 1),
        ])
        .await?;
    let answer = serde_json::to_value(answer)?;
    let ids: Vec<String> = answer["message"]["search_response"][0]["data"]["reg_records"]
        .as_array()
        .context("beneficiaries")?
        .iter()
        .filter_map(|b| {
            let uin = b["member"]["member_identifier"][0]["identifier_value"].as_str()?;
            Some(format!("uin:{uin}@nid"))
        })
        .collect();
    anyhow::ensure!(!ids.is_empty(), "no {programme} beneficiary to pay");
    let now = || dci::Timestamp::now().to_string();
    let wallet = |id: &str| {
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        format!(
            "mobile:2547{}@mpesa",
            &digits[digits.len().saturating_sub(8)..]
        )
    };
    let links = ids
        .iter()
        .enumerate()
        .map(|(i, id)| MapperRequestItem {
            reference_id: Some(i.to_string()),
            timestamp: Some(now()),
            id: Some(id.clone()),
            fa: Some(wallet(id)),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let started = Instant::now();
    let request: MapperRequest<Link> = MapperRequest::new(uuid::Uuid::now_v7().to_string(), links);
    let linked: Value = client
        .send(
            "/mapper/sync/link",
            &client.envelope(dci::Action::Link, ids.len(), None, request),
        )
        .await?;
    let resolve = vec![MapperRequestItem {
        reference_id: Some("1".into()),
        timestamp: Some(now()),
        id: Some(ids[0].clone()),
        scope: Some("details".into()),
        ..Default::default()
    }];
    let request: MapperRequest<Resolve> =
        MapperRequest::new(uuid::Uuid::now_v7().to_string(), resolve);
    let resolved: Value = client
        .send(
            "/mapper/sync/resolve",
            &client.envelope(dci::Action::Resolve, 1, None, request),
        )
        .await?;
    let resolved = &resolved["message"]["resolve_response"][0];
    println!(
        "[sandbox] mapper: {} {programme} beneficiaries' UINs (from the IBR) linked to mobile wallets ({} succ); {} resolves to {} ({}), {:.1} ms",
        ids.len(),
        linked["message"]["link_response"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|i| i["status"] == "succ").count()),
        ids[0],
        resolved["fa"].as_str().unwrap_or("?"),
        resolved["status_reason_code"].as_str().unwrap_or("?"),
        ms(started.elapsed())
    );
    let transaction_id = format!("sandbox-cycle-{}", uuid::Uuid::now_v7());
    let payment = |reference: &str, payee: &str, amount: &str| Disbursement {
        reference_id: Some(reference.into()),
        payer_fa: Some("account:0001@treasury.gov".into()),
        payee_fa: Some(payee.into()),
        amount: Some(Value::String(amount.into())),
        currency_code: Some("USD".into()),
        purpose: Some("Old-age allowance".into()),
        meta: json!({"programme": programme, "region": "R01"})
            .as_object()
            .cloned(),
        ..Default::default()
    };
    let mut disbursements: Vec<Disbursement> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| payment(&format!("p{i}"), id, "25.00"))
        .collect();
    disbursements.push(payment("unknown", "uin:0000000000@nid", "25.00"));
    disbursements.push(payment("negative", &ids[0], "-5.00"));
    let count = disbursements.len();
    let request = DisburseRequest {
        transaction_id: transaction_id.clone(),
        disbursements,
    };
    let started = Instant::now();
    let answer: Value = client
        .send(
            "/disburse/sync/disburse",
            &client.envelope(dci::Action::Disburse, count, None, request),
        )
        .await?;
    let took = started.elapsed();
    let items = answer["message"]["disbursements_status"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let outcomes: Vec<String> = items
        .iter()
        .map(|i| {
            let reference = i["reference_id"].as_str().unwrap_or("?");
            match i["status_reason_code"].as_str() {
                Some(code) => format!("{reference} {code}"),
                None => format!("{reference} {}", i["status"].as_str().unwrap_or("?")),
            }
        })
        .collect();
    println!(
        "[sandbox] disburse (sync) {count} payments by UIN: {} ({:.1} ms)",
        outcomes.join(", "),
        ms(took)
    );
    let report = pay::report::reconcile(pay.store(), SENDER, &transaction_id).await?;
    let total = |state| report.total(state, "USD");
    let (paid, failed) = (
        total(pay::disburse::PaymentState::Paid),
        total(pay::disburse::PaymentState::Failed),
    );
    let refused = total(pay::disburse::PaymentState::Refused);
    println!(
        "[sandbox] reconciliation of {transaction_id}: reconciled {}, {} paid ({} USD), {} failed, {} refused; GET {}/disburse/reconciliation?transaction_id={transaction_id}&format=csv",
        report.reconciled,
        paid.count,
        paid.amount,
        failed.count,
        refused.count,
        client.base_url()
    );
    // The receipt of the first payment paid reaches the IBR as a benefit of the enrolment.
    let Some(first) = items.iter().find(|i| i["status"] == "succ") else {
        return Ok(());
    };
    let reference = first["reference_id"].as_str().unwrap_or_default();
    let index: usize = reference.trim_start_matches('p').parse().unwrap_or(0);
    let uin = ids[index]
        .trim_start_matches("uin:")
        .trim_end_matches("@nid")
        .to_string();
    let benefit_id = pay::worker::payment_id(SENDER, &transaction_id, reference);
    loop {
        let answer = ibr
            .sync_search(vec![
                SearchItem::by_identifier("Benefit", "UIN", uin.as_str())
                    .sort("benefit_date", true)
                    .page(20, 1),
            ])
            .await?;
        let answer = serde_json::to_value(answer)?;
        let benefits = answer["message"]["search_response"][0]["data"]["reg_records"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(benefit) = benefits
            .iter()
            .find(|b| b["benefit_identifier"] == benefit_id.as_str())
        {
            println!(
                "[sandbox] the receipt of {reference} reached the IBR {:.1} ms after the disburse request: UIN {uin} {} {} {} (payment_status {})",
                ms(started.elapsed()),
                benefit["programme_identifier"].as_str().unwrap_or("?"),
                benefit["benefit_date"].as_str().unwrap_or("?"),
                benefit["benefit_value"].as_str().unwrap_or("?"),
                benefit["payment_status"].as_str().unwrap_or("?"),
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < SUBSCRIPTION_WAIT,
            "the receipt of {reference} did not reach the IBR"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a successful sync search answers with.
const OK: reqwest::StatusCode = reqwest::StatusCode::OK;

const SOCIAL: &str = "ns:org:RegistryType:Social";

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
