//! `spx participants add|list|remove`: who may call a service (its participant registry).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use registry::participants::{self, Participant, RateLimit, SignatureForm, scope};
use trust::access::AccessRules;

/// `spx participants …`.
#[derive(Debug, Subcommand)]
pub enum ParticipantsAction {
    /// Register a participant and print its client secret (shown this once).
    Add(Box<AddArgs>),
    /// List the participants: keys, signature form, unsigned allowed, scopes, access, rate.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a participant: its tokens stop working within seconds.
    Remove {
        /// Its participant id.
        sender_id: String,
    },
}

/// `spx participants add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Its participant id: the `sender_id` of its headers and its OAuth2 `client_id`.
    sender_id: String,
    /// A name for people.
    #[arg(long)]
    name: Option<String>,
    /// Where its signing keys are published (its JWKS).
    #[arg(long, conflicts_with = "jwks_file")]
    jwks_url: Option<String>,
    /// A file with its signing keys (a JWKS document).
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// How it signs: dci (the envelope's signature), jws-detached (an HTTP Signature header)
    /// or jws-compact.
    #[arg(long, default_value = "dci")]
    signature: String,
    /// Accept its messages unsigned (legacy peers, conformance test clients); every such
    /// request is logged.
    #[arg(long)]
    allow_unsigned: bool,
    /// A URL prefix its callbacks may go to (repeatable).
    #[arg(long = "callback-prefix")]
    callback_prefixes: Vec<String>,
    /// A scope its tokens may carry (repeatable; default: registry.search,
    /// registry.subscribe, registry.txn-status; at the payments service: every mapper.* and
    /// disburse.* scope).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Record types it may read, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    record_types: Option<Vec<String>>,
    /// Fields it may see and search on, as paths into the records (`name`,
    /// `name.given_name`, `identifier`), comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    fields: Option<Vec<String>>,
    /// Fields it may only match for equality, without seeing them, in a search pinned by an
    /// identifier it sees (identity verification: `name,birth_date`), comma-separated
    /// (default: none).
    #[arg(long, value_delimiter = ',')]
    match_fields: Option<Vec<String>>,
    /// Query types it may use, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    query_types: Option<Vec<String>>,
    /// Purpose codes its requests must state, comma-separated (default: none required).
    #[arg(long, value_delimiter = ',')]
    purposes: Option<Vec<String>>,
    /// Requests per second it may make (default: no limit).
    #[arg(long)]
    rate: Option<f64>,
    /// Requests it may make at once, with --rate (default: twice the rate, at least 1).
    #[arg(long, requires = "rate")]
    burst: Option<u32>,
    /// Its client secret (default: a new random one). Prefer the default.
    #[arg(long, env = "SPX_PARTICIPANT_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

impl AddArgs {
    fn participant(&self, role: &str) -> Result<Participant> {
        let signature = SignatureForm::parse(&self.signature).with_context(|| {
            format!(
                "--signature '{}' is not dci, jws-detached or jws-compact",
                self.signature
            )
        })?;
        let keys = match &self.jwks_file {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let jwks = trust::Jwks::parse(&text)
                    .with_context(|| format!("{} is not a JWKS document", path.display()))?;
                for key in jwks.verifying_keys() {
                    key.with_context(|| format!("a key of {}", path.display()))?;
                }
                Some(jwks)
            }
            None => None,
        };
        for prefix in &self.callback_prefixes {
            if !(prefix.starts_with("http://") || prefix.starts_with("https://")) {
                bail!("--callback-prefix '{prefix}' is not an http(s) URL");
            }
        }
        let scopes = if self.scopes.is_empty() && role == pay::ROLE {
            scope::PAY_DEFAULT.iter().map(|s| s.to_string()).collect()
        } else if self.scopes.is_empty() {
            scope::DEFAULT.iter().map(|s| s.to_string()).collect()
        } else {
            self.scopes.clone()
        };
        if let Some(unknown) = scopes.iter().find(|s| !scope::ALL.contains(&s.as_str())) {
            bail!("scope '{unknown}' is not one of {}", scope::ALL.join(", "));
        }
        let rate_limit = match self.rate {
            Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
                bail!("--rate must be a positive number of requests per second")
            }
            Some(per_second) => Some(RateLimit {
                per_second,
                burst: self
                    .burst
                    .unwrap_or_else(|| (per_second * 2.0).ceil().max(1.0) as u32),
            }),
            None => None,
        };
        Ok(Participant {
            sender_id: self.sender_id.clone(),
            name: self.name.clone(),
            jwks_url: self.jwks_url.clone(),
            keys,
            signature,
            allow_unsigned: self.allow_unsigned,
            callback_prefixes: self.callback_prefixes.clone(),
            scopes,
            access: AccessRules {
                record_types: self.record_types.clone(),
                fields: self.fields.clone(),
                match_fields: self.match_fields.clone(),
                query_types: self.query_types.clone(),
                purposes: self.purposes.clone(),
            },
            rate_limit,
        })
    }
}

/// Runs `action` on the participant table of `store`.
pub async fn run(action: ParticipantsAction, store: &dyn store::Store, role: &str) -> Result<()> {
    match action {
        ParticipantsAction::Add(args) => {
            let participant = args.participant(role)?;
            let secret = match &args.secret {
                Some(secret) if secret.len() < 16 => {
                    bail!("a client secret must have at least 16 characters")
                }
                Some(secret) => secret.clone(),
                None => trust::secret::generate()?,
            };
            let hash = trust::secret::hash(&secret)?;
            if !participants::add(store, &participant, &hash).await? {
                bail!(
                    "'{}' is already a participant; remove it first to change it",
                    participant.sender_id
                );
            }
            if participant.allow_unsigned {
                eprintln!(
                    "warning: '{}' may send unsigned messages",
                    participant.sender_id
                );
            }
            println!("added participant {}", participant.sender_id);
            println!("client_id:     {}", participant.sender_id);
            println!("client_secret: {secret}");
            println!("(the secret is stored hashed and cannot be shown again)");
            Ok(())
        }
        ParticipantsAction::List { json } => {
            let all = participants::list(store).await?;
            if json {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|stored| {
                        let mut doc = serde_json::to_value(&stored.participant)
                            .expect("a participant serializes");
                        doc["sender_id"] = stored.participant.sender_id.clone().into();
                        doc["created_at"] = stored.created_at.clone().into();
                        doc
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!(
                "{:<28} {:<12} {:<9} {:<40} {:<10} access",
                "participant", "signature", "unsigned", "keys", "rate"
            );
            for stored in &all {
                let p = &stored.participant;
                let keys = match (&p.keys, &p.jwks_url) {
                    (Some(jwks), _) => format!("{} inline", jwks.keys.len()),
                    (None, Some(url)) => url.clone(),
                    (None, None) => "-".into(),
                };
                let rate = p
                    .rate_limit
                    .map(|r| format!("{}/s", r.per_second))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<28} {:<12} {:<9} {:<40} {:<10} {}",
                    p.sender_id,
                    p.signature.as_str(),
                    if p.allow_unsigned { "ALLOWED" } else { "no" },
                    keys,
                    rate,
                    describe_access(p)
                );
            }
            Ok(())
        }
        ParticipantsAction::Remove { sender_id } => {
            if !participants::remove(store, &sender_id).await? {
                bail!("'{sender_id}' is not a participant");
            }
            println!("removed participant {sender_id}");
            Ok(())
        }
    }
}

fn describe_access(p: &Participant) -> String {
    let list = |name: &str, list: &Option<Vec<String>>| {
        list.as_ref().map(|l| format!("{name}={}", l.join(",")))
    };
    let parts: Vec<String> = [
        Some(format!("scopes={}", p.scopes.join(","))),
        list("record_types", &p.access.record_types),
        list("fields", &p.access.fields),
        list("match_fields", &p.access.match_fields),
        list("query_types", &p.access.query_types),
        list("purposes", &p.access.purposes),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(" ")
}
