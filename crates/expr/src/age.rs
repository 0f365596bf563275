//! Ages as date ranges, shared by the SQL lowering and the evaluator so both draw the same
//! boundaries.

use time::{Date, Month};

use crate::ast::{Op, Value};

/// The same month and day `years` years before `today` (after it when `years` is negative);
/// Feb 29 becomes Feb 28 when the target year is not a leap year. None when the year falls
/// outside 0001–9999, the range a `YYYY-MM-DD` text column orders correctly.
pub fn years_before(today: Date, years: i64) -> Option<Date> {
    let year = i64::from(today.year()).checked_sub(years)?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    let year = i32::try_from(year).ok()?;
    let day =
        if today.month() == Month::February && today.day() == 29 && !time::util::is_leap_year(year)
        {
            28
        } else {
            today.day()
        };
    Date::from_calendar_date(year, today.month(), day).ok()
}

/// One bound on a birth date column. `Always` and `Never` stand for bounds beyond the
/// representable dates; they still hold only for a non-NULL date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateBound {
    /// `col <= date`
    AtMost(Date),
    /// `col > date`
    After(Date),
    /// True for every non-NULL date.
    Always,
    /// False for every non-NULL date.
    Never,
}

impl DateBound {
    /// Whether `date` satisfies the bound.
    pub(crate) fn holds(self, date: Date) -> bool {
        match self {
            DateBound::AtMost(bound) => date <= bound,
            DateBound::After(bound) => date > bound,
            DateBound::Always => true,
            DateBound::Never => false,
        }
    }
}

/// `age >= n` ⟺ `col <= years_before(today, n)`.
fn at_least(today: Date, n: i64) -> DateBound {
    match years_before(today, n) {
        Some(date) => DateBound::AtMost(date),
        // n so large that the bound is before year 1: nobody is that old.
        None if n > 0 => DateBound::Never,
        None => DateBound::Always,
    }
}

/// `age < n` ⟺ `col > years_before(today, n)`.
fn less_than(today: Date, n: i64) -> DateBound {
    match years_before(today, n) {
        Some(date) => DateBound::After(date),
        None if n > 0 => DateBound::Always,
        None => DateBound::Never,
    }
}

/// An age comparison as a birth-date condition: the conjunction of `bounds`, negated when
/// `negated` (only `!=` is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgeCondition {
    pub(crate) bounds: [Option<DateBound>; 2],
    pub(crate) negated: bool,
}

impl AgeCondition {
    /// The birth-date condition equivalent to `age op n` as of `today`.
    pub(crate) fn new(op: Op, n: i64, today: Date) -> Self {
        let one = |bound| Self {
            bounds: [Some(bound), None],
            negated: false,
        };
        // Saturating: `age > i64::MAX` is never true and `age <= i64::MAX` always is.
        let next = n.saturating_add(1);
        match op {
            Op::Ge => one(at_least(today, n)),
            Op::Gt => one(at_least(today, next)),
            Op::Lt => one(less_than(today, n)),
            Op::Le => one(less_than(today, next)),
            Op::Eq | Op::Ne => Self {
                bounds: [Some(at_least(today, n)), Some(less_than(today, next))],
                negated: op == Op::Ne,
            },
        }
    }

    /// Whether a person born on `birth` satisfies the condition.
    pub(crate) fn holds(&self, birth: Date) -> bool {
        let all = self.bounds.iter().flatten().all(|bound| bound.holds(birth));
        all != self.negated
    }
}

/// The birth-date condition for `age op value`. A non-integer operand (which no parser
/// produces) holds for nobody, the same in SQL and in the evaluator.
pub(crate) fn condition(op: Op, value: &Value, today: Date) -> AgeCondition {
    match value {
        Value::Integer(n) => AgeCondition::new(op, *n, today),
        _ => AgeCondition {
            bounds: [Some(DateBound::Never), None],
            negated: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    /// Whole years between `birth` and `today`, counted independently of `years_before`: a year
    /// is complete once today's month and day reach the birth month and day.
    fn age(birth: Date, today: Date) -> i64 {
        let before_birthday =
            (today.month() as u8, today.day()) < (birth.month() as u8, birth.day());
        i64::from(today.year() - birth.year()) - i64::from(before_birthday)
    }

    #[test]
    fn years_before_keeps_month_and_day() {
        assert_eq!(
            years_before(date!(2025 - 06 - 15), 18),
            Some(date!(2007 - 06 - 15))
        );
        assert_eq!(
            years_before(date!(2025 - 06 - 15), -1),
            Some(date!(2026 - 06 - 15))
        );
    }

    #[test]
    fn years_before_moves_feb_29_to_feb_28_in_common_years() {
        assert_eq!(
            years_before(date!(2024 - 02 - 29), 1),
            Some(date!(2023 - 02 - 28))
        );
        assert_eq!(
            years_before(date!(2024 - 02 - 29), 4),
            Some(date!(2020 - 02 - 29))
        );
    }

    #[test]
    fn years_before_outside_four_digit_years_is_none() {
        assert_eq!(years_before(date!(2025 - 01 - 01), 2025), None);
        assert_eq!(
            years_before(date!(2025 - 01 - 01), 2024),
            Some(date!(0001 - 01 - 01))
        );
        assert_eq!(years_before(date!(2025 - 01 - 01), -8000), None);
        assert_eq!(years_before(date!(2025 - 01 - 01), i64::MIN), None);
    }

    #[test]
    fn eighteenth_birthday_is_the_first_day_of_age_18() {
        let today = date!(2025 - 06 - 15);
        let adult = AgeCondition::new(Op::Ge, 18, today);
        assert!(adult.holds(date!(2007 - 06 - 15)));
        assert!(adult.holds(date!(2007 - 06 - 14)));
        assert!(!adult.holds(date!(2007 - 06 - 16)));
        let eighteen = AgeCondition::new(Op::Eq, 18, today);
        assert!(eighteen.holds(date!(2007 - 06 - 15)));
        assert!(eighteen.holds(date!(2006 - 06 - 16)));
        assert!(!eighteen.holds(date!(2006 - 06 - 15)));
        assert!(!eighteen.holds(date!(2007 - 06 - 16)));
    }

    #[test]
    fn leapling_turns_a_year_older_on_mar_1_in_common_years() {
        let birth = date!(2008 - 02 - 29);
        let at = |today| AgeCondition::new(Op::Ge, 17, today).holds(birth);
        assert!(!at(date!(2025 - 02 - 28)));
        assert!(at(date!(2025 - 03 - 01)));
        // In a leap year the birthday itself is Feb 29.
        let at16 = |today| AgeCondition::new(Op::Eq, 16, today).holds(birth);
        assert!(!at16(date!(2024 - 02 - 28)));
        assert!(at16(date!(2024 - 02 - 29)));
    }

    #[test]
    fn asked_on_feb_29_someone_born_feb_28_has_had_their_birthday() {
        let today = date!(2024 - 02 - 29);
        assert!(AgeCondition::new(Op::Eq, 1, today).holds(date!(2023 - 02 - 28)));
        assert!(AgeCondition::new(Op::Eq, 0, today).holds(date!(2023 - 03 - 01)));
    }

    #[test]
    fn every_operator_agrees_with_counted_age() {
        let todays = [
            date!(2024 - 02 - 29),
            date!(2025 - 02 - 28),
            date!(2025 - 03 - 01),
            date!(2025 - 12 - 31),
        ];
        let ops = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
        for today in todays {
            let mut birth = date!(2018 - 01 - 01);
            while birth <= today {
                let years = age(birth, today);
                for n in 0..=8 {
                    for op in ops {
                        let expected = match op {
                            Op::Eq => years == n,
                            Op::Ne => years != n,
                            Op::Lt => years < n,
                            Op::Le => years <= n,
                            Op::Gt => years > n,
                            Op::Ge => years >= n,
                        };
                        let got = AgeCondition::new(op, n, today).holds(birth);
                        assert_eq!(got, expected, "born {birth}, today {today}, age {op:?} {n}");
                    }
                }
                birth = birth.next_day().unwrap();
            }
        }
    }

    #[test]
    fn absurd_ages_are_constant() {
        let today = date!(2025 - 01 - 01);
        let birth = date!(1990 - 05 - 05);
        assert!(!AgeCondition::new(Op::Ge, 5000, today).holds(birth));
        assert!(AgeCondition::new(Op::Lt, 5000, today).holds(birth));
        assert!(AgeCondition::new(Op::Ge, -9000, today).holds(birth));
        assert!(!AgeCondition::new(Op::Gt, i64::MAX, today).holds(birth));
        assert!(AgeCondition::new(Op::Le, i64::MAX, today).holds(birth));
        assert!(AgeCondition::new(Op::Ne, i64::MIN, today).holds(birth));
    }
}
