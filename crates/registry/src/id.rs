//! The foundational identity (ID) profile: one `Identity` per UIN (name, sex, birth date,
//! address, `status` alive or deceased, date of death, when the UIN was issued, the identity
//! card in force), searchable by `UIN` or `DRN` and by every one of those attributes.
//!
//! **Identity verification** is a search: "does this UIN go with this name and birth date" is
//! the expression `uin = "…" AND given_name = "…" AND surname = "…" AND birth_date = "…"`
//! (text, NoSql or a predicate list), answered with the identity or with no record. A
//! participant allowed to see the identifier only, and to match (`match_fields`) the name and
//! birth date, can ask it and learn nothing but yes or no: see [`crate::search`].
//!
//! **Deaths** come from the civil registry (the MOSIP ↔ CRVS pattern of dci-spec §7.5): the
//! ID service subscribes to its `DEATH_REGISTERED` events ([`link`]) and each notified death
//! marks the identity deceased ([`mark_deceased`]), raising `IdentityDeceased` and the MOSIP
//! flow's `DATA_MODIFICATION`, so that the ID registry's own subscribers are notified in turn.
//!
//! The population is loaded from the generated files (see [`crate::import`]): every person,
//! living or deceased, with the home of their household (the deceased: of the household they
//! are listed with, as the civil register places them) and what [`synth::identity`] derives.

use std::sync::Arc;

use dci::Timestamp;
use dci::directory;
use dci::records::common::{Identifier, Name};
use dci::records::id::{self as records, DRN, IdDocument, Identity, UIN};
use expr::{AttrType, Attribute, CodeSet, Column, Schema};
use serde_json::Value;
use store::{BulkTable, ColumnType, Migration, Row, SqlValue, Statement, StoreError, numbered};
use time::Date;

use crate::Registry;
use crate::profile::{Profile, RecordType};
use crate::rows::{
    address, date_attribute, doc, levels, opt_text, person_attributes, text, text_attribute,
    with_place, ymd,
};
use crate::social::Locations;
use crate::subscribe::raise;

pub mod link;

/// Event: the civil registry registered the person's death and the identity is now deceased
/// (spx).
pub const IDENTITY_DECEASED: &str = "IdentityDeceased";
/// Event: the identity's data changed, as the MOSIP ↔ CRVS flow names it (dci-spec §7.5).
pub const DATA_MODIFICATION: &str = "DATA_MODIFICATION";

static STATUS: CodeSet = CodeSet {
    name: "identity status",
    codes: directory::IDENTITY_STATUS,
};

const PERSON: [Attribute; 5] = person_attributes!("i", []);

static ATTRIBUTES: [Attribute; 18] = with_place!(
    "i",
    "home",
    [
        text_attribute!(
            "uin",
            ["identifier", "person_identifier", "national_id"],
            "i.uin"
        ),
        text_attribute!(
            "drn",
            ["death_registration", "death_registration.identifier_value"],
            "i.drn"
        ),
        PERSON[0],
        PERSON[1],
        PERSON[2],
        PERSON[3],
        PERSON[4],
        Attribute {
            name: "status",
            aliases: &["identity_status"],
            ty: AttrType::Code(&STATUS),
            column: Column::Direct("i.status"),
        },
        Attribute {
            name: "is_deceased",
            aliases: &["deceased", "is_dead"],
            ty: AttrType::Bool,
            column: Column::Direct("i.is_deceased"),
        },
        date_attribute!("death_date", ["deathdate", "date_of_death"], "i.death_date"),
        date_attribute!("issuance_date", ["uin_issuance_date"], "i.issuance_date"),
        text_attribute!(
            "card_number",
            ["id_document.document_number", "document_number"],
            "i.card_number"
        ),
        date_attribute!(
            "card_issuance_date",
            ["id_document.date_of_issuance"],
            "i.card_issuance_date"
        ),
        date_attribute!(
            "card_expiry_date",
            ["id_document.date_of_expiry"],
            "i.card_expiry_date"
        ),
    ]
);

const TABLES: Migration = Migration {
    version: 501,
    name: "identity registry tables",
    sqlite: include_str!("../migrations/sqlite/id_0501_init.sql"),
    postgres: include_str!("../migrations/postgres/id_0501_init.sql"),
};

/// Index definitions are the same SQL on both backends.
const INDEX_SCRIPT: &str = include_str!("../migrations/id_0502_indexes.sql");

const INDEXES: Migration = Migration {
    version: 502,
    name: "identity registry indexes",
    sqlite: INDEX_SCRIPT,
    postgres: INDEX_SCRIPT,
};

/// The foundational identity profile.
pub static PROFILE: Profile = Profile {
    role: "id",
    reg_type: "ns:org:RegistryType:ID",
    reg_type_aliases: &["Identity", "NationalID", "NID", "FoundationalID", "MOSIP"],
    event_types: &[IDENTITY_DECEASED, DATA_MODIFICATION],
    event_aliases: &[],
    record_types: &[RecordType {
        name: records::IDENTITY,
        aliases: &[
            "Person",
            "IdentityRecord",
            "ResidentRecord",
            "resident_record",
            "IDPerson",
        ],
        schema: Schema {
            entity: records::IDENTITY,
            attributes: &ATTRIBUTES,
        },
        from: "identity i",
        key: "i.id",
        doc: "i.doc",
        identifiers: &[(UIN, "uin"), (DRN, "drn")],
        members: None,
    }],
    migrations: &[TABLES, INDEXES],
    indexes: &INDEXES,
    routes,
};

/// The ID registry adds no endpoint of its own to the engine's (the CRVS link's notification
/// endpoint is served beside them: see [`link::CrvsLink::router`]).
fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new()
}

/// Columns of an identity's row, as [`RegisteredIdentity::row`] fills them.
pub const IDENTITY_TABLE: BulkTable = BulkTable {
    table: "identity",
    columns: &[
        ("uin", ColumnType::Text),
        ("drn", ColumnType::Text),
        ("given_name", ColumnType::Text),
        ("surname", ColumnType::Text),
        ("sex", ColumnType::Text),
        ("birth_date", ColumnType::Date),
        ("region_code", ColumnType::Text),
        ("district_code", ColumnType::Text),
        ("location_code", ColumnType::Text),
        ("status", ColumnType::Text),
        ("is_deceased", ColumnType::Bool),
        ("death_date", ColumnType::Date),
        ("issuance_date", ColumnType::Date),
        ("card_number", ColumnType::Text),
        ("card_issuance_date", ColumnType::Date),
        ("card_expiry_date", ColumnType::Date),
        ("version", ColumnType::Integer),
        ("doc", ColumnType::Text),
    ],
};

/// An identity of the register, typed: its published record and its row are made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredIdentity {
    /// Unique identification number.
    pub uin: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code.
    pub sex: String,
    /// Date of birth.
    pub birth_date: Date,
    /// Location code of the home.
    pub home: Option<String>,
    /// Date of death, once registered.
    pub death_date: Option<Date>,
    /// The civil registry's death registration number, once registered.
    pub drn: Option<String>,
    /// When the UIN was issued, and the card in force.
    pub issuance: synth::identity::Issuance,
    /// When the record last changed (RFC 3339).
    pub last_updated: String,
}

impl RegisteredIdentity {
    /// The identity of a person of the generated population living at `home`, as the register
    /// holds it on `today` (the day it is loaded), last changed at `updated`.
    pub fn from_population(
        person: &synth::Person,
        home: Option<&str>,
        today: Date,
        updated: &str,
    ) -> Self {
        RegisteredIdentity {
            uin: person.uin.clone(),
            given_name: person.given_name.clone(),
            surname: person.surname.clone(),
            sex: person.sex.clone(),
            birth_date: person.birth_date,
            home: home.map(str::to_string),
            death_date: person.death_date,
            drn: person
                .death_date
                .map(|date| synth::vital::drn(&person.uin, date)),
            issuance: synth::identity::issuance(person, today),
            last_updated: updated.to_string(),
        }
    }

    /// The identity as the register publishes it.
    pub fn record(&self, locations: &Locations) -> Identity {
        Identity {
            kind: records::IDENTITY.into(),
            identifier: vec![Identifier::new(UIN, &self.uin)],
            name: Name {
                surname: Some(self.surname.clone()),
                given_name: Some(self.given_name.clone()),
                ..Name::default()
            },
            sex: self.sex.clone(),
            birth_date: ymd(self.birth_date),
            address: address(self.home.as_deref(), locations)
                .into_iter()
                .collect(),
            status: status(self.death_date.is_some()).into(),
            death_date: self.death_date.map(ymd),
            death_registration: self.drn.as_deref().map(|drn| Identifier::new(DRN, drn)),
            issuance_date: ymd(self.issuance.issuance_date),
            id_document: self.issuance.card.as_ref().map(|card| IdDocument {
                kind: records::ID_CARD.into(),
                document_number: card.number.clone(),
                date_of_issuance: ymd(card.issued),
                date_of_expiry: ymd(card.expires),
            }),
            last_updated: Some(self.last_updated.clone()),
        }
    }

    /// The identity's row (published record included), at version 0.
    pub fn row(&self, locations: &Locations) -> Row {
        let [region, district, location] = levels(self.home.as_deref(), locations);
        let card = self.issuance.card.as_ref();
        vec![
            text(&self.uin),
            opt_text(self.drn.as_deref()),
            text(&self.given_name),
            text(&self.surname),
            text(&self.sex),
            Some(SqlValue::Date(self.birth_date)),
            region,
            district,
            location,
            text(status(self.death_date.is_some())),
            Some(SqlValue::Bool(self.death_date.is_some())),
            self.death_date.map(SqlValue::Date),
            Some(SqlValue::Date(self.issuance.issuance_date)),
            opt_text(card.map(|c| c.number.as_str())),
            card.map(|c| SqlValue::Date(c.issued)),
            card.map(|c| SqlValue::Date(c.expires)),
            Some(SqlValue::Integer(0)),
            doc(&self.record(locations)),
        ]
    }
}

fn status(deceased: bool) -> &'static str {
    if deceased {
        records::DECEASED
    } else {
        records::ALIVE
    }
}

/// A death the civil registry registered, as its notifications tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The deceased's UIN.
    pub uin: String,
    /// The death registration number, when the record shows it.
    pub drn: Option<String>,
    /// The day of the death.
    pub death_date: Date,
    /// The deceased's mother's UIN, when the record shows it (a person's `parent1_identifier`):
    /// a child's death ends what its mother receives for it.
    pub mother: Option<String>,
}

impl Death {
    /// The death a civil registry's record tells of: a person (`CRVS_Person`) with a
    /// `death_date`, or a `DeathRecord`; `None` for any other record. Only the identifiers and
    /// the date are read, so a record cut down to those (the ID service's access at the civil
    /// registry) is enough.
    pub fn from_record(record: &Value) -> Option<Death> {
        let identifier = |kind: &str| {
            record["identifier"].as_array()?.iter().find(|i| {
                i["identifier_type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
            })?["identifier_value"]
                .as_str()
                .map(str::to_string)
        };
        let uin = match record["@type"].as_str() {
            Some(dci::records::crvs::DEATH_RECORD) => {
                record["deceased_identifier"]["identifier_value"]
                    .as_str()
                    .map(str::to_string)
            }
            _ => identifier(UIN),
        }?;
        let date = record["death_date"].as_str()?;
        let death_date = Date::parse(
            date.get(..10)?,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        Some(Death {
            uin,
            drn: identifier(DRN),
            death_date,
            mother: record["parent1_identifier"]["identifier_value"]
                .as_str()
                .map(str::to_string),
        })
    }
}

/// What [`mark_deceased`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The identity is now deceased; its events are raised.
    Deceased,
    /// It already was (a death notified twice is applied once).
    AlreadyDeceased,
    /// No identity has this UIN.
    Unknown,
}

/// Times a change is read and applied again after another change of the same identity.
const ATTEMPTS: usize = 5;

/// Marks the identity of `death.uin` deceased (status, date of death, the DRN), records the
/// change with its `source` (e.g. the notification that told of it) and raises
/// `IdentityDeceased` and `DATA_MODIFICATION`, in one transaction. Idempotent: an identity
/// already deceased is left as it is, and of two changes that read the same version of an
/// identity only one commits (`identity_change` key); the other reads it again.
pub async fn mark_deceased(
    registry: &Registry,
    death: &Death,
    source: &str,
) -> Result<Marked, StoreError> {
    let dialect = registry.store.dialect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some((version, mut identity)) = read(registry, &death.uin).await? else {
            return Ok(Marked::Unknown);
        };
        if identity.is_deceased() {
            return Ok(Marked::AlreadyDeceased);
        }
        let now = Timestamp::now().to_string();
        identity.status = records::DECEASED.into();
        identity.death_date = Some(ymd(death.death_date));
        identity.death_registration = death.drn.as_deref().map(|drn| Identifier::new(DRN, drn));
        identity.last_updated = Some(now.clone());
        let uin = SqlValue::Text(death.uin.clone());
        let statements = vec![
            Statement::new(
                numbered(
                    dialect,
                    "INSERT INTO identity_change (uin, version, change, source, changed_at) VALUES (?1, ?2, 'death', ?3, ?4)",
                ),
                vec![
                    uin.clone(),
                    SqlValue::Integer(version + 1),
                    SqlValue::Text(source.to_string()),
                    SqlValue::Text(now),
                ],
                &[],
            ),
            Statement::new(
                numbered(
                    dialect,
                    // A living identity has no DRN: one notified without it leaves it NULL.
                    "UPDATE identity SET status = ?1, is_deceased = ?2, death_date = ?3, version = ?4, doc = ?5,
                     drn = coalesce(nullif(?6, ''), drn) WHERE uin = ?7 AND version = ?8",
                ),
                vec![
                    SqlValue::Text(records::DECEASED.into()),
                    SqlValue::Bool(true),
                    SqlValue::Date(death.death_date),
                    SqlValue::Integer(version + 1),
                    SqlValue::Text(serde_json::to_string(&identity).expect("a record serializes")),
                    SqlValue::Text(death.drn.clone().unwrap_or_default()),
                    uin.clone(),
                    SqlValue::Integer(version),
                ],
                &[],
            ),
            raise(
                dialect,
                IDENTITY_DECEASED,
                records::IDENTITY,
                "identity",
                "uin",
                uin.clone(),
            ),
            raise(
                dialect,
                DATA_MODIFICATION,
                records::IDENTITY,
                "identity",
                "uin",
                uin,
            ),
        ];
        match registry.store.write(statements).await {
            Ok(_) => {
                registry.events.notify_one();
                return Ok(Marked::Deceased);
            }
            Err(e)
                if attempt < ATTEMPTS
                    && read(registry, &death.uin)
                        .await?
                        .is_some_and(|(now, _)| now != version) =>
            {
                tracing::debug!(error = %e, uin = %death.uin, "the identity changed meanwhile; applying again");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The identity of `uin` as published, with its version.
async fn read(registry: &Registry, uin: &str) -> Result<Option<(i64, Identity)>, StoreError> {
    let rows = registry
        .store
        .read(vec![Statement::new(
            numbered(
                registry.store.dialect(),
                "SELECT version, doc FROM identity WHERE uin = ?1",
            ),
            vec![SqlValue::Text(uin.to_string())],
            &[ColumnType::Integer, ColumnType::Text],
        )])
        .await?;
    let Some([Some(SqlValue::Integer(version)), Some(SqlValue::Text(doc))]) =
        rows[0].first().map(Vec::as_slice)
    else {
        return Ok(None);
    };
    match serde_json::from_str(doc) {
        Ok(identity) => Ok(Some((*version, identity))),
        Err(e) => Err(StoreError::Decode(format!(
            "the identity of {uin} does not read back: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A verify-only participant may match the name and birth date of the UIN it names, with
    /// equalities only, and nothing else it cannot see.
    #[test]
    fn verifications_match_fields_only_as_equalities_pinned_by_a_visible_identifier() {
        let record_type = &PROFILE.record_types[0];
        let access = trust::access::AccessRules {
            fields: Some(vec!["identifier".into()]),
            match_fields: Some(vec!["name".into(), "birth_date".into()]),
            ..Default::default()
        };
        let hidden = |text: &str| -> Vec<&str> {
            let filter = expr::parse_text(text, &record_type.schema).unwrap();
            crate::search::searched_attributes(&filter, record_type, &access)
                .into_iter()
                .filter(|a| {
                    !access.allows_field(std::iter::once(a.name).chain(a.aliases.iter().copied()))
                })
                .map(|a| a.name)
                .collect()
        };
        let none: Vec<&str> = Vec::new();
        assert_eq!(
            hidden(
                r#"uin = "1" AND given_name = "Ama" AND surname = "Owusu" AND birth_date = "1950-01-01""#
            ),
            none
        );
        // Not pinned by the UIN; a range; an alternative; a list; the field twice, once as a
        // range; a field that is not a match field.
        assert_eq!(hidden(r#"given_name = "Ama""#), ["given_name"]);
        assert_eq!(
            hidden(r#"uin = "1" AND birth_date < "1950-01-01""#),
            ["birth_date"]
        );
        assert_eq!(
            hidden(r#"uin = "1" AND (given_name = "Ama" OR given_name = "Kofi")"#),
            ["given_name"]
        );
        assert_eq!(
            hidden(r#"uin = "1" AND given_name IN ["Ama", "Kofi"]"#),
            ["given_name"]
        );
        assert_eq!(
            hidden(r#"uin = "1" AND birth_date = "1950-01-01" AND NOT birth_date = "1951-01-01""#),
            ["birth_date"]
        );
        assert_eq!(hidden(r#"uin = "1" AND sex = "female""#), ["sex"]);
    }

    #[test]
    fn deaths_are_read_from_persons_and_death_records() {
        let person = json!({"@type": "CRVS_Person",
            "identifier": [{"identifier_type": "UIN", "identifier_value": "1234567890"},
                           {"identifier_type": "DRN", "identifier_value": "2026000000001"}],
            "death_date": "2026-01-02",
            "parent1_identifier": {"identifier_type": "UIN", "identifier_value": "5550000001"}});
        let expected = Death {
            uin: "1234567890".into(),
            drn: Some("2026000000001".into()),
            death_date: time::macros::date!(2026 - 01 - 02),
            mother: None,
        };
        assert_eq!(
            Death::from_record(&person),
            Some(Death {
                mother: Some("5550000001".into()),
                ..expected.clone()
            })
        );
        let record = json!({"@type": "DeathRecord",
            "identifier": [{"identifier_type": "DRN", "identifier_value": "2026000000001"}],
            "deceased_identifier": {"identifier_type": "UIN", "identifier_value": "1234567890"},
            "death_date": "2026-01-02T10:00:00Z"});
        assert_eq!(Death::from_record(&record), Some(expected));
        // A living person, a birth, a record without the deceased: no death.
        let living = json!({"@type": "CRVS_Person",
            "identifier": [{"identifier_type": "UIN", "identifier_value": "1"}]});
        assert_eq!(Death::from_record(&living), None);
        assert_eq!(
            Death::from_record(&json!({"@type": "DeathRecord", "death_date": "2026-01-02"})),
            None
        );
    }
}
