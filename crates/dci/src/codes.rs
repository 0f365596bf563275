//! Every status reason code and error code of the DCI standard, listed once.
//!
//! One table gives each code its wire string, the HTTP status spx answers with when the code
//! rejects a whole request, and a one-line meaning. The groups below (`HEADER`, `SEARCH`, ...)
//! say which codes the standard allows in which place.

use std::fmt;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $http:literal, $meaning:literal; )*) => {
        /// A DCI status reason code (`rjct.*`, `succ.*`) or communication error code (`err.*`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every code, in table order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The code as it travels on the wire, e.g. `rjct.message_ts.invalid`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ReasonCode::$variant => $wire,)* }
            }

            /// The HTTP status spx answers with when this code rejects a whole request.
            pub const fn http_status(self) -> u16 {
                match self { $(ReasonCode::$variant => $http,)* }
            }

            /// What the code means, in one line.
            pub const fn meaning(self) -> &'static str {
                match self { $(ReasonCode::$variant => $meaning,)* }
            }

            /// The code for a wire string, if the standard defines it.
            pub fn parse(wire: &str) -> Option<ReasonCode> {
                match wire { $($wire => Some(ReasonCode::$variant),)* _ => None }
            }
        }
    };
}

reason_codes! {
    // Message header status reason codes (MsgHeaderStatusReasonCode, dci-spec §2.7).
    VersionInvalid = "rjct.version.invalid", 400, "header.version is not a valid version";
    MessageIdDuplicate = "rjct.message_id.duplicate", 409, "header.message_id was already received";
    MessageTsInvalid = "rjct.message_ts.invalid", 400, "header.message_ts is not a date-time with timezone, or is outside the accepted window";
    ActionInvalid = "rjct.action.invalid", 400, "header.action does not match this endpoint";
    ActionNotSupported = "rjct.action.not_supported", 400, "header.action is valid but not supported here";
    TotalCountInvalid = "rjct.total_count.invalid", 400, "header.total_count does not match the number of items";
    TotalCountLimitExceeded = "rjct.total_count.limit_exceeded", 413, "the batch has more items than this service accepts";
    ErrorsTooMany = "rjct.errors.too_many", 400, "too many item-level errors; the whole message is rejected";

    // Item-level codes shared by search, subscribe, unsubscribe and payments (§9.3-§9.6).
    ReferenceIdInvalid = "rjct.reference_id.invalid", 400, "reference_id is missing or invalid";
    ReferenceIdDuplicate = "rjct.reference_id.duplicate", 400, "reference_id is used twice in the batch";
    TimestampInvalid = "rjct.timestamp.invalid", 400, "timestamp is not a date-time with timezone";

    // Search (SearchStatusReasonCode, §9.3).
    SearchCriteriaInvalid = "rjct.search_criteria.invalid", 400, "the search criteria cannot be used (query type, query, attribute, operator or value)";
    FilterInvalid = "rjct.filter.invalid", 400, "the filter is invalid";
    SortInvalid = "rjct.sort.invalid", 400, "the sort attribute or order is invalid";
    PaginationInvalid = "rjct.pagination.invalid", 400, "page_size or page_number is invalid";
    SearchTooManyRecordsFound = "rjct.search.too_many_records_found", 400, "more records match than may be returned at once; paginate or refine the query";

    // Subscribe (SubscribeStatusReasonCode, §9.4).
    NotifyTypesInvalid = "rjct.notify_types.invalid", 400, "unsupported event or notify record type";
    NotifyDetailsInvalid = "rjct.notify_details.invalid", 400, "invalid notification details (filter or frequency)";
    PersonIdInvalid = "rjct.person_id.invalid", 400, "invalid person identifier in the filter";
    EventAlreadySubscribed = "rjct.event.already_subscribed", 409, "an identical subscription already exists";

    // Unsubscribe (UnSubscribeStatusReasonCode, §9.5).
    SubscriptionCodeInvalid = "rjct.subscription_code.invalid", 404, "unknown subscription code";
    RequesterInvalid = "rjct.requester.invalid", 403, "the requester does not own the subscription";
    EventAlreadyUnsubscribed = "rjct.event.already_unsubscribed", 409, "the subscription is already cancelled";

    // IBR enrolment updates (spx: the standard defines no item codes for
    // /registry/sync/enrollment/updates).
    ProgrammeInvalid = "rjct.programme.invalid", 400, "the programme is missing or unknown";
    BeneficiaryInvalid = "rjct.beneficiary.invalid", 400, "the beneficiary cannot be identified (assistance unit, UIN or household)";
    EnrollmentStatusInvalid = "rjct.enrollment_status.invalid", 400, "the enrolment status is not a code of the EnrollmentStatus directory";
    BenefitInvalid = "rjct.benefit.invalid", 400, "a benefit's type, date, value or payment status is invalid";

    // Disburse (DisburseStatusReasonCode, §9.6).
    PayerFaInvalid = "rjct.payer_fa.invalid", 400, "invalid payer financial address";
    PayeeFaInvalid = "rjct.payee_fa.invalid", 400, "invalid payee financial address";
    AmountInvalid = "rjct.amount.invalid", 400, "invalid amount";
    ScheduleTsInvalid = "rjct.schedule_ts.invalid", 400, "invalid scheduled timestamp";
    CurrencyCodeInvalid = "rjct.currency_code.invalid", 400, "invalid currency code";

    // Disburse search (§9.6; the two underscore spellings are the standard's own).
    RequestTypeInvalid = "rjct.request_type.invalid", 400, "invalid request type";
    AttributeTypeInvalid = "rjct.attribute_type.invalid", 400, "invalid attribute type";
    SrchTransactionIdInvalid = "rjct.srch_transaction_id.invalid", 400, "invalid transaction id to search";
    SrchTransactionIdNotFound = "rjct.srch_transaction_id.not_found", 404, "transaction id to search not found";
    SrchReferenceIdInvalid = "rjct_srch_reference_id.invalid", 400, "invalid reference id to search";
    SrchReferenceIdNotFound = "rjct_srch_reference_id.not_found", 404, "reference id to search not found";
    SrchTooManyRecordsFound = "rjct.srch.too_many_records_found", 400, "too many records found";
    SrchPayerFaInvalid = "rjct.srch_payer_fa.invalid", 400, "invalid payer financial address to search";
    SrchPayeeFaInvalid = "rjct.srch_payee_fa.invalid", 400, "invalid payee financial address to search";
    ShareAttributesInvalid = "rjct.share_attributes.invalid", 400, "invalid attributes to share";

    // Mapper link / resolve / unlink / update (§9.6).
    IdInvalid = "rjct.id.invalid", 400, "invalid identifier";
    FaInvalid = "rjct.fa.invalid", 400, "invalid financial address";
    NameInvalid = "rjct.name.invalid", 400, "invalid name";
    MobileNumberInvalid = "rjct.mobile_number.invalid", 400, "invalid mobile number";
    UnknownRetry = "rjct.unknown.retry", 503, "unknown error; retry";
    OtherError = "rjct.other.error", 500, "other error";
    ResolveTypeNotSupported = "rjct.resolve_type.not_supported", 400, "resolve type not supported";
    BeneficiaryNameInvalid = "rjct.beneficiary_name.invalid", 400, "invalid beneficiary name";
    FaActive = "succ.fa.active", 200, "financial address is active";
    FaInactive = "succ.fa.inactive", 200, "financial address is inactive";
    FaNotFound = "succ.fa.not_found", 200, "financial address not found";
    FaNotLinkedToId = "succ.fa.not_linked_to_id", 200, "financial address is not linked to the identifier";
    IdActive = "succ.id.active", 200, "identifier is active";
    IdInactive = "succ.id.inactive", 200, "identifier is inactive";
    IdNotFound = "succ.id.not_found", 200, "identifier not found";

    // Communication errors (Error.code in the ACK, §9.2).
    RequestBad = "err.request.bad", 400, "the request is malformed or cannot be parsed";
    RequestUnauthorized = "err.request.unauthorized", 401, "not authenticated";
    RequestForbidden = "err.request.forbidden", 403, "authenticated but not allowed";
    RequestNotFound = "err.request.not_found", 404, "no such endpoint or resource";
    RequestTimeout = "err.request.timeout", 504, "processing timed out";
    VersionNotSupported = "err.version.not_supported", 400, "the protocol version is not supported";
    RequestTooManyRequests = "err.request.too_many_requests", 429, "rate limited";
    SenderIdInvalid = "err.sender_id.invalid", 403, "sender_id is not a registered participant";
    SenderUriInvalid = "err.sender_uri.invalid", 400, "sender_uri is not an allowed callback URL";
    ReceiverIdInvalid = "err.receiver_id.invalid", 400, "receiver_id does not name this service";
    SignatureMissing = "err.signature.missing", 401, "the message must be signed";
    SignatureInvalid = "err.signature.invalid", 401, "the signature does not verify";
    EncryptionInvalid = "err.encryption.invalid", 400, "the encrypted message cannot be decrypted";
    ServiceUnavailable = "err.service.unavailable", 503, "the service is temporarily unavailable";
}

use ReasonCode::*;

/// Codes allowed in a callback header's `status_reason_code` (MsgHeaderStatusReasonCode).
pub const HEADER: &[ReasonCode] = &[
    VersionInvalid,
    MessageIdDuplicate,
    MessageTsInvalid,
    ActionInvalid,
    ActionNotSupported,
    TotalCountInvalid,
    TotalCountLimitExceeded,
    ErrorsTooMany,
];

/// Codes allowed on a search response item (SearchStatusReasonCode).
pub const SEARCH: &[ReasonCode] = &[
    ReferenceIdInvalid,
    ReferenceIdDuplicate,
    TimestampInvalid,
    SearchCriteriaInvalid,
    FilterInvalid,
    SortInvalid,
    PaginationInvalid,
    SearchTooManyRecordsFound,
];

/// Codes allowed on a subscribe response item (SubscribeStatusReasonCode).
pub const SUBSCRIBE: &[ReasonCode] = &[
    ReferenceIdInvalid,
    ReferenceIdDuplicate,
    TimestampInvalid,
    NotifyTypesInvalid,
    NotifyDetailsInvalid,
    PersonIdInvalid,
    EventAlreadySubscribed,
];

/// Codes allowed on an unsubscribe response (UnSubscribeStatusReasonCode).
pub const UNSUBSCRIBE: &[ReasonCode] = &[
    ReferenceIdInvalid,
    ReferenceIdDuplicate,
    TimestampInvalid,
    SubscriptionCodeInvalid,
    RequesterInvalid,
    EventAlreadyUnsubscribed,
];

/// Communication error codes (`Error.code` of an ACK, and `HttpErrorResponse`).
pub const ERROR: &[ReasonCode] = &[
    RequestBad,
    RequestUnauthorized,
    RequestForbidden,
    RequestNotFound,
    RequestTimeout,
    VersionNotSupported,
    RequestTooManyRequests,
    SenderIdInvalid,
    SenderUriInvalid,
    ReceiverIdInvalid,
    SignatureMissing,
    SignatureInvalid,
    EncryptionInvalid,
    ServiceUnavailable,
];

impl ReasonCode {
    /// Whether this is a communication error (`err.*`), answered with an ACK of status `ERR`.
    pub fn is_error(self) -> bool {
        self.as_str().starts_with("err.")
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = String::deserialize(deserializer)?;
        ReasonCode::parse(&wire)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown DCI reason code '{wire}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &code in ReasonCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code);
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ReasonCode::parse("rjct.nonsense"), None);
    }

    #[test]
    fn groups_hold_codes_of_their_kind() {
        assert!(ERROR.iter().all(|c| c.is_error()));
        assert!(
            HEADER
                .iter()
                .chain(SEARCH)
                .chain(SUBSCRIBE)
                .chain(UNSUBSCRIBE)
                .all(|c| !c.is_error())
        );
        assert_eq!(
            ERROR.len(),
            ReasonCode::ALL.iter().filter(|c| c.is_error()).count()
        );
    }

    #[test]
    fn http_statuses_follow_the_error_model() {
        assert_eq!(RequestUnauthorized.http_status(), 401);
        assert_eq!(SignatureInvalid.http_status(), 401);
        assert_eq!(RequestForbidden.http_status(), 403);
        assert_eq!(RequestTooManyRequests.http_status(), 429);
        assert_eq!(TotalCountLimitExceeded.http_status(), 413);
        assert_eq!(MessageTsInvalid.http_status(), 400);
    }

    #[test]
    fn serde_uses_the_wire_string() {
        let json = serde_json::to_string(&SortInvalid).unwrap();
        assert_eq!(json, "\"rjct.sort.invalid\"");
        let back: ReasonCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, SortInvalid);
        assert!(serde_json::from_str::<ReasonCode>("\"rjct.bogus\"").is_err());
    }
}
