//! Deserializers that accept the value variants peers send in practice (dci-spec §12.1 E6):
//! integers and decimals as strings, booleans as strings or 0/1, `""` and `{}` for absent
//! objects, single values for lists, and code labels (`F`, `Widow`) for codes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

use crate::directory;

/// An integer given as a JSON number or a numeric string; `null` or `""` is absent.
pub fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an integer, found {n}"))),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected an integer, found \"{s}\""))),
        other => Err(D::Error::custom(format!(
            "expected an integer, found {other}"
        ))),
    }
}

/// A boolean given as `true`/`false`, `"true"`/`"false"`, `0`/`1` or `"0"`/`"1"`; absent is false.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            _ => Err(D::Error::custom(format!(
                "expected a boolean, found \"{s}\""
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// A JSON object; `null` and `""` (as samples send) are absent.
pub fn object<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Map<String, Value>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        other => Err(D::Error::custom(format!(
            "expected an object, found {other}"
        ))),
    }
}

/// Any JSON value, where `null` and `""` are absent (samples send `""` for empty objects).
pub fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        other => Ok(Some(other)),
    }
}

/// A string, where `null` and `""` are absent.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!(
            "expected a string, found {other}"
        ))),
    }
}

/// Absent, `null`, `""` and `{}` (as samples send for empty objects) are `None`; anything else
/// must be a `T`.
pub fn optional<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Object(map) if map.is_empty() => Ok(None),
        other => T::deserialize(other).map(Some).map_err(D::Error::custom),
    }
}

/// A list; `null` and `""` are empty, and a single value (samples send one identifier or one
/// phone number without the brackets) is a list of one.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| T::deserialize(item).map_err(D::Error::custom))
            .collect(),
        one => T::deserialize(one)
            .map(|item| vec![item])
            .map_err(D::Error::custom),
    }
}

/// A single value; a list (samples send `"name": [{...}]`) gives its first element.
pub fn first<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(items) => {
            let first = items
                .into_iter()
                .next()
                .ok_or_else(|| D::Error::custom("expected a value, found an empty list"))?;
            T::deserialize(first).map_err(D::Error::custom)
        }
        one => T::deserialize(one).map_err(D::Error::custom),
    }
}

/// A required integer given as a JSON number or a numeric string (`"4"`).
pub fn required_integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    integer(d)?.ok_or_else(|| D::Error::custom("expected an integer, found nothing"))
}

/// A required decimal given as a JSON number or a numeric string (`"4.0"`).
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| D::Error::custom(format!("expected a decimal, found {n}"))),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(number),
            _ => Err(D::Error::custom(format!(
                "expected a decimal, found \"{s}\""
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected a decimal, found {other}"
        ))),
    }
}

/// A code of `directory`, given as the code or one of its labels in any case; output is the
/// code. A value the directory does not know is kept as sent (registries extend code lists).
fn code(directory: &[directory::Entry], value: Value) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => return Err(format!("expected a code, found {other}")),
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        directory::normalize(directory, text).map_or_else(|| text.to_string(), str::to_string),
    ))
}

/// SexCategoryEnum: `male`, `female`, `other`, `unknown`, or a label (`F`, `Male`, `FeMale`).
pub fn sex<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    code(directory::SEX, Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("sex is required"))
}

/// MaritalStatusEnum: `S`, `M`, `W`, ... or a label (`Single`, `married`, `Widow`); `""` is absent.
pub fn marital_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    code(directory::MARITAL_STATUS, Value::deserialize(d)?).map_err(D::Error::custom)
}

/// spx's identity status: `alive`, `deceased`, or a label (`Living`, `Dead`); a closed list,
/// so anything else is refused.
pub fn identity_status<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let status = code(directory::IDENTITY_STATUS, Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("status is required"))?;
    directory::normalize(directory::IDENTITY_STATUS, &status)
        .map(str::to_string)
        .ok_or_else(|| D::Error::custom(format!("status '{status}' is not alive or deceased")))
}

/// AssistanceUnitEnum: `1`, `2`, `3`, as a string or number, or a label (`household`, `family`).
pub fn group_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    code(directory::GROUP_TYPE, Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("group_type is required"))
}

/// Deserializers of optional codes of the disability and farmer registries' directories:
/// the code or one of its labels, in any case; `null` and `""` are absent.
macro_rules! optional_codes {
    ($($(#[$doc:meta])* $name:ident => $directory:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
            code(directory::$directory, Value::deserialize(d)?).map_err(D::Error::custom)
        }
    )*};
}

optional_codes! {
    /// DisabilityStatusEnum: `0`-`3`, or `Approved`, `Pending`, `Expired`, `Rejected`.
    disability_status => DISABILITY_STATUS;
    /// DisabilityLevelEnum: `1`-`4`, or `Severe`, `Mild` ...
    disability_level => DISABILITY_LEVEL;
    /// FunctionalLimitationType: `VIS_SS` ..., or `Vision`, `Mobility` ...
    functional_limitation => FUNCTIONAL_LIMITATION;
    /// ImpairementType: `1`-`6`, or `Vision`, `Mobility` ...
    impairment_type => IMPAIRMENT_TYPE;
    /// ImpairmentLevel: `1`-`4`, or `Mild` ... `Extreme`.
    impairment_level => IMPAIRMENT_LEVEL;
    /// ImpairmentCause: `0`-`8`, or `Illness`, `Work Accident` ...
    impairment_cause => IMPAIRMENT_CAUSE;
    /// DisabilityOnSet: `0`-`3`, or `Born With`, `Working age` ...
    age_on_set => AGE_ON_SET;
    /// SupportStatusEnum: `0` or `1`, or `Needed`, `Received`.
    support_status => SUPPORT_STATUS;
    /// SupportFrequency: `1`-`5`, or `Daily`, `Weekly` ...
    support_frequency => SUPPORT_FREQUENCY;
    /// FarmTypeEnum: `1`-`6`, or labels.
    farm_type => FARM_TYPE;
    /// LandTenureEnum: `1`-`7`, or `Owner`, `Leased` ...
    land_tenure => LAND_TENURE;
    /// CropTypeEnum: `1`-`9`, or `Cereals` ...
    crop_type => CROP_TYPE;
    /// spx's crop names: `maize`, or `corn` ...
    crop => CROP;
    /// EnrollmentStatusEnum: `1`-`6`, or `Active`, `Suspended` ...
    enrolment_status => ENROLMENT_STATUS;
    /// BenefitTypeEnum: `1`-`6`, or `Cash`, `Voucher` ...
    benefit_type => BENEFIT_TYPE;
    /// PaymentStatusEnum: `1` or `2`, or `Successful`, `Failed` ...
    payment_status => PAYMENT_STATUS;
    /// AssistanceUnitEnum: `1`-`3`, or `Member`, `Household`, `Family`.
    assistance_unit => GROUP_TYPE;
}

/// MeasurmentUnitEnum: `0`-`6`, or `ha`, `acre` ...; absent (`null`, `""`) is hectares, `0`.
pub fn required_measurement<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(code(directory::MEASUREMENT_UNIT, Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .unwrap_or_else(|| "0".to_string()))
}

/// AnimalsEnum: `1`-`8`, or `cattle`, `goats`, `chickens` ...
pub fn required_animal<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    code(directory::ANIMAL, Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("the animal type is required"))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "super::list")]
        list: Vec<i64>,
        #[serde(default, deserialize_with = "super::optional")]
        optional: Option<Vec<i64>>,
        #[serde(default, deserialize_with = "super::marital_status")]
        marital: Option<String>,
    }

    fn sample(value: serde_json::Value) -> Result<Sample, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn lists_optionals_and_codes() {
        let s = sample(json!({"list": 7, "optional": {}, "marital": "Widow"})).unwrap();
        assert_eq!(
            (s.list, s.optional, s.marital.as_deref()),
            (vec![7], None, Some("W"))
        );
        let s = sample(json!({"list": "", "optional": [1], "marital": "X"})).unwrap();
        assert_eq!(
            (s.list, s.optional, s.marital.as_deref()),
            (vec![], Some(vec![1]), Some("X"))
        );
        let s = sample(json!({"list": [1], "marital": ""})).unwrap();
        assert_eq!((s.list, s.marital), (vec![1], None));
        assert!(sample(json!({"list": ["a"]})).is_err());
        assert!(sample(json!({"optional": "x"})).is_err());
    }

    #[test]
    fn numbers_from_strings() {
        #[derive(Deserialize)]
        struct N {
            #[serde(deserialize_with = "super::decimal")]
            d: f64,
            #[serde(deserialize_with = "super::required_integer")]
            i: i64,
        }
        let n: N = serde_json::from_value(json!({"d": "4.0", "i": " 3 "})).unwrap();
        assert_eq!((n.d, n.i), (4.0, 3));
        for bad in [
            json!({"d": "NaN", "i": 1}),
            json!({"d": 1, "i": ""}),
            json!({"d": "x", "i": 1}),
        ] {
            assert!(serde_json::from_value::<N>(bad.clone()).is_err(), "{bad}");
        }
    }
}
