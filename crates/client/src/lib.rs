//! A typed DCI client ([`Client`]) and the requester's callback endpoints ([`Receiver`]).
//!
//! The standard's async flow (dci-spec §1.3): the requester POSTs a request envelope to
//! `/registry/search` (or `/registry/txn/status`, `/registry/subscribe` ...) with its callback
//! URL in `header.sender_uri`; the registry answers at once with an acknowledgement
//! (`ACK` and a `correlation_id`, or `ERR` with an `err.*` code), and later POSTs the result,
//! an envelope with a callback header and `action: on-search`, to that URL, where the
//! requester's [`Receiver`] validates it, answers with an ACK, drops repeats of a
//! `message_id` it has seen, and hands it to the application's channel and to whoever waits
//! for the transaction ([`Receiver::wait_for`]). Should the callback get lost, the requester
//! asks `/registry/sync/txn/status` for the transaction ([`Client::search_and_wait`],
//! [`Client::subscribe_and_wait`] and [`Client::unsubscribe_and_wait`] do both).
//!
//! A subscription (dci-spec §7) is answered by an `on-subscribe` with its code; the registry
//! then posts `notify` envelopes to the receiver's `/registry/notify`, which the application
//! reads as typed [`Notification`]s by subscription code ([`Receiver::next_notification`],
//! [`Receiver::wait_for_notifications`]) or, with every other callback, from the channel.
//! Async sends retry transport failures with the same bytes, so the receiver can deduplicate
//! on `message_id`. The sync flow (`/registry/sync/search`) returns the result envelope in the
//! HTTP response instead.

mod client;
mod error;
mod receiver;
mod request;
pub mod upstream;

#[cfg(test)]
mod tests;

pub use client::{
    Accepted, Answer, AnswerSource, Client, DEFAULT_TIMEOUT, Outcome, RetryPolicy, SearchOutcome,
};
pub use dci::subscribe::Frequency;
pub use dci::txn::TxnLookup;
pub use error::ClientError;
pub use receiver::{Callback, CallbackHeader, ENDPOINTS, Notification, Receiver, ReceiverConfig};
pub use request::{
    Item, ItemKind, NOSQL, RegistryQuery, Search, SearchItem, SubscribeItem, Subscription, TxnType,
    txn_status_query,
};
