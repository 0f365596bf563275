//! The location master list (`GET /.well-known/locations.json`, dci-spec §4.8):
//! `LocationHierarchy`, a flat list of places, each naming the place that contains it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::lenient;
use crate::time::Timestamp;

/// `LocationHierarchy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocationHierarchy {
    /// The JSON-LD context the schema requires.
    #[serde(rename = "@context")]
    pub context: Value,
    /// Always `LocationHierarchy`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// When the list last changed (or was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
    /// Every place, parents before their children.
    #[serde(default)]
    pub locations: Vec<Location>,
}

/// A `Place` of the locations API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Location {
    /// Always `Place`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// The place's identifiers.
    #[serde(default)]
    pub identifier: Vec<PropertyValue>,
    /// Its name.
    pub name: String,
    /// What kind of place it is (e.g. `spx:REGION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_type: Option<String>,
    /// The code of the place that contains it; `None` for a root (`containedInPlace` accepted).
    #[serde(
        default,
        alias = "containedInPlace",
        deserialize_with = "lenient::string"
    )]
    pub contained_in_place: Option<String>,
}

/// `PropertyValue`: a named identifier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PropertyValue {
    /// Always `PropertyValue`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// The identifier scheme (`spx-location`).
    pub name: String,
    /// The identifier.
    pub identifier: String,
}

/// The identifier scheme of the location codes spx uses in records (`region_code` ...).
pub const LOCATION_SCHEME: &str = "spx-location";

impl LocationHierarchy {
    /// A hierarchy of `locations`, read at `now`.
    pub fn new(locations: Vec<Location>, now: Timestamp) -> Self {
        LocationHierarchy {
            context: json!({"@context": "http://spdci.org/", "xsd": "http://www.w3.org/2001/XMLSchema#", "schema": "http://schema.org/"}),
            kind: "LocationHierarchy".into(),
            last_updated: Some(now),
            locations,
        }
    }
}

impl Location {
    /// The place with location code `code`.
    pub fn new(code: &str, name: &str, additional_type: &str, parent: Option<&str>) -> Self {
        Location {
            kind: "Place".into(),
            identifier: vec![PropertyValue {
                kind: "PropertyValue".into(),
                name: LOCATION_SCHEME.into(),
                identifier: code.into(),
            }],
            name: name.into(),
            additional_type: Some(additional_type.into()),
            contained_in_place: parent.map(str::to_string),
        }
    }

    /// Its location code.
    pub fn code(&self) -> Option<&str> {
        self.identifier
            .iter()
            .find(|id| id.name == LOCATION_SCHEME)
            .map(|id| id.identifier.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hierarchy_round_trips_and_roots_say_null() {
        let hierarchy = LocationHierarchy::new(
            vec![
                Location::new("R01", "Amani", "spx:REGION", None),
                Location::new("R01-D02", "Bora", "spx:DISTRICT", Some("R01")),
            ],
            Timestamp::parse("2026-11-24T10:00:00.500Z").unwrap(),
        );
        let text = serde_json::to_value(&hierarchy).unwrap();
        assert_eq!(text["@type"], "LocationHierarchy");
        assert_eq!(text["@context"]["@context"], "http://spdci.org/");
        assert!(text["locations"][0]["contained_in_place"].is_null());
        assert_eq!(text["locations"][1]["contained_in_place"], "R01");
        let back: LocationHierarchy = serde_json::from_value(text).unwrap();
        assert_eq!(back, hierarchy);
        assert_eq!(back.locations[1].code(), Some("R01-D02"));
        // The published schema's camelCase is read too.
        let camel: Location = serde_json::from_value(serde_json::json!({
            "@type": "Place", "name": "Bora", "containedInPlace": "R01",
            "identifier": [{"@type": "PropertyValue", "name": "spx-location", "identifier": "R01-D02"}]}))
        .unwrap();
        assert_eq!(camel.contained_in_place.as_deref(), Some("R01"));
    }
}
