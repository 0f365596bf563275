//! The SP-MIS's HTTP API: the programmes, applications, and a beneficiary's history.
//!
//! - `GET /mis/programmes`: each programme's code, name, benefit type, target, amount,
//!   frequency, budget, rules, candidate search and the event it enrols on.
//! - `POST /mis/programmes` with the fields of a programme file, as JSON: checked as a file
//!   is, kept in the SP-MIS's store (201, the programme as `GET` shows it).
//! - `POST /mis/applications` `{"programme": "OAA", "uin": "…"}`, or `{"programme": "CB",
//!   "brn": "…"}` for a child: decides on the day of the request and answers the
//!   [`Decision`] (200, enrolled or rejected).
//! - `GET /mis/programmes/{code}/beneficiaries/{uin}`: the current status and every change.
//! - `POST /mis/programmes/{code}/enrolments`: proactive enrolment on the day of the request,
//!   answering the [`crate::EnrolmentReport`].
//! - `POST /mis/programmes/{code}/cycles`: the payment cycle of the day of the request,
//!   answering the [`crate::CycleReport`].
//!
//! Errors are `{"error": "…"}`: 400 a programme definition refused, 404 unknown programme,
//! person or birth, 409 a change the lifecycle refuses or a programme code taken, 502 a
//! registry that failed, 500 the store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apply::Decision;
use crate::{CycleReport, Definition, EnrolmentReport, Mis, MisError, Programme};

/// The routes, serving `mis`.
pub fn router(mis: Mis) -> Router {
    Router::new()
        .route("/mis/programmes", get(programmes).post(create_programme))
        .route("/mis/applications", post(apply))
        .route(
            "/mis/programmes/{code}/beneficiaries/{uin}",
            get(beneficiary),
        )
        .route("/mis/programmes/{code}/enrolments", post(enrol))
        .route("/mis/programmes/{code}/cycles", post(cycle))
        .with_state(mis)
}

/// The one place an error becomes a response.
impl IntoResponse for MisError {
    fn into_response(self) -> Response {
        let status = match &self {
            MisError::Programme { .. } | MisError::NotProactive(_) => StatusCode::BAD_REQUEST,
            MisError::UnknownProgramme(_) | MisError::UnknownChild(_) => StatusCode::NOT_FOUND,
            MisError::Transition { .. } | MisError::ProgrammeExists(_) => StatusCode::CONFLICT,
            MisError::Registry { .. } => StatusCode::BAD_GATEWAY,
            MisError::Store(_) | MisError::Corrupt(_) | MisError::Delivery(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// A programme as the API shows it: its definition, the rules as written.
fn shown(programme: &Programme) -> Value {
    serde_json::to_value(programme.definition()).expect("a definition serializes")
}

async fn programmes(State(mis): State<Mis>) -> Json<Value> {
    Json(Value::Array(mis.programmes().iter().map(shown).collect()))
}

async fn create_programme(
    State(mis): State<Mis>,
    body: axum::body::Bytes,
) -> Result<Response, MisError> {
    // Read here, not by the `Json` extractor, so that every fault answers as the others do.
    let definition: Definition =
        serde_json::from_slice(&body).map_err(|e| MisError::Programme {
            origin: "the programme sent".into(),
            message: e.to_string(),
        })?;
    let programme = mis.create_programme(definition).await?;
    Ok((StatusCode::CREATED, Json(shown(&programme))).into_response())
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

async fn enrol(
    State(mis): State<Mis>,
    Path(code): Path<String>,
) -> Result<Json<EnrolmentReport>, MisError> {
    let today = time::OffsetDateTime::now_utc().date();
    Ok(Json(mis.enrol_eligible(&code, today).await?))
}

async fn cycle(
    State(mis): State<Mis>,
    Path(code): Path<String>,
) -> Result<Json<CycleReport>, MisError> {
    let today = time::OffsetDateTime::now_utc().date();
    Ok(Json(mis.run_cycle(&code, today).await?))
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
