use expr::{ErrorKind, Expr, Op, Value, parse_predicates};
use serde_json::json;

use crate::schema::{GROUP, attr, cmp, text};

fn parse(list: serde_json::Value) -> Expr<'static> {
    parse_predicates(&list, &GROUP).unwrap_or_else(|error| panic!("{list}: {error}"))
}

fn error(list: serde_json::Value) -> (ErrorKind, String) {
    let error = parse_predicates(&list, &GROUP).expect_err("should be rejected");
    (error.kind, error.message)
}

fn predicate(name: &str, operator: &str, value: serde_json::Value) -> serde_json::Value {
    json!({"attribute_name": name, "operator": operator, "attribute_value": value})
}

#[test]
fn crvs_sample_with_empty_strings() {
    let list = json!([{"seq_num":"","expression1":{"attribute_name":"UIN","operator":"eq","attribute_value":"847951632"},"condition":"","expression2":""}]);
    assert_eq!(parse(list), cmp("uin", Op::Eq, text("847951632")));
}

#[test]
fn uin_sent_as_a_number_keeps_its_digits() {
    let list = json!([{"expression1": predicate("uin", "eq", json!(847951632))}]);
    assert_eq!(parse(list), cmp("uin", Op::Eq, text("847951632")));
}

#[test]
fn single_element_and_bare_predicate_are_accepted() {
    let element = json!({"seq_num": 1, "expression1": predicate("group_size", "lt", json!(5)), "condition": null, "expression2": null});
    assert_eq!(parse(element), cmp("group_size", Op::Lt, Value::Integer(5)));
    // The IBR /sync/enrolled sample sends one ExpPredicate as the query.
    let bare = predicate("uin", "eq", json!("847951632"));
    assert_eq!(parse(bare), cmp("uin", Op::Eq, text("847951632")));
}

#[test]
fn conditions_combine_the_two_expressions() {
    let age = || predicate("age", "lt", json!(25));
    let score = || predicate("poverty_score", "le", json!("2.5"));
    let young = cmp("age", Op::Lt, Value::Integer(25));
    let poor = cmp("poverty_score", Op::Le, Value::Float(2.5));
    let with = |condition: &str| json!([{"expression1": age(), "condition": condition, "expression2": score()}]);
    assert_eq!(
        parse(with("and")),
        Expr::And(vec![young.clone(), poor.clone()])
    );
    assert_eq!(
        parse(with("OR")),
        Expr::Or(vec![young.clone(), poor.clone()])
    );
    assert_eq!(
        parse(with("not")),
        Expr::And(vec![young.clone(), Expr::Not(Box::new(poor.clone()))])
    );
    assert_eq!(
        parse(json!([{"expression1": age(), "condition": "not", "expression2": ""}])),
        Expr::Not(Box::new(young.clone()))
    );
    // A second expression without a condition is AND-ed, as elements are.
    assert_eq!(
        parse(json!([{"expression1": age(), "expression2": score()}])),
        Expr::And(vec![young, poor])
    );
}

#[test]
fn elements_are_anded_in_seq_num_order() {
    let list = json!([
        {"seq_num": "", "expression1": predicate("sex", "eq", json!("m"))},
        {"seq_num": 2, "expression1": predicate("poverty_score", "lt", json!(2.5))},
        {"seq_num": "1", "expression1": predicate("age", "lt", json!(25))},
    ]);
    assert_eq!(
        parse(list),
        Expr::And(vec![
            cmp("age", Op::Lt, Value::Integer(25)),
            cmp("poverty_score", Op::Lt, Value::Float(2.5)),
            cmp("sex", Op::Eq, text("male")),
        ])
    );
}

#[test]
fn in_takes_a_list() {
    let list =
        json!([{"expression1": predicate("disability_status", "in", json!(["Approved", 1]))}]);
    assert_eq!(
        parse(list),
        Expr::In {
            attr: attr("disability_status"),
            values: vec![text("0"), text("1")]
        }
    );
    assert_eq!(
        error(json!([{"expression1": predicate("uin", "in", json!("1"))}])),
        (
            ErrorKind::WrongOperandType,
            "predicate 1: operator 'in' on attribute 'uin' takes a list of values, got string \"1\"".into()
        )
    );
    assert_eq!(
        error(json!([{"expression1": predicate("uin", "in", json!([]))}])),
        (
            ErrorKind::Syntax,
            "predicate 1: empty list of values for attribute 'uin'".into()
        )
    );
}

#[test]
fn unknown_keys_are_rejected_rather_than_dropped() {
    let list = json!([{"expression1": predicate("age", "lt", json!(3)), "condition": "and", "expression2": predicate("sex", "eq", json!("m")), "expression3": predicate("uin", "eq", json!("1"))}]);
    assert_eq!(
        error(list),
        (
            ErrorKind::Syntax,
            "predicate 1: unknown key 'expression3' (expected seq_num, expression1, condition, expression2)".into()
        )
    );
}

#[test]
fn malformed_elements() {
    assert_eq!(
        error(json!([])),
        (ErrorKind::Syntax, "empty predicate list".into())
    );
    assert_eq!(
        error(json!("uin eq 1")),
        (
            ErrorKind::Syntax,
            "expected a predicate list (an array), found string \"uin eq 1\"".into()
        )
    );
    assert_eq!(
        error(json!([{"seq_num": 1, "expression1": "", "condition": ""}])),
        (
            ErrorKind::Syntax,
            "predicate 1: expression1 is missing".into()
        )
    );
    assert_eq!(
        error(json!([{"expression1": predicate("age", "lt", json!(3)), "condition": "and"}])),
        (
            ErrorKind::Syntax,
            "predicate 1: condition 'and' needs an expression2".into()
        )
    );
    assert_eq!(
        error(json!([{"seq_num": "first", "expression1": predicate("age", "lt", json!(3))}])),
        (
            ErrorKind::Syntax,
            "predicate 1: seq_num must be a number, found string \"first\"".into()
        )
    );
    assert_eq!(
        error(
            json!([{"expression1": predicate("age", "lt", json!(3)), "condition": "xor", "expression2": predicate("age", "gt", json!(1))}])
        ),
        (
            ErrorKind::UnknownOperator,
            "predicate 1: unknown condition string \"xor\" (known: and, or, not)".into()
        )
    );
    assert_eq!(
        error(json!([{"expression1": {"attribute_name": "age", "operator": "lt"}}])),
        (
            ErrorKind::Syntax,
            "predicate 1: attribute_value is missing".into()
        )
    );
}

#[test]
fn errors_name_the_element() {
    let ok = json!({"expression1": predicate("age", "lt", json!(3))});
    assert_eq!(
        error(json!([ok, {"expression1": predicate("name", "like", json!("A%"))}])),
        (
            ErrorKind::UnknownAttribute,
            "predicate 2: unknown attribute 'name' (known: uin, poverty_score, group_size, registration_date, active, sex, disability_status, birth_date, age, location, member_age, member_disabled)".into()
        )
    );
    assert_eq!(
        error(json!([ok, {"expression1": predicate("uin", "like", json!("A%"))}])),
        (
            ErrorKind::UnknownOperator,
            "predicate 2: unknown operator 'like' (known: eq, ne, lt, le, gt, ge, in)".into()
        )
    );
    assert_eq!(
        error(json!([{"expression1": predicate("sex", "eq", json!("x"))}])),
        (
            ErrorKind::UnknownCode,
            "predicate 1: 'x' is not a code of SexCategoryEnum for attribute 'sex' (valid: male, female, other, unknown)".into()
        )
    );
    assert_eq!(
        error(json!([{"expression1": predicate("age", "gt", json!("old"))}])),
        (
            ErrorKind::WrongOperandType,
            "predicate 1: attribute 'age' expects an integer, got string \"old\"".into()
        )
    );
}

#[test]
fn operators_spelled_lte_gte_ne() {
    let list = json!([
        {"expression1": predicate("group_size", "lte", json!(4)), "condition": "and", "expression2": predicate("group_size", "GTE", json!(2))},
        {"expression1": predicate("active", "ne", json!("0"))},
    ]);
    assert_eq!(
        parse(list),
        Expr::And(vec![
            Expr::And(vec![
                cmp("group_size", Op::Le, Value::Integer(4)),
                cmp("group_size", Op::Ge, Value::Integer(2)),
            ]),
            cmp("active", Op::Ne, Value::Bool(false)),
        ])
    );
}
