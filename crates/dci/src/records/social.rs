//! Social registry records: `Group` (household), `Member` and `SRPerson` (dci-spec §6.4).
//!
//! Output uses the canonical JSON-LD names and codes. Input also accepts what the published
//! samples send (dci-spec §6.4, §12.4): `household_member` / `person` wrappers around members
//! and persons, a bare person as `group_head_info`, labels for codes (`F`, `Male`, `Widow`,
//! `family`), numbers as strings, `"0"` for `false`, `""` for absent values, single objects
//! for lists and a list for `name`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::common::{Address, Identifier, Name, Place, RelatedPerson};
use crate::lenient;

/// Record type names of the social registry, as used in `reg_record_type` / `response_entity`.
pub const GROUP: &str = "Group";
/// See [`GROUP`].
pub const MEMBER: &str = "Member";
/// The `@type` of [`SrPerson`].
pub const SR_PERSON: &str = "SRPerson";

fn group_kind() -> String {
    GROUP.to_string()
}

fn member_kind() -> String {
    MEMBER.to_string()
}

fn person_kind() -> String {
    SR_PERSON.to_string()
}

/// `Group`: a household (or other assistance unit) with its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Always `Group`.
    #[serde(rename = "@type", default = "group_kind")]
    pub kind: String,
    /// The group's identifiers (`HHID`).
    #[serde(deserialize_with = "lenient::list")]
    pub group_identifier: Vec<Identifier>,
    /// AssistanceUnitEnum code: `1` individual, `2` household, `3` family (labels accepted).
    #[serde(deserialize_with = "lenient::group_type")]
    pub group_type: String,
    /// Where the group lives, as a place of the location master list.
    #[serde(
        default,
        alias = "place",
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub geographical_location: Option<Place>,
    /// The group's addresses.
    #[serde(default, deserialize_with = "lenient::list")]
    pub address: Vec<Address>,
    /// Proxy-means-test score; lower is poorer (`"4.0"` accepted).
    #[serde(deserialize_with = "lenient::decimal")]
    pub poverty_score: f64,
    /// How the score was computed (e.g. `pmt`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub poverty_score_type: Option<String>,
    /// Number of members (`"4"` accepted).
    #[serde(
        alias = "household_size",
        deserialize_with = "lenient::required_integer"
    )]
    pub group_size: i64,
    /// The head of the group (a member, or a bare person as samples send it).
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_head_info: Option<Box<Member>>,
    /// Every member, the head included.
    #[serde(default, deserialize_with = "lenient::list")]
    pub member_list: Vec<Member>,
    /// When the group was registered (`YYYY-MM-DD`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_date: Option<String>,
    /// When the record last changed.
    #[serde(
        default,
        alias = "last_update",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
}

/// `Member` of a group.
///
/// Input also accepts a member wrapped as `{"household_member": {...}}`, `{"member": {...}}`
/// or `{"person": {...}}`, and a bare person (whose identifiers become the member's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Member {
    /// Always `Member`.
    #[serde(rename = "@type", default = "member_kind")]
    pub kind: String,
    /// The member's identifiers (`UIN`).
    #[serde(deserialize_with = "lenient::list")]
    pub member_identifier: Vec<Identifier>,
    /// The person.
    pub demographic_info: SrPerson,
    /// Relationships, e.g. to the head of the group.
    #[serde(default, deserialize_with = "lenient::list")]
    pub related_person: Vec<RelatedPerson>,
    /// Whether the member has a disability (`"0"`/`"1"` accepted).
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub is_disabled: bool,
    /// MaritalStatusEnum code (labels such as `Widow`, `Single`, `married` accepted).
    #[serde(
        default,
        deserialize_with = "lenient::marital_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub marital_status: Option<String>,
    /// EmploymentStatusEnum code.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub employment_status: Option<String>,
    /// EducationCodeEnum (ISCED) code.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub education_level: Option<String>,
    /// Code of the member's group (household), for Member results.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_identifier: Option<Identifier>,
    /// When the member was registered.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_date: Option<String>,
}

/// Keys samples wrap a member in.
const MEMBER_WRAPPERS: &[&str] = &["household_member", "member", "person"];
/// Keys that show an object is a person rather than a member.
const PERSON_KEYS: &[&str] = &[
    "name",
    "sex",
    "gender",
    "birth_date",
    "birthdate",
    "date_of_birth",
];

/// Replaces `map` by the object under one of `wrappers`, when `map` has none of `own_keys`;
/// the wrapper's siblings are kept where the inner object lacks them.
fn unwrap(mut map: Map<String, Value>, own_keys: &[&str], wrappers: &[&str]) -> Map<String, Value> {
    if own_keys.iter().any(|key| map.contains_key(*key)) {
        return map;
    }
    for wrapper in wrappers {
        if let Some(Value::Object(_)) = map.get(*wrapper)
            && let Some(Value::Object(mut inner)) = map.remove(*wrapper)
        {
            for (key, value) in map {
                inner.entry(key).or_insert(value);
            }
            return unwrap(inner, own_keys, wrappers);
        }
    }
    map
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Member::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Value::Object(map) = Value::deserialize(deserializer)? else {
            return Err(serde::de::Error::custom("a member must be a JSON object"));
        };
        let mut map = unwrap(
            map,
            &["member_identifier", "demographic_info"],
            MEMBER_WRAPPERS,
        );
        if !map.contains_key("demographic_info")
            && PERSON_KEYS.iter().any(|key| map.contains_key(*key))
        {
            // A bare person standing for the member (`group_head_info.person` in samples).
            let person = Value::Object(map.clone());
            if !map.contains_key("member_identifier")
                && let Some(identifier) = map.get("identifier").cloned()
            {
                map.insert("member_identifier".into(), identifier);
            }
            map.insert("demographic_info".into(), person);
        }
        Member::deserialize(Value::Object(map)).map_err(serde::de::Error::custom)
    }
}

/// `SRPerson`: the person behind a member.
///
/// Input also accepts the person wrapped as `{"person": {...}}`, `name` given as a list (the
/// first entry is used) and a single identifier object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct SrPerson {
    /// Always `SRPerson`.
    #[serde(rename = "@type", default = "person_kind")]
    pub kind: String,
    /// The person's identifiers.
    #[serde(deserialize_with = "lenient::list")]
    pub identifier: Vec<Identifier>,
    /// The person's name.
    #[serde(deserialize_with = "lenient::first")]
    pub name: Name,
    /// SexCategoryEnum code (labels such as `F`, `Male`, `FeMale` accepted).
    #[serde(alias = "gender", deserialize_with = "lenient::sex")]
    pub sex: String,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(alias = "birthdate", alias = "date_of_birth")]
    pub birth_date: String,
    /// The person's addresses.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub address: Vec<Address>,
    /// Phone numbers (E.164).
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub phone_number: Vec<String>,
}

impl Serialize for SrPerson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SrPerson::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SrPerson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Value::Object(map) = Value::deserialize(deserializer)? else {
            return Err(serde::de::Error::custom("a person must be a JSON object"));
        };
        let map = unwrap(map, &["identifier", "name"], &["person"]);
        SrPerson::deserialize(Value::Object(map)).map_err(serde::de::Error::custom)
    }
}
