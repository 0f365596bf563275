//! The DR API's own sync endpoints (dci-spec §4.4 #8-#10, §5.9), answered from the same
//! search as `/registry/sync/search`:
//!
//! - `POST /registry/sync/disabled`: per criteria, `disabled_status` `yes` when a person it
//!   matches holds a valid certificate (status Approved, not past its `expiry_date`), `no`
//!   otherwise (not registered, pending, rejected, expired).
//! - `POST /registry/sync/get-disability-details`: the matching persons' `DisabilityInfo`
//!   (their difficulties and impairments, with their certification).
//! - `POST /registry/sync/get-disability-support`: the matching persons' `DisabilitySupport`.
//!
//! Each criteria is answered on its own, with the search's codes (a bad attribute is
//! `rjct.search_criteria.invalid`, more matches than a page without `pagination`
//! `rjct.search.too_many_records_found` ...). Headers are checked as a search's (`action`
//! `search`); answers carry `on-search`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use dci::disability::{DisabledRequest, DisabledResponse, DisabledResponseItem, DisabledStatus};
use dci::records::dr::PwdPerson;
use dci::search::{SearchRequestItem, SearchResponse, SearchResponseItem};
use dci::{Action, MsgHeader, Rejection, RequestStatus, Timestamp};
use serde_json::value::RawValue;
use time::Date;

use crate::Registry;
use crate::audit::AuditNote;
use crate::http::{Parsed, error_ack, new_id, read_request, store_failure};
use trust::access::AccessRules;

/// The DR API's sync endpoints.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new()
        .route("/registry/sync/disabled", post(disabled))
        .route("/registry/sync/get-disability-details", post(details))
        .route("/registry/sync/get-disability-support", post(support))
}

/// A request read and its header checked, or the answer refusing it.
///
/// These endpoints answer from whole records (a status, the details, the support), so a
/// participant whose access rules restrict fields is refused them (`err.request.forbidden`):
/// it may use `/registry/sync/search`, which filters records field by field.
async fn read(
    registry: &Registry,
    request: Request,
) -> Result<(Parsed<DisabledRequest>, AccessRules), Response> {
    let (parsed, _) =
        read_request::<DisabledRequest>(registry, request, Some(Action::OnSearch)).await?;
    let access = registry.access_of(&parsed.header.sender_id);
    if access.restricts_fields() {
        return Err(crate::auth::refuse(
            dci::ReasonCode::RequestForbidden,
            "this endpoint answers from whole records; with field restrictions, use /registry/sync/search".into(),
        ));
    }
    if parsed.message.disabled_criteria.is_empty() {
        return Err(error_ack(Rejection::new(
            dci::ReasonCode::RequestBad,
            "message.disabled_criteria is empty",
        )));
    }
    dci::validate::request_header(
        &parsed.header,
        Action::Search,
        parsed.message.disabled_criteria.len(),
        &registry.config.header,
        Timestamp::now(),
    )
    .map_err(|rejection| registry.header_rejection(&parsed.header, Action::OnSearch, rejection))?;
    Ok((parsed, access))
}

/// Each criteria of `message` answered as a search item of the registry's persons; `paged`
/// keeps the criteria's own pagination (details and support), otherwise the search's default
/// page applies.
async fn search(
    registry: &Registry,
    message: &DisabledRequest,
    paged: bool,
    today: Date,
    access: &AccessRules,
) -> Result<Vec<SearchResponseItem>, store::StoreError> {
    let single = message.disabled_criteria.len() == 1;
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(message.disabled_criteria.len());
    for (i, criteria) in message.disabled_criteria.iter().enumerate() {
        let reference_id = criteria.reference_id.clone().unwrap_or_else(|| {
            if single {
                message.transaction_id.clone()
            } else {
                (i + 1).to_string()
            }
        });
        let mut criteria = criteria.clone();
        if !paged {
            criteria.pagination = None;
        }
        let search_criteria = match criteria.search_criteria() {
            Ok(search_criteria) => {
                serde_json::to_value(search_criteria).expect("criteria serialize")
            }
            Err(rejection) => {
                items.push(SearchResponseItem::rejected(
                    reference_id,
                    rejection,
                    criteria.locale,
                ));
                continue;
            }
        };
        let item = SearchRequestItem {
            reference_id: Some(reference_id),
            timestamp: Some(Timestamp::now().to_string()),
            search_criteria: Some(search_criteria),
            locale: criteria.locale,
        };
        items.push(
            crate::search::answer(
                registry.profile,
                registry.store.as_ref(),
                registry.config.search,
                &item,
                &mut seen,
                today,
                access,
            )
            .await?,
        );
    }
    Ok(items)
}

/// The persons of a successful item's records.
fn persons(item: &SearchResponseItem) -> Vec<PwdPerson> {
    item.data
        .iter()
        .flat_map(|data| &data.reg_records)
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect()
}

/// Whether `person` holds a certificate valid on `today`.
fn certified(person: &PwdPerson, today: &str) -> bool {
    person.disability_status.as_deref() == Some(synth::disability::APPROVED)
        && person
            .expiry_date
            .as_deref()
            .is_none_or(|expiry| expiry >= today)
}

/// `POST /registry/sync/disabled`.
async fn disabled(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let (Parsed { header, message }, access) = match read(&registry, request).await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let today = Timestamp::now().0.date();
    let items = match search(&registry, &message, false, today, &access).await {
        Ok(items) => items,
        Err(e) => return store_failure(&e),
    };
    let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .disclosing(&items);
    let day = crate::rows::ymd(today);
    let answers: Vec<DisabledResponseItem> = items
        .into_iter()
        .map(|item| {
            let yes = item.status == RequestStatus::Succ
                && persons(&item).iter().any(|p| certified(p, &day));
            DisabledResponseItem {
                disabled_status: if yes {
                    DisabledStatus::Yes
                } else {
                    DisabledStatus::No
                },
                reference_id: item.reference_id,
                timestamp: Timestamp::now(),
                status: item.status,
                status_reason_code: item.status_reason_code,
                status_reason_message: item.status_reason_message,
            }
        })
        .collect();
    let completed = answers.len();
    let response = DisabledResponse {
        transaction_id: message.transaction_id,
        correlation_id: new_id(),
        disabled_response: answers,
    };
    note.on(on_search(&registry, &header, completed, response))
}

/// `POST /registry/sync/get-disability-details`.
async fn details(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    projected(&registry, request, "DisabilityInfo", |person| {
        serde_json::to_string(&person.info())
    })
    .await
}

/// `POST /registry/sync/get-disability-support`.
async fn support(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    projected(&registry, request, "DisabilitySupport", |person| {
        serde_json::to_string(&person.support())
    })
    .await
}

/// Answers with the matching persons, each as `project` shows them (records of type
/// `record_type`).
async fn projected(
    registry: &Registry,
    request: Request,
    record_type: &str,
    project: fn(&PwdPerson) -> serde_json::Result<String>,
) -> Response {
    let (Parsed { header, message }, access) = match read(registry, request).await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let today = Timestamp::now().0.date();
    let mut items = match search(registry, &message, true, today, &access).await {
        Ok(items) => items,
        Err(e) => return store_failure(&e),
    };
    let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .disclosing(&items);
    for item in &mut items {
        let projected: Vec<Box<RawValue>> = persons(item)
            .iter()
            .filter_map(|person| project(person).ok())
            .filter_map(|json| RawValue::from_string(json).ok())
            .collect();
        if let Some(data) = &mut item.data {
            data.reg_event_type = None;
            data.reg_record_type = Some(record_type.to_string());
            data.reg_records = projected;
        }
    }
    let completed = items.len();
    let response = SearchResponse {
        transaction_id: message.transaction_id,
        correlation_id: new_id(),
        search_response: items,
    };
    note.on(on_search(registry, &header, completed, response))
}

/// The signed `on-search` envelope answering `header` with `response`, `completed` items
/// done; HTTP 200.
fn on_search<M: serde::Serialize>(
    registry: &Registry,
    header: &MsgHeader,
    completed: usize,
    response: M,
) -> Response {
    registry.reply(
        StatusCode::OK,
        &registry.response_envelope(header, Action::OnSearch, completed, response),
    )
}
