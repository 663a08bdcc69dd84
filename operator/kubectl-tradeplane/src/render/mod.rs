//! Pure functions from contract and CRD types to text: no client, no clock (the time is an
//! argument), no terminal query (colour is an argument). So every screen is unit-tested with
//! fixed inputs, for its content and for the 80 columns it must fit.

pub mod equity;
pub mod explain;
pub mod journal;
pub mod logs;
pub mod redact;
pub mod rollout;
pub mod status;

use chrono::{DateTime, Utc};

/// The width every screen fits.
pub const WIDTH: usize = 80;

/// Colour on or off: on only when stdout is a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub const PLAIN: Style = Style { colour: false };

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// The columns a line takes on a terminal: characters, not counting colour codes.
pub fn visible_width(line: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Cuts a line to `width` columns, ending in `…` when cut; colour codes are kept whole and
/// reset at the cut.
pub fn fit(line: &str, width: usize) -> String {
    if visible_width(line) <= width {
        return line.to_string();
    }
    let mut out = String::new();
    let mut shown = 0;
    let mut in_escape = false;
    for c in line.chars() {
        if in_escape || c == '\x1b' {
            in_escape = c != 'm';
            out.push(c);
            continue;
        }
        if shown + 1 >= width {
            break;
        }
        out.push(c);
        shown += 1;
    }
    out.push('…');
    if line.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    out
}

/// Fits every line of a screen.
pub fn fit_all(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&fit(line, WIDTH));
        text.push('\n');
    }
    text
}

/// Words wrapped to `width` columns, each line after the first indented by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let room = width.saturating_sub(if lines.is_empty() { 0 } else { indent.len() });
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l } else { format!("{indent}{l}") })
        .collect()
}

/// The first line of a text, for one-line summaries of multi-line rationales.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// How long ago, as kubectl's AGE column writes it: `45s`, `12m`, `5h`, `3d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Money with thousands separators and two decimals: `-1,234.50`.
pub fn money(value: f64) -> String {
    let cents = (value.abs() * 100.0).round() as u128;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}{grouped}.{:02}", cents % 100)
}

/// A quantity without needless decimals: `12`, `0.5`.
pub fn quantity(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A time of day for lines of today's journal, else date and time.
pub fn when(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    if now.date_naive() == at.date_naive() {
        at.format("%H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_to_the_width_and_colour_does_not_count() {
        let long = "x".repeat(100);
        assert_eq!(visible_width(&fit(&long, 80)), 80);
        assert!(fit(&long, 80).ends_with('…'));
        let style = Style { colour: true };
        let coloured = format!("{} {}", style.good("Ready"), "y".repeat(90));
        let cut = fit(&coloured, 80);
        assert_eq!(visible_width(&cut), 80);
        assert!(cut.ends_with("\x1b[0m"));
        assert_eq!(fit("short", 80), "short");
    }

    #[test]
    fn numbers_read_as_a_trader_writes_them() {
        assert_eq!(money(99722.7552), "99,722.76");
        assert_eq!(money(-277.2447), "-277.24");
        assert_eq!(money(1_000_000.0), "1,000,000.00");
        assert_eq!(money(-0.001), "0.00");
        assert_eq!(quantity(12.0), "12");
        assert_eq!(quantity(0.25), "0.25");
    }

    #[test]
    fn text_wraps_at_words_with_an_indent() {
        let lines = wrap("one two three four five six", 10, "  ");
        assert_eq!(lines, vec!["one two", "  three", "  four", "  five six"]);
        assert!(lines.iter().all(|l| l.len() <= 10));
    }

    #[test]
    fn ages_are_kubectl_ages() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let ago = |s: i64| now - chrono::Duration::seconds(s);
        assert_eq!(age(now, ago(45)), "45s");
        assert_eq!(age(now, ago(600)), "10m");
        assert_eq!(age(now, ago(5 * 3600)), "5h");
        assert_eq!(age(now, ago(3 * 86_400)), "3d");
    }
}
