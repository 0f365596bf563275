//! The civil registration (CRVS) profile: the person as the civil register knows them
//! (`Person`, a `CRVS_Person`; the default record type) and the registrations behind it
//! (`BirthRecord`, `DeathRecord`, `MarriageRecord`), searchable by `UIN`, `BRN`, `DRN`, `MRN`,
//! names, sex, dates, age, place, parents, spouses and marital status.
//!
//! In every record type `region_code`, `district_code`, `location_code` and `location` (any of
//! the three) are the place of the record's event: where the person was born (`Person`,
//! `BirthRecord`), died (`DeathRecord`) or married (`MarriageRecord`).
//!
//! A divorce is registered against the marriage it dissolves (dci-spec §6.3 models it as the
//! person's `divorce_date` list and marital status `D`): the `MarriageRecord` gains its
//! `divorce_date` and `divorce_place`, both spouses become `D` and may marry again. The
//! generated population has no divorces on record (its divorced people married before the
//! register began); they arrive through the registrar.
//!
//! Events (dci-spec §3.6, §7.4): `LiveBirth`, `Death`, `Marriage` and `Divorce` (the standard's
//! RegistryEventTypeEnum) and the MOSIP flow's `BIRTH_REGISTERED` and `DEATH_REGISTERED`. A
//! registration raises its events on the person and on its own record, so a subscription gets
//! whichever of the two its `notify_record_type` names (see [`registrar`]).
//!
//! The population's register is loaded from the generated files (see [`crate::import`]): a
//! person and a birth record for every person, a death record for every deceased person,
//! numbered and placed as [`synth::vital`] describes, and the marriages of `marriages.*`.

use dci::records::common::{Identifier, Name};
use dci::records::crvs::{
    self as records, BRN, BirthRecord, CrvsPerson, DRN, DeathRecord, MRN, MarriageRecord, UIN,
};
use expr::{AttrType, Attribute, Column, Schema};
use store::{BulkTable, ColumnType, Migration, Row, SqlValue};
use time::Date;

use crate::profile::{Profile, RecordType};
use crate::rows::{
    date_attribute, doc, levels, opt_text, person_attributes, place, text, text_attribute,
    with_place, ymd,
};
use crate::social::{Locations, MARITAL_STATUS};

pub mod registrar;

/// Event: a live birth was registered (RegistryEventTypeEnum `LiveBirth`).
pub const LIVE_BIRTH: &str = "LiveBirth";
/// Event: a death was registered (RegistryEventTypeEnum `Death`).
pub const DEATH: &str = "Death";
/// Event: a marriage was registered (RegistryEventTypeEnum `Marriage`).
pub const MARRIAGE: &str = "Marriage";
/// Event: a divorce was registered (RegistryEventTypeEnum `Divorce`).
pub const DIVORCE: &str = "Divorce";
/// Event: a birth was registered, as the MOSIP ↔ CRVS flow names it (dci-spec §7.5).
pub const BIRTH_REGISTERED: &str = "BIRTH_REGISTERED";
/// Event: a death was registered, as the MOSIP ↔ CRVS flow names it.
pub const DEATH_REGISTERED: &str = "DEATH_REGISTERED";

const PERSON_NAME: [Attribute; 5] = person_attributes!("p", []);
const BIRTH_NAME: [Attribute; 5] = person_attributes!("b", []);
const DEATH_NAME: [Attribute; 5] = person_attributes!("d", []);

static PERSON_ATTRIBUTES: [Attribute; 19] = with_place!(
    "p",
    "birth_place",
    [
        text_attribute!(
            "uin",
            ["person_identifier", "national_id", "identifier"],
            "p.uin"
        ),
        text_attribute!("brn", [], "p.brn"),
        text_attribute!("drn", [], "p.drn"),
        PERSON_NAME[0],
        PERSON_NAME[1],
        PERSON_NAME[2],
        PERSON_NAME[3],
        PERSON_NAME[4],
        Attribute {
            name: "is_deceased",
            aliases: &["deceased", "is_dead"],
            ty: AttrType::Bool,
            column: Column::Direct("p.is_deceased"),
        },
        date_attribute!("death_date", ["deathdate", "date_of_death"], "p.death_date"),
        Attribute {
            name: "marital_status",
            aliases: &[],
            ty: AttrType::Code(&MARITAL_STATUS),
            column: Column::Direct("p.marital_status"),
        },
        text_attribute!("spouse_uin", [], "p.spouse_uin"),
        text_attribute!(
            "mother_uin",
            ["parent1_identifier", "mother"],
            "p.mother_uin"
        ),
        text_attribute!(
            "father_uin",
            ["parent2_identifier", "father"],
            "p.father_uin"
        ),
        Attribute {
            name: "parent_uin",
            aliases: &["parent"],
            ty: AttrType::Text,
            column: Column::AnyOf(&["p.mother_uin", "p.father_uin"]),
        },
    ]
);

static BIRTH_ATTRIBUTES: [Attribute; 15] = with_place!(
    "b",
    "birth_place",
    [
        text_attribute!("brn", ["identifier"], "b.brn"),
        text_attribute!("uin", ["child_identifier", "child_uin"], "b.uin"),
        BIRTH_NAME[0],
        BIRTH_NAME[1],
        BIRTH_NAME[2],
        BIRTH_NAME[3],
        BIRTH_NAME[4],
        text_attribute!(
            "mother_uin",
            ["mother_identifier", "mother"],
            "b.mother_uin"
        ),
        text_attribute!(
            "father_uin",
            ["father_identifier", "father"],
            "b.father_uin"
        ),
        Attribute {
            name: "parent_uin",
            aliases: &["parent"],
            ty: AttrType::Text,
            column: Column::AnyOf(&["b.mother_uin", "b.father_uin"]),
        },
        date_attribute!("registration_date", [], "b.registration_date"),
    ]
);

static DEATH_ATTRIBUTES: [Attribute; 13] = with_place!(
    "d",
    "death_place",
    [
        text_attribute!("drn", ["identifier"], "d.drn"),
        text_attribute!("uin", ["deceased_identifier", "deceased_uin"], "d.uin"),
        DEATH_NAME[0],
        DEATH_NAME[1],
        DEATH_NAME[2],
        DEATH_NAME[3],
        DEATH_NAME[4],
        date_attribute!("death_date", ["deathdate", "date_of_death"], "d.death_date"),
        date_attribute!("registration_date", [], "d.registration_date"),
    ]
);

static MARRIAGE_ATTRIBUTES: [Attribute; 11] = with_place!(
    "m",
    "marriage_place",
    [
        text_attribute!("mrn", ["identifier"], "m.mrn"),
        text_attribute!("spouse1_uin", ["spouse1_identifier"], "m.spouse1_uin"),
        text_attribute!("spouse2_uin", ["spouse2_identifier"], "m.spouse2_uin"),
        Attribute {
            name: "spouse_uin",
            aliases: &["spouse", "uin"],
            ty: AttrType::Text,
            column: Column::AnyOf(&["m.spouse1_uin", "m.spouse2_uin"]),
        },
        date_attribute!("marriage_date", ["marriagedate"], "m.marriage_date"),
        date_attribute!("registration_date", [], "m.registration_date"),
        date_attribute!("divorce_date", ["divorcedate"], "m.divorce_date"),
    ]
);

const TABLES: Migration = Migration {
    version: 101,
    name: "civil registration tables",
    sqlite: include_str!("../migrations/sqlite/crvs_0101_init.sql"),
    postgres: include_str!("../migrations/postgres/crvs_0101_init.sql"),
};

/// Divorces are registered against the marriage they dissolve.
const DIVORCES: Migration = Migration {
    version: 103,
    name: "civil registration divorces",
    sqlite: "ALTER TABLE marriage ADD COLUMN divorce_date TEXT;",
    postgres: "ALTER TABLE marriage ADD COLUMN divorce_date DATE;",
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/crvs_0102_indexes.sql");

const INDEXES: Migration = Migration {
    version: 102,
    name: "civil registration indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// The civil registration profile.
pub static PROFILE: Profile = Profile {
    role: "crvs",
    reg_type: "ns:org:RegistryType:Civil",
    reg_type_aliases: &[],
    event_types: &[
        LIVE_BIRTH,
        DEATH,
        MARRIAGE,
        DIVORCE,
        BIRTH_REGISTERED,
        DEATH_REGISTERED,
    ],
    event_aliases: &[],
    record_types: &[
        RecordType {
            name: records::PERSON,
            aliases: &["CRVS_Person", "CRVSPerson", "CivilPerson"],
            schema: Schema {
                entity: records::PERSON,
                attributes: &PERSON_ATTRIBUTES,
            },
            from: "person p",
            key: "p.id",
            doc: "p.doc",
            identifiers: &[(UIN, "uin"), (BRN, "brn"), (DRN, "drn")],
            members: None,
        },
        RecordType {
            name: records::BIRTH_RECORD,
            aliases: &["Birth", "LiveBirth", "live_birth"],
            schema: Schema {
                entity: records::BIRTH_RECORD,
                attributes: &BIRTH_ATTRIBUTES,
            },
            from: "birth b",
            key: "b.id",
            doc: "b.doc",
            identifiers: &[(BRN, "brn"), (UIN, "uin")],
            members: None,
        },
        RecordType {
            name: records::DEATH_RECORD,
            aliases: &["Death", "DeceasedRecord"],
            schema: Schema {
                entity: records::DEATH_RECORD,
                attributes: &DEATH_ATTRIBUTES,
            },
            from: "death d",
            key: "d.id",
            doc: "d.doc",
            identifiers: &[(DRN, "drn"), (UIN, "uin")],
            members: None,
        },
        RecordType {
            name: records::MARRIAGE_RECORD,
            aliases: &["Marriage"],
            schema: Schema {
                entity: records::MARRIAGE_RECORD,
                attributes: &MARRIAGE_ATTRIBUTES,
            },
            from: "marriage m",
            key: "m.id",
            doc: "m.doc",
            identifiers: &[(MRN, "mrn"), (UIN, "spouse_uin")],
            members: None,
        },
    ],
    migrations: &[TABLES, INDEXES, DIVORCES],
    indexes: &INDEXES,
    routes: registrar::routes,
};

/// Columns of a person row, as [`RegisteredPerson::row`] fills them.
pub const PERSON_TABLE: BulkTable = BulkTable {
    table: "person",
    columns: &[
        ("uin", ColumnType::Text),
        ("brn", ColumnType::Text),
        ("drn", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("mother_uin", ColumnType::Text),
        ("father_uin", ColumnType::Text),
        ("is_deceased", ColumnType::Bool),
        ("death_date", ColumnType::Date),
        ("marital_status", ColumnType::Text),
        ("spouse_uin", ColumnType::Text),
        ("version", ColumnType::Integer),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a birth row, as [`RegisteredPerson::birth_row`] fills them.
pub const BIRTH_TABLE: BulkTable = BulkTable {
    table: "birth",
    columns: &[
        ("brn", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("mother_uin", ColumnType::Text),
        ("father_uin", ColumnType::Text),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a death row, as [`RegisteredPerson::death_row`] fills them.
pub const DEATH_TABLE: BulkTable = BulkTable {
    table: "death",
    columns: &[
        ("drn", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("death_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a marriage row, as [`marriage_row`] fills them.
pub const MARRIAGE_TABLE: BulkTable = BulkTable {
    table: "marriage",
    columns: &[
        ("mrn", ColumnType::Text),
        ("spouse1_uin", ColumnType::Text),
        ("spouse2_uin", ColumnType::Text),
        ("marriage_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// A person of the civil register, typed: their published record and their row are made from
/// it, at import and at every registration that changes them.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredPerson {
    /// Unique identification number.
    pub uin: String,
    /// Birth registration number.
    pub brn: String,
    /// Death registration number, once the death is registered.
    pub drn: Option<String>,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code.
    pub sex: String,
    /// Date of birth.
    pub birth_date: Date,
    /// Location code of the place of birth.
    pub birth_place: Option<String>,
    /// The mother's UIN, when she is registered.
    pub mother_uin: Option<String>,
    /// The father's UIN, when he is registered.
    pub father_uin: Option<String>,
    /// Date of death.
    pub death_date: Option<Date>,
    /// Location code of the place of death.
    pub death_place: Option<String>,
    /// MaritalStatusEnum code.
    pub marital_status: String,
    /// The current spouse, or the late spouse of a widow(er).
    pub spouse_uin: Option<String>,
    /// Dates of the person's registered marriages, oldest first.
    pub marriage_dates: Vec<Date>,
    /// Dates of the person's registered divorces, oldest first.
    pub divorce_dates: Vec<Date>,
    /// How many registrations changed the person since they were loaded or born.
    pub version: i64,
}

fn uin(value: &str) -> Identifier {
    Identifier::new(UIN, value)
}

impl RegisteredPerson {
    /// A person of the generated population, placed at `place` (see [`synth::vital`]) and
    /// married on `marriage_dates`.
    pub fn from_population(
        person: &synth::Person,
        place: Option<&str>,
        marriage_dates: Vec<Date>,
    ) -> Self {
        RegisteredPerson {
            uin: person.uin.clone(),
            brn: synth::vital::brn(&person.uin, person.birth_date),
            drn: person
                .death_date
                .map(|date| synth::vital::drn(&person.uin, date)),
            given_name: person.given_name.clone(),
            surname: person.surname.clone(),
            sex: person.sex.clone(),
            birth_date: person.birth_date,
            birth_place: place.map(str::to_string),
            mother_uin: person.mother_uin.clone(),
            father_uin: person.father_uin.clone(),
            death_date: person.death_date,
            death_place: person.death_date.and(place.map(str::to_string)),
            marital_status: person.marital_status.clone(),
            spouse_uin: person.spouse_uin.clone(),
            marriage_dates,
            divorce_dates: Vec::new(),
            version: 0,
        }
    }

    fn name(&self) -> Name {
        Name {
            surname: Some(self.surname.clone()),
            given_name: Some(self.given_name.clone()),
            ..Name::default()
        }
    }

    /// The person as the register publishes them (`CRVS_Person`).
    pub fn record(&self, locations: &Locations) -> CrvsPerson {
        let mut identifier = vec![uin(&self.uin), Identifier::new(BRN, &self.brn)];
        identifier.extend(self.drn.as_deref().map(|drn| Identifier::new(DRN, drn)));
        CrvsPerson {
            kind: records::CRVS_PERSON.into(),
            identifier,
            name: self.name(),
            sex: self.sex.clone(),
            birth_date: ymd(self.birth_date),
            birth_place: place(self.birth_place.as_deref(), locations),
            death_date: self.death_date.map(ymd),
            death_place: place(self.death_place.as_deref(), locations),
            marital_status: Some(self.marital_status.clone()),
            marriage_date: self.marriage_dates.iter().copied().map(ymd).collect(),
            divorce_date: self.divorce_dates.iter().copied().map(ymd).collect(),
            parent1_identifier: self.mother_uin.as_deref().map(uin),
            parent2_identifier: self.father_uin.as_deref().map(uin),
        }
    }

    /// The person's row (published record included).
    pub fn row(&self, locations: &Locations) -> Row {
        let [region, district, location] = levels(self.birth_place.as_deref(), locations);
        vec![
            text(&self.uin),
            text(&self.brn),
            opt_text(self.drn.as_deref()),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            region,
            district,
            location,
            opt_text(self.mother_uin.as_deref()),
            opt_text(self.father_uin.as_deref()),
            Some(SqlValue::Bool(self.death_date.is_some())),
            self.death_date.map(SqlValue::Date),
            text(&self.marital_status),
            opt_text(self.spouse_uin.as_deref()),
            Some(SqlValue::Integer(self.version)),
            doc(&self.record(locations)),
        ]
    }

    /// The row of the person's birth registration, made on `registered`.
    pub fn birth_row(&self, registered: Date, locations: &Locations) -> Row {
        let record = BirthRecord {
            kind: records::BIRTH_RECORD.into(),
            identifier: vec![Identifier::new(BRN, &self.brn)],
            vital_event_type: records::LIVE_BIRTH.into(),
            child_identifier: uin(&self.uin),
            name: self.name(),
            sex: self.sex.clone(),
            birth_date: ymd(self.birth_date),
            birth_place: place(self.birth_place.as_deref(), locations),
            mother_identifier: self.mother_uin.as_deref().map(uin),
            father_identifier: self.father_uin.as_deref().map(uin),
            registration_date: ymd(registered),
        };
        let [region, district, location] = levels(self.birth_place.as_deref(), locations);
        vec![
            text(&self.brn),
            text(&self.uin),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            region,
            district,
            location,
            opt_text(self.mother_uin.as_deref()),
            opt_text(self.father_uin.as_deref()),
            Some(SqlValue::Date(registered)),
            doc(&record),
        ]
    }

    /// The row of the person's death registration, made on `registered`; `None` while the
    /// person is alive.
    pub fn death_row(&self, registered: Date, locations: &Locations) -> Option<Row> {
        let (drn, death_date) = (self.drn.as_deref()?, self.death_date?);
        let record = DeathRecord {
            kind: records::DEATH_RECORD.into(),
            identifier: vec![Identifier::new(DRN, drn)],
            vital_event_type: records::DEATH.into(),
            deceased_identifier: uin(&self.uin),
            name: self.name(),
            sex: self.sex.clone(),
            birth_date: ymd(self.birth_date),
            death_date: ymd(death_date),
            death_place: place(self.death_place.as_deref(), locations),
            registration_date: ymd(registered),
        };
        let [region, district, location] = levels(self.death_place.as_deref(), locations);
        Some(vec![
            text(drn),
            text(&self.uin),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            Some(SqlValue::Date(death_date)),
            region,
            district,
            location,
            Some(SqlValue::Date(registered)),
            doc(&record),
        ])
    }
}

/// The row of a marriage registration, made on `registered`.
pub fn marriage_row(marriage: &synth::Marriage, registered: Date, locations: &Locations) -> Row {
    let record = MarriageRecord {
        kind: records::MARRIAGE_RECORD.into(),
        identifier: vec![Identifier::new(MRN, &marriage.mrn)],
        vital_event_type: records::MARRIAGE.into(),
        spouse1_identifier: uin(&marriage.spouse1_uin),
        spouse2_identifier: uin(&marriage.spouse2_uin),
        marriage_date: ymd(marriage.marriage_date),
        marriage_place: place(marriage.marriage_place.as_deref(), locations),
        registration_date: ymd(registered),
        divorce_date: None,
        divorce_place: None,
    };
    let [region, district, location] = levels(marriage.marriage_place.as_deref(), locations);
    vec![
        text(&marriage.mrn),
        text(&marriage.spouse1_uin),
        text(&marriage.spouse2_uin),
        Some(SqlValue::Date(marriage.marriage_date)),
        region,
        district,
        location,
        Some(SqlValue::Date(registered)),
        doc(&record),
    ]
}
