//! Deterministic quantitative analysts: trend, momentum, mean reversion and volatility.
//!
//! They are the demo's analysts (no key needed), the LLM seats' fallback, and the baseline an
//! LLM analyst has to beat. Each is a function of the bars it has seen, so a replay gives the
//! same reports every time. Confidence mappings are deliberately simple and documented per
//! method (`methods.rs`); their periods and thresholds are the seat's [`QuantParams`], so a
//! backtest sweep can vary them. With too little history an analyst reports neutral with
//! zero confidence.
//!
//! A seat keeps rolling indicator state per symbol and feeds it only the bars of the
//! snapshot it has not seen yet: O(1) per new bar instead of recomputing every indicator over
//! the window each cycle. When a snapshot does not continue what the seat saw (a bar it
//! missed, time going backwards), the state is rebuilt from the snapshot alone, which is also
//! exactly what [`analyze`] computes for a one-off caller.
//!
//! The volatility analyst never picks a side: it reports `Neutral` with a confidence that
//! measures how calm the market is (1 = calm, 0 = turbulent), and the decision uses that to
//! scale conviction (see `decision`).

mod methods;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Analyst, Snapshot};
use crate::config::{QuantMethod, QuantParams};
use crate::domain::{AnalystReport, Bar, Signal, same_name};
pub use methods::history_needed;
use methods::{MeanReversion, Method, Momentum, Trend, Volatility, indicators_of};

/// Bars the quant analysts need with their default parameters (the trend analyst's slow
/// average and one bar before it); the cycle fetches at least this many.
pub const MIN_HISTORY: usize = 51;

/// The `source` a volatility report carries; the decision looks for it.
pub const VOLATILITY_SOURCE: &str = "quant:volatility";

/// A quantitative analyst seated as `role`, with the default parameters.
pub fn quant_analyst(role: impl Into<String>, method: QuantMethod) -> Box<dyn Analyst> {
    quant_analyst_with(role, method, QuantParams::default())
}

/// A quantitative analyst seated as `role` with `params`.
pub fn quant_analyst_with(
    role: impl Into<String>,
    method: QuantMethod,
    params: QuantParams,
) -> Box<dyn Analyst> {
    seat(&role.into(), method, params, true)
}

/// [`quant_analyst_with`] whose reports carry no rationale: for a runner whose journal keeps
/// no decisions (a backtest's), which would format one per bar and drop it. Signal and
/// confidence are the same.
pub fn quiet_quant_analyst(
    role: impl Into<String>,
    method: QuantMethod,
    params: QuantParams,
) -> Box<dyn Analyst> {
    seat(&role.into(), method, params, false)
}

/// A seat running `method`: the method is chosen here, once, and not on every bar.
fn seat(role: &str, method: QuantMethod, params: QuantParams, explain: bool) -> Box<dyn Analyst> {
    match method {
        QuantMethod::Trend => Box::new(QuantAnalyst::<Trend>::new(role, method, params, explain)),
        QuantMethod::Momentum => {
            Box::new(QuantAnalyst::<Momentum>::new(role, method, params, explain))
        }
        QuantMethod::MeanReversion => Box::new(QuantAnalyst::<MeanReversion>::new(
            role, method, params, explain,
        )),
        QuantMethod::Volatility => Box::new(QuantAnalyst::<Volatility>::new(
            role, method, params, explain,
        )),
    }
}

/// The analysis of `snapshot`'s bars alone, with the default parameters, for callers that
/// keep no state (the LLM seats' fallback, benches, tests).
pub fn analyze(role: &str, method: QuantMethod, snapshot: &Snapshot) -> AnalystReport {
    analyze_with(role, method, &QuantParams::default(), snapshot)
}

/// [`analyze`] with `params`.
pub fn analyze_with(
    role: &str,
    method: QuantMethod,
    params: &QuantParams,
    snapshot: &Snapshot,
) -> AnalystReport {
    let names = Names::new(role, method);
    match method {
        QuantMethod::Trend => analyze_as::<Trend>(&names, params, snapshot),
        QuantMethod::Momentum => analyze_as::<Momentum>(&names, params, snapshot),
        QuantMethod::MeanReversion => analyze_as::<MeanReversion>(&names, params, snapshot),
        QuantMethod::Volatility => analyze_as::<Volatility>(&names, params, snapshot),
    }
}

fn analyze_as<M: Method>(
    names: &Names,
    params: &QuantParams,
    snapshot: &Snapshot,
) -> AnalystReport {
    let mut tracked = Tracked::<M>::new(params);
    tracked.feed(&snapshot.bars);
    tracked.report(names, params, true)
}

pub fn source_of(method: QuantMethod) -> &'static str {
    match method {
        QuantMethod::Trend => "quant:trend",
        QuantMethod::Momentum => "quant:momentum",
        QuantMethod::MeanReversion => "quant:meanReversion",
        QuantMethod::Volatility => VOLATILITY_SOURCE,
    }
}

/// A seat's role and its reports' source, made once and shared by every report.
struct Names {
    role: Arc<str>,
    source: Arc<str>,
}

impl Names {
    fn new(role: &str, method: QuantMethod) -> Self {
        Self {
            role: role.into(),
            source: source_of(method).into(),
        }
    }
}

/// A quant seat running the method `M`.
struct QuantAnalyst<M> {
    names: Names,
    method: QuantMethod,
    params: QuantParams,
    /// Whether reports carry their rationale (see [`quiet_quant_analyst`]).
    explain: bool,
    /// Rolling state per symbol.
    symbols: Mutex<Symbols<M>>,
}

impl<M: Method> QuantAnalyst<M> {
    fn new(role: &str, method: QuantMethod, params: QuantParams, explain: bool) -> Self {
        Self {
            names: Names::new(role, method),
            method,
            params,
            explain,
            symbols: Mutex::new(Symbols::default()),
        }
    }
}

/// Each symbol's rolling state, found without hashing the symbol on the common path.
///
/// A cycle analyses its symbols in the same order every bar, so the symbol a seat is asked
/// about is nearly always the one it was asked about last (a single symbol) or the one seen
/// right after it (several, in turn). Those two slots are tried first, by [`same_name`]; the
/// map, by symbol, answers the rest (a new symbol, another order) and is the only way a slot
/// is found for a symbol not yet seen. Slots are never reused, so a symbol that leaves and
/// comes back finds its state where it left it, as it did in the map alone.
struct Symbols<M> {
    /// (symbol, its state), in the order first seen.
    tracked: Vec<(String, Tracked<M>)>,
    /// The slot of each symbol in `tracked`.
    slots: FxHashMap<String, usize>,
    /// The slot of the symbol asked about last.
    last: usize,
}

impl<M> Default for Symbols<M> {
    fn default() -> Self {
        Self {
            tracked: Vec::new(),
            slots: FxHashMap::default(),
            last: 0,
        }
    }
}

impl<M> Symbols<M> {
    /// `symbol`'s state, made by `new` when the symbol was not seen before.
    #[inline(always)]
    fn entry(&mut self, symbol: &str, new: impl FnOnce() -> Tracked<M>) -> &mut Tracked<M> {
        let slot = match self.holds(self.last, symbol) {
            true => self.last,
            false => self.slot_elsewhere(symbol, new),
        };
        &mut self.tracked[slot].1
    }

    /// Whether `slot` holds `symbol`'s state.
    #[inline(always)]
    fn holds(&self, slot: usize, symbol: &str) -> bool {
        self.tracked
            .get(slot)
            .is_some_and(|(name, _)| same_name(name, symbol))
    }

    /// The slot of `symbol` when it is not the last one asked about: the next one (several
    /// symbols asked in turn), else found in the map or made; remembered as the last.
    fn slot_elsewhere(&mut self, symbol: &str, new: impl FnOnce() -> Tracked<M>) -> usize {
        let slot = match self.holds(self.next_slot(), symbol) {
            true => self.next_slot(),
            false => self.slot_or_insert(symbol, new),
        };
        self.last = slot;
        slot
    }

    /// The slot after the last one asked about, round to the first.
    fn next_slot(&self) -> usize {
        if self.last + 1 < self.tracked.len() {
            self.last + 1
        } else {
            0
        }
    }

    /// `symbol`'s state, if it was seen.
    fn get(&self, symbol: &str) -> Option<&Tracked<M>> {
        let slot = self
            .recent_slot(symbol)
            .or_else(|| self.slots.get(symbol).copied())?;
        self.tracked.get(slot).map(|(_, tracked)| tracked)
    }

    /// The last symbol's slot or the one after it (round to the first), if it holds `symbol`.
    fn recent_slot(&self, symbol: &str) -> Option<usize> {
        [self.last, self.next_slot()]
            .into_iter()
            .find(|&slot| self.holds(slot, symbol))
    }

    fn slot_or_insert(&mut self, symbol: &str, new: impl FnOnce() -> Tracked<M>) -> usize {
        if let Some(&slot) = self.slots.get(symbol) {
            return slot;
        }
        let slot = self.tracked.len();
        self.tracked.push((symbol.to_string(), new()));
        self.slots.insert(symbol.to_string(), slot);
        slot
    }
}

/// One symbol's state and how far into its history it got.
struct Tracked<M> {
    state: M,
    last_time: Option<DateTime<Utc>>,
    bars_seen: usize,
}

impl<M: Method> Tracked<M> {
    fn new(params: &QuantParams) -> Self {
        Self {
            state: M::new(params),
            last_time: None,
            bars_seen: 0,
        }
    }

    fn feed(&mut self, bars: &[Bar]) {
        for bar in bars {
            self.state.update(bar);
        }
        if let Some(bar) = bars.last() {
            self.last_time = Some(bar.time);
        }
        self.bars_seen += bars.len();
    }

    /// Takes in the bars of `bars` not seen yet; rebuilt from `bars` alone when they do not
    /// continue what was seen.
    ///
    /// The common case, one new bar right after the last one seen, is tried first: in bars
    /// in time order it is what [`continues_at`](Self::continues_at) would find, without
    /// its binary search or a loop.
    #[inline(always)]
    fn catch_up(&mut self, bars: &[Bar], params: &QuantParams) {
        if let (Some(last), [.., seen, new]) = (self.last_time, bars)
            && seen.time == last
            && new.time > last
        {
            self.state.update(new);
            self.last_time = Some(new.time);
            self.bars_seen += 1;
            return;
        }
        self.catch_up_otherwise(bars, params);
    }

    #[cold]
    fn catch_up_otherwise(&mut self, bars: &[Bar], params: &QuantParams) {
        match self.continues_at(bars) {
            Some(unseen) => self.feed(&bars[unseen..]),
            None => {
                *self = Self::new(params);
                self.feed(bars);
            }
        }
    }

    /// Where the unseen bars of `bars` start, or `None` when `bars` does not continue what
    /// was seen (the state must then be rebuilt from `bars`).
    fn continues_at(&self, bars: &[Bar]) -> Option<usize> {
        let last = self.last_time?;
        let after = bars.partition_point(|bar| bar.time <= last);
        (after > 0 && bars[after - 1].time == last).then_some(after)
    }

    /// The signal and the (clamped) confidence of what was seen; neutral with zero
    /// confidence until enough history.
    #[inline(always)]
    fn reading(&self, params: &QuantParams) -> (Signal, f64) {
        match self.state.view(params) {
            Some((signal, confidence, _)) => (signal, clamp01(confidence)),
            None => (Signal::Neutral, 0.0),
        }
    }

    /// Why [`reading`](Self::reading) reads as it does, written out.
    #[inline(never)]
    fn rationale(&self, params: &QuantParams) -> String {
        match self.state.view(params) {
            Some((_, _, why)) => why.text(params),
            None => format!("not enough history ({} bars)", self.bars_seen),
        }
    }

    /// [`report`](Self::report) written over `report`: the seat's names are kept when they
    /// are already the seat's (the same shared strings, so no count goes up or down), the
    /// rationale's buffer is reused.
    #[inline(always)]
    fn report_into(
        &self,
        names: &Names,
        params: &QuantParams,
        explain: bool,
        report: &mut AnalystReport,
    ) {
        let (signal, confidence) = self.reading(params);
        if !Arc::ptr_eq(&report.role, &names.role) {
            report.role = names.role.clone();
        }
        if !Arc::ptr_eq(&report.source, &names.source) {
            report.source = names.source.clone();
        }
        report.signal = signal;
        report.confidence = confidence;
        report.rationale.clear();
        if explain {
            report.rationale.push_str(&self.rationale(params));
        }
        report.usage = None;
    }

    /// The report on what was seen; its rationale written out only when `explain`.
    #[inline(always)]
    fn report(&self, names: &Names, params: &QuantParams, explain: bool) -> AnalystReport {
        let (signal, confidence) = self.reading(params);
        AnalystReport {
            role: names.role.clone(),
            source: names.source.clone(),
            signal,
            confidence,
            rationale: match explain {
                true => self.rationale(params),
                false => String::new(),
            },
            usage: None,
        }
    }
}

impl<M: Method> QuantAnalyst<M> {
    #[inline(always)]
    fn analyze_now(&self, snapshot: &Snapshot) -> AnalystReport {
        let mut symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        let tracked = symbols.entry(&snapshot.symbol, || Tracked::new(&self.params));
        tracked.catch_up(&snapshot.bars, &self.params);
        tracked.report(&self.names, &self.params, self.explain)
    }

    /// [`analyze_now`](Self::analyze_now) written over `report`.
    #[inline(always)]
    fn analyze_now_into(&self, snapshot: &Snapshot, report: &mut AnalystReport) {
        let mut symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        let tracked = symbols.entry(&snapshot.symbol, || Tracked::new(&self.params));
        tracked.catch_up(&snapshot.bars, &self.params);
        tracked.report_into(&self.names, &self.params, self.explain, report);
    }
}

impl<M: Method> Analyst for QuantAnalyst<M> {
    fn role(&self) -> &str {
        &self.names.role
    }

    fn history_needed(&self) -> usize {
        history_needed(self.method, &self.params)
    }

    fn analyze<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, AnalystReport> {
        futures::future::ready(self.analyze_now(snapshot)).boxed()
    }

    fn analyze_at_once(&self, snapshot: &Snapshot) -> Option<AnalystReport> {
        Some(self.analyze_now(snapshot))
    }

    fn analyze_at_once_into(&self, snapshot: &Snapshot, report: &mut AnalystReport) -> bool {
        self.analyze_now_into(snapshot, report);
        true
    }

    fn answers_at_once(&self) -> bool {
        true
    }

    /// Read from the symbol's rolling state when it has seen exactly this snapshot (the
    /// cycle asks right after the analysis); otherwise computed from the snapshot alone.
    fn indicators(&self, snapshot: &Snapshot) -> BTreeMap<String, f64> {
        let latest = snapshot.bars.last().map(|bar| bar.time);
        let symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        match symbols.get(&snapshot.symbol) {
            Some(tracked) if latest.is_some() && tracked.last_time == latest => {
                indicators_of(&tracked.state, &self.params)
            }
            _ => {
                let mut tracked = Tracked::<M>::new(&self.params);
                tracked.feed(&snapshot.bars);
                indicators_of(&tracked.state, &self.params)
            }
        }
    }
}

fn clamp01(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{QuantMethod, QuantParams, Snapshot, analyze_with, quiet_quant_analyst};
    use crate::domain::{AnalystReport, Bar, ReportUsage, Signal};

    /// A report written over another — the seat's own from the bar before, or one from
    /// elsewhere with other names, a rationale and a bill — is the report the seat returns,
    /// explained or quiet, bar after bar.
    #[test]
    fn a_report_written_in_place_is_the_report_returned() {
        let history = bars("AAA", 90, 0.3);
        for method in [
            QuantMethod::Trend,
            QuantMethod::Momentum,
            QuantMethod::MeanReversion,
            QuantMethod::Volatility,
        ] {
            let params = QuantParams::default();
            let seats = |explain: bool| match explain {
                true => super::quant_analyst_with("seat", method, params.clone()),
                false => quiet_quant_analyst("seat", method, params.clone()),
            };
            for explain in [true, false] {
                let (returning, writing) = (seats(explain), seats(explain));
                let mut kept = AnalystReport {
                    role: "other".into(),
                    source: "llm:x/y".into(),
                    signal: Signal::Bearish,
                    confidence: 0.7,
                    rationale: "a different story".into(),
                    usage: Some(ReportUsage {
                        prompt_tokens: 1,
                        completion_tokens: 2,
                        cost_usd: 0.5,
                    }),
                };
                for end in 1..=history.len() {
                    let snapshot = Snapshot {
                        symbol: "AAA".into(),
                        bars: history[end.saturating_sub(60)..end]
                            .iter()
                            .cloned()
                            .collect(),
                        position: None,
                    };
                    let Some(returned) = returning.analyze_at_once(&snapshot) else {
                        panic!("a quant seat answers at once");
                    };
                    assert!(writing.analyze_at_once_into(&snapshot, &mut kept));
                    assert_eq!(kept, returned, "{method:?} explained {explain} at {end}");
                    assert_eq!(kept.confidence.to_bits(), returned.confidence.to_bits());
                }
            }
        }
    }

    fn bars(symbol: &str, count: usize, drift: f64) -> Vec<Bar> {
        (0..count)
            .map(|i| {
                let close = 100.0 + drift * i as f64 + (i as f64 * 0.7).sin() * 3.0;
                Bar {
                    symbol: symbol.into(),
                    time: Utc
                        .timestamp_opt(1_700_000_000 + 86_400 * i as i64, 0)
                        .unwrap(),
                    open: close - 0.5,
                    high: close + 1.0,
                    low: close - 1.5,
                    close,
                    volume: 1_000.0,
                }
            })
            .collect()
    }

    /// However the symbols come — in turn, one of them twice in a row, out of order, a new
    /// one joining late, one leaving and coming back — each report is what the symbol's bars
    /// alone give, as when the state was found by hashing the symbol.
    #[test]
    fn each_symbol_keeps_its_own_state_whatever_the_order() {
        let histories = [
            ("AAA", bars("AAA", 80, 0.4)),
            ("BBB", bars("BBB", 80, -0.3)),
            ("CCC", bars("CCC", 80, 0.1)),
        ];
        let order: Vec<usize> = (0..60)
            .map(|step| match step % 7 {
                0 | 1 => 0,
                2 => 1,
                3 => 1,
                4 if step > 20 => 2,
                5 => 2,
                _ => 1,
            })
            .collect();
        for method in [
            QuantMethod::Trend,
            QuantMethod::Momentum,
            QuantMethod::MeanReversion,
            QuantMethod::Volatility,
        ] {
            let params = QuantParams::default();
            let seat = quiet_quant_analyst("seat", method, params.clone());
            let mut seen = [0_usize; 3];
            for (step, &which) in order.iter().enumerate() {
                let (symbol, history) = &histories[which];
                seen[which] += 1;
                let end = (seen[which] + 10).min(history.len());
                let start = end.saturating_sub(40);
                let snapshot = Snapshot {
                    symbol: (*symbol).to_string(),
                    bars: history[start..end].iter().cloned().collect(),
                    position: None,
                };
                let Some(report) = seat.analyze_at_once(&snapshot) else {
                    panic!("a quant seat answers at once");
                };
                let alone = Snapshot {
                    bars: history[..end].iter().cloned().collect(),
                    ..snapshot.clone()
                };
                let expected = analyze_with("seat", method, &params, &alone);
                assert_eq!(report.signal, expected.signal, "{method:?} step {step}");
                assert_eq!(
                    report.confidence.to_bits(),
                    expected.confidence.to_bits(),
                    "{method:?} step {step}"
                );
                let fresh = quiet_quant_analyst("seat", method, params.clone());
                assert_eq!(
                    seat.indicators(&snapshot),
                    fresh.indicators(&alone),
                    "{method:?} step {step}"
                );
            }
        }
    }
}
