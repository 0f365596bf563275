//! The farmer registry (FR) profile: farmers (`Farmer`, a `Farmer_Person`; the default record
//! type) and their land parcels (`FarmInfo`), searchable by `UIN`, farmer number (`FID`) and
//! parcel number (`LPI`), land size and tenure, crops, animals, farm type, name, sex, age and
//! place.
//!
//! A farmer's `region_code`, `district_code`, `location_code` and `location` (any of the
//! three, so that a region finds its districts and sub-counties too) are where the farmer
//! lives; `land_size` is the land of all their parcels, in hectares. The attributes of their
//! parcels (`parcel_size`, `land_tenure`, `irrigated`, `parcel_region_code`,
//! `parcel_location`), crops (`crop`, `crop_type`) and animals (`livestock`) hold when one of
//! them has them, each its own condition. A parcel's place attributes are where it lies, and
//! its `crop` the crops grown on it, so a `FarmInfo` search asks about one parcel at a time.
//!
//! Events (dci-spec §3.6, §7.4): a farmer's registration raises `FRPerson` (the standard's)
//! and `NewFarmer` (the sample's) on the farmer and on each of their parcels (see
//! [`registrar`]).
//!
//! The population's registry is loaded from the generated files (see [`crate::import`]): the
//! farmers of `farmers.*` and the parcels of `parcels.*`, with the names, sex and birth date
//! of `persons.*` and the home of `households.*`.

use dci::directory;
use dci::records::common::{Identifier, Member, Name, Person};
use dci::records::fr::{
    self as records, CropDetails, FID, FamilyRef, FarmInfo, FarmerPerson, FarmingActivities,
    HECTARES, LPI, LivestockDetails,
};
use expr::{AttrType, Attribute, CodeSet, Column, Schema};
use store::{BulkTable, ColumnType, Migration, Row, SqlValue};
use synth::farming::{Farmer, Parcel};
use time::Date;

use crate::profile::{Profile, RecordType};
use crate::rows::{
    address, date_attribute, doc, levels, opt_text, person_attributes, place, text, text_attribute,
    with_place, ymd,
};
use crate::social::Locations;

pub mod registrar;

/// Event: a farmer was registered (the standard's `spdci-common:RegistryEventType:FRPerson`).
pub const FR_PERSON: &str = "FRPerson";
/// Event: a farmer was registered, as the standard's sample subscription names it.
pub const NEW_FARMER: &str = "NewFarmer";

/// Identifier type of a person in every registry.
const UIN: &str = "UIN";

static FARM_TYPE: CodeSet = CodeSet {
    name: "FarmTypeEnum",
    codes: directory::FARM_TYPE,
};
static LAND_TENURE: CodeSet = CodeSet {
    name: "LandTenureEnum",
    codes: directory::LAND_TENURE,
};
static CROP: CodeSet = CodeSet {
    name: "crop",
    codes: directory::CROP,
};
static CROP_TYPE: CodeSet = CodeSet {
    name: "CropTypeEnum",
    codes: directory::CROP_TYPE,
};
static ANIMAL: CodeSet = CodeSet {
    name: "AnimalsEnum",
    codes: directory::ANIMAL,
};

/// An attribute of a related row: one of `$from` linked by `$link`, compared on `$inner`.
macro_rules! related {
    ($from:literal, $link:literal, $name:literal, [$($alias:literal),*], $ty:expr, $inner:expr) => {
        Attribute {
            name: $name,
            aliases: &[$($alias),*],
            ty: $ty,
            column: Column::Exists { from: $from, link: $link, inner: &$inner },
        }
    };
}

const FARMER_PERSON: [Attribute; 5] = person_attributes!(
    "f",
    [
        "farmer_personal_details.demographic_info.",
        "famer_personal_details.demographic_info.",
        "demographic_info."
    ]
);

static FARMER_ATTRIBUTES: [Attribute; 26] = with_place!(
    "f",
    "farmer_personal_details.demographic_info.address",
    [
        text_attribute!("fid", ["farmer_id", "identifier"], "f.fid"),
        text_attribute!(
            "uin",
            [
                "person_identifier",
                "national_id",
                "farmer_personal_details.demographic_info.identifier"
            ],
            "f.uin"
        ),
        Attribute {
            name: "member_identifier",
            aliases: &[
                "farmer_personal_details.member_identifier",
                "famer_personal_details.member_identifier",
            ],
            ty: AttrType::Text,
            column: Column::AnyOf(&["f.fid", "f.uin"]),
        },
        text_attribute!(
            "household_id",
            [
                "family_details.group_identifier",
                "group_identifier",
                "hhid"
            ],
            "f.household_id"
        ),
        FARMER_PERSON[0],
        FARMER_PERSON[1],
        FARMER_PERSON[2],
        FARMER_PERSON[3],
        FARMER_PERSON[4],
        Attribute {
            name: "farm_type",
            aliases: &["farmer_type"],
            ty: AttrType::Code(&FARM_TYPE),
            column: Column::Direct("f.farm_type"),
        },
        Attribute {
            name: "land_size",
            aliases: &["total_land_size", "land_area", "farm_size"],
            ty: AttrType::Float,
            column: Column::Direct("f.land_size"),
        },
        Attribute {
            name: "parcel_count",
            aliases: &["number_of_parcels"],
            ty: AttrType::Integer,
            column: Column::Direct("f.parcel_count"),
        },
        Attribute {
            name: "livestock_count",
            aliases: &["number_of_animals"],
            ty: AttrType::Integer,
            column: Column::Direct("f.livestock_count"),
        },
        date_attribute!("registration_date", [], "f.registration_date"),
        related!(
            "parcel l",
            "l.fid = f.fid",
            "parcel_size",
            ["land_details.land_size", "farm_details.land_size"],
            AttrType::Float,
            Column::Direct("l.land_size")
        ),
        related!(
            "parcel l",
            "l.fid = f.fid",
            "land_tenure",
            [
                "tenure",
                "land_ownership",
                "land_details.land_ownership",
                "farm_details.land_tenure"
            ],
            AttrType::Code(&LAND_TENURE),
            Column::Direct("l.land_tenure")
        ),
        related!(
            "parcel l",
            "l.fid = f.fid",
            "irrigated",
            ["irrigation"],
            AttrType::Bool,
            Column::Direct("l.irrigated")
        ),
        related!(
            "parcel l",
            "l.fid = f.fid",
            "parcel_region_code",
            [
                "land_details.address.region_code",
                "farm_details.location.region_code"
            ],
            AttrType::Text,
            Column::Direct("l.region_code")
        ),
        related!(
            "parcel l",
            "l.fid = f.fid",
            "parcel_location",
            ["land_details.address", "farm_details.location"],
            AttrType::Text,
            Column::AnyOf(&["l.region_code", "l.district_code", "l.location_code"])
        ),
        related!(
            "crop c",
            "c.fid = f.fid",
            "crop",
            [
                "crop_name",
                "crops",
                "crop_details.crop_type",
                "land_details.farming_activities.crop_details.crop_type",
                "farm_details.farming_activities.crop_production.crop_name"
            ],
            AttrType::Code(&CROP),
            Column::Direct("c.crop")
        ),
        related!(
            "crop c",
            "c.fid = f.fid",
            "crop_type",
            ["crop_type_name", "crop_group"],
            AttrType::Code(&CROP_TYPE),
            Column::Direct("c.crop_type")
        ),
        related!(
            "livestock a",
            "a.fid = f.fid",
            "livestock",
            [
                "animal",
                "animal_type",
                "animal_details.type",
                "animal_production.type"
            ],
            AttrType::Code(&ANIMAL),
            Column::Direct("a.animal")
        ),
    ]
);

static PARCEL_ATTRIBUTES: [Attribute; 13] = with_place!(
    "l",
    "farm_details.location",
    [
        text_attribute!("lpi", ["parcel_id", "identifier"], "l.lpi"),
        text_attribute!("fid", ["farmer_id", "farmer_identifier"], "l.fid"),
        text_attribute!("uin", ["farmer_uin"], "l.uin"),
        Attribute {
            name: "land_size",
            aliases: &["parcel_size", "area"],
            ty: AttrType::Float,
            column: Column::Direct("l.land_size"),
        },
        Attribute {
            name: "land_tenure",
            aliases: &["tenure", "land_ownership"],
            ty: AttrType::Code(&LAND_TENURE),
            column: Column::Direct("l.land_tenure"),
        },
        Attribute {
            name: "irrigated",
            aliases: &["irrigation"],
            ty: AttrType::Bool,
            column: Column::Direct("l.irrigated"),
        },
        date_attribute!("registration_date", [], "l.registration_date"),
        related!(
            "crop c",
            "c.lpi = l.lpi",
            "crop",
            [
                "crop_name",
                "crops",
                "farming_activities.crop_production.crop_name"
            ],
            AttrType::Code(&CROP),
            Column::Direct("c.crop")
        ),
        related!(
            "crop c",
            "c.lpi = l.lpi",
            "crop_type",
            ["crop_type_name", "crop_group"],
            AttrType::Code(&CROP_TYPE),
            Column::Direct("c.crop_type")
        ),
    ]
);

const TABLES: Migration = Migration {
    version: 301,
    name: "farmer registry tables",
    sqlite: include_str!("../migrations/sqlite/fr_0301_init.sql"),
    postgres: include_str!("../migrations/postgres/fr_0301_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/fr_0302_indexes.sql");

const INDEXES: Migration = Migration {
    version: 302,
    name: "farmer registry indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// The farmer registry profile.
pub static PROFILE: Profile = Profile {
    role: "fr",
    reg_type: "ns:org:RegistryType:FR",
    reg_type_aliases: &["Farmer", "FarmerRegistry", "Farm"],
    event_types: &[FR_PERSON, NEW_FARMER],
    event_aliases: &[],
    record_types: &[
        RecordType {
            name: records::FARMER,
            aliases: &[
                "Farmer_Person",
                "FarmerPerson",
                "FRPerson",
                "FR_Person",
                "Person",
                "Member",
            ],
            schema: Schema {
                entity: records::FARMER,
                attributes: &FARMER_ATTRIBUTES,
            },
            from: "farmer f",
            key: "f.id",
            doc: "f.doc",
            identifiers: &[(UIN, "uin"), (FID, "fid")],
            members: None,
        },
        RecordType {
            name: records::FARM_INFO,
            aliases: &[
                "LandParcel",
                "Parcel",
                "Farm",
                "land_details",
                "farm_details",
            ],
            schema: Schema {
                entity: records::FARM_INFO,
                attributes: &PARCEL_ATTRIBUTES,
            },
            from: "parcel l",
            key: "l.id",
            doc: "l.doc",
            identifiers: &[(LPI, "lpi"), (FID, "fid"), (UIN, "uin")],
            members: None,
        },
    ],
    migrations: &[TABLES, INDEXES],
    indexes: &INDEXES,
    routes: registrar::routes,
};

/// Columns of a farmer's row, as [`RegisteredFarmer::row`] fills them.
pub const FARMER_TABLE: BulkTable = BulkTable {
    table: "farmer",
    columns: &[
        ("fid", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("household_id", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("farm_type", ColumnType::Text),
        ("land_size", ColumnType::Float),
        ("parcel_count", ColumnType::Integer),
        ("livestock_count", ColumnType::Integer),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a parcel's row, as [`RegisteredFarmer::parcel_rows`] fills them.
pub const PARCEL_TABLE: BulkTable = BulkTable {
    table: "parcel",
    columns: &[
        ("lpi", ColumnType::Text),
        ("fid", ColumnType::Text),
        ("uin", ColumnType::Text),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("land_size", ColumnType::Float),
        ("land_tenure", ColumnType::Text),
        ("irrigated", ColumnType::Bool),
        ("registration_date", ColumnType::Date),
        ("doc", ColumnType::Text),
    ],
};

/// Columns of a crop's row.
pub const CROP_TABLE: BulkTable = BulkTable {
    table: "crop",
    columns: &[
        ("lpi", ColumnType::Text),
        ("fid", ColumnType::Text),
        ("crop", ColumnType::Text),
        ("crop_type", ColumnType::Text),
    ],
};

/// Columns of a herd's row.
pub const LIVESTOCK_TABLE: BulkTable = BulkTable {
    table: "livestock",
    columns: &[
        ("fid", ColumnType::Text),
        ("animal", ColumnType::Text),
        ("count", ColumnType::Integer),
    ],
};

/// A farmer of the registry with their parcels, typed: the published records and the rows
/// are made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredFarmer {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code.
    pub sex: String,
    /// Date of birth.
    pub birth_date: Date,
    /// Location code of the farmer's home.
    pub home: Option<String>,
    /// The farmer's registration and animals.
    pub farmer: Farmer,
    /// Their parcels.
    pub parcels: Vec<Parcel>,
}

/// Crops that stay in the ground for years (CropActivityEnum `012`; the others are `011`).
const PERENNIAL: &[&str] = &["banana", "mango", "coffee", "tea", "sugarcane"];

impl RegisteredFarmer {
    /// A farmer of the generated population living at `home`, with their parcels.
    pub fn from_population(
        person: &synth::Person,
        home: Option<&str>,
        farmer: Farmer,
        parcels: Vec<Parcel>,
    ) -> Self {
        RegisteredFarmer {
            given_name: person.given_name.clone(),
            surname: person.surname.clone(),
            sex: person.sex.clone(),
            birth_date: person.birth_date,
            home: home.map(str::to_string),
            farmer,
            parcels,
        }
    }

    /// The farmer's household in the social registry, when known.
    fn household(&self) -> Option<&str> {
        Some(self.farmer.household_id.as_str()).filter(|h| !h.is_empty())
    }

    fn identifiers(&self) -> Vec<Identifier> {
        vec![
            Identifier::new(FID, &self.farmer.fid),
            Identifier::new(UIN, &self.farmer.uin),
        ]
    }

    fn land_size(&self) -> f64 {
        let total: f64 = self.parcels.iter().map(|p| p.land_size).sum();
        (total * 100.0).round() / 100.0
    }

    /// A parcel as records publish it; the farmer's animals are kept on their first parcel.
    fn farm(&self, rank: usize, locations: &Locations, standalone: bool) -> FarmInfo {
        let parcel = &self.parcels[rank];
        let animals: Vec<LivestockDetails> = if rank == 0 {
            self.farmer
                .livestock
                .iter()
                .map(|l| LivestockDetails {
                    kind: l.animal.clone(),
                    count: i64::from(l.count),
                })
                .collect()
        } else {
            Vec::new()
        };
        let crops: Vec<CropDetails> = parcel
            .crops
            .iter()
            .map(|crop| CropDetails {
                activity_group: Some(
                    if PERENNIAL.contains(&crop.as_str()) {
                        "012"
                    } else {
                        "011"
                    }
                    .to_string(),
                ),
                crop_type_name: directory::crop_type(crop).map(str::to_string),
                crop_name: Some(crop.clone()),
                irrigation: parcel.irrigated,
            })
            .collect();
        FarmInfo {
            kind: records::FARM_INFO.into(),
            identifier: vec![Identifier::new(LPI, &parcel.lpi)],
            farmer_identifier: if standalone {
                self.identifiers()
            } else {
                Vec::new()
            },
            location: place(Some(&parcel.location_code), locations),
            land_tenure: Some(parcel.land_tenure.clone()),
            land_size: parcel.land_size,
            measurment: HECTARES.into(),
            farming_activities: FarmingActivities {
                mixed_farming: !crops.is_empty() && !animals.is_empty(),
                crop_production: crops,
                animal_production: animals,
            },
            registration_date: Some(ymd(parcel.registration_date)),
        }
    }

    /// The farmer as the registry publishes them (`Farmer_Person`), last changed at `updated`.
    pub fn record(&self, locations: &Locations, updated: &str) -> FarmerPerson {
        let address = address(self.home.as_deref(), locations);
        FarmerPerson {
            kind: records::FARMER_PERSON.into(),
            farmer_personal_details: Member {
                kind: "Member".into(),
                member_identifier: self.identifiers(),
                demographic_info: Person {
                    kind: records::FR_PERSON.into(),
                    identifier: vec![Identifier::new(UIN, &self.farmer.uin)],
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
            family_details: self.household().map(|household| FamilyRef {
                kind: "Group".into(),
                group_identifier: vec![Identifier::new(crate::social::HOUSEHOLD_ID, household)],
            }),
            farm_type: Some(self.farmer.farm_type.clone()),
            farm_details: (0..self.parcels.len())
                .map(|rank| self.farm(rank, locations, false))
                .collect(),
            total_land_size: Some(self.land_size()),
            registration_date: Some(ymd(self.farmer.registration_date)),
            last_updated: Some(updated.to_string()),
        }
    }

    /// The farmer's row (published record included), last changed at `updated`.
    pub fn row(&self, locations: &Locations, updated: &str) -> Row {
        let f = &self.farmer;
        let [region, district, location] = levels(self.home.as_deref(), locations);
        vec![
            text(&f.fid),
            text(&f.uin),
            opt_text(self.household()),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            region,
            district,
            location,
            text(&f.farm_type),
            Some(SqlValue::Float(self.land_size())),
            Some(SqlValue::Integer(self.parcels.len() as i64)),
            Some(SqlValue::Integer(
                f.livestock.iter().map(|l| i64::from(l.count)).sum(),
            )),
            Some(SqlValue::Date(f.registration_date)),
            doc(&self.record(locations, updated)),
        ]
    }

    /// The rows of the farmer's parcels (each with its published record).
    pub fn parcel_rows(&self, locations: &Locations) -> Vec<Row> {
        self.parcels
            .iter()
            .enumerate()
            .map(|(rank, parcel)| {
                let [region, district, location] = levels(Some(&parcel.location_code), locations);
                vec![
                    text(&parcel.lpi),
                    text(&self.farmer.fid),
                    text(&self.farmer.uin),
                    region,
                    district,
                    location,
                    Some(SqlValue::Float(parcel.land_size)),
                    text(&parcel.land_tenure),
                    Some(SqlValue::Bool(parcel.irrigated)),
                    Some(SqlValue::Date(parcel.registration_date)),
                    doc(&self.farm(rank, locations, true)),
                ]
            })
            .collect()
    }

    /// The rows of the crops of the farmer's parcels.
    pub fn crop_rows(&self) -> Vec<Row> {
        self.parcels
            .iter()
            .flat_map(|parcel| {
                parcel.crops.iter().map(|crop| {
                    vec![
                        text(&parcel.lpi),
                        text(&self.farmer.fid),
                        text(crop),
                        text(directory::crop_type(crop).unwrap_or("9")),
                    ]
                })
            })
            .collect()
    }

    /// The rows of the farmer's animals.
    pub fn livestock_rows(&self) -> Vec<Row> {
        self.farmer
            .livestock
            .iter()
            .map(|l| {
                vec![
                    text(&self.farmer.fid),
                    text(&l.animal),
                    Some(SqlValue::Integer(i64::from(l.count))),
                ]
            })
            .collect()
    }
}
