//! The foundational ID registry's view of the population: when each person's UIN was issued
//! and the identity card they hold.
//!
//! Everything is a function of the person and the generation date (nothing is drawn), so the
//! population and its files are unchanged and every registry agrees on who holds which UIN.
//!
//! - **The UIN** is the person's UIN everywhere. The ID registry opened on 1 January fifteen
//!   years before the generation date ([`opened`]) and took over everyone the civil register
//!   knew then, the deceased included, so that their records carry the UIN the civil register
//!   knows them by; since then a UIN is issued at birth registration. So it was issued on the
//!   later of the birth date and the opening day.
//! - **The identity card** is issued at 16 (or on the opening day to those older) and renewed
//!   every ten years; a person holds the card of the last issue before the generation date, or
//!   before their death. Card numbers are numbered like the civil register's records: the
//!   issue's year and a permutation of the UIN's nine payload digits.

use time::{Date, Month};

use crate::{Person, vital};

/// Years between the opening of the ID registry and the generation date.
const OPEN_FOR_YEARS: i32 = 15;

/// Age at which a person gets their first identity card.
const CARD_AGE: i32 = 16;

/// Years an identity card is valid.
const CARD_YEARS: i32 = 10;

/// Key of the card numbers' permutation (see [`vital`]).
const CARD_KEY: (u64, u64) = (941_083_987, 577_215_664);

/// An identity card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The card's number.
    pub number: String,
    /// When it was issued.
    pub issued: Date,
    /// Until when it is valid.
    pub expires: Date,
}

/// What the ID registry holds of a person beyond their name, sex and birth date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// When the UIN was issued.
    pub issuance_date: Date,
    /// The card in force (at death, the last one held); `None` for those never old enough.
    pub card: Option<Card>,
}

/// The day the ID registry opened, for a population generated on `today`.
pub fn opened(today: Date) -> Date {
    Date::from_calendar_date(today.year() - OPEN_FOR_YEARS, Month::January, 1)
        .expect("1 January exists")
}

/// `date` moved `years` calendar years on (29 February becomes 1 March in common years).
fn anniversary(date: Date, years: i32) -> Date {
    let year = date.year() + years;
    date.replace_year(year).unwrap_or_else(|_| {
        Date::from_calendar_date(year, Month::March, 1).expect("1 March exists")
    })
}

/// The number of a card of `uin` issued on `issued`.
pub fn card_number(uin: &str, issued: Date) -> String {
    vital::number(issued, vital::permuted(uin, CARD_KEY))
}

/// What the ID registry holds of `person` in a population generated on `today`.
pub fn issuance(person: &Person, today: Date) -> Issuance {
    let opened = opened(today);
    let until = person.death_date.map_or(today, |died| died.min(today));
    let first = anniversary(person.birth_date, CARD_AGE).max(opened);
    let card = (first <= until).then(|| {
        let mut issued = first;
        while anniversary(issued, CARD_YEARS) <= until {
            issued = anniversary(issued, CARD_YEARS);
        }
        Card {
            number: card_number(&person.uin, issued),
            issued,
            expires: anniversary(issued, CARD_YEARS),
        }
    });
    Issuance {
        issuance_date: person.birth_date.max(opened),
        card,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn person(birth_date: Date, death_date: Option<Date>) -> Person {
        Person {
            uin: "1234567890".into(),
            given_name: "Ama".into(),
            surname: "Owusu".into(),
            sex: "female".into(),
            birth_date,
            death_date,
            marital_status: "S".into(),
            household_id: None,
            relationship_to_head: None,
            education_level: None,
            employment_status: None,
            is_disabled: false,
            mother_uin: None,
            father_uin: None,
            spouse_uin: None,
            phone_number: None,
        }
    }

    #[test]
    fn uins_are_issued_at_opening_or_birth_and_cards_at_sixteen_renewed_every_ten_years() {
        let today = date!(2026 - 06 - 15);
        assert_eq!(opened(today), date!(2011 - 01 - 01));

        // Older than the registry: UIN and a card on the opening day, renewed in 2021.
        let elder = issuance(&person(date!(1950 - 03 - 04), None), today);
        assert_eq!(elder.issuance_date, date!(2011 - 01 - 01));
        let card = elder.card.unwrap();
        assert_eq!(
            (card.issued, card.expires),
            (date!(2021 - 01 - 01), date!(2031 - 01 - 01))
        );
        assert!(card.number.starts_with("2021") && card.number.len() == 13);

        // Born since: UIN at birth, first card at 16, none before.
        let teen = issuance(&person(date!(2009 - 02 - 28), None), today);
        assert_eq!(teen.issuance_date, date!(2011 - 01 - 01));
        assert_eq!(teen.card.unwrap().issued, date!(2025 - 02 - 28));
        let child = issuance(&person(date!(2012 - 02 - 29), None), today);
        assert_eq!(
            (child.issuance_date, child.card),
            (date!(2012 - 02 - 29), None)
        );

        // The deceased keep the last card they held; those who died before the opening none.
        let died = issuance(
            &person(date!(1940 - 01 - 01), Some(date!(2020 - 12 - 31))),
            today,
        );
        assert_eq!(died.card.unwrap().issued, date!(2011 - 01 - 01));
        let long_dead = issuance(
            &person(date!(1920 - 01 - 01), Some(date!(1990 - 01 - 01))),
            today,
        );
        assert_eq!(
            (long_dead.issuance_date, long_dead.card),
            (date!(2011 - 01 - 01), None)
        );
    }
}
