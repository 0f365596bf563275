//! Integrated beneficiary registry records (dci-spec §6.5): a `Beneficiary` is one person or
//! household enrolled in one programme, with the enrolment's status and the benefits received;
//! a `Programme` is what an SP-MIS runs; a `Benefit` is one payment or delivery.
//!
//! spx emits the S4 JSON-LD names (`assistance_unit`, `member`, `group`,
//! `programme_identifier` as a list of `Programme`, `enrollment_date`, `enrollment_status`,
//! `status_change_date`, `benefits`) with the codes of the standard's directories
//! (EnrollmentStatusEnum, BenefitTypeEnum, PaymentStatusEnum). Input also accepts the OpenAPI
//! sample's British spellings (`enrolment_date`, `enrolment_status`), single objects for
//! lists, a programme given by its code alone, the sample's nesting
//! `programme_identifier: {programme: {...}, enrolment_status, benefits}`, and labels for
//! codes (`Active`, `Cash`).
//!
//! Additions of spx: a `benefit_identifier` on each benefit (the publisher's id, which makes a
//! receipt sent twice count once), its `payment_status`, a `status_reason` on the enrolment,
//! and on input a `reference_id` per beneficiary, echoed in the answer of
//! `/registry/sync/enrollment/updates`.

use serde::{Deserialize, Deserializer, Serialize};

use super::common::{Identifier, Person};
use super::fr::FamilyRef;
use crate::lenient;

/// Record type name (and `@type`) of [`Beneficiary`].
pub const BENEFICIARY: &str = "Beneficiary";
/// Record type name (and `@type`) of [`Programme`].
pub const PROGRAMME: &str = "Programme";
/// Record type name (and `@type`) of [`Benefit`].
pub const BENEFIT: &str = "Benefit";

fn beneficiary_kind() -> String {
    BENEFICIARY.to_string()
}

fn programme_kind() -> String {
    PROGRAMME.to_string()
}

fn benefit_kind() -> String {
    BENEFIT.to_string()
}

fn member_kind() -> String {
    "Member".to_string()
}

/// `Beneficiary`: a person or household enrolled in a programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Beneficiary {
    /// Always `Beneficiary`.
    #[serde(rename = "@type", default = "beneficiary_kind")]
    pub kind: String,
    /// The publisher's id for this beneficiary in an update, echoed in its answer (spx; input
    /// only).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// AssistanceUnitEnum: `1` member, `2` household, `3` family.
    #[serde(
        default,
        deserialize_with = "lenient::assistance_unit",
        skip_serializing_if = "Option::is_none"
    )]
    pub assistance_unit: Option<String>,
    /// The person enrolled; for a household, the person who receives its benefits.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub member: Option<BeneficiaryMember>,
    /// The household enrolled (`HHID`), when the unit is a household or family.
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub group: Option<FamilyRef>,
    /// The programme (one; a list is accepted and its first entry used).
    #[serde(default, alias = "programme", deserialize_with = "programmes")]
    pub programme_identifier: Vec<Programme>,
    /// When the beneficiary was enrolled, `YYYY-MM-DD` (a date-time is accepted).
    #[serde(
        default,
        alias = "enrolment_date",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub enrollment_date: Option<String>,
    /// EnrollmentStatusEnum: `1` active, `2` deceased, `3` graduated, `4` suspended, `5`
    /// potential, `6` exited.
    #[serde(
        default,
        alias = "enrolment_status",
        deserialize_with = "lenient::enrolment_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub enrollment_status: Option<String>,
    /// The dates the status changed, most recent last.
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub status_change_date: Vec<String>,
    /// Why the status last changed (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_reason: Option<String>,
    /// Benefits received (an update's are added to those already published; a record lists
    /// the most recent first).
    #[serde(
        default,
        alias = "benefit",
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub benefits: Vec<Benefit>,
    /// When the record last changed.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
}

impl Beneficiary {
    /// The beneficiary with the sample's nesting lifted: the enrolment fields and benefits
    /// given inside `programme_identifier` (`{programme: {...}, enrolment_status, ...}`) move
    /// to the beneficiary, where they were not given.
    pub fn normalized(mut self) -> Self {
        for programme in &mut self.programme_identifier {
            let nested = std::mem::take(&mut programme.enrolment);
            if let Some(nested) = nested {
                self.enrollment_date = self.enrollment_date.take().or(nested.enrolment_date);
                self.enrollment_status = self.enrollment_status.take().or(nested.enrolment_status);
                if self.status_change_date.is_empty() {
                    self.status_change_date = nested.status_change_date;
                }
                self.benefits.extend(nested.benefits);
            }
        }
        self
    }
}

/// `member` of a beneficiary: the person's identifiers, and who they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeneficiaryMember {
    /// Always `Member`.
    #[serde(rename = "@type", default = "member_kind")]
    pub kind: String,
    /// The person's identifiers (`UIN`); a bare string is read as a UIN.
    #[serde(deserialize_with = "identifiers")]
    pub member_identifier: Vec<Identifier>,
    /// The person (absent in an update that only changes the enrolment).
    #[serde(
        default,
        deserialize_with = "lenient::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub demographic_info: Option<Person>,
}

impl BeneficiaryMember {
    /// The value of the member's identifier of type `kind`, if they have one.
    pub fn identifier(&self, kind: &str) -> Option<&str> {
        self.member_identifier
            .iter()
            .find(|i| i.identifier_type.eq_ignore_ascii_case(kind))
            .map(|i| i.identifier_value.as_str())
    }
}

/// `Programme`: a social protection programme (as a beneficiary names it, or as the IBR
/// publishes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Programme {
    /// Always `Programme`.
    #[serde(rename = "@type", default = "programme_kind")]
    pub kind: String,
    /// The programme's code.
    #[serde(default, deserialize_with = "lenient::string")]
    pub programme_identifier: Option<String>,
    /// Its name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub programme_name: Option<String>,
    /// What it is for.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub programme_description: Option<String>,
    /// The institution that runs it.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub implementing_institution: Option<String>,
    /// What it gives (the benefit type of its first entry is the programme's).
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub benefit: Vec<Benefit>,
    /// AssistanceUnitEnum: who it enrols (spx).
    #[serde(
        default,
        deserialize_with = "lenient::assistance_unit",
        skip_serializing_if = "Option::is_none"
    )]
    pub assistance_unit: Option<String>,
    /// How often it pays, e.g. `MONTHLY` (the `freq` of the standard's BenefitFrequency).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_frequency: Option<String>,
    /// The sample's nesting: the programme inside, the enrolment beside it (input only).
    #[serde(default, flatten, skip_serializing)]
    enrolment: Option<NestedEnrolment>,
}

impl Programme {
    /// The programme `code` called `name`.
    pub fn new(code: &str, name: Option<&str>) -> Self {
        Programme {
            kind: programme_kind(),
            programme_identifier: Some(code.to_string()),
            programme_name: name.map(str::to_string),
            programme_description: None,
            implementing_institution: None,
            benefit: Vec::new(),
            assistance_unit: None,
            benefit_frequency: None,
            enrolment: None,
        }
    }
}

/// The enrolment fields the OpenAPI sample nests inside `programme_identifier`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct NestedEnrolment {
    #[serde(default, alias = "program")]
    programme: Option<Box<Programme>>,
    #[serde(
        default,
        alias = "enrollment_date",
        deserialize_with = "lenient::string"
    )]
    enrolment_date: Option<String>,
    #[serde(
        default,
        alias = "enrollment_status",
        deserialize_with = "lenient::enrolment_status"
    )]
    enrolment_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    status_change_date: Vec<String>,
    #[serde(default, alias = "benefit", deserialize_with = "lenient::list")]
    benefits: Vec<Benefit>,
}

/// `Benefit`: one payment or delivery to a beneficiary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benefit {
    /// Always `Benefit`.
    #[serde(rename = "@type", default = "benefit_kind")]
    pub kind: String,
    /// The publisher's id of this benefit (spx; without one, its date identifies it within
    /// the enrolment: one benefit a day).
    #[serde(
        default,
        alias = "benefit_id",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_identifier: Option<String>,
    /// BenefitTypeEnum: `1` cash, `2` voucher, `3` in-kind, `4` training, `5` work
    /// opportunity, `6` insurance.
    #[serde(
        default,
        deserialize_with = "lenient::benefit_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_type: Option<String>,
    /// When it was given, `YYYY-MM-DD`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_date: Option<String>,
    /// Its value: an ISO 4217 currency and an amount, e.g. `USD 50.00`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_value: Option<String>,
    /// What was given.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub benefit_description: Option<String>,
    /// PaymentStatusEnum: `1` successful, `2` not successful (spx; `1` when absent).
    #[serde(
        default,
        deserialize_with = "lenient::payment_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_status: Option<String>,
    /// The programme that gave it, on a benefit published as a record of its own (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub programme_identifier: Option<String>,
    /// Who received it, on a benefit published as a record of its own (spx).
    #[serde(
        default,
        deserialize_with = "lenient::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub beneficiary_identifier: Vec<Identifier>,
}

/// A money value `CUR 12.34` as ISO 4217 currency and integer minor units (two decimals).
pub fn parse_value(value: &str) -> Result<(String, i64), String> {
    let mut parts = value.split_whitespace();
    let (Some(currency), Some(amount), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "benefit_value '{value}' is not a currency and an amount, e.g. 'USD 50.00'"
        ));
    };
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "'{currency}' is not an ISO 4217 currency code (three capital letters)"
        ));
    }
    let (units, cents) = match amount.split_once('.') {
        Some((units, cents)) if (1..=2).contains(&cents.len()) => (units, cents),
        None => (amount, "0"),
        _ => return Err(format!("amount '{amount}' has more than two decimals")),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 13 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(units) || !digits(cents) {
        return Err(format!(
            "amount '{amount}' is not a positive decimal number"
        ));
    }
    let cents = if cents.len() == 1 {
        cents.parse::<i64>().unwrap_or(0) * 10
    } else {
        cents.parse::<i64>().unwrap_or(0)
    };
    let minor = units.parse::<i64>().unwrap_or(0) * 100 + cents;
    Ok((currency.to_string(), minor))
}

/// `CUR 12.34` from a currency and minor units.
pub fn format_value(currency: &str, minor: i64) -> String {
    format!("{currency} {}.{:02}", minor / 100, minor % 100)
}

/// A list of identifiers, one identifier object, or a bare string (a UIN).
fn identifiers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Identifier>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    if let serde_json::Value::String(uin) = &value {
        return Ok(vec![Identifier::new("UIN", uin)]);
    }
    lenient::list(value).map_err(serde::de::Error::custom)
}

/// Programmes: a list, one object, or a programme's code alone.
fn programmes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Programme>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let one = |value: serde_json::Value| -> Result<Programme, D::Error> {
        match value {
            serde_json::Value::String(code) => Ok(Programme::new(&code, None)),
            other => {
                let programme: Programme =
                    serde_json::from_value(other).map_err(serde::de::Error::custom)?;
                // The sample's `{programme: {...}, enrolment_...}`: the programme is inside.
                Ok(match &programme.enrolment {
                    Some(NestedEnrolment {
                        programme: Some(inner),
                        ..
                    }) if programme.programme_identifier.is_none() => Programme {
                        enrolment: programme.enrolment.clone(),
                        ..(**inner).clone()
                    },
                    _ => programme,
                })
            }
        }
    };
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(list) => list.into_iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_minor_units() {
        assert_eq!(parse_value("USD 50.00"), Ok(("USD".into(), 5000)));
        assert_eq!(parse_value("USD 50.5"), Ok(("USD".into(), 5050)));
        assert_eq!(parse_value("KES 1200"), Ok(("KES".into(), 120_000)));
        assert!(parse_value("usd 5").is_err());
        assert!(parse_value("USD -5").is_err());
        assert!(parse_value("USD 5.001").is_err());
        assert!(parse_value("50 USD").is_err());
        assert_eq!(format_value("USD", 5050), "USD 50.50");
    }

    /// The S4 shape, and the OpenAPI sample's nesting with British spellings and labels.
    #[test]
    fn both_shapes_read_the_same() {
        let s4: Beneficiary = serde_json::from_value(json!({
            "assistance_unit": "1",
            "member": {"member_identifier": [{"identifier_type": "UIN", "identifier_value": "123"}]},
            "programme_identifier": [{"programme_identifier": "OAA", "programme_name": "Old age"}],
            "enrollment_date": "2025-01-01", "enrollment_status": "1",
            "benefits": [{"benefit_type": "1", "benefit_date": "2025-02-01", "benefit_value": "USD 20.00"}]
        }))
        .unwrap();
        let sample: Beneficiary = serde_json::from_value(json!({
            "assistance_unit": "Member",
            "member": {"member_identifier": "123"},
            "programme_identifier": {"programme": {"programme_identifier": "OAA", "programme_name": "Old age"},
                "enrolment_date": "2025-01-01", "enrolment_status": "Active",
                "benefits": {"benefit_type": "Cash", "benefit_date": "2025-02-01", "benefit_value": "USD 20.00"}}
        }))
        .unwrap();
        let (s4, sample) = (s4.normalized(), sample.normalized());
        assert_eq!(sample.member, s4.member);
        assert_eq!(sample.enrollment_status.as_deref(), Some("1"));
        assert_eq!(sample.enrollment_date, s4.enrollment_date);
        assert_eq!(sample.benefits, s4.benefits);
        assert_eq!(
            sample.programme_identifier[0]
                .programme_identifier
                .as_deref(),
            Some("OAA")
        );
        let code_only: Beneficiary =
            serde_json::from_value(json!({"programme_identifier": "CB"})).unwrap();
        assert_eq!(
            code_only.programme_identifier[0]
                .programme_identifier
                .as_deref(),
            Some("CB")
        );
    }
}
