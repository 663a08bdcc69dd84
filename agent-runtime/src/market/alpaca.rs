//! Latest bars from an Alpaca-compatible market data API (`GET /v2/stocks/{symbol}/bars`).
//!
//! Used when `marketData.source` is `broker`: the same key pair as the trading API, read
//! from the mounted Secret files. Only the newest `limit` bars are needed, so the request
//! asks for them newest-first (`sort=desc`) in one page and reverses them; a `start` a few
//! times the window back keeps the API from defaulting to "today only".

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{MarketData, MarketDataError};
use crate::domain::Bar;

pub struct AlpacaMarketData {
    client: reqwest::Client,
    base_url: String,
    timeframe: String,
    key_id: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct BarsPage {
    #[serde(default)]
    bars: Option<Vec<WireBar>>,
    /// Set when more bars follow (a history request pages through them).
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The most bars one history page asks for (the API's own maximum).
const HISTORY_PAGE: usize = 10_000;

#[derive(Deserialize)]
struct WireBar {
    t: DateTime<Utc>,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    #[serde(default)]
    v: f64,
}

impl AlpacaMarketData {
    pub fn new(
        base_url: &str,
        timeframe: &str,
        key_id: &str,
        secret_key: &str,
        timeout: Duration,
    ) -> Result<Self, MarketDataError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| MarketDataError::Http(e.to_string()))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeframe: timeframe.to_string(),
            key_id: key_id.trim().to_string(),
            secret_key: secret_key.trim().to_string(),
        })
    }

    /// How far back to ask so that `limit` bars of this timeframe exist (weekends, nights).
    fn lookback(&self, limit: usize) -> chrono::Duration {
        let per_bar_minutes: i64 = match self.timeframe.as_str() {
            "1Min" => 1,
            "5Min" => 5,
            "15Min" => 15,
            "30Min" => 30,
            "1Hour" => 60,
            "4Hour" => 240,
            "1Week" => 7 * 24 * 60,
            _ => 24 * 60,
        };
        let bars = i64::try_from(limit)
            .unwrap_or(i64::MAX / 4)
            .saturating_add(5);
        // Markets are open about a quarter of the week's minutes and 5/7 of its days.
        let factor = if per_bar_minutes >= 24 * 60 { 2 } else { 5 };
        chrono::Duration::minutes(per_bar_minutes.saturating_mul(bars).saturating_mul(factor))
    }

    async fn fetch(&self, symbol: &str, limit: usize) -> Result<Vec<Bar>, MarketDataError> {
        let url = format!("{}/v2/stocks/{}/bars", self.base_url, symbol);
        let start =
            (Utc::now() - self.lookback(limit)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let limit_text = limit.to_string();
        let query = [
            ("timeframe", self.timeframe.as_str()),
            ("limit", limit_text.as_str()),
            ("sort", "desc"),
            ("start", start.as_str()),
        ];
        let page = self.page(&url, &query).await?;
        let mut bars: Vec<Bar> = page
            .bars
            .unwrap_or_default()
            .into_iter()
            .map(|b| b.into_bar(symbol))
            .collect();
        bars.sort_by_key(|bar| bar.time);
        bars.dedup_by_key(|bar| bar.time);
        let excess = bars.len().saturating_sub(limit);
        Ok(bars.split_off(excess))
    }
}

impl AlpacaMarketData {
    /// One page of the bars endpoint: the request with the account's keys, a non-2xx answer
    /// as `Status` with the start of its body.
    async fn page<Q: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        query: &Q,
    ) -> Result<BarsPage, MarketDataError> {
        let response = self
            .client
            .get(url)
            .header("APCA-API-KEY-ID", &self.key_id)
            .header("APCA-API-SECRET-KEY", &self.secret_key)
            .query(query)
            .send()
            .await
            .map_err(|e| MarketDataError::Http(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(MarketDataError::Status {
                status: status.as_u16(),
                body: body.chars().take(300).collect(),
            });
        }
        response
            .json()
            .await
            .map_err(|e| MarketDataError::Http(e.to_string()))
    }

    /// Every bar of `symbol` from `start` to `end`, oldest first, page by page (a backtest's
    /// history); each page goes to `page` as it arrives, so memory holds one page at most.
    pub async fn history(
        &self,
        symbol: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        mut page: impl FnMut(Vec<Bar>) -> Result<(), MarketDataError>,
    ) -> Result<(), MarketDataError> {
        let url = format!("{}/v2/stocks/{}/bars", self.base_url, symbol);
        let times = [start, end].map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("timeframe", self.timeframe.clone()),
                ("limit", HISTORY_PAGE.to_string()),
                ("sort", "asc".to_string()),
                ("start", times[0].clone()),
                ("end", times[1].clone()),
            ];
            if let Some(token) = &token {
                query.push(("page_token", token.clone()));
            }
            let answer = self.page(&url, &query).await?;
            let bars = answer.bars.unwrap_or_default();
            page(bars.into_iter().map(|b| b.into_bar(symbol)).collect())?;
            match answer.next_page_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(()),
            }
        }
    }
}

impl WireBar {
    fn into_bar(self, symbol: &str) -> Bar {
        Bar {
            symbol: symbol.to_string(),
            time: self.t,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
        }
    }
}

impl MarketData for AlpacaMarketData {
    fn latest_bars<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Bar>, MarketDataError>> {
        self.fetch(symbol, limit).boxed()
    }
}
