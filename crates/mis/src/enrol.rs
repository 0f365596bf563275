//! Proactive enrolment: the candidates of a programme found by a registry search (every
//! page), each decided as an application is (rules on registry facts, the IBR check) without
//! anyone applying.

use std::collections::BTreeSet;

use client::SearchItem;
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use time::Date;

use crate::apply::{answered, records, succeeded, unreadable};
use crate::lifecycle::Status;
use crate::programme::Candidates;
use crate::{Mis, MisError};

/// Candidates decided at once (each decision is a few registry exchanges).
const DECIDING_AT_ONCE: usize = 8;

/// What a proactive enrolment run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrolmentReport {
    /// The programme's code.
    pub programme: String,
    /// The day of the decisions.
    pub date: Date,
    /// The candidates the registry search found (distinct UINs), in order.
    pub candidates: usize,
    /// Pages of the search read.
    pub pages: usize,
    /// The DCI `transaction_id` of each page's search.
    pub search_transactions: Vec<String>,
    /// Those enrolled (and published to the IBR).
    pub enrolled: Vec<String>,
    /// Those rejected, with the reason (the first rule that did not pass, or the IBR check).
    pub rejected: Vec<(String, String)>,
    /// Those left as they are: already enrolled, suspended or resumed in the programme.
    pub unchanged: Vec<(String, Status)>,
}

impl Mis {
    /// Proactive enrolment in programme `code` on `today`: searches the registry its
    /// `candidates` name over every page, and decides on each candidate as on an application
    /// ([`Mis::apply`]); those already in the programme are left as they are.
    pub async fn enrol_eligible(
        &self,
        code: &str,
        today: Date,
    ) -> Result<EnrolmentReport, MisError> {
        let programme = self.programme(code)?;
        let candidates = programme
            .candidates
            .as_ref()
            .ok_or_else(|| MisError::NotProactive(code.to_string()))?;
        let (uins, search_transactions) = self.candidates(candidates).await?;
        let mut report = EnrolmentReport {
            programme: code.to_string(),
            date: today,
            candidates: uins.len(),
            pages: search_transactions.len(),
            search_transactions,
            enrolled: Vec::new(),
            rejected: Vec::new(),
            unchanged: Vec::new(),
        };
        // Candidates are independent: decided a few at a time, reported in UIN order.
        let decisions = futures::stream::iter(uins)
            .map(|uin| async move {
                let outcome = match self.enrolments().status(code, &uin).await? {
                    Some(status) if !status.can_become(Status::Applied) => Err(status),
                    _ => Ok(self.apply(code, &uin, today).await?.reason),
                };
                Ok::<_, MisError>((uin, outcome))
            })
            .buffered(DECIDING_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        for decision in decisions {
            match decision? {
                (uin, Err(status)) => report.unchanged.push((uin, status)),
                (uin, Ok(Some(reason))) => report.rejected.push((uin, reason)),
                (uin, Ok(None)) => report.enrolled.push(uin),
            }
        }
        Ok(report)
    }

    /// The UINs the candidate search finds, sorted, and the transaction of each page.
    async fn candidates(
        &self,
        candidates: &Candidates,
    ) -> Result<(BTreeSet<String>, Vec<String>), MisError> {
        let registry = candidates.registry.as_str();
        let client = match registry {
            "fr" => &self.registries.fr,
            "dr" => &self.registries.dr,
            _ => &self.registries.social,
        };
        let mut uins = BTreeSet::new();
        let mut transactions = Vec::new();
        let mut read = 0;
        for page in 1.. {
            let item = SearchItem::by_expression(&candidates.record_type, json!(candidates.query))
                .page(candidates.page_size, page);
            let message = answered(registry, client.sync_search(vec![item]).await)?;
            transactions.push(message.transaction_id.clone());
            let item = message
                .search_response
                .into_iter()
                .next()
                .ok_or_else(|| unreadable(registry, "no answer to the candidate search"))?;
            succeeded(registry, item.status, &item.status_reason_message)?;
            let total = item.pagination.as_ref().map_or(0, |p| p.total_count);
            let found = candidate_uins(registry, &candidates.record_type, &item)?;
            read += found.len() as i64;
            uins.extend(found.into_iter().flatten());
            if read >= total || item.data.iter().all(|d| d.reg_records.is_empty()) {
                break;
            }
        }
        Ok((uins, transactions))
    }
}

/// The UIN of each record of a candidate search's answer: a household's head, a member, a
/// farmer, a person of the disability registry (none when the record carries no UIN).
fn candidate_uins(
    registry: &'static str,
    record_type: &str,
    item: &dci::search::SearchResponseItem,
) -> Result<Vec<Option<String>>, MisError> {
    use dci::records::common::Identifier;
    let uin = |ids: &[Identifier]| {
        ids.iter()
            .find(|i| i.identifier_type.eq_ignore_ascii_case("UIN"))
            .map(|i| i.identifier_value.clone())
    };
    Ok(match record_type {
        "Group" => records::<dci::records::social::Group>(registry, item)?
            .iter()
            .map(|g| {
                g.group_head_info
                    .as_ref()
                    .and_then(|h| uin(&h.member_identifier))
            })
            .collect(),
        "Member" => records::<dci::records::social::Member>(registry, item)?
            .iter()
            .map(|m| uin(&m.member_identifier))
            .collect(),
        "DisabledPerson" => records::<dci::records::dr::PwdPerson>(registry, item)?
            .iter()
            .map(|p| p.personal_details.identifier("UIN").map(str::to_string))
            .collect(),
        _ => records::<dci::records::fr::FarmerPerson>(registry, item)?
            .iter()
            .map(|f| f.identifier("UIN").map(str::to_string))
            .collect(),
    })
}
