//! spx's pages, served by `spx serve --role web` and `spx sandbox`: the IBR coverage
//! dashboard for staff (behind a login) and the citizen benefit-status page (public, with a
//! second factor and rate limits).
//!
//! Pages are rendered on the server with askama templates (`templates/`); the one script is
//! htmx 2 (`assets/htmx.min.js`, vendored from npm `htmx.org`, 0BSD) and the one stylesheet is
//! ours, both embedded in the binary: nothing to build with Node, nothing fetched at run time.
//! Charts are SVG drawn on the server ([`chart`]).
//!
//! **Where the data comes from** (see `docs/security.md`):
//! - the citizen page asks over DCI, as a participant of each registry: the foundational ID
//!   registry whether the UIN goes with the birth date (a verification; nothing is shown
//!   otherwise), and the IBR for the person's enrolments and payments;
//! - the citizen page's access log, and the dashboard's counts, are read from the registries'
//!   stores, read-only ([`Sources`]): no DCI message asks for an audit chain, and counting
//!   the whole IBR by paging through DCI searches would disclose every record to this service
//!   to show aggregates;
//! - the programme officer views read the SP-MIS's store, read-only ([`officer`]): the
//!   SP-MIS has no API for its history and entitlements;
//! - staff users and sessions are kept in the web service's own store ([`auth::MIGRATIONS`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use registry::participants::{RateBuckets, RateLimit};
use store::Store;

pub mod auth;
pub mod chart;
pub mod citizen;
pub mod coverage;
pub mod dashboard;
pub mod exchange;
pub mod officer;

/// The role name of the web service (`spx serve --role web`, its store `web.db`).
pub const ROLE: &str = "web";

/// What the web service reads: registries' stores (read-only) and registries over DCI.
#[derive(Clone)]
pub struct Sources {
    /// The IBR's store: the dashboard's counts and amounts.
    pub ibr: Arc<dyn Store>,
    /// The social registry's store: the coverage gaps (poor people in no programme).
    pub social: Arc<dyn Store>,
    /// The stores whose audit chains the citizen page reads, each with the name people know
    /// the service by ("civil registry").
    pub audits: Vec<(String, Arc<dyn Store>)>,
    /// The SP-MIS's store: the programme officer views (none: they say so).
    pub mis: Option<Arc<dyn Store>>,
    /// The IBR over DCI: a citizen's enrolments and payments.
    pub ibr_dci: client::Client,
    /// The foundational ID registry over DCI: whether a UIN goes with a birth date.
    pub id_dci: client::Client,
}

/// How the web service behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark cookies `Secure` (sent over HTTPS only). Off only for plain-HTTP loopback.
    pub secure_cookies: bool,
    /// How long a staff session lasts.
    pub session_ttl: Duration,
    /// Status look-ups one client address may make.
    pub citizen_per_address: RateLimit,
    /// Status look-ups of one UIN, whoever asks.
    pub citizen_per_uin: RateLimit,
    /// Login attempts one client address may make.
    pub login_per_address: RateLimit,
    /// Households at or under this poverty score are meant to be covered: their members in no
    /// programme are the dashboard's gaps.
    pub gap_poverty_score: f64,
    /// Take the client's address from the first `X-Forwarded-For` entry (only behind a proxy
    /// that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            secure_cookies: true,
            session_ttl: Duration::from_secs(8 * 3600),
            citizen_per_address: RateLimit {
                per_second: 10.0 / 60.0,
                burst: 10,
            },
            citizen_per_uin: RateLimit {
                per_second: 5.0 / 3600.0,
                burst: 5,
            },
            login_per_address: RateLimit {
                per_second: 10.0 / 60.0,
                burst: 10,
            },
            gap_poverty_score: 20.0,
            trust_forwarded_for: false,
        }
    }
}

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// A registry did not answer as it should.
    #[error("{registry}: {message}")]
    Registry {
        /// Which registry.
        registry: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A template could not be rendered.
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    /// A password could not be hashed.
    #[error("password: {0}")]
    Secret(#[from] trust::secret::SecretError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "page failed");
        let status = match self {
            WebError::Registry { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match status {
            StatusCode::BAD_GATEWAY => {
                "A registry this page needs did not answer. Try again later."
            }
            _ => "Something went wrong on our side. Try again later.",
        };
        page(status, &Message::new("Not available", message))
    }
}

/// The web service: its own store (users, sessions), what it reads, how it behaves.
pub struct Web {
    store: Arc<dyn Store>,
    sources: Sources,
    settings: Settings,
    limits: RateBuckets,
    metrics: Arc<registry::metrics::Metrics>,
}

impl Web {
    /// The web service on `store` (opened with [`auth::MIGRATIONS`]).
    pub fn new(store: Arc<dyn Store>, sources: Sources, settings: Settings) -> Arc<Web> {
        Arc::new(Web {
            store,
            sources,
            settings,
            limits: RateBuckets::default(),
            metrics: Arc::default(),
        })
    }

    /// Its own store (users and sessions).
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Every page and asset, and `/metrics` (requests by route and HTTP status, latency).
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>` so that rate limits
    /// know the client's address.
    pub fn router(self: &Arc<Self>) -> Router {
        let metrics = self.metrics.clone();
        Router::new()
            .route("/", get(|| async { redirect("/status") }))
            .route(
                "/metrics",
                get(move || async move { registry::metrics::serve(&metrics, None).await }),
            )
            .route("/assets/htmx.min.js", get(htmx))
            .route("/assets/spx.css", get(css))
            .merge(citizen::routes())
            .merge(auth::routes())
            .merge(dashboard::routes())
            .merge(officer::routes())
            .merge(exchange::routes())
            .with_state(self.clone())
            .route_layer(axum::middleware::from_fn_with_state(
                self.metrics.clone(),
                registry::metrics::count,
            ))
    }

    /// Admits one request keyed `key` under `limit`: `None`, or the 429 page to answer.
    fn admit(&self, key: &str, limit: RateLimit, what: &str) -> Option<Response> {
        self.limits.admit(key, limit).err().map(|wait| {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let minutes = seconds.div_ceil(60).max(1);
            let text = format!(
                "Too many {what} in a short time. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                &Message::new("Too many requests", &text),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        })
    }

    /// The client's address, once a form has passed its CSRF check (`csrf`, its field) and
    /// the client's rate limit `gate` (key prefix, limit, what is limited, for the page);
    /// or the page that refuses it.
    fn screen(
        &self,
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
        csrf: &str,
        (prefix, limit, what): (&str, RateLimit, &str),
    ) -> Result<String, Box<Response>> {
        if !auth::csrf_matches(headers, csrf) {
            return Err(Box::new(auth::csrf_refused()));
        }
        let address = self.client_address(headers, peer);
        match self.admit(&format!("{prefix}:{address}"), limit, what) {
            Some(refused) => Err(Box::new(refused)),
            None => Ok(address),
        }
    }

    /// The client's address: the connection's peer, or the first `X-Forwarded-For` entry
    /// when the settings trust the proxy.
    fn client_address(
        &self,
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
    ) -> String {
        let forwarded = self
            .settings
            .trust_forwarded_for
            .then(|| headers.get("x-forwarded-for")?.to_str().ok())
            .flatten()
            .and_then(|list| list.split(',').next())
            .map(|first| first.trim().to_string());
        forwarded
            .or_else(|| peer.map(|ConnectInfo(addr)| addr.ip().to_string()))
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A page that says one thing.
#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    staff: Option<&'a auth::Staff>,
}

impl<'a> Message<'a> {
    fn new(title: &'a str, text: &'a str) -> Self {
        Message {
            title,
            text,
            staff: None,
        }
    }
}

/// `template` rendered with `status`; a template error becomes a plain 500.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, html_headers(), Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template failed").into_response()
        }
    }
}

/// Headers of every page: no caching of personal data, no framing, a strict content policy
/// (scripts and styles from this origin only).
fn html_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    ]
}

/// A `303 See Other` to `to`.
fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

const HTMX: &str = include_str!("../assets/htmx.min.js");
const CSS: &str = include_str!("../assets/spx.css");

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The first label of `code` in a DCI code directory (`1` → `cash`), or the code itself.
fn label(directory: &'static [dci::directory::Entry], code: &str) -> String {
    directory
        .iter()
        .find(|(c, _)| *c == code)
        .and_then(|(_, labels)| labels.first())
        .map_or_else(|| code.to_string(), |l| l.to_string())
}

/// The text in cell `i` of `row` (empty when NULL or not text).
fn text(row: &store::Row, i: usize) -> String {
    match row.get(i) {
        Some(Some(store::SqlValue::Text(s))) => s.clone(),
        _ => String::new(),
    }
}

/// The integer in cell `i` of `row` (0 when NULL or not an integer).
fn int(row: &store::Row, i: usize) -> i64 {
    match row.get(i) {
        Some(Some(store::SqlValue::Integer(n))) => *n,
        _ => 0,
    }
}

/// `12345` → `12,345`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Minor units as `USD 1,234.50`.
fn money(currency: &str, minor: i64) -> String {
    format!(
        "{currency} {}.{:02}",
        thousands(minor / 100),
        (minor % 100).abs()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
        assert_eq!(super::thousands(-1234), "-1,234");
        assert_eq!(super::money("USD", 123456), "USD 1,234.56");
        assert_eq!(super::money("USD", 5), "USD 0.05");
    }
}
