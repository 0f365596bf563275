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

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use dci::disability::{DisabledRequest, DisabledResponse, DisabledResponseItem};
use dci::records::dr::PwdPerson;
use dci::search::SearchResponse;
use dci::{RequestStatus, Timestamp};
use serde_json::value::RawValue;

use crate::Registry;
use crate::audit::AuditNote;
use crate::criteria::{on_search, read, records, search, status_of};
use crate::http::{Parsed, new_id, store_failure};

/// The DR API's sync endpoints.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new()
        .route("/registry/sync/disabled", post(disabled))
        .route("/registry/sync/get-disability-details", post(details))
        .route("/registry/sync/get-disability-support", post(support))
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
    let (Parsed { header, message }, access) =
        match read::<DisabledRequest>(&registry, request).await {
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
                && records::<PwdPerson>(&item)
                    .iter()
                    .any(|p| certified(p, &day));
            DisabledResponseItem {
                answer: status_of(&item),
                disabled_status: yes.into(),
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
    let (Parsed { header, message }, access) =
        match read::<DisabledRequest>(registry, request).await {
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
        let projected: Vec<Box<RawValue>> = records::<PwdPerson>(item)
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
