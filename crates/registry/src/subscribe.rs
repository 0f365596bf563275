//! Subscriptions and notifications (dci-spec §7), for every registry profile.
//!
//! `subscribe` and `unsubscribe` are answered as they are accepted: the subscriptions, the
//! request, its answer and the `on-subscribe`/`on-unsubscribe` callback are one transaction.
//!
//! A change to a registry record writes a row into `registry_event` in the transaction of the
//! change ([`raise`]). The notifier matches events to subscriptions and enqueues one `notify`
//! per matching subscription, ordered by subscription code (the outbox delivers one code's
//! notifications in order), in one transaction that also marks the events matched.
//!
//! Matching does not scan every subscription. Each subscription's filter is searched for an
//! equality it requires (`region_code = "R01"`, `uin IN (...)`, a top-level conjunct on a
//! column of the record itself); that attribute and its values are its keys in
//! `subscription_key`, an indexed table. An event looks up only the subscriptions keyed by
//! the changed record's own values, plus those without such an equality (key `*`). The
//! candidates' filters are then evaluated by the store against the record, a hundred per
//! query, with the same SQL a search would use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dci::subscribe::{
    CodeStatus, NotifyData, NotifyEvent, NotifyEventRequest, SUBSCRIBED, SubscribeRequest,
    SubscribeResponse, SubscribeResponseItem, SubscriptionInfo, UNSUBSCRIBED, UnSubscribeRequest,
    UnSubscribeResponse,
};
use dci::{Action, MsgHeader, Query, ReasonCode, Rejection, RequestStatus, Timestamp};
use expr::{Column, Expr, Op, Value};
use store::{ColumnType, Migration, SqlValue, Statement, StoreError, numbered, placeholder};

use crate::Registry;
use crate::exchange::Answered;
use crate::profile::RecordType;

/// Whether a subscription was made with an encrypted request (its notifications then travel
/// encrypted).
pub const ENCRYPTED_MIGRATION: Migration = Migration {
    version: 1008,
    name: "subscriptions made encrypted",
    sqlite: "ALTER TABLE subscription ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;",
    postgres: "ALTER TABLE subscription ADD COLUMN encrypted BIGINT NOT NULL DEFAULT 0;",
};

/// Subscriptions, their keys, and the events waiting to be matched (migration 1003).
pub const MIGRATION: Migration = Migration {
    version: 1003,
    name: "subscriptions and registry events",
    sqlite: "CREATE TABLE subscription (
        code TEXT PRIMARY KEY,
        sender_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        reference_id TEXT NOT NULL,
        reg_event_type TEXT NOT NULL,
        record_type TEXT NOT NULL,
        frequency TEXT NOT NULL,
        filter TEXT NOT NULL,
        criteria TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        notify_url TEXT NOT NULL,
        locale TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        cancelled_at TEXT
    );
    CREATE INDEX subscription_by_sender ON subscription (sender_id, fingerprint, status);
    CREATE TABLE subscription_key (
        reg_event_type TEXT NOT NULL,
        record_type TEXT NOT NULL,
        attribute TEXT NOT NULL,
        value TEXT NOT NULL,
        code TEXT NOT NULL
    );
    CREATE INDEX subscription_key_lookup ON subscription_key (reg_event_type, record_type, attribute, value);
    CREATE INDEX subscription_key_by_code ON subscription_key (code);
    CREATE TABLE registry_event (
        seq INTEGER PRIMARY KEY,
        reg_event_type TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_key INTEGER NOT NULL,
        occurred_at TEXT NOT NULL,
        matched INTEGER NOT NULL
    );
    CREATE INDEX registry_event_unmatched ON registry_event (matched, seq);",
    postgres: "CREATE TABLE subscription (
        code TEXT COLLATE \"C\" PRIMARY KEY,
        sender_id TEXT COLLATE \"C\" NOT NULL,
        correlation_id TEXT COLLATE \"C\" NOT NULL,
        transaction_id TEXT COLLATE \"C\" NOT NULL,
        reference_id TEXT COLLATE \"C\" NOT NULL,
        reg_event_type TEXT COLLATE \"C\" NOT NULL,
        record_type TEXT COLLATE \"C\" NOT NULL,
        frequency TEXT COLLATE \"C\" NOT NULL,
        filter TEXT NOT NULL,
        criteria TEXT NOT NULL,
        fingerprint TEXT COLLATE \"C\" NOT NULL,
        notify_url TEXT NOT NULL,
        locale TEXT,
        status TEXT COLLATE \"C\" NOT NULL,
        created_at TEXT NOT NULL,
        cancelled_at TEXT
    );
    CREATE INDEX subscription_by_sender ON subscription (sender_id, fingerprint, status);
    CREATE TABLE subscription_key (
        reg_event_type TEXT COLLATE \"C\" NOT NULL,
        record_type TEXT COLLATE \"C\" NOT NULL,
        attribute TEXT COLLATE \"C\" NOT NULL,
        value TEXT COLLATE \"C\" NOT NULL,
        code TEXT COLLATE \"C\" NOT NULL
    );
    CREATE INDEX subscription_key_lookup ON subscription_key (reg_event_type, record_type, attribute, value);
    CREATE INDEX subscription_key_by_code ON subscription_key (code);
    CREATE TABLE registry_event (
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        reg_event_type TEXT COLLATE \"C\" NOT NULL,
        record_type TEXT COLLATE \"C\" NOT NULL,
        record_key BIGINT NOT NULL,
        occurred_at TEXT NOT NULL,
        matched BIGINT NOT NULL
    );
    CREATE INDEX registry_event_unmatched ON registry_event (matched, seq);",
};

/// The key of subscriptions whose filter requires no indexable equality.
const ANY: &str = "*";

/// Filters evaluated per query when matching an event.
const FILTERS_PER_QUERY: usize = 100;

/// Events matched per pass of the notifier.
const EVENTS_PER_PASS: i64 = 64;

/// Where a subscriber's notifications go: its `sender_uri` with a trailing `/on-subscribe`
/// replaced by `/notify` (dci-spec §7.2), or the `sender_uri` itself.
pub fn notify_url(sender_uri: &str) -> String {
    match sender_uri.strip_suffix("/on-subscribe") {
        Some(base) => format!("{base}/notify"),
        None => sender_uri.to_string(),
    }
}

/// The statement that records an event on the record of `record_type` stored in `table` whose
/// `column` is `value` (its key is the table's `id`). Run it in the transaction of the change.
pub fn raise(
    dialect: store::Dialect,
    reg_event_type: &str,
    record_type: &str,
    table: &str,
    column: &str,
    value: SqlValue,
) -> Statement {
    Statement::new(
        numbered(
            dialect,
            &format!(
                "INSERT INTO registry_event (reg_event_type, record_type, record_key, occurred_at, matched)
                 SELECT ?1, ?2, id, ?3, 0 FROM {table} WHERE {column} = ?4"
            ),
        ),
        vec![
            SqlValue::Text(reg_event_type.to_string()),
            SqlValue::Text(record_type.to_string()),
            SqlValue::Text(Timestamp::now().to_string()),
            value,
        ],
        &[],
    )
}

/// A subscription request item, checked.
struct Checked {
    reference_id: String,
    locale: Option<String>,
    reg_event_type: &'static str,
    record_type: &'static RecordType,
    frequency: dci::subscribe::Frequency,
    filter: Expr<'static>,
    criteria: serde_json::Value,
}

impl Registry {
    /// The event type called `name` in this registry (any case, namespace ignored).
    fn event_type(&self, name: &str) -> Option<&'static str> {
        let bare = name.rsplit(':').next().unwrap_or(name);
        let known = self.profile.event_types.iter().copied();
        let aliases = self.profile.event_aliases.iter();
        known
            .map(|t| (t, t))
            .chain(aliases.copied())
            .find(|(name, _)| name.eq_ignore_ascii_case(bare))
            .map(|(_, t)| t)
    }

    /// A callback envelope, as JSON, with a message id derived from the correlation id so that
    /// answering twice sends one callback.
    pub fn callback_body<M: serde::Serialize>(
        &self,
        header: &MsgHeader,
        action: Action,
        correlation_id: &str,
        answer: Result<(usize, M), Rejection>,
    ) -> (String, String) {
        let message_id = callback_id(action, correlation_id);
        let body = match answer {
            Ok((completed, message)) => {
                let mut envelope = self.response_envelope(header, action, completed, message);
                envelope.header.message_id = message_id.clone();
                serde_json::to_string(&envelope)
            }
            Err(rejection) => serde_json::to_string(&self.rejection_envelope::<M>(
                Some(header),
                action,
                rejection,
                message_id.clone(),
            )),
        }
        .expect("an envelope always serializes");
        (message_id, body)
    }

    /// The answer to a request answered as it is accepted: `answer` (the response and the
    /// number of items it completes, or a header-level rejection) kept for txn status and
    /// sent as the `action` callback, committed with `changes`.
    ///
    /// When the request came encrypted, the callback's message is encrypted for the requester
    /// ([`Registry::seal`]); a requester without an encryption key gets a rejection instead.
    pub async fn answered<M: serde::Serialize>(
        &self,
        header: &MsgHeader,
        action: Action,
        (correlation_id, callback_url): (&str, &str),
        answer: Result<(usize, M), Rejection>,
        changes: Vec<Statement>,
    ) -> Answered {
        let status = if answer.is_ok() { "succ" } else { "rjct" };
        let stored = answer
            .as_ref()
            .ok()
            .map(|(_, response)| serde_json::to_string(response).expect("a response serializes"));
        let (message_id, mut body) = self.callback_body(header, action, correlation_id, answer);
        if header.is_msg_encrypted {
            let plain: serde_json::Value =
                serde_json::from_str(&body).expect("a callback body is JSON");
            body = match self.seal(header, &plain).await {
                Ok(sealed) => sealed,
                Err(rejection) => serde_json::to_string(&self.rejection_envelope::<()>(
                    Some(header),
                    action,
                    rejection,
                    message_id.clone(),
                ))
                .expect("an envelope always serializes"),
            };
        }
        Answered {
            status,
            response: stored.unwrap_or_else(|| body.clone()),
            changes,
            callback: dispatch::enqueue(
                self.store.dialect(),
                &message_id,
                Some(correlation_id),
                callback_url,
                body,
            ),
        }
    }
}

/// The `message_id` of the `action` callback answering the transaction `correlation_id`:
/// derived, so that answering twice (after a crash, or on two nodes) sends one callback.
pub fn callback_id(action: Action, correlation_id: &str) -> String {
    format!("{}-{correlation_id}", action.as_str())
}

/// Checks one subscription item against this registry.
fn check(
    registry: &Registry,
    item: &dci::subscribe::SubscribeRequestItem,
    seen: &mut HashSet<String>,
    access: &trust::access::AccessRules,
) -> Result<Checked, Rejection> {
    let reference_id = item.reference_id.clone().unwrap_or_default();
    if reference_id.trim().is_empty() {
        return Err(Rejection::new(
            ReasonCode::ReferenceIdInvalid,
            "reference_id is required",
        ));
    }
    if !seen.insert(reference_id.clone()) {
        return Err(Rejection::new(
            ReasonCode::ReferenceIdDuplicate,
            format!("reference_id '{reference_id}' appears more than once in this message"),
        ));
    }
    if let Err(e) = Timestamp::parse(item.timestamp.as_deref().unwrap_or_default()) {
        return Err(Rejection::new(
            ReasonCode::TimestampInvalid,
            format!("timestamp: {e}"),
        ));
    }
    let criteria = item.criteria()?;
    let types = |m: String| Rejection::new(ReasonCode::NotifyTypesInvalid, m);
    if let Some(reg_type) = &criteria.reg_type
        && !registry.profile.is_reg_type(reg_type)
    {
        return Err(types(format!(
            "reg_type '{reg_type}' is not this registry ({})",
            registry.profile.reg_type
        )));
    }
    let spec = criteria.spec()?;
    let reg_event_type = registry.event_type(&spec.reg_event_type).ok_or_else(|| {
        types(format!(
            "reg_event_type '{}' is not an event of this registry (known: {})",
            spec.reg_event_type,
            registry.profile.event_types.join(", ")
        ))
    })?;
    let record_type = registry
        .profile
        .record_type(&spec.notify_record_type)
        .ok_or_else(|| {
            let known: Vec<&str> = registry
                .profile
                .record_types
                .iter()
                .map(|t| t.name)
                .collect();
            types(format!(
                "notify_record_type '{}' is not held here (known: {})",
                spec.notify_record_type,
                known.join(", ")
            ))
        })?;
    let by_identifier = matches!(spec.filter, Query::IdTypeValue { .. });
    let filter = crate::search::parse_query(registry.profile, record_type, spec.filter).map_err(
        |rejection| {
            let code = if by_identifier {
                ReasonCode::PersonIdInvalid
            } else {
                ReasonCode::NotifyDetailsInvalid
            };
            Rejection::new(code, format!("filter: {}", rejection.message))
        },
    )?;
    // A subscription is a standing search: the same access rules apply (a filter on a hidden
    // field would tell, by notifying, what the field holds).
    let purpose = criteria
        .authorize
        .as_ref()
        .and_then(|a| a["purpose"]["code"].as_str());
    let query_type = criteria.filter_type.as_deref().unwrap_or_default();
    let attributes = if by_identifier {
        Vec::new()
    } else {
        crate::search::searched_attributes(&filter, record_type, access)
    };
    crate::search::check_access(access, record_type, query_type, purpose, &attributes)?;
    Ok(Checked {
        reference_id,
        locale: item.locale.clone(),
        reg_event_type,
        record_type,
        frequency: spec.frequency,
        filter,
        criteria: item.subscribe_criteria.clone().unwrap_or_default(),
    })
}

/// What makes two subscriptions of one sender the same.
fn fingerprint(checked: &Checked, notify_url: &str) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        checked.reg_event_type,
        checked.record_type.name,
        checked.frequency.as_str(),
        notify_url,
        checked.filter
    )
}

/// The equality a filter requires on a column of the record itself, as (attribute, values),
/// if it has one: the filter itself, or one of its top-level conjuncts (the one with the
/// fewest values).
fn anchor(filter: &Expr<'static>) -> Option<(&'static str, Vec<String>)> {
    let keyable =
        |attr: &expr::Attribute| matches!(attr.column, Column::Direct(_) | Column::AnyOf(_));
    let text = |value: &Value| match value {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(n) => Some(n.to_string()),
        _ => None,
    };
    match filter {
        Expr::Compare {
            attr,
            op: Op::Eq,
            value,
        } if keyable(attr) => Some((attr.name, vec![text(value)?])),
        Expr::In { attr, values } if keyable(attr) => Some((
            attr.name,
            values.iter().map(text).collect::<Option<Vec<_>>>()?,
        )),
        Expr::And(children) => children
            .iter()
            .filter_map(anchor)
            .min_by_key(|(_, values)| values.len()),
        _ => None,
    }
}

/// Answers a subscribe request: each item subscribed or rejected on its own.
pub async fn answer_subscribe(
    registry: &Registry,
    header: &MsgHeader,
    message: &SubscribeRequest,
    callback_url: &str,
    correlation_id: &str,
) -> Result<Answered, StoreError> {
    let dialect = registry.store.dialect();
    if let Err(rejection) = dci::validate::request_header(
        header,
        Action::Subscribe,
        message.subscribe_request.len(),
        &registry.config.header,
        Timestamp::now(),
    ) {
        return Ok(registry
            .answered::<SubscribeResponse>(
                header,
                Action::OnSubscribe,
                (correlation_id, callback_url),
                Err(rejection),
                Vec::new(),
            )
            .await);
    }
    let notify_url = notify_url(callback_url);
    let now = Timestamp::now();
    let mut seen = HashSet::new();
    let mut fingerprints = HashSet::new();
    let access = registry.access_of(&header.sender_id);
    let mut items = Vec::with_capacity(message.subscribe_request.len());
    let mut changes = Vec::new();
    let text = |s: &str| SqlValue::Text(s.to_string());
    for item in &message.subscribe_request {
        let reference_id = item.reference_id.clone().unwrap_or_default();
        let checked = match check(registry, item, &mut seen, &access) {
            Ok(checked) => checked,
            Err(rejection) => {
                items.push(SubscribeResponseItem::rejected(
                    reference_id,
                    rejection,
                    item.locale.clone(),
                ));
                continue;
            }
        };
        let fingerprint = fingerprint(&checked, &notify_url);
        if let Some(code) = active_with(registry, &header.sender_id, &fingerprint).await? {
            items.push(SubscribeResponseItem::rejected(
                reference_id,
                Rejection::new(
                    ReasonCode::EventAlreadySubscribed,
                    format!("subscription {code} already has these criteria"),
                ),
                checked.locale,
            ));
            continue;
        }
        if !fingerprints.insert(fingerprint.clone()) {
            items.push(SubscribeResponseItem::rejected(
                reference_id,
                Rejection::new(
                    ReasonCode::EventAlreadySubscribed,
                    "an earlier item of this message has the same criteria",
                ),
                checked.locale,
            ));
            continue;
        }
        let code = crate::http::new_id();
        changes.push(Statement::new(
            numbered(
                dialect,
                "INSERT INTO subscription (code, sender_id, correlation_id, transaction_id, reference_id, reg_event_type, record_type, frequency, filter, criteria, fingerprint, notify_url, locale, status, created_at, encrypted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            ),
            vec![
                text(&code),
                text(&header.sender_id),
                text(correlation_id),
                text(&message.transaction_id),
                text(&checked.reference_id),
                text(checked.reg_event_type),
                text(checked.record_type.name),
                text(checked.frequency.as_str()),
                SqlValue::Text(checked.filter.to_string()),
                SqlValue::Text(checked.criteria.to_string()),
                SqlValue::Text(fingerprint),
                text(&notify_url),
                text(checked.locale.as_deref().unwrap_or_default()),
                text(SUBSCRIBED),
                SqlValue::Text(now.to_string()),
                SqlValue::Integer(i64::from(header.is_msg_encrypted)),
            ],
            &[],
        ));
        let (attribute, values) = anchor(&checked.filter).unwrap_or((ANY, vec![ANY.to_string()]));
        for value in values {
            changes.push(Statement::new(
                numbered(
                    dialect,
                    "INSERT INTO subscription_key (reg_event_type, record_type, attribute, value, code) VALUES (?1, ?2, ?3, ?4, ?5)",
                ),
                vec![
                    text(checked.reg_event_type),
                    text(checked.record_type.name),
                    text(attribute),
                    SqlValue::Text(value),
                    text(&code),
                ],
                &[],
            ));
        }
        items.push(SubscribeResponseItem {
            reference_id: checked.reference_id,
            timestamp: now,
            status: RequestStatus::Succ,
            status_reason_code: None,
            status_reason_message: None,
            subscriptions: vec![info(
                registry,
                code,
                SUBSCRIBED,
                now,
                &checked.criteria,
                checked.locale.clone(),
            )],
            locale: checked.locale,
        });
    }
    let response = SubscribeResponse {
        transaction_id: message.transaction_id.clone(),
        correlation_id: correlation_id.to_string(),
        subscribe_response: items,
    };
    let completed = response.subscribe_response.len();
    Ok(registry
        .answered(
            header,
            Action::OnSubscribe,
            (correlation_id, callback_url),
            Ok((completed, response)),
            changes,
        )
        .await)
}

/// A `SubscriptionInfo` echoing the criteria.
fn info(
    registry: &Registry,
    code: String,
    status: &str,
    timestamp: Timestamp,
    criteria: &serde_json::Value,
    locale: Option<String>,
) -> SubscriptionInfo {
    let field = |key: &str| criteria.get(key).cloned().filter(|v| !v.is_null());
    let text = |key: &str| field(key).and_then(|v| v.as_str().map(str::to_string));
    SubscriptionInfo {
        version: Some(dci::PROTOCOL_VERSION.to_string()),
        code,
        status: status.to_string(),
        timestamp,
        reg_type: Some(registry.profile.reg_type.to_string()),
        reg_event_type: text("reg_event_type"),
        frequency: field("frequency"),
        filter_type: text("filter_type"),
        filter: field("filter"),
        notify_record_type: text("notify_record_type").or_else(|| text("response_entity")),
        locale: locale.filter(|l| !l.is_empty()),
    }
}

/// The active subscription of `sender_id` with this fingerprint, if there is one.
async fn active_with(
    registry: &Registry,
    sender_id: &str,
    fingerprint: &str,
) -> Result<Option<String>, StoreError> {
    let rows = registry
        .store
        .read(vec![Statement::new(
            numbered(
                registry.store.dialect(),
                "SELECT code FROM subscription WHERE sender_id = ?1 AND fingerprint = ?2 AND status = 'subscribe'",
            ),
            vec![
                SqlValue::Text(sender_id.to_string()),
                SqlValue::Text(fingerprint.to_string()),
            ],
            &[ColumnType::Text],
        )])
        .await?;
    Ok(match rows[0].first().and_then(|row| row.first()) {
        Some(Some(SqlValue::Text(code))) => Some(code.clone()),
        _ => None,
    })
}

/// A stored subscription, as listed.
struct Stored {
    code: String,
    sender_id: String,
    status: String,
    created_at: String,
    criteria: String,
    locale: String,
}

/// The subscriptions with these codes.
async fn stored(registry: &Registry, codes: &[String]) -> Result<Vec<Stored>, StoreError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = registry.store.dialect();
    let list: Vec<String> = (1..=codes.len()).map(|i| placeholder(dialect, i)).collect();
    let rows = registry
        .store
        .read(vec![Statement::new(
            format!(
                "SELECT code, sender_id, status, created_at, criteria, locale FROM subscription WHERE code IN ({})",
                list.join(", ")
            ),
            codes.iter().map(|c| SqlValue::Text(c.clone())).collect(),
            &[ColumnType::Text; 6],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .map(|row| {
            let cell = |i: usize| crate::search::text_cell(row, i);
            Stored {
                code: cell(0),
                sender_id: cell(1),
                status: cell(2),
                created_at: cell(3),
                criteria: cell(4),
                locale: cell(5),
            }
        })
        .collect())
}

/// Why `sender_id` may not act on a subscription code: unknown, someone else's.
fn ownership(found: Option<&Stored>, code: &str, sender_id: &str) -> Result<(), Rejection> {
    match found {
        None => Err(Rejection::new(
            ReasonCode::SubscriptionCodeInvalid,
            format!("no subscription has the code '{code}'"),
        )),
        Some(s) if s.sender_id != sender_id => Err(Rejection::new(
            ReasonCode::RequesterInvalid,
            format!("subscription '{code}' belongs to another participant"),
        )),
        Some(_) => Ok(()),
    }
}

/// The subscriptions of `sender_id` with these codes, as txn status by `subscription_code_list`
/// reports them: one item per code, `rjct` for unknown codes and others' subscriptions.
pub async fn subscription_info(
    registry: &Registry,
    sender_id: &str,
    transaction_id: &str,
    codes: &[String],
) -> Result<SubscribeResponse, StoreError> {
    let found: HashMap<String, Stored> = stored(registry, codes)
        .await?
        .into_iter()
        .map(|s| (s.code.clone(), s))
        .collect();
    let items = codes
        .iter()
        .map(|code| {
            let subscription = found.get(code);
            match ownership(subscription, code, sender_id) {
                Err(rejection) => SubscribeResponseItem::rejected(code.clone(), rejection, None),
                Ok(()) => {
                    let s = subscription.expect("owned subscriptions exist");
                    let criteria = serde_json::from_str(&s.criteria).unwrap_or_default();
                    let locale = Some(s.locale.clone()).filter(|l| !l.is_empty());
                    SubscribeResponseItem {
                        reference_id: code.clone(),
                        timestamp: Timestamp::now(),
                        status: RequestStatus::Succ,
                        status_reason_code: None,
                        status_reason_message: None,
                        subscriptions: vec![info(
                            registry,
                            s.code.clone(),
                            &s.status,
                            Timestamp::parse(&s.created_at).unwrap_or_else(|_| Timestamp::now()),
                            &criteria,
                            locale.clone(),
                        )],
                        locale,
                    }
                }
            }
        })
        .collect();
    Ok(SubscribeResponse {
        transaction_id: transaction_id.to_string(),
        correlation_id: String::new(),
        subscribe_response: items,
    })
}

/// Answers an unsubscribe request: each code cancelled or refused with its reason.
pub async fn answer_unsubscribe(
    registry: &Registry,
    header: &MsgHeader,
    message: &UnSubscribeRequest,
    callback_url: &str,
    correlation_id: &str,
) -> Result<Answered, StoreError> {
    let dialect = registry.store.dialect();
    let header_check = dci::validate::request_header(
        header,
        Action::Unsubscribe,
        message.subscription_codes.len().max(1),
        &registry.config.header,
        Timestamp::now(),
    );
    let empty = message.subscription_codes.is_empty().then(|| {
        Rejection::new(
            ReasonCode::SubscriptionCodeInvalid,
            "subscription_codes is empty",
        )
    });
    if let Some(rejection) = header_check.err().or(empty) {
        return Ok(registry
            .answered::<UnSubscribeResponse>(
                header,
                Action::OnUnsubscribe,
                (correlation_id, callback_url),
                Err(rejection),
                Vec::new(),
            )
            .await);
    }
    let found: HashMap<String, Stored> = stored(registry, &message.subscription_codes)
        .await?
        .into_iter()
        .map(|s| (s.code.clone(), s))
        .collect();
    let now = Timestamp::now();
    let mut changes = Vec::new();
    let mut statuses = Vec::new();
    let mut first_refusal: Option<Rejection> = None;
    let mut done = HashSet::new();
    for code in &message.subscription_codes {
        let subscription = found.get(code);
        let refusal = ownership(subscription, code, &header.sender_id)
            .err()
            .or_else(|| {
                let cancelled = subscription.is_some_and(|s| s.status == UNSUBSCRIBED)
                    || !done.insert(code.clone());
                cancelled.then(|| {
                    Rejection::new(
                        ReasonCode::EventAlreadyUnsubscribed,
                        format!("subscription '{code}' is already cancelled"),
                    )
                })
            });
        match refusal {
            Some(rejection) => {
                statuses.push(CodeStatus {
                    code: code.clone(),
                    status: match subscription {
                        Some(s) if s.sender_id == header.sender_id => s.status.clone(),
                        _ => SUBSCRIBED.to_string(),
                    },
                    status_reason_code: Some(rejection.code),
                });
                first_refusal.get_or_insert(rejection);
            }
            None => {
                changes.push(Statement::new(
                    numbered(
                        dialect,
                        "UPDATE subscription SET status = 'unsubscribe', cancelled_at = ?2 WHERE code = ?1",
                    ),
                    vec![SqlValue::Text(code.clone()), SqlValue::Text(now.to_string())],
                    &[],
                ));
                changes.push(Statement::new(
                    numbered(dialect, "DELETE FROM subscription_key WHERE code = ?1"),
                    vec![SqlValue::Text(code.clone())],
                    &[],
                ));
                statuses.push(CodeStatus {
                    code: code.clone(),
                    status: UNSUBSCRIBED.to_string(),
                    status_reason_code: None,
                });
            }
        }
    }
    let response = UnSubscribeResponse {
        transaction_id: message.transaction_id.clone(),
        correlation_id: correlation_id.to_string(),
        timestamp: now,
        status: if first_refusal.is_some() {
            RequestStatus::Rjct
        } else {
            RequestStatus::Succ
        },
        status_reason_code: first_refusal.as_ref().map(|r| r.code),
        status_reason_message: first_refusal.map(|r| r.message),
        subscription_status: statuses,
    };
    let completed = response.subscription_status.len();
    Ok(registry
        .answered(
            header,
            Action::OnUnsubscribe,
            (correlation_id, callback_url),
            Ok((completed, response)),
            changes,
        )
        .await)
}

/// A subscription, as an operator lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Its code.
    pub code: String,
    /// The subscriber.
    pub sender_id: String,
    /// `subscribe` (active) or `unsubscribe`.
    pub status: String,
    /// The event type.
    pub reg_event_type: String,
    /// The record type notified.
    pub record_type: String,
    /// `immediate`, `hourly`, `daily` or `weekly`.
    pub frequency: String,
    /// The filter, in the text form.
    pub filter: String,
    /// Where notifications go.
    pub notify_url: String,
    /// When it was made.
    pub created_at: String,
}

/// Subscriptions of `sender_id` (everyone's with `None`), the active ones unless
/// `with_cancelled`, newest first, at most `limit`.
pub async fn list(
    store: &dyn store::Store,
    sender_id: Option<&str>,
    with_cancelled: bool,
    limit: i64,
) -> Result<Vec<Listed>, StoreError> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(sender) = sender_id {
        params.push(SqlValue::Text(sender.to_string()));
        conditions.push(format!("sender_id = ?{}", params.len()));
    }
    if !with_cancelled {
        conditions.push("status = 'subscribe'".to_string());
    }
    params.push(SqlValue::Integer(limit));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT code, sender_id, status, reg_event_type, record_type, frequency, filter, notify_url, created_at
         FROM subscription {filter} ORDER BY created_at DESC, code LIMIT ?{}",
        params.len()
    );
    let rows = store
        .read(vec![Statement::new(
            numbered(store.dialect(), &sql),
            params,
            &[ColumnType::Text; 9],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .map(|row| {
            let cell = |i: usize| crate::search::text_cell(row, i);
            Listed {
                code: cell(0),
                sender_id: cell(1),
                status: cell(2),
                reg_event_type: cell(3),
                record_type: cell(4),
                frequency: cell(5),
                filter: cell(6),
                notify_url: cell(7),
                created_at: cell(8),
            }
        })
        .collect())
}

/// Runs the notifier until the process ends.
pub fn spawn_notifier(registry: Arc<Registry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match match_pending(&registry).await {
                Ok(n) if n as i64 == EVENTS_PER_PASS => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot match registry events"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), registry.events.notified()).await;
        }
    })
}

/// An event waiting to be matched.
struct Event {
    seq: i64,
    reg_event_type: String,
    record_type: &'static RecordType,
    record_key: i64,
    occurred_at: String,
}

/// A subscription an event may be delivered to.
#[derive(Clone)]
struct Candidate {
    code: String,
    sender_id: String,
    transaction_id: String,
    reference_id: String,
    frequency: dci::subscribe::Frequency,
    filter: String,
    notify_url: String,
    locale: Option<String>,
    /// Subscribed with an encrypted request: its notifications travel encrypted.
    encrypted: bool,
}

/// Matches up to [`EVENTS_PER_PASS`] events and enqueues their notifications; returns how
/// many events it matched.
pub async fn match_pending(registry: &Registry) -> Result<usize, StoreError> {
    let dialect = registry.store.dialect();
    let rows = registry
        .store
        .read(vec![Statement::new(
            format!("SELECT seq, reg_event_type, record_type, record_key, occurred_at FROM registry_event WHERE matched = 0 ORDER BY seq LIMIT {EVENTS_PER_PASS}"),
            vec![],
            &[ColumnType::Integer, ColumnType::Text, ColumnType::Text, ColumnType::Integer, ColumnType::Text],
        )])
        .await?
        .remove(0);
    if rows.is_empty() {
        return Ok(0);
    }
    let count = rows.len();
    let mut statements = Vec::new();
    // Nodes matching at once commit one after the other, each a prefix of the events in
    // order; the notifications' message ids make a second matching of an event a no-op.
    statements.extend(dispatch::ordering_lock(dialect));
    let mut seqs = Vec::with_capacity(count);
    for row in rows {
        let [
            Some(SqlValue::Integer(seq)),
            Some(SqlValue::Text(reg_event_type)),
            Some(SqlValue::Text(record_type)),
            Some(SqlValue::Integer(record_key)),
            Some(SqlValue::Text(occurred_at)),
        ] = row.as_slice()
        else {
            continue;
        };
        seqs.push(*seq);
        let Some(record_type) = registry.profile.record_type(record_type) else {
            continue;
        };
        let event = Event {
            seq: *seq,
            reg_event_type: reg_event_type.clone(),
            record_type,
            record_key: *record_key,
            occurred_at: occurred_at.clone(),
        };
        statements.extend(notifications(registry, &event).await?);
    }
    let list: Vec<String> = (1..=seqs.len()).map(|i| placeholder(dialect, i)).collect();
    statements.push(Statement::new(
        format!(
            "UPDATE registry_event SET matched = 1 WHERE seq IN ({})",
            list.join(", ")
        ),
        seqs.into_iter().map(SqlValue::Integer).collect(),
        &[],
    ));
    registry.store.write(statements).await?;
    registry.dispatcher.wake();
    Ok(count)
}

/// The `notify` messages one event causes.
async fn notifications(registry: &Registry, event: &Event) -> Result<Vec<Statement>, StoreError> {
    let candidates = candidates(registry, event).await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let matching = evaluate(registry, event, &candidates).await?;
    if matching.is_empty() {
        return Ok(Vec::new());
    }
    let Some(record) =
        crate::search::record_by_key(registry.store.as_ref(), event.record_type, event.record_key)
            .await?
    else {
        return Ok(Vec::new());
    };
    let record: serde_json::Value = serde_json::from_str(record.get()).unwrap_or_default();
    let occurred = Timestamp::parse(&event.occurred_at).unwrap_or_else(|_| Timestamp::now());
    let now_ms = dispatch::now_ms();
    // Each subscriber gets what its access rules let it see, and each notification is recorded
    // in the audit chain (together, in one batch) before it is queued.
    let record_names =
        || std::iter::once(event.record_type.name).chain(event.record_type.aliases.iter().copied());
    let message_id = |candidate: &Candidate| format!("notify-{}-{}", candidate.code, event.seq);
    let mut notified = Vec::with_capacity(matching.len());
    for candidate in matching {
        let access = registry.access_of(&candidate.sender_id);
        if !access.allows_record_type(record_names()) {
            tracing::info!(subscriber = %candidate.sender_id, code = %candidate.code, record_type = event.record_type.name, "not notified: the subscriber may not see this record type");
            continue;
        }
        let mut visible = record.clone();
        access.filter_record(&mut visible);
        notified.push((candidate, visible));
    }
    let entries = notified.iter().map(|(candidate, visible)| {
        registry.audit.append(store::audit::Entry {
            at: time::OffsetDateTime::now_utc(),
            participant: Some(candidate.sender_id.clone()),
            endpoint: candidate.notify_url.clone(),
            action: Some(Action::Notify.as_str().into()),
            message_id: Some(message_id(candidate)),
            transaction_id: Some(candidate.transaction_id.clone()),
            correlation_id: None,
            outcome: RequestStatus::Succ.as_str().into(),
            status: 0,
            duration: std::time::Duration::ZERO,
            disclosed: crate::audit::references(visible),
        })
    });
    for appended in futures::future::join_all(entries).await {
        appended?;
    }
    let mut statements = Vec::with_capacity(notified.len());
    for (candidate, record) in notified {
        {
            let message_id = message_id(&candidate);
            let mut header = registry.callback_header(None, Action::Notify, RequestStatus::Succ);
            header.message_id = message_id.clone();
            header.receiver_id = Some(candidate.sender_id.clone());
            header.completed_count = Some(1);
            header.total_count = Some(1);
            let mut meta = serde_json::Map::new();
            meta.insert("subscription_code".into(), candidate.code.clone().into());
            meta.insert("reg_event_type".into(), event.reg_event_type.clone().into());
            header.meta = Some(meta);
            let envelope = dci::Envelope {
                signature: None,
                header,
                message: Some(NotifyEventRequest {
                    transaction_id: candidate.transaction_id.clone(),
                    notify_event: vec![NotifyEvent {
                        reference_id: candidate.reference_id.clone(),
                        timestamp: occurred,
                        data: NotifyData {
                            version: dci::PROTOCOL_VERSION.to_string(),
                            reg_type: Some(registry.profile.reg_type.to_string()),
                            reg_event_type: Some(event.reg_event_type.clone()),
                            reg_record_type: event.record_type.name.to_string(),
                            reg_records: record,
                        },
                        locale: candidate.locale.clone(),
                    }],
                }),
            };
            let body = if candidate.encrypted {
                // Encrypted for the subscriber, as it subscribed; never sent in clear.
                match registry.seal_for(&candidate.sender_id, &envelope).await {
                    Ok(sealed) => sealed.to_string(),
                    Err(rejection) => {
                        tracing::error!(subscriber = %candidate.sender_id, code = %candidate.code, reason = %rejection.message, "notification not sent: it cannot be encrypted for the subscriber");
                        continue;
                    }
                }
            } else {
                serde_json::to_string(&envelope).expect("an envelope always serializes")
            };
            statements.push(dispatch::enqueue_ordered(
                registry.store.dialect(),
                &message_id,
                &candidate.notify_url,
                body,
                &candidate.code,
                candidate.frequency.due_ms(now_ms),
            ));
        }
    }
    Ok(statements)
}

/// The active subscriptions to this event whose keys the record has, and those without keys.
async fn candidates(registry: &Registry, event: &Event) -> Result<Vec<Candidate>, StoreError> {
    let dialect = registry.store.dialect();
    let record_type = event.record_type;
    let keyed = registry
        .store
        .read(vec![Statement::new(
            numbered(
                dialect,
                "SELECT DISTINCT attribute FROM subscription_key WHERE reg_event_type = ?1 AND record_type = ?2",
            ),
            vec![
                SqlValue::Text(event.reg_event_type.clone()),
                SqlValue::Text(record_type.name.to_string()),
            ],
            &[ColumnType::Text],
        )])
        .await?
        .remove(0);
    let mut lookups = Vec::new();
    for row in keyed {
        let Some(Some(SqlValue::Text(name))) = row.first() else {
            continue;
        };
        let values = if name == ANY {
            format!("'{ANY}'")
        } else {
            let Some(attribute) = record_type.schema.attribute(name) else {
                continue;
            };
            let columns: &[&str] = match &attribute.column {
                Column::Direct(column) => std::slice::from_ref(column),
                Column::AnyOf(columns) => columns,
                _ => continue,
            };
            // Comparing with the key column's "C" collation needs the same on PostgreSQL.
            let collate = match dialect {
                store::Dialect::Postgres => " COLLATE \"C\"",
                store::Dialect::Sqlite => "",
            };
            columns
                .iter()
                .map(|column| {
                    format!(
                        "SELECT CAST({column} AS TEXT){collate} FROM {} WHERE {} = ?3",
                        record_type.from, record_type.key
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        // Attribute names come from the profile's schema (or are `*`), never from a request.
        lookups.push(format!(
            "SELECT k.code FROM subscription_key k WHERE k.reg_event_type = ?1 AND k.record_type = ?2 AND k.attribute = '{name}' AND k.value IN ({values})"
        ));
    }
    if lookups.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT s.code, s.sender_id, s.transaction_id, s.reference_id, s.frequency, s.filter, s.notify_url, s.locale, s.encrypted
         FROM subscription s WHERE s.status = 'subscribe' AND s.code IN ({})",
        lookups.join(" UNION ")
    );
    let mut params = vec![
        SqlValue::Text(event.reg_event_type.clone()),
        SqlValue::Text(record_type.name.to_string()),
    ];
    // The record's key is a parameter only when some lookup reads the record.
    if sql.contains("?3") {
        params.push(SqlValue::Integer(event.record_key));
    }
    let rows = registry
        .store
        .read(vec![Statement::new(
            numbered(dialect, &sql),
            params,
            &[
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Integer,
            ],
        )])
        .await?
        .remove(0);
    Ok(rows
        .into_iter()
        .map(|row| {
            let cell = |i: usize| crate::search::text_cell(&row, i);
            Candidate {
                code: cell(0),
                sender_id: cell(1),
                transaction_id: cell(2),
                reference_id: cell(3),
                frequency: dci::subscribe::Frequency::from_keyword(&cell(4))
                    .unwrap_or(dci::subscribe::Frequency::Immediate),
                filter: cell(5),
                notify_url: cell(6),
                locale: Some(cell(7)).filter(|l| !l.is_empty()),
                encrypted: matches!(row.get(8), Some(Some(SqlValue::Integer(1)))),
            }
        })
        .collect())
}

/// The candidates whose filter the record satisfies now, evaluated by the store.
async fn evaluate(
    registry: &Registry,
    event: &Event,
    candidates: &[Candidate],
) -> Result<Vec<Candidate>, StoreError> {
    let dialect = registry.store.dialect();
    let record_type = event.record_type;
    let today = time::OffsetDateTime::now_utc().date();
    let mut matching = Vec::new();
    for chunk in candidates.chunks(FILTERS_PER_QUERY) {
        let mut columns = Vec::with_capacity(chunk.len());
        let mut params = Vec::new();
        let mut parsed = Vec::with_capacity(chunk.len());
        for candidate in chunk {
            // The stored text form reads back to the filter that was checked at subscribe time.
            match expr::parse_text(&candidate.filter, &record_type.schema) {
                Ok(filter) => {
                    let fragment = expr::lower(&filter, dialect, today, params.len() + 1);
                    columns.push(format!(
                        "CAST(CASE WHEN ({}) THEN 1 ELSE 0 END AS BIGINT)",
                        fragment.sql
                    ));
                    params.extend(fragment.params);
                    parsed.push(true);
                }
                Err(e) => {
                    tracing::error!(code = %candidate.code, error = %e.message, "a stored filter no longer parses");
                    columns.push("0".to_string());
                    parsed.push(false);
                }
            }
        }
        params.push(SqlValue::Integer(event.record_key));
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = {}",
            columns.join(", "),
            record_type.from,
            record_type.key,
            placeholder(dialect, params.len())
        );
        let rows = registry
            .store
            .read(vec![Statement::new(
                sql,
                params,
                &vec![ColumnType::Integer; chunk.len()],
            )])
            .await?
            .remove(0);
        let Some(row) = rows.first() else {
            continue;
        };
        for ((candidate, cell), ok) in chunk.iter().zip(row).zip(parsed) {
            if ok && matches!(cell, Some(SqlValue::Integer(1))) {
                matching.push(candidate.clone());
            }
        }
    }
    Ok(matching)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> Expr<'static> {
        let record_type = crate::social::PROFILE.record_type("Member").unwrap();
        expr::parse_text(text, &record_type.schema).unwrap()
    }

    #[test]
    fn anchors_are_required_equalities_on_the_record() {
        assert_eq!(
            anchor(&filter(r#"uin = "1234567890""#)),
            Some(("uin", vec!["1234567890".to_string()]))
        );
        // The conjunct with the fewest values wins.
        assert_eq!(
            anchor(&filter(r#"region_code IN ["R01", "R02"] AND uin = "1""#)),
            Some(("uin", vec!["1".to_string()]))
        );
        assert_eq!(
            anchor(&filter(r#"location = "R01-D02""#)),
            Some(("location", vec!["R01-D02".to_string()]))
        );
        // Alternatives, ranges, negations and floats need the catch-all key.
        assert_eq!(anchor(&filter(r#"uin = "1" OR uin = "2""#)), None);
        assert_eq!(anchor(&filter("age >= 60")), None);
        assert_eq!(anchor(&filter(r#"NOT region_code = "R01""#)), None);
        assert_eq!(anchor(&filter("poverty_score = 30")), None);
    }

    #[test]
    fn notifications_go_next_to_the_on_subscribe_endpoint() {
        assert_eq!(
            notify_url("http://127.0.0.1:9000/registry/on-subscribe"),
            "http://127.0.0.1:9000/registry/notify"
        );
        assert_eq!(
            notify_url("https://spmis.example.org/dci/callback"),
            "https://spmis.example.org/dci/callback"
        );
    }
}
