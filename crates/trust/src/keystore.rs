//! A service's own keys, signing and encryption, kept in a directory with the private keys
//! encrypted.
//!
//! The directory holds one file, `signing-keys.json` (named before it also held encryption
//! keys), rewritten atomically (temporary file, fsync, rename, fsync of the directory): the
//! signing keys in `keys`, the encryption keys in `encryption_keys`. Each private key is
//! stored as PKCS#8 sealed with AES-256-GCM under the 32-byte [`StoreKey`] the caller supplies
//! (from configuration or the environment); the associated data binds each ciphertext to its
//! `kid`, algorithm and creation time. One process owns a directory at a time.
//!
//! Rotation: [`KeyStore::rotate`] makes a new current signing key and a new current encryption
//! key; the previous current keys stay published (in [`KeyStore::jwks`]), verifying and
//! decrypting until `now + overlap`, then they are retired, and the next rotation deletes them
//! from the file.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jwe::{DecryptionKey, EncryptedMessage, JweError, KeyManagement};
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
        "cannot decrypt the keys in {path}: the key-store encryption key is wrong \
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
    #[error("{path} is not a key-store file: {reason}")]
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
    /// The key new messages are signed with (or encrypted to); published.
    Current,
    /// Replaced, but still published, verifying (or decrypting) until the given moment.
    Overlapping {
        /// When it retires.
        until: SystemTime,
    },
    /// Past its overlap: neither published nor used; deleted at the next rotation.
    Retired,
}

/// A service's keys: one current signing key and one current encryption key, and the previous
/// ones of each in their overlap period.
pub struct KeyStore {
    path: PathBuf,
    store_key: StoreKey,
    signing: KeyRing<SigningKey>,
    encryption: KeyRing<DecryptionKey>,
}

/// The keys of one use, newest first; the first is the current key. Never empty.
struct KeyRing<K> {
    keys: Vec<StoredKey<K>>,
}

struct StoredKey<K> {
    key: K,
    created: u64,
    retire_at: Option<u64>,
}

impl<K> KeyRing<K> {
    /// A ring of one new current key.
    fn new(key: K, now: SystemTime) -> KeyRing<K> {
        KeyRing {
            keys: vec![StoredKey {
                key,
                created: unix_seconds(now),
                retire_at: None,
            }],
        }
    }

    /// The keys read from the file, in order (none for an empty list); refuses a list whose
    /// newest key has a retirement date.
    fn from_stored(mut keys: Vec<StoredKey<K>>) -> Result<Option<KeyRing<K>>, String> {
        // Newest first, the current key (the one without a retirement date) ahead of a key
        // replaced in the same second.
        keys.sort_by(|a, b| {
            (b.created, b.retire_at.is_none()).cmp(&(a.created, a.retire_at.is_none()))
        });
        match keys.first() {
            None => Ok(None),
            Some(first) if first.retire_at.is_some() => {
                Err("no current key (every key has a retirement date)".into())
            }
            Some(_) => Ok(Some(KeyRing { keys })),
        }
    }

    fn current(&self) -> &K {
        &self.keys[0].key
    }

    /// Makes `new` the current key; the others retire at `now + overlap` unless they already
    /// have a date, and those retired at `now` are dropped.
    fn rotate(&mut self, new: K, now: SystemTime, overlap: Duration) {
        let now = unix_seconds(now);
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        keys.push(StoredKey {
            key: new,
            created: now,
            retire_at: None,
        });
        for mut old in std::mem::take(&mut self.keys) {
            let retire_at = *old
                .retire_at
                .get_or_insert(now.saturating_add(overlap.as_secs()));
            if retire_at > now {
                keys.push(old);
            }
        }
        self.keys = keys;
    }

    fn statuses(&self, now: SystemTime) -> impl Iterator<Item = (&K, KeyStatus)> + '_ {
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

    /// The current key and those still overlapping at `now`.
    fn published(&self, now: SystemTime) -> impl Iterator<Item = &K> + '_ {
        self.statuses(now)
            .filter(|(_, status)| *status != KeyStatus::Retired)
            .map(|(key, _)| key)
    }
}

/// What the store needs of a kind of private key to seal it in the file and read it back.
trait SealedKey: Sized {
    /// The algorithm as the file names it.
    type Algorithm: Copy + Serialize + DeserializeOwned;
    fn algorithm(&self) -> Self::Algorithm;
    /// The algorithm's name in the associated data of the sealed key.
    fn sealing_name(algorithm: Self::Algorithm) -> &'static str;
    fn kid(&self) -> &str;
    fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError>;
    fn from_pkcs8(algorithm: Self::Algorithm, der: &[u8]) -> Result<Self, KeyError>;
}

impl SealedKey for SigningKey {
    type Algorithm = Algorithm;
    fn algorithm(&self) -> Algorithm {
        SigningKey::algorithm(self)
    }
    fn sealing_name(algorithm: Algorithm) -> &'static str {
        algorithm.as_str()
    }
    fn kid(&self) -> &str {
        SigningKey::kid(self)
    }
    fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        SigningKey::to_pkcs8(self)
    }
    fn from_pkcs8(algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8(algorithm, der)
    }
}

impl SealedKey for DecryptionKey {
    type Algorithm = KeyManagement;
    fn algorithm(&self) -> KeyManagement {
        DecryptionKey::algorithm(self)
    }
    fn sealing_name(algorithm: KeyManagement) -> &'static str {
        // JOSE names are upper case, so never equal to a signing algorithm's name.
        algorithm.jose_name()
    }
    fn kid(&self) -> &str {
        DecryptionKey::kid(self)
    }
    fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        DecryptionKey::to_pkcs8(self)
    }
    fn from_pkcs8(algorithm: KeyManagement, der: &[u8]) -> Result<Self, KeyError> {
        DecryptionKey::from_pkcs8(algorithm, der)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    /// The signing keys.
    keys: Vec<KeyRecord<Algorithm>>,
    /// Absent from files written before spx had encryption keys.
    #[serde(default)]
    encryption_keys: Vec<KeyRecord<KeyManagement>>,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord<A> {
    kid: String,
    alg: A,
    created: u64,
    #[serde(default)]
    retire_at: Option<u64>,
    /// base64url(nonce || AES-256-GCM(PKCS#8) || tag).
    sealed: String,
}

impl KeyStore {
    /// Opens the key store in `dir`, creating the directory, a first Ed25519 signing key and a
    /// first ECDH-ES (P-256) encryption key when there are none (a store written before
    /// encryption keys existed gets its encryption key here). Refuses a `store_key` that does
    /// not decrypt the stored keys.
    pub fn open(
        dir: &Path,
        store_key: StoreKey,
        now: SystemTime,
    ) -> Result<KeyStore, KeyStoreError> {
        create_private_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let (signing, encryption) = match fs::read(&path) {
            Ok(bytes) => load(&path, &cipher(&store_key)?, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
            Err(source) => return Err(KeyStoreError::Io { path, source }),
        };
        let complete = signing.is_some() && encryption.is_some();
        let store = KeyStore {
            path,
            store_key,
            signing: match signing {
                Some(ring) => ring,
                None => KeyRing::new(SigningKey::generate(Algorithm::Ed25519)?, now),
            },
            encryption: match encryption {
                Some(ring) => ring,
                None => KeyRing::new(DecryptionKey::generate(KeyManagement::EcdhEs)?, now),
            },
        };
        if !complete {
            store.save()?;
        }
        Ok(store)
    }

    fn save(&self) -> Result<(), KeyStoreError> {
        let cipher = cipher(&self.store_key)?;
        let file = KeyFile {
            format: FORMAT.to_owned(),
            keys: seal_records(&cipher, &self.signing)?,
            encryption_keys: seal_records(&cipher, &self.encryption)?,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| corrupt(&self.path, e.to_string()))?;
        write_atomically(&self.path, &bytes)
    }

    /// The key that signs new messages.
    pub fn current(&self) -> &SigningKey {
        self.signing.current()
    }

    /// The encryption key peers are told to encrypt to (the first `use: enc` key of the JWKS).
    pub fn current_encryption_key(&self) -> &DecryptionKey {
        self.encryption.current()
    }

    /// Makes a new current signing key of `algorithm` and a new current encryption key of the
    /// current one's algorithm; the previous current keys keep verifying and decrypting, and
    /// stay in the JWKS, until `now + overlap`. Keys already retired at `now` are deleted.
    pub fn rotate(
        &mut self,
        algorithm: Algorithm,
        now: SystemTime,
        overlap: Duration,
    ) -> Result<&SigningKey, KeyStoreError> {
        let signing = SigningKey::generate(algorithm)?;
        let encryption = DecryptionKey::generate(self.current_encryption_key().algorithm())?;
        self.signing.rotate(signing, now, overlap);
        self.encryption.rotate(encryption, now, overlap);
        self.save()?;
        Ok(self.current())
    }

    /// Makes a new current encryption key of `algorithm` (e.g. RSA-OAEP-256 for peers that
    /// cannot do ECDH-ES), leaving the signing keys as they are; the previous encryption key
    /// keeps decrypting, and stays in the JWKS, until `now + overlap`.
    pub fn rotate_encryption_key(
        &mut self,
        algorithm: KeyManagement,
        now: SystemTime,
        overlap: Duration,
    ) -> Result<&DecryptionKey, KeyStoreError> {
        self.encryption
            .rotate(DecryptionKey::generate(algorithm)?, now, overlap);
        self.save()?;
        Ok(self.current_encryption_key())
    }

    /// Every stored signing key with its status at `now`, newest first.
    pub fn keys(&self, now: SystemTime) -> impl Iterator<Item = (&SigningKey, KeyStatus)> + '_ {
        self.signing.statuses(now)
    }

    /// Every stored encryption key with its status at `now`, newest first.
    pub fn encryption_keys(
        &self,
        now: SystemTime,
    ) -> impl Iterator<Item = (&DecryptionKey, KeyStatus)> + '_ {
        self.encryption.statuses(now)
    }

    /// The signing keys that verify at `now`: the current one and those still overlapping.
    pub fn published(&self, now: SystemTime) -> impl Iterator<Item = &VerifyingKey> + '_ {
        self.signing.published(now).map(SigningKey::verifying_key)
    }

    /// The JWKS to serve at `GET /.well-known/jwks.json` at `now`: the published signing keys
    /// (`"use": "sig"`), then the published encryption keys (`"use": "enc"`), each current key
    /// first.
    pub fn jwks(&self, now: SystemTime) -> Jwks {
        let signing = self.published(now).map(VerifyingKey::to_jwk);
        let encryption = self
            .encryption
            .published(now)
            .map(|key| key.encryption_key().to_jwk());
        Jwks {
            keys: signing.chain(encryption).collect(),
        }
    }

    /// The published signing key `kid` at `now`, if any.
    pub fn verifying_key(&self, kid: &str, now: SystemTime) -> Option<&VerifyingKey> {
        self.published(now).find(|key| key.kid() == kid)
    }

    /// The encryption key `kid` that decrypts at `now` (current or overlapping), if any.
    pub fn decryption_key(&self, kid: &str, now: SystemTime) -> Option<&DecryptionKey> {
        self.encryption.published(now).find(|key| key.kid() == kid)
    }

    /// Decrypts an `EncryptedMessage` sent to this service, with the encryption key its `kid`
    /// names if that key decrypts at `now`.
    pub fn decrypt(&self, message: &Value, now: SystemTime) -> Result<Value, JweError> {
        let encrypted = EncryptedMessage::parse(message)?;
        let key = self
            .decryption_key(encrypted.kid(), now)
            .ok_or_else(|| JweError::UnknownKey(encrypted.kid().to_owned()))?;
        encrypted.decrypt(key)
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
            .field("keys", &self.signing.keys.len())
            .field("encryption", &self.current_encryption_key().kid())
            .field("encryption_keys", &self.encryption.keys.len())
            .finish()
    }
}

/// The signing keys and the encryption keys of the file at `path` (none of a kind the file
/// has none of).
type Loaded = (Option<KeyRing<SigningKey>>, Option<KeyRing<DecryptionKey>>);

fn load(path: &Path, cipher: &LessSafeKey, bytes: &[u8]) -> Result<Loaded, KeyStoreError> {
    let file: KeyFile = serde_json::from_slice(bytes).map_err(|e| corrupt(path, e.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(path, format!("unknown format '{}'", file.format)));
    }
    // The first key of the file failing to decrypt means the wrong store key; any other key,
    // an altered file.
    let no_signing_keys = file.keys.is_empty();
    let signing = KeyRing::from_stored(open_records(path, cipher, file.keys, true)?)
        .map_err(|reason| corrupt(path, reason))?;
    let encryption = KeyRing::from_stored(open_records(
        path,
        cipher,
        file.encryption_keys,
        no_signing_keys,
    )?)
    .map_err(|reason| corrupt(path, format!("encryption keys: {reason}")))?;
    Ok((signing, encryption))
}

fn open_records<K: SealedKey>(
    path: &Path,
    cipher: &LessSafeKey,
    records: Vec<KeyRecord<K::Algorithm>>,
    first_proves_store_key: bool,
) -> Result<Vec<StoredKey<K>>, KeyStoreError> {
    let mut keys = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let mut sealed = URL_SAFE_NO_PAD
            .decode(&record.sealed)
            .map_err(|_| corrupt(path, format!("key '{}' is not base64url", record.kid)))?;
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(corrupt(path, format!("key '{}' is truncated", record.kid)));
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
            .map_err(|_| KeyStoreError::Crypto("bad nonce"))?;
        let aad = associated_data(&record.kid, K::sealing_name(record.alg), record.created);
        let Ok(der) =
            cipher.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut sealed[NONCE_LEN..])
        else {
            return Err(if i == 0 && first_proves_store_key {
                KeyStoreError::WrongStoreKey {
                    path: path.to_owned(),
                }
            } else {
                corrupt(path, format!("key '{}' does not decrypt", record.kid))
            });
        };
        let key = K::from_pkcs8(record.alg, der)?;
        if key.kid() != record.kid {
            return Err(corrupt(
                path,
                format!("key '{}' decrypts to key '{}'", record.kid, key.kid()),
            ));
        }
        keys.push(StoredKey {
            key,
            created: record.created,
            retire_at: record.retire_at,
        });
    }
    Ok(keys)
}

fn seal_records<K: SealedKey>(
    cipher: &LessSafeKey,
    ring: &KeyRing<K>,
) -> Result<Vec<KeyRecord<K::Algorithm>>, KeyStoreError> {
    let random = SystemRandom::new();
    let mut records = Vec::with_capacity(ring.keys.len());
    for stored in &ring.keys {
        let mut nonce = [0u8; NONCE_LEN];
        random
            .fill(&mut nonce)
            .map_err(|_| KeyStoreError::Crypto("random generation failed"))?;
        let (kid, alg) = (stored.key.kid(), stored.key.algorithm());
        let aad = associated_data(kid, K::sealing_name(alg), stored.created);
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
    Ok(records)
}

fn associated_data(kid: &str, algorithm: &str, created: u64) -> String {
    format!("{FORMAT}|{kid}|{algorithm}|{created}")
}

fn corrupt(path: &Path, reason: String) -> KeyStoreError {
    KeyStoreError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

fn cipher(store_key: &StoreKey) -> Result<LessSafeKey, KeyStoreError> {
    let key = UnboundKey::new(&AES_256_GCM, &store_key.0)
        .map_err(|_| KeyStoreError::Crypto("bad AES-256-GCM key"))?;
    Ok(LessSafeKey::new(key))
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

    /// The kids of the JWKS entries with this `use`.
    fn published(store: &KeyStore, key_use: &str, t: u64) -> Vec<String> {
        store
            .jwks(at(t))
            .keys
            .into_iter()
            .filter(|k| k.key_use.as_deref() == Some(key_use))
            .filter_map(|k| k.kid)
            .collect()
    }

    /// A message encrypted to the store's current encryption key, as a peer would from the
    /// JWKS.
    fn encrypted_to(store: &KeyStore, t: u64) -> Value {
        let jwk = store
            .jwks(at(t))
            .keys
            .into_iter()
            .find(|k| k.key_use.as_deref() == Some("enc"))
            .unwrap();
        let key = crate::jwe::EncryptionKey::from_jwk(&jwk).unwrap();
        crate::jwe::encrypt(&serde_json::json!({"t": t}), &key).unwrap()
    }

    #[test]
    fn a_new_store_makes_an_ed25519_key_that_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        assert_eq!(store.current().algorithm(), Algorithm::Ed25519);
        assert_eq!(
            store.current_encryption_key().algorithm(),
            KeyManagement::EcdhEs
        );
        let kid = store.current().kid().to_owned();
        let enc_kid = store.current_encryption_key().kid().to_owned();
        let signature = store.current().sign(b"before restart").unwrap();
        let encrypted = encrypted_to(&store, 1_000);
        drop(store);

        let store = KeyStore::open(dir.path(), store_key(7), at(2_000)).unwrap();
        assert_eq!(store.current().kid(), kid);
        assert_eq!(store.current_encryption_key().kid(), enc_kid);
        assert!(
            store
                .current()
                .verifying_key()
                .verify(b"before restart", &signature)
        );
        assert_eq!(
            store.decrypt(&encrypted, at(2_000)),
            Ok(serde_json::json!({"t": 1_000}))
        );
        // One signing key, then one encryption key.
        let jwks = store.jwks(at(2_000));
        let uses: Vec<_> = jwks
            .keys
            .iter()
            .map(|k| (k.key_use.as_deref(), k.alg.as_deref(), k.kid.as_deref()))
            .collect();
        assert_eq!(
            uses,
            [
                (Some("sig"), Some("EdDSA"), Some(kid.as_str())),
                (Some("enc"), Some("ECDH-ES"), Some(enc_kid.as_str()))
            ]
        );
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
        let signing = store.current().to_pkcs8().unwrap();
        let encryption = store.current_encryption_key().to_pkcs8().unwrap();
        // The Ed25519 seed is bytes 16..48 of its PKCS#8 document; the P-256 scalar is the
        // 32-byte OCTET STRING after the ECPrivateKey version (02 01 01 04 20).
        let scalar_at = encryption
            .windows(5)
            .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
            .unwrap()
            + 5;
        let secrets = [&signing[16..48], &encryption[scalar_at..scalar_at + 32]];
        let file = fs::read(store.path()).unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        // Look for the whole documents, the secrets and their base64 forms.
        for der in [&signing, &encryption] {
            for needle in [STANDARD.encode(der), URL_SAFE_NO_PAD.encode(der)] {
                assert!(!text.contains(&needle));
            }
        }
        for secret in secrets {
            for needle in [STANDARD.encode(secret), URL_SAFE_NO_PAD.encode(secret)] {
                assert!(!text.contains(&needle));
            }
            assert!(!file.windows(32).any(|w| w == secret));
        }
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
        // Backdating a key changes the associated data, so it no longer decrypts.
        let original = file.clone();
        file["keys"][0]["created"] = 999.into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(KeyStore::open(dir.path(), store_key(7), at(1_000)).is_err());

        // An encryption key passed off as a signing key (or the reverse) does not decrypt
        // either: the algorithm is in the associated data.
        let mut file = original.clone();
        file["encryption_keys"][0]["created"] = 999.into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let error = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap_err();
        assert!(matches!(error, KeyStoreError::Corrupt { .. }), "{error}");
        let mut file = original;
        file["encryption_keys"][0]["alg"] = "ECDH-ES+A256KW".into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let error = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap_err();
        assert!(matches!(error, KeyStoreError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn a_store_written_before_encryption_keys_gets_one_and_keeps_its_signing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let kid = store.current().kid().to_owned();
        drop(store);
        // The file as earlier versions wrote it: no encryption_keys member.
        let path = dir.path().join(FILE_NAME);
        let mut file: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        file.as_object_mut()
            .unwrap()
            .remove("encryption_keys")
            .unwrap();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

        let store = KeyStore::open(dir.path(), store_key(7), at(2_000)).unwrap();
        assert_eq!(store.current().kid(), kid);
        let enc_kid = store.current_encryption_key().kid().to_owned();
        assert_eq!(published(&store, "enc", 2_000), [enc_kid.as_str()]);
        // It was saved: the next opening finds the same key.
        let file: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(file["encryption_keys"][0]["kid"], enc_kid.as_str());
        assert_eq!(file["encryption_keys"][0]["alg"], "ECDH-ES");
        let store = KeyStore::open(dir.path(), store_key(7), at(3_000)).unwrap();
        assert_eq!(store.current_encryption_key().kid(), enc_kid);
        assert_eq!(store.current().kid(), kid);
    }

    #[test]
    fn encryption_keys_rotate_with_the_signing_key_and_decrypt_during_the_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let old = store.current_encryption_key().kid().to_owned();
        let before = encrypted_to(&store, 1_000);
        let overlap = Duration::from_secs(3_600);
        store
            .rotate(Algorithm::Ed25519, at(10_000), overlap)
            .unwrap();
        let new = store.current_encryption_key().kid().to_owned();
        assert_ne!(old, new);
        assert_eq!(
            store.current_encryption_key().algorithm(),
            KeyManagement::EcdhEs
        );
        let after = encrypted_to(&store, 10_000);
        assert_eq!(after["header"]["kid"], new.as_str());

        // During the overlap both are published, the new one first, and both decrypt.
        assert_eq!(published(&store, "enc", 13_599), [new.clone(), old.clone()]);
        assert!(store.decrypt(&before, at(13_599)).is_ok());
        assert!(store.decrypt(&after, at(13_599)).is_ok());
        let store = KeyStore::open(dir.path(), store_key(7), at(13_599)).unwrap();
        assert!(store.decrypt(&before, at(13_599)).is_ok());
        assert!(matches!(
            store.encryption_keys(at(13_599)).nth(1).unwrap().1,
            KeyStatus::Overlapping { until } if until == at(13_600)
        ));

        // After it, the old key is neither published nor decrypting.
        assert_eq!(published(&store, "enc", 13_600), [new]);
        assert_eq!(
            store.decrypt(&before, at(13_600)),
            Err(JweError::UnknownKey(old))
        );
        assert_eq!(
            store.decrypt(&after, at(13_600)),
            Ok(serde_json::json!({"t": 10_000}))
        );
    }

    #[test]
    fn the_encryption_key_can_be_rsa_oaep_256_and_stays_so_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KeyStore::open(dir.path(), store_key(7), at(1_000)).unwrap();
        let signing = store.current().kid().to_owned();
        let rsa = store
            .rotate_encryption_key(KeyManagement::RsaOaep256, at(2_000), Duration::ZERO)
            .unwrap()
            .kid()
            .to_owned();
        // The signing key is untouched; the ECDH-ES key retired at once (no overlap asked).
        assert_eq!(store.current().kid(), signing);
        assert_eq!(published(&store, "enc", 2_000), [rsa.as_str()]);
        let jwk = &store.jwks(at(2_000)).keys[1];
        assert_eq!(
            (jwk.kty.as_str(), jwk.alg.as_deref()),
            ("RSA", Some("RSA-OAEP-256"))
        );
        let encrypted = encrypted_to(&store, 2_000);
        assert_eq!(encrypted["header"]["alg"], "RSA-OAEP-256");

        let mut store = KeyStore::open(dir.path(), store_key(7), at(3_000)).unwrap();
        assert_eq!(store.current_encryption_key().kid(), rsa);
        assert_eq!(
            store.decrypt(&encrypted, at(3_000)),
            Ok(serde_json::json!({"t": 2_000}))
        );
        store
            .rotate(Algorithm::Ed25519, at(4_000), Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            store.current_encryption_key().algorithm(),
            KeyManagement::RsaOaep256
        );
        assert_ne!(store.current_encryption_key().kid(), rsa);
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
        let kids = |store: &KeyStore, t| published(store, "sig", t);
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
