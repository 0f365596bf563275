//! Foundational identity (ID) records: what the identity system holds of a person under their
//! UIN (an spx record type: the DCI registry standard defines none for ID systems, whose own
//! interface is OpenID Connect and the W3C VC API, dci-spec §8.6).
//!
//! `Identity` follows the S4 `Person` (`identifier`, `name`, `sex`, `birth_date`, `address`)
//! and adds the identity's `status` (`alive` or `deceased`, with `death_date` and the civil
//! registry's registration of the death, `death_registration`, once it is registered), when
//! the UIN was issued, and the identity card in force, in the shape of `openid_PersonDocDetails`
//! (dci-spec §6.8: `type`, `document_number`, `date_of_issuance`, `date_of_expiry`).
//!
//! Input accepts the usual variants: `gender`, `birthdate`, labels for codes (`F`, `Dead`),
//! a single identifier or address object for a list.

use serde::{Deserialize, Serialize};

use super::common::{Address, Identifier, Name};
use crate::lenient;

/// Record type name (and `@type`) of [`Identity`].
pub const IDENTITY: &str = "Identity";
/// The identity's number.
pub const UIN: &str = "UIN";
/// The civil registry's death registration number, held once the death is registered.
pub const DRN: &str = "DRN";
/// Status of a living person's identity.
pub const ALIVE: &str = "alive";
/// Status of an identity whose death the civil registry registered.
pub const DECEASED: &str = "deceased";
/// The `type` of the identity card in [`Identity::id_document`].
pub const ID_CARD: &str = "NationalIdCard";

fn identity_kind() -> String {
    IDENTITY.to_string()
}

/// `Identity`: a person as the foundational ID registry knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Always `Identity`.
    #[serde(rename = "@type", default = "identity_kind")]
    pub kind: String,
    /// The `UIN`.
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// The name the identity was issued under.
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code (labels such as `F`, `Male` accepted).
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(alias = "birthdate", alias = "date_of_birth")]
    pub birth_date: String,
    /// Where the person lives (for the deceased: where they last lived).
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub address: Vec<Address>,
    /// `alive` or `deceased` (labels such as `Living`, `Dead` accepted).
    #[serde(deserialize_with = "lenient::identity_status")]
    pub status: String,
    /// Date of death, once registered.
    #[serde(
        default,
        alias = "deathdate",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub death_date: Option<String>,
    /// The civil registry's registration of the death (`DRN`), once registered. Kept apart
    /// from `identifier`, so that a participant allowed to see identifiers only (to verify a
    /// UIN) is not told of a death.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub death_registration: Option<Identifier>,
    /// When the UIN was issued, `YYYY-MM-DD`.
    pub issuance_date: String,
    /// The identity card in force (at death, the last one held); none for children.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub id_document: Option<IdDocument>,
    /// When the record last changed (RFC 3339).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
}

impl Identity {
    /// The value of the identity's identifier of type `kind`, if it has one.
    pub fn identifier(&self, kind: &str) -> Option<&str> {
        self.identifier
            .iter()
            .find(|i| i.identifier_type.eq_ignore_ascii_case(kind))
            .map(|i| i.identifier_value.as_str())
    }

    /// Whether the civil registry registered the person's death.
    pub fn is_deceased(&self) -> bool {
        self.status == DECEASED
    }
}

/// An identity document (`openid_PersonDocDetails`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdDocument {
    /// The kind of document: `NationalIdCard`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The card's number.
    pub document_number: String,
    /// When it was issued, `YYYY-MM-DD`.
    pub date_of_issuance: String,
    /// Until when it is valid, `YYYY-MM-DD`.
    pub date_of_expiry: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identities_read_labels_and_write_canonical_names() {
        let identity: Identity = serde_json::from_value(json!({
            "identifier": {"identifier_type": "UIN", "identifier_value": "1234567890"},
            "name": {"given_name": "Ama", "surname": "Owusu"},
            "gender": "F", "birthdate": "1950-02-03", "status": "Dead",
            "deathdate": "2024-05-06", "issuance_date": "2011-01-01",
            "death_registration": {"identifier_type": "DRN", "identifier_value": "2024000000001"},
            "address": {"region_code": "R01", "sub_region_code": "R01-D02"},
            "id_document": {"type": "NationalIdCard", "document_number": "2016123456789",
                            "date_of_issuance": "2016-01-01", "date_of_expiry": "2026-01-01"}
        }))
        .unwrap();
        assert_eq!(identity.identifier("uin"), Some("1234567890"));
        assert!(identity.is_deceased());
        assert_eq!(identity.sex, "female");
        assert_eq!(identity.address[0].region_code.as_deref(), Some("R01"));
        let out = serde_json::to_value(&identity).unwrap();
        assert_eq!(out["@type"], "Identity");
        assert_eq!(out["status"], "deceased");
        assert_eq!(out["birth_date"], "1950-02-03");
        assert_eq!(out["id_document"]["type"], "NationalIdCard");
        assert!(out.get("last_updated").is_none());
        assert_eq!(serde_json::from_value::<Identity>(out).unwrap(), identity);
        let refused = serde_json::from_value::<Identity>(json!({
            "identifier": [], "name": {}, "sex": "male", "birth_date": "2000-01-01",
            "status": "missing", "issuance_date": "2000-01-01"
        }));
        assert!(refused.is_err(), "an unknown status is refused");
    }
}
