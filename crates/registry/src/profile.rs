//! What makes one registry differ from another: its record types, their queryable attributes,
//! the identifiers it holds and its schema. The engine serves any profile the same way.

use std::sync::Arc;

use expr::{Attribute, Schema};
use store::Migration;

use crate::Registry;

/// A registry served by the engine.
#[derive(Debug)]
pub struct Profile {
    /// The role name used by the CLI, configuration and docs (`social`, `crvs`, ...).
    pub role: &'static str,
    /// The `reg_type` emitted in responses, e.g. `ns:org:RegistryType:Social`.
    pub reg_type: &'static str,
    /// Other names peers give it in `reg_type` (the DR sample's `Disability` ...).
    pub reg_type_aliases: &'static [&'static str],
    /// The events it raises, as subscriptions name them in `reg_event_type`.
    pub event_types: &'static [&'static str],
    /// Other names subscriptions give its events, with the event each names.
    pub event_aliases: &'static [(&'static str, &'static str)],
    /// The record types it serves; the first is the default of a search that names none.
    pub record_types: &'static [RecordType],
    /// Its own schema, versioned (the engine's tables come after: see
    /// [`crate::ENGINE_MIGRATIONS`]).
    pub migrations: &'static [Migration],
    /// The migration that creates its secondary indexes. Its script is idempotent: it runs
    /// again at every start (restoring indexes a bulk load dropped if the load was cut short).
    pub indexes: &'static Migration,
    /// Its own endpoints, served beside the engine's: its registrar's, and those its DCI API
    /// adds to the common ones.
    pub routes: fn() -> axum::Router<Arc<Registry>>,
}

/// One kind of record a registry returns (`Group`, `Member`, ...).
#[derive(Debug)]
pub struct RecordType {
    /// The canonical name, as `reg_record_type`/`response_entity` carry it.
    pub name: &'static str,
    /// Other names peers use for it (`Household`, `SRPerson`, namespaced forms ...).
    pub aliases: &'static [&'static str],
    /// Its queryable attributes, with their SQL columns.
    pub schema: Schema,
    /// The FROM clause the schema's columns refer to.
    pub from: &'static str,
    /// A unique, sortable key: the last sort term, so that pages never overlap.
    pub key: &'static str,
    /// The column holding the record as published.
    pub doc: &'static str,
    /// Identifier types an `idtype-value` search may use, with the attribute each one is.
    pub identifiers: &'static [(&'static str, &'static str)],
    /// How to attach the members of a group record, for group record types.
    pub members: Option<Members>,
}

/// The members of a group record, read from another table and placed into the group's
/// `group_head_info` and `member_list`.
#[derive(Debug)]
pub struct Members {
    /// The group's own id column (selected with the page).
    pub group_key: &'static str,
    /// The group's head id column (selected with the page).
    pub head_key: &'static str,
    /// `SELECT group id, member id, member doc FROM ... WHERE group id IN (`; the engine
    /// appends the placeholders and the ordering.
    pub select: &'static str,
    /// Ordering of the members within a group.
    pub order: &'static str,
}

impl Profile {
    /// The names of the indexes its index script creates (the secondary ones, and the keys
    /// it creates as unique indexes).
    pub fn index_names(&self, dialect: expr::Dialect) -> Vec<&'static str> {
        self.indexes
            .script(dialect)
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                line.strip_prefix("CREATE INDEX IF NOT EXISTS ")
                    .or_else(|| line.strip_prefix("CREATE UNIQUE INDEX IF NOT EXISTS "))
            })
            .filter_map(|rest| rest.split_whitespace().next())
            .collect()
    }

    /// The record type called `name` (canonical name or alias, any case; a namespace prefix
    /// such as `spdci-extensions-dci:` is ignored).
    pub fn record_type(&self, name: &str) -> Option<&'static RecordType> {
        let bare = name.rsplit(':').next().unwrap_or(name);
        self.record_types.iter().find(|t| {
            t.name.eq_ignore_ascii_case(bare)
                || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(bare))
        })
    }

    /// Whether `reg_type` (bare `Social` or namespaced `ns:org:RegistryType:Social`, or one of
    /// its aliases) names this registry.
    pub fn is_reg_type(&self, reg_type: &str) -> bool {
        let bare = |s: &str| s.rsplit(':').next().unwrap_or(s).to_ascii_lowercase();
        let asked = bare(reg_type);
        std::iter::once(self.reg_type)
            .chain(self.reg_type_aliases.iter().copied())
            .any(|name| bare(name) == asked)
    }
}

impl RecordType {
    /// The attribute an `idtype-value` search with identifier type `id_type` compares.
    pub fn identifier(&self, id_type: &str) -> Option<&Attribute> {
        let wanted =
            dci::directory::normalize(dci::directory::IDENTIFIER_TYPE, id_type).unwrap_or(id_type);
        self.identifiers
            .iter()
            .find(|(kind, _)| kind.eq_ignore_ascii_case(wanted))
            .and_then(|(_, attribute)| self.schema.attribute(attribute))
    }

    /// The identifier types this record type can be searched by.
    pub fn identifier_types(&self) -> Vec<&'static str> {
        self.identifiers.iter().map(|(kind, _)| *kind).collect()
    }
}

#[cfg(test)]
mod tests {
    /// Within a record type every name is one attribute's, and every identifier type is
    /// searchable by an attribute of the record type.
    #[test]
    fn attribute_names_are_unambiguous_and_identifiers_resolve() {
        for role in crate::roles() {
            let profile = crate::profile(role).expect("a profile");
            for record_type in profile.record_types {
                let mut names = std::collections::HashSet::new();
                for attribute in record_type.schema.attributes {
                    for name in
                        std::iter::once(attribute.name).chain(attribute.aliases.iter().copied())
                    {
                        assert!(
                            names.insert(name.to_ascii_lowercase()),
                            "{role} {}: '{name}' names two attributes",
                            record_type.name
                        );
                    }
                }
                for kind in record_type.identifier_types() {
                    assert!(
                        record_type.identifier(kind).is_some(),
                        "{role} {}: identifier {kind} has no attribute",
                        record_type.name
                    );
                }
            }
            assert!(profile.is_reg_type(profile.reg_type));
            for alias in profile.reg_type_aliases {
                assert!(profile.is_reg_type(&format!("ns:org:RegistryType:{alias}")));
            }
        }
        assert!(crate::dr::PROFILE.is_reg_type("ns:org:RegistryType:Disability"));
        assert!(!crate::dr::PROFILE.is_reg_type("ns:org:RegistryType:FR"));
    }
}
