//! Social registry search over DCI, on each backend, checked against the generated population.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, ensure};
use serde_json::{Value, json};

use crate::support::{Backend, TestRegistry, age, envelope, fixture, record_ids, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    ("search::member_by_uin", member_by_uin),
    (
        "search::household_by_member_uin_and_by_hhid",
        household_by_member_uin_and_by_hhid,
    ),
    (
        "search::nosql_expression_matches_population",
        nosql_expression_matches_population,
    ),
    (
        "search::pages_cover_every_match_once",
        pages_cover_every_match_once,
    ),
    (
        "search::predicate_list_finds_poor_widows",
        predicate_list_finds_poor_widows,
    ),
    (
        "search::age_and_household_member_conditions",
        age_and_household_member_conditions,
    ),
    (
        "search::sort_descending_on_any_attribute",
        sort_descending_on_any_attribute,
    ),
    (
        "search::batch_items_answered_on_their_own",
        batch_items_answered_on_their_own,
    ),
];

fn households_by_id() -> HashMap<&'static str, &'static synth::Household> {
    fixture()
        .population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect()
}

fn living() -> impl Iterator<Item = &'static synth::Person> {
    fixture()
        .population
        .persons
        .iter()
        .filter(|p| p.household_id.is_some())
}

fn member_by_uin(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let person = living().nth(17).expect("a person");
        let item = registry
            .one(json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": person.uin}}))
            .await?;
        let record = &item["data"]["reg_records"][0];
        ensure!(item["data"]["reg_records"].as_array().map(Vec::len) == Some(1), "{item}");
        ensure!(item["data"]["reg_record_type"] == "Member" && item["data"]["reg_type"] == "ns:org:RegistryType:Social");
        ensure!(record["demographic_info"]["name"]["given_name"] == person.given_name.as_str());
        ensure!(record["demographic_info"]["birth_date"] == person.birth_date.to_string());
        ensure!(record["demographic_info"]["sex"] == person.sex.as_str());
        ensure!(record["group_identifier"]["identifier_value"] == person.household_id.as_deref().unwrap());
        ensure!(item["pagination"]["total_count"] == 1);
        // A UIN sent as a number, as samples do, finds the same person.
        let numeric: u64 = person.uin.parse()?;
        let again = registry
            .one(json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": numeric}}))
            .await?;
        ensure!(record_ids(&again) == vec![person.uin.clone()], "{again}");
        // Nobody holds this UIN: success with no records.
        let nobody = registry
            .one(json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": "0000000000"}}))
            .await?;
        ensure!(nobody["pagination"]["total_count"] == 0 && nobody["data"]["reg_records"] == json!([]));
        Ok(())
    })
}

fn household_by_member_uin_and_by_hhid(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let household = fixture().population.households.iter().find(|h| h.size >= 4).expect("a household of 4");
        let member = living().find(|p| p.household_id.as_deref() == Some(&household.household_id) && p.uin != household.head_uin).unwrap();
        for query in [json!({"type": "UIN", "value": member.uin}), json!({"type": "HHID", "value": household.household_id})] {
            let item = registry.one(json!({"response_entity": "Group", "query_type": "idtype-value", "query": query})).await?;
            let group = &item["data"]["reg_records"][0];
            ensure!(record_ids(&item) == vec![household.household_id.clone()], "{item}");
            ensure!(group["group_size"] == household.size);
            ensure!(group["member_list"].as_array().map(Vec::len) == Some(household.size as usize), "{group}");
            ensure!(group["group_head_info"]["member_identifier"][0]["identifier_value"] == household.head_uin.as_str());
            ensure!(group["poverty_score"].as_f64() == Some(household.poverty_score));
            ensure!(group["address"][0]["region_code"] == household.region_code.as_str());
        }
        Ok(())
    })
}

fn nosql_expression_matches_population(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let region = &fixture().population.households[0].region_code;
        let expected: BTreeSet<String> = fixture()
            .population
            .households
            .iter()
            .filter(|h| h.poverty_score <= 40.0 && &h.region_code == region && (3..=7).contains(&h.size))
            .map(|h| h.household_id.clone())
            .collect();
        ensure!(!expected.is_empty(), "the fixture should have matches");
        let query = json!({"collection": "Group", "query": {"$and": [{"poverty_score": {"$lte": 40}}, {"location": {"$eq": region}},
            {"household_size": {"$gte": 3}}, {"group_size": {"$lte": 7}}]}});
        let item = registry
            .one(json!({"query_type": "expression", "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": query}},
                "pagination": {"page_size": 500}}))
            .await?;
        ensure!(item["pagination"]["total_count"] == expected.len(), "{} vs {}", item["pagination"], expected.len());
        let got: BTreeSet<String> = record_ids(&item).into_iter().collect();
        ensure!(got == expected);
        // The same search as a text expression.
        let text = format!("poverty_score <= 40 AND location = \"{region}\" AND group_size BETWEEN 3 AND 7");
        let item = registry
            .one(json!({"query_type": "expression", "query": {"type": "ns:org:QueryType:expression", "value": {"expression": text}},
                "pagination": {"page_size": 500}}))
            .await?;
        ensure!(record_ids(&item).into_iter().collect::<BTreeSet<_>>() == expected);
        Ok(())
    })
}

fn pages_cover_every_match_once(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let expected: Vec<&synth::Person> = living().filter(|p| p.sex == "female" && age(p.birth_date, fixture().today) >= 18).collect();
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let item = registry
                .one(json!({"reg_record_type": "Member", "query_type": "expression",
                    "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": {"sex": "F", "age": {"$gte": 18}}}},
                    "sort": [{"attribute_name": "uin", "sort_order": "asc"}],
                    "pagination": {"page_size": 200, "page_number": page}}))
                .await?;
            ensure!(item["pagination"]["total_count"] == expected.len(), "{}", item["pagination"]);
            let ids = record_ids(&item);
            if ids.is_empty() {
                break;
            }
            seen.extend(ids);
            page += 1;
        }
        let mut sorted = seen.clone();
        sorted.sort();
        ensure!(seen == sorted, "pages are not in UIN order");
        let mut wanted: Vec<String> = expected.iter().map(|p| p.uin.clone()).collect();
        wanted.sort();
        ensure!(seen == wanted, "pages returned {} records for {} matches", seen.len(), wanted.len());
        Ok(())
    })
}

fn predicate_list_finds_poor_widows(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let households = households_by_id();
        let expected: BTreeSet<String> = living()
            .filter(|p| {
                p.sex == "female"
                    && p.marital_status == "W"
                    && households[p.household_id.as_deref().unwrap()].poverty_score <= 50.0
            })
            .map(|p| p.uin.clone())
            .collect();
        ensure!(!expected.is_empty(), "the fixture should have poor widows");
        // The sample style: a predicate list labelled "expression", empty strings for absent parts.
        let item = registry
            .one(json!({"response_entity": "member", "query_type": "expression", "pagination": {"page_size": 500}, "query": [
                {"seq_num": "", "expression1": {"attribute_name": "gender", "operator": "eq", "attribute_value": "Female"},
                 "condition": "and", "expression2": {"attribute_name": "marital_status", "operator": "eq", "attribute_value": "Widow"}},
                {"seq_num": 2, "expression1": {"attribute_name": "poverty_score", "operator": "le", "attribute_value": "50"},
                 "condition": "", "expression2": ""}]}))
            .await?;
        ensure!(record_ids(&item).into_iter().collect::<BTreeSet<_>>() == expected, "{}", item["pagination"]);
        Ok(())
    })
}

fn age_and_household_member_conditions(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let today = fixture().today;
        let with_small_child: BTreeSet<&str> = living()
            .filter(|p| age(p.birth_date, today) < 5)
            .filter_map(|p| p.household_id.as_deref())
            .collect();
        let expected: BTreeSet<String> = fixture()
            .population
            .households
            .iter()
            .filter(|h| h.poverty_score < 35.0 && with_small_child.contains(h.household_id.as_str()))
            .map(|h| h.household_id.clone())
            .collect();
        ensure!(!expected.is_empty(), "the fixture should have poor households with small children");
        let item = registry
            .one(json!({"query_type": "expression", "pagination": {"page_size": 500},
                "query": {"type": "ns:org:QueryType:expression", "value": {"expression": "poverty_score < 35 AND member.age < 5"}}}))
            .await?;
        ensure!(record_ids(&item).into_iter().collect::<BTreeSet<_>>() == expected);
        let elderly = living().filter(|p| age(p.birth_date, today) >= 65).count();
        let item = registry
            .one(json!({"reg_record_type": "Member", "query_type": "predicate", "pagination": {"page_size": 1},
                "query": [{"expression1": {"attribute_name": "age", "operator": "ge", "attribute_value": 65}}]}))
            .await?;
        ensure!(item["pagination"]["total_count"] == elderly, "{} vs {elderly}", item["pagination"]);
        Ok(())
    })
}

fn sort_descending_on_any_attribute(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let item = registry
            .one(json!({"query_type": "expression", "pagination": {"page_size": 25},
                "sort": [{"attribute_name": "poverty_score", "sort_order": "desc"}],
                "query": {"type": "ns:org:QueryType:expression", "value": {"expression": "group_size >= 1"}}}))
            .await?;
        let scores: Vec<f64> = item["data"]["reg_records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["poverty_score"].as_f64().unwrap())
            .collect();
        let mut all: Vec<f64> = fixture().population.households.iter().map(|h| h.poverty_score).collect();
        all.sort_by(|a, b| b.total_cmp(a));
        ensure!(scores == all[..25], "{scores:?}");
        ensure!(item["pagination"]["total_count"] == fixture().population.households.len());
        Ok(())
    })
}

fn batch_items_answered_on_their_own(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        let uin = &living().next().unwrap().uin;
        let by_uin = json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}});
        let mut body = envelope(vec![
            by_uin.clone(),
            json!({"reg_record_type": "Member", "query_type": "predicate",
                   "query": [{"expression1": {"attribute_name": "YOB", "operator": "eq", "attribute_value": 1990}}]}),
            by_uin.clone(),
            json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "DRN", "value": "1"}}),
        ]);
        body["message"]["search_request"][2]["reference_id"] = json!("1");
        let (status, answer) = registry.search(&body).await?;
        ensure!(status == 200, "{answer}");
        let items = answer["message"]["search_response"].as_array().unwrap();
        let summary: Vec<(Value, Value)> = items.iter().map(|i| (i["status"].clone(), i["status_reason_code"].clone())).collect();
        ensure!(
            summary
                == vec![
                    (json!("succ"), Value::Null),
                    (json!("rjct"), json!("rjct.search_criteria.invalid")),
                    (json!("rjct"), json!("rjct.reference_id.duplicate")),
                    (json!("rjct"), json!("rjct.search_criteria.invalid")),
                ],
            "{summary:?}"
        );
        ensure!(items[1]["status_reason_message"].as_str().unwrap_or_default().contains("YOB"), "{}", items[1]);
        ensure!(answer["header"]["status"] == "succ" && answer["header"]["completed_count"] == 4);
        ensure!(answer["header"]["action"] == "on-search" && answer["header"]["receiver_id"] == "spmis.test");
        ensure!(answer["message"]["transaction_id"] == "txn-1");
        Ok(())
    })
}
