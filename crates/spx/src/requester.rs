//! `spx search`, `spx subscribe`, `spx unsubscribe`: a requester's commands, thin over the
//! client crate. Answers go to stdout as JSON, diagnostics to stderr.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use client::{
    Client, Frequency, Receiver, ReceiverConfig, RegistryQuery, SearchItem, SubscribeItem,
};
use dci::RequestStatus;
use serde_json::Value;

use crate::service;

/// The registry to talk to, and as whom.
#[derive(Debug, Args)]
pub struct Peer {
    /// The registry's base URL.
    #[arg(long, env = "SPX_URL", default_value = "http://127.0.0.1:8401")]
    pub url: String,
    /// The participant id to send as (`header.sender_id`).
    #[arg(long, default_value = "cli.spx.local")]
    pub sender_id: String,
    /// The registry's participant id (`header.receiver_id`); none is sent unless given.
    #[arg(long)]
    pub receiver_id: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The client secret `spx participants add` gave this participant; with it the command
    /// gets an access token first (the registry requires one unless trust.require_token is
    /// off).
    #[arg(long, env = "SPX_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
}

impl Peer {
    fn client(&self) -> Client {
        let client = Client::new(&self.url, &self.sender_id, self.receiver_id.as_deref())
            .with_timeout(self.timeout());
        match &self.client_secret {
            Some(secret) => client.with_credentials(&self.sender_id, secret),
            None => client,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// Where the command's temporary callback receiver listens.
#[derive(Debug, Args)]
pub struct Callbacks {
    /// Address of the callback receiver (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The URL under which the registry reaches the receiver, when not http://<listen address>.
    #[arg(long, value_name = "URL")]
    pub callback_base: Option<String>,
}

impl Callbacks {
    async fn receiver(&self) -> Result<Receiver> {
        let receiver = Receiver::new(ReceiverConfig::default());
        let bound = receiver
            .serve(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        let receiver = match &self.callback_base {
            Some(base) => receiver.with_base_url(base),
            None => receiver,
        };
        eprintln!(
            "callbacks: receiver on {bound}, reached at {}",
            receiver.base_url().unwrap_or_default()
        );
        Ok(receiver)
    }
}

/// Which records: exactly one kind of query.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct QueryFlags {
    /// Records whose UIN is this (an `idtype-value` query).
    #[arg(long)]
    pub uin: Option<String>,
    /// Records with this identifier (an `idtype-value` query), e.g. `BRN=123`.
    #[arg(long, value_name = "TYPE=VALUE")]
    pub id: Option<String>,
    /// An `expression` query: a text expression (`region_code = "R01" and poverty_score <= 20`)
    /// or a NoSql document as JSON.
    #[arg(long, value_name = "EXPRESSION")]
    pub expression: Option<String>,
    /// A `predicate` query: an `ExpPredicateWithConditionList` as JSON.
    #[arg(long, value_name = "JSON")]
    pub predicates: Option<String>,
}

impl QueryFlags {
    fn query(&self) -> Result<RegistryQuery> {
        if let Some(uin) = &self.uin {
            return Ok(RegistryQuery::identifier("UIN", uin.as_str()));
        }
        if let Some(id) = &self.id {
            let Some((id_type, value)) = id.split_once('=') else {
                bail!("--id '{id}' is not TYPE=VALUE");
            };
            return Ok(RegistryQuery::identifier(id_type.trim(), value.trim()));
        }
        if let Some(expression) = &self.expression {
            // A JSON object is a NoSql document; anything else is a text expression.
            let expression = match serde_json::from_str::<Value>(expression) {
                Ok(document @ Value::Object(_)) => document,
                _ => Value::String(expression.clone()),
            };
            return Ok(RegistryQuery::expression(expression));
        }
        if let Some(predicates) = &self.predicates {
            let predicates: Value = serde_json::from_str(predicates)
                .context("--predicates is not JSON (an ExpPredicateWithConditionList)")?;
            return Ok(RegistryQuery::predicates(predicates));
        }
        bail!("give one of --uin, --id, --expression or --predicates")
    }
}

/// Options of `spx search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub peer: Peer,
    #[command(flatten)]
    pub query: QueryFlags,
    /// The record type searched (`Member`, `Group`).
    #[arg(long, default_value = "Member")]
    pub record_type: String,
    /// Records per page.
    #[arg(long)]
    pub page_size: Option<i64>,
    /// The page wanted, from 1.
    #[arg(long, default_value_t = 1, requires = "page_size")]
    pub page: i64,
    /// A sort key, `ATTRIBUTE` or `ATTRIBUTE:desc`; repeat for more.
    #[arg(long, value_name = "ATTRIBUTE[:desc]")]
    pub sort: Vec<String>,
    /// Search through `/registry/search` and a callback instead of `/registry/sync/search`.
    #[arg(long = "async")]
    pub asynchronous: bool,
    #[command(flatten)]
    pub callbacks: Callbacks,
}

/// `spx search`: prints the `SearchResponse`.
pub async fn search(args: SearchArgs) -> Result<()> {
    let mut item = SearchItem::new(&args.record_type, args.query.query()?);
    if let Some(size) = args.page_size {
        item = item.page(size, args.page);
    }
    for key in &args.sort {
        item = match key.rsplit_once(':') {
            Some((attribute, "desc")) => item.sort(attribute, true),
            Some((attribute, "asc")) => item.sort(attribute, false),
            _ => item.sort(key, false),
        };
    }
    let client = args.peer.client();
    let started = Instant::now();
    let response = if args.asynchronous {
        let receiver = args.callbacks.receiver().await?;
        let outcome = client
            .search_and_wait(
                vec![item],
                &receiver,
                args.peer.timeout(),
                Duration::from_secs(2),
            )
            .await?;
        let source = match outcome.source {
            client::AnswerSource::Callback(_) => "the on-search callback",
            client::AnswerSource::TxnStatus(_) => "a txn/status poll",
        };
        eprintln!(
            "accepted as {} (transaction {}); answered by {source} in {:.1} ms",
            outcome.accepted.correlation_id,
            outcome.accepted.transaction_id,
            ms(started.elapsed())
        );
        receiver.shutdown();
        outcome.response
    } else {
        let answer = client.sync_search(vec![item]).await?;
        eprintln!(
            "{}/registry/sync/search answered {} in {:.1} ms",
            client.base_url(),
            answer.header.status.as_str(),
            ms(started.elapsed())
        );
        answer
            .message
            .context("the registry answered without a message")?
    };
    println!("{}", serde_json::to_string_pretty(&response)?);
    for item in &response.search_response {
        if item.status == RequestStatus::Rjct {
            bail!(
                "search {} was rejected: {}",
                item.reference_id,
                reason(
                    item.status_reason_code.map(|c| c.as_str()),
                    item.status_reason_message.as_deref()
                )
            );
        }
    }
    Ok(())
}

/// Options of `spx subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub peer: Peer,
    /// The event type (`REGISTER`, `NewHouseHoldMember` ...).
    #[arg(long)]
    pub event: String,
    /// The record type pushed in notifications (`Member`, `Group`).
    #[arg(long, default_value = "Member")]
    pub record_type: String,
    #[command(flatten)]
    pub query: QueryFlags,
    /// When to be notified: immediate, hourly, daily or weekly (default: at once).
    #[arg(long, value_parser = frequency)]
    pub frequency: Option<Frequency>,
    /// Stop after this many notifications (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<usize>,
    #[command(flatten)]
    pub callbacks: Callbacks,
}

fn frequency(keyword: &str) -> Result<Frequency, String> {
    Frequency::from_keyword(keyword)
        .ok_or_else(|| format!("'{keyword}' is not immediate, hourly, daily or weekly"))
}

/// `spx subscribe`: prints the subscription (`SubscriptionInfo`) as one JSON line, then each
/// notification envelope as one JSON line as it arrives.
pub async fn subscribe(args: SubscribeArgs) -> Result<()> {
    let mut item = SubscribeItem::new(&args.event, &args.record_type, args.query.query()?);
    if let Some(frequency) = args.frequency {
        item = item.frequency(frequency);
    }
    let client = args.peer.client();
    let receiver = args.callbacks.receiver().await?;
    let outcome = client
        .subscribe_and_wait(
            vec![item],
            &receiver,
            args.peer.timeout(),
            Duration::from_secs(2),
        )
        .await?;
    let answer = outcome
        .response
        .subscribe_response
        .first()
        .context("the registry answered no subscription")?;
    let Some(subscription) = answer.subscriptions.first() else {
        bail!(
            "the subscription was refused: {}",
            reason(
                answer.status_reason_code.map(|c| c.as_str()),
                answer.status_reason_message.as_deref()
            )
        );
    };
    println!("{}", serde_json::to_string(subscription)?);
    let code = subscription.code.clone();
    eprintln!(
        "subscribed: {code}; notifications come to {}/registry/notify{}; the subscription stays until `spx unsubscribe {code}`",
        receiver.base_url().unwrap_or_default(),
        match args.count {
            Some(n) => format!(", stopping after {n}"),
            None => ", Ctrl-C stops".into(),
        }
    );
    let mut printed = 0;
    let stop = service::wait_for_shutdown();
    tokio::pin!(stop);
    while args.count.is_none_or(|n| printed < n) {
        let next = receiver.next_notification(Some(&code), Duration::from_secs(3600));
        let notification = tokio::select! {
            notification = next => notification,
            () = &mut stop => break,
        };
        let notification = match notification {
            Ok(notification) => notification,
            Err(client::ClientError::Timeout { .. }) => continue,
            Err(error) => {
                eprintln!("a notification could not be read: {error}");
                continue;
            }
        };
        let envelope = dci::Envelope {
            signature: None,
            header: notification.header,
            message: Some(notification.message),
        };
        println!("{}", serde_json::to_string(&envelope)?);
        printed += 1;
    }
    eprintln!("{printed} notification(s) of {code}");
    receiver.shutdown();
    Ok(())
}

/// Options of `spx unsubscribe`.
#[derive(Debug, Args)]
pub struct UnsubscribeArgs {
    #[command(flatten)]
    pub peer: Peer,
    #[command(flatten)]
    pub callbacks: Callbacks,
    /// The subscription codes to cancel.
    #[arg(required = true, value_name = "CODE")]
    pub codes: Vec<String>,
}

/// `spx unsubscribe`: prints the `UnSubscribeResponse`.
pub async fn unsubscribe(args: UnsubscribeArgs) -> Result<()> {
    let client = args.peer.client();
    let receiver = args.callbacks.receiver().await?;
    let outcome = client
        .unsubscribe_and_wait(
            args.codes,
            &receiver,
            args.peer.timeout(),
            Duration::from_secs(2),
        )
        .await?;
    receiver.shutdown();
    let response = outcome.response;
    println!("{}", serde_json::to_string_pretty(&response)?);
    if response.status == RequestStatus::Rjct {
        bail!(
            "not every code was cancelled: {}",
            reason(
                response.status_reason_code.map(|c| c.as_str()),
                response.status_reason_message.as_deref()
            )
        );
    }
    Ok(())
}

fn reason(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(text), None) | (None, Some(text)) => text.to_string(),
        (None, None) => "no reason given".into(),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
