//! Programme definitions, read from TOML files (see `programmes/` and the SP-MIS docs).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::MisError;
use crate::lifecycle::Status;
use crate::rules::{Registry, Rule};

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
    /// The civil registry registers a birth: the child applies (UC-05), or its mother
    /// (UC-09, with [`Applicant::Mother`]).
    Birth,
    /// The disability registry certifies a person (`DisabilityApproved`): they apply (UC-10).
    Disability,
}

/// Who applies when the event a programme enrols on happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Applicant {
    /// The person the event is about: the newborn, the certified person.
    #[default]
    Subject,
    /// The mother of the newborn (a birth only).
    Mother,
}

impl Applicant {
    /// Whether it is the default, [`Applicant::Subject`] (left out of a definition's JSON).
    fn is_subject(&self) -> bool {
        *self == Applicant::Subject
    }
}

/// What becomes of a beneficiary who no longer meets a condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Otherwise {
    /// Suspended until the condition is met again (school attendance).
    #[default]
    Suspend,
    /// Graduated: the programme's time is over (a child grown out of its ages).
    Graduate,
    /// Exited (the child the benefit is for has died).
    Exit,
}

impl Otherwise {
    /// The status the beneficiary takes.
    pub fn status(self) -> Status {
        match self {
            Otherwise::Suspend => Status::Suspended,
            Otherwise::Graduate => Status::Graduated,
            Otherwise::Exit => Status::Exited,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleText {
    /// What it checks (`aged 65 or more`).
    pub name: String,
    /// The expression (`age >= 65`).
    pub rule: String,
    /// A condition's: what becomes of a beneficiary who fails it (suspended unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Otherwise>,
}

/// A condition to keep the benefit, and what failing it does.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The rule.
    pub rule: Rule,
    /// What becomes of a beneficiary who fails it.
    pub otherwise: Otherwise,
}

/// Where proactive enrolment ([`crate::Mis::enrol_eligible`]) finds its candidates: a search
/// of a registry, every page of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidates {
    /// `social`, `fr` or `dr`.
    pub registry: Registry,
    /// The records searched: `Group` (its head is the candidate) or `Member` in the social
    /// registry, `Farmer` in the farmer registry, `DisabledPerson` in the disability registry.
    pub record_type: String,
    /// A text expression of that registry's search grammar
    /// (`poverty_score <= 20 AND region_code = "R01"`).
    pub query: String,
    /// Records asked for in one page of the search (100 unless given; at most what the
    /// registry allows).
    #[serde(default = "default_page_size")]
    pub page_size: i64,
}

fn default_page_size() -> i64 {
    100
}

/// The record types a candidate search may ask for, per registry.
const CANDIDATE_RECORDS: &[(Registry, &[&str])] = &[
    (Registry::Social, &["Group", "Member"]),
    (Registry::Fr, &["Farmer"]),
    (Registry::Dr, &["DisabledPerson"]),
];

/// A programme as its file (TOML) or `POST /mis/programmes` (JSON) writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// See [`Programme::code`].
    pub code: String,
    /// See [`Programme::name`].
    pub name: String,
    /// See [`Programme::description`].
    pub description: String,
    /// See [`Programme::institution`].
    pub institution: String,
    /// See [`Programme::benefit_type`].
    pub benefit_type: String,
    /// See [`Programme::target`].
    pub target: Target,
    /// See [`Programme::frequency`].
    pub frequency: String,
    /// See [`Programme::budget`].
    pub budget: i64,
    /// See [`Programme::amount`].
    pub amount: Amount,
    /// See [`Programme::eligibility`]; at least one.
    pub eligibility: Vec<RuleText>,
    /// See [`Programme::conditions`].
    #[serde(default)]
    pub conditions: Vec<RuleText>,
    /// See [`Programme::candidates`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Candidates>,
    /// See [`Programme::enrol_on`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrol_on: Option<Trigger>,
    /// See [`Programme::applicant`].
    #[serde(default, skip_serializing_if = "Applicant::is_subject")]
    pub applicant: Applicant,
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
    /// Rules a beneficiary must keep passing to keep the benefit, checked at each cycle (and
    /// when a child the benefit is for dies).
    pub conditions: Vec<Condition>,
    /// Where proactive enrolment finds candidates, if the programme enrols proactively.
    pub candidates: Option<Candidates>,
    /// The event on which the SP-MIS enrols without an application, if any.
    pub enrol_on: Option<Trigger>,
    /// Who applies on that event.
    pub applicant: Applicant,
    definition: Definition,
}

impl Programme {
    /// Reads a programme from its TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, MisError> {
        let definition: Definition = toml::from_str(text).map_err(|e| MisError::Programme {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        Programme::define(definition, origin)
    }

    /// Checks `definition` (the same checks for a file and for the HTTP API); `origin` names
    /// it in errors.
    pub fn define(definition: Definition, origin: &str) -> Result<Self, MisError> {
        let fault = |message: String| MisError::Programme {
            origin: origin.to_string(),
            message,
        };
        let rules = |texts: &[RuleText]| {
            texts
                .iter()
                .map(|r| Rule::parse(&r.name, &r.rule))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fault(e.to_string()))
        };
        let d = &definition;
        let code_ok = !d.code.is_empty()
            && d.code.len() <= 32
            && d.code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !code_ok {
            return Err(fault(format!(
                "code '{}' must be 1 to 32 letters, digits or dashes",
                d.code
            )));
        }
        if dci::directory::normalize(dci::directory::BENEFIT_TYPE, &d.benefit_type).is_none() {
            return Err(fault(format!(
                "benefit_type '{}' is not a BenefitTypeEnum code",
                d.benefit_type
            )));
        }
        if dci::money::Currency::parse(&d.amount.currency).is_err() {
            return Err(fault(format!(
                "amount.currency '{}' is not an ISO 4217 code",
                d.amount.currency
            )));
        }
        if d.amount.per_cycle <= 0 || d.budget < 0 {
            return Err(fault(
                "amount.per_cycle must be more than 0 and budget not negative".into(),
            ));
        }
        if d.eligibility.iter().any(|r| r.otherwise.is_some()) {
            return Err(fault(
                "eligibility rules have no 'otherwise': only conditions do".into(),
            ));
        }
        if d.applicant == Applicant::Mother && d.enrol_on != Some(Trigger::Birth) {
            return Err(fault(
                "applicant = \"mother\" needs enrol_on = \"birth\"".into(),
            ));
        }
        if d.eligibility.is_empty() {
            return Err(fault(
                "a programme needs at least one eligibility rule".into(),
            ));
        }
        if let Some(candidates) = &d.candidates {
            let known = CANDIDATE_RECORDS
                .iter()
                .find(|(registry, _)| *registry == candidates.registry);
            match known {
                Some((_, types)) if types.contains(&candidates.record_type.as_str()) => {}
                _ => {
                    return Err(fault(format!(
                        "candidates: {} {} cannot be searched for candidates (social Group or Member, fr Farmer, dr DisabledPerson)",
                        candidates.registry.as_str(),
                        candidates.record_type
                    )));
                }
            }
            if candidates.query.trim().is_empty() {
                return Err(fault("candidates.query is empty".into()));
            }
            if candidates.page_size < 1 {
                return Err(fault("candidates.page_size must be 1 or more".into()));
            }
        }
        Ok(Programme {
            code: d.code.clone(),
            name: d.name.clone(),
            description: d.description.clone(),
            institution: d.institution.clone(),
            benefit_type: d.benefit_type.clone(),
            target: d.target,
            frequency: d.frequency.clone(),
            budget: d.budget,
            amount: d.amount.clone(),
            eligibility: rules(&d.eligibility)?,
            conditions: rules(&d.conditions)?
                .into_iter()
                .zip(&d.conditions)
                .map(|(rule, text)| Condition {
                    rule,
                    otherwise: text.otherwise.unwrap_or_default(),
                })
                .collect(),
            candidates: d.candidates.clone(),
            enrol_on: d.enrol_on,
            applicant: d.applicant,
            definition,
        })
    }

    /// The definition it was made of, as the API shows and the store keeps it.
    pub fn definition(&self) -> &Definition {
        &self.definition
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
    ("da.toml", include_str!("../programmes/da.toml")),
    ("ecct.toml", include_str!("../programmes/ecct.toml")),
    ("fsp.toml", include_str!("../programmes/fsp.toml")),
    ("lmcct.toml", include_str!("../programmes/lmcct.toml")),
    ("oaa.toml", include_str!("../programmes/oaa.toml")),
    ("uct.toml", include_str!("../programmes/uct.toml")),
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

    #[test]
    fn conditions_say_what_failing_them_does_and_only_births_have_mothers_apply() {
        let lmcct = include_str!("../programmes/lmcct.toml");
        let programme = Programme::parse(lmcct, "lmcct.toml").unwrap();
        let otherwise: Vec<(&str, Status)> = programme
            .conditions
            .iter()
            .map(|c| (c.rule.name.as_str(), c.otherwise.status()))
            .collect();
        assert_eq!(
            otherwise,
            [
                ("alive", Status::Exited),
                ("the child alive", Status::Exited),
                ("a child under 2", Status::Graduated)
            ]
        );
        assert_eq!(programme.applicant, Applicant::Mother);
        let ecct = Programme::parse(include_str!("../programmes/ecct.toml"), "ecct.toml").unwrap();
        assert_eq!(ecct.conditions[2].otherwise, Otherwise::Suspend);
        let on_eligibility = lmcct.replacen(
            "rule = \"deceased = false\"\n",
            "rule = \"deceased = false\"\notherwise = \"exit\"\n",
            1,
        );
        let error = Programme::parse(&on_eligibility, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("eligibility rules have no 'otherwise'"),
            "{error}"
        );
        let without_birth = lmcct.replace("enrol_on = \"birth\"\n", "");
        let error = Programme::parse(&without_birth, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("applicant = \"mother\" needs enrol_on = \"birth\""),
            "{error}"
        );
        let unknown = lmcct.replace("otherwise = \"graduate\"", "otherwise = \"pause\"");
        assert!(Programme::parse(&unknown, "x.toml").is_err());
    }
}
