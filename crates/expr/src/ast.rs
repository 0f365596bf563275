//! The typed query AST every dialect parses into.

use std::fmt;

use time::Date;

use crate::schema::Attribute;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// The operator as written in the text form (and in SQL, except `!=` which SQL writes `<>`).
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// An operand, already coerced to its attribute's type (codes are stored as `Text`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text, or a normalized code.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A finite floating-point number (parsers never produce NaN or infinities).
    Float(f64),
    /// A calendar date.
    Date(Date),
    /// True or false.
    Bool(bool),
}

/// A date as `YYYY-MM-DD`, the form SQLite stores and the text form reads.
pub fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Prints the value as the text form reads it: text and dates quoted, numbers and booleans bare.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) => write_quoted(f, text),
            Value::Integer(n) => write!(f, "{n}"),
            // Rust prints the shortest digits that read back as the same f64, never an exponent.
            Value::Float(x) => write!(f, "{x}"),
            Value::Date(date) => write!(f, "\"{}\"", iso_date(*date)),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A query over a schema's attributes. `'s` is the schema's lifetime.
#[derive(Clone, PartialEq)]
pub enum Expr<'s> {
    /// True when every child is (Kleene AND). Parsers produce at least two children.
    And(Vec<Expr<'s>>),
    /// True when some child is (Kleene OR). Parsers produce at least two children.
    Or(Vec<Expr<'s>>),
    /// The negation (NOT unknown is unknown).
    Not(Box<Expr<'s>>),
    /// `attr op value`.
    Compare {
        /// The attribute compared.
        attr: &'s Attribute,
        /// The operator.
        op: Op,
        /// The operand, of the attribute's type.
        value: Value,
    },
    /// `attr IN (values)`: equal to one of the values.
    In {
        /// The attribute compared.
        attr: &'s Attribute,
        /// The candidates, of the attribute's type; parsers never produce an empty list.
        values: Vec<Value>,
    },
}

impl<'s> Expr<'s> {
    /// The conjunction of `children`, or the only child itself.
    pub fn all(mut children: Vec<Expr<'s>>) -> Expr<'s> {
        if children.len() == 1 {
            children.remove(0)
        } else {
            Expr::And(children)
        }
    }

    /// The disjunction of `children`, or the only child itself.
    pub fn any(mut children: Vec<Expr<'s>>) -> Expr<'s> {
        if children.len() == 1 {
            children.remove(0)
        } else {
            Expr::Or(children)
        }
    }

    /// The attributes the expression refers to, each once, in order of first appearance.
    pub fn attributes(&self) -> Vec<&'s Attribute> {
        fn walk<'s>(expr: &Expr<'s>, found: &mut Vec<&'s Attribute>) {
            match expr {
                Expr::And(children) | Expr::Or(children) => {
                    children.iter().for_each(|child| walk(child, found));
                }
                Expr::Not(inner) => walk(inner, found),
                Expr::Compare { attr, .. } | Expr::In { attr, .. } => {
                    if !found.iter().any(|seen| std::ptr::eq(*seen, *attr)) {
                        found.push(attr);
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(self, &mut found);
        found
    }
}

/// Prints the text form (see the crate doc), which parses back to the same expression when
/// every `And`/`Or` has at least two children, as parsed expressions do. Attributes print
/// under their canonical name.
impl fmt::Display for Expr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(children) => write_joined(f, children, " AND "),
            Expr::Or(children) => write_joined(f, children, " OR "),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::In { attr, values } => {
                    write!(f, "{} NOT IN ", attr.name)?;
                    write_list(f, values)
                }
                Expr::And(_) | Expr::Or(_) => write!(f, "NOT ({inner})"),
                _ => write!(f, "NOT {inner}"),
            },
            Expr::Compare { attr, op, value } => write!(f, "{} {op} {value}", attr.name),
            Expr::In { attr, values } => {
                write!(f, "{} IN ", attr.name)?;
                write_list(f, values)
            }
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, children: &[Expr<'_>], separator: &str) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        // Parenthesize nested AND/OR: it keeps the tree's shape and reads without precedence rules.
        match child {
            Expr::And(_) | Expr::Or(_) => write!(f, "({child})")?,
            _ => write!(f, "{child}")?,
        }
    }
    Ok(())
}

fn write_list(f: &mut fmt::Formatter<'_>, values: &[Value]) -> fmt::Result {
    f.write_str("[")?;
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{value}")?;
    }
    f.write_str("]")
}

/// Shows attributes by name only, not their whole schema entry.
impl fmt::Debug for Expr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(children) => f.debug_tuple("And").field(children).finish(),
            Expr::Or(children) => f.debug_tuple("Or").field(children).finish(),
            Expr::Not(inner) => f.debug_tuple("Not").field(inner).finish(),
            Expr::Compare { attr, op, value } => f
                .debug_struct("Compare")
                .field("attr", &attr.name)
                .field("op", op)
                .field("value", value)
                .finish(),
            Expr::In { attr, values } => f
                .debug_struct("In")
                .field("attr", &attr.name)
                .field("values", values)
                .finish(),
        }
    }
}
