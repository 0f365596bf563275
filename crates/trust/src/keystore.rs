//! A service's own signing keys, kept in a directory with the private keys encrypted.
//!
//! The directory holds one file, `signing-keys.json`, rewritten atomically (temporary file,
//! fsync, rename, fsync of the directory). Each private key is stored as PKCS#8 sealed with
//! AES-256-GCM under the 32-byte [`StoreKey`] the caller supplies (from configuration or the
//! environment); the associated data binds each ciphertext to its `kid`, algorithm and
//! creation time. One process owns a directory at a time.
//!
//! Rotation: [`KeyStore::rotate`] makes a new current key; the previous current key stays
//! published (in [`KeyStore::jwks`]) and verifying until `now + overlap`, then it is retired,
//! and the next rotation deletes it from the file.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::keys::{Algorithm, Jwks, KeyError, SigningKey, VerifyingKey};
use crate::unix_seconds;

const FILE_NAME: &str = "signing-keys.json";
const FORMAT: &str = "spx-trust-signing-keys/1";

/// The 32-byte key that encrypts the private keys at rest.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// The key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        StoreKey(bytes)
    }

    /// Reads the key as configuration gives it: base64 (standard or url-safe, padded or not)
    /// or 64 hexadecimal digits, of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<StoreKey, KeyStoreError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| STANDARD_NO_PAD.decode(text))
                .or_else(|_| URL_SAFE.decode(text))
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .ok()
        };
        let bytes = bytes.ok_or(KeyStoreError::BadStoreKey("not base64 or hexadecimal"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyStoreError::BadStoreKey("not 32 bytes"))?;
        Ok(StoreKey(bytes))
    }

    /// A fresh random key, e.g. for `spx keys init`.
    pub fn generate() -> Result<StoreKey, KeyStoreError> {
        let mut bytes = [0; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyStoreError::Crypto("random generation failed"))?;
        Ok(StoreKey(bytes))
    }

    /// The key as standard base64, the form [`StoreKey::parse`] reads.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

/// Why the key store cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The key-store encryption key does not decrypt the stored keys.
    #[error(
        "cannot decrypt the signing keys in {path}: the key-store encryption key is wrong \
         (or the file was altered)"
    )]
    WrongStoreKey {
        /// The key file.
        path: PathBuf,
    },
    /// The configured key-store encryption key is not a 32-byte key.
    #[error("the key-store encryption key is {0}; give 32 bytes as base64 or 64 hex digits")]
    BadStoreKey(&'static str),
    /// The key file cannot be understood.
    #[error("{path} is not a signing-key file: {reason}")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be made or read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The crypto library failed; not expected in practice.
    #[error("{0}")]
    Crypto(&'static str),
}

/// Where a key stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Signs new messages, and is published.
    Current,
    /// Replaced, but still published and verifying until the given moment.
    Overlapping {
        /// When it retires.
        until: SystemTime,
    },
    /// Past its overlap: neither published nor verifying; deleted at the next rotation.
    Retired,
}

/// A service's signing keys: one current key and the previous ones in their overlap period.
pub struct KeyStore {
    path: PathBuf,
    store_key: StoreKey,
    /// Newest first; the first is the current key.
    keys: Vec<StoredKey>,
}

struct StoredKey {
    key: SigningKey,
    created: u64,
    retire_at: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    keys: Vec<KeyRecord>,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    kid: String,
    alg: Algorithm,
    created: u64,
    #[serde(default)]
    retire_at: Option<u64>,
    /// base64url(nonce || AES-256-GCM(PKCS#8) || tag).
    sealed: String,
}

impl KeyStore {
    /// Opens the key store in `dir`, creating the directory and a first Ed25519 key when
    /// there is none. Refuses a `store_key` that does not decrypt the stored keys.
    pub fn open(
        dir: &Path,
        store_key: StoreKey,
        now: SystemTime,
    ) -> Result<KeyStore, KeyStoreError> {
        create_private_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let mut store = KeyStore {
            path,
            store_key,
            keys: Vec::new(),
        };
        match fs::read(&store.path) {
            Ok(bytes) => store.load(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KeyStoreError::Io {
                    path: store.path,
                    source,
                });
            }
        }
        if store.keys.is_empty() {
            store.keys.push(StoredKey {
                key: SigningKey::generate(Algorithm::Ed25519)?,
                created: unix_seconds(now),
                retire_at: None,
            });
            store.save()?;
        }
        Ok(store)
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), KeyStoreError> {
        let corrupt = |reason: String| KeyStoreError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let file: KeyFile = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!("unknown format '{}'", file.format)));
        }
        let cipher = self.cipher()?;
        let mut keys = Vec::with_capacity(file.keys.len());
        for (i, record) in file.keys.into_iter().enumerate() {
            let mut sealed = URL_SAFE_NO_PAD
                .decode(&record.sealed)
                .map_err(|_| corrupt(format!("key '{}' is not base64url", record.kid)))?;
            if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
                return Err(corrupt(format!("key '{}' is truncated", record.kid)));
            }
            let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
                .map_err(|_| KeyStoreError::Crypto("bad nonce"))?;
            let aad = associated_data(&record.kid, record.alg, record.created);
            let Ok(der) =
                cipher.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut sealed[NONCE_LEN..])
            else {
                // The first key failing means the wrong store key; a later one, an altered file.
                return Err(if i == 0 {
                    KeyStoreError::WrongStoreKey {
                        path: self.path.clone(),
                    }
                } else {
                    corrupt(format!("key '{}' does not decrypt", record.kid))
                });
            };
            let key = SigningKey::from_pkcs8(record.alg, der)?;
            if key.kid() != record.kid {
                return Err(corrupt(format!(
                    "key '{}' decrypts to key '{}'",
                    record.kid,
                    key.kid()
                )));
            }
            keys.push(StoredKey {
                key,
                created: record.created,
                retire_at: record.retire_at,
            });
        }
        // Newest first, the current key (the one without a retirement date) ahead of a key
        // replaced in the same second.
        keys.sort_by(|a, b| {
            (b.created, b.retire_at.is_none()).cmp(&(a.created, a.retire_at.is_none()))
        });
        if keys.first().is_some_and(|k| k.retire_at.is_some()) {
            return Err(corrupt(
                "no current key (every key has a retirement date)".into(),
            ));
        }
        self.keys = keys;
        Ok(())
    }

    fn save(&self) -> Result<(), KeyStoreError> {
        let cipher = self.cipher()?;
        let random = SystemRandom::new();
        let mut records = Vec::with_capacity(self.keys.len());
        for stored in &self.keys {
            let mut nonce = [0u8; NONCE_LEN];
            random
                .fill(&mut nonce)
                .map_err(|_| KeyStoreError::Crypto("random generation failed"))?;
            let (kid, alg) = (stored.key.kid(), stored.key.algorithm());
            let aad = associated_data(kid, alg, stored.created);
            let mut sealed = stored.key.to_pkcs8()?;
            cipher
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad.as_bytes()),
                    &mut sealed,
                )
                .map_err(|_| KeyStoreError::Crypto("AES-256-GCM sealing failed"))?;
            records.push(KeyRecord {
                kid: kid.to_owned(),
                alg,
                created: stored.created,
                retire_at: stored.retire_at,
                sealed: URL_SAFE_NO_PAD.encode([&nonce[..], &sealed].concat()),
            });
        }
        let file = KeyFile {
            format: FORMAT.to_owned(),
            keys: records,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| KeyStoreError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &bytes)
    }

    fn cipher(&self) -> Result<LessSafeKey, KeyStoreError> {
        let key = UnboundKey::new(&AES_256_GCM, &self.store_key.0)
            .map_err(|_| KeyStoreError::Crypto("bad AES-256-GCM key"))?;
        Ok(LessSafeKey::new(key))
    }

    /// The key that signs new messages.
    pub fn current(&self) -> &SigningKey {
        &self.keys[0].key
    }

    /// Makes a new current key of `algorithm`; the previous current key keeps verifying, and
    /// stays in the JWKS, until `now + overlap`. Keys already retired at `now` are deleted.
    pub fn rotate(
        &mut self,
        algorithm: Algorithm,
        now: SystemTime,
        overlap: Duration,
    ) -> Result<&SigningKey, KeyStoreError> {
        let now_s = unix_seconds(now);
        let new = StoredKey {
            key: SigningKey::generate(algorithm)?,
            created: now_s,
            retire_at: None,
        };
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        keys.push(new);
        for mut old in std::mem::take(&mut self.keys) {
            let retire_at = *old
                .retire_at
                .get_or_insert(now_s.saturating_add(overlap.as_secs()));
            if retire_at > now_s {
                keys.push(old);
            }
        }
        self.keys = keys;
        self.save()?;
        Ok(self.current())
    }

    /// Every stored key with its status at `now`, newest first.
    pub fn keys(&self, now: SystemTime) -> impl Iterator<Item = (&SigningKey, KeyStatus)> + '_ {
        let now = unix_seconds(now);
        self.keys.iter().enumerate().map(move |(i, stored)| {
            let status = match stored.retire_at {
                None if i == 0 => KeyStatus::Current,
                Some(at) if at > now => KeyStatus::Overlapping {
                    until: crate::unix_time(at),
                },
                _ => KeyStatus::Retired,
            };
            (&stored.key, status)
        })
    }

    /// The keys that verify at `now`: the current one and those still overlapping.
    pub fn published(&self, now: SystemTime) -> impl Iterator<Item = &VerifyingKey> + '_ {
        self.keys(now)
            .filter(|(_, status)| *status != KeyStatus::Retired)
            .map(|(key, _)| key.verifying_key())
    }

    /// The JWKS to serve at `GET /.well-known/jwks.json` at `now`.
    pub fn jwks(&self, now: SystemTime) -> Jwks {
        Jwks {
            keys: self.published(now).map(VerifyingKey::to_jwk).collect(),
        }
    }

    /// The published key `kid` at `now`, if any.
    pub fn verifying_key(&self, kid: &str, now: SystemTime) -> Option<&VerifyingKey> {
        self.published(now).find(|key| key.kid() == kid)
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .field("current", &self.current().kid())
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn associated_data(kid: &str, algorithm: Algorithm, created: u64) -> String {
    format!("{FORMAT}|{kid}|{algorithm}|{created}")
}

fn create_private_dir(dir: &Path) -> Result<(), KeyStoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| KeyStoreError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` and
/// syncs the directory, so that a crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyStoreError::Io { path, source }
    };
    let temporary = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(io(&temporary))?;
    file.write_all(bytes).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    drop(file);
    fs::rename(&temporary, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn store_key(byte: u8) -> StoreKey {
        StoreKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_new_store_makes_an_ed25519_key_that_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        assert_eq!(store.current().algorithm(), Algorithm::Ed25519);
        let kid = store.current().kid().to_owned();
        let signature = store.current().sign(b"before restart").unwrap();
        drop(store);

        let store = KeyStore::open(dir.path(), store_key(7), at(2_000)).unwrap();
        assert_eq!(store.current().kid(), kid);
        assert!(
            store
                .current()
                .verifying_key()
                .verify(b"before restart", &signature)
        );
        assert_eq!(store.jwks(at(2_000)).keys.len(), 1);
        // Nothing but the key file is left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [FILE_NAME]);
    }

    #[test]
    fn private_keys_are_not_stored_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let pkcs8 = store.current().to_pkcs8().unwrap();
        let file = fs::read(store.path()).unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        // The seed is the last 32 bytes of the PKCS#8 document's private key part; look for
        // the whole document and for its base64 forms.
        for needle in [
            STANDARD.encode(&pkcs8),
            URL_SAFE_NO_PAD.encode(&pkcs8),
            STANDARD.encode(&pkcs8[16..48]),
        ] {
            assert!(!text.contains(&needle));
        }
        assert!(!file.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_wrong_store_key_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let error = KeyStore::open(dir.path(), store_key(8), at(1_000)).unwrap_err();
        assert!(
            matches!(error, KeyStoreError::WrongStoreKey { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("encryption key is wrong"),
            "{error}"
        );
        // The file was not replaced by a new key.
        assert!(KeyStore::open(dir.path(), store_key(7), at(1_000)).is_ok());
    }

    #[test]
    fn an_altered_key_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut file: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        // Backdating the key changes the associated data, so it no longer decrypts.
        file["keys"][0]["created"] = 999.into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(KeyStore::open(dir.path(), store_key(7), at(1_000)).is_err());
    }

    #[test]
    fn rotation_keeps_the_old_key_published_for_the_overlap_then_retires_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let old = store.current().verifying_key().clone();
        let overlap = Duration::from_secs(3_600);
        let new = store
            .rotate(Algorithm::Es256, at(10_000), overlap)
            .unwrap()
            .verifying_key()
            .clone();
        assert_ne!(old.kid(), new.kid());
        assert_eq!(store.current().algorithm(), Algorithm::Es256);

        // During the overlap both are published and verify.
        let kids = |store: &KeyStore, t| -> Vec<String> {
            store
                .jwks(at(t))
                .keys
                .into_iter()
                .filter_map(|k| k.kid)
                .collect()
        };
        assert_eq!(kids(&store, 13_599), [new.kid(), old.kid()]);
        assert!(store.verifying_key(old.kid(), at(13_599)).is_some());
        // Reopening keeps the schedule.
        let mut store = KeyStore::open(dir.path(), store_key(7), at(13_599)).unwrap();
        assert_eq!(store.current().kid(), new.kid());
        assert_eq!(kids(&store, 13_599), [new.kid(), old.kid()]);
        assert!(matches!(
            store.keys(at(13_599)).nth(1).unwrap().1,
            KeyStatus::Overlapping { until } if until == at(13_600)
        ));

        // After it, only the new key is.
        assert_eq!(kids(&store, 13_600), [new.kid()]);
        assert!(store.verifying_key(old.kid(), at(13_600)).is_none());
        assert_eq!(store.keys(at(13_600)).nth(1).unwrap().1, KeyStatus::Retired);

        // The next rotation deletes the retired key from the file.
        let newest = store
            .rotate(Algorithm::Ed25519, at(20_000), overlap)
            .unwrap()
            .kid()
            .to_owned();
        let file = fs::read_to_string(store.path()).unwrap();
        assert!(!file.contains(old.kid()));
        assert!(file.contains(new.kid()) && file.contains(&newest));
        assert_eq!(store.keys(at(20_000)).count(), 2);
    }

    #[test]
    fn store_keys_parse_from_base64_and_hex() {
        let key = StoreKey::generate().unwrap();
        let again = StoreKey::parse(&key.to_base64()).unwrap();
        assert_eq!(again.0, key.0);
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(StoreKey::parse(&hex).unwrap().0, key.0);
        assert!(matches!(
            StoreKey::parse("c2hvcnQ="),
            Err(KeyStoreError::BadStoreKey("not 32 bytes"))
        ));
        assert_eq!(format!("{key:?}"), "StoreKey(..)");
    }
}
