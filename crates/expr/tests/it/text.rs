use expr::{ErrorKind, Expr, MAX_COMPARISONS, MAX_DEPTH, Op, Value, parse_text};
use time::macros::date;

use crate::schema::{GROUP, attr, cmp, text};

fn parse(source: &str) -> Expr<'static> {
    parse_text(source, &GROUP).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn error(source: &str) -> (ErrorKind, String) {
    let error = parse_text(source, &GROUP).expect_err("should be rejected");
    (error.kind, error.message)
}

#[test]
fn comparison_of_each_type() {
    assert_eq!(
        parse("uin = 847951632"),
        cmp("uin", Op::Eq, text("847951632"))
    );
    assert_eq!(
        parse("poverty_score <= 2.5"),
        cmp("poverty_score", Op::Le, Value::Float(2.5))
    );
    assert_eq!(
        parse("group_size != -1"),
        cmp("group_size", Op::Ne, Value::Integer(-1))
    );
    assert_eq!(
        parse("registration_date >= '2024-01-31'"),
        cmp(
            "registration_date",
            Op::Ge,
            Value::Date(date!(2024 - 01 - 31))
        )
    );
    assert_eq!(
        parse("active == TRUE"),
        cmp("active", Op::Eq, Value::Bool(true))
    );
    assert_eq!(
        parse("demographic_info.person.sex = \"Female\""),
        cmp("sex", Op::Eq, text("female"))
    );
    assert_eq!(
        parse("area-code = 'KE-01'"),
        cmp("location", Op::Eq, text("KE-01"))
    );
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    let a = || cmp("age", Op::Ge, Value::Integer(60));
    let b = || cmp("sex", Op::Eq, text("female"));
    let c = || cmp("active", Op::Eq, Value::Bool(true));
    assert_eq!(
        parse("age >= 60 or sex = 'f' AND active = true"),
        Expr::Or(vec![a(), Expr::And(vec![b(), c()])])
    );
    assert_eq!(
        parse("NOT age >= 60 AND sex = 'f'"),
        Expr::And(vec![Expr::Not(Box::new(a())), b()])
    );
    assert_eq!(
        parse("not (age >= 60 OR sex = 'f') and active = true"),
        Expr::And(vec![Expr::Not(Box::new(Expr::Or(vec![a(), b()]))), c()])
    );
    assert_eq!(
        parse("(age >= 60 AND sex = 'f') AND active = true"),
        Expr::And(vec![Expr::And(vec![a(), b()]), c()])
    );
}

#[test]
fn in_not_in_and_between() {
    assert_eq!(
        parse("location IN ['north', \"south\"]"),
        Expr::In {
            attr: attr("location"),
            values: vec![text("north"), text("south")]
        }
    );
    assert_eq!(
        parse("disability_status not in ['Approved', 2]"),
        Expr::Not(Box::new(Expr::In {
            attr: attr("disability_status"),
            values: vec![text("0"), text("2")]
        }))
    );
    assert_eq!(
        parse("age BETWEEN 18 and 59"),
        Expr::And(vec![
            cmp("age", Op::Ge, Value::Integer(18)),
            cmp("age", Op::Le, Value::Integer(59)),
        ])
    );
}

#[test]
fn strings_take_escapes_and_either_quote() {
    assert_eq!(
        parse(r#"uin = "a\"b\\c\n""#),
        cmp("uin", Op::Eq, text("a\"b\\c\n"))
    );
    assert_eq!(parse(r"uin = 'it\'s'"), cmp("uin", Op::Eq, text("it's")));
    assert_eq!(
        parse("uin = 'say \"hi\"'"),
        cmp("uin", Op::Eq, text("say \"hi\""))
    );
}

#[test]
fn display_prints_the_text_form() {
    let expr = parse(
        "NOT (age >= 60 OR sex = 'f') AND location NOT IN ['a\"b'] AND registration_date < '2020-01-01'",
    );
    assert_eq!(
        expr.to_string(),
        r#"NOT (age >= 60 OR sex = "female") AND location NOT IN ["a\"b"] AND registration_date < "2020-01-01""#
    );
    assert_eq!(parse(&expr.to_string()), expr);
}

#[test]
fn syntax_errors_say_where() {
    let cases = [
        (
            "age >",
            "expected a value (a quoted string, a number, true or false), found the end of the query at column 6",
        ),
        (
            "age >= 60 AND",
            "expected an attribute name or '(', found the end of the query at column 14",
        ),
        (
            "sex = female",
            "expected a value (a quoted string, a number, true or false), found 'female' at column 7",
        ),
        (
            "age 60",
            "expected an operator (=, !=, <, <=, >, >=, IN, NOT IN, BETWEEN) after 'age', found number 60 at column 5",
        ),
        (
            "(age > 1",
            "expected ')', found the end of the query at column 9",
        ),
        (
            "age > 1)",
            "expected AND, OR or the end of the query, found ')' at column 8",
        ),
        ("uin = 'open", "unterminated string at column 7"),
        ("uin = 'a\\q'", "unknown escape '\\q' at column 9"),
        ("age ! 1", "expected '!=', found '!' at column 5"),
        (
            "age = 1 & sex = 'm'",
            "unexpected character '&' at column 9",
        ),
        (
            "age = 12abc",
            "expected a space or operator after a number at column 9",
        ),
        ("location. = 'x'", "expected a name after '.' at column 10"),
        (
            "location IN []",
            "expected a value (lists cannot be empty), found ']' at column 14",
        ),
        (
            "location IN 'x'",
            "expected '[' to start a list of values, found string \"x\" at column 13",
        ),
        (
            "location NOT 'x'",
            "expected IN after NOT, found string \"x\" at column 14",
        ),
        (
            "age BETWEEN 1 OR 2",
            "expected AND in BETWEEN ... AND ..., found 'OR' at column 15",
        ),
        (
            "age = 1 AND\n  OR",
            "expected an attribute name or '(', found 'OR' at line 2, column 3",
        ),
        (
            "",
            "expected an attribute name or '(', found the end of the query at column 1",
        ),
    ];
    for (source, message) in cases {
        assert_eq!(
            error(source),
            (ErrorKind::Syntax, message.to_owned()),
            "{source}"
        );
    }
}

#[test]
fn semantic_errors_say_where() {
    assert_eq!(
        error("age > 1 AND YOB = 1950"),
        (
            ErrorKind::UnknownAttribute,
            "unknown attribute 'YOB' (known: uin, poverty_score, group_size, registration_date, active, sex, disability_status, birth_date, age, location, member_age, member_disabled) at column 13".into()
        )
    );
    assert_eq!(
        error("group_size = 'many'"),
        (
            ErrorKind::WrongOperandType,
            "attribute 'group_size' expects an integer, got string \"many\" at column 14".into()
        )
    );
    assert_eq!(
        error("sex IN ['m', 'x']"),
        (
            ErrorKind::UnknownCode,
            "'x' is not a code of SexCategoryEnum for attribute 'sex' (valid: male, female, other, unknown) at column 14".into()
        )
    );
    assert_eq!(
        error("uin > '5'"),
        (
            ErrorKind::UnknownOperator,
            "operator '>' does not apply to attribute 'uin' (text); use =, != or in at column 7"
                .into()
        )
    );
    assert_eq!(
        error("poverty_score = 1e999").0,
        ErrorKind::WrongOperandType
    );
}

#[test]
fn hostile_nesting_and_size_are_syntax_errors() {
    let nots = format!("{}age = 1", "NOT ".repeat(10_000));
    assert_eq!(
        error(&nots).1,
        format!("query nested deeper than {MAX_DEPTH} levels at column 129")
    );
    let parens = format!("{}age = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(error(&parens).0, ErrorKind::Syntax);
    let ok = format!(
        "{}age = 1{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert!(parse_text(&ok, &GROUP).is_ok());
    let long = vec!["age = 1"; MAX_COMPARISONS + 1].join(" OR ");
    assert_eq!(
        error(&long).1,
        // Reported at the value of the first comparison too many.
        format!(
            "query has more than {MAX_COMPARISONS} comparisons at column {}",
            MAX_COMPARISONS * "age = 1 OR ".len() + "age = 1".len()
        )
    );
}

#[test]
fn dates_relative_to_today_are_the_dates_they_name() {
    let on = |source: &str, today| {
        expr::parse_text_on(source, &GROUP, today).unwrap_or_else(|e| panic!("{source}: {e}"))
    };
    let day = |source: &str, today| match on(source, today) {
        Expr::Compare {
            value: Value::Date(date),
            ..
        } => date,
        other => panic!("{source}: {other:?}"),
    };
    let today = date!(2025 - 03 - 31);
    let leap = date!(2024 - 02 - 29);
    for (relative, on_day, expected) in [
        ("today", today, today),
        ("today - 30 days", today, date!(2025 - 03 - 01)),
        ("today + 1 day", today, date!(2025 - 04 - 01)),
        // A month step that lands past the month's end takes its last day.
        ("today - 1 month", today, date!(2025 - 02 - 28)),
        ("TODAY -6 MONTHS", today, date!(2024 - 09 - 30)),
        ("today - 2 years", leap, date!(2022 - 02 - 28)),
    ] {
        let source = format!("registration_date >= {relative}");
        assert_eq!(day(&source, on_day), expected, "{source}");
    }
    assert_eq!(
        on("registration_date BETWEEN today - 1 year AND today", today).to_string(),
        r#"registration_date >= "2024-03-31" AND registration_date <= "2025-03-31""#
    );
}

#[test]
fn relative_dates_need_a_day_a_count_and_a_unit() {
    // Without a day, `today` is no value.
    assert_eq!(
        error("registration_date = today").1,
        "expected a value (a quoted string, a number, true or false), found 'today' at column 21"
    );
    let today = date!(2025 - 03 - 31);
    let error_on = |source: &str| {
        expr::parse_text_on(source, &GROUP, today)
            .expect_err("should be rejected")
            .message
    };
    assert_eq!(
        error_on("registration_date = today - weeks"),
        "expected a whole number of days, months or years, found 'weeks' at column 29"
    );
    assert_eq!(
        error_on("registration_date = today - 2 weeks"),
        "expected days, months or years, found 'weeks' at column 31"
    );
    assert_eq!(
        error_on("registration_date = today - 99999999 years"),
        "the date is out of range at column 29"
    );
    assert_eq!(
        error_on("group_size = today").split(" at ").next(),
        Some("attribute 'group_size' expects an integer, got string \"2025-03-31\"")
    );
}
