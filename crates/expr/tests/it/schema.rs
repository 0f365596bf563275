//! A household registry schema covering every attribute type and column kind.

use expr::{AttrType, Attribute, CodeSet, Column, Expr, Op, Schema, Value};

pub static SEX: CodeSet = CodeSet {
    name: "SexCategoryEnum",
    codes: &[
        ("male", &["Male", "m"]),
        ("female", &["Female", "f"]),
        ("other", &["Others"]),
        ("unknown", &["Unknown"]),
    ],
};

pub static DISABILITY_STATUS: CodeSet = CodeSet {
    name: "DisabilityStatusEnum",
    codes: &[
        ("0", &["Approved"]),
        ("1", &["Pending"]),
        ("2", &["Expired"]),
    ],
};

pub static GROUP: Schema = Schema {
    entity: "Group",
    attributes: &[
        Attribute {
            name: "uin",
            aliases: &[],
            ty: AttrType::Text,
            column: Column::Direct("h.uin"),
        },
        Attribute {
            name: "poverty_score",
            aliases: &[],
            ty: AttrType::Float,
            column: Column::Direct("h.poverty_score"),
        },
        Attribute {
            name: "group_size",
            aliases: &["household_size"],
            ty: AttrType::Integer,
            column: Column::Direct("h.group_size"),
        },
        Attribute {
            name: "registration_date",
            aliases: &[],
            ty: AttrType::Date,
            column: Column::Direct("h.registration_date"),
        },
        Attribute {
            name: "active",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("h.active"),
        },
        Attribute {
            name: "sex",
            aliases: &["demographic_info.person.sex", "gender"],
            ty: AttrType::Code(&SEX),
            column: Column::Direct("h.head_sex"),
        },
        Attribute {
            name: "disability_status",
            aliases: &[],
            ty: AttrType::Code(&DISABILITY_STATUS),
            column: Column::Direct("h.disability_status"),
        },
        Attribute {
            name: "birth_date",
            aliases: &["member.demographic_info.birth_date"],
            ty: AttrType::Date,
            column: Column::Direct("h.head_birth_date"),
        },
        Attribute {
            name: "age",
            aliases: &[],
            ty: AttrType::Integer,
            column: Column::AgeFrom("h.head_birth_date"),
        },
        Attribute {
            name: "location",
            aliases: &["area-code"],
            ty: AttrType::Text,
            column: Column::AnyOf(&["h.region", "h.district"]),
        },
        Attribute {
            name: "member_age",
            aliases: &[],
            ty: AttrType::Integer,
            column: Column::Exists {
                from: "member m",
                link: "m.household_id = h.id",
                inner: &Column::AgeFrom("m.birth_date"),
            },
        },
        Attribute {
            name: "member_disabled",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Exists {
                from: "member m",
                link: "m.household_id = h.id",
                inner: &Column::Direct("m.disabled"),
            },
        },
    ],
};

/// The attribute called `name`; panics on a typo in a test.
pub fn attr(name: &str) -> &'static Attribute {
    GROUP
        .attribute(name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

pub fn cmp(name: &str, op: Op, value: Value) -> Expr<'static> {
    Expr::Compare {
        attr: attr(name),
        op,
        value,
    }
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
