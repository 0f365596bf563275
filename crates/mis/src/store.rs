//! The SP-MIS's own store: each application's or enrolment's current status, the history of
//! every change with its reason, date, decision and the IBR transaction that publishes it, and
//! the outbox those publications wait in until the IBR takes them.
//!
//! A change the IBR must hear of is committed in one transaction with its `enrollment/updates`
//! message in the outbox ([`Enrolments::record_published`]): a crash leaves neither the IBR
//! ahead of the SP-MIS nor a change it never hears of. The messages of one beneficiary go out
//! in the order of their changes (an outbox ordering key per programme and UIN). On
//! PostgreSQL the changes of one beneficiary take turns (a transaction-scoped advisory lock
//! on the programme and UIN), so that two nodes cannot both move them from the same status.

use std::sync::Arc;

use expr::Value;
use store::{ColumnType, Migration, Row, Statement, Store};
use time::Date;

use crate::MisError;
use crate::lifecycle::Status;

/// The SP-MIS schema: its enrolments (701, 702), programmes and entitlements (710), and the
/// outbox of its IBR updates (the dispatcher's tables, 1001, 1002 and 1005).
pub const MIGRATIONS: &[Migration] = &[
    ENROLMENTS,
    BY_UIN,
    ENTITLEMENTS,
    dispatch::MIGRATION,
    dispatch::ORDERING_MIGRATION,
    dispatch::PARKING_MIGRATION,
];

const ENROLMENTS: Migration = Migration {
    version: 701,
    name: "sp-mis enrolments and their history",
    sqlite: "CREATE TABLE mis_enrolment (
        programme TEXT NOT NULL,
        uin TEXT NOT NULL,
        status TEXT NOT NULL,
        status_date TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (programme, uin)
    );
    CREATE TABLE mis_change (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        programme TEXT NOT NULL,
        uin TEXT NOT NULL,
        status TEXT NOT NULL,
        status_date TEXT NOT NULL,
        reason TEXT,
        decision TEXT,
        ibr_transaction TEXT
    );
    CREATE INDEX mis_change_by_beneficiary ON mis_change (programme, uin, seq);",
    postgres: "CREATE TABLE mis_enrolment (
        programme TEXT COLLATE \"C\" NOT NULL,
        uin TEXT COLLATE \"C\" NOT NULL,
        status TEXT NOT NULL,
        status_date TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (programme, uin)
    );
    CREATE TABLE mis_change (
        seq BIGSERIAL PRIMARY KEY,
        programme TEXT COLLATE \"C\" NOT NULL,
        uin TEXT COLLATE \"C\" NOT NULL,
        status TEXT NOT NULL,
        status_date TEXT NOT NULL,
        reason TEXT,
        decision TEXT,
        ibr_transaction TEXT
    );
    CREATE INDEX mis_change_by_beneficiary ON mis_change (programme, uin, seq);",
};

/// Programmes created over the API, the household of each enrolment, and each cycle's
/// entitlements.
const ENTITLEMENTS: Migration = Migration {
    version: 710,
    name: "sp-mis programmes created over the API, households of enrolments, entitlements",
    sqlite: "CREATE TABLE mis_programme (
        code TEXT PRIMARY KEY,
        definition TEXT NOT NULL
    );
    ALTER TABLE mis_enrolment ADD COLUMN household_id TEXT;
    CREATE TABLE mis_entitlement (
        programme TEXT NOT NULL,
        cycle TEXT NOT NULL,
        beneficiary TEXT NOT NULL,
        uin TEXT NOT NULL,
        amount_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        pay_transaction TEXT,
        PRIMARY KEY (programme, cycle, beneficiary)
    );
    CREATE INDEX mis_entitlement_by_payee ON mis_entitlement (programme, uin, state);",
    postgres: "CREATE TABLE mis_programme (
        code TEXT COLLATE \"C\" PRIMARY KEY,
        definition TEXT NOT NULL
    );
    ALTER TABLE mis_enrolment ADD COLUMN household_id TEXT COLLATE \"C\";
    CREATE TABLE mis_entitlement (
        programme TEXT COLLATE \"C\" NOT NULL,
        cycle TEXT NOT NULL,
        beneficiary TEXT COLLATE \"C\" NOT NULL,
        uin TEXT COLLATE \"C\" NOT NULL,
        amount_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        pay_transaction TEXT,
        PRIMARY KEY (programme, cycle, beneficiary)
    );
    CREATE INDEX mis_entitlement_by_payee ON mis_entitlement (programme, uin, state);",
};

/// A person's enrolments in every programme (a death exits them all).
const BY_UIN: Migration = Migration {
    version: 702,
    name: "sp-mis enrolments by person",
    sqlite: "CREATE INDEX mis_enrolment_by_uin ON mis_enrolment (uin);",
    postgres: "CREATE INDEX mis_enrolment_by_uin ON mis_enrolment (uin);",
};

/// The class of the advisory locks that make one beneficiary's changes take turns on
/// PostgreSQL (the second key is the hash of the programme and UIN).
const BENEFICIARY_LOCK: i32 = 701;

/// One change of status.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// The programme's code.
    pub programme: String,
    /// The applicant's or beneficiary's UIN.
    pub uin: String,
    /// The new status.
    pub status: Status,
    /// When it took effect.
    #[serde(with = "crate::calendar_date")]
    pub date: Date,
    /// Why.
    pub reason: Option<String>,
    /// The eligibility decision behind it (JSON), when there was one.
    pub decision: Option<serde_json::Value>,
    /// The `transaction_id` (and `message_id`) of the `enrollment/updates` that tells the IBR
    /// of it.
    pub ibr_transaction: Option<String>,
    /// The household enrolled, for a household programme (kept once known).
    pub household_id: Option<String>,
    /// Where that update stands, as read back from the outbox: `pending` (the IBR has not
    /// taken it yet), `delivered`, or `dead` (refused by the IBR; an operator may replay it).
    /// Ignored when a change is recorded.
    pub ibr_delivery: Option<String>,
}

/// An `enrollment/updates` message for the IBR, committed with the change it tells of and
/// delivered from the outbox.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Its `transaction_id`, also its `message_id`.
    pub transaction_id: String,
    /// The IBR's `/registry/sync/enrollment/updates` URL.
    pub destination: String,
    /// The envelope, unsigned (the dispatcher signs it as it sends it).
    pub body: String,
}

impl Change {
    /// `uin` has `status` in `programme` since `date`, without a reason, decision or IBR
    /// transaction.
    pub fn new(programme: &str, uin: &str, status: Status, date: Date) -> Self {
        Change {
            programme: programme.to_string(),
            uin: uin.to_string(),
            status,
            date,
            reason: None,
            decision: None,
            ibr_transaction: None,
            household_id: None,
            ibr_delivery: None,
        }
    }
}

/// The enrolments of one SP-MIS.
#[derive(Clone)]
pub struct Enrolments {
    store: Arc<dyn Store>,
}

/// Text, or the empty text that stands for none (statements bind no NULLs).
fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Text(String::new()), |v| Value::Text(v.to_string()))
}

fn cell_text(cell: &Option<Value>) -> Option<String> {
    match cell {
        Some(Value::Text(text)) => Some(text.clone()),
        _ => None,
    }
}

impl Enrolments {
    /// The enrolments kept in `store`, which must have [`MIGRATIONS`] applied.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Enrolments { store }
    }

    fn sql(&self, sql: &str) -> String {
        store::numbered(self.store.dialect(), sql)
    }

    /// The current status of `uin` in `programme`, if they ever applied.
    pub async fn status(&self, programme: &str, uin: &str) -> Result<Option<Status>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql("SELECT status FROM mis_enrolment WHERE programme = ?1 AND uin = ?2"),
                vec![text(Some(programme)), text(Some(uin))],
                &[ColumnType::Text],
            )])
            .await?;
        Ok(rows[0]
            .first()
            .and_then(|row| cell_text(&row[0]))
            .and_then(|s| Status::parse(&s)))
    }

    /// Every programme `uin` applied to, with their current status there, by programme code.
    pub async fn of(&self, uin: &str) -> Result<Vec<(String, Status)>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql(
                    "SELECT programme, status FROM mis_enrolment WHERE uin = ?1 ORDER BY programme",
                ),
                vec![text(Some(uin))],
                &[ColumnType::Text; 2],
            )])
            .await?;
        rows[0]
            .iter()
            .map(|row| {
                let status = cell_text(&row[1]).and_then(|s| Status::parse(&s));
                match (cell_text(&row[0]), status) {
                    (Some(programme), Some(status)) => Ok((programme, status)),
                    _ => Err(MisError::Corrupt(format!("enrolment of {uin}: {row:?}"))),
                }
            })
            .collect()
    }

    /// Records `change`, refused unless the lifecycle allows it from the current status (a
    /// first change must be [`Status::Applied`]).
    pub async fn record(&self, change: Change) -> Result<(), MisError> {
        self.write(change, None).await
    }

    /// Records `change` as [`Enrolments::record`] does, and in the same transaction puts
    /// `publication` into the outbox (its transaction becomes the change's `ibr_transaction`),
    /// after the messages of the beneficiary's earlier changes.
    pub async fn record_published(
        &self,
        change: Change,
        publication: Publication,
    ) -> Result<(), MisError> {
        self.write(change, Some(publication)).await
    }

    async fn write(
        &self,
        mut change: Change,
        publication: Option<Publication>,
    ) -> Result<(), MisError> {
        let dialect = self.store.dialect();
        let mut reads = Vec::new();
        if dialect == store::Dialect::Postgres {
            reads.push(Statement::new(
                format!("SELECT pg_advisory_xact_lock({BENEFICIARY_LOCK}, hashtext($1))"),
                vec![text(Some(&format!("{}/{}", change.programme, change.uin)))],
                &[],
            ));
        }
        reads.push(Statement::new(
            self.sql("SELECT status FROM mis_enrolment WHERE programme = ?1 AND uin = ?2"),
            vec![text(Some(&change.programme)), text(Some(&change.uin))],
            &[ColumnType::Text],
        ));
        let upsert = self.sql(
            "INSERT INTO mis_enrolment (programme, uin, status, status_date, reason, household_id)
             VALUES (?1, ?2, ?3, ?4, ?5, NULLIF(?6, ''))
             ON CONFLICT (programme, uin) DO UPDATE SET status = ?3, status_date = ?4, reason = ?5,
                 household_id = COALESCE(NULLIF(?6, ''), mis_enrolment.household_id)",
        );
        // Leaving the active statuses cancels what is due and not yet sent, in the same
        // transaction (a death between a cycle's entitlements and their payment).
        let cancel = self.sql(
            "UPDATE mis_entitlement SET state = 'cancelled', reason = ?3
             WHERE programme = ?1 AND uin = ?2 AND state = 'pending'",
        );
        let insert = self.sql(
            "INSERT INTO mis_change (programme, uin, status, status_date, reason, decision, ibr_transaction)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        );
        if let Some(publication) = &publication {
            change.ibr_transaction = Some(publication.transaction_id.clone());
        }
        let (uin, programme, status) =
            (change.uin.clone(), change.programme.clone(), change.status);
        let plan: store::WritePlan = Box::new(move |rows: Vec<Vec<Row>>| {
            let current = rows
                .last()
                .and_then(|rows| rows.first())
                .and_then(|row| cell_text(&row[0]))
                .and_then(|s| Status::parse(&s));
            let allowed = match current {
                None => change.status == Status::Applied,
                Some(current) => current.can_become(change.status),
            };
            if !allowed {
                // Nothing written: the caller sees no rows changed.
                return Ok(Vec::new());
            }
            let common = vec![
                text(Some(&change.programme)),
                text(Some(&change.uin)),
                text(Some(change.status.as_str())),
                Value::Text(expr::iso_date(change.date)),
            ];
            let mut enrolment = common.clone();
            enrolment.push(text(change.reason.as_deref()));
            enrolment.push(text(change.household_id.as_deref()));
            let mut history = common;
            history.push(text(change.reason.as_deref()));
            history.push(text(
                change.decision.as_ref().map(|d| d.to_string()).as_deref(),
            ));
            history.push(text(change.ibr_transaction.as_deref()));
            let mut statements = vec![
                Statement::new(upsert, enrolment, &[]),
                Statement::new(insert, history, &[]),
            ];
            if !change.status.is_active() {
                let why = format!(
                    "{}: {}",
                    change.status.as_str(),
                    change.reason.as_deref().unwrap_or("no reason given")
                );
                statements.push(Statement::new(
                    cancel,
                    vec![
                        text(Some(&change.programme)),
                        text(Some(&change.uin)),
                        Value::Text(why),
                    ],
                    &[],
                ));
            }
            if let Some(publication) = publication {
                statements.extend(dispatch::ordering_lock(dialect));
                statements.push(dispatch::enqueue_ordered(
                    dialect,
                    &publication.transaction_id,
                    &publication.destination,
                    publication.body,
                    &format!("ibr/{}/{}", change.programme, change.uin),
                    0,
                ));
            }
            Ok(statements)
        });
        let written = self.store.read_then_write(reads, plan).await?;
        if written.is_empty() {
            return Err(MisError::Transition {
                from: self.status(&programme, &uin).await?,
                uin,
                programme,
                to: status,
            });
        }
        Ok(())
    }

    /// Every change of `uin` in `programme`, oldest first.
    pub async fn history(&self, programme: &str, uin: &str) -> Result<Vec<Change>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql(
                    "SELECT c.status, c.status_date, c.reason, c.decision, c.ibr_transaction, o.state
                     FROM mis_change AS c LEFT JOIN outbox AS o ON o.message_id = c.ibr_transaction
                     WHERE c.programme = ?1 AND c.uin = ?2 ORDER BY c.seq",
                ),
                vec![text(Some(programme)), text(Some(uin))],
                &[ColumnType::Text; 6],
            )])
            .await?;
        rows[0]
            .iter()
            .map(|row| {
                let field = |i: usize| cell_text(&row[i]).filter(|s| !s.is_empty());
                let status = field(0)
                    .and_then(|s| Status::parse(&s))
                    .ok_or_else(|| MisError::Corrupt(format!("status {:?}", row[0])))?;
                let date = field(1)
                    .and_then(|d| {
                        Date::parse(&d, &time::format_description::well_known::Iso8601::DATE).ok()
                    })
                    .ok_or_else(|| MisError::Corrupt(format!("date {:?}", row[1])))?;
                let decision = field(3)
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .map_err(|e| MisError::Corrupt(e.to_string()))?;
                Ok(Change {
                    programme: programme.to_string(),
                    uin: uin.to_string(),
                    status,
                    date,
                    reason: field(2),
                    decision,
                    ibr_transaction: field(4),
                    household_id: None,
                    ibr_delivery: field(5),
                })
            })
            .collect()
    }
}

impl Enrolments {
    /// The active beneficiaries of `programme` (enrolled or resumed), by UIN, each with the
    /// household enrolled for a household programme.
    pub async fn active(&self, programme: &str) -> Result<Vec<(String, Option<String>)>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql(
                    "SELECT uin, household_id FROM mis_enrolment
                     WHERE programme = ?1 AND status IN ('enrolled', 'resumed') ORDER BY uin",
                ),
                vec![text(Some(programme))],
                &[ColumnType::Text, ColumnType::Text],
            )])
            .await?;
        Ok(rows[0]
            .iter()
            .filter_map(|row| Some((cell_text(&row[0])?, cell_text(&row[1]))))
            .collect())
    }

    /// The household `uin` is enrolled for in `programme`, if any.
    pub async fn household(&self, programme: &str, uin: &str) -> Result<Option<String>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql(
                    "SELECT household_id FROM mis_enrolment WHERE programme = ?1 AND uin = ?2",
                ),
                vec![text(Some(programme)), text(Some(uin))],
                &[ColumnType::Text],
            )])
            .await?;
        Ok(rows[0].first().and_then(|row| cell_text(&row[0])))
    }

    /// Programmes created over the API, as `(code, definition JSON)`, in creation order.
    pub async fn stored_programmes(&self) -> Result<Vec<(String, String)>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                "SELECT code, definition FROM mis_programme ORDER BY code",
                vec![],
                &[ColumnType::Text, ColumnType::Text],
            )])
            .await?;
        Ok(rows[0]
            .iter()
            .filter_map(|row| Some((cell_text(&row[0])?, cell_text(&row[1])?)))
            .collect())
    }

    /// Keeps a programme created over the API; `false` when one with `code` is kept already.
    pub async fn store_programme(&self, code: &str, definition: &str) -> Result<bool, MisError> {
        let written = self
            .store
            .write(vec![Statement::new(
                self.sql(
                    "INSERT INTO mis_programme (code, definition) VALUES (?1, ?2)
                     ON CONFLICT (code) DO NOTHING",
                ),
                vec![text(Some(code)), text(Some(definition))],
                &[],
            )])
            .await?;
        Ok(written.first().copied().unwrap_or(0) == 1)
    }

    /// The entitlements of the SP-MIS (the same store).
    pub fn entitlements(&self) -> Entitlements {
        Entitlements {
            store: self.store.clone(),
        }
    }
}

/// Where an entitlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntitlementState {
    /// Due, not yet sent to the payments service: cancelled if the beneficiary leaves.
    Pending,
    /// Sent to the payments service, its outcome not yet known.
    Sent,
    /// The payments service paid it.
    Paid,
    /// The payments service refused it or the payment failed (the reason says why).
    Failed,
    /// The beneficiary left the active statuses before it was sent.
    Cancelled,
}

impl EntitlementState {
    /// Every state.
    pub const ALL: [EntitlementState; 5] = [
        EntitlementState::Pending,
        EntitlementState::Sent,
        EntitlementState::Paid,
        EntitlementState::Failed,
        EntitlementState::Cancelled,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EntitlementState::Pending => "pending",
            EntitlementState::Sent => "sent",
            EntitlementState::Paid => "paid",
            EntitlementState::Failed => "failed",
            EntitlementState::Cancelled => "cancelled",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What one beneficiary is due at one cycle of a programme.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entitlement {
    /// The programme's code.
    pub programme: String,
    /// The cycle's date.
    pub cycle: Date,
    /// Who is entitled: the UIN, or the household id of a household programme (one
    /// entitlement per household per cycle).
    pub beneficiary: String,
    /// The payee's UIN (the head, for a household).
    pub uin: String,
    /// In minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Where it stands.
    pub state: EntitlementState,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// The disbursement transaction it was sent in.
    pub pay_transaction: Option<String>,
}

/// The entitlements of one SP-MIS.
#[derive(Clone)]
pub struct Entitlements {
    store: Arc<dyn Store>,
}

/// Whether the beneficiary of the `mis_entitlement` row (of programme `?1`) has an IBR update
/// of the programme the outbox has not delivered.
const UNDELIVERED: &str = "EXISTS (SELECT 1 FROM mis_change AS c
      JOIN outbox AS o ON o.message_id = c.ibr_transaction
      WHERE c.programme = ?1 AND c.uin = mis_entitlement.uin AND o.state <> 'delivered')";

const ENTITLEMENT_COLUMNS: &str =
    "programme, cycle, beneficiary, uin, amount_minor, currency, state, reason, pay_transaction";

const ENTITLEMENT_TYPES: [ColumnType; 9] = [
    ColumnType::Text,
    ColumnType::Text,
    ColumnType::Text,
    ColumnType::Text,
    ColumnType::Integer,
    ColumnType::Text,
    ColumnType::Text,
    ColumnType::Text,
    ColumnType::Text,
];

fn entitlement(row: &Row) -> Result<Entitlement, MisError> {
    let field = |i: usize| cell_text(&row[i]).filter(|s| !s.is_empty());
    let corrupt =
        |what: &str, i: usize| MisError::Corrupt(format!("entitlement {what} {:?}", row[i]));
    Ok(Entitlement {
        programme: field(0).ok_or_else(|| corrupt("programme", 0))?,
        cycle: field(1)
            .and_then(|d| {
                Date::parse(&d, &time::format_description::well_known::Iso8601::DATE).ok()
            })
            .ok_or_else(|| corrupt("cycle", 1))?,
        beneficiary: field(2).ok_or_else(|| corrupt("beneficiary", 2))?,
        uin: field(3).ok_or_else(|| corrupt("uin", 3))?,
        amount_minor: match &row[4] {
            Some(Value::Integer(n)) => *n,
            _ => return Err(corrupt("amount", 4)),
        },
        currency: field(5).ok_or_else(|| corrupt("currency", 5))?,
        state: field(6)
            .and_then(|s| EntitlementState::parse(&s))
            .ok_or_else(|| corrupt("state", 6))?,
        reason: field(7),
        pay_transaction: field(8),
    })
}

impl Entitlements {
    fn sql(&self, sql: &str) -> String {
        store::numbered(self.store.dialect(), sql)
    }

    /// Stores `due` as pending; an entitlement of the same programme, cycle and beneficiary
    /// already stored is kept as it is (a cycle run again adds nothing).
    pub async fn add_pending(&self, due: &[Entitlement]) -> Result<(), MisError> {
        if due.is_empty() {
            return Ok(());
        }
        let sql = self.sql(&format!(
            "INSERT INTO mis_entitlement ({ENTITLEMENT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', '', '')
             ON CONFLICT (programme, cycle, beneficiary) DO NOTHING"
        ));
        let statements = due
            .iter()
            .map(|e| {
                Statement::new(
                    sql.clone(),
                    vec![
                        text(Some(&e.programme)),
                        Value::Text(expr::iso_date(e.cycle)),
                        text(Some(&e.beneficiary)),
                        text(Some(&e.uin)),
                        Value::Integer(e.amount_minor),
                        text(Some(&e.currency)),
                    ],
                    &[],
                )
            })
            .collect();
        self.store.write(statements).await?;
        Ok(())
    }

    /// Marks the pending entitlements of `programme`'s `cycle` as sent in `transaction`, and
    /// returns them: what a cancellation has not taken first is paid. An entitlement whose
    /// beneficiary has an IBR update of the programme not yet delivered stays pending: the
    /// payments service's receipt must not reach the IBR before the enrolment it belongs to.
    pub async fn claim(
        &self,
        programme: &str,
        cycle: Date,
        transaction: &str,
    ) -> Result<Vec<Entitlement>, MisError> {
        let rows = self
            .store
            .write_query(Statement::new(
                self.sql(&format!(
                    "UPDATE mis_entitlement SET state = 'sent', pay_transaction = ?3
                     WHERE programme = ?1 AND cycle = ?2 AND state = 'pending'
                       AND NOT {UNDELIVERED}
                     RETURNING {ENTITLEMENT_COLUMNS}"
                )),
                vec![
                    text(Some(programme)),
                    Value::Text(expr::iso_date(cycle)),
                    text(Some(transaction)),
                ],
                &ENTITLEMENT_TYPES,
            ))
            .await?;
        let mut claimed = rows
            .iter()
            .map(entitlement)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by(|a, b| a.beneficiary.cmp(&b.beneficiary));
        Ok(claimed)
    }

    /// Records the outcome of sent entitlements of `programme`'s `cycle`: `(beneficiary,
    /// paid or failed, reason)`.
    pub async fn settle(
        &self,
        programme: &str,
        cycle: Date,
        outcomes: &[(String, EntitlementState, Option<String>)],
    ) -> Result<(), MisError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let sql = self.sql(
            "UPDATE mis_entitlement SET state = ?4, reason = ?5
             WHERE programme = ?1 AND cycle = ?2 AND beneficiary = ?3 AND state = 'sent'",
        );
        let statements = outcomes
            .iter()
            .map(|(beneficiary, state, reason)| {
                Statement::new(
                    sql.clone(),
                    vec![
                        text(Some(programme)),
                        Value::Text(expr::iso_date(cycle)),
                        text(Some(beneficiary)),
                        text(Some(state.as_str())),
                        text(reason.as_deref()),
                    ],
                    &[],
                )
            })
            .collect();
        self.store.write(statements).await?;
        Ok(())
    }

    /// The pending entitlements of `programme`'s `cycle` whose beneficiary has an IBR update
    /// of the programme not yet delivered: [`Entitlements::claim`] leaves them.
    pub async fn held(&self, programme: &str, cycle: Date) -> Result<Vec<Entitlement>, MisError> {
        self.select(
            &format!("programme = ?1 AND cycle = ?2 AND state = 'pending' AND {UNDELIVERED} ORDER BY beneficiary"),
            vec![text(Some(programme)), Value::Text(expr::iso_date(cycle))],
        )
        .await
    }

    /// The entitlements of `programme`'s `cycle`, by beneficiary.
    pub async fn of_cycle(
        &self,
        programme: &str,
        cycle: Date,
    ) -> Result<Vec<Entitlement>, MisError> {
        self.select(
            "programme = ?1 AND cycle = ?2 ORDER BY beneficiary",
            vec![text(Some(programme)), Value::Text(expr::iso_date(cycle))],
        )
        .await
    }

    /// The entitlements paid to `uin` in `programme`, oldest cycle first.
    pub async fn of_payee(&self, programme: &str, uin: &str) -> Result<Vec<Entitlement>, MisError> {
        self.select(
            "programme = ?1 AND uin = ?2 ORDER BY cycle",
            vec![text(Some(programme)), text(Some(uin))],
        )
        .await
    }

    async fn select(&self, filter: &str, params: Vec<Value>) -> Result<Vec<Entitlement>, MisError> {
        let rows = self
            .store
            .read(vec![Statement::new(
                self.sql(&format!(
                    "SELECT {ENTITLEMENT_COLUMNS} FROM mis_entitlement WHERE {filter}"
                )),
                params,
                &ENTITLEMENT_TYPES,
            )])
            .await?;
        rows[0].iter().map(entitlement).collect()
    }
}
