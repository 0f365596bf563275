//! The audit trail of the request path: every request to a DCI or registrar endpoint, and
//! every async answer sent back, leaves an entry in the store's hash chain
//! ([`store::audit`]) before the answer leaves (no disclosure without its entry).
//!
//! Handlers describe what they did in an [`AuditNote`] carried in the response's extensions;
//! the guard in front of the endpoints ([`crate::auth::guard`]) adds who called, the path, the
//! HTTP status and the time taken, and appends the entry. An answer whose entry cannot be
//! written is replaced by `err.service.unavailable`.

use std::time::Instant;

use axum::response::Response;
use dci::search::SearchResponseItem;
use dci::{MsgHeader, RequestStatus};
use serde_json::Value;

/// What a handler did, for the audit entry of its request.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// The request's header, when it was read.
    pub participant: Option<String>,
    /// The DCI action.
    pub action: Option<String>,
    /// The request's `message_id`.
    pub message_id: Option<String>,
    /// The request's `transaction_id`.
    pub transaction_id: Option<String>,
    /// The correlation id given to the exchange.
    pub correlation_id: Option<String>,
    /// `succ`, `ack`, or the DCI code of the refusal.
    pub outcome: String,
    /// The records disclosed, as `TYPE:VALUE` identifier references.
    pub disclosed: Vec<String>,
}

impl AuditNote {
    /// A note about the request with `header`.
    pub fn of(header: &MsgHeader, outcome: impl Into<String>) -> AuditNote {
        AuditNote {
            participant: Some(header.sender_id.clone()).filter(|s| !s.is_empty()),
            action: Some(header.action.clone()),
            message_id: Some(header.message_id.clone()),
            outcome: outcome.into(),
            ..AuditNote::default()
        }
    }

    /// A note with just an outcome (a refusal before the header was read).
    pub fn outcome(outcome: impl Into<String>) -> AuditNote {
        AuditNote {
            outcome: outcome.into(),
            ..AuditNote::default()
        }
    }

    /// The same note with a transaction id.
    pub fn transaction(mut self, transaction_id: &str) -> AuditNote {
        self.transaction_id = Some(transaction_id.to_owned());
        self
    }

    /// The same note with a correlation id.
    pub fn correlation(mut self, correlation_id: &str) -> AuditNote {
        self.correlation_id = Some(correlation_id.to_owned());
        self
    }

    /// The same note with the records of answered search items as disclosed.
    pub fn disclosing(mut self, items: &[SearchResponseItem]) -> AuditNote {
        self.disclosed = disclosed(items);
        self
    }

    /// The same note with the records found anywhere in `answer` (a stored answer that txn
    /// status returns) as disclosed.
    pub fn disclosing_in(mut self, answer: &Value) -> AuditNote {
        self.disclosed = references(answer);
        self
    }

    /// Puts the note on `response`.
    pub fn on(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// The identifiers of every record the answered items carry (group members included): each
/// object with `identifier_type` and `identifier_value` gives `TYPE:VALUE`, and a `uin` member
/// `UIN:value`.
pub fn disclosed(items: &[SearchResponseItem]) -> Vec<String> {
    let mut refs = Vec::new();
    for item in items.iter().filter(|i| i.status == RequestStatus::Succ) {
        let Some(data) = &item.data else { continue };
        for record in &data.reg_records {
            if let Ok(value) = serde_json::from_str::<Value>(record.get()) {
                collect(&value, &mut refs);
            }
        }
    }
    refs.sort();
    refs.dedup();
    refs
}

/// The identifier references of one record, as [`disclosed`] finds them.
pub fn references(record: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    collect(record, &mut refs);
    refs.sort();
    refs.dedup();
    refs
}

fn collect(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(kind)), Some(Value::String(id))) =
                (map.get("identifier_type"), map.get("identifier_value"))
            {
                refs.push(format!("{kind}:{id}"));
            }
            if let Some(Value::String(uin)) = map.get("uin") {
                refs.push(format!("UIN:{uin}"));
            }
            map.values().for_each(|v| collect(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, refs)),
        _ => {}
    }
}

/// Appends the entry of a request to `endpoint` that `caller` (if authenticated) made at
/// `started`, from the note on `response`; answers `err.service.unavailable` instead when the
/// entry cannot be written.
pub async fn record(
    registry: &crate::Registry,
    endpoint: &str,
    caller: Option<&str>,
    started: (Instant, time::OffsetDateTime),
    response: Response,
) -> Response {
    let note = response
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_else(|| AuditNote::outcome(format!("http.{}", response.status().as_u16())));
    let participant = caller.map(str::to_owned).or(note.participant);
    let known = participant
        .as_deref()
        .filter(|p| registry.participants.get(p).is_some());
    registry.metrics.observe(
        known.unwrap_or("unknown"),
        endpoint,
        &note.outcome,
        started.0.elapsed(),
    );
    let entry = store::audit::Entry {
        at: started.1,
        participant,
        endpoint: endpoint.to_owned(),
        action: note.action,
        message_id: note.message_id,
        transaction_id: note.transaction_id,
        correlation_id: note.correlation_id,
        outcome: note.outcome,
        status: response.status().as_u16(),
        duration: started.0.elapsed(),
        disclosed: note.disclosed,
    };
    match registry.audit.append(entry).await {
        Ok(_) => response,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the audit entry; the answer is withheld");
            crate::auth::refuse(
                dci::ReasonCode::ServiceUnavailable,
                "the service cannot record this exchange; try again".into(),
            )
        }
    }
}
