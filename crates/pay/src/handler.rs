//! How a payments endpoint reads its request and answers, on the engine's pieces: the body,
//! envelope, signature and token checks of [`registry::http::read_request`], the header
//! checks of [`dci::validate::request_header`], the durable acceptance of async requests and
//! their ACK ([`registry::http::accept_and_ack`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::Response;
use dci::txn::{TxnLookup, TxnStatusRequest, TxnStatusResponse};
use dci::{Action, MsgHeader, Rejection, Timestamp};
use registry::audit::AuditNote;
use registry::exchange::{Answered, Incoming};
use registry::http::{HasTransaction, Parsed};
use serde::de::DeserializeOwned;
use store::StoreError;

use crate::Pay;

/// The action of `header`, with the value the standard's YAML declares by mistake for this
/// endpoint (`sic`, dci-spec §11) read as the right one.
fn correct_action(header: &mut MsgHeader, action: Action, sic: &[&str]) {
    if sic.contains(&header.action.as_str()) {
        header.action = action.as_str().to_string();
    }
}

/// A sync request with `action` (the standard's mistaken `sic` actions accepted) whose
/// message has `items(message)` items, checked, and its body; or the answer refusing it. A
/// signed request seen before is refused as a replay ([`read_durable`] leaves that to the
/// store).
pub(crate) async fn read_sync<M: DeserializeOwned + HasTransaction>(
    pay: &Pay,
    request: Request,
    (action, sic): (Action, &[&str]),
    items: impl Fn(&M) -> usize,
) -> Result<(Parsed<M>, Bytes), Response> {
    read_checked(pay, request, (action, sic), items, Some(action.answer())).await
}

/// [`read_sync`] for a request the store deduplicates on its `message_id` (a sync disburse,
/// kept in the inbox): a retry is not refused here, it gets the first request's answer.
pub(crate) async fn read_durable<M: DeserializeOwned + HasTransaction>(
    pay: &Pay,
    request: Request,
    (action, sic): (Action, &[&str]),
    items: impl Fn(&M) -> usize,
) -> Result<(Parsed<M>, Bytes), Response> {
    read_checked(pay, request, (action, sic), items, None).await
}

async fn read_checked<M: DeserializeOwned + HasTransaction>(
    pay: &Pay,
    request: Request,
    (action, sic): (Action, &[&str]),
    items: impl Fn(&M) -> usize,
    replays: Option<Action>,
) -> Result<(Parsed<M>, Bytes), Response> {
    let engine = &pay.engine;
    let (mut parsed, body) = registry::http::read_request::<M>(engine, request, replays).await?;
    correct_action(&mut parsed.header, action, sic);
    let count = items(&parsed.message);
    if let Err(rejection) = dci::validate::request_header(
        &parsed.header,
        action,
        count,
        &engine.config.header,
        Timestamp::now(),
    ) {
        return Err(engine.header_rejection(&parsed.header, action.answer(), rejection));
    }
    Ok((parsed, body))
}

/// An async request, read and acknowledged-to-be: its callback URL and correlation id, and the
/// header-level rejection its callback will carry, if any.
pub(crate) struct AsyncRequest<M> {
    pub(crate) action: Action,
    pub(crate) header: MsgHeader,
    pub(crate) message: M,
    pub(crate) body: Bytes,
    pub(crate) callback: String,
    pub(crate) correlation_id: String,
    /// A `rjct.*` reason of the header: the whole message is refused in its callback.
    pub(crate) refused: Option<Rejection>,
}

/// An async request with `action`, checked as the engine checks async requests (an `err.*`
/// is answered at once, with the ERR acknowledgement); or that answer.
pub(crate) async fn read_async<M: DeserializeOwned + HasTransaction>(
    pay: &Pay,
    request: Request,
    action: Action,
    items: impl Fn(&M) -> usize,
) -> Result<AsyncRequest<M>, Response> {
    let engine = &pay.engine;
    let (Parsed { header, message }, body) =
        registry::http::read_request::<M>(engine, request, None).await?;
    let count = items(&message);
    let callback = registry::http::async_prelude(engine, &header, action, count).await?;
    let refused = dci::validate::request_header(
        &header,
        action,
        count,
        &engine.config.header,
        Timestamp::now(),
    )
    .err();
    Ok(AsyncRequest {
        action,
        header,
        message,
        body,
        callback,
        correlation_id: registry::http::new_id(),
        refused,
    })
}

impl<M: HasTransaction> AsyncRequest<M> {
    /// The answer refusing the whole message, in its callback.
    pub(crate) async fn refusal(&self, pay: &Pay, rejection: Rejection) -> Answered {
        pay.engine
            .answered::<()>(
                &self.header,
                self.action.answer(),
                (&self.correlation_id, &self.callback),
                Err(rejection),
                Vec::new(),
            )
            .await
    }

    /// Stores the request with `changes` and its answer, if it has one now, and acknowledges
    /// it (a retry with the same `message_id` gets the first ACK).
    pub(crate) async fn accept(
        self,
        pay: &Pay,
        reference_ids: Vec<String>,
        changes: Vec<store::Statement>,
        answered: Option<Answered>,
    ) -> Response {
        let incoming = Incoming {
            header: &self.header,
            action: self.action,
            transaction_id: self.message.transaction_id(),
            reference_ids,
            callback_url: &self.callback,
            body: &self.body,
            changes,
        };
        registry::http::accept_and_ack(&pay.engine, incoming, self.correlation_id, Ok(answered))
            .await
    }
}

/// What txn status reports of a transaction answered as it was accepted (a mapper operation,
/// a disburse search): the response of its callback; when the whole message was refused (or
/// is not answered yet), its state and reason.
pub(crate) fn stored_answer(found: &registry::exchange::Transaction) -> serde_json::Value {
    let stored: serde_json::Value = found
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    if found.status == dci::RequestStatus::Succ.as_str() {
        return stored;
    }
    let request: serde_json::Value = serde_json::from_str(&found.request).unwrap_or_default();
    let header = &stored["header"];
    serde_json::json!({
        "transaction_id": request["message"]["transaction_id"],
        "correlation_id": found.correlation_id,
        "status": found.status,
        "status_reason_code": header["status_reason_code"],
        "status_reason_message": header["status_reason_message"],
    })
}

/// What txn status reports, per family of endpoints (the mapper's, disbursement's).
pub(crate) trait TxnStatusOf: Send + Sync + 'static {
    /// The state of the earlier transaction of `sender_id` that `request` names, or why it
    /// cannot be told (an unknown transaction: `err.request.not_found`).
    fn status(
        pay: &Pay,
        sender_id: &str,
        request: &TxnStatusRequest,
        lookup: TxnLookup,
    ) -> impl std::future::Future<Output = Result<Result<TxnStatusResponse, Rejection>, StoreError>> + Send;
}

/// The state `request` of `sender_id` asks for, as `S` reports it.
async fn status_of<S: TxnStatusOf>(
    pay: &Pay,
    sender_id: &str,
    request: &TxnStatusRequest,
) -> Result<Result<TxnStatusResponse, Rejection>, StoreError> {
    match request.txnstatus_request.lookup() {
        Ok(lookup) => S::status(pay, sender_id, request, lookup).await,
        Err(rejection) => Ok(Err(rejection)),
    }
}

/// `POST …/sync/txn/status`.
pub(crate) async fn sync_txn_status<S: TxnStatusOf>(
    State(pay): State<Arc<Pay>>,
    request: Request,
) -> Response {
    let (parsed, _) =
        match read_sync::<TxnStatusRequest>(&pay, request, (Action::TxnStatus, &[]), |_| 1).await {
            Ok(read) => read,
            Err(response) => return response,
        };
    let (header, message) = (parsed.header, parsed.message);
    match status_of::<S>(&pay, &header.sender_id, &message).await {
        Ok(Ok(response)) => {
            let note = AuditNote::of(&header, dci::RequestStatus::Succ.as_str())
                .transaction(&message.transaction_id);
            pay.engine
                .sync_answer(&header, Action::TxnOnStatus, 1, response, note)
                .await
        }
        Ok(Err(rejection)) => registry::http::error_ack(rejection),
        Err(e) => registry::http::store_failure(&e),
    }
}

/// `POST …/txn/status`: answered as it is accepted, in a `txn-on-status` callback; an unknown
/// transaction is refused at once, as the sync endpoint does.
pub(crate) async fn async_txn_status<S: TxnStatusOf>(
    State(pay): State<Arc<Pay>>,
    request: Request,
) -> Response {
    let request =
        match read_async::<TxnStatusRequest>(&pay, request, Action::TxnStatus, |_| 1).await {
            Ok(request) => request,
            Err(response) => return response,
        };
    let answer = match &request.refused {
        Some(rejection) => Err(rejection.clone()),
        None => match status_of::<S>(&pay, &request.header.sender_id, &request.message).await {
            Ok(Ok(response)) => Ok((1, response)),
            Ok(Err(rejection)) => return registry::http::error_ack(rejection),
            Err(e) => return registry::http::store_failure(&e),
        },
    };
    let answered = pay
        .engine
        .answered(
            &request.header,
            Action::TxnOnStatus,
            (&request.correlation_id, &request.callback),
            answer,
            Vec::new(),
        )
        .await;
    request
        .accept(&pay, Vec::new(), Vec::new(), Some(answered))
        .await
}
