//! The two journals, read through the API server's service proxy (the operator holds `get
//! services/proxy`; no port-forward, no credential of its own): the live book a shadow is
//! seeded from, and each cycle both sides completed, for the comparison.
//!
//! A journal that cannot be read yet (a pod starting, no ready endpoint) is not a failed
//! reconcile: it is a reason the analysis waits, and the next reconcile reads again.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::Request;
use kube::Client;
use kube::client::Body;
use serde::de::DeserializeOwned;
use tradeplane_contract::config::SeedPosition;
use tradeplane_contract::journal_api::{
    API_PREFIX, CycleDetail, CycleView, LlmSpendView, MAX_PAGE_LIMIT, Page, StrategySummary,
    encode_query_value,
};

use super::analysis::Tally;
use super::render::Seed;
use crate::controllers::trading_strategy::names::STRATEGY_SERVICE_PORT;

/// Most shadow cycles taken into the tally per reconcile: bounds a reconcile's requests
/// (three per cycle) when the operator catches up on many.
pub const CYCLES_PER_RECONCILE: usize = 20;

/// One runtime's journal API, through its Service.
pub struct JournalProxy<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub service: &'a str,
}

impl JournalProxy<'_> {
    /// GETs `endpoint` (e.g. `summary`); `None` when the runtime answers 404 (no such cycle).
    async fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<Option<T>, String> {
        let path = format!(
            "/api/v1/namespaces/{}/services/{}:{STRATEGY_SERVICE_PORT}/proxy{API_PREFIX}/{endpoint}",
            self.namespace, self.service
        );
        let unreadable =
            |detail: String| format!("the journal of {} cannot be read: {detail}", self.service);
        let request = Request::get(&path)
            .header("Accept", "application/json")
            .body(Body::from(Vec::new()))
            .map_err(|e| unreadable(e.to_string()))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        match status {
            200..=299 => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| unreadable(format!("{endpoint}: {e}"))),
            // The runtime's own 404 (its ApiError body): the cycle is not journalled (yet).
            404 if serde_json::from_slice::<tradeplane_contract::journal_api::ApiError>(&body)
                .is_ok() =>
            {
                Ok(None)
            }
            _ => Err(unreadable(format!(
                "{endpoint} answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ))),
        }
    }

    async fn need<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, String> {
        self.get(endpoint)
            .await?
            .ok_or_else(|| format!("{} has no {endpoint}", self.service))
    }
}

/// The live book now: cash, the positions held (of the strategy's `symbols`, each valued at
/// the last close the live pods decided on, so the shadow's equity starts where the live
/// equity is), and the live pods' last cycle.
pub async fn seed(live: &JournalProxy<'_>, symbols: &[String]) -> Result<Seed, String> {
    let summary: StrategySummary = live.need("summary").await?;
    let (Some(cash), Some(last)) = (summary.cash, summary.last_cycle.as_ref()) else {
        return Err("the live pods have not completed a cycle yet".to_string());
    };
    let detail: CycleDetail = live.need(&format!("cycles/{}", last.id)).await?;
    let closes: BTreeMap<&str, f64> = detail
        .decisions
        .iter()
        .filter_map(|d| Some((d.symbol.as_str(), d.data_window.as_ref()?.last_close)))
        .collect();
    let positions = summary
        .positions
        .iter()
        .filter(|p| p.quantity > 0.0 && symbols.contains(&p.symbol))
        .map(|p| SeedPosition {
            symbol: p.symbol.clone(),
            quantity: p.quantity,
            average_price: closes
                .get(p.symbol.as_str())
                .copied()
                .filter(|c| *c > 0.0)
                .unwrap_or(p.average_price),
        })
        .collect();
    Ok(Seed {
        cash,
        positions,
        resume_after: Some(last.started_at),
    })
}

/// What one comparison step found: the tally, the newest shadow cycle in it, and the P&L
/// difference.
pub struct Step {
    pub tally: Tally,
    pub last_cycle: Option<String>,
    pub pnl_difference: Option<f64>,
}

/// Takes the shadow cycles after `last_cycle` into `tally`, comparing each one the shadow
/// completed with the live pods' run of the same cycle id; stops at a cycle either side is
/// still running or the live pods have not reached. Then reads the shadow's drawdown, LLM
/// spend and P&L against the live pods'.
pub async fn compare(
    live: &JournalProxy<'_>,
    shadow: &JournalProxy<'_>,
    mut tally: Tally,
    mut last_cycle: Option<String>,
) -> Result<Step, String> {
    let since = last_cycle
        .as_deref()
        .and_then(cycle_time)
        .map(|t| {
            format!(
                "&since={}",
                encode_query_value(&(t + chrono::Duration::seconds(1)).to_rfc3339())
            )
        })
        .unwrap_or_default();
    // The API lists newest first: the oldest cycles after `since` are the page's last.
    let page: Page<CycleView> = shadow
        .need(&format!("cycles?limit={MAX_PAGE_LIMIT}{since}"))
        .await?;
    for cycle in page.items.iter().rev().take(CYCLES_PER_RECONCILE) {
        match cycle.status.as_str() {
            "running" => break,
            "missed" => {}
            "completed" => {
                let Some(theirs) = live
                    .get::<CycleDetail>(&format!("cycles/{}", cycle.id))
                    .await?
                else {
                    break;
                };
                match theirs.cycle.status.as_str() {
                    "running" => break,
                    "completed" => {
                        let ours: CycleDetail =
                            shadow.need(&format!("cycles/{}", cycle.id)).await?;
                        tally.compare(&theirs, &ours);
                    }
                    // The live pods did not complete it: nothing to compare with.
                    _ => {}
                }
                tally.shadow_cycles += 1;
            }
            _ => {
                tally.shadow_cycles += 1;
                tally.shadow_errors += 1;
            }
        }
        last_cycle = Some(cycle.id.clone());
    }
    let ours: StrategySummary = shadow.need("summary").await?;
    let theirs: StrategySummary = live.need("summary").await?;
    tally.drawdown = ours.drawdown.unwrap_or(0.0);
    let spend: Page<LlmSpendView> = shadow.need("llm-spend?limit=1000").await?;
    tally.llm_cost_usd = spend.items.iter().map(|s| s.cost_usd).sum();
    Ok(Step {
        tally,
        last_cycle,
        pnl_difference: pnl_difference(&theirs, &ours),
    })
}

/// The shadow's P&L less the live pods' over the same time. The shadow's account opened
/// holding the live book at the live marks, so its first equity is the live equity then:
/// the live P&L since is the live equity now less that.
fn pnl_difference(live: &StrategySummary, shadow: &StrategySummary) -> Option<f64> {
    let shadow_pnl = shadow.profit_and_loss?;
    let start = shadow.equity? - shadow_pnl;
    Some(shadow_pnl - (live.equity? - start))
}

/// The slot a cycle id names (`%Y%m%dT%H%M%SZ`).
pub fn cycle_time(id: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(id, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}
