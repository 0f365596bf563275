//! Starting a service (a registry, or payments): open its store, bind its port, serve its
//! routes.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use registry::{Profile, Registry};

use crate::config::Config;

/// A service that is serving.
pub struct Running {
    /// Where it listens (with the real port when the configuration asked for port 0).
    pub addr: SocketAddr,
    /// `http://addr` or, when it terminates TLS, `https://addr`.
    pub base_url: String,
    /// Its store, for reports.
    pub store: String,
    /// The registry, to reach its store directly (imports, benchmarks).
    pub registry: Arc<Registry>,
    /// The ID registry's link to the civil registry, when configured: done once it holds
    /// its subscription.
    pub link: Option<tokio::task::JoinHandle<()>>,
}

/// Opens the store of `profile`, applies its migrations and serves it on the configured address.
pub async fn start(profile: &'static Profile, config: &Config) -> Result<Running> {
    let store = registry::open_store(profile, &config.store(profile.role))
        .await
        .with_context(|| format!("opening the {} registry's store", profile.role))?;
    let mut settings = config.registry(profile.role);
    settings.trust = Some(crate::keys::for_registry(config, profile.role)?);
    let registry = Registry::start(profile, store, settings).await?;
    let replica = &config.postgres.replica_url;
    if !replica.is_empty() {
        let pool = config.postgres.pool_size as usize;
        let replica = registry::open_replica(profile, replica, pool)
            .await
            .with_context(|| format!("opening the {} registry's read replica", profile.role))?;
        registry.search_from(replica);
    }
    let (listener, addr, base_url) = bind(config).await?;
    let mut app = registry::http::router(registry.clone());
    let link = crvs_link(profile, config, &registry, &base_url)?;
    if let Some(link) = &link {
        app = app.merge(link.router());
    }
    serve(listener, config, app)?;
    // The civil registry calls back as soon as it takes the subscription: once serving.
    let link = link.map(|link| link.spawn());
    Ok(Running {
        addr,
        base_url,
        store: registry.store.describe(),
        registry,
        link,
    })
}

/// Binds the configured address: the listener, its address (with the real port when the
/// configuration asked for port 0) and the base URL (`https` when the service terminates TLS).
pub(crate) async fn bind(config: &Config) -> Result<(tokio::net::TcpListener, SocketAddr, String)> {
    let listener = tokio::net::TcpListener::bind(config.listen_addr()?)
        .await
        .with_context(|| format!("cannot listen on {}", config.service.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.service.tls_cert.as_os_str().is_empty() {
        "http"
    } else {
        "https"
    };
    Ok((listener, addr, format!("{scheme}://{addr}")))
}

/// Serves `app` on `listener`, over TLS when the configuration has a certificate; handlers
/// may ask for the client's address (`ConnectInfo<SocketAddr>`).
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    config: &Config,
    app: axum::Router,
) -> Result<()> {
    let (cert, key) = (&config.service.tls_cert, &config.service.tls_key);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if cert.as_os_str().is_empty() {
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "server stopped");
            }
        });
    } else {
        let tls = crate::tls::TlsListener::new(listener, crate::tls::server_config(cert, key)?)?;
        // A tapped listener is what axum knows how to take the peer's address from.
        let tls = axum::serve::ListenerExt::tap_io(tls, |_| {});
        tokio::spawn(async move {
            if let Err(e) = axum::serve(tls, app).await {
                tracing::error!(error = %e, "server stopped");
            }
        });
    }
    Ok(())
}

/// Opens the payments store, applies its migrations and serves the payments service (with
/// the switch simulator, whose ledger is kept in the same store) on the configured address.
pub async fn start_pay(config: &Config) -> Result<(Running, Arc<pay::Pay>)> {
    let store = pay::open_store(&config.store(pay::ROLE))
        .await
        .context("opening the payments store")?;
    let mut engine = config.pay_engine();
    engine.trust = Some(crate::keys::for_registry(config, pay::ROLE)?);
    let switch = Arc::new(pay::switch::Simulator::new(
        store.clone(),
        config.simulator()?,
    ));
    let service_id = config.service_id(pay::ROLE);
    let ibr = &config.pay;
    let receipts = (!ibr.ibr_url.is_empty())
        .then(|| pay::receipts::IbrReceipts::new(&ibr.ibr_url, &service_id, &ibr.ibr_id));
    let publisher: Arc<dyn pay::receipts::Receipts> = match &receipts {
        Some(receipts) => Arc::new(receipts.clone()),
        None => Arc::new(pay::receipts::NoReceipts),
    };
    let pay =
        pay::Pay::start_with_receipts(store, engine, config.pay_settings()?, switch, publisher)
            .await?;
    // The receipts are requests to the IBR: they carry its token.
    if let Some(receipts) = &receipts {
        let mut at_ibr = client::Client::new(&ibr.ibr_url, &service_id, Some(&ibr.ibr_id));
        if !ibr.ibr_client_secret.is_empty() {
            at_ibr = at_ibr.with_credentials(&service_id, &ibr.ibr_client_secret);
        }
        pay.engine.dispatcher.authorize(
            receipts.url(),
            Arc::new(pay::receipts::ClientBearer(at_ibr)),
        );
    }
    let (listener, addr, base_url) = bind(config).await?;
    serve(listener, config, pay.router())?;
    let running = Running {
        addr,
        base_url,
        store: pay.engine.store.describe(),
        registry: pay.engine.clone(),
        link: None,
    };
    Ok((running, pay))
}

/// A running SP-MIS.
pub struct RunningMis {
    /// `http://addr` or, when it terminates TLS, `https://addr`.
    pub base_url: String,
    /// Its store, for reports.
    pub store: String,
    /// The SP-MIS.
    pub mis: mis::Mis,
}

/// Opens the SP-MIS store, applies its migrations and serves the SP-MIS (`[mis]`) on the
/// configured address: its HTTP API, the `/registry/notify` its registries post to, its JWKS
/// and health; then subscribes at the civil registry. It signs as the service, authenticates
/// at each registry with its client secret there, and verifies the civil registry's
/// notifications with its published keys unless `trust.verify` is `off`.
pub async fn start_mis(config: &Config) -> Result<RunningMis> {
    let settings = &config.mis;
    let mut urls = std::collections::BTreeMap::new();
    for (role, url, id, secret) in settings.registries() {
        // The farmer and disability registries and the payments service serve only the
        // programmes and cycles that need them; without them those fail, naming the missing
        // URL.
        if url.is_empty() && !["fr", "dr", pay::ROLE].contains(&role) {
            anyhow::bail!("mis.{role}_url is not set: the SP-MIS needs the {role} registry");
        }
        urls.insert(role, (url.trim_end_matches('/').to_string(), id, secret));
    }
    let store = store::open(&config.store(mis::ROLE), mis::store::MIGRATIONS)
        .await
        .context("opening the SP-MIS store")?;
    let programmes = if settings.programmes_dir.as_os_str().is_empty() {
        mis::programme::shipped()?
    } else {
        mis::Programme::load_dir(&settings.programmes_dir)?
    };
    let signer = crate::keys::for_registry(config, mis::ROLE)?.signer;
    let service_id = config.service_id(mis::ROLE);
    let client = |role: &str| {
        let (url, id, secret) = &urls[role];
        let client =
            client::Client::new(url.as_str(), &service_id, Some(*id)).with_signer(signer.clone());
        if secret.is_empty() {
            client
        } else {
            client.with_credentials(&service_id, secret)
        }
    };
    let registries = mis::Registries {
        crvs: client("crvs"),
        id: client("id"),
        social: client("social"),
        ibr: client("ibr"),
        fr: client("fr"),
        dr: client("dr"),
        pay: client(pay::ROLE),
    };
    let delivery = mis::Delivery {
        dispatch: dispatch::DispatchConfig {
            max_attempts: i64::MAX,
            ..config.registry(mis::ROLE).dispatch
        },
        signer: Some(signer.clone()),
        ibr_token: !settings.ibr_client_secret.is_empty(),
        ..mis::Delivery::default()
    };
    let mis = mis::Mis::start(programmes, store.clone(), registries, delivery).await?;
    let (listener, _, base_url) = bind(config).await?;
    let mut peers = vec![(settings.crvs_id.as_str(), urls["crvs"].0.as_str())];
    if !urls["dr"].0.is_empty() {
        peers.push((settings.dr_id.as_str(), urls["dr"].0.as_str()));
    }
    let keys = peer_keys(config, &peers)?;
    let events = Arc::new(mis::events::Events::new(
        mis.clone(),
        mis::events::EventSettings {
            public_url: Some(settings.public_url.trim_end_matches('/').to_string())
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| base_url.clone()),
            crvs_id: settings.crvs_id.clone(),
            dr_id: settings.dr_id.clone(),
            keys,
        },
    ));
    let jwks = signer.clone();
    let described = store.describe();
    let health = serde_json::json!({"status": "ok", "role": mis::ROLE, "store": described});
    let metrics = Arc::new(registry::metrics::Metrics::default());
    let counted = metrics.clone();
    let outbox = store.clone();
    let app = mis::http::router(mis.clone())
        .merge(events.router())
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            registry::metrics::count,
        ))
        .route(
            "/metrics",
            axum::routing::get(move || async move {
                registry::metrics::serve(&counted, Some(outbox.as_ref())).await
            }),
        )
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(move || std::future::ready(axum::Json(jwks.jwks()))),
        )
        .route(
            "/health",
            axum::routing::get(move || std::future::ready(axum::Json(health.clone()))),
        );
    serve(listener, config, app)?;
    // The civil registry calls back as soon as it takes the subscription: once serving.
    events.spawn();
    Ok(RunningMis {
        base_url,
        store: described,
        mis,
    })
}

/// The ID registry's link to the civil registry (`[id]`), when `profile` is the ID registry's
/// and `id.crvs_url` is set: it signs as the service, authenticates with its client secret,
/// and verifies the civil registry's notifications with its published keys unless
/// `trust.verify` is `off`.
fn crvs_link(
    profile: &Profile,
    config: &Config,
    registry: &Arc<Registry>,
    base_url: &str,
) -> Result<Option<Arc<registry::id::link::CrvsLink>>> {
    let id = &config.id;
    if profile.role != registry::id::PROFILE.role || id.crvs_url.is_empty() {
        return Ok(None);
    }
    let crvs_url = id.crvs_url.trim_end_matches('/').to_string();
    let crvs_keys = peer_keys(config, &[(&id.crvs_id, &crvs_url)])?;
    let settings = registry::id::link::LinkSettings {
        crvs_url,
        crvs_id: id.crvs_id.clone(),
        credentials: Some(id.crvs_client_secret.clone())
            .filter(|secret| !secret.is_empty())
            .map(|secret| (registry.config.service_id.clone(), secret)),
        public_url: Some(id.public_url.trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| base_url.to_string()),
        signer: registry.config.trust.as_ref().map(|t| t.signer.clone()),
        crvs_keys,
    };
    Ok(Some(Arc::new(registry::id::link::CrvsLink::new(
        registry.clone(),
        settings,
    ))))
}

/// The keys of `peers` (participant id, base URL: each one's `/.well-known/jwks.json`), which
/// verify their callbacks and notifications; `None` when `trust.verify` is `off`.
fn peer_keys(
    config: &Config,
    peers: &[(&str, &str)],
) -> Result<Option<Arc<dyn trust::KeyResolver>>> {
    if config.verify_mode()? == crate::config::VerifyMode::Off {
        return Ok(None);
    }
    let keys = trust::JwksFetcher::new(reqwest::Client::new(), trust::JwksFetchOptions::default());
    for (peer_id, base_url) in peers {
        keys.add_peer(peer_id, &format!("{base_url}/.well-known/jwks.json"));
    }
    Ok(Some(Arc::new(keys)))
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// What [`populate`] did.
pub struct Populated {
    /// Households loaded.
    pub households: u64,
    /// Living members loaded.
    pub persons: u64,
    /// What each of the other registries loaded, and how long it took.
    pub others: Vec<(
        &'static Profile,
        registry::import::ImportReport,
        std::time::Duration,
    )>,
    /// Time spent writing the files.
    pub generated_in: std::time::Duration,
    /// Time spent loading the social registry.
    pub loaded_in: std::time::Duration,
    /// Where the files are.
    pub files: std::path::PathBuf,
}

/// Writes the population's files under `dir/population` with `write` (the persons only, or a
/// [`synth::Dataset`] with what every registry derives from them) and loads them into the
/// social registry's `store`, and into each of the `others` registries' stores (with the files
/// they also need: marriages, disabilities, farmers, parcels, programmes, enrolments,
/// benefits), as `spx import` would.
pub async fn populate(
    store: &dyn store::Store,
    others: &[(&'static Profile, &dyn store::Store)],
    write: impl FnOnce(&std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>>,
    dir: &std::path::Path,
) -> Result<Populated> {
    let started = std::time::Instant::now();
    let files = dir.join("population");
    let paths = write(&files)?;
    let generated_in = started.elapsed();
    let started = std::time::Instant::now();
    let import = registry::import::ImportFiles::classify(&paths)?;
    let report = registry::import::import(
        registry::social::PROFILE.role,
        store,
        &import,
        &Default::default(),
    )
    .await?;
    let loaded_in = started.elapsed();
    let mut loaded = Vec::with_capacity(others.len());
    for (profile, other) in others {
        let started = std::time::Instant::now();
        let report =
            registry::import::import(profile.role, *other, &import, &Default::default()).await?;
        loaded.push((*profile, report, started.elapsed()));
    }
    Ok(Populated {
        households: report.households,
        persons: report.persons,
        others: loaded,
        generated_in,
        loaded_in,
        files,
    })
}
