//! Money as the payments APIs carry it (dci-spec §2.11): an ISO 4217 `CurrencyCode` and an
//! `Amount` string with one or two fraction digits, read into integer minor units of the
//! currency. Floats never hold an amount.

use std::fmt;

use crate::codes::ReasonCode;
use crate::envelope::Rejection;

/// An ISO 4217 currency: its code and how many minor units make one major unit (10^exponent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    /// The alphabetic code, e.g. `KES`.
    pub code: &'static str,
    /// Digits after the decimal point (`2` for KES, `0` for UGX, `3` for BHD).
    pub exponent: u8,
}

/// The active ISO 4217 currencies that can be paid (funds codes such as `BOV` are included;
/// precious metals, SDR and test codes are not).
#[rustfmt::skip]
pub const CURRENCIES: &[Currency] = &{
    const fn c(code: &'static str, exponent: u8) -> Currency {
        Currency { code, exponent }
    }
    [
        c("AED", 2), c("AFN", 2), c("ALL", 2), c("AMD", 2), c("ANG", 2), c("AOA", 2),
        c("ARS", 2), c("AUD", 2), c("AWG", 2), c("AZN", 2), c("BAM", 2), c("BBD", 2),
        c("BDT", 2), c("BGN", 2), c("BHD", 3), c("BIF", 0), c("BMD", 2), c("BND", 2),
        c("BOB", 2), c("BOV", 2), c("BRL", 2), c("BSD", 2), c("BTN", 2), c("BWP", 2),
        c("BYN", 2), c("BZD", 2), c("CAD", 2), c("CDF", 2), c("CHE", 2), c("CHF", 2),
        c("CHW", 2), c("CLF", 4), c("CLP", 0), c("CNY", 2), c("COP", 2), c("COU", 2),
        c("CRC", 2), c("CUP", 2), c("CVE", 2), c("CZK", 2), c("DJF", 0), c("DKK", 2),
        c("DOP", 2), c("DZD", 2), c("EGP", 2), c("ERN", 2), c("ETB", 2), c("EUR", 2),
        c("FJD", 2), c("FKP", 2), c("GBP", 2), c("GEL", 2), c("GHS", 2), c("GIP", 2),
        c("GMD", 2), c("GNF", 0), c("GTQ", 2), c("GYD", 2), c("HKD", 2), c("HNL", 2),
        c("HTG", 2), c("HUF", 2), c("IDR", 2), c("ILS", 2), c("INR", 2), c("IQD", 3),
        c("IRR", 2), c("ISK", 0), c("JMD", 2), c("JOD", 3), c("JPY", 0), c("KES", 2),
        c("KGS", 2), c("KHR", 2), c("KMF", 0), c("KPW", 2), c("KRW", 0), c("KWD", 3),
        c("KYD", 2), c("KZT", 2), c("LAK", 2), c("LBP", 2), c("LKR", 2), c("LRD", 2),
        c("LSL", 2), c("LYD", 3), c("MAD", 2), c("MDL", 2), c("MGA", 2), c("MKD", 2),
        c("MMK", 2), c("MNT", 2), c("MOP", 2), c("MRU", 2), c("MUR", 2), c("MVR", 2),
        c("MWK", 2), c("MXN", 2), c("MXV", 2), c("MYR", 2), c("MZN", 2), c("NAD", 2),
        c("NGN", 2), c("NIO", 2), c("NOK", 2), c("NPR", 2), c("NZD", 2), c("OMR", 3),
        c("PAB", 2), c("PEN", 2), c("PGK", 2), c("PHP", 2), c("PKR", 2), c("PLN", 2),
        c("PYG", 0), c("QAR", 2), c("RON", 2), c("RSD", 2), c("RUB", 2), c("RWF", 0),
        c("SAR", 2), c("SBD", 2), c("SCR", 2), c("SDG", 2), c("SEK", 2), c("SGD", 2),
        c("SHP", 2), c("SLE", 2), c("SLL", 2), c("SOS", 2), c("SRD", 2), c("SSP", 2),
        c("STN", 2), c("SVC", 2), c("SYP", 2), c("SZL", 2), c("THB", 2), c("TJS", 2),
        c("TMT", 2), c("TND", 3), c("TOP", 2), c("TRY", 2), c("TTD", 2), c("TWD", 2),
        c("TZS", 2), c("UAH", 2), c("UGX", 0), c("USD", 2), c("USN", 2), c("UYI", 0),
        c("UYU", 2), c("UYW", 4), c("UZS", 2), c("VED", 2), c("VES", 2), c("VND", 0),
        c("VUV", 0), c("WST", 2), c("XAF", 0), c("XCD", 2), c("XCG", 2), c("XOF", 0),
        c("XPF", 0), c("YER", 2), c("ZAR", 2), c("ZMW", 2), c("ZWG", 2), c("ZWL", 2),
    ]
};

impl Currency {
    /// The currency with this code (upper case, as the standard's pattern `^[A-Z]{3}$` has it);
    /// `rjct.currency_code.invalid` otherwise.
    pub fn parse(code: &str) -> Result<&'static Currency, Rejection> {
        CURRENCIES.iter().find(|c| c.code == code).ok_or_else(|| {
            Rejection::new(
                ReasonCode::CurrencyCodeInvalid,
                format!("'{code}' is not an ISO 4217 currency code spx can pay in"),
            )
        })
    }

    /// `10^exponent`: minor units in one major unit.
    pub const fn scale(self) -> i64 {
        10i64.pow(self.exponent as u32)
    }
}

/// An amount of money: whole minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Minor units (cents, fils, ...); positive for every amount spx accepts to pay.
    pub minor: i64,
    /// The currency.
    pub currency: &'static Currency,
}

/// Most digits before the point an `Amount` may have (`^\d{1,13}\.\d{1,2}$`).
const MAX_INTEGER_DIGITS: usize = 13;

impl Money {
    /// Reads a positive `Amount` (`^\d{1,13}\.\d{1,2}$`, e.g. `"1500.00"`) in `currency`.
    /// A negative, zero or malformed amount, or one with more precision than the currency
    /// has (`"10.50"` yen), is `rjct.amount.invalid`.
    pub fn parse_amount(amount: &str, currency: &'static Currency) -> Result<Money, Rejection> {
        let invalid = |why: &str| {
            Rejection::new(
                ReasonCode::AmountInvalid,
                format!("amount '{amount}' {why}"),
            )
        };
        let (whole, fraction) = amount
            .split_once('.')
            .ok_or_else(|| invalid("must have one or two digits after a decimal point"))?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if amount.starts_with('-') {
            return Err(invalid("is negative"));
        }
        if !digits(whole) || whole.len() > MAX_INTEGER_DIGITS {
            return Err(invalid("must have 1 to 13 digits before the decimal point"));
        }
        if !digits(fraction) || fraction.len() > 2 {
            return Err(invalid(
                "must have one or two digits after the decimal point",
            ));
        }
        let exponent = currency.exponent as usize;
        let (kept, dropped) = fraction.split_at(fraction.len().min(exponent));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(invalid(&format!(
                "has more precision than {} allows ({} decimal places)",
                currency.code, currency.exponent
            )));
        }
        let whole: i64 = whole.parse().map_err(|_| invalid("is too large"))?;
        let mut minor_fraction: i64 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| invalid("is malformed"))?
        };
        minor_fraction *= 10i64.pow((exponent - kept.len()) as u32);
        let minor = whole
            .checked_mul(currency.scale())
            .and_then(|m| m.checked_add(minor_fraction))
            .ok_or_else(|| invalid("is too large"))?;
        if minor == 0 {
            return Err(invalid("is zero"));
        }
        Ok(Money { minor, currency })
    }

    /// The amount as the wire's `Amount` string: two fraction digits when the currency has
    /// two or fewer (`"1500.00"`, `"300.00"` yen), all of them otherwise (`"1.250"` dinars).
    pub fn amount(&self) -> String {
        format_minor(self.minor, self.currency)
    }
}

/// `minor` units of `currency` as a decimal string (see [`Money::amount`]); negative sums
/// (a net total) keep their sign.
pub fn format_minor(minor: i64, currency: &Currency) -> String {
    let scale = currency.scale();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let (whole, fraction) = (abs / scale as u64, abs % scale as u64);
    match currency.exponent {
        0 => format!("{sign}{whole}.00"),
        1 => format!("{sign}{whole}.{fraction}0"),
        e => format!("{sign}{whole}.{fraction:0width$}", width = e as usize),
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount(), self.currency.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: &str, code: &str) -> Result<Money, ReasonCode> {
        let currency = Currency::parse(code).map_err(|r| r.code)?;
        Money::parse_amount(amount, currency).map_err(|r| r.code)
    }

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(money("1500.00", "KES").unwrap().minor, 150_000);
        assert_eq!(money("0.5", "USD").unwrap().minor, 50);
        assert_eq!(money("12.05", "EUR").unwrap().minor, 1205);
        assert_eq!(money("300.00", "UGX").unwrap().minor, 300);
        assert_eq!(money("1.25", "BHD").unwrap().minor, 1250);
        assert_eq!(
            money("9999999999999.99", "USD").unwrap().minor,
            999_999_999_999_999
        );
    }

    #[test]
    fn bad_amounts_are_refused_with_the_amount_code() {
        for bad in [
            "-5.00", "0.00", "0.0", "100", "1.234", ".50", "1e3", "", "1,000.00", " 1.00",
        ] {
            assert_eq!(money(bad, "USD"), Err(ReasonCode::AmountInvalid), "{bad}");
        }
        assert_eq!(money("10.50", "JPY"), Err(ReasonCode::AmountInvalid));
        assert_eq!(
            money("10000000000000.00", "USD"),
            Err(ReasonCode::AmountInvalid)
        );
    }

    #[test]
    fn unknown_currencies_are_refused_with_the_currency_code() {
        for bad in ["XYZ", "usd", "US", "XAU", ""] {
            assert_eq!(
                money("1.00", bad),
                Err(ReasonCode::CurrencyCodeInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn amounts_print_back_in_the_wire_form() {
        for (amount, code, printed) in [
            ("1500.00", "KES", "1500.00"),
            ("0.5", "USD", "0.50"),
            ("300.0", "UGX", "300.00"),
            ("1.25", "BHD", "1.250"),
        ] {
            assert_eq!(money(amount, code).unwrap().amount(), printed);
        }
        let kes = Currency::parse("KES").unwrap();
        assert_eq!(format_minor(-1205, kes), "-12.05");
    }

    #[test]
    fn the_table_has_each_code_once() {
        let mut seen = std::collections::HashSet::new();
        for currency in CURRENCIES {
            assert!(seen.insert(currency.code), "{}", currency.code);
            assert!(
                currency.code.len() == 3 && currency.code.bytes().all(|b| b.is_ascii_uppercase())
            );
        }
    }
}
