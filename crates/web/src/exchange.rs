//! The exchange monitor (staff with the `analyst` or `admin` role): the DCI traffic each
//! registry answered, from its audit chain (the last [`WINDOW`] entries of each): requests by
//! participant, endpoint and outcome (the errors by code), latency percentiles by endpoint;
//! and each registry's outbox: callbacks and notifications pending and dead
//! ([`registry::metrics::outbox_backlog`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use store::{ColumnType, SqlValue, Statement};

use crate::auth::Staff;
use crate::dashboard::Analyst;
use crate::{Web, WebError, int, page, text, thousands};

/// Audit entries of each registry the monitor reads, the most recent.
pub const WINDOW: i64 = 20_000;

pub(crate) fn routes() -> Router<Arc<Web>> {
    Router::new().route("/exchange", get(monitor))
}

struct TrafficRow {
    service: String,
    participant: String,
    endpoint: String,
    outcome: String,
    count: String,
    failed: bool,
}

struct LatencyRow {
    service: String,
    endpoint: String,
    count: String,
    p50: String,
    p95: String,
    p99: String,
}

struct OutboxRow {
    service: String,
    state: String,
    count: String,
}

#[derive(Template)]
#[template(path = "exchange.html")]
struct MonitorPage<'a> {
    staff: Option<&'a Staff>,
    window: String,
    traffic: Vec<TrafficRow>,
    latency: Vec<LatencyRow>,
    outbox: Vec<OutboxRow>,
}

/// The `q`-quantile of sorted `values` (nearest rank), in milliseconds.
fn quantile(sorted: &[i64], q: f64) -> String {
    if sorted.is_empty() {
        return String::new();
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    format!("{:.1} ms", sorted[rank - 1] as f64 / 1000.0)
}

async fn monitor(
    State(web): State<Arc<Web>>,
    Analyst(staff): Analyst,
) -> Result<Response, WebError> {
    let mut traffic = Vec::new();
    let mut latency = Vec::new();
    let mut outbox = Vec::new();
    for (service, store) in &web.sources.audits {
        let rows = store
            .read(vec![Statement::new(
                store::numbered(
                    store.dialect(),
                    "SELECT participant, endpoint, outcome, duration_us FROM audit_log \
                     ORDER BY seq DESC LIMIT ?1",
                ),
                vec![SqlValue::Integer(WINDOW)],
                &[
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Text,
                    ColumnType::Integer,
                ],
            )])
            .await?;
        let mut counts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        let mut durations: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in &rows[0] {
            let participant = Some(text(row, 0))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "unknown".into());
            *counts
                .entry((participant, text(row, 1), text(row, 2)))
                .or_default() += 1;
            durations.entry(text(row, 1)).or_default().push(int(row, 3));
        }
        traffic.extend(
            counts
                .into_iter()
                .map(|((participant, endpoint, outcome), n)| TrafficRow {
                    service: service.clone(),
                    failed: !(outcome == "succ" || outcome == "ack"),
                    participant,
                    endpoint,
                    outcome,
                    count: thousands(n),
                }),
        );
        for (endpoint, mut took) in durations {
            took.sort_unstable();
            latency.push(LatencyRow {
                service: service.clone(),
                count: thousands(took.len() as i64),
                p50: quantile(&took, 0.5),
                p95: quantile(&took, 0.95),
                p99: quantile(&took, 0.99),
                endpoint,
            });
        }
        for (state, n) in registry::metrics::outbox_backlog(store.as_ref()).await? {
            outbox.push(OutboxRow {
                service: service.clone(),
                state,
                count: thousands(n),
            });
        }
    }
    Ok(page(
        StatusCode::OK,
        &MonitorPage {
            staff: Some(&staff),
            window: thousands(WINDOW),
            traffic,
            latency,
            outbox,
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_are_nearest_rank() {
        let took: Vec<i64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(super::quantile(&took, 0.5), "50.0 ms");
        assert_eq!(super::quantile(&took, 0.95), "95.0 ms");
        assert_eq!(super::quantile(&took, 0.99), "99.0 ms");
        assert_eq!(super::quantile(&[1500], 0.99), "1.5 ms");
        assert_eq!(super::quantile(&[], 0.5), "");
    }
}
