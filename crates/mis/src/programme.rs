//! Programme definitions, read from TOML files (see `programmes/` and the SP-MIS docs).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::MisError;
use crate::rules::Rule;

/// Who a programme enrols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A person.
    Person,
    /// A household, its benefit received by the head.
    Household,
}

impl Target {
    /// AssistanceUnitEnum: `1` a person, `2` a household.
    pub fn assistance_unit(self) -> &'static str {
        match self {
            Target::Person => "1",
            Target::Household => "2",
        }
    }
}

/// A registry event on which a programme enrols without an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The civil registry registers a birth: the child is the applicant (UC-05).
    Birth,
}

/// What one cycle's benefit is worth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// ISO 4217.
    pub currency: String,
    /// The benefit of one cycle, in minor units.
    pub per_cycle: i64,
}

/// A rule as the file writes it: a name and an expression.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    rule: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgrammeFile {
    code: String,
    name: String,
    description: String,
    institution: String,
    benefit_type: String,
    target: Target,
    frequency: String,
    budget: i64,
    amount: Amount,
    eligibility: Vec<RuleText>,
    #[serde(default)]
    conditions: Vec<RuleText>,
    #[serde(default)]
    enrol_on: Option<Trigger>,
}

/// A social protection programme as the SP-MIS runs it.
#[derive(Debug, Clone)]
pub struct Programme {
    /// Its code, as the IBR knows it (`OAA`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The ministry that runs it.
    pub institution: String,
    /// BenefitTypeEnum code: `1` cash, `2` voucher ...
    pub benefit_type: String,
    /// Person or household.
    pub target: Target,
    /// How often it pays (`MONTHLY`).
    pub frequency: String,
    /// The yearly budget, in minor units of the amount's currency.
    pub budget: i64,
    /// The benefit of one cycle.
    pub amount: Amount,
    /// Every rule must pass for an applicant to be enrolled.
    pub eligibility: Vec<Rule>,
    /// Rules a beneficiary must keep passing to keep the benefit.
    pub conditions: Vec<Rule>,
    /// The event on which the SP-MIS enrols without an application, if any.
    pub enrol_on: Option<Trigger>,
}

impl Programme {
    /// Reads a programme from its TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, MisError> {
        let file: ProgrammeFile = toml::from_str(text).map_err(|e| MisError::Programme {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let rules = |texts: Vec<RuleText>| {
            texts
                .into_iter()
                .map(|r| Rule::parse(&r.name, &r.rule))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| MisError::Programme {
                    origin: origin.to_string(),
                    message: e.to_string(),
                })
        };
        if file.eligibility.is_empty() {
            return Err(MisError::Programme {
                origin: origin.to_string(),
                message: "a programme needs at least one eligibility rule".into(),
            });
        }
        Ok(Programme {
            code: file.code,
            name: file.name,
            description: file.description,
            institution: file.institution,
            benefit_type: file.benefit_type,
            target: file.target,
            frequency: file.frequency,
            budget: file.budget,
            amount: file.amount,
            eligibility: rules(file.eligibility)?,
            conditions: rules(file.conditions)?,
            enrol_on: file.enrol_on,
        })
    }

    /// Reads every `*.toml` file of `dir`, sorted by file name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Self>, MisError> {
        let io = |e: std::io::Error| MisError::Programme {
            origin: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        paths.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).map_err(io)?;
                Programme::parse(&text, &path.display().to_string())
            })
            .collect()
    }
}

/// The programmes spx ships (`crates/mis/programmes`), compiled in so the sandbox needs no
/// files at run time.
pub const SHIPPED: &[(&str, &str)] = &[
    ("cb.toml", include_str!("../programmes/cb.toml")),
    ("oaa.toml", include_str!("../programmes/oaa.toml")),
    ("wa.toml", include_str!("../programmes/wa.toml")),
];

/// The shipped programmes, parsed.
pub fn shipped() -> Result<Vec<Programme>, MisError> {
    SHIPPED
        .iter()
        .map(|(name, text)| Programme::parse(text, name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_programmes_are_the_files_and_agree_with_the_catalogue() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("programmes");
        let on_disk: Vec<String> = Programme::load_dir(&dir)
            .unwrap()
            .into_iter()
            .map(|p| p.code)
            .collect();
        let shipped = shipped().unwrap();
        assert_eq!(
            on_disk,
            shipped.iter().map(|p| p.code.clone()).collect::<Vec<_>>()
        );
        let catalogue = synth::benefits::programmes();
        for programme in &shipped {
            let known = catalogue
                .iter()
                .find(|p| p.code == programme.code)
                .unwrap_or_else(|| panic!("{} is not in the catalogue", programme.code));
            assert_eq!(
                (
                    known.name.as_str(),
                    known.benefit_type.as_str(),
                    known.assistance_unit.as_str(),
                    known.amount,
                    known.currency.as_str(),
                    known.frequency.as_str(),
                    known.institution.as_str(),
                ),
                (
                    programme.name.as_str(),
                    programme.benefit_type.as_str(),
                    programme.target.assistance_unit(),
                    programme.amount.per_cycle,
                    programme.amount.currency.as_str(),
                    programme.frequency.as_str(),
                    programme.institution.as_str(),
                ),
                "{}",
                programme.code
            );
        }
    }

    #[test]
    fn a_bad_file_names_itself_and_its_fault() {
        let text = include_str!("../programmes/oaa.toml").replace("age >= 65", "height >= 65");
        let error = Programme::parse(&text, "oaa.toml").unwrap_err().to_string();
        assert!(error.starts_with("programme oaa.toml: "), "{error}");
        assert!(error.contains("height"), "{error}");
        let error = Programme::parse("code = 1", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("programme x.toml: "), "{error}");
    }
}
