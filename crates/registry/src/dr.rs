//! The disability registry (DR) profile: each person with a disability certificate or an
//! application for one (`DisabledPerson`, a `PWD_Person`), searchable by `UIN` and certificate
//! number (`DCN`), certification status, level and dates, functional difficulty and severity,
//! impairment, support needed or received, name, sex, age and home.
//!
//! `region_code`, `district_code`, `location_code` and `location` (any of the three, so that
//! a region finds its districts and sub-counties too) are where the person lives.
//! `functional_limitation`, `functional_severity`, `impairment_type` and `impairment_level`
//! hold when one of the person's difficulties has them; each is its own condition (a
//! difficulty of severity 4 and a difficulty in mobility need not be the same one).
//!
//! Besides the DCI search, the DR API's own sync endpoints (dci-spec §4.4 #8-#10) are served:
//! see [`sync`]. Events (dci-spec §3.6, §7.4): a registration raises `DisabledPerson` and the
//! newer revision's `REGISTER` (and the sample's `NewDisabledNewborn` for a child under one);
//! a decision raises spx's `DisabilityStatusChanged`, and `DisabilityApproved` when it
//! certifies (see [`registrar`]).
//!
//! The population's registry is loaded from the generated files (see [`crate::import`]): the
//! registrations of `disabilities.*`, with the names, sex and birth date of `persons.*` and
//! the home of `households.*`.

use std::sync::Arc;

use dci::directory;
use dci::records::common::{Identifier, Member, Name, Person};
use dci::records::dr::{
    self as records, DCN, DisabilityDetails, DisabilitySupport, HumanAssistance, PwdPerson,
    SupportItem,
};
use expr::{AttrType, Attribute, CodeSet, Column, Schema};
use store::{BulkTable, ColumnType, Migration, Row, SqlValue};
use synth::disability::{Difficulty, Disability};
use time::Date;

use crate::Registry;
use crate::profile::{Profile, RecordType};
use crate::rows::{
    address, date_attribute, doc, levels, opt_text, person_attributes, text, text_attribute,
    with_place, ymd,
};
use crate::social::Locations;

pub mod registrar;
pub mod sync;

/// Event: a person was registered (the standard's `spdci-common:RegistryEventType:DisabledPerson`).
pub const DISABLED_PERSON: &str = "DisabledPerson";
/// Event: a person was registered, as the newer revision names it.
pub const REGISTER: &str = "REGISTER";
/// Event: a child under one was registered (the name of the standard's sample subscription).
pub const NEW_DISABLED_NEWBORN: &str = "NewDisabledNewborn";
/// Event: a certification decision changed a person's `disability_status` (spx).
pub const STATUS_CHANGED: &str = "DisabilityStatusChanged";
/// Event: a person was certified, their status became Approved (spx).
pub const APPROVED: &str = "DisabilityApproved";

/// Identifier type of a person in every registry.
const UIN: &str = "UIN";

static DISABILITY_STATUS: CodeSet = CodeSet {
    name: "DisabilityStatusEnum",
    codes: directory::DISABILITY_STATUS,
};
static DISABILITY_LEVEL: CodeSet = CodeSet {
    name: "DisabilityLevelEnum",
    codes: directory::DISABILITY_LEVEL,
};
static FUNCTIONAL_LIMITATION: CodeSet = CodeSet {
    name: "FunctionalLimitationType",
    codes: directory::FUNCTIONAL_LIMITATION,
};
static IMPAIRMENT_TYPE: CodeSet = CodeSet {
    name: "ImpairementType",
    codes: directory::IMPAIRMENT_TYPE,
};
static IMPAIRMENT_LEVEL: CodeSet = CodeSet {
    name: "ImpairmentLevel",
    codes: directory::IMPAIRMENT_LEVEL,
};
static IMPAIRMENT_CAUSE: CodeSet = CodeSet {
    name: "ImpairmentCause",
    codes: directory::IMPAIRMENT_CAUSE,
};
static AGE_ON_SET: CodeSet = CodeSet {
    name: "DisabilityOnSet",
    codes: directory::AGE_ON_SET,
};
static TRANSPORT_REQUIREMENT: CodeSet = CodeSet {
    name: "TransportRequirement",
    codes: directory::TRANSPORT_REQUIREMENT,
};
static HOUSING_TYPE: CodeSet = CodeSet {
    name: "HousingType",
    codes: directory::HOUSING_TYPE,
};
static SUPPORT_KIND: CodeSet = CodeSet {
    name: "support kind",
    codes: directory::SUPPORT_KIND,
};

/// A code attribute on the person's own row.
macro_rules! code {
    ($name:literal, [$($alias:literal),*], $set:expr, $column:literal) => {
        Attribute { name: $name, aliases: &[$($alias),*], ty: AttrType::Code(&$set), column: Column::Direct($column) }
    };
}

/// An attribute of one of the person's difficulties or supports: a row of `$from` linked by
/// `$link`.
macro_rules! related {
    ($from:literal, $link:literal, $name:literal, [$($alias:literal),*], $ty:expr, $column:literal) => {
        Attribute {
            name: $name,
            aliases: &[$($alias),*],
            ty: $ty,
            column: Column::Exists { from: $from, link: $link, inner: &Column::Direct($column) },
        }
    };
}

const PERSON: [Attribute; 5] = person_attributes!(
    "p",
    [
        "personal_details.demographic_info.",
        "member.demographic_info.",
        "demographic_info."
    ]
);

static ATTRIBUTES: [Attribute; 30] = with_place!(
    "p",
    "personal_details.demographic_info.address",
    [
        text_attribute!(
            "dcn",
            ["disability_id", "certificate_number", "identifier"],
            "p.dcn"
        ),
        text_attribute!(
            "uin",
            [
                "person_identifier",
                "national_id",
                "personal_details.demographic_info.identifier"
            ],
            "p.uin"
        ),
        Attribute {
            name: "member_identifier",
            aliases: &[
                "personal_details.member_identifier",
                "member.member_identifier",
            ],
            ty: AttrType::Text,
            column: Column::AnyOf(&["p.dcn", "p.uin"]),
        },
        PERSON[0],
        PERSON[1],
        PERSON[2],
        PERSON[3],
        PERSON[4],
        code!(
            "disability_status",
            ["status", "certification_status"],
            DISABILITY_STATUS,
            "p.disability_status"
        ),
        code!(
            "disability_level",
            ["disability_status_level", "level"],
            DISABILITY_LEVEL,
            "p.disability_level"
        ),
        code!(
            "impairment_cause",
            ["disability_details.impairment_cause", "cause"],
            IMPAIRMENT_CAUSE,
            "p.impairment_cause"
        ),
        code!(
            "age_on_set",
            ["disability_details.age_on_set", "onset"],
            AGE_ON_SET,
            "p.age_on_set"
        ),
        code!(
            "transport_requirement",
            [],
            TRANSPORT_REQUIREMENT,
            "p.transport_requirement"
        ),
        code!("housing_type", [], HOUSING_TYPE, "p.housing_type"),
        Attribute {
            name: "support_received",
            aliases: &["receives_support"],
            ty: AttrType::Bool,
            column: Column::Direct("p.support_received"),
        },
        Attribute {
            name: "support_needed",
            aliases: &["needs_support"],
            ty: AttrType::Bool,
            column: Column::Direct("p.support_needed"),
        },
        date_attribute!("application_date", [], "p.application_date"),
        date_attribute!("assessment_date", ["decision_date"], "p.assessment_date"),
        date_attribute!(
            "expiry_date",
            ["valid_until", "certificate_expiry_date"],
            "p.expiry_date"
        ),
        date_attribute!("registration_date", [], "p.registration_date"),
        related!(
            "pwd_difficulty f",
            "f.dcn = p.dcn",
            "functional_limitation",
            [
                "disability_limitation_type",
                "disability_details.disability_limitation_type",
                "functional_difficulty",
                "difficulty",
                "disability_type"
            ],
            AttrType::Code(&FUNCTIONAL_LIMITATION),
            "f.limitation_type"
        ),
        related!(
            "pwd_difficulty f",
            "f.dcn = p.dcn",
            "functional_severity",
            ["disability_details.functional_severity", "severity"],
            AttrType::Integer,
            "f.severity"
        ),
        related!(
            "pwd_difficulty f",
            "f.dcn = p.dcn",
            "impairment_type",
            ["disability_details.impairment_type"],
            AttrType::Code(&IMPAIRMENT_TYPE),
            "f.impairment_type"
        ),
        related!(
            "pwd_difficulty f",
            "f.dcn = p.dcn",
            "impairment_level",
            ["disability_details.impairment_level"],
            AttrType::Code(&IMPAIRMENT_LEVEL),
            "f.impairment_level"
        ),
        related!(
            "pwd_support s",
            "s.dcn = p.dcn",
            "support_kind",
            ["support"],
            AttrType::Code(&SUPPORT_KIND),
            "s.kind"
        ),
        related!(
            "pwd_support s",
            "s.dcn = p.dcn",
            "support_type",
            ["disability_support.type"],
            AttrType::Text,
            "s.type"
        ),
    ]
);

const TABLES: Migration = Migration {
    version: 201,
    name: "disability registry tables",
    sqlite: include_str!("../migrations/sqlite/dr_0201_init.sql"),
    postgres: include_str!("../migrations/postgres/dr_0201_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/dr_0202_indexes.sql");

const INDEXES: Migration = Migration {
    version: 202,
    name: "disability registry indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// The disability registry profile.
pub static PROFILE: Profile = Profile {
    role: "dr",
    reg_type: "ns:org:RegistryType:DR",
    reg_type_aliases: &["Disability", "DisabilityRegistry", "PWD"],
    event_types: &[
        DISABLED_PERSON,
        REGISTER,
        NEW_DISABLED_NEWBORN,
        STATUS_CHANGED,
        APPROVED,
    ],
    event_aliases: &[],
    record_types: &[RecordType {
        name: records::DISABLED_PERSON,
        aliases: &[
            "PWD_Person",
            "PWDPerson",
            "DRPerson",
            "DR_Person",
            "Person",
            "Member",
        ],
        schema: Schema {
            entity: records::DISABLED_PERSON,
            attributes: &ATTRIBUTES,
        },
        from: "pwd p",
        key: "p.id",
        doc: "p.doc",
        identifiers: &[(UIN, "uin"), (DCN, "dcn")],
        members: None,
    }],
    migrations: &[TABLES, INDEXES],
    indexes: &INDEXES,
    routes,
};

/// The DR API's own endpoints and the registrar's.
fn routes() -> axum::Router<Arc<Registry>> {
    sync::routes().merge(registrar::routes())
}

/// Columns of a person's row, as [`DisabledPerson::rows`] fills them.
pub const PWD_TABLE: BulkTable = BulkTable {
    table: "pwd",
    columns: &[
        ("dcn", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("disability_status", ColumnType::Text),
        ("disability_level", ColumnType::Text),
        ("impairment_cause", ColumnType::Text),
        ("age_on_set", ColumnType::Text),
        ("transport_requirement", ColumnType::Text),
        ("housing_type", ColumnType::Text),
        ("support_received", ColumnType::Bool),
        ("support_needed", ColumnType::Bool),
        ("application_date", ColumnType::Date),
        ("assessment_date", ColumnType::Date),
        ("expiry_date", ColumnType::Date),
        ("registration_date", ColumnType::Date),
        ("version", ColumnType::Integer),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a difficulty's row.
pub const DIFFICULTY_TABLE: BulkTable = BulkTable {
    table: "pwd_difficulty",
    columns: &[
        ("dcn", ColumnType::Text),
        ("limitation_type", ColumnType::Text),
        ("severity", ColumnType::Integer),
        ("impairment_type", ColumnType::Text),
        ("impairment_level", ColumnType::Text),
    ],
};

/// Columns of a support's row.
pub const SUPPORT_TABLE: BulkTable = BulkTable {
    table: "pwd_support",
    columns: &[
        ("dcn", ColumnType::Text),
        ("kind", ColumnType::Text),
        ("type", ColumnType::Text),
        ("received", ColumnType::Bool),
        ("intensity", ColumnType::Text),
    ],
};

/// A person of the disability registry, typed: their published record and their rows are
/// made from it, at import and at every registration or decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DisabledPerson {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code.
    pub sex: String,
    /// Date of birth.
    pub birth_date: Date,
    /// Location code of the person's home.
    pub home: Option<String>,
    /// The certificate (or application), difficulties and support.
    pub disability: Disability,
    /// How many decisions changed the record since it was loaded or registered.
    pub version: i64,
}

/// The ImpairementType of a difficulty's domain.
fn impairment_type(domain: &str) -> Option<&'static str> {
    Some(match domain {
        "VIS_SS" => "1",
        "HEAR_SS" => "2",
        "MOB_SS" | "SC_SS" => "3",
        "COG_SS" => "4",
        "COM_SS" => "5",
        _ => return None,
    })
}

/// The ImpairmentLevel of a FunctionalSeverityEnum severity: some difficulty is mild, a lot
/// is severe, cannot do it at all is extreme.
fn impairment_level(severity: u8) -> Option<&'static str> {
    match severity {
        2 => Some("1"),
        3 => Some("3"),
        4 => Some("4"),
        _ => None,
    }
}

impl DisabledPerson {
    /// The registration of a person of the generated population living at `home`.
    pub fn from_population(
        person: &synth::Person,
        home: Option<&str>,
        disability: Disability,
    ) -> Self {
        DisabledPerson {
            given_name: person.given_name.clone(),
            surname: person.surname.clone(),
            sex: person.sex.clone(),
            birth_date: person.birth_date,
            home: home.map(str::to_string),
            disability,
            version: 0,
        }
    }

    fn details(&self, difficulty: &Difficulty) -> DisabilityDetails {
        DisabilityDetails {
            disability_limitation_type: Some(difficulty.domain.clone()),
            functional_severity: Some(difficulty.severity.to_string()),
            impairment_type: impairment_type(&difficulty.domain).map(str::to_string),
            impairment_level: impairment_level(difficulty.severity).map(str::to_string),
            impairment_cause: Some(self.disability.impairment_cause.clone()),
            age_on_set: Some(self.disability.age_on_set.clone()),
        }
    }

    fn support(&self, updated: &str) -> Vec<DisabilitySupport> {
        let mut support = DisabilitySupport::default();
        for item in &self.disability.supports {
            let status = Some(if item.received { "1" } else { "0" }.to_string());
            let plain = || SupportItem {
                kind: item.code.clone(),
                status: status.clone(),
            };
            match item.kind.as_str() {
                "human_assistance" => support.human_assistance.push(HumanAssistance {
                    kind: item.code.clone(),
                    intensity: item.intensity.clone(),
                    support: status.clone(),
                }),
                "assistive_technology" => support.assistive_technology.push(plain()),
                "housing_support" => support.housing_support.push(plain()),
                "medical_care" => support.medical_care.push(plain()),
                _ => support.animal_assistance.push(plain()),
            }
        }
        if support.is_empty() {
            return Vec::new();
        }
        support.registration_date = Some(ymd(self.disability.application_date));
        support.last_updated = Some(updated.to_string());
        vec![support]
    }

    /// The person as the registry publishes them (`PWD_Person`), last changed at `updated`.
    pub fn record(&self, locations: &Locations, updated: &str) -> PwdPerson {
        let d = &self.disability;
        let uin = Identifier::new(UIN, &d.uin);
        let address = address(self.home.as_deref(), locations);
        PwdPerson {
            kind: records::PWD_PERSON.into(),
            personal_details: Member {
                kind: "Member".into(),
                member_identifier: vec![Identifier::new(DCN, &d.dcn), uin.clone()],
                demographic_info: Person {
                    kind: records::DR_PERSON.into(),
                    identifier: vec![uin],
                    name: Name {
                        surname: Some(self.surname.clone()),
                        given_name: Some(self.given_name.clone()),
                        ..Name::default()
                    },
                    sex: self.sex.clone(),
                    birth_date: ymd(self.birth_date),
                    address: address.into_iter().collect(),
                },
            },
            disability_status: Some(d.status.clone()),
            disability_status_level: d.disability_level.clone(),
            disability_details: d.difficulties.iter().map(|x| self.details(x)).collect(),
            disability_support: self.support(updated),
            transport_requirement: Some(d.transport_requirement.clone()),
            housing_type: Some(d.housing_type.clone()),
            application_date: Some(ymd(d.application_date)),
            assessment_date: d.assessment_date.map(ymd),
            expiry_date: d.expiry_date.map(ymd),
            registration_date: Some(ymd(d.application_date)),
            last_updated: Some(updated.to_string()),
        }
    }

    /// The person's row (published record included), last changed at `updated`.
    pub fn row(&self, locations: &Locations, updated: &str) -> Row {
        let d = &self.disability;
        let [region, district, location] = levels(self.home.as_deref(), locations);
        vec![
            text(&d.dcn),
            text(&d.uin),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            region,
            district,
            location,
            text(&d.status),
            opt_text(d.disability_level.as_deref()),
            text(&d.impairment_cause),
            text(&d.age_on_set),
            text(&d.transport_requirement),
            text(&d.housing_type),
            Some(SqlValue::Bool(d.supports.iter().any(|s| s.received))),
            Some(SqlValue::Bool(d.supports.iter().any(|s| !s.received))),
            Some(SqlValue::Date(d.application_date)),
            d.assessment_date.map(SqlValue::Date),
            d.expiry_date.map(SqlValue::Date),
            Some(SqlValue::Date(d.application_date)),
            Some(SqlValue::Integer(self.version)),
            doc(&self.record(locations, updated)),
        ]
    }

    /// The rows of the person's difficulties.
    pub fn difficulty_rows(&self) -> Vec<Row> {
        let d = &self.disability;
        d.difficulties
            .iter()
            .map(|x| {
                vec![
                    text(&d.dcn),
                    text(&x.domain),
                    Some(SqlValue::Integer(i64::from(x.severity))),
                    opt_text(impairment_type(&x.domain)),
                    opt_text(impairment_level(x.severity)),
                ]
            })
            .collect()
    }

    /// The rows of the person's support.
    pub fn support_rows(&self) -> Vec<Row> {
        let d = &self.disability;
        d.supports
            .iter()
            .map(|s| {
                vec![
                    text(&d.dcn),
                    text(&s.kind),
                    text(&s.code),
                    Some(SqlValue::Bool(s.received)),
                    opt_text(s.intensity.as_deref()),
                ]
            })
            .collect()
    }
}
