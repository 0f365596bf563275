//! `GET /metrics` of a registry, on each backend: requests by participant, endpoint and
//! outcome (a refusal under its DCI code), the latency histogram, and the outbox's backlog.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::json;

use crate::support::{Backend, TestRegistry, async_envelope, by_id, living_uin, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[(
    "metrics::requests_refusals_latency_and_backlog",
    requests_refusals_latency_and_backlog,
)];

/// The value of the sample `name` (labels included, as printed) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn requests_refusals_latency_and_backlog(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let registry = TestRegistry::spawn(backend).await?;
        // The tests' sender, registered: it is named; an unregistered one is not.
        let participant = registry::participants::Participant {
            sender_id: "spmis.test".into(),
            ..Default::default()
        };
        registry::participants::add(registry.store.as_ref(), &participant, "x").await?;
        registry.registry.participants.reload().await?;
        let uin = living_uin();
        registry.one(by_id("Member", "UIN", &uin)).await?;
        registry.one(by_id("Member", "UIN", &uin)).await?;
        let mut stale = registry.search_body(vec![by_id("Member", "UIN", &uin)]);
        stale["header"]["message_ts"] = json!("2024-02-01 12:15");
        let (status, _) = registry.search(&stale).await?;
        ensure!(status == 400, "a bad message_ts: {status}");
        let mut stranger = registry.search_body(vec![by_id("Member", "UIN", &uin)]);
        stranger["header"]["sender_id"] = json!("made-up.example");
        registry.search(&stranger).await?;
        // An async search whose callback cannot be delivered stays in the outbox.
        let body = async_envelope(vec![by_id("Member", "UIN", &uin)], "http://127.0.0.1:9/cb");
        let (status, _) = registry.search_at("/registry/search", &body).await?;
        ensure!(status == 200, "async search: {status}");

        let search = r#"endpoint="/registry/sync/search""#;
        let mut text = String::new();
        for _ in 0..100 {
            text = registry
                .client
                .get(registry.url("/metrics"))
                .send()
                .await?
                .text()
                .await?;
            if text.contains("spx_outbox_messages{") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let succ = format!(
            r#"spx_requests_total{{participant="spmis.test",{search},outcome="succ"}}"#
        );
        ensure!(sample(&text, &succ) == Some(2.0), "{succ} in\n{text}");
        let refused = format!(
            r#"spx_requests_total{{participant="spmis.test",{search},outcome="rjct.message_ts.invalid"}}"#
        );
        ensure!(sample(&text, &refused) == Some(1.0), "{refused} in\n{text}");
        let unknown = format!(r#"spx_requests_total{{participant="unknown",{search},outcome="succ"}}"#);
        ensure!(sample(&text, &unknown) == Some(1.0), "{unknown} in\n{text}");
        ensure!(!text.contains("made-up.example"), "an unregistered sender is not a label");
        let count = format!("spx_request_duration_seconds_count{{{search}}}");
        ensure!(sample(&text, &count) == Some(4.0), "{count} in\n{text}");
        let inf = format!(r#"spx_request_duration_seconds_bucket{{{search},le="+Inf"}}"#);
        ensure!(sample(&text, &inf) == Some(4.0), "{inf} in\n{text}");
        let backlog: f64 = text
            .lines()
            .filter(|l| l.starts_with("spx_outbox_messages{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        ensure!(backlog == 1.0, "one undelivered callback (pending or dead):\n{text}");
        Ok(())
    })
}
