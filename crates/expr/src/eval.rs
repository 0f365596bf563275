//! Evaluating expressions against in-memory records, with SQL's three-valued logic.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use time::Date;
use time::macros::format_description;

use crate::age;
use crate::ast::{Expr, Op, Value};
use crate::schema::Column;

/// A record an expression can be evaluated against.
pub trait Record {
    /// The value of a typed column named as in the schema (e.g. "h.poverty_score"); None is SQL NULL.
    fn get(&self, column: &str) -> Option<Value>;

    /// The rows reached through an `Exists` column's `from` (e.g. "person m"); default: none.
    fn related(&self, from: &str) -> Vec<&dyn Record> {
        let _ = from;
        Vec::new()
    }
}

/// A record of named column values, without related rows.
impl Record for BTreeMap<String, Value> {
    fn get(&self, column: &str) -> Option<Value> {
        BTreeMap::get(self, column).cloned()
    }
}

/// SQL three-valued logic (Kleene): Some(true)/Some(false)/None (unknown, e.g. comparison with NULL). A row matches only on Some(true), exactly as SQL WHERE.
///
/// Gives the same answer as the SQL that [`crate::lower`] writes for the same `today`.
pub fn evaluate(expr: &Expr, record: &dyn Record, today: Date) -> Option<bool> {
    match expr {
        Expr::And(children) => {
            let mut unknown = false;
            for child in children {
                match evaluate(child, record, today) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Expr::Or(children) => any(children.iter().map(|child| evaluate(child, record, today))),
        Expr::Not(inner) => evaluate(inner, record, today).map(|value| !value),
        Expr::Compare { attr, op, value } => {
            atom(record, &attr.column, Atom::Compare(*op, value), today)
        }
        Expr::In { attr, values } => atom(record, &attr.column, Atom::In(values), today),
    }
}

/// Kleene OR: true if any is true, else unknown if any is unknown, else false.
fn any(results: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for result in results {
        match result {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    (!unknown).then_some(false)
}

#[derive(Clone, Copy)]
enum Atom<'a> {
    Compare(Op, &'a Value),
    In(&'a [Value]),
}

fn atom(record: &dyn Record, column: &Column, atom_: Atom, today: Date) -> Option<bool> {
    // `x IN ()` is false even for NULL, as the SQL's constant FALSE is.
    if let Atom::In([]) = atom_ {
        return Some(false);
    }
    match column {
        Column::Direct(column) => plain(record.get(column), atom_),
        Column::AgeFrom(column) => {
            let birth = as_date(&record.get(column)?)?;
            let holds = |op, value| age::condition(op, value, today).holds(birth);
            Some(match atom_ {
                Atom::Compare(op, value) => holds(op, value),
                Atom::In(values) => values.iter().any(|value| holds(Op::Eq, value)),
            })
        }
        Column::AnyOf(columns) => any(columns
            .iter()
            .map(|column| plain(record.get(column), atom_))),
        // EXISTS is never unknown: a related row matches only when its comparison is true.
        Column::Exists { from, inner, .. } => Some(
            record
                .related(from)
                .into_iter()
                .any(|row| atom(row, inner, atom_, today) == Some(true)),
        ),
    }
}

fn plain(value: Option<Value>, atom: Atom) -> Option<bool> {
    let value = value?;
    match atom {
        Atom::Compare(op, operand) => compare(&value, operand).map(|ordering| holds(op, ordering)),
        Atom::In(operands) => any(operands
            .iter()
            .map(|operand| compare(&value, operand).map(|ordering| ordering == Ordering::Equal))),
    }
}

fn holds(op: Op, ordering: Ordering) -> bool {
    match op {
        Op::Eq => ordering.is_eq(),
        Op::Ne => ordering.is_ne(),
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Gt => ordering.is_gt(),
        Op::Ge => ordering.is_ge(),
    }
}

/// How a stored value orders against an operand; None when they cannot be compared.
/// Tolerates the shapes a store returns: dates as text, booleans as 0/1, integers for floats.
fn compare(stored: &Value, operand: &Value) -> Option<Ordering> {
    use Value::*;
    match (stored, operand) {
        (Integer(a), Integer(b)) => Some(a.cmp(b)),
        (Float(a), Float(b)) => a.partial_cmp(b),
        (Integer(a), Float(b)) => (*a as f64).partial_cmp(b),
        (Float(a), Integer(b)) => a.partial_cmp(&(*b as f64)),
        // Byte order, as SQLite's BINARY collation.
        (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Date(a), Date(b)) => Some(a.cmp(b)),
        (Text(_), Date(b)) => as_date(stored).map(|a| a.cmp(b)),
        (Date(a), Text(_)) => as_date(operand).map(|b| a.cmp(&b)),
        (Bool(a), Bool(b)) => Some(a.cmp(b)),
        (Integer(a), Bool(b)) => Some(a.cmp(&i64::from(*b))),
        _ => None,
    }
}

fn as_date(value: &Value) -> Option<Date> {
    match value {
        Value::Date(date) => Some(*date),
        Value::Text(text) => Date::parse(text, format_description!("[year]-[month]-[day]")).ok(),
        _ => None,
    }
}
