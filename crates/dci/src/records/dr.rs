//! Disability registry records (dci-spec §6.6): the person with a disability (`PWD_Person`),
//! the details of their functional difficulties and impairments, and the support they need or
//! receive.
//!
//! spx emits the canonical JSON-LD names of S4 (`disability_status_level`,
//! `age_on_set`) with codes of the standard's directories. Each entry of `disability_details`
//! describes one functional difficulty: its core `DisabilityInfo` fields
//! (`disability_limitation_type`, `functional_severity`) beside the DR impairment fields. The
//! certificate behind `disability_status` is spx's addition: its number (`DCN`, first of
//! `personal_details.member_identifier`) and `application_date`, `assessment_date`,
//! `expiry_date`.
//!
//! Input also accepts the older OpenAPI example's names (`disability_level`,
//! `programs_enrollments`, `frequency`, `support_status`) and labels for codes (`Approved`,
//! `Mobility`, `Work Accident`).

use serde::{Deserialize, Serialize};

use super::common::{Identifier, Member};
use crate::lenient;

/// Record type name of a person with a disability, as `reg_record_type` and
/// `notify_record_type` carry it (S4 RegistryRecordType `DisabledPerson`).
pub const DISABLED_PERSON: &str = "DisabledPerson";
/// The `@type` of [`PwdPerson`].
pub const PWD_PERSON: &str = "PWD_Person";
/// The `@type` of the person in [`PwdPerson::personal_details`].
pub const DR_PERSON: &str = "DR_Person";
/// Identifier type of a disability certificate (the registry's own number for the person).
pub const DCN: &str = "DCN";

fn pwd_kind() -> String {
    PWD_PERSON.to_string()
}

/// `PWD_Person`: a person known to the disability registry, with their certification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PwdPerson {
    /// Always `PWD_Person`.
    #[serde(rename = "@type", default = "pwd_kind")]
    pub kind: String,
    /// The person: `DCN` and `UIN` in `member_identifier`, a `DR_Person` in `demographic_info`.
    pub personal_details: Member,
    /// DisabilityStatusEnum: `0` Approved, `1` Pending, `2` Expired, `3` Rejected (spx).
    #[serde(
        default,
        deserialize_with = "lenient::disability_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub disability_status: Option<String>,
    /// DisabilityLevelEnum: `1` High support needs ... `4` Mild; set once assessed as disabled.
    #[serde(
        default,
        alias = "disability_level",
        deserialize_with = "lenient::disability_level",
        skip_serializing_if = "Option::is_none"
    )]
    pub disability_status_level: Option<String>,
    /// One entry per functional difficulty.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub disability_details: Vec<DisabilityDetails>,
    /// The support needed or received.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub disability_support: Vec<DisabilitySupport>,
    /// TransportRequirement: `0` public, `1` point to point, `2` adaptable vehicle.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub transport_requirement: Option<String>,
    /// HousingType: `1` own home/rent ... `4` care institution.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub housing_type: Option<String>,
    /// When the person applied for certification, `YYYY-MM-DD` (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub application_date: Option<String>,
    /// When the application was decided, `YYYY-MM-DD`; absent while pending (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub assessment_date: Option<String>,
    /// Until when a certificate is valid, `YYYY-MM-DD` (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry_date: Option<String>,
    /// When the person entered the registry.
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

/// `DisabilityDetails` of one functional difficulty, with the core `DisabilityInfo` fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisabilityDetails {
    /// FunctionalLimitationType: `VIS_SS`, `HEAR_SS`, `MOB_SS`, `COG_SS`, `SC_SS`, `COM_SS`.
    #[serde(
        default,
        deserialize_with = "lenient::functional_limitation",
        skip_serializing_if = "Option::is_none"
    )]
    pub disability_limitation_type: Option<String>,
    /// FunctionalSeverityEnum: `1` no difficulty ... `4` cannot do it at all.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub functional_severity: Option<String>,
    /// ImpairementType: `1` vision ... `6` mental.
    #[serde(
        default,
        deserialize_with = "lenient::impairment_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub impairment_type: Option<String>,
    /// ImpairmentLevel: `1` mild ... `4` extreme.
    #[serde(
        default,
        deserialize_with = "lenient::impairment_level",
        skip_serializing_if = "Option::is_none"
    )]
    pub impairment_level: Option<String>,
    /// ImpairmentCause: `0` congenital ... `8` ageing.
    #[serde(
        default,
        deserialize_with = "lenient::impairment_cause",
        skip_serializing_if = "Option::is_none"
    )]
    pub impairment_cause: Option<String>,
    /// DisabilityOnSet: `0` born with, `1` childhood, `2` working age, `3` old age.
    #[serde(
        default,
        alias = "age_onset",
        deserialize_with = "lenient::age_on_set",
        skip_serializing_if = "Option::is_none"
    )]
    pub age_on_set: Option<String>,
}

/// `DisabilitySupport`: what support a person needs or receives, by kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisabilitySupport {
    /// Help from another person.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub human_assistance: Vec<HumanAssistance>,
    /// AssistiveTechnologyEnum items: `1` wheelchair, `2` speech-generating device, `3` hearing aid.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub assistive_technology: Vec<SupportItem>,
    /// HousingSupportEnum items.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub housing_support: Vec<SupportItem>,
    /// MedicalCareEnum items.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub medical_care: Vec<SupportItem>,
    /// AnimalAssistanceEnum items.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub animal_assistance: Vec<SupportItem>,
    /// When the support was recorded.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_date: Option<String>,
    /// When it last changed.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
}

impl DisabilitySupport {
    /// Whether no support of any kind is recorded.
    pub fn is_empty(&self) -> bool {
        self.human_assistance.is_empty()
            && self.assistive_technology.is_empty()
            && self.housing_support.is_empty()
            && self.medical_care.is_empty()
            && self.animal_assistance.is_empty()
    }
}

/// `HumanAssistance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanAssistance {
    /// HumanAssistanceType: `basic_activity`, `mobility`, `communication`, `decision_making`,
    /// `multiple`.
    #[serde(rename = "type")]
    pub kind: String,
    /// SupportFrequency: `1` permanent ... `5` none.
    #[serde(
        default,
        alias = "frequency",
        deserialize_with = "lenient::support_frequency",
        skip_serializing_if = "Option::is_none"
    )]
    pub intensity: Option<String>,
    /// SupportStatusEnum: `0` needed, `1` received.
    #[serde(
        default,
        alias = "support_status",
        alias = "status",
        deserialize_with = "lenient::support_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub support: Option<String>,
}

/// An `AssistiveTechnology`, `HousingSupport`, `MedicalCare` or `AnimalAssistance` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportItem {
    /// A code of the kind's directory.
    #[serde(rename = "type")]
    pub kind: String,
    /// SupportStatusEnum: `0` needed, `1` received.
    #[serde(
        default,
        alias = "support_status",
        deserialize_with = "lenient::support_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
}

/// What `/registry/sync/get-disability-details` returns of a person (`DisabilityInfo`): the
/// details, with whose they are and their certification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisabilityInfo {
    /// The person's `DCN` and `UIN`.
    #[serde(deserialize_with = "lenient::list")]
    pub member_identifier: Vec<Identifier>,
    /// DisabilityStatusEnum code.
    #[serde(
        default,
        deserialize_with = "lenient::disability_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub disability_status: Option<String>,
    /// DisabilityLevelEnum code.
    #[serde(
        default,
        alias = "disability_level",
        deserialize_with = "lenient::disability_level",
        skip_serializing_if = "Option::is_none"
    )]
    pub disability_status_level: Option<String>,
    /// One entry per functional difficulty.
    #[serde(default, deserialize_with = "lenient::list")]
    pub disability_details: Vec<DisabilityDetails>,
}

/// What `/registry/sync/get-disability-support` returns of a person: their
/// `DisabilitySupport`, with whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonSupport {
    /// The person's `DCN` and `UIN`.
    #[serde(deserialize_with = "lenient::list")]
    pub member_identifier: Vec<Identifier>,
    /// The support.
    #[serde(flatten)]
    pub support: DisabilitySupport,
}

impl PwdPerson {
    /// The person's disability details, as `get-disability-details` returns them.
    pub fn info(&self) -> DisabilityInfo {
        DisabilityInfo {
            member_identifier: self.personal_details.member_identifier.clone(),
            disability_status: self.disability_status.clone(),
            disability_status_level: self.disability_status_level.clone(),
            disability_details: self.disability_details.clone(),
        }
    }

    /// The person's support, as `get-disability-support` returns it (the kinds of all their
    /// `DisabilitySupport` entries together).
    pub fn support(&self) -> PersonSupport {
        let mut all = DisabilitySupport::default();
        for entry in &self.disability_support {
            all.human_assistance
                .extend(entry.human_assistance.iter().cloned());
            all.assistive_technology
                .extend(entry.assistive_technology.iter().cloned());
            all.housing_support
                .extend(entry.housing_support.iter().cloned());
            all.medical_care.extend(entry.medical_care.iter().cloned());
            all.animal_assistance
                .extend(entry.animal_assistance.iter().cloned());
            all.registration_date = all
                .registration_date
                .or_else(|| entry.registration_date.clone());
            all.last_updated = entry.last_updated.clone().or(all.last_updated);
        }
        PersonSupport {
            member_identifier: self.personal_details.member_identifier.clone(),
            support: all,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The S1 OpenAPI example's shape (dci-spec §6.6), labels for codes.
    #[test]
    fn sample_pwd_person_reads_as_codes_and_writes_canonical_names() {
        let sample = json!({
            "personal_details": {"member_identifier": {"identifier_type": "UIN", "identifier_value": "ABC451123"},
                "demographic_info": {"@type": "DR_Person", "identifier": [{"identifier_type": "UIN", "identifier_value": "ABC451123"}],
                    "name": {"first_name": "Asha", "last_name": "Mwangi"}, "date_of_birth": "1975-02-01", "gender": "F"}},
            "disability_status": "Approved", "disability_level": "Severe",
            "disability_details": [{"impairment_type": "Mobility", "impairment_level": "Severe",
                "impairment_cause": "Work Accident", "age_on_set": "Working age"}],
            "disability_support": [{"human_assistance": {"type": "mobility", "frequency": "Daily", "support_status": "Received"},
                "assistive_technology": [], "registration_date": "2020-01-01"}],
            "transport_requirement": "1", "housing_type": "1",
            "registration_date": "2020-01-01", "last_updated": ""
        });
        let person: PwdPerson = serde_json::from_value(sample).unwrap();
        assert_eq!(person.disability_status.as_deref(), Some("0"));
        assert_eq!(person.disability_status_level.as_deref(), Some("2"));
        let details = &person.disability_details[0];
        assert_eq!(
            (
                details.impairment_type.as_deref(),
                details.impairment_level.as_deref(),
                details.impairment_cause.as_deref(),
                details.age_on_set.as_deref()
            ),
            (Some("3"), Some("3"), Some("5"), Some("2"))
        );
        let help = &person.disability_support[0].human_assistance[0];
        assert_eq!(
            (help.intensity.as_deref(), help.support.as_deref()),
            (Some("2"), Some("1"))
        );
        assert_eq!(person.personal_details.identifier("uin"), Some("ABC451123"));
        assert_eq!(person.personal_details.demographic_info.sex, "female");
        let out = serde_json::to_value(&person).unwrap();
        assert_eq!(out["@type"], "PWD_Person");
        assert_eq!(out["disability_status_level"], "2");
        assert!(out.get("disability_level").is_none() && out.get("last_updated").is_none());
        assert_eq!(
            out["disability_support"][0]["human_assistance"][0],
            json!({"type": "mobility", "intensity": "2", "support": "1"})
        );
    }

    #[test]
    fn support_gathers_every_entry_with_the_member() {
        let person: PwdPerson = serde_json::from_value(json!({
            "personal_details": {"member_identifier": [{"identifier_type": "DCN", "identifier_value": "1"}],
                "demographic_info": {"@type": "DR_Person", "identifier": [], "name": {}, "sex": "male", "birth_date": "2000-01-01"}},
            "disability_support": [{"assistive_technology": [{"type": "1", "status": "0"}]},
                                   {"medical_care": {"type": "maintenance_medicine", "status": "Received"}}]
        }))
        .unwrap();
        let support = serde_json::to_value(person.support()).unwrap();
        assert_eq!(
            support,
            json!({"member_identifier": [{"identifier_type": "DCN", "identifier_value": "1"}],
                   "assistive_technology": [{"type": "1", "status": "0"}],
                   "medical_care": [{"type": "maintenance_medicine", "status": "1"}]})
        );
        assert_eq!(
            serde_json::to_value(person.info()).unwrap()["disability_details"],
            json!([])
        );
    }
}
