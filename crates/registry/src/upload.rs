//! `POST /registrar/import`: an import's files uploaded over HTTP, answered with the import's
//! report and every refused row (file, line, field, reason), as `spx import --errors` writes
//! them.
//!
//! The body is a `multipart/form-data` form with one file per part, named as `spx import`
//! names them (`locations.json`, `households.csv`, `persons.jsonl` ...: the part's file name
//! says what it holds). Each file is streamed to the registry's import directory (bounded
//! memory, whatever its size) and renamed into place only once whole, then the import runs
//! as `spx import` does: validated row by row, in large transactions, each with its
//! checkpoint. An upload cut short, or an import stopped by a crash, is resumed by sending
//! the same files again: the import skips the rows its checkpoint holds. One import runs at a
//! time; another upload meanwhile gets `503 err.service.unavailable`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dci::ReasonCode;
use futures::StreamExt;
use serde::Serialize;

use crate::Registry;
use crate::http::http_error as refuse;
use crate::import::{ImportError, ImportFiles, ImportOptions, ImportReport};
use crate::multipart::{Event, Parser};

/// Where a registry keeps the files of an upload being imported, and the error file.
const REFUSED: &str = "refused.csv";

/// The answer to an upload: what the import loaded, and every row it refused.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    /// The import's report (its `rejected` holds the first refused rows only).
    pub report: ImportReport,
    /// Every refused row, in file order.
    pub refused: Vec<RefusedRow>,
}

/// A row the import refused.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct RefusedRow {
    /// The file's name as uploaded.
    pub file: String,
    /// Its line (1 = the first line of the file).
    pub line: u64,
    /// The field at fault, when one is.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// The registrar's import endpoint.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new().route("/registrar/import", axum::routing::post(upload))
}

async fn upload(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let Some(dir) = registry.config.imports.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            ReasonCode::RequestNotFound,
            "this service has no import directory (it runs without service.data_dir)".into(),
        );
    };
    let Ok(_running) = registry.importing.try_lock() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ReasonCode::ServiceUnavailable,
            "an import is running on this registry; send the files again when it has ended".into(),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return response;
    };
    let files = match receive(&dir, request).await {
        Ok(files) => files,
        Err(response) => return response,
    };
    let classified = match ImportFiles::classify(&files) {
        Ok(classified) => classified,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ReasonCode::RequestBad,
                e.to_string(),
            );
        }
    };
    let refused_file = dir.join(REFUSED);
    let options = ImportOptions {
        errors: Some(refused_file.clone()),
        ..ImportOptions::default()
    };
    let report = match crate::import::import(
        registry.profile.role,
        registry.store.as_ref(),
        &classified,
        &options,
    )
    .await
    {
        Ok(report) => report,
        Err(e @ (ImportError::NotEmpty(_) | ImportError::OtherFiles(_))) => {
            return refuse(StatusCode::CONFLICT, ReasonCode::RequestBad, e.to_string());
        }
        Err(e) => {
            // The files and the error file stay: the same upload again resumes the import.
            tracing::warn!(error = %e, "an uploaded import failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ReasonCode::ServiceUnavailable,
                format!(
                    "the import stopped: {e} (one the store cut short resumes when the same files are sent again)"
                ),
            );
        }
    };
    let refused = match read_refused(&refused_file) {
        Ok(rows) => rows,
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ReasonCode::ServiceUnavailable,
                format!("the import ended but its error file cannot be read: {e}"),
            );
        }
    };
    for file in files.iter().chain([&refused_file]) {
        let _ = std::fs::remove_file(file);
    }
    axum::Json(UploadReport { report, refused }).into_response()
}

/// Streams the form's files into `dir`, each renamed into place once whole; their paths.
async fn receive(dir: &Path, request: Request) -> Result<Vec<PathBuf>, Response> {
    let bad = |message: String| refuse(StatusCode::BAD_REQUEST, ReasonCode::RequestBad, message);
    let Some(content_type) = crate::multipart::form_content_type(request.headers()) else {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ReasonCode::RequestBad,
            "send the import's files as multipart/form-data, one file per part".into(),
        ));
    };
    let mut parser = Parser::new(&content_type).map_err(|e| bad(e.to_string()))?;
    let failed = |e: std::io::Error| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            ReasonCode::ServiceUnavailable,
            format!("cannot write the upload to {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut body = request.into_body().into_data_stream();
    let mut files = Vec::new();
    let mut current: Option<Spool> = None;
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| bad(format!("the upload was cut short: {e}")))?;
        parser
            .feed(&chunk, &mut events)
            .map_err(|e| bad(e.to_string()))?;
        for event in events.drain(..) {
            match event {
                Event::Part { name, filename } => {
                    let name = filename.unwrap_or(name);
                    let path = dir.join(file_name(&name).ok_or_else(|| {
                        bad(format!("'{name}' is not a file name an import takes"))
                    })?);
                    // Refused by its name before anything is written.
                    if let Err(ImportError::File(_, why)) =
                        ImportFiles::classify(std::slice::from_ref(&path))
                    {
                        return Err(bad(format!("{name}: {why}")));
                    }
                    current = Some(Spool::create(path).map_err(failed)?);
                }
                Event::Data(data) => {
                    if let Some(spool) = &mut current {
                        spool.write(data).await.map_err(failed)?;
                    }
                }
                Event::End => {
                    if let Some(spool) = current.take() {
                        files.push(spool.finish().await.map_err(failed)?);
                    }
                }
            }
        }
    }
    parser.finish().map_err(|e| bad(e.to_string()))?;
    if files.is_empty() {
        return Err(bad("the form holds no file".into()));
    }
    Ok(files)
}

/// An uploaded file being written: to `<name>.part`, in writes of about a megabyte off the
/// async threads, renamed to its name once whole and on disk.
struct Spool {
    path: PathBuf,
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
}

/// Bytes gathered before a write.
const SPOOL_WRITE: usize = 1 << 20;

impl Spool {
    fn create(path: PathBuf) -> std::io::Result<Self> {
        let file = std::fs::File::create(partial(&path))?;
        Ok(Spool {
            path,
            file: Some(file),
            buffer: Vec::with_capacity(SPOOL_WRITE),
        })
    }

    async fn write(&mut self, data: Vec<u8>) -> std::io::Result<()> {
        self.buffer.extend_from_slice(&data);
        if self.buffer.len() >= SPOOL_WRITE {
            self.flush(false).await?;
        }
        Ok(())
    }

    /// Writes what is gathered (and syncs the file when `sync`), on a blocking thread.
    async fn flush(&mut self, sync: bool) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("closed"))?;
        let buffer = std::mem::take(&mut self.buffer);
        let (file, mut buffer) = tokio::task::spawn_blocking(move || {
            file.write_all(&buffer)?;
            if sync {
                file.sync_all()?;
            }
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await
        .map_err(std::io::Error::other)??;
        buffer.clear();
        self.file = Some(file);
        self.buffer = buffer;
        Ok(())
    }

    /// The whole file, in place: its path.
    async fn finish(mut self) -> std::io::Result<PathBuf> {
        self.flush(true).await?;
        std::fs::rename(partial(&self.path), &self.path)?;
        Ok(self.path)
    }
}

/// Where a file is written until it is whole.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The last component of an uploaded file's name, when it is a plain file name.
fn file_name(name: &str) -> Option<&str> {
    let name = name.rsplit(['/', '\\']).next()?;
    (!name.is_empty() && name != "." && name != ".." && name != REFUSED).then_some(name)
}

/// The rows of an import's error file, each under its file's name.
fn read_refused(path: &Path) -> Result<Vec<RefusedRow>, csv::Error> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for row in csv::Reader::from_path(path)?.into_deserialize() {
        let mut row: RefusedRow = row?;
        if let Some(name) = Path::new(&row.file).file_name() {
            row.file = name.to_string_lossy().into_owned();
        }
        rows.push(row);
    }
    Ok(rows)
}
