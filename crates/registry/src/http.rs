//! The registry's HTTP routes, and the one place where a rejection becomes a response.
//!
//! Three answers, as the DCI error model has them (dci-spec §9.1):
//! - a communication error (`err.*`: unparsable body, wrong version, wrong receiver ...) is an
//!   ACK with status `ERR` and the code's HTTP status;
//! - a header-level rejection (`rjct.*` of §2.7) is a response envelope whose callback header
//!   has `status: rjct` and the reason code, with the code's HTTP status;
//! - an item-level rejection is a `rjct` item inside a `200` response.
//!
//! Unknown paths and methods get a `HttpErrorResponse` with `err.request.not_found`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dci::search::SearchResponse;
use dci::subscribe::{SubscribeRequest, UnSubscribeRequest};
use dci::{
    AckResponse, Action, Envelope, HttpErrorResponse, MsgCallbackHeader, MsgHeader, RawEnvelope,
    ReasonCode, Rejection, RequestStatus, SearchRequest, Timestamp,
};

use crate::Registry;
use crate::audit::AuditNote;

/// The routes of a registry service: the engine's, and those of its profile
/// ([`crate::Profile::routes`]).
pub fn router(registry: Arc<Registry>) -> Router {
    // The DCI endpoints, the profile's and the registrar's.
    let dci = Router::new()
        .route("/registry/sync/search", post(sync_search))
        .route("/registry/search", post(async_request::<SearchRequest>))
        .route(
            "/registry/subscribe",
            post(async_request::<SubscribeRequest>),
        )
        .route(
            "/registry/unsubscribe",
            post(async_request::<UnSubscribeRequest>),
        )
        .route(
            "/registry/txn/status",
            post(async_request::<dci::txn::TxnStatusRequest>),
        )
        .route("/registry/sync/txn/status", post(sync_txn_status))
        .merge(crate::upload::routes())
        .merge((registry.profile.routes)())
        .with_state(registry.clone());
    service_router(registry, dci)
}

/// The routes every spx service has around its own `endpoints`: those behind the guard
/// (token, rate limit, audit), the token endpoint, the JWKS, the location list, health, and
/// the DCI answer to unknown paths. Services other than registries (payments) bring their
/// endpoints here.
pub fn service_router(registry: Arc<Registry>, endpoints: Router) -> Router {
    let guarded = endpoints.route_layer(axum::middleware::from_fn_with_state(
        registry.clone(),
        crate::auth::guard,
    ));
    Router::new()
        .route("/oauth2/client/token", post(crate::auth::token))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/locations.json", get(locations))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(registry)
        .merge(guarded)
        // After every route: it applies to the routes registered before it.
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The body limit is enforced (with a DCI error) when the body is read.
        .layer(DefaultBodyLimit::disable())
}

async fn health(State(registry): State<Arc<Registry>>) -> Response {
    axum::Json(serde_json::json!({"status": "ok", "role": registry.profile.role, "store": registry.store.describe()}))
        .into_response()
}

/// `GET /metrics`: requests by participant, endpoint and outcome, latency, the outbox's
/// backlog ([`crate::metrics`]).
async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    crate::metrics::serve(&registry.metrics, Some(registry.store.as_ref())).await
}

/// `GET /.well-known/locations.json`: the location master list the registry's records use
/// (the same hierarchy in every registry loaded from one population).
async fn locations(State(registry): State<Arc<Registry>>) -> Response {
    match crate::location_hierarchy(registry.store.as_ref()).await {
        Ok(hierarchy) => axum::Json(hierarchy).into_response(),
        Err(e) => store_failure(&e),
    }
}

/// `GET /.well-known/jwks.json`: the keys that verify this service's signatures and those
/// that encrypt messages to it (`use: enc`).
async fn jwks(State(registry): State<Arc<Registry>>) -> Response {
    match &registry.config.trust {
        Some(trust) => axum::Json(trust.signer.jwks()).into_response(),
        None => http_error(
            StatusCode::NOT_FOUND,
            ReasonCode::RequestNotFound,
            "this service does not sign".into(),
        ),
    }
}

async fn not_found(request: Request) -> Response {
    http_error(
        StatusCode::NOT_FOUND,
        ReasonCode::RequestNotFound,
        format!("no endpoint at {}", request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> Response {
    http_error(
        StatusCode::METHOD_NOT_ALLOWED,
        ReasonCode::RequestNotFound,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

pub(crate) fn http_error(status: StatusCode, code: ReasonCode, message: String) -> Response {
    let body = HttpErrorResponse {
        errors: vec![dci::envelope::HttpError {
            code: code.as_str().into(),
            message,
        }],
    };
    AuditNote::outcome(code.as_str()).on((status, axum::Json(body)).into_response())
}

fn status_of(code: ReasonCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// An `ERR` acknowledgement for a communication-level rejection.
pub fn error_ack(rejection: Rejection) -> Response {
    tracing::debug!(code = %rejection.code, message = %rejection.message, "request refused");
    let response = (
        status_of(rejection.code),
        axum::Json(AckResponse::error(&rejection, new_id())),
    )
        .into_response();
    AuditNote::outcome(rejection.code.as_str()).on(response)
}

/// A new id for a message or correlation (UUID v7: unique and time-ordered).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// How far over the limit a body is still read before it is refused.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads a request body that must be JSON and no larger than `limit` bytes.
/// The sync endpoints that take the file variant besides JSON (dci-spec §2.10): the IBR's
/// `enrollment/updates` and `enrolled` and the DR's three. Every async endpoint takes it;
/// `/registry/sync/search`, `/registry/sync/txn/status` and the payments' sync endpoints do not.
const FILE_VARIANT_SYNC: &[&str] = &[
    "/registry/sync/enrollment/updates",
    "/registry/sync/enrolled",
    "/registry/sync/disabled",
    "/registry/sync/get-disability-details",
    "/registry/sync/get-disability-support",
];

/// Whether the endpoint at `path` takes the file variant (`multipart/form-data`).
fn takes_file_variant(path: &str) -> bool {
    !path.contains("/sync/") || FILE_VARIANT_SYNC.contains(&path)
}

/// A DCI request's envelope: the JSON body, or the file of the file variant (dci-spec §2.10),
/// with the form's `action`, which must be the envelope's.
struct DciBody {
    envelope: Bytes,
    form_action: Option<String>,
}

/// Reads a DCI request's envelope within `limit` bytes: `application/json`, or on the
/// endpoints that take it the file variant, a `multipart/form-data` form with `action`,
/// `fileName` (the file holding the envelope) and `fileFormat` (`json`, the default; no
/// other layout of an envelope is defined, so any other is refused). 415 for any other
/// Content-Type, 413 beyond the limit, 400 for a malformed form.
async fn dci_body(request: Request, limit: usize) -> Result<DciBody, Response> {
    let Some(content_type) = crate::multipart::form_content_type(request.headers()) else {
        return Ok(DciBody {
            envelope: json_body(request, limit).await?,
            form_action: None,
        });
    };
    let path = request.uri().path().to_string();
    if !takes_file_variant(&path) {
        return Err(unsupported_media_type(format!(
            "{path} takes application/json only: the file variant (multipart/form-data) is not defined for it"
        )));
    }
    let body = bounded_body(request, limit).await?;
    let bad = |message: String| error_ack(Rejection::new(ReasonCode::RequestBad, message));
    let mut fields =
        crate::multipart::read(&content_type, &body).map_err(|e| bad(e.to_string()))?;
    let field = |name: &str| fields.iter().find(|f| f.name == name);
    let text = |name: &str| {
        field(name).map(|f| {
            String::from_utf8(f.data.clone()).map_err(|_| format!("the form's {name} is not UTF-8"))
        })
    };
    let action = text("action")
        .unwrap_or_else(|| Err("the file variant's form has no action".into()))
        .map_err(bad)?;
    let format = text("fileFormat")
        .transpose()
        .map_err(bad)?
        .unwrap_or_else(|| "json".into());
    if !format.trim().eq_ignore_ascii_case("json") {
        return Err(unsupported_media_type(format!(
            "fileFormat '{format}' is not supported: the file must hold the JSON envelope (fileFormat json)"
        )));
    }
    let file = fields
        .iter_mut()
        .find(|f| f.name == "fileName")
        .map(|f| std::mem::take(&mut f.data))
        .ok_or_else(|| bad("the file variant's form has no fileName (the file)".into()))?;
    Ok(DciBody {
        envelope: Bytes::from(file),
        form_action: Some(action.trim().to_string()),
    })
}

fn unsupported_media_type(message: String) -> Response {
    let rejection = Rejection::new(ReasonCode::RequestBad, message);
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        axum::Json(AckResponse::error(&rejection, new_id())),
    )
        .into_response()
}

/// The JSON body of a request within `limit` bytes: 415 unless the Content-Type is JSON, 413
/// beyond the limit.
async fn json_body(request: Request, limit: usize) -> Result<Bytes, Response> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(dci::validate::is_json_media_type);
    if !is_json {
        return Err(unsupported_media_type(
            "Content-Type must be application/json".into(),
        ));
    }
    bounded_body(request, limit).await
}

/// A request's body within `limit` bytes, or 413.
async fn bounded_body(request: Request, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        let rejection = Rejection::new(
            ReasonCode::RequestBad,
            format!("the body is larger than this service's limit of {limit} bytes"),
        );
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(AckResponse::error(&rejection, new_id())),
        )
            .into_response()
    };
    if let Some(length) = content_length(request.headers()).filter(|n| *n > limit) {
        // Read a moderately oversized body before answering, so that the client, still
        // sending, gets the 413 rather than a reset connection; a huge one is not read.
        if length <= limit.saturating_add(DRAIN_LIMIT) {
            let _ = axum::body::to_bytes(request.into_body(), length).await;
        }
        return Err(too_large());
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| too_large())
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a request whose message is an `M` with a `transaction_id`: the JSON body within the
/// size limit, the envelope, the message, the transaction id and the signature. A sync request
/// (`sync` is the action of its answer) that was signed is also checked for a replay. Every
/// failure is answered.
pub async fn read_request<M: serde::de::DeserializeOwned + HasTransaction>(
    registry: &Registry,
    request: Request,
    sync: Option<Action>,
) -> Result<(Parsed<M>, Bytes), Response> {
    read_request_within(registry, request, sync, registry.config.max_body_bytes).await
}

/// [`read_request`] with a body limit of its own (the publishers' batches).
pub(crate) async fn read_request_within<M: serde::de::DeserializeOwned + HasTransaction>(
    registry: &Registry,
    request: Request,
    sync: Option<Action>,
    limit: usize,
) -> Result<(Parsed<M>, Bytes), Response> {
    let caller = request.extensions().get::<crate::auth::Caller>().cloned();
    let signature_header = request.headers().get("signature").cloned();
    let DciBody {
        envelope: body,
        form_action,
    } = dci_body(request, limit).await?;
    let parsed = parse_envelope::<M>(registry, &body).map_err(error_ack)?;
    if let Some(action) = form_action.filter(|a| *a != parsed.header.action) {
        return Err(error_ack(Rejection::new(
            ReasonCode::ActionInvalid,
            format!(
                "the form's action '{action}' is not the envelope's header.action '{}'",
                parsed.header.action
            ),
        )));
    }
    crate::auth::check_sender(caller.as_ref(), &parsed.header.sender_id)
        .map_err(|message| crate::auth::refuse(ReasonCode::RequestForbidden, message))?;
    dci::validate::id("message.transaction_id", parsed.message.transaction_id())
        .map_err(error_ack)?;
    let signature_header = signature_header.as_ref().and_then(|v| v.to_str().ok());
    let verified =
        crate::auth::check_signature(registry, &body, signature_header, &parsed.header.sender_id)
            .await
            .map_err(error_ack)?;
    if let (Some(answer), Some(signed)) = (sync, verified) {
        let header = &parsed.header;
        registry
            .replays
            .check(
                &signed.sender_id,
                &header.message_id,
                signed.expires,
                std::time::SystemTime::now(),
            )
            .map_err(|rejection| registry.header_rejection(header, answer, rejection))?;
    }
    Ok((parsed, body))
}

/// Verifies the signature of a request envelope as `trust.verify` says; what verified, if it
/// did.
/// Messages that carry a `transaction_id`.
pub trait HasTransaction {
    /// The message's `transaction_id`.
    fn transaction_id(&self) -> &str;
}

impl HasTransaction for SearchRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for SubscribeRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for UnSubscribeRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::txn::TxnStatusRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::disability::DisabledRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::ibr::EnrolledRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::ibr::EnrollmentUpdatesRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl<O> HasTransaction for dci::mapper::MapperRequest<O> {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::disburse::DisburseRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl HasTransaction for dci::disburse::DisburseSearchRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

/// What a failure to answer at once is: a store failure, or a refusal of the whole message.
type AnswerResult = Result<Result<Option<crate::exchange::Answered>, Rejection>, store::StoreError>;

/// An async request message: what it is called, how many items it has, and how it is
/// answered when it is accepted (`None`: later, by the worker).
trait AsyncMessage: serde::de::DeserializeOwned + HasTransaction + Send + Sync {
    /// The request's action.
    const ACTION: Action;
    /// The name of its list of items, when it must not be empty.
    const ITEMS: Option<&'static str>;
    /// Its items' reference ids, for txn status by `reference_id_list`.
    fn reference_ids(&self) -> Vec<String>;
    /// The number of items the header's `total_count` must match.
    fn item_count(&self) -> usize {
        self.reference_ids().len()
    }
    /// Its answer, when it is answered as it is accepted.
    async fn answer(
        &self,
        registry: &Registry,
        header: &MsgHeader,
        callback_url: &str,
        correlation_id: &str,
    ) -> AnswerResult;
}

impl AsyncMessage for SearchRequest {
    const ACTION: Action = Action::Search;
    const ITEMS: Option<&'static str> = Some("search_request");
    fn reference_ids(&self) -> Vec<String> {
        let ids = self.search_request.iter();
        ids.map(|item| item.reference_id.clone().unwrap_or_default())
            .collect()
    }
    async fn answer(&self, _: &Registry, _: &MsgHeader, _: &str, _: &str) -> AnswerResult {
        Ok(Ok(None))
    }
}

impl AsyncMessage for SubscribeRequest {
    const ACTION: Action = Action::Subscribe;
    const ITEMS: Option<&'static str> = Some("subscribe_request");
    fn reference_ids(&self) -> Vec<String> {
        let ids = self.subscribe_request.iter();
        ids.map(|item| item.reference_id.clone().unwrap_or_default())
            .collect()
    }
    async fn answer(
        &self,
        registry: &Registry,
        header: &MsgHeader,
        callback_url: &str,
        correlation_id: &str,
    ) -> AnswerResult {
        crate::subscribe::answer_subscribe(registry, header, self, callback_url, correlation_id)
            .await
            .map(|answered| Ok(Some(answered)))
    }
}

impl AsyncMessage for UnSubscribeRequest {
    const ACTION: Action = Action::Unsubscribe;
    // An empty list is answered in the callback, with its reason.
    const ITEMS: Option<&'static str> = None;
    fn reference_ids(&self) -> Vec<String> {
        Vec::new()
    }
    fn item_count(&self) -> usize {
        self.subscription_codes.len()
    }
    async fn answer(
        &self,
        registry: &Registry,
        header: &MsgHeader,
        callback_url: &str,
        correlation_id: &str,
    ) -> AnswerResult {
        crate::subscribe::answer_unsubscribe(registry, header, self, callback_url, correlation_id)
            .await
            .map(|answered| Ok(Some(answered)))
    }
}

impl AsyncMessage for dci::txn::TxnStatusRequest {
    const ACTION: Action = Action::TxnStatus;
    const ITEMS: Option<&'static str> = None;
    fn reference_ids(&self) -> Vec<String> {
        self.txnstatus_request
            .reference_id
            .iter()
            .cloned()
            .collect()
    }
    fn item_count(&self) -> usize {
        1
    }
    async fn answer(
        &self,
        registry: &Registry,
        header: &MsgHeader,
        callback_url: &str,
        correlation_id: &str,
    ) -> AnswerResult {
        crate::exchange::answer_txn_status(registry, header, self, callback_url, correlation_id)
            .await
            .map(|answer| answer.map(Some))
    }
}

/// A request envelope whose header and message parsed.
pub struct Parsed<M> {
    /// The request's header.
    pub header: MsgHeader,
    /// Its message, decrypted.
    pub message: M,
}

/// Parses an envelope and its message; every failure is a communication error.
/// Reads an envelope whose message is an `M`. An encrypted message (`is_msg_encrypted`, the
/// DCI JWE object) is decrypted with the service's own encryption keys; the signature, checked
/// before, covers the ciphertext (encrypt, then sign).
pub fn parse_envelope<M: serde::de::DeserializeOwned>(
    registry: &Registry,
    body: &[u8],
) -> Result<Parsed<M>, Rejection> {
    let bad = |message: String| Rejection::new(ReasonCode::RequestBad, message);
    let raw = RawEnvelope::parse(body)?;
    let header: MsgHeader = raw.header()?;
    let message = raw
        .message
        .ok_or_else(|| bad("the envelope has no message".into()))?;
    let message: M = if header.is_msg_encrypted {
        let Some(trust) = &registry.config.trust else {
            return Err(Rejection::new(
                ReasonCode::EncryptionInvalid,
                "this service has no encryption key",
            ));
        };
        let encrypted: serde_json::Value = serde_json::from_str(message.get())
            .map_err(|e| Rejection::new(ReasonCode::EncryptionInvalid, e.to_string()))?;
        let plain = trust.signer.decrypter().decrypt(&encrypted)?;
        serde_json::from_value(plain).map_err(|e| bad(format!("message: {e}")))?
    } else {
        serde_json::from_str(message.get()).map_err(|e| bad(format!("message: {e}")))?
    };
    Ok(Parsed { header, message })
}

impl Registry {
    /// A callback header answering `request` (or none, for a notification).
    pub fn callback_header(
        &self,
        request: Option<&MsgHeader>,
        action: Action,
        status: RequestStatus,
    ) -> MsgCallbackHeader {
        MsgCallbackHeader {
            version: dci::PROTOCOL_VERSION.into(),
            message_id: new_id(),
            message_ts: Timestamp::now(),
            action: action.as_str().into(),
            status,
            status_reason_code: None,
            status_reason_message: None,
            total_count: request.and_then(|h| h.total_count),
            completed_count: None,
            sender_id: Some(self.config.service_id.clone()),
            receiver_id: request
                .map(|h| h.sender_id.clone())
                .filter(|s| !s.is_empty()),
            is_msg_encrypted: false,
            meta: None,
        }
    }

    /// An envelope rejecting the whole message at header level (no message, `status: rjct`).
    pub fn rejection_envelope<M>(
        &self,
        request: Option<&MsgHeader>,
        action: Action,
        rejection: Rejection,
        message_id: String,
    ) -> Envelope<MsgCallbackHeader, M> {
        let mut header = self.callback_header(request, action, RequestStatus::Rjct);
        header.message_id = message_id;
        header.status_reason_code = Some(rejection.code);
        header.status_reason_message = Some(rejection.message);
        header.completed_count = Some(0);
        Envelope {
            signature: None,
            header,
            message: None,
        }
    }

    /// An envelope answering `request` with `message`, `completed` items done.
    pub fn response_envelope<M>(
        &self,
        request: &MsgHeader,
        action: Action,
        completed: usize,
        message: M,
    ) -> Envelope<MsgCallbackHeader, M> {
        let mut header = self.callback_header(Some(request), action, RequestStatus::Succ);
        header.completed_count = Some(completed as i64);
        Envelope {
            signature: None,
            header,
            message: Some(message),
        }
    }

    /// An envelope answered with `status`: signed with this service's current key.
    pub fn reply<T: serde::Serialize>(&self, status: StatusCode, envelope: &T) -> Response {
        let text = serde_json::to_string(envelope).expect("an envelope always serializes");
        self.reply_text(status, text)
    }

    /// An envelope already written as JSON `text`, answered with `status`: signed with this
    /// service's current key.
    fn reply_text(&self, status: StatusCode, text: String) -> Response {
        let json = [(header::CONTENT_TYPE, "application/json")];
        let Some(trust) = &self.config.trust else {
            return (status, json, text).into_response();
        };
        match trust.signer.sign_text(&text) {
            Ok(signed) => (status, json, signed).into_response(),
            Err(e) => {
                // Nothing leaves unsigned.
                tracing::error!(error = %e, "cannot sign a response");
                http_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ReasonCode::ServiceUnavailable,
                    "the service cannot sign its answer; try again".into(),
                )
            }
        }
    }

    /// The HTTP answer to a sync request: `message` in an `action` envelope with `completed`
    /// items done, encrypted when the request was, signed, with the audit `note`.
    pub async fn sync_answer<M: serde::Serialize>(
        &self,
        request: &MsgHeader,
        action: Action,
        completed: usize,
        message: M,
        note: AuditNote,
    ) -> Response {
        let envelope = self.response_envelope(request, action, completed, message);
        match self.seal(request, &envelope).await {
            Ok(sealed) => note.on(self.reply_text(StatusCode::OK, sealed)),
            Err(rejection) => self.header_rejection(request, action, rejection),
        }
    }

    /// The HTTP answer rejecting a sync request at header level.
    pub fn header_rejection(
        &self,
        request: &MsgHeader,
        action: Action,
        rejection: Rejection,
    ) -> Response {
        if rejection.code.is_error() {
            return error_ack(rejection);
        }
        tracing::debug!(code = %rejection.code, message = %rejection.message, "message rejected");
        let status = status_of(rejection.code);
        let note = AuditNote::of(request, rejection.code.as_str());
        let envelope: Envelope<MsgCallbackHeader, ()> =
            self.rejection_envelope(Some(request), action, rejection, new_id());
        note.on(self.reply(status, &envelope))
    }
}

/// The answer when the store fails: `err.service.unavailable` (503), the error logged.
pub fn store_failure(e: &store::StoreError) -> Response {
    tracing::error!(error = %e, "the store could not answer");
    http_error(
        StatusCode::SERVICE_UNAVAILABLE,
        ReasonCode::ServiceUnavailable,
        "the registry's store could not answer; try again".into(),
    )
}

fn ack(correlation_id: String) -> Response {
    let body = AckResponse {
        message: dci::Ack {
            ack_status: dci::AckStatus::Ack,
            timestamp: Timestamp::now(),
            correlation_id,
            error: None,
        },
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn sync_search(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let (Parsed { header, message }, _) =
        match read_request::<SearchRequest>(&registry, request, Some(Action::OnSearch)).await {
            Ok(read) => read,
            Err(response) => return response,
        };
    if message.search_request.is_empty() {
        return error_ack(Rejection::new(
            ReasonCode::RequestBad,
            "message.search_request is empty",
        ));
    }
    let now = Timestamp::now();
    if let Err(rejection) = dci::validate::request_header(
        &header,
        Action::Search,
        message.search_request.len(),
        &registry.config.header,
        now,
    ) {
        return registry.header_rejection(&header, Action::OnSearch, rejection);
    }
    let access = registry.access_of(&header.sender_id);
    let budget = registry.config.search.sync_budget;
    let items = match crate::search::answer_all(&registry, &message, now.0.date(), &access, budget)
        .await
    {
        Ok(items) => items,
        Err(store::StoreError::Timeout) => {
            return error_ack(Rejection::new(
                ReasonCode::RequestTimeout,
                format!(
                    "a query of this search ran longer than this registry's budget of {} ms for a sync search; send it as an async search (POST /registry/search), which is answered by callback",
                    budget.unwrap_or_default().as_millis()
                ),
            ));
        }
        Err(e) => return store_failure(&e),
    };
    let completed = items.len();
    let correlation_id = new_id();
    let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .correlation(&correlation_id)
        .disclosing(&items);
    let response = SearchResponse {
        transaction_id: message.transaction_id,
        correlation_id,
        search_response: items,
    };
    registry
        .sync_answer(&header, Action::OnSearch, completed, response, note)
        .await
}

/// What every async request goes through before it is stored: its `message_id`, the
/// communication-level checks of its header (header-level rejections come in the callback) and
/// its callback URL. Gives the callback URL, or the `ERR` acknowledgement.
pub async fn async_prelude(
    registry: &Registry,
    header: &MsgHeader,
    action: Action,
    items: usize,
) -> Result<String, Response> {
    dci::validate::id("header.message_id", &header.message_id).map_err(error_ack)?;
    if let Err(rejection) = dci::validate::request_header(
        header,
        action,
        items.max(1),
        &registry.config.header,
        Timestamp::now(),
    ) && rejection.code.is_error()
    {
        return Err(error_ack(rejection));
    }
    let callback = match header.sender_uri.as_deref().filter(|u| !u.is_empty()) {
        Some(url) if crate::exchange::callback_allowed(registry, &header.sender_id, url) => {
            url.to_string()
        }
        Some(url) => {
            return Err(error_ack(Rejection::new(
                ReasonCode::SenderUriInvalid,
                format!("callbacks to '{url}' are not allowed for this sender"),
            )));
        }
        None => {
            return Err(error_ack(Rejection::new(
                ReasonCode::SenderUriInvalid,
                "header.sender_uri is required for an async request",
            )));
        }
    };
    Ok(callback)
}

/// Stores an accepted async request (with its answer, if it has one) and acknowledges it.
pub async fn accept_and_ack(
    registry: &Registry,
    incoming: crate::exchange::Incoming<'_>,
    correlation_id: String,
    answered: Result<Option<crate::exchange::Answered>, store::StoreError>,
) -> Response {
    let answered = match answered {
        Ok(answered) => answered,
        Err(e) => return store_failure(&e),
    };
    let (header, body, action) = (incoming.header, incoming.body, incoming.action);
    let mut note = AuditNote::of(header, "ack").transaction(incoming.transaction_id);
    // An answer made at once (txn status, subscriptions) goes out in the callback: what it
    // discloses is recorded with the request.
    if let Some(answered) = &answered
        && let Ok(answer) = serde_json::from_str::<serde_json::Value>(&answered.response)
    {
        note = note.disclosing_in(&answer);
    }
    match crate::exchange::accept(registry, incoming, correlation_id, answered).await {
        Ok(crate::exchange::Accepted::New(correlation_id)) => {
            note.correlation(&correlation_id).on(ack(correlation_id))
        }
        // A retry is acknowledged as the first time; another message with the same id is not.
        Ok(crate::exchange::Accepted::Duplicate(earlier)) if earlier.is_retry_of(body) => note
            .correlation(&earlier.correlation_id)
            .on(ack(earlier.correlation_id)),
        Ok(crate::exchange::Accepted::Duplicate(_)) => registry.header_rejection(
            header,
            action.answer(),
            Rejection::new(
                ReasonCode::MessageIdDuplicate,
                format!(
                    "message_id '{}' was already used by another message of {}",
                    header.message_id, header.sender_id
                ),
            ),
        ),
        Err(e) => store_failure(&e),
    }
}

/// `POST /registry/search`, `/registry/subscribe`, `/registry/unsubscribe` and
/// `/registry/txn/status`: the message is checked, stored durably (with its answer when it is
/// answered at once) and acknowledged; the answer goes to the callback URL.
async fn async_request<M: AsyncMessage>(
    State(registry): State<Arc<Registry>>,
    request: Request,
) -> Response {
    let (Parsed { header, message }, body) = match read_request::<M>(&registry, request, None).await
    {
        Ok(read) => read,
        Err(response) => return response,
    };
    let reference_ids = message.reference_ids();
    if let Some(items) = M::ITEMS
        && reference_ids.is_empty()
    {
        return error_ack(Rejection::new(
            ReasonCode::RequestBad,
            format!("message.{items} is empty"),
        ));
    }
    let callback = match async_prelude(&registry, &header, M::ACTION, message.item_count()).await {
        Ok(callback) => callback,
        Err(response) => return response,
    };
    let correlation_id = new_id();
    let answered = match message
        .answer(&registry, &header, &callback, &correlation_id)
        .await
    {
        Ok(Ok(answered)) => Ok(answered),
        Ok(Err(rejection)) => return error_ack(rejection),
        Err(e) => Err(e),
    };
    let incoming = crate::exchange::Incoming {
        header: &header,
        action: M::ACTION,
        transaction_id: message.transaction_id(),
        reference_ids,
        callback_url: &callback,
        body: &body,
        changes: Vec::new(),
    };
    accept_and_ack(&registry, incoming, correlation_id, answered).await
}

/// The body of a request of a registrar's system (not DCI): JSON, read as a `T`; or the
/// answer refusing it (HTTP 400 `err.request.bad` naming what is wrong).
pub(crate) async fn registrar_body<T: serde::de::DeserializeOwned>(
    registry: &Registry,
    request: Request,
) -> Result<T, Response> {
    let body = json_body(request, registry.config.max_body_bytes).await?;
    serde_json::from_slice(&body).map_err(|e| {
        http_error(
            StatusCode::BAD_REQUEST,
            ReasonCode::RequestBad,
            e.to_string(),
        )
    })
}

/// The answer to a registrar's request: its report, or HTTP 400 `err.request.bad` with the
/// reason it was not applied.
pub(crate) fn registrar_answer<R: serde::Serialize>(
    applied: Result<Result<R, String>, store::StoreError>,
) -> Response {
    match applied {
        Ok(Ok(report)) => AuditNote::outcome(RequestStatus::Succ.as_str()).on((
            StatusCode::OK,
            axum::Json(report),
        )
            .into_response()),
        Ok(Err(reason)) => http_error(StatusCode::BAD_REQUEST, ReasonCode::RequestBad, reason),
        Err(e) => store_failure(&e),
    }
}

/// `POST /registry/sync/txn/status`: the state of an earlier transaction of the sender.
async fn sync_txn_status(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let (Parsed { header, message }, _) = match read_request::<dci::txn::TxnStatusRequest>(
        &registry,
        request,
        Some(Action::TxnOnStatus),
    )
    .await
    {
        Ok(read) => read,
        Err(response) => return response,
    };
    if let Err(rejection) = dci::validate::request_header(
        &header,
        Action::TxnStatus,
        1,
        &registry.config.header,
        Timestamp::now(),
    ) {
        return registry.header_rejection(&header, Action::TxnOnStatus, rejection);
    }
    match crate::exchange::txn_status(&registry, &header.sender_id, &message).await {
        Ok(Ok(response)) => {
            let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
                .transaction(&message.transaction_id)
                .disclosing_in(&response.txnstatus_response.txn_status);
            registry
                .sync_answer(&header, Action::TxnOnStatus, 1, response, note)
                .await
        }
        Ok(Err(rejection)) => error_ack(rejection),
        Err(e) => store_failure(&e),
    }
}
