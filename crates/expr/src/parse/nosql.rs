//! The MongoDB-like JSON dialect of DCI `expression` queries, and DCI criteria maps
//! (`{"path": {"eq": v}}`), which are the same thing without the `$`.

use serde_json::{Map, Value as Json};

use super::{Builder, Operand, check_depth};
use crate::ast::{Expr, Op};
use crate::error::{Error, ErrorKind};
use crate::schema::{Attribute, Schema};

const FIELD_OPERATORS: &str = "$eq, $ne, $lt, $lte, $gt, $gte, $in, $nin, $not";

/// Parses a NoSql expression: `{"collection": "...", "query": {...}}` or the bare query object.
///
/// `$and`, `$or` and `$nor` take non-empty arrays of query objects; a field maps to a scalar
/// (equality) or to an object of operators (`$eq $ne $lt $lte $gt $gte $in $nin $not`, also
/// without the `$`, and `le`/`ge` for `lte`/`gte`). Several fields, or several operators for
/// one field, are AND-ed. The collection name is not checked: the caller picks the schema.
pub fn parse_nosql<'s>(doc: &Json, schema: &'s Schema) -> Result<Expr<'s>, Error> {
    let mut builder = Builder::new(schema);
    query(&mut builder, unwrap_collection(doc), 1)
}

/// The `query` of a `{collection, query}` wrapper, or the document itself.
fn unwrap_collection(doc: &Json) -> &Json {
    if let Some(map) = doc.as_object()
        && let Some(query) = map.get("query")
        && map.keys().all(|key| key == "query" || key == "collection")
    {
        return query;
    }
    doc
}

fn query<'s>(builder: &mut Builder<'s>, doc: &Json, depth: usize) -> Result<Expr<'s>, Error> {
    check_depth(depth)?;
    let Some(map) = doc.as_object() else {
        return Err(Error::syntax(format!(
            "expected a query object like {{\"field\": value}}, found {}",
            Operand::from_json(doc).describe()
        )));
    };
    if map.is_empty() {
        return Err(Error::syntax("empty query object"));
    }
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        let part = match key.as_str() {
            "$and" => Expr::all(branches(builder, key, value, depth)?),
            "$or" => Expr::any(branches(builder, key, value, depth)?),
            "$nor" => Expr::Not(Box::new(Expr::any(branches(builder, key, value, depth)?))),
            _ if key.starts_with('$') => {
                return Err(Error::new(
                    ErrorKind::UnknownOperator,
                    format!(
                        "unknown operator '{key}' (known: $and, $or, $nor, and per field {FIELD_OPERATORS})"
                    ),
                ));
            }
            _ => field(builder, key, value, depth)?,
        };
        parts.push(part);
    }
    Ok(Expr::all(parts))
}

/// The query objects of a logical operator's array.
fn branches<'s>(
    builder: &mut Builder<'s>,
    key: &str,
    value: &Json,
    depth: usize,
) -> Result<Vec<Expr<'s>>, Error> {
    let Some(items) = value.as_array() else {
        return Err(Error::syntax(format!(
            "'{key}' takes an array of query objects"
        )));
    };
    if items.is_empty() {
        return Err(Error::syntax(format!("'{key}' has an empty array")));
    }
    items
        .iter()
        .map(|item| query(builder, item, depth + 1))
        .collect()
}

fn field<'s>(
    builder: &mut Builder<'s>,
    name: &str,
    value: &Json,
    depth: usize,
) -> Result<Expr<'s>, Error> {
    let attr = builder.attribute(name)?;
    match value {
        Json::Object(operators) => operator_object(builder, attr, operators, depth + 1),
        Json::Array(_) => Err(Error::new(
            ErrorKind::WrongOperandType,
            format!("attribute '{name}' got a list; use $in to match any of several values"),
        )),
        scalar => builder.compare(attr, Op::Eq, Operand::from_json(scalar)),
    }
}

/// `{"$gt": 5, "$lt": 10}` for one attribute: the operators AND-ed.
fn operator_object<'s>(
    builder: &mut Builder<'s>,
    attr: &'s Attribute,
    operators: &Map<String, Json>,
    depth: usize,
) -> Result<Expr<'s>, Error> {
    check_depth(depth)?;
    if operators.is_empty() {
        return Err(Error::syntax(format!(
            "empty operator object for attribute '{}'",
            attr.name
        )));
    }
    let mut parts = Vec::with_capacity(operators.len());
    for (key, operand) in operators {
        let name = key.strip_prefix('$').unwrap_or(key).to_ascii_lowercase();
        let compare =
            |builder: &mut Builder<'s>, op| builder.compare(attr, op, Operand::from_json(operand));
        let part = match name.as_str() {
            "eq" => compare(builder, Op::Eq)?,
            "ne" => compare(builder, Op::Ne)?,
            "lt" => compare(builder, Op::Lt)?,
            "lte" | "le" => compare(builder, Op::Le)?,
            "gt" => compare(builder, Op::Gt)?,
            "gte" | "ge" => compare(builder, Op::Ge)?,
            "in" => in_list(builder, attr, key, operand)?,
            "nin" => Expr::Not(Box::new(in_list(builder, attr, key, operand)?)),
            "not" => {
                let Some(inner) = operand.as_object() else {
                    return Err(Error::syntax(format!(
                        "'{key}' on attribute '{}' takes an operator object like {{\"$gt\": 5}}",
                        attr.name
                    )));
                };
                Expr::Not(Box::new(operator_object(builder, attr, inner, depth + 1)?))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownOperator,
                    format!(
                        "unknown operator '{key}' for attribute '{}' (known: {FIELD_OPERATORS})",
                        attr.name
                    ),
                ));
            }
        };
        parts.push(part);
    }
    Ok(Expr::all(parts))
}

fn in_list<'s>(
    builder: &mut Builder<'s>,
    attr: &'s Attribute,
    key: &str,
    operand: &Json,
) -> Result<Expr<'s>, Error> {
    let Some(items) = operand.as_array() else {
        return Err(Error::new(
            ErrorKind::WrongOperandType,
            format!(
                "'{key}' on attribute '{}' takes a list of values, got {}",
                attr.name,
                Operand::from_json(operand).describe()
            ),
        ));
    };
    builder.in_list(attr, items.iter().map(Operand::from_json))
}
