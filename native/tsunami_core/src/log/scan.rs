//! Sequential reading of a data file's records, for recovery and merge.

use super::error::{LogError, LogResult};
use super::files::{data_header, FILE_HEADER};
use super::record::{parse_header, Header, RECORD_HEADER};
use crate::config::LOG_SCAN_BUFFER;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// What the next read found.
pub enum Scanned<'a> {
    /// A whole record whose CRC checks, starting at `offset`.
    Record {
        offset: u64,
        header: Header,
        payload: &'a [u8],
    },
    /// Clean end of file after the last record.
    End,
    /// A record that is cut short or fails its length or CRC checks, starting at `offset`:
    /// the valid data ends there.
    Torn { offset: u64, reason: &'static str },
}

pub struct Scanner {
    reader: BufReader<File>,
    path: PathBuf,
    pos: u64,
    buf: Vec<u8>,
}

/// Reads as much of `buf` as the file holds: the count read (short only at end of file).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Scanner {
    /// Opens a data file and checks its 16-byte header. `Ok(None)`: the header is missing or
    /// wrong (a file created by a writer killed before its header was whole).
    pub fn open(path: &Path) -> LogResult<Option<Scanner>> {
        let file = File::open(path).map_err(|e| LogError::io("open", path, &e))?;
        let mut reader = BufReader::with_capacity(LOG_SCAN_BUFFER, file);
        let mut h = [0u8; FILE_HEADER as usize];
        let n = read_full(&mut reader, &mut h).map_err(|e| LogError::io("read", path, &e))?;
        if n < h.len() || h != data_header() {
            return Ok(None);
        }
        Ok(Some(Scanner {
            reader,
            path: path.to_path_buf(),
            pos: FILE_HEADER,
            buf: Vec::new(),
        }))
    }

    pub fn next(&mut self) -> LogResult<Scanned<'_>> {
        let offset = self.pos;
        let io = |e: io::Error| LogError::io("read", &self.path, &e);
        let mut h = [0u8; RECORD_HEADER];
        let n = read_full(&mut self.reader, &mut h).map_err(io)?;
        if n == 0 {
            return Ok(Scanned::End);
        }
        if n < RECORD_HEADER {
            return Ok(Scanned::Torn {
                offset,
                reason: "record header cut short",
            });
        }
        let header = parse_header(&h);
        if !header.plausible() {
            return Ok(Scanned::Torn {
                offset,
                reason: "record length or count impossible",
            });
        }
        self.buf.resize(header.len as usize, 0);
        let n = read_full(&mut self.reader, &mut self.buf).map_err(io)?;
        if n < self.buf.len() {
            return Ok(Scanned::Torn {
                offset,
                reason: "record cut short",
            });
        }
        if !header.check(&h, &self.buf) {
            return Ok(Scanned::Torn {
                offset,
                reason: "record CRC mismatch",
            });
        }
        self.pos += (RECORD_HEADER + self.buf.len()) as u64;
        Ok(Scanned::Record {
            offset,
            header,
            payload: &self.buf,
        })
    }
}
