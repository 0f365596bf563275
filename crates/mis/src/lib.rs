//! The SP-MIS: programmes defined in TOML files ([`programme`]), eligibility rules that explain
//! themselves ([`rules`]), and the enrolment lifecycle kept in its own store ([`store`],
//! [`lifecycle`]). It learns every fact from the registries over DCI through the `client`
//! crate (CRVS for the birth record, ID for identity verification) and tells the integrated
//! beneficiary registry of every enrolment and status change, from its outbox; before
//! enrolling anyone it asks the IBR whether they already receive a benefit of the programme's
//! type. Programmes that enrol proactively find their candidates by registry search
//! ([`EnrolmentReport`]), or are told of them by the civil registry's events ([`events`]), and
//! payment cycles ([`CycleReport`]) check conditions, store entitlements and pay them through
//! the payments service.

pub mod events;
pub mod http;
pub mod lifecycle;
pub mod programme;
pub mod rules;
pub mod store;

mod apply;
mod cycle;
mod enrol;

pub use apply::{Decision, Delivery, Mis, Registries};
pub use cycle::CycleReport;
pub use enrol::EnrolmentReport;
pub use lifecycle::Status;
pub use programme::{Definition, Programme, Target};
pub use store::{Entitlement, EntitlementState};

// Dates on the wire and in the history as `YYYY-MM-DD`.
time::serde::format_description!(pub(crate) calendar_date, Date, "[year]-[month]-[day]");

/// The service's role name (`spx serve --role mis`).
pub const ROLE: &str = "mis";

/// What can go wrong in the SP-MIS.
#[derive(Debug, thiserror::Error)]
pub enum MisError {
    /// A programme file cannot be read.
    #[error("programme {origin}: {message}")]
    Programme {
        /// The file.
        origin: String,
        /// What is wrong with it.
        message: String,
    },
    /// No programme has this code.
    #[error("no programme has the code {0}")]
    UnknownProgramme(String),
    /// A programme with this code exists already.
    #[error("a programme with the code {0} exists already")]
    ProgrammeExists(String),
    /// The programme names no candidate search to enrol from.
    #[error("programme {0} has no candidates search: it enrols on application only")]
    NotProactive(String),
    /// The civil registry has no birth with this registration number.
    #[error("the civil registry has no birth registered as {0}")]
    UnknownChild(String),
    /// The lifecycle does not allow the change.
    #[error("{uin} in {programme}: {} cannot become {}", from.map_or("nothing", Status::as_str), to.as_str())]
    Transition {
        /// The applicant or beneficiary.
        uin: String,
        /// The programme's code.
        programme: String,
        /// The current status, if any.
        from: Option<Status>,
        /// The status refused.
        to: Status,
    },
    /// A registry could not be asked, or its answer read.
    #[error("{registry}: {message}")]
    Registry {
        /// Which registry.
        registry: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ::store::StoreError),
    /// The dispatcher of IBR updates cannot start.
    #[error("cannot start delivering IBR updates: {0}")]
    Delivery(String),
    /// A stored row cannot be read back.
    #[error("corrupt enrolment row: {0}")]
    Corrupt(String),
}
