//! The scenarios of `usecases.md` against the sandbox's services: run by `spx sandbox` after
//! its demonstrations, and again on request at its scenario endpoint
//! (`POST /scenarios/{id}`), which `spx scenario UC-05` calls. A rerun runs inside the
//! sandbox, with its SP-MIS and the population it loaded: nothing is opened twice.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use clap::Args;
use scenario::{Outcome, Scenario, Timeline, Truth, World};
use serde_json::{Value, json};

/// Options of `spx scenario`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenarios to run (`UC-05`, `uc5`); every one when none is named.
    pub ids: Vec<String>,
    /// The running sandbox's scenario endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8409")]
    pub url: String,
}

/// What the scenarios run against in the sandbox: its population, its SP-MIS and the
/// registries' clients. One run at a time.
pub struct Stage {
    /// The population the registries were loaded with.
    pub truth: Truth,
    /// The SP-MIS.
    pub mis: mis::Mis,
    /// The registries' clients.
    pub registries: mis::Registries,
    running: tokio::sync::Mutex<()>,
}

impl Stage {
    /// A stage for `truth`, `mis` and `registries`.
    pub fn new(truth: Truth, mis: mis::Mis, registries: mis::Registries) -> Self {
        Stage {
            truth,
            mis,
            registries,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `scenarios` in order, printing their timeline and a summary; the outcomes and the
    /// timeline.
    pub async fn play(&self, scenarios: &[&Scenario]) -> Result<(Vec<Outcome>, Timeline)> {
        let _one_at_a_time = self.running.lock().await;
        let timeline = Timeline::printing();
        let world = World {
            truth: &self.truth,
            mis: &self.mis,
            registries: &self.registries,
            timeline: &timeline,
        };
        let mut outcomes = Vec::with_capacity(scenarios.len());
        for scenario in scenarios {
            outcomes.push(scenario.run(&world).await?);
        }
        let failed: Vec<&str> = outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| o.id)
            .collect();
        let took: f64 = outcomes.iter().map(|o| o.took.as_secs_f64()).sum();
        timeline.line(if failed.is_empty() {
            format!(
                "[scenarios] all {} scenarios passed in {took:.1} s",
                outcomes.len()
            )
        } else {
            format!(
                "[scenarios] {} of {} scenarios FAILED: {}",
                failed.len(),
                outcomes.len(),
                failed.join(", ")
            )
        });
        Ok((outcomes, timeline))
    }

    /// Serves `POST /scenarios` (every scenario) and `POST /scenarios/{id}` on `listen`; the
    /// base URL.
    pub async fn serve(self: Arc<Self>, listen: &str) -> Result<String> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/scenarios", post(every))
            .route("/scenarios/{id}", post(one))
            .with_state(self);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the scenario endpoint stopped");
            }
        });
        Ok(base)
    }
}

type Answer = (StatusCode, axum::Json<Value>);

async fn every(State(stage): State<Arc<Stage>>) -> Answer {
    answer(&stage, &scenario::all().iter().collect::<Vec<_>>()).await
}

async fn one(State(stage): State<Arc<Stage>>, Path(id): Path<String>) -> Answer {
    match chosen(&id) {
        Ok(scenario) => answer(&stage, &[scenario]).await,
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": e.to_string()})),
        ),
    }
}

/// The scenarios' run as JSON: `passed`, each scenario's checks, and the timeline's lines.
async fn answer(stage: &Stage, scenarios: &[&Scenario]) -> Answer {
    match stage.play(scenarios).await {
        Ok((outcomes, timeline)) => {
            let scenarios: Vec<Value> = outcomes
                .iter()
                .map(|o| {
                    let checks: Vec<Value> = o
                        .checks
                        .iter()
                        .map(|c| json!({"what": c.what, "passed": c.passed, "detail": c.detail}))
                        .collect();
                    json!({"id": o.id, "passed": o.passed(), "checks": checks,
                           "took_ms": o.took.as_millis()})
                })
                .collect();
            let body = json!({
                "passed": outcomes.iter().all(Outcome::passed),
                "scenarios": scenarios,
                "timeline": timeline.lines(),
            });
            (StatusCode::OK, axum::Json(body))
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": format!("{e:#}")})),
        ),
    }
}

/// Whether every outcome passed, as an error naming those that did not.
pub fn passed(outcomes: &[Outcome]) -> Result<()> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{}:\n{}", o.id, o.failures()))
        .collect();
    if !failed.is_empty() {
        bail!("scenarios failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// `spx scenario`: the scenarios named (or every one) run again by the sandbox at `args.url`;
/// prints their timeline, and fails when a check did.
pub async fn run(args: ScenarioArgs) -> Result<()> {
    let paths: Vec<String> = if args.ids.is_empty() {
        vec!["/scenarios".into()]
    } else {
        args.ids
            .iter()
            .map(|id| Ok(format!("/scenarios/{}", chosen(id)?.id)))
            .collect::<Result<_>>()?
    };
    let http = reqwest::Client::new();
    let mut failed = Vec::new();
    for path in paths {
        let url = format!("{}{path}", args.url.trim_end_matches('/'));
        let answer =
            http.post(&url).send().await.with_context(|| {
                format!("no sandbox answers at {url}: is `spx sandbox` running?")
            })?;
        let status = answer.status();
        let body: Value = answer
            .json()
            .await
            .with_context(|| format!("{url} answered {status} without JSON"))?;
        if let Some(error) = body["error"].as_str() {
            bail!("{url}: {error}");
        }
        for line in body["timeline"].as_array().into_iter().flatten() {
            println!("{}", line.as_str().unwrap_or_default());
        }
        for scenario in body["scenarios"].as_array().into_iter().flatten() {
            if scenario["passed"] != true {
                failed.push(scenario["id"].as_str().unwrap_or("?").to_string());
            }
        }
    }
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The scenario `id` names.
fn chosen(id: &str) -> Result<&'static Scenario> {
    scenario::find(id).with_context(|| {
        let known: Vec<&str> = scenario::all().iter().map(|s| s.id).collect();
        format!("no scenario '{id}'; there are {}", known.join(", "))
    })
}
