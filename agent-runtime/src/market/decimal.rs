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
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Integers up to this are exact in an f64.
const MAX_EXACT: u64 = 1 << 53;

/// At most this many digits fit a u64 without overflow.
const MAX_DIGITS: usize = 19;

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
    use super::plain;

    /// Every answer of the fast path is the general parser's, bit for bit.
    fn agrees(text: &str) -> bool {
        match plain(text.as_bytes()) {
            Some(value) => text
                .parse::<f64>()
                .is_ok_and(|expected| expected.to_bits() == value.to_bits()),
            None => true,
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
