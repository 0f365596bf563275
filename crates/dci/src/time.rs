//! DCI date-times: RFC 3339 with a timezone on input, UTC with milliseconds on output.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A `DateTime` of the standard: an instant that always carries its timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// The current instant.
    pub fn now() -> Self {
        Timestamp(OffsetDateTime::now_utc())
    }

    /// Parses an RFC 3339 date-time; a date-time without a timezone is refused, as the
    /// standard requires one.
    pub fn parse(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text.trim(), &Rfc3339)
            .map(Timestamp)
            .map_err(|_| {
                format!("'{text}' is not an RFC 3339 date-time with timezone (e.g. 2024-02-01T12:15:04Z)")
            })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = self.0.to_offset(UtcOffset::UTC);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second(),
            utc.millisecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_a_timezone() {
        assert!(Timestamp::parse("2024-02-01T12:15:04Z").is_ok());
        assert!(Timestamp::parse("2022-12-04T17:20:07-04:00").is_ok());
        assert!(Timestamp::parse("1995-09-21T11:20:00").is_err());
        assert!(Timestamp::parse("02.05.2024").is_err());
        assert!(Timestamp::parse("").is_err());
    }

    #[test]
    fn emits_utc_with_milliseconds() {
        let ts = Timestamp::parse("2022-12-04T17:20:07.5-04:00").unwrap();
        assert_eq!(ts.to_string(), "2022-12-04T21:20:07.500Z");
        assert_eq!(Timestamp::parse(&ts.to_string()).unwrap(), ts);
    }
}
