//! The integrated beneficiary registry (IBR) over DCI, on each backend: real coverage by each
//! identifier and query type checked against the generated population, `enrolled`, a batch of
//! 10,000 enrolment updates round-tripping (and sent again, changing nothing more), the
//! duplicates it creates found, events notified, and the refusals.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use synth::benefits::{ACTIVE, Enrolment};

use crate::subscription::{criteria, notifications};
use crate::support::{
    Backend, Sink, TestRegistry, age, by_id, fixture, post_json, registry_config, runtime, text,
};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "ibr::real_coverage_by_each_identifier_and_query_type",
        real_coverage_by_each_identifier_and_query_type,
    ),
    (
        "ibr::ten_thousand_updates_round_trip_and_duplicates_are_found",
        ten_thousand_updates_round_trip_and_duplicates_are_found,
    ),
    (
        "ibr::bad_updates_and_searches_get_their_codes",
        bad_updates_and_searches_get_their_codes,
    ),
    (
        "ibr::enrolments_and_status_changes_are_notified",
        enrolments_and_status_changes_are_notified,
    ),
    (
        "ibr::import_reports_each_rejected_row",
        import_reports_each_rejected_row,
    ),
];

const IBR: &str = "ibr.test";

/// The IBR loaded with the shared population; criteria batches up to `batch`.
async fn spawn(backend: Backend, batch: usize) -> Result<TestRegistry> {
    let mut config = registry_config();
    config.service_id = IBR.into();
    config.header.service_id = IBR.into();
    config.header.max_batch_size = batch;
    TestRegistry::spawn_profile(backend, &registry::ibr::PROFILE, config).await
}

fn enrolments() -> &'static [Enrolment] {
    &fixture().benefits.enrolments
}

/// The benefit type of each programme of the catalogue.
fn benefit_types() -> HashMap<String, String> {
    synth::benefits::programmes()
        .into_iter()
        .map(|p| (p.code, p.benefit_type))
        .collect()
}

/// Beneficiaries active in more than one programme giving the same benefit type, given every
/// active enrolment as (beneficiary, programme, benefit type).
fn duplicated(active: &[(String, String, String)]) -> BTreeSet<String> {
    let mut by_type: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
    for (beneficiary, programme, kind) in active {
        by_type
            .entry((beneficiary, kind))
            .or_default()
            .insert(programme);
    }
    by_type
        .into_iter()
        .filter(|(_, programmes)| programmes.len() > 1)
        .map(|((beneficiary, _), _)| beneficiary.to_string())
        .collect()
}

/// The population's active enrolments, as [`duplicated`] takes them.
fn active_in_population() -> Vec<(String, String, String)> {
    let types = benefit_types();
    enrolments()
        .iter()
        .filter(|e| e.status == ACTIVE)
        .map(|e| {
            (
                e.beneficiary_id.clone(),
                e.programme.clone(),
                types[&e.programme].clone(),
            )
        })
        .collect()
}

/// A sync request envelope of `action` to the IBR, with `message`.
fn envelope(action: &str, sender: &str, count: usize, message: Value) -> Value {
    json!({
        "header": {"version": "1.0.0", "message_id": uuid::Uuid::now_v7().to_string(),
                   "message_ts": dci::Timestamp::now().to_string(), "action": action,
                   "sender_id": sender, "receiver_id": IBR, "total_count": count},
        "message": message
    })
}

/// Posts `beneficiaries` to `/registry/sync/enrollment/updates` as `sender`.
async fn publish(
    registry: &TestRegistry,
    sender: &str,
    beneficiaries: &[Value],
) -> Result<(u16, Value)> {
    let message = json!({"transaction_id": format!("upd-{}", uuid::Uuid::now_v7()),
        "enrolled_updates": {"beneficiaries": beneficiaries}});
    let body = envelope("notify", sender, beneficiaries.len(), message);
    post_json(
        &registry.client,
        &registry.url("/registry/sync/enrollment/updates"),
        &body,
    )
    .await
}

/// The `enrolled` answers to `criteria`, in batches of the registry's limit.
async fn enrolled(registry: &TestRegistry, criteria: Vec<Value>) -> Result<Vec<Value>> {
    let mut answers = Vec::with_capacity(criteria.len());
    for batch in criteria.chunks(registry.registry.config.header.max_batch_size) {
        let message = json!({"transaction_id": format!("enr-{}", uuid::Uuid::now_v7()),
            "enrolled_criteria": batch});
        let (status, body) = post_json(
            &registry.client,
            &registry.url("/registry/sync/enrolled"),
            &envelope("search", "spmis.test", batch.len(), message),
        )
        .await?;
        let got = body["message"]["enrolled_response"].as_array();
        match got {
            Some(got) if status == 200 && body["header"]["action"] == "on-search" => {
                answers.extend(got.iter().cloned())
            }
            _ => return Err(anyhow!("HTTP {status}: {body}")),
        }
    }
    Ok(answers)
}

/// The `enrolled` criteria of a person (in one programme, when given).
fn person_criteria(uin: &str, programme: Option<&str>) -> Value {
    let mut query = json!({"person_identifier": {"eq": uin}});
    if let Some(programme) = programme {
        query["programme_identifier.program.programme_identifier"] = json!({"eq": programme});
    }
    json!({"query_type": "expression", "query": query})
}

/// A beneficiary as an SP-MIS publishes it: a person in `programme`, with one benefit.
fn beneficiary(uin: &str, programme: &str, status: &str, benefit: Option<(&str, &str)>) -> Value {
    let mut b = json!({
        "assistance_unit": "1",
        "member": {"member_identifier": [{"identifier_type": "UIN", "identifier_value": uin}],
                   "demographic_info": {"@type": "IBR_Person", "identifier": [{"identifier_type": "UIN", "identifier_value": uin}],
                                        "name": {"given_name": "Test", "surname": "Person"}, "sex": "F", "birth_date": "1980-01-01"}},
        "programme_identifier": [{"programme_identifier": programme, "programme_name": format!("Programme {programme}"),
                                  "benefit": [{"benefit_type": if programme == "P3" { "voucher" } else { "cash" }}]}],
        "enrollment_status": status,
    });
    if let Some((id, value)) = benefit {
        b["benefits"] = json!([{"benefit_identifier": id, "benefit_date": first_of_month(),
                                "benefit_value": value}]);
    }
    b
}

fn first_of_month() -> String {
    let today = fixture().today;
    format!("{:04}-{:02}-01", today.year(), u8::from(today.month()))
}

fn total(item: &Value) -> i64 {
    item["pagination"]["total_count"].as_i64().unwrap_or(-1)
}

fn real_coverage_by_each_identifier_and_query_type(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend, 5).await?;
        let types = benefit_types();
        // A person with duplicate benefits: every programme they are in, by UIN.
        let doubled = duplicated(&active_in_population());
        let uin = doubled
            .iter()
            .find(|id| id.len() == 10 && !id.starts_with("HH"))
            .context("a person with duplicate benefits")?;
        let theirs: BTreeSet<&str> = enrolments()
            .iter()
            .filter(|e| &e.uin == uin)
            .map(|e| e.programme.as_str())
            .collect();
        let item = registry.one(by_id("Beneficiary", "UIN", uin)).await?;
        let got: BTreeSet<&str> = item["data"]["reg_records"]
            .as_array()
            .context("records")?
            .iter()
            .filter_map(|r| r["programme_identifier"][0]["programme_identifier"].as_str())
            .collect();
        ensure!(got == theirs && theirs.len() >= 2, "{uin}: {got:?} != {theirs:?}");
        ensure!(
            item["data"]["reg_record_type"] == "Beneficiary"
                && item["data"]["reg_type"] == "ns:org:RegistryType:IBR",
            "{item}"
        );
        // Their payment history.
        let keys: HashSet<(&str, &str)> = enrolments()
            .iter()
            .filter(|e| &e.uin == uin)
            .map(|e| (e.programme.as_str(), e.beneficiary_id.as_str()))
            .collect();
        let paid = fixture()
            .benefits
            .benefits
            .iter()
            .filter(|b| keys.contains(&(b.programme.as_str(), b.beneficiary_id.as_str())))
            .count() as i64;
        let item = registry.one(by_id("Benefit", "UIN", uin)).await?;
        ensure!(total(&item) == paid && paid > 0, "{paid}: {item}");

        // A household's enrolments, by HHID: the transfer to the household and its members'.
        let household = enrolments()
            .iter()
            .find(|e| e.assistance_unit == "2")
            .and_then(|e| e.household_id.clone())
            .context("a household enrolment")?;
        let expected = enrolments()
            .iter()
            .filter(|e| e.household_id.as_deref() == Some(&household))
            .count() as i64;
        let item = registry.one(by_id("Beneficiary", "HHID", &household)).await?;
        ensure!(total(&item) == expected, "{expected}: {item}");

        // Expressions: the active old-age pensioners; the duplicates.
        let pensioners = enrolments()
            .iter()
            .filter(|e| e.programme == "OAA" && e.status == ACTIVE)
            .count() as i64;
        let got = registry
            .count(
                "Beneficiary",
                "expression",
                text(r#"programme_identifier = "OAA" AND enrollment_status = "active""#),
            )
            .await?;
        ensure!(got == pensioners && got > 0, "{got} != {pensioners}");
        let duplicates = enrolments()
            .iter()
            .filter(|e| e.status == ACTIVE && doubled.contains(&e.beneficiary_id))
            .filter(|e| {
                enrolments().iter().any(|o| {
                    o.beneficiary_id == e.beneficiary_id
                        && o.programme != e.programme
                        && o.status == ACTIVE
                        && types[&o.programme] == types[&e.programme]
                })
            })
            .count() as i64;
        let nosql = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"duplicate": {"$eq": true}}}});
        let got = registry.count("Beneficiary", "expression", nosql).await?;
        ensure!(got == duplicates && got > 0, "{got} != {duplicates}");

        // A predicate: widow allowances drawn at 65 or more.
        let persons: HashMap<&str, &synth::Person> = fixture()
            .population
            .persons
            .iter()
            .map(|p| (p.uin.as_str(), p))
            .collect();
        let old_widows = enrolments()
            .iter()
            .filter(|e| e.programme == "WA" && age(persons[e.uin.as_str()].birth_date, fixture().today) >= 65)
            .count() as i64;
        let predicate = json!([{"seq_num": 1,
            "expression1": {"attribute_name": "programme_identifier", "operator": "eq", "attribute_value": "WA"},
            "condition": "and",
            "expression2": {"attribute_name": "age", "operator": "ge", "attribute_value": 65}}]);
        let got = registry.count("Beneficiary", "predicate", predicate).await?;
        ensure!(got == old_widows, "{got} != {old_widows}");

        // Benefits and programmes.
        let failed = fixture()
            .benefits
            .benefits
            .iter()
            .filter(|b| b.payment_status == "2")
            .count() as i64;
        let got = registry
            .count("Benefit", "expression", text(r#"payment_status = "failed""#))
            .await?;
        ensure!(got == failed && got > 0, "{got} != {failed}");
        let item = registry
            .one(json!({"reg_record_type": "Programme", "query_type": "expression",
                        "query": text(r#"benefit_type = "voucher""#)}))
            .await?;
        ensure!(
            total(&item) == 1
                && item["data"]["reg_records"][0]["programme_identifier"] == "FSP"
                && item["data"]["reg_records"][0]["benefit"][0]["benefit_value"] == "USD 50.00",
            "{item}"
        );

        // enrolled: yes with the programmes; no for someone in none; no for an exited one.
        let nobody = fixture()
            .population
            .persons
            .iter()
            .find(|p| !enrolments().iter().any(|e| e.uin == p.uin))
            .context("someone in no programme")?;
        let exited = enrolments()
            .iter()
            .find(|e| {
                e.status == synth::benefits::EXITED
                    && e.assistance_unit == "1"
                    && enrolments()
                        .iter()
                        .filter(|o| o.uin == e.uin)
                        .all(|o| o.status != ACTIVE)
            })
            .context("someone exited from their only programme")?;
        let answers = enrolled(
            &registry,
            vec![
                person_criteria(uin, None),
                person_criteria(&nobody.uin, None),
                person_criteria(&exited.uin, None),
                person_criteria(uin, Some("FSP")),
            ],
        )
        .await?;
        let programmes = |a: &Value| -> BTreeSet<String> {
            a["enrollments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["programme_identifier"].as_str().map(str::to_string))
                .collect()
        };
        ensure!(
            answers[0]["enrolled_status"] == "yes"
                && programmes(&answers[0]) == theirs.iter().map(|s| s.to_string()).collect()
                && answers[0]["reference_id"] == "1",
            "{answers:?}"
        );
        ensure!(
            answers[1]["enrolled_status"] == "no" && answers[1].get("enrollments").is_none(),
            "{answers:?}"
        );
        ensure!(
            answers[2]["enrolled_status"] == "no"
                && answers[2]["enrollments"][0]["enrollment_status"] == "6",
            "{answers:?}"
        );
        ensure!(
            answers[3]["enrolled_status"] == if theirs.contains("FSP") { "yes" } else { "no" },
            "{answers:?}"
        );
        Ok(())
    })
}

fn ten_thousand_updates_round_trip_and_duplicates_are_found(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend, 100).await?;
        let living: Vec<&str> = fixture()
            .population
            .persons
            .iter()
            .filter(|p| p.death_date.is_none())
            .map(|p| p.uin.as_str())
            .collect();
        const N: usize = 10_000;
        let programmes = ["P1", "P2", "P3", "P4"];
        let planned: Vec<(&str, &str, &str)> = (0..N)
            .map(|i| {
                let status = if i % 7 == 0 { "suspended" } else { "active" };
                (living[i % living.len()], programmes[i / living.len()], status)
            })
            .collect();
        let batch: Vec<Value> = planned
            .iter()
            .enumerate()
            .map(|(i, (uin, programme, status))| {
                let id = format!("B{i}");
                let paid = (*status == "active").then_some((id.as_str(), "USD 12.50"));
                beneficiary(uin, programme, status, paid)
            })
            .collect();
        let started = std::time::Instant::now();
        let (status, body) = publish(&registry, "spmis.test", &batch).await?;
        let took = started.elapsed();
        let answers = body["message"]["enrolled_response"].as_array().cloned().unwrap_or_default();
        ensure!(
            status == 200
                && body["header"]["action"] == "on-notify"
                && answers.len() == N
                && answers.iter().all(|a| a["status"] == "succ"),
            "HTTP {status}: {}",
            &body.to_string()[..body.to_string().len().min(2000)]
        );
        ensure!(answers[9_999]["reference_id"] == "10000", "{}", answers[9_999]);
        eprintln!("10,000 enrolment updates applied in {took:?} ({backend:?})");

        // enrolled answers each of them correctly.
        let criteria: Vec<Value> = planned
            .iter()
            .map(|(uin, programme, _)| person_criteria(uin, Some(programme)))
            .collect();
        let answers = enrolled(&registry, criteria).await?;
        ensure!(answers.len() == N, "{} answers", answers.len());
        for ((uin, programme, status), answer) in planned.iter().zip(&answers) {
            let expected = if *status == "active" { "yes" } else { "no" };
            ensure!(
                answer["status"] == "succ"
                    && answer["enrolled_status"] == expected
                    && answer["enrollments"][0]["programme_identifier"] == *programme,
                "{uin} in {programme}: {answer}"
            );
        }

        // Paid benefits are recorded once, and sending the batch again changes nothing.
        let active = planned.iter().filter(|(_, _, s)| *s == "active").count() as i64;
        let count_benefits = || {
            registry.count(
                "Benefit",
                "expression",
                text(r#"programme_identifier IN ["P1", "P2", "P3", "P4"]"#),
            )
        };
        ensure!(count_benefits().await? == active, "benefits recorded");
        let events = |store: std::sync::Arc<dyn store::Store>| async move {
            let rows = store
                .read(vec![store::Statement::new(
                    "SELECT count(*) FROM registry_event",
                    vec![],
                    &[store::ColumnType::Integer],
                )])
                .await?;
            anyhow::Ok(format!("{:?}", rows[0]))
        };
        let before = events(registry.store.clone()).await?;
        let (status, body) = publish(&registry, "spmis.test", &batch).await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        ensure!(count_benefits().await? == active, "benefits recorded once");
        ensure!(events(registry.store.clone()).await? == before, "no new events");

        // The duplicates: the population's, and those the cash programmes P1, P2, P4 made.
        let mut all = active_in_population();
        all.extend(
            planned
                .iter()
                .filter(|(_, _, s)| *s == "active")
                .map(|(uin, programme, _)| {
                    let kind = if *programme == "P3" { "2" } else { "1" };
                    (uin.to_string(), programme.to_string(), kind.to_string())
                }),
        );
        let expected = duplicated(&all);
        let found: BTreeSet<String> = registry::ibr::duplicates(registry.store.as_ref())
            .await?
            .into_iter()
            .map(|d| d.beneficiary_id)
            .collect();
        ensure!(
            found == expected && found.len() > active_in_population().len() / 10,
            "{} found, {} expected",
            found.len(),
            expected.len()
        );
        // A status change takes a person out of the duplicates.
        let (uin, programme, _) = planned
            .iter()
            .find(|(uin, p, s)| *p == "P2" && *s == "active" && expected.contains(*uin))
            .context("a duplicate in P2")?;
        let (status, body) = publish(&registry, "spmis.test", &[beneficiary(uin, programme, "exited", None)]).await?;
        ensure!(status == 200 && body["message"]["enrolled_response"][0]["status"] == "succ", "{body}");
        let item = registry
            .one(json!({"reg_record_type": "Beneficiary", "query_type": "expression",
                        "query": text(&format!(r#"uin = "{uin}" AND programme_identifier = "{programme}""#))}))
            .await?;
        let record = &item["data"]["reg_records"][0];
        ensure!(
            record["enrollment_status"] == "6"
                && record["status_change_date"].as_array().map(Vec::len) == Some(1)
                && record["benefits"][0]["benefit_value"] == "USD 12.50",
            "{record}"
        );
        Ok(())
    })
}

fn bad_updates_and_searches_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend, 5).await?;
        let uin = enrolments()[0].uin.clone();
        let mut duplicate_reference = beneficiary(&uin, "GOOD", "active", None);
        duplicate_reference["reference_id"] = json!("r1");
        let mut good = beneficiary(&uin, "GOOD", "active", Some(("g1", "USD 5.00")));
        good["reference_id"] = json!("r1");
        let mut no_programme = beneficiary(&uin, "GOOD", "active", None);
        no_programme["programme_identifier"] = json!([]);
        let mut no_uin = beneficiary(&uin, "GOOD", "active", None);
        no_uin["member"] = json!({"member_identifier": [{"identifier_type": "BRN", "identifier_value": "2024000000001"}]});
        let mut malformed = beneficiary(&uin, "GOOD", "active", None);
        malformed["member"] = json!(42);
        let mut lottery = beneficiary(&uin, "GOOD", "active", Some(("g9", "USD 5.00")));
        lottery["benefits"][0]["benefit_type"] = json!("lottery");
        let mut untyped = beneficiary(&uin, "UNTYPED", "active", Some(("u1", "USD 5.00")));
        untyped["programme_identifier"][0]["benefit"] = json!([]);
        // Someone the population's old-age allowance does not pay.
        let young = fixture()
            .population
            .persons
            .iter()
            .find(|p| !enrolments().iter().any(|e| e.uin == p.uin && e.programme == "OAA"))
            .context("someone not in OAA")?
            .uin
            .clone();
        let mut typed_by_programme =
            beneficiary(&young, "OAA", "active", Some(("o1", "USD 25.00")));
        typed_by_programme["programme_identifier"] = json!("OAA");
        let batch = vec![
            good,
            beneficiary(&uin, "GOOD", "retired", None),
            beneficiary(&uin, "GOOD", "active", Some(("g2", "US 5.00"))),
            beneficiary(&uin, "GOOD", "active", Some(("g3", "USD 0"))),
            beneficiary(&uin, "GOOD", "active", Some(("g4", "USD -3"))),
            no_programme,
            no_uin,
            duplicate_reference,
            lottery,
            malformed,
            untyped,
            typed_by_programme,
        ];
        let (status, body) = publish(&registry, "spmis.test", &batch).await?;
        ensure!(status == 200, "HTTP {status}: {body}");
        let got: Vec<&str> = body["message"]["enrolled_response"]
            .as_array()
            .context("answers")?
            .iter()
            .map(|a| a["status_reason_code"].as_str().unwrap_or("succ"))
            .collect();
        ensure!(
            got == [
                "succ",
                "rjct.enrollment_status.invalid",
                "rjct.currency_code.invalid",
                "rjct.amount.invalid",
                "rjct.amount.invalid",
                "rjct.programme.invalid",
                "rjct.beneficiary.invalid",
                "rjct.reference_id.duplicate",
                "rjct.benefit.invalid",
                "rjct.beneficiary.invalid",
                "rjct.benefit.invalid",
                "succ",
            ],
            "{got:?}\n{body}"
        );
        // Only the good one was applied: one enrolment, one benefit.
        let enrolled_in_good = registry
            .count("Beneficiary", "expression", text(r#"programme_identifier = "GOOD""#))
            .await?;
        let paid_by_good = registry
            .count("Benefit", "expression", text(r#"programme_identifier = "GOOD""#))
            .await?;
        ensure!((enrolled_in_good, paid_by_good) == (1, 1), "{enrolled_in_good}, {paid_by_good}");
        // A rejected item registers no programme; a benefit without a type is its programme's.
        let untyped = registry
            .count("Programme", "expression", text(r#"programme_identifier = "UNTYPED""#))
            .await?;
        let item = registry
            .one(json!({"reg_record_type": "Benefit", "query_type": "expression",
                        "query": text(r#"benefit_identifier = "o1""#)}))
            .await?;
        ensure!(
            untyped == 0 && item["data"]["reg_records"][0]["benefit_type"] == "1",
            "{untyped}: {item}"
        );
        let item = registry
            .one(json!({"reg_record_type": "Beneficiary", "query_type": "expression",
                        "query": text(&format!(r#"uin = "{young}" AND programme_identifier = "OAA""#))}))
            .await?;
        ensure!(
            item["data"]["reg_records"][0]["programme_identifier"][0]["programme_name"]
                == "Old-age allowance",
            "{item}"
        );
        // GOOD now belongs to its first publisher; the population's programmes to no one.
        // Another participant (the payment service) may add a receipt to GOOD's enrolment,
        // not change it, nor enrol someone else in it.
        let receipt = json!({"member": {"member_identifier": uin}, "programme_identifier": "GOOD",
            "benefits": [{"benefit_identifier": "g-paid", "benefit_date": first_of_month(), "benefit_value": "USD 5.00"}]});
        let mut stranger_receipt = receipt.clone();
        stranger_receipt["member"]["member_identifier"] = json!(enrolments()[1].uin);
        let (status, body) = publish(
            &registry,
            "other.test",
            &[
                beneficiary(&uin, "GOOD", "suspended", None),
                beneficiary(&uin, "OAA", "active", None),
                receipt,
                stranger_receipt,
            ],
        )
        .await?;
        let answers = &body["message"]["enrolled_response"];
        ensure!(
            status == 200
                && answers[0]["status_reason_code"] == "err.request.forbidden"
                && answers[1]["status"] == "succ"
                && answers[2]["status"] == "succ"
                && answers[3]["status_reason_code"] == "err.request.forbidden",
            "{body}"
        );

        // Whole messages refused: empty, wrong action, over the limit.
        let (status, body) = publish(&registry, "spmis.test", &[]).await?;
        ensure!(status == 400 && body["message"]["error"]["code"] == "err.request.bad", "HTTP {status}: {body}");
        let message = json!({"transaction_id": "t-action", "enrolled_updates": {"beneficiaries": [beneficiary(&uin, "GOOD", "active", None)]}});
        let (status, body) = post_json(
            &registry.client,
            &registry.url("/registry/sync/enrollment/updates"),
            &envelope("search", "spmis.test", 1, message),
        )
        .await?;
        ensure!(
            status == 400 && body["header"]["status_reason_code"] == "rjct.action.invalid",
            "HTTP {status}: {body}"
        );
        let mut config = registry_config();
        config.service_id = IBR.into();
        config.header.service_id = IBR.into();
        config.updates.max_items = 3;
        let small = TestRegistry::spawn_profile(backend, &registry::ibr::PROFILE, config).await?;
        let four: Vec<Value> = (0..4).map(|_| beneficiary(&uin, "OAA", "active", None)).collect();
        let (status, body) = publish(&small, "spmis.test", &four).await?;
        ensure!(
            status == 413 && body["header"]["status_reason_code"] == "rjct.total_count.limit_exceeded",
            "HTTP {status}: {body}"
        );

        // Searches: an unknown record type, an identifier type it does not hold, an attribute
        // it does not have, a code not of its directory.
        let items = registry
            .items(vec![
                json!({"reg_record_type": "Tractor", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                by_id("Beneficiary", "BRN", "2024000000001"),
                json!({"query_type": "expression", "query": text("pension_size > 1")}),
                json!({"query_type": "expression", "query": text(r#"enrollment_status = "retired""#)}),
            ])
            .await?;
        crate::support::rejected_as(
            &items,
            &[
                ("rjct.search_criteria.invalid", "record type 'Tractor' is not held here (known: Beneficiary, Benefit, Programme)"),
                ("rjct.search_criteria.invalid", "identifier type 'BRN' is not held by the ibr registry for Beneficiary records (it holds UIN, HHID)"),
                ("rjct.search_criteria.invalid", "unknown attribute 'pension_size'"),
                ("rjct.search_criteria.invalid", "'retired' is not a code of EnrollmentStatusEnum"),
            ],
        )?;
        Ok(())
    })
}

fn enrolments_and_status_changes_are_notified(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend, 5).await?;
        let sink = Sink::start().await?;
        let uin = fixture().population.persons[3].uin.clone();
        let (codes, answer) = crate::subscription::subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                criteria(
                    "enrollment",
                    "Beneficiary",
                    r#"programme_identifier = "NEWP""#,
                ),
                criteria(
                    "enrollement_status_change",
                    "Beneficiary",
                    &format!(r#"uin = "{uin}""#),
                ),
            ],
        )
        .await?;
        let codes: Vec<String> = codes
            .into_iter()
            .map(|code| code.ok_or_else(|| anyhow!("refused: {answer}")))
            .collect::<Result<_>>()?;
        let (status, body) = publish(
            &registry,
            "spmis.test",
            &[beneficiary(&uin, "NEWP", "active", None)],
        )
        .await?;
        ensure!(
            status == 200 && body["message"]["enrolled_response"][0]["status"] == "succ",
            "{body}"
        );
        let (status, body) = publish(
            &registry,
            "spmis.test",
            &[beneficiary(&uin, "NEWP", "suspended", None)],
        )
        .await?;
        ensure!(
            status == 200 && body["message"]["enrolled_response"][0]["status"] == "succ",
            "{body}"
        );
        let received = sink
            .wait(Duration::from_secs(5), |r| {
                !notifications(r, &codes[0]).is_empty() && !notifications(r, &codes[1]).is_empty()
            })
            .await?;
        let enrolled =
            &notifications(&received, &codes[0])[0]["message"]["notify_event"][0]["data"];
        ensure!(
            enrolled["reg_event_type"] == "enrollement"
                && enrolled["reg_type"] == "ns:org:RegistryType:IBR"
                && enrolled["reg_records"]["programme_identifier"][0]["programme_identifier"]
                    == "NEWP",
            "{enrolled}"
        );
        let changed = &notifications(&received, &codes[1])[0]["message"]["notify_event"][0]["data"];
        ensure!(
            changed["reg_event_type"] == "enrollement_status_change"
                && changed["reg_records"]["enrollment_status"] == "4",
            "{changed}"
        );
        ensure!(
            notifications(&received, &codes[1]).len() == 1,
            "one status change"
        );
        Ok(())
    })
}

/// `spx import --role ibr` reports each row it refuses, with its file and line, and loads the
/// others.
fn import_reports_each_rejected_row(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let dir = crate::support::TempDir::new("ibr-import");
        let mut files: Vec<std::path::PathBuf> = fixture()
            .files
            .iter()
            .filter(|f| {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                !name.starts_with("enrolments") && !name.starts_with("benefits")
            })
            .cloned()
            .collect();
        let person = &fixture().population.persons[0].uin;
        let stranger = crate::subscription::new_uin(77);
        let enrolments = dir.0.join("enrolments.csv");
        std::fs::write(
            &enrolments,
            format!(
                "programme,beneficiary_id,assistance_unit,uin,household_id,status,enrolment_date,status_date,status_reason\n\
                 OAA,{person},1,{person},,1,2025-01-01,,\n\
                 NOPE,{person},1,{person},,1,2025-01-01,,\n\
                 CB,{person},1,{person},,9,2025-01-01,,\n\
                 WA,{stranger},1,{stranger},,1,2025-01-01,,\n"
            ),
        )?;
        let benefits = dir.0.join("benefits.csv");
        std::fs::write(
            &benefits,
            format!(
                "benefit_id,programme,beneficiary_id,benefit_type,benefit_date,amount,currency,payment_status\n\
                 b1,OAA,{person},1,2025-02-01,2500,USD,1\n\
                 b2,OAA,{person},1,2025-03-01,0,USD,1\n\
                 b3,DA,{person},1,2025-03-01,3000,USD,1\n"
            ),
        )?;
        files.extend([enrolments.clone(), benefits.clone()]);
        let place = crate::support::Place::new(backend).await?;
        let store = registry::open_store(&registry::ibr::PROFILE, &place.config()).await?;
        let classified = registry::import::ImportFiles::classify(&files)?;
        let report =
            registry::import::import("ibr", store.as_ref(), &classified, &Default::default()).await?;
        let (e, b) = (enrolments.display(), benefits.display());
        let expected = [
            format!("{b}:3: amount: 0 is not a positive number of minor units"),
            // Unreadable rows first, as each file is read; then what the rows refer to.
            format!("{e}:4: status: `9` is not one of 1, 2, 3, 4, 5, 6"),
            format!("{e}:3: programme 'NOPE' is not in the programmes file"),
            format!("{e}:5: person {stranger} is not in the persons file"),
            format!("{b}:4: benefit b3 is of no enrolment in the enrolments file"),
        ];
        ensure!(
            report.rejected == expected && report.rejected_count == 5,
            "{:#?}",
            report.rejected
        );
        ensure!(
            (report.programmes, report.enrolments, report.benefits) == (8, 1, 1),
            "{report:?}"
        );
        Ok(())
    })
}
