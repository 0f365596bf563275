//! Households with members, held both in memory (as `Record`s) and in an in-memory SQLite
//! database laid out as the test schema's columns say.

use std::collections::BTreeSet;

use expr::{Dialect, Expr, Record, SqlValue, Value, evaluate, iso_date, lower};
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use time::Date;

#[derive(Debug, Clone, Default)]
pub struct Household {
    pub uin: Option<String>,
    pub poverty_score: Option<f64>,
    pub group_size: Option<i64>,
    pub registration_date: Option<Date>,
    pub active: Option<bool>,
    pub head_sex: Option<String>,
    pub disability_status: Option<String>,
    pub head_birth_date: Option<Date>,
    pub region: Option<String>,
    pub district: Option<String>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default)]
pub struct Member {
    pub birth_date: Option<Date>,
    pub disabled: Option<bool>,
}

impl Record for Household {
    fn get(&self, column: &str) -> Option<Value> {
        match column {
            "h.uin" => self.uin.clone().map(Value::Text),
            "h.poverty_score" => self.poverty_score.map(Value::Float),
            "h.group_size" => self.group_size.map(Value::Integer),
            "h.registration_date" => self.registration_date.map(Value::Date),
            "h.active" => self.active.map(Value::Bool),
            "h.head_sex" => self.head_sex.clone().map(Value::Text),
            "h.disability_status" => self.disability_status.clone().map(Value::Text),
            "h.head_birth_date" => self.head_birth_date.map(Value::Date),
            "h.region" => self.region.clone().map(Value::Text),
            "h.district" => self.district.clone().map(Value::Text),
            other => panic!("household has no column {other}"),
        }
    }

    fn related(&self, from: &str) -> Vec<&dyn Record> {
        assert_eq!(from, "member m");
        self.members
            .iter()
            .map(|member| member as &dyn Record)
            .collect()
    }
}

impl Record for Member {
    fn get(&self, column: &str) -> Option<Value> {
        match column {
            "m.birth_date" => self.birth_date.map(Value::Date),
            "m.disabled" => self.disabled.map(Value::Bool),
            other => panic!("member has no column {other}"),
        }
    }
}

/// How the SQLite store binds a value: dates as `YYYY-MM-DD` text, booleans as 0/1.
pub fn bind(value: &SqlValue) -> Sql {
    match value {
        Value::Text(s) => Sql::Text(s.clone()),
        Value::Integer(n) => Sql::Integer(*n),
        Value::Float(x) => Sql::Real(*x),
        Value::Date(date) => Sql::Text(iso_date(*date)),
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
    }
}

fn opt<T>(value: Option<T>, to_sql: impl Fn(T) -> Sql) -> Sql {
    value.map_or(Sql::Null, to_sql)
}

/// An in-memory database holding `households`, with ids 1, 2, ... in order.
pub fn load(households: &[Household]) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE household (id INTEGER PRIMARY KEY, uin TEXT, poverty_score REAL,
           group_size INTEGER, registration_date TEXT, active INTEGER, head_sex TEXT,
           disability_status TEXT, head_birth_date TEXT, region TEXT, district TEXT);
         CREATE TABLE member (id INTEGER PRIMARY KEY, household_id INTEGER NOT NULL,
           birth_date TEXT, disabled INTEGER);",
    )
    .unwrap();
    for (i, h) in households.iter().enumerate() {
        let id = i as i64 + 1;
        let date = |d: Date| Sql::Text(iso_date(d));
        conn.execute(
            "INSERT INTO household VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params_from_iter([
                Sql::Integer(id),
                opt(h.uin.clone(), Sql::Text),
                opt(h.poverty_score, Sql::Real),
                opt(h.group_size, Sql::Integer),
                opt(h.registration_date, date),
                opt(h.active, |b| Sql::Integer(b.into())),
                opt(h.head_sex.clone(), Sql::Text),
                opt(h.disability_status.clone(), Sql::Text),
                opt(h.head_birth_date, date),
                opt(h.region.clone(), Sql::Text),
                opt(h.district.clone(), Sql::Text),
            ]),
        )
        .unwrap();
        for m in &h.members {
            conn.execute(
                "INSERT INTO member (household_id, birth_date, disabled) VALUES (?1, ?2, ?3)",
                rusqlite::params_from_iter([
                    Sql::Integer(id),
                    opt(m.birth_date, date),
                    opt(m.disabled, |b| Sql::Integer(b.into())),
                ]),
            )
            .unwrap();
        }
    }
    conn
}

/// The ids SQLite selects with the lowered expression.
pub fn select(conn: &Connection, expr: &Expr, today: Date) -> BTreeSet<i64> {
    let fragment = lower(expr, Dialect::Sqlite, today, 1);
    let sql = format!("SELECT h.id FROM household h WHERE {}", fragment.sql);
    let mut statement = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let params = fragment.params.iter().map(bind);
    statement
        .query_map(rusqlite::params_from_iter(params), |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The ids the evaluator finds true.
pub fn matching(households: &[Household], expr: &Expr, today: Date) -> BTreeSet<i64> {
    households
        .iter()
        .enumerate()
        .filter(|(_, h)| evaluate(expr, *h, today) == Some(true))
        .map(|(i, _)| i as i64 + 1)
        .collect()
}
