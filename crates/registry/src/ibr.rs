//! The integrated beneficiary registry (IBR) profile: who receives what from which
//! programme, as the programmes' SP-MISs publish it.
//!
//! Record types: `Beneficiary` (the default; one person or household enrolled in one
//! programme, with the enrolment's status and its latest benefits), `Benefit` (one payment,
//! the whole history) and `Programme`. A search by `UIN` over beneficiaries lists every
//! programme a person is in ("real coverage"); over benefits, every payment they received.
//!
//! Duplicates: an active enrolment whose beneficiary is also active in another programme
//! giving the same benefit type is a duplicate (`duplicate = true`, a queryable attribute,
//! kept up to date by every change; `spx ibr duplicates` lists them).
//!
//! Events (dci-spec §3.6): `enrollement` (sic, the standard's spelling; `enrollment` and
//! `enrolment` are accepted) when a beneficiary is enrolled, `enrollement_status_change` when
//! an enrolment's status changes.
//!
//! The SP-MISs publish through `POST /registry/sync/enrollment/updates` ([`updates`]); the
//! population's registry is loaded from the generated files (see [`crate::import`]):
//! `programmes.json`, `enrolments.*` and `benefits.*`, with the names, sex and birth date of
//! `persons.*` and the home of `households.*`.

use std::collections::BTreeMap;

use dci::directory;
use dci::records::common::{Identifier, Name, Person};
use dci::records::fr::FamilyRef;
use dci::records::ibr::{
    self as records, Beneficiary, BeneficiaryMember, Benefit, Programme, format_value,
};
use expr::{AttrType, Attribute, CodeSet, Column, Schema};
use store::{BulkTable, ColumnType, Dialect, Migration, Row, SqlValue, Statement, placeholder};
use time::Date;

use crate::profile::{Profile, RecordType};
use crate::rows::{
    address, date_attribute, doc, levels, opt_text, person_attributes, text, text_attribute,
    with_place, ymd,
};
use crate::social::{HOUSEHOLD_ID, Locations};

pub mod updates;

/// Event: a beneficiary was enrolled (the standard's spelling).
pub const ENROLLMENT: &str = "enrollement";
/// Event: an enrolment's status changed (the standard's spelling).
pub const STATUS_CHANGE: &str = "enrollement_status_change";

/// Identifier type of a person.
const UIN: &str = "UIN";
/// Identifier type of a programme (spx).
pub const PROGRAMME_ID: &str = "PROGRAMME";

/// Benefits a `Beneficiary` record lists (the most recent); the `Benefit` records hold all.
pub const LISTED_BENEFITS: usize = 12;

/// EnrollmentStatusEnum `1`: the one status that is paid and counts as enrolled.
pub const ACTIVE: &str = "1";

static ENROLMENT_STATUS: CodeSet = CodeSet {
    name: "EnrollmentStatusEnum",
    codes: directory::ENROLMENT_STATUS,
};
static BENEFIT_TYPE: CodeSet = CodeSet {
    name: "BenefitTypeEnum",
    codes: directory::BENEFIT_TYPE,
};
static PAYMENT_STATUS: CodeSet = CodeSet {
    name: "PaymentStatusEnum",
    codes: directory::PAYMENT_STATUS,
};

/// An attribute of the enrolment's benefits: true when one of them has it.
macro_rules! paid {
    ($name:literal, [$($alias:literal),*], $ty:expr, $inner:expr) => {
        Attribute {
            name: $name,
            aliases: &[$($alias),*],
            ty: $ty,
            column: Column::Exists {
                from: "benefit b",
                link: "b.programme_code = e.programme_code AND b.beneficiary_id = e.beneficiary_id",
                inner: &$inner,
            },
        }
    };
}

const BENEFICIARY_PERSON: [Attribute; 5] =
    person_attributes!("e", ["member.demographic_info.", "demographic_info."]);

static BENEFICIARY_ATTRIBUTES: [Attribute; 23] = with_place!(
    "e",
    "member.demographic_info.address",
    [
        text_attribute!(
            "beneficiary_id",
            ["beneficiary_identifier"],
            "e.beneficiary_id"
        ),
        text_attribute!(
            "uin",
            [
                "person_identifier",
                "member_identifier",
                "member.member_identifier",
                "national_id"
            ],
            "e.uin"
        ),
        text_attribute!(
            "household_id",
            [
                "group_identifier",
                "group.group_identifier",
                "hhid",
                "household_identifier"
            ],
            "e.household_id"
        ),
        text_attribute!(
            "programme_identifier",
            [
                "programme",
                "programme_code",
                "program",
                "programme_identifier.programme_identifier",
                "programme_identifier.programme.programme_identifier",
                "programme_identifier.program.programme_identifier"
            ],
            "e.programme_code"
        ),
        Attribute {
            name: "assistance_unit",
            aliases: &["benefiting_entity"],
            ty: AttrType::Code(&crate::social::GROUP_TYPE),
            column: Column::Direct("e.assistance_unit"),
        },
        Attribute {
            name: "enrollment_status",
            aliases: &["enrolment_status", "status"],
            ty: AttrType::Code(&ENROLMENT_STATUS),
            column: Column::Direct("e.status"),
        },
        date_attribute!(
            "enrollment_date",
            ["enrolment_date", "registration_date"],
            "e.enrolment_date"
        ),
        date_attribute!(
            "status_change_date",
            ["suspension_date", "graduation_date"],
            "e.status_date"
        ),
        Attribute {
            name: "benefit_type",
            aliases: &["programme_identifier.benefit.benefit_type"],
            ty: AttrType::Code(&BENEFIT_TYPE),
            column: Column::Direct("e.benefit_type"),
        },
        Attribute {
            name: "duplicate",
            aliases: &["is_duplicate"],
            ty: AttrType::Bool,
            column: Column::Direct("e.duplicate"),
        },
        date_attribute!(
            "last_benefit_date",
            ["last_payment_date"],
            "e.last_benefit_date"
        ),
        BENEFICIARY_PERSON[0],
        BENEFICIARY_PERSON[1],
        BENEFICIARY_PERSON[2],
        BENEFICIARY_PERSON[3],
        BENEFICIARY_PERSON[4],
        paid!(
            "benefit_date",
            ["benefits.benefit_date", "payroll_date"],
            AttrType::Date,
            Column::Direct("b.benefit_date")
        ),
        paid!(
            "payment_status",
            ["benefits.payment_status"],
            AttrType::Code(&PAYMENT_STATUS),
            Column::Direct("b.payment_status")
        ),
        paid!(
            "benefit_amount",
            ["benefits.amount", "payroll_amount"],
            AttrType::Integer,
            Column::Direct("b.amount")
        ),
    ]
);

static BENEFIT_ATTRIBUTES: [Attribute; 14] = with_place!(
    "b",
    "beneficiary.address",
    [
        text_attribute!("benefit_identifier", ["benefit_id"], "b.benefit_id"),
        text_attribute!(
            "programme_identifier",
            ["programme", "programme_code", "program"],
            "b.programme_code"
        ),
        text_attribute!(
            "beneficiary_id",
            ["beneficiary_identifier"],
            "b.beneficiary_id"
        ),
        text_attribute!("uin", ["person_identifier", "national_id"], "b.uin"),
        text_attribute!(
            "household_id",
            ["group_identifier", "hhid"],
            "b.household_id"
        ),
        Attribute {
            name: "benefit_type",
            aliases: &[],
            ty: AttrType::Code(&BENEFIT_TYPE),
            column: Column::Direct("b.benefit_type"),
        },
        date_attribute!(
            "benefit_date",
            ["payment_date", "payroll_date"],
            "b.benefit_date"
        ),
        Attribute {
            name: "amount",
            aliases: &["benefit_amount", "payroll_amount"],
            ty: AttrType::Integer,
            column: Column::Direct("b.amount"),
        },
        text_attribute!("currency", ["currency_code"], "b.currency"),
        Attribute {
            name: "payment_status",
            aliases: &[],
            ty: AttrType::Code(&PAYMENT_STATUS),
            column: Column::Direct("b.payment_status"),
        },
    ]
);

static PROGRAMME_ATTRIBUTES: [Attribute; 6] = [
    text_attribute!(
        "programme_identifier",
        ["programme", "programme_code", "code"],
        "p.code"
    ),
    text_attribute!("programme_name", ["name"], "p.name"),
    Attribute {
        name: "benefit_type",
        aliases: &["benefit.benefit_type"],
        ty: AttrType::Code(&BENEFIT_TYPE),
        column: Column::Direct("p.benefit_type"),
    },
    Attribute {
        name: "assistance_unit",
        aliases: &[],
        ty: AttrType::Code(&crate::social::GROUP_TYPE),
        column: Column::Direct("p.assistance_unit"),
    },
    text_attribute!("implementing_institution", ["institution"], "p.institution"),
    text_attribute!("benefit_frequency", ["frequency"], "p.frequency"),
];

const TABLES: Migration = Migration {
    version: 401,
    name: "beneficiary registry tables",
    sqlite: include_str!("../migrations/sqlite/ibr_0401_init.sql"),
    postgres: include_str!("../migrations/postgres/ibr_0401_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/ibr_0402_indexes.sql");

const INDEXES: Migration = Migration {
    version: 402,
    name: "beneficiary registry indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// Covering indexes for reading every enrolment and every benefit in one pass each (the
/// coverage dashboard); the same SQL on both backends.
const COVERAGE_SCRIPT: &str = include_str!("../migrations/ibr_0403_coverage.sql");

const COVERAGE: Migration = Migration {
    version: 403,
    name: "beneficiary registry coverage indexes",
    sqlite: COVERAGE_SCRIPT,
    postgres: COVERAGE_SCRIPT,
};

/// The integrated beneficiary registry profile.
pub static PROFILE: Profile = Profile {
    role: "ibr",
    reg_type: "ns:org:RegistryType:IBR",
    reg_type_aliases: &["IntegratedBeneficiaryRegistry", "Beneficiary"],
    event_types: &[ENROLLMENT, STATUS_CHANGE],
    event_aliases: &[
        ("enrollment", ENROLLMENT),
        ("enrolment", ENROLLMENT),
        ("enrollment_status_change", STATUS_CHANGE),
        ("enrolment_status_change", STATUS_CHANGE),
    ],
    record_types: &[
        RecordType {
            name: records::BENEFICIARY,
            aliases: &["Person", "Member", "Enrollment", "Enrolment", "IBRPerson"],
            schema: Schema {
                entity: records::BENEFICIARY,
                attributes: &BENEFICIARY_ATTRIBUTES,
            },
            from: "enrolment e",
            key: "e.id",
            doc: "e.doc",
            identifiers: &[(UIN, "uin"), (HOUSEHOLD_ID, "household_id")],
            members: None,
        },
        RecordType {
            name: records::BENEFIT,
            aliases: &["Payment", "Payroll", "Receipt"],
            schema: Schema {
                entity: records::BENEFIT,
                attributes: &BENEFIT_ATTRIBUTES,
            },
            from: "benefit b",
            key: "b.id",
            doc: "b.doc",
            identifiers: &[(UIN, "uin"), (HOUSEHOLD_ID, "household_id")],
            members: None,
        },
        RecordType {
            name: records::PROGRAMME,
            aliases: &["Program"],
            schema: Schema {
                entity: records::PROGRAMME,
                attributes: &PROGRAMME_ATTRIBUTES,
            },
            from: "programme p",
            key: "p.id",
            doc: "p.doc",
            identifiers: &[(PROGRAMME_ID, "programme_identifier")],
            members: None,
        },
    ],
    migrations: &[TABLES, INDEXES, COVERAGE],
    indexes: &INDEXES,
    routes: updates::routes,
};

/// Columns of a programme's row.
pub const PROGRAMME_TABLE: BulkTable = BulkTable {
    table: "programme",
    columns: &[
        ("code", ColumnType::Text),
        ("name", ColumnType::Text),
        ("description", ColumnType::Text),
        ("benefit_type", ColumnType::Text),
        ("assistance_unit", ColumnType::Text),
        ("institution", ColumnType::Text),
        ("owner", ColumnType::Text),
        ("amount", ColumnType::Integer),
        ("currency", ColumnType::Text),
        ("frequency", ColumnType::Text),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of an enrolment's row, as [`Enrolled::row`] fills them.
pub const ENROLMENT_TABLE: BulkTable = BulkTable {
    table: "enrolment",
    columns: &[
        ("enrolment_key", ColumnType::Text),
        ("programme_code", ColumnType::Text),
        ("beneficiary_id", ColumnType::Text),
        ("assistance_unit", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("household_id", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("benefit_type", ColumnType::Text),
        ("status", ColumnType::Text),
        ("enrolment_date", ColumnType::Date),
        ("status_date", ColumnType::Date),
        ("status_reason", ColumnType::Text),
        ("last_benefit_date", ColumnType::Date),
        ("updated_at", ColumnType::Text),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a benefit's row, as [`Enrolled::benefit_rows`] fills them.
pub const BENEFIT_TABLE: BulkTable = BulkTable {
    table: "benefit",
    columns: &[
        ("benefit_id", ColumnType::Text),
        ("programme_code", ColumnType::Text),
        ("beneficiary_id", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("household_id", ColumnType::Text),
        ("benefit_type", ColumnType::Text),
        ("benefit_date", ColumnType::Date),
        ("amount", ColumnType::Integer),
        ("currency", ColumnType::Text),
        ("payment_status", ColumnType::Text),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("doc", ColumnType::Text),
    ],
};

/// What the registry knows of a programme.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammeInfo {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// BenefitTypeEnum code, when known.
    pub benefit_type: Option<String>,
    /// AssistanceUnitEnum code.
    pub assistance_unit: String,
    /// The participant that publishes its enrolments; `None`: any with the publish scope.
    pub owner: Option<String>,
    /// The published record.
    pub record: Programme,
    /// Amount, currency and frequency of its regular benefit, when known.
    pub regular: Option<(i64, String, String)>,
}

impl ProgrammeInfo {
    /// A programme of the generated catalogue (published by any SP-MIS with the scope).
    pub fn from_catalogue(p: &synth::benefits::Programme) -> Self {
        let mut record = Programme::new(&p.code, Some(&p.name));
        record.programme_description = Some(p.description.clone());
        record.implementing_institution = Some(p.institution.clone());
        record.assistance_unit = Some(p.assistance_unit.clone());
        record.benefit_frequency = Some(p.frequency.clone());
        record.benefit = vec![Benefit {
            benefit_type: Some(p.benefit_type.clone()),
            benefit_value: Some(format_value(&p.currency, p.amount)),
            ..empty_benefit()
        }];
        ProgrammeInfo {
            code: p.code.clone(),
            name: p.name.clone(),
            benefit_type: Some(p.benefit_type.clone()),
            assistance_unit: p.assistance_unit.clone(),
            owner: None,
            record,
            regular: Some((p.amount, p.currency.clone(), p.frequency.clone())),
        }
    }

    /// The programme's row.
    pub fn row(&self) -> Row {
        let regular = self.regular.as_ref();
        vec![
            text(&self.code),
            text(&self.name),
            opt_text(self.record.programme_description.as_deref()),
            opt_text(self.benefit_type.as_deref()),
            text(&self.assistance_unit),
            opt_text(self.record.implementing_institution.as_deref()),
            opt_text(self.owner.as_deref()),
            regular.map(|(amount, _, _)| SqlValue::Integer(*amount)),
            opt_text(regular.map(|(_, currency, _)| currency.as_str())),
            opt_text(regular.map(|(_, _, frequency)| frequency.as_str())),
            doc(&self.record),
        ]
    }
}

/// A benefit with nothing set.
pub(crate) fn empty_benefit() -> Benefit {
    Benefit {
        kind: records::BENEFIT.into(),
        benefit_identifier: None,
        benefit_type: None,
        benefit_date: None,
        benefit_value: None,
        benefit_description: None,
        payment_status: None,
        programme_identifier: None,
        beneficiary_identifier: Vec::new(),
    }
}

/// One paid benefit, checked: the rows and records are made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The publisher's id (unique within the programme).
    pub benefit_id: String,
    /// BenefitTypeEnum code.
    pub benefit_type: String,
    /// When it was given.
    pub date: Date,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// PaymentStatusEnum code.
    pub payment_status: String,
    /// What was given.
    pub description: Option<String>,
}

impl Payment {
    /// A benefit of the generated population.
    pub fn from_population(b: &synth::benefits::Benefit) -> Self {
        Payment {
            benefit_id: b.benefit_id.clone(),
            benefit_type: b.benefit_type.clone(),
            date: b.benefit_date,
            amount: b.amount,
            currency: b.currency.clone(),
            payment_status: b.payment_status.clone(),
            description: None,
        }
    }

    /// The benefit as records publish it (`standalone`: as a record of its own, naming its
    /// programme and beneficiary).
    fn record(&self, standalone: Option<(&str, &[Identifier])>) -> Benefit {
        Benefit {
            benefit_identifier: Some(self.benefit_id.clone()),
            benefit_type: Some(self.benefit_type.clone()),
            benefit_date: Some(ymd(self.date)),
            benefit_value: Some(format_value(&self.currency, self.amount)),
            benefit_description: self.description.clone(),
            payment_status: Some(self.payment_status.clone()),
            programme_identifier: standalone.map(|(code, _)| code.to_string()),
            beneficiary_identifier: standalone.map(|(_, ids)| ids.to_vec()).unwrap_or_default(),
            ..empty_benefit()
        }
    }
}

/// A person as the registry holds them on an enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub surname: Option<String>,
    /// SexCategoryEnum code.
    pub sex: Option<String>,
    /// Birth date.
    pub birth_date: Option<Date>,
}

/// A beneficiary's enrolment in a programme, typed: the published record and the rows are
/// made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The programme's code.
    pub programme: String,
    /// The programme's name, when known.
    pub programme_name: Option<String>,
    /// The programme's benefit type, when known.
    pub benefit_type: Option<String>,
    /// The person's UIN or the household's id.
    pub beneficiary_id: String,
    /// AssistanceUnitEnum code.
    pub assistance_unit: String,
    /// The person enrolled, or who receives for the household.
    pub uin: Option<String>,
    /// The household.
    pub household_id: Option<String>,
    /// Who the person is, when published.
    pub holder: Option<Holder>,
    /// A code of the location master list: where they live.
    pub home: Option<String>,
    /// EnrollmentStatusEnum code.
    pub status: String,
    /// When they were enrolled.
    pub enrolment_date: Option<Date>,
    /// The dates the status changed, oldest first.
    pub status_dates: Vec<Date>,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    /// The latest benefits, most recent first (at most [`LISTED_BENEFITS`]).
    pub benefits: Vec<Payment>,
}

impl Enrolled {
    /// `<programme>:<beneficiary id>`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.programme, self.beneficiary_id)
    }

    /// An enrolment of the generated population: `person` is the person enrolled (or the
    /// household's head), living at `home`.
    pub fn from_population(
        enrolment: &synth::benefits::Enrolment,
        programme: &ProgrammeInfo,
        person: Option<&synth::Person>,
        home: Option<&str>,
        benefits: &[synth::benefits::Benefit],
    ) -> Self {
        let mut status_dates: Vec<Date> = enrolment.status_date.into_iter().collect();
        status_dates.sort();
        let mut enrolled = Enrolled {
            programme: enrolment.programme.clone(),
            programme_name: Some(programme.name.clone()),
            benefit_type: programme.benefit_type.clone(),
            beneficiary_id: enrolment.beneficiary_id.clone(),
            assistance_unit: enrolment.assistance_unit.clone(),
            uin: Some(enrolment.uin.clone()),
            household_id: enrolment.household_id.clone(),
            holder: person.map(|p| Holder {
                given_name: Some(p.given_name.clone()),
                surname: Some(p.surname.clone()),
                sex: Some(p.sex.clone()),
                birth_date: Some(p.birth_date),
            }),
            home: home.map(str::to_string),
            status: enrolment.status.clone(),
            enrolment_date: Some(enrolment.enrolment_date),
            status_dates,
            status_reason: enrolment.status_reason.clone(),
            benefits: Vec::new(),
        };
        enrolled.receive(benefits.iter().map(Payment::from_population));
        enrolled
    }

    /// Adds `payments` to the benefits listed (a benefit already listed is kept once).
    pub fn receive(&mut self, payments: impl IntoIterator<Item = Payment>) {
        for payment in payments {
            if !self
                .benefits
                .iter()
                .any(|b| b.benefit_id == payment.benefit_id)
            {
                self.benefits.push(payment);
            }
        }
        self.benefits
            .sort_by(|a, b| (b.date, &b.benefit_id).cmp(&(a.date, &a.benefit_id)));
        self.benefits.truncate(LISTED_BENEFITS);
    }

    fn identifiers(&self) -> Vec<Identifier> {
        self.uin
            .iter()
            .map(|uin| Identifier::new(UIN, uin))
            .collect()
    }

    /// The enrolment as the registry publishes it, last changed at `updated`.
    pub fn record(&self, locations: &Locations, updated: &str) -> Beneficiary {
        let member = (self.uin.is_some() || self.holder.is_some()).then(|| BeneficiaryMember {
            kind: "Member".into(),
            member_identifier: self.identifiers(),
            demographic_info: self.holder.as_ref().map(|h| Person {
                kind: "IBR_Person".into(),
                identifier: self.identifiers(),
                name: Name {
                    surname: h.surname.clone(),
                    given_name: h.given_name.clone(),
                    ..Name::default()
                },
                sex: h.sex.clone().unwrap_or_else(|| "unknown".into()),
                birth_date: h.birth_date.map(ymd).unwrap_or_default(),
                address: address(self.home.as_deref(), locations)
                    .into_iter()
                    .collect(),
            }),
        });
        let mut programme = Programme::new(&self.programme, self.programme_name.as_deref());
        if let Some(kind) = &self.benefit_type {
            programme.benefit = vec![Benefit {
                benefit_type: Some(kind.clone()),
                ..empty_benefit()
            }];
        }
        Beneficiary {
            kind: records::BENEFICIARY.into(),
            reference_id: None,
            assistance_unit: Some(self.assistance_unit.clone()),
            member,
            group: self.household_id.as_ref().map(|household| FamilyRef {
                kind: "Group".into(),
                group_identifier: vec![Identifier::new(HOUSEHOLD_ID, household)],
            }),
            programme_identifier: vec![programme],
            enrollment_date: self.enrolment_date.map(ymd),
            enrollment_status: Some(self.status.clone()),
            status_change_date: self.status_dates.iter().copied().map(ymd).collect(),
            status_reason: self.status_reason.clone(),
            benefits: self.benefits.iter().map(|b| b.record(None)).collect(),
            last_updated: Some(updated.to_string()),
        }
    }

    /// The enrolment's row (published record included), last changed at `updated`.
    pub fn row(&self, locations: &Locations, updated: &str) -> Row {
        let [region, district, location] = levels(self.home.as_deref(), locations);
        let holder = self.holder.as_ref();
        vec![
            text(&self.key()),
            text(&self.programme),
            text(&self.beneficiary_id),
            text(&self.assistance_unit),
            opt_text(self.uin.as_deref()),
            opt_text(self.household_id.as_deref()),
            opt_text(holder.and_then(|h| h.given_name.as_deref())),
            opt_text(holder.and_then(|h| h.surname.as_deref())),
            opt_text(holder.and_then(|h| h.sex.as_deref())),
            holder.and_then(|h| h.birth_date).map(SqlValue::Date),
            region,
            district,
            location,
            opt_text(self.benefit_type.as_deref()),
            text(&self.status),
            self.enrolment_date.map(SqlValue::Date),
            self.status_dates.last().copied().map(SqlValue::Date),
            opt_text(self.status_reason.as_deref()),
            self.benefits.first().map(|b| SqlValue::Date(b.date)),
            text(updated),
            doc(&self.record(locations, updated)),
        ]
    }

    /// The rows of `payments` to this enrolment (each with its published record).
    pub fn benefit_rows(&self, payments: &[Payment], locations: &Locations) -> Vec<Row> {
        let [region, district, location] = levels(self.home.as_deref(), locations);
        let mut ids = self.identifiers();
        if let Some(household) = &self.household_id {
            ids.push(Identifier::new(HOUSEHOLD_ID, household));
        }
        payments
            .iter()
            .map(|p| {
                vec![
                    text(&p.benefit_id),
                    text(&self.programme),
                    text(&self.beneficiary_id),
                    opt_text(self.uin.as_deref()),
                    opt_text(self.household_id.as_deref()),
                    text(&p.benefit_type),
                    Some(SqlValue::Date(p.date)),
                    Some(SqlValue::Integer(p.amount)),
                    text(&p.currency),
                    text(&p.payment_status),
                    region.clone(),
                    district.clone(),
                    location.clone(),
                    doc(&p.record(Some((&self.programme, &ids)))),
                ]
            })
            .collect()
    }
}

/// The statement that marks duplicates among the enrolments of `beneficiaries` (all, when
/// `None`): active enrolments whose beneficiary is active in another programme giving the
/// same benefit type.
pub fn mark_duplicates(dialect: Dialect, beneficiaries: Option<&[String]>) -> Statement {
    let mut sql = "UPDATE enrolment SET duplicate = (status = '1' AND benefit_type IS NOT NULL \
        AND EXISTS (SELECT 1 FROM enrolment d WHERE d.beneficiary_id = enrolment.beneficiary_id \
        AND d.benefit_type = enrolment.benefit_type AND d.programme_code <> enrolment.programme_code \
        AND d.status = '1'))"
        .to_string();
    let mut params = Vec::new();
    if let Some(ids) = beneficiaries {
        let list: Vec<String> = (1..=ids.len()).map(|i| placeholder(dialect, i)).collect();
        sql.push_str(&format!(" WHERE beneficiary_id IN ({})", list.join(", ")));
        params = ids.iter().map(|id| SqlValue::Text(id.clone())).collect();
    }
    Statement::new(sql, params, &[])
}

/// People (or households) active in more than one programme giving the same benefit type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Duplicate {
    /// The person's UIN or the household's id.
    pub beneficiary_id: String,
    /// BenefitTypeEnum code.
    pub benefit_type: String,
    /// The programmes, by code.
    pub programmes: Vec<String>,
    /// Where they live (region code), when known.
    pub region_code: Option<String>,
}

/// The number of enrolments marked duplicate.
pub async fn duplicate_count(store: &dyn store::Store) -> Result<u64, store::StoreError> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT count(*) FROM enrolment WHERE duplicate",
            vec![],
            &[ColumnType::Integer],
        )])
        .await?;
    Ok(match rows[0].first().and_then(|r| r.first()) {
        Some(Some(SqlValue::Integer(n))) => *n as u64,
        _ => 0,
    })
}

/// Every duplicate the registry holds, by beneficiary.
pub async fn duplicates(store: &dyn store::Store) -> Result<Vec<Duplicate>, store::StoreError> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT beneficiary_id, benefit_type, programme_code, region_code FROM enrolment \
             WHERE duplicate ORDER BY beneficiary_id, benefit_type, programme_code",
            vec![],
            &[
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
            ],
        )])
        .await?;
    let text = |row: &Row, i: usize| match row.get(i) {
        Some(Some(SqlValue::Text(s))) => Some(s.clone()),
        _ => None,
    };
    Ok(Duplicate::group(rows[0].iter().filter_map(|row| {
        Some((text(row, 0)?, text(row, 1)?, text(row, 2)?, text(row, 3)))
    })))
}

impl Duplicate {
    /// The duplicates of enrolments marked duplicate, given as (beneficiary, benefit type,
    /// programme, region), in any order: one per beneficiary and benefit type, in that order,
    /// with its programmes sorted.
    pub fn group(
        enrolments: impl IntoIterator<Item = (String, String, String, Option<String>)>,
    ) -> Vec<Duplicate> {
        let mut grouped: BTreeMap<(String, String), Duplicate> = BTreeMap::new();
        for (id, kind, programme, region) in enrolments {
            grouped
                .entry((id.clone(), kind.clone()))
                .or_insert_with(|| Duplicate {
                    beneficiary_id: id,
                    benefit_type: kind,
                    programmes: Vec::new(),
                    region_code: region,
                })
                .programmes
                .push(programme);
        }
        let mut found: Vec<Duplicate> = grouped.into_values().collect();
        for duplicate in &mut found {
            duplicate.programmes.sort();
        }
        found
    }
}
