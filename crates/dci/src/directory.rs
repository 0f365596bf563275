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

/// DisabilityStatusEnum: the state of a person's disability certification. The standard has
/// `0` Approved, `1` Pending, `2` Expired; `3` Rejected (an application assessed as not
/// qualifying) is an spx addition.
pub const DISABILITY_STATUS: &[Entry] = &[
    ("0", &["approved", "certified"]),
    ("1", &["pending", "applied", "under assessment"]),
    ("2", &["expired"]),
    ("3", &["rejected", "refused"]),
];

/// DisabilityLevelEnum: the support needs a certification found.
pub const DISABILITY_LEVEL: &[Entry] = &[
    (
        "1",
        &["high support needs", "very severe", "profound", "high"],
    ),
    ("2", &["severe"]),
    ("3", &["moderate"]),
    ("4", &["mild"]),
];

/// FunctionalLimitationType (core/v1, the Washington Group short set's domains); the older
/// ICF codes `d132` and `b1440` are accepted as cognition and communication.
pub const FUNCTIONAL_LIMITATION: &[Entry] = &[
    ("VIS_SS", &["vision", "seeing"]),
    ("HEAR_SS", &["hearing"]),
    (
        "MOB_SS",
        &["mobility", "walking", "walking or climbing steps"],
    ),
    (
        "COG_SS",
        &[
            "cognition",
            "cognition (remembering)",
            "remembering",
            "concentrating",
            "b1440",
        ],
    ),
    ("SC_SS", &["self care", "self-care", "washing", "dressing"]),
    ("COM_SS", &["communication", "communicating", "d132"]),
];

/// ImpairementType (sic in the standard's file name).
pub const IMPAIRMENT_TYPE: &[Entry] = &[
    ("1", &["vision", "visual"]),
    ("2", &["hearing"]),
    (
        "3",
        &[
            "mobility",
            "physical",
            "physical and movement related functions",
        ],
    ),
    ("4", &["cognitive", "intellectual"]),
    ("5", &["speech"]),
    ("6", &["mental", "psychosocial"]),
];

/// ImpairmentLevel.
pub const IMPAIRMENT_LEVEL: &[Entry] = &[
    ("1", &["mild"]),
    ("2", &["moderate"]),
    ("3", &["severe"]),
    ("4", &["extreme"]),
];

/// ImpairmentCause.
pub const IMPAIRMENT_CAUSE: &[Entry] = &[
    ("0", &["birth congenital", "congenital"]),
    ("1", &["birth complication"]),
    ("2", &["illness", "disease"]),
    ("3", &["domestic accident"]),
    ("4", &["road accident"]),
    ("5", &["work accident"]),
    ("6", &["violence"]),
    ("7", &["armed conflict", "conflict"]),
    ("8", &["ageing", "aging"]),
];

/// DisabilityOnSet: the age at which the disability began.
pub const AGE_ON_SET: &[Entry] = &[
    ("0", &["born with", "birth"]),
    ("1", &["childhood"]),
    ("2", &["working age"]),
    ("3", &["old age"]),
];

/// TransportRequirement.
pub const TRANSPORT_REQUIREMENT: &[Entry] = &[
    ("0", &["public transportation", "public"]),
    ("1", &["point to point transportation", "point to point"]),
    ("2", &["adaptable vehicle", "adaptable vehical"]),
];

/// HousingType.
pub const HOUSING_TYPE: &[Entry] = &[
    ("1", &["own home/rent", "own home", "rent"]),
    (
        "2",
        &["living in relatives' home", "relatives' home", "relatives"],
    ),
    ("3", &["social housing"]),
    ("4", &["care institution", "institution"]),
];

/// SupportStatusEnum.
pub const SUPPORT_STATUS: &[Entry] = &[("0", &["needed"]), ("1", &["received"])];

/// SupportFrequency: how often human assistance is given.
pub const SUPPORT_FREQUENCY: &[Entry] = &[
    ("1", &["permanent"]),
    ("2", &["daily"]),
    ("3", &["weekly"]),
    ("4", &["occasional"]),
    ("5", &["none"]),
];

/// The kinds of disability support (the lists of `DisabilitySupport`), each with the code
/// directory of its `type`.
pub const SUPPORT_KIND: &[Entry] = &[
    ("human_assistance", &["human assistance"]),
    ("assistive_technology", &["assistive technology"]),
    ("housing_support", &["housing support", "housing"]),
    ("medical_care", &["medical care", "medical"]),
    ("animal_assistance", &["animal assistance"]),
];

/// HumanAssistanceType.
pub const HUMAN_ASSISTANCE: &[Entry] = &[
    ("basic_activity", &["basic activity"]),
    ("mobility", &[]),
    ("communication", &[]),
    ("decision_making", &["decision making"]),
    ("multiple", &[]),
];

/// AssistiveTechnologyEnum.
pub const ASSISTIVE_TECHNOLOGY: &[Entry] = &[
    ("1", &["wheelchair", "wheelchairs"]),
    (
        "2",
        &[
            "speech-generating device",
            "speech-generating devices (sgds)",
            "sgd",
        ],
    ),
    ("3", &["hearing aid", "hearing aids"]),
];

/// HousingSupportEnum.
pub const HOUSING_SUPPORT: &[Entry] = &[
    ("home_adaptation", &["home adaptation"]),
    ("relocation", &[]),
    ("utility_cost", &["utility cost"]),
];

/// MedicalCareEnum.
pub const MEDICAL_CARE: &[Entry] = &[
    ("maintenance_medicine", &["maintenance medicine"]),
    ("specialized_habitation", &["specialized habitation"]),
    ("constant_healthcare", &["constant healthcare"]),
];

/// AnimalAssistanceEnum.
pub const ANIMAL_ASSISTANCE: &[Entry] = &[
    ("service_dog", &["service dog"]),
    ("therapy_animal", &["therapy animal"]),
    ("other", &[]),
];

/// The code directory of the `type` of a support of `kind` (a code of [`SUPPORT_KIND`]).
pub fn support_types(kind: &str) -> Option<&'static [Entry]> {
    Some(match kind {
        "human_assistance" => HUMAN_ASSISTANCE,
        "assistive_technology" => ASSISTIVE_TECHNOLOGY,
        "housing_support" => HOUSING_SUPPORT,
        "medical_care" => MEDICAL_CARE,
        "animal_assistance" => ANIMAL_ASSISTANCE,
        _ => return None,
    })
}

/// FarmTypeEnum.
pub const FARM_TYPE: &[Entry] = &[
    ("1", &["small subsistence-oriented farm", "subsistence"]),
    (
        "2",
        &[
            "small semi-subsistence or part-commercial farm",
            "semi-subsistence",
            "small",
        ],
    ),
    ("3", &["small independent specialized farm", "specialized"]),
    ("4", &["small dependent specialized farm", "contract"]),
    ("5", &["large commercial farm", "commercial", "large"]),
    ("6", &["commercial estate", "estate"]),
];

/// LandTenureEnum. The published directory gives code `1` to both "Owner" and "Non-legal
/// ownership/Squatting" while its `oneOf` lists `7`, which no member has: spx reads squatting
/// as `7`.
pub const LAND_TENURE: &[Entry] = &[
    ("1", &["owner", "owned", "ownership"]),
    (
        "2",
        &["leased", "rented", "leased (rented from someone else)"],
    ),
    (
        "3",
        &["adverse possession or prescription", "adverse possession"],
    ),
    ("4", &["sharecropping"]),
    ("5", &["inheritance", "inherited"]),
    ("6", &["holdings without land", "landless"]),
    (
        "7",
        &[
            "non-legal ownership/squatting illegally on land",
            "squatting",
        ],
    ),
];

/// MeasurmentUnitEnum (sic): units of land size; spx stores hectares.
pub const MEASUREMENT_UNIT: &[Entry] = &[
    ("0", &["h", "ha", "hectare", "hectares"]),
    ("1", &["ac", "acre", "acres"]),
    ("2", &["sqm", "square metre", "square meter"]),
    ("3", &["sqkm", "square kilometre", "square kilometer"]),
    ("4", &["sqf", "square foot"]),
    ("5", &["sqy", "square yard"]),
    ("6", &["du", "dunam"]),
];

/// CropTypeEnum: the groups of crops.
pub const CROP_TYPE: &[Entry] = &[
    ("1", &["cereals", "cereal"]),
    ("2", &["vegetables and melons", "vegetables"]),
    ("3", &["fruit and nuts", "fruit"]),
    ("4", &["oilseed crops and oleaginous fruits", "oilseeds"]),
    (
        "5",
        &[
            "root/tuber crops with high starch or inulin content",
            "roots and tubers",
        ],
    ),
    ("6", &["stimulant, spice and aromatic crops", "stimulants"]),
    ("7", &["leguminous crops", "legumes", "pulses"]),
    ("8", &["sugar crops"]),
    ("9", &["other crops"]),
];

/// Crops by name (an spx directory: the standard names crop groups only, [`CROP_TYPE`]); see
/// [`crop_type`] for each one's group.
pub const CROP: &[Entry] = &[
    ("maize", &["corn"]),
    ("sorghum", &[]),
    ("millet", &[]),
    ("rice", &["paddy"]),
    ("wheat", &[]),
    ("beans", &["bean", "common beans"]),
    ("cowpea", &["cowpeas"]),
    ("groundnut", &["groundnuts", "peanut", "peanuts"]),
    ("soybean", &["soybeans", "soya"]),
    ("sunflower", &[]),
    ("cassava", &["manioc"]),
    ("sweet_potato", &["sweet potato", "sweet potatoes"]),
    ("potato", &["potatoes", "irish potato"]),
    ("banana", &["bananas", "plantain", "matoke"]),
    ("mango", &["mangoes"]),
    ("tomato", &["tomatoes"]),
    ("cabbage", &["kale", "sukuma"]),
    ("onion", &["onions"]),
    ("coffee", &[]),
    ("tea", &[]),
    ("sugarcane", &["sugar cane"]),
    ("cotton", &[]),
];

/// The CropTypeEnum group of a crop of [`CROP`].
pub fn crop_type(crop: &str) -> Option<&'static str> {
    Some(match crop {
        "maize" | "sorghum" | "millet" | "rice" | "wheat" => "1",
        "tomato" | "cabbage" | "onion" => "2",
        "banana" | "mango" => "3",
        "groundnut" | "soybean" | "sunflower" => "4",
        "cassava" | "sweet_potato" | "potato" => "5",
        "coffee" | "tea" => "6",
        "beans" | "cowpea" => "7",
        "sugarcane" => "8",
        "cotton" => "9",
        _ => return None,
    })
}

/// AnimalsEnum.
pub const ANIMAL: &[Entry] = &[
    ("1", &["bovine animals", "bovine", "cattle", "cow", "cows"]),
    ("2", &["sheep and goats", "sheep", "goat", "goats"]),
    ("3", &["swine/pigs", "swine", "pig", "pigs"]),
    ("4", &["equines", "horse", "horses", "donkey", "donkeys"]),
    ("5", &["camels and camelids", "camel", "camels"]),
    ("6", &["poultry", "chicken", "chickens", "duck", "ducks"]),
    ("7", &["other animals", "other"]),
    ("8", &["insects and worms", "bees", "insects"]),
];

/// The state of an identity in the foundational ID registry (an spx directory: the standard
/// has no identity record). `deceased` once the civil registry has registered the death.
pub const IDENTITY_STATUS: &[Entry] = &[
    ("alive", &["living", "active", "1"]),
    ("deceased", &["dead", "died", "2"]),
];

/// EnrollmentStatusEnum of the IBR: the state of a beneficiary's enrolment in a programme. The
/// standard has `1` Active, `2` Deceased, `3` Graduated, `4` Suspended; `5` Potential (a
/// candidate found eligible, not yet enrolled) and `6` Exited (left the programme for another
/// reason: moved away, no longer eligible, withdrew) are spx additions, for the enrolment
/// lifecycle programmes run.
pub const ENROLMENT_STATUS: &[Entry] = &[
    ("1", &["active", "enrolled", "enrollment", "enrolment"]),
    ("2", &["deceased", "dead"]),
    ("3", &["graduated"]),
    ("4", &["suspended"]),
    ("5", &["potential", "candidate", "eligible"]),
    ("6", &["exited", "exit", "discontinued", "withdrawn"]),
];

/// BenefitTypeEnum of the IBR: what a programme gives.
pub const BENEFIT_TYPE: &[Entry] = &[
    ("1", &["cash", "cash transfer"]),
    ("2", &["voucher", "e-voucher"]),
    ("3", &["in-kind", "in kind", "inkind", "food"]),
    ("4", &["training", "skills"]),
    (
        "5",
        &["work opportunity", "work", "public works", "cash for work"],
    ),
    ("6", &["insurance", "health insurance"]),
];

/// PaymentStatusEnum of the IBR: whether a benefit reached the beneficiary.
pub const PAYMENT_STATUS: &[Entry] = &[
    ("1", &["successful", "success", "paid", "succ"]),
    (
        "2",
        &[
            "not successful",
            "unsuccessful",
            "failed",
            "fail",
            "returned",
        ],
    ),
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
    fn every_crop_has_a_group() {
        for (crop, _) in CROP {
            let group = crop_type(crop).unwrap_or_else(|| panic!("{crop} has no group"));
            assert!(normalize(CROP_TYPE, group).is_some(), "{crop}: {group}");
        }
        assert_eq!(normalize(CROP, "Corn"), Some("maize"));
        assert_eq!(crop_type("maize"), Some("1"));
        assert_eq!(normalize(DISABILITY_STATUS, "Approved"), Some("0"));
        assert_eq!(normalize(ANIMAL, "goats"), Some("2"));
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
            DISABILITY_STATUS,
            DISABILITY_LEVEL,
            FUNCTIONAL_LIMITATION,
            IMPAIRMENT_TYPE,
            IMPAIRMENT_LEVEL,
            IMPAIRMENT_CAUSE,
            AGE_ON_SET,
            TRANSPORT_REQUIREMENT,
            HOUSING_TYPE,
            SUPPORT_STATUS,
            SUPPORT_FREQUENCY,
            SUPPORT_KIND,
            HUMAN_ASSISTANCE,
            ASSISTIVE_TECHNOLOGY,
            HOUSING_SUPPORT,
            MEDICAL_CARE,
            ANIMAL_ASSISTANCE,
            FARM_TYPE,
            LAND_TENURE,
            MEASUREMENT_UNIT,
            CROP_TYPE,
            CROP,
            ANIMAL,
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
