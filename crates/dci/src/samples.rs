//! The social-registry sample flows of the standard (dci-spec §10.2) and its constructed,
//! conformant examples (§2.9, §5.1, §5.2), kept as fixtures under `fixtures/social/` and checked
//! against the wire types: what parses into what, what validation answers, and what spx emits
//! for them (canonical names and codes, no nulls).
//!
//! Sample-style fixtures reproduce the quirks the digest describes (§10.2, §12): string counts,
//! `meta: ""`, timestamps without a timezone, locales such as `EN/GB`, predicate lists labelled
//! `expression` (with duplicated `condition` keys), `household_member` / `person` wrappers,
//! labels for codes, null item timestamps.

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};
    use time::Duration;

    use crate::codes::ReasonCode;
    use crate::envelope::{
        AckResponse, AckStatus, Action, Envelope, HttpErrorResponse, MsgCallbackHeader, MsgHeader,
        RawEnvelope, Rejection, RequestStatus,
    };
    use crate::records::common::{Identifier, Name, PersonRef, Place, RelatedPerson};
    use crate::records::social::{Group, Member, SrPerson};
    use crate::search::{
        Pagination, PaginationRequest, Query, SearchRequest, SearchResponse, SearchResponseItem,
        SearchSort,
    };
    use crate::time::Timestamp;
    use crate::validate::{self, HeaderPolicy};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../fixtures/social/", $name))
        };
    }

    /// The social registry the sample requests are addressed to.
    const SR: &str = "socialregistry.example.org";

    fn policy(service_id: &str) -> HeaderPolicy {
        HeaderPolicy {
            service_id: service_id.into(),
            max_batch_size: 100,
            max_future_skew: Duration::minutes(5),
            max_age: Duration::hours(24),
        }
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn uin(value: &str) -> Identifier {
        Identifier::new("UIN", value)
    }

    fn header_code(
        header: &MsgHeader,
        items: usize,
        service_id: &str,
        now: &str,
    ) -> Option<ReasonCode> {
        validate::request_header(header, Action::Search, items, &policy(service_id), at(now))
            .err()
            .map(|r| r.code)
    }

    // ---------------------------------------------------------------- serialization checks

    fn assert_no_nulls(json: &Value, path: &str) {
        match json {
            Value::Null => panic!("null emitted at {path}"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    assert_no_nulls(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(map) => {
                for (key, value) in map {
                    assert_no_nulls(value, &format!("{path}.{key}"));
                }
            }
            _ => {}
        }
    }

    /// Serializes `value`, checks that no null is emitted, parses it back and checks equality.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
    ) -> Value {
        let text = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, value, "round trip changed the value");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_no_nulls(&json, "$");
        json
    }

    /// The same for types without `PartialEq` (those holding raw records): the second
    /// serialization must equal the first.
    fn round_trip_json<T: Serialize + DeserializeOwned>(value: &T) -> Value {
        let text = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            text,
            "round trip changed the value"
        );
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_no_nulls(&json, "$");
        json
    }

    /// Names of the OpenAPI examples and samples that spx accepts but never emits.
    const NON_CANONICAL_KEYS: &[&str] = &[
        "sur_name",
        "last_name",
        "first_name",
        "middle_name",
        "address_line1",
        "address_line2",
        "birthdate",
        "date_of_birth",
        "gender",
        "household_size",
        "household_member",
        "person",
        "place",
        "last_update",
        "containedInPlace",
    ];

    /// Checks a serialized record: canonical names, codes rather than labels, typed numbers and
    /// booleans, no nulls and no empty strings.
    fn assert_canonical(json: &Value, path: &str) {
        match json {
            Value::Null => panic!("null emitted at {path}"),
            Value::String(s) => assert!(!s.is_empty(), "empty string emitted at {path}"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    assert_canonical(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(map) => {
                for (key, value) in map {
                    let here = format!("{path}.{key}");
                    assert!(
                        !NON_CANONICAL_KEYS.contains(&key.as_str()),
                        "non-canonical key at {here}"
                    );
                    match key.as_str() {
                        "sex" => assert!(
                            ["male", "female", "other", "unknown"]
                                .contains(&value.as_str().unwrap()),
                            "{here}: {value}"
                        ),
                        "marital_status" => assert!(
                            ["S", "M", "W", "A", "D", "L", "U"].contains(&value.as_str().unwrap()),
                            "{here}: {value}"
                        ),
                        "group_type" => assert!(
                            ["1", "2", "3"].contains(&value.as_str().unwrap()),
                            "{here}: {value}"
                        ),
                        "is_disabled" => assert!(value.is_boolean(), "{here}: {value}"),
                        "group_size" => assert!(value.is_i64(), "{here}: {value}"),
                        "poverty_score" => assert!(value.is_f64(), "{here}: {value}"),
                        // A person's `identifier` is a list; a place's is a code.
                        "identifier" => assert!(
                            value.is_array() || map.get("@type") == Some(&json!("Place")),
                            "{here}: {value}"
                        ),
                        // `group_identifier` is a single identifier on a Member.
                        "group_identifier" => {
                            assert!(value.is_array() || value.is_object(), "{here}: {value}")
                        }
                        "member_list" | "member_identifier" | "address" | "phone_number"
                        | "related_person" => {
                            assert!(value.is_array(), "{here}: {value}")
                        }
                        _ => {}
                    }
                    assert_canonical(value, &here);
                }
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- requests

    /// A search request as the endpoint sees it: split with `RawEnvelope`, then each part typed.
    struct Request {
        signature: Option<String>,
        header: MsgHeader,
        message: SearchRequest,
    }

    fn request(json: &str) -> Request {
        let raw: RawEnvelope<'_> = serde_json::from_str(json).expect("envelope");
        let header = serde_json::from_str(raw.header.expect("header").get()).expect("MsgHeader");
        let message =
            serde_json::from_str(raw.message.expect("message").get()).expect("SearchRequest");
        Request {
            signature: raw.signature,
            header,
            message,
        }
    }

    /// What one single-item request fixture must give.
    struct Expected {
        message_id: &'static str,
        transaction_id: &'static str,
        reference_id: &'static str,
        /// `header.total_count`, read as a number.
        total_count: i64,
        /// The service the header is validated for, the instant it is validated at, and the
        /// code it fails with.
        service: &'static str,
        now: &'static str,
        header_code: Option<ReasonCode>,
        /// Whether the item's `timestamp` is a date-time with timezone.
        timestamp_ok: bool,
        locale: Option<&'static str>,
        response_entity: Option<&'static str>,
        query: Query,
        sort: Vec<SearchSort>,
        pagination: Option<PaginationRequest>,
    }

    /// Checks a request fixture against `expected`, and its round trip; returns the request.
    fn check_request(text: &str, expected: Expected) -> Request {
        let req = request(text);
        let signature = req.signature.as_deref().expect("signature");
        assert!(
            signature.starts_with("Signature: namespace="),
            "{signature}"
        );
        assert!(signature.contains("algorithm=\"ed25519\""), "{signature}");

        let header = &req.header;
        assert_eq!(header.version.as_deref(), Some("1.0.0"));
        assert_eq!(header.message_id, expected.message_id);
        assert_eq!(header.action, "search");
        assert_eq!(header.total_count, Some(expected.total_count));
        assert!(!header.is_msg_encrypted);
        assert_eq!(header.meta, None);
        let items = req.message.search_request.len();
        assert_eq!(items, 1);
        assert_eq!(
            header_code(header, items, expected.service, expected.now),
            expected.header_code,
            "{}",
            expected.message_id
        );

        assert_eq!(req.message.transaction_id, expected.transaction_id);
        let item = &req.message.search_request[0];
        assert_eq!(item.reference_id.as_deref(), Some(expected.reference_id));
        let timestamp_ok = item
            .timestamp
            .as_deref()
            .is_some_and(|t| Timestamp::parse(t).is_ok());
        assert_eq!(
            timestamp_ok, expected.timestamp_ok,
            "item timestamp {:?}",
            item.timestamp
        );
        assert_eq!(item.locale.as_deref(), expected.locale);
        let criteria = item.criteria().unwrap();
        assert_eq!(criteria.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            criteria.response_entity.as_deref(),
            expected.response_entity
        );
        assert_eq!(criteria.query().unwrap(), expected.query);
        assert_eq!(criteria.sort().unwrap(), expected.sort);
        assert_eq!(criteria.pagination().unwrap(), expected.pagination);

        // Round trips: the header, the criteria, the message and the whole envelope.
        let header_json = round_trip(&req.header);
        assert_eq!(
            header_json["total_count"],
            json!(expected.total_count),
            "total_count is emitted as a number"
        );
        assert!(header_json.get("meta").is_none());
        let criteria_json = round_trip(&criteria);
        assert_eq!(
            criteria_json.get("consent").is_some(),
            criteria.consent.is_some()
        );
        assert_eq!(
            criteria_json.get("authorize").is_some(),
            criteria.authorize.is_some()
        );
        assert_eq!(criteria_json["query_type"], json!(criteria.query_type));
        round_trip(&req.message);
        let envelope = Envelope {
            signature: req.signature.clone(),
            header: req.header.clone(),
            message: Some(req.message.clone()),
        };
        let json = round_trip(&envelope);
        assert_eq!(json["signature"], json!(signature));
        // The envelope also parses in one go, to the same value.
        let direct: Envelope<MsgHeader, SearchRequest> = serde_json::from_str(text).unwrap();
        assert_eq!(direct, envelope);
        req
    }

    fn nosql(collection: &str, conditions: Value) -> Query {
        Query::Expression {
            language: "ns:org:QueryType:NoSql".into(),
            expression: json!({"collection": collection, "query": {"$and": conditions}}),
        }
    }

    fn sort(attribute: &str, descending: bool) -> Vec<SearchSort> {
        vec![SearchSort {
            attribute_name: attribute.into(),
            descending,
        }]
    }

    fn page(size: i64, number: i64) -> Option<PaginationRequest> {
        Some(PaginationRequest {
            page_size: size,
            page_number: number,
        })
    }

    #[test]
    fn processflow1_1_request_searches_groups_by_poverty_score() {
        let req = check_request(
            fixture!("processflow1-1req.json"),
            Expected {
                message_id: "123",
                transaction_id: "123456789",
                reference_id: "12345678901234567890",
                total_count: 1,
                service: SR,
                now: "2024-04-12T00:01:00Z",
                header_code: Some(ReasonCode::MessageTsInvalid),
                timestamp_ok: false,
                locale: Some("EN/GB"),
                response_entity: Some("Group"),
                query: nosql("Group", json!([{"poverty_score": {"$lt": 5}}])),
                sort: sort("poverty_score", false),
                pagination: page(10, 1),
            },
        );
        assert!(!validate::locale_is_valid("EN/GB"));
        assert_eq!(req.header.total_count, Some(1), "\"1\" is read as 1");
        // Only the timezone is missing: with one, the header passes.
        let mut header = req.header.clone();
        header.message_ts = "2024-04-12T00:00:00Z".into();
        assert_eq!(header_code(&header, 1, SR, "2024-04-12T00:01:00Z"), None);
        let criteria = req.message.search_request[0].criteria().unwrap();
        assert_eq!(criteria.reg_event_type.as_deref(), Some("SEARCH"));
        assert_eq!(
            (criteria.consent, criteria.authorize),
            (None, None),
            "\"\" is absent"
        );
    }

    #[test]
    fn processflow1_2_request_searches_households_by_size() {
        let req = check_request(
            fixture!("processflow1-2req.json"),
            Expected {
                message_id: "124",
                transaction_id: "123456790",
                reference_id: "12345678901234567891",
                total_count: 1,
                service: SR,
                now: "2024-04-12T00:01:00Z",
                header_code: Some(ReasonCode::MessageTsInvalid),
                timestamp_ok: false,
                locale: Some("EN/GB"),
                response_entity: Some("Household"),
                query: nosql("HouseHold", json!([{"household_size": {"$lt": 5}}])),
                sort: sort("household_size", true),
                pagination: page(10, 1),
            },
        );
        assert_eq!(req.header.message_ts, "");
        assert_eq!(
            req.message.search_request[0].timestamp, None,
            "\"\" is absent"
        );
        let criteria = req.message.search_request[0].criteria().unwrap();
        // `{}` is kept (it is an object) but carries no consent.
        assert_eq!(criteria.consent, Some(json!({})));
        assert_eq!(criteria.consent().unwrap().kind, None);
    }

    #[test]
    fn processflow1_3_request_searches_female_widows() {
        let req = check_request(
            fixture!("processflow1-3req.json"),
            Expected {
                message_id: "125",
                transaction_id: "123456791",
                reference_id: "12345678901234567892",
                total_count: 1,
                service: SR,
                now: "2024-05-02T10:01:00Z",
                header_code: Some(ReasonCode::MessageTsInvalid),
                timestamp_ok: false,
                locale: Some("EN/GB"),
                response_entity: Some("member"),
                query: nosql(
                    "Group",
                    json!([{"demographic_info.person.sex": {"$eq": "female"}}, {"marital_status": {"$eq": "W"}}]),
                ),
                sort: sort("demographic_info.person.birth_date", false),
                pagination: page(10, 1),
            },
        );
        let mut header = req.header.clone();
        header.message_ts.push('Z');
        assert_eq!(header_code(&header, 1, SR, "2024-05-02T10:01:00Z"), None);
    }

    #[test]
    fn processflow2_request_is_a_predicate_list_labelled_expression() {
        let req = check_request(
            fixture!("processflow2req.json"),
            Expected {
                message_id: "126",
                transaction_id: "123456792",
                reference_id: "12345678901234567893",
                total_count: 1,
                service: SR,
                now: "2024-05-02T10:01:00Z",
                header_code: Some(ReasonCode::MessageTsInvalid),
                timestamp_ok: false,
                locale: Some("en"),
                response_entity: None,
                query: Query::Predicate(json!([{
                    "seq_num": "",
                    "expression1": {"attribute_name": "UIN", "operator": "eq", "attribute_value": "847951632"},
                    "condition": "",
                    "expression2": ""
                }])),
                sort: vec![],
                pagination: None,
            },
        );
        assert!(!validate::locale_is_valid("en"));
        let criteria = req.message.search_request[0].criteria().unwrap();
        assert_eq!(criteria.query_type.as_deref(), Some("expression"));
        assert_eq!(
            (criteria.sort.as_ref(), criteria.pagination.as_ref()),
            (None, None),
            "\"\" is absent"
        );
    }

    /// 3a and 4 repeat the `condition` key; the last one wins, as for any JSON object.
    fn check_three_part_predicate(json: &str, query: &Query, last_condition: &str, gender: &str) {
        assert_eq!(
            json.matches("\"condition\"").count(),
            2,
            "the fixture repeats `condition`"
        );
        let Query::Predicate(list) = query else {
            panic!("{query:?}")
        };
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["expression1"]["attribute_name"], "age");
        assert_eq!(list[0]["expression1"]["operator"], "lt");
        assert_eq!(list[0]["expression2"]["attribute_name"], "poverty_score");
        assert_eq!(list[0]["expression2"]["attribute_value"], "2.5");
        assert_eq!(list[0]["condition"], last_condition);
        assert_eq!(
            list[0]["expression3"],
            json!({"attribute_name": "gender", "operator": "eq", "attribute_value": gender})
        );
    }

    fn three_part(age: &str, last_condition: &str, gender: &str) -> Query {
        Query::Predicate(json!([{
            "seq_num": "",
            "expression1": {"attribute_name": "age", "operator": "lt", "attribute_value": age},
            "condition": last_condition,
            "expression2": {"attribute_name": "poverty_score", "operator": "lt", "attribute_value": "2.5"},
            "expression3": {"attribute_name": "gender", "operator": "eq", "attribute_value": gender}
        }]))
    }

    #[test]
    fn processflow3a_request_has_three_conditions() {
        let json = fixture!("processflow3areq.json");
        let req = check_request(
            json,
            Expected {
                message_id: "127",
                transaction_id: "123456793",
                reference_id: "12345678901234567894",
                total_count: 2,
                service: SR,
                now: "2024-05-02T04:31:00Z",
                header_code: Some(ReasonCode::TotalCountInvalid),
                timestamp_ok: true,
                locale: Some("Eng"),
                response_entity: None,
                query: three_part("25", "and", "m"),
                sort: sort("poverty_score", false),
                pagination: page(10, 1),
            },
        );
        assert_eq!(req.header.total_count, Some(2));
        assert!(!validate::locale_is_valid("Eng"));
        let query = req.message.search_request[0]
            .criteria()
            .unwrap()
            .query()
            .unwrap();
        check_three_part_predicate(json, &query, "and", "m");
    }

    #[test]
    fn processflow4_request_has_three_conditions() {
        let json = fixture!("processflow4req.json");
        let req = check_request(
            json,
            Expected {
                message_id: "128",
                transaction_id: "123456794",
                reference_id: "12345678901234567895",
                total_count: 1,
                service: SR,
                now: "2024-05-02T10:01:00Z",
                header_code: Some(ReasonCode::ReceiverIdInvalid),
                timestamp_ok: true,
                locale: None,
                response_entity: None,
                query: three_part("3", "or", "f"),
                sort: sort("age", false),
                pagination: page(10, 1),
            },
        );
        assert_eq!(req.header.receiver_id.as_deref(), Some("crvs"));
        let query = req.message.search_request[0]
            .criteria()
            .unwrap()
            .query()
            .unwrap();
        check_three_part_predicate(json, &query, "or", "f");
        // Addressed to the right service, the header passes.
        let mut header = req.header.clone();
        header.receiver_id = Some(SR.into());
        assert_eq!(header_code(&header, 1, SR, "2024-05-02T10:01:00Z"), None);
    }

    #[test]
    fn spec_5_1_request_is_conformant() {
        let json = fixture!("spec-5.1-search-request.json");
        let req = check_request(
            json,
            Expected {
                message_id: "0c96614c-7255-4774-b109-cd53ee851769",
                transaction_id: "txn-000123",
                reference_id: "ref-0001",
                total_count: 1,
                service: "civilregistry.example.org",
                now: "2024-02-01T12:15:30Z",
                header_code: None,
                timestamp_ok: true,
                locale: Some("eng"),
                response_entity: None,
                query: Query::IdTypeValue {
                    id_type: "UIN".into(),
                    value: json!("847951632"),
                },
                sort: sort("UIN", false),
                pagination: page(10, 1),
            },
        );
        assert!(validate::locale_is_valid("eng"));
        let criteria = req.message.search_request[0].criteria().unwrap();
        assert_eq!(
            criteria.reg_type.as_deref(),
            Some("ns:org:RegistryType:Civil")
        );
        assert_eq!(
            criteria.reg_event_type.as_deref(),
            Some("spdci-common:RegistryEventType:LiveBirth")
        );
        // Conformant input comes back unchanged.
        let input: Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&req.header).unwrap(), input["header"]);
        assert_eq!(
            serde_json::to_value(&req.message).unwrap(),
            input["message"]
        );
        // Validated against a social registry instead, the receiver is wrong.
        assert_eq!(
            header_code(&req.header, 1, SR, "2024-02-01T12:15:30Z"),
            Some(ReasonCode::ReceiverIdInvalid)
        );
    }

    #[test]
    fn social_request_is_conformant() {
        let json = fixture!("search-group.json");
        let req = request(json);
        assert_eq!(
            header_code(&req.header, 2, SR, "2024-05-02T10:00:30Z"),
            None
        );
        assert_eq!(
            header_code(&req.header, 1, SR, "2024-05-02T10:00:30Z"),
            Some(ReasonCode::TotalCountInvalid)
        );
        assert_eq!(
            header_code(&req.header, 2, SR, "2024-05-03T10:00:30Z"),
            Some(ReasonCode::MessageTsInvalid),
            "too old"
        );
        let items = &req.message.search_request;
        assert_eq!(items.len(), 2);
        let first = items[0].criteria().unwrap();
        assert_eq!(
            first.query().unwrap(),
            nosql(
                "Group",
                json!([{"poverty_score": {"$lt": 5}}, {"group_size": {"$lt": 5}}])
            )
        );
        let consent = first.consent().unwrap();
        assert_eq!(consent.kind.as_deref(), Some("Consent"));
        assert_eq!(consent.purpose.unwrap().code.as_deref(), Some("ELIG"));
        let second = items[1].criteria().unwrap();
        assert_eq!(second.response_entity.as_deref(), Some("Member"));
        let Query::Predicate(list) = second.query().unwrap() else {
            panic!("predicate expected")
        };
        assert_eq!(list[0]["expression1"]["attribute_name"], "YOB");
        assert_eq!(list[0]["expression2"]["attribute_value"], "female");
        for item in items {
            assert!(Timestamp::parse(item.timestamp.as_deref().unwrap()).is_ok());
            assert!(validate::locale_is_valid(item.locale.as_deref().unwrap()));
        }
        let input: Value = serde_json::from_str(json).unwrap();
        let envelope = Envelope {
            signature: req.signature,
            header: req.header,
            message: Some(req.message),
        };
        assert_eq!(
            round_trip(&envelope),
            input,
            "conformant input comes back unchanged"
        );
    }

    // ---------------------------------------------------------------- responses

    /// A callback as the requester sees it: the header typed, the message as JSON.
    fn callback(json: &str) -> (MsgCallbackHeader, Value) {
        let raw: RawEnvelope<'_> = serde_json::from_str(json).expect("envelope");
        assert!(
            raw.signature
                .as_deref()
                .is_some_and(|s| s.starts_with("Signature: namespace="))
        );
        let header =
            serde_json::from_str(raw.header.expect("header").get()).expect("MsgCallbackHeader");
        let message = serde_json::from_str(raw.message.expect("message").get()).expect("message");
        (header, message)
    }

    fn check_sample_callback_header(
        header: &MsgCallbackHeader,
        message_id: &str,
        message_ts: &str,
    ) {
        assert_eq!(header.version, "1.0.0");
        assert_eq!(header.message_id, message_id);
        assert_eq!(header.message_ts, at(message_ts));
        assert_eq!(header.action, "on-search");
        assert_eq!(header.status, RequestStatus::Succ);
        assert_eq!(header.status_reason_code, None);
        assert_eq!(
            (header.total_count, header.completed_count),
            (Some(1), Some(1)),
            "\"1\" is read as 1"
        );
        assert_eq!(header.sender_id.as_deref(), Some(SR));
        assert_eq!(header.receiver_id.as_deref(), Some("spmis.example.org"));
        assert_eq!(header.meta, None, "\"\" is absent");
        let json = round_trip(header);
        assert_eq!(json["total_count"], json!(1));
        assert_eq!(
            json["message_ts"],
            json!(Timestamp::parse(message_ts).unwrap().to_string())
        );
        assert!(json.get("meta").is_none());
    }

    /// The 1-x responses: item `timestamp`, `pagination` and `locale` are null and the item
    /// carries `rjct.reference_id.invalid` although it succeeded. The strict `SearchResponse`
    /// refuses the null timestamp, and only that; the records are returned.
    fn sample_1x_records(message: &Value, transaction_id: &str, reference_id: &str) -> Vec<Value> {
        assert!(
            serde_json::from_value::<SearchResponse>(message.clone()).is_err(),
            "null item timestamp accepted"
        );
        let item = &message["search_response"][0];
        assert!(
            item["timestamp"].is_null() && item["pagination"].is_null() && item["locale"].is_null()
        );
        let mut fixed = message.clone();
        fixed["search_response"][0]["timestamp"] = json!("2024-04-12T00:00:05Z");
        let response: SearchResponse =
            serde_json::from_str(&fixed.to_string()).expect("SearchResponse");
        assert_eq!(response.transaction_id, transaction_id);
        assert_eq!(response.correlation_id, "9876543210");
        assert_eq!(response.search_response.len(), 1);
        let item = &response.search_response[0];
        assert_eq!(item.reference_id, reference_id);
        assert_eq!(item.status, RequestStatus::Succ);
        assert_eq!(
            item.status_reason_code,
            Some(ReasonCode::ReferenceIdInvalid)
        );
        assert_eq!((item.pagination, item.locale.as_deref()), (None, None));
        let data = item.data.as_ref().expect("data");
        assert_eq!(data.version, "1.0.0");
        let json = round_trip_json(&response);
        let item_json = &json["search_response"][0];
        assert!(item_json.get("pagination").is_none() && item_json.get("locale").is_none());
        assert!(item_json["data"]["reg_records"].is_array());
        data.reg_records
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect()
    }

    fn parse<T: DeserializeOwned>(value: &Value) -> T {
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
    }

    fn name(surname: &str, given: &str) -> Name {
        Name {
            surname: Some(surname.into()),
            given_name: Some(given.into()),
            ..Name::default()
        }
    }

    /// The household of the 1-1 and 1-2 responses, with every sample variant normalised.
    fn check_household(group: &Group) {
        assert_eq!(group.kind, "Group");
        assert_eq!(
            group.group_identifier,
            vec![Identifier::new("HHID", "HH-2024-000042")]
        );
        assert_eq!(group.group_type, "3", "\"family\" is AssistanceUnitEnum 3");
        assert_eq!(
            group.geographical_location,
            Some(Place::new("SL-W-WA", "Western Area Urban", None))
        );
        assert!(group.address.is_empty());
        assert_eq!(group.poverty_score, 4.0);
        assert_eq!(group.poverty_score_type.as_deref(), Some("pmt"));
        assert_eq!(group.group_size, 3);
        assert_eq!(group.registration_date.as_deref(), Some("2021-07-19"));
        assert_eq!(group.last_updated.as_deref(), Some("2024-03-01T09:30:00Z"));

        // `group_head_info.person`: a bare person, standing for the member.
        let head = group.group_head_info.as_deref().expect("group_head_info");
        assert_eq!(head.kind, "Member");
        assert_eq!(head.member_identifier, vec![uin("847951632")]);
        let person = &head.demographic_info;
        assert_eq!(person.kind, "SRPerson");
        assert_eq!(person.identifier, vec![uin("847951632")]);
        assert_eq!(
            person.name,
            name("Kamara", "Ibrahim"),
            "\"\" name parts are absent"
        );
        assert_eq!(person.sex, "male", "\"Male\" is the code male");
        assert_eq!(person.birth_date, "1978-03-14");
        assert_eq!(person.address.len(), 1);
        assert_eq!(
            person.address[0].address_line_1.as_deref(),
            Some("12 Wilkinson Road")
        );
        assert_eq!(person.address[0].address_line_2, None);
        assert_eq!(person.address[0].locality.as_deref(), Some("Freetown"));
        assert_eq!(person.address[0].country_code.as_deref(), Some("SL"));
        assert_eq!(person.address[0].postal_code, None);
        assert_eq!(person.phone_number, vec!["+23276123456".to_string()]);
        assert!(!head.is_disabled);
        assert_eq!(head.marital_status, None);
        assert!(head.related_person.is_empty());

        // `member_list[].household_member{...}`.
        assert_eq!(group.member_list.len(), 3);
        let [me, spouse, child] = &group.member_list[..] else {
            unreachable!()
        };
        assert_eq!(me.member_identifier, vec![uin("847951632")]);
        assert_eq!(
            &me.demographic_info, person,
            "demographic_info.person is the same person"
        );
        assert_eq!(me.marital_status.as_deref(), Some("M"), "\"married\" is M");
        assert!(!me.is_disabled, "\"0\" is false");
        assert_eq!(
            (
                me.employment_status.as_deref(),
                me.education_level.as_deref()
            ),
            (Some("1"), Some("2"))
        );
        assert_eq!(me.registration_date.as_deref(), Some("2021-07-19"));
        assert!(me.related_person.is_empty(), "\"\" is no relation");

        assert_eq!(spouse.member_identifier, vec![uin("847951633")]);
        assert_eq!(
            spouse.demographic_info.sex, "female",
            "\"F\" is the code female"
        );
        assert_eq!(
            spouse.demographic_info.name.second_name.as_deref(),
            Some("Isatu")
        );
        assert!(
            spouse.demographic_info.phone_number.is_empty(),
            "\"\" is no phone number"
        );
        assert_eq!(spouse.marital_status.as_deref(), Some("M"));
        assert_eq!(
            spouse.related_person,
            vec![RelatedPerson {
                relationship_type: "PRIMSPOUS".into(),
                related_member: PersonRef {
                    identifier: vec![uin("847951632")]
                }
            }]
        );

        assert_eq!(child.member_identifier, vec![uin("847951634")]);
        assert_eq!(child.demographic_info.sex, "male");
        assert_eq!(child.demographic_info.birth_date, "2010-06-30");
        assert!(
            child.demographic_info.address.is_empty(),
            "\"\" is no address"
        );
        assert_eq!(
            child.marital_status.as_deref(),
            Some("S"),
            "\"Single\" is S"
        );
        assert!(child.is_disabled, "\"1\" is true");
        assert_eq!(child.employment_status, None, "\"\" is absent");
        assert_eq!(
            child.related_person,
            vec![RelatedPerson {
                relationship_type: "SON".into(),
                related_member: PersonRef {
                    identifier: vec![uin("847951632")]
                }
            }],
            "a single identifier object is a list of one"
        );

        // What spx emits for it.
        let json = round_trip(group);
        assert_canonical(&json, "$");
        assert_eq!(json["@type"], "Group");
        assert_eq!(json["group_type"], "3");
        assert_eq!(json["poverty_score"], json!(4.0));
        assert_eq!(json["group_size"], json!(3));
        assert_eq!(
            json["geographical_location"],
            json!({"@type": "Place", "identifier": "SL-W-WA", "name": "Western Area Urban"})
        );
        assert_eq!(json["last_updated"], "2024-03-01T09:30:00Z");
        assert_eq!(
            json["group_head_info"]["member_identifier"],
            json!([{"identifier_type": "UIN", "identifier_value": "847951632"}])
        );
        assert_eq!(
            json["member_list"][0]["demographic_info"],
            json!({
                "@type": "SRPerson",
                "identifier": [{"identifier_type": "UIN", "identifier_value": "847951632"}],
                "name": {"surname": "Kamara", "given_name": "Ibrahim"},
                "sex": "male",
                "birth_date": "1978-03-14",
                "address": [{"address_line_1": "12 Wilkinson Road", "locality": "Freetown", "sub_region_code": "WA",
                             "region_code": "W", "country_code": "SL"}],
                "phone_number": ["+23276123456"]
            })
        );
        assert_eq!(json["member_list"][1]["marital_status"], "M");
        assert_eq!(json["member_list"][2]["marital_status"], "S");
        assert_eq!(json["member_list"][2]["is_disabled"], json!(true));
    }

    #[test]
    fn processflow1_1_response_returns_a_sample_style_group() {
        let (header, message) = callback(fixture!("processflow1-1res.json"));
        check_sample_callback_header(&header, "789", "2024-04-12T00:00:05Z");
        let records = sample_1x_records(&message, "123456789", "12345678901234567890");
        assert_eq!(records.len(), 1);
        let raw = &records[0];
        assert_eq!(raw["poverty_score"], "4.0");
        assert!(raw["group_head_info"]["person"].is_object());
        assert!(raw["member_list"][0]["household_member"].is_object());
        check_household(&parse::<Group>(raw));
    }

    #[test]
    fn processflow1_2_response_returns_the_same_group() {
        let (header, message) = callback(fixture!("processflow1-2res.json"));
        check_sample_callback_header(&header, "790", "2024-04-12T00:00:06Z");
        let records = sample_1x_records(&message, "123456790", "12345678901234567891");
        let group: Group = parse(&records[0]);
        check_household(&group);
        let (_, first) = callback(fixture!("processflow1-1res.json"));
        assert_eq!(
            group,
            parse::<Group>(&first["search_response"][0]["data"]["reg_records"][0])
        );
    }

    #[test]
    fn processflow1_3_response_returns_widowed_members() {
        let (header, message) = callback(fixture!("processflow1-3res.json"));
        check_sample_callback_header(&header, "791", "2024-05-02T10:00:05Z");
        let records = sample_1x_records(&message, "123456791", "12345678901234567892");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["marital_status"], "Widow");
        assert!(records[1]["household_member"].is_object());
        let members: Vec<Member> = records.iter().map(parse).collect();

        let a = &members[0];
        assert_eq!(a.kind, "Member");
        assert_eq!(a.member_identifier, vec![uin("512348867")]);
        assert_eq!(a.demographic_info.identifier, vec![uin("512348867")]);
        assert_eq!(
            a.demographic_info.name,
            Name {
                prefix: Some("Mrs".into()),
                ..name("Conteh", "Mariama")
            }
        );
        assert_eq!(a.demographic_info.birth_date, "1956-11-02");
        assert_eq!(a.employment_status.as_deref(), Some("2"));
        assert_eq!(a.education_level, None);
        assert_eq!(
            a.group_identifier,
            Some(Identifier::new("HHID", "HH-2024-000107"))
        );
        assert_eq!(a.related_person[0].relationship_type, "SELF");
        assert_eq!(a.registration_date.as_deref(), Some("2020-01-15"));

        let b = &members[1];
        assert_eq!(b.member_identifier, vec![uin("512348901")]);
        assert_eq!(b.demographic_info.name, name("Bangura", "Aminata"));
        assert_eq!(b.group_identifier, None, "\"\" is absent");
        assert!(b.related_person.is_empty());
        assert!(
            b.demographic_info.address.is_empty() && b.demographic_info.phone_number.is_empty()
        );

        // Both match the query: female and widowed.
        for member in &members {
            assert_eq!(
                member.demographic_info.sex, "female",
                "\"F\" and \"FeMale\" are female"
            );
            assert_eq!(
                member.marital_status.as_deref(),
                Some("W"),
                "\"Widow\" is W"
            );
            assert!(!member.is_disabled, "\"0\" and false are false");
            let json = round_trip(member);
            assert_canonical(&json, "$");
            assert_eq!(json["@type"], "Member");
            assert_eq!(json["marital_status"], "W");
            assert_eq!(json["demographic_info"]["sex"], "female");
            assert_eq!(json["is_disabled"], json!(false));
        }
    }

    /// The responses of flows 2, 3a and 4 are closer to the schema: they parse as a whole.
    fn typed_callback(
        json: &str,
        message_id: &str,
        message_ts: &str,
    ) -> (Envelope<MsgCallbackHeader, SearchResponse>, Value) {
        let envelope: Envelope<MsgCallbackHeader, SearchResponse> =
            serde_json::from_str(json).expect("envelope");
        check_sample_callback_header(&envelope.header, message_id, message_ts);
        let message = envelope.message.as_ref().expect("message");
        assert_eq!(message.search_response.len(), 1);
        let item = &message.search_response[0];
        assert_eq!(item.status, RequestStatus::Succ);
        assert_eq!(item.status_reason_code, None);
        assert_eq!(item.timestamp, at(message_ts));
        assert_eq!(
            item.pagination,
            Some(Pagination {
                page_size: 10,
                page_number: 1,
                total_count: 1
            })
        );
        let records = &item.data.as_ref().expect("data").reg_records;
        assert_eq!(records.len(), 1);
        let record = serde_json::from_str(records[0].get()).unwrap();
        let json = round_trip_json(&envelope);
        assert!(json["message"]["search_response"][0]["data"]["reg_records"].is_array());
        (envelope, record)
    }

    #[test]
    fn processflow2_response_returns_one_sr_person() {
        let (envelope, record) = typed_callback(
            fixture!("processflow2res.json"),
            "792",
            "2024-05-02T10:00:05Z",
        );
        let message = envelope.message.unwrap();
        assert_eq!(message.transaction_id, "123456792");
        assert_eq!(
            message.search_response[0].reference_id,
            "12345678901234567893"
        );
        assert_eq!(message.search_response[0].locale.as_deref(), Some("en"));
        assert!(
            record["identifier"].is_object(),
            "the sample sends one identifier object"
        );
        assert_eq!(record["disability_type"], json!(["716710007"]));

        let person: SrPerson = parse(&record);
        assert_eq!(person.kind, "SRPerson");
        assert_eq!(person.identifier, vec![uin("847951632")]);
        assert_eq!(
            person.name,
            Name {
                prefix: Some("Mr".into()),
                ..name("Kamara", "Ibrahim")
            }
        );
        assert_eq!(person.sex, "male", "\"M\" is male");
        assert_eq!(person.birth_date, "1978-03-14");
        assert_eq!(
            person.phone_number,
            vec!["+23276123456".to_string()],
            "one number is a list of one"
        );
        assert_eq!(
            person.address[0].address_line_1.as_deref(),
            Some("12 Wilkinson Road")
        );
        let json = round_trip(&person);
        assert_canonical(&json, "$");
        assert_eq!(
            json["identifier"],
            json!([{"identifier_type": "UIN", "identifier_value": "847951632"}])
        );
        assert_eq!(json["phone_number"], json!(["+23276123456"]));
        assert_eq!(
            json["name"],
            json!({"surname": "Kamara", "given_name": "Ibrahim", "prefix": "Mr"})
        );

        // Read as a Member, the bare person keeps its member-level attributes.
        let member: Member = parse(&record);
        assert_eq!(member.member_identifier, vec![uin("847951632")]);
        assert_eq!(member.demographic_info, person);
        assert!(member.is_disabled);
        assert_eq!(member.employment_status.as_deref(), Some("1"));
        assert_canonical(&round_trip(&member), "$");
    }

    #[test]
    fn processflow3a_response_returns_a_person_with_a_name_list() {
        let (envelope, record) = typed_callback(
            fixture!("processflow3ares.json"),
            "793",
            "2024-05-02T04:30:05Z",
        );
        assert_eq!(
            envelope.message.unwrap().search_response[0]
                .locale
                .as_deref(),
            Some("eng")
        );
        assert!(record["name"].is_array());
        let person: SrPerson = parse(&record);
        assert_eq!(person.kind, "Person", "the sample's @type is kept");
        assert_eq!(person.identifier, vec![uin("938475610")]);
        assert_eq!(person.name, name("Sesay", "Abu"));
        assert_eq!(person.sex, "male");
        assert_eq!(person.birth_date, "2001-08-09");
        assert!(person.phone_number.is_empty());
        let json = round_trip(&person);
        assert_canonical(&json, "$");
        assert_eq!(
            json["name"],
            json!({"surname": "Sesay", "given_name": "Abu"}),
            "name is emitted as an object"
        );
        assert!(
            json.get("phone_number").is_none(),
            "an empty list is not emitted"
        );
    }

    #[test]
    fn processflow4_response_returns_the_first_name_of_the_list() {
        let (envelope, record) = typed_callback(
            fixture!("processflow4res.json"),
            "794",
            "2024-05-02T10:00:05Z",
        );
        let locale = envelope.message.unwrap().search_response[0].locale.clone();
        assert_eq!(locale.as_deref(), Some(""));
        assert!(!validate::locale_is_valid(""));
        assert_eq!(record["name"].as_array().unwrap().len(), 2);
        let person: SrPerson = parse(&record);
        assert_eq!(person.name, name("Sesay", "Kadiatu"));
        assert_eq!(person.sex, "female", "\"Female\" is female");
        assert_eq!(person.birth_date, "2022-01-20");
        assert_canonical(&round_trip(&person), "$");
    }

    #[test]
    fn spec_5_2_response_is_conformant() {
        let json = fixture!("spec-5.2-search-response.json");
        let envelope: Envelope<MsgCallbackHeader, SearchResponse> =
            serde_json::from_str(json).unwrap();
        let header = &envelope.header;
        assert_eq!(header.message_id, "b3f1c2d4-0000-4000-8000-000000000001");
        assert_eq!(header.status, RequestStatus::Succ);
        assert_eq!(
            (header.total_count, header.completed_count),
            (Some(1), Some(1))
        );
        assert_eq!(
            header.sender_id.as_deref(),
            Some("civilregistry.example.org")
        );
        let message = envelope.message.as_ref().unwrap();
        assert_eq!(message.correlation_id, "crvs-corr-889900");
        let item = &message.search_response[0];
        assert_eq!(item.reference_id, "ref-0001");
        assert_eq!(item.timestamp, at("2024-02-01T12:15:05Z"));
        assert_eq!(
            item.pagination,
            Some(Pagination {
                page_size: 10,
                page_number: 1,
                total_count: 1
            })
        );
        assert_eq!(item.locale.as_deref(), Some("eng"));
        let data = item.data.as_ref().unwrap();
        assert_eq!(data.reg_type.as_deref(), Some("ns:org:RegistryType:Civil"));
        assert_eq!(
            data.reg_record_type.as_deref(),
            Some("spdci-extensions-dci:Person")
        );
        assert_eq!(data.reg_records.len(), 1);
        let record: Value = serde_json::from_str(data.reg_records[0].get()).unwrap();
        assert_eq!(record["@type"], "CRVS_Person");
        assert_eq!(record["identifier"][0]["identifier_value"], "847951632");

        // Output: the input, with date-times in UTC with milliseconds.
        let mut expected: Value = serde_json::from_str(json).unwrap();
        expected["header"]["message_ts"] = json!("2024-02-01T12:15:05.000Z");
        expected["message"]["search_response"][0]["timestamp"] = json!("2024-02-01T12:15:05.000Z");
        assert_eq!(round_trip_json(&envelope), expected);

        // A callback header without `version` (it is optional) reads as 1.0.0.
        let mut without_version: Value = serde_json::from_str(json).unwrap();
        without_version["header"]
            .as_object_mut()
            .unwrap()
            .remove("version");
        let header: MsgCallbackHeader = parse(&without_version["header"]);
        assert_eq!(header.version, "1.0.0");

        // `reg_records` sent as one object (core, DR, FR) is read as a list and emitted as one.
        let mut single: Value = serde_json::from_str(json).unwrap();
        let data = &mut single["message"]["search_response"][0]["data"];
        data["reg_records"] = data["reg_records"][0].clone();
        let response: SearchResponse =
            serde_json::from_str(&single["message"].to_string()).unwrap();
        let records = &response.search_response[0]
            .data
            .as_ref()
            .unwrap()
            .reg_records;
        assert_eq!(records.len(), 1);
        let emitted = serde_json::to_value(&response).unwrap();
        assert_eq!(
            emitted["search_response"][0]["data"]["reg_records"],
            expected["message"]["search_response"][0]["data"]["reg_records"]
        );
    }

    #[test]
    fn social_response_is_canonical_in_and_out() {
        let json = fixture!("on-search-group.json");
        let input: Value = serde_json::from_str(json).unwrap();
        let envelope: Envelope<MsgCallbackHeader, SearchResponse> =
            serde_json::from_str(json).unwrap();
        assert_eq!(
            round_trip_json(&envelope),
            input,
            "canonical input comes back unchanged"
        );
        let message = envelope.message.as_ref().unwrap();
        assert_eq!(
            (envelope.header.total_count, envelope.header.completed_count),
            (Some(2), Some(2))
        );
        let [found, rejected] = &message.search_response[..] else {
            panic!("two items expected")
        };
        assert_eq!(
            (found.status, rejected.status),
            (RequestStatus::Succ, RequestStatus::Rjct)
        );
        assert_eq!(
            rejected.status_reason_code,
            Some(ReasonCode::SearchCriteriaInvalid)
        );
        assert_eq!(
            rejected.status_reason_message.as_deref(),
            Some("unknown attribute 'YOB'")
        );
        assert!(rejected.data.is_none() && rejected.pagination.is_none());

        let data = found.data.as_ref().unwrap();
        assert_eq!(
            data.reg_record_type.as_deref(),
            Some(crate::records::social::GROUP)
        );
        let record: Value = serde_json::from_str(data.reg_records[0].get()).unwrap();
        let group: Group = parse(&record);
        assert_eq!(group.group_type, "3");
        assert_eq!(group.group_size, 2);
        assert_eq!(group.member_list.len(), 2);
        assert_eq!(
            group.group_head_info.as_deref(),
            Some(&group.member_list[0])
        );
        assert_eq!(
            group.member_list[1]
                .demographic_info
                .name
                .second_name
                .as_deref(),
            Some("Isatu")
        );
        assert!(group.member_list[1].is_disabled);
        assert_eq!(
            group
                .geographical_location
                .as_ref()
                .unwrap()
                .contained_in_place
                .as_deref(),
            Some("SL-W")
        );
        let emitted = round_trip(&group);
        assert_canonical(&emitted, "$");
        assert_eq!(
            emitted, record,
            "a canonical group is emitted exactly as received"
        );
    }

    #[test]
    fn rejected_item_has_no_data() {
        let json = fixture!("search-response-item-rejected.json");
        let item: SearchResponseItem = serde_json::from_str(json).unwrap();
        assert_eq!(item.reference_id, "ref-0002");
        assert_eq!(item.status, RequestStatus::Rjct);
        assert_eq!(
            item.status_reason_code,
            Some(ReasonCode::SearchCriteriaInvalid)
        );
        assert!(crate::codes::SEARCH.contains(&ReasonCode::SearchCriteriaInvalid));
        assert_eq!(
            item.status_reason_message.as_deref(),
            Some("unknown attribute 'YOB'")
        );
        assert!(item.data.is_none() && item.pagination.is_none() && item.locale.is_none());
        let mut expected: Value = serde_json::from_str(json).unwrap();
        expected["timestamp"] = json!("2024-02-01T12:15:05.000Z");
        assert_eq!(round_trip_json(&item), expected);
        // What spx builds for such an item has the same shape.
        let mut built = SearchResponseItem::rejected(
            "ref-0002".into(),
            Rejection::new(ReasonCode::SearchCriteriaInvalid, "unknown attribute 'YOB'"),
            None,
        );
        built.timestamp = item.timestamp;
        assert_eq!(serde_json::to_value(&built).unwrap(), expected);
    }

    // ---------------------------------------------------------------- acknowledgements

    #[test]
    fn ack_is_a_message_without_header() {
        let json = fixture!("ack.json");
        let ack: AckResponse = serde_json::from_str(json).unwrap();
        assert_eq!(ack.message.ack_status, AckStatus::Ack);
        assert_eq!(ack.message.correlation_id, "9876543210");
        assert_eq!(ack.message.timestamp, at("2024-01-01T10:00:00Z"));
        assert_eq!(ack.message.error, None);
        assert_eq!(
            round_trip(&ack),
            json!({"message": {"ack_status": "ACK", "timestamp": "2024-01-01T10:00:00.000Z", "correlation_id": "9876543210"}})
        );
    }

    #[test]
    fn err_ack_carries_an_error_code() {
        let json = fixture!("ack-err.json");
        let ack: AckResponse = serde_json::from_str(json).unwrap();
        assert_eq!(ack.message.ack_status, AckStatus::Err);
        assert_eq!(ack.message.correlation_id, "9876543211");
        let error = ack.message.error.as_ref().unwrap();
        assert_eq!(error.code, ReasonCode::SignatureInvalid);
        assert!(error.code.is_error() && crate::codes::ERROR.contains(&error.code));
        assert_eq!(error.code.http_status(), 401);
        assert!(error.message.contains("does not verify"));
        let mut expected: Value = serde_json::from_str(json).unwrap();
        expected["message"]["timestamp"] = json!("2024-01-01T10:00:00.000Z");
        assert_eq!(round_trip(&ack), expected);
        // What spx builds for the same rejection.
        let mut built = AckResponse::error(
            &Rejection::new(error.code, error.message.clone()),
            "9876543211".into(),
        );
        built.message.timestamp = ack.message.timestamp;
        assert_eq!(built, ack);
    }

    #[test]
    fn http_error_response_lists_errors() {
        let json = fixture!("http-error.json");
        let body: HttpErrorResponse = serde_json::from_str(json).unwrap();
        assert_eq!(body.errors.len(), 1);
        assert_eq!(body.errors[0].code, "err.request.unauthorized");
        assert_eq!(
            ReasonCode::parse(&body.errors[0].code),
            Some(ReasonCode::RequestUnauthorized)
        );
        assert_eq!(body.errors[0].message, "the bearer token has expired");
        assert_eq!(
            round_trip(&body),
            serde_json::from_str::<Value>(json).unwrap()
        );
    }
}
