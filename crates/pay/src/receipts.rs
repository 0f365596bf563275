//! Receipts of successful payments, for the integrated beneficiary registry (IBR).
//!
//! When a disburse message's payments are all final, the worker asks the service's
//! [`Receipts`] for the statements that publish the receipts of those paid, and commits them
//! with the `on-disburse` callback: a receipt goes out exactly when its payment is final, and
//! once. A publisher that sends to the IBR enqueues an `enrollment/updates` envelope into the
//! outbox ([`dispatch::enqueue`], with a `message_id` derived from the correlation id), so
//! that the dispatcher delivers it, signed, with retries. The IBR's wire types are not part of
//! spx yet; until they are, the service publishes nothing ([`NoReceipts`]).

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
