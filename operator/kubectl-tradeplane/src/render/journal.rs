//! `journal` lines: one entry a line, oldest first (as a log reads), each kind in its own
//! words, so `--follow` can append new lines below.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tradeplane_contract::journal_api::{DecisionView, FillView, LlmSpendView, OrderView};

use super::{first_line, fit, money, quantity};

/// One journal entry of any kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "item", rename_all = "camelCase")]
pub enum Entry {
    Decision(Box<DecisionView>),
    Order(OrderView),
    Fill(FillView),
    Llm(LlmSpendView),
}

impl Entry {
    /// When it happened, for ordering; LLM spend is a day's total, placed at its start.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::Decision(d) => d.decided_at,
            Entry::Order(o) => o.created_at,
            Entry::Fill(f) => f.filled_at,
            Entry::Llm(s) => s.day.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }

    /// What identifies it, so `--follow` prints each entry once.
    pub fn key(&self) -> String {
        match self {
            Entry::Decision(d) => format!("decision/{}", d.id),
            Entry::Order(o) => format!("order/{}/{}", o.client_order_id, o.status),
            Entry::Fill(f) => format!("fill/{}", f.fill_id),
            Entry::Llm(s) => format!("llm/{}/{}/{}", s.day, s.provider, s.calls),
        }
    }
}

/// Entries oldest first, and the same entry once.
pub fn ordered(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_key(|e| (e.at(), e.key()));
    entries.dedup_by_key(|e| e.key());
    entries
}

/// One line of at most 80 columns.
pub fn line(entry: &Entry) -> String {
    let at = entry.at().format("%Y-%m-%d %H:%M:%S");
    let text = match entry {
        Entry::Decision(d) => format!(
            "decision {} {} {} conf {:.2} risk {} ({}): {}",
            d.symbol,
            d.action.to_uppercase(),
            quantity(d.target_quantity),
            d.confidence,
            d.risk.outcome,
            d.cycle_id,
            first_line(&d.rationale)
        ),
        Entry::Order(o) => format!(
            "order    {} {} {} @ {} {}",
            o.symbol,
            o.side,
            quantity(o.quantity),
            money(o.reference_price),
            o.status
        ),
        Entry::Fill(f) => format!(
            "fill     {} {} {} @ {} fee {}",
            f.symbol,
            f.side,
            quantity(f.quantity),
            money(f.price),
            money(f.commission)
        ),
        Entry::Llm(s) => format!(
            "llm      {} {} calls {}+{} tokens ${:.2}",
            s.provider, s.calls, s.prompt_tokens, s.completion_tokens, s.cost_usd
        ),
    };
    fit(&format!("{at} {text}"), super::WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::status::tests_fixtures::{decision, fill, order};
    use crate::render::visible_width;

    #[test]
    fn entries_read_oldest_first_each_once_within_80_columns() {
        let entries = ordered(vec![
            Entry::Fill(fill()),
            Entry::Decision(Box::new(decision())),
            Entry::Order(order()),
            Entry::Fill(fill()),
        ]);
        assert_eq!(entries.len(), 3);
        let lines: Vec<String> = entries.iter().map(line).collect();
        assert!(
            lines[0].contains("decision AAPL BUY 12 conf 0.72 risk approved"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("order    AAPL buy 12 @ 190.00 filled"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains("fill     AAPL buy 12 @ 190.05 fee 1.00"),
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| visible_width(l) <= 80), "{lines:?}");
    }
}
