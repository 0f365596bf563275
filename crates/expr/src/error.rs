//! The one error type of the crate: a kind to map onto a DCI reason code, and a message for humans.

/// What went wrong, coarse enough for a caller to map onto a DCI status reason code
/// (all of them are `rjct.search_criteria.invalid` in a search).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The query is not well formed: bad JSON shape, text that does not follow the grammar,
    /// an empty list, or a query nested too deep or too large.
    Syntax,
    /// An attribute name that the registry's schema does not know.
    UnknownAttribute,
    /// An operator the dialect does not know (e.g. `$regex`), or one that does not apply to the
    /// attribute's type (e.g. `<` on a code).
    UnknownOperator,
    /// An operand that cannot be read as the attribute's type (e.g. `"abc"` for an integer).
    WrongOperandType,
    /// A value that is not a code (nor a label) of the attribute's code directory.
    UnknownCode,
    /// An attribute that cannot be used to sort results.
    NotSortable,
}

/// An error parsing a query or sorting by an attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What went wrong, for mapping onto a DCI reason code.
    pub kind: ErrorKind,
    /// What went wrong and where, for the person who wrote the query.
    pub message: String,
}

impl Error {
    /// An error of `kind` with a message for humans.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn syntax(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Syntax, message)
    }
}
