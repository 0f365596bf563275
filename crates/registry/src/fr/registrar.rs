//! The farmer registry's own side: farmers registered with their parcels and animals by the
//! registry's system (`POST /registrar/fr/records`).
//!
//! A request is applied whole or not at all, in one transaction that writes the records and
//! their events ([`crate::subscribe::raise`]): `FRPerson` (the standard's) and `NewFarmer` (the
//! sample's), on the farmer and on each of their parcels, so a subscription gets the record
//! type it names in `notify_record_type`. Farmer numbers not given are assigned as
//! [`synth::farming::fid`] numbers the generated population.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use dci::directory::{self, normalize};
use serde::{Deserialize, Serialize};
use store::{ColumnType, SqlValue, Statement, StoreError, placeholder};
use synth::farming::{Farmer, Livestock, Parcel};
use time::Date;

use super::{
    CROP_TABLE, FARMER_TABLE, FR_PERSON, LIVESTOCK_TABLE, NEW_FARMER, PARCEL_TABLE,
    RegisteredFarmer,
};
use crate::Registry;
use crate::registrar::insert;
use crate::rows::calendar_date as ymd;
use crate::social::Locations;
use crate::subscribe::raise;

/// The farmer registrar's endpoint: `POST /registrar/fr/records`.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new().route("/registrar/fr/records", axum::routing::post(records))
}

/// `POST /registrar/fr/records`: farmers registered with their parcels.
async fn records(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    match crate::http::registrar_body::<Registrations>(&registry, request).await {
        Ok(registrations) => {
            crate::http::registrar_answer(register(&registry, &registrations).await)
        }
        Err(refusal) => refusal,
    }
}

/// Farmers to register.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registrations {
    /// New farmers.
    #[serde(default)]
    pub farmers: Vec<FarmerRegistration>,
}

/// A farmer to register, with their land.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FarmerRegistration {
    /// The farmer's UIN.
    pub uin: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code or label.
    pub sex: String,
    /// `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub birth_date: Date,
    /// A code of the location master list: where the farmer lives.
    pub home: String,
    /// The farmer's household in the social registry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household_id: Option<String>,
    /// FarmTypeEnum code or label.
    pub farm_type: String,
    /// The parcels farmed (at least one).
    pub parcels: Vec<ParcelRegistration>,
    /// Animals kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub livestock: Vec<HerdRegistration>,
    /// When the farmer was registered; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<Date>,
    /// The farmer number; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<String>,
}

/// A parcel of a farmer to register.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelRegistration {
    /// A code of the location master list: where the parcel lies.
    pub location: String,
    /// Its size in hectares.
    pub land_size: f64,
    /// LandTenureEnum code or label.
    pub land_tenure: String,
    /// Crops grown (names or labels of the crop directory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crops: Vec<String>,
    /// Whether it is irrigated.
    #[serde(default)]
    pub irrigated: bool,
}

/// Animals of one kind kept by a farmer to register.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HerdRegistration {
    /// AnimalsEnum code or label (`cattle`, `goats`, `chickens` ...).
    pub animal: String,
    /// How many.
    pub count: u32,
}

/// What a request registered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The number of each farmer, in request order.
    pub farmers: Vec<String>,
    /// Parcels registered.
    pub parcels: usize,
    /// Events raised.
    pub events: usize,
}

/// Registers `request` in one transaction. A request that cannot be applied whole gets the
/// reason and changes nothing.
pub async fn register(
    registry: &Registry,
    request: &Registrations,
) -> Result<Result<Report, String>, StoreError> {
    if registry.profile.role != super::PROFILE.role {
        return Ok(Err(format!(
            "the {} registry registers no farmers",
            registry.profile.role
        )));
    }
    if request.farmers.is_empty() {
        return Ok(Err("the request holds no farmers".into()));
    }
    let locations = crate::registrar::locations(registry).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut farmers = Vec::with_capacity(request.farmers.len());
    for registration in &request.farmers {
        match farmer(registration, today, &locations) {
            Ok(farmer) => farmers.push(farmer),
            Err(reason) => return Ok(Err(reason)),
        }
    }
    let keys: Vec<String> = farmers
        .iter()
        .flat_map(|f| [f.farmer.uin.clone(), f.farmer.fid.clone()])
        .collect();
    let mut seen = HashSet::new();
    if let Some(twice) = keys.iter().find(|k| !seen.insert(*k)) {
        return Ok(Err(format!("{twice} appears twice in the request")));
    }
    if let Some(taken) = registered(registry, &keys).await?.into_iter().next() {
        return Ok(Err(format!("{taken} is already registered")));
    }
    let dialect = registry.store.dialect();
    let now = dci::Timestamp::now().to_string();
    let mut statements = Vec::new();
    let mut events = Vec::new();
    let mut report = Report::default();
    for farmer in &farmers {
        statements.push(insert(dialect, &FARMER_TABLE, farmer.row(&locations, &now)));
        statements.extend(
            farmer
                .parcel_rows(&locations)
                .into_iter()
                .map(|row| insert(dialect, &PARCEL_TABLE, row)),
        );
        statements.extend(
            farmer
                .crop_rows()
                .into_iter()
                .map(|row| insert(dialect, &CROP_TABLE, row)),
        );
        statements.extend(
            farmer
                .livestock_rows()
                .into_iter()
                .map(|row| insert(dialect, &LIVESTOCK_TABLE, row)),
        );
        for event in [FR_PERSON, NEW_FARMER] {
            events.push((
                event,
                dci::records::fr::FARMER,
                "farmer",
                "fid",
                farmer.farmer.fid.clone(),
            ));
            for parcel in &farmer.parcels {
                events.push((
                    event,
                    dci::records::fr::FARM_INFO,
                    "parcel",
                    "lpi",
                    parcel.lpi.clone(),
                ));
            }
        }
        report.farmers.push(farmer.farmer.fid.clone());
        report.parcels += farmer.parcels.len();
    }
    for (event, record_type, table, column, value) in events {
        statements.push(raise(
            dialect,
            event,
            record_type,
            table,
            column,
            SqlValue::Text(value),
        ));
        report.events += 1;
    }
    match registry.store.write(statements).await {
        Ok(_) => {
            registry.events.notify_one();
            Ok(Ok(report))
        }
        // A registration of the same farmer that committed first.
        Err(e) => match registered(registry, &keys).await?.into_iter().next() {
            Some(taken) => Ok(Err(format!("{taken} is already registered"))),
            None => Err(e),
        },
    }
}

/// The code `input` names in `directory`, or why not.
fn code(directory: &[directory::Entry], input: &str, what: &str) -> Result<String, String> {
    normalize(directory, input)
        .map(str::to_string)
        .ok_or_else(|| format!("{what} '{input}' is not a code of its directory"))
}

fn place_checked(code: &str, locations: &Locations, what: &str) -> Result<(), String> {
    match locations.get(code) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{what} '{code}' is not a code of the location master list"
        )),
    }
}

/// The farmer a registration creates, checked.
fn farmer(
    registration: &FarmerRegistration,
    today: Date,
    locations: &Locations,
) -> Result<RegisteredFarmer, String> {
    let uin = &registration.uin;
    if !synth::uin_is_valid(uin) {
        return Err(format!("uin '{uin}' is not a valid UIN"));
    }
    if registration.given_name.trim().is_empty() || registration.surname.trim().is_empty() {
        return Err(format!("the registration of {uin} has an empty name"));
    }
    let sex = code(directory::SEX, &registration.sex, "sex")?;
    place_checked(&registration.home, locations, "home")?;
    let registered = registration.registration_date.unwrap_or(today);
    if registration.birth_date > registered || registered > today {
        return Err(format!(
            "registration_date {registered} is not between the birth_date {} and today",
            registration.birth_date
        ));
    }
    if registration.parcels.is_empty() {
        return Err(format!("the registration of {uin} has no parcel"));
    }
    let fid = registration
        .fid
        .clone()
        .unwrap_or_else(|| synth::farming::fid(uin, registered));
    let mut parcels = Vec::with_capacity(registration.parcels.len());
    for (rank, parcel) in registration.parcels.iter().enumerate() {
        place_checked(&parcel.location, locations, "parcel location")?;
        if !(parcel.land_size.is_finite() && parcel.land_size > 0.0) {
            return Err(format!(
                "land_size {} is not a positive number of hectares",
                parcel.land_size
            ));
        }
        let crops = parcel
            .crops
            .iter()
            .map(|crop| code(directory::CROP, crop, "crop"))
            .collect::<Result<Vec<_>, _>>()?;
        parcels.push(Parcel {
            lpi: format!("{fid}-{}", rank + 1),
            fid: fid.clone(),
            location_code: parcel.location.clone(),
            land_size: (parcel.land_size * 100.0).round() / 100.0,
            land_tenure: code(directory::LAND_TENURE, &parcel.land_tenure, "land_tenure")?,
            crops,
            irrigated: parcel.irrigated,
            registration_date: registered,
        });
    }
    let mut livestock: Vec<Livestock> = Vec::new();
    for herd in &registration.livestock {
        let animal = code(directory::ANIMAL, &herd.animal, "animal")?;
        if herd.count == 0 {
            return Err(format!("a herd of {} counts no animals", herd.animal));
        }
        match livestock.iter_mut().find(|l| l.animal == animal) {
            // Sheep and goats are one kind (AnimalsEnum `2`).
            Some(kept) => kept.count += herd.count,
            None => livestock.push(Livestock {
                animal,
                count: herd.count,
            }),
        }
    }
    Ok(RegisteredFarmer {
        given_name: registration.given_name.trim().to_string(),
        surname: registration.surname.trim().to_string(),
        sex,
        birth_date: registration.birth_date,
        home: Some(registration.home.clone()),
        farmer: Farmer {
            fid,
            uin: uin.clone(),
            household_id: registration.household_id.clone().unwrap_or_default(),
            farm_type: code(directory::FARM_TYPE, &registration.farm_type, "farm_type")?,
            livestock,
            registration_date: registered,
        },
        parcels,
    })
}

/// Which of `keys` (UINs and farmer numbers) registered farmers already have.
async fn registered(registry: &Registry, keys: &[String]) -> Result<Vec<String>, StoreError> {
    let dialect = registry.store.dialect();
    let mut found = Vec::new();
    for chunk in keys.chunks(400) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let list = list.join(", ");
        let rows = registry
            .store
            .read(vec![Statement::new(
                format!("SELECT uin, fid FROM farmer WHERE uin IN ({list}) OR fid IN ({list})"),
                chunk.iter().map(|k| SqlValue::Text(k.clone())).collect(),
                &[ColumnType::Text, ColumnType::Text],
            )])
            .await?;
        for row in &rows[0] {
            let (uin, fid) = (
                crate::search::text_cell(row, 0),
                crate::search::text_cell(row, 1),
            );
            found.extend([uin, fid].into_iter().filter(|k| chunk.contains(k)));
        }
    }
    Ok(found)
}
