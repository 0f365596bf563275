//! What one participant may see of a registry: record types, fields, query types and
//! purposes (architecture principle 6: no field leaves a registry that the caller is not
//! authorised to see).
//!
//! Each list is either absent (no restriction) or the complete list of what is allowed; an
//! empty list allows nothing.
//!
//! **Fields** are paths into a record as the registry publishes it, with `.` between levels:
//! `name` allows the whole `name` object, `name.given_name` only that member of it,
//! `identifier` the identifier list. Members whose name starts with `@` (`@type`,
//! `@context`) are always kept. A record sent to the participant keeps only the allowed
//! paths; arrays are filtered element by element with the same paths.
//!
//! A search may only use attributes the participant can see: an attribute is visible when
//! its canonical name or one of its aliases is an allowed field or lies under one (the
//! social registry's `given_name` has the alias `name.given_name`, so `name` makes it
//! visible). So a predicate search cannot be used as an oracle on a hidden field; derived
//! attributes such as `age` must be listed themselves.
//!
//! **Match fields** are the one exception, for identity verification ("does this UIN go with
//! this name and birth date"): fields a participant may compare for equality without seeing
//! them. The registry allows them only in a search pinned to one record by an identifier the
//! participant sees, as equalities of the search's top-level conjunction (`uin = … AND
//! birth_date = …`): no range, alternative, list, negation or sort, which would tell more than
//! whether the values match. The answer shows the participant's fields only, so a
//! participant allowed `identifier` alone learns yes (the record it named) or no (none).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One participant's access to one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRules {
    /// Record types it may read (canonical names or aliases); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_types: Option<Vec<String>>,
    /// Field paths it may see and search on; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Field paths it may only match for equality, without seeing them (identity
    /// verification; see the module documentation); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_fields: Option<Vec<String>>,
    /// Query types it may use (`idtype-value`, `expression`, `predicate`); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_types: Option<Vec<String>>,
    /// Purpose codes its requests must state (`authorize.purpose.code` or
    /// `consent.purpose.code`); absent: no purpose required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<Vec<String>>,
}

impl AccessRules {
    /// Rules that allow nothing: no record type, no field, no query type.
    pub fn nothing() -> AccessRules {
        AccessRules {
            record_types: Some(Vec::new()),
            fields: Some(Vec::new()),
            match_fields: None,
            query_types: Some(Vec::new()),
            purposes: None,
        }
    }

    /// Whether a record type known by `names` (its canonical name, then its aliases) may be
    /// read.
    pub fn allows_record_type<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        let Some(allowed) = &self.record_types else {
            return true;
        };
        let bare = |s: &str| s.rsplit(':').next().unwrap_or(s).to_ascii_lowercase();
        names
            .into_iter()
            .any(|name| allowed.iter().any(|a| bare(a) == bare(name)))
    }

    /// Whether `query_type` may be used.
    pub fn allows_query_type(&self, query_type: &str) -> bool {
        self.query_types.as_ref().is_none_or(|allowed| {
            allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(query_type.trim()))
        })
    }

    /// Whether a request stating `purpose` (or none) may be served; the refusal says why.
    pub fn check_purpose(&self, purpose: Option<&str>) -> Result<(), String> {
        let Some(allowed) = &self.purposes else {
            return Ok(());
        };
        match purpose.map(str::trim).filter(|p| !p.is_empty()) {
            None => Err(format!(
                "a purpose is required (authorize.purpose.code; allowed: {})",
                allowed.join(", ")
            )),
            Some(p) if allowed.iter().any(|a| a.eq_ignore_ascii_case(p)) => Ok(()),
            Some(p) => Err(format!(
                "purpose '{p}' is not allowed for this participant (allowed: {})",
                allowed.join(", ")
            )),
        }
    }

    /// Whether an attribute known by `names` (canonical name and aliases) is visible.
    pub fn allows_field<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        match &self.fields {
            None => true,
            Some(allowed) => under(names, allowed),
        }
    }

    /// Whether an attribute known by `names` may be matched for equality in a verification
    /// (it is visible, or one of the match fields).
    pub fn allows_match<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> bool {
        self.allows_field(names.clone())
            || self
                .match_fields
                .as_ref()
                .is_some_and(|allowed| under(names, allowed))
    }

    /// Whether records must be filtered before they are sent.
    pub fn restricts_fields(&self) -> bool {
        self.fields.is_some()
    }

    /// Removes from `record` every member the participant may not see.
    pub fn filter_record(&self, record: &mut Value) {
        if let Some(fields) = &self.fields {
            let paths: Vec<Vec<&str>> = fields.iter().map(|f| f.split('.').collect()).collect();
            let paths: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
            keep(record, &paths);
        }
    }
}

/// Whether one of `names` is one of the `allowed` paths or lies under one.
fn under<'a>(names: impl IntoIterator<Item = &'a str>, allowed: &[String]) -> bool {
    names.into_iter().any(|name| {
        allowed.iter().any(|field| {
            name == field
                || name
                    .strip_prefix(field.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    })
}

/// Keeps in `value` the members that `paths` (relative to it) reach.
fn keep(value: &mut Value, paths: &[&[&str]]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| keep(item, paths)),
        Value::Object(map) => map.retain(|key, member| {
            if key.starts_with('@') {
                return true;
            }
            let mut below: Vec<&[&str]> = Vec::new();
            for path in paths {
                match path.split_first() {
                    Some((first, [])) if first == key => return true,
                    Some((first, rest)) if first == key => below.push(rest),
                    _ => {}
                }
            }
            if below.is_empty() {
                return false;
            }
            keep(member, &below);
            true
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(list: &[&str]) -> AccessRules {
        AccessRules {
            fields: Some(list.iter().map(|s| s.to_string()).collect()),
            ..AccessRules::default()
        }
    }

    #[test]
    fn records_keep_only_the_allowed_paths() {
        let mut record = json!({
            "@type": "Member",
            "identifier": [{"identifier_type": "UIN", "identifier_value": "1"}],
            "name": {"given_name": "Ama", "surname": "Owusu"},
            "birth_date": "1950-01-01",
            "demographic_info": {"sex": "female", "birth_date": "1950-01-01"},
            "member_list": [{"name": {"given_name": "Kofi"}, "birth_date": "2001-02-03"}]
        });
        fields(&[
            "identifier",
            "name.given_name",
            "demographic_info.sex",
            "member_list.name",
        ])
        .filter_record(&mut record);
        assert_eq!(
            record,
            json!({
                "@type": "Member",
                "identifier": [{"identifier_type": "UIN", "identifier_value": "1"}],
                "name": {"given_name": "Ama"},
                "demographic_info": {"sex": "female"},
                "member_list": [{"name": {"given_name": "Kofi"}}]
            })
        );
        let mut untouched = record.clone();
        AccessRules::default().filter_record(&mut untouched);
        assert_eq!(untouched, record);
    }

    #[test]
    fn attributes_are_visible_through_their_names_or_aliases() {
        let rules = fields(&["name", "identifier"]);
        assert!(rules.allows_field(["given_name", "name.given_name", "first_name"]));
        assert!(!rules.allows_field(["birth_date", "dob"]));
        assert!(!rules.allows_field(["names"]), "a prefix is not a path");
        assert!(AccessRules::default().allows_field(["anything"]));
        assert!(!fields(&[]).allows_field(["name"]));
    }

    #[test]
    fn match_fields_can_be_matched_but_not_seen() {
        let rules = AccessRules {
            match_fields: Some(vec!["name".into(), "birth_date".into()]),
            ..fields(&["identifier"])
        };
        assert!(!rules.allows_field(["given_name", "name.given_name"]));
        assert!(rules.allows_match(["given_name", "name.given_name"]));
        assert!(rules.allows_match(["birth_date"]) && rules.allows_match(["identifier"]));
        assert!(!rules.allows_match(["sex", "gender"]));
    }

    #[test]
    fn record_types_query_types_and_purposes() {
        let rules = AccessRules {
            record_types: Some(vec!["Person".into()]),
            query_types: Some(vec!["idtype-value".into()]),
            purposes: Some(vec!["ELIGIBILITY".into()]),
            ..AccessRules::default()
        };
        assert!(rules.allows_record_type(["CRVS_Person", "spdci-extensions-dci:Person"]));
        assert!(!rules.allows_record_type(["DeathRecord"]));
        assert!(rules.allows_query_type("IDTYPE-VALUE"));
        assert!(!rules.allows_query_type("predicate"));
        assert!(rules.check_purpose(Some("eligibility")).is_ok());
        assert!(rules.check_purpose(Some("marketing")).is_err());
        assert!(rules.check_purpose(None).is_err());
        assert!(AccessRules::default().check_purpose(None).is_ok());
    }
}
