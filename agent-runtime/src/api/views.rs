//! Journal records as the API's contract types. Pure: every function here maps rows the
//! journal read to what a client decodes, including the risk verdict each decision met,
//! which the journal keeps across three tables (rejections, clip events, orders).

use tradeplane_contract::journal_api::{
    AnalystReportView, CycleView, DataWindowView, DecisionView, EquityPoint, EventView, FillView,
    LlmSpendView, OrderView, PositionView, RiskVerdictView, SeatIndicators,
};

use crate::domain::{AnalystReport, DataWindow, Fill};
use crate::journal::{
    CycleRecord, DecisionRecord, EquitySnapshot, EventRecord, OrderRecord, PositionRow,
    RejectionRecord, SpendRow, enum_name,
};

/// The event kind the recorder gives an order risk made smaller.
const CLIPPED: &str = "risk_clipped";

pub fn cycle(record: CycleRecord) -> CycleView {
    CycleView {
        id: record.cycle_id,
        started_at: record.started_at,
        finished_at: record.finished_at,
        status: enum_name(&record.status),
        summary: record.summary,
    }
}

pub fn order(record: OrderRecord) -> OrderView {
    OrderView {
        client_order_id: record.request.client_order_id,
        cycle_id: record.cycle_id,
        symbol: record.request.symbol,
        side: record.request.side.as_str().to_string(),
        quantity: record.request.quantity,
        reference_price: record.request.reference_price,
        status: record.status.as_str().to_string(),
        broker_order_id: record.broker_order_id,
        message: record.message,
        lease_epoch: record.request.lease_epoch,
        created_at: record.created_at,
        updated_at: record.updated_at,
        fills: Vec::new(),
    }
}

pub fn fill(fill: Fill) -> FillView {
    FillView {
        fill_id: fill.fill_id,
        client_order_id: fill.client_order_id,
        symbol: fill.symbol,
        side: fill.side.as_str().to_string(),
        quantity: fill.quantity,
        price: fill.price,
        commission: fill.commission,
        filled_at: fill.time,
    }
}

pub fn position(row: PositionRow) -> PositionView {
    PositionView {
        symbol: row.symbol,
        quantity: row.quantity,
        average_price: row.average_price,
        updated_at: row.updated_at,
    }
}

pub fn equity_point(snapshot: EquitySnapshot) -> EquityPoint {
    EquityPoint {
        at: snapshot.taken_at,
        equity: snapshot.equity,
        cash: snapshot.cash,
    }
}

pub fn spend(row: SpendRow) -> LlmSpendView {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    LlmSpendView {
        day: row.day,
        provider: row.provider,
        calls: count(row.calls),
        prompt_tokens: count(row.prompt_tokens),
        completion_tokens: count(row.completion_tokens),
        cost_usd: row.cost_usd,
    }
}

pub fn event(record: EventRecord) -> EventView {
    EventView {
        kind: record.kind,
        message: record.message,
        details: record.details,
        created_at: record.created_at,
    }
}

/// One report; the provider and model read from its `source` (`llm:<provider>/<model>`,
/// `debate:llm/<model>`).
pub fn report(report: AnalystReport) -> AnalystReportView {
    let (provider, model) = match report.source.split_once(':') {
        Some(("llm", rest)) => match rest.split_once('/') {
            Some((provider, model)) => (Some(provider.to_string()), Some(model.to_string())),
            None => (Some(rest.to_string()), None),
        },
        Some(("debate", rest)) => (None, rest.split_once('/').map(|(_, m)| m.to_string())),
        _ => (None, None),
    };
    AnalystReportView {
        role: report.role.to_string(),
        signal: report.signal.as_str().to_string(),
        confidence: report.confidence,
        rationale: report.rationale,
        source: report.source.to_string(),
        provider,
        model,
        prompt_tokens: report.usage.map(|u| u.prompt_tokens),
        completion_tokens: report.usage.map(|u| u.completion_tokens),
        cost_usd: report.usage.map(|u| u.cost_usd),
    }
}

pub fn data_window(window: DataWindow) -> DataWindowView {
    DataWindowView {
        symbol: window.symbol,
        timeframe: window.timeframe,
        first_bar_at: window.first_bar_at,
        last_bar_at: window.last_bar_at,
        bar_count: window.bar_count,
        last_close: window.last_close,
        indicators: window
            .indicators
            .into_iter()
            .map(|(role, values)| SeatIndicators { role, values })
            .collect(),
    }
}

/// What one cycle journalled besides its decisions, for [`decision`].
pub struct CycleOutcomes<'a> {
    pub rejections: &'a [RejectionRecord],
    pub events: &'a [EventRecord],
    /// The cycle's orders, each with its fills.
    pub orders: &'a [OrderView],
}

/// One decision with its reports split into the seats' and the debate's, the risk verdict
/// it met and the orders placed for its symbol in its cycle.
pub fn decision(record: DecisionRecord, outcomes: &CycleOutcomes<'_>) -> DecisionView {
    let symbol = record.decision.symbol.clone();
    let (debate, analysts): (Vec<AnalystReport>, Vec<AnalystReport>) = record
        .decision
        .reports
        .into_iter()
        .partition(|r| &*r.role == "debate");
    let orders: Vec<OrderView> = outcomes
        .orders
        .iter()
        .filter(|o| o.symbol == symbol)
        .cloned()
        .collect();
    DecisionView {
        id: record.id,
        cycle_id: record.cycle_id,
        risk: risk_verdict(&symbol, outcomes, !orders.is_empty()),
        symbol,
        decided_at: record.decided_at,
        action: record.decision.action.as_str().to_string(),
        target_quantity: record.decision.target_quantity,
        confidence: record.decision.confidence,
        rationale: record.decision.rationale,
        data_window: record.window.map(data_window),
        analysts: analysts.into_iter().map(report).collect(),
        debate: debate.into_iter().next().map(report),
        orders,
    }
}

/// Rejected (by the limit that refused it), clipped (approved smaller, by the limits that
/// cut it), approved, or no order at all (nothing to trade).
fn risk_verdict(symbol: &str, outcomes: &CycleOutcomes<'_>, ordered: bool) -> RiskVerdictView {
    if let Some(rejection) = outcomes.rejections.iter().find(|r| r.symbol == symbol) {
        return RiskVerdictView {
            outcome: "rejected".into(),
            limits: vec![rejection.reason.clone()],
            detail: Some(rejection.detail.clone()),
        };
    }
    // A clip event's message starts with the symbol ("AAPL buy clipped to 3").
    let clip = outcomes
        .events
        .iter()
        .find(|e| e.kind == CLIPPED && e.message.split_whitespace().next() == Some(symbol));
    match (ordered, clip) {
        (true, Some(clip)) => RiskVerdictView {
            outcome: "clipped".into(),
            limits: clip_limits(clip),
            detail: Some(clip.message.clone()),
        },
        (true, None) => RiskVerdictView {
            outcome: "approved".into(),
            limits: Vec::new(),
            detail: None,
        },
        (false, _) => RiskVerdictView {
            outcome: "no_order".into(),
            limits: Vec::new(),
            detail: None,
        },
    }
}

/// The reasons of a clip event's clips (its details are the `Clip` list).
fn clip_limits(event: &EventRecord) -> Vec<String> {
    event
        .details
        .as_ref()
        .and_then(|d| d.as_array())
        .map(|clips| {
            clips
                .iter()
                .filter_map(|c| c.get("reason")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
