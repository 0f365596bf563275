//! `multipart/form-data` (RFC 7578), read as a stream: the DCI file variant of a request
//! (dci-spec §2.10: form fields `action`, `fileName`, `fileFormat`) and the import upload
//! (`POST /registrar/import`, one part per file). Parts arrive as events, so that a file of
//! gigabytes goes to disk without being held in memory; the parser keeps at most one header
//! block and the tail of a chunk that may hold the start of a boundary.

use std::fmt;

/// Most bytes of one part's header block.
const MAX_HEADERS: usize = 16 * 1024;

/// What the parser found in the chunks fed to it, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A part begins: its form field name and, for a file, its file name.
    Part {
        /// The `name` of its `Content-Disposition: form-data`.
        name: String,
        /// The `filename`, when the part is a file.
        filename: Option<String>,
    },
    /// Bytes of the current part's content.
    Data(Vec<u8>),
    /// The current part ended.
    End,
}

/// Why a body is not a well-formed `multipart/form-data`.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed multipart/form-data: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary.
    Preamble,
    /// After a boundary: `--` (the last) or CRLF and a part's headers.
    AfterBoundary,
    /// In a part's header block.
    Headers,
    /// In a part's content.
    Body,
    /// After the closing boundary.
    Done,
}

/// A streaming `multipart/form-data` parser.
#[derive(Debug)]
pub struct Parser {
    /// `\r\n--boundary`: what ends a part's content.
    delimiter: Vec<u8>,
    buffer: Vec<u8>,
    state: State,
}

/// A request's `Content-Type` when it is `multipart/form-data`.
pub fn form_content_type(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| is_form_data(t))
        .map(str::to_string)
}

/// Whether a `Content-Type` is `multipart/form-data`.
pub fn is_form_data(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/form-data"))
}

impl Parser {
    /// A parser for a body of `content_type` (`multipart/form-data; boundary=...`).
    pub fn new(content_type: &str) -> Result<Self, Malformed> {
        if !is_form_data(content_type) {
            return Err(Malformed(
                "the Content-Type is not multipart/form-data".into(),
            ));
        }
        let boundary = content_type
            .split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty() && b.len() <= 70)
            .ok_or_else(|| {
                Malformed("the Content-Type has no boundary of 1 to 70 characters".into())
            })?;
        // The body's first boundary has no CRLF before it: the buffer starts with one.
        Ok(Parser {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            buffer: b"\r\n".to_vec(),
            state: State::Preamble,
        })
    }

    /// Feeds the next chunk of the body; the events it completes are appended to `events`.
    pub fn feed(&mut self, chunk: &[u8], events: &mut Vec<Event>) -> Result<(), Malformed> {
        self.buffer.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            let rest = &self.buffer[at..];
            match self.state {
                State::Preamble => match find(rest, &self.delimiter) {
                    Some(i) => {
                        at += i + self.delimiter.len();
                        self.state = State::AfterBoundary;
                    }
                    None => {
                        // Keep what may be the start of the delimiter.
                        at += rest.len().saturating_sub(self.delimiter.len());
                        break;
                    }
                },
                State::AfterBoundary => {
                    if rest.len() < 2 {
                        break;
                    }
                    if rest.starts_with(b"--") {
                        self.state = State::Done;
                        at = self.buffer.len();
                    } else if rest.starts_with(b"\r\n") {
                        at += 2;
                        self.state = State::Headers;
                    } else {
                        // Transport padding (spaces, tabs) may follow a boundary.
                        let Some(end) = find(rest, b"\r\n") else {
                            break;
                        };
                        if !rest[..end].iter().all(|b| *b == b' ' || *b == b'\t') {
                            return Err(Malformed("a boundary is followed by text".into()));
                        }
                        at += end;
                    }
                }
                State::Headers => match find(rest, b"\r\n\r\n") {
                    Some(end) => {
                        events.push(part(&rest[..end])?);
                        at += end + 4;
                        self.state = State::Body;
                    }
                    None if rest.len() > MAX_HEADERS => {
                        return Err(Malformed(format!(
                            "a part's headers are longer than {MAX_HEADERS} bytes"
                        )));
                    }
                    None => break,
                },
                State::Body => match find(rest, &self.delimiter) {
                    Some(end) => {
                        if end > 0 {
                            events.push(Event::Data(rest[..end].to_vec()));
                        }
                        events.push(Event::End);
                        at += end + self.delimiter.len();
                        self.state = State::AfterBoundary;
                    }
                    None => {
                        let safe = rest.len().saturating_sub(self.delimiter.len() - 1);
                        if safe > 0 {
                            events.push(Event::Data(rest[..safe].to_vec()));
                        }
                        at += safe;
                        break;
                    }
                },
                State::Done => {
                    at = self.buffer.len();
                    break;
                }
            }
        }
        self.buffer.drain(..at);
        Ok(())
    }

    /// Whether the closing boundary was read; a body that ends before it was cut short.
    pub fn finish(&self) -> Result<(), Malformed> {
        match self.state {
            State::Done => Ok(()),
            State::Preamble => Err(Malformed("no boundary in the body".into())),
            _ => Err(Malformed(
                "the body ends before its closing boundary".into(),
            )),
        }
    }
}

/// One field of a form read whole: its name, file name and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The form field's name.
    pub name: String,
    /// The file name, when the field is a file.
    pub filename: Option<String>,
    /// The content.
    pub data: Vec<u8>,
}

/// Reads a whole form held in memory (a body already read within its limit).
pub fn read(content_type: &str, body: &[u8]) -> Result<Vec<Field>, Malformed> {
    let mut parser = Parser::new(content_type)?;
    let mut events = Vec::new();
    parser.feed(body, &mut events)?;
    parser.finish()?;
    let mut fields: Vec<Field> = Vec::new();
    for event in events {
        match event {
            Event::Part { name, filename } => fields.push(Field {
                name,
                filename,
                data: Vec::new(),
            }),
            Event::Data(data) => {
                if let Some(field) = fields.last_mut() {
                    field.data.extend_from_slice(&data);
                }
            }
            Event::End => {}
        }
    }
    Ok(fields)
}

/// The part a header block begins: its `Content-Disposition: form-data` name and file name.
fn part(headers: &[u8]) -> Result<Event, Malformed> {
    let headers = std::str::from_utf8(headers)
        .map_err(|_| Malformed("a part's headers are not UTF-8".into()))?;
    let disposition = headers
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| Malformed("a part has no Content-Disposition".into()))?;
    let mut params = disposition.split(';');
    if !params
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(Malformed(format!(
            "a part's Content-Disposition is not form-data: {disposition}"
        )));
    }
    let (mut name, mut filename) = (None, None);
    for param in params {
        if let Some((key, value)) = param.trim().split_once('=') {
            let value = value.trim().trim_matches('"').to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(value),
                "filename" => filename = Some(value),
                _ => {}
            }
        }
    }
    let name = name.ok_or_else(|| Malformed("a part has no name".into()))?;
    Ok(Event::Part { name, filename })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=XyZ";

    fn body() -> Vec<u8> {
        b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nsearch\r\n--XyZ\r\nContent-Disposition: form-data; name=\"fileName\"; filename=\"req.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\"--Xy\r\n--XyQ\"}\r\n--XyZ--\r\nepilogue".to_vec()
    }

    #[test]
    fn reads_fields_and_files_whatever_the_chunking() {
        let whole = read(TYPE, &body()).unwrap();
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].name, "action");
        assert_eq!(whole[0].data, b"search");
        assert_eq!(whole[1].filename.as_deref(), Some("req.json"));
        assert_eq!(whole[1].data, b"{\"a\":\"--Xy\r\n--XyQ\"}".to_vec());
        // Fed one byte at a time, the same fields.
        for size in [1, 2, 3, 7, 64] {
            let mut parser = Parser::new(TYPE).unwrap();
            let mut events = Vec::new();
            for chunk in body().chunks(size) {
                parser.feed(chunk, &mut events).unwrap();
            }
            parser.finish().unwrap();
            let file: Vec<u8> = events
                .iter()
                .skip_while(|e| !matches!(e, Event::Part { name, .. } if name == "fileName"))
                .filter_map(|e| match e {
                    Event::Data(d) => Some(d.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(file, whole[1].data, "chunks of {size}");
            assert_eq!(events.iter().filter(|e| **e == Event::End).count(), 2);
        }
    }

    #[test]
    fn refuses_what_is_not_a_form() {
        assert!(Parser::new("application/json").is_err());
        assert!(Parser::new("multipart/form-data").is_err());
        let cut = &body()[..60];
        assert!(read(TYPE, cut).unwrap_err().0.contains("closing boundary"));
        assert!(
            read(TYPE, b"no boundary here")
                .unwrap_err()
                .0
                .contains("no boundary")
        );
        let nameless = b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--";
        assert!(read(TYPE, nameless).unwrap_err().0.contains("no name"));
        let glued = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZZ\r\n";
        assert!(
            read(TYPE, glued)
                .unwrap_err()
                .0
                .contains("followed by text")
        );
        let quoted = "multipart/form-data; boundary=\"XyZ\"";
        assert_eq!(read(quoted, &body()).unwrap().len(), 2);
    }
}
