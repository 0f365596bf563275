//! Participants, tokens and access rules end to end: a registry that requires tokens and
//! signatures, participants registered in its store (so on SQLite and PostgreSQL), and each
//! way of being refused, with its code.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, ensure};
use registry::participants::{self, Participant, RateLimit, SignatureForm, scope};
use serde_json::{Value, json};
use trust::access::AccessRules;

use crate::signatures::signer;
use crate::support::{
    Backend, Sink, TempDir, TestRegistry, async_envelope, envelope, living_uin, post_json_with,
    registry_config, token, token_answer,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[(
    "access::participants_tokens_and_access_rules",
    participants_tokens_and_access_rules,
)];

pub(crate) const SECRET: &str = "a-client-secret-for-tests";

/// Registers `participant` in `registry`'s store and has the registry read it.
pub(crate) async fn admit(registry: &TestRegistry, participant: Participant) -> Result<()> {
    let hash = trust::secret::hash(SECRET)?;
    let store = registry.store.as_ref();
    participants::remove(store, &participant.sender_id).await?;
    ensure!(participants::add(store, &participant, &hash).await?);
    registry.registry.participants.reload().await?;
    Ok(())
}

fn participant(sender_id: &str, signer: Option<&trust::Signer>) -> Participant {
    Participant {
        sender_id: sender_id.into(),
        keys: signer.map(|s| s.jwks()),
        allow_unsigned: signer.is_none(),
        callback_prefixes: Vec::new(),
        scopes: scope::DEFAULT.iter().map(|s| s.to_string()).collect(),
        ..Participant::default()
    }
}

/// `envelope(criteria)` sent by `sender`, signed when a signer is given.
fn request(sender: &str, signer: Option<&trust::Signer>, criteria: Vec<Value>) -> Result<Value> {
    let mut body = envelope(criteria);
    body["header"]["sender_id"] = json!(sender);
    if let Some(signer) = signer {
        signer.sign(&mut body)?;
    }
    Ok(body)
}

fn by_uin(uin: &str) -> Value {
    json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}})
}

fn item(answer: &Value) -> &Value {
    &answer["message"]["search_response"][0]
}

fn error_code(answer: &Value) -> &Value {
    &answer["errors"][0]["code"]
}

fn participants_tokens_and_access_rules(backend: Backend) -> Result<()> {
    crate::support::runtime().block_on(async {
        let dir = TempDir::new("access");
        let registry_signer = signer("social.test", &dir.0.join("registry"))?;
        let mis = signer("mis.test", &dir.0.join("mis"))?;
        let mut config = registry_config();
        config.callback_url_prefixes = Vec::new();
        config.trust = Some(registry::Trust {
            signer: registry_signer.clone(),
            peers: Arc::new(trust::StaticKeys::new()),
            verify: registry::Verify::Enforce,
            require_token: true,
            token_lifetime: Duration::from_secs(600),
        });
        let registry = TestRegistry::spawn_with(backend, config).await?;
        let base = registry.url("");
        let search = registry.url("/registry/sync/search");
        let http = reqwest::Client::new();
        let uin = living_uin();

        // mis.test signs, sees identifiers and names only, and may search by UIN or name.
        let mut restricted = participant("mis.test", Some(&mis));
        restricted.access = AccessRules {
            record_types: Some(vec!["Member".into()]),
            fields: Some(vec![
                "member_identifier".into(),
                "demographic_info.name".into(),
                "given_name".into(),
            ]),
            query_types: Some(vec!["idtype-value".into(), "expression".into()]),
            purposes: None,
            match_fields: None,
        };
        restricted.callback_prefixes = vec!["http://127.0.0.1:".into()];
        admit(&registry, restricted).await?;

        // No token: 401.
        let body = request("mis.test", Some(&mis), vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &body, None).await?;
        ensure!(status == 401 && error_code(&answer) == "err.request.unauthorized", "{answer}");

        // The token endpoint: a wrong secret, a grant it does not know, a scope not granted.
        let (status, answer) = token_answer(&base, "mis.test", "wrong-secret-entirely").await?;
        ensure!(status == 401 && answer["error"] == "invalid_client", "{answer}");
        let (status, answer) = token_answer(&base, "nobody.test", SECRET).await?;
        ensure!(status == 401 && answer["error"] == "invalid_client", "{answer}");
        let form = |extra: &str| {
            http.post(format!("{base}/oauth2/client/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("client_id=mis.test&client_secret={SECRET}{extra}"))
                .send()
        };
        let refused = form("&grant_type=password").await?;
        ensure!(refused.status() == 400, "unsupported grant: {}", refused.status());
        let refused = form("&grant_type=client_credentials&scope=registrar.records").await?;
        ensure!(refused.status() == 400, "scope not granted: {}", refused.status());

        // A valid token and signature: served, with only the allowed fields.
        let mis_token = token(&base, "mis.test", SECRET).await?;
        let (status, answer) = post_json_with(&http, &search, &body, Some(&mis_token)).await?;
        ensure!(status == 200, "{answer}");
        let record = &item(&answer)["data"]["reg_records"][0];
        ensure!(record["member_identifier"][0]["identifier_value"] == uin.as_str(), "{answer}");
        ensure!(record["demographic_info"]["name"].is_object(), "{record}");
        let keys: Vec<&String> = record.as_object().context("a record")?.keys().collect();
        ensure!(
            keys.iter().all(|k| k.starts_with('@') || ["member_identifier", "demographic_info"].contains(&k.as_str())),
            "fields beyond the allowed ones: {keys:?}"
        );
        ensure!(
            record["demographic_info"].as_object().map(|d| d.keys().filter(|k| !k.starts_with('@')).count()) == Some(1),
            "demographic_info keeps only its name: {record}"
        );

        // An encrypted message (DCI JWE to the registry's `use: enc` key), signed over the
        // ciphertext: decrypted and served; a garbled one refused with err.encryption.invalid.
        let enc_key = registry_signer
            .jwks()
            .encryption_keys()
            .next()
            .context("the registry publishes an encryption key")??;
        let mut encrypted = request("mis.test", None, vec![by_uin(&uin)])?;
        encrypted["message"] = trust::jwe::encrypt(&encrypted["message"], &enc_key)?;
        encrypted["header"]["is_msg_encrypted"] = json!(true);
        let mut garbled = encrypted.clone();
        mis.sign(&mut encrypted)?;
        let (status, mut answer) = post_json_with(&http, &search, &encrypted, Some(&mis_token)).await?;
        ensure!(
            status == 200 && answer["header"]["is_msg_encrypted"] == true && answer["message"]["ciphertext"].is_string(),
            "the answer to an encrypted request is encrypted: {answer}"
        );
        answer["message"] = mis.decrypter().decrypt(&answer["message"])?;
        ensure!(
            item(&answer)["data"]["reg_records"][0]["member_identifier"][0]["identifier_value"] == uin.as_str(),
            "{answer}"
        );
        garbled["message"]["ciphertext"] = json!("AAAA");
        garbled["header"]["message_id"] = json!(uuid::Uuid::now_v7().to_string());
        mis.sign(&mut garbled)?;
        let (status, answer) = post_json_with(&http, &search, &garbled, Some(&mis_token)).await?;
        ensure!(answer["message"]["error"]["code"] == "err.encryption.invalid", "{status} {answer}");

        // An expired token (issued an hour ago by the registry's own key): 401.
        let stale = trust::TokenIssuer::new(registry_signer.clone(), Duration::from_secs(600))
            .issue("mis.test", &[scope::SEARCH.into()], SystemTime::now() - Duration::from_secs(3600))?;
        let body = request("mis.test", Some(&mis), vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &body, Some(&stale.access_token)).await?;
        ensure!(
            status == 401 && answer["errors"][0]["message"].as_str().unwrap_or_default().contains("expired"),
            "{answer}"
        );

        // Another participant's token with mis.test's message: 403.
        admit(&registry, participant("other.test", None)).await?;
        let other_token = token(&base, "other.test", SECRET).await?;
        let (status, answer) = post_json_with(&http, &search, &body, Some(&other_token)).await?;
        ensure!(status == 403 && error_code(&answer) == "err.request.forbidden", "{answer}");

        // Searching on a hidden field, for a hidden record type, with a query type not
        // allowed: each item refused with err.request.forbidden; the allowed one served.
        let hidden_field = json!({"reg_record_type": "Member", "query_type": "expression",
            "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": {"birth_date": {"$lt": "1960-01-01"}}}}});
        let visible_field = json!({"reg_record_type": "Member", "query_type": "expression",
            "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": {"given_name": {"$eq": "Nobody-At-All"}}}}});
        let hidden_type = json!({"reg_record_type": "Group", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}});
        let predicate = json!({"reg_record_type": "Member", "query_type": "predicate",
            "query": [{"seq_num": 1, "expression1": {"attribute_name": "given_name", "operator": "eq", "attribute_value": "x"}}]});
        let body = request("mis.test", Some(&mis), vec![hidden_field, visible_field, hidden_type, predicate])?;
        let (status, answer) = post_json_with(&http, &search, &body, Some(&mis_token)).await?;
        ensure!(status == 200, "{answer}");
        let items = answer["message"]["search_response"].as_array().context("items")?;
        let codes: Vec<&str> = items.iter().map(|i| i["status_reason_code"].as_str().unwrap_or(i["status"].as_str().unwrap_or_default())).collect();
        ensure!(
            codes == ["err.request.forbidden", "succ", "err.request.forbidden", "err.request.forbidden"],
            "{codes:?}: {answer}"
        );

        // A tampered signature: refused with its code.
        let mut tampered = request("mis.test", Some(&mis), vec![by_uin(&uin)])?;
        tampered["message"]["transaction_id"] = json!("txn-tampered");
        let (status, answer) = post_json_with(&http, &search, &tampered, Some(&mis_token)).await?;
        ensure!(status == 401 && answer["message"]["error"]["code"] == "err.signature.invalid", "{status} {answer}");

        // The same signed message again, before its signature expires: a replay.
        let once = request("mis.test", Some(&mis), vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &once, Some(&mis_token)).await?;
        ensure!(status == 200, "{answer}");
        let (status, answer) = post_json_with(&http, &search, &once, Some(&mis_token)).await?;
        ensure!(status == 409 && answer["header"]["status_reason_code"] == "rjct.message_id.duplicate", "{status} {answer}");

        // Unsigned: refused for mis.test, served for other.test (allowed to send unsigned).
        let unsigned = request("mis.test", None, vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &unsigned, Some(&mis_token)).await?;
        ensure!(status == 401 && answer["message"]["error"]["code"] == "err.signature.missing", "{status} {answer}");
        let unsigned = request("other.test", None, vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &unsigned, Some(&other_token)).await?;
        ensure!(status == 200 && item(&answer)["status"] == "succ", "{answer}");

        // Callbacks only under the participant's own prefixes; scopes per endpoint.
        let sink = Sink::start().await?;
        let mut async_body = async_envelope(vec![by_uin(&uin)], &sink.url());
        async_body["header"]["sender_id"] = json!("other.test");
        let (status, answer) = post_json_with(&http, &registry.url("/registry/search"), &async_body, Some(&other_token)).await?;
        ensure!(status == 400 && answer["message"]["error"]["code"] == "err.sender_uri.invalid", "{status} {answer}");
        async_body["header"]["sender_id"] = json!("mis.test");
        mis.sign(&mut async_body)?;
        let (status, answer) = post_json_with(&http, &registry.url("/registry/search"), &async_body, Some(&mis_token)).await?;
        ensure!(status == 200 && answer["message"]["ack_status"] == "ACK", "{answer}");
        sink.wait(Duration::from_secs(10), |got| !got.is_empty()).await?;
        // Asking for that transaction's status returns its answer again: a disclosure too.
        let mut status_request = request("mis.test", None, vec![])?;
        status_request["header"]["action"] = json!("txn-status");
        status_request["header"]["total_count"] = json!(1);
        status_request["message"] = json!({"transaction_id": "status-1", "txnstatus_request": {
            "reference_id": "q-1", "txn_type": "search", "attribute_type": "transaction_id",
            "attribute_value": async_body["message"]["transaction_id"]}});
        mis.sign(&mut status_request)?;
        let (status, answer) = post_json_with(&http, &registry.url("/registry/sync/txn/status"), &status_request, Some(&mis_token)).await?;
        ensure!(status == 200, "{answer}");
        // An encrypted async search: its callback comes encrypted for mis.test.
        let mut encrypted_async = async_envelope(vec![by_uin(&uin)], &sink.url());
        encrypted_async["header"]["sender_id"] = json!("mis.test");
        encrypted_async["header"]["is_msg_encrypted"] = json!(true);
        encrypted_async["message"] = trust::jwe::encrypt(&encrypted_async["message"], &enc_key)?;
        mis.sign(&mut encrypted_async)?;
        let (status, answer) = post_json_with(&http, &registry.url("/registry/search"), &encrypted_async, Some(&mis_token)).await?;
        ensure!(status == 200 && answer["message"]["ack_status"] == "ACK", "{answer}");
        let got = sink.wait(Duration::from_secs(10), |got| got.len() >= 2).await?;
        let callback = &got[1];
        ensure!(callback["header"]["is_msg_encrypted"] == true, "{callback}");
        let opened = mis.decrypter().decrypt(&callback["message"])?;
        ensure!(
            opened["search_response"][0]["data"]["reg_records"][0]["member_identifier"][0]["identifier_value"] == uin.as_str(),
            "{opened}"
        );
        // A requester that publishes no encryption key cannot ask for an encrypted answer.
        let mut keyless = request("other.test", None, vec![by_uin(&uin)])?;
        keyless["message"] = trust::jwe::encrypt(&keyless["message"], &enc_key)?;
        keyless["header"]["is_msg_encrypted"] = json!(true);
        let (_, answer) = post_json_with(&http, &search, &keyless, Some(&other_token)).await?;
        ensure!(answer["message"]["error"]["code"] == "err.encryption.invalid", "{answer}");
        let mut searcher = participant("search-only.test", None);
        searcher.scopes = vec![scope::SEARCH.into()];
        admit(&registry, searcher).await?;
        let search_only = token(&base, "search-only.test", SECRET).await?;
        let (status, answer) = post_json_with(&http, &registry.url("/registry/subscribe"), &json!({}), Some(&search_only)).await?;
        ensure!(status == 403 && error_code(&answer) == "err.request.forbidden", "{answer}");

        // A purpose is required when the participant's rules name purposes.
        let mut purposeful = participant("purpose.test", None);
        purposeful.access.purposes = Some(vec!["ELIGIBILITY".into()]);
        admit(&registry, purposeful).await?;
        let purpose_token = token(&base, "purpose.test", SECRET).await?;
        let mut with_purpose = by_uin(&uin);
        with_purpose["authorize"] = json!({"@type": "Authorize", "ts": dci::Timestamp::now().to_string(), "purpose": {"code": "eligibility"}});
        let body = request("purpose.test", None, vec![by_uin(&uin), with_purpose])?;
        let (_, answer) = post_json_with(&http, &search, &body, Some(&purpose_token)).await?;
        let statuses: Vec<&Value> = answer["message"]["search_response"].as_array().context("items")?.iter().map(|i| &i["status"]).collect();
        ensure!(statuses == [&json!("rjct"), &json!("succ")], "{answer}");

        // A rate limit: 2 at once, then 429 with Retry-After.
        let mut limited = participant("limited.test", None);
        limited.rate_limit = Some(RateLimit { per_second: 0.5, burst: 2 });
        admit(&registry, limited).await?;
        let limited_token = token(&base, "limited.test", SECRET).await?;
        let body = request("limited.test", None, vec![by_uin(&uin)])?;
        for _ in 0..2 {
            let (status, answer) = post_json_with(&http, &search, &body, Some(&limited_token)).await?;
            ensure!(status == 200, "{answer}");
        }
        let response = http.post(&search).bearer_auth(&limited_token).json(&body).send().await?;
        ensure!(response.status() == 429, "{}", response.status());
        let retry_after: u64 = response.headers().get("retry-after").context("Retry-After")?.to_str()?.parse()?;
        ensure!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
        let answer: Value = response.json().await?;
        ensure!(error_code(&answer) == "err.request.too_many_requests", "{answer}");

        // A detached-JWS participant (the OpenG2P form): the Signature header over the body.
        let jws_key = trust::SigningKey::generate(trust::Algorithm::Ed25519)?;
        let mut jws_participant = participant("jws.test", None);
        jws_participant.allow_unsigned = false;
        jws_participant.keys = Some(trust::Jwks { keys: vec![jws_key.verifying_key().to_jwk()] });
        jws_participant.signature = SignatureForm::JwsDetached;
        admit(&registry, jws_participant).await?;
        let jws_token = token(&base, "jws.test", SECRET).await?;
        let body = request("jws.test", None, vec![by_uin(&uin)])?.to_string();
        let detached = trust::sign_detached_jws(body.as_bytes(), &jws_key)?;
        let send = |body: String, signature: String| {
            http.post(&search)
                .bearer_auth(&jws_token)
                .header("content-type", "application/json")
                .header("signature", signature)
                .body(body)
                .send()
        };
        let served = send(body.clone(), detached.clone()).await?;
        ensure!(served.status() == 200, "{}", served.text().await?);
        let altered = body.replacen("txn-1", "txn-2", 1);
        let refused = send(altered, detached).await?;
        ensure!(refused.status() == 401, "altered body: {}", refused.status());

        // A compact-JWS participant: the envelope's signature is a JWS whose payload is its
        // header and message.
        let compact_key = trust::SigningKey::generate(trust::Algorithm::Es256)?;
        let mut compact_participant = participant("compact.test", None);
        compact_participant.allow_unsigned = false;
        compact_participant.keys = Some(trust::Jwks { keys: vec![compact_key.verifying_key().to_jwk()] });
        compact_participant.signature = SignatureForm::JwsCompact;
        admit(&registry, compact_participant).await?;
        let compact_token = token(&base, "compact.test", SECRET).await?;
        let mut body = request("compact.test", None, vec![by_uin(&uin)])?;
        let signed = json!({"header": body["header"], "message": body["message"]});
        body["signature"] = json!(trust::sign_compact_jws(signed.to_string().as_bytes(), &compact_key)?);
        let (status, answer) = post_json_with(&http, &search, &body, Some(&compact_token)).await?;
        ensure!(status == 200 && item(&answer)["status"] == "succ", "{answer}");
        body["message"]["transaction_id"] = json!("txn-other");
        body["header"]["message_id"] = json!(uuid::Uuid::now_v7().to_string());
        let (status, answer) = post_json_with(&http, &search, &body, Some(&compact_token)).await?;
        ensure!(status == 401 && answer["message"]["error"]["code"] == "err.signature.invalid", "{status} {answer}");

        // A notification carries only what the subscriber may see, and is audited.
        let newcomer = crate::subscription::new_uin(41);
        let mut subscribe = request("mis.test", Some(&mis), vec![])?;
        subscribe["header"]["action"] = json!("subscribe");
        subscribe["header"]["total_count"] = json!(2);
        subscribe["header"]["sender_uri"] = json!(format!("http://{}/registry/on-subscribe", sink.addr));
        subscribe["message"] = json!({"transaction_id": "sub-access", "subscribe_request": [{
            "reference_id": "s1", "timestamp": dci::Timestamp::now().to_string(),
            "subscribe_criteria": crate::subscription::criteria("REGISTER", "Member", &format!("uin = \"{newcomer}\""))}, {
            "reference_id": "s2", "timestamp": dci::Timestamp::now().to_string(),
            "subscribe_criteria": crate::subscription::criteria("REGISTER", "Member", "birth_date < \"1950-01-01\"")}]});
        // Subscribed encrypted: the answer and the notifications come encrypted too.
        subscribe["message"] = trust::jwe::encrypt(&subscribe["message"], &enc_key)?;
        subscribe["header"]["is_msg_encrypted"] = json!(true);
        mis.sign(&mut subscribe)?;
        let (status, answer) = post_json_with(&http, &registry.url("/registry/subscribe"), &subscribe, Some(&mis_token)).await?;
        ensure!(status == 200 && answer["message"]["ack_status"] == "ACK", "{answer}");
        let mut registrar = participant("registrar.test", None);
        registrar.scopes = vec![scope::REGISTRAR.into()];
        admit(&registry, registrar).await?;
        let registrar_token = token(&base, "registrar.test", SECRET).await?;
        let household = crate::support::fixture().population.persons.iter().find_map(|p| p.household_id.clone()).context("a household")?;
        let member = json!({"uin": newcomer, "given_name": "Ama", "surname": "Test", "sex": "female", "birth_date": "1990-04-02",
            "marital_status": "M", "household_id": household, "relationship_to_head": "EXT", "is_disabled": false});
        let (status, answer) = post_json_with(&http, &registry.url("/registrar/records"), &json!({"persons": [member]}), Some(&registrar_token)).await?;
        ensure!(status == 200, "{answer}");
        let subscribed = sink
            .wait(Duration::from_secs(10), |got| got.iter().any(|v| v["header"]["action"] == "on-subscribe"))
            .await?;
        let answer = subscribed.iter().find(|v| v["header"]["action"] == "on-subscribe").context("on-subscribe")?;
        ensure!(answer["header"]["is_msg_encrypted"] == true, "{answer}");
        let opened = mis.decrypter().decrypt(&answer["message"])?;
        let items = &opened["subscribe_response"];
        ensure!(
            items[0]["status"] == "succ" && items[1]["status_reason_code"] == "err.request.forbidden",
            "a subscription on a hidden field is refused: {answer}"
        );
        let got = sink
            .wait(Duration::from_secs(10), |got| got.iter().any(|v| v["header"]["action"] == "notify"))
            .await
            .with_context(|| format!("{:#?}", sink.received().last()))?;
        let notified = got.iter().find(|v| v["header"]["action"] == "notify").context("a notify")?;
        ensure!(notified["header"]["is_msg_encrypted"] == true, "{notified}");
        let opened = mis.decrypter().decrypt(&notified["message"])?;
        let record = &opened["notify_event"][0]["data"]["reg_records"];
        ensure!(record["member_identifier"][0]["identifier_value"] == newcomer.as_str(), "{record}");
        ensure!(record.get("demographic_info").and_then(|d| d.get("birth_date")).is_none() && record.get("household_id").is_none(), "hidden fields notified: {record}");
        let seen = store::audit::who_saw(registry.store.as_ref(), &format!("UIN:{newcomer}")).await?;
        ensure!(
            seen.iter().any(|r| r.entry.action.as_deref() == Some("notify") && r.entry.participant.as_deref() == Some("mis.test")),
            "{seen:?}"
        );

        // A removed participant's token stops working.
        participants::remove(registry.store.as_ref(), "other.test").await?;
        registry.registry.participants.reload().await?;
        let body = request("other.test", None, vec![by_uin(&uin)])?;
        let (status, answer) = post_json_with(&http, &search, &body, Some(&other_token)).await?;
        ensure!(status == 401 && error_code(&answer) == "err.request.unauthorized", "{answer}");

        // The audit chain holds every exchange, refusals included, and verifies; who-saw finds
        // the person's disclosures to mis.test, sync and by callback.
        let verdict = store::audit::verify(registry.store.as_ref(), None).await?;
        ensure!(matches!(verdict, store::audit::Verdict::Intact(_)), "{verdict:?}");
        let rows = registry
            .store
            .read(vec![store::Statement::new(
                "SELECT outcome FROM audit_log ORDER BY seq",
                vec![],
                &[store::ColumnType::Text],
            )])
            .await?;
        let outcomes: Vec<String> = rows[0]
            .iter()
            .filter_map(|row| match row.first() {
                Some(Some(store::SqlValue::Text(outcome))) => Some(outcome.clone()),
                _ => None,
            })
            .collect();
        for code in [
            "err.request.unauthorized",
            "err.request.forbidden",
            "err.request.too_many_requests",
            "err.signature.invalid",
            "err.signature.missing",
            "err.encryption.invalid",
            "err.sender_uri.invalid",
            "rjct.message_id.duplicate",
            "succ",
            "ack",
        ] {
            ensure!(outcomes.iter().any(|o| o == code), "no {code} entry in {outcomes:?}");
        }
        let seen = store::audit::who_saw(registry.store.as_ref(), &format!("UIN:{uin}")).await?;
        let by_mis: Vec<&store::audit::Record> = seen
            .iter()
            .filter(|r| r.entry.participant.as_deref() == Some("mis.test"))
            .collect();
        ensure!(
            by_mis.iter().any(|r| r.entry.endpoint == "/registry/sync/search")
                && by_mis.iter().any(|r| r.entry.action.as_deref() == Some("on-search"))
                && by_mis.iter().any(|r| r.entry.endpoint == "/registry/sync/txn/status"),
            "{seen:?}"
        );
        Ok(())
    })
}
