//! OHLCV bars from CSV: one file per symbol (named `SYMBOL.csv`), or one long file with a
//! `symbol` column, or a directory of either.
//!
//! Headers are matched case-insensitively and accept the usual spellings (`time`,
//! `timestamp`, `date` or `t`; `open` or `o`; ...), so exports from most tools load as they are.
//! Without a named time column, an unnamed first column is the time: that is where pandas'
//! `DataFrame.to_csv` puts a frame's time index (header `,open,high,...`), the layout of most
//! data sets users bring. Times are RFC 3339 (a space may stand for the `T`), `YYYY-MM-DD
//! HH:MM:SS[.fff]` (UTC) or a bare date (midnight UTC). A bad row fails the load with its file
//! and line rather than being skipped: silently missing bars would change every indicator
//! after them.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::MarketDataError;
use super::decimal;
use super::layout::{Layout, Role};
use super::rows::Field;
use crate::domain::Bar;

/// Bars by symbol, each series sorted by time without duplicates.
pub type BarSet = BTreeMap<String, Vec<Bar>>;

/// Loads a CSV file or every `.csv` file in a directory.
pub fn load(path: &Path) -> Result<BarSet, MarketDataError> {
    let mut set = BarSet::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| read_error(path, e))?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"))
            })
            .collect();
        files.sort();
        for file in files {
            load_file(&file, &mut set)?;
        }
    } else {
        load_file(path, &mut set)?;
    }
    for bars in set.values_mut() {
        bars.sort_by_key(|bar| bar.time);
        bars.dedup_by_key(|bar| bar.time);
    }
    Ok(set)
}

fn read_error(path: &Path, err: impl std::fmt::Display) -> MarketDataError {
    MarketDataError::Read {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

fn load_file(path: &Path, set: &mut BarSet) -> Result<(), MarketDataError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    let default_symbol = path.file_stem().map(|s| s.to_string_lossy().to_string());
    parse_into(
        &text,
        &path.display().to_string(),
        default_symbol.as_deref(),
        set,
    )
}

/// Parses CSV text; `default_symbol` is used when there is no `symbol` column.
pub fn parse_into(
    text: &str,
    origin: &str,
    default_symbol: Option<&str>,
    set: &mut BarSet,
) -> Result<(), MarketDataError> {
    // A byte order mark (`to_csv(encoding="utf-8-sig")`, Excel) is not part of the header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let parse_error = |line: u64, message: String| MarketDataError::Parse {
        path: origin.to_string(),
        line,
        message,
    };
    let headers = reader
        .headers()
        .map_err(|e| parse_error(1, e.to_string()))?
        .clone();
    let columns = Columns::find(&headers, default_symbol.is_some())
        .map_err(|message| parse_error(1, message))?;
    for record in reader.records() {
        let record =
            record.map_err(|e| parse_error(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let bar = columns
            .bar(&record, default_symbol)
            .map_err(|message| parse_error(line, message))?;
        set.entry(bar.symbol.clone()).or_default().push(bar);
    }
    Ok(())
}

/// Where each field of a bar is in a file's rows, found by header name.
pub(super) struct Columns {
    time: TimeColumn,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    symbol: Option<usize>,
}

impl Columns {
    /// The columns named in `headers`; an error names what is missing. A file without a
    /// symbol column needs `has_default_symbol` (the file name).
    pub(super) fn find(
        headers: &::csv::StringRecord,
        has_default_symbol: bool,
    ) -> Result<Self, String> {
        let find = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        };
        let column = |names: &[&str]| find(names).ok_or_else(|| format!("no {} column", names[0]));
        let time = time_column(headers).map_err(String::from)?;
        let columns = Self {
            time,
            open: column(&["open", "o"])?,
            high: column(&["high", "h"])?,
            low: column(&["low", "l"])?,
            close: column(&["close", "c"])?,
            volume: find(&["volume", "v"]),
            symbol: find(&["symbol", "ticker", "s"]),
        };
        if columns.symbol.is_none() && !has_default_symbol {
            return Err("no symbol column and no file name to take it from".into());
        }
        Ok(columns)
    }

    /// The layout of a file `width` columns wide with these columns, for reading its
    /// rows in one pass; `None` when the columns do not fit it (see [`Layout::new`]).
    pub(super) fn layout(&self, width: usize) -> Option<Layout> {
        let mut placed = vec![
            (Role::Time, self.time.index),
            (Role::Open, self.open),
            (Role::High, self.high),
            (Role::Low, self.low),
            (Role::Close, self.close),
        ];
        placed.extend(self.volume.map(|i| (Role::Volume, i)));
        placed.extend(self.symbol.map(|i| (Role::Symbol, i)));
        Layout::new(width, &placed)
    }

    /// Whether rows name their symbol; without, every row is the file name's.
    pub(super) fn has_symbol_column(&self) -> bool {
        self.symbol.is_some()
    }

    /// One row as a bar; an error says which field is wrong.
    pub(super) fn bar(
        &self,
        record: &::csv::StringRecord,
        default_symbol: Option<&str>,
    ) -> Result<Bar, String> {
        let mut bar = Bar::default();
        let field = |i| Field::alone(record.get(i).unwrap_or("").as_bytes());
        self.read_into(field, default_symbol, &mut bar)?;
        Ok(bar)
    }

    /// [`bar`](Self::bar) of a row whose field `i` is `field(i)` (raw bytes, trimmed here;
    /// empty when the row has none), written over `bar`: a backtest reads every row of a
    /// file into the same few bars, whose symbol's buffer is then reused (and, in a file of
    /// one symbol, already holds it). Fields are checked in the order symbol, time, open,
    /// high, low, close, volume; the first wrong one is named.
    pub(super) fn read_into<'r>(
        &self,
        field: impl Fn(usize) -> Field<'r>,
        default_symbol: Option<&str>,
        bar: &mut Bar,
    ) -> Result<(), String> {
        let number = |i: usize, name: &str| number(field(i), i, name);
        let symbol = match self.symbol {
            Some(i) => text(field(i).bytes(), i)?,
            None => default_symbol.unwrap_or_default(),
        };
        if bar.symbol != symbol {
            bar.symbol.clear();
            bar.symbol.push_str(symbol);
        }
        bar.time = self.time(field(self.time.index).bytes())?;
        bar.open = number(self.open, "open")?;
        bar.high = number(self.high, "high")?;
        bar.low = number(self.low, "low")?;
        bar.close = number(self.close, "close")?;
        bar.volume = match self.volume {
            Some(i) => volume(field(i), i)?,
            None => 0.0,
        };
        if bar.low > bar.high || bar.close <= 0.0 {
            return Err(format!(
                "inconsistent bar (low {} high {} close {})",
                bar.low, bar.high, bar.close
            ));
        }
        Ok(())
    }

    /// The time in `raw`: the usual layouts straight from the bytes, others the general way.
    fn time(&self, raw: &[u8]) -> Result<DateTime<Utc>, String> {
        if let Some(time) = parse_plain_utc(raw) {
            return Ok(time);
        }
        let text = text(raw, self.time.index)?;
        parse_time(text).ok_or_else(|| self.time.not_a_time(text))
    }
}

/// Field `i` trimmed of ASCII whitespace, as text; one that is not UTF-8 is an error
/// naming its column.
fn text(raw: &[u8], i: usize) -> Result<&str, String> {
    std::str::from_utf8(raw.trim_ascii()).map_err(|_| format!("column {} is not UTF-8 text", i + 1))
}

/// Field `i` as a finite number: a plain decimal straight from the bytes (the same value,
/// see [`decimal`](super::decimal)), anything else through `str::parse`.
#[inline(always)]
fn number(field: Field<'_>, i: usize, name: &str) -> Result<f64, String> {
    match decimal::plain_words(field.tail, field.len) {
        Some(value) => Ok(value),
        None => any_number(field.bytes(), i, name),
    }
}

/// Field `i` as the volume: [`number`], or zero when the field is blank. A plain decimal,
/// nearly every volume, is read before the field is looked at for blanks.
#[inline(always)]
fn volume(field: Field<'_>, i: usize) -> Result<f64, String> {
    match decimal::plain_words(field.tail, field.len) {
        Some(value) => Ok(value),
        None if field.bytes().trim_ascii().is_empty() => Ok(0.0),
        None => any_number(field.bytes(), i, "volume"),
    }
}

/// [`number`] of a field that is not a short plain decimal (or ends its buffer).
#[cold]
fn any_number(raw: &[u8], i: usize, name: &str) -> Result<f64, String> {
    if let Some(value) = decimal::plain(raw) {
        return Ok(value);
    }
    let text = text(raw, i)?;
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{name} {text:?} is not a number"))
}

/// Header names taken as the time column.
const TIME_NAMES: [&str; 5] = ["time", "timestamp", "date", "datetime", "t"];

/// Where the times are: a named column, or pandas' unnamed index column.
struct TimeColumn {
    index: usize,
    named: bool,
}

impl TimeColumn {
    /// The error for a row whose time does not parse, naming the column it was read from.
    fn not_a_time(&self, value: &str) -> String {
        if self.named {
            format!("time {value:?} is not a date")
        } else {
            format!(
                "the unnamed first column is read as the time (no column is named {}), \
                 but {value:?} is not a date",
                TIME_NAMES.join(", ")
            )
        }
    }
}

/// The named time column, else an unnamed first column (a pandas index).
fn time_column(headers: &::csv::StringRecord) -> Result<TimeColumn, &'static str> {
    let named = headers
        .iter()
        .position(|h| TIME_NAMES.iter().any(|n| h.eq_ignore_ascii_case(n)));
    match named {
        Some(index) => Ok(TimeColumn { index, named: true }),
        None if headers.get(0).is_some_and(str::is_empty) => Ok(TimeColumn {
            index: 0,
            named: false,
        }),
        None => {
            Err("no time column (time, timestamp, date, datetime or t, or an unnamed first column)")
        }
    }
}

/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` or `YYYY-MM-DD`, all read as UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_plain_utc(text.as_bytes()).or_else(|| parse_any_time(text))
}

/// [`parse_time`] the general way, through chrono's parsers: what every time was read with
/// before the plain layouts had their own reader, and what that reader is tested against.
fn parse_any_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

/// The two layouts nearly every data file uses, read without chrono's format parser (a
/// backtest parses one time per bar, and trying the general formats in turn cost more than
/// the rest of the row): `YYYY-MM-DD` and `YYYY-MM-DD[T ]HH:MM:SS` with an optional `Z`.
/// Anything else (fractions, offsets, odd widths) is `None` and goes the general way, which
/// reads these layouts the same (tested against it). The date's digits are read a word at
/// a time, as prices are.
fn parse_plain_utc(text: &[u8]) -> Option<DateTime<Utc>> {
    let (date, clock) = match text.len() {
        10 => (text, None),
        19 => (&text[..10], Some(&text[10..])),
        20 if text[19] == b'Z' => (&text[..10], Some(&text[10..19])),
        _ => return None,
    };
    // `YYYY-MM-` as one word, its first byte the lowest.
    let word = u64::from_le_bytes(<[u8; 8]>::try_from(&date[..8]).ok()?);
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = decimal::eight(word, 4)?;
    let month = decimal::eight(word >> 40, 2)?;
    let day = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        two_digits(date[8], date[9])?,
    )?;
    let time = match clock {
        None => NaiveTime::MIN,
        Some(&[b'T' | b' ', h1, h2, b':', m1, m2, b':', s1, s2]) => NaiveTime::from_hms_opt(
            two_digits(h1, h2)?,
            two_digits(m1, m2)?,
            two_digits(s1, s2)?,
        )?,
        Some(_) => return None,
    };
    Some(day.and_time(time).and_utc())
}

/// Two ASCII digits as a number.
fn two_digits(tens: u8, ones: u8) -> Option<u32> {
    let (tens, ones) = (tens.wrapping_sub(b'0'), ones.wrapping_sub(b'0'));
    (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
}

/// Writes bars as a long CSV (with a `symbol` column) that [`load`] reads back.
pub fn write_long(set: &BarSet, out: impl std::io::Write) -> Result<(), ::csv::Error> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(["symbol", "time", "open", "high", "low", "close", "volume"])?;
    for bars in set.values() {
        for bar in bars {
            writer.write_record([
                bar.symbol.clone(),
                bar.time.to_rfc3339(),
                bar.open.to_string(),
                bar.high.to_string(),
                bar.low.to_string(),
                bar.close.to_string(),
                bar.volume.to_string(),
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, NaiveDate};

    use super::parse_plain_utc;

    /// Every time the plain reader reads is the one chrono reads.
    #[test]
    fn plain_times_are_read_as_chrono_reads_them() {
        let mut day = NaiveDate::from_ymd_opt(999, 12, 25).unwrap();
        let mut texts = Vec::new();
        while day.year() < 1002 {
            texts.push(day.format("%Y-%m-%d").to_string());
            day += Duration::days(1);
        }
        for day in ["2024-02-29", "2023-12-31", "9999-12-31", "0001-01-01"] {
            for clock in ["", "T00:00:00", " 23:59:59", "T12:34:56Z", " 01:02:03Z"] {
                texts.push(format!("{day}{clock}"));
            }
        }
        for text in &texts {
            assert_eq!(
                parse_plain_utc(text.as_bytes()),
                super::parse_any_time(text),
                "{text}"
            );
            assert!(parse_plain_utc(text.as_bytes()).is_some(), "{text}");
        }
        // Not dates, or not these layouts: `None` here, whatever chrono makes of them.
        for text in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-01-00",
            "2024/01/02",
            "2024-1-02x",
            "20a4-01-02",
            "2024-01-0a",
            "2024-01-02T24:00:00",
            "2024-01-02T23:60:00",
            "2024-01-02T23:59:60",
            "2024-01-02X10:00:00",
            "2024-01-02T10-00-00",
            "2024-01-02T10:00:00X",
            "2024-01-02T1a:00:00",
            "2024-01-02T10:00:00.5",
            "2024-01-02T10:00:00+01:00",
            "+2024-01-02",
            "2024-01-02 ",
            "",
        ] {
            let plain = parse_plain_utc(text.as_bytes());
            assert!(
                plain.is_none() || plain == super::parse_any_time(text),
                "{text}"
            );
        }
    }
}
