//! Receipts of successful payments, for the integrated beneficiary registry (IBR).
//!
//! When a disburse message's payments are all final, the worker asks the service's
//! [`Receipts`] for the statements that publish the receipts of those paid, and commits them
//! with the `on-disburse` callback: a receipt goes out exactly when its payment is final, and
//! once. A publisher that sends to the IBR enqueues an `enrollment/updates` envelope into the
//! outbox ([`dispatch::enqueue`], with a `message_id` derived from the correlation id), so
//! that the dispatcher delivers it, signed, with retries: [`IbrReceipts`]. Without an IBR the
//! service publishes nothing ([`NoReceipts`]).

pub use dispatch::ClientBearer;
use store::{Dialect, Statement};

/// The receipt of one successful payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The payer system (the SP-MIS) that asked for the payment.
    pub sender_id: String,
    /// Its transaction (the payment cycle).
    pub transaction_id: String,
    /// Its reference id of the payment.
    pub reference_id: String,
    /// Who was paid: the payee as given (an id, or the address).
    pub payee: String,
    /// The address paid to.
    pub payee_fa: String,
    /// The amount, in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The programme (from `meta.programme`, else `purpose`).
    pub programme: String,
    /// The switch's reference of the transfer.
    pub switch_ref: String,
    /// When it was paid (RFC 3339).
    pub paid_at: String,
    /// The household it was paid for (`meta.household`, an HHID), the payee being its head.
    pub household: Option<String>,
    /// BenefitTypeEnum (`meta.benefit_type`); cash (`1`) when not given.
    pub benefit_type: Option<String>,
}

/// Where receipts go.
pub trait Receipts: Send + Sync {
    /// The statements that publish `receipts` (those of the message `correlation_id`), to
    /// commit with the message's completion.
    fn publish(
        &self,
        dialect: Dialect,
        correlation_id: &str,
        receipts: &[Receipt],
    ) -> Vec<Statement>;
}

/// Publishes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReceipts;

impl Receipts for NoReceipts {
    fn publish(&self, _: Dialect, _: &str, _: &[Receipt]) -> Vec<Statement> {
        Vec::new()
    }
}

/// Publishes receipts to the integrated beneficiary registry (IBR): each completed message's
/// payments to a person id of type `uin` become benefits of that person's enrolment in the
/// payment's programme (`meta.programme`), sent as `POST /registry/sync/enrollment/updates`
/// batches through the outbox (signed by the dispatcher; the IBR's token through
/// [`ClientBearer`]). A benefit carries the payment's id (`<sender>/<transaction>/<reference>`,
/// as the switch knows it), so a batch sent again adds nothing.
#[derive(Debug, Clone)]
pub struct IbrReceipts {
    url: String,
    service_id: String,
    ibr_id: String,
}

/// Beneficiaries per `enrollment/updates` message.
const RECEIPTS_PER_UPDATE: usize = 1000;

impl IbrReceipts {
    /// Receipts for the IBR at `ibr_base` (its participant id `ibr_id`), sent as `service_id`.
    pub fn new(ibr_base: &str, service_id: &str, ibr_id: &str) -> IbrReceipts {
        IbrReceipts {
            url: format!(
                "{}/registry/sync/enrollment/updates",
                ibr_base.trim_end_matches('/')
            ),
            service_id: service_id.to_string(),
            ibr_id: ibr_id.to_string(),
        }
    }

    /// Where the updates go (deliveries there need the IBR's token: see
    /// [`dispatch::Dispatcher::authorize`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The IBR `Beneficiary` update that records `receipt` as a benefit, when its payee is a
    /// UIN.
    fn beneficiary(receipt: &Receipt) -> Option<serde_json::Value> {
        let payee = dci::mapper::Address::parse(&receipt.payee)?;
        if !payee.kind.eq_ignore_ascii_case("uin") {
            return None;
        }
        let currency = dci::money::Currency::parse(&receipt.currency).ok()?;
        let amount = dci::money::format_minor(receipt.amount_minor, currency);
        let date = receipt.paid_at.get(..10).unwrap_or_default();
        let mut beneficiary = serde_json::json!({
            "reference_id": receipt.reference_id,
            "member": {"member_identifier": payee.value},
            "programme_identifier": receipt.programme,
            "benefits": [{
                "benefit_identifier": crate::worker::payment_id(&receipt.sender_id, &receipt.transaction_id, &receipt.reference_id),
                "benefit_type": receipt.benefit_type.as_deref().unwrap_or("1"),
                "benefit_date": date,
                "benefit_value": format!("{} {amount}", receipt.currency),
                "benefit_description": format!("paid by {} ({})", receipt.sender_id, receipt.switch_ref),
                "payment_status": "1",
            }],
        });
        // A household's payment, received by its head: the IBR files it under the household's
        // enrolment.
        if let Some(household) = &receipt.household {
            beneficiary["assistance_unit"] = serde_json::json!("2");
            beneficiary["group"] = serde_json::json!({"group_identifier": [
                {"identifier_type": "HHID", "identifier_value": household}]});
        }
        Some(beneficiary)
    }
}

impl Receipts for IbrReceipts {
    fn publish(
        &self,
        dialect: Dialect,
        correlation_id: &str,
        receipts: &[Receipt],
    ) -> Vec<Statement> {
        let beneficiaries: Vec<serde_json::Value> = receipts
            .iter()
            .filter_map(IbrReceipts::beneficiary)
            .collect();
        beneficiaries
            .chunks(RECEIPTS_PER_UPDATE)
            .enumerate()
            .map(|(i, chunk)| {
                let message_id = format!("receipts-{correlation_id}-{i}");
                let envelope = serde_json::json!({
                    "header": {
                        "version": dci::PROTOCOL_VERSION,
                        "message_id": message_id,
                        "message_ts": dci::Timestamp::now(),
                        "action": dci::Action::Notify.as_str(),
                        "sender_id": self.service_id,
                        "receiver_id": self.ibr_id,
                        "total_count": chunk.len(),
                    },
                    "message": {
                        "transaction_id": message_id,
                        "enrolled_updates": {"beneficiaries": chunk},
                    },
                });
                dispatch::enqueue(
                    dialect,
                    &message_id,
                    Some(correlation_id),
                    &self.url,
                    envelope.to_string(),
                )
            })
            .collect()
    }
}
