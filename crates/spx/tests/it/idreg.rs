//! The foundational ID registry over DCI, on each backend: identities searched with the three
//! query types and checked against the generated population, identity verification (and a
//! verify-only participant that learns nothing new), refusals, and the civil registry's
//! deaths marking identities deceased through a subscription (dci-spec §7.5), with the two
//! registries as separate HTTP services.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use registry::id::link::{CrvsLink, LinkSettings, Subscribed};
use registry::participants::{Participant, scope};
use serde_json::{Value, json};
use trust::access::AccessRules;

use crate::access::{SECRET, admit};
use crate::crvs::{homes, identifier, persons};
use crate::signatures::signer;
use crate::subscription::{criteria, notifications, subscribe};
use crate::support::{
    Backend, Sink, TempDir, TestRegistry, by_id, fixture, post_json, post_json_with,
    registry_config, runtime, serve_until_stopped, text, texts, token,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "idreg::identities_by_identifier_expression_and_predicate",
        identities_by_identifier_expression_and_predicate,
    ),
    (
        "idreg::verification_answers_yes_or_no_and_a_verify_only_participant_learns_nothing_new",
        verification_answers_yes_or_no_and_a_verify_only_participant_learns_nothing_new,
    ),
    (
        "idreg::bad_searches_get_their_codes",
        bad_searches_get_their_codes,
    ),
    (
        "idreg::a_crvs_death_marks_the_identity_deceased_once_and_notifies_its_subscribers",
        a_crvs_death_marks_the_identity_deceased_once_and_notifies_its_subscribers,
    ),
];

const ID: &str = "id.test";
const CRVS: &str = "crvs.test";

async fn spawn(backend: Backend) -> Result<TestRegistry> {
    TestRegistry::spawn_as(backend, &registry::id::PROFILE, ID).await
}

/// The identity of `uin`, as a search by UIN returns it.
async fn identity(registry: &TestRegistry, uin: &str) -> Result<Value> {
    let item = registry.one(by_id("Identity", "UIN", uin)).await?;
    ensure!(item["pagination"]["total_count"] == 1, "{uin}: {item}");
    Ok(item["data"]["reg_records"][0].clone())
}

fn identities_by_identifier_expression_and_predicate(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let homes = homes();
        let today = fixture().today;
        let deceased = persons()
            .iter()
            .find(|p| p.death_date.is_some() && homes.contains_key(p.uin.as_str()))
            .context("a deceased person")?;
        let living = persons()
            .iter()
            .find(|p| p.death_date.is_none() && p.birth_date.year() < 1970)
            .context("a living elder")?;
        for person in [deceased, living] {
            let record = identity(&registry, &person.uin).await?;
            let issued = synth::identity::issuance(person, today);
            let home = homes[person.uin.as_str()];
            ensure!(record["@type"] == "Identity", "{record}");
            ensure!(identifier(&record, "UIN").as_deref() == Some(person.uin.as_str()));
            ensure!(
                record["name"]["given_name"] == person.given_name.as_str()
                    && record["name"]["surname"] == person.surname.as_str()
                    && record["sex"] == person.sex.as_str()
                    && record["birth_date"] == person.birth_date.to_string(),
                "{record}"
            );
            ensure!(
                record["address"][0]["region_code"] == home.region_code.as_str()
                    && record["address"][0]["sub_region_code"] == home.district_code.as_str(),
                "{record}"
            );
            ensure!(record["issuance_date"] == issued.issuance_date.to_string());
            let card = issued.card.context("an adult's card")?;
            ensure!(
                record["id_document"]
                    == json!({"type": "NationalIdCard", "document_number": card.number,
                        "date_of_issuance": card.issued.to_string(), "date_of_expiry": card.expires.to_string()}),
                "{record}"
            );
            match person.death_date {
                Some(died) => {
                    let drn = synth::vital::drn(&person.uin, died);
                    ensure!(
                        record["status"] == "deceased"
                            && record["death_date"] == died.to_string()
                            && record["death_registration"]["identifier_value"] == drn.as_str(),
                        "{record}"
                    );
                    // The civil registry's DRN finds the identity too.
                    let item = registry.one(by_id("Identity", "DRN", &drn)).await?;
                    ensure!(identifier(&item["data"]["reg_records"][0], "UIN").as_deref() == Some(person.uin.as_str()));
                }
                None => ensure!(
                    record["status"] == "alive" && record.get("death_date").is_none() && record.get("death_registration").is_none(),
                    "{record}"
                ),
            }
        }
        // The default record type is the identity; reg_type ID (or a variant) is this registry.
        let item = registry
            .one(json!({"reg_type": "NationalID", "query_type": "idtype-value", "query": {"type": "NID", "value": living.uin}}))
            .await?;
        ensure!(item["data"]["reg_type"] == "ns:org:RegistryType:ID" && item["data"]["reg_record_type"] == "Identity", "{item}");

        let everyone = persons().len() as i64;
        let dead = persons().iter().filter(|p| p.death_date.is_some()).count() as i64;
        ensure!(registry.count("Identity", "expression", text("age >= 0")).await? == everyone);
        ensure!(registry.count("Identity", "expression", text(r#"status = "Dead""#)).await? == dead);
        ensure!(registry.count("Identity", "expression", text("is_deceased = false")).await? == everyone - dead);

        // Living women of a region born before 1960 (NoSql).
        let region = fixture().population.households[0].region_code.as_str();
        let born_before = time::macros::date!(1960 - 01 - 01);
        let expected = persons()
            .iter()
            .filter(|p| p.death_date.is_none() && p.sex == "female" && p.birth_date < born_before)
            .filter(|p| homes[p.uin.as_str()].region_code == region)
            .count() as i64;
        ensure!(expected > 0, "the fixture should have elder women there");
        let query = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"$and": [
            {"address.region_code": {"$eq": region}}, {"gender": {"$eq": "F"}},
            {"birth_date": {"$lt": born_before.to_string()}}, {"status": {"$eq": "alive"}}]}}});
        ensure!(registry.count("Identity", "expression", query).await? == expected);

        // Cards of the living to renew within a year (predicate list).
        let within_a_year = today + time::Duration::days(365);
        let expected = persons()
            .iter()
            .filter(|p| p.death_date.is_none())
            .filter(|p| synth::identity::issuance(p, today).card.is_some_and(|c| c.expires < within_a_year))
            .count() as i64;
        ensure!(expected > 0, "the fixture should have cards to renew");
        let expiring = json!([
            {"seq_num": 1, "expression1": {"attribute_name": "id_document.date_of_expiry", "operator": "lt", "attribute_value": within_a_year.to_string()},
             "condition": "and", "expression2": {"attribute_name": "status", "operator": "eq", "attribute_value": "alive"}}]);
        ensure!(registry.count("Identity", "predicate", expiring).await? == expected);
        // The sort is the caller's: the oldest identity first.
        let item = registry
            .one(json!({"query_type": "expression", "query": text("age >= 0"),
                "sort": [{"attribute_name": "birth_date", "sort_order": "asc"}], "pagination": {"page_size": 1, "page_number": 1}}))
            .await?;
        let oldest = persons().iter().map(|p| p.birth_date).min().context("people")?;
        ensure!(item["data"]["reg_records"][0]["birth_date"] == oldest.to_string(), "{item}");
        Ok(())
    })
}

/// `uin = … AND given_name = … AND surname = … AND birth_date = …` as a text expression.
fn verification(person: &synth::Person, birth_date: time::Date) -> Value {
    text(&format!(
        r#"uin = "{}" AND given_name = "{}" AND surname = "{}" AND birth_date = "{birth_date}""#,
        person.uin, person.given_name, person.surname
    ))
}

fn verification_answers_yes_or_no_and_a_verify_only_participant_learns_nothing_new(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let living = persons().iter().find(|p| p.death_date.is_none()).context("a living person")?;
        let deceased = persons().iter().find(|p| p.death_date.is_some()).context("a deceased person")?;
        let wrong_day = living.birth_date + time::Duration::days(1);
        let verify = |query: Value| json!({"reg_record_type": "Identity", "query_type": "expression", "query": query});

        // The pattern itself: the identity when everything matches, no record when not.
        let yes = registry.one(verify(verification(living, living.birth_date))).await?;
        ensure!(yes["pagination"]["total_count"] == 1, "{yes}");
        ensure!(yes["data"]["reg_records"][0]["status"] == "alive", "an unrestricted caller sees the identity: {yes}");
        let no = registry.one(verify(verification(living, wrong_day))).await?;
        ensure!(no["pagination"]["total_count"] == 0 && no["data"]["reg_records"] == json!([]), "{no}");

        // verifier.test sees identifiers only, and may match names and the birth date.
        admit(&registry, Participant {
            sender_id: "verifier.test".into(),
            allow_unsigned: true,
            scopes: vec![scope::SEARCH.into()],
            access: AccessRules {
                fields: Some(vec!["identifier".into()]),
                match_fields: Some(vec!["name".into(), "birth_date".into()]),
                query_types: Some(vec!["expression".into(), "predicate".into()]),
                ..AccessRules::default()
            },
            ..Participant::default()
        })
        .await?;
        let ask = |criteria: Vec<Value>| {
            let mut body = registry.search_body(criteria);
            body["header"]["sender_id"] = json!("verifier.test");
            let registry = &registry;
            async move {
                let (status, answer) = registry.search(&body).await?;
                ensure!(status == 200, "HTTP {status}: {answer}");
                anyhow::Ok(answer["message"]["search_response"].as_array().cloned().unwrap_or_default())
            }
        };
        let nosql = |person: &synth::Person, birth_date: time::Date| {
            json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"$and": [
                {"uin": {"$eq": person.uin}}, {"name.given_name": {"$eq": person.given_name}},
                {"name.surname": {"$eq": person.surname}}, {"birth_date": {"$eq": birth_date.to_string()}}]}}})
        };
        let predicates = json!([
            {"seq_num": 1, "expression1": {"attribute_name": "identifier", "operator": "eq", "attribute_value": living.uin},
             "condition": "and", "expression2": {"attribute_name": "first_name", "operator": "eq", "attribute_value": living.given_name}},
            {"seq_num": 2, "expression1": {"attribute_name": "dob", "operator": "eq", "attribute_value": living.birth_date.to_string()}}]);
        let items = ask(vec![
            verify(verification(living, living.birth_date)),
            verify(nosql(living, living.birth_date)),
            json!({"reg_record_type": "Identity", "query_type": "predicate", "query": predicates}),
            verify(verification(deceased, deceased.birth_date)),
            verify(nosql(living, wrong_day)),
        ])
        .await?;
        for (item, person) in items[..4].iter().zip([living, living, living, deceased]) {
            ensure!(item["status"] == "succ" && item["pagination"]["total_count"] == 1, "{item}");
            // Only what the verifier sent: the UIN. Not even that the person died.
            ensure!(
                item["data"]["reg_records"][0]
                    == json!({"@type": "Identity", "identifier": [{"identifier_type": "UIN", "identifier_value": person.uin}]}),
                "{item}"
            );
        }
        ensure!(items[4]["status"] == "succ" && items[4]["pagination"]["total_count"] == 0, "{}", items[4]);

        // Anything that would tell more than yes or no is refused: a match field without the
        // UIN, a range, a list, an alternative, a sort, a field it may not match, an
        // identifier lookup (a query type it may not use).
        let uin = &living.uin;
        let refused = ask(vec![
            verify(text(&format!(r#"given_name = "{}""#, living.given_name))),
            verify(text(&format!(r#"uin = "{uin}" AND birth_date < "1970-01-01""#))),
            verify(text(&format!(r#"uin = "{uin}" AND given_name IN ["{}", "Kofi"]"#, living.given_name))),
            verify(text(&format!(r#"uin = "{uin}" AND (birth_date = "1950-01-01" OR birth_date = "1951-01-01")"#))),
            json!({"reg_record_type": "Identity", "query_type": "expression", "query": verification(living, living.birth_date),
                   "sort": [{"attribute_name": "birth_date", "sort_order": "asc"}]}),
        ])
        .await?;
        let more = ask(vec![
            verify(text(&format!(r#"uin = "{uin}" AND status = "deceased""#))),
            by_id("Identity", "UIN", uin),
        ])
        .await?;
        for item in refused.iter().chain(&more) {
            ensure!(
                item["status"] == "rjct" && item["status_reason_code"] == "err.request.forbidden" && item.get("data").is_none(),
                "{item}"
            );
        }
        ensure!(
            refused[1]["status_reason_message"]
                .as_str()
                .is_some_and(|m| m.starts_with("'birth_date' may only be matched, with '=', in a search pinned by an identifier")),
            "{}",
            refused[1]
        );
        ensure!(
            more[0]["status_reason_message"].as_str().is_some_and(|m| m.starts_with("'status' is not a field this participant may see")),
            "{}",
            more[0]
        );
        Ok(())
    })
}

fn bad_searches_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let uin = persons()[0].uin.clone();
        let items = registry
            .items(vec![
                json!({"reg_record_type": "Household", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                by_id("Identity", "BRN", "2001000000001"),
                json!({"reg_record_type": "Identity", "query_type": "expression", "query": text("poverty_score < 30")}),
                json!({"reg_type": "ns:org:RegistryType:Civil", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                json!({"query_type": "expression", "query": text(r#"status = "missing""#)}),
                json!({"query_type": "idtype-value", "query": {"type": "UIN", "value": uin}, "sort": [{"attribute_name": "shoe_size", "sort_order": "asc"}]}),
            ])
            .await?;
        let expected = [
            ("rjct.search_criteria.invalid", "record type 'Household' is not held here (known: Identity)"),
            ("rjct.search_criteria.invalid", "identifier type 'BRN' is not held by the id registry for Identity records (it holds UIN, DRN)"),
            ("rjct.search_criteria.invalid", "poverty_score"),
            ("rjct.search_criteria.invalid", "is not this registry (ns:org:RegistryType:ID)"),
            ("rjct.search_criteria.invalid", "identity status"),
            ("rjct.sort.invalid", "shoe_size"),
        ];
        ensure!(items.len() == expected.len());
        for (item, (code, message)) in items.iter().zip(expected) {
            ensure!(
                item["status"] == "rjct"
                    && item["status_reason_code"] == code
                    && item["status_reason_message"].as_str().is_some_and(|m| m.contains(message))
                    && item.get("data").is_none(),
                "expected {code} naming '{message}', got {item}"
            );
        }
        Ok(())
    })
}

/// Waits until `uin`'s identity is deceased; how long it took from `since`.
async fn deceased_within(
    registry: &TestRegistry,
    uin: &str,
    since: Instant,
    limit: Duration,
) -> Result<(Duration, Value)> {
    loop {
        let record = identity(registry, uin).await?;
        if record["status"] == "deceased" {
            return Ok((since.elapsed(), record));
        }
        if since.elapsed() > limit {
            return Err(anyhow!(
                "{uin} is still {} after {limit:?}",
                record["status"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn a_crvs_death_marks_the_identity_deceased_once_and_notifies_its_subscribers(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let dir = TempDir::new("idreg");
        let crvs_signer = signer(CRVS, &dir.0.join("crvs"))?;
        let id_signer = signer(ID, &dir.0.join("id"))?;

        // The civil registry signs, verifies and requires tokens; the ID service is one of its
        // participants, allowed the deceased's identifiers and date of death only.
        let mut config = registry_config();
        config.service_id = CRVS.into();
        config.header.service_id = CRVS.into();
        config.callback_url_prefixes = Vec::new();
        config.trust = Some(registry::Trust {
            signer: crvs_signer.clone(),
            peers: Arc::new(trust::StaticKeys::new()),
            verify: registry::Verify::Enforce,
            require_token: true,
            token_lifetime: Duration::from_secs(600),
        });
        let crvs = TestRegistry::spawn_profile(backend, &registry::crvs::PROFILE, config).await?;
        admit(&crvs, Participant {
            sender_id: ID.into(),
            keys: Some(id_signer.jwks()),
            callback_prefixes: vec!["http://127.0.0.1:".into()],
            scopes: scope::DEFAULT.iter().map(|s| s.to_string()).collect(),
            access: AccessRules {
                record_types: Some(vec!["Person".into()]),
                fields: Some(vec!["identifier".into(), "death_date".into(), "is_deceased".into()]),
                ..AccessRules::default()
            },
            ..Participant::default()
        })
        .await?;
        admit(&crvs, Participant {
            sender_id: "registrar.test".into(),
            allow_unsigned: true,
            scopes: vec![scope::REGISTRAR.into()],
            ..Participant::default()
        })
        .await?;
        let registrar = token(&crvs.url(""), "registrar.test", SECRET).await?;
        let register_death = |uin: &str| {
            let place = homes()[uin].location_code.clone();
            let request = json!({"deaths": [{"uin": uin, "death_date": fixture().today.to_string(), "death_place": place}]});
            let (crvs, registrar) = (&crvs, &registrar);
            async move {
                let (status, report) = post_json_with(&crvs.client, &crvs.url("/registrar/crvs/records"), &request, Some(registrar)).await?;
                ensure!(status == 200, "HTTP {status}: {report}");
                anyhow::Ok(report)
            }
        };

        // The ID registry, a subscriber of its own (an SP-MIS), and the link: its endpoint on
        // a port of its own here (`spx serve` mounts it beside the registry's).
        let ids = spawn(backend).await?;
        let mut living = persons().iter().filter(|p| p.death_date.is_none() && homes().contains_key(p.uin.as_str()));
        let (first, second) = (living.next().context("a person")?, living.next().context("another")?);
        let sink = Sink::start().await?;
        let filter = format!(r#"uin = "{}""#, first.uin);
        let (codes, answer) = subscribe(&ids, "spmis.test", &sink, vec![
            criteria("IdentityDeceased", "Identity", &filter),
            criteria("DATA_MODIFICATION", "Identity", &filter),
        ])
        .await?;
        let codes: Vec<String> = codes.into_iter().collect::<Option<_>>().ok_or_else(|| anyhow!("refused: {answer}"))?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let link_addr = listener.local_addr()?;
        let mut crvs_keys = trust::StaticKeys::new();
        crvs_keys.insert_jwks(CRVS, &crvs_signer.jwks())?;
        let settings = LinkSettings {
            crvs_url: crvs.url(""),
            crvs_id: CRVS.into(),
            credentials: Some((ID.into(), SECRET.into())),
            public_url: format!("http://{link_addr}"),
            signer: Some(id_signer.clone()),
            crvs_keys: Some(Arc::new(crvs_keys)),
        };
        let link = CrvsLink::new(ids.registry.clone(), settings.clone());
        let (stop, server) = serve_until_stopped(link.router(), listener);
        let Subscribed::New(code) = link.subscribe().await? else {
            return Err(anyhow!("a first subscription is new"));
        };
        let kept = texts(ids.store.as_ref(), "SELECT code FROM upstream_subscription").await?;
        ensure!(kept == [code.clone()], "{kept:?}");

        // A death at the civil registry: the identity is deceased, and the ID registry's
        // subscriber told, within moments.
        let started = Instant::now();
        let report = register_death(&first.uin).await?;
        let drn = synth::vital::drn(&first.uin, fixture().today);
        ensure!(report["deaths"] == json!([drn]), "{report}");
        let (marked, record) = deceased_within(&ids, &first.uin, started, Duration::from_secs(5)).await?;
        let received = sink
            .wait(Duration::from_secs(5), |r| codes.iter().all(|c| !notifications(r, c).is_empty()))
            .await?;
        let notified = started.elapsed();
        println!("death registered at the CRVS -> identity deceased in {:.1} ms, the ID registry's subscriber notified in {:.1} ms",
            marked.as_secs_f64() * 1000.0, notified.as_secs_f64() * 1000.0);
        ensure!(marked < Duration::from_secs(2), "marked deceased {marked:?} after the registration");
        ensure!(
            record["death_date"] == fixture().today.to_string() && record["death_registration"]["identifier_value"] == drn.as_str(),
            "{record}"
        );
        for (code, event) in codes.iter().zip(["IdentityDeceased", "DATA_MODIFICATION"]) {
            let notify = &notifications(&received, code)[0];
            let data = &notify["message"]["notify_event"][0]["data"];
            ensure!(notify["header"]["meta"]["reg_event_type"] == event && data["reg_type"] == "ns:org:RegistryType:ID", "{notify}");
            ensure!(data["reg_records"]["status"] == "deceased" && identifier(&data["reg_records"], "UIN").as_deref() == Some(first.uin.as_str()), "{notify}");
        }
        let changes = texts(ids.store.as_ref(), "SELECT source FROM identity_change").await?;
        ensure!(changes.len() == 1 && changes[0].starts_with("crvs.test DEATH_REGISTERED notify ") && changes[0].contains(&code), "{changes:?}");

        // The same notification again, as the civil registry's outbox would resend it (signed
        // anew): acknowledged, not applied again.
        let bodies = texts(crvs.store.as_ref(), "SELECT body FROM outbox WHERE destination LIKE '%/registry/notify' ORDER BY id").await?;
        let to_link: Vec<Value> = bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .filter(|b| b["header"]["receiver_id"] == ID)
            .collect();
        ensure!(to_link.len() == 1, "one notification went to the ID service: {to_link:?}");
        let mut resent = to_link[0].clone();
        crvs_signer.sign(&mut resent)?;
        let notify_url = format!("http://{link_addr}/registry/notify");
        let (status, ack) = post_json(&crvs.client, &notify_url, &resent).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "{ack}");
        // A death notice the civil registry did not sign is refused: unsigned, or signed by
        // another key in its name.
        let mut forged = to_link[0].clone();
        forged["header"]["message_id"] = json!(uuid::Uuid::now_v7().to_string());
        let (status, ack) = post_json(&crvs.client, &notify_url, &forged).await?;
        ensure!(status == 401 && ack["message"]["error"]["code"] == "err.signature.missing", "HTTP {status}: {ack}");
        signer(CRVS, &dir.0.join("impostor"))?.sign(&mut forged)?;
        let (status, ack) = post_json(&crvs.client, &notify_url, &forged).await?;
        ensure!(status == 401 && ack["message"]["error"]["code"] == "err.signature.invalid", "HTTP {status}: {ack}");

        // The ID service restarts: its subscription is still the one it holds, and a death
        // notified again after the restart (nothing remembered in memory) is applied once.
        let _ = stop.send(());
        server.await?;
        let listener = tokio::net::TcpListener::bind(link_addr).await?;
        let link = CrvsLink::new(ids.registry.clone(), settings);
        let (_stop, _server) = serve_until_stopped(link.router(), listener);
        ensure!(link.subscribe().await? == Subscribed::AlreadyActive(Some(code.clone())));
        let active = texts(crvs.store.as_ref(), "SELECT code FROM subscription WHERE sender_id = 'id.test' AND status = 'subscribe'").await?;
        ensure!(active == [code.clone()], "one subscription at the civil registry: {active:?}");
        let (status, ack) = post_json(&crvs.client, &notify_url, &resent).await?;
        ensure!(status == 200 && ack["message"]["ack_status"] == "ACK", "{ack}");
        ensure!(texts(ids.store.as_ref(), "SELECT source FROM identity_change").await?.len() == 1);
        ensure!(identity(&ids, &first.uin).await? == record, "the identity is as the first notification left it");

        // After the restart, the next death is applied as the first was.
        let started = Instant::now();
        register_death(&second.uin).await?;
        let (marked, _) = deceased_within(&ids, &second.uin, started, Duration::from_secs(5)).await?;
        ensure!(marked < Duration::from_secs(2), "marked deceased {marked:?} after the registration");
        // The death of someone the ID registry does not hold (a child registered and dead at
        // once) is acknowledged, so the civil registry does not send it again, and changes
        // nothing.
        let child = crate::subscription::new_uin(41);
        let place = homes()[first.uin.as_str()].location_code.clone();
        let today = fixture().today.to_string();
        let request = json!({"births": [{"uin": child, "given_name": "Esi", "surname": "Mensah", "sex": "female", "birth_date": today, "birth_place": place}],
                             "deaths": [{"uin": child, "death_date": today, "death_place": place}]});
        let (status, report) = post_json_with(&crvs.client, &crvs.url("/registrar/crvs/records"), &request, Some(&registrar)).await?;
        ensure!(status == 200, "HTTP {status}: {report}");
        let delivered = format!("SELECT state FROM outbox WHERE destination = '{notify_url}' AND body LIKE '%{child}%'");
        let deadline = Instant::now() + Duration::from_secs(5);
        while texts(crvs.store.as_ref(), &delivered).await? != ["delivered"] {
            ensure!(Instant::now() < deadline, "the child's death was not acknowledged: {:?}", texts(crvs.store.as_ref(), &delivered).await?);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ensure!(ids.count("Identity", "idtype-value", json!({"type": "UIN", "value": child})).await? == 0);

        // The same death applied by eight at once (two ID nodes, retries): one change.
        let third = living.next().context("a third person")?;
        let death = registry::id::Death { uin: third.uin.clone(), drn: None, death_date: fixture().today, mother: None };
        let outcomes = futures::future::join_all(
            (0..8).map(|i| registry::id::mark_deceased(&ids.registry, &death, if i % 2 == 0 { "a" } else { "b" })),
        )
        .await;
        let marked: Vec<registry::id::Marked> = outcomes.into_iter().collect::<Result<_, _>>()?;
        ensure!(
            marked.iter().filter(|m| **m == registry::id::Marked::Deceased).count() == 1
                && marked.iter().all(|m| *m != registry::id::Marked::Unknown),
            "{marked:?}"
        );
        ensure!(texts(ids.store.as_ref(), "SELECT source FROM identity_change").await?.len() == 3);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let received = sink.received();
        ensure!(codes.iter().all(|c| notifications(&received, c).len() == 1), "each subscriber was notified once: {received:?}");
        Ok(())
    })
}
