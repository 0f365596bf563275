//! Who is calling: the OAuth2 token endpoint, the bearer-token check in front of every DCI
//! endpoint, per-participant rate limits, and the verification of each participant's
//! signature form (dci-spec §8.1, §8.2, §8.4).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dci::{ReasonCode, Rejection};
use serde::Deserialize;
use serde_json::Value;
use trust::KeyResolver as _;
use trust::access::AccessRules;

use crate::participants::{Participant, SignatureForm, scope};
use crate::{Registry, Verify};

/// The authenticated caller of a request, put in its extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The participant the token was issued to.
    pub participant: Arc<Participant>,
    /// The token's claims.
    pub claims: trust::Claims,
}

/// The scope an endpoint requires.
fn scope_for(path: &str) -> &'static str {
    match path {
        "/registry/subscribe" | "/registry/unsubscribe" => scope::SUBSCRIBE,
        "/registry/txn/status" | "/registry/sync/txn/status" => scope::TXN_STATUS,
        p if p.starts_with("/registrar/") => scope::REGISTRAR,
        "/registry/sync/enrollment/updates" => scope::PUBLISH,
        "/mapper/link" | "/mapper/sync/link" => scope::MAPPER_LINK,
        "/mapper/update" | "/mapper/sync/update" => scope::MAPPER_UPDATE,
        "/mapper/unlink" | "/mapper/sync/unlink" => scope::MAPPER_UNLINK,
        "/mapper/resolve" | "/mapper/sync/resolve" => scope::MAPPER_RESOLVE,
        p if p.starts_with("/mapper/") => scope::MAPPER_STATUS,
        "/disburse" | "/disburse/sync/disburse" => scope::DISBURSE,
        p if p.starts_with("/disburse/") => scope::DISBURSE_STATUS,
        _ => scope::SEARCH,
    }
}

/// An `HttpErrorResponse` with a DCI code and its HTTP status.
pub(crate) fn refuse(code: ReasonCode, message: String) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = dci::HttpErrorResponse {
        errors: vec![dci::envelope::HttpError {
            code: code.as_str().into(),
            message,
        }],
    };
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    crate::audit::AuditNote::outcome(code.as_str()).on(response)
}

/// Middleware in front of the DCI and registrar endpoints: authenticates the caller (see
/// [`authenticate`]), runs the handler, and records the exchange in the audit chain before the
/// answer leaves.
pub(crate) async fn guard(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Response {
    let started = (std::time::Instant::now(), time::OffsetDateTime::now_utc());
    let endpoint = request.uri().path().to_owned();
    let (caller, response) = authenticate(&registry, request, next).await;
    crate::audit::record(&registry, &endpoint, caller.as_deref(), started, response).await
}

/// When the service requires tokens: a valid bearer token of a registered participant with the
/// endpoint's scope, within the participant's rate limit; then the handler. The token's
/// participant, once known, and the answer.
async fn authenticate(
    registry: &Registry,
    mut request: Request,
    next: Next,
) -> (Option<String>, Response) {
    let (Some(tokens), Some(true)) = (
        &registry.tokens,
        registry.config.trust.as_ref().map(|t| t.require_token),
    ) else {
        return (None, next.run(request).await);
    };
    let unauthorized = |message: String| refuse(ReasonCode::RequestUnauthorized, message);
    let Some(token) = bearer(request.headers()) else {
        let message = "a bearer token is required: get one at POST /oauth2/client/token";
        return (None, unauthorized(message.into()));
    };
    let claims = match tokens.validate(token, SystemTime::now()) {
        Ok(claims) => claims,
        Err(e) => return (None, unauthorized(e.to_string())),
    };
    let caller = Some(claims.sub.clone());
    let Some(participant) = registry.participants.get(&claims.sub) else {
        let message = format!(
            "'{}' is no longer a participant of this service",
            claims.sub
        );
        return (caller, unauthorized(message));
    };
    let needed = scope_for(request.uri().path());
    if !claims.has_scope(needed) {
        let message =
            format!("the token does not carry the scope '{needed}' this endpoint requires");
        return (caller, refuse(ReasonCode::RequestForbidden, message));
    }
    if let Err(wait) = registry.participants.admit(&participant) {
        let mut response = refuse(
            ReasonCode::RequestTooManyRequests,
            format!("'{}' is over its rate limit", participant.sender_id),
        );
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return (caller, response);
    }
    request.extensions_mut().insert(Caller {
        participant,
        claims,
    });
    (caller, next.run(request).await)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The form of `POST /oauth2/client/token` (RFC 6749 §4.4).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &str, description: String) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"spx\""),
        );
    }
    response
}

/// `POST /oauth2/client/token`: the client-credentials grant. The client authenticates with
/// `client_id` and `client_secret` in the form or with HTTP Basic (RFC 6749 §2.3.1); the
/// token carries the scopes asked for (all of the participant's when none are).
pub(crate) async fn token(
    State(registry): State<Arc<Registry>>,
    headers: HeaderMap,
    form: Result<axum::Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(tokens) = &registry.tokens else {
        return refuse(
            ReasonCode::RequestNotFound,
            "this service does not issue tokens (it has no signing key)".into(),
        );
    };
    let form = match form {
        Ok(axum::Form(form)) => form,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("expected a form (application/x-www-form-urlencoded): {e}"),
            );
        }
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials".into(),
        );
    }
    let Some((client_id, secret)) = basic(&headers).or(form.client_id.zip(form.client_secret))
    else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required".into(),
        );
    };
    let Some(participant) = registry
        .participants
        .authenticate(&client_id, &secret)
        .await
    else {
        tracing::info!(%client_id, "token refused: unknown client or wrong secret");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret".into(),
        );
    };
    let granted: Vec<String> = match form.scope.as_deref().map(str::split_whitespace) {
        None => participant.scopes.clone(),
        Some(asked) => {
            let asked: Vec<String> = asked.map(str::to_owned).collect();
            if let Some(refused) = asked.iter().find(|s| !participant.scopes.contains(s)) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("'{client_id}' may not have the scope '{refused}'"),
                );
            }
            asked
        }
    };
    match tokens.issue(&client_id, &granted, SystemTime::now()) {
        Ok(issued) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign an access token");
            refuse(
                ReasonCode::ServiceUnavailable,
                "the service cannot sign a token; try again".into(),
            )
        }
    }
}

/// HTTP Basic client credentials (`client_id:client_secret`; spx secrets need no escaping).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// What a checked signature established, for the replay guard.
pub(crate) struct Signed {
    pub(crate) sender_id: String,
    pub(crate) expires: SystemTime,
}

/// How long a JWS-signed message is remembered against replays (a JWS has no `expires`).
const JWS_REPLAY_WINDOW: Duration = trust::DEFAULT_VALIDITY;

/// Checks the signature of a request from `sender_id` in the form its participant uses.
/// `None` when nothing was checked (verification off, an unsigned message of a participant
/// allowed to send them, or a failure that `trust.verify = log` lets through).
pub(crate) async fn check_signature(
    registry: &Registry,
    body: &[u8],
    header_signature: Option<&str>,
    sender_id: &str,
) -> Result<Option<Signed>, Rejection> {
    let Some(trust) = &registry.config.trust else {
        return Ok(None);
    };
    if trust.verify == Verify::Off {
        return Ok(None);
    }
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(ReasonCode::RequestBad, e.to_string()))?;
    let participant = registry.participants.get(sender_id);
    let form = participant
        .as_ref()
        .map(|p| p.signature)
        .unwrap_or_default();
    let member = envelope
        .get("signature")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    let unsigned = match form {
        SignatureForm::JwsDetached => header_signature.is_none(),
        SignatureForm::Dci | SignatureForm::JwsCompact => member.is_none(),
    };
    if unsigned && participant.as_ref().is_some_and(|p| p.allow_unsigned) {
        tracing::info!(%sender_id, "unsigned request accepted: the participant is allowed to send unsigned messages");
        return Ok(None);
    }
    let keys = PeerKeys {
        participants: &registry.participants,
        configured: trust.peers.as_ref(),
    };
    let now = SystemTime::now();
    let jws_signed = |verified: trust::VerifiedJws| Signed {
        sender_id: verified.sender_id,
        expires: now + JWS_REPLAY_WINDOW,
    };
    let verified: Result<Signed, trust::SignatureError> = match (form, header_signature, member) {
        (SignatureForm::JwsDetached, Some(jws), _) => {
            trust::verify_detached_jws(jws, body, sender_id, &keys)
                .await
                .map(jws_signed)
        }
        (SignatureForm::JwsCompact, _, Some(jws)) => {
            match trust::verify_compact_jws(jws, sender_id, &keys).await {
                Ok(verified) => {
                    let signed: Option<Value> = serde_json::from_slice(&verified.payload).ok();
                    let expected = serde_json::json!({
                        "header": envelope.get("header"),
                        "message": envelope.get("message"),
                    });
                    if signed.as_ref() == Some(&expected) {
                        Ok(jws_signed(verified))
                    } else {
                        Err(trust::SignatureError::Malformed(
                            "the JWS payload is not this envelope's header and message".into(),
                        ))
                    }
                }
                Err(e) => Err(e),
            }
        }
        (SignatureForm::Dci, _, _) => {
            trust::verify_envelope(&envelope, &keys, now, &trust::VerifyPolicy::default())
                .await
                .map(|v| Signed {
                    sender_id: v.sender_id,
                    expires: v.expires,
                })
        }
        _ => Err(trust::SignatureError::Missing),
    };
    match verified {
        Ok(signed) => Ok(Some(signed)),
        Err(e) if trust.verify == Verify::Log => {
            tracing::info!(%sender_id, reason = %e, "served without a valid signature (trust.verify = log)");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A sender's keys: those of its participant entry, else those of the configuration.
struct PeerKeys<'a> {
    participants: &'a crate::participants::Participants,
    configured: &'a dyn trust::KeyResolver,
}

#[async_trait::async_trait]
impl trust::KeyResolver for PeerKeys<'_> {
    async fn resolve(
        &self,
        sender_id: &str,
        kid: &str,
    ) -> Result<trust::VerifyingKey, trust::ResolveError> {
        match self.participants.resolve(sender_id, kid).await {
            Err(trust::ResolveError::UnknownSender { .. }) => {
                self.configured.resolve(sender_id, kid).await
            }
            found => found,
        }
    }

    async fn encryption_key(
        &self,
        receiver_id: &str,
    ) -> Result<Option<trust::EncryptionKey>, trust::ResolveError> {
        match self.participants.encryption_key(receiver_id).await {
            Err(trust::ResolveError::UnknownSender { .. }) => {
                self.configured.encryption_key(receiver_id).await
            }
            found => found,
        }
    }
}

impl Registry {
    /// `envelope`, an answer to `request`, as JSON text; when the request came encrypted, with
    /// its message encrypted (DCI JWE) for the requester's `use: enc` key and
    /// `header.is_msg_encrypted` set. A requester that publishes no encryption key gets
    /// `err.encryption.invalid`. A clear envelope is written straight to text: its records stay
    /// the text they are stored as (going through a `Value` parsed each of them into a tree,
    /// written it out and dropped it: a fifth of the work of answering 1,000 records).
    pub async fn seal(
        &self,
        request: &dci::MsgHeader,
        envelope: &impl serde::Serialize,
    ) -> Result<String, Rejection> {
        if request.is_msg_encrypted {
            Ok(self
                .seal_for(&request.sender_id, envelope)
                .await?
                .to_string())
        } else {
            Ok(serde_json::to_string(envelope).expect("an envelope always serializes"))
        }
    }

    /// `envelope` as JSON with its message encrypted (DCI JWE) for `recipient`'s `use: enc`
    /// key; `err.encryption.invalid` when it publishes none.
    pub async fn seal_for(
        &self,
        recipient: &str,
        envelope: &impl serde::Serialize,
    ) -> Result<Value, Rejection> {
        let mut value = serde_json::to_value(envelope).expect("an envelope serializes");
        if value.get("message").is_none_or(Value::is_null) {
            return Ok(value);
        }
        let unavailable = |reason: String| Rejection::new(ReasonCode::EncryptionInvalid, reason);
        let trust = self
            .config
            .trust
            .as_ref()
            .ok_or_else(|| unavailable("this service cannot encrypt".into()))?;
        let keys = PeerKeys {
            participants: &self.participants,
            configured: trust.peers.as_ref(),
        };
        let key = keys
            .encryption_key(recipient)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .ok_or_else(|| {
                unavailable(format!(
                    "'{recipient}' asked for encrypted messages but publishes no encryption key (use: enc)"
                ))
            })?;
        let sealed = trust::jwe::encrypt(&value["message"], &key)?;
        value["message"] = sealed;
        value["header"]["is_msg_encrypted"] = Value::Bool(true);
        Ok(value)
    }

    /// What `sender_id` may see: its participant's rules; everything when the service does
    /// not require tokens and the sender is not registered; nothing otherwise.
    pub fn access_of(&self, sender_id: &str) -> AccessRules {
        match self.participants.get(sender_id) {
            Some(participant) => participant.access.clone(),
            None if self.config.trust.as_ref().is_some_and(|t| t.require_token) => {
                AccessRules::nothing()
            }
            None => AccessRules::default(),
        }
    }
}

/// Checks that the header's sender is the token's participant; the refusal's message.
pub(crate) fn check_sender(caller: Option<&Caller>, sender_id: &str) -> Result<(), String> {
    match caller {
        Some(caller) if caller.participant.sender_id != sender_id => Err(format!(
            "header.sender_id '{sender_id}' is not the token's participant '{}'",
            caller.participant.sender_id
        )),
        _ => Ok(()),
    }
}
