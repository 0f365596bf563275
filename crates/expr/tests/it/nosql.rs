use expr::{ErrorKind, Expr, MAX_COMPARISONS, MAX_DEPTH, Op, Value, parse_nosql};
use serde_json::json;
use time::macros::date;

use crate::schema::{GROUP, attr, cmp, text};

fn parse(doc: serde_json::Value) -> Expr<'static> {
    parse_nosql(&doc, &GROUP).unwrap_or_else(|error| panic!("{doc}: {error}"))
}

/// Children of AND/OR sorted, because JSON object key order depends on serde_json's features.
fn sorted(expr: Expr<'static>) -> Expr<'static> {
    let sort = |children: Vec<Expr<'static>>| {
        let mut children: Vec<_> = children.into_iter().map(sorted).collect();
        children.sort_by_key(|child| format!("{child:?}"));
        children
    };
    match expr {
        Expr::And(children) => Expr::And(sort(children)),
        Expr::Or(children) => Expr::Or(sort(children)),
        Expr::Not(inner) => Expr::Not(Box::new(sorted(*inner))),
        atom => atom,
    }
}

fn error(doc: serde_json::Value) -> (ErrorKind, String) {
    let error = parse_nosql(&doc, &GROUP).expect_err("should be rejected");
    (error.kind, error.message)
}

#[test]
fn social_registry_sample_with_collection_wrapper() {
    let doc = json!({"collection":"Group","query":{"$and":[{"poverty_score":{"$lt":5}},{"location":{"$eq":"central_region"}},{"group_size":{"$lt":5}}]}});
    assert_eq!(
        parse(doc),
        Expr::And(vec![
            cmp("poverty_score", Op::Lt, Value::Float(5.0)),
            cmp("location", Op::Eq, text("central_region")),
            cmp("group_size", Op::Lt, Value::Integer(5)),
        ])
    );
}

#[test]
fn household_size_alias_from_social_sample() {
    let doc = json!({"collection":"HouseHold","query":{"$and":[{"household_size":{"$lt":5}}]}});
    assert_eq!(parse(doc), cmp("group_size", Op::Lt, Value::Integer(5)));
}

#[test]
fn female_widows_sample_normalizes_code_labels() {
    let doc = json!({"query":{"$and":[{"demographic_info.person.sex":{"$eq":"female"}},{"gender":{"$eq":"F"}}]}});
    assert_eq!(
        parse(doc),
        Expr::And(vec![
            cmp("sex", Op::Eq, text("female")),
            cmp("sex", Op::Eq, text("female")),
        ])
    );
}

#[test]
fn disability_registry_sample_maps_label_to_code() {
    let doc = json!({"query":{"$and":[{"disability_status":{"$eq":"Approved"}},{"location":{"$eq":"central_region"}}]}});
    assert_eq!(
        parse(doc),
        Expr::And(vec![
            cmp("disability_status", Op::Eq, text("0")),
            cmp("location", Op::Eq, text("central_region")),
        ])
    );
}

#[test]
fn date_time_operand_keeps_its_calendar_date() {
    let doc = json!({"collection":"DRPerson","query":{"$and":[{"member.demographic_info.birth_date":{"$gt":"1950-08-18T00:00:00Z"}},{"disability_status":{"$eq":"Approved"}}]}});
    assert_eq!(
        parse(doc),
        Expr::And(vec![
            cmp("birth_date", Op::Gt, Value::Date(date!(1950 - 08 - 18))),
            cmp("disability_status", Op::Eq, text("0")),
        ])
    );
}

#[test]
fn criteria_map_without_dollar() {
    let doc = json!({"uin": {"eq": 847951632}, "group_size": {"ge": "3", "lte": 6}});
    assert_eq!(
        sorted(parse(doc)),
        sorted(Expr::And(vec![
            cmp("uin", Op::Eq, text("847951632")),
            Expr::And(vec![
                cmp("group_size", Op::Ge, Value::Integer(3)),
                cmp("group_size", Op::Le, Value::Integer(6)),
            ]),
        ]))
    );
}

#[test]
fn scalar_is_equality_and_fields_are_anded() {
    let doc = json!({"active": 1, "sex": "m"});
    assert_eq!(
        sorted(parse(doc)),
        sorted(Expr::And(vec![
            cmp("active", Op::Eq, Value::Bool(true)),
            cmp("sex", Op::Eq, text("male")),
        ]))
    );
}

#[test]
fn or_nor_not_in_nin() {
    let doc = json!({"$or": [
        {"group_size": {"$in": [1, 2]}},
        {"$nor": [{"sex": "male"}, {"active": false}]},
        {"poverty_score": {"$not": {"$gte": 2.5}}},
        {"location": {"$nin": ["north"]}}
    ]});
    assert_eq!(
        parse(doc),
        Expr::Or(vec![
            Expr::In {
                attr: attr("group_size"),
                values: vec![Value::Integer(1), Value::Integer(2)]
            },
            Expr::Not(Box::new(Expr::Or(vec![
                cmp("sex", Op::Eq, text("male")),
                cmp("active", Op::Eq, Value::Bool(false)),
            ]))),
            Expr::Not(Box::new(cmp("poverty_score", Op::Ge, Value::Float(2.5)))),
            Expr::Not(Box::new(Expr::In {
                attr: attr("location"),
                values: vec![text("north")]
            })),
        ])
    );
}

#[test]
fn attribute_names_are_case_insensitive() {
    assert_eq!(parse(json!({"UIN": "1"})), cmp("uin", Op::Eq, text("1")));
}

#[test]
fn unknown_operator() {
    assert_eq!(
        error(json!({"uin": {"$regex": "^84"}})),
        (
            ErrorKind::UnknownOperator,
            "unknown operator '$regex' for attribute 'uin' (known: $eq, $ne, $lt, $lte, $gt, $gte, $in, $nin, $not)".into()
        )
    );
    assert_eq!(error(json!({"$where": "1"})).0, ErrorKind::UnknownOperator);
}

#[test]
fn unknown_attribute_lists_the_known_ones() {
    assert_eq!(
        error(json!({"YOB": {"$eq": 1950}})),
        (
            ErrorKind::UnknownAttribute,
            "unknown attribute 'YOB' (known: uin, poverty_score, group_size, registration_date, active, sex, disability_status, birth_date, age, location, member_age, member_disabled)".into()
        )
    );
}

#[test]
fn wrong_operand_types() {
    assert_eq!(
        error(json!({"group_size": {"$lt": "five"}})),
        (
            ErrorKind::WrongOperandType,
            "attribute 'group_size' expects an integer, got string \"five\"".into()
        )
    );
    assert_eq!(
        error(json!({"group_size": 2.5})).1,
        "attribute 'group_size' expects an integer, got number 2.5"
    );
    assert_eq!(
        error(json!({"birth_date": "18/08/1950"})).1,
        "attribute 'birth_date' expects a date (YYYY-MM-DD), got string \"18/08/1950\""
    );
    assert_eq!(
        error(json!({"active": "yes"})).1,
        "attribute 'active' expects true or false, got string \"yes\""
    );
    assert_eq!(
        error(json!({"uin": true})).1,
        "attribute 'uin' expects text, got true"
    );
    assert_eq!(
        error(json!({"uin": null})).1,
        "attribute 'uin' expects text, got null"
    );
    assert_eq!(
        error(json!({"uin": ["1", "2"]})).1,
        "attribute 'uin' got a list; use $in to match any of several values"
    );
    assert_eq!(
        error(json!({"uin": {"$in": "1"}})).1,
        "'$in' on attribute 'uin' takes a list of values, got string \"1\""
    );
    assert_eq!(
        error(json!({"poverty_score": "NaN"})).0,
        ErrorKind::WrongOperandType
    );
}

#[test]
fn unknown_code_lists_the_valid_codes() {
    assert_eq!(
        error(json!({"disability_status": {"$eq": "Rejected"}})),
        (
            ErrorKind::UnknownCode,
            "'Rejected' is not a code of DisabilityStatusEnum for attribute 'disability_status' (valid: 0, 1, 2)".into()
        )
    );
}

#[test]
fn ordering_operators_do_not_apply_to_codes() {
    assert_eq!(
        error(json!({"sex": {"$lt": "male"}})),
        (
            ErrorKind::UnknownOperator,
            "operator '<' does not apply to attribute 'sex' (a code of SexCategoryEnum); use =, != or in".into()
        )
    );
}

#[test]
fn empty_shapes_are_syntax_errors() {
    assert_eq!(
        error(json!({"$and": []})),
        (ErrorKind::Syntax, "'$and' has an empty array".into())
    );
    assert_eq!(
        error(json!({"uin": {"$in": []}})),
        (
            ErrorKind::Syntax,
            "empty list of values for attribute 'uin'".into()
        )
    );
    assert_eq!(
        error(json!({})),
        (ErrorKind::Syntax, "empty query object".into())
    );
    assert_eq!(
        error(json!({"uin": {}})),
        (
            ErrorKind::Syntax,
            "empty operator object for attribute 'uin'".into()
        )
    );
    assert_eq!(
        error(json!("uin = 1")),
        (
            ErrorKind::Syntax,
            "expected a query object like {\"field\": value}, found string \"uin = 1\"".into()
        )
    );
    assert_eq!(
        error(json!({"$or": {"uin": "1"}})),
        (
            ErrorKind::Syntax,
            "'$or' takes an array of query objects".into()
        )
    );
    assert_eq!(
        error(json!({"uin": {"$not": "1"}})),
        (
            ErrorKind::Syntax,
            "'$not' on attribute 'uin' takes an operator object like {\"$gt\": 5}".into()
        )
    );
}

#[test]
fn deep_nesting_is_rejected_not_a_stack_overflow() {
    let mut doc = json!({"uin": "1"});
    for _ in 0..MAX_DEPTH + 5 {
        doc = json!({"$and": [doc]});
    }
    assert_eq!(
        error(doc),
        (
            ErrorKind::Syntax,
            format!("query nested deeper than {MAX_DEPTH} levels")
        )
    );
    let mut ok = json!({"uin": "1"});
    for _ in 0..MAX_DEPTH - 1 {
        ok = json!({"$and": [ok]});
    }
    assert!(parse_nosql(&ok, &GROUP).is_ok());
}

#[test]
fn too_many_comparisons_are_rejected() {
    let many: Vec<_> = (0..=MAX_COMPARISONS)
        .map(|i| json!({"group_size": i}))
        .collect();
    assert_eq!(
        error(json!({"$or": many})),
        (
            ErrorKind::Syntax,
            format!("query has more than {MAX_COMPARISONS} comparisons")
        )
    );
    let enough: Vec<_> = (0..MAX_COMPARISONS)
        .map(|i| json!({"group_size": i}))
        .collect();
    assert!(parse_nosql(&json!({"$or": enough}), &GROUP).is_ok());
}
