//! Farmer registry records (dci-spec §6.7): the farmer (`Farmer_Person`) and each of their
//! farms, i.e. land parcels (`FarmInfo`), with what is grown and raised there.
//!
//! spx emits the canonical JSON-LD names of S4 (`farmer_personal_details`, `farm_details`,
//! `measurment` (sic), `crop_production`, `animal_production`) with codes of the standard's
//! directories; land sizes are in hectares (`measurment` `0`). Additions of spx: each parcel's
//! number (`LPI`, in `FarmInfo.identifier`), the crop's name (`crop_name`, from spx's crop
//! directory, beside its CropTypeEnum group `crop_type_name`), the farmer's
//! `total_land_size`, and on a parcel served as a record of its own, its farmer
//! (`farmer_identifier`).
//!
//! Input also accepts the older OpenAPI example's names (`famer_personal_details`,
//! `land_details`, `farmer_type`, `land_ownership`, `measurement`, `crop_details`,
//! `animal_details`) and labels for codes (`Owner`, `cattle`, `Maize`).

use serde::{Deserialize, Serialize};

use super::common::{Identifier, Member, Place};
use crate::lenient;

/// Record type name of a farmer, as `reg_record_type` and `notify_record_type` carry it (S4
/// RegistryRecordType `Farmer`).
pub const FARMER: &str = "Farmer";
/// The `@type` of [`FarmerPerson`].
pub const FARMER_PERSON: &str = "Farmer_Person";
/// The `@type` of the person in [`FarmerPerson::farmer_personal_details`].
pub const FR_PERSON: &str = "FR_Person";
/// Record type name (and `@type`) of [`FarmInfo`], a land parcel.
pub const FARM_INFO: &str = "FarmInfo";
/// Identifier type of a farmer in the registry.
pub const FID: &str = "FID";
/// Identifier type of a land parcel (land parcel identifier).
pub const LPI: &str = "LPI";
/// MeasurmentUnitEnum code of hectares, the unit of every `land_size` spx writes.
pub const HECTARES: &str = "0";

fn farmer_kind() -> String {
    FARMER_PERSON.to_string()
}

fn farm_kind() -> String {
    FARM_INFO.to_string()
}

fn hectares() -> String {
    HECTARES.to_string()
}

/// `Farmer_Person`: a farmer and their farms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FarmerPerson {
    /// Always `Farmer_Person`.
    #[serde(rename = "@type", default = "farmer_kind")]
    pub kind: String,
    /// The farmer: `FID` and `UIN` in `member_identifier`, an `FR_Person` in `demographic_info`.
    #[serde(alias = "famer_personal_details")]
    pub farmer_personal_details: Member,
    /// The farmer's household, as the social registry identifies it (`HHID`).
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub family_details: Option<FamilyRef>,
    /// FarmTypeEnum: `1` small subsistence-oriented ... `6` commercial estate.
    #[serde(
        default,
        alias = "farmer_type",
        deserialize_with = "lenient::farm_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub farm_type: Option<String>,
    /// The farmer's land parcels.
    #[serde(default, alias = "land_details", deserialize_with = "lenient::list")]
    pub farm_details: Vec<FarmInfo>,
    /// The parcels' land in all, in hectares (spx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_land_size: Option<f64>,
    /// When the farmer was registered.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_date: Option<String>,
    /// When the record last changed.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
}

/// `family_details`: the household a farmer belongs to, by its identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRef {
    /// Always `Group`.
    #[serde(rename = "@type", default = "group_kind")]
    pub kind: String,
    /// The household's identifiers (`HHID`).
    #[serde(deserialize_with = "lenient::list")]
    pub group_identifier: Vec<Identifier>,
}

fn group_kind() -> String {
    "Group".to_string()
}

/// `FarmInfo`: one land parcel, its tenure and size, and what is farmed on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FarmInfo {
    /// Always `FarmInfo`.
    #[serde(rename = "@type", default = "farm_kind")]
    pub kind: String,
    /// The parcel's number (`LPI`).
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub identifier: Vec<Identifier>,
    /// The farmer (`FID`, `UIN`), when the parcel is served on its own.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub farmer_identifier: Vec<Identifier>,
    /// Where the parcel lies, a place of the location master list.
    #[serde(
        default,
        alias = "address",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<Place>,
    /// LandTenureEnum: `1` owner, `2` leased, ... `7` squatting.
    #[serde(
        default,
        alias = "land_ownership",
        deserialize_with = "lenient::land_tenure",
        skip_serializing_if = "Option::is_none"
    )]
    pub land_tenure: Option<String>,
    /// The parcel's size, in the unit of `measurment`.
    #[serde(deserialize_with = "lenient::decimal")]
    pub land_size: f64,
    /// MeasurmentUnitEnum (sic): `0` hectares.
    #[serde(
        default = "hectares",
        alias = "measurement",
        deserialize_with = "lenient::required_measurement"
    )]
    pub measurment: String,
    /// What is grown and raised on it.
    #[serde(default)]
    pub farming_activities: FarmingActivities,
    /// When the parcel was registered.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_date: Option<String>,
}

/// `FarmingActivities` on one farm.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FarmingActivities {
    /// Crops grown.
    #[serde(
        default,
        alias = "crop_details",
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub crop_production: Vec<CropDetails>,
    /// Animals raised.
    #[serde(
        default,
        alias = "animal_details",
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub animal_production: Vec<LivestockDetails>,
    /// Whether crops and animals are farmed together.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub mixed_farming: bool,
}

/// `CropDetails`: one crop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropDetails {
    /// CropActivityEnum: `011` non-perennial, `012` perennial.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub activity_group: Option<String>,
    /// CropTypeEnum: `1` cereals ... `9` other crops.
    #[serde(
        default,
        deserialize_with = "lenient::crop_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub crop_type_name: Option<String>,
    /// The crop, from spx's crop directory (`maize`, `beans` ...); the samples' `crop_type`.
    #[serde(
        default,
        alias = "crop_type",
        deserialize_with = "lenient::crop",
        skip_serializing_if = "Option::is_none"
    )]
    pub crop_name: Option<String>,
    /// Whether the crop is irrigated.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub irrigation: bool,
}

/// `LivestockDetails` (S4 class `Animals`): animals of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivestockDetails {
    /// AnimalsEnum: `1` bovine, `2` sheep and goats, `3` pigs, `6` poultry ...
    #[serde(rename = "type", deserialize_with = "lenient::required_animal")]
    pub kind: String,
    /// How many.
    #[serde(deserialize_with = "lenient::required_integer")]
    pub count: i64,
}

impl FarmerPerson {
    /// The value of the farmer's identifier of type `kind`, if they have one.
    pub fn identifier(&self, kind: &str) -> Option<&str> {
        self.farmer_personal_details.identifier(kind)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The S1 OpenAPI example's shape (dci-spec §6.7): older names, labels for codes.
    #[test]
    fn sample_farmer_reads_as_codes_and_writes_canonical_names() {
        let sample = json!({
            "famer_personal_details": {"member_identifier": {"identifier_type": "FID", "identifier_value": "F-1"},
                "demographic_info": {"@type": "FR_Person", "identifier": {"identifier_type": "UIN", "identifier_value": "1"},
                    "name": {"first_name": "Juma", "last_name": "Otieno"}, "date_of_birth": "1980-05-05", "gender": "Male"}},
            "family_details": {"group_identifier": [{"identifier_type": "HHID", "identifier_value": "HH00000001"}], "group_size": 5},
            "land_details": [{"land_type": "arable", "land_ownership": "Owner", "land_size": "1.5", "measurement": "ha",
                "address": {"name": "Ketu", "identifier": "R01-D01-S01"},
                "farming_activities": {"crop_details": [{"crop_type": "Maize", "variety": "H614", "season": "long rains"}],
                    "animal_details": [{"type": "cattle", "count": "3", "registration_date": ""}]}}],
            "farmer_type": "Small", "registration_date": "2024-01-01"
        });
        let farmer: FarmerPerson = serde_json::from_value(sample).unwrap();
        assert_eq!(farmer.farm_type.as_deref(), Some("2"));
        let farm = &farmer.farm_details[0];
        assert_eq!(
            (
                farm.land_tenure.as_deref(),
                farm.land_size,
                farm.measurment.as_str()
            ),
            (Some("1"), 1.5, "0")
        );
        let crop = &farm.farming_activities.crop_production[0];
        assert_eq!(crop.crop_name.as_deref(), Some("maize"));
        let animal = &farm.farming_activities.animal_production[0];
        assert_eq!((animal.kind.as_str(), animal.count), ("1", 3));
        assert_eq!(farmer.farmer_personal_details.demographic_info.sex, "male");
        let out = serde_json::to_value(&farmer).unwrap();
        assert_eq!(out["@type"], "Farmer_Person");
        assert!(out.get("land_details").is_none() && out.get("famer_personal_details").is_none());
        assert_eq!(out["farm_details"][0]["measurment"], "0");
        assert_eq!(
            out["farm_details"][0]["farming_activities"]["crop_production"][0]["crop_name"],
            "maize"
        );
        assert_eq!(serde_json::from_value::<FarmerPerson>(out).unwrap(), farmer);
    }
}
