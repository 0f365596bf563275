//! DCI wire types: the envelope, headers, ACK, every status reason and error code, the query
//! model of search requests, and registry records, with the validation the standard asks for.
//!
//! This crate does no I/O. It emits the field names of the published schemas and accepts the
//! variants peers send in practice (dci-spec §12): integers as strings, `""` for absent
//! objects, predicate lists labelled `expression`, older spellings of record fields.

pub mod codes;
pub mod criteria;
pub mod directory;
pub mod disability;
pub mod disburse;
pub mod envelope;
pub mod ibr;
pub mod lenient;
pub mod locations;
pub mod mapper;
pub mod money;
pub mod records;
mod samples;
pub mod search;
pub mod subscribe;
pub mod time;
pub mod txn;
pub mod validate;

pub use codes::ReasonCode;
pub use envelope::{
    Ack, AckResponse, AckStatus, Action, Envelope, HttpErrorResponse, MsgCallbackHeader, MsgHeader,
    PROTOCOL_VERSION, RawEnvelope, Rejection, RequestStatus,
};
pub use search::{Query, SearchCriteria, SearchRequest, SearchResponse};
pub use time::Timestamp;
