//! What the client sends: registry queries, search items, subscription items and
//! transaction-status queries (dci-spec §3, §5.1, §5.3, §5.7).

use dci::Timestamp;
use dci::search::SearchRequestItem;
use dci::subscribe::{Frequency, SubscribeRequestItem};
use dci::txn::{TxnLookup, TxnStatusQuery};
use serde_json::{Map, Value, json};

/// The query language tag of a NoSql document or text expression.
pub const NOSQL: &str = "ns:org:QueryType:NoSql";

/// A registry query (`RegistryQueries`, dci-spec §3): a search's `query` with its `query_type`,
/// or a subscription's `filter` with its `filter_type`, which take the same shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryQuery {
    query_type: &'static str,
    value: Value,
}

impl RegistryQuery {
    /// `idtype-value`: records whose identifier of type `id_type` is `value` (e.g. `UIN` =
    /// `"847951632"`).
    pub fn identifier(id_type: &str, value: impl Into<Value>) -> Self {
        RegistryQuery {
            query_type: "idtype-value",
            value: json!({"type": id_type, "value": value.into()}),
        }
    }

    /// `expression`: `expression` is a NoSql document (an object) or a text expression (a
    /// string), sent as `{"type": "ns:org:QueryType:NoSql", "value": {"expression": ...}}`.
    pub fn expression(expression: Value) -> Self {
        RegistryQuery {
            query_type: "expression",
            value: json!({"type": NOSQL, "value": {"expression": expression}}),
        }
    }

    /// `predicate`: `predicates` is an `ExpPredicateWithConditionList` (an array).
    pub fn predicates(predicates: Value) -> Self {
        RegistryQuery {
            query_type: "predicate",
            value: predicates,
        }
    }

    /// `idtype-value`, `expression` or `predicate`.
    pub fn query_type(&self) -> &'static str {
        self.query_type
    }

    /// The query as sent.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// Criteria of `version` 1.0.0 with the given members.
fn criteria<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    let mut criteria = Map::new();
    criteria.insert("version".into(), json!(dci::PROTOCOL_VERSION));
    for (key, value) in members {
        criteria.insert(key.into(), value);
    }
    criteria
}

/// One item of a batch (a search or a subscription): its criteria and locale, refined with
/// the chained setters. `reference_id` and `timestamp` are given when the batch is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<K> {
    criteria: Map<String, Value>,
    locale: Option<String>,
    kind: std::marker::PhantomData<K>,
}

/// What an [`Item`] is: its wire form.
pub trait ItemKind {
    /// The wire item.
    type Wire;
    /// The wire item of these criteria.
    fn wire(
        reference_id: String,
        timestamp: String,
        criteria: Value,
        locale: Option<String>,
    ) -> Self::Wire;
}

/// A search ([`SearchItem`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Search;

/// A subscription ([`SubscribeItem`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription;

impl ItemKind for Search {
    type Wire = SearchRequestItem;
    fn wire(
        reference_id: String,
        timestamp: String,
        criteria: Value,
        locale: Option<String>,
    ) -> SearchRequestItem {
        SearchRequestItem {
            reference_id: Some(reference_id),
            timestamp: Some(timestamp),
            search_criteria: Some(criteria),
            locale,
        }
    }
}

impl ItemKind for Subscription {
    type Wire = SubscribeRequestItem;
    fn wire(
        reference_id: String,
        timestamp: String,
        criteria: Value,
        locale: Option<String>,
    ) -> SubscribeRequestItem {
        SubscribeRequestItem {
            reference_id: Some(reference_id),
            timestamp: Some(timestamp),
            subscribe_criteria: Some(criteria),
            locale,
        }
    }
}

/// One search of a batch, built with [`SearchItem::new`] or the `by_*` shorthands.
pub type SearchItem = Item<Search>;

/// One subscription of a batch: which event (`reg_event_type`), about which records (the
/// filter), pushing which record type (`notify_record_type`), and when (the frequency; at once
/// unless set).
pub type SubscribeItem = Item<Subscription>;

impl<K: ItemKind> Item<K> {
    fn from_criteria<const N: usize>(members: [(&str, Value); N]) -> Self {
        Item {
            criteria: criteria(members),
            locale: Some("eng".into()),
            kind: std::marker::PhantomData,
        }
    }

    /// Sets `reg_type` (e.g. `ns:org:RegistryType:Social`).
    pub fn reg_type(self, reg_type: &str) -> Self {
        self.with("reg_type", json!(reg_type))
    }

    /// Sets any other member of the criteria (`consent`, `authorize`, `response_entity` ...).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.criteria.insert(key.into(), value);
        self
    }

    /// Sets the item's locale (ISO 639-3; `eng` unless changed), or removes it with `None`.
    pub fn locale(mut self, locale: Option<&str>) -> Self {
        self.locale = locale.map(str::to_string);
        self
    }

    /// The criteria as they will be sent.
    pub fn criteria(&self) -> &Map<String, Value> {
        &self.criteria
    }

    /// The wire item, with its reference id and the current time.
    pub fn into_wire(self, reference_id: String) -> K::Wire {
        K::wire(
            reference_id,
            Timestamp::now().to_string(),
            Value::Object(self.criteria),
            self.locale,
        )
    }
}

impl Item<Search> {
    /// A search for records of `record_type` matching `query`.
    pub fn new(record_type: &str, query: RegistryQuery) -> Self {
        Self::from_criteria([
            ("reg_record_type", json!(record_type)),
            ("query_type", json!(query.query_type)),
            ("query", query.value),
        ])
    }

    /// [`SearchItem::new`] with [`RegistryQuery::identifier`].
    pub fn by_identifier(record_type: &str, id_type: &str, value: impl Into<Value>) -> Self {
        Self::new(record_type, RegistryQuery::identifier(id_type, value))
    }

    /// [`SearchItem::new`] with [`RegistryQuery::expression`].
    pub fn by_expression(record_type: &str, expression: Value) -> Self {
        Self::new(record_type, RegistryQuery::expression(expression))
    }

    /// [`SearchItem::new`] with [`RegistryQuery::predicates`].
    pub fn by_predicates(record_type: &str, predicates: Value) -> Self {
        Self::new(record_type, RegistryQuery::predicates(predicates))
    }

    /// Asks for page `number` (from 1) of `size` records.
    pub fn page(self, size: i64, number: i64) -> Self {
        self.with(
            "pagination",
            json!({"page_size": size, "page_number": number}),
        )
    }

    /// Adds a sort key; keys apply in the order they are added.
    pub fn sort(mut self, attribute: &str, descending: bool) -> Self {
        let key = json!({"attribute_name": attribute, "sort_order": if descending { "desc" } else { "asc" }});
        match self.criteria.get_mut("sort") {
            Some(Value::Array(keys)) => keys.push(key),
            _ => {
                self.criteria.insert("sort".into(), Value::Array(vec![key]));
            }
        }
        self
    }

    /// Sets `reg_event_type`.
    pub fn reg_event_type(self, event_type: &str) -> Self {
        self.with("reg_event_type", json!(event_type))
    }
}

impl Item<Subscription> {
    /// A subscription to `reg_event_type` events (`REGISTER`, `NewHouseHoldMember` ...) of the
    /// records `filter` matches, notified as `notify_record_type` records.
    pub fn new(reg_event_type: &str, notify_record_type: &str, filter: RegistryQuery) -> Self {
        Self::from_criteria([
            ("reg_event_type", json!(reg_event_type)),
            ("notify_record_type", json!(notify_record_type)),
            ("filter_type", json!(filter.query_type)),
            ("filter", filter.value),
        ])
    }

    /// Sets the frequency as an `EventFrequency` (dci-spec §7.3) starting now, with the keyword
    /// (`immediate`, `hourly`, `daily`, `weekly`) as its `frequency`.
    pub fn frequency(self, frequency: Frequency) -> Self {
        self.with(
            "frequency",
            json!({"start_time": Timestamp::now().to_string(), "frequency": frequency.as_str()}),
        )
    }
}

/// The kind of transaction a status query asks about (`txn_type`, core variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnType {
    /// A search.
    Search,
    /// A subscription.
    Subscribe,
    /// An unsubscription.
    Unsubscribe,
}

impl TxnType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnType::Search => "search",
            TxnType::Subscribe => "subscribe",
            TxnType::Unsubscribe => "unsubscribe",
        }
    }
}

/// The `txnstatus_request` asking about the `txn_type` transaction that `lookup` identifies.
pub fn txn_status_query(txn_type: TxnType, lookup: &TxnLookup) -> TxnStatusQuery {
    let (attribute_type, attribute_value) = match lookup {
        TxnLookup::TransactionId(id) => ("transaction_id", json!(id)),
        TxnLookup::ReferenceIds(ids) => ("reference_id_list", json!(ids)),
        TxnLookup::CorrelationId(id) => ("correlation_id", json!(id)),
        TxnLookup::SubscriptionCodes(codes) => ("subscription_code_list", json!(codes)),
    };
    TxnStatusQuery {
        reference_id: Some("1".into()),
        txn_type: Some(txn_type.as_str().into()),
        attribute_type: attribute_type.into(),
        attribute_value,
        locale: Some("eng".into()),
    }
}
