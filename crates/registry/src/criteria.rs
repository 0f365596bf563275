//! The criteria endpoints of the registries' own APIs (the DR's `disabled`, details and
//! support, the IBR's `enrolled`): each criteria is answered as a search item of the
//! registry's default record type, with the search's codes (a bad attribute is
//! `rjct.search_criteria.invalid`, more matches than a page without `pagination`
//! `rjct.search.too_many_records_found` ...). Headers are checked as a search's (`action`
//! `search`); answers carry `on-search`.

use std::collections::HashSet;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use dci::criteria::Criteria;
use dci::search::{SearchRequestItem, SearchResponseItem};
use dci::{Action, MsgHeader, Rejection, Timestamp};
use serde::de::DeserializeOwned;
use time::Date;
use trust::access::AccessRules;

use crate::Registry;
use crate::http::{HasTransaction, Parsed, error_ack, read_request};

/// A request made of criteria.
pub(crate) trait CriteriaRequest: DeserializeOwned + HasTransaction {
    /// The name of its list of criteria (`disabled_criteria` ...).
    const FIELD: &'static str;
    /// Its criteria.
    fn criteria(&self) -> &[Criteria];
}

impl CriteriaRequest for dci::disability::DisabledRequest {
    const FIELD: &'static str = "disabled_criteria";
    fn criteria(&self) -> &[Criteria] {
        &self.disabled_criteria
    }
}

impl CriteriaRequest for dci::ibr::EnrolledRequest {
    const FIELD: &'static str = "enrolled_criteria";
    fn criteria(&self) -> &[Criteria] {
        &self.enrolled_criteria
    }
}

/// A request read and its header checked, or the answer refusing it.
///
/// These endpoints answer from whole records (a status, the details, the programmes), so a
/// participant whose access rules restrict fields is refused them (`err.request.forbidden`):
/// it may use `/registry/sync/search`, which filters records field by field.
pub(crate) async fn read<M: CriteriaRequest>(
    registry: &Registry,
    request: Request,
) -> Result<(Parsed<M>, AccessRules), Response> {
    let (parsed, _) = read_request::<M>(registry, request, Some(Action::OnSearch)).await?;
    let access = registry.access_of(&parsed.header.sender_id);
    if access.restricts_fields() {
        return Err(crate::auth::refuse(
            dci::ReasonCode::RequestForbidden,
            "this endpoint answers from whole records; with field restrictions, use /registry/sync/search".into(),
        ));
    }
    let count = parsed.message.criteria().len();
    if count == 0 {
        return Err(error_ack(Rejection::new(
            dci::ReasonCode::RequestBad,
            format!("message.{} is empty", M::FIELD),
        )));
    }
    dci::validate::request_header(
        &parsed.header,
        Action::Search,
        count,
        &registry.config.header,
        Timestamp::now(),
    )
    .map_err(|rejection| registry.header_rejection(&parsed.header, Action::OnSearch, rejection))?;
    Ok((parsed, access))
}

/// Each criteria of `message` answered as a search item of the registry's default record
/// type; `paged` keeps the criteria's own pagination, otherwise the search's default page
/// applies.
pub(crate) async fn search<M: CriteriaRequest>(
    registry: &Registry,
    message: &M,
    paged: bool,
    today: Date,
    access: &AccessRules,
) -> Result<Vec<SearchResponseItem>, store::StoreError> {
    let all = message.criteria();
    let single = all.len() == 1;
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(all.len());
    for (i, criteria) in all.iter().enumerate() {
        let reference_id = criteria.reference_id.clone().unwrap_or_else(|| {
            if single {
                message.transaction_id().to_string()
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
                registry.search_store(),
                registry.config.search,
                &item,
                &mut seen,
                today,
                access,
                None,
            )
            .await?,
        );
    }
    Ok(items)
}

/// The records of a successful item, read as `T` (those that do not read are skipped).
pub(crate) fn records<T: DeserializeOwned>(item: &SearchResponseItem) -> Vec<T> {
    item.data
        .iter()
        .flat_map(|data| &data.reg_records)
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect()
}

/// The status part of the answer to one criteria.
pub(crate) fn status_of(item: &SearchResponseItem) -> dci::criteria::ItemStatus {
    dci::criteria::ItemStatus {
        reference_id: item.reference_id.clone(),
        timestamp: Timestamp::now(),
        status: item.status,
        status_reason_code: item.status_reason_code,
        status_reason_message: item.status_reason_message.clone(),
    }
}

/// The signed `on-search` envelope answering `header` with `response`, `completed` items
/// done; HTTP 200.
pub(crate) fn on_search<M: serde::Serialize>(
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
