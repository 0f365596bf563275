//! Civil registration (CRVS) records (dci-spec §6.3): the person as the civil register knows
//! them (`CRVS_Person`), and the vital event records behind it.
//!
//! The standard models a vital event as the person's own fields (a birth is a `CRVS_Person`
//! with birth data and parents, a death the same person with `death_date`, a marriage the
//! `marital_status` and `marriage_date` list), told apart by `BRN`, `DRN` and `MRN`
//! identifiers. spx serves that `CRVS_Person`, and also each registration as a record of its
//! own (`BirthRecord`, `DeathRecord`, `MarriageRecord`, an spx addition): what a birth,
//! death or marriage certificate holds, searchable by its registration number.
//!
//! Input accepts what the published samples and the older OpenAPI record send (§6.3, §12.4):
//! `birthdate`/`deathdate`/`marriagedate`, `gender`, labels for codes, `""` and `{}` for absent
//! values, a single identifier object for a list.

use serde::{Deserialize, Serialize};

use super::common::{Identifier, Name, Place};
use crate::lenient;

/// Record type name of the person, as used in `reg_record_type` / `notify_record_type`.
pub const PERSON: &str = "Person";
/// The `@type` of [`CrvsPerson`].
pub const CRVS_PERSON: &str = "CRVS_Person";
/// Record type name (and `@type`) of [`BirthRecord`].
pub const BIRTH_RECORD: &str = "BirthRecord";
/// Record type name (and `@type`) of [`DeathRecord`].
pub const DEATH_RECORD: &str = "DeathRecord";
/// Record type name (and `@type`) of [`MarriageRecord`].
pub const MARRIAGE_RECORD: &str = "MarriageRecord";

/// Identifier types of the civil register (IdentifierTypeEnum).
pub const UIN: &str = "UIN";
/// Birth registration number.
pub const BRN: &str = "BRN";
/// Death registration number.
pub const DRN: &str = "DRN";
/// Marriage registration number.
pub const MRN: &str = "MRN";

/// VitalEventTypeEnum codes of the records.
pub const LIVE_BIRTH: &str = "live_birth";
/// See [`LIVE_BIRTH`].
pub const DEATH: &str = "death";
/// See [`LIVE_BIRTH`].
pub const MARRIAGE: &str = "marriage";

fn person_kind() -> String {
    CRVS_PERSON.to_string()
}

/// `CRVS_Person`: a person as the civil register knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrvsPerson {
    /// Always `CRVS_Person`.
    #[serde(rename = "@type", default = "person_kind")]
    pub kind: String,
    /// `UIN`, `BRN`, and `DRN` once the death is registered.
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// The name registered at birth.
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code (labels such as `F`, `Male` accepted).
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(alias = "birthdate", alias = "date_of_birth")]
    pub birth_date: String,
    /// Where the person was born.
    #[serde(
        default,
        alias = "birthplace",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_place: Option<Place>,
    /// Date of death, once registered.
    #[serde(
        default,
        alias = "deathdate",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub death_date: Option<String>,
    /// Where the person died.
    #[serde(
        default,
        alias = "deathplace",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub death_place: Option<Place>,
    /// MaritalStatusEnum code (labels such as `Widow`, `married` accepted).
    #[serde(
        default,
        deserialize_with = "lenient::marital_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub marital_status: Option<String>,
    /// Dates of the person's registered marriages.
    #[serde(
        default,
        alias = "marriagedate",
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub marriage_date: Vec<String>,
    /// Dates of the person's registered divorces.
    #[serde(
        default,
        alias = "divorcedate",
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub divorce_date: Vec<String>,
    /// The mother (spx writes the mother here), when registered.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent1_identifier: Option<Identifier>,
    /// The father (spx writes the father here), when registered.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent2_identifier: Option<Identifier>,
}

impl CrvsPerson {
    /// The value of the person's identifier of type `kind`, if they have one.
    pub fn identifier(&self, kind: &str) -> Option<&str> {
        self.identifier
            .iter()
            .find(|i| i.identifier_type.eq_ignore_ascii_case(kind))
            .map(|i| i.identifier_value.as_str())
    }
}

fn birth_kind() -> String {
    BIRTH_RECORD.to_string()
}

fn death_kind() -> String {
    DEATH_RECORD.to_string()
}

fn marriage_kind() -> String {
    MARRIAGE_RECORD.to_string()
}

/// A registered live birth (an spx record type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BirthRecord {
    /// Always `BirthRecord`.
    #[serde(rename = "@type", default = "birth_kind")]
    pub kind: String,
    /// The birth registration number (`BRN`).
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// Always `live_birth` (VitalEventTypeEnum).
    pub vital_event_type: String,
    /// The child (`UIN`).
    pub child_identifier: Identifier,
    /// The child's name.
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code.
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// `YYYY-MM-DD`.
    #[serde(alias = "birthdate")]
    pub birth_date: String,
    /// Where the child was born.
    #[serde(
        default,
        alias = "birthplace",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_place: Option<Place>,
    /// The mother (`UIN`), when known to the register.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub mother_identifier: Option<Identifier>,
    /// The father (`UIN`), when known to the register.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub father_identifier: Option<Identifier>,
    /// When the birth was registered, `YYYY-MM-DD`.
    pub registration_date: String,
}

/// A registered death (an spx record type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeathRecord {
    /// Always `DeathRecord`.
    #[serde(rename = "@type", default = "death_kind")]
    pub kind: String,
    /// The death registration number (`DRN`).
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// Always `death` (VitalEventTypeEnum).
    pub vital_event_type: String,
    /// The deceased (`UIN`).
    pub deceased_identifier: Identifier,
    /// The deceased's name.
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code.
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// `YYYY-MM-DD`.
    #[serde(alias = "birthdate")]
    pub birth_date: String,
    /// `YYYY-MM-DD`.
    #[serde(alias = "deathdate")]
    pub death_date: String,
    /// Where the person died.
    #[serde(
        default,
        alias = "deathplace",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub death_place: Option<Place>,
    /// When the death was registered, `YYYY-MM-DD`.
    pub registration_date: String,
}

/// A registered marriage (an spx record type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarriageRecord {
    /// Always `MarriageRecord`.
    #[serde(rename = "@type", default = "marriage_kind")]
    pub kind: String,
    /// The marriage registration number (`MRN`).
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// Always `marriage` (VitalEventTypeEnum).
    pub vital_event_type: String,
    /// One spouse (`UIN`).
    pub spouse1_identifier: Identifier,
    /// The other spouse (`UIN`).
    pub spouse2_identifier: Identifier,
    /// `YYYY-MM-DD`.
    #[serde(alias = "marriagedate")]
    pub marriage_date: String,
    /// Where the marriage took place.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub marriage_place: Option<Place>,
    /// When the marriage was registered, `YYYY-MM-DD`.
    pub registration_date: String,
    /// When it was dissolved by a registered divorce, `YYYY-MM-DD`.
    #[serde(
        default,
        alias = "divorcedate",
        skip_serializing_if = "Option::is_none"
    )]
    pub divorce_date: Option<String>,
    /// Where the divorce was granted.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub divorce_place: Option<Place>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The wire shape of the CRVS samples (dci-spec §6.3), abridged.
    #[test]
    fn sample_crvs_person_reads_and_writes_canonical_names() {
        let sample = json!({
            "@context": {"@vocab": "https://schema.spdci.org/common/v1"},
            "@id": "CRVS_Person", "@type": "CRVS_Person",
            "identifier": [{"@type": "Identifier", "identifier_type": "UIN", "identifier_value": "847951632"},
                           {"@type": "Identifier", "identifier_type": "BRN", "identifier_value": "947951532"}],
            "name": {"@type": "Name", "surname": "Doe", "given_name": "Jane", "second_name": "", "maiden_name": "", "prefix": "Dr.", "suffix": "PhD"},
            "phone_number": ["+1 (425) 555-1212"],
            "sex": "female", "birth_date": "1995-09-21T11:20:00",
            "birth_place": {"@type": "Place", "name": "Koh Samui", "address_line": "", "geo": {"latitude": 9.5604, "longitude": 100.0245},
                            "contained_in_place": "", "contains_place": []},
            "death_date": "", "death_place": {},
            "marital_status": "M", "marriage_date": ["2019-09-21T11:20:00"], "divorce_date": [],
            "parent1_identifier": {"identifier_type": "UIN", "identifier_value": "111"},
            "parent2_identifier": {"identifier_type": "UIN", "identifier_value": "222"}
        });
        let person: CrvsPerson = serde_json::from_value(sample).unwrap();
        assert_eq!(person.identifier("brn"), Some("947951532"));
        assert_eq!(person.identifier(DRN), None);
        assert_eq!(person.death_date, None);
        assert_eq!(person.death_place, None);
        assert_eq!(person.birth_place.as_ref().unwrap().name, "Koh Samui");
        assert_eq!(person.marital_status.as_deref(), Some("M"));
        let out = serde_json::to_value(&person).unwrap();
        assert_eq!(out["@type"], "CRVS_Person");
        assert!(out.get("death_date").is_none() && out.get("divorce_date").is_none());
        assert_eq!(out["parent2_identifier"]["identifier_value"], "222");

        // The older flat OpenAPI names and labels.
        let older: CrvsPerson = serde_json::from_value(json!({
            "identifier": {"identifier_type": "UIN", "identifier_value": "1"},
            "name": [{"sur_name": "Doe"}], "gender": "F", "birthdate": "1990-01-01",
            "deathdate": "2020-02-02", "marital_status": "Widow"
        }))
        .unwrap();
        assert_eq!(
            (
                older.sex.as_str(),
                older.death_date.as_deref(),
                older.marital_status.as_deref()
            ),
            ("female", Some("2020-02-02"), Some("W"))
        );
    }

    #[test]
    fn vital_event_records_round_trip() {
        let uin = |v: &str| Identifier::new(UIN, v);
        let record = MarriageRecord {
            kind: MARRIAGE_RECORD.into(),
            identifier: vec![Identifier::new(MRN, "2001000000001")],
            vital_event_type: MARRIAGE.into(),
            spouse1_identifier: uin("1"),
            spouse2_identifier: uin("2"),
            marriage_date: "2001-05-06".into(),
            marriage_place: Some(Place::new("R01-D01-S01", "Ketu", Some("R01-D01"))),
            divorce_date: None,
            divorce_place: None,
            registration_date: "2001-05-06".into(),
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["@type"], "MarriageRecord");
        assert_eq!(
            serde_json::from_value::<MarriageRecord>(json).unwrap(),
            record
        );
    }
}
