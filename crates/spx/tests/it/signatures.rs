//! Signed envelopes end to end: a requester signs, the registry verifies (enforce), signs its
//! answers and callbacks, and publishes the keys they verify with. (Signatures do not touch
//! the store, so SQLite serves.)

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::support::{
    Backend, TempDir, TestRegistry, async_envelope, envelope, living_uin, registry_config, runtime,
};

pub const TESTS: &[(&str, crate::PlainTest)] = &[
    (
        "signatures::signed_requests_are_served_and_answers_verify",
        signed_requests_are_served_and_answers_verify,
    ),
    (
        "signatures::bad_signatures_get_their_codes",
        bad_signatures_get_their_codes,
    ),
];

/// A signer for `participant` with a key store of its own in `dir`.
pub fn signer(participant: &str, dir: &std::path::Path) -> Result<Arc<trust::Signer>> {
    Ok(Arc::new(trust::Signer::new(participant, key_store(dir)?)))
}

fn key_store(dir: &std::path::Path) -> Result<Arc<RwLock<trust::KeyStore>>> {
    let store = trust::KeyStore::open(dir, trust::StoreKey::generate()?, SystemTime::now())?;
    Ok(Arc::new(RwLock::new(store)))
}

/// A registry that enforces signatures and knows the requester `spmis.test` by `requester`'s
/// keys; with the directory holding both key stores.
async fn enforcing_registry(requester: &trust::Signer) -> Result<(TestRegistry, TempDir)> {
    let dir = TempDir::new("keys");
    let mut peers = trust::StaticKeys::new();
    peers.insert_jwks(requester.sender_id(), &requester.jwks())?;
    let mut config = registry_config();
    config.trust = Some(registry::Trust {
        signer: signer("social.test", &dir.0.join("registry"))?,
        peers: Arc::new(peers),
        verify: registry::Verify::Enforce,
        require_token: false,
        token_lifetime: std::time::Duration::from_secs(600),
    });
    Ok((
        TestRegistry::spawn_with(Backend::Sqlite, config).await?,
        dir,
    ))
}

/// The registry's keys, as a peer finds them: through its `/.well-known/jwks.json`.
fn registry_keys(registry: &TestRegistry) -> Arc<trust::JwksFetcher> {
    let keys = trust::JwksFetcher::new(reqwest::Client::new(), trust::JwksFetchOptions::default());
    keys.add_peer("social.test", &registry.url("/.well-known/jwks.json"));
    Arc::new(keys)
}

fn by_uin(uin: &str) -> Value {
    json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}})
}

fn signed_requests_are_served_and_answers_verify() -> Result<()> {
    runtime().block_on(async {
        let dir = TempDir::new("requester");
        let requester = signer("spmis.test", &dir.0)?;
        let (registry, _keys) = enforcing_registry(&requester).await?;
        let keys = registry_keys(&registry);
        // Sync: a signed search is answered, and the answer's signature verifies.
        let mut body = envelope(vec![by_uin(&living_uin())]);
        requester.sign(&mut body)?;
        let (status, answer) = registry.search(&body).await?;
        ensure!(status == 200, "HTTP {status}: {answer}");
        ensure!(
            answer["message"]["search_response"][0]["status"] == "succ",
            "{answer}"
        );
        let verified = trust::verify_envelope(
            &answer,
            keys.as_ref(),
            SystemTime::now(),
            &trust::VerifyPolicy::default(),
        )
        .await
        .context("the response's signature")?;
        ensure!(verified.sender_id == "social.test");
        // Async: the callback is signed by the registry when it is sent.
        let receiver = client::Receiver::new(client::ReceiverConfig::default()).verify_with(keys);
        receiver.serve("127.0.0.1:0".parse()?).await?;
        let callback_url = receiver
            .callback_url("/registry/on-search")
            .context("receiver URL")?;
        let mut request = async_envelope(vec![by_uin(&living_uin())], &callback_url);
        requester.sign(&mut request)?;
        let (status, ack) = registry.search_at("/registry/search", &request).await?;
        ensure!(
            status == 200 && ack["message"]["ack_status"] == "ACK",
            "{ack}"
        );
        let transaction = request["message"]["transaction_id"]
            .as_str()
            .unwrap_or_default();
        let callback = receiver
            .wait_for(transaction, Duration::from_secs(10))
            .await
            .context("a verified callback")?;
        ensure!(callback.header.status() == Some(dci::RequestStatus::Succ));
        Ok(())
    })
}

fn bad_signatures_get_their_codes() -> Result<()> {
    runtime().block_on(async {
        let dir = TempDir::new("requester");
        let requester_keys = key_store(&dir.0.join("good"))?;
        let requester = Arc::new(trust::Signer::new("spmis.test", requester_keys.clone()));
        let stranger = signer("spmis.test", &dir.0.join("other"))?;
        let impostor = signer("other.spmis", &dir.0.join("impostor"))?;
        let (registry, _keys) = enforcing_registry(&requester).await?;
        let refused = |(status, answer): (u16, Value), code: &str| -> Result<()> {
            ensure!(
                status == 401 && answer["message"]["error"]["code"] == code,
                "expected 401 {code}, got HTTP {status}: {answer}"
            );
            Ok(())
        };
        let good = || envelope(vec![by_uin(&living_uin())]);
        refused(registry.search(&good()).await?, "err.signature.missing")?;
        // One byte of the message changed after signing.
        let mut body = good();
        requester.sign(&mut body)?;
        let text = body.to_string().replacen("\"UIN\"", "\"UIM\"", 1);
        let (status, answer) = post_raw(&registry, &text).await?;
        refused((status, answer), "err.signature.invalid")?;
        // A key the registry does not know for this sender.
        let mut body = good();
        stranger.sign(&mut body)?;
        refused(registry.search(&body).await?, "err.signature.invalid")?;
        // Signed by another participant than the header's sender.
        let mut body = good();
        body["header"]["sender_id"] = json!("other.spmis");
        impostor.sign(&mut body)?;
        body["header"]["sender_id"] = json!("spmis.test");
        refused(registry.search(&body).await?, "err.signature.invalid")?;
        // A signature whose validity has ended (made an hour ago, valid for five minutes).
        let mut body = good();
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let signature = {
            let keys = requester_keys.read().map_err(|_| anyhow::anyhow!("lock"))?;
            trust::sign_envelope(
                &body,
                "spmis.test",
                keys.current(),
                an_hour_ago,
                Duration::from_secs(300),
            )?
        };
        body["signature"] = json!(signature);
        refused(registry.search(&body).await?, "err.signature.invalid")?;
        // And the good one still passes, once: the same signed message again is a replay.
        let mut body = good();
        requester.sign(&mut body)?;
        let (status, answer) = registry.search(&body).await?;
        ensure!(status == 200, "HTTP {status}: {answer}");
        let (status, answer) = registry.search(&body).await?;
        ensure!(
            status == 409 && answer["header"]["status_reason_code"] == "rjct.message_id.duplicate",
            "a replayed message: HTTP {status}: {answer}"
        );
        Ok(())
    })
}

async fn post_raw(registry: &TestRegistry, text: &str) -> Result<(u16, Value)> {
    let response = registry
        .client
        .post(registry.url("/registry/sync/search"))
        .header("content-type", "application/json")
        .body(text.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}
