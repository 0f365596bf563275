//! The ID-to-financial-address mapper (G2P Connect, dci-spec §11.2).
//!
//! A person's id (`uin:5035049349@nid`) is linked to any number of financial addresses (a bank
//! account, a mobile wallet, a voucher ...), one of which is its primary address, where its
//! payments go. An address belongs to one id. Each item of a batch applies in order, on the
//! links the batch touches (loaded in one read); a batch's changes commit in one transaction.
//!
//! - `link` adds a link (the id's first is its primary; `additional_info` `primary: true` makes
//!   a later one primary); linking a linked pair again succeeds and changes nothing.
//! - `update` changes a link's name, phone number, `active` and `primary` attributes; with an
//!   address the id does not have yet, it replaces the id's primary address.
//! - `unlink` removes one link (with `fa`) or all of an id's; when the primary goes, the
//!   oldest remaining link becomes primary.
//! - `resolve` says whether an id has an active address (`succ.id.*`), whether an address is
//!   linked and active (`succ.fa.*`), or whether an address is the id's (`succ.fa.not_linked_to_id`);
//!   with `scope: details` it also gives the address (or the id) and its provider.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use dci::mapper::{
    AccountProviderInfo, Address, Link, MapperRequest, MapperRequestItem, MapperResponse,
    MapperResponseItem, Operation, Resolve, ResolveScope, Unlink, Update,
};
use dci::txn::{TxnLookup, TxnStatusRequest, TxnStatusResponse, TxnStatusResult};
use dci::{ReasonCode, Rejection, RequestStatus, Timestamp};
use registry::audit::AuditNote;
use serde_json::{Value, json};
use store::{ColumnType, Dialect, SqlValue, Statement, Store, StoreError, numbered};

use crate::Pay;
use crate::handler::{TxnStatusOf, async_txn_status, read_async, read_sync, sync_txn_status};

/// The mapper's endpoints.
pub(crate) fn routes() -> Router<Arc<Pay>> {
    Router::new()
        .route("/mapper/sync/link", post(sync_operation::<Link>))
        .route("/mapper/sync/update", post(sync_operation::<Update>))
        .route("/mapper/sync/unlink", post(sync_operation::<Unlink>))
        .route("/mapper/sync/resolve", post(sync_operation::<Resolve>))
        .route("/mapper/link", post(async_operation::<Link>))
        .route("/mapper/update", post(async_operation::<Update>))
        .route("/mapper/unlink", post(async_operation::<Unlink>))
        .route("/mapper/resolve", post(async_operation::<Resolve>))
        .route("/mapper/txn/status", post(async_txn_status::<MapperStatus>))
        .route(
            "/mapper/sync/txn/status",
            post(sync_txn_status::<MapperStatus>),
        )
        // The path the standard gives the mapper's sync txn status (dci-spec §12.3 P14).
        .route(
            "/registry/sync/txn/status",
            post(sync_txn_status::<MapperStatus>),
        )
}

/// A mapper operation, as this mapper applies it.
pub(crate) trait Apply: Operation + Send + Sync + 'static {
    /// The actions the standard's YAML gives this operation's sync endpoint by mistake.
    const SYNC_SIC: &'static [&'static str];
    /// Applies one (well-formed) item to `links`: its answer, or why it is refused.
    fn apply(links: &mut Links, item: &MapperRequestItem) -> Result<MapperResponseItem, Rejection>;
}

impl Apply for Link {
    const SYNC_SIC: &'static [&'static str] = &[];
    fn apply(links: &mut Links, item: &MapperRequestItem) -> Result<MapperResponseItem, Rejection> {
        let id = person_id(item, ReasonCode::IdInvalid)?;
        let fa = financial_address(item)?;
        let details = Details::of(item, ReasonCode::NameInvalid)?;
        match links.owner(fa.text) {
            Some(owner) if owner == id => {
                if details.primary == Some(true) {
                    links.make_primary(id, fa.text);
                }
                Ok(answer(item).fa(fa.text).message("already linked"))
            }
            Some(_) => Err(Rejection::new(
                ReasonCode::FaInvalid,
                format!("{} is linked to another id", fa.text),
            )),
            None => {
                let primary = links.of(id).is_empty() || details.primary == Some(true);
                links.insert(id, &fa, &details, primary);
                Ok(answer(item).fa(fa.text))
            }
        }
    }
}

impl Apply for Update {
    const SYNC_SIC: &'static [&'static str] = &["link"];
    fn apply(links: &mut Links, item: &MapperRequestItem) -> Result<MapperResponseItem, Rejection> {
        let id = person_id(item, ReasonCode::IdInvalid)?;
        let fa = financial_address(item)?;
        let details = Details::of(item, ReasonCode::BeneficiaryNameInvalid)?;
        if links.of(id).is_empty() {
            return Err(Rejection::new(
                ReasonCode::IdInvalid,
                format!("{id} has no linked address to update; link one first"),
            ));
        }
        match links.owner(fa.text) {
            Some(owner) if owner == id => {
                links.change(id, fa.text, &details);
                Ok(answer(item).id(id))
            }
            Some(_) => Err(Rejection::new(
                ReasonCode::FaInvalid,
                format!("{} is linked to another id", fa.text),
            )),
            None => {
                // A new address replaces the primary one (the beneficiary changed accounts).
                if let Some(old) = links.primary(id).map(|l| l.fa.clone()) {
                    links.remove(id, &old);
                }
                links.insert(id, &fa, &details, true);
                Ok(answer(item)
                    .id(id)
                    .message("the new address replaces the primary one"))
            }
        }
    }
}

impl Apply for Unlink {
    const SYNC_SIC: &'static [&'static str] = &["link"];
    fn apply(links: &mut Links, item: &MapperRequestItem) -> Result<MapperResponseItem, Rejection> {
        let id = person_id(item, ReasonCode::IdInvalid)?;
        match item.fa.as_deref() {
            Some(fa) => {
                if links.owner(fa) != Some(id) {
                    return Err(Rejection::new(
                        ReasonCode::FaInvalid,
                        format!("{fa} is not linked to {id}"),
                    ));
                }
                links.remove(id, fa);
            }
            None => {
                let all: Vec<String> = links.of(id).iter().map(|l| l.fa.clone()).collect();
                if all.is_empty() {
                    return Err(Rejection::new(
                        ReasonCode::IdInvalid,
                        format!("{id} has no linked address"),
                    ));
                }
                for fa in all {
                    links.remove(id, &fa);
                }
            }
        }
        Ok(answer(item).id(id))
    }
}

impl Apply for Resolve {
    const SYNC_SIC: &'static [&'static str] = &["link"];
    fn apply(links: &mut Links, item: &MapperRequestItem) -> Result<MapperResponseItem, Rejection> {
        let scope = ResolveScope::of(item)?;
        let details = scope == ResolveScope::Details;
        let id = match item.id.as_deref() {
            Some(_) => Some(person_id(item, ReasonCode::IdInvalid)?),
            None => None,
        };
        let fa = match item.fa.as_deref() {
            Some(_) => Some(financial_address(item)?),
            None => None,
        };
        let found = |code| Ok(answer(item).code(code));
        match (id, fa) {
            (None, None) => Err(Rejection::new(
                ReasonCode::IdInvalid,
                "an id or a financial address (fa) to resolve is required",
            )),
            (Some(id), None) => {
                if links.of(id).is_empty() {
                    return found(ReasonCode::IdNotFound);
                }
                let Some(primary) = links.primary(id).filter(|l| l.active).cloned() else {
                    return found(ReasonCode::IdInactive);
                };
                let mut resolved = answer(item).code(ReasonCode::IdActive);
                if details {
                    resolved = resolved
                        .fa(&primary.fa)
                        .provider(&primary)
                        .all_of(links.of(id));
                }
                Ok(resolved)
            }
            (id, Some(fa)) => {
                let Some(link) = links.link(fa.text).cloned() else {
                    return found(ReasonCode::FaNotFound);
                };
                if id.is_some_and(|id| id != link.person_id) {
                    return found(ReasonCode::FaNotLinkedToId);
                }
                let code = if link.active {
                    ReasonCode::FaActive
                } else {
                    ReasonCode::FaInactive
                };
                let mut resolved = answer(item).code(code);
                if details {
                    resolved = resolved.id(&link.person_id).fa(&link.fa).provider(&link);
                }
                Ok(resolved)
            }
        }
    }
}

/// A `succ` answer to `item`.
fn answer(item: &MapperRequestItem) -> MapperResponseItem {
    let mut answer = MapperResponseItem::new(
        item.reference_id.as_deref().unwrap_or_default(),
        RequestStatus::Succ,
        None,
    );
    answer.locale = item.locale.clone();
    answer
}

/// Builders for answers.
trait Answer {
    fn id(self, id: &str) -> Self;
    fn fa(self, fa: &str) -> Self;
    fn code(self, code: ReasonCode) -> Self;
    fn message(self, message: &str) -> Self;
    fn provider(self, link: &LinkRow) -> Self;
    fn all_of(self, links: &[LinkRow]) -> Self;
}

impl Answer for MapperResponseItem {
    fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }
    fn fa(mut self, fa: &str) -> Self {
        self.fa = Some(fa.to_string());
        self
    }
    fn code(mut self, code: ReasonCode) -> Self {
        self.status_reason_code = Some(code);
        self.status_reason_message = Some(code.meaning().to_string());
        self
    }
    fn message(mut self, message: &str) -> Self {
        self.status_reason_message = Some(message.to_string());
        self
    }
    fn provider(mut self, link: &LinkRow) -> Self {
        self.account_provider_info = Some(AccountProviderInfo {
            name: link.provider.clone(),
            code: link.provider.clone(),
            subcode: None,
            additional_info: None,
        });
        self
    }
    /// Every address of the id, as `additional_info` `financial_addresses`.
    fn all_of(mut self, links: &[LinkRow]) -> Self {
        let all: Vec<Value> = links
            .iter()
            .map(|l| json!({"fa": l.fa, "type": l.fa_type, "primary": l.primary, "active": l.active}))
            .collect();
        self.additional_info = Some(json!([{"name": "financial_addresses", "value": all}]));
        self
    }
}

/// The item's `id`, a `type:value@provider` person id that is not a financial address.
fn person_id(item: &MapperRequestItem, code: ReasonCode) -> Result<&str, Rejection> {
    let id = item.id.as_deref().unwrap_or_default();
    match Address::parse(id) {
        Some(address) if !address.is_financial() => Ok(id),
        Some(_) => Err(Rejection::new(
            code,
            format!("id '{id}' is a financial address, not a person's id"),
        )),
        None => Err(Rejection::new(
            code,
            format!("id '{id}' is not a person id such as uin:5035049349@nid"),
        )),
    }
}

/// A financial address and its parts.
struct Fa<'a> {
    text: &'a str,
    kind: &'a str,
    provider: &'a str,
}

/// The item's `fa`, a financial address of a known type.
fn financial_address(item: &MapperRequestItem) -> Result<Fa<'_>, Rejection> {
    let fa = item.fa.as_deref().unwrap_or_default();
    match Address::parse(fa) {
        Some(address) if address.is_financial() => Ok(Fa {
            text: fa,
            kind: address.kind,
            provider: address.provider,
        }),
        _ => Err(Rejection::new(
            ReasonCode::FaInvalid,
            format!(
                "fa '{fa}' is not a financial address such as account:12345@bank ({})",
                dci::mapper::FA_TYPES.join(", ")
            ),
        )),
    }
}

/// The details an item gives a link.
struct Details {
    name: Option<String>,
    phone_number: Option<String>,
    primary: Option<bool>,
    active: Option<bool>,
    additional_info: Option<String>,
}

/// Longest account holder's name.
const MAX_NAME: usize = 200;

impl Details {
    fn of(item: &MapperRequestItem, name_code: ReasonCode) -> Result<Details, Rejection> {
        if let Some(name) = &item.name
            && (name.trim().is_empty() || name.chars().count() > MAX_NAME)
        {
            return Err(Rejection::new(
                name_code,
                format!("name must have 1 to {MAX_NAME} characters"),
            ));
        }
        if let Some(phone) = &item.phone_number
            && !phone_is_valid(phone)
        {
            return Err(Rejection::new(
                ReasonCode::MobileNumberInvalid,
                format!(
                    "phone_number '{phone}' is not a phone number (6 to 15 digits, an optional leading +)"
                ),
            ));
        }
        let flag = |name: &str| item.attribute(name).and_then(Value::as_bool);
        Ok(Details {
            name: item.name.clone(),
            phone_number: item.phone_number.clone(),
            primary: flag("primary"),
            active: flag("active"),
            additional_info: item.additional_info.as_ref().map(Value::to_string),
        })
    }
}

fn phone_is_valid(phone: &str) -> bool {
    let rest = phone.strip_prefix('+').unwrap_or(phone);
    let digits = rest.bytes().filter(u8::is_ascii_digit).count();
    rest.bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
        && (6..=15).contains(&digits)
}

/// A link as stored.
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// The person's id.
    pub person_id: String,
    /// The financial address.
    pub fa: String,
    /// Its type (`account`, `mobile` ...).
    pub fa_type: String,
    /// Who holds the account.
    pub provider: String,
    /// Whether payments to the id go here.
    pub primary: bool,
    /// Whether it can be paid to.
    pub active: bool,
    linked_at: String,
}

/// The links a batch touches, loaded in one read and changed as its items apply in order;
/// the statements that make the same changes in the store.
pub struct Links {
    by_id: HashMap<String, Vec<LinkRow>>,
    owner: HashMap<String, String>,
    statements: Vec<Statement>,
    dialect: Dialect,
    sender_id: String,
    now: String,
}

/// Ids or addresses looked up per statement.
const LOOKUP_CHUNK: usize = 500;

impl Links {
    /// The links of `ids` and of `fas`, as `sender_id` will change them.
    pub async fn load<'a>(
        store: &dyn Store,
        sender_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
        fas: impl IntoIterator<Item = &'a str>,
    ) -> Result<Links, StoreError> {
        let dialect = store.dialect();
        let select =
            "SELECT person_id, fa, fa_type, provider, is_primary, active, linked_at FROM fa_link";
        let mut statements = Vec::new();
        for (column, values) in [("person_id", unique(ids)), ("fa", unique(fas))] {
            for chunk in values.chunks(LOOKUP_CHUNK) {
                let list: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
                statements.push(Statement::new(
                    numbered(
                        dialect,
                        &format!("{select} WHERE {column} IN ({})", list.join(", ")),
                    ),
                    chunk
                        .iter()
                        .map(|v| SqlValue::Text(v.to_string()))
                        .collect(),
                    &[
                        ColumnType::Text,
                        ColumnType::Text,
                        ColumnType::Text,
                        ColumnType::Text,
                        ColumnType::Integer,
                        ColumnType::Integer,
                        ColumnType::Text,
                    ],
                ));
            }
        }
        let rows = if statements.is_empty() {
            Vec::new()
        } else {
            store.read(statements).await?
        };
        let mut links = Links {
            by_id: HashMap::new(),
            owner: HashMap::new(),
            statements: Vec::new(),
            dialect,
            sender_id: sender_id.to_string(),
            now: Timestamp::now().to_string(),
        };
        let mut seen = HashSet::new();
        for row in rows.iter().flatten() {
            let text = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(t))) => t.clone(),
                _ => String::new(),
            };
            let flag = |i: usize| matches!(row.get(i), Some(Some(SqlValue::Integer(1))));
            let link = LinkRow {
                person_id: text(0),
                fa: text(1),
                fa_type: text(2),
                provider: text(3),
                primary: flag(4),
                active: flag(5),
                linked_at: text(6),
            };
            if seen.insert(link.fa.clone()) {
                links.owner.insert(link.fa.clone(), link.person_id.clone());
                links
                    .by_id
                    .entry(link.person_id.clone())
                    .or_default()
                    .push(link);
            }
        }
        for list in links.by_id.values_mut() {
            list.sort_by(|a, b| (&a.linked_at, &a.fa).cmp(&(&b.linked_at, &b.fa)));
        }
        Ok(links)
    }

    /// The links of `id`, oldest first.
    pub fn of(&self, id: &str) -> &[LinkRow] {
        self.by_id.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// The primary link of `id`.
    pub fn primary(&self, id: &str) -> Option<&LinkRow> {
        self.of(id).iter().find(|l| l.primary)
    }

    /// The link of address `fa`.
    pub fn link(&self, fa: &str) -> Option<&LinkRow> {
        let owner = self.owner.get(fa)?;
        self.of(owner).iter().find(|l| l.fa == fa)
    }

    /// The id `fa` is linked to.
    fn owner(&self, fa: &str) -> Option<&str> {
        self.owner.get(fa).map(String::as_str)
    }

    fn write(&mut self, sql: &str, params: Vec<SqlValue>) {
        self.statements
            .push(Statement::new(numbered(self.dialect, sql), params, &[]));
    }

    fn insert(&mut self, id: &str, fa: &Fa<'_>, details: &Details, primary: bool) {
        if primary {
            self.demote(id);
        }
        let text = |s: &str| SqlValue::Text(s.to_string());
        // The store's parameters have no NULL: absent text travels as '' (NULLIF below).
        let optional = |s: &Option<String>| SqlValue::Text(s.clone().unwrap_or_default());
        let active = details.active.unwrap_or(true);
        self.write(
            "INSERT INTO fa_link (person_id, fa, fa_type, provider, name, phone_number, additional_info, is_primary, active, linked_by, linked_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, NULLIF(?5, ''), NULLIF(?6, ''), NULLIF(?7, ''), ?8, ?9, ?10, ?11, ?11)",
            vec![
                text(id),
                text(fa.text),
                text(fa.kind),
                text(fa.provider),
                optional(&details.name),
                optional(&details.phone_number),
                optional(&details.additional_info),
                SqlValue::Integer(primary.into()),
                SqlValue::Integer(active.into()),
                text(&self.sender_id),
                text(&self.now),
            ],
        );
        self.owner.insert(fa.text.to_string(), id.to_string());
        self.by_id.entry(id.to_string()).or_default().push(LinkRow {
            person_id: id.to_string(),
            fa: fa.text.to_string(),
            fa_type: fa.kind.to_string(),
            provider: fa.provider.to_string(),
            primary,
            active,
            linked_at: self.now.clone(),
        });
    }

    /// No link of `id` is primary any more.
    fn demote(&mut self, id: &str) {
        if let Some(list) = self.by_id.get_mut(id)
            && let Some(current) = list.iter_mut().find(|l| l.primary)
        {
            current.primary = false;
            let fa = current.fa.clone();
            self.write(
                "UPDATE fa_link SET is_primary = 0, updated_at = ?3 WHERE person_id = ?1 AND fa = ?2",
                vec![SqlValue::Text(id.into()), SqlValue::Text(fa), SqlValue::Text(self.now.clone())],
            );
        }
    }

    fn make_primary(&mut self, id: &str, fa: &str) {
        if self.primary(id).is_some_and(|l| l.fa == fa) {
            return;
        }
        self.demote(id);
        if let Some(link) = self
            .by_id
            .get_mut(id)
            .and_then(|list| list.iter_mut().find(|l| l.fa == fa))
        {
            link.primary = true;
        }
        self.write(
            "UPDATE fa_link SET is_primary = 1, updated_at = ?3 WHERE person_id = ?1 AND fa = ?2",
            vec![
                SqlValue::Text(id.into()),
                SqlValue::Text(fa.into()),
                SqlValue::Text(self.now.clone()),
            ],
        );
    }

    /// Changes the details of the link (`id`, `fa`): those the item gives.
    fn change(&mut self, id: &str, fa: &str, details: &Details) {
        // What the item does not give ('' and -1: the store's parameters have no NULL) stays.
        let set = |value: &Option<String>| SqlValue::Text(value.clone().unwrap_or_default());
        self.write(
            "UPDATE fa_link SET name = COALESCE(NULLIF(?3, ''), name), phone_number = COALESCE(NULLIF(?4, ''), phone_number),
                 additional_info = COALESCE(NULLIF(?5, ''), additional_info),
                 active = COALESCE(NULLIF(?6, CAST(-1 AS BIGINT)), active), updated_at = ?7
             WHERE person_id = ?1 AND fa = ?2",
            vec![
                SqlValue::Text(id.into()),
                SqlValue::Text(fa.into()),
                set(&details.name),
                set(&details.phone_number),
                set(&details.additional_info),
                SqlValue::Integer(details.active.map_or(-1, i64::from)),
                SqlValue::Text(self.now.clone()),
            ],
        );
        if let Some(active) = details.active
            && let Some(link) = self
                .by_id
                .get_mut(id)
                .and_then(|list| list.iter_mut().find(|l| l.fa == fa))
        {
            link.active = active;
        }
        if details.primary == Some(true) {
            self.make_primary(id, fa);
        }
    }

    /// Removes the link (`id`, `fa`); when it was primary, the oldest remaining link is.
    fn remove(&mut self, id: &str, fa: &str) {
        self.write(
            "DELETE FROM fa_link WHERE person_id = ?1 AND fa = ?2",
            vec![SqlValue::Text(id.into()), SqlValue::Text(fa.into())],
        );
        self.owner.remove(fa);
        let Some(list) = self.by_id.get_mut(id) else {
            return;
        };
        let was_primary = list.iter().any(|l| l.fa == fa && l.primary);
        list.retain(|l| l.fa != fa);
        if was_primary && let Some(next) = list.first().map(|l| l.fa.clone()) {
            self.make_primary(id, &next);
        }
    }

    /// The statements that make this batch's changes.
    pub fn into_statements(self) -> Vec<Statement> {
        self.statements
    }
}

fn unique<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .filter(|v| !v.is_empty() && seen.insert(*v))
        .collect()
}

/// A batch applied: one answer per item, the statements that store its changes, and the
/// people whose addresses the answers disclose (for the audit chain).
struct Applied {
    items: Vec<MapperResponseItem>,
    changes: Vec<Statement>,
    disclosed: Vec<String>,
}

/// Applies the items of a batch of `sender_id`, in order.
async fn apply_all<O: Apply>(
    pay: &Pay,
    sender_id: &str,
    items: &[MapperRequestItem],
) -> Result<Applied, StoreError> {
    let mut links = Links::load(
        pay.store(),
        sender_id,
        items.iter().filter_map(|i| i.id.as_deref()),
        items.iter().filter_map(|i| i.fa.as_deref()),
    )
    .await?;
    let mut seen = HashSet::new();
    let mut answers = Vec::with_capacity(items.len());
    let mut disclosed = Vec::new();
    for item in items {
        let answer = check_item(item, &mut seen).and_then(|()| O::apply(&mut links, item));
        answers.push(match answer {
            Ok(answer) => {
                if answer.account_provider_info.is_some()
                    && let Some(id) = answer.id.as_deref().or(item.id.as_deref())
                {
                    disclosed.push(format!("ID:{id}"));
                }
                answer
            }
            Err(rejection) => {
                let mut refused = MapperResponseItem::new(
                    item.reference_id.as_deref().unwrap_or_default(),
                    RequestStatus::Rjct,
                    Some(rejection.code),
                );
                refused.status_reason_message = Some(rejection.message);
                refused.locale = item.locale.clone();
                refused
            }
        });
    }
    disclosed.sort();
    disclosed.dedup();
    Ok(Applied {
        items: answers,
        changes: links.into_statements(),
        disclosed,
    })
}

/// What every item needs: a reference id not used before in the batch, and a timestamp.
fn check_item(item: &MapperRequestItem, seen: &mut HashSet<String>) -> Result<(), Rejection> {
    dci::validate::reference_id(item.reference_id.as_deref(), seen)?;
    Timestamp::parse(item.timestamp.as_deref().unwrap_or_default())
        .map(|_| ())
        .map_err(|e| Rejection::new(ReasonCode::TimestampInvalid, format!("timestamp: {e}")))
}

/// `POST /mapper/sync/{link,update,unlink,resolve}`: the batch applied and answered.
async fn sync_operation<O: Apply>(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let parsed = match read_sync::<MapperRequest<O>>(&pay, request, (O::ACTION, O::SYNC_SIC), |m| {
        m.items.len()
    })
    .await
    {
        Ok((parsed, _)) => parsed,
        Err(response) => return response,
    };
    let (header, message) = (parsed.header, parsed.message);
    let applied = match apply_all::<O>(&pay, &header.sender_id, &message.items).await {
        Ok(applied) => applied,
        Err(e) => return registry::http::store_failure(&e),
    };
    if !applied.changes.is_empty()
        && let Err(e) = pay.store().write(applied.changes).await
    {
        return registry::http::store_failure(&e);
    }
    let correlation_id = registry::http::new_id();
    let mut note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .correlation(&correlation_id);
    note.disclosed = applied.disclosed;
    let completed = applied.items.len();
    let response =
        MapperResponse::<O>::new(message.transaction_id, Some(correlation_id), applied.items);
    pay.engine
        .sync_answer(&header, O::ACTION.answer(), completed, response, note)
        .await
}

/// `POST /mapper/{link,update,unlink,resolve}`: the batch is applied as it is accepted, its
/// changes and its callback committed with it before the ACK.
async fn async_operation<O: Apply>(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let request =
        match read_async::<MapperRequest<O>>(&pay, request, O::ACTION, |m| m.items.len()).await {
            Ok(request) => request,
            Err(response) => return response,
        };
    let reference_ids = request
        .message
        .items
        .iter()
        .map(|i| i.reference_id.clone().unwrap_or_default())
        .collect();
    if let Some(rejection) = request.refused.clone() {
        let answered = request.refusal(&pay, rejection).await;
        return request
            .accept(&pay, reference_ids, Vec::new(), Some(answered))
            .await;
    }
    let applied =
        match apply_all::<O>(&pay, &request.header.sender_id, &request.message.items).await {
            Ok(applied) => applied,
            Err(e) => return registry::http::store_failure(&e),
        };
    let response = MapperResponse::<O>::new(
        request.message.transaction_id.clone(),
        Some(request.correlation_id.clone()),
        applied.items,
    );
    let completed = response.items.len();
    let answered = pay
        .engine
        .answered(
            &request.header,
            O::ACTION.answer(),
            (&request.correlation_id, &request.callback),
            Ok((completed, response)),
            applied.changes,
        )
        .await;
    request
        .accept(&pay, reference_ids, Vec::new(), Some(answered))
        .await
}

/// The actions of the mapper's transactions, with the `txn_type`s that name them.
const TXN_TYPES: [(&str, &str); 4] = [
    ("link", "on-link"),
    ("update", "on-update"),
    ("unlink", "on-unlink"),
    ("resolve", "on-resolve"),
];

/// The mapper's transactions, for txn status.
pub(crate) struct MapperStatus;

impl TxnStatusOf for MapperStatus {
    /// The state of an earlier async mapper transaction of `sender_id`: the response its
    /// callback carried (or its state and reason when the whole message was refused).
    async fn status(
        pay: &Pay,
        sender_id: &str,
        request: &TxnStatusRequest,
        lookup: TxnLookup,
    ) -> Result<Result<TxnStatusResponse, Rejection>, StoreError> {
        let wanted = request
            .txnstatus_request
            .txn_type
            .as_deref()
            .map(|t| t.trim_start_matches("on-"));
        let actions: Vec<&str> = TXN_TYPES
            .iter()
            .map(|(action, _)| *action)
            .filter(|a| wanted.is_none_or(|w| w == *a))
            .collect();
        if actions.is_empty() {
            return Ok(Err(Rejection::new(
                ReasonCode::RequestBad,
                format!(
                    "txn_type '{}' is not link, update, unlink or resolve",
                    wanted.unwrap_or_default()
                ),
            )));
        }
        let Some(found) =
            registry::exchange::find_transaction(&pay.engine, sender_id, &lookup, &actions).await?
        else {
            return Ok(Err(Rejection::new(
                ReasonCode::RequestNotFound,
                format!("no mapper transaction of {sender_id} matches {lookup:?}"),
            )));
        };
        let txn_type = TXN_TYPES
            .iter()
            .find(|(action, _)| *action == found.action)
            .map_or("", |(_, t)| t);
        Ok(Ok(TxnStatusResponse {
            transaction_id: request.transaction_id.clone(),
            correlation_id: found.correlation_id.clone(),
            txnstatus_response: TxnStatusResult {
                txn_type: txn_type.to_string(),
                txn_status: crate::handler::stored_answer(&found),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        for good in ["+254712345678", "0712 345 678", "712-345-678"] {
            assert!(phone_is_valid(good), "{good}");
        }
        for bad in ["12345", "+", "call me", "+25471234567890123", "07123456x8"] {
            assert!(!phone_is_valid(bad), "{bad}");
        }
    }
}
