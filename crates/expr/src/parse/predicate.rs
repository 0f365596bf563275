//! DCI predicate lists (`ExpPredicateWithConditionList`).

use serde_json::{Map, Value as Json};

use super::{Builder, Operand};
use crate::ast::{Expr, Op};
use crate::error::{Error, ErrorKind};
use crate::schema::Schema;

const ELEMENT_KEYS: [&str; 4] = ["seq_num", "expression1", "condition", "expression2"];
const PREDICATE_KEYS: [&str; 3] = ["attribute_name", "operator", "attribute_value"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    And,
    Or,
    Not,
}

/// Parses a predicate list: an array (or one element alone) of
/// `{seq_num, expression1, condition, expression2}`, each element meaning
/// `expression1 [condition expression2]`, the elements AND-ed in `seq_num` order.
///
/// `""` and null count as absent for `seq_num`, `condition` and `expression2`. A bare
/// `{attribute_name, operator, attribute_value}` is accepted as an element (the IBR sample
/// sends one). Unknown keys are rejected, because ignoring one (the samples' `expression3`)
/// would silently widen the query.
pub fn parse_predicates<'s>(list: &Json, schema: &'s Schema) -> Result<Expr<'s>, Error> {
    let elements: Vec<&Json> = match list {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => vec![list],
        other => {
            return Err(Error::syntax(format!(
                "expected a predicate list (an array), found {}",
                Operand::from_json(other).describe()
            )));
        }
    };
    if elements.is_empty() {
        return Err(Error::syntax("empty predicate list"));
    }
    let mut builder = Builder::new(schema);
    let mut parsed = Vec::with_capacity(elements.len());
    for (i, element) in elements.into_iter().enumerate() {
        let (seq_num, expr) = element_expr(&mut builder, element).map_err(|mut error| {
            error.message = format!("predicate {}: {}", i + 1, error.message);
            error
        })?;
        parsed.push((seq_num, expr));
    }
    // Stable: elements without seq_num keep their order, after the numbered ones.
    parsed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (a, b) => a.is_none().cmp(&b.is_none()),
    });
    Ok(Expr::all(
        parsed.into_iter().map(|(_, expr)| expr).collect(),
    ))
}

fn element_expr<'s>(
    builder: &mut Builder<'s>,
    element: &Json,
) -> Result<(Option<f64>, Expr<'s>), Error> {
    let Some(map) = element.as_object() else {
        return Err(Error::syntax(format!(
            "expected an object, found {}",
            Operand::from_json(element).describe()
        )));
    };
    if map.contains_key("attribute_name") {
        return Ok((None, predicate(builder, element)?));
    }
    check_keys(map, &ELEMENT_KEYS)?;
    let seq_num = seq_num(present(map.get("seq_num")))?;
    let Some(first) = present(map.get("expression1")) else {
        return Err(Error::syntax("expression1 is missing"));
    };
    let first = predicate(builder, first)?;
    let condition = condition(present(map.get("condition")))?;
    let second = present(map.get("expression2"))
        .map(|second| predicate(builder, second))
        .transpose()?;
    let expr = match (condition, second) {
        (None, None) => first,
        // A second expression without a condition: AND, as the list's elements are.
        (None | Some(Condition::And), Some(second)) => Expr::And(vec![first, second]),
        (Some(Condition::Or), Some(second)) => Expr::Or(vec![first, second]),
        (Some(Condition::Not), None) => Expr::Not(Box::new(first)),
        (Some(Condition::Not), Some(second)) => Expr::And(vec![first, Expr::Not(Box::new(second))]),
        (Some(condition), None) => {
            return Err(Error::syntax(format!(
                "condition '{}' needs an expression2",
                format!("{condition:?}").to_lowercase()
            )));
        }
    };
    Ok((seq_num, expr))
}

/// The value, unless it is absent, null or an empty string.
fn present(value: Option<&Json>) -> Option<&Json> {
    value.filter(|value| match value {
        Json::Null => false,
        Json::String(s) => !s.trim().is_empty(),
        _ => true,
    })
}

fn check_keys(map: &Map<String, Json>, known: &[&str]) -> Result<(), Error> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(Error::syntax(format!(
            "unknown key '{key}' (expected {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn seq_num(value: Option<&Json>) -> Result<Option<f64>, Error> {
    let number = match value {
        None => return Ok(None),
        Some(Json::Number(n)) => n.as_f64(),
        Some(Json::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match number.filter(|n| n.is_finite()) {
        Some(n) => Ok(Some(n)),
        None => Err(Error::syntax(format!(
            "seq_num must be a number, found {}",
            value.map_or_else(|| "nothing".into(), |v| Operand::from_json(v).describe())
        ))),
    }
}

fn condition(value: Option<&Json>) -> Result<Option<Condition>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let word = value.as_str().map(|s| s.trim().to_ascii_lowercase());
    match word.as_deref() {
        Some("and") => Ok(Some(Condition::And)),
        Some("or") => Ok(Some(Condition::Or)),
        Some("not") => Ok(Some(Condition::Not)),
        _ => Err(Error::new(
            ErrorKind::UnknownOperator,
            format!(
                "unknown condition {} (known: and, or, not)",
                Operand::from_json(value).describe()
            ),
        )),
    }
}

/// One `{attribute_name, operator, attribute_value}`.
fn predicate<'s>(builder: &mut Builder<'s>, value: &Json) -> Result<Expr<'s>, Error> {
    let Some(map) = value.as_object() else {
        return Err(Error::syntax(format!(
            "expected {{attribute_name, operator, attribute_value}}, found {}",
            Operand::from_json(value).describe()
        )));
    };
    check_keys(map, &PREDICATE_KEYS)?;
    let Some(name) = map.get("attribute_name").and_then(Json::as_str) else {
        return Err(Error::syntax("attribute_name must be a string"));
    };
    let attr = builder.attribute(name.trim())?;
    let Some(operator) = map.get("operator").and_then(Json::as_str) else {
        return Err(Error::syntax("operator must be a string"));
    };
    let Some(operand) = map.get("attribute_value") else {
        return Err(Error::syntax("attribute_value is missing"));
    };
    let op = match operator.trim().to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "lt" => Op::Lt,
        "le" | "lte" => Op::Le,
        "gt" => Op::Gt,
        "ge" | "gte" => Op::Ge,
        "in" => {
            let Some(items) = operand.as_array() else {
                return Err(Error::new(
                    ErrorKind::WrongOperandType,
                    format!(
                        "operator 'in' on attribute '{}' takes a list of values, got {}",
                        attr.name,
                        Operand::from_json(operand).describe()
                    ),
                ));
            };
            return builder.in_list(attr, items.iter().map(Operand::from_json));
        }
        _ => {
            return Err(Error::new(
                ErrorKind::UnknownOperator,
                format!("unknown operator '{operator}' (known: eq, ne, lt, le, gt, ge, in)"),
            ));
        }
    };
    builder.compare(attr, op, Operand::from_json(operand))
}
