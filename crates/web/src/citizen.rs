//! The citizen benefit-status page (public): a person gives their UIN and birth date and sees
//! their programmes, each enrolment's status, their recent payments and who was shown their
//! records.
//!
//! Nothing is shown unless the foundational ID registry says the UIN goes with the birth
//! date (a DCI verification search); a wrong birth date and an unknown UIN get the same
//! answer, so the page tells no one which UINs exist. Look-ups are rate-limited per client
//! address and per UIN (the second stops guessing a birth date from many addresses), before
//! anything is asked. The programmes and payments come from the IBR over DCI; the access log
//! from the registries' audit chains ([`store::audit::who_saw`]).

use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use client::SearchItem;
use dci::RequestStatus;
use dci::records::ibr::{Beneficiary, Benefit};
use dci::search::SearchResponseItem;
use serde::Deserialize;
use serde_json::Value;
use time::Date;

use crate::{Web, WebError, label, page};

/// Payments the page lists, most recent first.
pub const RECENT_PAYMENTS: i64 = 12;
/// Access-log entries the page lists, most recent first.
pub const ACCESSES: usize = 30;

pub(crate) fn routes() -> Router<Arc<Web>> {
    Router::new().route("/status", get(form).post(look_up))
}

/// One enrolment as the person sees it.
struct EnrolmentView {
    programme: String,
    status: String,
    since: String,
    reason: String,
    for_household: bool,
}

/// One payment.
struct PaymentView {
    date: String,
    programme: String,
    amount: String,
    status: String,
}

/// One disclosure of the person's records.
struct AccessView {
    at: String,
    service: String,
    who: String,
    what: String,
}

#[derive(Template)]
#[template(path = "status_form.html")]
struct FormPage<'a> {
    csrf: &'a str,
    uin: &'a str,
    problem: Option<&'a str>,
    staff: Option<&'a crate::auth::Staff>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    uin: &'a str,
    enrolments: Vec<EnrolmentView>,
    payments: Vec<PaymentView>,
    accesses: Vec<AccessView>,
    staff: Option<&'a crate::auth::Staff>,
}

async fn form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, WebError> {
    let csrf = web.csrf(&headers)?;
    let page = page(
        StatusCode::OK,
        &FormPage {
            csrf: &csrf.token,
            uin: "",
            problem: None,
            staff: None,
        },
    );
    Ok(csrf.on(page))
}

#[derive(Deserialize)]
struct LookUp {
    #[serde(default)]
    uin: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    csrf: String,
}

/// A UIN as people type it: letters and digits only (it goes into a query), at most 32.
fn parse_uin(text: &str) -> Option<String> {
    let uin: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (!uin.is_empty() && uin.len() <= 32 && uin.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(uin)
}

fn parse_date(text: &str) -> Option<Date> {
    Date::parse(
        text.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

async fn look_up(
    State(web): State<Arc<Web>>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LookUp>,
) -> Result<Response, WebError> {
    let what = "status look-ups";
    let gate = ("status", web.settings.citizen_per_address, what);
    let peer = peer.as_ref().map(|Extension(c)| c);
    let address = match web.screen(&headers, peer, &form.csrf, gate) {
        Ok(address) => address,
        Err(refused) => return Ok(*refused),
    };
    let again = |status: StatusCode, problem: &str| {
        page(
            status,
            &FormPage {
                csrf: &form.csrf,
                uin: &form.uin,
                problem: Some(problem),
                staff: None,
            },
        )
    };
    let (Some(uin), Some(born)) = (parse_uin(&form.uin), parse_date(&form.birth_date)) else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Give your UIN (letters and digits) and your birth date (YYYY-MM-DD).",
        ));
    };
    if let Some(refused) = web.admit(&format!("uin:{uin}"), web.settings.citizen_per_uin, what) {
        return Ok(refused);
    }
    if !web.verified(&uin, born).await? {
        tracing::info!(%address, "status look-up refused: UIN and birth date do not match");
        return Ok(again(
            StatusCode::FORBIDDEN,
            "This UIN and birth date do not match a record. Check both and try again.",
        ));
    }
    let (enrolments, payments) = web.holdings(&uin).await?;
    let accesses = web.accesses(&uin).await?;
    Ok(page(
        StatusCode::OK,
        &StatusPage {
            uin: &uin,
            enrolments,
            payments,
            accesses,
            staff: None,
        },
    ))
}

/// The one item of a sync search's answer, which must be `succ`.
fn answered(
    registry: &'static str,
    answer: Result<
        dci::Envelope<dci::MsgCallbackHeader, dci::search::SearchResponse>,
        client::ClientError,
    >,
) -> Result<Vec<SearchResponseItem>, WebError> {
    let failed = |message: String| WebError::Registry { registry, message };
    let message = answer
        .map_err(|e| failed(e.to_string()))?
        .message
        .ok_or_else(|| failed("an answer without a message".into()))?;
    for item in &message.search_response {
        if item.status != RequestStatus::Succ {
            return Err(failed(
                item.status_reason_message.clone().unwrap_or_default(),
            ));
        }
    }
    Ok(message.search_response)
}

/// The records of an answered item, as `T`; a record that does not read is skipped.
fn records<T: serde::de::DeserializeOwned>(item: &SearchResponseItem) -> Vec<T> {
    item.data
        .iter()
        .flat_map(|d| &d.reg_records)
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect()
}

impl Web {
    /// Whether the ID registry says `uin` goes with `born`.
    async fn verified(&self, uin: &str, born: Date) -> Result<bool, WebError> {
        let expression = format!(r#"uin = "{uin}" AND birth_date = "{born}""#);
        let item = SearchItem::by_expression("Identity", Value::String(expression)).page(1, 1);
        let items = answered(
            "ID registry",
            self.sources.id_dci.sync_search(vec![item]).await,
        )?;
        Ok(items.iter().any(|item| {
            item.pagination.as_ref().is_some_and(|p| p.total_count > 0)
                || item.data.iter().any(|d| !d.reg_records.is_empty())
        }))
    }

    /// The person's enrolments and recent payments, as the IBR answers over DCI.
    async fn holdings(
        &self,
        uin: &str,
    ) -> Result<(Vec<EnrolmentView>, Vec<PaymentView>), WebError> {
        let items = vec![
            SearchItem::by_identifier("Beneficiary", "UIN", uin),
            SearchItem::by_identifier("Benefit", "UIN", uin)
                .sort("benefit_date", true)
                .page(RECENT_PAYMENTS, 1),
        ];
        let answer = answered("IBR", self.sources.ibr_dci.sync_search(items).await)?;
        let (Some(enrolled), Some(paid)) = (answer.first(), answer.get(1)) else {
            return Err(WebError::Registry {
                registry: "IBR",
                message: "fewer answers than questions".into(),
            });
        };
        let enrolments: Vec<Beneficiary> = records(enrolled);
        let name_of = |code: &str| {
            enrolments
                .iter()
                .flat_map(|b| &b.programme_identifier)
                .find(|p| p.programme_identifier.as_deref() == Some(code))
                .and_then(|p| p.programme_name.clone())
                .unwrap_or_else(|| code.to_string())
        };
        let payments = records::<Benefit>(paid)
            .into_iter()
            .map(|b| {
                let code = b.programme_identifier.clone().unwrap_or_default();
                PaymentView {
                    date: b.benefit_date.unwrap_or_default(),
                    programme: name_of(&code),
                    amount: b.benefit_value.unwrap_or_default(),
                    status: label(
                        dci::directory::PAYMENT_STATUS,
                        b.payment_status.as_deref().unwrap_or("1"),
                    ),
                }
            })
            .collect();
        let enrolments = enrolments
            .into_iter()
            .map(Beneficiary::normalized)
            .map(|b| {
                let programme = b.programme_identifier.first();
                EnrolmentView {
                    programme: programme
                        .and_then(|p| p.programme_name.clone().or(p.programme_identifier.clone()))
                        .unwrap_or_default(),
                    status: label(
                        dci::directory::ENROLMENT_STATUS,
                        b.enrollment_status.as_deref().unwrap_or_default(),
                    ),
                    since: b
                        .status_change_date
                        .last()
                        .cloned()
                        .or(b.enrollment_date)
                        .unwrap_or_default(),
                    reason: b.status_reason.unwrap_or_default(),
                    for_household: b.assistance_unit.as_deref() == Some("2"),
                }
            })
            .collect();
        Ok((enrolments, payments))
    }

    /// Who was shown the person's records, most recent first, from every audit chain read.
    async fn accesses(&self, uin: &str) -> Result<Vec<AccessView>, WebError> {
        let subject = format!("UIN:{uin}");
        let own = self.sources.ibr_dci.sender_id();
        let mut seen = Vec::new();
        for (service, store) in &self.sources.audits {
            for record in store::audit::who_saw(store.as_ref(), &subject).await? {
                seen.push((service.clone(), record.entry));
            }
        }
        seen.sort_by_key(|(_, entry)| std::cmp::Reverse(entry.at));
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        Ok(seen
            .into_iter()
            .take(ACCESSES)
            .map(|(service, entry)| {
                let participant = entry.participant.unwrap_or_else(|| "unknown".into());
                AccessView {
                    at: entry.at.format(format).unwrap_or_default(),
                    who: if participant == own {
                        format!("{participant} (this status page, for you)")
                    } else {
                        participant
                    },
                    what: entry.action.unwrap_or(entry.endpoint),
                    service,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_letters_and_digits_make_a_uin() {
        assert_eq!(super::parse_uin(" 1234 5678 "), Some("12345678".into()));
        assert_eq!(super::parse_uin(r#"1" OR uin = "2"#), None);
        assert_eq!(super::parse_uin(""), None);
        assert_eq!(super::parse_uin(&"1".repeat(33)), None);
        assert!(super::parse_date("1986-05-21").is_some());
        assert!(super::parse_date("21/05/1986").is_none());
    }
}
