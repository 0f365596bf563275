//! The SP-MIS's HTTP API: the programmes, applications, and a beneficiary's history.
//!
//! - `GET /mis/programmes`: each programme's code, name, benefit type, target, amount,
//!   frequency, budget and rules.
//! - `POST /mis/applications` `{"programme": "OAA", "uin": "…"}`, or `{"programme": "CB",
//!   "brn": "…"}` for a child: decides on the day of the request and answers the
//!   [`Decision`] (200, enrolled or rejected).
//! - `GET /mis/programmes/{code}/beneficiaries/{uin}`: the current status and every change.
//!
//! Errors are `{"error": "…"}`: 404 unknown programme, person or birth, 409 a change the lifecycle
//! refuses, 502 a registry that failed, 500 the store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apply::Decision;
use crate::{Mis, MisError};

/// The routes, serving `mis`.
pub fn router(mis: Mis) -> Router {
    Router::new()
        .route("/mis/programmes", get(programmes))
        .route("/mis/applications", post(apply))
        .route(
            "/mis/programmes/{code}/beneficiaries/{uin}",
            get(beneficiary),
        )
        .with_state(mis)
}

/// The one place an error becomes a response.
impl IntoResponse for MisError {
    fn into_response(self) -> Response {
        let status = match &self {
            MisError::UnknownProgramme(_) | MisError::UnknownChild(_) => StatusCode::NOT_FOUND,
            MisError::Transition { .. } => StatusCode::CONFLICT,
            MisError::Registry { .. } => StatusCode::BAD_GATEWAY,
            MisError::Programme { .. }
            | MisError::Store(_)
            | MisError::Corrupt(_)
            | MisError::Delivery(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

async fn programmes(State(mis): State<Mis>) -> Json<Value> {
    Json(Value::Array(
        mis.programmes()
            .iter()
            .map(|p| {
                let rules = |rules: &[crate::rules::Rule]| {
                    rules
                        .iter()
                        .map(|r| json!({"name": r.name, "rule": r.text()}))
                        .collect::<Vec<_>>()
                };
                json!({"code": p.code, "name": p.name, "description": p.description,
                       "institution": p.institution, "benefit_type": p.benefit_type,
                       "target": p.target, "frequency": p.frequency, "budget": p.budget,
                       "amount": p.amount,
                       "eligibility": rules(&p.eligibility), "conditions": rules(&p.conditions)})
            })
            .collect(),
    ))
}

/// An application: by the applicant's UIN, or by a child's birth registration number (a
/// parent applying for the child).
#[derive(Deserialize)]
struct Application {
    programme: String,
    #[serde(flatten)]
    applicant: Applicant,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Applicant {
    Uin(String),
    Brn(String),
}

async fn apply(
    State(mis): State<Mis>,
    Json(application): Json<Application>,
) -> Result<Json<Decision>, MisError> {
    let today = time::OffsetDateTime::now_utc().date();
    let code = &application.programme;
    let decision = match &application.applicant {
        Applicant::Uin(uin) => mis.apply(code, uin, today).await?,
        Applicant::Brn(brn) => mis.apply_for_child(code, brn, today).await?,
    };
    Ok(Json(decision))
}

async fn beneficiary(
    State(mis): State<Mis>,
    Path((code, uin)): Path<(String, String)>,
) -> Result<Response, MisError> {
    mis.programme(&code)?;
    let history = mis.enrolments().history(&code, &uin).await?;
    let Some(last) = history.last() else {
        let error = format!("{uin} never applied to {code}");
        return Ok((StatusCode::NOT_FOUND, Json(json!({"error": error}))).into_response());
    };
    Ok(
        Json(json!({"programme": code, "uin": uin, "status": last.status, "history": history}))
            .into_response(),
    )
}
