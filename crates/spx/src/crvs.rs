//! `spx crvs register-birth|register-death|register-marriage`: the civil registrar's commands,
//! thin over `POST /registrar/crvs/records`. The registry's answer goes to stdout as JSON.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use registry::crvs::registrar::{
    BirthRegistration, DeathRegistration, DivorceRegistration, MarriageRegistration, Registrations,
};

use crate::parse_date;

/// Options of `spx crvs`.
#[derive(Debug, Args)]
pub struct CrvsArgs {
    /// The civil registry's base URL.
    #[arg(
        long,
        env = "SPX_CRVS_URL",
        default_value = "http://127.0.0.1:8402",
        global = true
    )]
    pub url: String,
    /// The registrar's participant id (its client id).
    #[arg(long, default_value = "cli.spx.local", global = true)]
    pub client_id: String,
    /// The registrar's client secret (from `spx participants add --scope registrar.records`).
    #[arg(long, env = "SPX_CLIENT_SECRET", hide_env_values = true, global = true)]
    pub client_secret: Option<String>,
    #[command(subcommand)]
    pub command: CrvsCommand,
}

/// A registration.
#[derive(Debug, Subcommand)]
pub enum CrvsCommand {
    /// Register a live birth (raises `LiveBirth` and `BIRTH_REGISTERED`).
    #[command(name = "register-birth")]
    Birth {
        /// The child's UIN.
        #[arg(long)]
        uin: String,
        /// Given name.
        #[arg(long)]
        given_name: String,
        /// Family name.
        #[arg(long)]
        surname: String,
        /// female, male, other or unknown.
        #[arg(long)]
        sex: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// Location code of the place of birth.
        #[arg(long)]
        place: String,
        /// The mother's UIN.
        #[arg(long)]
        mother_uin: Option<String>,
        /// The father's UIN.
        #[arg(long)]
        father_uin: Option<String>,
        /// The birth registration number (default: assigned by the registry).
        #[arg(long)]
        brn: Option<String>,
    },
    /// Register a death (raises `Death` and `DEATH_REGISTERED`).
    #[command(name = "register-death")]
    Death {
        /// The deceased's UIN.
        #[arg(long)]
        uin: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        death_date: String,
        /// Location code of the place of death.
        #[arg(long)]
        place: String,
        /// The death registration number (default: assigned by the registry).
        #[arg(long)]
        drn: Option<String>,
    },
    /// Register a marriage (raises `Marriage`).
    #[command(name = "register-marriage")]
    Marriage {
        /// One spouse's UIN.
        #[arg(long)]
        spouse1_uin: String,
        /// The other spouse's UIN.
        #[arg(long)]
        spouse2_uin: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        marriage_date: String,
        /// Location code of the place of the marriage.
        #[arg(long)]
        place: String,
        /// The marriage registration number (default: assigned by the registry).
        #[arg(long)]
        mrn: Option<String>,
    },
    /// Register a divorce, against the marriage it dissolves (raises `Divorce`).
    #[command(name = "register-divorce")]
    Divorce {
        /// The marriage registration number.
        #[arg(long)]
        mrn: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        divorce_date: String,
        /// Location code of the place where the divorce was granted.
        #[arg(long)]
        place: String,
    },
}

/// Posts the registration and prints the registry's report.
pub async fn run(args: CrvsArgs) -> Result<()> {
    let mut request = Registrations::default();
    match args.command {
        CrvsCommand::Birth {
            uin,
            given_name,
            surname,
            sex,
            birth_date,
            place,
            mother_uin,
            father_uin,
            brn,
        } => request.births.push(BirthRegistration {
            uin,
            given_name,
            surname,
            sex,
            birth_date: parse_date(&birth_date)?,
            birth_place: place,
            mother_uin,
            father_uin,
            brn,
            registration_date: None,
        }),
        CrvsCommand::Death {
            uin,
            death_date,
            place,
            drn,
        } => request.deaths.push(DeathRegistration {
            uin,
            death_date: parse_date(&death_date)?,
            death_place: place,
            drn,
            registration_date: None,
        }),
        CrvsCommand::Marriage {
            spouse1_uin,
            spouse2_uin,
            marriage_date,
            place,
            mrn,
        } => request.marriages.push(MarriageRegistration {
            spouse1_uin,
            spouse2_uin,
            marriage_date: parse_date(&marriage_date)?,
            marriage_place: place,
            mrn,
            registration_date: None,
        }),
        CrvsCommand::Divorce {
            mrn,
            divorce_date,
            place,
        } => request.divorces.push(DivorceRegistration {
            mrn,
            divorce_date: parse_date(&divorce_date)?,
            divorce_place: place,
            registration_date: None,
        }),
    }
    let client = client::Client::new(&args.url, &args.client_id, None);
    let client = match &args.client_secret {
        Some(secret) => client.with_credentials(&args.client_id, secret),
        None => client,
    };
    let body: serde_json::Value = client
        .send("/registrar/crvs/records", &request)
        .await
        .context("the civil registry refused the registration")?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}
