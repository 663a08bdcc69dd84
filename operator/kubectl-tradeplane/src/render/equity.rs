//! An ASCII equity curve of a backtest run's results artifact, with buy-and-hold drawn
//! alongside: `*` the strategy, `.` buy-and-hold (the strategy on top where both fall in one
//! cell). The value axis is labelled with the highest and lowest value drawn; the time axis
//! with the first and last point's dates. Pure, and fits the width asked for.

use tradeplane_contract::backtest_results::{EquityPoint, RunResults};

/// Characters left of the plot: a 10-wide value label and ` |`.
const LABEL_WIDTH: usize = 10;
const MARGIN: usize = LABEL_WIDTH + 2;
pub const STRATEGY: char = '*';
pub const BUY_AND_HOLD: char = '.';

/// The chart, `height` plot rows (at least 2) and at most `width` columns (at least 20),
/// followed by the time axis and a legend. Empty results give one line saying so.
pub fn chart(results: &RunResults, width: usize, height: usize) -> String {
    let points = &results.equity;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return "no equity points in the results\n".to_string();
    };
    let (height, columns) = (height.max(2), width.max(20) - MARGIN);
    let sampled = columns_of(points, columns);
    let (low, high) = range(&sampled);
    let mut grid = vec![vec![' '; sampled.len()]; height];
    for (column, point) in sampled.iter().enumerate() {
        grid[row(point.buy_and_hold, low, high, height)][column] = BUY_AND_HOLD;
    }
    for (column, point) in sampled.iter().enumerate() {
        grid[row(point.equity, low, high, height)][column] = STRATEGY;
    }
    let mut text = String::new();
    for (index, cells) in grid.iter().enumerate() {
        let label = match index {
            0 => value_label(high),
            i if i == height - 1 => value_label(low),
            _ => String::new(),
        };
        let cells: String = cells.iter().collect();
        text.push_str(format!("{label:>LABEL_WIDTH$} |{cells}").trim_end());
        text.push('\n');
    }
    text.push_str(&format!(
        "{:>LABEL_WIDTH$} +{}\n",
        "",
        "-".repeat(sampled.len())
    ));
    let (from, to) = (date(first), date(last));
    let gap = sampled.len().saturating_sub(from.len() + to.len()).max(1);
    text.push_str(&format!("{:MARGIN$}{from}{:gap$}{to}\n", "", ""));
    text.push_str(&format!(
        "{:MARGIN$}{STRATEGY} strategy  {BUY_AND_HOLD} buy-and-hold\n",
        ""
    ));
    text
}

/// One point per column, spread evenly from the first to the last; every point when
/// there are no more points than columns.
fn columns_of(points: &[EquityPoint], columns: usize) -> Vec<EquityPoint> {
    if points.len() <= columns {
        return points.to_vec();
    }
    (0..columns)
        .map(|c| points[c * (points.len() - 1) / (columns - 1)])
        .collect()
}

/// The lowest and highest value drawn, over both series.
fn range(points: &[EquityPoint]) -> (f64, f64) {
    points
        .iter()
        .flat_map(|p| [p.equity, p.buy_and_hold])
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        })
}

/// Row 0 is the top (`high`); a flat range draws in the middle row.
fn row(value: f64, low: f64, high: f64, height: usize) -> usize {
    let span = high - low;
    if !value.is_finite() || !span.is_finite() || span <= 0.0 {
        return (height - 1) / 2;
    }
    let from_top = ((high - value) / span * (height - 1) as f64).round();
    (from_top.max(0.0) as usize).min(height - 1)
}

fn value_label(value: f64) -> String {
    let text = if value.abs() >= 1e7 {
        format!("{:.2}M", value / 1e6)
    } else if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    };
    text.chars().take(LABEL_WIDTH).collect()
}

fn date(point: &EquityPoint) -> String {
    point.time.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use tradeplane_contract::backtest_results::RESULTS_VERSION;

    fn results(equity: impl Fn(usize) -> f64, hold: impl Fn(usize) -> f64, n: usize) -> RunResults {
        let start = DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        RunResults {
            version: RESULTS_VERSION,
            starting_equity: equity(0),
            final_equity: equity(n - 1),
            trades: 0,
            equity_every: 1,
            cycles: n as u64,
            equity: (0..n)
                .map(|i| EquityPoint {
                    time: start + Duration::days(i as i64),
                    equity: equity(i),
                    buy_and_hold: hold(i),
                })
                .collect(),
            fills: vec![],
            fills_omitted: 0,
        }
    }

    /// The row of `glyph` in each plot column that has it.
    fn rows_of(text: &str, glyph: char, height: usize) -> Vec<Option<usize>> {
        let lines: Vec<Vec<char>> = text
            .lines()
            .take(height)
            .map(|l| l.chars().skip(MARGIN).collect())
            .collect();
        let width = lines.iter().map(Vec::len).max().unwrap_or(0);
        (0..width)
            .map(|c| (0..height).find(|&r| lines[r].get(c) == Some(&glyph)))
            .collect()
    }

    #[test]
    fn a_rising_curve_rises_and_the_axis_shows_its_max_and_min() {
        let text = chart(&results(|i| 1000.0 + i as f64, |_| 1000.0, 500), 80, 12);
        let rows = rows_of(&text, STRATEGY, 12);
        assert_eq!(rows.len(), 68, "{text}");
        assert_eq!(rows[0], Some(11), "{text}");
        assert_eq!(rows[67], Some(0), "{text}");
        let known: Vec<usize> = rows.iter().flatten().copied().collect();
        assert!(known.windows(2).all(|w| w[1] <= w[0]), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("      1499 |"), "{text}");
        assert!(lines[11].starts_with("      1000 |"), "{text}");
        assert!(
            lines[13].contains("2020-01-01") && lines[13].ends_with("2021-05-14"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        // Buy-and-hold, flat at the start value, lies along the bottom row.
        let hold = rows_of(&text, BUY_AND_HOLD, 12);
        assert!(hold.iter().flatten().all(|&r| r == 11), "{text}");
    }

    #[test]
    fn a_flat_curve_is_flat_and_a_falling_one_falls() {
        let text = chart(&results(|_| 5000.0, |_| 5000.0, 30), 80, 12);
        let rows = rows_of(&text, STRATEGY, 12);
        assert_eq!(rows.len(), 30, "{text}");
        assert!(rows.iter().all(|&r| r == Some(5)), "{text}");
        assert!(
            text.lines().next().unwrap().starts_with("      5000 |"),
            "{text}"
        );

        let text = chart(
            &results(|i| 900.0 - i as f64, |i| 900.0 - 0.5 * i as f64, 100),
            80,
            12,
        );
        let rows = rows_of(&text, STRATEGY, 12);
        assert_eq!(rows[0], Some(0), "{text}");
        assert_eq!(*rows.last().unwrap(), Some(11), "{text}");
        assert!(
            text.lines().nth(11).unwrap().starts_with("    801.00 |"),
            "{text}"
        );
    }

    #[test]
    fn nothing_to_draw_says_so() {
        let mut empty = results(|_| 1.0, |_| 1.0, 1);
        empty.equity.clear();
        assert_eq!(chart(&empty, 80, 12), "no equity points in the results\n");
    }
}
