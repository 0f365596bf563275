//! The registrar's side of the social registry: households and members entering or changing,
//! each change raising its events (`REGISTER`, `NewHouseHoldMember`, `UPDATE`) in the same
//! transaction, so that subscribers are notified of every committed change and of nothing else.
//!
//! Input is the format `spx generate` writes and `spx import` reads (one object per household
//! and per person). A bulk import into an empty registry raises no events: it is the initial
//! load, made before anyone could subscribe.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use store::{BulkTable, ColumnType, Row, SqlValue, Statement, StoreError, placeholder};

use crate::Registry;
use crate::social::{
    HOUSEHOLD_TABLE, Locations, NEW_HOUSEHOLD_MEMBER, PERSON_TABLE, REGISTER, UPDATE,
};
use crate::subscribe::raise;

/// Records to create or replace, matched by `household_id` and `uin`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Changes {
    /// Households, whole.
    #[serde(default)]
    pub households: Vec<synth::Household>,
    /// Living members, whole; each names its household (in this request or registered).
    #[serde(default)]
    pub persons: Vec<synth::Person>,
}

/// What a change did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ChangeReport {
    /// Records that were new.
    pub created: usize,
    /// Records that replaced registered ones.
    pub updated: usize,
    /// Events raised.
    pub events: usize,
}

/// The social registrar's endpoint: `POST /registrar/records`.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new().route("/registrar/records", axum::routing::post(records))
}

/// `POST /registrar/records`: households and members created or replaced, with their events.
/// Not a DCI endpoint: the registrar's own system calls it.
async fn records(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    match crate::http::registrar_body::<Changes>(&registry, request).await {
        Ok(changes) => crate::http::registrar_answer(apply(&registry, &changes).await),
        Err(refusal) => refusal,
    }
}

/// Applies `changes` in one transaction. A request that cannot be applied whole (a member
/// without a household, a household that exists nowhere, an invalid UIN) changes nothing and
/// gets the reason.
pub async fn apply(
    registry: &Registry,
    changes: &Changes,
) -> Result<Result<ChangeReport, String>, StoreError> {
    if registry.profile.role != crate::social::PROFILE.role {
        return Ok(Err(format!(
            "the {} registry holds no households; see its own registrar endpoint",
            registry.profile.role
        )));
    }
    if let Err(reason) = check(changes) {
        return Ok(Err(reason));
    }
    let household_ids: Vec<String> = changes
        .households
        .iter()
        .map(|h| h.household_id.clone())
        .chain(
            changes
                .persons
                .iter()
                .filter_map(|p| p.household_id.clone()),
        )
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let registered = registered_households(registry, &household_ids).await?;
    let uins: Vec<String> = changes.persons.iter().map(|p| p.uin.clone()).collect();
    let known_people = existing(registry, "person", "uin", &uins).await?;
    let mut households: HashMap<&str, &synth::Household> = registered
        .values()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    for household in &changes.households {
        households.insert(&household.household_id, household);
    }
    for person in &changes.persons {
        let id = person.household_id.as_deref().unwrap_or_default();
        if !households.contains_key(id) {
            return Ok(Err(format!(
                "person {} names household {id}, which is neither registered nor in this request",
                person.uin
            )));
        }
    }
    let locations = locations(registry).await?;
    let dialect = registry.store.dialect();
    let updated = time::OffsetDateTime::now_utc().date().to_string();
    let mut statements = Vec::new();
    let mut report = ChangeReport::default();
    let mut event = |statements: &mut Vec<Statement>,
                     kind: &str,
                     record: &str,
                     table: &str,
                     column: &str,
                     key: &str| {
        statements.push(raise(
            dialect,
            kind,
            record,
            table,
            column,
            SqlValue::Text(key.to_string()),
        ));
        report.events += 1;
    };
    for household in &changes.households {
        let row = crate::social::household_row(household, &locations, &updated);
        statements.push(upsert(dialect, &HOUSEHOLD_TABLE, "household_id", row));
        let kind = if registered.contains_key(&household.household_id) {
            UPDATE
        } else {
            REGISTER
        };
        event(
            &mut statements,
            kind,
            dci::records::social::GROUP,
            "household",
            "household_id",
            &household.household_id,
        );
    }
    for person in &changes.persons {
        let household_id = person.household_id.as_deref().unwrap_or_default();
        let row = crate::social::person_row(person, households[household_id].into(), &locations);
        statements.push(upsert(dialect, &PERSON_TABLE, "uin", row));
        let member = dci::records::social::MEMBER;
        if known_people.contains(&person.uin) {
            event(
                &mut statements,
                UPDATE,
                member,
                "person",
                "uin",
                &person.uin,
            );
            continue;
        }
        event(
            &mut statements,
            REGISTER,
            member,
            "person",
            "uin",
            &person.uin,
        );
        if registered.contains_key(household_id) {
            event(
                &mut statements,
                NEW_HOUSEHOLD_MEMBER,
                member,
                "person",
                "uin",
                &person.uin,
            );
            event(
                &mut statements,
                NEW_HOUSEHOLD_MEMBER,
                dci::records::social::GROUP,
                "household",
                "household_id",
                household_id,
            );
        }
    }
    let events = report.events;
    report.created = changes.households.len() + changes.persons.len()
        - changes
            .households
            .iter()
            .filter(|h| registered.contains_key(&h.household_id))
            .count()
        - known_people.len();
    report.updated = changes.households.len() + changes.persons.len() - report.created;
    registry.store.write(statements).await?;
    if events > 0 {
        registry.events.notify_one();
    }
    Ok(Ok(report))
}

/// What can be told wrong from the request alone.
fn check(changes: &Changes) -> Result<(), String> {
    let mut uins = HashSet::new();
    for person in &changes.persons {
        if !synth::uin_is_valid(&person.uin) {
            return Err(format!("'{}' is not a valid UIN", person.uin));
        }
        if !uins.insert(&person.uin) {
            return Err(format!("person {} appears twice", person.uin));
        }
        if person.household_id.is_none() || person.death_date.is_some() {
            return Err(format!(
                "person {} has no household: the social registry holds living members of households",
                person.uin
            ));
        }
    }
    let mut ids = HashSet::new();
    for household in &changes.households {
        if !ids.insert(&household.household_id) {
            return Err(format!(
                "household {} appears twice",
                household.household_id
            ));
        }
    }
    if changes.households.is_empty() && changes.persons.is_empty() {
        return Err("the request holds no households and no persons".into());
    }
    Ok(())
}

/// An insert of `row` into `table`. NULL cells are written as `NULL`: statements bind values
/// only.
pub(crate) fn insert(dialect: store::Dialect, table: &BulkTable, row: Row) -> Statement {
    let mut values = Vec::with_capacity(row.len());
    let mut params = Vec::new();
    for cell in row {
        match cell {
            Some(value) => {
                params.push(value);
                values.push(placeholder(dialect, params.len()));
            }
            None => values.push("NULL".to_string()),
        }
    }
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    Statement::new(
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.table,
            names.join(", "),
            values.join(", ")
        ),
        params,
        &[],
    )
}

/// An insert of `row` into `table` that replaces the row with the same `key`.
pub(crate) fn upsert(dialect: store::Dialect, table: &BulkTable, key: &str, row: Row) -> Statement {
    let mut statement = insert(dialect, table, row);
    let updates: Vec<String> = table
        .columns
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != key)
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    statement.sql.push_str(&format!(
        " ON CONFLICT ({key}) DO UPDATE SET {}",
        updates.join(", ")
    ));
    statement
}

/// Which of `keys` are in `table`'s `column`.
async fn existing(
    registry: &Registry,
    table: &str,
    column: &str,
    keys: &[String],
) -> Result<HashSet<String>, StoreError> {
    let mut found = HashSet::new();
    let dialect = registry.store.dialect();
    for chunk in keys.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let rows = registry
            .store
            .read(vec![Statement::new(
                format!(
                    "SELECT {column} FROM {table} WHERE {column} IN ({})",
                    list.join(", ")
                ),
                chunk.iter().map(|k| SqlValue::Text(k.clone())).collect(),
                &[ColumnType::Text],
            )])
            .await?;
        for row in &rows[0] {
            if let Some(Some(SqlValue::Text(key))) = row.first() {
                found.insert(key.clone());
            }
        }
    }
    Ok(found)
}

/// The registered households among `ids`, as the registrar sent them.
async fn registered_households(
    registry: &Registry,
    ids: &[String],
) -> Result<HashMap<String, synth::Household>, StoreError> {
    let mut found = HashMap::new();
    let dialect = registry.store.dialect();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let rows = registry
            .store
            .read(vec![Statement::new(
                format!(
                    "SELECT household_id, group_type, poverty_score, group_size, region_code, district_code, location_code, head_uin, registration_date FROM household WHERE household_id IN ({})",
                    list.join(", ")
                ),
                chunk.iter().map(|k| SqlValue::Text(k.clone())).collect(),
                &[
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Float,
                    ColumnType::Integer,
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Date,
                ],
            )])
            .await?;
        for row in &rows[0] {
            let text = |i: usize| crate::search::text_cell(row, i);
            let (
                Some(Some(SqlValue::Float(score))),
                Some(Some(SqlValue::Integer(size))),
                Some(Some(SqlValue::Date(date))),
            ) = (row.get(2), row.get(3), row.get(8))
            else {
                continue;
            };
            found.insert(
                text(0),
                synth::Household {
                    household_id: text(0),
                    group_type: text(1),
                    poverty_score: *score,
                    poverty_score_type: "pmt".into(),
                    region_code: text(4),
                    district_code: text(5),
                    location_code: text(6),
                    head_uin: text(7),
                    size: u32::try_from(*size).unwrap_or_default(),
                    registration_date: *date,
                },
            );
        }
    }
    Ok(found)
}

/// The location master list, for naming places in records.
pub(crate) async fn locations(registry: &Registry) -> Result<Locations, StoreError> {
    let rows = registry
        .store
        .read(vec![Statement::new(
            "SELECT code, name, level, parent FROM location".to_string(),
            vec![],
            &[
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Integer,
                ColumnType::Text,
            ],
        )])
        .await?;
    let list: Vec<synth::Location> = rows[0]
        .iter()
        .filter_map(|row| match row.as_slice() {
            [
                Some(SqlValue::Text(code)),
                Some(SqlValue::Text(name)),
                Some(SqlValue::Integer(level)),
                parent,
            ] => Some(synth::Location {
                code: code.clone(),
                name: name.clone(),
                level: u8::try_from(*level).ok()?,
                parent: match parent {
                    Some(SqlValue::Text(p)) => Some(p.clone()),
                    _ => None,
                },
            }),
            _ => None,
        })
        .collect();
    Ok(Locations::new(&list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_write_nulls_and_replace_every_other_column() {
        let row = vec![
            Some(SqlValue::Text("1".into())),
            None,
            Some(SqlValue::Integer(2)),
        ];
        let table = BulkTable {
            table: "t",
            columns: &[
                ("k", ColumnType::Text),
                ("a", ColumnType::Text),
                ("b", ColumnType::Integer),
            ],
        };
        let statement = upsert(store::Dialect::Postgres, &table, "k", row);
        assert_eq!(
            statement.sql,
            "INSERT INTO t (k, a, b) VALUES ($1, NULL, $2) ON CONFLICT (k) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
        assert_eq!(statement.params.len(), 2);
    }
}
