//! How a payments endpoint reads its request and answers, on the engine's pieces: the body,
//! envelope, signature and token checks of [`registry::http::read_request`], the header
//! checks of [`dci::validate::request_header`], the durable acceptance of async requests and
//! their ACK ([`registry::http::accept_and_ack`]).

use axum::body::Bytes;
use axum::extract::Request;
use axum::response::Response;
use dci::{Action, MsgHeader, Rejection, Timestamp};
use registry::exchange::{Answered, Incoming};
use registry::http::{HasTransaction, Parsed};
use serde::de::DeserializeOwned;

use crate::Pay;

/// The action of `header`, with the value the standard's YAML declares by mistake for this
/// endpoint (`sic`, dci-spec §11) read as the right one.
fn correct_action(header: &mut MsgHeader, action: Action, sic: &[&str]) {
    if sic.contains(&header.action.as_str()) {
        header.action = action.as_str().to_string();
    }
}

/// A sync request with `action` (the standard's mistaken `sic` actions accepted) whose
/// message has `items(message)` items, checked; or the answer refusing it.
pub(crate) async fn read_sync<M: DeserializeOwned + HasTransaction>(
    pay: &Pay,
    request: Request,
    (action, sic): (Action, &[&str]),
    items: impl Fn(&M) -> usize,
) -> Result<Parsed<M>, Response> {
    let engine = &pay.engine;
    let (mut parsed, _) =
        registry::http::read_request::<M>(engine, request, Some(action.answer())).await?;
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
    Ok(parsed)
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
