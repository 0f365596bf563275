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
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
/// `UIN:value`. Each record is read from its JSON text, without building a `Value`.
pub fn disclosed(items: &[SearchResponseItem]) -> Vec<String> {
    let mut refs = Vec::new();
    for item in items.iter().filter(|i| i.status == RequestStatus::Succ) {
        let Some(data) = &item.data else { continue };
        for record in &data.reg_records {
            let mut found = Vec::new();
            let mut reader = serde_json::Deserializer::from_str(record.get());
            // A record that does not read discloses nothing (as when it was parsed whole).
            if Refs(&mut found, false).deserialize(&mut reader).is_ok() && reader.end().is_ok() {
                refs.append(&mut found);
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
    // A `Value` always reads.
    let _ = Refs(&mut refs, false).deserialize(record);
    refs.sort();
    refs.dedup();
    refs
}

/// Reads a JSON value (text or `Value` alike) and adds the identifier references of every
/// object in it to the list; answers the value's text when it is a string and `.1` asks for
/// it (the value of a member that names an identifier).
struct Refs<'r>(&'r mut Vec<String>, bool);

/// The members of an object that name an identifier.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    IdentifierType,
    IdentifierValue,
    Uin,
    Other,
}

impl<'de> DeserializeSeed<'de> for Member {
    type Value = Member;
    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Member, D::Error> {
        reader.deserialize_str(self)
    }
}

impl Visitor<'_> for Member {
    type Value = Member;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E>(self, name: &str) -> Result<Member, E> {
        Ok(match name {
            "identifier_type" => Member::IdentifierType,
            "identifier_value" => Member::IdentifierValue,
            "uin" => Member::Uin,
            _ => Member::Other,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Refs<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Option<String>, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Refs<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, text: &str) -> Result<Option<String>, E> {
        Ok(self.1.then(|| text.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Option<String>, A::Error> {
        while items
            .next_element_seed(Refs(&mut *self.0, false))?
            .is_some()
        {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let (mut kind, mut id, mut uin) = (None, None, None);
        while let Some(member) = map.next_key_seed(Member::Other)? {
            let text = map.next_value_seed(Refs(&mut *self.0, member != Member::Other))?;
            // A repeated name counts with its last value, as a parsed object keeps it.
            match member {
                Member::IdentifierType => kind = text,
                Member::IdentifierValue => id = text,
                Member::Uin => uin = text,
                Member::Other => {}
            }
        }
        if let (Some(kind), Some(id)) = (kind, id) {
            self.0.push(format!("{kind}:{id}"));
        }
        if let Some(uin) = uin {
            self.0.push(format!("UIN:{uin}"));
        }
        Ok(None)
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
    mut response: Response,
) -> Response {
    // Taken off the response (its list of disclosed records can be long): it is not sent.
    let note = response
        .extensions_mut()
        .remove::<AuditNote>()
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

#[cfg(test)]
mod tests {
    use super::*;
    use dci::search::SearchData;
    use dci::{ReasonCode, Rejection, Timestamp};

    fn answered(records: &[&str]) -> SearchResponseItem {
        SearchResponseItem {
            reference_id: "R-1".into(),
            timestamp: Timestamp::now(),
            status: RequestStatus::Succ,
            status_reason_code: None,
            status_reason_message: None,
            data: Some(SearchData {
                version: "1.0.0".into(),
                reg_type: None,
                reg_event_type: None,
                reg_record_type: None,
                reg_records: records
                    .iter()
                    .map(|r| serde_json::value::RawValue::from_string(r.to_string()).unwrap())
                    .collect(),
            }),
            pagination: None,
            locale: None,
        }
    }

    /// Every object's identifiers, at any depth, from the records' text; the same as from
    /// the parsed records; nothing from a rejected item.
    #[test]
    fn disclosed_names_the_identifiers_of_every_object_of_the_records() {
        let household = r#"{"household_id": "H-1", "uin": "111",
            "identifiers": [{"identifier_type": "BRN", "identifier_value": "B-1"},
                            {"identifier_type": "NID"}, {"identifier_value": "lone"}],
            "member_list": [{"uin": "222", "nested": {"identifier_value": "N-2",
                "identifier_type": "NID", "uin": 7}}, {"uin": "111"}],
            "note": "uin", "count": 3, "flag": true, "none": null, "ratio": 0.5}"#;
        let person = r#"{"uin": "333", "identifier_type": "UIN", "identifier_value": "333"}"#;
        let rejected = SearchResponseItem::rejected(
            "R-2".into(),
            Rejection::new(ReasonCode::SearchCriteriaInvalid, "no"),
            None,
        );
        let items = [answered(&[household, person]), rejected];
        assert_eq!(
            disclosed(&items),
            ["BRN:B-1", "NID:N-2", "UIN:111", "UIN:222", "UIN:333"]
        );
        let parsed: Vec<String> = [household, person]
            .iter()
            .flat_map(|r| references(&serde_json::from_str(r).unwrap()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(parsed, disclosed(&items));
    }
}
