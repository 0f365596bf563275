//! A registry's queryable attributes: their names, types and where they live in SQL.

/// The attributes a registry lets callers query, for one entity (e.g. `Group`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schema {
    /// The entity the attributes describe, e.g. `"Group"` or `"Person"`.
    pub entity: &'static str,
    /// The queryable attributes.
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute called `name`, by its name or one of its aliases, ASCII case-insensitive.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|attr| {
            attr.name.eq_ignore_ascii_case(name)
                || attr
                    .aliases
                    .iter()
                    .any(|alias| alias.eq_ignore_ascii_case(name))
        })
    }

    /// The attribute names, for error messages.
    pub(crate) fn names(&self) -> String {
        let names: Vec<&str> = self.attributes.iter().map(|attr| attr.name).collect();
        names.join(", ")
    }
}

/// One queryable attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribute {
    /// The canonical name, used when an expression is printed.
    pub name: &'static str,
    /// Other names accepted on input, e.g. the dotted DCI path `demographic_info.person.sex`.
    pub aliases: &'static [&'static str],
    /// The type operands are coerced to.
    pub ty: AttrType,
    /// Where the value lives in SQL.
    pub column: Column,
}

impl Attribute {
    /// Whether `<`, `<=`, `>` and `>=` apply: only to numbers and dates, because text order
    /// depends on the database collation and codes and booleans have no meaningful order.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self.ty,
            AttrType::Integer | AttrType::Float | AttrType::Date
        )
    }
}

/// The type of an attribute's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrType {
    /// Free text, compared exactly (case-sensitive).
    Text,
    /// A whole number.
    Integer,
    /// A finite floating-point number.
    Float,
    /// A calendar date.
    Date,
    /// True or false.
    Bool,
    /// A code of a closed code directory, stored as the code.
    Code(&'static CodeSet),
}

impl AttrType {
    /// How the type is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            AttrType::Text => "text".into(),
            AttrType::Integer => "an integer".into(),
            AttrType::Float => "a number".into(),
            AttrType::Date => "a date (YYYY-MM-DD)".into(),
            AttrType::Bool => "true or false".into(),
            AttrType::Code(set) => format!("a code of {}", set.name),
        }
    }
}

/// A closed code directory: each code with the labels accepted for it on input (case-insensitive); the code itself is always accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodeSet {
    /// The directory's name, e.g. `"DisabilityStatusEnum"`.
    pub name: &'static str,
    /// Each code with its accepted labels, e.g. `("0", &["Approved"])`.
    pub codes: &'static [(&'static str, &'static [&'static str])],
}

impl CodeSet {
    /// The code that `input` names (the code itself or one of its labels, ASCII
    /// case-insensitive, surrounding whitespace ignored), or None.
    pub fn normalize(&self, input: &str) -> Option<&'static str> {
        let input = input.trim();
        // Exact codes first, so that a code never loses to another code's label.
        self.codes
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(input))
            .or_else(|| {
                self.codes.iter().find(|(_, labels)| {
                    labels.iter().any(|label| label.eq_ignore_ascii_case(input))
                })
            })
            .map(|(code, _)| *code)
    }

    /// The codes, for error messages (at most 30).
    pub(crate) fn list(&self) -> String {
        const SHOWN: usize = 30;
        let mut list: Vec<&str> = self
            .codes
            .iter()
            .take(SHOWN)
            .map(|(code, _)| *code)
            .collect();
        if self.codes.len() > SHOWN {
            list.push("...");
        }
        list.join(", ")
    }
}

/// Where an attribute's value lives in SQL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column {
    /// A typed column, written as it appears in SQL, e.g. "h.poverty_score".
    Direct(&'static str),
    /// Whole years elapsed since the date in this column, as of `today` (attribute type Integer).
    AgeFrom(&'static str),
    /// Matches when any of these columns satisfies the comparison (e.g. a location code at any level of a hierarchy).
    AnyOf(&'static [&'static str]),
    /// A value of a related row: `EXISTS (SELECT 1 FROM {from} WHERE {link} AND <comparison on inner>)`.
    /// e.g. from: `"person m"`, link: `"m.household_id = h.id"`, inner: `&Column::AgeFrom("m.birth_date")`.
    Exists {
        /// The related table and its alias, e.g. `"person m"`.
        from: &'static str,
        /// The join condition, e.g. `"m.household_id = h.id"`.
        link: &'static str,
        /// The related row's column the comparison applies to.
        inner: &'static Column,
    },
}
