//! The IBR API's own sync endpoints (dci-spec §4.3 #6-#7, §5.8):
//!
//! - `/registry/sync/enrollment/updates`: an SP-MIS pushes enrolments, status changes and
//!   receipts (`EnrollmentUpdatesRequest` → `EnrollmentUpdatesResponse`, a status per
//!   beneficiary). The standard's `enrolled_updates: {beneficiaries}` and the sample's
//!   `receipt_information: {receipt_type, beneficiaries}` are both read. Beneficiaries are kept
//!   as JSON so that each is read on its own: a malformed one is refused alone.
//! - `/registry/sync/enrolled`: is this person (or household) enrolled, and in which
//!   programmes (`EnrolledRequest` → `EnrolledResponse`, a yes/no per criteria, read as
//!   [`crate::criteria`] describes). spx adds the matching enrolments to each answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::criteria::{Criteria, ItemStatus, YesNo};
use crate::lenient;

/// `EnrollmentUpdatesRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentUpdatesRequest {
    /// The publisher's business transaction id (≤ 99 characters).
    pub transaction_id: String,
    /// The beneficiaries enrolled or updated.
    #[serde(alias = "receipt_information")]
    pub enrolled_updates: ReceiptInformation,
}

/// `ReceiptInformation`: the beneficiaries of an update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptInformation {
    /// `enrollement` or `enrollement_status_change` (sic), as the sample sends it; informative
    /// only, each beneficiary says what changed.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub receipt_type: Option<String>,
    /// The beneficiaries, each a `Beneficiary` record.
    #[serde(default, deserialize_with = "lenient::list")]
    pub beneficiaries: Vec<Value>,
}

/// `EnrollmentUpdatesResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentUpdatesResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// One status per beneficiary, in request order.
    pub enrolled_response: Vec<ItemStatus>,
}

/// `EnrolledRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrolledRequest {
    /// The requester's business transaction id (≤ 99 characters).
    pub transaction_id: String,
    /// The criteria: one object as the standard has it, or a list of them.
    #[serde(deserialize_with = "lenient::list")]
    pub enrolled_criteria: Vec<Criteria>,
}

/// `EnrolledResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolledResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// One answer per criteria.
    pub enrolled_response: Vec<EnrolledResponseItem>,
}

/// The answer to one criteria of an `EnrolledRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolledResponseItem {
    /// The criteria, its status and timestamp.
    #[serde(flatten)]
    pub answer: ItemStatus,
    /// `yes` when a matching enrolment is active; `no` otherwise and on a rejected criteria.
    pub enrolled_status: YesNo,
    /// The matching enrolments, active or not (spx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrollments: Vec<Enrollment>,
}

/// One enrolment matching an `enrolled` criteria (spx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The programme's code.
    pub programme_identifier: String,
    /// The programme's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme_name: Option<String>,
    /// EnrollmentStatusEnum code.
    pub enrollment_status: String,
    /// When the beneficiary was enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_date: Option<String>,
    /// The programme's BenefitTypeEnum code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benefit_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The sample's `receipt_information` and the standard's `enrolled_updates`.
    #[test]
    fn both_update_shapes_read() {
        for key in ["enrolled_updates", "receipt_information"] {
            let request: EnrollmentUpdatesRequest = serde_json::from_value(json!({
                "transaction_id": "t", key: {"receipt_type": "enrollment", "beneficiaries": [{}, {}]}
            }))
            .unwrap();
            assert_eq!(request.enrolled_updates.beneficiaries.len(), 2);
        }
    }
}
