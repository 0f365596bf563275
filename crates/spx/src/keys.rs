//! A service's signing keys (`[trust]`): its key store, the signer and the peers' keys a
//! registry is started with, and `spx keys list|rotate`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use clap::Subcommand;
use trust::{Algorithm, KeyStore, StoreKey};

use crate::config::{Config, VerifyMode};

/// How often a running service looks for keys rotated by `spx keys rotate`.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// `spx keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// List the service's keys: kid, algorithm, status.
    List,
    /// Make a new current key; the old one keeps verifying for trust.rotation_overlap_days.
    Rotate {
        /// Algorithm of the new key: ed25519, es256 or rs256.
        #[arg(long, default_value = "ed25519")]
        algorithm: String,
        /// Rotate only the encryption key, to this algorithm: ECDH-ES, ECDH-ES+A256KW or
        /// RSA-OAEP-256 (by default a rotation renews both keys, each keeping its algorithm).
        #[arg(long, value_name = "ALG")]
        encryption: Option<String>,
    },
    /// Print the published key set (what /.well-known/jwks.json serves).
    Jwks,
}

/// The key that encrypts the private keys: `trust.store_key`, or the key file next to them
/// (made on first use).
fn store_key(config: &Config, dir: &Path) -> Result<StoreKey> {
    if !config.trust.store_key.is_empty() {
        return StoreKey::parse(&config.trust.store_key).context("trust.store_key");
    }
    let file = dir.join("store.key");
    if file.exists() {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        return StoreKey::parse(text.trim()).with_context(|| file.display().to_string());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = StoreKey::generate()?;
    write_private(&file, &key.to_base64())?;
    tracing::info!(file = %file.display(), "made a key-store key next to the keys; set trust.store_key in production");
    Ok(key)
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Opens the key store of `role`.
pub fn open(config: &Config, role: &str) -> Result<(KeyStore, PathBuf)> {
    let dir = config.key_dir(role);
    let key = store_key(config, &dir)?;
    let store = KeyStore::open(&dir, key, SystemTime::now())
        .with_context(|| format!("opening the key store in {}", dir.display()))?;
    Ok((store, dir))
}

/// What a registry of `role` signs with and verifies against; keeps its keys fresh.
pub fn for_registry(config: &Config, role: &str) -> Result<registry::Trust> {
    let (store, _) = open(config, role)?;
    let keys = Arc::new(RwLock::new(store));
    spawn_reload(config.clone(), role.to_string(), keys.clone());
    let peers = trust::JwksFetcher::new(reqwest::Client::new(), trust::JwksFetchOptions::default());
    for (sender, url) in config.peers()? {
        peers.add_peer(&sender, &url);
    }
    Ok(registry::Trust {
        signer: Arc::new(trust::Signer::new(config.service_id(role), keys)),
        peers: Arc::new(peers),
        verify: match config.verify_mode()? {
            VerifyMode::Enforce => registry::Verify::Enforce,
            VerifyMode::Log => registry::Verify::Log,
            VerifyMode::Off => registry::Verify::Off,
        },
        require_token: config.trust.require_token,
        token_lifetime: Duration::from_secs(config.trust.token_lifetime_seconds.max(1)),
    })
}

/// Re-reads the key store when its file changes (a rotation by `spx keys rotate`).
fn spawn_reload(config: Config, role: String, keys: Arc<RwLock<KeyStore>>) {
    let modified = |keys: &RwLock<KeyStore>| {
        let path = keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .path()
            .to_path_buf();
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    };
    tokio::spawn(async move {
        let mut seen = modified(&keys);
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let now = modified(&keys);
            if now == seen {
                continue;
            }
            match open(&config, &role) {
                Ok((store, _)) => {
                    let kid = store.current().kid().to_string();
                    *keys.write().unwrap_or_else(PoisonError::into_inner) = store;
                    seen = now;
                    tracing::info!(%kid, "signing keys reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot reload the signing keys")
                }
            }
        }
    });
}

/// Runs `spx keys …` for `role`.
pub fn run(action: KeysAction, config: &Config, role: &str) -> Result<()> {
    let (mut store, dir) = open(config, role)?;
    let now = SystemTime::now();
    match action {
        KeysAction::List => {
            for (key, status) in store.keys(now) {
                println!(
                    "{}  sig {:<14} {:?}",
                    key.kid(),
                    key.algorithm().as_str(),
                    status
                );
            }
            for (key, status) in store.encryption_keys(now) {
                println!(
                    "{}  enc {:<14} {:?}",
                    key.kid(),
                    key.algorithm().jose_name(),
                    status
                );
            }
            println!("keys of {} in {}", config.service_id(role), dir.display());
        }
        KeysAction::Rotate {
            encryption: Some(name),
            ..
        } => {
            let algorithm = trust::jwe::KeyManagement::from_jose_name(&name).with_context(|| {
                format!("encryption algorithm '{name}' is not ECDH-ES, ECDH-ES+A256KW or RSA-OAEP-256")
            })?;
            let overlap = Duration::from_secs(config.trust.rotation_overlap_days * 86_400);
            let kid = store
                .rotate_encryption_key(algorithm, now, overlap)?
                .kid()
                .to_string();
            println!(
                "new current encryption key {kid} ({}); the previous one decrypts for {} more day(s)",
                algorithm.jose_name(),
                config.trust.rotation_overlap_days
            );
        }
        KeysAction::Rotate { algorithm, .. } => {
            let algorithm = Algorithm::parse(&algorithm).with_context(|| {
                format!("algorithm '{algorithm}' is not ed25519, es256 or rs256")
            })?;
            let overlap = Duration::from_secs(config.trust.rotation_overlap_days * 86_400);
            let kid = store.rotate(algorithm, now, overlap)?.kid().to_string();
            println!(
                "new current key {kid} ({}); the previous one verifies for {} more day(s); a running service picks it up within {} s",
                algorithm.as_str(),
                config.trust.rotation_overlap_days,
                RELOAD_EVERY.as_secs()
            );
        }
        KeysAction::Jwks => println!("{}", serde_json::to_string_pretty(&store.jwks(now))?),
    }
    Ok(())
}
