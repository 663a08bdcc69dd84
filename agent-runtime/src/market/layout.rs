//! A row read in one pass over its bytes, for its file's column layout.
//!
//! The general way reads a row twice: [`RowReader`](super::rows::RowReader) finds its
//! fields (its commas, its end, any quote), then [`Columns`](super::csv::Columns) parses
//! the fields it wants, one lookup at a time. A backtest reads a row per bar, and the two
//! passes cost more than the bar's decision. Nearly every row of a data file is plain:
//! unquoted, its time a date or a UTC time of the usual shape, its prices short decimals. A
//! [`Layout`], made once per file from its header, says what each column holds, and
//! [`Layout::read`] walks the row once, parsing each field where it starts and checking
//! that the byte after it is the comma (or, after the last, the line end) the layout
//! expects. Whatever it does not know — a quote, a space, an exponent, a fraction of a
//! second, an offset, a blank line, a row too near the end of what is buffered — makes it
//! give up on the row, which is then read the general way. So the values read here are the
//! general way's (tested against it), and every error still comes from the general way,
//! naming its file and line.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

use super::decimal::{self, POWERS_OF_TEN};
use crate::domain::Bar;

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Role {
    Symbol,
    Time,
    Open,
    High,
    Low,
    Close,
    Volume,
}

/// A file's columns in order, and the month of the last date read.
#[derive(Debug)]
pub(super) struct Layout {
    columns: Box<[Column]>,
    month: Month,
}

/// What a column holds, as [`Layout::read`] reads it: every number through the same code,
/// into its place among a bar's [`VALUES`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Column {
    Time,
    Number(usize),
    Symbol,
    /// A column the bar does not need; it is still read past (to its comma).
    Other,
}

/// A bar's numbers, in the order [`Column::Number`] places them: open, high, low, close,
/// volume.
const VALUES: usize = 5;

/// Where the volume is among a bar's numbers: the one that may be blank.
const VOLUME: usize = 4;

impl Role {
    fn column(self) -> Column {
        match self {
            Role::Symbol => Column::Symbol,
            Role::Time => Column::Time,
            Role::Open => Column::Number(0),
            Role::High => Column::Number(1),
            Role::Low => Column::Number(2),
            Role::Close => Column::Number(3),
            Role::Volume => Column::Number(VOLUME),
        }
    }
}

/// A month whose dates were read: its `YYYY-MM-` bytes as a word, its first day and how
/// many days it has. Consecutive rows are nearly always in the same month, so a date is
/// its day added to the month's first (one check and an addition), and only a new month
/// goes through chrono's calendar arithmetic.
#[derive(Debug)]
struct Month {
    word: u64,
    first: NaiveDate,
    days: u32,
}

impl Month {
    /// No month yet: no day is in it (and its word is no date's), so the first date reads
    /// its month.
    const NONE: Self = Self {
        word: 0,
        first: NaiveDate::MIN,
        days: 0,
    };

    /// The month `YYYY-MM-` in `word`, if it is one.
    #[cold]
    fn of(word: u64) -> Option<Self> {
        // Digits everywhere but the two dashes (the top bits of bytes 4 and 7).
        const DASHES: u64 = 0x8000_0080_0000_0000;
        const DASH_BYTES: u64 = 0x2d00_002d_0000_0000;
        if non_digits(word) != DASHES || word & 0xff00_00ff_0000_0000 != DASH_BYTES {
            return None;
        }
        let (year, month) = (digits(word, 4) as i32, digits(word >> 40, 2) as u32);
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let days = (28..=31)
            .rev()
            .find(|&day| NaiveDate::from_ymd_opt(year, month, day).is_some())?;
        Some(Self { word, first, days })
    }
}

impl Layout {
    /// The layout of a file `width` columns wide with each of `placed` at its column;
    /// `None` when a column would hold two of them or is past the last (then every row is
    /// read the general way).
    pub(super) fn new(width: usize, placed: &[(Role, usize)]) -> Option<Self> {
        let mut columns = vec![Column::Other; width];
        for &(role, at) in placed {
            let slot = columns.get_mut(at)?;
            if *slot != Column::Other {
                return None;
            }
            *slot = role.column();
        }
        Some(Self {
            columns: columns.into(),
            month: Month::NONE,
        })
    }

    /// Reads the row that `unread` starts with (the row, its line end, then whatever is
    /// buffered after it) into `bar`: its symbol when the file has a symbol column, and its
    /// time, prices and volume. Returns how many bytes the row took, its line end (`\n` or
    /// `\r\n`) included; `None` when the row is not plain, or its bar is not consistent,
    /// and then the row is the general reader's (which writes the whole bar again).
    #[inline]
    pub(super) fn read(&mut self, unread: &[u8], bar: &mut Bar) -> Option<usize> {
        let mut at = 0;
        let mut values = [0.0; VALUES];
        let (last, columns) = self.columns.split_last()?;
        for column in columns {
            let end = field(*column, unread, at, (bar, &mut values, &mut self.month))?;
            if unread.get(end) != Some(&b',') {
                return None;
            }
            at = end + 1;
        }
        let end = field(*last, unread, at, (bar, &mut values, &mut self.month))?;
        [bar.open, bar.high, bar.low, bar.close, bar.volume] = values;
        // The general reader's rule, so an inconsistent bar is refused by it, by line.
        if bar.low > bar.high || bar.close <= 0.0 {
            return None;
        }
        match (unread.get(end), unread.get(end + 1)) {
            (Some(b'\n'), _) => Some(end + 1),
            (Some(b'\r'), Some(b'\n')) => Some(end + 2),
            _ => None,
        }
    }
}

/// Where a row's fields are read into: the bar (its time and symbol), its numbers, and the
/// month of the last date read.
type Targets<'a> = (&'a mut Bar, &'a mut [f64; VALUES], &'a mut Month);

/// Reads the field of `column` at `at`; where it ends.
#[inline(always)]
fn field(
    column: Column,
    unread: &[u8],
    at: usize,
    (bar, values, month): Targets<'_>,
) -> Option<usize> {
    match column {
        Column::Number(slot) => {
            let value = values.get_mut(slot)?;
            match number_into(unread, at, value) {
                Some(end) => Some(end),
                None if slot == VOLUME => blank(unread, at),
                None => None,
            }
        }
        Column::Time => {
            let (time, end) = time_at(unread, at, month)?;
            bar.time = time;
            Some(end)
        }
        Column::Symbol => symbol_into(unread, at, &mut bar.symbol),
        Column::Other => other_end(unread, at),
    }
}

/// Bytes that are all `'0'`, to subtract digits' values out of a word.
const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);

/// The eight bytes at `at`, the first the lowest; `None` past what is buffered.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let bytes = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(bytes).ok()?))
}

/// The top bit of each byte of `word` that is not an ASCII digit.
#[inline(always)]
fn non_digits(word: u64) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    const TOPS: u64 = u64::from_le_bytes([0x80; 8]);
    const ABOVE_NINE: u64 = u64::from_le_bytes([0x76; 8]);
    let x = word ^ ZEROS;
    // A digit is 0 to 9 now: adding 0x76 to its low seven bits leaves its top bit clear,
    // any other byte ends with it set (no carry into the next byte).
    (((x & LOW7).wrapping_add(ABOVE_NINE)) | x) & TOPS
}

/// How many digits `word` starts with (8 when all are).
#[inline(always)]
fn leading_digits(word: u64) -> usize {
    (non_digits(word).trailing_zeros() / 8) as usize
}

/// The first `count` (1 to 8) bytes of `word`, known to be digits, as a number.
#[inline(always)]
fn digits(word: u64, count: usize) -> u64 {
    let x = (word ^ ZEROS) << (8 * (8 - count));
    decimal::combine(x)
}

/// Reads the plain decimal at `at` (`DIGITS(.DIGITS)?`, see [`decimal`](super::decimal):
/// the same value `str::parse` gives) into `into`; where it ends. Up to seven digits in all,
/// the prices of nearly every data file, are read from one word with the point taken out;
/// longer ones by [`long_number_into`]. `None` for anything else (a sign, an exponent, ...).
#[inline(always)]
fn number_into(bytes: &[u8], at: usize, into: &mut f64) -> Option<usize> {
    let head = word(bytes, at)?;
    let whole = leading_digits(head);
    if whole == 0 || whole == 8 {
        return long_number_into(bytes, at, into);
    }
    if (head >> (8 * whole)) as u8 != b'.' {
        *into = digits(head, whole) as i64 as f64;
        return Some(at + whole);
    }
    // The digits after the point moved down over it: the word one byte on, above `whole`.
    let after = word(bytes, at + 1)?;
    let before_point = (1u64 << (8 * whole)) - 1;
    let joined = (head & before_point) | (after & !before_point);
    let len = leading_digits(joined);
    if len == whole || len == 8 {
        return long_number_into(bytes, at, into);
    }
    // Fewer than eight digits: exact as an f64, as is the power of ten, so the division
    // rounds once, correctly, as `str::parse` does (and the signed conversion, one
    // instruction, is exact).
    *into = digits(joined, len) as i64 as f64 / POWERS_OF_TEN[len - whole];
    Some(at + len + 1)
}

/// [`number_into`] of a number it does not read from one word: up to fifteen digits, at most
/// seven of them after the point, and a leading minus.
#[cold]
fn long_number_into(bytes: &[u8], at: usize, into: &mut f64) -> Option<usize> {
    let negative = bytes.get(at) == Some(&b'-');
    let at = at + usize::from(negative);
    let head = word(bytes, at)?;
    let (mut mantissa, mut len) = match leading_digits(head) {
        0 => return None,
        8 => long_whole(bytes, at, head)?,
        len => (digits(head, len), len),
    };
    let mut end = at + len;
    let mut scale = 0;
    if bytes.get(end) == Some(&b'.') {
        let tail = word(bytes, end + 1)?;
        scale = leading_digits(tail);
        len += scale;
        if scale == 0 || scale == 8 || len > MAX_DIGITS {
            return None;
        }
        mantissa = mantissa * decimal::INTEGER_POWERS[scale] + digits(tail, scale);
        end += 1 + scale;
    }
    // At most fifteen digits: exact as an f64 (below 2^53), as is the power of ten.
    let value = mantissa as i64 as f64 / POWERS_OF_TEN[scale];
    *into = if negative { -value } else { value };
    Some(end)
}

/// Digits in a number, at most: any fifteen are below 2^53, exact in an f64.
const MAX_DIGITS: usize = 15;

/// The whole part at `at` that fills `head` (eight digits) and goes on: its value and
/// length, up to [`MAX_DIGITS`].
fn long_whole(bytes: &[u8], at: usize, head: u64) -> Option<(u64, usize)> {
    let next = word(bytes, at + 8)?;
    let whole = digits(head, 8);
    match leading_digits(next) {
        0 => Some((whole, 8)),
        8 => None,
        more => Some((
            whole * decimal::INTEGER_POWERS[more] + digits(next, more),
            8 + more,
        )),
    }
}

/// `at` when the field there is blank (a volume may be: zero).
#[cold]
fn blank(bytes: &[u8], at: usize) -> Option<usize> {
    matches!(bytes.get(at), Some(b',' | b'\r' | b'\n')).then_some(at)
}

/// Reads the symbol at `at` into `into` (left alone when it is the same, as it nearly
/// always is); where it ends. Only printable ASCII, so it is the same text trimmed.
fn symbol_into(bytes: &[u8], at: usize, into: &mut String) -> Option<usize> {
    let rest = bytes.get(at..)?;
    let len = rest
        .iter()
        .position(|&b| !(b'!'..=b'~').contains(&b) || b == b',' || b == b'"')?;
    let symbol = rest.get(..len).filter(|s| !s.is_empty())?;
    if into.as_bytes() != symbol {
        into.clear();
        into.push_str(std::str::from_utf8(symbol).ok()?);
    }
    Some(at + len)
}

/// Where the unneeded field at `at` ends: at its comma or the line end, unless a quote
/// comes first.
fn other_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = bytes.get(at..)?;
    let len = rest
        .iter()
        .position(|&b| matches!(b, b',' | b'\r' | b'\n' | b'"'))?;
    (rest[len] != b'"').then_some(at + len)
}

/// The time at `at` and where it ends: `YYYY-MM-DD` (midnight UTC), or that then `T` or a
/// space and `HH:MM:SS`, then maybe `Z` — the layouts [`parse_time`](super::csv::parse_time)
/// reads without chrono's parsers, read to the same time. `month` is the last date's.
#[inline(always)]
fn time_at(bytes: &[u8], at: usize, month: &mut Month) -> Option<(DateTime<Utc>, usize)> {
    // `YYYY-MM-`, then `DD` and what follows the date.
    let head = word(bytes, at)?;
    let tail = word(bytes, at + 8)?;
    if head != month.word {
        *month = Month::of(head)?;
    }
    if non_digits(tail) & 0x8080 != 0 {
        return None;
    }
    let day = digits(tail, 2) as u32;
    if day == 0 || day > month.days {
        return None;
    }
    let date = month
        .first
        .checked_add_days(Days::new(u64::from(day - 1)))?;
    let end = at + 10;
    let (clock, end) = match (tail >> 16) as u8 {
        b'T' | b' ' => clock_at(bytes, end + 1)?,
        _ => (NaiveTime::MIN, end),
    };
    Some((date.and_time(clock).and_utc(), end))
}

/// `HH:MM:SS` at `at`, then maybe `Z`; the time and where it ends.
fn clock_at(bytes: &[u8], at: usize) -> Option<(NaiveTime, usize)> {
    let clock = word(bytes, at)?;
    // Digits everywhere but the two colons (bytes 2 and 5).
    const COLONS: u64 = 0x0000_8000_0080_0000;
    const COLON_BYTES: u64 = 0x0000_3a00_003a_0000;
    if non_digits(clock) != COLONS || clock & 0x0000_ff00_00ff_0000 != COLON_BYTES {
        return None;
    }
    let time = NaiveTime::from_hms_opt(
        digits(clock, 2) as u32,
        digits(clock >> 24, 2) as u32,
        digits(clock >> 48, 2) as u32,
    )?;
    let end = at + 8;
    let end = end + usize::from(bytes.get(end) == Some(&b'Z'));
    Some((time, end))
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, NaiveDate};

    use super::{Layout, Month, Role};
    use crate::domain::Bar;
    use crate::market::csv::parse_time;

    /// What may follow a field in its row: the next field, the line end, more row.
    const AFTER: [&str; 6] = [",", "\n", "\r\n", ",1.5,2,3\n", "\r", ","];

    /// Padding so every field has its eight bytes buffered after it.
    const PAD: &str = "????????????????";

    #[test]
    fn times_are_read_as_the_general_parser_reads_them() {
        let mut texts = Vec::new();
        let mut day = NaiveDate::from_ymd_opt(999, 12, 25).unwrap();
        while day.year() < 1002 {
            texts.push(day.format("%Y-%m-%d").to_string());
            day += Duration::days(1);
        }
        for day in [
            "2024-02-29",
            "2023-12-31",
            "9999-12-31",
            "0001-01-01",
            "1970-01-01",
        ] {
            for clock in ["", "T00:00:00", " 23:59:59", "T12:34:56Z", " 01:02:03Z"] {
                texts.push(format!("{day}{clock}"));
            }
        }
        // Each date read after the one before (its month mostly known) and on its own.
        let mut carried = Month::NONE;
        for text in &texts {
            for after in AFTER {
                let row = format!("{text}{after}{PAD}");
                let mut fresh = Month::NONE;
                for month in [&mut carried, &mut fresh] {
                    let (time, end) = super::time_at(row.as_bytes(), 0, month).expect(text);
                    assert_eq!(Some(time), parse_time(text), "{text}");
                    assert_eq!(end, text.len(), "{text}");
                }
            }
        }
        // Not dates, or not these layouts: given up on (the general way reads or refuses
        // them), or read to what the general way reads.
        for text in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-01-00",
            "2024/01/02",
            "2024-1-02",
            "2024-01-2",
            "20a4-01-02",
            "2024-01-0a",
            "2024-01-02T24:00:00",
            "2024-01-02T23:60:00",
            "2024-01-02T23:59:60",
            "2024-01-02X10:00:00",
            "2024-01-02T10-00-00",
            "2024-01-02T10:00",
            "2024-01-02T1a:00:00",
            "2024-01-02T10:00:00.5",
            "2024-01-02T10:00:00+01:00",
            "+2024-01-02",
            " 2024-01-02",
            "-2024-01-02",
            "2024-01-02T",
            "",
        ] {
            for after in AFTER {
                let row = format!("{text}{after}{PAD}");
                // With no month known, and with the month of the text's first eight bytes
                // known (as after a good date of that month).
                let mut known = Month::NONE;
                let _ = super::time_at(format!("2024-01-01,{PAD}").as_bytes(), 0, &mut known);
                let _ = super::time_at(format!("2023-02-01,{PAD}").as_bytes(), 0, &mut known);
                if row.len() >= 8 {
                    let _ =
                        super::time_at(format!("{}01,{PAD}", &row[..8]).as_bytes(), 0, &mut known);
                }
                let mut fresh = Month::NONE;
                for month in [&mut known, &mut fresh] {
                    let read = super::time_at(row.as_bytes(), 0, month);
                    // Where the read ends is the layout's to check: it must be the field's end.
                    if let Some((time, _)) = read.filter(|&(_, end)| end == text.len()) {
                        assert_eq!(Some(time), parse_time(text), "{text:?}");
                    }
                }
            }
        }
        // Too near the end of what is buffered: given up on.
        let mut fresh = Month::NONE;
        assert_eq!(super::time_at(b"2024-01-02\n", 0, &mut fresh), None);
    }

    /// Every number read is the one `str::parse` reads, bit for bit, and ends where the
    /// field does; the rest are given up on.
    #[test]
    fn numbers_are_read_as_str_parse_reads_them() {
        let mut texts: Vec<String> = [
            "0",
            "00",
            "007.50",
            "1",
            "-2.5",
            "-0",
            "-0.0",
            "101.7950",
            "99.473",
            "1000",
            "9999999.9999999",
            "1234567",
            "12345678",
            "123456789012345",
            "12345678.1234567",
            "87654321",
            "100000000",
            "99999999.5",
            "0.1",
            "0.3",
            "2.675",
            "100.0050",
            "1.0000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut price = 100.0_f64;
        for step in 0..20_000 {
            price *= 1.0 + ((step * 7919 % 1000) as f64 - 500.0) / 25_000.0;
            texts.push(format!("{price:.4}"));
            texts.push(format!("{price:.2}"));
            texts.push(price.to_string());
        }
        let mut read = 0;
        for text in &texts {
            for after in AFTER {
                let row = format!("{text}{after}{PAD}");
                let mut value = f64::NAN;
                if let Some(end) = super::number_into(row.as_bytes(), 0, &mut value) {
                    let expected: f64 = text.parse().unwrap();
                    assert_eq!(value.to_bits(), expected.to_bits(), "{text}");
                    assert_eq!(end, text.len(), "{text}");
                    read += 1;
                }
            }
        }
        // The prices a data file writes (four or two decimals) are read here, not given up on.
        assert!(read >= 2 * 20_000 * AFTER.len(), "{read}");
        for text in [
            "",
            "-",
            ".",
            "1.",
            ".5",
            "+1",
            "1e5",
            "1E-3",
            " 1",
            "--1",
            "inf",
            "NaN",
            "0x10",
            "1.12345678",
            "1234567890123456",
            "12345678.12345678",
            "123456789.1234567",
            "\"1\"",
        ] {
            for after in AFTER {
                let row = format!("{text}{after}{PAD}");
                let mut value = f64::NAN;
                let end = super::number_into(row.as_bytes(), 0, &mut value);
                // A read that stops early is refused by the layout (the byte after is not
                // a comma or a line end); one that reaches the field's end must be right.
                if end == Some(text.len()) {
                    assert_eq!(Some(value), text.parse().ok(), "{text:?}");
                }
            }
        }
    }

    fn layout(roles: &[Role]) -> Layout {
        let placed: Vec<(Role, usize)> = roles.iter().copied().zip(0..).collect();
        Layout::new(roles.len(), &placed).unwrap()
    }

    const OHLCV: [Role; 6] = [
        Role::Time,
        Role::Open,
        Role::High,
        Role::Low,
        Role::Close,
        Role::Volume,
    ];

    #[test]
    fn a_plain_row_is_read_in_one_pass() {
        let mut layout = layout(&OHLCV);
        let mut bar = Bar::default();
        let rows = b"2024-01-02,100.0000,100.5000,99.4730,99.9728,1000\n2024-01-03,1,2,1,1.5,\r\n";
        let taken = layout.read(rows, &mut bar).unwrap();
        assert_eq!(taken, 50);
        assert_eq!(bar.time, parse_time("2024-01-02").unwrap());
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close, bar.volume),
            (100.0, 100.5, 99.473, 99.9728, 1000.0)
        );
        // The next row is too near the end of the buffer to be read here.
        assert_eq!(layout.read(&rows[taken..], &mut bar), None);
        let mut padded = rows[taken..].to_vec();
        padded.extend_from_slice(b"2024-01-04,1,1,1,1,1\n");
        assert_eq!(layout.read(&padded, &mut bar), Some(23));
        assert_eq!((bar.close, bar.volume), (1.5, 0.0));
    }

    #[test]
    fn rows_that_are_not_plain_are_left_to_the_general_reader() {
        let mut layout = layout(&OHLCV);
        for row in [
            // Quotes, spaces, a field too many or too few, a lone CR, a blank line.
            "\"2024-01-02\",1,2,1,1.5,10\n",
            "2024-01-02,\"1\",2,1,1.5,10\n",
            "2024-01-02, 1,2,1,1.5,10\n",
            "2024-01-02,1,2,1,1.5,10,\n",
            "2024-01-02,1,2,1,1.5,10,11\n",
            "2024-01-02,1,2,1,1.5\n",
            "2024-01-02,1,2,1,1.5,10\r2024",
            "\n2024-01-02,1,2,1,1.5,10\n",
            // Numbers and times of other shapes, a bar the general reader refuses.
            "2024-01-02,1e2,2,1,1.5,10\n",
            "2024-01-02,1,2,1,1.5,10.\n",
            "2024-01-02 10:00:00.5,1,2,1,1.5,10\n",
            "2024-01-02T10:00:00+01:00,1,2,1,1.5,10\n",
            "2024-01-02,1,1,2,1.5,10\n",
            "2024-01-02,1,2,1,0,10\n",
            "2024-01-02,1,2,1,-1,10\n",
        ] {
            let padded = format!("{row}{PAD}");
            let mut bar = Bar::default();
            assert_eq!(layout.read(padded.as_bytes(), &mut bar), None, "{row:?}");
        }
    }

    #[test]
    fn symbols_and_unneeded_columns_are_read_past() {
        // Column 1 is none of the bar's.
        let placed = [
            (Role::Symbol, 0),
            (Role::Time, 2),
            (Role::Open, 3),
            (Role::High, 4),
            (Role::Low, 5),
            (Role::Close, 6),
        ];
        let mut layout = Layout::new(7, &placed).unwrap();
        let mut bar = Bar::default();
        let row = format!("SPY,x y,2024-01-02T10:00:00Z,1,2,1,1.5\r\n{PAD}");
        assert_eq!(
            layout.read(row.as_bytes(), &mut bar),
            Some(row.len() - PAD.len())
        );
        assert_eq!(bar.symbol, "SPY");
        assert_eq!(bar.time, parse_time("2024-01-02T10:00:00Z").unwrap());
        assert_eq!(bar.volume, 0.0);
        for row in [
            "SPY ,,2024-01-02,1,2,1,1.5\n",
            ",,2024-01-02,1,2,1,1.5\n",
            "\"SPY\",,2024-01-02,1,2,1,1.5\n",
            "SPY,\"x\",2024-01-02,1,2,1,1.5\n",
            "SP\u{e9},,2024-01-02,1,2,1,1.5\n",
        ] {
            let padded = format!("{row}{PAD}");
            assert_eq!(layout.read(padded.as_bytes(), &mut bar), None, "{row:?}");
        }
        // Two roles in one column, or one past the last: no layout.
        assert!(Layout::new(2, &[(Role::Time, 0), (Role::Open, 0)]).is_none());
        assert!(Layout::new(2, &[(Role::Time, 0), (Role::Open, 2)]).is_none());
    }
}
