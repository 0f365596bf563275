//! Lowering expressions to SQL `WHERE` conditions with bound parameters.

use std::fmt::Write;

use time::Date;

use crate::age::{self, AgeCondition, DateBound};
use crate::ast::{Expr, Op, Value};
use crate::error::{Error, ErrorKind};
use crate::schema::{Attribute, Column};

/// The SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: placeholders `?1, ?2, ...`.
    Sqlite,
    /// PostgreSQL: placeholders `$1, $2, ...`.
    Postgres,
}

/// A bound parameter. Dates bind as `YYYY-MM-DD` text in SQLite and as DATE in PostgreSQL;
/// booleans as INTEGER 0/1 in SQLite and as BOOLEAN in PostgreSQL.
pub type SqlValue = Value;

/// A SQL condition and the parameters its placeholders refer to, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFragment {
    /// The condition, to put after `WHERE` (or inside a larger condition).
    pub sql: String,
    /// The values for the placeholders, the first one numbered `first_param`.
    pub params: Vec<SqlValue>,
}

/// Lowers `expr` to a SQL condition with the same three-valued meaning as [`crate::evaluate`].
/// Values are always bound, never written into the SQL.
///
/// Placeholders: SQLite `?N`, PostgreSQL `$N`, numbered from `first_param` (1-based) so fragments compose.
/// PostgreSQL placeholders carry a cast to the value's type (`$1::bigint`); `first_param` 0 counts as 1.
pub fn lower(expr: &Expr, dialect: Dialect, today: Date, first_param: usize) -> SqlFragment {
    let mut writer = Writer {
        dialect,
        today,
        first_param: first_param.max(1),
        sql: String::new(),
        params: Vec::new(),
    };
    writer.expr(expr);
    SqlFragment {
        sql: writer.sql,
        params: writer.params,
    }
}

/// ORDER BY term for an attribute ("h.poverty_score ASC NULLS LAST"); AgeFrom sorts by the date reversed; Err for AnyOf/Exists (not sortable).
///
/// Rows without a value come last in either direction.
pub fn order_by(attr: &Attribute, descending: bool) -> Result<String, Error> {
    let direction = |descending| if descending { "DESC" } else { "ASC" };
    match attr.column {
        Column::Direct(column) => Ok(format!("{column} {} NULLS LAST", direction(descending))),
        // The older the person, the earlier the birth date.
        Column::AgeFrom(column) => Ok(format!("{column} {} NULLS LAST", direction(!descending))),
        Column::AnyOf(_) | Column::Exists { .. } => Err(Error::new(
            ErrorKind::NotSortable,
            format!(
                "attribute '{}' cannot be used to sort: it can have several values per record",
                attr.name
            ),
        )),
    }
}

fn postgres_type(value: &Value) -> &'static str {
    match value {
        Value::Text(_) => "text",
        Value::Integer(_) => "bigint",
        Value::Float(_) => "double precision",
        Value::Date(_) => "date",
        Value::Bool(_) => "boolean",
    }
}

/// One comparison, as applied to whichever column an attribute maps to.
#[derive(Clone, Copy)]
enum Atom<'a> {
    Compare(Op, &'a Value),
    In(&'a [Value]),
}

const TRUE: &str = "(1 = 1)";
const FALSE: &str = "(1 = 0)";

struct Writer {
    dialect: Dialect,
    today: Date,
    first_param: usize,
    sql: String,
    params: Vec<SqlValue>,
}

impl Writer {
    fn param(&mut self, value: &Value) {
        let number = self.first_param + self.params.len();
        self.params.push(value.clone());
        // Writing to a String cannot fail.
        let _ = match self.dialect {
            Dialect::Sqlite => write!(self.sql, "?{number}"),
            // The cast fixes the parameter's type whatever the column's (INTEGER vs BIGINT),
            // so the driver can always bind an i64, f64, date, bool or string.
            Dialect::Postgres => write!(self.sql, "${number}::{}", postgres_type(value)),
        };
    }

    /// Writes `parts` joined by `separator` in parentheses, or `empty` when there are none.
    fn joined<T>(
        &mut self,
        parts: &[T],
        separator: &str,
        empty: &str,
        mut part: impl FnMut(&mut Self, &T),
    ) {
        if parts.is_empty() {
            self.sql.push_str(empty);
            return;
        }
        self.sql.push('(');
        for (i, item) in parts.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(separator);
            }
            part(self, item);
        }
        self.sql.push(')');
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::And(children) => self.joined(children, " AND ", TRUE, Self::expr),
            Expr::Or(children) => self.joined(children, " OR ", FALSE, Self::expr),
            Expr::Not(inner) => {
                self.sql.push_str("NOT (");
                self.expr(inner);
                self.sql.push(')');
            }
            Expr::Compare { attr, op, value } => self.atom(&attr.column, Atom::Compare(*op, value)),
            Expr::In { attr, values } => self.atom(&attr.column, Atom::In(values)),
        }
    }

    fn atom(&mut self, column: &Column, atom: Atom) {
        match column {
            Column::Direct(column) => self.plain(column, atom),
            Column::AgeFrom(column) => self.age(column, atom),
            Column::AnyOf(columns) => {
                self.joined(columns, " OR ", FALSE, |writer, column| {
                    writer.plain(column, atom)
                });
            }
            Column::Exists { from, link, inner } => {
                let _ = write!(self.sql, "EXISTS (SELECT 1 FROM {from} WHERE {link} AND ");
                self.atom(inner, atom);
                self.sql.push(')');
            }
        }
    }

    fn plain(&mut self, column: &str, atom: Atom) {
        match atom {
            Atom::Compare(op, value) => {
                let symbol = match op {
                    Op::Ne => "<>",
                    op => op.symbol(),
                };
                let _ = write!(self.sql, "{column} {symbol} ");
                self.param(value);
            }
            Atom::In([]) => self.sql.push_str(FALSE),
            Atom::In(values) => {
                let _ = write!(self.sql, "{column} IN ");
                self.joined(values, ", ", "", Self::param);
            }
        }
    }

    /// Ages become ranges on the birth date column, so an index on it can serve the query.
    fn age(&mut self, column: &str, atom: Atom) {
        match atom {
            Atom::Compare(op, value) => {
                let condition = age::condition(op, value, self.today);
                self.age_condition(column, &condition);
            }
            Atom::In(values) => self.joined(values, " OR ", FALSE, |writer, value| {
                let condition = age::condition(Op::Eq, value, writer.today);
                writer.age_condition(column, &condition);
            }),
        }
    }

    fn age_condition(&mut self, column: &str, condition: &AgeCondition) {
        if condition.negated {
            self.sql.push_str("NOT ");
        }
        let bounds: Vec<DateBound> = condition.bounds.iter().flatten().copied().collect();
        if bounds.len() == 1 && !condition.negated {
            self.bound(column, bounds[0]);
        } else {
            self.joined(&bounds, " AND ", TRUE, |writer, bound| {
                writer.bound(column, *bound)
            });
        }
    }

    fn bound(&mut self, column: &str, bound: DateBound) {
        match bound {
            DateBound::AtMost(date) => {
                let _ = write!(self.sql, "{column} <= ");
                self.param(&Value::Date(date));
            }
            DateBound::After(date) => {
                let _ = write!(self.sql, "{column} > ");
                self.param(&Value::Date(date));
            }
            // Comparing the column with itself keeps NULL unknown, as the evaluator does.
            DateBound::Always => {
                let _ = write!(self.sql, "{column} = {column}");
            }
            DateBound::Never => {
                let _ = write!(self.sql, "{column} <> {column}");
            }
        }
    }
}
