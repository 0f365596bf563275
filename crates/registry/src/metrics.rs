//! `GET /metrics`: what a service answered, in the Prometheus text format (version 0.0.4).
//!
//! - `spx_requests_total{participant, endpoint, outcome}`: requests answered by the guarded
//!   endpoints (DCI, registrar, payments), by caller, path and outcome (`succ`, `ack`, or the
//!   DCI code of the refusal or error: the errors by code);
//! - `spx_request_duration_seconds{endpoint}`: a histogram of the time taken to answer;
//! - `spx_outbox_messages{state}`: callbacks and notifications not yet delivered (`pending`,
//!   `dead` …), counted in the store when scraped: the backlog and the dead letters.
//!
//! Services without the guard (the SP-MIS's API, the pages) count every request with
//! [`count`] instead: by route pattern and `http.<status>`.
//!
//! A caller is named only when it is a registered participant (else `unknown`), so that
//! unauthenticated requests cannot grow the label sets; endpoints are the service's routes.
//! Counts are the node's own since it started, as Prometheus expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use store::{ColumnType, Statement, Store};

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A service's request counters and latency histograms.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    requests: BTreeMap<(String, String, String), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, participant: &str, endpoint: &str, outcome: &str, took: Duration) {
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (
            participant.to_owned(),
            endpoint.to_owned(),
            outcome.to_owned(),
        );
        *counts.requests.entry(key).or_default() += 1;
        let histogram = counts.latency.entry(endpoint.to_owned()).or_default();
        let seconds = took.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The counters, and the outbox of `store` by state (when it has one), as Prometheus text.
    pub async fn render(&self, store: Option<&dyn Store>) -> Result<String, store::StoreError> {
        let backlog = match store {
            Some(store) => outbox_backlog(store).await?,
            None => Vec::new(),
        };
        let mut out = String::new();
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        out.push_str("# HELP spx_requests_total Requests answered, by participant, endpoint and outcome (succ, ack, or the DCI code).\n# TYPE spx_requests_total counter\n");
        for ((participant, endpoint, outcome), n) in &counts.requests {
            let _ = writeln!(
                out,
                "spx_requests_total{{participant=\"{}\",endpoint=\"{}\",outcome=\"{}\"}} {n}",
                escape(participant),
                escape(endpoint),
                escape(outcome)
            );
        }
        out.push_str("# HELP spx_request_duration_seconds Time taken to answer, by endpoint.\n# TYPE spx_request_duration_seconds histogram\n");
        for (endpoint, h) in &counts.latency {
            let endpoint = escape(endpoint);
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "spx_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "spx_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}\nspx_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}\nspx_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        if store.is_none() {
            return Ok(out);
        }
        out.push_str("# HELP spx_outbox_messages Callbacks and notifications not delivered yet, by state (pending, dead ...).\n# TYPE spx_outbox_messages gauge\n");
        for (state, n) in backlog {
            let _ = writeln!(
                out,
                "spx_outbox_messages{{state=\"{}\"}} {n}",
                escape(&state)
            );
        }
        Ok(out)
    }
}

/// Middleware counting every request of a service whose endpoints have no guard of their own
/// (the SP-MIS's API, the pages): by route, outcome `http.<status>`, caller `unknown`.
pub async fn count(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    // The route's pattern, not the path: paths that people type cannot grow the label sets.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let response = next.run(request).await;
    let outcome = format!("http.{}", response.status().as_u16());
    metrics.observe("unknown", &route, &outcome, started.elapsed());
    response
}

/// `GET /metrics` of such a service: its counters and, when `store` has an outbox, its
/// backlog.
pub async fn serve(metrics: &Metrics, store: Option<&dyn Store>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match metrics.render(store).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox for /metrics");
            axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The messages of `store`'s outbox not delivered yet, by state (`pending`, `dead` …).
pub async fn outbox_backlog(store: &dyn Store) -> Result<Vec<(String, i64)>, store::StoreError> {
    let rows = store
        .read(vec![Statement::new(
            "SELECT state, count(*) FROM outbox WHERE state <> 'delivered' GROUP BY state ORDER BY state",
            vec![],
            &[ColumnType::Text, ColumnType::Integer],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .filter_map(|row| match row.as_slice() {
            [
                Some(store::SqlValue::Text(state)),
                Some(store::SqlValue::Integer(n)),
            ] => Some((state.clone(), *n)),
            _ => None,
        })
        .collect())
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn buckets_are_cumulative() {
        let metrics = super::Metrics::default();
        metrics.observe("a", "/x", "succ", Duration::from_millis(3));
        metrics.observe("a", "/x", "succ", Duration::from_millis(30));
        metrics.observe("b", "/x", "rjct.x", Duration::from_secs(9));
        let counts = metrics.inner.lock().unwrap();
        let h = &counts.latency["/x"];
        assert_eq!(h.buckets[0], 0, "none under 1 ms");
        assert_eq!(h.buckets[2], 1, "one under 5 ms");
        assert_eq!(h.buckets[5], 2, "two under 50 ms");
        assert_eq!(h.buckets[11], 2, "the 9 s one is only in +Inf");
        assert_eq!(h.count, 3);
        assert_eq!(counts.requests.len(), 2);
        assert_eq!(super::escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
