//! The pages (`crates/web`) over HTTP, on each backend: staff sign-in (CSRF, roles, sessions,
//! cookies), the coverage dashboard's totals against the IBR's own answers over DCI and the
//! generated population, and the citizen status page (second factor, access log, rate limits).
//! The web service runs on a random port in front of an IBR, a social registry and an ID
//! registry loaded with the shared population.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, ensure};
use registry::participants::RateLimit;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use synth::benefits::{ACTIVE, PAID};

use crate::support::{Backend, Place, TestRegistry, by_id, fixture, runtime, text};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "web::staff_sign_in_needs_the_csrf_token_and_the_role",
        staff_sign_in_needs_the_csrf_token_and_the_role,
    ),
    (
        "web::dashboard_totals_equal_the_ibrs_numbers",
        dashboard_totals_equal_the_ibrs_numbers,
    ),
    (
        "web::citizen_page_needs_the_birth_date_and_shows_who_looked",
        citizen_page_needs_the_birth_date_and_shows_who_looked,
    ),
    (
        "web::status_look_ups_are_rate_limited_per_address_and_per_uin",
        status_look_ups_are_rate_limited_per_address_and_per_uin,
    ),
    (
        "web::officer_views_show_beneficiaries_history_and_the_last_cycle",
        officer_views_show_beneficiaries_history_and_the_last_cycle,
    ),
];

/// Tests of the `spx` binary's web role.
pub const PLAIN: &[(&str, crate::PlainTest)] = &[(
    "web::serve_role_web_reads_the_configured_stores",
    serve_role_web_reads_the_configured_stores,
)];

const WEB: &str = "web.test";
const PASSWORD: &str = "correct horse battery staple";

/// The web service and the registries behind it.
struct Site {
    pub base: String,
    ibr: TestRegistry,
    web: Arc<web::Web>,
    _registries: (TestRegistry, TestRegistry),
    _place: Place,
}

/// Starts the registries and the web service with `settings`, with the staff users
/// `analyst`, `officer` and `admin` (password [`PASSWORD`]); the programme views read `mis`.
async fn site(
    backend: Backend,
    settings: web::Settings,
    mis: Option<Arc<dyn store::Store>>,
) -> Result<Site> {
    let ibr = TestRegistry::spawn_as(backend, &registry::ibr::PROFILE, "ibr.test").await?;
    let social = TestRegistry::spawn_as(backend, &registry::social::PROFILE, "social.test").await?;
    let id = TestRegistry::spawn_as(backend, &registry::id::PROFILE, "id.test").await?;
    let place = Place::new(backend).await?;
    let store = store::open(&place.config(), web::auth::MIGRATIONS).await?;
    let sources = web::Sources {
        ibr: ibr.store.clone(),
        social: social.store.clone(),
        audits: vec![
            ("beneficiary registry".into(), ibr.store.clone()),
            ("identity registry".into(), id.store.clone()),
        ],
        mis,
        ibr_dci: client::Client::new(ibr.url(""), WEB, Some("ibr.test")),
        id_dci: client::Client::new(id.url(""), WEB, Some("id.test")),
    };
    let web = web::Web::new(store, sources, settings);
    for (name, role) in [
        ("analyst", web::auth::StaffRole::Analyst),
        ("officer", web::auth::StaffRole::Officer),
        ("admin", web::auth::StaffRole::Admin),
    ] {
        web::auth::set_user(web.store(), name, PASSWORD, role).await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = web
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(Site {
        base,
        ibr,
        web,
        _registries: (social, id),
        _place: place,
    })
}

impl Site {
    /// A new browser, at this site.
    fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }
}

/// A browser at one site: the cookies it was given, sent back with each request.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// Each `Set-Cookie` received, whole.
    set: Vec<String>,
}

/// One answer: status, headers, body.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the hidden `csrf` field of the page's form.
    pub fn csrf(&self) -> Result<String> {
        let start = self
            .body
            .find(r#"name="csrf" value=""#)
            .ok_or_else(|| anyhow!("no csrf field in {}", self.body))?
            + r#"name="csrf" value=""#.len();
        let end = self.body[start..].find('"').context("unterminated csrf")?;
        Ok(self.body[start..start + end].to_string())
    }

    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// `request` with `form` as its body, as a browser sends a form.
fn with_form(request: reqwest::RequestBuilder, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
}

impl Browser {
    /// A browser with no cookies, at the site `base` (`http://host:port`); it does not follow
    /// redirects.
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookies: BTreeMap::new(),
            set: Vec::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<Page> {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookie.is_empty() {
            request
        } else {
            request.header(COOKIE, cookie.join("; "))
        };
        let response = request.send().await?;
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str()?.to_string();
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.into(), value.into());
                }
            }
            self.set.push(set);
        }
        Ok(Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await?,
        })
    }

    pub async fn get(&mut self, path: &str) -> Result<Page> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Result<Page> {
        let request = with_form(self.http.post(format!("{}{path}", self.base)), form);
        self.send(request).await
    }

    /// Signs in as `username`; the answer to the form.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Result<Page> {
        let csrf = self.get("/login").await?.csrf()?;
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// Looks up `uin` born `born` on the status page, as the form sends it.
    async fn look_up(&mut self, uin: &str, born: &str) -> Result<Page> {
        self.look_up_from(None, uin, born).await
    }

    /// [`Browser::look_up`] through a proxy that says the client is at `address`.
    async fn look_up_from(&mut self, address: Option<&str>, uin: &str, born: &str) -> Result<Page> {
        let form = self.get("/status").await?;
        ensure!(form.status == 200, "GET /status: {}", form.status);
        let csrf = form.csrf()?;
        let mut request = with_form(
            self.http.post(format!("{}/status", self.base)),
            &[("uin", uin), ("birth_date", born), ("csrf", &csrf)],
        );
        if let Some(address) = address {
            request = request.header("x-forwarded-for", address);
        }
        self.send(request).await
    }
}

fn staff_sign_in_needs_the_csrf_token_and_the_role(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let site = site(backend, web::Settings::default(), None).await?;
        let mut browser = site.browser();
        let page = browser.get("/dashboard").await?;
        ensure!(
            page.status == 303 && page.location() == "/login",
            "a stranger is sent to sign in: {} {}",
            page.status,
            page.location()
        );
        let form = browser.get("/login").await?;
        let csrf = form.csrf()?;
        let csrf_cookie = browser
            .set
            .iter()
            .find(|c| c.starts_with("spx_csrf="))
            .context("the form sets a CSRF cookie")?;
        for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            ensure!(csrf_cookie.contains(flag), "{flag} in {csrf_cookie}");
        }
        // The right password without the form's token, or with another, is refused.
        let no_token = [("username", "analyst"), ("password", PASSWORD)];
        let page = browser.post("/login", &no_token).await?;
        ensure!(page.status == 403, "no token: {}", page.status);
        let forged = "x".repeat(43);
        let wrong = [
            ("username", "analyst"),
            ("password", PASSWORD),
            ("csrf", forged.as_str()),
        ];
        let page = browser.post("/login", &wrong).await?;
        ensure!(page.status == 403, "a forged token: {}", page.status);
        let mut stranger = site.browser();
        let page = stranger
            .post(
                "/login",
                &[
                    ("username", "analyst"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                ],
            )
            .await?;
        ensure!(
            page.status == 403,
            "a token without its cookie (another site's form): {}",
            page.status
        );
        ensure!(!browser.cookies.contains_key("spx_session"));
        let page = browser.sign_in("analyst", "wrong").await?;
        ensure!(page.status == 401, "wrong password: {}", page.status);
        ensure!(page.body.contains("Wrong user name or password"));
        let page = browser.sign_in("nobody", PASSWORD).await?;
        ensure!(page.status == 401, "unknown user: {}", page.status);
        ensure!(!browser.cookies.contains_key("spx_session"));

        let page = browser.sign_in("analyst", PASSWORD).await?;
        ensure!(
            page.status == 303 && page.location() == "/dashboard",
            "signed in: {} {}",
            page.status,
            page.location()
        );
        let session = browser
            .set
            .iter()
            .rev()
            .find(|c| c.starts_with("spx_session="))
            .context("a session cookie")?
            .clone();
        for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=28800"] {
            ensure!(session.contains(flag), "{flag} in {session}");
        }
        let token = browser.cookies["spx_session"].clone();
        let stored =
            crate::support::texts(site.web.store(), "SELECT token_hash FROM web_session").await?;
        ensure!(
            stored.len() == 1 && stored[0] != token && stored[0].len() == 64,
            "the store keeps a hash of the session token only: {stored:?}"
        );
        let page = browser.get("/dashboard").await?;
        ensure!(page.status == 200, "dashboard: {}", page.status);
        ensure!(
            page.body
                .contains("Coverage of the integrated beneficiary registry")
        );
        ensure!(page.body.contains("analyst (analyst)"));

        // Signing out needs the token too, and ends the session.
        let page = browser.post("/logout", &[]).await?;
        ensure!(
            page.status == 403,
            "sign-out without a token: {}",
            page.status
        );
        let csrf = browser.cookies["spx_csrf"].clone();
        let page = browser.post("/logout", &[("csrf", &csrf)]).await?;
        ensure!(page.status == 303 && page.location() == "/login");
        let mut replay = site.browser();
        replay.cookies.insert("spx_session".into(), token);
        let page = replay.get("/dashboard").await?;
        ensure!(
            page.status == 303,
            "the old session cookie opens nothing: {}",
            page.status
        );

        // An officer signs in but may not see coverage.
        let mut officer = site.browser();
        let page = officer.sign_in("officer", PASSWORD).await?;
        ensure!(page.status == 303);
        for path in [
            "/dashboard",
            "/dashboard/coverage.json",
            "/dashboard/places?region=R01",
        ] {
            let page = officer.get(path).await?;
            ensure!(page.status == 403, "officer at {path}: {}", page.status);
        }
        Ok(())
    })
}

/// Active enrolments at the IBR matching `condition`, as it answers over DCI.
async fn active_at_ibr(ibr: &TestRegistry, condition: &str) -> Result<i64> {
    let expression = format!(r#"enrollment_status = "1"{condition}"#);
    ibr.count("Beneficiary", "expression", text(&expression))
        .await
        .map_err(|e| anyhow!("{expression}: {e}"))
}

/// Each place's active enrolments on the dashboard are the IBR's count for its code as
/// `attribute`.
async fn places_match_the_ibr(ibr: &TestRegistry, places: &[Value], attribute: &str) -> Result<()> {
    for place in places {
        let code = place["code"].as_str().context("code")?;
        let at_ibr = active_at_ibr(ibr, &format!(r#" AND {attribute} = "{code}""#)).await?;
        ensure!(
            place["active"] == at_ibr,
            "{code}: {} vs IBR {at_ibr}",
            place["active"]
        );
    }
    Ok(())
}

fn dashboard_totals_equal_the_ibrs_numbers(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let site = site(backend, web::Settings::default(), None).await?;
        let mut browser = site.browser();
        ensure!(browser.sign_in("analyst", PASSWORD).await?.status == 303);
        let page = browser.get("/dashboard/coverage.json").await?;
        ensure!(page.status == 200, "coverage.json: {}", page.status);
        let coverage: Value = serde_json::from_str(&page.body)?;
        let ibr = &site.ibr;
        let data = &fixture().data.benefits;

        // Programmes: the IBR's count over DCI, and the population's.
        let mut active_by_programme: HashMap<&str, i64> = HashMap::new();
        for e in data.enrolments.iter().filter(|e| e.status == ACTIVE) {
            *active_by_programme.entry(&e.programme).or_default() += 1;
        }
        let mut paid_by_programme: HashMap<&str, i64> = HashMap::new();
        for b in data.benefits.iter().filter(|b| b.payment_status == PAID) {
            *paid_by_programme.entry(&b.programme).or_default() += b.amount;
        }
        let lines = coverage["programmes"].as_array().context("programmes")?;
        ensure!(
            lines.len() == synth::benefits::programmes().len(),
            "{lines:?}"
        );
        let mut total = 0;
        for line in lines {
            let code = line["code"].as_str().context("code")?;
            let active = line["active"].as_i64().context("active")?;
            let at_ibr =
                active_at_ibr(ibr, &format!(r#" AND programme_identifier = "{code}""#)).await?;
            ensure!(active == at_ibr, "{code}: dashboard {active}, IBR {at_ibr}");
            let expected = active_by_programme.get(code).copied().unwrap_or_default();
            ensure!(
                active == expected,
                "{code}: dashboard {active}, population {expected}"
            );
            let paid = line["paid_amount"].as_i64().context("paid_amount")?;
            let expected = paid_by_programme.get(code).copied().unwrap_or_default();
            ensure!(
                paid == expected,
                "{code}: paid {paid}, population {expected}"
            );
            total += active;
        }
        ensure!(
            coverage["active"] == total,
            "total {} vs {total}",
            coverage["active"]
        );
        ensure!(
            total == active_at_ibr(ibr, "").await?,
            "every active enrolment"
        );
        ensure!(
            coverage["paid_amount"] == paid_by_programme.values().sum::<i64>(),
            "paid in all"
        );

        // Regions, then the districts of one: each place's count is the IBR's.
        let regions = coverage["places"].as_array().context("places")?;
        ensure!(!regions.is_empty());
        places_match_the_ibr(ibr, regions, "region_code").await?;
        let busiest = regions
            .iter()
            .max_by_key(|r| r["active"].as_i64())
            .context("a region")?;
        let code = busiest["code"].as_str().context("code")?;
        let page = browser
            .get(&format!("/dashboard/coverage.json?region={code}"))
            .await?;
        let drilled: Value = serde_json::from_str(&page.body)?;
        ensure!(drilled["region"][0] == code, "{}", drilled["region"]);
        let districts = drilled["places"].as_array().context("districts")?;
        ensure!(
            districts.iter().all(|d| d["code"]
                .as_str()
                .is_some_and(|c| c.starts_with(&format!("{code}-")))),
            "districts of {code}: {districts:?}"
        );
        let sum: i64 = districts.iter().filter_map(|d| d["active"].as_i64()).sum();
        ensure!(
            busiest["active"] == sum,
            "{code}: {} vs districts {sum}",
            busiest["active"]
        );
        places_match_the_ibr(ibr, districts, "district_code").await?;

        // Duplicates: as many enrolments as the IBR marks.
        let duplicates = ibr
            .count("Beneficiary", "expression", text("duplicate = true"))
            .await?;
        ensure!(
            coverage["duplicate_enrolments"] == duplicates && duplicates > 0,
            "duplicates {} vs IBR {duplicates}",
            coverage["duplicate_enrolments"]
        );

        // Gaps: members of households at or under the line whom no active enrolment covers.
        let population = &fixture().data.population;
        let poor: HashSet<&str> = population
            .households
            .iter()
            .filter(|h| h.poverty_score <= 20.0)
            .map(|h| h.household_id.as_str())
            .collect();
        let active = data.enrolments.iter().filter(|e| e.status == ACTIVE);
        let (by_household, by_person): (Vec<_>, Vec<_>) =
            active.partition(|e| e.assistance_unit == "2");
        let covered_households: HashSet<&str> = by_household
            .iter()
            .filter_map(|e| e.household_id.as_deref())
            .collect();
        let covered_people: HashSet<&str> = by_person.iter().map(|e| e.uin.as_str()).collect();
        let members: Vec<_> = population
            .persons
            .iter()
            .filter(|p| p.death_date.is_none())
            .filter(|p| p.household_id.as_deref().is_some_and(|h| poor.contains(h)))
            .collect();
        let uncovered = members
            .iter()
            .filter(|p| {
                !covered_people.contains(p.uin.as_str())
                    && !p
                        .household_id
                        .as_deref()
                        .is_some_and(|h| covered_households.contains(h))
            })
            .count();
        let gaps = &coverage["gaps"];
        ensure!(
            gaps["poor_people"] == members.len() && gaps["uncovered_people"] == uncovered,
            "gaps {gaps} vs population {} poor, {uncovered} uncovered",
            members.len()
        );
        ensure!(uncovered > 0, "the population has gaps to find");

        // The page shows the same totals.
        let started = std::time::Instant::now();
        let page = browser.get("/dashboard").await?;
        let took = started.elapsed();
        ensure!(page.status == 200);
        for shown in [
            thousands(total),
            thousands(duplicates),
            thousands(uncovered as i64),
        ] {
            ensure!(page.body.contains(&shown), "the page shows {shown}");
        }
        ensure!(page.body.contains("<svg"), "charts");
        println!(
            "dashboard of {} people ({backend:?}): {:.1} ms",
            crate::support::PEOPLE,
            took.as_secs_f64() * 1000.0
        );
        let fragment = browser
            .get(&format!("/dashboard/places?region={code}"))
            .await?;
        ensure!(fragment.status == 200 && fragment.body.starts_with("<div id=\"places\">"));
        ensure!(
            !fragment.body.contains("<html"),
            "htmx gets the fragment only"
        );
        Ok(())
    })
}

/// Checks that `page` has `status`.
fn expect(page: impl std::borrow::Borrow<Page>, status: u16, what: &str) -> Result<()> {
    let page = page.borrow();
    ensure!(
        page.status == status,
        "{what}: HTTP {} (expected {status})",
        page.status
    );
    Ok(())
}

/// `12345` → `12,345`, as the pages print counts.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A living person with an active enrolment and a successful payment: UIN, birth date, the
/// programme's name.
pub fn paid_person(data: &synth::Dataset) -> Result<(String, time::Date, String)> {
    let living: HashMap<&str, &synth::Person> = data
        .population
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .map(|p| (p.uin.as_str(), p))
        .collect();
    let paid: HashSet<(&str, &str)> = data
        .benefits
        .benefits
        .iter()
        .filter(|b| b.payment_status == PAID)
        .map(|b| (b.programme.as_str(), b.beneficiary_id.as_str()))
        .collect();
    data.benefits
        .enrolments
        .iter()
        .filter(|e| e.status == ACTIVE && e.assistance_unit == "1")
        .filter(|e| paid.contains(&(e.programme.as_str(), e.beneficiary_id.as_str())))
        .find_map(|e| {
            let person = living.get(e.uin.as_str())?;
            let programme = synth::benefits::programmes()
                .into_iter()
                .find(|p| p.code == e.programme)?;
            Some((e.uin.clone(), person.birth_date, programme.name))
        })
        .context("a paid beneficiary in the population")
}

fn citizen_page_needs_the_birth_date_and_shows_who_looked(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let site = site(backend, web::Settings::default(), None).await?;
        let (uin, born, name) = paid_person(&fixture().data)?;
        // Another participant looks the person up at the IBR first.
        site.ibr.one(by_id("Beneficiary", "UIN", &uin)).await?;
        let mut browser = site.browser();
        let wrong = born + time::Duration::days(1);
        let page = browser.look_up(&uin, &wrong.to_string()).await?;
        ensure!(page.status == 403, "a wrong birth date: {}", page.status);
        ensure!(page.body.contains("do not match"));
        ensure!(
            !page.body.contains(&name),
            "nothing shown with a wrong birth date"
        );
        let unknown = browser.look_up("9999999999", &born.to_string()).await?;
        ensure!(unknown.status == 403, "an unknown UIN: {}", unknown.status);
        ensure!(
            unknown.body.replace("9999999999", &uin) == page.body,
            "an unknown UIN gets the same answer as a wrong birth date"
        );
        let bad = browser.look_up(&uin, "21/05/1986").await?;
        ensure!(bad.status == 400, "not a date: {}", bad.status);
        let no_token = browser
            .post(
                "/status",
                &[("uin", &uin), ("birth_date", &born.to_string())],
            )
            .await?;
        ensure!(no_token.status == 403 && no_token.body.contains("Form expired"));

        let page = browser.look_up(&uin, &born.to_string()).await?;
        ensure!(
            page.status == 200,
            "the right birth date: {} {}",
            page.status,
            page.body
        );
        ensure!(page.body.contains(&name), "the programme {name}");
        ensure!(page.body.contains("active since"), "its status");
        ensure!(page.body.contains("USD "), "a payment");
        ensure!(
            page.body.contains("spmis.test"),
            "the earlier search by spmis.test is in the access log"
        );
        ensure!(
            page.body
                .contains(&format!("{WEB} (this status page, for you)")),
            "and this page's own look-ups"
        );
        for registry in ["beneficiary registry", "identity registry"] {
            ensure!(page.body.contains(registry), "{registry} in the access log");
        }
        ensure!(
            page.headers
                .get("cache-control")
                .is_some_and(|v| v == "no-store"),
            "personal pages are not cached"
        );
        ensure!(page.body.contains(r#"name="viewport""#), "mobile-friendly");

        // The exchange monitor counts those look-ups from the registries' audit chains: three
        // verifications at the ID registry (wrong date, unknown UIN, right date), one search
        // at the IBR.
        let mut analyst = site.browser();
        analyst.sign_in("analyst", PASSWORD).await?;
        let page = analyst.get("/exchange").await?;
        expect(&page, 200, "the exchange monitor")?;
        let row = |registry: &str, participant: &str, n: u32| {
            format!(
                "<td>{registry}</td><td>{participant}</td><td>/registry/sync/search</td><td>succ</td><td class=\"num\">{n}</td>"
            )
        };
        for expected in [
            row("identity registry", WEB, 3),
            row("beneficiary registry", WEB, 1),
            row("beneficiary registry", "spmis.test", 1),
        ] {
            ensure!(page.body.contains(&expected), "{expected} in {}", page.body);
        }
        ensure!(page.body.contains("p95") && page.body.contains("Every callback"));
        Ok(())
    })
}

fn status_look_ups_are_rate_limited_per_address_and_per_uin(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let settings = web::Settings {
            citizen_per_address: RateLimit {
                per_second: 1.0 / 3600.0,
                burst: 3,
            },
            citizen_per_uin: RateLimit {
                per_second: 1.0 / 3600.0,
                burst: 2,
            },
            trust_forwarded_for: true,
            ..web::Settings::default()
        };
        let site = site(backend, settings, None).await?;
        let (uin, born, _) = paid_person(&fixture().data)?;
        let born = born.to_string();
        let mut browser = site.browser();
        // One address: three look-ups of three UINs, then refused whatever the UIN.
        for other in ["1000000001", "1000000002", "1000000003"] {
            let page = browser.look_up_from(Some("10.0.0.1"), other, "1990-01-01");
            expect(page.await?, 403, other)?;
        }
        let page = browser.look_up_from(Some("10.0.0.1"), &uin, &born).await?;
        expect(&page, 429, "the fourth from one address")?;
        ensure!(page.headers.contains_key(RETRY_AFTER) && page.body.contains("Too many"));
        ensure!(!page.body.contains("USD"), "nothing shown when refused");
        // One UIN: two look-ups from anywhere, then refused even from a fresh address and
        // with the right birth date (guessing a birth date from many addresses stops here).
        let page = browser.look_up_from(Some("10.0.0.2"), &uin, "1900-01-01");
        expect(page.await?, 403, "a wrong birth date")?;
        let page = browser.look_up_from(Some("10.0.0.3"), &uin, &born);
        expect(page.await?, 200, "the second look-up of the UIN")?;
        let page = browser.look_up_from(Some("10.0.0.4"), &uin, &born);
        expect(page.await?, 429, "the third look-up of one UIN")?;
        Ok(())
    })
}

/// `spx web set-user` and `spx serve --role web` as an operator runs them: the stores it reads
/// must exist, and once they do it serves the citizen page and, to the user set, the dashboard.
fn serve_role_web_reads_the_configured_stores() -> Result<()> {
    use crate::cli::{output, spx};
    let dir = crate::support::TempDir::new("web-role");
    let data = dir.0.join("data");
    let (ok, said, stderr) = output(
        spx()
            .args(["web", "set-user", "ana", "--role", "root", "--data-dir"])
            .arg(&data),
    )?;
    ensure!(
        !ok && stderr.contains("one of admin, analyst, officer"),
        "{said}{stderr}"
    );
    let (ok, said, stderr) = output(
        spx()
            .args(["web", "set-user", "ana", "--role", "analyst", "--data-dir"])
            .arg(&data),
    )?;
    let password = said
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .with_context(|| format!("{said}{stderr}"))?
        .to_string();
    ensure!(
        ok && said.contains("staff user ana (analyst) set"),
        "{said}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.0.join("spx.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n\n[web]\nibr_url = \"http://127.0.0.1:9\"\nid_url = \"http://127.0.0.1:9\"\naudit_roles = [\"ibr\"]\n",
            data.display()
        ),
    )?;
    let serve = || {
        let mut command = spx();
        command
            .arg("--config")
            .arg(&config)
            .args(["serve", "--role", "web"]);
        command
    };
    let (ok, _, stderr) = output(&mut serve())?;
    ensure!(
        !ok && stderr.contains("ibr registry's store") && stderr.contains("ibr.db"),
        "a missing store is named: {stderr}"
    );
    let population = dir.0.join("population");
    let (ok, _, stderr) = output(
        spx()
            .args(["generate", "--people", "1000", "--seed", "3", "--out"])
            .arg(&population),
    )?;
    ensure!(ok, "{stderr}");
    for role in ["ibr", "social"] {
        let (ok, _, stderr) = output(
            spx()
                .args(["import", "--role", role, "--data-dir"])
                .arg(&data)
                .arg(&population),
        )?;
        ensure!(ok, "import {role}: {stderr}");
    }
    let mut child = serve()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let _served = crate::cli::Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = format!("http://127.0.0.1:{port}");
    ensure!(
        line.contains(&format!("pages on {base}")),
        "spx serve --role web did not start (run it by hand to see why): {line}"
    );
    runtime().block_on(async {
        let mut browser = Browser::new(&base);
        expect(browser.get("/status").await?, 200, "the citizen page")?;
        expect(browser.sign_in("ana", &password).await?, 303, "sign-in")?;
        let page = browser.get("/dashboard/coverage.json").await?;
        expect(&page, 200, "coverage")?;
        let coverage: Value = serde_json::from_str(&page.body)?;
        ensure!(
            coverage["active"].as_i64().is_some_and(|n| n > 0)
                && coverage["gaps"]["poor_people"]
                    .as_i64()
                    .is_some_and(|n| n > 0),
            "counts from the imported stores: {coverage}"
        );
        Ok(())
    })
}

/// An SP-MIS store with an old-age allowance: `PENSIONER` enrolled on a decision (the CRVS's
/// birth date behind it) then suspended, `OTHER` enrolled; the cycle of 2026-11-01 paid to one
/// and failed for the other.
async fn spmis_store(backend: Backend) -> Result<(Place, Arc<dyn store::Store>)> {
    use mis::Status::{Applied, Enrolled, Suspended, Verified};
    let place = Place::new(backend).await?;
    let store = store::open(&place.config(), mis::store::MIGRATIONS).await?;
    let enrolments = mis::store::Enrolments::new(store.clone());
    let day = time::macros::date!(2026 - 10 - 01);
    let decision = json!({"rules": [{"name": "aged 65 or more", "rule": "age >= 65", "outcome": "passed",
        "facts": [{"fact": "birth_date", "value": "1950-03-04",
                   "source": {"registry": "crvs", "query": format!("Person UIN={PENSIONER}"),
                              "transaction_id": "txn-crvs-7", "correlation_id": "c-7"}}]}]});
    for uin in [PENSIONER, OTHER] {
        for status in [Applied, Verified, Enrolled] {
            let mut change = mis::store::Change::new("OAA", uin, status, day);
            if status == Enrolled {
                change.decision = Some(decision.clone());
            }
            enrolments.record(change).await?;
        }
    }
    let mut suspended =
        mis::store::Change::new("OAA", PENSIONER, Suspended, day + time::Duration::days(20));
    suspended.reason = Some("left the country".into());
    enrolments.record(suspended).await?;
    let cycle = time::macros::date!(2026 - 11 - 01);
    let due: Vec<mis::Entitlement> = [PENSIONER, OTHER]
        .iter()
        .map(|uin| mis::Entitlement {
            programme: "OAA".into(),
            cycle,
            beneficiary: uin.to_string(),
            uin: uin.to_string(),
            amount_minor: 2500,
            currency: "USD".into(),
            state: mis::EntitlementState::Pending,
            reason: None,
            pay_transaction: None,
        })
        .collect();
    let entitlements = enrolments.entitlements();
    entitlements.add_pending(&due).await?;
    entitlements.claim("OAA", cycle, "pay-txn-1").await?;
    entitlements
        .settle(
            "OAA",
            cycle,
            &[
                (PENSIONER.into(), mis::EntitlementState::Paid, None),
                (
                    OTHER.into(),
                    mis::EntitlementState::Failed,
                    Some("name_mismatch".into()),
                ),
            ],
        )
        .await?;
    Ok((place, store))
}

const PENSIONER: &str = "1000000123";
const OTHER: &str = "1000000456";

fn officer_views_show_beneficiaries_history_and_the_last_cycle(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let (_mis_place, mis) = spmis_store(backend).await?;
        let site = site(backend, web::Settings::default(), Some(mis)).await?;
        let mut analyst = site.browser();
        analyst.sign_in("analyst", PASSWORD).await?;
        expect(
            analyst.get("/programmes").await?,
            403,
            "an analyst at the programmes",
        )?;
        let mut officer = site.browser();
        let page = officer.sign_in("officer", PASSWORD).await?;
        ensure!(
            page.location() == "/programmes",
            "an officer lands on the programmes"
        );
        let page = officer.get("/programmes").await?;
        expect(&page, 200, "programmes")?;
        ensure!(
            page.body.contains("/programmes/OAA") && page.body.contains("suspended 1"),
            "{}",
            page.body
        );

        let page = officer.get("/programmes/OAA").await?;
        expect(&page, 200, "OAA")?;
        for shown in [PENSIONER, OTHER, "2026-11-01", "name_mismatch", "USD 25.00"] {
            ensure!(
                page.body.contains(shown),
                "OAA shows {shown}: {}",
                page.body
            );
        }
        let page = officer.get("/programmes/OAA?status=suspended").await?;
        let link = |uin: &str| format!("/programmes/OAA/beneficiaries/{uin}\"");
        ensure!(
            page.body.contains(&link(PENSIONER)) && !page.body.contains(&link(OTHER)),
            "filtered by status: {}",
            page.body
        );
        let page = officer.get(&format!("/programmes/OAA?uin={OTHER}")).await?;
        ensure!(
            page.body.contains(&link(OTHER)) && !page.body.contains(&link(PENSIONER)),
            "filtered by UIN: {}",
            page.body
        );

        let page = officer
            .get(&format!("/programmes/OAA/beneficiaries/{PENSIONER}"))
            .await?;
        expect(&page, 200, "a beneficiary's history")?;
        for shown in [
            "applied",
            "verified",
            "enrolled",
            "suspended",
            "left the country",
            "aged 65 or more",
            "birth_date = 1950-03-04, from crvs: Person UIN=",
            "txn-crvs-7",
            "paid",
            "pay-txn-1",
        ] {
            ensure!(
                page.body.contains(shown),
                "the history shows {shown}: {}",
                page.body
            );
        }
        let page = officer
            .get("/programmes/OAA/beneficiaries/1999999999")
            .await?;
        expect(page, 404, "a UIN the SP-MIS does not know")?;
        // The pages' /metrics count requests by route pattern, not by the path typed.
        let metrics = officer.get("/metrics").await?;
        expect(&metrics, 200, "/metrics")?;
        let route = r#"endpoint="/programmes/{code}/beneficiaries/{uin}""#;
        for outcome in ["http.200", "http.404"] {
            let line = format!(
                r#"spx_requests_total{{participant="unknown",{route},outcome="{outcome}"}} 1"#
            );
            ensure!(metrics.body.contains(&line), "{line} in\n{}", metrics.body);
        }
        // (A latency sum may hold the digits, as in 0.0199999999: look for the path.)
        ensure!(
            !metrics.body.contains("beneficiaries/1999999999"),
            "no path as a label"
        );
        Ok(())
    })
}
