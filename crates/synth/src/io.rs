//! Files: `locations.json`, `households.{csv,jsonl}`, `persons.{csv,jsonl}`,
//! `marriages.{csv,jsonl}`, `disabilities.{csv,jsonl}`, `farmers.{csv,jsonl}`,
//! `parcels.{csv,jsonl}`, `programmes.json`, `enrolments.{csv,jsonl}`,
//! `benefits.{csv,jsonl}`, and streaming, validating readers for all but the JSON files.
//!
//! A list inside a row (a person's difficulties, a parcel's crops) is one cell in both formats:
//! its items' text joined by `;` (see [`list`]).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::{Date, Month};

use crate::benefits::{Benefit, Benefits, Enrolment, Programme};
use crate::codes::{
    EDUCATION_LEVELS, EMPLOYMENT_STATUSES, GROUP_TYPES, MARITAL_STATUSES, RELATIONSHIPS, SEXES,
};
use crate::disability::{Difficulty, Disability, Support};
use crate::farming::{CROPS, Farmer, Farms, Livestock, Parcel};
use crate::{Household, Marriage, Person, Population, uin_is_valid};

/// File format of the household and person files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row of field names; `None` is an empty cell.
    Csv,
    /// One JSON object per line; `None` is `null`.
    JsonLines,
}

impl Format {
    /// File extension, without the dot: `csv` or `jsonl`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    /// `csv`, or `jsonl` (also `jsonlines`, `json-lines`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "jsonlines" | "json-lines" => Ok(Format::JsonLines),
            _ => Err(format!("unknown format `{text}` (expected csv or jsonl)")),
        }
    }
}

const BUFFER: usize = 1 << 20;

/// Writes `locations.json` (the hierarchy), `households.{csv|jsonl}` and `persons.{csv|jsonl}`
/// into `dir`, creating it if needed; returns the paths written.
pub fn write(population: &Population, dir: &Path, format: Format) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let locations = dir.join("locations.json");
    let mut out = BufWriter::new(File::create(&locations)?);
    serde_json::to_writer_pretty(&mut out, &population.locations)?;
    out.write_all(b"\n")?;
    out.flush()?;
    let households = dir.join(format!("households.{}", format.extension()));
    let persons = dir.join(format!("persons.{}", format.extension()));
    match format {
        Format::Csv => {
            write_csv::<Household>(&households, &population.households)?;
            write_csv::<Person>(&persons, &population.persons)?;
        }
        Format::JsonLines => {
            write_jsonl(&households, &population.households)?;
            write_jsonl(&persons, &population.persons)?;
        }
    }
    Ok(vec![locations, households, persons])
}

/// Writes the civil register's marriages as `marriages.{csv|jsonl}` into `dir`, creating it if
/// needed; returns the path written. (Apart from [`write()`], whose files stay as they were.)
pub fn write_marriages(marriages: &[Marriage], dir: &Path, format: Format) -> io::Result<PathBuf> {
    write_rows(marriages, dir, "marriages", format)
}

/// Writes the disability registrations as `disabilities.{csv|jsonl}` into `dir`, creating it
/// if needed; returns the path written.
pub fn write_disabilities(
    disabilities: &[Disability],
    dir: &Path,
    format: Format,
) -> io::Result<PathBuf> {
    write_rows(disabilities, dir, "disabilities", format)
}

/// Writes the farmers and their parcels as `farmers.{csv|jsonl}` and `parcels.{csv|jsonl}`
/// into `dir`, creating it if needed; returns the paths written.
pub fn write_farms(farms: &Farms, dir: &Path, format: Format) -> io::Result<Vec<PathBuf>> {
    Ok(vec![
        write_rows(&farms.farmers, dir, "farmers", format)?,
        write_rows(&farms.parcels, dir, "parcels", format)?,
    ])
}

/// Writes the programmes, enrolments and benefits of the beneficiary registry as
/// `programmes.json`, `enrolments.{csv|jsonl}` and `benefits.{csv|jsonl}` into `dir`,
/// creating it if needed; returns the paths written.
pub fn write_benefits(
    programmes: &[Programme],
    benefits: &Benefits,
    dir: &Path,
    format: Format,
) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let catalogue = dir.join("programmes.json");
    let mut out = BufWriter::new(File::create(&catalogue)?);
    serde_json::to_writer_pretty(&mut out, programmes)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(vec![
        catalogue,
        write_rows(&benefits.enrolments, dir, "enrolments", format)?,
        write_rows(&benefits.benefits, dir, "benefits", format)?,
    ])
}

/// Reads a programme catalogue written by [`write_benefits`].
pub fn read_programmes(path: &Path) -> Result<Vec<Programme>, ReadError> {
    let text = fs::read_to_string(path).map_err(|e| ReadError {
        line: 0,
        field: None,
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReadError {
        line: e.line() as u64,
        field: None,
        message: e.to_string(),
    })
}

fn write_rows<T: Row>(rows: &[T], dir: &Path, name: &str, format: Format) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.{}", format.extension()));
    match format {
        Format::Csv => write_csv::<T>(&path, rows)?,
        Format::JsonLines => write_jsonl(&path, rows)?,
    }
    Ok(path)
}

fn write_csv<T: Row>(path: &Path, rows: &[T]) -> io::Result<()> {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(BUFFER)
        .from_path(path)?;
    // Written explicitly so that an empty file still has its header.
    out.write_record(T::COLUMNS)?;
    for row in rows {
        out.serialize(row)?;
    }
    out.flush()
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(BUFFER, File::create(path)?);
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// A row that could not be read, or a file that could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line number of the row (the header is line 1 of a CSV file); 0 when the error
    /// concerns the file as a whole.
    pub line: u64,
    /// The column at fault, when the error is about one.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ReadError {}

/// Streams the households of a `.csv` or `.jsonl` file, validating each row. A bad row yields
/// a [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_households(path: &Path) -> Result<Rows<Household>, ReadError> {
    Rows::<Household>::open(path)
}

/// Streams the persons of a `.csv` or `.jsonl` file, validating each row. A bad row yields a
/// [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_persons(path: &Path) -> Result<Rows<Person>, ReadError> {
    Rows::<Person>::open(path)
}

/// Streams the marriages of a `.csv` or `.jsonl` file, validating each row. A bad row yields a
/// [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_marriages(path: &Path) -> Result<Rows<Marriage>, ReadError> {
    Rows::<Marriage>::open(path)
}

/// Streams the disability registrations of a `.csv` or `.jsonl` file, validating each row. A
/// bad row yields a [`ReadError`] with its line number and the iteration goes on; an I/O error
/// ends it.
pub fn read_disabilities(path: &Path) -> Result<Rows<Disability>, ReadError> {
    Rows::<Disability>::open(path)
}

/// Streams the farmers of a `.csv` or `.jsonl` file, validating each row. A bad row yields a
/// [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_farmers(path: &Path) -> Result<Rows<Farmer>, ReadError> {
    Rows::<Farmer>::open(path)
}

/// Streams the land parcels of a `.csv` or `.jsonl` file, validating each row. A bad row
/// yields a [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_parcels(path: &Path) -> Result<Rows<Parcel>, ReadError> {
    Rows::<Parcel>::open(path)
}

/// A record type of the population's files.
pub trait Row: Sized + Serialize + DeserializeOwned {
    /// Field names, in declaration (and CSV column) order.
    const COLUMNS: &'static [&'static str];
    /// Parses a CSV row; `field(i)` is the cell of `COLUMNS[i]`.
    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String>;
    /// Checks values against the code directories and formats.
    fn check(&self) -> Result<(), String>;
}

enum Source {
    Csv {
        reader: csv::Reader<File>,
        record: csv::StringRecord,
        /// Position of each of `Row::COLUMNS` in the file.
        columns: Vec<usize>,
        last_line: u64,
    },
    Lines {
        reader: BufReader<File>,
        buffer: String,
        line: u64,
        offset: u64,
    },
}

/// The rows of a file, read one by one (see [`read_persons`] and the other readers).
pub struct Rows<T> {
    source: Source,
    finished: bool,
    row: PhantomData<fn() -> T>,
}

impl<T: Row> Rows<T> {
    fn open(path: &Path) -> Result<Self, ReadError> {
        let whole = |message: String| ReadError {
            line: 0,
            field: None,
            message,
        };
        let file =
            File::open(path).map_err(|e| whole(format!("cannot open {}: {e}", path.display())))?;
        let source = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .buffer_capacity(BUFFER)
                    .from_reader(file);
                let headers = reader.headers().map_err(|e| ReadError {
                    line: 1,
                    field: None,
                    message: format!("cannot read the header: {e}"),
                })?;
                let columns = T::COLUMNS
                    .iter()
                    .map(|name| {
                        headers
                            .iter()
                            .position(|h| h.trim() == *name)
                            .ok_or_else(|| ReadError {
                                line: 1,
                                field: Some(name),
                                message: format!("missing column `{name}`"),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Source::Csv {
                    reader,
                    record: csv::StringRecord::new(),
                    columns,
                    last_line: 1,
                }
            }
            Some("jsonl") => Source::Lines {
                reader: BufReader::with_capacity(BUFFER, file),
                buffer: String::new(),
                line: 0,
                offset: 0,
            },
            _ => {
                return Err(whole(format!(
                    "{}: unsupported file type (expected .csv or .jsonl)",
                    path.display()
                )));
            }
        };
        Ok(Self {
            source,
            finished: false,
            row: PhantomData,
        })
    }

    /// How far into the file the rows read so far go, in bytes.
    pub fn offset(&self) -> u64 {
        match &self.source {
            Source::Csv { reader, .. } => reader.position().byte(),
            Source::Lines { offset, .. } => *offset,
        }
    }
}

/// The column a message about a row names: the one it starts with, else the first one it
/// quotes (serde's "missing field `uin`").
fn field_named<T: Row>(message: &str) -> Option<&'static str> {
    let starts = T::COLUMNS.iter().find(|c| {
        message
            .strip_prefix(**c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', ' ']))
    });
    starts
        .or_else(|| {
            T::COLUMNS
                .iter()
                .find(|c| message.contains(&format!("`{c}`")))
        })
        .copied()
}

impl<T: Row> Iterator for Rows<T> {
    type Item = Result<(u64, T), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match &mut self.source {
            Source::Csv {
                reader,
                record,
                columns,
                last_line,
            } => match reader.read_record(record) {
                Ok(false) => {
                    self.finished = true;
                    None
                }
                Ok(true) => {
                    let line = record.position().map_or(*last_line + 1, |p| p.line());
                    *last_line = line;
                    let row = T::from_cells(|i| record.get(columns[i]).unwrap_or(""))
                        .and_then(|row| row.check().map(|()| row));
                    Some(row.map(|row| (line, row)).map_err(|message| ReadError {
                        line,
                        field: field_named::<T>(&message),
                        message,
                    }))
                }
                Err(e) => {
                    let line = e.position().map_or(*last_line + 1, |p| p.line());
                    *last_line = line;
                    let message = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => format!("expected {expected_len} fields, found {len}"),
                        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_owned(),
                        csv::ErrorKind::Io(_) => {
                            self.finished = true;
                            format!("read error: {e}")
                        }
                        _ => e.to_string(),
                    };
                    Some(Err(ReadError {
                        line,
                        field: None,
                        message,
                    }))
                }
            },
            Source::Lines {
                reader,
                buffer,
                line,
                offset,
            } => loop {
                buffer.clear();
                match reader.read_line(buffer) {
                    Ok(0) => {
                        self.finished = true;
                        return None;
                    }
                    Ok(read) => {
                        *line += 1;
                        *offset += read as u64;
                        let text = buffer.trim();
                        if text.is_empty() {
                            continue;
                        }
                        let line = *line;
                        let row = serde_json::from_str::<T>(text)
                            .map_err(|e| e.to_string())
                            .and_then(|row| row.check().map(|()| row));
                        return Some(row.map(|row| (line, row)).map_err(|message| ReadError {
                            line,
                            field: field_named::<T>(&message),
                            message,
                        }));
                    }
                    Err(e) => {
                        *line += 1;
                        // Invalid UTF-8 consumes the line; other errors end the file.
                        if e.kind() != io::ErrorKind::InvalidData {
                            self.finished = true;
                        }
                        return Some(Err(ReadError {
                            line: *line,
                            field: None,
                            message: format!("read error: {e}"),
                        }));
                    }
                }
            },
        }
    }
}

// ---- cells -------------------------------------------------------------------------------

fn optional(cell: &str) -> Option<String> {
    (!cell.is_empty()).then(|| cell.to_owned())
}

fn optional_date(name: &str, cell: &str) -> Result<Option<Date>, String> {
    if cell.is_empty() {
        Ok(None)
    } else {
        parse_date(cell)
            .map(Some)
            .map_err(|e| format!("{name}: {e}"))
    }
}

fn required_date(name: &str, cell: &str) -> Result<Date, String> {
    parse_date(cell).map_err(|e| format!("{name}: {e}"))
}

fn boolean(name: &str, cell: &str) -> Result<bool, String> {
    match cell {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{name}: `{cell}` is not true or false")),
    }
}

fn code(name: &str, value: &str, directory: &[&str]) -> Result<(), String> {
    if directory.contains(&value) {
        Ok(())
    } else {
        Err(format!("{name}: `{value}` is not in the code directory"))
    }
}

fn optional_code(name: &str, value: Option<&String>, directory: &[&str]) -> Result<(), String> {
    value.map_or(Ok(()), |v| code(name, v, directory))
}

fn uin(name: &str, value: &str) -> Result<(), String> {
    if uin_is_valid(value) {
        Ok(())
    } else {
        Err(format!(
            "{name}: `{value}` is not a valid UIN (10 digits, Verhoeff check digit)"
        ))
    }
}

fn not_empty(name: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{name} is empty"))
    } else {
        Ok(())
    }
}

impl Row for Household {
    const COLUMNS: &'static [&'static str] = &[
        "household_id",
        "group_type",
        "poverty_score",
        "poverty_score_type",
        "region_code",
        "district_code",
        "location_code",
        "head_uin",
        "size",
        "registration_date",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        let poverty_score = field(2)
            .parse::<f64>()
            .map_err(|_| format!("poverty_score: `{}` is not a number", field(2)))?;
        let size = field(8)
            .parse::<u32>()
            .map_err(|_| format!("size: `{}` is not a count", field(8)))?;
        Ok(Household {
            household_id: field(0).to_owned(),
            group_type: field(1).to_owned(),
            poverty_score,
            poverty_score_type: field(3).to_owned(),
            region_code: field(4).to_owned(),
            district_code: field(5).to_owned(),
            location_code: field(6).to_owned(),
            head_uin: field(7).to_owned(),
            size,
            registration_date: required_date("registration_date", field(9))?,
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("household_id", &self.household_id)?;
        code("group_type", &self.group_type, GROUP_TYPES)?;
        if !(0.0..=100.0).contains(&self.poverty_score) {
            return Err(format!(
                "poverty_score: {} is outside 0–100",
                self.poverty_score
            ));
        }
        not_empty("poverty_score_type", &self.poverty_score_type)?;
        not_empty("region_code", &self.region_code)?;
        let within = |child: &str, parent: &str| {
            child.len() > parent.len() + 1
                && child.starts_with(parent)
                && child.as_bytes()[parent.len()] == b'-'
        };
        if !within(&self.district_code, &self.region_code) {
            return Err(format!(
                "district_code: `{}` is not in region `{}`",
                self.district_code, self.region_code
            ));
        }
        if !within(&self.location_code, &self.district_code) {
            return Err(format!(
                "location_code: `{}` is not in district `{}`",
                self.location_code, self.district_code
            ));
        }
        uin("head_uin", &self.head_uin)
    }
}

impl Row for Person {
    const COLUMNS: &'static [&'static str] = &[
        "uin",
        "given_name",
        "surname",
        "sex",
        "birth_date",
        "death_date",
        "marital_status",
        "household_id",
        "relationship_to_head",
        "education_level",
        "employment_status",
        "is_disabled",
        "mother_uin",
        "father_uin",
        "spouse_uin",
        "phone_number",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Person {
            uin: field(0).to_owned(),
            given_name: field(1).to_owned(),
            surname: field(2).to_owned(),
            sex: field(3).to_owned(),
            birth_date: required_date("birth_date", field(4))?,
            death_date: optional_date("death_date", field(5))?,
            marital_status: field(6).to_owned(),
            household_id: optional(field(7)),
            relationship_to_head: optional(field(8)),
            education_level: optional(field(9)),
            employment_status: optional(field(10)),
            is_disabled: boolean("is_disabled", field(11))?,
            mother_uin: optional(field(12)),
            father_uin: optional(field(13)),
            spouse_uin: optional(field(14)),
            phone_number: optional(field(15)),
        })
    }

    fn check(&self) -> Result<(), String> {
        uin("uin", &self.uin)?;
        not_empty("given_name", &self.given_name)?;
        not_empty("surname", &self.surname)?;
        code("sex", &self.sex, SEXES)?;
        if let Some(death) = self.death_date
            && death < self.birth_date
        {
            return Err(format!(
                "death_date {death} is before birth_date {}",
                self.birth_date
            ));
        }
        code("marital_status", &self.marital_status, MARITAL_STATUSES)?;
        if let Some(household) = &self.household_id {
            not_empty("household_id", household)?;
        }
        optional_code(
            "relationship_to_head",
            self.relationship_to_head.as_ref(),
            RELATIONSHIPS,
        )?;
        if self.relationship_to_head.is_some() && self.household_id.is_none() {
            return Err("relationship_to_head is set without a household_id".to_owned());
        }
        optional_code(
            "education_level",
            self.education_level.as_ref(),
            EDUCATION_LEVELS,
        )?;
        optional_code(
            "employment_status",
            self.employment_status.as_ref(),
            EMPLOYMENT_STATUSES,
        )?;
        for (name, value) in [
            ("mother_uin", &self.mother_uin),
            ("father_uin", &self.father_uin),
            ("spouse_uin", &self.spouse_uin),
        ] {
            if let Some(value) = value {
                uin(name, value)?;
                if *value == self.uin {
                    return Err(format!("{name} is the person's own UIN"));
                }
            }
        }
        if let Some(phone) = &self.phone_number {
            let digits = phone.strip_prefix('+').unwrap_or("");
            if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "phone_number: `{phone}` is not an E.164 number (+ and 7 to 15 digits)"
                ));
            }
        }
        Ok(())
    }
}

impl Row for Marriage {
    const COLUMNS: &'static [&'static str] = &[
        "mrn",
        "spouse1_uin",
        "spouse2_uin",
        "marriage_date",
        "marriage_place",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Marriage {
            mrn: field(0).to_owned(),
            spouse1_uin: field(1).to_owned(),
            spouse2_uin: field(2).to_owned(),
            marriage_date: required_date("marriage_date", field(3))?,
            marriage_place: optional(field(4)),
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("mrn", &self.mrn)?;
        uin("spouse1_uin", &self.spouse1_uin)?;
        uin("spouse2_uin", &self.spouse2_uin)?;
        if self.spouse1_uin == self.spouse2_uin {
            return Err("spouse1_uin and spouse2_uin are the same person".to_owned());
        }
        if let Some(place) = &self.marriage_place {
            not_empty("marriage_place", place)?;
        }
        Ok(())
    }
}

/// Streams the enrolments of a `.csv` or `.jsonl` file, validating each row. A bad row yields
/// a [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_enrolments(path: &Path) -> Result<Rows<Enrolment>, ReadError> {
    Rows::<Enrolment>::open(path)
}

/// Streams the benefits of a `.csv` or `.jsonl` file, validating each row. A bad row yields a
/// [`ReadError`] with its line number and the iteration goes on; an I/O error ends it.
pub fn read_benefits(path: &Path) -> Result<Rows<Benefit>, ReadError> {
    Rows::<Benefit>::open(path)
}

fn parse_list<T: std::str::FromStr<Err: fmt::Display>>(
    name: &str,
    cell: &str,
) -> Result<Vec<T>, String> {
    list::parse(cell).map_err(|e| format!("{name}: {e}"))
}

fn one_of(name: &str, value: &str, codes: &[&str]) -> Result<(), String> {
    if codes.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{name}: `{value}` is not one of {}",
            codes.join(", ")
        ))
    }
}

impl Row for Disability {
    const COLUMNS: &'static [&'static str] = &[
        "dcn",
        "uin",
        "status",
        "disability_level",
        "difficulties",
        "impairment_cause",
        "age_on_set",
        "supports",
        "transport_requirement",
        "housing_type",
        "application_date",
        "assessment_date",
        "expiry_date",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Disability {
            dcn: field(0).to_owned(),
            uin: field(1).to_owned(),
            status: field(2).to_owned(),
            disability_level: optional(field(3)),
            difficulties: parse_list::<Difficulty>("difficulties", field(4))?,
            impairment_cause: field(5).to_owned(),
            age_on_set: field(6).to_owned(),
            supports: parse_list::<Support>("supports", field(7))?,
            transport_requirement: field(8).to_owned(),
            housing_type: field(9).to_owned(),
            application_date: required_date("application_date", field(10))?,
            assessment_date: optional_date("assessment_date", field(11))?,
            expiry_date: optional_date("expiry_date", field(12))?,
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("dcn", &self.dcn)?;
        uin("uin", &self.uin)?;
        one_of("status", &self.status, &["0", "1", "2", "3"])?;
        if let Some(level) = &self.disability_level {
            one_of("disability_level", level, &["1", "2", "3", "4"])?;
        }
        if self.difficulties.is_empty() {
            return Err("difficulties is empty".to_owned());
        }
        one_of(
            "impairment_cause",
            &self.impairment_cause,
            &["0", "1", "2", "3", "4", "5", "6", "7", "8"],
        )?;
        one_of("age_on_set", &self.age_on_set, &["0", "1", "2", "3"])?;
        one_of(
            "transport_requirement",
            &self.transport_requirement,
            &["0", "1", "2"],
        )?;
        one_of("housing_type", &self.housing_type, &["1", "2", "3", "4"])?;
        let pending = self.status == crate::disability::PENDING;
        if pending != self.assessment_date.is_none() {
            return Err("assessment_date is set exactly when the status is not pending".to_owned());
        }
        if let Some(assessed) = self.assessment_date
            && assessed < self.application_date
        {
            return Err(format!(
                "assessment_date {assessed} is before application_date {}",
                self.application_date
            ));
        }
        if let (Some(assessed), Some(expiry)) = (self.assessment_date, self.expiry_date)
            && expiry <= assessed
        {
            return Err(format!(
                "expiry_date {expiry} is not after assessment_date {assessed}"
            ));
        }
        Ok(())
    }
}

impl Row for Farmer {
    const COLUMNS: &'static [&'static str] = &[
        "fid",
        "uin",
        "household_id",
        "farm_type",
        "livestock",
        "registration_date",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Farmer {
            fid: field(0).to_owned(),
            uin: field(1).to_owned(),
            household_id: field(2).to_owned(),
            farm_type: field(3).to_owned(),
            livestock: parse_list::<Livestock>("livestock", field(4))?,
            registration_date: required_date("registration_date", field(5))?,
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("fid", &self.fid)?;
        uin("uin", &self.uin)?;
        not_empty("household_id", &self.household_id)?;
        one_of(
            "farm_type",
            &self.farm_type,
            &["1", "2", "3", "4", "5", "6"],
        )
    }
}

impl Row for Parcel {
    const COLUMNS: &'static [&'static str] = &[
        "lpi",
        "fid",
        "location_code",
        "land_size",
        "land_tenure",
        "crops",
        "irrigated",
        "registration_date",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Parcel {
            lpi: field(0).to_owned(),
            fid: field(1).to_owned(),
            location_code: field(2).to_owned(),
            land_size: field(3)
                .parse()
                .map_err(|_| format!("land_size: `{}` is not a number", field(3)))?,
            land_tenure: field(4).to_owned(),
            crops: parse_list::<String>("crops", field(5))?,
            irrigated: boolean("irrigated", field(6))?,
            registration_date: required_date("registration_date", field(7))?,
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("lpi", &self.lpi)?;
        not_empty("fid", &self.fid)?;
        not_empty("location_code", &self.location_code)?;
        if !(self.land_size.is_finite() && self.land_size > 0.0) {
            return Err(format!(
                "land_size: {} is not a positive number of hectares",
                self.land_size
            ));
        }
        one_of(
            "land_tenure",
            &self.land_tenure,
            &["1", "2", "3", "4", "5", "6", "7"],
        )?;
        for crop in &self.crops {
            if !CROPS.iter().any(|(name, _)| name == crop) {
                return Err(format!("crops: `{crop}` is not a crop of the directory"));
            }
        }
        Ok(())
    }
}

impl Row for Enrolment {
    const COLUMNS: &'static [&'static str] = &[
        "programme",
        "beneficiary_id",
        "assistance_unit",
        "uin",
        "household_id",
        "status",
        "enrolment_date",
        "status_date",
        "status_reason",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Enrolment {
            programme: field(0).to_owned(),
            beneficiary_id: field(1).to_owned(),
            assistance_unit: field(2).to_owned(),
            uin: field(3).to_owned(),
            household_id: optional(field(4)),
            status: field(5).to_owned(),
            enrolment_date: required_date("enrolment_date", field(6))?,
            status_date: optional_date("status_date", field(7))?,
            status_reason: optional(field(8)),
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("programme", &self.programme)?;
        not_empty("beneficiary_id", &self.beneficiary_id)?;
        one_of("assistance_unit", &self.assistance_unit, &["1", "2", "3"])?;
        uin("uin", &self.uin)?;
        if self.assistance_unit == "1" && self.beneficiary_id != self.uin {
            return Err(format!(
                "beneficiary_id {} is not the UIN {} of a person's enrolment",
                self.beneficiary_id, self.uin
            ));
        }
        one_of("status", &self.status, &["1", "2", "3", "4", "5", "6"])?;
        if let Some(changed) = self.status_date
            && changed < self.enrolment_date
        {
            return Err(format!(
                "status_date {changed} is before enrolment_date {}",
                self.enrolment_date
            ));
        }
        Ok(())
    }
}

impl Row for Benefit {
    const COLUMNS: &'static [&'static str] = &[
        "benefit_id",
        "programme",
        "beneficiary_id",
        "benefit_type",
        "benefit_date",
        "amount",
        "currency",
        "payment_status",
    ];

    fn from_cells<'a>(field: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Ok(Benefit {
            benefit_id: field(0).to_owned(),
            programme: field(1).to_owned(),
            beneficiary_id: field(2).to_owned(),
            benefit_type: field(3).to_owned(),
            benefit_date: required_date("benefit_date", field(4))?,
            amount: field(5)
                .parse()
                .map_err(|_| format!("amount: `{}` is not a whole number", field(5)))?,
            currency: field(6).to_owned(),
            payment_status: field(7).to_owned(),
        })
    }

    fn check(&self) -> Result<(), String> {
        not_empty("benefit_id", &self.benefit_id)?;
        not_empty("programme", &self.programme)?;
        not_empty("beneficiary_id", &self.beneficiary_id)?;
        one_of(
            "benefit_type",
            &self.benefit_type,
            &["1", "2", "3", "4", "5", "6"],
        )?;
        if self.amount <= 0 {
            return Err(format!(
                "amount: {} is not a positive number of minor units",
                self.amount
            ));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "currency: `{}` is not an ISO 4217 code",
                self.currency
            ));
        }
        one_of("payment_status", &self.payment_status, &["1", "2"])
    }
}

// ---- dates -------------------------------------------------------------------------------

/// `YYYY-MM-DD` for years 0–9999.
fn format_date(date: Date) -> [u8; 10] {
    let mut out = *b"0000-00-00";
    let year = date.year().clamp(0, 9999) as u32;
    let month = date.month() as u32;
    let day = u32::from(date.day());
    for (i, divisor) in [1000, 100, 10, 1].into_iter().enumerate() {
        out[i] = b'0' + (year / divisor % 10) as u8;
    }
    out[5] = b'0' + (month / 10) as u8;
    out[6] = b'0' + (month % 10) as u8;
    out[8] = b'0' + (day / 10) as u8;
    out[9] = b'0' + (day % 10) as u8;
    out
}

/// Parses exactly `YYYY-MM-DD`.
fn parse_date(text: &str) -> Result<Date, String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let bad = || format!("`{text}` is not a date (YYYY-MM-DD)");
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return Err(bad());
    };
    let month = Month::try_from(month as u8).map_err(|_| bad())?;
    Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())
}

/// Serde for a list as one text cell: its items' text joined by `;` (`""` is empty).
pub(crate) mod list {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn parse<T: FromStr<Err: Display>>(text: &str) -> Result<Vec<T>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| T::from_str(item).map_err(|e| e.to_string()))
            .collect()
    }

    pub(crate) fn serialize<T: Display, S: Serializer>(
        items: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = items.iter().map(ToString::to_string).collect();
        serializer.serialize_str(&text.join(";"))
    }

    pub(crate) fn deserialize<'de, T: FromStr<Err: Display>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// Serde for `Date` as `YYYY-MM-DD`.
pub(crate) mod date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;

    pub(crate) fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        let text = super::format_date(*date);
        serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_date(&text).map_err(D::Error::custom)
    }
}

/// Serde for `Option<Date>` as `YYYY-MM-DD`, `null` or an empty string.
pub(crate) mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;

    struct Text(Date);

    impl serde::Serialize for Text {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::date::serialize(&self.0, serializer)
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        date: &Option<Date>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_some(&Text(*date)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => super::parse_date(&text).map(Some).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_strictly() {
        let d = time::macros::date!(2024 - 02 - 29);
        assert_eq!(&format_date(d), b"2024-02-29");
        assert_eq!(parse_date("2024-02-29"), Ok(d));
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "2024-13-01",
            "24-02-290",
            "2024/02/29",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_match_serde_field_order() {
        fn header<T: Serialize>(row: &T) -> String {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(row).unwrap();
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            text.lines().next().unwrap().to_owned()
        }
        let population = crate::generate(&crate::Config {
            people: 5,
            seed: 1,
            today: time::macros::date!(2025 - 01 - 01),
        });
        assert_eq!(
            header(&population.households[0]),
            Household::COLUMNS.join(",")
        );
        assert_eq!(header(&population.persons[0]), Person::COLUMNS.join(","));
        let marriage = Marriage {
            mrn: "2001000000001".into(),
            spouse1_uin: population.persons[0].uin.clone(),
            spouse2_uin: population.persons[1].uin.clone(),
            marriage_date: time::macros::date!(2001 - 01 - 01),
            marriage_place: None,
        };
        assert_eq!(header(&marriage), Marriage::COLUMNS.join(","));
        let today = time::macros::date!(2025 - 01 - 01);
        let disability = Disability {
            dcn: "2024000000001".into(),
            uin: population.persons[0].uin.clone(),
            status: "1".into(),
            disability_level: None,
            difficulties: vec!["MOB_SS:3".parse().unwrap()],
            impairment_cause: "2".into(),
            age_on_set: "2".into(),
            supports: vec![],
            transport_requirement: "1".into(),
            housing_type: "1".into(),
            application_date: today,
            assessment_date: None,
            expiry_date: None,
        };
        assert_eq!(header(&disability), Disability::COLUMNS.join(","));
        let farmer = Farmer {
            fid: "2024000000001".into(),
            uin: population.persons[0].uin.clone(),
            household_id: "HH00000001".into(),
            farm_type: "1".into(),
            livestock: vec!["6:12".parse().unwrap()],
            registration_date: today,
        };
        assert_eq!(header(&farmer), Farmer::COLUMNS.join(","));
        let parcel = Parcel {
            lpi: "2024000000001-1".into(),
            fid: "2024000000001".into(),
            location_code: "R01-D01-S01".into(),
            land_size: 0.5,
            land_tenure: "1".into(),
            crops: vec!["maize".into(), "beans".into()],
            irrigated: false,
            registration_date: today,
        };
        assert_eq!(header(&parcel), Parcel::COLUMNS.join(","));
    }
}
