use std::collections::BTreeSet;

use expr::{
    Dialect, ErrorKind, Expr, Op, Value, evaluate, lower, order_by, parse_nosql, parse_text,
};
use serde_json::json;
use time::Date;
use time::macros::date;

use crate::db::{Household, Member, load, matching, select};
use crate::schema::{GROUP, attr, cmp, text};

const TODAY: Date = date!(2025 - 06 - 15);

fn sqlite(source: &str) -> (String, Vec<Value>) {
    let expr = parse_text(source, &GROUP).unwrap();
    let fragment = lower(&expr, Dialect::Sqlite, TODAY, 1);
    (fragment.sql, fragment.params)
}

#[test]
fn social_sample_lowers_with_bound_parameters() {
    let doc = json!({"collection":"Group","query":{"$and":[{"poverty_score":{"$lt":5}},{"location":{"$eq":"central_region"}},{"group_size":{"$lt":5}}]}});
    let expr = parse_nosql(&doc, &GROUP).unwrap();
    let fragment = lower(&expr, Dialect::Sqlite, TODAY, 1);
    assert_eq!(
        fragment.sql,
        "(h.poverty_score < ?1 AND (h.region = ?2 OR h.district = ?3) AND h.group_size < ?4)"
    );
    assert_eq!(
        fragment.params,
        vec![
            Value::Float(5.0),
            text("central_region"),
            text("central_region"),
            Value::Integer(5)
        ]
    );
    let fragment = lower(&expr, Dialect::Postgres, TODAY, 3);
    assert_eq!(
        fragment.sql,
        "(h.poverty_score < $3::double precision AND (h.region = $4::text OR h.district = $5::text) AND h.group_size < $6::bigint)"
    );
}

#[test]
fn operators_in_and_not() {
    assert_eq!(
        sqlite("NOT active = true OR uin != '1' OR group_size IN [1, 2]"),
        (
            "(NOT (h.active = ?1) OR h.uin <> ?2 OR h.group_size IN (?3, ?4))".into(),
            vec![
                Value::Bool(true),
                text("1"),
                Value::Integer(1),
                Value::Integer(2)
            ]
        )
    );
    assert_eq!(
        sqlite("location NOT IN ['x']").0,
        "NOT ((h.region IN (?1) OR h.district IN (?2)))"
    );
}

#[test]
fn values_never_reach_the_sql_text() {
    let (sql, params) = sqlite(r#"uin = "'; DROP TABLE household; --""#);
    assert_eq!(sql, "h.uin = ?1");
    assert_eq!(params, vec![text("'; DROP TABLE household; --")]);
}

#[test]
fn ages_become_ranges_on_the_birth_date() {
    let d = |date: Date| Value::Date(date);
    assert_eq!(
        sqlite("age >= 18"),
        (
            "h.head_birth_date <= ?1".into(),
            vec![d(date!(2007 - 06 - 15))]
        )
    );
    assert_eq!(
        sqlite("age > 18"),
        (
            "h.head_birth_date <= ?1".into(),
            vec![d(date!(2006 - 06 - 15))]
        )
    );
    assert_eq!(
        sqlite("age < 18"),
        (
            "h.head_birth_date > ?1".into(),
            vec![d(date!(2007 - 06 - 15))]
        )
    );
    assert_eq!(
        sqlite("age <= 18"),
        (
            "h.head_birth_date > ?1".into(),
            vec![d(date!(2006 - 06 - 15))]
        )
    );
    assert_eq!(
        sqlite("age = 18"),
        (
            "(h.head_birth_date <= ?1 AND h.head_birth_date > ?2)".into(),
            vec![d(date!(2007 - 06 - 15)), d(date!(2006 - 06 - 15))]
        )
    );
    assert_eq!(
        sqlite("age != 18").0,
        "NOT (h.head_birth_date <= ?1 AND h.head_birth_date > ?2)"
    );
    assert_eq!(
        sqlite("age IN [1, 2]").0,
        "((h.head_birth_date <= ?1 AND h.head_birth_date > ?2) OR (h.head_birth_date <= ?3 AND h.head_birth_date > ?4))"
    );
    assert_eq!(
        sqlite("age >= 5000"),
        ("h.head_birth_date <> h.head_birth_date".into(), vec![])
    );
    assert_eq!(
        sqlite("age < 5000").0,
        "h.head_birth_date = h.head_birth_date"
    );
}

#[test]
fn related_rows_become_exists() {
    assert_eq!(
        sqlite("member_age < 5 AND NOT member_disabled = true"),
        (
            "(EXISTS (SELECT 1 FROM member m WHERE m.household_id = h.id AND m.birth_date > ?1) AND NOT (EXISTS (SELECT 1 FROM member m WHERE m.household_id = h.id AND m.disabled = ?2)))".into(),
            vec![Value::Date(date!(2020 - 06 - 15)), Value::Bool(true)]
        )
    );
}

#[test]
fn empty_logical_nodes_are_constants() {
    let empty_in = Expr::In {
        attr: attr("uin"),
        values: vec![],
    };
    assert_eq!(
        lower(&Expr::And(vec![]), Dialect::Sqlite, TODAY, 1).sql,
        "(1 = 1)"
    );
    assert_eq!(
        lower(&Expr::Or(vec![]), Dialect::Sqlite, TODAY, 1).sql,
        "(1 = 0)"
    );
    assert_eq!(lower(&empty_in, Dialect::Postgres, TODAY, 1).sql, "(1 = 0)");
}

#[test]
fn postgres_placeholders_carry_their_type() {
    let expr = parse_text(
        "registration_date >= '2024-01-01' AND active = true AND age IN [3] AND uin != '1'",
        &GROUP,
    )
    .unwrap();
    assert_eq!(
        lower(&expr, Dialect::Postgres, TODAY, 1).sql,
        "(h.registration_date >= $1::date AND h.active = $2::boolean AND ((h.head_birth_date <= $3::date AND h.head_birth_date > $4::date)) AND h.uin <> $5::text)"
    );
}

#[test]
fn order_by_each_column_kind() {
    assert_eq!(
        order_by(attr("poverty_score"), false).unwrap(),
        "h.poverty_score ASC NULLS LAST"
    );
    assert_eq!(
        order_by(attr("poverty_score"), true).unwrap(),
        "h.poverty_score DESC NULLS LAST"
    );
    assert_eq!(
        order_by(attr("age"), false).unwrap(),
        "h.head_birth_date DESC NULLS LAST"
    );
    assert_eq!(
        order_by(attr("age"), true).unwrap(),
        "h.head_birth_date ASC NULLS LAST"
    );
    let error = order_by(attr("location"), false).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotSortable);
    assert_eq!(
        error.message,
        "attribute 'location' cannot be used to sort: it can have several values per record"
    );
    assert_eq!(
        order_by(attr("member_age"), true).unwrap_err().kind,
        ErrorKind::NotSortable
    );
}

#[test]
fn order_by_age_runs_oldest_first_when_descending() {
    let born = [
        date!(2000 - 01 - 01),
        date!(1950 - 01 - 01),
        date!(1990 - 01 - 01),
    ];
    let households: Vec<Household> = born
        .iter()
        .map(|&birth| Household {
            head_birth_date: Some(birth),
            ..Household::default()
        })
        .chain([Household::default()])
        .collect();
    let conn = load(&households);
    let sql = format!(
        "SELECT id FROM household h ORDER BY {}",
        order_by(attr("age"), true).unwrap()
    );
    let ids: Vec<i64> = conn
        .prepare(&sql)
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, vec![2, 3, 1, 4]);
}

/// Birthdays around Feb 29, asked on days around Feb 29, in SQLite and in the evaluator.
#[test]
fn leap_day_birthdays_in_sqlite() {
    let born = [
        date!(2020 - 02 - 28),
        date!(2020 - 02 - 29),
        date!(2020 - 03 - 01),
        date!(2021 - 02 - 28),
        date!(2021 - 03 - 01),
    ];
    let households: Vec<Household> = born
        .iter()
        .map(|&birth| Household {
            head_birth_date: Some(birth),
            members: vec![Member {
                birth_date: Some(birth),
                disabled: None,
            }],
            ..Household::default()
        })
        .chain([Household::default()])
        .collect();
    let conn = load(&households);
    let ids = |slice: &[i64]| slice.iter().copied().collect::<BTreeSet<i64>>();
    // (today, query, households whose head matches, households with a member who matches)
    let cases: [(Date, &str, &[i64], &[i64]); 8] = [
        // Feb 28 2025: the Feb 29 2020 child has not turned 5 yet (Mar 1 in common years).
        (date!(2025 - 02 - 28), "age >= 5", &[1], &[1]),
        (date!(2025 - 03 - 01), "age >= 5", &[1, 2, 3], &[1, 2, 3]),
        (date!(2024 - 02 - 29), "age = 4", &[1, 2], &[1, 2]),
        (date!(2024 - 02 - 29), "age = 3", &[3, 4], &[3, 4]),
        (date!(2024 - 02 - 28), "age = 3", &[2, 3, 4], &[2, 3, 4]),
        (date!(2024 - 02 - 28), "age < 3", &[5], &[5]),
        (
            date!(2025 - 02 - 28),
            "age BETWEEN 4 AND 4",
            &[2, 3, 4],
            &[2, 3, 4],
        ),
        // Without a birth date the head's age is unknown, negated too; but a household
        // without members has no member aged 3 or 5, so NOT EXISTS holds for it.
        (
            date!(2025 - 02 - 28),
            "NOT age IN [3, 5]",
            &[2, 3, 4],
            &[2, 3, 4, 6],
        ),
    ];
    for (today, source, heads, members) in cases {
        let expr = parse_text(source, &GROUP).unwrap();
        assert_eq!(
            select(&conn, &expr, today),
            ids(heads),
            "{source} on {today}"
        );
        assert_eq!(
            matching(&households, &expr, today),
            ids(heads),
            "{source} on {today} (evaluator)"
        );
        let expr = parse_text(&source.replacen("age", "member_age", 1), &GROUP).unwrap();
        assert_eq!(
            select(&conn, &expr, today),
            ids(members),
            "member {source} on {today}"
        );
        assert_eq!(
            matching(&households, &expr, today),
            ids(members),
            "member {source} on {today} (evaluator)"
        );
    }
}

#[test]
fn null_comparisons_match_nothing_even_negated() {
    let households = vec![
        Household {
            group_size: Some(3),
            ..Household::default()
        },
        Household::default(),
    ];
    let conn = load(&households);
    for source in [
        "group_size != 4",
        "NOT group_size = 4",
        "group_size NOT IN [4]",
        "NOT group_size > 10",
    ] {
        let expr = parse_text(source, &GROUP).unwrap();
        let expected = BTreeSet::from([1]);
        assert_eq!(select(&conn, &expr, TODAY), expected, "{source}");
        assert_eq!(matching(&households, &expr, TODAY), expected, "{source}");
    }
    // OR with a true branch is true even when the other branch is unknown; AND is not.
    let either = Expr::Or(vec![
        cmp("group_size", Op::Eq, Value::Integer(3)),
        cmp("uin", Op::Ne, text("x")),
    ]);
    assert_eq!(select(&conn, &either, TODAY), BTreeSet::from([1]));
    assert_eq!(matching(&households, &either, TODAY), BTreeSet::from([1]));
    let both = Expr::And(vec![
        cmp("group_size", Op::Eq, Value::Integer(3)),
        cmp("uin", Op::Ne, text("x")),
    ]);
    assert_eq!(select(&conn, &both, TODAY), BTreeSet::new());
    assert_eq!(evaluate(&both, &households[0], TODAY), None);
    let negated = Expr::Not(Box::new(both));
    assert_eq!(evaluate(&negated, &households[0], TODAY), None);
    assert_eq!(select(&conn, &negated, TODAY), BTreeSet::new());
}
