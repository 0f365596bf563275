//! The G2P Connect ID-to-financial-address mapper (dci-spec §11.2): link, update, unlink and
//! resolve, their requests and responses, and the `id-type:id@provider` addresses they carry.
//!
//! The four operations share their item shape, so one [`MapperRequest`] and one
//! [`MapperResponse`] serve them all, typed by the operation ([`Link`], [`Update`],
//! [`Unlink`], [`Resolve`]), which names the list (`link_request`, `update_response` ...).

use std::marker::PhantomData;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::codes::ReasonCode;
use crate::envelope::{Action, RequestStatus};
use crate::lenient;
use crate::time::Timestamp;

/// A `cdpi_PersonId` or `cdpi_FinancialAddress`: `type:value@provider`, e.g.
/// `uin:5035049349@nid` or `account:12345@abcd0000001.ifsc.pymt-rail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    /// What kind of id or address (`uin`, `account`, `mobile` ...), lower-cased by the sender.
    pub kind: &'a str,
    /// The id or account number.
    pub value: &'a str,
    /// Who issued it (`nid`, a bank, a mobile-money operator).
    pub provider: &'a str,
}

/// Longest address accepted.
const MAX_ADDRESS_LEN: usize = 256;

impl<'a> Address<'a> {
    /// Reads `type:value@provider` (the standard's pattern, with the `:` its own examples
    /// use: `^[a-zA-Z0-9.:_-]+@[a-zA-Z0-9.-]+$`, dci-spec §12.1 E9), with a type before the
    /// first `:`; `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Address<'a>> {
        if text.len() > MAX_ADDRESS_LEN {
            return None;
        }
        let (local, provider) = text.rsplit_once('@')?;
        let (kind, value) = local.split_once(':')?;
        let local_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
        };
        let provider_ok = !provider.is_empty()
            && provider
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
        (local_ok(kind) && local_ok(value) && provider_ok).then_some(Address {
            kind,
            value,
            provider,
        })
    }

    /// Whether its type is one of the financial address types spx pays to.
    pub fn is_financial(&self) -> bool {
        FA_TYPES.contains(&self.kind)
    }
}

/// Types of financial address (the standard's examples): a bank account, a mobile-money
/// wallet, another e-wallet, a voucher, a tokenised account.
pub const FA_TYPES: &[&str] = &["account", "mobile", "wallet", "voucher", "token"];

/// The mapper operations.
pub trait Operation {
    /// The request's action (`link` ...).
    const ACTION: Action;
    /// The list of items in a request (`link_request` ...).
    const REQUEST: &'static str;
    /// The list of items in a response (`link_response` ...).
    const RESPONSE: &'static str;
}

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident = $action:ident, $request:literal, $response:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl Operation for $name {
            const ACTION: Action = Action::$action;
            const REQUEST: &'static str = $request;
            const RESPONSE: &'static str = $response;
        }
    )*};
}

operations! {
    /// Link an id to a financial address (`/mapper/link`).
    Link = Link, "link_request", "link_response";
    /// Change the details of a link, or the id's primary address (`/mapper/update`).
    Update = Update, "update_request", "update_response";
    /// Remove a link, or all of an id's (`/mapper/unlink`).
    Unlink = Unlink, "unlink_request", "unlink_response";
    /// Find the address of an id, or check an address (`/mapper/resolve`).
    Resolve = Resolve, "resolve_request", "resolve_response";
}

/// `LinkRequest`, `UpdateRequest`, `UnlinkRequest` or `ResolveRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapperRequest<O> {
    /// The requester's transaction id.
    pub transaction_id: String,
    /// The items (`link_request` ...).
    pub items: Vec<MapperRequestItem>,
    operation: PhantomData<O>,
}

impl<O> MapperRequest<O> {
    /// A request of `items` under `transaction_id`.
    pub fn new(transaction_id: impl Into<String>, items: Vec<MapperRequestItem>) -> Self {
        MapperRequest {
            transaction_id: transaction_id.into(),
            items,
            operation: PhantomData,
        }
    }
}

/// One item of a mapper request: the union of the four operations' fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MapperRequestItem {
    /// The requester's id for this item.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// When the item was made (RFC 3339 with timezone; required by the standard).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// The person's id (`PersonId`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The financial address.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fa: Option<String>,
    /// The account holder's name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The account holder's phone number.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_number: Option<String>,
    /// Resolve only: `yes_no` (default) or `details`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub scope: Option<String>,
    /// `AttributeNameValueList`: `[{"name": …, "value": …}]`.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_info: Option<Value>,
    /// Language of the answer.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

impl MapperRequestItem {
    /// The value of the `name` attribute of `additional_info`, if it has one.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.additional_info
            .as_ref()?
            .as_array()?
            .iter()
            .find(|a| a["name"].as_str() == Some(name))
            .map(|a| &a["value"])
    }
}

/// `LinkResponse`, `UpdateResponse`, `UnlinkResponse` or `ResolveResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapperResponse<O> {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The mapper's correlation id.
    pub correlation_id: Option<String>,
    /// One answer per request item (`link_response` ...).
    pub items: Vec<MapperResponseItem>,
    operation: PhantomData<O>,
}

impl<O> MapperResponse<O> {
    /// A response of `items`.
    pub fn new(
        transaction_id: impl Into<String>,
        correlation_id: Option<String>,
        items: Vec<MapperResponseItem>,
    ) -> Self {
        MapperResponse {
            transaction_id: transaction_id.into(),
            correlation_id,
            items,
            operation: PhantomData,
        }
    }
}

/// One answer of a mapper response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapperResponseItem {
    /// The request item's reference id.
    pub reference_id: String,
    /// When it was answered.
    pub timestamp: Timestamp,
    /// The id (update, unlink, resolve with `details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The financial address (link, resolve with `details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fa: Option<String>,
    /// Who holds the account (resolve with `details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_provider_info: Option<AccountProviderInfo>,
    /// `succ` or `rjct`.
    pub status: RequestStatus,
    /// Why (`rjct.*`), or what resolve found (`succ.fa.active` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// The same, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// `AttributeNameValueList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<Value>,
    /// Language of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

impl MapperResponseItem {
    /// An answer to item `reference_id` with `status` and `code`, made now.
    pub fn new(reference_id: &str, status: RequestStatus, code: Option<ReasonCode>) -> Self {
        MapperResponseItem {
            reference_id: reference_id.to_string(),
            timestamp: Timestamp::now(),
            id: None,
            fa: None,
            account_provider_info: None,
            status,
            status_reason_code: code,
            status_reason_message: None,
            additional_info: None,
            locale: None,
        }
    }
}

/// `AccountProviderInfo`: who holds the account behind a financial address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountProviderInfo {
    /// The bank's, operator's or voucher issuer's name.
    pub name: String,
    /// Its entity code.
    pub code: String,
    /// A branch code or the like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<String>,
    /// Anything else (≤ 999 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
}

/// The two scopes of a resolve item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveScope {
    /// Only whether the address (and id) are linked and active: `succ.fa.*` / `succ.id.*`.
    YesNo,
    /// The address (or the id) and its provider too.
    Details,
}

impl ResolveScope {
    /// The scope of an item (`yes_no` when absent); `rjct.resolve_type.not_supported` for
    /// another.
    pub fn of(item: &MapperRequestItem) -> Result<ResolveScope, crate::Rejection> {
        match item.scope.as_deref() {
            None | Some("yes_no") => Ok(ResolveScope::YesNo),
            Some("details") => Ok(ResolveScope::Details),
            Some(other) => Err(crate::Rejection::new(
                ReasonCode::ResolveTypeNotSupported,
                format!("scope '{other}' is not yes_no or details"),
            )),
        }
    }
}

impl<O: Operation> Serialize for MapperRequest<O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("transaction_id", &self.transaction_id)?;
        map.serialize_entry(O::REQUEST, &self.items)?;
        map.end()
    }
}

impl<'de, O: Operation> Deserialize<'de> for MapperRequest<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        let transaction_id = take_string(&mut fields, "transaction_id")?;
        let items = match fields.remove(O::REQUEST) {
            Some(items) => serde_json::from_value(items).map_err(D::Error::custom)?,
            None => return Err(D::Error::missing_field(O::REQUEST)),
        };
        Ok(MapperRequest::new(transaction_id, items))
    }
}

impl<O: Operation> Serialize for MapperResponse<O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("transaction_id", &self.transaction_id)?;
        if let Some(correlation_id) = &self.correlation_id {
            map.serialize_entry("correlation_id", correlation_id)?;
        }
        map.serialize_entry(O::RESPONSE, &self.items)?;
        map.end()
    }
}

impl<'de, O: Operation> Deserialize<'de> for MapperResponse<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        let transaction_id = take_string(&mut fields, "transaction_id")?;
        let correlation_id = fields
            .remove("correlation_id")
            .and_then(|v| v.as_str().map(str::to_string));
        let items = match fields.remove(O::RESPONSE) {
            Some(items) => serde_json::from_value(items).map_err(D::Error::custom)?,
            None => return Err(D::Error::missing_field(O::RESPONSE)),
        };
        Ok(MapperResponse::new(transaction_id, correlation_id, items))
    }
}

fn take_string<E: serde::de::Error>(
    fields: &mut Map<String, Value>,
    key: &'static str,
) -> Result<String, E> {
    match fields.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(E::custom(format!(
            "{key}: expected a string, found {other}"
        ))),
        None => Err(E::missing_field(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_have_a_type_a_value_and_a_provider() {
        let a = Address::parse("account:12345@abcd0000001.ifsc.pymt-rail").unwrap();
        assert_eq!(
            (a.kind, a.value, a.provider),
            ("account", "12345", "abcd0000001.ifsc.pymt-rail")
        );
        assert!(a.is_financial());
        let id = Address::parse("uin:5035049349@nid").unwrap();
        assert!(!id.is_financial());
        for bad in [
            "joeuser@national-bank",
            "account:@bank",
            "account:1@",
            "account:1 2@bank",
            "",
            "a:b@c@d!",
        ] {
            assert!(Address::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn each_operation_names_its_lists() {
        let body = json!({"transaction_id": "t-1", "link_request": [
            {"reference_id": 1, "timestamp": "2024-01-01T00:00:00Z", "id": "uin:1@nid", "fa": "account:9@bank",
             "additional_info": [{"name": "primary", "value": true}]}]});
        let request: MapperRequest<Link> = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(request.items[0].reference_id.as_deref(), Some("1"));
        assert_eq!(request.items[0].attribute("primary"), Some(&json!(true)));
        assert!(serde_json::from_value::<MapperRequest<Resolve>>(body).is_err());
        let mut item =
            MapperResponseItem::new("1", RequestStatus::Succ, Some(ReasonCode::FaActive));
        item.timestamp = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let response: MapperResponse<Resolve> =
            MapperResponse::new("t-1", Some("c-1".into()), vec![item]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json["resolve_response"][0]["status_reason_code"],
            "succ.fa.active"
        );
        assert_eq!(json["correlation_id"], "c-1");
        let back: MapperResponse<Resolve> = serde_json::from_value(json).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn resolve_scopes() {
        let item = |scope: Option<&str>| MapperRequestItem {
            scope: scope.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(ResolveScope::of(&item(None)).unwrap(), ResolveScope::YesNo);
        assert_eq!(
            ResolveScope::of(&item(Some("details"))).unwrap(),
            ResolveScope::Details
        );
        assert_eq!(
            ResolveScope::of(&item(Some("all"))).unwrap_err().code,
            ReasonCode::ResolveTypeNotSupported
        );
    }
}
