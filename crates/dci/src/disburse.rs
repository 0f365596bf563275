//! G2P Connect disbursement (dci-spec §11.1): `DisburseRequest` and `DisburseResponse`, and the
//! disburse search.
//!
//! Fields that carry their own rejection code (`amount`, `currency_code`, the addresses,
//! `scheduled_timestamp`) are kept as sent, so that a bad item is refused on its own with its
//! code instead of failing the whole batch.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::ReasonCode;
use crate::envelope::RequestStatus;
use crate::lenient;
use crate::time::Timestamp;

/// `DisburseRequest`: a batch of payments under one transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisburseRequest {
    /// The payer system's transaction id (a payment cycle may send several messages under one).
    pub transaction_id: String,
    /// The payments (`required` misspells it `disburemsents`; both are read).
    #[serde(default, alias = "disburemsents")]
    pub disbursements: Vec<Disbursement>,
}

/// One payment of a [`DisburseRequest`], as received.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Disbursement {
    /// The payer system's id of this payment, unique within the transaction.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// The account paid from (`FinancialAddress`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub payer_fa: Option<String>,
    /// The account paid to, or the payee's id (`uin:…@…`), which spx resolves through its
    /// mapper to the id's primary address.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub payee_fa: Option<String>,
    /// `Amount`: a decimal string such as `"1500.00"` (anything else is kept to be refused).
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Value>,
    /// When to pay; absent is now.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_timestamp: Option<String>,
    /// The payer account's name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub payer_name: Option<String>,
    /// The beneficiary's name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub payee_name: Option<String>,
    /// Statement narrative (≤ 99).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
    /// What the payment is for, e.g. the programme (≤ 99).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub purpose: Option<String>,
    /// System-to-system reconciliation instruction (≤ 999).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub instruction: Option<String>,
    /// Free-form (spx reads `programme` and `region` from it for reconciliation).
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub meta: Option<Map<String, Value>>,
    /// ISO 4217 code.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency_code: Option<String>,
    /// Language of the answer.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

/// `DisburseResponse`: the state of each payment of a transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisburseResponse {
    /// Echo of the transaction id.
    pub transaction_id: String,
    /// One state per payment.
    pub disbursements_status: Vec<DisbursementStatus>,
}

/// The state of one payment (`DisburseResponse` item; the disburse `SearchResponse` item is
/// the same without the payment details).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisbursementStatus {
    /// The payment's reference id.
    pub reference_id: String,
    /// When it reached this state.
    pub timestamp: Timestamp,
    /// `pdng` while being paid, `succ` once paid, `rjct` when refused, failed or returned.
    pub status: RequestStatus,
    /// Why it was refused or failed (`DisburseStatusReasonCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// The same, for people (the switch's reason: account closed, name mismatch ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// Echo of the reconciliation instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// The amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The account paid from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_fa: Option<String>,
    /// The payer account's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_name: Option<String>,
    /// The account paid to (the resolved address when the payee was given by id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_fa: Option<String>,
    /// The beneficiary's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_name: Option<String>,
    /// ISO 4217 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    /// Language of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// The disburse `SearchRequest`: payments looked up by payer or payee address, transaction
/// id or reference id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisburseSearchRequest {
    /// The id of this search's own transaction.
    pub transaction_id: String,
    /// The searches.
    #[serde(default)]
    pub search_criteria: Vec<DisburseSearchCriteria>,
}

/// One search of a [`DisburseSearchRequest`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DisburseSearchCriteria {
    /// The requester's id for this search.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// When it was made.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// `disburse`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_type: Option<String>,
    /// `payer_fa` or `payee_fa` (the standard's), `transaction_id` or `reference_id` (whose
    /// reason codes the standard lists).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub attribute_type: Option<String>,
    /// The address or id looked for.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub attribute_value: Option<String>,
    /// Language of the answer.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

/// The disburse `SearchResponse`: the state of each payment found (items of a search that
/// found nothing carry that search's reference id and its refusal).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisburseSearchResponse {
    /// Echo of the search's transaction id.
    pub transaction_id: String,
    /// The states found.
    pub disbursements_status: Vec<DisbursementStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_keep_what_they_must_be_refused_for() {
        let request: DisburseRequest = serde_json::from_value(json!({
            "transaction_id": "t-1",
            "disburemsents": [{"reference_id": 7, "payer_fa": "account:1@treasury", "payee_fa": "uin:5@nid",
                               "amount": -5, "currency_code": "KES", "meta": "", "purpose": "CT-2026"}]
        }))
        .unwrap();
        let item = &request.disbursements[0];
        assert_eq!(item.reference_id.as_deref(), Some("7"));
        assert_eq!(item.amount, Some(json!(-5)));
        assert_eq!(item.meta, None);
    }

    #[test]
    fn statuses_leave_out_what_they_do_not_have() {
        let status = DisbursementStatus {
            reference_id: "1".into(),
            timestamp: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            status: RequestStatus::Rjct,
            status_reason_code: Some(ReasonCode::AmountInvalid),
            status_reason_message: Some("amount '0.00' is zero".into()),
            instruction: None,
            amount: None,
            payer_fa: None,
            payer_name: None,
            payee_fa: None,
            payee_name: None,
            currency_code: None,
            locale: None,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            json!({"reference_id": "1", "timestamp": "2026-01-01T00:00:00.000Z", "status": "rjct",
                   "status_reason_code": "rjct.amount.invalid", "status_reason_message": "amount '0.00' is zero"})
        );
    }
}
