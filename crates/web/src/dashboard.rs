//! The IBR coverage dashboard (staff with the `analyst` or `admin` role): totals, programmes,
//! places with drill-down from a region to its districts (htmx swaps the table in place; the
//! same link without script loads the page for that region), benefit types, cycles,
//! overlaps, duplicates and gaps, as [`crate::coverage`] counts them.
//!
//! `GET /dashboard/coverage.json` answers the same counts as JSON, for checks and exports.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Staff, StaffRole};
use crate::chart::{self, Bar};
use crate::coverage::{self, Coverage};
use crate::{Web, WebError, label, money, page, thousands};

/// Duplicates listed on the dashboard; `/dashboard/duplicates` lists them all.
pub const DUPLICATES_SHOWN: usize = 25;

pub(crate) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/places", get(places))
        .route("/dashboard/duplicates", get(duplicates))
        .route("/dashboard/coverage.json", get(coverage_json))
}

#[derive(Deserialize)]
struct Place {
    region: Option<String>,
}

impl Place {
    /// The region asked for, if it looks like a code of the master list.
    fn region(&self) -> Option<&str> {
        self.region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty() && r.len() <= 32)
            .filter(|r| r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    }
}

struct ProgrammeRow {
    code: String,
    name: String,
    benefit_type: String,
    active: String,
    statuses: String,
    paid: String,
    amount: String,
}

struct PlaceRow {
    code: String,
    name: String,
    active: String,
    amount: String,
    uncovered: String,
}

/// The places table: regions, or the districts of one (also the htmx fragment).
struct PlacesView {
    /// The region drilled into; empty: the regions are listed.
    region_code: String,
    region_name: String,
    rows: Vec<PlaceRow>,
    chart: String,
}

struct CycleRow {
    month: String,
    paid: String,
    amount: String,
    failed: String,
}

struct Row3 {
    first: String,
    second: String,
    third: String,
}

struct DuplicateRow {
    beneficiary: String,
    region: String,
    benefit_type: String,
    programmes: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    staff: Option<&'a Staff>,
    totals: Vec<(&'static str, String)>,
    programmes: Vec<ProgrammeRow>,
    programme_chart: String,
    places: PlacesView,
    types: Vec<Row3>,
    type_chart: String,
    cycles: Vec<CycleRow>,
    cycle_chart: String,
    overlaps: Vec<Row3>,
    duplicates: Vec<DuplicateRow>,
    duplicates_more: usize,
    gap_line: String,
    took_ms: String,
}

#[derive(Template)]
#[template(path = "places.html")]
struct PlacesFragment {
    places: PlacesView,
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage<'a> {
    staff: Option<&'a Staff>,
    duplicates: Vec<DuplicateRow>,
}

/// A staff member whose role may see coverage; others are answered 403 (and strangers sent
/// to sign in).
pub(crate) struct Analyst(pub(crate) Staff);

impl FromRequestParts<Arc<Web>> for Analyst {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        let for_whom = "analysts and administrators";
        Staff::allowed(parts, web, StaffRole::sees_coverage, for_whom)
            .await
            .map(Analyst)
    }
}

impl Web {
    async fn coverage(&self, place: &Place) -> Result<Coverage, WebError> {
        coverage::count(
            &self.sources,
            place.region(),
            self.settings.gap_poverty_score,
        )
        .await
    }
}

async fn dashboard(
    State(web): State<Arc<Web>>,
    Analyst(staff): Analyst,
    Query(place): Query<Place>,
) -> Result<Response, WebError> {
    let started = Instant::now();
    let coverage = web.coverage(&place).await?;
    let cur = coverage.currency.as_str();
    let programme_name = |code: &str| {
        coverage
            .programmes
            .iter()
            .find(|p| p.code == code)
            .map_or_else(|| code.to_string(), |p| format!("{} ({code})", p.name))
    };
    let gaps = &coverage.gaps;
    let totals = vec![
        ("Active enrolments", thousands(coverage.active)),
        ("People receiving", thousands(coverage.people)),
        ("Paid in all", money(cur, coverage.paid_amount)),
        (
            "Duplicate enrolments",
            thousands(coverage.duplicate_enrolments as i64),
        ),
        (
            "Poor people in no programme",
            thousands(gaps.uncovered_people),
        ),
    ];
    let programmes = coverage
        .programmes
        .iter()
        .map(|p| ProgrammeRow {
            code: p.code.clone(),
            name: p.name.clone(),
            benefit_type: p.benefit_type.clone(),
            active: thousands(p.active),
            statuses: p
                .by_status
                .iter()
                .map(|(status, n)| format!("{status} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(" · "),
            paid: thousands(p.paid),
            amount: money(cur, p.paid_amount),
        })
        .collect();
    let programme_chart = chart::of(
        "Active enrolments by programme",
        &coverage.programmes,
        |p| Bar::new(&p.code, p.active, thousands(p.active)),
    );
    let (types, type_chart) = (
        coverage.types.iter().map(|t| Row3 {
            first: t.benefit_type.clone(),
            second: thousands(t.active),
            third: money(cur, t.paid_amount),
        }),
        chart::of("Amount paid by benefit type", &coverage.types, |t| {
            Bar::new(&t.benefit_type, t.paid_amount, money(cur, t.paid_amount))
        }),
    );
    let (cycles, cycle_chart) = (
        coverage.cycles.iter().map(|c| CycleRow {
            month: c.month.clone(),
            paid: thousands(c.paid),
            amount: money(cur, c.paid_amount),
            failed: thousands(c.failed),
        }),
        chart::of("Amount paid by monthly cycle", &coverage.cycles, |c| {
            Bar::new(&c.month, c.paid_amount, money(cur, c.paid_amount))
        }),
    );
    let overlaps = coverage
        .overlaps
        .iter()
        .map(|o| Row3 {
            first: programme_name(&o.first),
            second: programme_name(&o.second),
            third: thousands(o.people),
        })
        .collect();
    let duplicates = duplicate_rows(&coverage.duplicates, DUPLICATES_SHOWN);
    let view = DashboardPage {
        staff: Some(&staff),
        totals,
        programmes,
        programme_chart,
        types: types.collect(),
        type_chart,
        cycles: cycles.collect(),
        cycle_chart,
        overlaps,
        duplicates_more: coverage.duplicates.len().saturating_sub(DUPLICATES_SHOWN),
        duplicates,
        gap_line: format!(
            "{} of the {} members of households with a poverty score of {} or less ({} households with no member covered)",
            thousands(gaps.uncovered_people),
            thousands(gaps.poor_people),
            gaps.poverty_line,
            thousands(gaps.uncovered_households)
        ),
        places: places_view(&coverage),
        took_ms: format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
    };
    Ok(page(StatusCode::OK, &view))
}

fn duplicate_rows(duplicates: &[registry::ibr::Duplicate], most: usize) -> Vec<DuplicateRow> {
    duplicates
        .iter()
        .take(most)
        .map(|d| DuplicateRow {
            beneficiary: d.beneficiary_id.clone(),
            region: d.region_code.clone().unwrap_or_default(),
            benefit_type: label(dci::directory::BENEFIT_TYPE, &d.benefit_type),
            programmes: d.programmes.join(" + "),
        })
        .collect()
}

fn places_view(coverage: &Coverage) -> PlacesView {
    let cur = coverage.currency.as_str();
    let (region_code, region_name) = coverage.region.clone().unwrap_or_default();
    PlacesView {
        region_code,
        region_name,
        rows: coverage
            .places
            .iter()
            .map(|p| PlaceRow {
                code: p.code.clone(),
                name: p.name.clone(),
                active: thousands(p.active),
                amount: money(cur, p.paid_amount),
                uncovered: thousands(p.uncovered),
            })
            .collect(),
        chart: chart::of("Active enrolments by place", &coverage.places, |p| {
            Bar::new(
                &format!("{} {}", p.code, p.name),
                p.active,
                thousands(p.active),
            )
        }),
    }
}

/// The places table alone: what htmx swaps in when a region is opened or closed.
async fn places(
    State(web): State<Arc<Web>>,
    _: Analyst,
    Query(place): Query<Place>,
) -> Result<Response, WebError> {
    let coverage = web.coverage(&place).await?;
    Ok(page(
        StatusCode::OK,
        &PlacesFragment {
            places: places_view(&coverage),
        },
    ))
}

async fn duplicates(
    State(web): State<Arc<Web>>,
    Analyst(staff): Analyst,
) -> Result<Response, WebError> {
    let found = registry::ibr::duplicates(web.sources.ibr.as_ref()).await?;
    Ok(page(
        StatusCode::OK,
        &DuplicatesPage {
            staff: Some(&staff),
            duplicates: duplicate_rows(&found, usize::MAX),
        },
    ))
}

async fn coverage_json(
    State(web): State<Arc<Web>>,
    _: Analyst,
    Query(place): Query<Place>,
) -> Result<Response, WebError> {
    Ok(Json(web.coverage(&place).await?).into_response())
}
