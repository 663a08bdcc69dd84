//! CSV rows read in large blocks, for the backtest's stream: the `csv` crate's reader (a
//! header row, every row as wide as the header) to the byte, at a fraction of its cost.
//!
//! A backtest reads one row per bar, and the `csv` crate's record reader — a state machine
//! stepping every byte through an 8 KiB buffer — was a quarter of a bar's cost. Rows
//! without a quote, nearly all of them, are read here directly, from 64 KiB blocks, eight
//! bytes at a time: a row's commas and its end in one pass over it. A row with a quote
//! (RFC 4180: `"a,b"`, `""`, line breaks inside quotes) is read by the `csv` crate's own
//! state machine (`csv_core`), so quoting works exactly as before, and the header by the
//! `csv` crate itself. Errors are worded as the `csv` crate words them, but a row's position
//! is where the row itself starts — its line is one more than the `\n`s before its first
//! byte — where the `csv` crate gives where its reader stood after the row before: before
//! the blank lines ahead of the row, and before the `\n` of a `\r\n` line end, so every row
//! of a file with Windows line ends was named a line early.

use std::io::Read;

/// Bytes read from the file at a time; a longer row grows the block.
const BLOCK: usize = 64 * 1024;

/// A row's trouble: its line (0 when the file could not be read) and what is wrong.
#[derive(Debug, PartialEq)]
pub(super) struct RowError {
    pub line: u64,
    pub message: String,
}

/// One row: where it was read, and its fields.
pub(super) struct Row<'a> {
    pub line: u64,
    /// The row and whatever the block holds after it.
    text: &'a [u8],
    bounds: &'a [(usize, usize)],
}

/// A field as it is in the file (untrimmed): `tail[..len]`, where `tail` goes on past the
/// field to the end of what is buffered, so a number can be read eight bytes at a time
/// (see [`decimal::plain_words`](super::decimal::plain_words)).
#[derive(Clone, Copy)]
pub(super) struct Field<'a> {
    pub tail: &'a [u8],
    pub len: usize,
}

impl<'a> Field<'a> {
    /// A field with nothing buffered after it.
    pub fn alone(bytes: &'a [u8]) -> Self {
        Self {
            tail: bytes,
            len: bytes.len(),
        }
    }

    pub fn bytes(self) -> &'a [u8] {
        self.tail.get(..self.len).unwrap_or_default()
    }
}

impl<'a> Row<'a> {
    /// Field `i`; empty past the last.
    pub fn field(&self, i: usize) -> Field<'a> {
        match self.bounds.get(i) {
            Some(&(start, end)) => Field {
                tail: self.text.get(start..).unwrap_or_default(),
                len: end - start,
            },
            None => Field::alone(&[]),
        }
    }

    /// How many fields the row has.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.bounds.len()
    }
}

/// Where the next row starts, as the `csv` crate reports positions.
#[derive(Clone, Copy, Debug)]
struct Position {
    byte: u64,
    line: u64,
    record: u64,
}

/// What the unread bytes start with.
enum Scan {
    /// An unquoted row `len` bytes long after `skip` bytes of blank lines (`newlines` of
    /// them `\n`); `terminated` when a line end follows it (the last row may lack one).
    Row {
        skip: usize,
        len: usize,
        newlines: u64,
        terminated: bool,
    },
    /// A row with a quote after `skip` bytes of blank lines (`newlines` of them `\n`): the
    /// state machine reads it.
    Quoted { skip: usize, newlines: u64 },
    /// Nothing but blank lines to the end of the file.
    End { newlines: u64 },
    /// The block ends before the row does.
    More,
}

/// The rows of a CSV source after its header.
pub(super) struct RowReader<R> {
    source: R,
    block: Vec<u8>,
    /// The unread bytes are `block[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// After the last row every read finds none, as with the `csv` crate.
    done: bool,
    next: Position,
    /// How many fields every row has: the header's.
    width: Option<usize>,
    /// The `csv` crate's state machine, for quoted rows.
    core: csv_core::Reader,
    /// A quoted row's fields, unquoted and end to end, and where each ends.
    unquoted: Vec<u8>,
    ends: Vec<usize>,
    /// The current row's fields as ranges of its text.
    bounds: Vec<(usize, usize)>,
    /// Where the current row's text is.
    text: Text,
}

/// Where a row's fields are.
#[derive(Clone, Copy)]
enum Text {
    /// From `block[start]` (the row, then the rest of the block).
    Block { start: usize },
    /// `unquoted`.
    Unquoted,
}

impl<R: Read> RowReader<R> {
    /// Reads the header of `source`: the reader, at the first row, and the header as the
    /// `csv` crate reads it (fields trimmed); an error is the `csv` crate's message.
    pub fn open(source: R) -> Result<(Self, ::csv::StringRecord), String> {
        Self::with_block(source, BLOCK)
    }

    fn with_block(source: R, block: usize) -> Result<(Self, ::csv::StringRecord), String> {
        let mut core = csv_core::Reader::new();
        // The state machine strips a byte order mark on its first read only; this read
        // (which stops at once: no room for output) is that one, so a quoted row that starts
        // with the mark keeps it, as with the `csv` crate, whose first read was the header.
        let _ = core.read_record(b"-", &mut [], &mut [0]);
        let mut reader = Self {
            source,
            block: vec![0; block.max(1)],
            start: 0,
            end: 0,
            eof: false,
            done: false,
            next: Position {
                byte: 0,
                line: 1,
                record: 0,
            },
            width: None,
            core,
            unquoted: vec![0; 256],
            ends: vec![0; 16],
            bounds: Vec::new(),
            text: Text::Unquoted,
        };
        let headers = reader.read_headers()?;
        Ok((reader, headers))
    }

    /// The header, read by the `csv` crate from the block, grown until the header ends
    /// before the block does (or the block holds the whole file).
    fn read_headers(&mut self) -> Result<::csv::StringRecord, String> {
        loop {
            self.fill().map_err(|e| e.message)?;
            let mut csv = ::csv::ReaderBuilder::new()
                .trim(::csv::Trim::Headers)
                .from_reader(&self.block[..self.end]);
            // Read before judging: a block that ends inside the header (or its byte order
            // mark) reads differently, so only a header that ends before the block counts.
            let headers = csv.headers().cloned().map_err(|e| e.to_string());
            let after = csv.position();
            let consumed = usize::try_from(after.byte()).unwrap_or(usize::MAX);
            if consumed < self.end || self.eof {
                let headers = headers?;
                self.start = consumed.min(self.end);
                self.next = Position {
                    byte: after.byte(),
                    line: after.line(),
                    record: after.record(),
                };
                self.width = (!headers.is_empty()).then_some(headers.len());
                return Ok(headers);
            }
        }
    }

    /// The next row; `None` after the last. A row wider or narrower than the header is an
    /// error, worded as the `csv` crate words it, as is a failed read.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, RowError> {
        if self.done {
            return Ok(None);
        }
        let mut at = self.next;
        loop {
            match self.scan() {
                Scan::Row {
                    skip,
                    len,
                    newlines,
                    terminated,
                } => {
                    // The row's own position, past the line ends ahead of it.
                    at.line += newlines;
                    at.byte += skip as u64;
                    self.take_row(skip, len, newlines, terminated);
                    break;
                }
                Scan::Quoted { skip, newlines } => {
                    self.start += skip;
                    self.next.byte += skip as u64;
                    self.next.line += newlines;
                    at = self.next;
                    if !self.read_quoted()? {
                        return Ok(None);
                    }
                    break;
                }
                Scan::End { newlines } => {
                    self.next.byte += (self.end - self.start) as u64;
                    self.next.line += newlines;
                    self.start = self.end;
                    self.done = true;
                    return Ok(None);
                }
                Scan::More => self.fill()?,
            }
        }
        self.next.record += 1;
        self.check_width(at)?;
        let text = match self.text {
            Text::Block { start } => &self.block[start..self.end],
            Text::Unquoted => &self.unquoted[..],
        };
        Ok(Some(Row {
            line: at.line,
            text,
            bounds: &self.bounds,
        }))
    }

    /// The unread bytes, when a row starts right at them (not a blank line, not the end of
    /// what is buffered), for a caller that reads plain rows itself: it gives the bytes it
    /// read to [`take_row_read`](Self::take_row_read), or leaves the row to
    /// [`next_row`](Self::next_row). Only once the header has said how wide rows are.
    #[inline(always)]
    pub fn upcoming(&self) -> Option<&[u8]> {
        let unread = self.block.get(self.start..self.end)?;
        match unread.first() {
            Some(b'\n' | b'\r') | None => None,
            Some(_) => (!self.done && self.width.is_some()).then_some(unread),
        }
    }

    /// Consumes a row of [`upcoming`](Self::upcoming) that the caller read: `len` bytes,
    /// the row (exactly as wide as the header) and its line end, `\n` or `\r\n`. The row's
    /// line, where [`next_row`](Self::next_row) would have placed it (no blank lines came
    /// first, and a line end is one line).
    #[inline(always)]
    pub fn take_row_read(&mut self, len: usize) -> u64 {
        let line = self.next.line;
        self.start += len;
        self.next.byte += len as u64;
        self.next.line += 1;
        self.next.record += 1;
        line
    }

    /// What the unread bytes start with; an unquoted row's fields are in `bounds`.
    fn scan(&mut self) -> Scan {
        let unread = &self.block[self.start..self.end];
        let skip = match unread.first() {
            Some(b'\n' | b'\r') => unread
                .iter()
                .position(|&b| b != b'\n' && b != b'\r')
                .unwrap_or(unread.len()),
            _ => 0,
        };
        let newlines = unread[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
        if skip == unread.len() {
            return match self.eof {
                true => Scan::End { newlines },
                false => Scan::More,
            };
        }
        match split(&unread[skip..], &mut self.bounds) {
            RowEnd::Quote => Scan::Quoted { skip, newlines },
            RowEnd::At(len) => Scan::Row {
                skip,
                len,
                newlines,
                terminated: true,
            },
            RowEnd::Open(len) if self.eof => Scan::Row {
                skip,
                len,
                newlines,
                terminated: false,
            },
            RowEnd::Open(_) => Scan::More,
        }
    }

    /// Consumes the unquoted row [`scan`](Self::scan) found (and the one line end after it,
    /// as the state machine does: a `\r\n`'s `\n` is skipped before the next row).
    fn take_row(&mut self, skip: usize, len: usize, newlines: u64, terminated: bool) {
        let start = self.start + skip;
        self.text = Text::Block { start };
        let newline = terminated && self.block[start + len] == b'\n';
        let consumed = skip + len + usize::from(terminated);
        self.start += consumed;
        self.next.byte += consumed as u64;
        self.next.line += newlines + u64::from(newline);
    }

    /// Reads a quoted row with the `csv` crate's state machine, as its reader does; false
    /// at the end of the file.
    fn read_quoted(&mut self) -> Result<bool, RowError> {
        use csv_core::ReadRecordResult;
        let (mut wrote, mut ended) = (0, 0);
        loop {
            let (result, read, out, ends) = self.core.read_record(
                &self.block[self.start..self.end],
                &mut self.unquoted[wrote..],
                &mut self.ends[ended..],
            );
            // Lines counted here, as the unquoted rows' are: a quoted field may hold some.
            let consumed = &self.block[self.start..self.start + read];
            self.next.line += consumed.iter().filter(|&&b| b == b'\n').count() as u64;
            self.start += read;
            self.next.byte += read as u64;
            wrote += out;
            ended += ends;
            match result {
                ReadRecordResult::InputEmpty => self.fill()?,
                ReadRecordResult::OutputFull => self.unquoted.resize(self.unquoted.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => break,
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
        self.bounds.clear();
        let mut start = 0;
        for &end in &self.ends[..ended] {
            self.bounds.push((start, end));
            start = end;
        }
        self.text = Text::Unquoted;
        Ok(true)
    }

    /// Every row as wide as the header (the first row, without one).
    fn check_width(&mut self, at: Position) -> Result<(), RowError> {
        let len = self.bounds.len();
        match self.width {
            None => self.width = Some(len),
            Some(expected) if expected != len => {
                return Err(RowError {
                    line: at.line,
                    message: format!(
                        "CSV error: record {} (line: {}, byte: {}): found record with {len} \
                         fields, but the previous record has {expected} fields",
                        at.record, at.line, at.byte
                    ),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Moves the unread bytes to the front of the block (growing it when they fill it) and
    /// reads more after them; at the end of the file, nothing.
    fn fill(&mut self) -> Result<(), RowError> {
        if self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.block.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.block.len() {
            self.block.resize(self.block.len() * 2, 0);
        }
        loop {
            match self.source.read(&mut self.block[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(read) => self.end += read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RowError {
                        line: 0,
                        message: e.to_string(),
                    });
                }
            }
            return Ok(());
        }
    }
}

/// Where an unquoted row ends: at the line end at this offset, with no line end before the
/// end of the bytes (the row so far this long), or at a quote (the state machine's to read).
enum RowEnd {
    At(usize),
    Open(usize),
    Quote,
}

/// Each byte of `word` equal to `byte`, as its top bit.
pub(super) fn matches(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    let x = word ^ u64::from_le_bytes([byte; 8]);
    // A byte's top bit ends up set exactly when the byte of `x` is not zero (no carries
    // between bytes: 0x7f + 0x7f fits one), so the complement marks the equal bytes.
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Each line end or quote in `word`, as its top bit. All three are below `#`, as nearly
/// no byte of a row is (a space is), so one comparison finds the words that have one.
fn stops(word: u64) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    const BELOW: u64 = u64::from_le_bytes([0x80 - b'#'; 8]);
    // Top bit set for a byte below `#`: adding 0x80 - 0x23 to its low seven bits leaves
    // its top bit clear (no carry between bytes), and its own top bit is clear too.
    let low = !(((word & LOW7).wrapping_add(BELOW)) | word | LOW7);
    if low == 0 {
        return 0;
    }
    matches(word, b'\n') | matches(word, b'\r') | matches(word, b'"')
}

/// The row at the start of `bytes`: its fields (the ranges between its commas) into
/// `bounds`, and where it ends. Eight bytes are looked at a time, for the commas and for
/// what ends a row (a line end, or a quote that only the state machine may read).
fn split(bytes: &[u8], bounds: &mut Vec<(usize, usize)>) -> RowEnd {
    bounds.clear();
    let mut field = 0;
    let mut base = 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or([0; 8]));
        let stops = stops(word);
        let mut commas = matches(word, b',');
        if stops != 0 {
            // Only the commas before the first stop are this row's.
            commas &= (1u64 << stops.trailing_zeros()).wrapping_sub(1);
        }
        while commas != 0 {
            let at = base + (commas.trailing_zeros() / 8) as usize;
            bounds.push((field, at));
            field = at + 1;
            commas &= commas - 1;
        }
        if stops != 0 {
            let at = base + (stops.trailing_zeros() / 8) as usize;
            return row_end(bytes, at, field, bounds);
        }
        base += 8;
    }
    for (offset, &byte) in words.remainder().iter().enumerate() {
        match byte {
            b',' => {
                bounds.push((field, base + offset));
                field = base + offset + 1;
            }
            b'\n' | b'\r' | b'"' => return row_end(bytes, base + offset, field, bounds),
            _ => {}
        }
    }
    bounds.push((field, bytes.len()));
    RowEnd::Open(bytes.len())
}

/// The row stopped at `at`: a quote, or its end (closing its last field).
fn row_end(bytes: &[u8], at: usize, field: usize, bounds: &mut Vec<(usize, usize)>) -> RowEnd {
    if bytes[at] == b'"' {
        return RowEnd::Quote;
    }
    bounds.push((field, at));
    RowEnd::At(at)
}

#[cfg(test)]
mod tests {
    use super::{RowError, RowReader};

    /// What a reader makes of a source: the header (or the error), then each row's line
    /// and fields, and the error that stopped it (with its line), if any.
    #[derive(Debug, PartialEq)]
    struct Reading {
        header: Result<Vec<String>, String>,
        rows: Vec<(u64, Vec<Vec<u8>>)>,
        error: Option<RowError>,
    }

    /// Where the row the `csv` crate placed at `position` starts: past the line ends its
    /// reader stood before; its line (one more than the `\n`s before it) and byte.
    fn row_start(input: &[u8], position: &::csv::Position) -> (u64, u64) {
        let from = usize::try_from(position.byte()).unwrap();
        let first = from
            + input[from..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        let newlines = input[..first].iter().filter(|&&b| b == b'\n').count();
        (newlines as u64 + 1, first as u64)
    }

    /// The `csv` crate's reading, configured as the stream configured it, with each row's
    /// position where the row starts (see the module's docs).
    fn csv_crate(input: &[u8]) -> Reading {
        let mut reader = ::csv::ReaderBuilder::new()
            .trim(::csv::Trim::Headers)
            .from_reader(input);
        let header = reader
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .map_err(|e| e.to_string());
        let mut reading = Reading {
            header,
            rows: Vec::new(),
            error: None,
        };
        if reading.header.is_err() {
            return reading;
        }
        let mut record = ::csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {
                    let line = record.position().map_or(0, |p| row_start(input, p).0);
                    let fields = record.iter().map(<[u8]>::to_vec).collect();
                    reading.rows.push((line, fields));
                }
                Ok(false) => return reading,
                Err(e) => {
                    let (line, message) = match e.position() {
                        Some(p) => {
                            let (line, byte) = row_start(input, p);
                            let (was, is) = (
                                format!("(line: {}, byte: {})", p.line(), p.byte()),
                                format!("(line: {line}, byte: {byte})"),
                            );
                            (line, e.to_string().replace(&was, &is))
                        }
                        None => (0, e.to_string()),
                    };
                    reading.error = Some(RowError { line, message });
                    return reading;
                }
            }
        }
    }

    /// The row reader's, with `block` bytes read at a time.
    fn ours(input: &[u8], block: usize) -> Reading {
        let (mut reader, header) = match RowReader::with_block(input, block) {
            Ok(opened) => opened,
            Err(message) => {
                return Reading {
                    header: Err(message),
                    rows: Vec::new(),
                    error: None,
                };
            }
        };
        let mut reading = Reading {
            header: Ok(header.iter().map(str::to_string).collect()),
            rows: Vec::new(),
            error: None,
        };
        loop {
            match reader.next_row() {
                Ok(Some(row)) => {
                    let fields = (0..row.len())
                        .map(|i| row.field(i).bytes().to_vec())
                        .collect();
                    reading.rows.push((row.line, fields));
                }
                Ok(None) => {
                    // After the end no row follows.
                    assert!(matches!(reader.next_row(), Ok(None)));
                    break;
                }
                Err(error) => {
                    reading.error = Some(error);
                    break;
                }
            }
        }
        reading
    }

    fn same_as_the_csv_crate(input: &[u8]) {
        let expected = csv_crate(input);
        for block in [1, 2, 3, 5, 8, 13, 64, super::BLOCK] {
            let got = ours(input, block);
            assert_eq!(
                got,
                expected,
                "block {block}, input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rows_are_read_as_the_csv_crate_reads_them() {
        let cases: &[&[u8]] = &[
            b"date,open,close\n2024-01-02,1.5,2\n2024-01-03,2,3\n",
            // No line end after the last row; CRLF; lone CRs; mixed.
            b"date,open,close\n2024-01-02,1.5,2\n2024-01-03,2,3",
            b"date,open,close\r\n2024-01-02,1.5,2\r\n2024-01-03,2,3\r\n",
            b"date,open,close\r2024-01-02,1.5,2\r2024-01-03,2,3",
            b"a,b\r\n1,2\n3,4\r\r\n5,6\n\r",
            // Blank lines before, between and after rows.
            b"\n\na,b\n\n\n1,2\n\r\n\n3,4\n\n\n",
            // Quoted fields: commas, quotes, line breaks inside; text after a closing quote.
            b"a,b,c\n\"x,y\",\"say \"\"hi\"\"\",3\n4,\"two\nlines\",6\n7,8,\"\"\n",
            b"a,b\n\"1\"x,2\n\"unterminated,3\n4,5\n",
            b"\"a\",\"b\"\r\n\"1\",\"2\"\r\n3,\"4\"\r\n",
            b"a,b\n1,\"2\"",
            b"a,b\n1,\"2",
            b"a,b\n\"\"\n1,2\n",
            // A byte order mark: stripped before the header, kept inside a row.
            b"\xef\xbb\xbfa,b\n1,2\n",
            b"\xef\xbb\xbf\"a\",b\n1,2\n",
            b"a,b\n\xef\xbb\xbf1,2\n\xef\xbb\xbf\"3\",4\n",
            // Rows wider or narrower than the header, fast and quoted, after blank lines.
            b"a,b\n1,2\n1,2,3\n",
            b"a,b\n1,2\n\n\n1\n",
            b"a,b\r\n1,2\r\n\"1\"\r\n",
            b"a,b\n1,2,\"3\"\n",
            // Empty fields, spaces kept (only the header is trimmed), odd bytes.
            b" a , b ,c\n,,\n 1 , 2 ,3\n\t,\x00,\xff\n",
            b"a,,b\n1,,2\n",
            // Headers only, nothing, blank lines only, a header that is not UTF-8.
            b"a,b\n",
            b"a,b",
            b"",
            b"\n\n\r\n",
            b"a,\xff\n1,2\n",
            // Long rows (several words of commas, a long quoted field).
            b"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n",
            b"a,b\n\"0123456789012345678901234567890123456789012345678901234567890123456789\",1\n",
        ];
        for case in cases {
            same_as_the_csv_crate(case);
        }
    }

    #[test]
    fn random_rows_are_read_as_the_csv_crate_reads_them() {
        let alphabet: &[&[u8]] = &[
            b"1",
            b"2.5",
            b"ab",
            b",",
            b",",
            b",",
            b"\n",
            b"\n",
            b"\r\n",
            b"\r",
            b"\"",
            b" ",
            b"\xef\xbb\xbf",
            b"\xff",
        ];
        let mut seed = 42u64;
        for _ in 0..3_000 {
            let mut input = Vec::new();
            let pieces = seed % 40;
            for _ in 0..pieces {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                input.extend_from_slice(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            seed = seed.wrapping_add(0x9e37_79b9);
            same_as_the_csv_crate(&input);
        }
    }

    /// A row is named by the line it starts on, whatever the line ends and blank lines
    /// before it: the `csv` crate named every row after a `\r\n` line end, and the first
    /// after blank lines, a line early.
    #[test]
    fn rows_are_named_by_the_line_they_start_on() {
        // 1 header, 2 `1,2`, 3 and 4 blank, 5 `3,4`, 6 quoted, 7 blank, 8 `7,8`.
        let input = b"a,b\r\n1,2\r\n\r\n\n3,4\r\n\"5\",6\n\n7,8";
        for block in [1, 3, 64] {
            let (mut reader, _) = RowReader::with_block(&input[..], block).unwrap();
            let mut lines = Vec::new();
            while let Some(row) = reader.next_row().unwrap() {
                lines.push(row.line);
            }
            assert_eq!(lines, [2, 5, 6, 8], "block {block}");
        }
    }

    #[test]
    fn a_long_file_is_read_across_blocks_with_its_lines() {
        let mut input = b"date,open,close\n".to_vec();
        for i in 0..5_000 {
            let quoted = if i % 97 == 0 { "\"" } else { "" };
            let end = if i % 3 == 0 { "\r\n" } else { "\n" };
            input.extend_from_slice(format!("{quoted}2024-{i}{quoted},{i}.5,{i}{end}").as_bytes());
        }
        same_as_the_csv_crate(&input);
        let (mut reader, _) = RowReader::with_block(&input[..], 4096).unwrap();
        let mut count = 0;
        while let Some(row) = reader.next_row().unwrap() {
            assert_eq!(row.field(1).bytes(), format!("{count}.5").as_bytes());
            count += 1;
        }
        assert_eq!(count, 5_000);
    }
}
