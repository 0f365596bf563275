//! The asynchronous side of a registry: requests accepted durably before the ACK, processed
//! by a background worker, answered through the outbox; and transaction status.
//!
//! An async request is written (its `message_id` into `inbox`, the request into `txn` with
//! status `rcvd`, its items' reference ids into `txn_item`) in one transaction before the ACK.
//! The worker answers `rcvd` transactions and, in one transaction, stores the answer, marks the
//! transaction `succ` or `rjct` and enqueues the callback, whose `message_id` is derived from
//! the transaction's correlation id, so that answering twice (after a crash, or on two nodes)
//! still sends one callback. A repeated `message_id` from the same sender is acknowledged
//! with the first correlation id and not processed again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dci::search::SearchResponseItem;
use dci::txn::{TxnLookup, TxnStatusRequest, TxnStatusResponse, TxnStatusResult};
use dci::{
    Action, Envelope, MsgCallbackHeader, MsgHeader, ReasonCode, Rejection, RequestStatus,
    SearchRequest, SearchResponse, Timestamp,
};
use serde_json::Value;
use store::{ColumnType, Migration, SqlValue, Statement, StoreError, numbered};

use crate::Registry;

/// The tables of the asynchronous exchange (migration 1000 of every registry's store).
pub const MIGRATION: Migration = Migration {
    version: 1000,
    name: "async exchange: inbox, transactions",
    sqlite: "CREATE TABLE inbox (
        sender_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (sender_id, message_id)
    );
    CREATE TABLE txn (
        correlation_id TEXT PRIMARY KEY,
        sender_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        action TEXT NOT NULL,
        status TEXT NOT NULL,
        callback_url TEXT NOT NULL,
        request TEXT NOT NULL,
        response TEXT,
        received_at TEXT NOT NULL,
        completed_at TEXT
    );
    CREATE INDEX txn_by_transaction ON txn (sender_id, transaction_id);
    CREATE INDEX txn_by_status ON txn (status, received_at);
    CREATE TABLE txn_item (
        correlation_id TEXT NOT NULL REFERENCES txn (correlation_id),
        sender_id TEXT NOT NULL,
        reference_id TEXT NOT NULL
    );
    CREATE INDEX txn_item_by_reference ON txn_item (sender_id, reference_id);",
    postgres: "CREATE TABLE inbox (
        sender_id TEXT COLLATE \"C\" NOT NULL,
        message_id TEXT COLLATE \"C\" NOT NULL,
        correlation_id TEXT COLLATE \"C\" NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (sender_id, message_id)
    );
    CREATE TABLE txn (
        correlation_id TEXT COLLATE \"C\" PRIMARY KEY,
        sender_id TEXT COLLATE \"C\" NOT NULL,
        transaction_id TEXT COLLATE \"C\" NOT NULL,
        action TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        callback_url TEXT NOT NULL,
        request TEXT NOT NULL,
        response TEXT,
        received_at TEXT COLLATE \"C\" NOT NULL,
        completed_at TEXT
    );
    CREATE INDEX txn_by_transaction ON txn (sender_id, transaction_id);
    CREATE INDEX txn_by_status ON txn (status, received_at);
    CREATE TABLE txn_item (
        correlation_id TEXT COLLATE \"C\" NOT NULL REFERENCES txn (correlation_id),
        sender_id TEXT COLLATE \"C\" NOT NULL,
        reference_id TEXT COLLATE \"C\" NOT NULL
    );
    CREATE INDEX txn_item_by_reference ON txn_item (sender_id, reference_id);",
};

/// Transactions answered per pass of the worker.
const BATCH: i64 = 64;

/// How long a worker's claim on a transaction lasts; answering one takes milliseconds.
const CLAIM_LEASE: Duration = Duration::from_secs(5);

/// A lease on transactions being answered (migration 1004).
pub const CLAIM_MIGRATION: Migration = Migration {
    version: 1004,
    name: "transaction claims",
    sqlite: "ALTER TABLE txn ADD COLUMN claimed_until INTEGER;",
    postgres: "ALTER TABLE txn ADD COLUMN claimed_until BIGINT;",
};

/// The outcome of accepting an async request.
pub enum Accepted {
    /// Stored now, under this correlation id.
    New(String),
    /// The same sender sent this `message_id` before: this message was not stored.
    Duplicate(Earlier),
}

/// Whether `url` may receive callbacks of `sender_id`: an http(s) URL without credentials
/// whose normalised form starts with one of the configured prefixes or of the participant's.
/// Parsing first matters: as text, `http://127.0.0.1:1@elsewhere.example/` starts with
/// `http://127.0.0.1:` but goes elsewhere.
pub fn callback_allowed(registry: &Registry, sender_id: &str, url: &str) -> bool {
    url_under(url, &registry.config.callback_url_prefixes)
        || registry
            .participants
            .get(sender_id)
            .is_some_and(|p| p.callback_allowed(url))
}

/// Whether `url` is a plain http(s) URL (no credentials in it) that starts with one of
/// `prefixes`.
pub fn url_under(url: &str, prefixes: &[String]) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let plain = parsed.username().is_empty() && parsed.password().is_none();
    plain
        && matches!(parsed.scheme(), "http" | "https")
        && prefixes
            .iter()
            .any(|prefix| parsed.as_str().starts_with(prefix.as_str()))
}

/// An async request, as it is stored before it is acknowledged.
pub struct Incoming<'a> {
    /// Its header.
    pub header: &'a MsgHeader,
    /// `search`, `subscribe`, `unsubscribe` or `txn-status`.
    pub action: Action,
    /// The requester's transaction id.
    pub transaction_id: &'a str,
    /// Its items' reference ids (for txn status by `reference_id_list`).
    pub reference_ids: Vec<String>,
    /// Where its answer goes.
    pub callback_url: &'a str,
    /// The request as received.
    pub body: &'a [u8],
    /// What accepting it changes (a payment batch's items), committed with it.
    pub changes: Vec<Statement>,
}

/// The answer to a request processed as it is accepted (subscribe, unsubscribe): committed in
/// the same transaction as the request, so that an acknowledged request is always answered.
pub struct Answered {
    /// `succ` or `rjct`.
    pub status: &'static str,
    /// What txn status reports: the response message, or the rejection envelope.
    pub response: String,
    /// The state changes the request makes.
    pub changes: Vec<Statement>,
    /// The callback, from [`dispatch::enqueue`].
    pub callback: Statement,
}

/// A message accepted before under the same `message_id`.
pub struct Earlier {
    /// The correlation id it was acknowledged with.
    pub correlation_id: String,
    /// The request as it was received.
    pub request: String,
}

impl Earlier {
    /// Whether `body` is the same message again (a retry), rather than another message
    /// reusing the id: the same JSON, whatever its spacing.
    pub fn is_retry_of(&self, body: &[u8]) -> bool {
        let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok();
        parse(self.request.as_bytes()).is_some_and(|stored| parse(body) == Some(stored))
    }
}

/// The message `header`'s sender sent before with the same `message_id`, if there was one.
pub async fn earlier(
    registry: &Registry,
    header: &MsgHeader,
) -> Result<Option<Earlier>, StoreError> {
    let rows = registry
        .store
        .read(vec![Statement::new(
            numbered(
                registry.store.dialect(),
                "SELECT i.correlation_id, t.request FROM inbox i LEFT JOIN txn t ON t.correlation_id = i.correlation_id
                 WHERE i.sender_id = ?1 AND i.message_id = ?2",
            ),
            vec![
                SqlValue::Text(header.sender_id.clone()),
                SqlValue::Text(header.message_id.clone()),
            ],
            &[ColumnType::Text, ColumnType::Text],
        )])
        .await?;
    Ok(match rows[0].first().map(Vec::as_slice) {
        Some([Some(SqlValue::Text(id)), request]) => Some(Earlier {
            correlation_id: id.clone(),
            request: match request {
                Some(SqlValue::Text(request)) => request.clone(),
                _ => String::new(),
            },
        }),
        _ => None,
    })
}

/// Stores an async request (and its answer, when it is `answered` at once) before it is
/// acknowledged. A repeated `message_id` from the same sender violates the inbox's key and
/// rolls the whole transaction back: the request is then a duplicate of the stored one (found
/// after the failed write, so that the common case costs no read).
pub async fn accept(
    registry: &Registry,
    incoming: Incoming<'_>,
    correlation_id: String,
    answered: Option<Answered>,
) -> Result<Accepted, StoreError> {
    let dialect = registry.store.dialect();
    let now = Timestamp::now().to_string();
    let text = |s: &str| SqlValue::Text(s.to_string());
    let header = incoming.header;
    let mut statements = vec![
        Statement::new(
            numbered(
                dialect,
                "INSERT INTO inbox (correlation_id, sender_id, message_id, received_at) VALUES (?1, ?2, ?3, ?4)",
            ),
            vec![text(&correlation_id), text(&header.sender_id), text(&header.message_id), text(&now)],
            &[],
        ),
        Statement::new(
            numbered(
                dialect,
                "INSERT INTO txn (correlation_id, sender_id, transaction_id, action, status, callback_url, request, received_at)
                 VALUES (?1, ?2, ?3, ?4, 'rcvd', ?5, ?6, ?7)",
            ),
            vec![
                text(&correlation_id),
                text(&header.sender_id),
                text(incoming.transaction_id),
                text(incoming.action.as_str()),
                text(incoming.callback_url),
                SqlValue::Text(String::from_utf8_lossy(incoming.body).into_owned()),
                text(&now),
            ],
            &[],
        ),
    ];
    for reference_id in &incoming.reference_ids {
        statements.push(Statement::new(
            numbered(
                dialect,
                "INSERT INTO txn_item (correlation_id, sender_id, reference_id) VALUES (?1, ?2, ?3)",
            ),
            vec![text(&correlation_id), text(&header.sender_id), text(reference_id)],
            &[],
        ));
    }
    statements.extend(incoming.changes);
    let answered_now = answered.is_some();
    if let Some(answered) = answered {
        statements.push(Statement::new(
            numbered(
                dialect,
                "UPDATE txn SET status = ?2, response = ?3, completed_at = ?4 WHERE correlation_id = ?1",
            ),
            vec![text(&correlation_id), text(answered.status), SqlValue::Text(answered.response), text(&now)],
            &[],
        ));
        statements.extend(answered.changes);
        statements.push(answered.callback);
    }
    match registry.store.write(statements).await {
        Ok(_) if answered_now => {
            registry.dispatcher.wake();
            Ok(Accepted::New(correlation_id))
        }
        Ok(_) => {
            registry.work.notify_one();
            Ok(Accepted::New(correlation_id))
        }
        Err(e) => match earlier(registry, header).await? {
            Some(earlier) => Ok(Accepted::Duplicate(earlier)),
            None => Err(e),
        },
    }
}

/// How often the pruner runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs the pruner, at start and then every hour, until the process ends.
pub fn spawn_pruner(registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match prune(&registry, registry.config.retention).await {
                Ok(removed) if removed > 0 => {
                    tracing::info!(removed, "pruned the exchange's old rows")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot prune the exchange's old rows"),
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    })
}

/// Deletes what is older than `retention`: answered requests (their inbox rows, transactions
/// and items), delivered callbacks and matched registry events. Pending work and dead letters
/// stay whatever their age. Returns how many rows went.
pub async fn prune(registry: &Registry, retention: Duration) -> Result<u64, StoreError> {
    let dialect = registry.store.dialect();
    let cutoff = Timestamp(time::OffsetDateTime::now_utc() - retention).to_string();
    let cutoff_ms = dispatch::now_ms() - retention.as_millis() as i64;
    let old_txn =
        "SELECT correlation_id FROM txn WHERE status IN ('succ', 'rjct') AND completed_at < ?1";
    let statements = [
        format!("DELETE FROM txn_item WHERE correlation_id IN ({old_txn})"),
        format!("DELETE FROM inbox WHERE correlation_id IN ({old_txn})"),
        "DELETE FROM txn WHERE status IN ('succ', 'rjct') AND completed_at < ?1".to_string(),
        "DELETE FROM registry_event WHERE matched = 1 AND occurred_at < ?1".to_string(),
    ]
    .into_iter()
    .map(|sql| {
        Statement::new(
            numbered(dialect, &sql),
            vec![SqlValue::Text(cutoff.clone())],
            &[],
        )
    })
    .chain(std::iter::once(Statement::new(
        numbered(
            dialect,
            "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?1",
        ),
        vec![SqlValue::Integer(cutoff_ms)],
        &[],
    )))
    .collect();
    Ok(registry.store.write(statements).await?.iter().sum())
}

/// Runs the worker that answers accepted requests, until the process ends.
pub fn spawn_worker(registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match answer_pending(&registry).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot answer pending requests"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), registry.work.notified()).await;
        }
    })
}

/// Answers up to [`BATCH`] received transactions; returns how many.
async fn answer_pending(registry: &Registry) -> Result<usize, StoreError> {
    let dialect = registry.store.dialect();
    let rows = match dialect {
        // Claimed with a lease (`pdng` until answered): nodes sharing a PostgreSQL database
        // answer different transactions, and a node that dies leaves its claims to the
        // others (or to itself after a restart) once the lease runs out.
        store::Dialect::Postgres => {
            let now = dispatch::now_ms();
            registry
                .store
                .write_query(Statement::new(
                    numbered(
                        dialect,
                        &format!(
                            "UPDATE txn SET status = 'pdng', claimed_until = ?1 WHERE correlation_id IN (
                                SELECT correlation_id FROM txn WHERE action = 'search'
                                  AND (status = 'rcvd' OR (status = 'pdng' AND claimed_until < ?2))
                                ORDER BY received_at LIMIT {BATCH} FOR UPDATE SKIP LOCKED)
                             RETURNING correlation_id, request, received_at, callback_url"
                        ),
                    ),
                    vec![
                        SqlValue::Integer(now + CLAIM_LEASE.as_millis() as i64),
                        SqlValue::Integer(now),
                    ],
                    &[ColumnType::Text; 4],
                ))
                .await?
        }
        // The embedded store has one process and this one worker: no claim to write (it
        // would cost a write per transaction); transactions stay `rcvd` until answered.
        store::Dialect::Sqlite => registry
            .store
            .read(vec![Statement::new(
                format!(
                    "SELECT correlation_id, request, received_at, callback_url FROM txn
                     WHERE status = 'rcvd' AND action = 'search' ORDER BY received_at LIMIT {BATCH}"
                ),
                vec![],
                &[ColumnType::Text; 4],
            )])
            .await?
            .remove(0),
    };
    let count = rows.len();
    // The searches run at once (on the store's readers); their answers commit together.
    let answers = rows.iter().filter_map(|row| match row.as_slice() {
        [
            Some(SqlValue::Text(correlation_id)),
            Some(SqlValue::Text(request)),
            Some(SqlValue::Text(received_at)),
            Some(SqlValue::Text(callback_url)),
        ] => Some(async move {
            let (status, envelope, body) =
                answer_search(registry, correlation_id, request, received_at).await?;
            Ok::<_, StoreError>(record_answer(
                dialect,
                correlation_id,
                callback_url,
                status,
                &envelope,
                body,
            ))
        }),
        _ => None,
    });
    let mut statements = Vec::with_capacity(2 * count);
    for answer in futures::future::join_all(answers).await {
        statements.extend(answer?);
    }
    if !statements.is_empty() {
        registry.store.write(statements).await?;
        registry.dispatcher.wake();
    }
    Ok(count)
}

/// The statements that record a search's answer and enqueue its callback.
fn record_answer(
    dialect: store::Dialect,
    correlation_id: &str,
    callback_url: &str,
    status: &str,
    envelope: &Envelope<MsgCallbackHeader, SearchResponse>,
    body: String,
) -> [Statement; 2] {
    let response = envelope
        .message
        .as_ref()
        .map(|m| serde_json::to_string(m).expect("serializes"));
    [
        Statement::new(
            numbered(
                dialect,
                "UPDATE txn SET status = ?2, response = ?3, completed_at = ?4 WHERE correlation_id = ?1 AND status IN ('rcvd', 'pdng')",
            ),
            vec![
                SqlValue::Text(correlation_id.to_string()),
                SqlValue::Text(status.to_string()),
                SqlValue::Text(response.unwrap_or_else(|| body.clone())),
                SqlValue::Text(Timestamp::now().to_string()),
            ],
            &[],
        ),
        dispatch::enqueue(
            dialect,
            &envelope.header.message_id,
            Some(correlation_id),
            callback_url,
            body,
        ),
    ]
}

/// The answer to a stored search: the transaction's final status, the `on-search` envelope,
/// and the callback's body (the envelope, its message encrypted when the request was).
type SearchAnswer = (
    &'static str,
    Envelope<MsgCallbackHeader, SearchResponse>,
    String,
);

/// The `on-search` callback for a stored request, and the transaction's final status.
async fn answer_search(
    registry: &Registry,
    correlation_id: &str,
    request: &str,
    received_at: &str,
) -> Result<SearchAnswer, StoreError> {
    let (status, envelope, header) =
        answer_search_envelope(registry, correlation_id, request, received_at).await?;
    let plain = || serde_json::to_string(&envelope).expect("an envelope always serializes");
    let Some(header) = header.filter(|h| h.is_msg_encrypted) else {
        let body = plain();
        return Ok((status, envelope, body));
    };
    match registry.seal(&header, &envelope).await {
        Ok(sealed) => Ok((status, envelope, sealed)),
        Err(rejection) => {
            let refused: Envelope<MsgCallbackHeader, SearchResponse> = registry.rejection_envelope(
                Some(&header),
                Action::OnSearch,
                rejection,
                envelope.header.message_id.clone(),
            );
            let body = serde_json::to_string(&refused).expect("an envelope always serializes");
            Ok(("rjct", refused, body))
        }
    }
}

/// The `on-search` envelope for a stored request, the transaction's final status, and the
/// request's header when it could be read.
async fn answer_search_envelope(
    registry: &Registry,
    correlation_id: &str,
    request: &str,
    received_at: &str,
) -> Result<
    (
        &'static str,
        Envelope<MsgCallbackHeader, SearchResponse>,
        Option<MsgHeader>,
    ),
    StoreError,
> {
    let callback_id = crate::subscribe::callback_id(Action::OnSearch, correlation_id);
    let parsed = crate::http::parse_envelope::<SearchRequest>(registry, request.as_bytes());
    let received = Timestamp::parse(received_at).unwrap_or_else(|_| Timestamp::now());
    let (header, message) = match parsed {
        Ok(parsed) => (parsed.header, parsed.message),
        Err(rejection) => {
            return Ok((
                "rjct",
                registry.rejection_envelope(None, Action::OnSearch, rejection, callback_id),
                None,
            ));
        }
    };
    // The header is judged as of when the request arrived, not when it is answered.
    if let Err(rejection) = dci::validate::request_header(
        &header,
        Action::Search,
        message.search_request.len(),
        &registry.config.header,
        received,
    ) {
        return Ok((
            "rjct",
            registry.rejection_envelope(Some(&header), Action::OnSearch, rejection, callback_id),
            Some(header),
        ));
    }
    let access = registry.access_of(&header.sender_id);
    let started = (std::time::Instant::now(), time::OffsetDateTime::now_utc());
    // No budget here: the async path answers what the sync path refuses for its time.
    let items =
        crate::search::answer_all(registry, &message, received.0.date(), &access, None).await?;
    // The callback's disclosure is recorded before the callback is queued.
    registry
        .audit
        .append(store::audit::Entry {
            at: started.1,
            participant: Some(header.sender_id.clone()),
            endpoint: header.sender_uri.clone().unwrap_or_default(),
            action: Some(Action::OnSearch.as_str().into()),
            message_id: Some(callback_id.clone()),
            transaction_id: Some(message.transaction_id.clone()),
            correlation_id: Some(correlation_id.to_string()),
            outcome: RequestStatus::Succ.as_str().into(),
            status: 0,
            duration: started.0.elapsed(),
            disclosed: crate::audit::disclosed(&items),
        })
        .await?;
    let mut envelope = registry.response_envelope(
        &header,
        Action::OnSearch,
        items.len(),
        SearchResponse {
            transaction_id: message.transaction_id,
            correlation_id: correlation_id.to_string(),
            search_response: items,
        },
    );
    envelope.header.message_id = callback_id;
    Ok((RequestStatus::Succ.as_str(), envelope, Some(header)))
}

/// Answers a txn-status request from `sender_id`: the response sent (or to be sent) for the
/// transaction it names, with `pdng` items while it is being processed; or, by subscription
/// codes, those subscriptions.
pub async fn txn_status(
    registry: &Registry,
    sender_id: &str,
    request: &TxnStatusRequest,
) -> Result<Result<TxnStatusResponse, Rejection>, StoreError> {
    let lookup = match request.txnstatus_request.lookup() {
        Ok(lookup) => lookup,
        Err(rejection) => return Ok(Err(rejection)),
    };
    let found = |correlation_id: String, txn_type: &str, txn_status: Value| {
        Ok(Ok(TxnStatusResponse {
            transaction_id: request.transaction_id.clone(),
            correlation_id,
            txnstatus_response: TxnStatusResult {
                txn_type: txn_type.to_string(),
                txn_status,
            },
        }))
    };
    // Status requests are transactions too, but not ones a status request reports.
    let reportable = ["search", "subscribe", "unsubscribe"];
    let lookup = match lookup {
        TxnLookup::SubscriptionCodes(codes) => {
            let response = crate::subscribe::subscription_info(
                registry,
                sender_id,
                &request.transaction_id,
                &codes,
            )
            .await?;
            let value = serde_json::to_value(response).unwrap_or(Value::Null);
            return found(String::new(), "subscribe", value);
        }
        other => other,
    };
    let Some(Transaction {
        correlation_id,
        action,
        status,
        request: stored,
        response,
    }) = find_transaction(registry, sender_id, &lookup, &reportable).await?
    else {
        return Ok(Err(Rejection::new(
            ReasonCode::RequestNotFound,
            format!("no transaction of {sender_id} matches {lookup:?}"),
        )));
    };
    let txn_status = match (status.as_str(), &response) {
        ("succ", Some(response)) => serde_json::from_str(response).unwrap_or(Value::Null),
        (_, response) => {
            let state = match status.as_str() {
                "rjct" => RequestStatus::Rjct,
                "rcvd" => RequestStatus::Rcvd,
                _ => RequestStatus::Pdng,
            };
            let reason = match (state, &response) {
                (RequestStatus::Rjct, Some(envelope)) => {
                    serde_json::from_str::<Value>(envelope).ok().and_then(|e| {
                        let code = ReasonCode::parse(e["header"]["status_reason_code"].as_str()?)?;
                        Some(Rejection::new(
                            code,
                            e["header"]["status_reason_message"]
                                .as_str()
                                .unwrap_or_default(),
                        ))
                    })
                }
                _ => None,
            };
            unfinished_response(&action, &correlation_id, &stored, state, reason)
        }
    };
    found(correlation_id, &action, txn_status)
}

/// A stored async transaction, as txn status reports it.
pub struct Transaction {
    /// The correlation id it was acknowledged with.
    pub correlation_id: String,
    /// Its action (`search`, `link`, `disburse` ...).
    pub action: String,
    /// `rcvd`, `pdng`, `succ` or `rjct`.
    pub status: String,
    /// The request as received.
    pub request: String,
    /// Its answer (or the rejection envelope), once answered.
    pub response: Option<String>,
}

/// The latest transaction of `sender_id` with one of `actions` that `lookup` names (by
/// transaction id, correlation id, or the reference id of one of its items).
pub async fn find_transaction(
    registry: &Registry,
    sender_id: &str,
    lookup: &TxnLookup,
    actions: &[&str],
) -> Result<Option<Transaction>, StoreError> {
    let dialect = registry.store.dialect();
    let select = "SELECT correlation_id, action, status, request, response FROM txn";
    let mut params = vec![SqlValue::Text(sender_id.into())];
    let (condition, values) = match lookup {
        TxnLookup::TransactionId(id) => ("transaction_id = ?2".to_string(), vec![id.clone()]),
        TxnLookup::CorrelationId(id) => ("correlation_id = ?2".to_string(), vec![id.clone()]),
        TxnLookup::ReferenceIds(ids) => {
            let list: Vec<String> = (0..ids.len()).map(|i| format!("?{}", i + 2)).collect();
            (
                format!(
                    "correlation_id IN (SELECT correlation_id FROM txn_item WHERE sender_id = ?1 AND reference_id IN ({}))",
                    list.join(", ")
                ),
                ids.clone(),
            )
        }
        TxnLookup::SubscriptionCodes(_) => return Ok(None),
    };
    params.extend(values.into_iter().map(SqlValue::Text));
    let first = params.len() + 1;
    let actions_list: Vec<String> = (0..actions.len())
        .map(|i| format!("?{}", first + i))
        .collect();
    params.extend(actions.iter().map(|a| SqlValue::Text(a.to_string())));
    let sql = format!(
        "{select} WHERE sender_id = ?1 AND {condition} AND action IN ({}) ORDER BY received_at DESC LIMIT 1",
        actions_list.join(", ")
    );
    let rows = registry
        .store
        .read(vec![Statement::new(
            numbered(dialect, &sql),
            params,
            &[ColumnType::Text; 5],
        )])
        .await?
        .remove(0);
    let text = |cell: &Option<SqlValue>| match cell {
        Some(SqlValue::Text(text)) => Some(text.clone()),
        _ => None,
    };
    Ok(rows.first().and_then(|row| {
        Some(Transaction {
            correlation_id: text(row.first()?)?,
            action: text(row.get(1)?)?,
            status: text(row.get(2)?)?,
            request: text(row.get(3)?)?,
            response: text(row.get(4)?),
        })
    }))
}

/// The response of a transaction not answered (yet), in the shape of its action's response
/// (`search_response` or `subscribe_response` items; an unsubscribe's one status): `pdng`, or
/// `rjct` with the header-level reason when the whole message was rejected.
fn unfinished_response(
    action: &str,
    correlation_id: &str,
    stored: &str,
    state: RequestStatus,
    reason: Option<Rejection>,
) -> Value {
    let request: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
    let message = &request["message"];
    let transaction_id = message["transaction_id"].as_str().unwrap_or_default();
    let code = reason.as_ref().map(|r| r.code);
    let reason_message = reason.as_ref().map(|r| r.message.clone());
    if action == "unsubscribe" {
        return serde_json::json!({
            "transaction_id": transaction_id,
            "correlation_id": correlation_id,
            "timestamp": Timestamp::now(),
            "status": state,
            "status_reason_code": code,
            "status_reason_message": reason_message,
            "subscription_status": [],
        });
    }
    let mut seen = HashSet::new();
    let items: Vec<Value> = message[format!("{action}_request")]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["reference_id"].as_str().map(str::to_string))
                .filter(|id| seen.insert(id.clone()))
                .map(|reference_id| {
                    serde_json::to_value(SearchResponseItem {
                        reference_id,
                        timestamp: Timestamp::now(),
                        status: state,
                        status_reason_code: code,
                        status_reason_message: reason_message.clone(),
                        data: None,
                        pagination: None,
                        locale: None,
                    })
                    .unwrap_or(Value::Null)
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "transaction_id": transaction_id,
        "correlation_id": correlation_id,
        format!("{action}_response"): items,
    })
}

/// Answers an async txn-status request: the `txn-on-status` callback, stored with the request.
/// A transaction that does not exist is refused at once, as the sync endpoint does.
pub async fn answer_txn_status(
    registry: &Registry,
    header: &MsgHeader,
    request: &TxnStatusRequest,
    callback_url: &str,
    correlation_id: &str,
) -> Result<Result<Answered, Rejection>, StoreError> {
    let response = match txn_status(registry, &header.sender_id, request).await? {
        Ok(response) => response,
        Err(rejection) => return Ok(Err(rejection)),
    };
    Ok(Ok(registry
        .answered(
            header,
            Action::TxnOnStatus,
            (correlation_id, callback_url),
            Ok((1, response)),
            Vec::new(),
        )
        .await))
}
