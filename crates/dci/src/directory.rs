//! Code directories of the standard (dci-spec §6.9): each code with the labels peers send for
//! it in practice. Output always uses the code; input accepts the code or a label, in any case.

/// A code and the labels accepted for it.
pub type Entry = (&'static str, &'static [&'static str]);

/// SexCategoryEnum.
pub const SEX: &[Entry] = &[
    ("male", &["m", "man", "1"]),
    ("female", &["f", "woman", "2"]),
    ("other", &["o", "others", "3"]),
    ("unknown", &["u", "4"]),
];

/// MaritalStatusEnum (FHIR marital-status codes).
pub const MARITAL_STATUS: &[Entry] = &[
    ("S", &["single", "never married"]),
    ("M", &["married"]),
    ("W", &["widow", "widowed", "widower"]),
    ("A", &["annulled"]),
    ("D", &["divorced"]),
    ("L", &["legally separated", "separated"]),
    ("U", &["unmarried"]),
];

/// AssistanceUnitEnum (group type).
pub const GROUP_TYPE: &[Entry] = &[
    ("1", &["member", "individual", "person"]),
    ("2", &["household"]),
    ("3", &["family"]),
];

/// EducationCodeEnum (ISCED 2011 levels).
pub const EDUCATION_LEVEL: &[Entry] = &[
    ("0", &["early childhood education"]),
    ("1", &["primary education", "primary"]),
    ("2", &["lower secondary education", "lower secondary"]),
    ("3", &["upper secondary education", "upper secondary"]),
    ("4", &["post-secondary non-tertiary education"]),
    ("5", &["short-cycle tertiary education"]),
    ("6", &["bachelor's or equivalent", "bachelor"]),
    ("7", &["master's or equivalent", "master"]),
    ("8", &["doctorate or equivalent", "doctorate"]),
];

/// EmploymentStatusEnum.
pub const EMPLOYMENT_STATUS: &[Entry] = &[
    ("1", &["employed"]),
    ("2", &["not employed", "unemployed"]),
    ("3", &["unknown"]),
    ("4", &["paid employment: employee", "employee"]),
    ("5", &["self employment: employers", "employer"]),
    (
        "6",
        &["self employment: own-account workers", "own-account worker"],
    ),
    (
        "7",
        &["self employment: members of producers' cooperatives"],
    ),
    (
        "8",
        &[
            "self employment: contributing family workers",
            "contributing family worker",
        ],
    ),
];

/// RelationshipTypeEnum: the relationships a household roster records (a subset of the
/// standard's full kinship list, which spx accepts as it grows).
pub const RELATIONSHIP: &[Entry] = &[
    ("SELF", &["head"]),
    (
        "PRIMSPOUS",
        &["spouse", "primary spouse", "wife", "husband"],
    ),
    ("FAMMEMB", &["family member"]),
    ("CHILD", &[]),
    ("SON", &["natural son"]),
    ("SONC", &[]),
    ("DAU", &["natural daughter"]),
    ("DAUC", &["daughter"]),
    ("NCHILD", &["natural child"]),
    ("STPCHILD", &["step child", "stepchild"]),
    ("STPSON", &["stepson"]),
    ("STPDAU", &["stepdaughter"]),
    ("CHILDADOPT", &["adopted child"]),
    ("CHILDFOST", &["foster child"]),
    ("GRNDCHILD", &["grandchild"]),
    ("GRNDSON", &["grandson"]),
    ("GRNDDAU", &["granddaughter"]),
    ("GRPRN", &["grandparent"]),
    ("GRFTH", &["grandfather"]),
    ("GRMTH", &["grandmother"]),
    ("PRN", &["parent"]),
    ("FTH", &["father"]),
    ("MTH", &["mother"]),
    ("SIB", &["sibling"]),
    ("BRO", &["brother"]),
    ("SIS", &["sister"]),
    ("INLAW", &["in-law"]),
    ("PRNINLAW", &["parent in-law"]),
    ("CHLDINLAW", &["child-in-law"]),
    ("DAUINLAW", &["daughter in-law", "daughter-in-law"]),
    ("SONINLAW", &["son in-law", "son-in-law"]),
    ("EXT", &["extended family member", "relative"]),
    ("NBOR", &["non-relative", "other"]),
];

/// IdentifierTypeEnum, the identifiers every registry of the standard may hold.
pub const IDENTIFIER_TYPE: &[Entry] = &[
    ("UIN", &["nid", "nationalid", "national_id"]),
    ("BRN", &[]),
    ("MRN", &[]),
    ("DRN", &[]),
];

/// The code for `input` in `directory`: the code itself or one of its labels, in any case.
pub fn normalize(directory: &[Entry], input: &str) -> Option<&'static str> {
    let input = input.trim();
    directory.iter().find_map(|(code, labels)| {
        (code.eq_ignore_ascii_case(input) || labels.iter().any(|l| l.eq_ignore_ascii_case(input)))
            .then_some(*code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_codes_normalize() {
        assert_eq!(normalize(SEX, "F"), Some("female"));
        assert_eq!(normalize(SEX, "FeMale"), Some("female"));
        assert_eq!(normalize(MARITAL_STATUS, "Widow"), Some("W"));
        assert_eq!(normalize(MARITAL_STATUS, "w"), Some("W"));
        assert_eq!(normalize(IDENTIFIER_TYPE, "NATIONAL_ID"), Some("UIN"));
        assert_eq!(normalize(SEX, "x"), None);
    }

    #[test]
    fn no_label_names_two_codes() {
        for directory in [
            SEX,
            MARITAL_STATUS,
            GROUP_TYPE,
            EDUCATION_LEVEL,
            EMPLOYMENT_STATUS,
            RELATIONSHIP,
            IDENTIFIER_TYPE,
        ] {
            let mut seen = std::collections::HashSet::new();
            for (code, labels) in directory {
                assert!(seen.insert(code.to_ascii_lowercase()), "{code}");
                for label in *labels {
                    assert!(seen.insert(label.to_ascii_lowercase()), "{label}");
                }
            }
        }
    }
}
