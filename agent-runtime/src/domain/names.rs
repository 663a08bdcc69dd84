//! Comparing names (symbols, roles, sources) where a hot path compares one per report per
//! bar.

/// Whether two names (a symbol, a role: a few bytes each) are the same.
///
/// `==` on strings calls `memcmp`, which for a name this short costs several times the
/// comparison itself, and the seats and the decision compare a name per report per bar. Two
/// overlapping loads of 1, 4 or 8 bytes from each end cover any name up to 16 bytes, so the
/// comparison stays in place; longer names are left to `==`.
#[inline]
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        9..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// The `N` bytes of `bytes` from `at`; zeros where they run past its end, which
/// [`same_name`] never asks for.
#[inline]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|word| word.try_into().ok())
        .unwrap_or([0; N])
}

#[cfg(test)]
mod tests {
    use super::same_name;

    /// The comparison in place answers what `==` does, for names of every length it loads
    /// differently (1–3, 4–8, 9–16 bytes, longer), differing anywhere or not at all.
    #[test]
    fn same_name_is_string_equality() {
        let base = "ABCDEFGHIJKLMNOPQRSTUVWXY";
        let mut names: Vec<String> = (0..=base.len()).map(|n| base[..n].to_string()).collect();
        for n in 1..=base.len() {
            for at in 0..n {
                let mut name = base.as_bytes()[..n].to_vec();
                name[at] = b'z';
                names.push(String::from_utf8(name).unwrap());
            }
        }
        names.extend(
            [
                "SPY",
                "QQQ",
                "BTC/USD",
                "trend",
                "momentum",
                "quant:volatility",
            ]
            .map(String::from),
        );
        for a in &names {
            for b in &names {
                assert_eq!(same_name(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
