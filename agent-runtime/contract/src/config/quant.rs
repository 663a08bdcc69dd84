//! The quantitative analysts' parameters: periods, band widths and thresholds.
//!
//! They live in the config (each quant seat's `params`) rather than as constants in the
//! runtime so that a backtest sweep can vary them; every field defaults to the value the
//! analysts have always used, so a config without `params` behaves exactly as before. One
//! flat struct serves all four methods (each reads its own fields and ignores the others):
//! a sweep axis is then a single key, whatever the method.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of a quantitative analyst; each field says which method reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct QuantParams {
    /// trend: bars of the fast simple moving average (default 20).
    pub fast_period: u32,
    /// trend: bars of the slow simple moving average (default 50); above `fastPeriod`.
    pub slow_period: u32,
    /// trend: a relative spread between the averages below this is too close to call
    /// (default 0.002, i.e. 0.2%); 0 makes every crossover count.
    pub neutral_band: f64,
    /// trend: confidence at zero spread (default 0.4).
    pub base_confidence: f64,
    /// trend: confidence added per unit of relative spread (default 20: a 3% spread is full
    /// conviction).
    pub spread_gain: f64,
    /// trend: confidence added on the bar of a fresh crossover (default 0.1).
    pub crossover_bonus: f64,
    /// momentum: RSI period (default 14).
    pub rsi_period: u32,
    /// momentum: MACD fast EMA (default 12).
    pub macd_fast: u32,
    /// momentum: MACD slow EMA (default 26); above `macdFast`.
    pub macd_slow: u32,
    /// momentum: MACD signal EMA (default 9).
    pub macd_signal: u32,
    /// momentum: RSI above this is overbought (default 70).
    pub overbought: f64,
    /// momentum: RSI below this is oversold (default 30); below `overbought`.
    pub oversold: f64,
    /// meanReversion: Bollinger window (default 20).
    pub band_period: u32,
    /// meanReversion: Bollinger width in standard deviations (default 2).
    pub band_width: f64,
    /// meanReversion: a z-score smaller than this in size is not stretched (default 1).
    pub entry_z: f64,
    /// meanReversion: the z-score size at full conviction (default 2.5); above `entryZ`.
    pub full_z: f64,
    /// volatility: ATR period (default 14).
    pub atr_period: u32,
    /// volatility: bars the ATR's level is compared against (default 40).
    pub atr_baseline: u32,
}

impl Default for QuantParams {
    fn default() -> Self {
        Self {
            fast_period: 20,
            slow_period: 50,
            neutral_band: 0.002,
            base_confidence: 0.4,
            spread_gain: 20.0,
            crossover_bonus: 0.1,
            rsi_period: 14,
            macd_fast: 12,
            macd_slow: 26,
            macd_signal: 9,
            overbought: 70.0,
            oversold: 30.0,
            band_period: 20,
            band_width: 2.0,
            entry_z: 1.0,
            full_z: 2.5,
            atr_period: 14,
            atr_baseline: 40,
        }
    }
}

impl QuantParams {
    /// True when every field has its default (the config then omits `params`).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Every rule the fields must keep, as (field, problem); empty when they are usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let periods = [
            ("fastPeriod", self.fast_period),
            ("slowPeriod", self.slow_period),
            ("rsiPeriod", self.rsi_period),
            ("macdFast", self.macd_fast),
            ("macdSlow", self.macd_slow),
            ("macdSignal", self.macd_signal),
            ("bandPeriod", self.band_period),
            ("atrPeriod", self.atr_period),
            ("atrBaseline", self.atr_baseline),
        ];
        for (field, period) in periods {
            if period == 0 || period > MAX_PERIOD {
                problems.push((field, format!("must be 1 to {MAX_PERIOD}, got {period}")));
            }
        }
        if self.fast_period >= self.slow_period {
            problems.push(("slowPeriod", "must be above fastPeriod".to_string()));
        }
        if self.macd_fast >= self.macd_slow {
            problems.push(("macdSlow", "must be above macdFast".to_string()));
        }
        if self.oversold.partial_cmp(&self.overbought) != Some(std::cmp::Ordering::Less) {
            problems.push(("overbought", "must be above oversold".to_string()));
        }
        if !(self.entry_z >= 0.0 && self.full_z > self.entry_z) {
            problems.push((
                "fullZ",
                "must be above entryZ, which is 0 or more".to_string(),
            ));
        }
        let non_negative = [
            ("neutralBand", self.neutral_band),
            ("baseConfidence", self.base_confidence),
            ("spreadGain", self.spread_gain),
            ("crossoverBonus", self.crossover_bonus),
            ("bandWidth", self.band_width),
            ("overbought", self.overbought),
            ("oversold", self.oversold),
        ];
        for (field, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                problems.push((field, format!("must be a number, 0 or more, got {value}")));
            }
        }
        problems
    }
}

/// The longest window a quant parameter may ask for: indicators keep that many bars.
pub const MAX_PERIOD: u32 = 10_000;
