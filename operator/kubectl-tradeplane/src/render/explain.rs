//! `explain`: one cycle in full, as an auditor reads it — per decision the data window, each
//! analyst's report, the debate, the decision, the risk check and the orders with their
//! fills; then the cycle's events. Long rationales are wrapped, never cut: here the words
//! are the point.

use tradeplane_contract::journal_api::{AnalystReportView, CycleDetail, DecisionView};

use super::{Style, WIDTH, fit_all, money, quantity, wrap};

pub fn render(detail: &CycleDetail, style: Style) -> String {
    let cycle = &detail.cycle;
    let mut lines = vec![
        format!("{} {}  {}", style.bold("Cycle"), cycle.id, cycle.status),
        format!(
            "  started {}{}",
            cycle.started_at.format("%Y-%m-%d %H:%M:%S"),
            cycle
                .finished_at
                .map(|t| format!(", finished {}", t.format("%Y-%m-%d %H:%M:%S")))
                .unwrap_or_default()
        ),
    ];
    if let Some(summary) = &cycle.summary {
        lines.push(format!("  {summary}"));
    }
    if detail.decisions.is_empty() {
        lines.push("  no decision in this cycle".into());
    }
    for decision in &detail.decisions {
        lines.push(String::new());
        decision_lines(decision, style, &mut lines);
    }
    if !detail.events.is_empty() {
        lines.push(String::new());
        lines.push(style.bold("Events"));
        for event in &detail.events {
            let text = format!(
                "{} {}: {}",
                event.created_at.format("%H:%M:%S"),
                event.kind,
                event.message
            );
            lines.extend(
                wrap(&text, WIDTH - 2, "    ")
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
        }
    }
    fit_all(&lines)
}

fn decision_lines(decision: &DecisionView, style: Style, lines: &mut Vec<String>) {
    lines.push(style.bold(&format!(
        "{} — {} {} (confidence {:.2})",
        decision.symbol,
        decision.action.to_uppercase(),
        quantity(decision.target_quantity),
        decision.confidence
    )));
    match &decision.data_window {
        Some(window) => {
            lines.push(format!(
                "  Data     {} bars{} {} → {}, last close {}",
                window.bar_count,
                window
                    .timeframe
                    .as_ref()
                    .map(|t| format!(" of {t}"))
                    .unwrap_or_default(),
                window.first_bar_at.format("%Y-%m-%d %H:%M"),
                window.last_bar_at.format("%Y-%m-%d %H:%M"),
                money(window.last_close)
            ));
            for seat in &window.indicators {
                let values: Vec<String> = seat
                    .values
                    .iter()
                    .map(|(name, value)| format!("{name}={value:.4}"))
                    .collect();
                let text = format!("{}: {}", seat.role, values.join(" "));
                push_wrapped(lines, "           ", &text);
            }
        }
        None => lines.push("  Data     not recorded for this decision".into()),
    }
    for report in &decision.analysts {
        report_lines("Analyst", report, lines);
    }
    if let Some(debate) = &decision.debate {
        report_lines("Debate", debate, lines);
    }
    push_wrapped(
        lines,
        "  Decision ",
        &format!("{}: {}", decision.action.to_uppercase(), decision.rationale),
    );
    let risk = &decision.risk;
    let mut verdict = risk.outcome.clone();
    if !risk.limits.is_empty() {
        verdict.push_str(&format!(" by {}", risk.limits.join(", ")));
    }
    if let Some(detail) = &risk.detail {
        verdict.push_str(&format!(": {detail}"));
    }
    let verdict = match risk.outcome.as_str() {
        "rejected" => style.bad(&verdict),
        "clipped" => style.warn(&verdict),
        _ => verdict,
    };
    lines.push(format!("  Risk     {verdict}"));
    if decision.orders.is_empty() {
        lines.push("  Orders   none".into());
    }
    for order in &decision.orders {
        lines.push(format!(
            "  Order    {} {} {} @ {} {} ({})",
            order.symbol,
            order.side,
            quantity(order.quantity),
            money(order.reference_price),
            order.status,
            order.client_order_id
        ));
        for fill in &order.fills {
            lines.push(format!(
                "    fill   {} @ {} fee {} at {}",
                quantity(fill.quantity),
                money(fill.price),
                money(fill.commission),
                fill.filled_at.format("%H:%M:%S")
            ));
        }
    }
}

fn report_lines(label: &str, report: &AnalystReportView, lines: &mut Vec<String>) {
    let mut cost = String::new();
    if let (Some(p), Some(c)) = (report.prompt_tokens, report.completion_tokens) {
        cost = format!(", {p}+{c} tokens");
    }
    if let Some(usd) = report.cost_usd {
        cost.push_str(&format!(", ${usd:.4}"));
    }
    lines.push(format!(
        "  {label:<8} {} {} {:.2} ({}{cost})",
        report.role, report.signal, report.confidence, report.source
    ));
    push_wrapped(lines, "           ", &report.rationale);
}

fn push_wrapped(lines: &mut Vec<String>, lead: &str, text: &str) {
    let indent = " ".repeat(lead.chars().count());
    let wrapped = wrap(text, WIDTH - lead.chars().count(), "");
    for (i, line) in wrapped.into_iter().enumerate() {
        lines.push(format!("{}{line}", if i == 0 { lead } else { &indent }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::status::tests_fixtures::cycle_detail;
    use crate::render::visible_width;

    #[test]
    fn a_cycle_is_explained_in_full_within_80_columns() {
        let text = render(&cycle_detail(), Style::PLAIN);
        for expected in [
            "Cycle 20300101T000000Z  completed",
            "AAPL — BUY 12 (confidence 0.72)",
            "Data     60 bars of 1d",
            "trend: sma_fast=191.0000 sma_slow=185.5000",
            "Analyst  trend bullish 0.80 (quant:trend)",
            "Analyst  news bearish 0.40 (llm:openai/gpt-4o-mini, 812+95 tokens, $0.0012)",
            "Debate   debate bullish 0.70",
            "Risk     approved",
            "Order    AAPL buy 12 @ 190.00 filled",
            "fill   12 @ 190.05 fee 1.00",
            "risk_clipped: clipped to the notional limit",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // The long news rationale is wrapped, not cut.
        assert!(text.contains("earnings"), "{text}");
        assert!(!text.contains('…'), "{text}");
        assert!(text.lines().all(|l| visible_width(l) <= 80), "{text}");
    }
}
