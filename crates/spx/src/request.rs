//! Building DCI search envelopes (the typed client crate will take this over with the async
//! flows; the sandbox and the benchmark need only sync search).

use serde_json::{Value, json};

/// A sync search request envelope with one search item.
pub fn search(sender_id: &str, receiver_id: &str, criteria: Value) -> Value {
    json!({
        "header": {
            "version": dci::PROTOCOL_VERSION,
            "message_id": uuid::Uuid::now_v7().to_string(),
            "message_ts": dci::Timestamp::now().to_string(),
            "action": "search",
            "sender_id": sender_id,
            "receiver_id": receiver_id,
            "total_count": 1
        },
        "message": {
            "transaction_id": uuid::Uuid::now_v7().to_string(),
            "search_request": [{
                "reference_id": "1",
                "timestamp": dci::Timestamp::now().to_string(),
                "search_criteria": criteria,
                "locale": "eng"
            }]
        }
    })
}

/// Criteria of a search by identifier.
pub fn by_identifier(record_type: &str, id_type: &str, value: &str) -> Value {
    json!({
        "reg_type": "ns:org:RegistryType:Social",
        "reg_record_type": record_type,
        "query_type": "idtype-value",
        "query": {"type": id_type, "value": value}
    })
}

/// Criteria of an expression search (a NoSql document or a text expression), one page.
pub fn by_expression(record_type: &str, expression: Value, page_size: i64) -> Value {
    json!({
        "reg_record_type": record_type,
        "query_type": "expression",
        "query": {"type": "ns:org:QueryType:NoSql", "value": {"expression": expression}},
        "sort": [{"attribute_name": "poverty_score", "sort_order": "asc"}],
        "pagination": {"page_size": page_size, "page_number": 1}
    })
}
