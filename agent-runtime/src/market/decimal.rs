//! Prices as data files write them (`101.7950`), read without `str::parse`.
//!
//! A backtest reads five numbers a bar, and the general parser (UTF-8 check, trimming,
//! exponents, special values, big-number arithmetic kept ready) cost more than the rest of
//! the row. Almost every price is a plain decimal with few digits, and for those the exact
//! answer is one division: the digits as an integer (exact in an f64 below 2^53) divided by
//! a power of ten (exact up to 10^22), and IEEE division rounds correctly, so the result is
//! the correctly rounded value of the decimal — the one `str::parse` gives, to the bit.
//! Anything else is `None`, for the caller to read the general way.

/// Powers of ten exactly representable as f64.
pub(super) const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Integers up to this are exact in an f64.
const MAX_EXACT: u64 = 1 << 53;

/// At most this many digits fit a u64 without overflow.
const MAX_DIGITS: usize = 19;

/// Powers of ten as integers, for joining a number's whole and fraction digits.
pub(super) const INTEGER_POWERS: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The field `tail[..len]` as [`plain`] reads it (the same answers, and `None` where it
/// says `None` or the shape is not one handled here), eight digits at a time: the bytes
/// after the field (the rest of its row) let whole words be loaded. Handles up to eight
/// digits on each side of the point, which is nearly every price; [`plain`] the rest.
#[inline(always)]
pub(super) fn plain_words(tail: &[u8], len: usize) -> Option<f64> {
    let (negative, start) = match tail.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    let length = len.checked_sub(start)?;
    let head = word(tail, start)?;
    let point = match points(head, length.min(8)) {
        0 if length <= 8 => length,
        0 if tail.get(start + 8) == Some(&b'.') => 8,
        0 => return None,
        dots => (dots.trailing_zeros() / 8) as usize,
    };
    let whole = eight(head, point)?;
    let (mantissa, fraction) = match length - point {
        0 => (whole, 0),
        1 => return None,
        after => {
            let fraction = after - 1;
            let digits = eight(word(tail, start + point + 1)?, fraction)?;
            (whole * INTEGER_POWERS[fraction] + digits, fraction)
        }
    };
    if mantissa > MAX_EXACT {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[fraction];
    Some(if negative { -value } else { value })
}

/// The eight bytes at `at`, the first the lowest.
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let bytes = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(bytes).ok()?))
}

/// The points among the first `len` (at most eight) bytes of `word`, as top bits.
fn points(word: u64, len: usize) -> u64 {
    // The low `len` bytes' bits; none when `len` is 0 (a shift by 64 is none).
    let mask = u64::MAX.checked_shr(64 - 8 * len as u32).unwrap_or(0);
    super::rows::matches(word, b'.') & mask
}

/// The value of the first `count` (1 to 8) bytes of `word` as decimal digits; `None` if
/// one is not a digit. The digits are moved to the top of the word (the bytes before them
/// become leading zeros) and combined in pairs, fours and eights by three multiplications.
#[inline(always)]
pub(super) fn eight(word: u64, count: usize) -> Option<u64> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const TOPS: u64 = u64::from_le_bytes([0x80; 8]);
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    if count == 0 || count > 8 {
        return None;
    }
    let x = (word ^ (ONES * u64::from(b'0'))) << (8 * (8 - count));
    // A byte is a digit when it is at most 9 now: adding 0x76 to its low seven bits sets
    // its top bit otherwise (without carrying into the next byte), as does a top bit of its own.
    if (((x & LOW7).wrapping_add(ONES * 0x76)) | x) & TOPS != 0 {
        return None;
    }
    Some(combine(x))
}

/// The number whose decimal digits are the bytes of `x` (each 0 to 9), the lowest byte the
/// leading digit and the highest the ones: combined in pairs, fours and eights by three
/// multiplications.
#[inline(always)]
pub(super) fn combine(x: u64) -> u64 {
    let pairs = x.wrapping_mul(10).wrapping_add(x >> 8);
    const PAIRS: u64 = 0x0000_00ff_0000_00ff;
    let high = (pairs & PAIRS).wrapping_mul(100 + (1_000_000 << 32));
    let low = ((pairs >> 16) & PAIRS).wrapping_mul(1 + (10_000 << 32));
    (high.wrapping_add(low) >> 32) & 0xffff_ffff
}

/// `text` read as `str::parse::<f64>` would, when it is exactly `-?DIGITS(.DIGITS)?` and
/// small enough to read with one exact division; `None` for anything else (spaces, `+`,
/// exponents, `1.`, long mantissas, ...), which the caller parses the general way.
#[inline]
pub(super) fn plain(text: &[u8]) -> Option<f64> {
    let (negative, unsigned) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    // Digits, and where a point was (at most one); one pass, one test per byte on digits.
    let (mut mantissa, mut point) = (0u64, None);
    for (i, &byte) in unsigned.iter().enumerate() {
        let digit = byte.wrapping_sub(b'0');
        if digit < 10 {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        } else if byte == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let fraction = match point {
        None => 0,
        // Digits on both sides of the point, as in `1.5` (not `1.` or `.5`).
        Some(at) if at > 0 && at + 1 < unsigned.len() => unsigned.len() - at - 1,
        Some(_) => return None,
    };
    let digits = unsigned.len() - usize::from(point.is_some());
    if digits == 0 || digits > MAX_DIGITS || mantissa > MAX_EXACT {
        return None;
    }
    let value = mantissa as f64 / *POWERS_OF_TEN.get(fraction)?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::{plain, plain_words};

    /// What follows a field in its row's buffer: nothing, or bytes that would change the
    /// answer if a reader looked past the field (digits, points, a sign).
    const TAILS: [&str; 5] = ["", ",", ",1000\n", "9.9.9.9.99999999", "-0123456789.12345"];

    /// Every answer of the fast paths is the general parser's, bit for bit.
    fn agrees(text: &str) -> bool {
        let same = |value: f64| {
            text.parse::<f64>()
                .is_ok_and(|expected| expected.to_bits() == value.to_bits())
        };
        let words = TAILS.iter().all(|tail| {
            let buffer = format!("{text}{tail}");
            plain_words(buffer.as_bytes(), text.len()).is_none_or(same)
        });
        words && plain(text.as_bytes()).is_none_or(same)
    }

    /// The word-at-a-time reader reads what a row of prices holds.
    #[test]
    fn prices_are_read_a_word_at_a_time_when_the_row_goes_on() {
        let row = b"101.7950,99.4730,1000,-2.5,12345678.87654321,0.1,end of the row";
        let fields = [
            (0, 8, 101.795),
            (9, 7, 99.473),
            (17, 4, 1000.0),
            (22, 4, -2.5),
        ];
        for (start, len, expected) in fields {
            assert_eq!(plain_words(&row[start..], len), Some(expected));
        }
        assert_eq!(plain_words(&row[27..], 17), Some(12345678.87654321));
        assert_eq!(plain_words(&row[45..], 3), Some(0.1));
        // Too close to the end of what is buffered: left to `plain`.
        assert_eq!(plain_words(b"1.5", 3), None);
        for other in [
            "1.",
            ".5",
            "1..5",
            "1.5.",
            "+1.5",
            "1e5",
            " 1.5",
            "123456789.5",
            "1.123456789",
        ] {
            let buffer = format!("{other},0000000000000000");
            assert_eq!(plain_words(buffer.as_bytes(), other.len()), None, "{other}");
        }
    }

    #[test]
    fn plain_decimals_are_read_and_the_rest_is_left_to_the_general_parser() {
        assert_eq!(plain(b"101.7950"), Some(101.795));
        assert_eq!(plain(b"1000"), Some(1000.0));
        assert_eq!(plain(b"0.1"), Some(0.1));
        assert_eq!(plain(b"-2.5"), Some(-2.5));
        let negative_zero = plain(b"-0.0").map(f64::to_bits);
        assert_eq!(negative_zero, Some((-0.0f64).to_bits()));
        // Long enough to need the general parser's arithmetic.
        assert_eq!(plain(b"9007199254740993"), None);
        assert_eq!(plain(b"0.12345678901234567890"), None);
        for other in [
            "", "-", ".", "1.", ".5", "+1", "1e5", "1E-3", " 1", "1 ", "1,5", "--1", "1.2.3",
            "inf", "NaN", "0x10", "١",
        ] {
            assert_eq!(plain(other.as_bytes()), None, "{other:?}");
        }
    }

    #[test]
    fn every_value_read_is_the_one_str_parse_gives() {
        let fixed = [
            "0",
            "00",
            "007.50",
            "0.0000000000000000001",
            "9007199254740992",
            "9007199254740991.0",
            "1234567890123456789",
            "0.1234567890123456789",
            "123456789.0123456789",
            "999999999999999999",
            "4503599627370497.5",
            "0.3",
            "2.675",
            "1.0000000000000002",
            "179769313486231570",
            "0.000001",
            "100.0050",
        ];
        for text in fixed {
            assert!(agrees(text), "{text}");
            assert!(agrees(&format!("-{text}")), "-{text}");
        }
        // A deterministic walk over mantissas of every length and every split into whole
        // and fraction digits, including the limits of the fast path.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 1 + (seed >> 59) as usize % 20;
            let digits: String = (0..len)
                .map(|k| char::from(b'0' + ((seed >> (k * 3 % 60)) % 10) as u8))
                .collect();
            let split = (seed >> 40) as usize % (len + 1);
            let text = if split == 0 || split == len {
                digits
            } else {
                format!("{}.{}", &digits[..split], &digits[split..])
            };
            assert!(agrees(&text), "{text}");
        }
    }

    #[test]
    fn prices_as_a_data_file_writes_them_round_trip() {
        let mut price = 100.0_f64;
        for step in 0..100_000 {
            price *= 1.0 + ((step * 7919 % 1000) as f64 - 500.0) / 25_000.0;
            for text in [format!("{price:.4}"), format!("{price:.2}")] {
                assert!(plain(text.as_bytes()).is_some(), "{text}");
                assert!(agrees(&text), "{text}");
            }
            assert!(agrees(&price.to_string()), "{price}");
        }
    }
}
