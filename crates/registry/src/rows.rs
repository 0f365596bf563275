//! What every profile's rows are made of: cells, published records, dates and places, and the
//! attributes most record types have (a person's name, sex and age; the place of the record).

use dci::records::common::{Address, Place};
use store::SqlValue;
use time::Date;

use crate::social::Locations;

time::serde::format_description!(pub(crate) calendar_date, Date, "[year]-[month]-[day]");

/// A text cell.
pub(crate) fn text(s: &str) -> Option<SqlValue> {
    Some(SqlValue::Text(s.to_string()))
}

/// A text cell, NULL when absent.
pub(crate) fn opt_text(s: Option<&str>) -> Option<SqlValue> {
    s.map(|s| SqlValue::Text(s.to_string()))
}

/// The cell of a published record: its JSON.
pub(crate) fn doc<T: serde::Serialize>(record: &T) -> Option<SqlValue> {
    Some(SqlValue::Text(
        serde_json::to_string(record).expect("a record always serializes"),
    ))
}

/// `YYYY-MM-DD`.
pub(crate) fn ymd(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A place of the location master list, as records publish it.
pub(crate) fn place(code: Option<&str>, locations: &Locations) -> Option<Place> {
    let location = locations.get(code?)?;
    Some(Place::new(
        &location.code,
        &location.name,
        location.parent.as_deref(),
    ))
}

/// The region, district and sub-county codes of a place (the levels above it included;
/// those below it, and all of an unknown place, are NULL).
pub(crate) fn levels(code: Option<&str>, locations: &Locations) -> [Option<SqlValue>; 3] {
    let mut out = [None, None, None];
    let mut next = code.and_then(|c| locations.get(c));
    while let Some(location) = next {
        if let Some(slot) = out.get_mut(usize::from(location.level).wrapping_sub(1)) {
            *slot = text(&location.code);
        }
        next = location.parent.as_deref().and_then(|p| locations.get(p));
    }
    out
}

/// The address of a home at the place `code` of the location master list: the place's name
/// as the locality, with its district and region codes.
pub(crate) fn address(code: Option<&str>, locations: &Locations) -> Option<Address> {
    let home = locations.get(code?)?;
    let [region, district, _] = levels(code, locations);
    let code_of = |cell: Option<SqlValue>| match cell {
        Some(SqlValue::Text(code)) => Some(code),
        _ => None,
    };
    Some(Address {
        locality: Some(home.name.clone()),
        sub_region_code: code_of(district),
        region_code: code_of(region),
        ..Address::default()
    })
}

/// A text attribute.
macro_rules! text_attribute {
    ($name:literal, [$($alias:literal),*], $column:expr) => {
        expr::Attribute { name: $name, aliases: &[$($alias),*], ty: expr::AttrType::Text, column: expr::Column::Direct($column) }
    };
}

/// A date attribute.
macro_rules! date_attribute {
    ($name:literal, [$($alias:literal),*], $column:expr) => {
        expr::Attribute { name: $name, aliases: &[$($alias),*], ty: expr::AttrType::Date, column: expr::Column::Direct($column) }
    };
}

/// The name, sex, birth date and age of the record's person, on the table aliased `$t`;
/// each `$prefix` (a dotted path to the person in the published record, such as
/// `demographic_info.`) names them too.
macro_rules! person_attributes {
    ($t:literal, [$($prefix:literal),*]) => {
        [
            expr::Attribute {
                name: "given_name",
                aliases: &["name.given_name", "first_name" $(, concat!($prefix, "name.given_name"))*],
                ty: expr::AttrType::Text,
                column: expr::Column::Direct(concat!($t, ".given_name")),
            },
            expr::Attribute {
                name: "surname",
                aliases: &["name.surname", "last_name", "family_name" $(, concat!($prefix, "name.surname"))*],
                ty: expr::AttrType::Text,
                column: expr::Column::Direct(concat!($t, ".surname")),
            },
            expr::Attribute {
                name: "sex",
                aliases: &["gender" $(, concat!($prefix, "sex"))*],
                ty: expr::AttrType::Code(&$crate::social::SEX),
                column: expr::Column::Direct(concat!($t, ".sex")),
            },
            expr::Attribute {
                name: "birth_date",
                aliases: &["dob", "birthdate", "date_of_birth" $(, concat!($prefix, "birth_date"))*],
                ty: expr::AttrType::Date,
                column: expr::Column::Direct(concat!($t, ".birth_date")),
            },
            expr::Attribute {
                name: "age",
                aliases: &[],
                ty: expr::AttrType::Integer,
                column: expr::Column::AgeFrom(concat!($t, ".birth_date")),
            },
        ]
    };
}

/// `$own` attributes followed by those of the record's place, on the table aliased `$t`:
/// `region_code`, `district_code`, `location_code`, and `location` (a code at any of the three
/// levels, so that a region finds its districts and sub-counties too). `$place` names the
/// place as the record publishes it (`birth_place` ...).
macro_rules! with_place {
    ($t:literal, $place:literal, [$($own:expr),* $(,)?]) => {
        [
            $($own,)*
            expr::Attribute { name: "region_code", aliases: &["region", concat!($place, ".region_code"), "address.region_code"], ty: expr::AttrType::Text, column: expr::Column::Direct(concat!($t, ".region_code")) },
            expr::Attribute { name: "district_code", aliases: &["district", "sub_region_code", concat!($place, ".sub_region_code")], ty: expr::AttrType::Text, column: expr::Column::Direct(concat!($t, ".district_code")) },
            expr::Attribute { name: "location_code", aliases: &["sub_county", "locality_code", concat!($place, ".identifier")], ty: expr::AttrType::Text, column: expr::Column::Direct(concat!($t, ".location_code")) },
            expr::Attribute { name: "location", aliases: &["place", $place], ty: expr::AttrType::Text, column: expr::Column::AnyOf(&[concat!($t, ".region_code"), concat!($t, ".district_code"), concat!($t, ".location_code")]) },
        ]
    };
}

pub(crate) use {date_attribute, person_attributes, text_attribute, with_place};
