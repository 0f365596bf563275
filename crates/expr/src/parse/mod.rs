//! The three query dialects, and what they share: attribute lookup, operand coercion and the
//! limits that keep hostile input from exhausting the stack or the database.

mod nosql;
mod predicate;
mod text;

use std::borrow::Cow;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::ast::{Expr, Op, Value};
use crate::error::{Error, ErrorKind};
use crate::schema::{AttrType, Attribute, Schema};

pub use nosql::parse_nosql;
pub use predicate::parse_predicates;
pub use text::{parse_text, parse_text_on};

/// The deepest nesting of logical operators (and parentheses) a query may have.
pub const MAX_DEPTH: usize = 32;

/// The most comparisons a query may hold.
pub const MAX_COMPARISONS: usize = 256;

/// An operand as the query wrote it, before coercion to the attribute's type.
#[derive(Debug, Clone)]
pub(crate) enum Operand<'a> {
    Str(Cow<'a, str>),
    /// A number, as written (so that a UIN sent as a number keeps its digits).
    Number(Cow<'a, str>),
    Bool(bool),
    Null,
    List,
    Object,
}

impl<'a> Operand<'a> {
    pub(crate) fn from_json(value: &'a serde_json::Value) -> Self {
        match value {
            serde_json::Value::String(s) => Operand::Str(Cow::Borrowed(s)),
            serde_json::Value::Number(n) => Operand::Number(Cow::Owned(n.to_string())),
            serde_json::Value::Bool(b) => Operand::Bool(*b),
            serde_json::Value::Null => Operand::Null,
            serde_json::Value::Array(_) => Operand::List,
            serde_json::Value::Object(_) => Operand::Object,
        }
    }

    /// How the operand is named in error messages.
    fn describe(&self) -> String {
        match self {
            Operand::Str(s) => {
                let shown: String = s.chars().take(40).collect();
                let more = if shown.len() < s.len() { "..." } else { "" };
                format!("string {:?}{more}", shown)
            }
            Operand::Number(n) => format!("number {n}"),
            Operand::Bool(b) => format!("{b}"),
            Operand::Null => "null".into(),
            Operand::List => "a list".into(),
            Operand::Object => "an object".into(),
        }
    }
}

/// Builds expressions over one schema, counting comparisons against [`MAX_COMPARISONS`].
pub(crate) struct Builder<'s> {
    schema: &'s Schema,
    comparisons: usize,
}

impl<'s> Builder<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Self {
        Self {
            schema,
            comparisons: 0,
        }
    }

    /// The attribute called `name`, or an UnknownAttribute error listing the known ones.
    pub(crate) fn attribute(&self, name: &str) -> Result<&'s Attribute, Error> {
        self.schema.attribute(name).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownAttribute,
                format!(
                    "unknown attribute '{name}' (known: {})",
                    self.schema.names()
                ),
            )
        })
    }

    /// `attr op operand`, with the operand coerced to the attribute's type.
    pub(crate) fn compare(
        &mut self,
        attr: &'s Attribute,
        op: Op,
        operand: Operand<'_>,
    ) -> Result<Expr<'s>, Error> {
        self.count()?;
        if !matches!(op, Op::Eq | Op::Ne) && !attr.is_ordered() {
            return Err(Error::new(
                ErrorKind::UnknownOperator,
                format!(
                    "operator '{op}' does not apply to attribute '{}' ({}); use =, != or in",
                    attr.name,
                    attr.ty.describe()
                ),
            ));
        }
        let value = coerce(attr, operand)?;
        Ok(Expr::Compare { attr, op, value })
    }

    /// `attr IN (operands)`, each coerced to the attribute's type; an empty list is an error.
    pub(crate) fn in_list<'a>(
        &mut self,
        attr: &'s Attribute,
        operands: impl IntoIterator<Item = Operand<'a>>,
    ) -> Result<Expr<'s>, Error> {
        let values = operands
            .into_iter()
            .map(|operand| coerce(attr, operand))
            .collect::<Result<Vec<_>, _>>()?;
        self.in_values(attr, values)
    }

    /// `attr IN (values)`, the values already coerced; an empty list is an error.
    pub(crate) fn in_values(
        &mut self,
        attr: &'s Attribute,
        values: Vec<Value>,
    ) -> Result<Expr<'s>, Error> {
        self.count()?;
        if values.is_empty() {
            return Err(Error::syntax(format!(
                "empty list of values for attribute '{}'",
                attr.name
            )));
        }
        Ok(Expr::In { attr, values })
    }

    fn count(&mut self) -> Result<(), Error> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(Error::syntax(format!(
                "query has more than {MAX_COMPARISONS} comparisons"
            )));
        }
        Ok(())
    }
}

/// A Syntax error once `depth` exceeds [`MAX_DEPTH`].
pub(crate) fn check_depth(depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::syntax(format!(
            "query nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(())
}

/// Reads `operand` as a value of `attr`'s type.
pub(crate) fn coerce(attr: &Attribute, operand: Operand<'_>) -> Result<Value, Error> {
    let wrong = |operand: &Operand<'_>| {
        Error::new(
            ErrorKind::WrongOperandType,
            format!(
                "attribute '{}' expects {}, got {}",
                attr.name,
                attr.ty.describe(),
                operand.describe()
            ),
        )
    };
    let text = match &operand {
        Operand::Str(s) | Operand::Number(s) => Some(s.as_ref()),
        _ => None,
    };
    let value = match attr.ty {
        AttrType::Text => text.map(|s| Value::Text(s.to_owned())),
        AttrType::Integer => text.and_then(parse_integer).map(Value::Integer),
        AttrType::Float => text.and_then(parse_float).map(Value::Float),
        AttrType::Date => match &operand {
            Operand::Str(s) => parse_date(s).map(Value::Date),
            _ => None,
        },
        AttrType::Bool => match &operand {
            Operand::Bool(b) => Some(Value::Bool(*b)),
            _ => text.and_then(parse_bool).map(Value::Bool),
        },
        AttrType::Code(set) => match text {
            Some(s) => {
                let code = set.normalize(s).ok_or_else(|| {
                    Error::new(
                        ErrorKind::UnknownCode,
                        format!(
                            "'{s}' is not a code of {} for attribute '{}' (valid: {})",
                            set.name,
                            attr.name,
                            set.list()
                        ),
                    )
                })?;
                Some(Value::Text(code.to_owned()))
            }
            None => None,
        },
    };
    value.ok_or_else(|| wrong(&operand))
}

/// An integer, also written as an integral float ("5.0") since JSON encoders do that.
fn parse_integer(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let x = parse_float(text)?;
    // 2^63 is exact as f64; anything at or above it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x)).then_some(x as i64)
}

fn parse_float(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        s if s.eq_ignore_ascii_case("true") => Some(true),
        s if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `YYYY-MM-DD`, or an RFC 3339 date-time whose calendar date is taken as written (not
/// converted to UTC: `1950-08-18T00:00:00+03:00` means 18 August).
fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
        .ok()
        .or_else(|| {
            OffsetDateTime::parse(text, &Rfc3339)
                .ok()
                .map(|at| at.date())
        })?;
    // Years outside 0001-9999 would not order correctly as YYYY-MM-DD text.
    (1..=9999).contains(&date.year()).then_some(date)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn integers_accept_integral_floats_only() {
        assert_eq!(parse_integer(" 42 "), Some(42));
        assert_eq!(parse_integer("5.0"), Some(5));
        assert_eq!(parse_integer("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_integer("9223372036854775808"), None);
        assert_eq!(parse_integer("1e19"), None);
        assert_eq!(parse_integer("5.5"), None);
        assert_eq!(parse_integer("NaN"), None);
    }

    #[test]
    fn floats_reject_nan_and_infinity() {
        assert_eq!(parse_float("4.0"), Some(4.0));
        assert_eq!(parse_float("NaN"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("1e400"), None);
    }

    #[test]
    fn dates_take_the_calendar_date_as_written() {
        assert_eq!(parse_date("2020-02-29"), Some(date!(2020 - 02 - 29)));
        assert_eq!(
            parse_date("1950-08-18T00:00:00Z"),
            Some(date!(1950 - 08 - 18))
        );
        assert_eq!(
            parse_date("1950-08-18T23:30:00-05:00"),
            Some(date!(1950 - 08 - 18))
        );
        assert_eq!(parse_date("2021-02-29"), None);
        assert_eq!(parse_date("0000-01-01"), None);
        assert_eq!(parse_date("18/08/1950"), None);
        assert_eq!(parse_date("2020-1-1"), None);
    }

    #[test]
    fn bools_accept_words_and_digits() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool("2"), None);
    }
}
