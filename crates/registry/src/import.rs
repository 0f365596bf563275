//! Loading population files (`spx generate`'s output, or exports in the same format) into a
//! registry's store: streamed, validated row by row, written in large transactions.
//!
//! The social registry loads the households and their living members. The civil register
//! (CRVS) loads every person, living or deceased, as a person with a birth record (and a
//! death record for the deceased), numbered and placed as [`synth::vital`] describes, and the
//! marriages of `marriages.*`; generated records are registered on the day of their event.
//! The disability registry loads the registrations of `disabilities.*` and the farmer
//! registry the farmers and parcels of `farmers.*` and `parcels.*`; both take the person's
//! name, sex and birth date from `persons.*` and their home from `households.*`. The
//! foundational ID registry loads an identity for every person, living or deceased, with the
//! home of their household (placed as the civil register places them). The integrated
//! beneficiary registry loads the programmes of `programmes.json`, the enrolments of
//! `enrolments.*` (with the name, sex and birth date of the person enrolled, or of the head
//! who receives for a household, and their home) and the benefits of `benefits.*`, then marks
//! the duplicates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use store::{BulkTable, ColumnType, Row, SqlValue, Statement, Store, StoreError};

use crate::crvs::{self, RegisteredPerson};
use crate::dr::{self, DisabledPerson};
use crate::fr::{self, RegisteredFarmer};
use crate::ibr::{self, Enrolled, ProgrammeInfo};
use crate::id::{self, RegisteredIdentity};
use crate::social::{self, Locations};

/// Rows per transaction: large enough to amortise commits, small enough to bound memory.
const BATCH: usize = 20_000;

/// Most rejected rows kept in a report (the count covers all).
const KEPT_REJECTIONS: usize = 100;

/// The files of one import, found by name: `locations.json`, `households.*`, `persons.*`,
/// `marriages.*`, `disabilities.*`, `farmers.*`, `parcels.*`, `programmes.json`,
/// `enrolments.*`, `benefits.*`.
#[derive(Debug, Default, Clone)]
pub struct ImportFiles {
    /// The location master list.
    pub locations: Option<PathBuf>,
    /// Households (CSV or JSON Lines).
    pub households: Option<PathBuf>,
    /// Persons (CSV or JSON Lines).
    pub persons: Option<PathBuf>,
    /// Marriages (CSV or JSON Lines), for the civil register.
    pub marriages: Option<PathBuf>,
    /// Disability registrations (CSV or JSON Lines), for the disability registry.
    pub disabilities: Option<PathBuf>,
    /// Farmers (CSV or JSON Lines), for the farmer registry.
    pub farmers: Option<PathBuf>,
    /// Land parcels (CSV or JSON Lines), for the farmer registry.
    pub parcels: Option<PathBuf>,
    /// The programme catalogue (JSON), for the beneficiary registry.
    pub programmes: Option<PathBuf>,
    /// Enrolments (CSV or JSON Lines), for the beneficiary registry.
    pub enrolments: Option<PathBuf>,
    /// Benefits paid (CSV or JSON Lines), for the beneficiary registry.
    pub benefits: Option<PathBuf>,
}

impl ImportFiles {
    /// Sorts `paths` (files, or directories holding them) by what they hold.
    pub fn classify(paths: &[PathBuf]) -> Result<Self, ImportError> {
        let mut files = ImportFiles::default();
        for path in paths {
            if path.is_dir() {
                let entries = std::fs::read_dir(path)
                    .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
                let mut inner: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                inner.sort();
                let found = ImportFiles::classify(
                    &inner
                        .into_iter()
                        .filter(|p| p.is_file())
                        .collect::<Vec<_>>(),
                )?;
                files.locations = files.locations.or(found.locations);
                files.households = files.households.or(found.households);
                files.persons = files.persons.or(found.persons);
                files.marriages = files.marriages.or(found.marriages);
                files.disabilities = files.disabilities.or(found.disabilities);
                files.farmers = files.farmers.or(found.farmers);
                files.parcels = files.parcels.or(found.parcels);
                files.programmes = files.programmes.or(found.programmes);
                files.enrolments = files.enrolments.or(found.enrolments);
                files.benefits = files.benefits.or(found.benefits);
                continue;
            }
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let slot = match stem {
                "locations" => &mut files.locations,
                "households" => &mut files.households,
                "persons" => &mut files.persons,
                "marriages" => &mut files.marriages,
                "disabilities" => &mut files.disabilities,
                "farmers" => &mut files.farmers,
                "parcels" => &mut files.parcels,
                "programmes" => &mut files.programmes,
                "enrolments" => &mut files.enrolments,
                "benefits" => &mut files.benefits,
                _ => {
                    return Err(ImportError::File(
                        path.clone(),
                        "not an import file (expected locations.json, programmes.json, or households, persons, marriages, disabilities, farmers, parcels, enrolments or benefits .csv|jsonl)".into(),
                    ));
                }
            };
            *slot = Some(path.clone());
        }
        Ok(files)
    }
}

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    /// Places loaded.
    pub locations: u64,
    /// Households loaded.
    pub households: u64,
    /// Living members loaded.
    pub persons: u64,
    /// Deceased persons in the files, which a social registry does not hold.
    pub skipped_deceased: u64,
    /// Birth records loaded (civil register).
    pub births: u64,
    /// Death records loaded (civil register).
    pub deaths: u64,
    /// Marriage records loaded (civil register).
    pub marriages: u64,
    /// Persons with a disability certificate or application loaded (disability registry).
    pub disabled: u64,
    /// Farmers loaded (farmer registry).
    pub farmers: u64,
    /// Land parcels loaded (farmer registry).
    pub parcels: u64,
    /// Identities loaded (ID registry).
    pub identities: u64,
    /// Of those, the identities of deceased persons.
    pub deceased_identities: u64,
    /// Programmes loaded (beneficiary registry).
    pub programmes: u64,
    /// Enrolments loaded (beneficiary registry).
    pub enrolments: u64,
    /// Benefits loaded (beneficiary registry).
    pub benefits: u64,
    /// Enrolments marked duplicate (beneficiary registry).
    pub duplicates: u64,
    /// Rows refused, in all.
    pub rejected_count: u64,
    /// The first refused rows: `file:line: reason`.
    pub rejected: Vec<String>,
}

impl ImportReport {
    /// What was loaded into the registry `role`, in words.
    pub fn loaded(&self, role: &str) -> String {
        if role == crvs::PROFILE.role {
            format!(
                "{} locations, {} persons, {} births, {} deaths, {} marriages",
                self.locations, self.persons, self.births, self.deaths, self.marriages
            )
        } else if role == dr::PROFILE.role {
            format!(
                "{} locations, {} persons with a disability certificate or application",
                self.locations, self.disabled
            )
        } else if role == fr::PROFILE.role {
            format!(
                "{} locations, {} farmers, {} parcels",
                self.locations, self.farmers, self.parcels
            )
        } else if role == id::PROFILE.role {
            format!(
                "{} locations, {} identities ({} deceased)",
                self.locations, self.identities, self.deceased_identities
            )
        } else if role == ibr::PROFILE.role {
            format!(
                "{} locations, {} programmes, {} enrolments ({} duplicates), {} benefits",
                self.locations, self.programmes, self.enrolments, self.duplicates, self.benefits
            )
        } else {
            format!(
                "{} locations, {} households, {} persons ({} deceased persons skipped)",
                self.locations, self.households, self.persons, self.skipped_deceased
            )
        }
    }

    /// Rejects the rows of `file` that were never loaded (`left`: each one's line and key),
    /// in line order, each for `why` of its key.
    fn reject_left(
        &mut self,
        file: &Path,
        mut left: Vec<(u64, String)>,
        why: impl Fn(&str) -> String,
    ) {
        left.sort();
        for (line, key) in left {
            self.reject(file, line, &why(&key));
        }
    }

    fn reject(&mut self, file: &Path, line: u64, reason: &str) {
        self.rejected_count += 1;
        if self.rejected.len() < KEPT_REJECTIONS {
            self.rejected
                .push(format!("{}:{line}: {reason}", file.display()));
        }
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or is not an import file.
    #[error("{path}: {message}", path = .0.display(), message = .1)]
    File(PathBuf, String),
    /// The store refused the rows.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// This role has no import yet.
    #[error("import into the {0} registry is not supported yet")]
    Unsupported(String),
}

/// The readable rows of `path` (`rows`: a `synth::read_*` of it), each with its line; the
/// others are recorded as rejected.
fn readable<T>(
    path: &Path,
    rows: Result<impl Iterator<Item = Result<(u64, T), synth::ReadError>>, synth::ReadError>,
    report: &mut ImportReport,
) -> Result<Vec<(u64, T)>, ImportError> {
    let rows = rows.map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))?;
    let mut good = Vec::new();
    for row in rows {
        match row {
            Ok(row) => good.push(row),
            Err(e) => report.reject(path, e.line, &e.message),
        }
    }
    Ok(good)
}

/// The registrations of `path` by UIN (`uin` of each), with their lines; a second
/// registration of a UIN is rejected.
fn by_uin<T>(
    path: &Path,
    rows: Vec<(u64, T)>,
    uin: fn(&T) -> &str,
    report: &mut ImportReport,
) -> HashMap<String, (u64, T)> {
    let mut found: HashMap<String, (u64, T)> = HashMap::with_capacity(rows.len());
    for (line, row) in rows {
        match found.entry(uin(&row).to_string()) {
            std::collections::hash_map::Entry::Occupied(taken) => {
                report.reject(path, line, &format!("{} is registered twice", taken.key()));
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert((line, row));
            }
        }
    }
    found
}

/// Reads a location master list written by `spx generate`.
pub fn read_locations(path: &Path) -> Result<Vec<synth::Location>, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ImportError::File(path.to_path_buf(), e.to_string()))
}

/// Imports `files` into the store of the registry `role`, calling `progress` with the rows
/// loaded so far.
pub async fn import(
    role: &str,
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    if role == social::PROFILE.role {
        import_social(store, files, progress).await
    } else if role == crvs::PROFILE.role {
        import_crvs(store, files, progress).await
    } else if role == dr::PROFILE.role {
        import_dr(store, files, progress).await
    } else if role == fr::PROFILE.role {
        import_fr(store, files, progress).await
    } else if role == id::PROFILE.role {
        import_id(store, files, progress).await
    } else if role == ibr::PROFILE.role {
        import_ibr(store, files, progress).await
    } else {
        Err(ImportError::Unsupported(role.to_string()))
    }
}

/// Drops the secondary indexes of `profile` when `tables` are empty, so that a bulk load
/// builds them once afterwards; returns whether it did.
async fn prepare_bulk(
    store: &dyn Store,
    profile: &crate::Profile,
    tables: &[BulkTable],
) -> Result<bool, StoreError> {
    let bulk = tables_are_empty(store, tables).await?;
    if bulk {
        let drops: Vec<String> = profile
            .index_names(store.dialect())
            .iter()
            .map(|name| format!("DROP INDEX IF EXISTS {name};"))
            .collect();
        store.execute_script(drops.join("\n")).await?;
    }
    Ok(bulk)
}

/// Rebuilds the indexes a bulk load dropped, and refreshes the planner's statistics of
/// `tables` (on PostgreSQL, a generic plan otherwise keeps judging them by what they were
/// before the load and scans a million rows for one household).
async fn finish_bulk(
    store: &dyn Store,
    profile: &crate::Profile,
    tables: &[BulkTable],
    bulk: bool,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<(), StoreError> {
    if bulk {
        progress("indexes", 0);
        store
            .execute_script(profile.indexes.script(store.dialect()).to_string())
            .await?;
    }
    let analyze: Vec<String> = tables
        .iter()
        .map(|t| format!("ANALYZE {};", t.table))
        .collect();
    store.execute_script(analyze.join(" ")).await
}

/// Loads the location master list (parents before children, so the hierarchy's references
/// hold at every row); returns it.
async fn load_locations(
    store: &dyn Store,
    files: &ImportFiles,
    report: &mut ImportReport,
) -> Result<Locations, ImportError> {
    let places = match &files.locations {
        Some(path) => read_locations(path)?,
        None => Vec::new(),
    };
    let mut ordered = places.clone();
    ordered.sort_by_key(|l| l.level);
    report.locations = store
        .bulk_insert(
            social::LOCATION_TABLE,
            ordered.iter().map(social::location_row).collect(),
        )
        .await?;
    Ok(Locations::new(&places))
}

async fn import_social(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &social::PROFILE;
    let tables = [social::HOUSEHOLD_TABLE, social::PERSON_TABLE];
    // Into empty tables, indexes are built once after the load instead of row by row.
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let updated = dci::Timestamp::now().to_string();
    let locations = load_locations(store, files, &mut report).await?;

    let mut households: HashMap<String, synth::Household> = HashMap::new();
    if let Some(path) = &files.households {
        let rows = synth::read_households(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut batch = Batch::new(social::HOUSEHOLD_TABLE);
        for row in rows {
            match row {
                Ok((_, household)) => {
                    batch.push(social::household_row(&household, &locations, &updated));
                    households.insert(household.household_id.clone(), household);
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.households += batch.flush_if_full(store).await?;
            progress("households", report.households);
        }
        report.households += batch.flush(store).await?;
        progress("households", report.households);
    }

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut batch = Batch::new(social::PERSON_TABLE);
        for row in rows {
            match row {
                Ok((line, person)) => match person.household_id.as_deref() {
                    None => report.skipped_deceased += 1,
                    Some(id) => match households.get(id) {
                        Some(household) => {
                            batch.push(social::person_row(&person, household, &locations))
                        }
                        None => report.reject(
                            path,
                            line,
                            &format!("household {id} is not in the households file"),
                        ),
                    },
                },
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.persons += batch.flush_if_full(store).await?;
            progress("persons", report.persons);
        }
        report.persons += batch.flush(store).await?;
        progress("persons", report.persons);
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    Ok(report)
}

async fn import_crvs(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &crvs::PROFILE;
    let tables = [
        crvs::PERSON_TABLE,
        crvs::BIRTH_TABLE,
        crvs::DEATH_TABLE,
        crvs::MARRIAGE_TABLE,
    ];
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let locations = load_locations(store, files, &mut report).await?;

    // Where each household lives: where its members were born, married and died.
    let homes = homes(files, &mut report)?;

    let mut married: HashMap<String, Vec<time::Date>> = HashMap::new();
    if let Some(path) = &files.marriages {
        let rows = synth::read_marriages(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut batch = Batch::new(crvs::MARRIAGE_TABLE);
        for row in rows {
            match row {
                Ok((_, marriage)) => {
                    for spouse in [&marriage.spouse1_uin, &marriage.spouse2_uin] {
                        married
                            .entry(spouse.clone())
                            .or_default()
                            .push(marriage.marriage_date);
                    }
                    batch.push(crvs::marriage_row(
                        &marriage,
                        marriage.marriage_date,
                        &locations,
                    ));
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.marriages += batch.flush_if_full(store).await?;
            progress("marriages", report.marriages);
        }
        report.marriages += batch.flush(store).await?;
        progress("marriages", report.marriages);
    }

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut persons = Batch::new(crvs::PERSON_TABLE);
        let mut births = Batch::new(crvs::BIRTH_TABLE);
        let mut deaths = Batch::new(crvs::DEATH_TABLE);
        let mut placed = synth::vital::Homes::default();
        for row in rows {
            match row {
                Ok((line, person)) => {
                    let place = match placed_home(&mut placed, &person, &homes, files) {
                        Ok(place) => place,
                        Err(reason) => {
                            report.reject(path, line, &reason);
                            continue;
                        }
                    };
                    let mut dates = married.remove(&person.uin).unwrap_or_default();
                    dates.sort();
                    let entry = RegisteredPerson::from_population(&person, place, dates);
                    persons.push(entry.row(&locations));
                    births.push(entry.birth_row(entry.birth_date, &locations));
                    if let Some(death) = entry.death_date
                        && let Some(row) = entry.death_row(death, &locations)
                    {
                        deaths.push(row);
                    }
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.persons += persons.flush_if_full(store).await?;
            report.births += births.flush_if_full(store).await?;
            report.deaths += deaths.flush_if_full(store).await?;
            progress("persons", report.persons);
        }
        report.persons += persons.flush(store).await?;
        report.births += births.flush(store).await?;
        report.deaths += deaths.flush(store).await?;
        progress("persons", report.persons);
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    Ok(report)
}

/// Where each household of the households file lives: its sub-county, by household id.
fn homes(
    files: &ImportFiles,
    report: &mut ImportReport,
) -> Result<HashMap<String, String>, ImportError> {
    let mut homes = HashMap::new();
    if let Some(path) = &files.households {
        let rows = synth::read_households(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        for row in rows {
            match row {
                Ok((_, household)) => {
                    homes.insert(household.household_id, household.location_code);
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
        }
    }
    Ok(homes)
}

/// The home of `person` (living, in a household of the households file), if known; the
/// reason to refuse their row when their household is not in that file.
fn home<'a>(
    person: &synth::Person,
    homes: &'a HashMap<String, String>,
    files: &ImportFiles,
) -> Result<Option<&'a str>, String> {
    match &person.household_id {
        Some(id) if files.households.is_some() => homes
            .get(id)
            .map(|code| Some(code.as_str()))
            .ok_or_else(|| format!("household {id} is not in the households file")),
        _ => Ok(None),
    }
}

/// Where the civil register places `person`, the next person of the persons file (see
/// [`synth::vital::Homes`]): the home of their household, or for the deceased of the household
/// they are listed with, if known; the reason to refuse their row when that household is not
/// in the households file.
fn placed_home<'a>(
    placed: &mut synth::vital::Homes,
    person: &synth::Person,
    homes: &'a HashMap<String, String>,
    files: &ImportFiles,
) -> Result<Option<&'a str>, String> {
    match placed.of(person) {
        Some(id) if files.households.is_some() => homes
            .get(id)
            .map(|code| Some(code.as_str()))
            .ok_or_else(|| format!("household {id} is not in the households file")),
        _ => Ok(None),
    }
}

async fn import_dr(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &dr::PROFILE;
    let tables = [dr::PWD_TABLE, dr::DIFFICULTY_TABLE, dr::SUPPORT_TABLE];
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let updated = dci::Timestamp::now().to_string();
    let locations = load_locations(store, files, &mut report).await?;
    let homes = homes(files, &mut report)?;

    // The registrations by UIN (about one person in twenty), with their lines.
    let mut registrations = HashMap::new();
    if let Some(path) = &files.disabilities {
        let rows = readable(path, synth::read_disabilities(path), &mut report)?;
        registrations = by_uin(path, rows, |d| &d.uin, &mut report);
    }

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut persons = Batch::new(dr::PWD_TABLE);
        let mut difficulties = Batch::new(dr::DIFFICULTY_TABLE);
        let mut supports = Batch::new(dr::SUPPORT_TABLE);
        for row in rows {
            match row {
                Ok((line, person)) => {
                    let Some((_, disability)) = registrations.remove(&person.uin) else {
                        continue;
                    };
                    let home = match home(&person, &homes, files) {
                        Ok(home) => home,
                        Err(reason) => {
                            report.reject(path, line, &reason);
                            continue;
                        }
                    };
                    let registered = DisabledPerson::from_population(&person, home, disability);
                    persons.push(registered.row(&locations, &updated));
                    difficulties.extend(registered.difficulty_rows());
                    supports.extend(registered.support_rows());
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.disabled += persons.flush_if_full(store).await?;
            difficulties.flush_if_full(store).await?;
            supports.flush_if_full(store).await?;
            progress("disabled", report.disabled);
        }
        report.disabled += persons.flush(store).await?;
        difficulties.flush(store).await?;
        supports.flush(store).await?;
        progress("disabled", report.disabled);
    }
    if let Some(path) = &files.disabilities {
        let left = registrations.into_values().map(|(line, d)| (line, d.uin));
        report.reject_left(path, left.collect(), |uin| {
            format!("person {uin} is not in the persons file")
        });
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    Ok(report)
}

async fn import_fr(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &fr::PROFILE;
    let tables = [
        fr::FARMER_TABLE,
        fr::PARCEL_TABLE,
        fr::CROP_TABLE,
        fr::LIVESTOCK_TABLE,
    ];
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let updated = dci::Timestamp::now().to_string();
    let locations = load_locations(store, files, &mut report).await?;
    let homes = homes(files, &mut report)?;

    let mut farmers = HashMap::new();
    if let Some(path) = &files.farmers {
        let rows = readable(path, synth::read_farmers(path), &mut report)?;
        farmers = by_uin(path, rows, |f| &f.uin, &mut report);
    }
    // Each farmer's parcels, by farmer number, with their lines.
    let mut parcels: HashMap<String, Vec<(u64, synth::farming::Parcel)>> = HashMap::new();
    if let Some(path) = &files.parcels {
        for (line, parcel) in readable(path, synth::read_parcels(path), &mut report)? {
            if locations.get(&parcel.location_code).is_none() {
                let reason = format!(
                    "location_code '{}' is not in the location master list",
                    parcel.location_code
                );
                report.reject(path, line, &reason);
            } else {
                parcels
                    .entry(parcel.fid.clone())
                    .or_default()
                    .push((line, parcel));
            }
        }
    }

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut farmer_rows = Batch::new(fr::FARMER_TABLE);
        let mut parcel_rows = Batch::new(fr::PARCEL_TABLE);
        let mut crop_rows = Batch::new(fr::CROP_TABLE);
        let mut livestock_rows = Batch::new(fr::LIVESTOCK_TABLE);
        for row in rows {
            match row {
                Ok((line, person)) => {
                    let Some((_, farmer)) = farmers.remove(&person.uin) else {
                        continue;
                    };
                    let home = match home(&person, &homes, files) {
                        Ok(home) => home,
                        Err(reason) => {
                            report.reject(path, line, &reason);
                            continue;
                        }
                    };
                    let own = parcels
                        .remove(&farmer.fid)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(_, parcel)| parcel)
                        .collect();
                    let registered = RegisteredFarmer::from_population(&person, home, farmer, own);
                    farmer_rows.push(registered.row(&locations, &updated));
                    parcel_rows.extend(registered.parcel_rows(&locations));
                    crop_rows.extend(registered.crop_rows());
                    livestock_rows.extend(registered.livestock_rows());
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.farmers += farmer_rows.flush_if_full(store).await?;
            report.parcels += parcel_rows.flush_if_full(store).await?;
            crop_rows.flush_if_full(store).await?;
            livestock_rows.flush_if_full(store).await?;
            progress("farmers", report.farmers);
        }
        report.farmers += farmer_rows.flush(store).await?;
        report.parcels += parcel_rows.flush(store).await?;
        crop_rows.flush(store).await?;
        livestock_rows.flush(store).await?;
        progress("farmers", report.farmers);
    }
    if let Some(path) = &files.farmers {
        let left = farmers.into_values().map(|(line, f)| (line, f.uin));
        report.reject_left(path, left.collect(), |uin| {
            format!("person {uin} is not in the persons file")
        });
    }
    if let Some(path) = &files.parcels {
        let left = parcels
            .into_values()
            .flatten()
            .map(|(line, p)| (line, p.fid));
        report.reject_left(path, left.collect(), |fid| {
            format!("farmer {fid} is not in the farmers file")
        });
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    Ok(report)
}

async fn import_id(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &id::PROFILE;
    let tables = [id::IDENTITY_TABLE];
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let updated = dci::Timestamp::now();
    let locations = load_locations(store, files, &mut report).await?;
    let homes = homes(files, &mut report)?;

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut identities = Batch::new(id::IDENTITY_TABLE);
        let mut placed = synth::vital::Homes::default();
        for row in rows {
            match row {
                Ok((line, person)) => {
                    let home = match placed_home(&mut placed, &person, &homes, files) {
                        Ok(home) => home,
                        Err(reason) => {
                            report.reject(path, line, &reason);
                            continue;
                        }
                    };
                    let identity = RegisteredIdentity::from_population(
                        &person,
                        home,
                        updated.0.date(),
                        &updated.to_string(),
                    );
                    report.deceased_identities += u64::from(person.death_date.is_some());
                    identities.push(identity.row(&locations));
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.identities += identities.flush_if_full(store).await?;
            progress("identities", report.identities);
        }
        report.identities += identities.flush(store).await?;
        progress("identities", report.identities);
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    Ok(report)
}

async fn import_ibr(
    store: &dyn Store,
    files: &ImportFiles,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let profile = &ibr::PROFILE;
    let tables = [
        ibr::PROGRAMME_TABLE,
        ibr::ENROLMENT_TABLE,
        ibr::BENEFIT_TABLE,
    ];
    let bulk = prepare_bulk(store, profile, &tables).await?;
    let mut report = ImportReport::default();
    let updated = dci::Timestamp::now().to_string();
    let locations = load_locations(store, files, &mut report).await?;
    let homes = homes(files, &mut report)?;

    let mut programmes: HashMap<String, ProgrammeInfo> = HashMap::new();
    if let Some(path) = &files.programmes {
        let catalogue = synth::read_programmes(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        for programme in &catalogue {
            programmes.insert(
                programme.code.clone(),
                ProgrammeInfo::from_catalogue(programme),
            );
        }
        let rows = programmes.values().map(ProgrammeInfo::row).collect();
        report.programmes = store.bulk_insert(ibr::PROGRAMME_TABLE, rows).await?;
    }
    // The benefits of each enrolment, by programme and beneficiary.
    let mut paid: HashMap<(String, String), Vec<(u64, synth::benefits::Benefit)>> = HashMap::new();
    if let Some(path) = &files.benefits {
        for (line, benefit) in readable(path, synth::read_benefits(path), &mut report)? {
            paid.entry((benefit.programme.clone(), benefit.beneficiary_id.clone()))
                .or_default()
                .push((line, benefit));
        }
    }
    // The enrolments, by the UIN of the person enrolled (or receiving), with their lines.
    let mut enrolments: HashMap<String, Vec<(u64, synth::benefits::Enrolment)>> = HashMap::new();
    if let Some(path) = &files.enrolments {
        for (line, enrolment) in readable(path, synth::read_enrolments(path), &mut report)? {
            if programmes.contains_key(&enrolment.programme) {
                enrolments
                    .entry(enrolment.uin.clone())
                    .or_default()
                    .push((line, enrolment));
            } else {
                let reason = format!(
                    "programme '{}' is not in the programmes file",
                    enrolment.programme
                );
                report.reject(path, line, &reason);
            }
        }
    }

    if let Some(path) = &files.persons {
        let rows = synth::read_persons(path)
            .map_err(|e| ImportError::File(path.clone(), e.to_string()))?;
        let mut enrolment_rows = Batch::new(ibr::ENROLMENT_TABLE);
        let mut benefit_rows = Batch::new(ibr::BENEFIT_TABLE);
        let mut placed = synth::vital::Homes::default();
        for row in rows {
            match row {
                Ok((line, person)) => {
                    let home = placed_home(&mut placed, &person, &homes, files);
                    let Some(own) = enrolments.remove(&person.uin) else {
                        continue;
                    };
                    let home = match home {
                        Ok(home) => home,
                        Err(reason) => {
                            report.reject(path, line, &reason);
                            continue;
                        }
                    };
                    for (_, enrolment) in own {
                        let programme = &programmes[&enrolment.programme];
                        let benefits: Vec<synth::benefits::Benefit> = paid
                            .remove(&(
                                enrolment.programme.clone(),
                                enrolment.beneficiary_id.clone(),
                            ))
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(_, benefit)| benefit)
                            .collect();
                        let enrolled = Enrolled::from_population(
                            &enrolment,
                            programme,
                            Some(&person),
                            home,
                            &benefits,
                        );
                        enrolment_rows.push(enrolled.row(&locations, &updated));
                        let payments: Vec<ibr::Payment> =
                            benefits.iter().map(ibr::Payment::from_population).collect();
                        benefit_rows.extend(enrolled.benefit_rows(&payments, &locations));
                    }
                }
                Err(e) => report.reject(path, e.line, &e.message),
            }
            report.enrolments += enrolment_rows.flush_if_full(store).await?;
            report.benefits += benefit_rows.flush_if_full(store).await?;
            progress("enrolments", report.enrolments);
        }
        report.enrolments += enrolment_rows.flush(store).await?;
        report.benefits += benefit_rows.flush(store).await?;
        progress("enrolments", report.enrolments);
    }
    if let Some(path) = &files.enrolments {
        let left = enrolments
            .into_values()
            .flatten()
            .map(|(line, e)| (line, e.uin));
        report.reject_left(path, left.collect(), |uin| {
            format!("person {uin} is not in the persons file")
        });
    }
    if let Some(path) = &files.benefits {
        let left = paid
            .into_values()
            .flatten()
            .map(|(line, b)| (line, b.benefit_id));
        report.reject_left(path, left.collect(), |id| {
            format!("benefit {id} is of no enrolment in the enrolments file")
        });
    }
    finish_bulk(store, profile, &tables, bulk, progress).await?;
    // After the indexes: marking looks up each beneficiary's other enrolments.
    progress("duplicates", 0);
    store
        .write(vec![ibr::mark_duplicates(store.dialect(), None)])
        .await?;
    report.duplicates = ibr::duplicate_count(store).await?;
    Ok(report)
}

async fn tables_are_empty(store: &dyn Store, tables: &[BulkTable]) -> Result<bool, StoreError> {
    let statements = tables
        .iter()
        .map(|t| {
            Statement::new(
                format!(
                    "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) AS any_row",
                    t.table
                ),
                vec![],
                &[ColumnType::Integer],
            )
        })
        .collect();
    let counts = store.read(statements).await?;
    Ok(counts.iter().all(|rows| {
        matches!(
            rows.first().and_then(|r| r.first()),
            Some(Some(SqlValue::Integer(0)))
        )
    }))
}

/// Rows waiting to be written together.
struct Batch {
    table: BulkTable,
    rows: Vec<Row>,
}

impl Batch {
    fn new(table: BulkTable) -> Self {
        Batch {
            table,
            rows: Vec::with_capacity(BATCH),
        }
    }

    fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    fn extend(&mut self, rows: Vec<Row>) {
        self.rows.extend(rows);
    }

    async fn flush_if_full(&mut self, store: &dyn Store) -> Result<u64, StoreError> {
        if self.rows.len() >= BATCH {
            self.flush(store).await
        } else {
            Ok(0)
        }
    }

    async fn flush(&mut self, store: &dyn Store) -> Result<u64, StoreError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        store
            .bulk_insert(self.table, std::mem::take(&mut self.rows))
            .await
    }
}
