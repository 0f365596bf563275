//! The disability registry (DR) over DCI, on each backend: searches of every query type
//! checked against the generated population, the DR API's own sync endpoints, the refusals,
//! and applications and decisions notified to the subscribers they match.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use synth::disability::{APPROVED, Disability, EXPIRED, PENDING, REJECTED};

use crate::subscription::{criteria, new_uin, notifications};
use crate::support::{Backend, Sink, TestRegistry, by_id, fixture, post_json, runtime, text};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "dr::persons_by_identifier_expression_and_predicate",
        persons_by_identifier_expression_and_predicate,
    ),
    (
        "dr::bad_searches_get_their_codes",
        bad_searches_get_their_codes,
    ),
    (
        "dr::disabled_details_and_support_endpoints",
        disabled_details_and_support_endpoints,
    ),
    (
        "dr::an_approval_is_notified_to_its_subscriber",
        an_approval_is_notified_to_its_subscriber,
    ),
];

const DR: &str = "dr.test";

async fn spawn(backend: Backend) -> Result<TestRegistry> {
    TestRegistry::spawn_as(backend, &registry::dr::PROFILE, DR).await
}

fn registrations() -> &'static [Disability] {
    &fixture().disabilities
}

fn registration(status: &str) -> &'static Disability {
    registrations()
        .iter()
        .find(|d| d.status == status)
        .expect("a registration with this status")
}

fn person(uin: &str) -> &'static synth::Person {
    fixture()
        .population
        .persons
        .iter()
        .find(|p| p.uin == uin)
        .expect("a person")
}

/// Where each registered person lives, worked out here from the population.
fn homes() -> HashMap<&'static str, &'static synth::Household> {
    let households: HashMap<&str, &synth::Household> = fixture()
        .population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    registrations()
        .iter()
        .map(|d| {
            let household = person(&d.uin).household_id.as_deref().expect("living");
            (d.uin.as_str(), households[household])
        })
        .collect()
}

/// The value of identifier `kind` in a PWD_Person's `personal_details.member_identifier`.
fn member_id(record: &Value, kind: &str) -> Option<String> {
    record["personal_details"]["member_identifier"]
        .as_array()?
        .iter()
        .find(|i| i["identifier_type"] == kind)?["identifier_value"]
        .as_str()
        .map(str::to_string)
}

fn persons_by_identifier_expression_and_predicate(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let homes = homes();
        let certified = registrations()
            .iter()
            .find(|d| d.status == APPROVED && d.difficulties.len() > 1 && !d.supports.is_empty())
            .context("a certified person with several difficulties and support")?;
        let who = person(&certified.uin);
        for (kind, value) in [("UIN", &certified.uin), ("DCN", &certified.dcn)] {
            let item = registry.one(by_id("DisabledPerson", kind, value)).await?;
            ensure!(item["pagination"]["total_count"] == 1, "{kind}: {item}");
            ensure!(
                item["data"]["reg_type"] == "ns:org:RegistryType:DR"
                    && item["data"]["reg_record_type"] == "DisabledPerson",
                "{item}"
            );
            let record = &item["data"]["reg_records"][0];
            ensure!(record["@type"] == "PWD_Person", "{record}");
            ensure!(
                member_id(record, "DCN").as_deref() == Some(certified.dcn.as_str())
                    && member_id(record, "UIN").as_deref() == Some(certified.uin.as_str()),
                "{record}"
            );
            let info = &record["personal_details"]["demographic_info"];
            ensure!(
                info["@type"] == "DR_Person"
                    && info["name"]["given_name"] == who.given_name.as_str()
                    && info["sex"] == who.sex.as_str()
                    && info["birth_date"] == who.birth_date.to_string(),
                "{info}"
            );
            ensure!(
                info["address"][0]["region_code"] == homes[certified.uin.as_str()].region_code.as_str(),
                "{info}"
            );
            ensure!(
                record["disability_status"] == "0"
                    && record["disability_status_level"].as_str() == certified.disability_level.as_deref()
                    && record["expiry_date"] == certified.expiry_date.map(|d| d.to_string()).unwrap_or_default(),
                "{record}"
            );
            let details = record["disability_details"].as_array().context("details")?;
            ensure!(details.len() == certified.difficulties.len(), "{record}");
            for (detail, difficulty) in details.iter().zip(&certified.difficulties) {
                ensure!(
                    detail["disability_limitation_type"] == difficulty.domain.as_str()
                        && detail["functional_severity"] == json!(difficulty.severity.to_string())
                        && detail["impairment_cause"] == certified.impairment_cause.as_str(),
                    "{detail}"
                );
            }
            ensure!(record["disability_support"][0].is_object(), "{record}");
        }
        // The sample's reg_type names the registry too; the default record type is the person.
        let item = registry
            .one(json!({"reg_type": "ns:org:RegistryType:Disability", "query_type": "idtype-value",
                        "query": {"type": "NATIONAL_ID", "value": certified.uin}}))
            .await?;
        ensure!(item["pagination"]["total_count"] == 1, "{item}");

        // The standard's DR expression: approved, in a region (a region finds its sub-counties).
        let region = homes[certified.uin.as_str()].region_code.clone();
        let expected = registrations()
            .iter()
            .filter(|d| d.status == APPROVED && homes[d.uin.as_str()].region_code == region)
            .count() as i64;
        ensure!(expected > 1);
        let query = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"query": {"$and": [
            {"disability_status": {"$eq": "Approved"}}, {"location": {"$eq": region}}]}}}});
        ensure!(registry.count("DisabledPerson", "expression", query).await? == expected);

        // The sample's: approved with a mobility impairment (self-care is physical too).
        let expected = registrations()
            .iter()
            .filter(|d| d.status == APPROVED)
            .filter(|d| d.difficulties.iter().any(|x| x.domain == "MOB_SS" || x.domain == "SC_SS"))
            .count() as i64;
        let query = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"collection": "DRPerson", "query": {"$and": [
            {"disability_status": {"$eq": "Approved"}}, {"disability_details.impairment_type": {"$eq": "Mobility"}}]}}}});
        let item = registry
            .one(json!({"query_type": "expression", "query": query, "pagination": {"page_size": 500}}))
            .await?;
        ensure!(item["pagination"]["total_count"] == expected, "expected {expected}: {}", item["pagination"]);
        ensure!(item["data"]["reg_records"].as_array().map(Vec::len) == Some(expected as usize));

        // Older people who cannot walk, or have a lot of difficulty doing so (text).
        let expected = registrations()
            .iter()
            .filter(|d| crate::support::age(person(&d.uin).birth_date, fixture().today) >= 60)
            .filter(|d| d.difficulties.iter().any(|x| x.domain == "MOB_SS"))
            .filter(|d| d.difficulties.iter().any(|x| x.severity >= 3))
            .count() as i64;
        ensure!(expected > 0);
        let query = text(r#"functional_limitation = "Mobility" AND functional_severity >= 3 AND age >= 60"#);
        ensure!(registry.count("DisabledPerson", "expression", query).await? == expected);

        // Applications waiting since a date, and certificates that lapsed (predicate list).
        let since = fixture().today - time::Duration::days(60);
        let expected = registrations()
            .iter()
            .filter(|d| d.status == PENDING && d.application_date >= since)
            .count() as i64;
        ensure!(expected > 0);
        let waiting = json!([
            {"seq_num": 1, "expression1": {"attribute_name": "status", "operator": "eq", "attribute_value": "Pending"},
             "condition": "and", "expression2": {"attribute_name": "application_date", "operator": "ge", "attribute_value": since.to_string()}}]);
        ensure!(registry.count("DisabledPerson", "predicate", waiting).await? == expected);
        let expected = registrations().iter().filter(|d| d.status == EXPIRED).count() as i64;
        ensure!(expected > 0);
        let lapsed = json!([{"expression1": {"attribute_name": "disability_status", "operator": "in", "attribute_value": ["Expired"]}},
            {"expression1": {"attribute_name": "expiry_date", "operator": "lt", "attribute_value": fixture().today.to_string()}}]);
        ensure!(registry.count("DisabledPerson", "predicate", lapsed).await? == expected);
        // Wheelchairs needed and not received.
        let expected = registrations()
            .iter()
            .filter(|d| d.supports.iter().any(|s| s.kind == "assistive_technology" && s.code == "1"))
            .filter(|d| d.supports.iter().any(|s| !s.received))
            .count() as i64;
        ensure!(expected > 0);
        let query = text(r#"support_type = "1" AND support_kind = "assistive technology" AND support_needed = true"#);
        ensure!(registry.count("DisabledPerson", "expression", query).await? == expected);
        Ok(())
    })
}

fn bad_searches_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let uin = registrations()[0].uin.clone();
        let items = registry
            .items(vec![
            json!({"reg_record_type": "Tractor", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
            by_id("DisabledPerson", "BRN", "2001000000001"),
            json!({"query_type": "expression", "query": text("shoe_size > 3")}),
            json!({"query_type": "expression", "query": text(r#"disability_status = "Cured""#)}),
            json!({"reg_type": "ns:org:RegistryType:FR", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
            json!({"query_type": "idtype-value", "query": {"type": "UIN", "value": uin}, "sort": [{"attribute_name": "functional_severity", "sort_order": "desc"}]}),
            ])
            .await?;
        crate::support::rejected_as(
            &items,
            &[
                ("rjct.search_criteria.invalid", "record type 'Tractor' is not held here (known: DisabledPerson)"),
                ("rjct.search_criteria.invalid", "identifier type 'BRN' is not held by the dr registry for DisabledPerson records (it holds UIN, DCN)"),
                ("rjct.search_criteria.invalid", "unknown attribute 'shoe_size'"),
                ("rjct.search_criteria.invalid", "DisabilityStatusEnum"),
                ("rjct.search_criteria.invalid", "is not this registry (ns:org:RegistryType:DR)"),
                ("rjct.sort.invalid", "functional_severity"),
            ],
        )?;
        Ok(())
    })
}

/// A request of the DR API's own endpoints: `disabled_criteria` under a fresh transaction,
/// addressed to the registry.
fn dr_request(registry: &TestRegistry, criteria: Value) -> Value {
    let mut body = registry.search_body(vec![]);
    body["header"]["total_count"] = json!(criteria.as_array().map_or(1, Vec::len));
    body["message"] = json!({"transaction_id": format!("t-{}", uuid::Uuid::now_v7()), "disabled_criteria": criteria});
    body
}

/// The standard's criteria map for one member.
fn member(reference_id: &str, id: &str) -> Value {
    json!({"reference_id": reference_id, "query_type": "expression",
           "query": {"personal_details.member_identifier": {"eq": id}}})
}

fn disabled_details_and_support_endpoints(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let approved = registrations()
            .iter()
            .find(|d| d.status == APPROVED && d.supports.len() > 1)
            .context("a certified person with support")?;
        let (pending, expired, rejected) =
            (registration(PENDING), registration(EXPIRED), registration(REJECTED));
        let unregistered = fixture()
            .population
            .persons
            .iter()
            .find(|p| p.death_date.is_none() && !registrations().iter().any(|d| d.uin == p.uin))
            .context("someone not registered")?;
        let criteria = [
            member("a", &approved.uin),
            member("b", &approved.dcn),
            member("c", &pending.uin),
            member("d", &expired.uin),
            member("e", &rejected.uin),
            member("f", &unregistered.uin),
            json!({"reference_id": "g", "query_type": "expression", "query": {"shoe_size": {"eq": 3}}}),
        ];
        let mut answers = Vec::new();
        for batch in criteria.chunks(4) {
            let (status, body) = registry
                .search_at("/registry/sync/disabled", &dr_request(&registry, json!(batch)))
                .await?;
            ensure!(status == 200, "HTTP {status}: {body}");
            ensure!(
                body["header"]["action"] == "on-search" && body["header"]["completed_count"] == batch.len(),
                "{body}"
            );
            answers.extend(body["message"]["disabled_response"].as_array().context("disabled_response")?.clone());
        }
        let answers: Vec<(String, String, String)> = answers
            .iter()
            .map(|a| {
                (
                    a["reference_id"].as_str().unwrap_or("?").to_string(),
                    a["disabled_status"].as_str().unwrap_or("?").to_string(),
                    a["status_reason_code"].as_str().unwrap_or(a["status"].as_str().unwrap_or("?")).to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = [
            ("a", "yes", "succ"),
            ("b", "yes", "succ"),
            ("c", "no", "succ"),
            ("d", "no", "succ"),
            ("e", "no", "succ"),
            ("f", "no", "succ"),
            ("g", "no", "rjct.search_criteria.invalid"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        ensure!(answers == expected, "{answers:?}");

        // One criteria, as the standard sends it (an object, no reference id): the answer
        // carries the transaction id.
        let request = dr_request(&registry, json!({"query_type": "expression",
            "query": {"personal_details.member_identifier": {"eq": approved.uin}}}));
        let (status, body) = registry.search_at("/registry/sync/disabled", &request).await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let answer = &body["message"]["disabled_response"][0];
        ensure!(
            answer["reference_id"] == request["message"]["transaction_id"] && answer["disabled_status"] == "yes",
            "{body}"
        );

        // Details: the difficulties and impairments, with the certification.
        let (status, body) = registry
            .search_at("/registry/sync/get-disability-details", &dr_request(&registry, member("1", &approved.uin)))
            .await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let item = &body["message"]["search_response"][0];
        ensure!(item["status"] == "succ" && item["data"]["reg_record_type"] == "DisabilityInfo", "{item}");
        let info = &item["data"]["reg_records"][0];
        ensure!(
            info["disability_status"] == "0"
                && info["member_identifier"][0]["identifier_value"] == approved.dcn.as_str(),
            "{info}"
        );
        let domains: Vec<&str> = info["disability_details"]
            .as_array()
            .context("details")?
            .iter()
            .filter_map(|d| d["disability_limitation_type"].as_str())
            .collect();
        let wanted: Vec<&str> = approved.difficulties.iter().map(|d| d.domain.as_str()).collect();
        ensure!(domains == wanted, "{info}");
        ensure!(info.get("disability_support").is_none() && info.get("personal_details").is_none());

        // Support: each kind's items, received (1) or needed (0).
        let (status, body) = registry
            .search_at("/registry/sync/get-disability-support", &dr_request(&registry, member("1", &approved.dcn)))
            .await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let support = &body["message"]["search_response"][0]["data"]["reg_records"][0];
        let mut seen = 0;
        for s in &approved.supports {
            let items = support[s.kind.as_str()].as_array().context("a kind of support")?;
            let status = if s.received { "1" } else { "0" };
            ensure!(
                items.iter().any(|i| i["type"] == s.code.as_str()
                    && (i["status"] == status || i["support"] == status)),
                "{s:?} in {support}"
            );
            seen += 1;
        }
        ensure!(seen == approved.supports.len() && support.get("disability_details").is_none());

        // Many persons at once, paged like a search; and a header of another action.
        let mobility = json!({"query_type": "expression", "pagination": {"page_size": 3, "page_number": 1},
            "query": {"disability_details.disability_limitation_type": {"eq": "MOB_SS"}}});
        let expected = registrations()
            .iter()
            .filter(|d| d.difficulties.iter().any(|x| x.domain == "MOB_SS"))
            .count();
        let (_, body) = registry
            .search_at("/registry/sync/get-disability-support", &dr_request(&registry, mobility))
            .await?;
        let item = &body["message"]["search_response"][0];
        ensure!(
            item["pagination"]["total_count"] == expected && item["data"]["reg_records"].as_array().map(Vec::len) == Some(3),
            "{item}"
        );
        let mut wrong = dr_request(&registry, member("1", &approved.uin));
        wrong["header"]["action"] = json!("subscribe");
        let (status, body) = registry.search_at("/registry/sync/disabled", &wrong).await?;
        ensure!(
            status == 400 && body["header"]["status_reason_code"] == "rjct.action.invalid",
            "HTTP {status}: {body}"
        );
        let (status, body) = registry
            .search_at("/registry/sync/disabled", &dr_request(&registry, json!([])))
            .await?;
        ensure!(
            status == 400 && body["message"]["error"]["code"] == "err.request.bad",
            "HTTP {status}: {body}"
        );
        Ok(())
    })
}

async fn registrar(registry: &TestRegistry, request: Value) -> Result<(u16, Value)> {
    post_json(
        &registry.client,
        &registry.url("/registrar/dr/records"),
        &request,
    )
    .await
}

fn refused(answer: &(u16, Value), reason: &str) -> Result<()> {
    let (status, body) = answer;
    ensure!(
        *status == 400
            && body["errors"][0]["code"] == "err.request.bad"
            && body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(reason)),
        "expected a refusal naming '{reason}', got HTTP {status}: {body}"
    );
    Ok(())
}

fn an_approval_is_notified_to_its_subscriber(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let sink = Sink::start().await?;
        let home = fixture().population.households[0].clone();
        let uin = new_uin(41);
        let (codes, answer) = crate::subscription::subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                criteria("DisabledPerson", "DisabledPerson", &format!(r#"location = "{}""#, home.district_code)),
                criteria("DisabilityApproved", "DisabledPerson", &format!(r#"uin = "{uin}""#)),
                criteria("DisabilityApproved", "DisabledPerson", r#"uin = "0000000000""#),
                // Approvals as a status change, with the names of the DR sample's subscription.
                {
                    let mut sample = criteria("DisabilityStatusChanged", "spdci-extensions-dci:Person", r#"disability_status = "Approved""#);
                    sample["reg_type"] = json!("ns:org:RegistryType:Disability");
                    sample
                },
            ],
        )
        .await?;
        let codes: Vec<String> = codes
            .into_iter()
            .map(|code| code.ok_or_else(|| anyhow!("refused: {answer}")))
            .collect::<Result<_>>()?;
        let today = fixture().today;
        let application = json!({"registrations": [{
            "uin": uin, "given_name": "Baraka", "surname": "Njoroge", "sex": "M", "birth_date": "1990-04-02",
            "home": home.location_code, "difficulties": [{"type": "Mobility", "severity": 4}, {"type": "SC_SS", "severity": 2}],
            "impairment_cause": "Road accident", "age_on_set": "Working age",
            "supports": [{"kind": "assistive_technology", "type": "wheelchair", "received": false}]}]});
        let (status, report) = registrar(&registry, application.clone()).await?;
        ensure!(status == 200 && report["events"] == 2, "HTTP {status}: {report}");
        let dcn = report["registered"][0].as_str().context("a DCN")?.to_string();
        ensure!(dcn == synth::disability::dcn(&uin, today), "{report}");
        let received = sink
            .wait(Duration::from_secs(5), |r| !notifications(r, &codes[0]).is_empty())
            .await?;
        let registered = &notifications(&received, &codes[0])[0]["message"]["notify_event"][0]["data"];
        ensure!(
            registered["reg_event_type"] == "DisabledPerson"
                && registered["reg_records"]["disability_status"] == "1"
                && member_id(&registered["reg_records"], "DCN") == Some(dcn.clone()),
            "{registered}"
        );
        let disabled = |id: &str| {
            let request = dr_request(&registry, member("1", id));
            let registry = &registry;
            async move {
                let (_, body) = registry.search_at("/registry/sync/disabled", &request).await?;
                anyhow::Ok(body["message"]["disabled_response"][0]["disabled_status"].clone())
            }
        };
        ensure!(disabled(&uin).await? == "no", "pending is not certified");

        let started = Instant::now();
        let (status, report) = registrar(
            &registry,
            json!({"decisions": [{"dcn": dcn, "status": "Approved", "disability_level": "Severe"}]}),
        )
        .await?;
        ensure!(
            status == 200
                && report["decided"] == json!([{"dcn": dcn, "disability_status": "0"}])
                && report["events"] == 2,
            "HTTP {status}: {report}"
        );
        let received = sink
            .wait(Duration::from_secs(5), |r| {
                !notifications(r, &codes[1]).is_empty() && !notifications(r, &codes[3]).is_empty()
            })
            .await?;
        let took = started.elapsed();
        ensure!(took < Duration::from_secs(1), "notified {took:?} after the decision");
        let notify = &notifications(&received, &codes[1])[0];
        let event = &notify["message"]["notify_event"][0]["data"];
        ensure!(
            notify["header"]["meta"]["reg_event_type"] == "DisabilityApproved"
                && event["reg_type"] == "ns:org:RegistryType:DR"
                && event["reg_record_type"] == "DisabledPerson",
            "{notify}"
        );
        let record = &event["reg_records"];
        let expiry = (today + time::Duration::days(5 * 365 + 1)).to_string();
        ensure!(
            record["disability_status"] == "0"
                && record["disability_status_level"] == "2"
                && record["assessment_date"] == today.to_string()
                && record["expiry_date"] == expiry,
            "{record}"
        );
        ensure!(
            notifications(&received, &codes[3])[0]["message"]["notify_event"][0]["data"]["reg_records"]["@type"] == "PWD_Person"
        );
        ensure!(disabled(&dcn).await? == "yes", "approved is certified");

        // Refusals change nothing and name their reason.
        refused(&registrar(&registry, application).await?, &format!("person {uin} is already registered"))?;
        refused(
            &registrar(&registry, json!({"decisions": [{"dcn": dcn, "status": "Approved", "disability_level": "1"}]})).await?,
            "cannot become 0",
        )?;
        refused(
            &registrar(&registry, json!({"decisions": [{"dcn": dcn, "status": "Rejected"}]})).await?,
            "cannot become 3",
        )?;
        let pending = registration(PENDING);
        refused(
            &registrar(&registry, json!({"decisions": [{"uin": pending.uin, "status": "Approved"}]})).await?,
            "needs a disability_level",
        )?;
        refused(
            &registrar(&registry, json!({"decisions": [{"uin": new_uin(42), "status": "Expired"}]})).await?,
            "is not registered",
        )?;
        refused(&registrar(&registry, json!({"registrations": [], "appeals": []})).await?, "unknown field `appeals`")?;
        refused(&registrar(&registry, json!({})).await?, "holds no registrations and no decisions")?;
        // The certificate ends: not disabled any more, and the approval subscription is not
        // notified of it.
        let (status, report) =
            registrar(&registry, json!({"decisions": [{"dcn": dcn, "status": "Expired"}]})).await?;
        ensure!(status == 200 && report["events"] == 1, "HTTP {status}: {report}");
        ensure!(disabled(&uin).await? == "no");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let received = sink.received();
        ensure!(
            notifications(&received, &codes[1]).len() == 1 && notifications(&received, &codes[2]).is_empty(),
            "{received:?}"
        );
        Ok(())
    })
}
