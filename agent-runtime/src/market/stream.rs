//! Bars streamed from CSV one row at a time, merged across files into time steps: how a
//! backtest reads a million bars in the memory of a few.
//!
//! The replay feed loads a whole history; a backtest must not (its memory is bounded by
//! the longest indicator window, not by the number of bars). So rows are parsed as they are
//! read, with the same column rules as [`super::csv`], and checked as they go: within a
//! symbol times must increase (a duplicate or an earlier time is an error naming its line),
//! within a file they must not go backwards (steps are merged from the files' heads), and
//! for daily bars — both at midnight UTC — more than [`MAX_DAILY_GAP_DAYS`] calendar days
//! between two bars is a gap, refused unless gaps are allowed. A weekend plus a holiday is
//! four days; a week missing is not an accident a backtest should average over.

use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};

use super::MarketDataError;
use super::csv::Columns;
use crate::domain::Bar;

/// The most calendar days allowed between two daily bars of a symbol unless gaps are allowed.
pub const MAX_DAILY_GAP_DAYS: i64 = 4;

/// One CSV file read row by row.
struct FileStream {
    origin: String,
    reader: ::csv::Reader<BufReader<File>>,
    columns: Columns,
    default_symbol: Option<String>,
    /// Raw: fields are trimmed and checked as UTF-8 only when read (see `Columns::bar_of`).
    record: ::csv::ByteRecord,
    /// The row read ahead: the next bar this file gives.
    head: Option<Bar>,
    /// The time of the file's previous row, so time never goes backwards within a file.
    previous: Option<DateTime<Utc>>,
}

impl FileStream {
    fn open(path: &Path) -> Result<Self, MarketDataError> {
        let origin = path.display().to_string();
        let file = File::open(path).map_err(|e| read_error(&origin, e))?;
        let mut reader = ::csv::ReaderBuilder::new()
            .trim(::csv::Trim::Headers)
            .from_reader(BufReader::new(file));
        let mut headers = reader
            .headers()
            .map_err(|e| parse_error(&origin, 1, e.to_string()))?
            .clone();
        if let Some(first) = headers.get(0).and_then(|h| h.strip_prefix('\u{feff}')) {
            let first = first.to_string();
            let rest: Vec<String> = headers.iter().skip(1).map(str::to_string).collect();
            headers = std::iter::once(first).chain(rest).collect();
        }
        let default_symbol = path.file_stem().map(|s| s.to_string_lossy().to_string());
        let columns = Columns::find(&headers, default_symbol.is_some())
            .map_err(|message| parse_error(&origin, 1, message))?;
        Ok(Self {
            origin,
            reader,
            columns,
            default_symbol,
            record: ::csv::ByteRecord::new(),
            head: None,
            previous: None,
        })
    }

    /// Reads the next row into `head` (none at the end), with its line; an error names it.
    fn advance(&mut self) -> Result<Option<u64>, MarketDataError> {
        self.head = None;
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                parse_error(&self.origin, line, e.to_string())
            })?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let bar = self
            .columns
            .bar_of(
                |i| text_field(&self.record, i),
                self.default_symbol.as_deref(),
            )
            .map_err(|message| parse_error(&self.origin, line, message))?;
        if let Some(previous) = self.previous.filter(|p| bar.time < *p) {
            let message = format!("time {} is before the previous row's {previous}", bar.time);
            return Err(parse_error(&self.origin, line, message));
        }
        self.previous = Some(bar.time);
        self.head = Some(bar);
        Ok(Some(line))
    }
}

/// Field `i` of a raw row, trimmed as the other readers trim theirs; a missing field is
/// empty, and one that is not UTF-8 is an error naming its column.
fn text_field(record: &::csv::ByteRecord, i: usize) -> Result<&str, String> {
    let bytes = record.get(i).unwrap_or_default().trim_ascii();
    std::str::from_utf8(bytes).map_err(|_| format!("column {} is not UTF-8 text", i + 1))
}

/// Where a symbol's series got to, for the per-symbol checks.
struct SymbolCursor {
    last: DateTime<Utc>,
}

/// Bars of every file merged into time steps, each step every symbol's bar at one time.
pub struct BarSteps {
    files: Vec<FileStream>,
    /// The symbols wanted; rows of others are skipped.
    symbols: Vec<String>,
    cursors: FxHashMap<String, SymbolCursor>,
    allow_gaps: bool,
    /// Line of each file's head row.
    lines: Vec<u64>,
}

impl BarSteps {
    /// Opens `path` (a CSV file, or every `.csv` file of a directory) for `symbols`.
    pub fn open(
        path: &Path,
        symbols: &[String],
        allow_gaps: bool,
    ) -> Result<Self, MarketDataError> {
        let mut files = Vec::new();
        let mut lines = Vec::new();
        for file in csv_files(path)? {
            let mut stream = FileStream::open(&file)?;
            lines.push(skip_unwanted(&mut stream, symbols)?.unwrap_or(0));
            files.push(stream);
        }
        Ok(Self {
            files,
            symbols: symbols.to_vec(),
            cursors: FxHashMap::default(),
            allow_gaps,
            lines,
        })
    }

    /// The next step's time, its bars in `out` (cleared first); `None` after the last.
    pub fn next_step(
        &mut self,
        out: &mut Vec<Bar>,
    ) -> Result<Option<DateTime<Utc>>, MarketDataError> {
        out.clear();
        let Some(time) = self
            .files
            .iter()
            .filter_map(|f| f.head.as_ref())
            .map(|b| b.time)
            .min()
        else {
            return Ok(None);
        };
        for i in 0..self.files.len() {
            while self.files[i]
                .head
                .as_ref()
                .is_some_and(|bar| bar.time == time)
            {
                let line = self.lines[i];
                if let Some(bar) = self.files[i].head.take() {
                    check(
                        &mut self.cursors,
                        self.allow_gaps,
                        &bar,
                        &self.files[i].origin,
                        line,
                    )?;
                    out.push(bar);
                }
                self.lines[i] = skip_unwanted(&mut self.files[i], &self.symbols)?.unwrap_or(0);
            }
        }
        Ok(Some(time))
    }

    /// Symbols wanted that no row was seen for yet.
    pub fn symbols_without_bars(&self) -> Vec<String> {
        self.symbols
            .iter()
            .filter(|s| !self.cursors.contains_key(*s))
            .cloned()
            .collect()
    }
}

/// The per-symbol rules: strictly increasing times, no gap in daily bars (unless allowed).
fn check(
    cursors: &mut FxHashMap<String, SymbolCursor>,
    allow_gaps: bool,
    bar: &Bar,
    origin: &str,
    line: u64,
) -> Result<(), MarketDataError> {
    let Some(cursor) = cursors.get_mut(&bar.symbol) else {
        cursors.insert(bar.symbol.clone(), SymbolCursor { last: bar.time });
        return Ok(());
    };
    if bar.time <= cursor.last {
        let message = format!("{} has a second bar at {}", bar.symbol, bar.time);
        return Err(parse_error(origin, line, message));
    }
    let days = (bar.time - cursor.last).num_days();
    if !allow_gaps && is_daily(cursor.last) && is_daily(bar.time) && days > MAX_DAILY_GAP_DAYS {
        let message = format!(
            "gap in {}'s daily bars: {} follows {} ({days} days; at most {MAX_DAILY_GAP_DAYS} \
                 are allowed, or pass --allow-gaps)",
            bar.symbol,
            bar.time.date_naive(),
            cursor.last.date_naive()
        );
        return Err(parse_error(origin, line, message));
    }
    cursor.last = bar.time;
    Ok(())
}

/// Advances `stream` past rows of symbols not wanted; the line of the row it stops at.
fn skip_unwanted(
    stream: &mut FileStream,
    symbols: &[String],
) -> Result<Option<u64>, MarketDataError> {
    loop {
        let line = stream.advance()?;
        match &stream.head {
            Some(bar) if !symbols.contains(&bar.symbol) => continue,
            _ => return Ok(line),
        }
    }
}

/// A daily bar is stamped at midnight UTC (how dates without a time are read).
fn is_daily(time: DateTime<Utc>) -> bool {
    time.num_seconds_from_midnight() == 0 && time.nanosecond() == 0
}

fn csv_files(path: &Path) -> Result<Vec<PathBuf>, MarketDataError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let origin = path.display().to_string();
    let entries = std::fs::read_dir(path).map_err(|e| read_error(&origin, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_error(origin: &str, err: impl std::fmt::Display) -> MarketDataError {
    MarketDataError::Read {
        path: origin.to_string(),
        message: err.to_string(),
    }
}

fn parse_error(origin: &str, line: u64, message: String) -> MarketDataError {
    MarketDataError::Parse {
        path: origin.to_string(),
        line,
        message,
    }
}
