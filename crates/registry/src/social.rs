//! The social registry profile: households (`Group`) and their members (`Member`), searchable
//! by identifier, poverty score, household size, location, sex, marital status, age and more.

use std::collections::HashMap;

use dci::directory;
use dci::records::common::{Address, Identifier, Name, PersonRef, Place, RelatedPerson};
use dci::records::social::{Group, Member, SrPerson};
use expr::{AttrType, Attribute, CodeSet, Column, Schema};
use store::{BulkTable, ColumnType, Migration, Row, SqlValue};

use crate::profile::{Members, Profile, RecordType};
use crate::rows::{opt_text, text, ymd};

/// Event: a household or person entered the registry (the standard's social `REGISTER`).
pub const REGISTER: &str = "REGISTER";
/// Event: a person joined a household already registered (the standard's `NewHouseHoldMember`).
pub const NEW_HOUSEHOLD_MEMBER: &str = "NewHouseHoldMember";
/// Event: a registered household or person changed (an spx addition; the standard names none).
pub const UPDATE: &str = "UPDATE";

/// Identifier type of a household in this registry (its own; the standard defines none for groups).
pub const HOUSEHOLD_ID: &str = "HHID";

pub(crate) static SEX: CodeSet = CodeSet {
    name: "sex",
    codes: directory::SEX,
};
pub(crate) static MARITAL_STATUS: CodeSet = CodeSet {
    name: "marital status",
    codes: directory::MARITAL_STATUS,
};
pub(crate) static GROUP_TYPE: CodeSet = CodeSet {
    name: "group type",
    codes: directory::GROUP_TYPE,
};
static EDUCATION_LEVEL: CodeSet = CodeSet {
    name: "education level",
    codes: directory::EDUCATION_LEVEL,
};
static EMPLOYMENT_STATUS: CodeSet = CodeSet {
    name: "employment status",
    codes: directory::EMPLOYMENT_STATUS,
};
static RELATIONSHIP: CodeSet = CodeSet {
    name: "relationship",
    codes: directory::RELATIONSHIP,
};

const LOCATION_LEVELS: &[&str] = &["h.region_code", "h.district_code", "h.location_code"];

/// Attributes of a member, on the member's own row (`p`) or reached from its group (`m`).
macro_rules! member_attributes {
    ($p:literal, $prefix:literal, $column:ident) => {
        [
            Attribute { name: concat!($prefix, "uin"), aliases: &[concat!($prefix, "person_identifier"), concat!($prefix, "national_id"), concat!($prefix, "member_identifier")], ty: AttrType::Text, column: $column!(concat!($p, ".uin")) },
            Attribute { name: concat!($prefix, "given_name"), aliases: &[concat!($prefix, "name.given_name"), concat!($prefix, "first_name")], ty: AttrType::Text, column: $column!(concat!($p, ".given_name")) },
            Attribute { name: concat!($prefix, "surname"), aliases: &[concat!($prefix, "name.surname"), concat!($prefix, "last_name"), concat!($prefix, "family_name")], ty: AttrType::Text, column: $column!(concat!($p, ".surname")) },
            Attribute { name: concat!($prefix, "sex"), aliases: &[concat!($prefix, "gender"), concat!($prefix, "demographic_info.sex"), concat!($prefix, "demographic_info.person.sex")], ty: AttrType::Code(&SEX), column: $column!(concat!($p, ".sex")) },
            Attribute { name: concat!($prefix, "birth_date"), aliases: &[concat!($prefix, "dob"), concat!($prefix, "birthdate"), concat!($prefix, "demographic_info.birth_date")], ty: AttrType::Date, column: $column!(concat!($p, ".birth_date")) },
            Attribute { name: concat!($prefix, "age"), aliases: &[], ty: AttrType::Integer, column: $column!(age concat!($p, ".birth_date")) },
            Attribute { name: concat!($prefix, "marital_status"), aliases: &[], ty: AttrType::Code(&MARITAL_STATUS), column: $column!(concat!($p, ".marital_status")) },
            Attribute { name: concat!($prefix, "relationship_to_head"), aliases: &[concat!($prefix, "relationship_head"), concat!($prefix, "relationship_type")], ty: AttrType::Code(&RELATIONSHIP), column: $column!(concat!($p, ".relationship_to_head")) },
            Attribute { name: concat!($prefix, "education_level"), aliases: &[], ty: AttrType::Code(&EDUCATION_LEVEL), column: $column!(concat!($p, ".education_level")) },
            Attribute { name: concat!($prefix, "employment_status"), aliases: &[], ty: AttrType::Code(&EMPLOYMENT_STATUS), column: $column!(concat!($p, ".employment_status")) },
            Attribute { name: concat!($prefix, "is_disabled"), aliases: &[concat!($prefix, "disabled")], ty: AttrType::Bool, column: $column!(concat!($p, ".is_disabled")) },
        ]
    };
}

macro_rules! own_column {
    (age $c:expr) => {
        Column::AgeFrom($c)
    };
    ($c:expr) => {
        Column::Direct($c)
    };
}

macro_rules! member_column {
    (age $c:expr) => {
        Column::Exists {
            from: MEMBER_FROM,
            link: MEMBER_LINK,
            inner: &Column::AgeFrom($c),
        }
    };
    ($c:expr) => {
        Column::Exists {
            from: MEMBER_FROM,
            link: MEMBER_LINK,
            inner: &Column::Direct($c),
        }
    };
}

const MEMBER_FROM: &str = "person m";
const MEMBER_LINK: &str = "m.household_id = h.household_id";

const MEMBER_OWN: [Attribute; 11] = member_attributes!("p", "", own_column);
const MEMBER_OF_GROUP: [Attribute; 11] = member_attributes!("m", "member.", member_column);

const fn concat_attributes<const A: usize, const B: usize, const N: usize>(
    a: [Attribute; A],
    b: [Attribute; B],
) -> [Attribute; N] {
    assert!(A + B == N);
    let mut out: [Attribute; N] = [Attribute {
        name: "",
        aliases: &[],
        ty: AttrType::Text,
        column: Column::Direct(""),
    }; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Attributes of a household, also searchable on its members.
const HOUSEHOLD_OWN: [Attribute; 9] = [
    Attribute {
        name: "household_id",
        aliases: &["group_id", "hhid", "group_identifier"],
        ty: AttrType::Text,
        column: Column::Direct("h.household_id"),
    },
    Attribute {
        name: "poverty_score",
        aliases: &["pmt_score"],
        ty: AttrType::Float,
        column: Column::Direct("h.poverty_score"),
    },
    Attribute {
        name: "group_size",
        aliases: &["household_size", "size"],
        ty: AttrType::Integer,
        column: Column::Direct("h.group_size"),
    },
    Attribute {
        name: "region_code",
        aliases: &["region", "address.region_code"],
        ty: AttrType::Text,
        column: Column::Direct("h.region_code"),
    },
    Attribute {
        name: "district_code",
        aliases: &["district", "sub_region_code", "address.sub_region_code"],
        ty: AttrType::Text,
        column: Column::Direct("h.district_code"),
    },
    Attribute {
        name: "location_code",
        aliases: &["sub_county", "locality_code"],
        ty: AttrType::Text,
        column: Column::Direct("h.location_code"),
    },
    Attribute {
        name: "location",
        aliases: &["place", "geographical_location"],
        ty: AttrType::Text,
        column: Column::AnyOf(LOCATION_LEVELS),
    },
    Attribute {
        name: "group_type",
        aliases: &[],
        ty: AttrType::Code(&GROUP_TYPE),
        column: Column::Direct("h.group_type"),
    },
    Attribute {
        name: "registration_date",
        aliases: &[],
        ty: AttrType::Date,
        column: Column::Direct("h.registration_date"),
    },
];

static GROUP_ATTRIBUTES: [Attribute; 20] = concat_attributes(HOUSEHOLD_OWN, MEMBER_OF_GROUP);
static MEMBER_ATTRIBUTES: [Attribute; 20] = concat_attributes(MEMBER_OWN, HOUSEHOLD_OWN);

const TABLES: Migration = Migration {
    version: 1,
    name: "social registry tables",
    sqlite: include_str!("../migrations/sqlite/social_0001_init.sql"),
    postgres: include_str!("../migrations/postgres/social_0001_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const FIRST_INDEX_SCRIPT: &str = include_str!("../migrations/social_0002_indexes.sql");

const FIRST_INDEXES: Migration = Migration {
    version: 2,
    name: "social registry indexes",
    sqlite: FIRST_INDEX_SCRIPT,
    postgres: FIRST_INDEX_SCRIPT,
};

const KEYS: Migration = Migration {
    version: 3,
    name: "social registry keys as unique indexes",
    sqlite: include_str!("../migrations/sqlite/social_0003_keys.sql"),
    postgres: include_str!("../migrations/postgres/social_0003_keys.sql"),
};

const INDEXES_WITH_KEYS: Migration = Migration {
    version: 4,
    name: "social registry indexes, keys included",
    sqlite: include_str!("../migrations/social_0004_indexes.sql"),
    postgres: concat!(
        include_str!("../migrations/social_0004_indexes.sql"),
        include_str!("../migrations/postgres/social_0004_foreign_key.sql")
    ),
};

/// The indexes a bulk load drops and builds again (the keys among them); on PostgreSQL, with
/// the members' foreign key, which goes with the household key.
const INDEXES: Migration = Migration {
    version: 5,
    name: "social registry indexes, targeting by place covers household size",
    sqlite: include_str!("../migrations/social_0005_indexes.sql"),
    postgres: concat!(
        include_str!("../migrations/social_0005_indexes.sql"),
        include_str!("../migrations/postgres/social_0004_foreign_key.sql")
    ),
};

/// The social registry profile.
pub static PROFILE: Profile = Profile {
    role: "social",
    reg_type: "ns:org:RegistryType:Social",
    reg_type_aliases: &[],
    event_types: &[REGISTER, NEW_HOUSEHOLD_MEMBER, UPDATE],
    event_aliases: &[],
    record_types: &[
        RecordType {
            name: dci::records::social::GROUP,
            aliases: &["Household", "HouseHold", "SRGroup"],
            schema: Schema {
                entity: "Group",
                attributes: &GROUP_ATTRIBUTES,
            },
            from: "household h",
            key: "h.id",
            doc: "h.doc",
            identifiers: &[("UIN", "member.uin"), (HOUSEHOLD_ID, "household_id")],
            members: Some(Members {
                group_key: "h.household_id",
                head_key: "h.head_uin",
                select: "SELECT m.household_id, m.uin, m.doc FROM person m WHERE m.household_id IN (",
                order: "m.household_id, m.id",
            }),
        },
        RecordType {
            name: dci::records::social::MEMBER,
            aliases: &["Person", "SRPerson", "Individual"],
            schema: Schema {
                entity: "Member",
                attributes: &MEMBER_ATTRIBUTES,
            },
            from: "person p JOIN household h ON h.household_id = p.household_id",
            key: "p.id",
            doc: "p.doc",
            identifiers: &[("UIN", "uin"), (HOUSEHOLD_ID, "household_id")],
            members: None,
        },
    ],
    migrations: &[TABLES, FIRST_INDEXES, KEYS, INDEXES_WITH_KEYS, INDEXES],
    indexes: &INDEXES,
    routes: crate::registrar::routes,
};

/// Columns of a household row, as [`household_row`] fills them.
pub const HOUSEHOLD_TABLE: BulkTable = BulkTable {
    table: "household",
    columns: &[
        ("household_id", ColumnType::Text),
        ("group_type", ColumnType::Text),
        ("poverty_score", ColumnType::Float),
        ("group_size", ColumnType::Integer),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("head_uin", ColumnType::Text),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a member row, as [`person_row`] fills them.
pub const PERSON_TABLE: BulkTable = BulkTable {
    table: "person",
    columns: &[
        ("uin", ColumnType::Text),
        ("household_id", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("marital_status", ColumnType::Text),
        ("relationship_to_head", ColumnType::Text),
        ("education_level", ColumnType::Text),
        ("employment_status", ColumnType::Text),
        ("is_disabled", ColumnType::Bool),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a location row.
pub const LOCATION_TABLE: BulkTable = BulkTable {
    table: "location",
    columns: &[
        ("code", ColumnType::Text),
        ("name", ColumnType::Text),
        ("level", ColumnType::Integer),
        ("parent", ColumnType::Text),
    ],
};

/// The location master list, by code, for naming places in records.
#[derive(Debug, Default, Clone)]
pub struct Locations(HashMap<String, synth::Location>);

impl Locations {
    /// The list, from the generated hierarchy.
    pub fn new(locations: &[synth::Location]) -> Self {
        Locations(
            locations
                .iter()
                .map(|l| (l.code.clone(), l.clone()))
                .collect(),
        )
    }

    fn name(&self, code: &str) -> Option<&str> {
        self.0.get(code).map(|l| l.name.as_str())
    }

    /// The place with this code.
    pub(crate) fn get(&self, code: &str) -> Option<&synth::Location> {
        self.0.get(code)
    }
}

/// What a member's record takes from their household.
#[derive(Debug, Clone, Copy)]
pub struct MemberOf<'a> {
    /// The household's identifier.
    pub household_id: &'a str,
    /// Its head's UIN.
    pub head_uin: &'a str,
    /// Where it lives: sub-county, district and region codes.
    pub location_code: &'a str,
    /// The district of `location_code`.
    pub district_code: &'a str,
    /// The region of `district_code`.
    pub region_code: &'a str,
    /// When it was registered.
    pub registration_date: time::Date,
}

impl<'a> From<&'a synth::Household> for MemberOf<'a> {
    fn from(household: &'a synth::Household) -> Self {
        MemberOf {
            household_id: &household.household_id,
            head_uin: &household.head_uin,
            location_code: &household.location_code,
            district_code: &household.district_code,
            region_code: &household.region_code,
            registration_date: household.registration_date,
        }
    }
}

fn household_address(household: MemberOf<'_>, locations: &Locations) -> Address {
    Address {
        locality: locations.name(household.location_code).map(str::to_string),
        sub_region_code: Some(household.district_code.to_string()),
        region_code: Some(household.region_code.to_string()),
        ..Address::default()
    }
}

/// The row (published record included) of a household.
pub fn household_row(household: &synth::Household, locations: &Locations, updated: &str) -> Row {
    let group = Group {
        kind: "Group".into(),
        group_identifier: vec![Identifier::new(HOUSEHOLD_ID, &household.household_id)],
        group_type: household.group_type.clone(),
        geographical_location: locations.name(&household.location_code).map(|name| {
            Place::new(
                &household.location_code,
                name,
                Some(&household.district_code),
            )
        }),
        address: vec![household_address(household.into(), locations)],
        poverty_score: household.poverty_score,
        poverty_score_type: Some(household.poverty_score_type.clone()),
        group_size: i64::from(household.size),
        group_head_info: None,
        member_list: Vec::new(),
        registration_date: Some(ymd(household.registration_date)),
        last_updated: Some(updated.to_string()),
    };
    // Head and members are attached when the record is read, from the member rows.
    let mut doc = serde_json::to_value(&group).expect("a group always serializes");
    if let Some(map) = doc.as_object_mut() {
        map.remove("group_head_info");
        map.remove("member_list");
    }
    vec![
        text(&household.household_id),
        text(&household.group_type),
        Some(SqlValue::Float(household.poverty_score)),
        Some(SqlValue::Integer(i64::from(household.size))),
        text(&household.region_code),
        text(&household.district_code),
        text(&household.location_code),
        text(&household.head_uin),
        Some(SqlValue::Date(household.registration_date)),
        Some(SqlValue::Text(doc.to_string())),
    ]
}

/// The row (published record included) of a living member of `household`.
pub fn person_row(person: &synth::Person, household: MemberOf<'_>, locations: &Locations) -> Row {
    let member = Member {
        kind: "Member".into(),
        member_identifier: vec![Identifier::new("UIN", &person.uin)],
        demographic_info: SrPerson {
            kind: "SRPerson".into(),
            identifier: vec![Identifier::new("UIN", &person.uin)],
            name: Name {
                surname: Some(person.surname.clone()),
                given_name: Some(person.given_name.clone()),
                ..Name::default()
            },
            sex: person.sex.clone(),
            birth_date: ymd(person.birth_date),
            address: vec![household_address(household, locations)],
            phone_number: person.phone_number.iter().cloned().collect(),
        },
        related_person: person
            .relationship_to_head
            .iter()
            .map(|relationship| RelatedPerson {
                relationship_type: relationship.clone(),
                related_member: PersonRef {
                    identifier: vec![Identifier::new("UIN", household.head_uin)],
                },
            })
            .collect(),
        is_disabled: person.is_disabled,
        marital_status: Some(person.marital_status.clone()),
        employment_status: person.employment_status.clone(),
        education_level: person.education_level.clone(),
        group_identifier: Some(Identifier::new(HOUSEHOLD_ID, household.household_id)),
        registration_date: Some(ymd(household.registration_date)),
    };
    vec![
        text(&person.uin),
        text(household.household_id),
        text(&person.given_name),
        text(&person.surname),
        text(&person.sex),
        Some(SqlValue::Date(person.birth_date)),
        text(&person.marital_status),
        opt_text(person.relationship_to_head.as_deref()),
        opt_text(person.education_level.as_deref()),
        opt_text(person.employment_status.as_deref()),
        Some(SqlValue::Bool(person.is_disabled)),
        Some(SqlValue::Text(
            serde_json::to_string(&member).expect("a member always serializes"),
        )),
    ]
}

/// The row of a place of the location master list.
pub fn location_row(location: &synth::Location) -> Row {
    vec![
        text(&location.code),
        text(&location.name),
        Some(SqlValue::Integer(i64::from(location.level))),
        opt_text(location.parent.as_deref()),
    ]
}
