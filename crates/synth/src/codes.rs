//! The DCI code directories (dci-spec §6.9.2) that generated and imported rows must use.

/// SexCategoryEnum codes.
pub const SEXES: &[&str] = &["male", "female", "other", "unknown"];

/// MaritalStatusEnum codes: never married, married, widowed, annulled, divorced, legally
/// separated, unmarried.
pub const MARITAL_STATUSES: &[&str] = &["S", "M", "W", "A", "D", "L", "U"];

/// AssistanceUnitEnum codes: 1 member, 2 household, 3 family.
pub const GROUP_TYPES: &[&str] = &["1", "2", "3"];

/// EducationCodeEnum codes: ISCED levels 0 (early childhood) to 8 (doctorate).
pub const EDUCATION_LEVELS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8"];

/// EmploymentStatusEnum codes: 1 employed, 2 not employed, 3 unknown, 4 employee, 5 employer,
/// 6 own-account worker, 7 member of a producers' cooperative, 8 contributing family worker.
pub const EMPLOYMENT_STATUSES: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8"];

/// RelationshipEnum codes (the member definitions of the S4 directory).
pub const RELATIONSHIPS: &[&str] = &[
    "SELF", "PRIMSPOUS", "FAMMEMB", "CHILD", "CHILDADOPT", "DAUADOPT", "SONADOPT", "CHILDFOST", "DAUFOST", "SONFOST", "DAUC", "DAU", "STPDAU", "NCHILD", "SON", "SONC", "STPSON", "STPCHILD", "EXT", "AUNT", "MAUNT", "PAUNT", "COUSN", "MCOUSN", "PCOUSN", "GGRPRN", "GGRFTH", "MGGRFTH", "PGGRFTH", "GGRMTH", "MGGRMTH", "PGGRMTH", "MGGRPRN", "PGGRPRN", "GRNDCHILD", "GRNDDAU", "GRNDSON", "GRPRN", "GRFTH", "MGRFTH", "PGRFTH", "GRMTH", "PGRMTH", "MGRMTH", "PGRPRN", "MGRPRN", "INLAW", "CHLDINLAW", "DAUINLAW", "SONINLAW", "PRNINLAW", "FTHINLAW", "MTHINLAW", "SIBINLAW", "BROINLAW", "SISINLAW", "NIENEPH", "NEPHEW", "NEICE", "UNCLE", "PUNCLE", "MUNCLE", "PRN", "ADOPTP", "ADOPTF", "ADOPTM", "FTH", "FTHFOST", "NFTH", "NFTHF", "STPFTH", "MTH", "GESTM", "FOSTMTH", "NMTH", "NMTHF", "STPMTH", "NPRN", "PRNFOST", "STPPRN", "SIB", "BRO", "HBRO", "NBRO", "TWINBRO", "FTWINBRO", "ITWINBRO", "STPBRO", "HSIB", "HSIS", "NSIB", "NSIS", "TWINSIS", "FTWINSIS", "ITWINSIS", "TWIN", "FTWIN", "ITWIN", "SIS", "STPSIS", "STPSIB", "SIGOTHR", "DOMPART", "FRMSPS", "SPS", "HUSB", "WIFE", 
];
