//! Staff access: users with a role and an argon2id password hash, sessions in `HttpOnly`
//! `SameSite=Strict` cookies (`Secure` unless the settings serve plain HTTP), and a CSRF token
//! on every form.
//!
//! A session cookie holds 32 random bytes; the store keeps only their SHA-256, so a copy of
//! the database opens no session. CSRF tokens are double-submitted: a random token in a
//! `SameSite=Strict` cookie that each form repeats in a hidden field; a POST whose field does
//! not match its cookie (compared in constant time) is refused before anything else.

use std::sync::{Arc, OnceLock};

use askama::Template;
use aws_lc_rs::digest;
use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use store::{ColumnType, Migration, SqlValue, Statement, Store, numbered};

use crate::{Web, WebError, page, redirect, text};

/// The users and sessions tables of the web service's own store.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1201,
    name: "web users and sessions",
    sqlite: "CREATE TABLE web_user (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE web_session (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        role TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX web_session_expiry ON web_session (expires_at);",
    postgres: "CREATE TABLE web_user (
        username TEXT COLLATE \"C\" PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE web_session (
        token_hash TEXT COLLATE \"C\" PRIMARY KEY,
        username TEXT NOT NULL,
        role TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX web_session_expiry ON web_session (expires_at);",
}];

/// The session cookie.
pub const SESSION_COOKIE: &str = "spx_session";
/// The CSRF cookie (its token is repeated in each form's `csrf` field).
pub const CSRF_COOKIE: &str = "spx_csrf";

/// What a staff member may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// Everything, and managing users.
    Admin,
    /// The coverage dashboard.
    Analyst,
    /// A programme's beneficiaries (the programme officer views).
    Officer,
}

impl StaffRole {
    /// Every role, as configuration and the CLI name them.
    pub const ALL: [StaffRole; 3] = [StaffRole::Admin, StaffRole::Analyst, StaffRole::Officer];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Analyst => "analyst",
            StaffRole::Officer => "officer",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Option<StaffRole> {
        Self::ALL.into_iter().find(|r| r.as_str() == name.trim())
    }

    /// Whether it may open the coverage dashboard.
    pub fn sees_coverage(self) -> bool {
        matches!(self, StaffRole::Admin | StaffRole::Analyst)
    }

    /// Whether it may open the programme officer views.
    pub fn sees_programmes(self) -> bool {
        matches!(self, StaffRole::Admin | StaffRole::Officer)
    }
}

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Their user name.
    pub username: String,
    /// Their role.
    pub role: StaffRole,
    /// The CSRF token their forms carry.
    pub csrf: String,
}

/// Adds the user `username` with `role`, or gives an existing one this password and role.
pub async fn set_user(
    store: &dyn Store,
    username: &str,
    password: &str,
    role: StaffRole,
) -> Result<(), WebError> {
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || trust::secret::hash(&password))
        .await
        .map_err(|e| store::StoreError::Internal(e.to_string()))??;
    let dialect = store.dialect();
    store
        .write(vec![Statement::new(
            numbered(
                dialect,
                "INSERT INTO web_user (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
            ),
            vec![
                SqlValue::Text(username.to_owned()),
                SqlValue::Text(hash),
                SqlValue::Text(role.as_str().into()),
                SqlValue::Text(dci::Timestamp::now().to_string()),
            ],
            &[],
        )])
        .await?;
    Ok(())
}

/// The role of `username` if `password` is theirs. An unknown user costs the same argon2
/// check as a known one, so that timing does not tell which names exist.
async fn check_password(
    store: &dyn Store,
    username: &str,
    password: &str,
) -> Result<Option<StaffRole>, WebError> {
    static ABSENT: OnceLock<String> = OnceLock::new();
    let rows = store
        .read(vec![Statement::new(
            numbered(
                store.dialect(),
                "SELECT password_hash, role FROM web_user WHERE username = ?1",
            ),
            vec![SqlValue::Text(username.to_owned())],
            &[ColumnType::Text, ColumnType::Text],
        )])
        .await?;
    let found = rows[0].first().map(|row| (text(row, 0), text(row, 1)));
    let hash = match &found {
        Some((hash, _)) => hash.clone(),
        None => match ABSENT.get() {
            Some(hash) => hash.clone(),
            None => {
                let made = trust::secret::hash(&trust::secret::generate()?)?;
                ABSENT.get_or_init(|| made).clone()
            }
        },
    };
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || trust::secret::verify(&password, &hash))
        .await
        .unwrap_or(false);
    Ok(found
        .filter(|_| matches)
        .and_then(|(_, role)| StaffRole::parse(&role)))
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// SHA-256 of a token, hex: what the store keeps of a session.
fn token_hash(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token: 32 bytes, base64url.
fn new_token() -> Result<String, WebError> {
    Ok(trust::secret::generate()?)
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

impl Web {
    /// A `Set-Cookie` value for `name`: `HttpOnly`, `SameSite=Strict`, `Secure` per the
    /// settings, expiring after `max_age` seconds (0: at once).
    fn cookie(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .expect("cookie values are base64url")
    }

    /// The CSRF token of this browser, and the cookie to set when it had none.
    pub(crate) fn csrf(&self, headers: &HeaderMap) -> Result<Csrf, WebError> {
        if let Some(token) = cookie(headers, CSRF_COOKIE)
            && token.len() == 43
        {
            return Ok(Csrf {
                token: token.to_owned(),
                set: None,
            });
        }
        let token = new_token()?;
        let set = Some(self.cookie(CSRF_COOKIE, &token, 86_400));
        Ok(Csrf { token, set })
    }

    /// The staff member whose session cookie came with the request.
    async fn staff(&self, headers: &HeaderMap) -> Result<Option<Staff>, WebError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let rows = self
            .store
            .read(vec![Statement::new(
                numbered(
                    self.store.dialect(),
                    "SELECT username, role FROM web_session WHERE token_hash = ?1 AND expires_at > ?2",
                ),
                vec![
                    SqlValue::Text(token_hash(token)),
                    SqlValue::Integer(now_secs()),
                ],
                &[ColumnType::Text, ColumnType::Text],
            )])
            .await?;
        Ok(rows[0].first().and_then(|row| {
            Some(Staff {
                username: text(row, 0),
                role: StaffRole::parse(&text(row, 1))?,
                csrf: cookie(headers, CSRF_COOKIE).unwrap_or_default().to_owned(),
            })
        }))
    }

    /// Opens a session for `username`: the session cookie to set.
    async fn open_session(&self, username: &str, role: StaffRole) -> Result<HeaderValue, WebError> {
        let token = new_token()?;
        let ttl = self.settings.session_ttl.as_secs();
        let dialect = self.store.dialect();
        self.store
            .write(vec![
                Statement::new(
                    numbered(dialect, "DELETE FROM web_session WHERE expires_at <= ?1"),
                    vec![SqlValue::Integer(now_secs())],
                    &[],
                ),
                Statement::new(
                    numbered(
                        dialect,
                        "INSERT INTO web_session (token_hash, username, role, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    ),
                    vec![
                        SqlValue::Text(token_hash(&token)),
                        SqlValue::Text(username.to_owned()),
                        SqlValue::Text(role.as_str().into()),
                        SqlValue::Integer(now_secs() + ttl as i64),
                    ],
                    &[],
                ),
            ])
            .await?;
        Ok(self.cookie(SESSION_COOKIE, &token, ttl))
    }
}

/// A browser's CSRF token, with the cookie to set when it is new.
pub(crate) struct Csrf {
    /// The token forms repeat.
    pub token: String,
    set: Option<HeaderValue>,
}

impl Csrf {
    /// `response` with the CSRF cookie set when it is new.
    pub(crate) fn on(self, mut response: Response) -> Response {
        if let Some(set) = self.set {
            response.headers_mut().append(header::SET_COOKIE, set);
        }
        response
    }
}

/// Whether a form's `csrf` field matches the request's CSRF cookie (constant time).
pub(crate) fn csrf_matches(headers: &HeaderMap, field: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some_and(|token| {
        token.len() == field.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(token.as_bytes(), field.as_bytes())
                .is_ok()
    })
}

/// The 403 page of a form whose CSRF token is missing or wrong.
pub(crate) fn csrf_refused() -> Response {
    page(
        StatusCode::FORBIDDEN,
        &crate::Message::new(
            "Form expired",
            "This form was not sent from this site, or it has expired. Go back, reload the page and send it again.",
        ),
    )
}

/// Handlers taking a [`Staff`] answer a browser without a session with a redirect to the
/// login page.
impl FromRequestParts<Arc<Web>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        match web.staff(&parts.headers).await {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) => Err(redirect("/login")),
            Err(e) => Err(e.into_response()),
        }
    }
}

impl Staff {
    /// The staff member of the request if `allowed` lets their role in; otherwise the 403
    /// page saying the pages are `for_whom` (or, without a session, the way to sign in).
    pub(crate) async fn allowed(
        parts: &mut Parts,
        web: &Arc<Web>,
        allowed: fn(StaffRole) -> bool,
        for_whom: &str,
    ) -> Result<Staff, Response> {
        let staff = Staff::from_request_parts(parts, web).await?;
        if allowed(staff.role) {
            return Ok(staff);
        }
        let text = format!("These pages are for {for_whom}.");
        Err(page(
            StatusCode::FORBIDDEN,
            &crate::Message {
                title: "Not for your role",
                text: &text,
                staff: Some(&staff),
            },
        ))
    }
}

pub(crate) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    username: &'a str,
    failed: bool,
    staff: Option<&'a Staff>,
}

async fn login_form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, WebError> {
    let csrf = web.csrf(&headers)?;
    let form = LoginPage {
        csrf: &csrf.token,
        username: "",
        failed: false,
        staff: None,
    };
    let response = page(StatusCode::OK, &form);
    Ok(csrf.on(response))
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(web): State<Arc<Web>>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, WebError> {
    let gate = ("login", web.settings.login_per_address, "sign-in attempts");
    let peer = peer.as_ref().map(|Extension(c)| c);
    let address = match web.screen(&headers, peer, &form.csrf, gate) {
        Ok(address) => address,
        Err(refused) => return Ok(*refused),
    };
    match check_password(web.store(), &form.username, &form.password).await? {
        Some(role) => {
            let session = web.open_session(&form.username, role).await?;
            tracing::info!(username = %form.username, role = role.as_str(), "staff signed in");
            let home = if role.sees_coverage() {
                "/dashboard"
            } else {
                "/programmes"
            };
            let mut response = redirect(home);
            response.headers_mut().append(header::SET_COOKIE, session);
            Ok(response)
        }
        None => {
            tracing::warn!(username = %form.username, %address, "sign-in refused");
            let again = LoginPage {
                csrf: &form.csrf,
                username: &form.username,
                failed: true,
                staff: None,
            };
            Ok(page(StatusCode::UNAUTHORIZED, &again))
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, WebError> {
    if !csrf_matches(&headers, &form.csrf) {
        return Ok(csrf_refused());
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        web.store
            .write(vec![Statement::new(
                numbered(
                    web.store.dialect(),
                    "DELETE FROM web_session WHERE token_hash = ?1",
                ),
                vec![SqlValue::Text(token_hash(token))],
                &[],
            )])
            .await?;
    }
    let mut response = redirect("/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, web.cookie(SESSION_COOKIE, "", 0));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xspx_csrf=no; spx_csrf=abc; spx_session="),
        );
        assert_eq!(super::cookie(&headers, "spx_csrf"), Some("abc"));
        assert_eq!(super::cookie(&headers, "spx_session"), None);
        assert!(super::csrf_matches(&headers, "abc"));
        assert!(!super::csrf_matches(&headers, "abd"));
        assert!(!super::csrf_matches(&headers, ""));
    }

    #[test]
    fn roles_round_trip_and_only_analysts_and_admins_see_coverage() {
        for role in super::StaffRole::ALL {
            assert_eq!(super::StaffRole::parse(role.as_str()), Some(role));
        }
        assert!(super::StaffRole::Analyst.sees_coverage());
        assert!(!super::StaffRole::Officer.sees_coverage());
        assert!(super::StaffRole::Officer.sees_programmes());
        assert!(!super::StaffRole::Analyst.sees_programmes());
        assert_eq!(super::StaffRole::parse("root"), None);
    }
}
