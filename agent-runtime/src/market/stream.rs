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

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveTime, Utc};

use super::MarketDataError;
use super::csv::Columns;
use super::layout::Layout;
use super::rows::RowReader;
use crate::domain::Bar;

/// The most calendar days allowed between two daily bars of a symbol unless gaps are allowed.
pub const MAX_DAILY_GAP_DAYS: i64 = 4;

/// One CSV file read row by row.
struct FileStream {
    origin: String,
    rows: RowReader<File>,
    columns: Columns,
    /// The columns' layout, for reading plain rows in one pass (see [`Layout`]).
    layout: Option<Layout>,
    default_symbol: Option<String>,
    /// Without a symbol column, every row is the file name's symbol: whether it is wanted
    /// (and which it is) is known once for the file, not looked up again for every row.
    fixed: Option<Option<usize>>,
    /// The row read ahead, when `ready`: the next bar this file gives. Every row is read
    /// into this one bar, so reading a row allocates nothing, and in a file without a symbol
    /// column its symbol is the file's from the start, never looked at again.
    head: Bar,
    ready: bool,
    /// Which of the wanted symbols `head` is, when `ready` and wanted.
    wanted: Option<usize>,
    /// The line of the head's row (0 at the end), for the errors of the per-symbol checks.
    line: u64,
    /// The time of the file's previous row (the earliest time before the first), so time
    /// never goes backwards within a file.
    previous: DateTime<Utc>,
}

impl FileStream {
    fn open(path: &Path, symbols: &[String]) -> Result<Self, MarketDataError> {
        let origin = path.display().to_string();
        let file = File::open(path).map_err(|e| read_error(&origin, e))?;
        let (rows, mut headers) =
            RowReader::open(file).map_err(|message| parse_error(&origin, 1, message))?;
        if let Some(first) = headers.get(0).and_then(|h| h.strip_prefix('\u{feff}')) {
            let first = first.to_string();
            let rest: Vec<String> = headers.iter().skip(1).map(str::to_string).collect();
            headers = std::iter::once(first).chain(rest).collect();
        }
        let default_symbol = path.file_stem().map(|s| s.to_string_lossy().to_string());
        let columns = Columns::find(&headers, default_symbol.is_some())
            .map_err(|message| parse_error(&origin, 1, message))?;
        let layout = columns.layout(headers.len());
        let fixed = match columns.has_symbol_column() {
            true => None,
            false => Some(default_symbol.as_deref().and_then(|s| position(symbols, s))),
        };
        let head = Bar {
            symbol: match fixed {
                Some(_) => default_symbol.clone().unwrap_or_default(),
                None => String::new(),
            },
            ..Bar::default()
        };
        Ok(Self {
            origin,
            rows,
            columns,
            layout,
            default_symbol,
            fixed,
            head,
            ready: false,
            wanted: None,
            line: 0,
            previous: DateTime::<Utc>::MIN_UTC,
        })
    }

    /// The next bar this file gives, if any.
    fn head(&self) -> Option<&Bar> {
        self.ready.then_some(&self.head)
    }

    /// Which wanted symbol the head is, when it is at `time`.
    fn wanted_at(&self, time: DateTime<Utc>) -> Option<usize> {
        self.wanted.filter(|_| self.ready && self.head.time == time)
    }

    /// Which of `symbols` the row just read is, if any.
    fn which(&self, symbols: &[String]) -> Option<usize> {
        match self.fixed {
            Some(wanted) => wanted,
            None => position(symbols, &self.head.symbol),
        }
    }

    /// Reads the next row into `head` (none at the end), with its line; an error names it.
    fn advance(&mut self) -> Result<Option<u64>, MarketDataError> {
        self.ready = false;
        let line = match self.read_plain() {
            Some(line) => line,
            None => match self.read_any()? {
                Some(line) => line,
                None => return Ok(None),
            },
        };
        let time = self.head.time;
        if time < self.previous {
            let message = format!("time {time} is before the previous row's {}", self.previous);
            return Err(parse_error(&self.origin, line, message));
        }
        self.previous = time;
        self.ready = true;
        Ok(Some(line))
    }

    /// Reads the next row into `head` in one pass when it is plain (nearly every row is);
    /// its line. `None` leaves the row to [`read_any`](Self::read_any).
    #[inline(always)]
    fn read_plain(&mut self) -> Option<u64> {
        let layout = self.layout.as_mut()?;
        let taken = layout.read(self.rows.upcoming()?, &mut self.head)?;
        Some(self.rows.take_row_read(taken))
    }

    /// Reads the next row into `head` the general way, whatever it holds (none at the
    /// end); its line. A bad row is an error naming its file and line.
    #[cold]
    fn read_any(&mut self) -> Result<Option<u64>, MarketDataError> {
        let row = self
            .rows
            .next_row()
            .map_err(|e| parse_error(&self.origin, e.line, e.message))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let line = row.line;
        self.columns
            .read_into(
                |i| row.field(i),
                self.default_symbol.as_deref(),
                &mut self.head,
            )
            .map_err(|message| parse_error(&self.origin, line, message))?;
        Ok(Some(line))
    }
}

/// Where a symbol's series got to, for the per-symbol checks.
struct SymbolCursor {
    last: DateTime<Utc>,
    /// Whether `last` is a daily bar's time, kept rather than worked out again next bar.
    daily: bool,
}

impl SymbolCursor {
    fn at(time: DateTime<Utc>) -> Self {
        Self {
            last: time,
            daily: is_daily(time),
        }
    }
}

/// Bars of every file merged into time steps, each step every symbol's bar at one time.
pub struct BarSteps {
    files: Vec<FileStream>,
    /// The symbols wanted; rows of others are skipped.
    symbols: Vec<String>,
    /// Each wanted symbol's cursor, by its place in `symbols` (a list index, not a hash
    /// lookup per bar); `None` before its first bar.
    cursors: Vec<Option<SymbolCursor>>,
    allow_gaps: bool,
}

impl BarSteps {
    /// Opens `path` (a CSV file, or every `.csv` file of a directory) for `symbols`.
    pub fn open(
        path: &Path,
        symbols: &[String],
        allow_gaps: bool,
    ) -> Result<Self, MarketDataError> {
        let mut files = Vec::new();
        for file in csv_files(path)? {
            let mut stream = FileStream::open(&file, symbols)?;
            skip_unwanted(&mut stream, symbols)?;
            files.push(stream);
        }
        Ok(Self {
            files,
            symbols: symbols.to_vec(),
            cursors: symbols.iter().map(|_| None).collect(),
            allow_gaps,
        })
    }

    /// The next step's time, its bars in `out`; `None` after the last. Each bar is copied
    /// over one of `out`'s (the last step's), which nearly always has its symbol already, so
    /// a step allocates nothing.
    pub fn next_step(
        &mut self,
        out: &mut Vec<Bar>,
    ) -> Result<Option<DateTime<Utc>>, MarketDataError> {
        let Some(time) = self.earliest() else {
            out.clear();
            return Ok(None);
        };
        let mut taken = 0;
        for file in &mut self.files {
            while let Some(symbol) = file.wanted_at(time) {
                let cursor = &mut self.cursors[symbol];
                check(cursor, self.allow_gaps, &file.head, &file.origin, file.line)?;
                match out.get_mut(taken) {
                    Some(bar) => copy_bar(&file.head, bar),
                    None => out.push(file.head.clone()),
                }
                taken += 1;
                skip_unwanted(file, &self.symbols)?;
            }
        }
        out.truncate(taken);
        Ok(Some(time))
    }

    /// The earliest time among the files' next bars; `None` when every file has ended.
    fn earliest(&self) -> Option<DateTime<Utc>> {
        let mut earliest = None;
        for file in &self.files {
            if let Some(head) = file.head() {
                earliest = match earliest {
                    Some(time) if time <= head.time => Some(time),
                    _ => Some(head.time),
                };
            }
        }
        earliest
    }

    /// Symbols wanted that no row was seen for yet.
    pub fn symbols_without_bars(&self) -> Vec<String> {
        self.symbols
            .iter()
            .filter(|s| position(&self.symbols, s).is_none_or(|i| self.cursors[i].is_none()))
            .cloned()
            .collect()
    }
}

/// Writes `from` over `into`, the symbol only when it differs: `into` is the bar this
/// place of a step had last time, nearly always the same symbol's.
fn copy_bar(from: &Bar, into: &mut Bar) {
    if into.symbol != from.symbol {
        into.symbol.clone_from(&from.symbol);
    }
    into.copy_values_from(from);
}

/// Where `symbol` is in `symbols` (its first place: a symbol listed twice is one series).
fn position(symbols: &[String], symbol: &str) -> Option<usize> {
    symbols.iter().position(|s| s == symbol)
}

/// The per-symbol rules: strictly increasing times, no gap in daily bars (unless allowed).
fn check(
    slot: &mut Option<SymbolCursor>,
    allow_gaps: bool,
    bar: &Bar,
    origin: &str,
    line: u64,
) -> Result<(), MarketDataError> {
    let Some(cursor) = slot else {
        *slot = Some(SymbolCursor::at(bar.time));
        return Ok(());
    };
    if bar.time <= cursor.last {
        let message = format!("{} has a second bar at {}", bar.symbol, bar.time);
        return Err(parse_error(origin, line, message));
    }
    let daily = is_daily(bar.time);
    let gap = || days_apart(cursor.last, bar.time);
    if !allow_gaps && cursor.daily && daily && gap() > MAX_DAILY_GAP_DAYS {
        let days = gap();
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
    cursor.daily = daily;
    Ok(())
}

/// Advances `stream` past rows of symbols not wanted, to the next wanted row or the end.
/// Rows of unwanted symbols are still read, so a bad one is refused as before.
#[inline]
fn skip_unwanted(stream: &mut FileStream, symbols: &[String]) -> Result<(), MarketDataError> {
    loop {
        stream.line = stream.advance()?.unwrap_or(0);
        if !stream.ready {
            return Ok(());
        }
        stream.wanted = stream.which(symbols);
        if stream.wanted.is_some() {
            return Ok(());
        }
    }
}

/// Whole days from `earlier` to `later`, both at midnight UTC. Within a year (nearly every
/// pair of consecutive bars) that is the difference of their days of the year, read from
/// the dates as stored; chrono's date arithmetic, which counts from year 0, cost more than
/// the rest of a bar's checks.
fn days_apart(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    let (from, to) = (earlier.naive_utc().date(), later.naive_utc().date());
    if from.year() == to.year() {
        i64::from(to.ordinal()) - i64::from(from.ordinal())
    } else {
        (later - earlier).num_days()
    }
}

/// A daily bar is stamped at midnight UTC (how dates without a time are read). Read from
/// the UTC clock time as stored: `DateTime::time` would first add the (zero) offset, which
/// cost more than the rest of the check.
fn is_daily(time: DateTime<Utc>) -> bool {
    time.naive_utc().time() == NaiveTime::MIN
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

#[cfg(test)]
mod tests {
    use super::BarSteps;
    use crate::domain::Bar;

    /// `files` (name, contents) in a fresh directory; its path.
    fn data(test: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tp-stream-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        dir
    }

    /// Every step's bars as (symbol, date, close), or the error.
    fn read(dir: &std::path::Path, symbols: &[&str]) -> Result<Vec<(String, String, f64)>, String> {
        let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        let mut steps = BarSteps::open(dir, &symbols, false).map_err(|e| e.to_string())?;
        let mut bars: Vec<Bar> = Vec::new();
        let mut seen = Vec::new();
        while steps
            .next_step(&mut bars)
            .map_err(|e| e.to_string())?
            .is_some()
        {
            for bar in &bars {
                let day = bar.time.date_naive().to_string();
                seen.push((bar.symbol.clone(), day, bar.close));
            }
        }
        Ok(seen)
    }

    const PLAIN: &str = "date,open,high,low,close,volume\n\
        2024-01-02,10,11,9,10.5,100\n\
        2024-01-03,10.5,12,10,11.25,200\n\
        2024-01-04,11.25,12,11,11.5,\n";

    #[test]
    fn line_ends_blank_lines_and_quotes_read_the_same_bars() {
        let expected = read(&data("plain", &[("SPY.csv", PLAIN)]), &["SPY"]).unwrap();
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[1], ("SPY".into(), "2024-01-03".into(), 11.25));
        let variants = [
            PLAIN.replace('\n', "\r\n"),
            PLAIN.trim_end().to_string(),
            PLAIN.replace("\n2024-01-03", "\n\n\n2024-01-03"),
            PLAIN
                .replace("10.5,100", "\"10.5\",\"100\"")
                .replace("2024-01-04", "\"2024-01-04\""),
            format!("\u{feff}{}", PLAIN.replace('\n', "\r\n")),
        ];
        for (i, variant) in variants.iter().enumerate() {
            let dir = data(&format!("variant{i}"), &[("SPY.csv", variant)]);
            assert_eq!(read(&dir, &["SPY"]).unwrap(), expected, "{variant:?}");
        }
    }

    /// A price written one of the ways data files write them: plain decimals (read in one
    /// pass) and others (read the general way).
    fn written(value: f64, way: u64) -> String {
        match way % 9 {
            0 | 1 => format!("{value:.4}"),
            2 => format!("{value:.2}"),
            3 => value.to_string(),
            4 => format!("{value:e}"),
            5 => format!(" {value:.3} "),
            6 => format!("\"{value:.4}\""),
            7 => format!("{:.0}", value.round()),
            _ => format!("{value:.7}"),
        }
    }

    /// The bars a file gives, read as a backtest reads them (plain rows in one pass) and as
    /// [`csv::load`](crate::market::csv::load) reads them (every row the general way), are
    /// the same to the bit, whatever the rows' shapes.
    #[test]
    fn rows_read_in_one_pass_are_the_rows_the_general_reader_reads() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let start = chrono::NaiveDate::from_ymd_opt(2023, 12, 30).unwrap();
        let mut one = String::from("time,open,high,low,close,volume\n");
        let mut long = String::from("symbol,note,time,open,high,low,close,volume\r\n");
        let mut price = 100.0_f64;
        for hour in 0..3_000i64 {
            let time = start.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::hours(hour);
            let time = match next() % 6 {
                0 => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                1 => time.format("%Y-%m-%d %H:%M:%S").to_string(),
                2 => time.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
                3 => time.format("\"%Y-%m-%dT%H:%M:%S\"").to_string(),
                4 => time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
                _ => time.format("%Y-%m-%dT%H:%M:%S").to_string(),
            };
            price *= 1.0 + (next() % 1000) as f64 / 50_000.0 - 0.01;
            let (high, low) = (price * 1.01, price * 0.99);
            let volume = match next() % 5 {
                0 => String::new(),
                1 => "123456789012".to_string(),
                2 => format!("{}.5", next() % 1000),
                _ => (next() % 100_000).to_string(),
            };
            let prices = [price, high, low, price]
                .map(|p| written(p, next()))
                .join(",");
            let end = if next() % 4 == 0 { "\r\n" } else { "\n" };
            let blank = if next() % 50 == 0 { "\n" } else { "" };
            one.push_str(&format!("{blank}{time},{prices},{volume}{end}"));
            for symbol in ["SPY", "QQQ"] {
                let note = ["", "x", "a b", "\"q\""][(next() % 4) as usize];
                long.push_str(&format!("{symbol},{note},{time},{prices},{volume}{end}"));
            }
        }
        let dir = data("one-pass", &[("IWM.csv", &one), ("long.csv", &long)]);
        let symbols: Vec<String> = ["IWM", "SPY", "QQQ"].map(String::from).to_vec();
        let mut steps = BarSteps::open(&dir, &symbols, false).unwrap();
        let mut streamed: std::collections::BTreeMap<String, Vec<Bar>> = Default::default();
        let mut bars = Vec::new();
        while steps.next_step(&mut bars).unwrap().is_some() {
            for bar in &bars {
                streamed
                    .entry(bar.symbol.clone())
                    .or_default()
                    .push(bar.clone());
            }
        }
        let loaded = crate::market::csv::load(&dir).unwrap();
        assert_eq!(streamed.len(), 3);
        for (symbol, bars) in &loaded {
            let read = &streamed[symbol];
            assert_eq!(read.len(), 3_000, "{symbol}");
            for (got, expected) in read.iter().zip(bars) {
                assert_eq!(got.time, expected.time, "{symbol}");
                let bits = |b: &Bar| [b.open, b.high, b.low, b.close, b.volume].map(f64::to_bits);
                assert_eq!(bits(got), bits(expected), "{symbol} at {}", got.time);
            }
        }
    }

    #[test]
    fn a_long_file_with_a_symbol_column_gives_each_symbol_its_bars() {
        let long = "symbol,time,open,high,low,close\n\
            SPY,2024-01-02T00:00:00Z,1,2,1,1.5\n\
            QQQ,2024-01-02T00:00:00Z,3,4,3,3.5\n\
            \"IWM\",2024-01-02T00:00:00Z,5,6,5,5.5\n\
            SPY,2024-01-03T00:00:00Z,1.5,2,1,1.75\n";
        let seen = read(&data("long", &[("bars.csv", long)]), &["SPY", "IWM"]).unwrap();
        let expected = [
            ("SPY", "2024-01-02", 1.5),
            ("IWM", "2024-01-02", 5.5),
            ("SPY", "2024-01-03", 1.75),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(s, d, c)| (s.to_string(), d.to_string(), *c))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn days_apart_are_chronos_whole_days() {
        let start = chrono::NaiveDate::from_ymd_opt(1999, 12, 20).unwrap();
        for first in 0..800 {
            let earlier = (start + chrono::Days::new(first))
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc();
            for gap in [1, 2, 3, 4, 5, 11, 40, 366] {
                let later = earlier + chrono::Duration::days(gap);
                assert_eq!(
                    super::days_apart(earlier, later),
                    (later - earlier).num_days()
                );
            }
        }
    }

    #[test]
    fn bad_rows_are_refused_naming_their_line() {
        let bad_close = PLAIN.replace("11.25,200", "1x.25,200");
        let err = read(&data("bad-close", &[("SPY.csv", &bad_close)]), &["SPY"]).unwrap_err();
        assert!(
            err.ends_with("SPY.csv line 3: close \"1x.25\" is not a number"),
            "{err}"
        );
        let quoted = PLAIN.replace("11.25,200", "\"oops\",200");
        let err = read(&data("bad-quoted", &[("SPY.csv", &quoted)]), &["SPY"]).unwrap_err();
        assert!(
            err.ends_with("SPY.csv line 3: close \"oops\" is not a number"),
            "{err}"
        );
        let short = PLAIN.replace("11.25,200", "11.25");
        let err = read(&data("short", &[("SPY.csv", &short)]), &["SPY"]).unwrap_err();
        assert!(err.contains("SPY.csv line 3: "), "{err}");
        assert!(
            err.contains("found record with 5 fields, but the previous record has 6"),
            "{err}"
        );
        let not_utf8 = PLAIN
            .replace("2024-01-03", "2024-01-0\u{e9}")
            .replace('\u{e9}', "\u{80}");
        let mut bytes = not_utf8.into_bytes();
        // Leave a lone continuation byte in the date: not UTF-8.
        let at = bytes.windows(2).position(|w| w == [0xc2, 0x80]).unwrap();
        bytes.remove(at);
        let dir = data("not-utf8", &[]);
        std::fs::write(dir.join("SPY.csv"), bytes).unwrap();
        let err = read(&dir, &["SPY"]).unwrap_err();
        assert!(
            err.ends_with("SPY.csv line 3: column 1 is not UTF-8 text"),
            "{err}"
        );
    }

    #[test]
    fn files_of_one_symbol_merge_into_steps_and_unwanted_ones_are_still_checked() {
        let spy = PLAIN;
        let qqq = "date,open,high,low,close\n\
            2024-01-03,1,2,1,1.5\n\
            2024-01-05,1,2,1,1.75\n";
        let dir = data("merge", &[("SPY.csv", spy), ("QQQ.csv", qqq)]);
        let seen = read(&dir, &["SPY", "QQQ"]).unwrap();
        let expected = [
            ("SPY", "2024-01-02", 10.5),
            ("QQQ", "2024-01-03", 1.5),
            ("SPY", "2024-01-03", 11.25),
            ("SPY", "2024-01-04", 11.5),
            ("QQQ", "2024-01-05", 1.75),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(s, d, c)| (s.to_string(), d.to_string(), *c))
            .collect();
        assert_eq!(seen, expected);
        // Listed twice, a symbol is one series; one not wanted is left out.
        assert_eq!(read(&dir, &["QQQ", "SPY", "QQQ"]).unwrap(), expected);
        let only_spy: Vec<_> = expected.iter().filter(|b| b.0 == "SPY").cloned().collect();
        assert_eq!(read(&dir, &["SPY"]).unwrap(), only_spy);
        // A bad row of a file not wanted still fails the load, naming its line.
        let bad = qqq.replace("1.75", "x");
        let dir = data("merge-bad", &[("SPY.csv", spy), ("QQQ.csv", &bad)]);
        let err = read(&dir, &["SPY"]).unwrap_err();
        assert!(
            err.ends_with("QQQ.csv line 3: close \"x\" is not a number"),
            "{err}"
        );
    }

    #[test]
    fn symbols_without_bars_are_named_once_per_listing() {
        let dir = data("missing", &[("SPY.csv", PLAIN)]);
        let symbols: Vec<String> = ["SPY", "IWM", "SPY"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut steps = BarSteps::open(&dir, &symbols, false).unwrap();
        let mut bars = Vec::new();
        while steps.next_step(&mut bars).unwrap().is_some() {}
        assert_eq!(steps.symbols_without_bars(), vec!["IWM".to_string()]);
    }
}
