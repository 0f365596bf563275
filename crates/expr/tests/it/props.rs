//! Properties: SQL and the evaluator agree; Display round-trips through the text parser;
//! no input makes a parser panic.

use expr::{
    AttrType, Attribute, Column, Expr, Op, Value, parse_nosql, parse_predicates, parse_text,
};
use proptest::prelude::*;
use proptest::sample::select;
use time::{Date, Duration, Month};

use crate::db::{Household, Member, load, matching, select as select_ids};
use crate::schema::GROUP;

const OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

fn opt<T: std::fmt::Debug + Clone>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    // One value in four is NULL.
    prop_oneof![1 => Just(None), 3 => value.prop_map(Some)]
}

fn days_around(base: Date, days: i64) -> impl Strategy<Value = Date> {
    (-days..=days).prop_map(move |offset| base + Duration::days(offset))
}

/// Days near Feb 29, and dates at whole years before them, so that ages hit every boundary.
fn today() -> impl Strategy<Value = Date> {
    select(vec![
        Date::from_calendar_date(2024, Month::February, 28).unwrap(),
        Date::from_calendar_date(2024, Month::February, 29).unwrap(),
        Date::from_calendar_date(2024, Month::March, 1).unwrap(),
        Date::from_calendar_date(2025, Month::February, 28).unwrap(),
        Date::from_calendar_date(2025, Month::March, 1).unwrap(),
        Date::from_calendar_date(2025, Month::December, 31).unwrap(),
    ])
}

fn birth_date() -> impl Strategy<Value = Date> {
    let anchors = vec![(2, 27), (2, 28), (2, 29), (3, 1), (12, 31), (1, 1), (6, 15)];
    (2012..=2026i32, select(anchors)).prop_map(|(year, (month, day))| {
        let month = Month::try_from(month).unwrap();
        let day = day.min(time::util::days_in_month(month, year));
        Date::from_calendar_date(year, month, day).unwrap()
    })
}

fn registration_date() -> impl Strategy<Value = Date> {
    days_around(
        Date::from_calendar_date(2024, Month::February, 29).unwrap(),
        3,
    )
}

fn words() -> impl Strategy<Value = String> {
    select(vec!["north", "south", "central_region", "a'b"]).prop_map(str::to_owned)
}

fn household() -> impl Strategy<Value = Household> {
    let member =
        (opt(birth_date()), opt(any::<bool>())).prop_map(|(birth_date, disabled)| Member {
            birth_date,
            disabled,
        });
    (
        (
            opt(select(vec!["1", "2", "10"]).prop_map(str::to_owned)),
            opt(select(vec![-1.0, 0.0, 0.5, 2.5, 4.0])),
            opt(-1..=5i64),
            opt(registration_date()),
            opt(any::<bool>()),
        ),
        (
            opt(select(vec!["male", "female", "other"]).prop_map(str::to_owned)),
            opt(select(vec!["0", "1", "2"]).prop_map(str::to_owned)),
            opt(birth_date()),
            opt(words()),
            opt(words()),
            prop::collection::vec(member, 0..3),
        ),
    )
        .prop_map(
            |(
                (uin, poverty_score, group_size, registration_date, active),
                (head_sex, disability_status, head_birth_date, region, district, members),
            )| Household {
                uin,
                poverty_score,
                group_size,
                registration_date,
                active,
                head_sex,
                disability_status,
                head_birth_date,
                region,
                district,
                members,
            },
        )
}

/// Operands drawn from the same small domains as the rows, so that comparisons often hit.
fn row_value(attr: &'static Attribute) -> BoxedStrategy<Value> {
    match (attr.ty, &attr.column) {
        (AttrType::Integer, Column::AgeFrom(_) | Column::Exists { .. }) => {
            (-1..=15i64).prop_map(Value::Integer).boxed()
        }
        (AttrType::Integer, _) => (-2..=6i64).prop_map(Value::Integer).boxed(),
        (AttrType::Float, _) => select(vec![-1.0, 0.0, 0.25, 0.5, 2.5, 4.0, 5.0])
            .prop_map(Value::Float)
            .boxed(),
        (AttrType::Date, Column::Direct("h.head_birth_date")) => {
            birth_date().prop_map(Value::Date).boxed()
        }
        (AttrType::Date, _) => registration_date().prop_map(Value::Date).boxed(),
        (AttrType::Bool, _) => any::<bool>().prop_map(Value::Bool).boxed(),
        (AttrType::Code(set), _) => {
            select(set.codes.iter().map(|(code, _)| *code).collect::<Vec<_>>())
                .prop_map(|code| Value::Text(code.to_owned()))
                .boxed()
        }
        (AttrType::Text, Column::AnyOf(_)) => words().prop_map(Value::Text).boxed(),
        (AttrType::Text, _) => select(vec!["1", "2", "10", "3"])
            .prop_map(|s| Value::Text(s.to_owned()))
            .boxed(),
    }
}

/// Any operand a parser could produce for the attribute.
fn wide_value(attr: &'static Attribute) -> BoxedStrategy<Value> {
    match attr.ty {
        AttrType::Text => any::<String>().prop_map(Value::Text).boxed(),
        AttrType::Integer => any::<i64>().prop_map(Value::Integer).boxed(),
        AttrType::Float => any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::Float)
            .boxed(),
        AttrType::Date => (1..=9999i32, 1..=366u16)
            .prop_map(|(year, day)| {
                let day = day.min(time::util::days_in_year(year));
                Value::Date(Date::from_ordinal_date(year, day).unwrap())
            })
            .boxed(),
        AttrType::Bool | AttrType::Code(_) => row_value(attr),
    }
}

fn atom(
    values: fn(&'static Attribute) -> BoxedStrategy<Value>,
) -> impl Strategy<Value = Expr<'static>> {
    select(GROUP.attributes.iter().collect::<Vec<_>>()).prop_flat_map(move |attr| {
        let ops: Vec<Op> = if attr.is_ordered() {
            OPS.to_vec()
        } else {
            vec![Op::Eq, Op::Ne]
        };
        prop_oneof![
            3 => (select(ops), values(attr)).prop_map(move |(op, value)| Expr::Compare { attr, op, value }),
            1 => prop::collection::vec(values(attr), 1..4).prop_map(move |values| Expr::In { attr, values }),
        ]
    })
}

/// Expressions of depth at most 4, whose AND/OR have two or more children as parsed ones do.
fn expression(
    values: fn(&'static Attribute) -> BoxedStrategy<Value>,
) -> impl Strategy<Value = Expr<'static>> {
    atom(values).prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|expr| Expr::Not(Box::new(expr))),
        ]
    })
}

proptest! {
    #[test]
    fn sqlite_selects_exactly_what_the_evaluator_matches(
        households in prop::collection::vec(household(), 1..12),
        expr in expression(row_value),
        today in today(),
    ) {
        let conn = load(&households);
        prop_assert_eq!(select_ids(&conn, &expr, today), matching(&households, &expr, today), "{}", expr);
    }

    #[test]
    fn display_parses_back_to_the_same_expression(expr in expression(wide_value)) {
        let text = expr.to_string();
        let parsed = parse_text(&text, &GROUP);
        prop_assert_eq!(parsed.as_ref(), Ok(&expr), "{}", text);
    }

    #[test]
    fn text_parser_never_panics(text in "\\PC{0,80}") {
        let _ = parse_text(&text, &GROUP);
    }

    #[test]
    fn text_parser_never_panics_on_token_soup(tokens in prop::collection::vec(select(vec![
        "age", "uin", "location", "member_age", "birth_date", "AND", "OR", "NOT", "IN", "BETWEEN",
        "(", ")", "[", "]", ",", "=", "==", "!=", "<", "<=", ">", ">=", "!", "-", ".",
        "1", "-5", "2.5", "1e3", "true", "'x'", "\"2024-02-29\"", "'", "\"", "\\", "é", "\n",
    ]), 0..30)) {
        let text = tokens.join(" ");
        let _ = parse_text(&text, &GROUP);
        let _ = parse_text(&tokens.concat(), &GROUP);
    }

    #[test]
    fn json_parsers_never_panic(doc in json()) {
        let _ = parse_nosql(&doc, &GROUP);
        let _ = parse_predicates(&doc, &GROUP);
    }
}

/// JSON shaped like queries: keys drawn from operators, attributes and predicate fields.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as Json;
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        select(vec![
            "",
            "1",
            "2.5",
            "male",
            "Approved",
            "2024-02-29",
            "1950-08-18T00:00:00Z",
            "and",
            "not",
            "in"
        ])
        .prop_map(Json::from),
        "\\PC{0,8}".prop_map(Json::from),
    ];
    let keys = select(vec![
        "$and",
        "$or",
        "$nor",
        "$not",
        "$eq",
        "$ne",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$in",
        "$nin",
        "$regex",
        "eq",
        "ge",
        "le",
        "in",
        "query",
        "collection",
        "uin",
        "age",
        "poverty_score",
        "birth_date",
        "sex",
        "active",
        "location",
        "member_age",
        "seq_num",
        "expression1",
        "expression2",
        "condition",
        "attribute_name",
        "operator",
        "attribute_value",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|entries| Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            )),
        ]
    })
}
