//! Tests of the envelope signature profile, end to end through resolvers and the key store.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dci::{ReasonCode, Rejection};
use serde_json::{Value, json};

use crate::signature::{MsgSignature, sign_canonical, signing_string};
use crate::*;

const NOW: u64 = 1_700_000_000;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn envelope(sender_id: &str) -> Value {
    json!({
        "header": {
            "version": "1.0.0",
            "message_id": "0191d3c4-6f1a-7b2e-9c3d-4e5f60718293",
            "message_ts": "2024-01-01T10:00:00.000Z",
            "action": "search",
            "sender_id": sender_id,
            "receiver_id": "crvs.example.org",
            "total_count": 1,
            "is_msg_encrypted": false
        },
        "message": {
            "transaction_id": "T-1",
            "search_request": [{
                "reference_id": "R-1",
                "timestamp": "2024-01-01T10:00:00.000Z",
                "search_criteria": {
                    "reg_type": "ns:org:RegistryType:Civil",
                    "query_type": "idtype-value",
                    "query": {"type": "UIN", "value": "8234567890"}
                }
            }],
            "note": "Zoë, ñ ✓"
        }
    })
}

/// Signs `envelope` as `sender_id` with `key` at NOW for 300 s and puts the signature in.
fn signed(mut envelope: Value, sender_id: &str, key: &SigningKey) -> Value {
    let signature = sign_envelope(&envelope, sender_id, key, at(NOW), DEFAULT_VALIDITY).unwrap();
    envelope["signature"] = Value::String(signature);
    envelope
}

fn keys_of(sender_id: &str, key: &SigningKey) -> StaticKeys {
    let mut keys = StaticKeys::new();
    keys.insert(sender_id, key.verifying_key().clone());
    keys
}

async fn verify_at(
    envelope: &Value,
    keys: &StaticKeys,
    now: u64,
) -> Result<Verified, SignatureError> {
    verify_envelope(envelope, keys, at(now), &VerifyPolicy::default()).await
}

fn rfc8037_key() -> SigningKey {
    let seed = URL_SAFE_NO_PAD
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    SigningKey::ed25519_from_seed(&seed).unwrap()
}

/// The worked example of the crate documentation, computed independently with Python's
/// `hashlib.blake2b` and `cryptography`'s Ed25519 over `json.dumps(sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` (which is JCS for this document).
#[tokio::test]
async fn reproduces_the_documented_example_byte_for_byte() {
    let key = rfc8037_key();
    let envelope = envelope("mis.example.org");
    assert_eq!(
        envelope_digest(&envelope),
        "BLAKE-512=lvF8YRGIRmShynxj6oteRXlzltZe3pooBwcQbZpVrGdp3MXOflQaeREDA0gIrBAdx/6jcgMpxA4W1jazzlwmPg=="
    );
    let signature = sign_envelope(
        &envelope,
        "mis.example.org",
        &key,
        at(NOW),
        DEFAULT_VALIDITY,
    )
    .unwrap();
    assert_eq!(
        signature,
        "Signature: namespace=\"spdci\", \
         kidId=\"mis.example.org|kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k|ed25519\", \
         algorithm=\"ed25519\", created=\"1700000000\", expires=\"1700000300\", \
         headers=\"(created) (expires) digest\", \
         signature=\"XyLfmwOAcVY/MF/R+oqjRG2zocPd0mIuTpKs7HEw49vWFRbLPSvXiUdAtVNT1h5oYjV9+dBvzyDqTCYHPXW3AA==\""
    );
    // The same signature from the envelope's text, whatever its member order and spacing.
    let text = format!(
        "{{ \"message\" : {},\n \"header\": {} }}",
        serde_json::to_string_pretty(&envelope["message"]).unwrap(),
        envelope["header"]
    );
    let canonical = jcs::canonical_text(&text).unwrap();
    let from_text = sign_canonical(
        &canonical,
        "mis.example.org",
        &key,
        at(NOW),
        DEFAULT_VALIDITY,
    );
    assert_eq!(from_text.unwrap(), signature);
    // An existing signature member does not take part in what is signed.
    let mut with_old = envelope.clone();
    with_old["signature"] = json!("stale");
    assert_eq!(
        sign_envelope(
            &with_old,
            "mis.example.org",
            &key,
            at(NOW),
            DEFAULT_VALIDITY
        )
        .unwrap(),
        signature
    );
}

#[tokio::test]
async fn round_trip_for_each_algorithm() {
    for algorithm in Algorithm::ALL {
        let key = SigningKey::generate(algorithm).unwrap();
        let keys = keys_of("mis.example.org", &key);
        let envelope = signed(envelope("mis.example.org"), "mis.example.org", &key);
        let text = envelope["signature"].as_str().unwrap();
        assert!(
            text.contains(&format!("algorithm=\"{algorithm}\"")),
            "{text}"
        );
        let verified = verify_at(&envelope, &keys, NOW + 10).await.unwrap();
        assert_eq!(
            verified,
            Verified {
                sender_id: "mis.example.org".into(),
                kid: key.kid().into(),
                algorithm,
                created: at(NOW),
                expires: at(NOW + 300),
            }
        );
    }
}

#[tokio::test]
async fn any_change_to_the_message_or_header_invalidates() {
    for algorithm in Algorithm::ALL {
        let key = SigningKey::generate(algorithm).unwrap();
        let keys = keys_of("mis.example.org", &key);
        let original = signed(envelope("mis.example.org"), "mis.example.org", &key);

        // One byte of the message.
        let mut tampered = original.clone();
        tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] =
            json!("8234567891");
        let error = verify_at(&tampered, &keys, NOW).await.unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{algorithm}: {error}"
        );
        assert_eq!(error.code(), ReasonCode::SignatureInvalid);

        // The header.
        let mut tampered = original.clone();
        tampered["header"]["receiver_id"] = json!("social.example.org");
        let error = verify_at(&tampered, &keys, NOW).await.unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{algorithm}: {error}"
        );

        // A member added to the message.
        let mut tampered = original.clone();
        tampered["message"]["extra"] = json!(null);
        assert!(verify_at(&tampered, &keys, NOW).await.is_err());

        // The message removed.
        let mut tampered = original.clone();
        tampered.as_object_mut().unwrap().remove("message");
        assert!(verify_at(&tampered, &keys, NOW).await.is_err());

        // One bit of the signature itself.
        let mut tampered = original.clone();
        let text = original["signature"].as_str().unwrap();
        let b64_start = text.rfind("signature=\"").unwrap() + 11;
        let mut bytes = text.as_bytes().to_vec();
        bytes[b64_start + 2] = if bytes[b64_start + 2] == b'A' {
            b'B'
        } else {
            b'A'
        };
        tampered["signature"] = json!(String::from_utf8(bytes).unwrap());
        let error = verify_at(&tampered, &keys, NOW).await.unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{algorithm}: {error}"
        );
    }
}

#[tokio::test]
async fn re_serialising_the_envelope_does_not_matter() {
    // Member order and whitespace change in transit; the canonical form does not.
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let keys = keys_of("mis.example.org", &key);
    let envelope = signed(envelope("mis.example.org"), "mis.example.org", &key);
    let pretty = serde_json::to_string_pretty(&envelope).unwrap();
    let reparsed: Value = serde_json::from_str(&pretty).unwrap();
    verify_at(&reparsed, &keys, NOW).await.unwrap();
}

#[tokio::test]
async fn expired_and_future_signatures_are_refused_with_reasons() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let keys = keys_of("mis.example.org", &key);
    let envelope = signed(envelope("mis.example.org"), "mis.example.org", &key);
    // expires = NOW + 300; 60 s of skew is allowed.
    verify_at(&envelope, &keys, NOW + 360).await.unwrap();
    let error = verify_at(&envelope, &keys, NOW + 361).await.unwrap_err();
    assert_eq!(
        error,
        SignatureError::Expired {
            expires: NOW + 300,
            now: NOW + 361
        }
    );
    assert_eq!(
        error.to_string(),
        "the signature expired at 1700000300 (now 1700000361)"
    );
    assert_eq!(error.code(), ReasonCode::SignatureInvalid);

    verify_at(&envelope, &keys, NOW - 60).await.unwrap();
    let error = verify_at(&envelope, &keys, NOW - 61).await.unwrap_err();
    assert_eq!(
        error,
        SignatureError::NotYetValid {
            created: NOW,
            now: NOW - 61
        }
    );
    assert!(error.to_string().contains("in the future"), "{error}");

    // A validity longer than the policy accepts.
    let mut long = envelope.clone();
    long["signature"] = json!(
        sign_envelope(
            &long,
            "mis.example.org",
            &key,
            at(NOW),
            Duration::from_secs(48 * 3600)
        )
        .unwrap()
    );
    let error = verify_at(&long, &keys, NOW).await.unwrap_err();
    assert!(
        matches!(error, SignatureError::ValidityTooLong { .. }),
        "{error}"
    );
    let lenient = VerifyPolicy {
        max_validity: None,
        ..VerifyPolicy::default()
    };
    verify_envelope(&long, &keys, at(NOW), &lenient)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_kid_unknown_sender_and_a_key_of_another_algorithm() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let envelope = signed(envelope("mis.example.org"), "mis.example.org", &key);

    let error = verify_at(&envelope, &keys_of("mis.example.org", &other), NOW)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SignatureError::UnknownKey {
            sender_id: "mis.example.org".into(),
            kid: key.kid().into()
        }
    );
    assert_eq!(error.code(), ReasonCode::SignatureInvalid);

    let error = verify_at(&envelope, &keys_of("pay.example.org", &key), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignatureError::UnknownSender { .. }),
        "{error}"
    );

    // The key found under the kid is ES256 while the signature claims ed25519.
    let es = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut forged = envelope.clone();
    forged["signature"] = json!(
        envelope["signature"]
            .as_str()
            .unwrap()
            .replace(key.kid(), es.kid())
    );
    let error = verify_at(&forged, &keys_of("mis.example.org", &es), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignatureError::AlgorithmMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn the_signing_sender_must_be_the_header_sender() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    // The key is registered for both, so only the sender check can refuse.
    let mut keys = keys_of("mis.example.org", &key);
    keys.insert("pay.example.org", key.verifying_key().clone());

    // Signed as pay.example.org, then the header claims mis.example.org.
    let mut relabelled = envelope("pay.example.org");
    let signature = sign_envelope(
        &relabelled,
        "pay.example.org",
        &key,
        at(NOW),
        DEFAULT_VALIDITY,
    )
    .unwrap();
    relabelled["header"]["sender_id"] = json!("mis.example.org");
    relabelled["signature"] = json!(signature);
    let error = verify_at(&relabelled, &keys, NOW).await.unwrap_err();
    assert_eq!(
        error,
        SignatureError::SenderMismatch {
            signed_by: "pay.example.org".into(),
            header: "mis.example.org".into()
        }
    );
    assert_eq!(error.code(), ReasonCode::SignatureInvalid);

    // Signing refuses to make such a message in the first place.
    assert!(matches!(
        sign_envelope(
            &envelope("mis.example.org"),
            "pay.example.org",
            &key,
            at(NOW),
            DEFAULT_VALIDITY
        ),
        Err(SignError::SenderMismatch { .. })
    ));

    // A callback header without sender_id: the kidId sender is what the caller authorises.
    let mut callback =
        json!({"header": {"message_id": "1", "action": "on-search", "status": "succ"}});
    callback = signed(callback, "crvs.example.org", &key);
    let mut keys = StaticKeys::new();
    keys.insert("crvs.example.org", key.verifying_key().clone());
    let verified = verify_at(&callback, &keys, NOW).await.unwrap();
    assert_eq!(verified.sender_id, "crvs.example.org");
}

#[tokio::test]
async fn missing_and_malformed_signatures_map_to_their_codes() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let keys = keys_of("mis.example.org", &key);
    for unsigned in [
        envelope("mis.example.org"),
        {
            let mut e = envelope("mis.example.org");
            e["signature"] = json!("");
            e
        },
        {
            let mut e = envelope("mis.example.org");
            e["signature"] = Value::Null;
            e
        },
    ] {
        let error = verify_at(&unsigned, &keys, NOW).await.unwrap_err();
        assert_eq!(error, SignatureError::Missing);
        let rejection = Rejection::from(error);
        assert_eq!(rejection.code, ReasonCode::SignatureMissing);
        assert_eq!(rejection.code.as_str(), "err.signature.missing");
    }
    for (text, reason) in [
        ("Signature: namespace=\"spdci\"", "no kidId"),
        (
            "kidId=\"a|b\", algorithm=\"ed25519\"",
            "not sender_id|key_id|algorithm",
        ),
        (
            "kidId=\"a|b|ed25519\", algorithm=\"es256\", created=\"1\", expires=\"2\", signature=\"AA==\"",
            "kidId says",
        ),
        (
            "kidId=\"a|b|ed25519\", created=\"soon\", expires=\"2\", signature=\"AA==\"",
            "not Unix seconds",
        ),
        (
            "kidId=\"a|b|ed25519\", created=\"3\", expires=\"2\", signature=\"AA==\"",
            "before created",
        ),
        (
            "kidId=\"a|b|ed25519\", created=\"1\", expires=\"2\", headers=\"(created) digest host\", signature=\"AA==\"",
            "host",
        ),
        (
            "kidId=\"a|b|ed25519\", created=\"1\", expires=\"2\", signature=\"***\"",
            "not base64",
        ),
        ("kidId=\"a|b|ed25519\", kidId=\"a|b|ed25519\"", "twice"),
        ("kidId=\"a|b|ed25519", "closing quote"),
        ("Signatur€: kidId=\"a|b|ed25519\"", "not a parameter name"),
    ] {
        let error = MsgSignature::parse(text).unwrap_err();
        assert!(
            matches!(&error, SignatureError::Malformed(r) if r.contains(reason)),
            "{text}: {error}"
        );
        assert_eq!(error.code(), ReasonCode::SignatureInvalid);
    }
    let error = MsgSignature::parse(
        "kidId=\"a|b|hs256\", created=\"1\", expires=\"2\", signature=\"AA==\"",
    )
    .unwrap_err();
    assert_eq!(error, SignatureError::UnsupportedAlgorithm("hs256".into()));
    let mut not_string = envelope("mis.example.org");
    not_string["signature"] = json!({"alg": "EdDSA"});
    assert!(matches!(
        verify_at(&not_string, &keys, NOW).await,
        Err(SignatureError::Malformed(_))
    ));
}

/// The variants peers send: no prefix, `keyId`, another order, unquoted numbers, base64url,
/// another namespace, no `headers`, no `algorithm`.
#[tokio::test]
async fn lenient_input_forms_verify() {
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let keys = keys_of("mis.example.org", &key);
    let envelope = envelope("mis.example.org");
    let signing = signing_string("1700000000", "1700000300", &envelope_digest(&envelope));
    let raw = key.sign(signing.as_bytes()).unwrap();
    let standard = base64::engine::general_purpose::STANDARD.encode(&raw);
    let url = URL_SAFE_NO_PAD.encode(&raw);
    let kid = key.kid();
    for text in [
        format!(
            "namespace=\"dci\", keyId=\"mis.example.org|{kid}|ed25519\", algorithm=\"ed25519\", created=\"1700000000\", expires=\"1700000300\", headers=\"(created) (expires) digest\", signature=\"{standard}\""
        ),
        format!(
            "signature=\"{url}\",created=1700000000,expires=1700000300,keyId=\"mis.example.org|{kid}|ed25519\""
        ),
        format!(
            "SIGNATURE:  Algorithm=\"ED25519\" , KIDID=\"mis.example.org|{kid}|\", created=\"1700000000\", expires=\"1700000300\", signature=\"{standard}\""
        ),
    ] {
        let mut e = envelope.clone();
        e["signature"] = json!(text);
        let verified = verify_at(&e, &keys, NOW)
            .await
            .unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(verified.kid, kid);
    }

    // headers in another order: the signing string follows that order.
    let reordered = format!(
        "(expires): 1700000300\n(created): 1700000000\ndigest: {}",
        envelope_digest(&envelope)
    );
    let raw = key.sign(reordered.as_bytes()).unwrap();
    let mut e = envelope.clone();
    e["signature"] = json!(format!(
        "kidId=\"mis.example.org|{kid}|ed25519\", created=\"1700000000\", expires=\"1700000300\", headers=\"(expires) (created) digest\", signature=\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ));
    verify_at(&e, &keys, NOW).await.unwrap();
}

/// The key store's JWKS, read by a peer, verifies the current key and, during the overlap,
/// the previous one; after the overlap, messages signed with the old key are refused.
#[tokio::test]
async fn rotation_overlap_seen_from_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let store_key = StoreKey::from_bytes([3; 32]);
    let mut store = KeyStore::open(dir.path(), store_key, at(NOW)).unwrap();
    let before = signed(
        envelope("mis.example.org"),
        "mis.example.org",
        store.current(),
    );
    store
        .rotate(Algorithm::Ed25519, at(NOW), Duration::from_secs(3_600))
        .unwrap();
    let after = signed(
        envelope("mis.example.org"),
        "mis.example.org",
        store.current(),
    );
    let lenient = VerifyPolicy {
        max_validity: None,
        clock_skew: Duration::from_secs(7_200),
    };
    let peer_view = |t: u64| {
        let mut keys = StaticKeys::new();
        keys.insert_jwks("mis.example.org", &store.jwks(at(t)))
            .unwrap();
        keys
    };
    // During the overlap both verify (the policy allows old timestamps to isolate the keys).
    let keys = peer_view(NOW + 3_599);
    verify_envelope(&before, &keys, at(NOW + 3_599), &lenient)
        .await
        .unwrap();
    verify_envelope(&after, &keys, at(NOW + 3_599), &lenient)
        .await
        .unwrap();
    // After it, the old key is gone from the JWKS.
    let keys = peer_view(NOW + 3_600);
    let error = verify_envelope(&before, &keys, at(NOW + 3_600), &lenient)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignatureError::UnknownKey { .. }),
        "{error}"
    );
    verify_envelope(&after, &keys, at(NOW + 3_600), &lenient)
        .await
        .unwrap();
}

/// Through a JWKS served over HTTP, as between two spx services.
#[tokio::test]
async fn verifies_with_keys_fetched_from_the_senders_jwks_url() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let jwks = Jwks {
        keys: vec![key.verifying_key().to_jwk()],
    };
    let body = serde_json::to_string(&jwks).unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetcher = JwksFetcher::new(reqwest::Client::new(), JwksFetchOptions::default());
    fetcher.add_peer("mis.example.org", &url);

    let envelope = signed(envelope("mis.example.org"), "mis.example.org", &key);
    let verified = verify_envelope(&envelope, &fetcher, at(NOW), &VerifyPolicy::default())
        .await
        .unwrap();
    assert_eq!(verified.algorithm, Algorithm::Es256);

    // A JWKS URL that does not answer: unavailable, so the sender retries.
    let down = JwksFetcher::new(
        reqwest::Client::new(),
        JwksFetchOptions {
            timeout: Duration::from_millis(500),
            ..JwksFetchOptions::default()
        },
    );
    down.add_peer("mis.example.org", "http://127.0.0.1:9/jwks.json");
    let error = verify_envelope(&envelope, &down, at(NOW), &VerifyPolicy::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignatureError::KeysUnavailable { .. }),
        "{error}"
    );
    assert_eq!(error.code(), ReasonCode::ServiceUnavailable);
}

/// Encrypt then sign, between two services (dci-spec §2.8): the sender encrypts the message to
/// the key the receiver publishes in its JWKS, marks the header and signs the envelope whose
/// `message` is the ciphertext object; the receiver verifies the signature, then decrypts.
#[tokio::test]
async fn encrypt_then_sign_between_two_services() {
    use std::sync::{Arc, RwLock};
    let service = |participant: &str, dir: &std::path::Path| {
        let store = KeyStore::open(dir, StoreKey::generate().unwrap(), SystemTime::now()).unwrap();
        Signer::new(participant, Arc::new(RwLock::new(store)))
    };
    let (registry_dir, mis_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let registry = service("crvs.example.org", registry_dir.path());
    let mis = service("mis.example.org", mis_dir.path());

    // The SP-MIS finds the registry's encryption key in the registry's JWKS.
    let body = serde_json::to_string(&registry.jwks()).unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let registry_keys = JwksFetcher::new(reqwest::Client::new(), JwksFetchOptions::default());
    registry_keys.add_peer("crvs.example.org", &url);
    let recipient = registry_keys
        .encryption_key("crvs.example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recipient.algorithm(), KeyManagement::EcdhEs);

    let mut sent = envelope("mis.example.org");
    let plaintext = sent["message"].clone();
    sent["header"]["is_msg_encrypted"] = true.into();
    sent["message"] = encrypt(&plaintext, &recipient).unwrap();
    mis.sign(&mut sent).unwrap();
    assert!(!sent.to_string().contains("8234567890"));

    // The registry verifies, then decrypts.
    let mut mis_keys = StaticKeys::new();
    mis_keys
        .insert_jwks("mis.example.org", &mis.jwks())
        .unwrap();
    let received: Value = serde_json::from_str(&sent.to_string()).unwrap();
    verify_envelope(
        &received,
        &mis_keys,
        SystemTime::now(),
        &VerifyPolicy::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        registry.decrypter().decrypt(&received["message"]),
        Ok(plaintext)
    );

    // The signature covers the ciphertext: an altered one is refused before decryption.
    let mut altered = received.clone();
    altered["message"]["iv"] = "AAAAAAAAAAAAAAAA".into();
    let error = verify_envelope(
        &altered,
        &mis_keys,
        SystemTime::now(),
        &VerifyPolicy::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, SignatureError::BadSignature { .. }),
        "{error}"
    );
    // Nobody else's keys decrypt it, the sender's included.
    let error = mis.decrypter().decrypt(&received["message"]).unwrap_err();
    assert!(matches!(error, JweError::UnknownKey(_)), "{error}");
    assert_eq!(Rejection::from(error).code, ReasonCode::EncryptionInvalid);
}

/// Speed of signing and verifying a search envelope per algorithm (not a pass/fail test):
/// `cargo test -p trust --release -- --ignored --nocapture measure`.
#[tokio::test]
#[ignore = "a measurement; run in release with --nocapture"]
async fn measure_sign_and_verify_speed() {
    let mut envelope = envelope("mis.example.org");
    // About 1 KiB of canonical JSON.
    envelope["message"]["padding"] = json!("x".repeat(560));
    println!("canonical size: {} bytes", jcs::to_vec(&envelope).len());
    let rounds = |algorithm| match algorithm {
        Algorithm::Rs256 => 500,
        _ => 5_000,
    };
    let time = |n: u32, mut f: Box<dyn FnMut() + '_>| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed() / n
    };
    let digest = time(
        20_000,
        Box::new(|| {
            std::hint::black_box(envelope_digest(&envelope));
        }),
    );
    println!("JCS + BLAKE2b-512 digest: {digest:?}");
    for algorithm in Algorithm::ALL {
        let key = SigningKey::generate(algorithm).unwrap();
        let keys = keys_of("mis.example.org", &key);
        let n = rounds(algorithm);
        let sign = time(
            n,
            Box::new(|| {
                std::hint::black_box(
                    sign_envelope(
                        &envelope,
                        "mis.example.org",
                        &key,
                        at(NOW),
                        DEFAULT_VALIDITY,
                    )
                    .unwrap(),
                );
            }),
        );
        let signed_envelope = signed(envelope.clone(), "mis.example.org", &key);
        let parsed = MsgSignature::parse(signed_envelope["signature"].as_str().unwrap()).unwrap();
        let policy = VerifyPolicy::default();
        let verify = time(
            n,
            Box::new(|| {
                std::hint::black_box(
                    parsed
                        .verify_with_key(&signed_envelope, key.verifying_key(), at(NOW), &policy)
                        .unwrap(),
                );
            }),
        );
        let raw_sig = key.sign(b"x".repeat(1024).as_slice()).unwrap();
        let raw_sign = time(
            n,
            Box::new(|| {
                std::hint::black_box(key.sign(b"x".repeat(1024).as_slice()).unwrap());
            }),
        );
        let raw_verify = time(
            n,
            Box::new(|| {
                assert!(
                    key.verifying_key()
                        .verify(b"x".repeat(1024).as_slice(), &raw_sig)
                );
            }),
        );
        // The whole async path through the resolver, as a handler would call it.
        let start = Instant::now();
        for _ in 0..n {
            verify_envelope(&signed_envelope, &keys, at(NOW), &policy)
                .await
                .unwrap();
        }
        let full = start.elapsed() / n;
        println!(
            "{algorithm}: sign_envelope {sign:?} ({:.0}/s), verify {verify:?} ({:.0}/s), \
             verify_envelope via resolver {full:?}; raw 1 KiB sign {raw_sign:?}, verify {raw_verify:?}",
            1.0 / sign.as_secs_f64(),
            1.0 / verify.as_secs_f64(),
        );
    }
}
