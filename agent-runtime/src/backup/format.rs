//! The backup's data file: gzip-compressed JSON lines, backend-neutral.
//!
//! ```text
//! {"format":"tradeplane-journal-dump","version":1}
//! {"table":"cycles","columns":["cycle_id","started_at",...]}
//! ["c-1","2026-01-02T14:30:00.000000Z",...]
//! ...
//! {"end":{"rows":1234}}
//! ```
//!
//! The writer and the reader both compute a SHA-256 of the compressed bytes (the file's
//! checksum) and, per table, a row count and a SHA-256 of its row lines (the content
//! checksum, the same whichever backend the rows came from); the manifest records them and a
//! restore refuses a file whose figures differ. The end line makes a truncated file fail even
//! where gzip would not notice.

use std::collections::VecDeque;
use std::io::Write;

use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::journal::portable::Item;

pub const FORMAT: &str = "tradeplane-journal-dump";
pub const VERSION: u32 = 1;

/// A table's figures: what the manifest records and a reader checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDigest {
    pub name: String,
    pub rows: i64,
    /// SHA-256 (hex) of the table's row lines, each with its newline.
    pub sha256: String,
}

/// What a whole file adds up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    pub size_bytes: u64,
    /// SHA-256 (hex) of the compressed file.
    pub sha256: String,
    pub tables: Vec<TableDigest>,
}

impl FileDigest {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Per-table counting and hashing of row lines, shared by the writer and the reader.
#[derive(Default)]
pub struct TableHashes {
    done: Vec<TableDigest>,
    current: Option<(String, i64, Sha256)>,
}

impl TableHashes {
    pub fn table(&mut self, name: &str) {
        self.close();
        self.current = Some((name.to_string(), 0, Sha256::new()));
    }

    /// `line` without its newline. False when no table is open.
    pub fn row(&mut self, line: &[u8]) -> bool {
        let Some((_, rows, hash)) = &mut self.current else {
            return false;
        };
        *rows += 1;
        hash.update(line);
        hash.update(b"\n");
        true
    }

    fn close(&mut self) {
        if let Some((name, rows, hash)) = self.current.take() {
            self.done.push(TableDigest {
                name,
                rows,
                sha256: hex(&hash.finalize()),
            });
        }
    }

    pub fn finish(mut self) -> Vec<TableDigest> {
        self.close();
        self.done
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct TableLine {
    table: String,
    columns: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct EndLine {
    end: End,
}

#[derive(Serialize, Deserialize)]
struct End {
    rows: i64,
}

/// Encodes items into compressed bytes, which the caller takes out as they accumulate.
pub struct Encoder {
    gz: GzEncoder<Vec<u8>>,
    file: Sha256,
    size: u64,
    tables: TableHashes,
    rows: i64,
}

impl Encoder {
    pub fn new() -> Result<Self, std::io::Error> {
        let mut encoder = Self {
            gz: GzEncoder::new(Vec::new(), Compression::new(6)),
            file: Sha256::new(),
            size: 0,
            tables: TableHashes::default(),
            rows: 0,
        };
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
        };
        encoder.line(&serde_json::to_vec(&header)?)?;
        Ok(encoder)
    }

    fn line(&mut self, line: &[u8]) -> Result<(), std::io::Error> {
        self.gz.write_all(line)?;
        self.gz.write_all(b"\n")
    }

    pub fn item(&mut self, item: &Item) -> Result<(), std::io::Error> {
        match item {
            Item::Table { name, columns } => {
                self.tables.table(name);
                let line = serde_json::to_vec(&TableLine {
                    table: name.clone(),
                    columns: columns.clone(),
                })?;
                self.line(&line)
            }
            Item::Row(values) => {
                let line = serde_json::to_vec(values)?;
                self.tables.row(&line);
                self.rows += 1;
                self.line(&line)
            }
        }
    }

    /// Compressed bytes produced so far (counted and hashed as they leave).
    pub fn pending(&self) -> usize {
        self.gz.get_ref().len()
    }

    pub fn take(&mut self) -> Vec<u8> {
        let out = std::mem::take(self.gz.get_mut());
        self.file.update(&out);
        self.size += out.len() as u64;
        out
    }

    /// Writes the end line and the gzip trailer: the last bytes, and the file's figures.
    pub fn finish(mut self) -> Result<(Vec<u8>, FileDigest), std::io::Error> {
        let end = serde_json::to_vec(&EndLine {
            end: End { rows: self.rows },
        })?;
        self.line(&end)?;
        self.gz.try_finish()?;
        let last = self.take();
        let digest = FileDigest {
            size_bytes: self.size,
            sha256: hex(&self.file.finalize()),
            tables: self.tables.finish(),
        };
        Ok((last, digest))
    }
}

/// Decodes compressed bytes fed in chunks into items, checking the format as it goes.
pub struct Decoder {
    gz: GzDecoder<Vec<u8>>,
    file: Sha256,
    size: u64,
    partial: Vec<u8>,
    items: VecDeque<Item>,
    tables: TableHashes,
    header_seen: bool,
    ended: bool,
    rows: i64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self {
            gz: GzDecoder::new(Vec::new()),
            file: Sha256::new(),
            size: 0,
            partial: Vec::new(),
            items: VecDeque::new(),
            tables: TableHashes::default(),
            header_seen: false,
            ended: false,
            rows: 0,
        }
    }
}

impl Decoder {
    /// Only counts and hashes `chunk`: after a decoding error, the rest of the file is still
    /// hashed, so the error can say whether the file differs from what was written.
    pub fn hash_only(&mut self, chunk: &[u8]) {
        self.file.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// The file's checksum and size so far.
    pub fn file_figures(&self) -> (String, u64) {
        (hex(&self.file.clone().finalize()), self.size)
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.file.update(chunk);
        self.size += chunk.len() as u64;
        self.gz
            .write_all(chunk)
            .map_err(|e| format!("not a gzip stream: {e}"))?;
        self.split()
    }

    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    fn split(&mut self) -> Result<(), String> {
        let out = std::mem::take(self.gz.get_mut());
        self.partial.extend_from_slice(&out);
        let mut start = 0;
        while let Some(at) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = self.partial[start..start + at].to_vec();
            start += at + 1;
            self.line(&line)?;
        }
        self.partial.drain(..start);
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        if self.ended {
            return Err("data after the end line".into());
        }
        if !self.header_seen {
            let header: Header = serde_json::from_slice(line)
                .map_err(|e| format!("the first line is not a dump header: {e}"))?;
            if header.format != FORMAT || header.version != VERSION {
                return Err(format!(
                    "format {:?} version {}, this runtime reads {FORMAT:?} version {VERSION}",
                    header.format, header.version
                ));
            }
            self.header_seen = true;
            return Ok(());
        }
        match line.first() {
            Some(b'[') => {
                let values: Vec<serde_json::Value> = serde_json::from_slice(line)
                    .map_err(|e| format!("row {}: {e}", self.rows + 1))?;
                if !self.tables.row(line) {
                    return Err("a row before any table".into());
                }
                self.rows += 1;
                self.items.push_back(Item::Row(values));
            }
            _ if line.starts_with(b"{\"end\"") => {
                let end: EndLine =
                    serde_json::from_slice(line).map_err(|e| format!("the end line: {e}"))?;
                if end.end.rows != self.rows {
                    return Err(format!(
                        "the end line counts {} rows, the file holds {}",
                        end.end.rows, self.rows
                    ));
                }
                self.ended = true;
            }
            _ => {
                let table: TableLine = serde_json::from_slice(line)
                    .map_err(|e| format!("after row {}: {e}", self.rows))?;
                self.tables.table(&table.table);
                self.items.push_back(Item::Table {
                    name: table.table,
                    columns: table.columns,
                });
            }
        }
        Ok(())
    }

    /// Ends the stream: fails unless it was complete.
    pub fn finish(mut self) -> Result<(VecDeque<Item>, FileDigest), String> {
        self.gz
            .try_finish()
            .map_err(|e| format!("the gzip stream is cut short: {e}"))?;
        self.split()?;
        if !self.partial.is_empty() || !self.ended {
            return Err("the file ends before its end line (cut short)".into());
        }
        let digest = FileDigest {
            size_bytes: self.size,
            sha256: hex(&self.file.finalize()),
            tables: self.tables.finish(),
        };
        Ok((self.items, digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items() -> Vec<Item> {
        vec![
            Item::Table {
                name: "cycles".into(),
                columns: vec!["cycle_id".into(), "status".into()],
            },
            Item::Row(vec![json!("c-1"), json!("completed")]),
            Item::Row(vec![json!("c-2"), json!(null)]),
            Item::Table {
                name: "positions".into(),
                columns: vec!["symbol".into()],
            },
        ]
    }

    fn encode(items: &[Item]) -> (Vec<u8>, FileDigest) {
        let mut encoder = Encoder::new().unwrap();
        let mut file = Vec::new();
        for item in items {
            encoder.item(item).unwrap();
            file.extend(encoder.take());
        }
        let (last, digest) = encoder.finish().unwrap();
        file.extend(last);
        (file, digest)
    }

    fn decode(file: &[u8], chunk: usize) -> Result<(Vec<Item>, FileDigest), String> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        for piece in file.chunks(chunk) {
            decoder.feed(piece)?;
            while let Some(item) = decoder.next_item() {
                out.push(item);
            }
        }
        let (rest, digest) = decoder.finish()?;
        out.extend(rest);
        Ok((out, digest))
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same_items_and_figures_in_any_chunking() {
        let (file, written) = encode(&items());
        assert_eq!(written.size_bytes, file.len() as u64);
        assert_eq!(written.rows(), 2);
        assert_eq!(written.tables[1].rows, 0);
        for chunk in [1, 7, 4096] {
            let (read, digest) = decode(&file, chunk).unwrap();
            assert_eq!(read, items());
            assert_eq!(digest, written);
        }
    }

    #[test]
    fn a_cut_file_is_refused() {
        let (file, _) = encode(&items());
        for cut in [file.len() / 2, file.len() - 4] {
            let err = decode(&file[..cut], 16).unwrap_err();
            assert!(err.contains("cut short"), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn the_content_checksum_depends_on_the_rows_not_on_the_compression() {
        let (_, a) = encode(&items());
        let mut changed = items();
        changed[2] = Item::Row(vec![json!("c-2"), json!("failed")]);
        let (_, b) = encode(&changed);
        assert_ne!(a.tables[0].sha256, b.tables[0].sha256);
        assert_eq!(a.tables[1].sha256, b.tables[1].sha256);
    }
}
