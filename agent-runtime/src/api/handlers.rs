//! One handler per endpoint: read the parameters, ask the journal, map to the contract's
//! types. A list reads one row more than it answers, to know whether a next page exists.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use tradeplane_contract::journal_api::{
    API_VERSION, ChartClose, ChartSeries, ChartTrade, CycleDetail, CycleView, EquitySeries,
    FillView, LlmSpendView, OrderView, Page, PositionView, ReplicaRole, StrategySummary,
};

use super::params::{ListQuery, chart_query, encode_cursor, equity_query, list_query, no_query};
use super::views::{self, CycleOutcomes};
use super::{ApiFailure, JournalApi};
use crate::config::TradingState;
use crate::domain::risk::drawdown_from_peak;

type Params = Query<HashMap<String, String>>;
type Answer<T> = Result<Json<T>, ApiFailure>;

/// The first `limit` of `rows` as a page, with the cursor after the last one when more
/// rows were read than shown.
fn page<R, V>(
    mut rows: Vec<R>,
    query: &ListQuery,
    cursor_of: impl Fn(&R) -> String,
    view: impl Fn(R) -> V,
) -> Page<V> {
    let more = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    let next_cursor = rows.last().filter(|_| more).map(cursor_of);
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}

pub async fn cycles(
    State(api): State<JournalApi>,
    Query(params): Params,
) -> Answer<Page<CycleView>> {
    let query = list_query(&params, false)?;
    let rows = api.journal.cycle_page(&query.page).await?;
    let cursor = |c: &crate::journal::CycleRecord| encode_cursor(c.started_at, &c.cycle_id);
    Ok(Json(page(rows, &query, cursor, views::cycle)))
}

pub async fn orders(
    State(api): State<JournalApi>,
    Query(params): Params,
) -> Answer<Page<OrderView>> {
    let query = list_query(&params, true)?;
    let rows = api.journal.order_page(&query.page).await?;
    let cursor =
        |o: &crate::journal::OrderRecord| encode_cursor(o.created_at, &o.request.client_order_id);
    Ok(Json(page(rows, &query, cursor, views::order)))
}

pub async fn fills(State(api): State<JournalApi>, Query(params): Params) -> Answer<Page<FillView>> {
    let query = list_query(&params, true)?;
    let rows = api.journal.fill_page(&query.page).await?;
    let cursor = |f: &crate::domain::Fill| encode_cursor(f.time, &f.fill_id);
    Ok(Json(page(rows, &query, cursor, views::fill)))
}

/// Positions are few (one per symbol held) and have no history: paged by symbol, and
/// `since`/`until` are refused rather than ignored.
pub async fn positions(
    State(api): State<JournalApi>,
    Query(mut params): Params,
) -> Answer<Page<PositionView>> {
    for timed in ["since", "until"] {
        if params.contains_key(timed) {
            return Err(ApiFailure::bad(
                timed,
                "positions are the current holdings; they take no time range".into(),
            ));
        }
    }
    params.remove("symbol");
    let query = list_query(&params, false)?;
    let after = query
        .page
        .before
        .as_ref()
        .map(|(_, symbol)| symbol.as_str());
    let rows = api.journal.position_page(query.page.rows, after).await?;
    let cursor = |p: &crate::journal::PositionRow| encode_cursor(DateTime::UNIX_EPOCH, &p.symbol);
    Ok(Json(page(rows, &query, cursor, views::position)))
}

pub async fn equity(State(api): State<JournalApi>, Query(params): Params) -> Answer<EquitySeries> {
    let ((since, until), max_points) = equity_query(&params)?;
    let points = api.journal.equity_series(since, until, max_points).await?;
    Ok(Json(EquitySeries {
        max_points,
        points: points.into_iter().map(views::equity_point).collect(),
    }))
}

/// The price charts' closes and trades over the newest cycles, in one bounded answer.
pub async fn chart(State(api): State<JournalApi>, Query(params): Params) -> Answer<ChartSeries> {
    let cycles = chart_query(&params)?;
    let (closes, trades) = api.journal.chart(cycles).await?;
    Ok(Json(ChartSeries {
        cycles,
        closes: closes
            .into_iter()
            .map(|c| ChartClose {
                symbol: c.symbol,
                bar_at: c.bar_at,
                close: c.close,
            })
            .collect(),
        trades: trades
            .into_iter()
            .map(|t| ChartTrade {
                bar_at: t.bar_at,
                fill: views::fill(t.fill),
            })
            .collect(),
    }))
}

pub async fn llm_spend(
    State(api): State<JournalApi>,
    Query(params): Params,
) -> Answer<Page<LlmSpendView>> {
    let query = list_query(&params, false)?;
    let rows = api.journal.llm_spend_page(&query.page).await?;
    let cursor = |r: &crate::journal::SpendRow| {
        let midnight = r.day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        encode_cursor(midnight.unwrap_or_default(), &r.provider)
    };
    Ok(Json(page(rows, &query, cursor, views::spend)))
}

pub async fn cycle_detail(
    State(api): State<JournalApi>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Answer<CycleDetail> {
    no_query(&params)?;
    let journal = &api.journal;
    let cycle = journal
        .cycle(&id)
        .await?
        .ok_or_else(|| ApiFailure::NotFound(format!("no cycle {id:?} in the journal")))?;
    let decisions = journal.decisions(&id).await?;
    let rejections = journal.rejections(Some(&id)).await?;
    let events = journal.cycle_events(&id).await?;
    let fills = journal.cycle_fills(&id).await?;
    let orders: Vec<OrderView> = journal
        .cycle_orders(&id)
        .await?
        .into_iter()
        .map(|record| {
            let mut order = views::order(record);
            order.fills = fills
                .iter()
                .filter(|f| f.client_order_id == order.client_order_id)
                .cloned()
                .map(views::fill)
                .collect();
            order
        })
        .collect();
    let outcomes = CycleOutcomes {
        rejections: &rejections,
        events: &events,
        orders: &orders,
    };
    let decisions = decisions
        .into_iter()
        .map(|d| views::decision(d, &outcomes))
        .collect();
    Ok(Json(CycleDetail {
        cycle: views::cycle(cycle),
        decisions,
        events: events.into_iter().map(views::event).collect(),
    }))
}

pub async fn summary(
    State(api): State<JournalApi>,
    Query(params): Params,
) -> Answer<StrategySummary> {
    no_query(&params)?;
    let journal = &api.journal;
    let extremes = journal.equity_extremes().await?;
    let positions = journal
        .position_page(crate::journal::MAX_POSITIONS, None)
        .await?;
    let last_cycle = journal
        .cycle_page(&crate::journal::PageRequest {
            rows: 1,
            ..Default::default()
        })
        .await?
        .into_iter()
        .next();
    let day_open = match &extremes {
        Some(e) => day_open(journal, e.latest.taken_at, Utc::now()).await?,
        None => None,
    };
    let role = if api.metrics.leader.get() == 1 {
        ReplicaRole::Leader
    } else {
        ReplicaRole::Standby
    };
    let trading_state = match api.metrics.trading_state.get() {
        0 => TradingState::Active,
        1 => TradingState::Reducing,
        _ => TradingState::Halted,
    };
    Ok(Json(StrategySummary {
        api_version: API_VERSION.to_string(),
        namespace: api.identity.namespace.clone(),
        strategy: api.identity.name.clone(),
        role,
        trading_state: trading_state.as_str().to_string(),
        journal_backend: journal.backend_name().to_string(),
        journal_schema_version: journal.schema_version().await?,
        equity: extremes.as_ref().map(|e| e.latest.equity),
        cash: extremes.as_ref().map(|e| e.latest.cash),
        profit_and_loss: extremes
            .as_ref()
            .map(|e| e.latest.equity - api.pnl_baseline.unwrap_or(e.first.equity)),
        profit_and_loss_today: extremes
            .as_ref()
            .zip(day_open)
            .map(|(e, open)| e.latest.equity - open.equity),
        drawdown: extremes
            .as_ref()
            .map(|e| drawdown_from_peak(e.peak, e.latest.equity)),
        equity_at: extremes.as_ref().map(|e| e.latest.taken_at),
        positions: positions.into_iter().map(views::position).collect(),
        last_cycle: last_cycle.map(views::cycle),
    }))
}

/// The first snapshot of `now`'s UTC day, when the newest snapshot (`latest`) is of that day
/// too; else there is no P&L today to speak of.
async fn day_open(
    journal: &crate::journal::Journal,
    latest: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<crate::journal::EquitySnapshot>, ApiFailure> {
    if latest.date_naive() != now.date_naive() {
        return Ok(None);
    }
    let midnight = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    Ok(journal.first_equity_since(midnight).await?)
}

pub async fn unknown_endpoint() -> ApiFailure {
    ApiFailure::NotFound(format!(
        "no such endpoint in the journal API {API_VERSION}; see docs/journal-api.md"
    ))
}
