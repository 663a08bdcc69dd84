//! The metrics contract, read three ways: the table in `docs/metrics.md`, what a process
//! serves at `/metrics` (the Prometheus text format), and the metric names a PromQL
//! expression reads (in an alert rule or a dashboard panel).
//!
//! The tests compare them so the table, the binaries, the rules and the dashboards cannot
//! drift apart: a renamed metric fails a test instead of silencing an alert.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};

/// One row of the table in `docs/metrics.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// The label names the process sets (not the ones a scrape adds).
    pub labels: BTreeSet<String>,
    /// The processes that export it: `operator`, `trader`, `worker`.
    pub exporters: BTreeSet<String>,
}

/// The rows of the metrics table in `docs/metrics.md`.
pub fn documented() -> anyhow::Result<Vec<Row>> {
    let path = crate::repo_root().join("docs/metrics.md");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_table(&text)
}

/// The table rows of a metrics page: lines `| `name` | type | unit | labels | meaning | where |`.
pub fn parse_table(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `tradeplane_")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [name, kind, _unit, labels, _meaning, exporters] = cells[..] else {
            bail!("a metrics table row needs six cells: {line}");
        };
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .filter(|s| !s.is_empty() && s != "—")
                .collect()
        };
        rows.push(Row {
            name: name.trim_matches('`').to_string(),
            kind: kind.to_string(),
            labels: names(labels),
            exporters: names(exporters),
        });
    }
    if rows.is_empty() {
        bail!("no metrics table rows (lines starting with \"| `tradeplane_\")");
    }
    Ok(rows)
}

/// A metric family as a process serves it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Family {
    /// From the `# TYPE` line.
    pub kind: String,
    /// Label names over all its samples (`le` of histogram buckets left out).
    pub labels: BTreeSet<String>,
    /// Number of samples.
    pub samples: usize,
}

/// The families in a `/metrics` text, by name.
pub fn families(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                families.entry(name.to_string()).or_default().kind = kind.to_string();
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let sample = &line[..end];
        let family = family_of(sample, &families);
        let entry = families.entry(family).or_default();
        entry.samples += 1;
        if let Some(open) = line.find('{')
            && let Some(close) = line.rfind('}')
        {
            for pair in split_labels(&line[open + 1..close]) {
                if let Some((label, _)) = pair.split_once('=')
                    && label != "le"
                {
                    entry.labels.insert(label.trim().to_string());
                }
            }
        }
    }
    families
}

/// A sample's family: `x_bucket`, `x_sum` and `x_count` belong to histogram `x`.
fn family_of(sample: &str, families: &BTreeMap<String, Family>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && families
                .get(base)
                .is_some_and(|f| f.kind == "histogram" || f.kind == "summary")
        {
            return base.to_string();
        }
    }
    sample.to_string()
}

/// `a="x",b="y,z"` → [`a="x"`, `b="y,z"`]: commas inside quotes do not split.
fn split_labels(text: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            pairs.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        pairs.push(current);
    }
    pairs
}

/// PromQL words that are not metric names.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
];

/// The metric names a PromQL expression reads: identifiers outside label matchers, strings
/// and range brackets that are neither functions (followed by `(`), aggregation modifiers'
/// label lists, nor keywords. Template markup (`{{ ... }}` in Grafana's legends) is not
/// PromQL and must not be passed in.
pub fn promql_metrics(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Set after `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`: the next `( ... )`
    // lists labels, not series.
    let mut label_list_next = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i = skip_string(&chars, i);
                continue;
            }
            '{' => {
                i = skip_until(&chars, i, '}');
                continue;
            }
            '[' => {
                i = skip_until(&chars, i, ']');
                continue;
            }
            '(' if label_list_next => {
                i = skip_until(&chars, i, ')');
                label_list_next = false;
                continue;
            }
            '#' => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            // `sum by (x) (…)`: an aggregation with its modifier before the parenthesis.
            let following: String = chars[next..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let is_call = chars.get(next) == Some(&'(')
                || matches!(following.to_ascii_lowercase().as_str(), "by" | "without");
            let lower = word.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                label_list_next = true;
            } else if !is_call && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(word);
            }
            continue;
        }
        if c.is_ascii_digit() {
            // A number, or a duration like 5m (its unit letters are not a name).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    names
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == quote {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// Past the `close` matching the opener at `start`, skipping strings on the way.
fn skip_until(chars: &[char], start: usize, close: char) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(chars, i),
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The family a name in a query refers to: histogram series (`_bucket`, `_sum`, `_count`)
/// count as their histogram when it is exported.
pub fn resolve<'a>(name: &'a str, exported: &BTreeSet<String>) -> &'a str {
    if exported.contains(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && exported.contains(base)
        {
            return base;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_in_promql_leave_out_functions_labels_durations_and_strings() {
        assert_eq!(
            promql_metrics(
                r#"sum by (kind) (rate(tradeplane_operator_reconcile_errors_total{job="x", kind=~"a|b"}[5m])) > 0.1"#
            ),
            set(&["tradeplane_operator_reconcile_errors_total"])
        );
        assert_eq!(
            promql_metrics(
                "histogram_quantile(0.99, sum without (pod) (rate(tradeplane_cycle_duration_seconds_bucket[10m])))"
            ),
            set(&["tradeplane_cycle_duration_seconds_bucket"])
        );
        assert_eq!(
            promql_metrics(
                "absent(up{job=\"op\"} == 1) or max(tradeplane_operator_leader) == bool 0 \
                 unless on (namespace) time() - tradeplane_last_completed_cycle_timestamp_seconds offset 1h > 3e2"
            ),
            set(&[
                "up",
                "tradeplane_operator_leader",
                "tradeplane_last_completed_cycle_timestamp_seconds"
            ])
        );
        assert_eq!(
            promql_metrics(
                "tradeplane_llm_spent_today_usd / ignoring(x) group_left (provider) tradeplane_llm_budget_usd"
            ),
            set(&[
                "tradeplane_llm_spent_today_usd",
                "tradeplane_llm_budget_usd"
            ])
        );
    }

    #[test]
    fn exposition_families_group_histogram_series_and_collect_label_names() {
        let text = "# HELP a_seconds x\n# TYPE a_seconds histogram\n\
                    a_seconds_bucket{kind=\"x\",le=\"0.1\"} 1\na_seconds_sum{kind=\"x\"} 0.1\n\
                    a_seconds_count{kind=\"x\"} 1\n# TYPE b_total counter\n\
                    b_total{role=\"a,b\",outcome=\"ok\"} 3\n# TYPE c gauge\nc 1\n";
        let families = families(text);
        assert_eq!(families.len(), 3, "{families:?}");
        assert_eq!(families["a_seconds"].kind, "histogram");
        assert_eq!(families["a_seconds"].labels, set(&["kind"]));
        assert_eq!(families["a_seconds"].samples, 3);
        assert_eq!(families["b_total"].labels, set(&["role", "outcome"]));
        assert!(families["c"].labels.is_empty());
    }

    #[test]
    fn table_rows_read_name_type_labels_and_exporters() {
        let rows = parse_table(
            "| name | type |\n|---|---|\n\
             | `tradeplane_x_total` | counter | calls | `provider`, `role` | Calls. | trader, worker |\n\
             | `tradeplane_y` | gauge | 0/1 | — | Up. | operator |\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].labels, set(&["provider", "role"]));
        assert_eq!(rows[0].exporters, set(&["trader", "worker"]));
        assert!(rows[1].labels.is_empty());
        let short = "| `tradeplane_z` | gauge |";
        let error = parse_table(&format!("{short}\n")).unwrap_err().to_string();
        assert!(
            error.contains("six cells") && error.contains(short),
            "{error}"
        );
    }
}
