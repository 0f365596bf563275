//! Versioned schema migrations, one script per backend.

/// One schema change, written once for each backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in increasing order; never reused.
    pub version: i64,
    /// What the migration does, in a few words.
    pub name: &'static str,
    /// The script for SQLite.
    pub sqlite: &'static str,
    /// The script for PostgreSQL.
    pub postgres: &'static str,
}

impl Migration {
    /// The script for `dialect`.
    pub fn script(&self, dialect: crate::Dialect) -> &'static str {
        match dialect {
            crate::Dialect::Sqlite => self.sqlite,
            crate::Dialect::Postgres => self.postgres,
        }
    }

    /// A checksum of a script, to notice an applied migration that was edited afterwards
    /// (FNV-1a: stable across releases and platforms, unlike `std`'s hasher).
    pub fn checksum(script: &str) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in script.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash as i64
    }
}

/// The bookkeeping table, the same on both backends.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum BIGINT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Decides what to do with `migrations` given what was applied (`version`, `checksum`):
/// the migrations still to apply, or an error naming an edited or unknown one.
pub(crate) fn pending<'m>(
    migrations: &'m [Migration],
    applied: &[(i64, i64)],
    script: impl Fn(&Migration) -> &'static str,
) -> crate::Result<Vec<&'m Migration>> {
    for &(version, checksum) in applied {
        match migrations.iter().find(|m| m.version == version) {
            None => {
                return Err(crate::StoreError::Migration(format!(
                    "the database has migration {version}, which this spx does not know: is it older than the database?"
                )));
            }
            Some(m) if Migration::checksum(script(m)) != checksum => {
                return Err(crate::StoreError::Migration(format!(
                    "migration {version} ({}) was changed after it was applied",
                    m.name
                )));
            }
            Some(_) => {}
        }
    }
    let mut todo: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
        .collect();
    todo.sort_by_key(|m| m.version);
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: [Migration; 2] = [
        Migration {
            version: 1,
            name: "one",
            sqlite: "A",
            postgres: "A",
        },
        Migration {
            version: 2,
            name: "two",
            sqlite: "B",
            postgres: "B",
        },
    ];

    #[test]
    fn pending_skips_applied_and_orders() {
        let todo = pending(&M, &[(1, Migration::checksum("A"))], |m| m.sqlite).unwrap();
        assert_eq!(todo.iter().map(|m| m.version).collect::<Vec<_>>(), vec![2]);
        let todo = pending(&[M[1], M[0]], &[], |m| m.sqlite).unwrap();
        assert_eq!(
            todo.iter().map(|m| m.version).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn edited_or_unknown_migrations_are_refused() {
        assert!(pending(&M, &[(1, Migration::checksum("changed"))], |m| m.sqlite).is_err());
        assert!(pending(&M, &[(3, 0)], |m| m.sqlite).is_err());
    }
}
