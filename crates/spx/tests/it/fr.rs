//! The farmer registry (FR) over DCI, on each backend: farmers and parcels by each identifier,
//! searches of every query type checked against the generated population (among them the
//! smallholders' question: land under 2 ha in a region, growing maize), and the refusals.

use std::collections::HashMap;

use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};
use synth::farming::{Farmer, Parcel};

use crate::subscription::{criteria, new_uin, notifications};
use crate::support::{Backend, Sink, TestRegistry, by_id, fixture, post_json, runtime, text};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "fr::farmers_and_parcels_by_each_identifier",
        farmers_and_parcels_by_each_identifier,
    ),
    (
        "fr::land_under_2_ha_in_a_region_growing_maize",
        land_under_2_ha_in_a_region_growing_maize,
    ),
    (
        "fr::bad_searches_get_their_codes",
        bad_searches_get_their_codes,
    ),
    (
        "fr::a_registered_farmer_is_notified_to_subscribers",
        a_registered_farmer_is_notified_to_subscribers,
    ),
];

const FR: &str = "fr.test";

async fn spawn(backend: Backend) -> Result<TestRegistry> {
    TestRegistry::spawn_as(backend, &registry::fr::PROFILE, FR).await
}

fn farmers() -> &'static [Farmer] {
    &fixture().farms.farmers
}

fn parcels_of(fid: &str) -> Vec<&'static Parcel> {
    fixture()
        .farms
        .parcels
        .iter()
        .filter(|p| p.fid == fid)
        .collect()
}

/// The farmer's land in all, rounded as the registry keeps it.
fn land(farmer: &Farmer) -> f64 {
    let total: f64 = parcels_of(&farmer.fid).iter().map(|p| p.land_size).sum();
    (total * 100.0).round() / 100.0
}

fn households() -> HashMap<&'static str, &'static synth::Household> {
    fixture()
        .population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect()
}

/// The value of identifier `kind` in an identifier list.
fn id_in(list: &Value, kind: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|i| i["identifier_type"] == kind)?["identifier_value"]
        .as_str()
        .map(str::to_string)
}

fn farmers_and_parcels_by_each_identifier(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let farmer = farmers()
            .iter()
            .find(|f| parcels_of(&f.fid).len() > 1 && !f.livestock.is_empty())
            .context("a farmer with parcels and animals")?;
        let parcels = parcels_of(&farmer.fid);
        let person = fixture()
            .population
            .persons
            .iter()
            .find(|p| p.uin == farmer.uin)
            .context("the farmer")?;
        for (kind, value) in [("UIN", &farmer.uin), ("FID", &farmer.fid)] {
            let item = registry.one(by_id("Farmer", kind, value)).await?;
            ensure!(item["pagination"]["total_count"] == 1, "{kind}: {item}");
            ensure!(
                item["data"]["reg_type"] == "ns:org:RegistryType:FR"
                    && item["data"]["reg_record_type"] == "Farmer",
                "{item}"
            );
            let record = &item["data"]["reg_records"][0];
            ensure!(record["@type"] == "Farmer_Person", "{record}");
            let details = &record["farmer_personal_details"];
            ensure!(
                id_in(&details["member_identifier"], "FID").as_deref() == Some(farmer.fid.as_str())
                    && id_in(&details["member_identifier"], "UIN").as_deref() == Some(farmer.uin.as_str()),
                "{details}"
            );
            ensure!(
                details["demographic_info"]["@type"] == "FR_Person"
                    && details["demographic_info"]["name"]["surname"] == person.surname.as_str()
                    && details["demographic_info"]["birth_date"] == person.birth_date.to_string(),
                "{details}"
            );
            ensure!(
                id_in(&record["family_details"]["group_identifier"], "HHID").as_deref()
                    == Some(farmer.household_id.as_str())
            );
            ensure!(record["farm_type"] == farmer.farm_type.as_str() && record["total_land_size"] == land(farmer));
            let farms = record["farm_details"].as_array().context("farm_details")?;
            ensure!(farms.len() == parcels.len(), "{record}");
            for (farm, parcel) in farms.iter().zip(&parcels) {
                ensure!(
                    id_in(&farm["identifier"], "LPI").as_deref() == Some(parcel.lpi.as_str())
                        && farm["land_size"] == parcel.land_size
                        && farm["measurment"] == "0"
                        && farm["land_tenure"] == parcel.land_tenure.as_str()
                        && farm["location"]["identifier"] == parcel.location_code.as_str(),
                    "{farm}"
                );
                let crops: Vec<&str> = farm["farming_activities"]["crop_production"]
                    .as_array()
                    .context("crops")?
                    .iter()
                    .filter_map(|c| c["crop_name"].as_str())
                    .collect();
                ensure!(crops == parcel.crops, "{farm}");
            }
            let animals = farms[0]["farming_activities"]["animal_production"]
                .as_array()
                .context("animals on the first farm")?;
            ensure!(animals.len() == farmer.livestock.len(), "{record}");
        }
        // A parcel by its own number, by its farmer's, and by its farmer's UIN.
        for (kind, value, count) in [
            ("LPI", &parcels[1].lpi, 1),
            ("FID", &farmer.fid, parcels.len()),
            ("UIN", &farmer.uin, parcels.len()),
        ] {
            let item = registry.one(by_id("FarmInfo", kind, value)).await?;
            ensure!(item["pagination"]["total_count"] == count, "{kind}: {item}");
            let record = &item["data"]["reg_records"][0];
            ensure!(
                record["@type"] == "FarmInfo"
                    && id_in(&record["farmer_identifier"], "FID").as_deref() == Some(farmer.fid.as_str()),
                "{record}"
            );
        }
        let item = registry
            .one(json!({"reg_type": "Farmer", "reg_record_type": "Parcel", "query_type": "idtype-value",
                        "query": {"type": "LPI", "value": parcels[0].lpi}}))
            .await?;
        ensure!(item["data"]["reg_record_type"] == "FarmInfo", "{item}");
        Ok(())
    })
}

fn land_under_2_ha_in_a_region_growing_maize(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let households = households();
        let home = |f: &Farmer| households[f.household_id.as_str()];
        let grows = |f: &Farmer, crop: &str| parcels_of(&f.fid).iter().any(|p| p.crops.iter().any(|c| c == crop));
        // The region with the most such farmers.
        let mut by_region: HashMap<&str, i64> = HashMap::new();
        for f in farmers().iter().filter(|f| land(f) < 2.0 && grows(f, "maize")) {
            *by_region.entry(home(f).region_code.as_str()).or_default() += 1;
        }
        let (region, expected) = by_region
            .into_iter()
            .max_by_key(|(region, n)| (*n, std::cmp::Reverse(*region)))
            .context("smallholders growing maize")?;
        ensure!(expected > 1, "too few for a test: {expected}");

        // The same question in each query type.
        let text_form = text(&format!(r#"land_size < 2 AND location = "{region}" AND crop = "maize""#));
        ensure!(registry.count("Farmer", "expression", text_form).await? == expected);
        let nosql = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"collection": "FRPerson", "query": {"$and": [
            {"total_land_size": {"$lt": 2}}, {"region_code": {"$eq": region}},
            {"land_details.farming_activities.crop_details.crop_type": {"$eq": "Maize"}}]}}}});
        let item = registry
            .one(json!({"query_type": "expression", "query": nosql, "pagination": {"page_size": 500},
                        "sort": [{"attribute_name": "land_size", "sort_order": "desc"}]}))
            .await?;
        ensure!(item["data"]["reg_record_type"] == "Farmer" && item["pagination"]["total_count"] == expected, "{}", item["pagination"]);
        let sizes: Vec<f64> = item["data"]["reg_records"]
            .as_array()
            .context("records")?
            .iter()
            .filter_map(|r| r["total_land_size"].as_f64())
            .collect();
        ensure!(sizes.len() as i64 == expected && sizes.windows(2).all(|w| w[0] >= w[1]) && sizes[0] < 2.0);
        let predicates = json!([
            {"seq_num": 1, "expression1": {"attribute_name": "land_size", "operator": "lt", "attribute_value": 2},
             "condition": "and", "expression2": {"attribute_name": "location", "operator": "eq", "attribute_value": region}},
            {"seq_num": 2, "expression1": {"attribute_name": "crop", "operator": "in", "attribute_value": ["corn"]}}]);
        ensure!(registry.count("Farmer", "predicate", predicates).await? == expected);

        // A district is a location too, as is a sub-county.
        let district = farmers()
            .iter()
            .find(|f| home(f).region_code == region)
            .map(|f| home(f).district_code.clone())
            .context("a district")?;
        let expected_district = farmers()
            .iter()
            .filter(|f| land(f) < 2.0 && grows(f, "maize") && home(f).district_code == district)
            .count() as i64;
        let district_form = text(&format!(r#"land_size < 2 AND location = "{district}" AND crop = "maize""#));
        ensure!(registry.count("Farmer", "expression", district_form).await? == expected_district);

        // Parcels, one at a time: under 2 ha, lying in the region, maize grown on them.
        let expected_parcels = fixture()
            .farms
            .parcels
            .iter()
            .filter(|p| p.land_size < 2.0 && p.location_code.starts_with(&format!("{region}-")) && p.crops.iter().any(|c| c == "maize"))
            .count() as i64;
        let parcels = text(&format!(r#"land_size < 2 AND location = "{region}" AND crop = "maize""#));
        ensure!(registry.count("FarmInfo", "expression", parcels).await? == expected_parcels);

        // The standard's FR example: a parcel in a region; and animals, tenure and farm type.
        let expected = farmers()
            .iter()
            .filter(|f| parcels_of(&f.fid).iter().any(|p| p.location_code.starts_with(&format!("{region}-"))))
            .count() as i64;
        let sample = json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": {"query": {"$and": [
            {"land_details.address.region_code": {"$eq": region}}]}}}});
        ensure!(registry.count("Farmer", "expression", sample).await? == expected);
        let expected = farmers()
            .iter()
            .filter(|f| f.livestock.iter().any(|l| l.animal == "1"))
            .filter(|f| parcels_of(&f.fid).iter().any(|p| p.land_tenure == "2"))
            .filter(|f| f.farm_type == "1")
            .count() as i64;
        ensure!(expected > 0);
        let cattle = text(r#"livestock = "cattle" AND land_tenure = "Leased" AND farm_type = "1""#);
        ensure!(registry.count("Farmer", "expression", cattle).await? == expected);
        Ok(())
    })
}

fn bad_searches_get_their_codes(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let uin = farmers()[0].uin.clone();
        let items = registry
            .items(vec![
                json!({"reg_record_type": "Tractor", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
                by_id("Farmer", "DCN", "2024000000001"),
                by_id("FarmInfo", "BRN", "2024000000001"),
                json!({"query_type": "expression", "query": text("tractor_count > 1")}),
                json!({"query_type": "expression", "query": text(r#"crop = "tobacco""#)}),
                json!({"query_type": "predicate", "query": [{"expression1": {"attribute_name": "land_size", "operator": "lt", "attribute_value": "small"}}]}),
                json!({"reg_type": "ns:org:RegistryType:DR", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}),
            ])
            .await?;
        crate::support::rejected_as(
            &items,
            &[
                ("rjct.search_criteria.invalid", "record type 'Tractor' is not held here (known: Farmer, FarmInfo)"),
                ("rjct.search_criteria.invalid", "identifier type 'DCN' is not held by the fr registry for Farmer records (it holds UIN, FID)"),
                ("rjct.search_criteria.invalid", "identifier type 'BRN' is not held by the fr registry for FarmInfo records (it holds LPI, FID, UIN)"),
                ("rjct.search_criteria.invalid", "unknown attribute 'tractor_count'"),
                ("rjct.search_criteria.invalid", "'tobacco' is not a code of crop"),
                ("rjct.search_criteria.invalid", "land_size"),
                ("rjct.search_criteria.invalid", "is not this registry (ns:org:RegistryType:FR)"),
            ],
        )?;
        Ok(())
    })
}

async fn registrar(registry: &TestRegistry, request: Value) -> Result<(u16, Value)> {
    post_json(
        &registry.client,
        &registry.url("/registrar/fr/records"),
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

fn a_registered_farmer_is_notified_to_subscribers(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = spawn(backend).await?;
        let sink = Sink::start().await?;
        let home = fixture().population.households[0].clone();
        let elsewhere = fixture()
            .population
            .households
            .iter()
            .find(|h| h.region_code != home.region_code)
            .context("a household in another region")?
            .region_code
            .clone();
        let (codes, answer) = crate::subscription::subscribe(
            &registry,
            "spmis.test",
            &sink,
            vec![
                criteria("NewFarmer", "Farmer", &format!(r#"location = "{}""#, home.district_code)),
                criteria("FRPerson", "FarmInfo", r#"crop = "maize""#),
                criteria("NewFarmer", "Farmer", &format!(r#"region_code = "{elsewhere}""#)),
            ],
        )
        .await?;
        let codes: Vec<String> = codes
            .into_iter()
            .map(|code| code.ok_or_else(|| anyhow!("refused: {answer}")))
            .collect::<Result<_>>()?;
        let uin = new_uin(51);
        let farmer = json!({"farmers": [{
            "uin": uin, "given_name": "Wanjiru", "surname": "Kamau", "sex": "F", "birth_date": "1984-03-09",
            "home": home.location_code, "household_id": home.household_id, "farm_type": "Small subsistence-oriented farm",
            "parcels": [
                {"location": home.location_code, "land_size": 0.75, "land_tenure": "Owner", "crops": ["corn", "beans"]},
                {"location": home.location_code, "land_size": 0.4, "land_tenure": "Leased", "crops": ["cassava"], "irrigated": true}],
            "livestock": [{"animal": "goats", "count": 3}, {"animal": "sheep", "count": 2}, {"animal": "chickens", "count": 12}]}]});
        let (status, report) = registrar(&registry, farmer.clone()).await?;
        let fid = synth::farming::fid(&uin, fixture().today);
        ensure!(
            status == 200 && report == json!({"farmers": [fid], "parcels": 2, "events": 6}),
            "HTTP {status}: {report}"
        );
        let received = sink
            .wait(Duration::from_secs(5), |r| {
                !notifications(r, &codes[0]).is_empty() && !notifications(r, &codes[1]).is_empty()
            })
            .await?;
        let registered = &notifications(&received, &codes[0])[0]["message"]["notify_event"][0]["data"];
        ensure!(
            registered["reg_event_type"] == "NewFarmer"
                && registered["reg_type"] == "ns:org:RegistryType:FR"
                && registered["reg_records"]["total_land_size"] == 1.15
                && registered["reg_records"]["farm_type"] == "1",
            "{registered}"
        );
        let animals = &registered["reg_records"]["farm_details"][0]["farming_activities"]["animal_production"];
        ensure!(animals == &json!([{"type": "2", "count": 5}, {"type": "6", "count": 12}]), "{animals}");
        let parcel = &notifications(&received, &codes[1])[0]["message"]["notify_event"][0]["data"]["reg_records"];
        ensure!(
            id_in(&parcel["identifier"], "LPI") == Some(format!("{fid}-1"))
                && parcel["farming_activities"]["crop_production"][0]["crop_name"] == "maize",
            "{parcel}"
        );
        let item = registry.one(by_id("Farmer", "FID", &fid)).await?;
        ensure!(item["pagination"]["total_count"] == 1, "{item}");

        // Refusals change nothing and name their reason.
        refused(&registrar(&registry, farmer).await?, &format!("{uin} is already registered"))?;
        let with = |change: Value| {
            let mut one = json!({"uin": new_uin(52), "given_name": "A", "surname": "B", "sex": "male", "birth_date": "1990-01-01",
                "home": home.location_code, "farm_type": "1",
                "parcels": [{"location": home.location_code, "land_size": 1.0, "land_tenure": "1", "crops": ["maize"]}]});
            if let (Some(one), Some(change)) = (one.as_object_mut(), change.as_object()) {
                one.extend(change.clone());
            }
            json!({"farmers": [one]})
        };
        refused(
            &registrar(&registry, with(json!({"parcels": [{"location": home.location_code, "land_size": 1.0, "land_tenure": "1", "crops": ["tobacco"]}]}))).await?,
            "crop 'tobacco'",
        )?;
        refused(&registrar(&registry, with(json!({"home": "X99"}))).await?, "is not a code of the location master list")?;
        refused(&registrar(&registry, with(json!({"parcels": []}))).await?, "has no parcel")?;
        refused(&registrar(&registry, with(json!({"tractors": 2}))).await?, "unknown field `tractors`")?;
        refused(&registrar(&registry, json!({})).await?, "holds no farmers")?;
        ensure!(registry.count("Farmer", "idtype-value", json!({"type": "UIN", "value": new_uin(52)})).await? == 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = sink.received();
        ensure!(
            notifications(&received, &codes[0]).len() == 1
                && notifications(&received, &codes[1]).len() == 1
                && notifications(&received, &codes[2]).is_empty(),
            "{received:?}"
        );
        Ok(())
    })
}
