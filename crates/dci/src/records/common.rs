//! Building blocks shared by every registry's records (dci-spec §6.1, §6.2).

use serde::{Deserialize, Serialize};

use crate::lenient;

/// `Identifier`: a typed identifier of a person or group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    /// `UIN`, `BRN`, `MRN`, `DRN`, or a registry's own type.
    #[serde(alias = "type")]
    pub identifier_type: String,
    /// The identifier.
    #[serde(alias = "value", alias = "identifier")]
    pub identifier_value: String,
}

impl Identifier {
    /// An identifier of type `kind` with `value`.
    pub fn new(kind: &str, value: &str) -> Self {
        Identifier {
            identifier_type: kind.to_string(),
            identifier_value: value.to_string(),
        }
    }
}

/// `Name`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Name {
    /// Family name (`sur_name` in the OpenAPI examples, `last_name` in samples).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        alias = "sur_name",
        alias = "last_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub surname: Option<String>,
    /// Given name (`first_name` in samples).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        alias = "first_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub given_name: Option<String>,
    /// Second or middle name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        alias = "middle_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub second_name: Option<String>,
    /// Maiden name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub maiden_name: Option<String>,
    /// Honorific prefix.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix: Option<String>,
    /// Honorific suffix.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub suffix: Option<String>,
}

/// `Address`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Address {
    /// First address line.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        alias = "address_line1",
        skip_serializing_if = "Option::is_none"
    )]
    pub address_line_1: Option<String>,
    /// Second address line.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        alias = "address_line2",
        skip_serializing_if = "Option::is_none"
    )]
    pub address_line_2: Option<String>,
    /// Locality (village, town, sub-county) name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locality: Option<String>,
    /// Code of the place below the region (district) in the location master list.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sub_region_code: Option<String>,
    /// Region code in the location master list.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub region_code: Option<String>,
    /// Postal code.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
    /// ISO 3166 country code.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub country_code: Option<String>,
}

/// `Place`: a named place of the location master list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Always `Place`.
    #[serde(rename = "@type", default = "place_type")]
    pub kind: String,
    /// The place's code in the location master list.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub identifier: Option<String>,
    /// The place's name.
    pub name: String,
    /// Code of the enclosing place (`containedInPlace` accepted on input; `""` is absent).
    #[serde(
        default,
        alias = "containedInPlace",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub contained_in_place: Option<String>,
}

fn place_type() -> String {
    "Place".to_string()
}

impl Place {
    /// The place `code` named `name`, inside `parent`.
    pub fn new(code: &str, name: &str, parent: Option<&str>) -> Self {
        Place {
            kind: place_type(),
            identifier: Some(code.to_string()),
            name: name.to_string(),
            contained_in_place: parent.map(str::to_string),
        }
    }
}

/// A person reference inside `RelatedPerson` (only its identifiers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRef {
    /// The related person's identifiers (a single identifier object is accepted).
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
}

/// `RelatedPerson`: how a member relates to another person (e.g. the head of household).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedPerson {
    /// A RelationshipTypeEnum code (`SELF`, `PRIMSPOUS`, `SON`, `DAU`, ...).
    pub relationship_type: String,
    /// The person related to.
    pub related_member: PersonRef,
}

/// `Person` (dci-spec §6.2): the core person the registry-specific persons (`DR_Person`,
/// `FR_Person`) extend without properties of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// `DR_Person`, `FR_Person` ... (`Person` when a peer leaves it out).
    #[serde(rename = "@type", default = "person_kind")]
    pub kind: String,
    /// The person's identifiers (`UIN`).
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// The person's name (a list gives its first entry).
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code (labels such as `F`, `Male` accepted).
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(alias = "birthdate", alias = "date_of_birth")]
    pub birth_date: String,
    /// Where the person lives.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub address: Vec<Address>,
}

fn person_kind() -> String {
    "Person".to_string()
}

fn member_kind() -> String {
    "Member".to_string()
}

/// `Member` of the disability and farmer registries: the person a record is about, with the
/// registry's own identifiers for them beside the `UIN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Always `Member`.
    #[serde(rename = "@type", default = "member_kind")]
    pub kind: String,
    /// The registry's identifier for the person first, then the `UIN`.
    #[serde(deserialize_with = "lenient::list")]
    pub member_identifier: Vec<Identifier>,
    /// The person.
    pub demographic_info: Person,
}

impl Member {
    /// The value of the member's identifier of type `kind`, if they have one.
    pub fn identifier(&self, kind: &str) -> Option<&str> {
        self.member_identifier
            .iter()
            .find(|i| i.identifier_type.eq_ignore_ascii_case(kind))
            .map(|i| i.identifier_value.as_str())
    }
}
