//! Search, written once for every registry profile: a batch of search items, each validated
//! and answered on its own, with pagination, sorting and `total_count`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dci::search::{Pagination, SearchData, SearchRequestItem, SearchResponseItem};
use dci::{Query, ReasonCode, Rejection, RequestStatus, Timestamp};
use expr::{Dialect, Expr, Op};
use serde_json::value::RawValue;
use store::{ColumnType, SqlValue, Statement, Store, StoreError};
use time::Date;

use trust::access::AccessRules;

use crate::profile::{Profile, RecordType};

/// Search limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    /// Largest `page_size` accepted.
    pub max_page_size: i64,
    /// Page size of a search that asks for none; more matches than this are refused with
    /// `rjct.search.too_many_records_found` rather than silently cut.
    pub default_page_size: i64,
    /// How long each store query of a sync search by expression or predicates may run before
    /// it is stopped and the search refused with `err.request.timeout`, which tells the caller
    /// to send it as an async search (answered by callback, without this budget). `None`: no
    /// budget.
    pub sync_budget: Option<std::time::Duration>,
}

/// Answers every item of a search request, each on its own; a query of a search by
/// expression or predicates that runs longer than `budget` in the store fails the whole
/// request with [`StoreError::Timeout`].
pub async fn answer_all(
    registry: &crate::Registry,
    message: &dci::SearchRequest,
    today: Date,
    access: &AccessRules,
    budget: Option<Duration>,
) -> Result<Vec<SearchResponseItem>, StoreError> {
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(message.search_request.len());
    for item in &message.search_request {
        items.push(
            answer(
                registry.profile,
                registry.search_store(),
                registry.config.search,
                item,
                &mut seen,
                today,
                access,
                budget,
            )
            .await?,
        );
    }
    Ok(items)
}

/// Answers one search item for a caller with `access`. A bad or forbidden item is rejected on
/// its own (a forbidden one with `err.request.forbidden`); only a store failure fails the
/// whole batch, or, for a search by expression or predicates, a query running longer than
/// `budget` ([`StoreError::Timeout`]; a lookup by identifier is one indexed read and has no
/// budget).
#[allow(clippy::too_many_arguments)]
pub async fn answer(
    profile: &'static Profile,
    store: &dyn Store,
    limits: SearchLimits,
    item: &SearchRequestItem,
    seen_references: &mut HashSet<String>,
    today: Date,
    access: &AccessRules,
    budget: Option<Duration>,
) -> Result<SearchResponseItem, StoreError> {
    let reference_id = item.reference_id.clone().unwrap_or_default();
    let locale = item.locale.clone();
    let reject = |rejection: Rejection| {
        Ok(SearchResponseItem::rejected(
            reference_id.clone(),
            rejection,
            locale.clone(),
        ))
    };
    if reference_id.trim().is_empty() {
        return reject(Rejection::new(
            ReasonCode::ReferenceIdInvalid,
            "reference_id is required",
        ));
    }
    if !seen_references.insert(reference_id.clone()) {
        return reject(Rejection::new(
            ReasonCode::ReferenceIdDuplicate,
            format!("reference_id '{reference_id}' appears more than once in this message"),
        ));
    }
    if let Err(e) = Timestamp::parse(item.timestamp.as_deref().unwrap_or_default()) {
        return reject(Rejection::new(
            ReasonCode::TimestampInvalid,
            format!("timestamp: {e}"),
        ));
    }
    if let Some(l) = &locale
        && !dci::validate::locale_is_valid(l)
    {
        return reject(Rejection::new(
            ReasonCode::SearchCriteriaInvalid,
            format!("locale '{l}' is not an ISO 639-3 code (three lowercase letters, e.g. eng)"),
        ));
    }
    let plan = match plan(profile, limits, item, store.dialect(), today, access) {
        Ok(plan) => plan,
        Err(rejection) => return reject(rejection),
    };
    let budget = budget.filter(|_| !plan.by_identifier);
    let mut found = run(store, &plan, budget).await?;
    if access.restricts_fields() {
        found.records = found
            .records
            .into_iter()
            .map(|record| visible(&record, access))
            .collect();
    }
    if plan.implicit_page && found.total_count > plan.page_size {
        return reject(Rejection::new(
            ReasonCode::SearchTooManyRecordsFound,
            format!(
                "{} records match; a search without pagination returns at most {}: add pagination or refine the query",
                found.total_count, plan.page_size
            ),
        ));
    }
    Ok(SearchResponseItem {
        reference_id,
        timestamp: Timestamp::now(),
        status: RequestStatus::Succ,
        status_reason_code: None,
        status_reason_message: None,
        data: Some(SearchData {
            version: dci::PROTOCOL_VERSION.to_string(),
            reg_type: Some(profile.reg_type.to_string()),
            reg_event_type: plan.reg_event_type,
            reg_record_type: Some(plan.record_type.name.to_string()),
            reg_records: found.records,
        }),
        pagination: Some(Pagination {
            page_size: plan.page_size,
            page_number: plan.page_number,
            total_count: found.total_count,
        }),
        locale,
    })
}

/// A validated search, ready to run.
struct Plan {
    record_type: &'static RecordType,
    filter: expr::SqlFragment,
    order: Vec<String>,
    page_size: i64,
    page_number: i64,
    implicit_page: bool,
    reg_event_type: Option<String>,
    by_identifier: bool,
}

fn criteria_invalid(message: String) -> Rejection {
    Rejection::new(ReasonCode::SearchCriteriaInvalid, message)
}

/// What `record` shows to a caller with `access`.
fn visible(record: &RawValue, access: &AccessRules) -> Box<RawValue> {
    match serde_json::from_str::<serde_json::Value>(record.get()) {
        Ok(mut value) => {
            access.filter_record(&mut value);
            raw(value.to_string())
        }
        // Records are written by the registry itself; one that does not parse shows nothing.
        Err(_) => raw("{}".into()),
    }
}

fn forbidden(message: String) -> Rejection {
    Rejection::new(ReasonCode::RequestForbidden, message)
}

/// Refuses what `access` does not allow of a search or a subscription: its record type, its
/// query type, its purpose, and any attribute its filter or sort uses that the caller may not
/// see.
pub(crate) fn check_access(
    access: &AccessRules,
    record_type: &RecordType,
    query_type: &str,
    purpose: Option<&str>,
    attributes: &[&expr::Attribute],
) -> Result<(), Rejection> {
    let names = std::iter::once(record_type.name).chain(record_type.aliases.iter().copied());
    if !access.allows_record_type(names) {
        return Err(forbidden(format!(
            "{} records are not available to this participant",
            record_type.name
        )));
    }
    if !access.allows_query_type(query_type) {
        return Err(forbidden(format!(
            "query type '{query_type}' is not available to this participant"
        )));
    }
    access.check_purpose(purpose).map_err(forbidden)?;
    for attribute in attributes {
        let names = std::iter::once(attribute.name).chain(attribute.aliases.iter().copied());
        if access.allows_field(names.clone()) {
            continue;
        }
        return Err(forbidden(if access.allows_match(names) {
            format!(
                "'{}' may only be matched, with '=', in a search pinned by an identifier this participant sees (uin = … AND {} = …); it cannot be compared otherwise or sorted on",
                attribute.name, attribute.name
            )
        } else {
            format!(
                "'{}' is not a field this participant may see, so it cannot be searched or sorted on",
                attribute.name
            )
        }));
    }
    Ok(())
}

fn plan(
    profile: &'static Profile,
    limits: SearchLimits,
    item: &SearchRequestItem,
    dialect: Dialect,
    today: Date,
    access: &AccessRules,
) -> Result<Plan, Rejection> {
    let criteria = item.criteria()?;
    if let Some(reg_type) = &criteria.reg_type
        && !profile.is_reg_type(reg_type)
    {
        return Err(criteria_invalid(format!(
            "reg_type '{reg_type}' is not this registry ({})",
            profile.reg_type
        )));
    }
    let query = criteria.query()?;
    let collection = match &query {
        Query::Expression { expression, .. } => expression
            .get("collection")
            .and_then(|c| c.as_str())
            .map(str::to_string),
        _ => None,
    };
    let asked = criteria
        .response_entity
        .clone()
        .or_else(|| criteria.reg_record_type.clone())
        .or_else(|| criteria.reg_sub_type.clone())
        .or(collection);
    let record_type = match &asked {
        None => &profile.record_types[0],
        Some(name) => profile.record_type(name).ok_or_else(|| {
            let known: Vec<&str> = profile.record_types.iter().map(|t| t.name).collect();
            criteria_invalid(format!(
                "record type '{name}' is not held here (known: {})",
                known.join(", ")
            ))
        })?,
    };
    let is_identifier = matches!(query, Query::IdTypeValue { .. });
    let filter = parse_query(profile, record_type, query)?;
    let schema = &record_type.schema;
    // An identifier lookup names a value the caller already holds: no field is revealed by
    // matching it. Every other attribute a search uses must be visible (or, in a
    // verification, matched only).
    let mut used = if is_identifier {
        Vec::new()
    } else {
        searched_attributes(&filter, record_type, access)
    };
    let mut order = Vec::new();
    for sort in criteria.sort()? {
        let attribute = schema.attribute(&sort.attribute_name).ok_or_else(|| {
            Rejection::new(
                ReasonCode::SortInvalid,
                format!("cannot sort on unknown attribute '{}'", sort.attribute_name),
            )
        })?;
        used.push(attribute);
        order.push(
            expr::order_by(attribute, sort.descending)
                .map_err(|e| Rejection::new(ReasonCode::SortInvalid, e.message))?,
        );
    }
    let purpose = criteria
        .authorize()
        .or_else(|| criteria.consent())
        .and_then(|c| c.purpose)
        .and_then(|p| p.code);
    let query_type = criteria.query_type.as_deref().unwrap_or_default();
    check_access(access, record_type, query_type, purpose.as_deref(), &used)?;
    order.push(record_type.key.to_string());
    let (page_size, page_number, implicit_page) = match criteria.pagination()? {
        Some(p) if p.page_size > limits.max_page_size => {
            return Err(Rejection::new(
                ReasonCode::PaginationInvalid,
                format!(
                    "page_size {} is over this registry's maximum of {}",
                    p.page_size, limits.max_page_size
                ),
            ));
        }
        Some(p) => (p.page_size, p.page_number, false),
        None => (limits.default_page_size, 1, true),
    };
    if page_number
        .checked_mul(page_size)
        .is_none_or(|end| end > i64::from(i32::MAX))
    {
        return Err(Rejection::new(
            ReasonCode::PaginationInvalid,
            "page_number is beyond any result",
        ));
    }
    Ok(Plan {
        record_type,
        filter: expr::lower(&filter, dialect, today, 1),
        order,
        page_size,
        page_number,
        implicit_page,
        reg_event_type: criteria.reg_event_type,
        by_identifier: is_identifier,
    })
}

/// The attributes of `filter` that a caller with `access` must be allowed to see: all of them,
/// but in a verification those it may only match (`match_fields`, see [`trust::access`]). A
/// filter is a verification when its top-level conjunction pins one record with an equality on
/// an identifier of the record type that the caller sees (`uin = "…" AND …`); a match-only
/// attribute is then let through if it appears in that conjunction as equalities only, nowhere
/// else (no range, list, alternative or negation, which would tell more than yes or no).
pub(crate) fn searched_attributes<'s>(
    filter: &Expr<'s>,
    record_type: &RecordType,
    access: &AccessRules,
) -> Vec<&'s expr::Attribute> {
    fn conjuncts_of<'a, 's>(expr: &'a Expr<'s>, out: &mut Vec<&'a Expr<'s>>) {
        match expr {
            Expr::And(children) => children.iter().for_each(|c| conjuncts_of(c, out)),
            other => out.push(other),
        }
    }
    let all = filter.attributes();
    // A predicate list nests its conditions' conjunctions in the list's.
    let mut conjuncts = Vec::new();
    conjuncts_of(filter, &mut conjuncts);
    let equality = |conjunct: &Expr<'s>| match conjunct {
        Expr::Compare {
            attr, op: Op::Eq, ..
        } => Some(*attr),
        _ => None,
    };
    let names = |a: &'s expr::Attribute| std::iter::once(a.name).chain(a.aliases.iter().copied());
    let pinned = conjuncts
        .iter()
        .copied()
        .filter_map(equality)
        .any(|attribute| {
            record_type
                .identifiers
                .iter()
                .any(|(_, name)| *name == attribute.name)
                && access.allows_field(names(attribute))
        });
    if !pinned {
        return all;
    }
    let elsewhere: Vec<&expr::Attribute> = conjuncts
        .iter()
        .filter(|conjunct| equality(conjunct).is_none())
        .flat_map(|conjunct| conjunct.attributes())
        .collect();
    all.into_iter()
        .filter(|attribute| {
            access.allows_field(names(attribute))
                || !access.allows_match(names(attribute))
                || elsewhere.iter().any(|e| std::ptr::eq(*e, *attribute))
        })
        .collect()
}

/// The filter of a query over `record_type`'s attributes; unusable queries are refused with
/// `rjct.search_criteria.invalid`.
pub(crate) fn parse_query(
    profile: &'static Profile,
    record_type: &'static RecordType,
    query: Query,
) -> Result<Expr<'static>, Rejection> {
    let schema = &record_type.schema;
    let expr_error = |e: expr::Error| criteria_invalid(e.message);
    Ok(match query {
        Query::IdTypeValue { id_type, value } => {
            let attribute = record_type.identifier(&id_type).ok_or_else(|| {
                criteria_invalid(format!(
                    "identifier type '{id_type}' is not held by the {} registry for {} records (it holds {})",
                    profile.role,
                    record_type.name,
                    record_type.identifier_types().join(", ")
                ))
            })?;
            // The identifier's value is coerced like any operand: through the same parser.
            let mut pair = serde_json::Map::new();
            pair.insert(attribute.name.to_string(), value);
            expr::parse_nosql(&serde_json::Value::Object(pair), schema).map_err(expr_error)?
        }
        Query::Expression {
            language,
            expression,
        } => {
            if language.to_ascii_lowercase().contains("graphql") {
                return Err(criteria_invalid(format!(
                    "expression language '{language}' is not supported; send a NoSql document or a text expression"
                )));
            }
            match &expression {
                serde_json::Value::String(text) => expr::parse_text(text, schema),
                document => expr::parse_nosql(document, schema),
            }
            .map_err(expr_error)?
        }
        Query::Predicate(list) => expr::parse_predicates(&list, schema).map_err(expr_error)?,
    })
}

/// The record of `record_type` whose key is `key`, as a search returns it.
pub(crate) async fn record_by_key(
    store: &dyn Store,
    record_type: &'static RecordType,
    key: i64,
) -> Result<Option<Box<RawValue>>, StoreError> {
    let plan = Plan {
        record_type,
        filter: expr::SqlFragment {
            sql: format!(
                "{} = {}",
                record_type.key,
                store::placeholder(store.dialect(), 1)
            ),
            params: vec![SqlValue::Integer(key)],
        },
        order: vec![record_type.key.to_string()],
        page_size: 1,
        page_number: 1,
        implicit_page: false,
        reg_event_type: None,
        by_identifier: true,
    };
    Ok(run(store, &plan, None).await?.records.into_iter().next())
}

struct Found {
    records: Vec<Box<RawValue>>,
    total_count: i64,
}

async fn run(
    store: &dyn Store,
    plan: &Plan,
    budget: Option<Duration>,
) -> Result<Found, StoreError> {
    let record_type = plan.record_type;
    let filter = &plan.filter;
    let mut columns = vec![ColumnType::Text];
    let mut select = vec![record_type.doc];
    if let Some(members) = &record_type.members {
        select.extend([members.group_key, members.head_key]);
        columns.extend([ColumnType::Text, ColumnType::Text]);
    }
    let offset = (plan.page_number - 1) * plan.page_size;
    // The page's keys first, then their rows: the matches are sorted and skipped by key, from
    // an index alone when one covers the filter and the order, and only the page's rows are
    // read in full (a record's JSON is most of its row). One row more than the page: when it
    // does not come, the page holds the last match and the total is known without counting.
    let (from, key, order) = (record_type.from, record_type.key, plan.order.join(", "));
    let page_sql = format!(
        "SELECT {} FROM {from} WHERE {key} IN (SELECT {key} FROM {from} WHERE {} \
         ORDER BY {order} LIMIT {} OFFSET {offset}) ORDER BY {order}",
        select.join(", "),
        filter.sql,
        plan.page_size + 1,
    );
    let mut page = store
        .read(vec![
            Statement::new(page_sql, filter.params.clone(), &columns).within(budget),
        ])
        .await?
        .remove(0);
    let beyond = page.len() as i64 > plan.page_size;
    page.truncate(plan.page_size as usize);
    // A page with the last match (and not past it) tells the total: no count query needed.
    let total_count = if !beyond && (plan.page_number == 1 || !page.is_empty()) {
        offset + page.len() as i64
    } else {
        let count_sql = format!(
            "SELECT count(*) FROM {} WHERE {}",
            record_type.from, filter.sql
        );
        let rows = store
            .read(vec![
                Statement::new(count_sql, filter.params.clone(), &[ColumnType::Integer])
                    .within(budget),
            ])
            .await?;
        match rows.first().and_then(|r| r.first()).and_then(|r| r.first()) {
            Some(Some(SqlValue::Integer(n))) => *n,
            _ => return Err(StoreError::Decode("count(*) returned no number".into())),
        }
    };
    let records = match &record_type.members {
        None => page
            .into_iter()
            .map(|mut row| raw(take_text(&mut row, 0)))
            .collect(),
        Some(members) => assemble_groups(store, members, page, budget).await?,
    };
    Ok(Found {
        records,
        total_count,
    })
}

/// The text in column `i` of `row`; empty when it is NULL or not text.
pub(crate) fn text_cell(row: &[store::Cell], i: usize) -> String {
    match row.get(i) {
        Some(Some(SqlValue::Text(s))) => s.clone(),
        _ => String::new(),
    }
}

/// The text in column `i` of `row`, taken out of it; empty when it is NULL or not text.
fn take_text(row: &mut [store::Cell], i: usize) -> String {
    match row.get_mut(i).map(Option::take) {
        Some(Some(SqlValue::Text(s))) => s,
        _ => String::new(),
    }
}

fn raw(json: String) -> Box<RawValue> {
    RawValue::from_string(json)
        .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
}

/// Places each group's members into its record: the head in `group_head_info`, everyone in
/// `member_list`.
async fn assemble_groups(
    store: &dyn Store,
    members: &crate::profile::Members,
    page: Vec<store::Row>,
    budget: Option<Duration>,
) -> Result<Vec<Box<RawValue>>, StoreError> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=page.len())
        .map(|i| store::placeholder(store.dialect(), i))
        .collect();
    let ids: Vec<SqlValue> = page
        .iter()
        .map(|row| SqlValue::Text(text_cell(row, 1)))
        .collect();
    let sql = format!(
        "{}{}) ORDER BY {}",
        members.select,
        placeholders.join(", "),
        members.order
    );
    let rows = store
        .read(vec![
            Statement::new(
                sql,
                ids,
                &[ColumnType::Text, ColumnType::Text, ColumnType::Text],
            )
            .within(budget),
        ])
        .await?
        .remove(0);
    let mut by_group: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in rows {
        by_group
            .entry(text_cell(&row, 0))
            .or_default()
            .push((text_cell(&row, 1), text_cell(&row, 2)));
    }
    Ok(page
        .iter()
        .map(|row| {
            let doc = text_cell(row, 0);
            let head = text_cell(row, 2);
            let list = by_group.remove(&text_cell(row, 1)).unwrap_or_default();
            let body = doc.trim_end().strip_suffix('}').unwrap_or(&doc);
            let mut json = String::with_capacity(
                doc.len() + list.iter().map(|(_, d)| d.len() + 1).sum::<usize>() * 2,
            );
            json.push_str(body);
            if let Some((_, head_doc)) = list.iter().find(|(id, _)| *id == head) {
                json.push_str(",\"group_head_info\":");
                json.push_str(head_doc);
            }
            json.push_str(",\"member_list\":[");
            for (i, (_, member)) in list.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(member);
            }
            json.push_str("]}");
            raw(json)
        })
        .collect())
}
