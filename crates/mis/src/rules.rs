//! Eligibility rules: `expr` text expressions over the facts the SP-MIS fetches from
//! registries, evaluated so that each decision explains itself.
//!
//! A rule is one expression of the `expr` text grammar over [`FACTS`]: `age >= 65`,
//! `marital_status = "W" AND sex = "female"`, `birth_date <= today - 60 years`. `age` is whole
//! years from the birth date, and `today` the day of the decision. Each fact remembers which registry gave it and in which DCI
//! transaction, and each rule's result lists the facts it read with those sources.

use std::collections::BTreeMap;

use expr::{AttrType, Attribute, Column, Expr, Schema, Value};
use serde::{Deserialize, Serialize};
use time::Date;

/// The facts a rule can read, and the registry each comes from.
pub static FACTS: Schema = Schema {
    entity: "Applicant",
    attributes: &[
        Attribute {
            name: "age",
            aliases: &[],
            ty: AttrType::Integer,
            column: Column::AgeFrom("birth_date"),
        },
        Attribute {
            name: "birth_date",
            aliases: &[],
            ty: AttrType::Date,
            column: Column::Direct("birth_date"),
        },
        Attribute {
            name: "sex",
            aliases: &[],
            ty: AttrType::Text,
            column: Column::Direct("sex"),
        },
        Attribute {
            name: "marital_status",
            aliases: &[],
            ty: AttrType::Text,
            column: Column::Direct("marital_status"),
        },
        Attribute {
            name: "deceased",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("deceased"),
        },
        Attribute {
            name: "spouse_deceased",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("spouse_deceased"),
        },
        Attribute {
            name: "spouse_death_date",
            aliases: &[],
            ty: AttrType::Date,
            column: Column::Direct("spouse_death_date"),
        },
        Attribute {
            name: "poverty_score",
            aliases: &[],
            ty: AttrType::Float,
            column: Column::Direct("poverty_score"),
        },
        Attribute {
            name: "identity_verified",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("identity_verified"),
        },
        // Proactive enrolment and cycles: the household (SR), school attendance (SR), the
        // farm (FR).
        Attribute {
            name: "household_id",
            aliases: &[],
            ty: AttrType::Text,
            column: Column::Direct("household_id"),
        },
        Attribute {
            name: "household_size",
            aliases: &[],
            ty: AttrType::Integer,
            column: Column::Direct("household_size"),
        },
        Attribute {
            name: "region_code",
            aliases: &[],
            ty: AttrType::Text,
            column: Column::Direct("region_code"),
        },
        Attribute {
            name: "attends_school",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("attends_school"),
        },
        Attribute {
            name: "land_size",
            aliases: &[],
            ty: AttrType::Float,
            column: Column::Direct("land_size"),
        },
        // UC-05 (child benefit): the child's mother, from the civil registry's record of the
        // child, and the poverty score of her household in the social registry.
        Attribute {
            name: "mother_poverty_score",
            aliases: &[],
            ty: AttrType::Float,
            column: Column::Direct("mother_poverty_score"),
        },
        // UC-09 (lactating mothers): the applicant's youngest child in the civil registry
        // (the one whose mother she is registered as, born last).
        Attribute {
            name: "youngest_child_birth_date",
            aliases: &[],
            ty: AttrType::Date,
            column: Column::Direct("youngest_child_birth_date"),
        },
        Attribute {
            name: "youngest_child_deceased",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("youngest_child_deceased"),
        },
        // UC-10 (disability allowance): whether the disability registry holds a certificate
        // of the person valid today (`/registry/sync/disabled`).
        Attribute {
            name: "disabled",
            aliases: &[],
            ty: AttrType::Bool,
            column: Column::Direct("disabled"),
        },
    ],
};

/// The facts of the person's household in the social registry (its `Group`).
pub const HOUSEHOLD_FACTS: &[&str] = &[
    "poverty_score",
    "household_id",
    "household_size",
    "region_code",
];

/// The registry that provides a fact (a [`FACTS`] column).
pub fn registry_of(fact: &str) -> Registry {
    match fact {
        "identity_verified" => Registry::Id,
        "attends_school" => Registry::Social,
        fact if HOUSEHOLD_FACTS.contains(&fact) => Registry::Social,
        "mother_poverty_score" => Registry::Social,
        "land_size" => Registry::Fr,
        "disabled" => Registry::Dr,
        _ => Registry::Crvs,
    }
}

/// A registry the SP-MIS asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// Civil registration.
    Crvs,
    /// Foundational identity.
    Id,
    /// The social registry.
    Social,
    /// Integrated beneficiary registry.
    Ibr,
    /// The farmer registry.
    Fr,
    /// The disability registry.
    Dr,
}

impl Registry {
    /// The registry's role name (`crvs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Registry::Crvs => "crvs",
            Registry::Id => "id",
            Registry::Social => "social",
            Registry::Ibr => "ibr",
            Registry::Fr => "fr",
            Registry::Dr => "dr",
        }
    }
}

/// Where a fact came from: the registry and the DCI exchange that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The registry asked.
    pub registry: Registry,
    /// What was asked, e.g. `Person UIN=4519…` (the search's record type and query).
    pub query: String,
    /// The request's `transaction_id`.
    pub transaction_id: String,
    /// The registry's `correlation_id` of its answer.
    pub correlation_id: String,
}

/// A named eligibility rule or condition.
#[derive(Debug, Clone)]
pub struct Rule {
    /// What it checks, in the programme's words (`aged 65 or more`).
    pub name: String,
    text: String,
    /// As read on the day the programme was loaded: the facts it reads do not change with the
    /// day, its relative dates do.
    expr: Expr<'static>,
}

impl Rule {
    /// Parses `text` against [`FACTS`], relative dates (`today - 6 months`) allowed.
    pub fn parse(name: &str, text: &str) -> Result<Self, expr::Error> {
        let today = time::OffsetDateTime::now_utc().date();
        Ok(Rule {
            name: name.to_string(),
            text: text.to_string(),
            expr: expr::parse_text_on(text, &FACTS, today)?,
        })
    }

    /// The rule as the programme file writes it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The facts (columns of [`FACTS`]) the rule reads.
    pub fn facts(&self) -> Vec<&'static str> {
        let mut facts: Vec<&'static str> = self
            .expr
            .attributes()
            .into_iter()
            .map(|attr| match attr.column {
                Column::Direct(column) | Column::AgeFrom(column) => column,
                // FACTS has neither.
                Column::AnyOf(_) | Column::Exists { .. } => unreachable!("not in FACTS"),
            })
            .collect();
        facts.dedup();
        facts
    }

    /// The rule's result on `facts` as of `today` (its relative dates counted from that
    /// day), with the facts it read.
    pub fn check(&self, facts: &Facts, today: Date) -> RuleResult {
        // Only a relative date pushed out of the calendar fails here: then nothing is known.
        let on_the_day = expr::parse_text_on(&self.text, &FACTS, today);
        let (outcome, rule) = match &on_the_day {
            Ok(expr) => (
                match expr::evaluate(expr, facts, today) {
                    Some(true) => Outcome::Passed,
                    Some(false) => Outcome::Failed,
                    None => Outcome::Unknown,
                },
                expr.to_string(),
            ),
            Err(error) => (Outcome::Unknown, format!("{}: {error}", self.text)),
        };
        RuleResult {
            name: self.name.clone(),
            rule,
            outcome,
            facts: self
                .facts()
                .into_iter()
                .map(|fact| facts.used(fact))
                .collect(),
        }
    }
}

/// A rule's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The rule holds.
    Passed,
    /// The rule does not hold.
    Failed,
    /// A fact it needs is missing (no record, no answer).
    Unknown,
}

/// One rule of a decision: its result and the facts it read, with their sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's name.
    pub name: String,
    /// The rule as an expression.
    pub rule: String,
    /// Passed, failed or unknown.
    pub outcome: Outcome,
    /// What it read.
    pub facts: Vec<FactUsed>,
}

impl RuleResult {
    /// Why the rule stops an application: `aged 65 or more: age >= 65 failed on birth_date
    /// 1990-01-01`.
    pub fn reason(&self) -> String {
        let facts: Vec<String> = self
            .facts
            .iter()
            .map(|f| match &f.value {
                Some(value) => format!("{} {value}", f.fact),
                None => format!("no {}", f.fact),
            })
            .collect();
        let verdict = match self.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        };
        format!(
            "{}: {} {verdict} on {}",
            self.name,
            self.rule,
            facts.join(", ")
        )
    }
}

/// A fact a rule read: its value (none when the registry had none) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactUsed {
    /// The fact (`birth_date`).
    pub fact: String,
    /// Its value as the rule language writes it, unquoted.
    pub value: Option<String>,
    /// The exchange that provided it (or found it missing); none when that registry was not
    /// asked.
    pub source: Option<Source>,
}

/// The facts known of an applicant, and the exchange each was asked in.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    values: BTreeMap<&'static str, Value>,
    sources: BTreeMap<&'static str, Source>,
}

impl Facts {
    /// Records that `source` was asked for `facts` (which it may not have had).
    pub fn asked(&mut self, source: &Source, facts: &[&'static str]) {
        for fact in facts {
            self.sources.insert(fact, source.clone());
        }
    }

    /// Records `fact` = `value`.
    pub fn set(&mut self, fact: &'static str, value: Value) {
        self.values.insert(fact, value);
    }

    fn used(&self, fact: &'static str) -> FactUsed {
        FactUsed {
            fact: fact.to_string(),
            value: self.values.get(fact).map(|v| match v {
                Value::Text(text) => text.clone(),
                Value::Date(date) => expr::iso_date(*date),
                other => other.to_string(),
            }),
            source: self.sources.get(fact).cloned(),
        }
    }
}

impl expr::Record for Facts {
    fn get(&self, column: &str) -> Option<Value> {
        self.values.get(column).cloned()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn crvs() -> Source {
        Source {
            registry: Registry::Crvs,
            query: "Person UIN=1".into(),
            transaction_id: "t1".into(),
            correlation_id: "c1".into(),
        }
    }

    #[test]
    fn a_rule_explains_itself_with_the_fact_and_its_transaction() {
        let rule = Rule::parse("aged 65 or more", "age >= 65").unwrap();
        let mut facts = Facts::default();
        facts.asked(&crvs(), &["birth_date"]);
        facts.set("birth_date", Value::Date(date!(1960 - 06 - 16)));
        let young = rule.check(&facts, date!(2025 - 06 - 15));
        assert_eq!(young.outcome, Outcome::Failed);
        assert_eq!(
            young.reason(),
            "aged 65 or more: age >= 65 failed on birth_date 1960-06-16"
        );
        assert_eq!(young.facts[0].source, Some(crvs()));
        let old = rule.check(&facts, date!(2025 - 06 - 16));
        assert_eq!(old.outcome, Outcome::Passed);
    }

    #[test]
    fn a_missing_fact_makes_the_rule_unknown() {
        let rule = Rule::parse("alive", "deceased = false").unwrap();
        let result = rule.check(&Facts::default(), date!(2025 - 06 - 15));
        assert_eq!(result.outcome, Outcome::Unknown);
        assert_eq!(
            result.reason(),
            "alive: deceased = false unknown on no deceased"
        );
        assert_eq!(result.facts[0].source, None);
    }

    #[test]
    fn relative_dates_count_from_the_day_of_the_decision() {
        let rule = Rule::parse(
            "born 60 or more years ago",
            "birth_date <= today - 60 years",
        )
        .unwrap();
        let mut facts = Facts::default();
        facts.asked(&crvs(), &["birth_date"]);
        facts.set("birth_date", Value::Date(date!(1965 - 06 - 16)));
        let before = rule.check(&facts, date!(2025 - 06 - 15));
        assert_eq!(
            (before.outcome, before.rule.as_str()),
            (Outcome::Failed, r#"birth_date <= "1965-06-15""#)
        );
        let on = rule.check(&facts, date!(2025 - 06 - 16));
        assert_eq!(on.outcome, Outcome::Passed);
    }

    #[test]
    fn unknown_facts_are_refused_when_the_rule_is_read() {
        let error = Rule::parse("rich", "income > 5").unwrap_err();
        assert!(error.to_string().contains("income"), "{error}");
    }
}
