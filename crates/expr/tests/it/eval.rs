use std::collections::BTreeMap;

use expr::{Expr, Op, Value, evaluate, parse_text};
use time::macros::date;

use crate::db::{Household, Member};
use crate::schema::{GROUP, cmp, text};

const TODAY: time::Date = date!(2025 - 06 - 15);

fn eval(source: &str, record: &dyn expr::Record) -> Option<bool> {
    evaluate(&parse_text(source, &GROUP).unwrap(), record, TODAY)
}

#[test]
fn kleene_truth_tables() {
    // group_size = 3 is true, = 4 false, and uin = 'x' unknown (NULL).
    let h = Household {
        group_size: Some(3),
        ..Household::default()
    };
    let (t, f, u) = ("group_size = 3", "group_size = 4", "uin = 'x'");
    let cases = [
        (format!("{t} AND {u}"), None),
        (format!("{f} AND {u}"), Some(false)),
        (format!("{t} OR {u}"), Some(true)),
        (format!("{f} OR {u}"), None),
        (format!("NOT {u}"), None),
        (format!("NOT {f}"), Some(true)),
        (format!("NOT ({f} OR {u})"), None),
        (format!("NOT ({f} AND {u})"), Some(true)),
        ("uin != 'x'".to_owned(), None),
        ("uin IN ['x', 'y']".to_owned(), None),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(&source, &h), expected, "{source}");
    }
}

#[test]
fn any_of_is_kleene_or_over_columns() {
    let in_north = Household {
        region: Some("north".into()),
        ..Household::default()
    };
    let in_x_district = Household {
        region: Some("south".into()),
        district: Some("x".into()),
        ..Household::default()
    };
    assert_eq!(eval("location = 'north'", &in_north), Some(true));
    assert_eq!(eval("location = 'south'", &in_north), None);
    assert_eq!(eval("location = 'x'", &in_x_district), Some(true));
    assert_eq!(eval("location = 'y'", &in_x_district), Some(false));
    // Each column is compared, so "not north" holds for a record in the north region's x district.
    let both = Household {
        region: Some("north".into()),
        district: Some("x".into()),
        ..Household::default()
    };
    assert_eq!(eval("location != 'north'", &both), Some(true));
    assert_eq!(eval("NOT location = 'north'", &both), Some(false));
}

#[test]
fn exists_is_never_unknown() {
    let family = Household {
        members: vec![
            Member {
                birth_date: Some(date!(2022 - 01 - 01)),
                disabled: None,
            },
            Member {
                birth_date: None,
                disabled: Some(true),
            },
        ],
        ..Household::default()
    };
    assert_eq!(eval("member_age < 5", &family), Some(true));
    assert_eq!(eval("member_age > 60", &family), Some(false));
    assert_eq!(eval("NOT member_age > 60", &family), Some(true));
    assert_eq!(eval("member_disabled = true", &family), Some(true));
    assert_eq!(eval("member_disabled = false", &family), Some(false));
    // Each comparison is its own EXISTS: no single member is both under 5 and disabled.
    assert_eq!(
        eval("member_age < 5 AND member_disabled = true", &family),
        Some(true)
    );
    assert_eq!(eval("member_age != 3", &Household::default()), Some(false));
}

#[test]
fn map_records_and_store_shapes() {
    let record: BTreeMap<String, Value> = [
        ("h.registration_date".to_owned(), text("2024-02-29")),
        ("h.active".to_owned(), Value::Integer(1)),
        ("h.poverty_score".to_owned(), Value::Integer(2)),
        ("h.head_birth_date".to_owned(), text("2007-06-15")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        eval("registration_date = '2024-02-29'", &record),
        Some(true)
    );
    assert_eq!(
        eval("registration_date < '2024-03-01'", &record),
        Some(true)
    );
    assert_eq!(eval("active = true", &record), Some(true));
    assert_eq!(eval("poverty_score < 2.5", &record), Some(true));
    assert_eq!(eval("age = 18", &record), Some(true));
    assert_eq!(eval("uin = '1'", &record), None);
    // A value that cannot be compared is unknown, never a match.
    let odd: BTreeMap<String, Value> = [("h.group_size".to_owned(), text("three"))]
        .into_iter()
        .collect();
    assert_eq!(
        evaluate(&cmp("group_size", Op::Eq, Value::Integer(3)), &odd, TODAY),
        None
    );
}

#[test]
fn empty_nodes() {
    let nothing = Household::default();
    assert_eq!(evaluate(&Expr::And(vec![]), &nothing, TODAY), Some(true));
    assert_eq!(evaluate(&Expr::Or(vec![]), &nothing, TODAY), Some(false));
}
