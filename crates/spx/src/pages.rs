//! The web service (`spx serve --role web`, and the sandbox's): its own store of staff users
//! and sessions, the registries it asks over DCI, and the registries' stores it reads.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use store::{ColumnType, Statement, Store};

use crate::config::Config;
use crate::service;

/// A running web service.
pub struct RunningWeb {
    /// `http://addr` or, when it terminates TLS, `https://addr`.
    pub base_url: String,
    /// The pages, and their store.
    pub pages: Arc<web::Web>,
}

/// The web service's signer (`spx keys … --role web`): its DCI requests are signed.
pub fn signer(config: &Config) -> Result<Arc<trust::Signer>> {
    Ok(crate::keys::for_registry(config, web::ROLE)?.signer)
}

/// What people call the registry `role` on the citizen page.
fn service_name(role: &str) -> String {
    match role {
        "social" => "social registry",
        "crvs" => "civil registry",
        "ibr" => "beneficiary registry",
        "dr" => "disability registry",
        "fr" => "farmer registry",
        "id" => "identity registry",
        "pay" => "payments",
        other => other,
    }
    .to_string()
}

/// Opens the store of `role` where `[web] stores` says, to read it: the file must exist (an
/// SQLite path that does not is refused rather than created empty), and `probe` (a table of
/// that registry) must be there.
async fn open_read_only(config: &Config, role: &str, probe: &str) -> Result<Arc<dyn Store>> {
    let at = config.web_store(role)?;
    if at.database_url.is_none() && !at.sqlite_path.exists() {
        bail!(
            "the {role} registry's store {} does not exist: set web.stores (\"{role}=location\") or service.data_dir",
            at.sqlite_path.display()
        );
    }
    // Opened as it is: no migration runs, only the probe below and the pages' SELECTs.
    let store: Arc<dyn Store> = match &at.database_url {
        Some(url) => Arc::new(
            store::postgres::PostgresStore::connect(url, at.postgres_pool_size)
                .await
                .with_context(|| format!("opening the {role} registry's store"))?,
        ),
        None => Arc::new(
            store::sqlite::SqliteStore::open(&at.sqlite_path, at.sqlite_readers)
                .with_context(|| format!("opening the {role} registry's store"))?,
        ),
    };
    store
        .read(vec![Statement::new(
            format!("SELECT count(*) FROM {probe} WHERE 1 = 0"),
            vec![],
            &[ColumnType::Integer],
        )])
        .await
        .with_context(|| format!("{} is not the {role} registry's store", store.describe()))?;
    Ok(store)
}

/// A DCI client of the registry at `url` (participant `id`), signing as the web service and
/// authenticating with `secret` when there is one.
fn dci_client(
    config: &Config,
    signer: &Arc<trust::Signer>,
    (url, id, secret): (&str, &str, &str),
) -> Result<client::Client> {
    if url.is_empty() {
        bail!("web.ibr_url and web.id_url must be set: the citizen page asks both registries");
    }
    let service_id = config.service_id(web::ROLE);
    let client = client::Client::new(url.trim_end_matches('/'), &service_id, Some(id))
        .with_signer(signer.clone())
        .with_timeout(std::time::Duration::from_secs(10));
    Ok(if secret.is_empty() {
        client
    } else {
        client.with_credentials(&service_id, secret)
    })
}

/// What `[web]` says the web service reads: the registries' stores and DCI clients.
pub async fn sources(config: &Config, signer: &Arc<trust::Signer>) -> Result<web::Sources> {
    let w = &config.web;
    let mut audits = Vec::new();
    for role in &w.audit_roles {
        let store = open_read_only(config, role, "audit_log").await?;
        audits.push((service_name(role), store));
    }
    // The programme officer views need the SP-MIS's store; without it they say so.
    let mis = match open_read_only(config, mis::ROLE, "mis_enrolment").await {
        Ok(store) => Some(store),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no SP-MIS store: the programme views are off");
            None
        }
    };
    Ok(web::Sources {
        ibr: open_read_only(config, "ibr", "enrolment").await?,
        social: open_read_only(config, "social", "household").await?,
        audits,
        mis,
        ibr_dci: dci_client(
            config,
            signer,
            (&w.ibr_url, &w.ibr_id, &w.ibr_client_secret),
        )?,
        id_dci: dci_client(config, signer, (&w.id_url, &w.id_id, &w.id_client_secret))?,
    })
}

/// Opens the web service's store and serves its pages on the configured address, with its
/// signing keys at `/.well-known/jwks.json` (the registries verify its requests with them).
pub async fn start(
    config: &Config,
    sources: web::Sources,
    signer: Arc<trust::Signer>,
) -> Result<RunningWeb> {
    let store = store::open(&config.store(web::ROLE), web::auth::MIGRATIONS)
        .await
        .context("opening the web service's store")?;
    let pages = web::Web::new(store, sources, config.web_settings()?);
    let app = pages.router().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || std::future::ready(axum::Json(signer.jwks()))),
    );
    let (listener, _, base_url) = service::bind(config).await?;
    service::serve(listener, config, app)?;
    Ok(RunningWeb { base_url, pages })
}

/// `spx web …`.
#[derive(Debug, Subcommand)]
pub enum WebAction {
    /// Add a staff user, or give an existing one a new password and role; prints a new
    /// random password unless one is given in SPX_WEB_PASSWORD.
    SetUser {
        /// The user name.
        username: String,
        /// admin, analyst (the coverage dashboard) or officer.
        #[arg(long, default_value = "analyst")]
        role: String,
    },
}

/// Runs `action` on the web service's store.
pub async fn run(action: WebAction, config: &Config) -> Result<()> {
    let WebAction::SetUser { username, role } = action;
    let Some(role) = web::auth::StaffRole::parse(&role) else {
        let known: Vec<&str> = web::auth::StaffRole::ALL.map(|r| r.as_str()).to_vec();
        bail!("unknown role '{role}'; one of {}", known.join(", "));
    };
    let store = store::open(&config.store(web::ROLE), web::auth::MIGRATIONS).await?;
    let (password, generated) = match std::env::var("SPX_WEB_PASSWORD") {
        Ok(given) if !given.is_empty() => (given, false),
        _ => (trust::secret::generate()?, true),
    };
    web::auth::set_user(store.as_ref(), &username, &password, role).await?;
    println!(
        "staff user {username} ({}) set in {}",
        role.as_str(),
        store.describe()
    );
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

/// The sandbox's web service: a participant of the IBR and of the ID registry (verify-only
/// there), reading the registries' stores of this process, serving plain HTTP on loopback;
/// with a staff user `admin` (every page) whose new password is returned.
pub async fn start_in_sandbox(
    config: &Config,
    registries: &[(&str, &service::Running)],
) -> Result<(RunningWeb, String)> {
    let running = |role: &str| {
        registries
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, running)| *running)
            .with_context(|| format!("the sandbox runs no {role} registry"))
    };
    let secret = trust::secret::generate()?;
    let base = format!("http://{}", config.service.listen);
    let participant = |rules: trust::access::AccessRules| registry::participants::Participant {
        sender_id: config.service_id(web::ROLE),
        name: Some("spx sandbox web service".into()),
        jwks_url: Some(format!("{base}/.well-known/jwks.json")),
        scopes: vec![registry::participants::scope::SEARCH.into()],
        access: rules,
        ..Default::default()
    };
    let (ibr, id) = (running("ibr")?, running("id")?);
    crate::sandbox::admit(ibr, &participant(Default::default()), &secret).await?;
    let verify_only = trust::access::AccessRules {
        fields: Some(vec!["identifier".into()]),
        match_fields: Some(vec!["birth_date".into()]),
        query_types: Some(vec!["expression".into()]),
        ..Default::default()
    };
    crate::sandbox::admit(id, &participant(verify_only), &secret).await?;
    let mut config = config.clone();
    config.web.secure_cookies = false;
    let service_id = config.service_id(web::ROLE);
    let signer = signer(&config)?;
    let client = |running: &service::Running, role: &str| {
        client::Client::new(
            &running.base_url,
            &service_id,
            Some(&config.service_id(role)),
        )
        .with_signer(signer.clone())
        .with_credentials(&service_id, &secret)
    };
    let sources = web::Sources {
        ibr: ibr.registry.store.clone(),
        social: running("social")?.registry.store.clone(),
        audits: registries
            .iter()
            .map(|(role, running)| (service_name(role), running.registry.store.clone()))
            .collect(),
        mis: Some(open_read_only(&config, mis::ROLE, "mis_enrolment").await?),
        ibr_dci: client(ibr, "ibr"),
        id_dci: client(id, "id"),
    };
    let started = start(&config, sources, signer).await?;
    let password = trust::secret::generate()?;
    web::auth::set_user(
        started.pages.store(),
        "admin",
        &password,
        web::auth::StaffRole::Admin,
    )
    .await?;
    Ok((started, password))
}
