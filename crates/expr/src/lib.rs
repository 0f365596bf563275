//! DCI search queries as one typed expression: parsed from the three forms a request can carry,
//! lowered to SQL with bound parameters (SQLite and PostgreSQL), and evaluated in memory with
//! the same answers.
//!
//! Every form parses against a [`Schema`], the registry's queryable attributes: names are
//! checked (ASCII case-insensitive, aliases allowed) and operands coerced to the attribute's type
//! (a number for a text attribute keeps its digits, `"5"` is accepted for an integer, an RFC 3339
//! date-time for a date, a label for a code). `<`, `<=`, `>`, `>=` apply to integers, floats and
//! dates only. Queries deeper than [`MAX_DEPTH`] or with more than [`MAX_COMPARISONS`]
//! comparisons are rejected.
//!
//! ```
//! use expr::{AttrType, Attribute, Column, Dialect, Schema, Value, lower, parse_text};
//!
//! static HOUSEHOLD: Schema = Schema {
//!     entity: "Group",
//!     attributes: &[
//!         Attribute { name: "poverty_score", aliases: &[], ty: AttrType::Float, column: Column::Direct("h.poverty_score") },
//!         Attribute { name: "age", aliases: &["head_age"], ty: AttrType::Integer, column: Column::AgeFrom("h.head_birth_date") },
//!     ],
//! };
//! let expr = parse_text("poverty_score < 2.5 AND head_age >= 60", &HOUSEHOLD)?;
//! let sql = lower(&expr, Dialect::Sqlite, time::macros::date!(2025 - 06 - 15), 1);
//! assert_eq!(sql.sql, "(h.poverty_score < ?1 AND h.head_birth_date <= ?2)");
//! assert_eq!(sql.params, [Value::Float(2.5), Value::Date(time::macros::date!(1965 - 06 - 15))]);
//! assert_eq!(expr.to_string(), "poverty_score < 2.5 AND age >= 60");
//! # Ok::<(), expr::Error>(())
//! ```
//!
//! # NoSql expressions (DCI `expression` with `ns:org:QueryType:NoSql`) and criteria maps
//!
//! [`parse_nosql`] reads `{"collection": "Group", "query": {...}}` or the bare query:
//! `$and`/`$or`/`$nor` over non-empty arrays; `{"field": scalar}` for equality;
//! `{"field": {"$gt": 5, "$lt": 10}}` with `$eq $ne $lt $lte $gt $gte $in $nin` AND-ed, and
//! `{"field": {"$not": {...}}}`. The operators are also read without `$` (`eq`, `le`, `ge`...),
//! which makes DCI criteria maps `{"path": {"eq": v}}` the same dialect. Any other operator is
//! an [`ErrorKind::UnknownOperator`].
//!
//! # Predicate lists (DCI `predicate`)
//!
//! [`parse_predicates`] reads `[{seq_num, expression1, condition, expression2}, ...]`. Each
//! element means `expression1 [condition expression2]`: `not` without `expression2` is
//! `NOT expression1`, with it `expression1 AND NOT expression2`; `expression2` without a
//! condition is AND-ed. The spec leaves open how elements combine: **elements are AND-ed**,
//! ordered by `seq_num` (those without one last, in document order).
//!
//! # Text form
//!
//! [`parse_text`] reads this grammar (keywords case-insensitive); [`Expr`]'s `Display` writes
//! it, and the output parses back to the same expression (when every AND/OR has two or more
//! children, as parsed expressions do, and attribute names are idents).
//!
//! ```text
//! expr       := or
//! or         := and ( "OR" and )*
//! and        := unary ( "AND" unary )*
//! unary      := "NOT" unary | primary
//! primary    := "(" expr ")" | comparison
//! comparison := attr op value
//!             | attr "IN" "[" value ("," value)* "]"
//!             | attr "NOT" "IN" "[" value ("," value)* "]"
//!             | attr "BETWEEN" value "AND" value            (both bounds inclusive)
//! op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//! value      := string | number | "true" | "false"
//! string     := '"' ... '"' | "'" ... "'"                    (escapes: \" \' \\ \n \r \t)
//! number     := "-"? digit+ ( "." digit+ )? ( ("e" | "E") ("+" | "-")? digit+ )?
//! attr       := ident ( "." ident )*
//! ident      := (letter | "_") (letter | digit | "_" | "-")*  (not a keyword)
//! ```
//!
//! Dates are written as strings: `birth_date < "2000-01-01"`. [`parse_text_on`] also reads
//! dates relative to the day it is given, wherever a value may stand:
//!
//! ```text
//! value      := ... | "today" ( ("+" | "-") digit+ unit )?
//! unit       := "day" | "days" | "month" | "months" | "year" | "years"
//! ```
//!
//! # NULL semantics
//!
//! Exactly SQL's, not MongoDB's: a comparison (including `!=` and `IN`) with a missing value is
//! unknown; `NOT unknown` is unknown; AND and OR are Kleene's; a record matches only when the
//! whole expression is true. [`evaluate`] returns `None` for unknown. An attribute over several
//! columns ([`Column::AnyOf`]) is the OR of the comparison on each. An attribute of a related
//! row ([`Column::Exists`]) is never unknown: each comparison is its own `EXISTS`, true when
//! some related row makes it true.
//!
//! # Ages
//!
//! An age attribute ([`Column::AgeFrom`]) is whole years since a date column, as of `today`,
//! and is lowered to ranges on that column, never a function of it. With
//! [`years_before`]`(today, n)` the same month and day `n` years earlier (Feb 29 becoming Feb 28
//! when that year is not a leap year, so someone born on Feb 29 turns a year older on Mar 1 in
//! common years):
//!
//! * `age >= n` ⟺ `date <= years_before(today, n)`, and `age > n` ⟺ `age >= n + 1`;
//! * `age < n` ⟺ `date > years_before(today, n)`, and `age <= n` ⟺ `age < n + 1`;
//! * `age = n` ⟺ both `age >= n` and `age <= n`; `age != n` ⟺ `NOT (age = n)`;
//!   `age IN [a, b]` ⟺ `age = a OR age = b`.
//!
//! The evaluator uses the same boundaries. Bounds beyond year 9999 or before year 1 become a
//! comparison of the column with itself (true, or false, for every non-NULL date).

mod age;
mod ast;
mod error;
mod eval;
mod parse;
mod schema;
mod sql;

pub use age::years_before;
pub use ast::{Expr, Op, Value, iso_date};
pub use error::{Error, ErrorKind};
pub use eval::{Record, evaluate};
pub use parse::{
    MAX_COMPARISONS, MAX_DEPTH, parse_nosql, parse_predicates, parse_text, parse_text_on,
};
pub use schema::{AttrType, Attribute, CodeSet, Column, Schema};
pub use sql::{Dialect, SqlFragment, SqlValue, lower, order_by};
