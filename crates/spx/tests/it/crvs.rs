//! The civil registry (CRVS) over DCI, on each backend: searches checked against the generated
//! population, their refusals, and registrations notified to the subscribers they match.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};

use crate::subscription::{criteria, new_uin, notifications};
use crate::support::{Backend, Sink, TestRegistry, by_id, fixture, post_json, runtime, text};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "crvs::persons_and_records_by_each_identifier",
        persons_and_records_by_each_identifier,
    ),
    (
        "crvs::expression_and_predicate_counts_match_the_population",
        expression_and_predicate_counts_match_the_population,
    ),
    (
        "crvs::bad_searches_get_their_codes",
        bad_searches_get_their_codes,
    ),
    (
        "crvs::a_registered_death_notifies_matching_subscribers_only",
        a_registered_death_notifies_matching_subscribers_only,
    ),
    (
        "crvs::births_and_marriages_are_registered_and_notified",
        births_and_marriages_are_registered_and_notified,
    ),
    (
        "crvs::a_registered_divorce_dissolves_the_marriage",
        a_registered_divorce_dissolves_the_marriage,
    ),
    (
        "crvs::concurrent_registrations_of_one_person_all_apply",
        concurrent_registrations_of_one_person_all_apply,
    ),
    (
        "crvs::every_registry_serves_one_location_hierarchy",
        every_registry_serves_one_location_hierarchy,
    ),
];

/// `GET /.well-known/locations.json` of the social, civil, disability and farmer registries,
/// loaded from one population, list the same places, every one after the place that
/// contains it.
fn every_registry_serves_one_location_hierarchy(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let civil = spawn(backend).await?;
        let social = TestRegistry::spawn(backend).await?;
        let disability = TestRegistry::spawn_as(backend, &registry::dr::PROFILE, "dr.test").await?;
        let farmer = TestRegistry::spawn_as(backend, &registry::fr::PROFILE, "fr.test").await?;
        let mut lists = Vec::new();
        for registry in [&social, &civil, &disability, &farmer] {
            let answer = registry
                .client
                .get(registry.url("/.well-known/locations.json"))
                .send()
                .await?;
            ensure!(answer.status() == 200);
            let hierarchy: Value = answer.json().await?;
            ensure!(hierarchy["@type"] == "LocationHierarchy", "{hierarchy}");
            lists.push(hierarchy["locations"].clone());
        }
        ensure!(
            lists.iter().all(|list| *list == lists[0]),
            "the registries disagree on the places"
        );
        let places = lists[0].as_array().context("locations")?;
        ensure!(places.len() == fixture().population.locations.len());
        let mut seen = std::collections::HashSet::new();
        for place in places {
            let code = place["identifier"][0]["identifier"]
                .as_str()
                .context("a code")?;
            match place["contained_in_place"].as_str() {
                None => ensure!(place["additional_type"] == "spx:REGION", "{place}"),
                Some(parent) => ensure!(seen.contains(parent), "{code} before its parent {parent}"),
            }
            seen.insert(code.to_string());
        }
        Ok(())
    })
}

const CRVS: &str = "crvs.test";

async fn spawn(backend: Backend) -> Result<TestRegistry> {
    TestRegistry::spawn_as(backend, &registry::crvs::PROFILE, CRVS).await
}

/// The value of identifier `kind` of `record` (from its `identifier` list).
pub(crate) fn identifier(record: &Value, kind: &str) -> Option<String> {
    record["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["identifier_type"] == kind)?["identifier_value"]
        .as_str()
        .map(str::to_string)
}

pub(crate) fn persons() -> &'static [synth::Person] {
    &fixture().population.persons
}

fn person(uin: &str) -> &'static synth::Person {
    persons().iter().find(|p| p.uin == uin).expect("a person")
}

/// The household each person is placed in, worked out here: their own, or for the deceased
/// that of the living persons they are listed after.
pub(crate) fn homes() -> HashMap<&'static str, &'static synth::Household> {
    let households: HashMap<&str, &synth::Household> = fixture()
        .population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    let mut current = None;
    let mut out = HashMap::new();
    for p in persons() {
        if let Some(id) = &p.household_id {
            current = households.get(id.as_str()).copied();
        }
        if let Some(household) = current {
            out.insert(p.uin.as_str(), household);
        }
    }
    out
}

fn persons_and_records_by_each_identifier(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let deceased = persons()
            .iter()
            .find(|p| p.death_date.is_some() && p.spouse_uin.is_some())
            .context("a deceased spouse")?;
        let death_date = deceased.death_date.expect("dead");
        let brn = synth::vital::brn(&deceased.uin, deceased.birth_date);
        let drn = synth::vital::drn(&deceased.uin, death_date);
        for (kind, value) in [("UIN", &deceased.uin), ("BRN", &brn), ("DRN", &drn)] {
            let item = registry.one(by_id("Person", kind, value)).await?;
            ensure!(item["pagination"]["total_count"] == 1, "{kind}: {item}");
            ensure!(
                item["data"]["reg_type"] == "ns:org:RegistryType:Civil"
                    && item["data"]["reg_record_type"] == "Person"
            );
            let record = &item["data"]["reg_records"][0];
            ensure!(record["@type"] == "CRVS_Person", "{record}");
            ensure!(
                identifier(record, "UIN").as_deref() == Some(deceased.uin.as_str()),
                "{record}"
            );
            ensure!(
                identifier(record, "BRN") == Some(brn.clone())
                    && identifier(record, "DRN") == Some(drn.clone()),
                "{record}"
            );
            ensure!(
                record["birth_date"] == deceased.birth_date.to_string()
                    && record["death_date"] == death_date.to_string()
            );
            ensure!(
                record["name"]["given_name"] == deceased.given_name.as_str()
                    && record["sex"] == deceased.sex.as_str()
            );
            ensure!(record["marital_status"] == deceased.marital_status.as_str());
            let home = homes()[deceased.uin.as_str()];
            ensure!(
                record["death_place"]["identifier"] == home.location_code.as_str(),
                "{record}"
            );
        }
        // The default record type is the person; a BRN sent as a number finds it too.
        let numeric: u64 = brn.parse()?;
        let item = registry
            .one(json!({"query_type": "idtype-value", "query": {"type": "BRN", "value": numeric}}))
            .await?;
        ensure!(
            identifier(&item["data"]["reg_records"][0], "UIN").as_deref()
                == Some(deceased.uin.as_str()),
            "{item}"
        );

        for (kind, value) in [("DRN", &drn), ("UIN", &deceased.uin)] {
            let item = registry.one(by_id("DeathRecord", kind, value)).await?;
            let record = &item["data"]["reg_records"][0];
            ensure!(
                record["@type"] == "DeathRecord" && record["vital_event_type"] == "death",
                "{record}"
            );
            ensure!(identifier(record, "DRN") == Some(drn.clone()), "{record}");
            ensure!(record["deceased_identifier"]["identifier_value"] == deceased.uin.as_str());
            ensure!(
                record["death_date"] == death_date.to_string()
                    && record["registration_date"] == death_date.to_string()
            );
        }

        let child = persons()
            .iter()
            .find(|p| p.mother_uin.is_some() && p.father_uin.is_some())
            .context("a child of two registered parents")?;
        let child_brn = synth::vital::brn(&child.uin, child.birth_date);
        let item = registry
            .one(by_id("BirthRecord", "BRN", &child_brn))
            .await?;
        let record = &item["data"]["reg_records"][0];
        ensure!(
            record["@type"] == "BirthRecord" && record["vital_event_type"] == "live_birth",
            "{record}"
        );
        ensure!(record["child_identifier"]["identifier_value"] == child.uin.as_str());
        ensure!(
            record["mother_identifier"]["identifier_value"] == child.mother_uin.as_deref().unwrap()
        );
        ensure!(
            record["father_identifier"]["identifier_value"] == child.father_uin.as_deref().unwrap()
        );
        ensure!(
            record["birth_place"]["identifier"]
                == homes()[child.uin.as_str()].location_code.as_str(),
            "{record}"
        );

        let marriage = fixture()
            .marriages
            .iter()
            .find(|m| m.spouse2_uin == deceased.uin || m.spouse1_uin == deceased.uin)
            .context("the deceased's marriage")?;
        for (kind, value) in [
            ("MRN", &marriage.mrn),
            ("UIN", &deceased.uin),
            ("UIN", deceased.spouse_uin.as_ref().unwrap()),
        ] {
            let item = registry.one(by_id("MarriageRecord", kind, value)).await?;
            ensure!(
                item["pagination"]["total_count"] == 1,
                "{kind} {value}: {item}"
            );
            let record = &item["data"]["reg_records"][0];
            ensure!(
                identifier(record, "MRN") == Some(marriage.mrn.clone()),
                "{record}"
            );
            ensure!(
                record["spouse1_identifier"]["identifier_value"] == marriage.spouse1_uin.as_str()
            );
            ensure!(record["marriage_date"] == marriage.marriage_date.to_string());
        }
        // Nobody holds this UIN: success with no records.
        let nobody = registry.one(by_id("Person", "UIN", "0000000000")).await?;
        ensure!(
            nobody["pagination"]["total_count"] == 0 && nobody["data"]["reg_records"] == json!([])
        );
        Ok(())
    })
}

fn expression_and_predicate_counts_match_the_population(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let homes = homes();
        let everyone = persons().len() as i64;
        let deceased = persons().iter().filter(|p| p.death_date.is_some()).count() as i64;
        ensure!(registry.count("Person", "expression", text("age >= 0")).await? == everyone);
        ensure!(registry.count("BirthRecord", "expression", text("age >= 0")).await? == everyone);
        ensure!(registry.count("Person", "expression", text("is_deceased = true")).await? == deceased);
        ensure!(registry.count("DeathRecord", "expression", text("age >= 0")).await? == deceased);

        // Births in a region in a period (NoSql expression).
        let region = fixture().population.households[0].region_code.as_str();
        let (from, to) = (time::macros::date!(1990 - 01 - 01), time::macros::date!(2009 - 12 - 31));
        let expected = persons()
            .iter()
            .filter(|p| homes.get(p.uin.as_str()).is_some_and(|h| h.region_code == region))
            .filter(|p| p.birth_date >= from && p.birth_date <= to)
            .count() as i64;
        ensure!(expected > 0, "the fixture should have births there");
        let query = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"collection": "BirthRecord", "query": {"$and": [
            {"region_code": {"$eq": region}}, {"birth_date": {"$gte": from.to_string()}}, {"birth_date": {"$lte": to.to_string()}}]}}}});
        let item = registry.one(json!({"query_type": "expression", "query": query, "pagination": {"page_size": 500, "page_number": 1}})).await?;
        ensure!(item["data"]["reg_record_type"] == "BirthRecord", "{item}");
        ensure!(item["pagination"]["total_count"] == expected, "expected {expected}: {}", item["pagination"]);
        let records = item["data"]["reg_records"].as_array().context("records")?;
        ensure!(records.len() as i64 == expected);
        ensure!(records.iter().all(|r| r["birth_place"]["identifier"].as_str().is_some_and(|c| c.starts_with(region))));

        // Deaths since a date (predicate list).
        let since = fixture().today - time::Duration::days(5 * 365);
        let expected = persons().iter().filter(|p| p.death_date.is_some_and(|d| d >= since)).count() as i64;
        ensure!(expected > 0);
        let deaths = json!([{"seq_num": 1, "expression1": {"attribute_name": "death_date", "operator": "ge", "attribute_value": since.to_string()}}]);
        ensure!(registry.count("DeathRecord", "predicate", deaths.clone()).await? == expected);
        // The same question of the person ("is this pensioner dead?"), as samples label it.
        ensure!(registry.count("Person", "expression", deaths).await? == expected);

        // Living widows (predicate with a condition).
        let expected = persons()
            .iter()
            .filter(|p| p.sex == "female" && p.marital_status == "W" && p.death_date.is_none())
            .count() as i64;
        let widows = json!([
            {"seq_num": 1, "expression1": {"attribute_name": "gender", "operator": "eq", "attribute_value": "F"},
             "condition": "and", "expression2": {"attribute_name": "marital_status", "operator": "eq", "attribute_value": "Widow"}},
            {"seq_num": 2, "expression1": {"attribute_name": "is_deceased", "operator": "eq", "attribute_value": false}}]);
        ensure!(registry.count("Person", "predicate", widows).await? == expected);

        // Marriages of a decade (text expression).
        let expected = fixture()
            .marriages
            .iter()
            .filter(|m| m.marriage_date.year() >= 2000 && m.marriage_date.year() < 2010)
            .count() as i64;
        ensure!(expected > 0);
        let decade = text(r#"marriage_date >= "2000-01-01" AND marriage_date < "2010-01-01""#);
        ensure!(registry.count("MarriageRecord", "expression", decade).await? == expected);
        ensure!(registry.count("MarriageRecord", "expression", text("spouse_uin IN [\"0000000000\"]")).await? == 0);
        Ok(())
    })
}

fn bad_searches_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let uin = persons()[0].uin.clone();
        let (status, body) = registry
            .search(&registry.search_body(vec![
                json!({"reg_record_type": "Tractor", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                by_id("Person", "MRN", "2001000000001"),
                json!({"reg_record_type": "DeathRecord", "query_type": "expression", "query": text("shoe_size > 3")}),
                json!({"reg_type": "ns:org:RegistryType:Social", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                json!({"query_type": "idtype-value", "query": {"type": "UIN", "value": uin}, "sort": [{"attribute_name": "poverty_score", "sort_order": "asc"}]}),
            ]))
            .await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let items = body["message"]["search_response"].as_array().context("items")?;
        crate::support::rejected_as(
            items,
            &[
                ("rjct.search_criteria.invalid", "record type 'Tractor' is not held here"),
                ("rjct.search_criteria.invalid", "identifier type 'MRN' is not held by the crvs registry for Person records (it holds UIN, BRN, DRN)"),
                ("rjct.search_criteria.invalid", "shoe_size"),
                ("rjct.search_criteria.invalid", "is not this registry (ns:org:RegistryType:Civil)"),
                ("rjct.sort.invalid", "poverty_score"),
            ],
        )?;
        Ok(())
    })
}

/// Subscribes to the civil registry with `items`; each item's code (all must be accepted).
async fn subscribe(registry: &TestRegistry, sink: &Sink, items: Vec<Value>) -> Result<Vec<String>> {
    let (codes, answer) =
        crate::subscription::subscribe(registry, "spmis.test", sink, items).await?;
    codes
        .into_iter()
        .map(|code| code.ok_or_else(|| anyhow!("refused: {answer}")))
        .collect()
}

async fn register(registry: &TestRegistry, request: Value) -> Result<(u16, Value)> {
    post_json(
        &registry.client,
        &registry.url("/registrar/crvs/records"),
        &request,
    )
    .await
}

/// Runs `spx crvs ARGS --url <registry>` and returns its stdout as JSON.
async fn spx_crvs(registry: &TestRegistry, args: Vec<String>) -> Result<Value> {
    let url = registry.url("");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_spx"))
            .env("SPX_LOG", "warn")
            .arg("crvs")
            .args(args)
            .args(["--url", &url])
            .output()
    })
    .await??;
    ensure!(
        out.status.success(),
        "spx crvs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
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

fn a_registered_death_notifies_matching_subscribers_only(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let sink = Sink::start().await?;
        let homes = homes();
        // A married pensioner whose wife is alive, and someone elsewhere.
        let pensioner = persons()
            .iter()
            .filter(|p| p.death_date.is_none() && p.marital_status == "M")
            .max_by_key(|p| std::cmp::Reverse(p.birth_date))
            .context("a married person")?;
        let home = homes[pensioner.uin.as_str()];
        let elsewhere = persons()
            .iter()
            .find(|p| p.death_date.is_none() && p.marital_status == "S" && homes[p.uin.as_str()].region_code != home.region_code)
            .context("someone in another region")?;
        let codes = subscribe(
            &registry,
            &sink,
            vec![
                criteria("Death", "Person", &format!(r#"uin IN ["{}", "0000000000"]"#, pensioner.uin)),
                criteria("DEATH_REGISTERED", "DeathRecord", &format!(r#"region_code = "{}""#, home.region_code)),
            ],
        )
        .await?;
        let (by_uin, by_region) = (&codes[0], &codes[1]);
        let today = fixture().today.to_string();

        let started = Instant::now();
        let report = spx_crvs(
            &registry,
            ["register-death", "--uin", &pensioner.uin, "--death-date", &today, "--place", &home.location_code]
                .map(String::from)
                .to_vec(),
        )
        .await?;
        let drn = synth::vital::drn(&pensioner.uin, fixture().today);
        ensure!(report["deaths"] == json!([drn]) && report["events"] == 4 && report["persons_updated"] == 2, "{report}");
        let received = sink
            .wait(Duration::from_secs(5), |r| !notifications(r, by_uin).is_empty() && !notifications(r, by_region).is_empty())
            .await?;
        let took = started.elapsed();
        ensure!(took < Duration::from_secs(1), "notified {took:?} after the registration");
        let notify = &notifications(&received, by_uin)[0];
        let event = &notify["message"]["notify_event"][0]["data"];
        ensure!(notify["header"]["meta"]["reg_event_type"] == "Death" && event["reg_record_type"] == "Person", "{notify}");
        ensure!(event["reg_type"] == "ns:org:RegistryType:Civil");
        let record = &event["reg_records"];
        ensure!(identifier(record, "UIN").as_deref() == Some(pensioner.uin.as_str()) && identifier(record, "DRN") == Some(drn.clone()), "{record}");
        ensure!(record["death_date"] == today && record["death_place"]["identifier"] == home.location_code.as_str(), "{record}");
        let death = &notifications(&received, by_region)[0]["message"]["notify_event"][0]["data"];
        ensure!(death["reg_record_type"] == "DeathRecord" && death["reg_event_type"] == "DEATH_REGISTERED", "{death}");
        ensure!(identifier(&death["reg_records"], "DRN") == Some(drn.clone()));

        // The surviving spouse is now a widow(er); the dead cannot die twice.
        let spouse = pensioner.spouse_uin.as_deref().context("spouse")?;
        let item = registry.one(by_id("Person", "UIN", spouse)).await?;
        ensure!(item["data"]["reg_records"][0]["marital_status"] == "W", "{item}");
        let again = json!({"deaths": [{"uin": pensioner.uin, "death_date": today, "death_place": home.location_code}]});
        refused(&register(&registry, again).await?, "is already registered")?;

        // A death elsewhere matches neither subscription.
        let place = &homes[elsewhere.uin.as_str()].location_code;
        let (status, report) = register(&registry, json!({"deaths": [{"uin": elsewhere.uin, "death_date": today, "death_place": place}]})).await?;
        ensure!(status == 200 && report["persons_updated"] == 1, "HTTP {status}: {report}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        let received = sink.received();
        ensure!(notifications(&received, by_uin).len() == 1 && notifications(&received, by_region).len() == 1, "{received:?}");
        Ok(())
    })
}

fn births_and_marriages_are_registered_and_notified(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let sink = Sink::start().await?;
        let homes = homes();
        let couple = fixture()
            .marriages
            .iter()
            .find(|m| {
                [&m.spouse1_uin, &m.spouse2_uin]
                    .iter()
                    .all(|u| person(u).death_date.is_none())
            })
            .context("a living couple")?;
        let (a, b) = (person(&couple.spouse1_uin), person(&couple.spouse2_uin));
        let (mother, father) = if a.sex == "female" { (a, b) } else { (b, a) };
        let singles: Vec<&synth::Person> = persons()
            .iter()
            .filter(|p| {
                p.death_date.is_none() && p.marital_status == "S" && p.birth_date.year() < 2000
            })
            .take(2)
            .collect();
        ensure!(singles.len() == 2, "two single adults");
        let codes = subscribe(
            &registry,
            &sink,
            vec![
                criteria(
                    "LiveBirth",
                    "Person",
                    &format!(r#"mother_uin = "{}""#, mother.uin),
                ),
                criteria(
                    "BIRTH_REGISTERED",
                    "BirthRecord",
                    &format!(r#"parent_uin = "{}""#, father.uin),
                ),
                criteria(
                    "Marriage",
                    "MarriageRecord",
                    &format!(r#"spouse_uin = "{}""#, singles[1].uin),
                ),
                criteria(
                    "Marriage",
                    "Person",
                    &format!(r#"uin = "{}""#, singles[0].uin),
                ),
            ],
        )
        .await?;
        let home = homes[mother.uin.as_str()];
        let child = new_uin(31);
        let today = fixture().today.to_string();
        let report = spx_crvs(
            &registry,
            [
                "register-birth",
                "--uin",
                &child,
                "--given-name",
                "Ama",
                "--surname",
                &father.surname,
                "--sex",
                "F",
                "--birth-date",
                &today,
                "--place",
                &home.location_code,
                "--mother-uin",
                &mother.uin,
                "--father-uin",
                &father.uin,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await?;
        let brn = synth::vital::brn(&child, fixture().today);
        ensure!(
            report["births"] == json!([brn])
                && report["events"] == 4
                && report["persons_updated"] == 0,
            "{report}"
        );
        let report = spx_crvs(
            &registry,
            [
                "register-marriage",
                "--spouse1-uin",
                &singles[0].uin,
                "--spouse2-uin",
                &singles[1].uin,
                "--marriage-date",
                &today,
                "--place",
                &home.district_code,
            ]
            .map(String::from)
            .to_vec(),
        )
        .await?;
        let mrn = synth::vital::mrn(&singles[0].uin, &singles[1].uin, fixture().today);
        ensure!(
            report["marriages"] == json!([mrn])
                && report["events"] == 3
                && report["persons_updated"] == 2,
            "{report}"
        );
        let received = sink
            .wait(Duration::from_secs(5), |r| {
                codes.iter().all(|c| notifications(r, c).len() == 1)
            })
            .await?;
        let data = |code: &str| {
            notifications(&received, code)[0]["message"]["notify_event"][0]["data"].clone()
        };
        let born = data(&codes[0]);
        ensure!(
            born["reg_event_type"] == "LiveBirth" && born["reg_records"]["@type"] == "CRVS_Person",
            "{born}"
        );
        ensure!(
            born["reg_records"]["parent1_identifier"]["identifier_value"] == mother.uin.as_str()
                && born["reg_records"]["marital_status"] == "S"
        );
        ensure!(
            born["reg_records"]["sex"] == "female"
                && identifier(&born["reg_records"], "BRN") == Some(brn.clone())
        );
        let record = data(&codes[1]);
        ensure!(
            record["reg_records"]["father_identifier"]["identifier_value"] == father.uin.as_str(),
            "{record}"
        );
        let married = data(&codes[2]);
        ensure!(
            identifier(&married["reg_records"], "MRN") == Some(mrn.clone()),
            "{married}"
        );
        // A district is a place too: its region is known, its sub-county is not.
        ensure!(
            married["reg_records"]["marriage_place"]["identifier"] == home.district_code.as_str()
        );
        let spouse = data(&codes[3]);
        ensure!(
            spouse["reg_records"]["marital_status"] == "M"
                && spouse["reg_records"]["marriage_date"] == json!([today]),
            "{spouse}"
        );
        ensure!(
            registry
                .count(
                    "MarriageRecord",
                    "expression",
                    text(&format!(
                        r#"region_code = "{}" AND marriage_date = "{today}""#,
                        home.region_code
                    ))
                )
                .await?
                == 1
        );
        let item = registry.one(by_id("BirthRecord", "BRN", &brn)).await?;
        ensure!(item["data"]["reg_records"][0]["registration_date"] == today);

        // Refusals change nothing and name their reason.
        let birth = |uin: &str, place: &str| {
            json!({"births": [{"uin": uin, "given_name": "B", "surname": "C", "sex": "male",
            "birth_date": today, "birth_place": place}]})
        };
        refused(
            &register(&registry, birth(&child, &home.location_code)).await?,
            &format!("person {child} is already registered"),
        )?;
        refused(
            &register(&registry, birth(&new_uin(32), "X99")).await?,
            "is not a code of the location master list",
        )?;
        refused(
            &register(&registry, birth("123", &home.location_code)).await?,
            "is not a valid UIN",
        )?;
        refused(
            &register(
                &registry,
                json!({"marriages": [{"spouse1_uin": singles[0].uin, "spouse2_uin": mother.uin,
                "marriage_date": today, "marriage_place": home.location_code}]}),
            )
            .await?,
            "is married",
        )?;
        refused(
            &register(&registry, json!({"births": [], "weddings": []})).await?,
            "unknown field `weddings`",
        )?;
        refused(
            &register(&registry, json!({})).await?,
            "holds no births, marriages, deaths or divorces",
        )?;
        let (status, body) = post_json(
            &registry.client,
            &registry.url("/registrar/records"),
            &json!({"persons": []}),
        )
        .await?;
        // The social registrar's endpoint is the social registry's only.
        ensure!(
            status == 404 && body["errors"][0]["code"] == "err.request.not_found",
            "HTTP {status}: {body}"
        );
        ensure!(
            registry
                .count(
                    "Person",
                    "idtype-value",
                    json!({"type": "UIN", "value": new_uin(32)})
                )
                .await?
                == 0
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure!(
            codes
                .iter()
                .all(|c| notifications(&sink.received(), c).len() == 1),
            "nothing more was notified"
        );
        Ok(())
    })
}

/// A divorce dissolves a registered marriage: both spouses become divorced (and may marry
/// again), the marriage record carries the divorce, subscribers to `Divorce` are notified, and
/// impossible divorces are refused with their reasons.
fn a_registered_divorce_dissolves_the_marriage(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let sink = Sink::start().await?;
        let living = |m: &&synth::Marriage| {
            [&m.spouse1_uin, &m.spouse2_uin]
                .iter()
                .all(|u| person(u).death_date.is_none())
        };
        let mut couples = fixture().marriages.iter().filter(living);
        let couple = couples.next().context("a living couple")?;
        let widowed = fixture()
            .marriages
            .iter()
            .find(|m| !living(m))
            .context("a marriage ended by a death")?;
        let codes = subscribe(
            &registry,
            &sink,
            vec![
                criteria("Divorce", "Person", &format!(r#"uin = "{}""#, couple.spouse2_uin)),
                criteria("Divorce", "MarriageRecord", &format!(r#"mrn = "{}""#, couple.mrn)),
            ],
        )
        .await?;
        let today = fixture().today.to_string();
        let place = homes()[couple.spouse1_uin.as_str()].district_code.clone();
        let report = spx_crvs(
            &registry,
            ["register-divorce", "--mrn", &couple.mrn, "--divorce-date", &today, "--place", &place]
                .map(String::from)
                .to_vec(),
        )
        .await?;
        ensure!(
            report["divorces"] == json!([couple.mrn])
                && report["events"] == 3
                && report["persons_updated"] == 2,
            "{report}"
        );
        for uin in [&couple.spouse1_uin, &couple.spouse2_uin] {
            let record = person_record(&registry, uin).await?;
            ensure!(
                record["marital_status"] == "D" && record["divorce_date"] == json!([today]),
                "{record}"
            );
        }
        let item = registry
            .one(json!({"reg_record_type": "MarriageRecord", "query_type": "expression",
                "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": {"$and": [
                    {"mrn": {"$eq": couple.mrn}}, {"divorce_date": {"$eq": today}}]}}}}))
            .await?;
        let marriage = &item["data"]["reg_records"][0];
        ensure!(
            marriage["divorce_date"] == today.as_str()
                && marriage["divorce_place"]["identifier"] == place.as_str(),
            "{item}"
        );
        let received = sink
            .wait(Duration::from_secs(5), |r| {
                codes.iter().all(|c| notifications(r, c).len() == 1)
            })
            .await?;
        let notified = notifications(&received, &codes[1]);
        ensure!(
            notified[0]["message"]["notify_event"][0]["data"]["reg_records"]["divorce_date"]
                == today.as_str(),
            "{notified:?}"
        );
        let divorce = |mrn: &str, date: &str| {
            json!({"divorces": [{"mrn": mrn, "divorce_date": date, "divorce_place": place}]})
        };
        refused(&register(&registry, divorce(&couple.mrn, &today)).await?, "already dissolved")?;
        refused(&register(&registry, divorce("1999000000000", &today)).await?, "is not registered")?;
        refused(&register(&registry, divorce(&widowed.mrn, &today)).await?, "ended with the death")?;
        let other = couples.next().context("another living couple")?;
        let before = (other.marriage_date - time::Duration::days(1)).to_string();
        refused(
            &register(&registry, divorce(&other.mrn, &before)).await?,
            "is before the marriage",
        )?;
        // Divorced, they may marry again.
        let (status, answer) = register(
            &registry,
            json!({"marriages": [{"spouse1_uin": couple.spouse1_uin, "spouse2_uin": couple.spouse2_uin,
                "marriage_date": today, "marriage_place": place, "mrn": "2026000000001"}]}),
        )
        .await?;
        ensure!(status == 200, "HTTP {status}: {answer}");
        Ok(())
    })
}

/// The person's record as a search by UIN returns it.
async fn person_record(registry: &TestRegistry, uin: &str) -> Result<Value> {
    let item = registry.one(by_id("Person", "UIN", uin)).await?;
    Ok(item["data"]["reg_records"][0].clone())
}

fn concurrent_registrations_of_one_person_all_apply(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let homes = homes();
        let singles: Vec<&synth::Person> = persons()
            .iter()
            .filter(|p| p.death_date.is_none() && p.marital_status == "S" && p.birth_date.year() < 2000)
            .take(16)
            .collect();
        ensure!(singles.len() == 16);
        let today = fixture().today.to_string();
        // Each person marries and dies at once: whichever commits second sees the first.
        let requests = singles.chunks(2).map(|pair| {
            let (x, y) = (pair[0], pair[1]);
            let place = homes[x.uin.as_str()].location_code.clone();
            let marriage = json!({"marriages": [{"spouse1_uin": x.uin, "spouse2_uin": y.uin, "marriage_date": today, "marriage_place": place}]});
            let death = json!({"deaths": [{"uin": x.uin, "death_date": today, "death_place": place}]});
            let registry = &registry;
            async move {
                let (married, died) = tokio::join!(register(registry, marriage), register(registry, death));
                anyhow::Ok((x, y, married?, died?))
            }
        });
        let mut both = 0;
        for outcome in futures::future::join_all(requests).await {
            let (x, y, married, died) = outcome?;
            ensure!(died.0 == 200, "the death is always registered: {died:?}");
            let x_now = person_record(&registry, &x.uin).await?;
            let y_now = person_record(&registry, &y.uin).await?;
            ensure!(x_now["death_date"] == today && identifier(&x_now, "DRN").is_some(), "{x_now}");
            if married.0 == 200 {
                both += 1;
                // Married first, then died: nothing of either registration is lost.
                ensure!(x_now["marriage_date"] == json!([today]) && x_now["marital_status"] == "M", "{x_now}");
                ensure!(y_now["marital_status"] == "W" && y_now["marriage_date"] == json!([today]), "{y_now}");
            } else {
                refused(&married, "died on")?;
                ensure!(x_now["marital_status"] == "S" && y_now["marital_status"] == "S", "{x_now} {y_now}");
            }
        }
        println!("{both} of 8 marriages committed before their death");
        Ok(())
    })
}
