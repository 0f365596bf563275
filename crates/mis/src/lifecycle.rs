//! The enrolment lifecycle: application → verified → enrolled (active) → suspended →
//! resumed / graduated / exited, or rejected, each change with a reason and a date.

use serde::{Deserialize, Serialize};

/// Where an application or enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Applied (or found as a proactive candidate); not yet checked.
    Applied,
    /// Every eligibility rule passed on registry facts.
    Verified,
    /// Not eligible, or already receiving this type of benefit.
    Rejected,
    /// Enrolled and active.
    Enrolled,
    /// Benefit paused.
    Suspended,
    /// Active again after a suspension.
    Resumed,
    /// Left the programme having reached its goal.
    Graduated,
    /// Left the programme for another reason.
    Exited,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Applied,
        Status::Verified,
        Status::Rejected,
        Status::Enrolled,
        Status::Suspended,
        Status::Resumed,
        Status::Graduated,
        Status::Exited,
    ];

    /// The name stored and shown (`enrolled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::Enrolled => "enrolled",
            Status::Suspended => "suspended",
            Status::Resumed => "resumed",
            Status::Graduated => "graduated",
            Status::Exited => "exited",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the lifecycle allows going from `self` to `next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Applied, Verified | Rejected)
                | (Verified, Enrolled | Rejected)
                | (Enrolled | Resumed, Suspended | Graduated | Exited)
                | (Suspended, Resumed | Graduated | Exited)
                | (Rejected | Graduated | Exited, Applied)
                // An application cut short after verification (the IBR unreachable) is made again.
                | (Verified, Applied)
        )
    }

    /// The IBR's EnrollmentStatusEnum code for the status, when the IBR is told of it: `1`
    /// active, `3` graduated, `4` suspended, `6` exited. Applications and rejections stay in
    /// the SP-MIS.
    pub fn ibr_code(self) -> Option<&'static str> {
        match self {
            Status::Enrolled | Status::Resumed => Some("1"),
            Status::Graduated => Some("3"),
            Status::Suspended => Some("4"),
            Status::Exited => Some("6"),
            Status::Applied | Status::Verified | Status::Rejected => None,
        }
    }

    /// Whether the beneficiary receives the benefit.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Enrolled | Status::Resumed)
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("active"), None);
    }

    #[test]
    fn the_lifecycle_allows_only_its_steps() {
        let allowed: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|a| Status::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (Applied, Verified),
                (Applied, Rejected),
                (Verified, Applied),
                (Verified, Rejected),
                (Verified, Enrolled),
                (Rejected, Applied),
                (Enrolled, Suspended),
                (Enrolled, Graduated),
                (Enrolled, Exited),
                (Suspended, Resumed),
                (Suspended, Graduated),
                (Suspended, Exited),
                (Resumed, Suspended),
                (Resumed, Graduated),
                (Resumed, Exited),
                (Graduated, Applied),
                (Exited, Applied),
            ]
        );
    }
}
